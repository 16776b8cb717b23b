/*
 * govern_sql.c — the governance tables on SQLite: principals (token
 * hashes only), source policies (every version kept), the audit log (one
 * row per entry, one row per subject) and its signed tree heads.
 *
 * The store only keeps these rows; src/govern decides what they mean and
 * checks them. Nothing here updates or deletes an audit row: the log's
 * only write is an insert. Also what retention erases by: record versions
 * by their source and arrival time.
 */
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"

enum gov_stmt {
    G_PRIN_ADD, G_PRIN_BY_TOKEN, G_PRIN_BY_NAME, G_PRIN_EACH, G_PRIN_REVOKE, G_PRIN_N_ACTIVE,
    G_POL_PUT, G_POL_LATEST, G_POL_COUNT, G_POL_EACH, G_SRC_WITH_RECORDS, G_AUD_SUBJ_ORPHAN,
    G_AUD_PUT, G_AUD_SUBJ_PUT, G_AUD_LAST, G_AUD_EACH, G_AUD_SUBJ_EACH, G_AUD_OF_SUBJ,
    G_AUD_LEAVES, G_HEAD_PUT, G_HEAD_LATEST, G_HEAD_EACH, G_END_PUT, G_END_GET, G_RET_OLDEST, G_RET_DUE,
    G_RET_OLD_VERSIONS, G_RET_ERASE_VERSIONS, G_ERASE_VERSIONS_OF, G_ERASE_RECORD, G_ERASE_MARK,
    N_GOV
};
_Static_assert((int)N_GOV <= (int)SQ_MAX_GOV_STMTS, "raise SQ_MAX_GOV_STMTS");

#define PRIN_COLS "id, name, role, sources, token_hash, created, coalesce(revoked, 0)"

