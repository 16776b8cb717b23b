/*
 * audit_bind.c — binds the tables that decide access to the audit log:
 * principals (who holds which token, in which role, revoked or not) and
 * source policies (what each purpose may see), and the disclosures index.
 *
 * Every change to a principal or policy row is one audit entry, written
 * in the same transaction, that carries the row as written as a subject
 *   row,principal:ID:NAME:active|revoked:SHA256
 *   row,policy:SOURCE:VERSION:SHA256
 * where SHA256 covers every column of the row (au_digest). The text up to
 * the digest (a principal's: up to its id) is the row's key. The comma
 * keeps a record's subject ("SOURCE:RECORD_ID") from ever reading as one:
 * a source's name holds no comma, so no record id a registry sends can
 * pose as a binding. verify replays the allowed entries in seq order (a later
 * entry's row replaces an earlier one of the same key) and compares the
 * result with the tables as they are.
 *
 * Invariants (what verify checks after the log itself):
 *   1. Every principal and policy row is the row the newest allowed entry
 *      naming its key logged, and every logged key has its row: nothing
 *      added, edited, un-revoked or deleted outside dovetail.
 *   2. Every source that holds a record has an allowed entry naming
 *      "source:NAME" (its ingest): records imply a log that holds them.
 *   3. Every subject row belongs to an entry of the log (the rows of
 *      entries 1..n are checked by their leaves).
 *   4. A baseline entry (GV_BIND_BASELINE: the rows of a store upgraded from
 *      before binding, bound at once) comes before any other row binding;
 *      a later one would launder rows changed outside dovetail.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "govern/audit_int.h"

#define ROW_PRINCIPAL "row,principal:"
#define ROW_POLICY "row,policy:"
#define SOURCE_PREFIX "source:"

/* ---- the subjects ----------------------------------------------------------- */

int gv_bind_principal(const st_principal *p, char **out)
{
    char id[24], created[24], revoked[24];
    snprintf(id, sizeof id, "%" PRId64, p->id);
    snprintf(created, sizeof created, "%" PRId64, p->created);
    snprintf(revoked, sizeof revoked, "%" PRId64, p->revoked);
    const void *parts[] = {"dovetail/principal/v1", id, p->name, p->role, p->sources,
                           p->token_hash, created, revoked};
    size_t lens[] = {21, strlen(id), strlen(p->name), strlen(p->role), strlen(p->sources), 32,
                     strlen(created), strlen(revoked)};
    char hex[65];
    au_digest(parts, lens, sizeof lens / sizeof *lens, hex);
    *out = dt_asprintf(ROW_PRINCIPAL "%s:%s:%s:%s", id, p->name,
                       p->revoked ? "revoked" : "active", hex);
    return *out ? DT_OK : DT_ENOMEM;
}

int gv_bind_policy(const st_policy_row *p, char **out)
{
    char version[24], time[24];
    snprintf(version, sizeof version, "%" PRId64, p->version);
    snprintf(time, sizeof time, "%" PRId64, p->time);
    const void *parts[] = {"dovetail/policy/v1", p->source, version, p->text, p->set_by, time};
    size_t lens[] = {18, strlen(p->source), strlen(version), strlen(p->text), strlen(p->set_by),
                     strlen(time)};
    char hex[65];
    au_digest(parts, lens, sizeof lens / sizeof *lens, hex);
    *out = dt_asprintf(ROW_POLICY "%s:%s:%s", p->source, version, hex);
    return *out ? DT_OK : DT_ENOMEM;
}

/* The length of a row subject's key ("row,principal:7:", "row,policy:
 * benefits:2:"), or 0 when it is no row subject. */
static size_t key_len(const char *subject)
{
    size_t n = sizeof ROW_PRINCIPAL - 1;
    if (strncmp(subject, ROW_PRINCIPAL, n) == 0) {
        const char *id_end = strchr(subject + n, ':');
        return id_end ? (size_t)(id_end - subject) + 1 : 0;
    }
    if (strncmp(subject, ROW_POLICY, sizeof ROW_POLICY - 1) != 0) return 0;
    return (size_t)(strrchr(subject, ':') - subject) + 1;
}