static const char *const GOV_SQL[N_GOV] = {
    [G_PRIN_ADD] = "INSERT INTO principal(name, role, sources, token_hash, created) "
                   "VALUES(?1, ?2, ?3, ?4, ?5)",
    [G_PRIN_BY_TOKEN] = "SELECT " PRIN_COLS " FROM principal WHERE token_hash = ?1",
    [G_PRIN_BY_NAME] = "SELECT " PRIN_COLS " FROM principal WHERE name = ?1 AND revoked IS NULL",
    [G_PRIN_EACH] = "SELECT " PRIN_COLS " FROM principal ORDER BY name, id",
    [G_PRIN_REVOKE] = "UPDATE principal SET revoked = ?2 WHERE name = ?1 AND revoked IS NULL "
                      "RETURNING " PRIN_COLS,
    [G_PRIN_N_ACTIVE] = "SELECT count(*) FROM principal WHERE role = ?1 AND revoked IS NULL",
    [G_POL_PUT] = "INSERT INTO policy(source, version, text, set_by, time) "
                  "SELECT ?1, coalesce(max(version), 0) + 1, ?2, ?3, ?4 FROM policy "
                  "WHERE source = ?1 RETURNING version",
    [G_POL_LATEST] = "SELECT version, text FROM policy WHERE source = ?1 "
                     "ORDER BY version DESC LIMIT 1",
    [G_POL_COUNT] = "SELECT count(*) FROM policy",
    [G_POL_EACH] = "SELECT coalesce(s.name, ''), p.version, p.text, p.set_by, p.time FROM policy p "
                   "LEFT JOIN source s ON s.id = p.source ORDER BY p.source, p.version",
    [G_SRC_WITH_RECORDS] = "SELECT name FROM source s WHERE EXISTS (SELECT 1 FROM record r "
                           "WHERE r.source = s.id) ORDER BY name",
    /* two ranges of the key, not an OR, which would scan every row */
    [G_AUD_SUBJ_ORPHAN] = "SELECT seq, subject FROM audit_subject WHERE seq < 1 UNION ALL "
                          "SELECT seq, subject FROM audit_subject WHERE seq > ?1 LIMIT 1",
    [G_AUD_PUT] = "INSERT INTO audit(seq, time, principal, purpose, action, fields, outcome, "
                  "n_subjects, leaf_hash) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [G_AUD_SUBJ_PUT] = "INSERT INTO audit_subject(seq, i, subject) VALUES(?1, ?2, ?3)",
    [G_AUD_LAST] = "SELECT coalesce(max(seq), 0) FROM audit",
    [G_AUD_EACH] = "SELECT seq, time, principal, purpose, action, fields, outcome, n_subjects, "
                   "leaf_hash FROM audit WHERE seq >= ?1 ORDER BY seq",
    [G_AUD_SUBJ_EACH] = "SELECT seq, subject FROM audit_subject WHERE seq >= ?1 ORDER BY seq, i",
    [G_AUD_OF_SUBJ] = "SELECT a.seq, a.time, a.principal, a.purpose, a.action, a.fields, "
                      "a.outcome, a.n_subjects, a.leaf_hash FROM audit_subject s "
                      "JOIN audit a ON a.seq = s.seq WHERE s.subject = ?1 ORDER BY a.seq",
    [G_AUD_LEAVES] = "SELECT leaf_hash FROM audit WHERE seq BETWEEN 1 AND ?1 ORDER BY seq",
    [G_HEAD_PUT] = "INSERT INTO tree_head(size, time, root, signature, frontier) "
                   "VALUES(?1, ?2, ?3, ?4, ?5)",
    [G_HEAD_LATEST] = "SELECT size, time, root, signature, frontier FROM tree_head "
                      "ORDER BY size DESC LIMIT 1",
    [G_HEAD_EACH] = "SELECT size, time, root, signature, frontier FROM tree_head ORDER BY size",
    [G_END_PUT] = "INSERT OR REPLACE INTO log_end(id, size, frontier, mac) VALUES(1, ?1, ?2, ?3)",
    [G_END_GET] = "SELECT size, frontier, mac FROM log_end WHERE id = 1",
    [G_RET_OLDEST] = "SELECT min(t) FROM (SELECT min(received) AS t FROM record WHERE source = ?1 "
                     "UNION ALL SELECT min(received) FROM record_history WHERE source = ?1)",
    [G_RET_DUE] = "SELECT id, record_id FROM record WHERE source = ?1 AND received < ?2 "
                  "AND id > ?3 ORDER BY id LIMIT ?4",
    [G_RET_OLD_VERSIONS] = "SELECT DISTINCT r.id, r.record_id FROM record_history h "
                           "JOIN record r ON r.id = h.record WHERE h.source = ?1 "
                           "AND h.received < ?2 AND r.received >= ?2 ORDER BY r.id",
    [G_RET_ERASE_VERSIONS] = "DELETE FROM record_history WHERE source = ?1 AND received < ?2",
    [G_ERASE_VERSIONS_OF] = "DELETE FROM record_history WHERE record = ?1",
    [G_ERASE_RECORD] = "DELETE FROM record WHERE id = ?1",
    [G_ERASE_MARK] = "INSERT INTO meta(key, value) VALUES('record_id_erased', ?1) "
                     "ON CONFLICT(key) DO UPDATE SET value = "
                     "max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
};

int sq_prepare_govern(st_store *s, dt_error *err)
{
    for (int i = 0; i < N_GOV; i++) {
        int rc = sqlite3_prepare_v3(s->db, GOV_SQL[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->gov[i], NULL);
        if (rc != SQLITE_OK) return sq_fail(s, rc, "opening the store", err);
    }
    return DT_OK;
}

void sq_finalize_govern(st_store *s)
{
    for (int i = 0; i < N_GOV; i++) sqlite3_finalize(s->gov[i]);
}

static sqlite3_stmt *gov(st_store *s, enum gov_stmt id)
{
    sqlite3_stmt *st = s->gov[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

char *sq_col_dup(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    return dt_strdup(v ? v : "");
}

/* Ends a walk: the statement's final code, or fn's negative return. */
int sq_walk_end(st_store *s, sqlite3_stmt *st, int rc, int out, const char *what,
                dt_error *err)
{
    sqlite3_reset(st);
    if (out < 0) return out;
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, what, err);
}

/* ---- principals ---------------------------------------------------------- */

void st_principal_fini(st_principal *p)
{
    dt_free(p->name);
    dt_free(p->role);
    dt_free(p->sources);
    memset(p, 0, sizeof *p);
}

int st_principal_add(st_store *s, st_principal *p, dt_error *err)
{
    if (s->pg) return pg_principal_add(s, p, err);
    sqlite3_stmt *st = gov(s, G_PRIN_ADD);
    sq_bind_text(st, 1, p->name);
    sq_bind_text(st, 2, p->role);
    sq_bind_text(st, 3, p->sources ? p->sources : "");
    sqlite3_bind_blob(st, 4, p->token_hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, p->created);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return dt_err_set(err, DT_EINVAL, "an active principal named '%s' exists already",
                          p->name);
    if (rc != SQLITE_DONE) return sq_fail(s, rc, "adding a principal", err);
    p->id = sqlite3_last_insert_rowid(s->db);
    return DT_OK;
}

/* A principal row (PRIN_COLS); a token hash of the wrong length reads as
 * zeros, so it matches no token and no logged row. */
static int principal_row(sqlite3_stmt *st, st_principal *p)
{
    memset(p, 0, sizeof *p);
    p->id = sqlite3_column_int64(st, 0);
    p->name = sq_col_dup(st, 1);
    p->role = sq_col_dup(st, 2);
    p->sources = sq_col_dup(st, 3);
    if (sqlite3_column_bytes(st, 4) == 32) memcpy(p->token_hash, sqlite3_column_blob(st, 4), 32);
    p->created = sqlite3_column_int64(st, 5);
    p->revoked = sqlite3_column_int64(st, 6);
    if (p->name && p->role && p->sources) return DT_OK;
    st_principal_fini(p);
    return DT_ENOMEM;
}

/* The one row a bound principal statement returns: DT_OK, DT_ENOTFOUND
 * (no message: callers word it) or the error. */
static int one_principal(st_store *s, sqlite3_stmt *st, st_principal *out, const char *what,
                         dt_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = sqlite3_step(st);
    int out_rc = rc == SQLITE_ROW ? principal_row(st, out) : DT_OK;
    if (rc == SQLITE_ROW) rc = sqlite3_step(st); /* a RETURNING statement ends here */
    sqlite3_reset(st);
    if (out_rc < 0) return dt_err_set(err, out_rc, "out of memory");
    if (rc != SQLITE_DONE) {
        st_principal_fini(out);
        return sq_fail(s, rc, what, err);
    }
    return out->name ? DT_OK : DT_ENOTFOUND;
}

int st_principal_by_token(st_store *s, const uint8_t *token_hash, st_principal *out,
                          dt_error *err)
{
    if (s->pg) return pg_principal_by_token(s, token_hash, out, err);
    sqlite3_stmt *st = gov(s, G_PRIN_BY_TOKEN);
    sqlite3_bind_blob(st, 1, token_hash, 32, SQLITE_STATIC);
    return one_principal(s, st, out, "reading principals", err);
}

int st_principal_by_name(st_store *s, const char *name, st_principal *out, dt_error *err)
{
    if (s->pg) return pg_principal_by_name(s, name, out, err);
    sqlite3_stmt *st = gov(s, G_PRIN_BY_NAME);
    sq_bind_text(st, 1, name);
    return one_principal(s, st, out, "reading principals", err);
}

int st_principals_each(st_store *s, st_principal_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_principals_each(s, fn, ctx, err);
    sqlite3_stmt *st = gov(s, G_PRIN_EACH);
    int rc = SQLITE_DONE, out = DT_OK;
    while (out >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        st_principal p;
        out = principal_row(st, &p);
        if (out < 0) break;
        out = fn(ctx, &p);
        st_principal_fini(&p);
    }
    if (out == DT_ENOMEM) return dt_err_set(err, DT_ENOMEM, "out of memory");
    return sq_walk_end(s, st, out < 0 ? SQLITE_DONE : rc, out, "reading principals", err);
}

int st_principal_revoke(st_store *s, const char *name, int64_t time, st_principal *out,
                        dt_error *err)
{
    if (s->pg) return pg_principal_revoke(s, name, time, out, err);
    sqlite3_stmt *st = gov(s, G_PRIN_REVOKE);
    sq_bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, time);
    return one_principal(s, st, out, "revoking a principal", err);
}

int st_principal_count_active(st_store *s, const char *role, int64_t *n, dt_error *err)
{
    if (s->pg) return pg_principal_count_active(s, role, n, err);
    sqlite3_stmt *st = gov(s, G_PRIN_N_ACTIVE);
    sq_bind_text(st, 1, role);
    return sq_one_int(s, st, n, "reading principals", err);
}

/* ---- policies ------------------------------------------------------------ */

int st_policy_put(st_store *s, int64_t source, const char *text, const char *set_by,
                  int64_t time, int64_t *version, dt_error *err)
{
    if (s->pg) return pg_policy_put(s, source, text, set_by, time, version, err);
    sqlite3_stmt *st = gov(s, G_POL_PUT);
    sqlite3_bind_int64(st, 1, source);
    sq_bind_text(st, 2, text);
    sq_bind_text(st, 3, set_by);
    sqlite3_bind_int64(st, 4, time);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "storing a policy", err);
}