/* ---- what the log binds ------------------------------------------------------ */

void au_bind_fini(au_bindings *b)
{
    for (size_t i = 0; i < b->n_rows; i++) dt_free(b->rows[i].subject);
    for (size_t i = 0; i < b->n_sources; i++) dt_free(b->sources[i]);
    dt_free(b->rows);
    dt_free(b->sources);
    dt_free(b->seen);
    memset(b, 0, sizeof *b);
}

static int note_row(au_bindings *b, const char *subject, size_t key, int64_t seq)
{
    DT_TRY(util_grow((void **)&b->rows, &b->cap_rows, b->n_rows + 1, sizeof *b->rows));
    char *copy = dt_strdup(subject);
    if (!copy) return DT_ENOMEM;
    b->rows[b->n_rows++] = (au_logged){copy, key, seq};
    return DT_OK;
}

static int note_source(au_bindings *b, const char *name)
{
    for (size_t i = 0; i < b->n_sources; i++)
        if (strcmp(b->sources[i], name) == 0) return DT_OK;
    DT_TRY(util_grow((void **)&b->sources, &b->cap_sources, b->n_sources + 1,
                     sizeof *b->sources));
    return (b->sources[b->n_sources++] = dt_strdup(name)) ? DT_OK : DT_ENOMEM;
}

int au_bind_note(au_bindings *b, const st_audit_entry *e)
{
    if (strcmp(e->outcome, "allowed") != 0) return DT_OK; /* it changed nothing */
    for (size_t i = 0; i < e->n_subject_rows; i++) {
        const char *s = e->subjects[i];
        size_t key = key_len(s);
        if (strcmp(s, GV_BIND_BASELINE) == 0) {
            if (b->n_rows && !b->late_baseline) b->late_baseline = e->seq;
        } else if (key) {
            DT_TRY(note_row(b, s, key, e->seq));
        } else if (strncmp(s, SOURCE_PREFIX, 7) == 0) {
            DT_TRY(note_source(b, s + 7));
        }
    }
    return DT_OK;
}

/* ---- checking the tables against it ---------------------------------------------- */

static int cmp_logged(const void *x, const void *y)
{
    const au_logged *a = x, *b = y;
    size_t n = a->key < b->key ? a->key : b->key;
    int c = memcmp(a->subject, b->subject, n);
    if (c == 0 && a->key != b->key) c = a->key < b->key ? -1 : 1;
    if (c == 0 && a->seq != b->seq) c = a->seq < b->seq ? -1 : 1;
    return c;
}

/* Sorts the logged rows by key and keeps each key's newest. */
static int replay(au_bindings *b)
{
    if (b->n_rows) qsort(b->rows, b->n_rows, sizeof *b->rows, cmp_logged);
    size_t n = 0;
    for (size_t i = 0; i < b->n_rows; i++) {
        int same_key = n && b->rows[n - 1].key == b->rows[i].key &&
                       memcmp(b->rows[n - 1].subject, b->rows[i].subject, b->rows[i].key) == 0;
        if (same_key) dt_free(b->rows[--n].subject);
        b->rows[n++] = b->rows[i];
    }
    b->n_rows = n;
    b->seen = dt_calloc(n ? n : 1, 1);
    return b->seen ? DT_OK : DT_ENOMEM;
}

/* The newest logged row of subject's key, or NULL. */
static au_logged *logged_of(au_bindings *b, const char *subject)
{
    size_t key = key_len(subject), lo = 0, hi = b->n_rows;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        au_logged probe = {(char *)subject, key, INT64_MAX};
        int c = cmp_logged(&b->rows[mid], &probe);
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo > 0) lo--; /* the probe sorts after every seq of its key */
    au_logged *l = lo < b->n_rows ? &b->rows[lo] : NULL;
    return l && l->key == key && memcmp(l->subject, subject, key) == 0 ? l : NULL;
}

typedef struct checker {
    au_bindings *b;
    gv_verdict *v;
    int64_t n_entries;
} checker;

static int fail(checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(checker *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->v->why, sizeof c->v->why, fmt, ap);
    va_end(ap);
    c->v->ok = 0;
    return AU_WALK_STOP;
}