/* The integer and text of the one row a bound statement may return: its
 * columns 0 and 1 into *i and *text (dt_malloc'd), or *text NULL. */
static int int_and_text(st_store *s, sqlite3_stmt *st, int64_t *i, char **text,
                        const char *what, dt_error *err)
{
    *text = NULL;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *i = sqlite3_column_int64(st, 0);
        *text = sq_col_dup(st, 1);
        rc = *text ? SQLITE_DONE : SQLITE_NOMEM;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, what, err);
}

int st_policy_latest(st_store *s, int64_t source, char **text, int64_t *version,
                     dt_error *err)
{
    if (s->pg) return pg_policy_latest(s, source, text, version, err);
    *version = 0;
    sqlite3_stmt *st = gov(s, G_POL_LATEST);
    sqlite3_bind_int64(st, 1, source);
    return int_and_text(s, st, version, text, "reading a policy", err);
}

int st_policy_count(st_store *s, int64_t *n, dt_error *err)
{
    if (s->pg) return pg_policy_count(s, n, err);
    return sq_one_int(s, gov(s, G_POL_COUNT), n, "reading policies", err);
}

int st_policies_each(st_store *s, st_policy_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_policies_each(s, fn, ctx, err);
    sqlite3_stmt *st = gov(s, G_POL_EACH);
    int rc = SQLITE_DONE, out = DT_OK;
    while (out >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        st_policy_row p = {
            .source = (const char *)sqlite3_column_text(st, 0),
            .version = sqlite3_column_int64(st, 1),
            .text = (const char *)sqlite3_column_text(st, 2),
            .set_by = (const char *)sqlite3_column_text(st, 3),
            .time = sqlite3_column_int64(st, 4),
        };
        out = p.source && p.text && p.set_by ? fn(ctx, &p) : DT_ENOMEM;
    }
    if (out == DT_ENOMEM) return dt_err_set(err, DT_ENOMEM, "out of memory");
    return sq_walk_end(s, st, out < 0 ? SQLITE_DONE : rc, out, "reading policies", err);
}

int st_sources_with_records(st_store *s, st_name_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_sources_with_records(s, fn, ctx, err);
    sqlite3_stmt *st = gov(s, G_SRC_WITH_RECORDS);
    int rc = SQLITE_DONE, out = DT_OK;
    while (out >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        out = name ? fn(ctx, name) : DT_ENOMEM;
    }
    if (out == DT_ENOMEM) return dt_err_set(err, DT_ENOMEM, "out of memory");
    return sq_walk_end(s, st, out < 0 ? SQLITE_DONE : rc, out, "reading sources", err);
}

/* ---- the audit log ------------------------------------------------------- */

int st_audit_put(st_store *s, const st_audit_entry *e, dt_error *err)
{
    if (s->pg) return pg_audit_put(s, e, err);
    sqlite3_stmt *st = gov(s, G_AUD_PUT);
    sqlite3_bind_int64(st, 1, e->seq);
    sqlite3_bind_int64(st, 2, e->time);
    sq_bind_text(st, 3, e->principal);
    sq_bind_text(st, 4, e->purpose);
    sq_bind_text(st, 5, e->action);
    sq_bind_text(st, 6, e->fields);
    sq_bind_text(st, 7, e->outcome);
    sqlite3_bind_int64(st, 8, (int64_t)e->n_subjects);
    sqlite3_bind_blob(st, 9, e->leaf_hash, (int)e->leaf_hash_len, SQLITE_STATIC);
    DT_TRY(sq_step_done(s, st, "appending to the audit log", err));
    st_log_changed(s);
    for (size_t i = 0; i < e->n_subjects; i++) {
        st = gov(s, G_AUD_SUBJ_PUT);
        sqlite3_bind_int64(st, 1, e->seq);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sq_bind_text(st, 3, e->subjects[i]);
        DT_TRY(sq_step_done(s, st, "appending to the audit log", err));
        st_log_changed(s);
    }
    return DT_OK;
}

int st_audit_last(st_store *s, int64_t *seq, dt_error *err)
{
    if (s->pg) return pg_audit_last(s, seq, err);
    return sq_one_int(s, gov(s, G_AUD_LAST), seq, "reading the audit log", err);
}

static st_audit_entry entry_row(sqlite3_stmt *st)
{
    return (st_audit_entry){
        .seq = sqlite3_column_int64(st, 0),
        .time = sqlite3_column_int64(st, 1),
        .principal = (const char *)sqlite3_column_text(st, 2),
        .purpose = (const char *)sqlite3_column_text(st, 3),
        .action = (const char *)sqlite3_column_text(st, 4),
        .fields = (const char *)sqlite3_column_text(st, 5),
        .outcome = (const char *)sqlite3_column_text(st, 6),
        .n_subjects = (size_t)sqlite3_column_int64(st, 7),
        .leaf_hash = sqlite3_column_blob(st, 8),
        .leaf_hash_len = (size_t)sqlite3_column_bytes(st, 8),
    };
}

/* An entry row with a NULL where the schema has NOT NULL is a damaged page,
 * and must not reach the log's checks as a NULL string. */
static int entry_damaged(sqlite3_stmt *st)
{
    for (int i = 2; i <= 6; i++)
        if (!sqlite3_column_text(st, i)) return 1;
    return 0;
}

#define DAMAGED_ROW "a row of the audit log without its values"

/* The subjects cursor's rows for entry `seq`, gathered into *v (their
 * texts copied: the cursor moves on). Rows of a seq with no entry (an
 * orphan a tamperer left) are skipped. */
typedef struct subj_cursor {
    sqlite3_stmt *st;
    int rc;                /* the cursor's last step */
    char **v;
    size_t n, cap;
} subj_cursor;