/* A current row's subject against the log: fails naming `what`. */
static int check_row(checker *c, const char *subject, const char *what)
{
    au_logged *l = logged_of(c->b, subject);
    if (!l)
        return fail(c, "%s is accounted for by no entry of the signed log (%lld entries): it "
                    "was added outside dovetail, or the log was cut or wiped", what,
                    (long long)c->n_entries);
    c->b->seen[l - c->b->rows] = 1;
    if (strcmp(l->subject, subject) == 0) return DT_OK;
    int was_revoked = strstr(l->subject + l->key, ":revoked:") != NULL;
    int is_active = strstr(subject + l->key, ":active:") != NULL;
    if (was_revoked && is_active)
        return fail(c, "%s is active, but entry %lld revoked it: it was un-revoked outside "
                    "dovetail", what, (long long)l->seq);
    return fail(c, "%s is not the row entry %lld logged: its columns were changed outside "
                "dovetail", what, (long long)l->seq);
}

static int on_principal(void *ctx, const st_principal *p)
{
    checker *c = ctx;
    char *subject = NULL, what[128];
    if (gv_bind_principal(p, &subject) < 0) return DT_ENOMEM;
    snprintf(what, sizeof what, "principal '%.64s' (row %lld, %s)", p->name, (long long)p->id,
             p->role);
    int rc = check_row(c, subject, what);
    dt_free(subject);
    return rc;
}

static int on_policy(void *ctx, const st_policy_row *p)
{
    checker *c = ctx;
    char *subject = NULL, what[160];
    if (gv_bind_policy(p, &subject) < 0) return DT_ENOMEM;
    snprintf(what, sizeof what, "the policy of source '%.80s', version %lld", p->source,
             (long long)p->version);
    int rc = check_row(c, subject, what);
    dt_free(subject);
    return rc;
}

static int on_source_with_records(void *ctx, const char *name)
{
    checker *c = ctx;
    for (size_t i = 0; i < c->b->n_sources; i++)
        if (strcmp(c->b->sources[i], name) == 0) return DT_OK;
    return fail(c, "source '%s' holds records, but no entry of the signed log (%lld entries) "
                "ingested it: they were added outside dovetail, or the log was cut or wiped",
                name, (long long)c->n_entries);
}

/* Logged rows no current row answered: deleted outside dovetail. */
static int check_missing(checker *c)
{
    for (size_t i = 0; i < c->b->n_rows; i++) {
        const au_logged *l = &c->b->rows[i];
        if (!c->b->seen[i])
            return fail(c, "entry %lld logged the row %.*s, which the store no longer holds: "
                        "it was deleted outside dovetail", (long long)l->seq,
                        (int)(l->key - 5), l->subject + 4);
    }
    return DT_OK;
}

static int check_orphans(st_store *st, checker *c, dt_error *err)
{
    int64_t seq = 0;
    char *subject = NULL;
    DT_TRY(st_audit_subject_orphan(st, c->n_entries, &seq, &subject, err));
    if (!subject) return DT_OK;
    int rc = fail(c, "the disclosures index holds subject '%.200s' under entry %lld, which the "
                  "log (%lld entries) does not have: it was added outside dovetail", subject,
                  (long long)seq, (long long)c->n_entries);
    dt_free(subject);
    return rc;
}

int au_bind_check(st_store *st, au_bindings *b, int64_t n_entries, gv_verdict *v,
                  dt_error *err)
{
    checker c = {b, v, n_entries};
    if (b->late_baseline) {
        fail(&c, "entry %lld bound the store's principals and policies afresh, after earlier "
             "entries had bound them: a baseline was asked for outside dovetail, to hide "
             "changes", (long long)b->late_baseline);
        return DT_OK;
    }
    if (replay(b) < 0) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int rc = check_orphans(st, &c, err);
    if (rc == DT_OK) rc = st_principals_each(st, on_principal, &c, err);
    if (rc == DT_OK) rc = st_policies_each(st, on_policy, &c, err);
    if (rc == DT_OK) rc = check_missing(&c);
    if (rc == DT_OK) rc = st_sources_with_records(st, on_source_with_records, &c, err);
    return rc == AU_WALK_STOP ? DT_OK : rc;
}