static int subjects_of(subj_cursor *c, int64_t seq)
{
    for (size_t i = 0; i < c->n; i++) dt_free(c->v[i]);
    c->n = 0;
    while (c->rc == SQLITE_ROW && sqlite3_column_int64(c->st, 0) < seq)
        c->rc = sqlite3_step(c->st);
    while (c->rc == SQLITE_ROW && sqlite3_column_int64(c->st, 0) == seq) {
        DT_TRY(util_grow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v));
        if (!(c->v[c->n] = sq_col_dup(c->st, 1))) return DT_ENOMEM;
        c->n++;
        c->rc = sqlite3_step(c->st);
    }
    return DT_OK;
}

int st_audit_each(st_store *s, int64_t from, st_audit_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_audit_each(s, from, fn, ctx, err);
    sqlite3_stmt *st = gov(s, G_AUD_EACH);
    subj_cursor c = {.st = gov(s, G_AUD_SUBJ_EACH)};
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(c.st, 1, from);
    c.rc = sqlite3_step(c.st);
    int rc = SQLITE_DONE, out = DT_OK;
    while (out >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (entry_damaged(st)) {
            out = sq_damaged(s, "reading the audit log", DAMAGED_ROW, err);
            break;
        }
        st_audit_entry e = entry_row(st);
        out = subjects_of(&c, e.seq);
        if (out < 0) break;
        e.subjects = (const char *const *)c.v;
        e.n_subject_rows = c.n;
        out = fn(ctx, &e);
    }
    for (size_t i = 0; i < c.n; i++) dt_free(c.v[i]);
    dt_free(c.v);
    int subj_rc = c.rc;
    sqlite3_reset(c.st);
    if (out == DT_ENOMEM) return dt_err_set(err, DT_ENOMEM, "out of memory");
    if (out >= 0 && subj_rc != SQLITE_ROW && subj_rc != SQLITE_DONE)
        return sq_fail(s, subj_rc, "reading the audit log", err);
    return sq_walk_end(s, st, out < 0 ? SQLITE_DONE : rc, out, "reading the audit log", err);
}

int st_audit_of_subject(st_store *s, const char *subject, st_audit_fn fn, void *ctx,
                        dt_error *err)
{
    if (s->pg) return pg_audit_of_subject(s, subject, fn, ctx, err);
    sqlite3_stmt *st = gov(s, G_AUD_OF_SUBJ);
    sq_bind_text(st, 1, subject);
    int rc = SQLITE_DONE, out = DT_OK;
    while (out >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (entry_damaged(st)) {
            out = sq_damaged(s, "reading the audit log", DAMAGED_ROW, err);
            break;
        }
        st_audit_entry e = entry_row(st);
        out = fn(ctx, &e);
    }
    return sq_walk_end(s, st, out < 0 ? SQLITE_DONE : rc, out, "reading the audit log", err);
}

int st_audit_leaves(st_store *s, int64_t n, uint8_t *out, int64_t *n_found, dt_error *err)
{
    if (s->pg) return pg_audit_leaves(s, n, out, n_found, err);
    sqlite3_stmt *st = gov(s, G_AUD_LEAVES);
    sqlite3_bind_int64(st, 1, n);
    int rc;
    *n_found = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n_found < n) {
        const void *h = sqlite3_column_blob(st, 0);
        if (sqlite3_column_bytes(st, 0) == 32) memcpy(out + 32 * *n_found, h, 32);
        else memset(out + 32 * *n_found, 0, 32);
        (*n_found)++;
    }
    return sq_walk_end(s, st, rc == SQLITE_ROW ? SQLITE_DONE : rc, DT_OK, "reading the audit log",
                    err);
}

int st_audit_subject_orphan(st_store *s, int64_t n, int64_t *seq, char **subject,
                            dt_error *err)
{
    if (s->pg) return pg_audit_subject_orphan(s, n, seq, subject, err);
    sqlite3_stmt *st = gov(s, G_AUD_SUBJ_ORPHAN);
    sqlite3_bind_int64(st, 1, n);
    return int_and_text(s, st, seq, subject, "reading the audit log", err);
}

/* ---- signed tree heads --------------------------------------------------- */

int st_head_put(st_store *s, const st_head *h, dt_error *err)
{
    if (s->pg) return pg_head_put(s, h, err);
    sqlite3_stmt *st = gov(s, G_HEAD_PUT);
    sqlite3_bind_int64(st, 1, h->size);
    sqlite3_bind_int64(st, 2, h->time);
    sqlite3_bind_blob(st, 3, h->root, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, h->signature, 64, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, h->frontier, (int)h->frontier_len, SQLITE_STATIC);
    DT_TRY(sq_step_done(s, st, "signing the audit log", err));
    st_log_changed(s);
    return DT_OK;
}

int st_log_end_put(st_store *s, const st_log_end *e, dt_error *err)
{
    if (s->pg) return pg_log_end_put(s, e, err);
    sqlite3_stmt *st = gov(s, G_END_PUT);
    sqlite3_bind_int64(st, 1, e->size);
    sqlite3_bind_blob(st, 2, e->frontier, (int)e->frontier_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, e->mac, ST_MAC_BYTES, SQLITE_STATIC);
    DT_TRY(sq_step_done(s, st, "sealing the audit log", err));
    st_log_changed(s);
    return DT_OK;
}

int st_log_end_get(st_store *s, st_log_end *out, int *found, dt_error *err)
{
    if (s->pg) return pg_log_end_get(s, out, found, err);
    sqlite3_stmt *st = gov(s, G_END_GET);
    memset(out, 0, sizeof *out);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        out->size = sqlite3_column_int64(st, 0);
        int n = sqlite3_column_bytes(st, 1);
        if (n > 0 && n <= ST_FRONTIER_MAX) {
            memcpy(out->frontier, sqlite3_column_blob(st, 1), (size_t)n);
            out->frontier_len = (size_t)n;
        }
        if (sqlite3_column_bytes(st, 2) == ST_MAC_BYTES)
            memcpy(out->mac, sqlite3_column_blob(st, 2), ST_MAC_BYTES);
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading the audit log's end", err);
}

/* A head row; a root or signature of the wrong length reads as zeros, so
 * its check fails instead of reading past the blob. */
static int head_row(sqlite3_stmt *st, st_head *h)
{
    memset(h, 0, sizeof *h);
    h->size = sqlite3_column_int64(st, 0);
    h->time = sqlite3_column_int64(st, 1);
    if (sqlite3_column_bytes(st, 2) == 32) memcpy(h->root, sqlite3_column_blob(st, 2), 32);
    if (sqlite3_column_bytes(st, 3) == 64) memcpy(h->signature, sqlite3_column_blob(st, 3), 64);
    h->frontier_len = (size_t)sqlite3_column_bytes(st, 4);
    h->frontier = dt_malloc(h->frontier_len ? h->frontier_len : 1);
    if (!h->frontier) return DT_ENOMEM;
    if (h->frontier_len) memcpy(h->frontier, sqlite3_column_blob(st, 4), h->frontier_len);
    return DT_OK;
}

int st_head_latest(st_store *s, st_head *out, int *found, dt_error *err)
{
    if (s->pg) return pg_head_latest(s, out, found, err);
    sqlite3_stmt *st = gov(s, G_HEAD_LATEST);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    int out_rc = *found ? head_row(st, out) : DT_OK;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sq_fail(s, rc, "reading tree heads", err);
    return out_rc < 0 ? dt_err_set(err, out_rc, "out of memory") : DT_OK;
}

int st_heads_each(st_store *s, st_head_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_heads_each(s, fn, ctx, err);
    sqlite3_stmt *st = gov(s, G_HEAD_EACH);
    int rc = SQLITE_DONE, out = DT_OK;
    while (out >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        st_head h;
        out = head_row(st, &h);
        if (out == DT_OK) out = fn(ctx, &h);
        dt_free(h.frontier);
    }
    if (out == DT_ENOMEM) return dt_err_set(err, DT_ENOMEM, "out of memory");
    return sq_walk_end(s, st, out < 0 ? SQLITE_DONE : rc, out, "reading tree heads", err);
}

/* ---- retention ------------------------------------------------------------- */

int st_retention_oldest(st_store *s, int64_t source, int64_t *oldest, int *any, dt_error *err)
{
    if (s->pg) return pg_retention_oldest(s, source, oldest, any, err);
    sqlite3_stmt *st = gov(s, G_RET_OLDEST);
    sqlite3_bind_int64(st, 1, source);
    int rc = sqlite3_step(st);
    *any = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    *oldest = *any ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? DT_OK : sq_fail(s, rc, "reading arrival times", err);
}

/* Calls fn(id, record_id) for each row of a bound two-column query. */
static int each_id_row(st_store *s, sqlite3_stmt *st, st_due_fn fn, void *ctx, dt_error *err)
{
    int rc, out = DT_OK;
    while (out >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *record_id = (const char *)sqlite3_column_text(st, 1);
        out = record_id ? fn(ctx, sqlite3_column_int64(st, 0), record_id)
                        : sq_damaged(s, "reading records due", "a record without its id", err);
    }
    return sq_walk_end(s, st, out < 0 ? SQLITE_DONE : rc, out, "reading records due", err);
}

int st_retention_due(st_store *s, int64_t source, int64_t cutoff, int64_t after, size_t max,
                     st_due_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_retention_due(s, source, cutoff, after, max, fn, ctx, err);
    sqlite3_stmt *st = gov(s, G_RET_DUE);
    sqlite3_bind_int64(st, 1, source);
    sqlite3_bind_int64(st, 2, cutoff);
    sqlite3_bind_int64(st, 3, after);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
    return each_id_row(s, st, fn, ctx, err);
}

int st_retention_old_versions(st_store *s, int64_t source, int64_t cutoff, st_due_fn fn,
                              void *ctx, dt_error *err)
{
    if (s->pg) return pg_retention_old_versions(s, source, cutoff, fn, ctx, err);
    sqlite3_stmt *st = gov(s, G_RET_OLD_VERSIONS);
    sqlite3_bind_int64(st, 1, source);
    sqlite3_bind_int64(st, 2, cutoff);
    return each_id_row(s, st, fn, ctx, err);
}

int st_retention_erase_versions(st_store *s, int64_t source, int64_t cutoff, uint64_t *n,
                                dt_error *err)
{
    if (s->pg) return pg_retention_erase_versions(s, source, cutoff, n, err);
    sqlite3_stmt *st = gov(s, G_RET_ERASE_VERSIONS);
    sqlite3_bind_int64(st, 1, source);
    sqlite3_bind_int64(st, 2, cutoff);
    DT_TRY(sq_step_done(s, st, "erasing record versions", err));
    *n = (uint64_t)sqlite3_changes(s->db);
    return DT_OK;
}

int st_record_erase(st_store *s, int64_t id, dt_error *err)
{
    if (s->pg) return pg_record_erase(s, id, err);
    DT_TRY(st_links_drop(s, id, err));
    DT_TRY(st_decisions_drop(s, id, err));
    DT_TRY(st_keys_drop(s, id, err));
    DT_TRY(st_entity_set(s, id, NULL, err));
    sqlite3_stmt *st = gov(s, G_ERASE_VERSIONS_OF);
    sqlite3_bind_int64(st, 1, id);
    DT_TRY(sq_step_done(s, st, "erasing a record", err));
    st = gov(s, G_ERASE_MARK); /* so the id is never given again (S_REC_ADD) */
    sqlite3_bind_int64(st, 1, id);
    DT_TRY(sq_step_done(s, st, "erasing a record", err));
    if (id > s->erased_max) s->erased_max = id;
    st = gov(s, G_ERASE_RECORD);
    sqlite3_bind_int64(st, 1, id);
    return sq_step_done(s, st, "erasing a record", err);
}
