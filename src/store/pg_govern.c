/*
 * pg_govern.c — the governance tables on PostgreSQL, twins of
 * govern_sql.c's functions: principals (token hashes only), source
 * policies (every version kept), the audit log (one row per entry, one
 * row per subject), its signed tree heads and sealed end, and what
 * retention erases by (record versions by source and arrival time).
 *
 * Invariants (pg_int.h's besides):
 *   1. Each pg_ function answers as its st_ twin in govern_sql.c does:
 *      the same rows in the same order (text by bytes: COLLATE "C", as
 *      SQLite compares), the same codes and messages.
 *   2. Nothing here updates or deletes an audit row: the log's only write
 *      is an insert.
 *   3. Ids SQLite takes as max + 1 (a principal's, a policy's version)
 *      are taken so here, under the write lock, so a rolled-back add gives
 *      its id again, as there.
 *   4. The audit log's writes count their rows apart (st_log_changed), so
 *      a commit of them alone leaves the data generation (pg.c).
 */
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"

/* Entries of the audit log read per statement by pg_audit_each: a whole
 * log held at once would grow the client with the log. */
enum { AUDIT_PAGE = 1000 };

#define PRIN_COLS "id, name, role, sources, token_hash, created, coalesce(revoked, 0)"
#define AUDIT_COLS "seq, time, principal, purpose, action, fields, outcome, n_subjects, leaf_hash"
#define DAMAGED_ROW "a row of the audit log without its values"

/* Column col of row `row` as a dt_malloc'd string ("" for NULL, as
 * sq_col_dup); NULL: out of memory. */
static char *col_dup(const PGresult *r, int row, int col)
{
    const char *v = pg_text(r, row, col);
    return dt_strdup(v ? v : "");
}

/* Ends a walk whose callbacks returned `out`, as govern_sql.c's walks
 * that name running out of memory do. */
static int walk_end(int out, dt_error *err)
{
    if (out == DT_ENOMEM) return dt_err_set(err, DT_ENOMEM, "out of memory");
    return out < 0 ? out : DT_OK;
}

/* The integer and text of the one row sql may return: its columns 0 and
 * 1 into *i and *text (dt_malloc'd), or *text NULL and *i untouched. */
static int int_and_text(st_store *s, const char *sql, const pg_params *p, int64_t *i,
                        char **text, const char *what, dt_error *err)
{
    *text = NULL;
    PGresult *r = pg_run(s, sql, p, what, err);
    if (!r) return pg_failed(s);
    int rc = DT_OK;
    if (PQntuples(r) > 0) {
        *i = pg_i64(r, 0, 0);
        if (!(*text = col_dup(r, 0, 1)))
            rc = dt_err_set(err, DT_ENOMEM, "out of memory in the store");
    }
    PQclear(r);
    return rc;
}

/* ---- principals ---------------------------------------------------------- */

int pg_principal_add(st_store *s, st_principal *p, dt_error *err)
{
    pg_params q = {0};
    pg_param_text(&q, p->name);
    pg_param_text(&q, p->role);
    pg_param_text(&q, p->sources ? p->sources : "");
    pg_param_blob(&q, p->token_hash, 32);
    pg_param_i64(&q, p->created);
    /* no row back: the name is an active principal's or the token hash
     * anyone's (either unique index, as SQLite's constraint error) */
    PGresult *r = pg_run(s, "INSERT INTO principal(id, name, role, sources, token_hash, created) "
                         "SELECT coalesce(max(id), 0) + 1, $1, $2, $3, $4::bytea, $5::bigint "
                         "FROM principal ON CONFLICT DO NOTHING RETURNING id", &q,
                         "adding a principal", err);
    if (!r) return pg_failed(s);
    int added = PQntuples(r) == 1;
    if (added) p->id = pg_i64(r, 0, 0);
    PQclear(r);
    return added ? DT_OK : dt_err_set(err, DT_EINVAL, "an active principal named '%s' exists "
                                      "already", p->name);
}

/* Row `row` of a PRIN_COLS result; a token hash of the wrong length reads
 * as zeros, so it matches no token and no logged row. */
static int principal_row(const PGresult *r, int row, st_principal *p)
{
    memset(p, 0, sizeof *p);
    p->id = pg_i64(r, row, 0);
    p->name = col_dup(r, row, 1);
    p->role = col_dup(r, row, 2);
    p->sources = col_dup(r, row, 3);
    if (PQgetlength(r, row, 4) == 32) memcpy(p->token_hash, PQgetvalue(r, row, 4), 32);
    p->created = pg_i64(r, row, 5);
    p->revoked = pg_i64(r, row, 6);
    if (p->name && p->role && p->sources) return DT_OK;
    st_principal_fini(p);
    return DT_ENOMEM;
}

/* The one row a principal statement returns: DT_OK, DT_ENOTFOUND (no
 * message: callers word it) or the error. */
static int one_principal(st_store *s, const char *sql, const pg_params *p, st_principal *out,
                         const char *what, dt_error *err)
{
    memset(out, 0, sizeof *out);
    PGresult *r = pg_run(s, sql, p, what, err);
    if (!r) return pg_failed(s);
    int rc = PQntuples(r) > 0 ? principal_row(r, 0, out) : DT_ENOTFOUND;
    PQclear(r);
    return rc == DT_ENOMEM ? dt_err_set(err, rc, "out of memory") : rc;
}

int pg_principal_by_token(st_store *s, const uint8_t *token_hash, st_principal *out,
                          dt_error *err)
{
    pg_params p = {0};
    pg_param_blob(&p, token_hash, 32);
    return one_principal(s, "SELECT " PRIN_COLS " FROM principal WHERE token_hash = $1", &p,
                         out, "reading principals", err);
}

int pg_principal_by_name(st_store *s, const char *name, st_principal *out, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, name);
    return one_principal(s, "SELECT " PRIN_COLS " FROM principal WHERE name = $1 AND "
                         "revoked IS NULL", &p, out, "reading principals", err);
}

int pg_principals_each(st_store *s, st_principal_fn fn, void *ctx, dt_error *err)
{
    PGresult *r = pg_run(s, "SELECT " PRIN_COLS " FROM principal ORDER BY name COLLATE \"C\", id",
                         NULL, "reading principals", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; i < PQntuples(r) && out >= 0; i++) {
        st_principal p;
        out = principal_row(r, i, &p);
        if (out < 0) break;
        out = fn(ctx, &p);
        st_principal_fini(&p);
    }
    PQclear(r);
    return walk_end(out, err);
}

int pg_principal_revoke(st_store *s, const char *name, int64_t time, st_principal *out,
                        dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, name);
    pg_param_i64(&p, time);
    return one_principal(s, "UPDATE principal SET revoked = $2 WHERE name = $1 AND revoked IS "
                         "NULL RETURNING " PRIN_COLS, &p, out, "revoking a principal", err);
}

int pg_principal_count_active(st_store *s, const char *role, int64_t *n, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, role);
    return pg_one_i64(s, "SELECT count(*) FROM principal WHERE role = $1 AND revoked IS NULL",
                      &p, n, "reading principals", err);
}

/* ---- policies ------------------------------------------------------------ */

int pg_policy_put(st_store *s, int64_t source, const char *text, const char *set_by,
                  int64_t time, int64_t *version, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, source);
    pg_param_text(&p, text);
    pg_param_text(&p, set_by);
    pg_param_i64(&p, time);
    return pg_one_i64(s, "INSERT INTO policy(source, version, text, set_by, time) "
                      "SELECT $1::bigint, coalesce(max(version), 0) + 1, $2, $3, $4::bigint "
                      "FROM policy WHERE source = $1::bigint RETURNING version", &p, version,
                      "storing a policy", err);
}

int pg_policy_latest(st_store *s, int64_t source, char **text, int64_t *version,
                     dt_error *err)
{
    *version = 0;
    pg_params p = {0};
    pg_param_i64(&p, source);
    return int_and_text(s, "SELECT version, text FROM policy WHERE source = $1 "
                        "ORDER BY version DESC LIMIT 1", &p, version, text, "reading a policy",
                        err);
}

int pg_policy_count(st_store *s, int64_t *n, dt_error *err)
{
    return pg_one_i64(s, "SELECT count(*) FROM policy", NULL, n, "reading policies", err);
}

int pg_policies_each(st_store *s, st_policy_fn fn, void *ctx, dt_error *err)
{
    PGresult *r = pg_run(s, "SELECT coalesce(s.name, ''), p.version, p.text, p.set_by, p.time "
                         "FROM policy p LEFT JOIN source s ON s.id = p.source "
                         "ORDER BY p.source, p.version", NULL, "reading policies", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; i < PQntuples(r) && out >= 0; i++) {
        st_policy_row p = {.source = pg_text(r, i, 0), .version = pg_i64(r, i, 1),
                           .text = pg_text(r, i, 2), .set_by = pg_text(r, i, 3),
                           .time = pg_i64(r, i, 4)};
        out = fn(ctx, &p);
    }
    PQclear(r);
    return walk_end(out, err);
}

int pg_sources_with_records(st_store *s, st_name_fn fn, void *ctx, dt_error *err)
{
    PGresult *r = pg_run(s, "SELECT name FROM source s WHERE EXISTS (SELECT 1 FROM record r "
                         "WHERE r.source = s.id) ORDER BY name COLLATE \"C\"", NULL,
                         "reading sources", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; i < PQntuples(r) && out >= 0; i++) out = fn(ctx, pg_text(r, i, 0));
    PQclear(r);
    return walk_end(out, err);
}

/* ---- the audit log ------------------------------------------------------- */

int pg_audit_put(st_store *s, const st_audit_entry *e, dt_error *err)
{
    const char *what = "appending to the audit log";
    pg_params p = {0};
    pg_param_i64(&p, e->seq);
    pg_param_i64(&p, e->time);
    pg_param_text(&p, e->principal);
    pg_param_text(&p, e->purpose);
    pg_param_text(&p, e->action);
    pg_param_text(&p, e->fields);
    pg_param_text(&p, e->outcome);
    pg_param_i64(&p, (int64_t)e->n_subjects);
    pg_param_blob(&p, e->leaf_hash, e->leaf_hash_len);
    util_buf subjects = {0};
    pg_array_text(&subjects, e->subjects, e->n_subjects);
    if (subjects.is_failed) {
        util_buf_fini(&subjects);
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    pg_param_text(&p, subjects.data);
    /* the entry and its subjects in one statement: a round trip each was
     * most of a group commit, the one step every server's commits take
     * in turn (pg_int.h, invariant 2) */
    int rc = pg_do(s, "WITH entry AS (INSERT INTO audit(" AUDIT_COLS ") VALUES($1, $2, $3, $4, "
                   "$5, $6, $7, $8, $9)) INSERT INTO audit_subject(seq, i, subject) "
                   "SELECT $1, u.i - 1, u.s FROM unnest($10::text[]) WITH ORDINALITY AS u(s, i)",
                   &p, what, err);
    util_buf_fini(&subjects);
    if (rc == DT_OK) st_log_changed(s);
    return rc;
}

int pg_audit_last(st_store *s, int64_t *seq, dt_error *err)
{
    return pg_one_i64(s, "SELECT coalesce(max(seq), 0) FROM audit", NULL, seq,
                      "reading the audit log", err);
}

/* Row i of an AUDIT_COLS result, its strings and hash valid while r is. */
static st_audit_entry entry_row(const PGresult *r, int i)
{
    return (st_audit_entry){
        .seq = pg_i64(r, i, 0),
        .time = pg_i64(r, i, 1),
        .principal = pg_text(r, i, 2),
        .purpose = pg_text(r, i, 3),
        .action = pg_text(r, i, 4),
        .fields = pg_text(r, i, 5),
        .outcome = pg_text(r, i, 6),
        .n_subjects = (size_t)pg_i64(r, i, 7),
        .leaf_hash = (const uint8_t *)PQgetvalue(r, i, 8),
        .leaf_hash_len = (size_t)PQgetlength(r, i, 8),
    };
}

/* A NULL where the schema has NOT NULL is damage, and must not reach the
 * log's checks as a NULL string. */
static int entry_damaged(const PGresult *r, int i)
{
    for (int col = 2; col <= 6; col++)
        if (PQgetisnull(r, i, col)) return 1;
    return 0;
}

/* Calls fn for each entry of r with its rows of sub (subject rows of the
 * same seqs, by seq then i); rows of a seq with no entry (an orphan a
 * tamperer left) are skipped. */
static int walk_page(st_store *s, const PGresult *r, const PGresult *sub, st_audit_fn fn,
                     void *ctx, dt_error *err)
{
    int n_sub = sub ? PQntuples(sub) : 0, j = 0, out = DT_OK;
    const char **v = dt_malloc(((size_t)n_sub + 1) * sizeof *v);
    if (!v) return DT_ENOMEM;
    for (int k = 0; k < n_sub; k++) {
        const char *subject = pg_text(sub, k, 1);
        v[k] = subject ? subject : "";
    }
    for (int i = 0; i < PQntuples(r) && out >= 0; i++) {
        if (entry_damaged(r, i)) {
            out = sq_damaged(s, "reading the audit log", DAMAGED_ROW, err);
            break;
        }
        st_audit_entry e = entry_row(r, i);
        while (j < n_sub && pg_i64(sub, j, 0) < e.seq) j++;
        int first = j;
        while (j < n_sub && pg_i64(sub, j, 0) == e.seq) j++;
        e.subjects = v + first;
        e.n_subject_rows = (size_t)(j - first);
        out = fn(ctx, &e);
    }
    dt_free(v);
    return out;
}

/* Walks the entries from seq *from on, AUDIT_PAGE at most. OUT: *from,
 * where the next page starts; *more 0 when the log ended. Inside a
 * snapshot (st_snapshot_begin) the pages read one log. */
static int audit_page(st_store *s, int64_t *from, int *more, st_audit_fn fn, void *ctx,
                      dt_error *err)
{
    const char *what = "reading the audit log";
    pg_params p = {0};
    pg_param_i64(&p, *from);
    pg_param_i64(&p, AUDIT_PAGE);
    PGresult *r = pg_run(s, "SELECT " AUDIT_COLS " FROM audit WHERE seq >= $1 ORDER BY seq "
                         "LIMIT $2", &p, what, err);
    if (!r) return pg_failed(s);
    int n = PQntuples(r);
    int64_t last = n ? pg_i64(r, n - 1, 0) : 0;
    PGresult *sub = NULL;
    if (n) {
        p = (pg_params){0};
        pg_param_i64(&p, pg_i64(r, 0, 0));
        pg_param_i64(&p, last);
        sub = pg_run(s, "SELECT seq, subject FROM audit_subject WHERE seq BETWEEN $1 AND $2 "
                     "ORDER BY seq, i", &p, what, err);
    }
    int out = n && !sub ? DT_EIO : walk_page(s, r, sub, fn, ctx, err);
    *more = n == AUDIT_PAGE && last < INT64_MAX;
    *from = last + (*more ? 1 : 0);
    PQclear(sub);
    PQclear(r);
    return out;
}

int pg_audit_each(st_store *s, int64_t from, st_audit_fn fn, void *ctx, dt_error *err)
{
    int out = DT_OK, more = 1;
    while (out >= 0 && more) out = audit_page(s, &from, &more, fn, ctx, err);
    return walk_end(out, err);
}

int pg_audit_of_subject(st_store *s, const char *subject, st_audit_fn fn, void *ctx,
                        dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, subject);
    PGresult *r = pg_run(s, "SELECT a.seq, a.time, a.principal, a.purpose, a.action, a.fields, "
                         "a.outcome, a.n_subjects, a.leaf_hash FROM audit_subject s "
                         "JOIN audit a ON a.seq = s.seq WHERE s.subject = $1 ORDER BY a.seq",
                         &p, "reading the audit log", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; i < PQntuples(r) && out >= 0; i++) {
        if (entry_damaged(r, i)) {
            out = sq_damaged(s, "reading the audit log", DAMAGED_ROW, err);
            break;
        }
        st_audit_entry e = entry_row(r, i);
        out = fn(ctx, &e);
    }
    PQclear(r);
    return out < 0 ? out : DT_OK;
}

int pg_audit_leaves(st_store *s, int64_t n, uint8_t *out, int64_t *n_found, dt_error *err)
{
    *n_found = 0;
    pg_params p = {0};
    pg_param_i64(&p, n);
    PGresult *r = pg_run(s, "SELECT leaf_hash FROM audit WHERE seq BETWEEN 1 AND $1::bigint "
                         "ORDER BY seq", &p, "reading the audit log", err);
    if (!r) return pg_failed(s);
    for (int i = 0; i < PQntuples(r) && *n_found < n; i++) {
        uint8_t *to = out + 32 * *n_found;
        if (PQgetlength(r, i, 0) == 32) memcpy(to, PQgetvalue(r, i, 0), 32);
        else memset(to, 0, 32);
        (*n_found)++;
    }
    PQclear(r);
    return DT_OK;
}

int pg_audit_subject_orphan(st_store *s, int64_t n, int64_t *seq, char **subject,
                            dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, n);
    /* two ranges of the key, not an OR, which would scan every row */
    return int_and_text(s, "SELECT seq, subject FROM audit_subject WHERE seq < 1 UNION ALL "
                        "SELECT seq, subject FROM audit_subject WHERE seq > $1::bigint LIMIT 1",
                        &p, seq, subject, "reading the audit log", err);
}

/* ---- signed tree heads and the log's end ------------------------------------ */

int pg_head_put(st_store *s, const st_head *h, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, h->size);
    pg_param_i64(&p, h->time);
    pg_param_blob(&p, h->root, 32);
    pg_param_blob(&p, h->signature, 64);
    pg_param_blob(&p, h->frontier, h->frontier_len);
    DT_TRY(pg_do(s, "INSERT INTO tree_head(size, time, root, signature, frontier) "
                 "VALUES($1, $2, $3, $4, $5)", &p, "signing the audit log", err));
    st_log_changed(s);
    return DT_OK;
}

/* Row i of a head result; a root or signature of the wrong length reads
 * as zeros, so its check fails instead of reading past the value. */
static int head_row(const PGresult *r, int i, st_head *h)
{
    memset(h, 0, sizeof *h);
    h->size = pg_i64(r, i, 0);
    h->time = pg_i64(r, i, 1);
    if (PQgetlength(r, i, 2) == 32) memcpy(h->root, PQgetvalue(r, i, 2), 32);
    if (PQgetlength(r, i, 3) == 64) memcpy(h->signature, PQgetvalue(r, i, 3), 64);
    h->frontier_len = (size_t)PQgetlength(r, i, 4);
    h->frontier = dt_malloc(h->frontier_len ? h->frontier_len : 1);
    if (!h->frontier) return DT_ENOMEM;
    if (h->frontier_len) memcpy(h->frontier, PQgetvalue(r, i, 4), h->frontier_len);
    return DT_OK;
}

int pg_head_latest(st_store *s, st_head *out, int *found, dt_error *err)
{
    PGresult *r = pg_run(s, "SELECT size, time, root, signature, frontier FROM tree_head "
                         "ORDER BY size DESC LIMIT 1", NULL, "reading tree heads", err);
    *found = 0;
    if (!r) return pg_failed(s);
    *found = PQntuples(r) == 1;
    int rc = *found ? head_row(r, 0, out) : DT_OK;
    PQclear(r);
    return rc < 0 ? dt_err_set(err, rc, "out of memory") : DT_OK;
}

int pg_heads_each(st_store *s, st_head_fn fn, void *ctx, dt_error *err)
{
    PGresult *r = pg_run(s, "SELECT size, time, root, signature, frontier FROM tree_head "
                         "ORDER BY size", NULL, "reading tree heads", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; i < PQntuples(r) && out >= 0; i++) {
        st_head h;
        out = head_row(r, i, &h);
        if (out == DT_OK) out = fn(ctx, &h);
        dt_free(h.frontier);
    }
    PQclear(r);
    return walk_end(out, err);
}

int pg_log_end_put(st_store *s, const st_log_end *e, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, e->size);
    pg_param_blob(&p, e->frontier, e->frontier_len);
    pg_param_blob(&p, e->mac, ST_MAC_BYTES);
    DT_TRY(pg_do(s, "INSERT INTO log_end(id, size, frontier, mac) VALUES(1, $1, $2, $3) "
                 "ON CONFLICT(id) DO UPDATE SET size = excluded.size, "
                 "frontier = excluded.frontier, mac = excluded.mac", &p,
                 "sealing the audit log", err));
    st_log_changed(s);
    return DT_OK;
}

int pg_log_end_get(st_store *s, st_log_end *out, int *found, dt_error *err)
{
    memset(out, 0, sizeof *out);
    *found = 0;
    PGresult *r = pg_run(s, "SELECT size, frontier, mac FROM log_end WHERE id = 1", NULL,
                         "reading the audit log's end", err);
    if (!r) return pg_failed(s);
    *found = PQntuples(r) == 1;
    if (*found) {
        out->size = pg_i64(r, 0, 0);
        int n = PQgetlength(r, 0, 1);
        if (n > 0 && n <= ST_FRONTIER_MAX) {
            memcpy(out->frontier, PQgetvalue(r, 0, 1), (size_t)n);
            out->frontier_len = (size_t)n;
        }
        if (PQgetlength(r, 0, 2) == ST_MAC_BYTES)
            memcpy(out->mac, PQgetvalue(r, 0, 2), ST_MAC_BYTES);
    }
    PQclear(r);
    return DT_OK;
}

/* ---- retention ------------------------------------------------------------- */

int pg_retention_oldest(st_store *s, int64_t source, int64_t *oldest, int *any, dt_error *err)
{
    *any = 0;
    *oldest = 0;
    pg_params p = {0};
    pg_param_i64(&p, source);
    PGresult *r = pg_run(s, "SELECT min(t) FROM (SELECT min(received) AS t FROM record "
                         "WHERE source = $1 UNION ALL SELECT min(received) FROM record_history "
                         "WHERE source = $1) AS v", &p, "reading arrival times", err);
    if (!r) return pg_failed(s);
    *any = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0);
    if (*any) *oldest = pg_i64(r, 0, 0);
    PQclear(r);
    return DT_OK;
}

/* Calls fn(id, record_id) for each row of a two-column query. */
static int each_id_row(st_store *s, const char *sql, const pg_params *p, st_due_fn fn,
                       void *ctx, dt_error *err)
{
    const char *what = "reading records due";
    PGresult *r = pg_run(s, sql, p, what, err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; i < PQntuples(r) && out >= 0; i++) {
        const char *record_id = pg_text(r, i, 1);
        out = record_id ? fn(ctx, pg_i64(r, i, 0), record_id)
                        : sq_damaged(s, what, "a record without its id", err);
    }
    PQclear(r);
    return out < 0 ? out : DT_OK;
}

int pg_retention_due(st_store *s, int64_t source, int64_t cutoff, int64_t after, size_t max,
                     st_due_fn fn, void *ctx, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, source);
    pg_param_i64(&p, cutoff);
    pg_param_i64(&p, after);
    /* SQLite reads a limit past INT64_MAX (negative) as none; PostgreSQL
     * refuses a negative one */
    pg_param_i64(&p, max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max);
    return each_id_row(s, "SELECT id, record_id FROM record WHERE source = $1 AND received < $2 "
                       "AND id > $3 ORDER BY id LIMIT $4", &p, fn, ctx, err);
}

int pg_retention_old_versions(st_store *s, int64_t source, int64_t cutoff, st_due_fn fn,
                              void *ctx, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, source);
    pg_param_i64(&p, cutoff);
    return each_id_row(s, "SELECT DISTINCT r.id, r.record_id FROM record_history h "
                       "JOIN record r ON r.id = h.record WHERE h.source = $1 "
                       "AND h.received < $2 AND r.received >= $2 ORDER BY r.id", &p, fn, ctx,
                       err);
}

int pg_retention_erase_versions(st_store *s, int64_t source, int64_t cutoff, uint64_t *n,
                                dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, source);
    pg_param_i64(&p, cutoff);
    PGresult *r = pg_run(s, "DELETE FROM record_history WHERE source = $1 AND received < $2", &p,
                         "erasing record versions", err);
    if (!r) return pg_failed(s);
    *n = strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return DT_OK;
}

int pg_record_erase(st_store *s, int64_t id, dt_error *err)
{
    const char *what = "erasing a record";
    DT_TRY(pg_links_drop(s, id, err));
    DT_TRY(pg_decisions_drop(s, id, err));
    DT_TRY(st_keys_drop(s, id, err)); /* index.c, over either backend */
    DT_TRY(pg_entity_set(s, id, NULL, err));
    pg_params p = {0};
    pg_param_i64(&p, id);
    DT_TRY(pg_do(s, "DELETE FROM record_history WHERE record = $1", &p, what, err));
    /* so the id is never given again (record_add in pg.c) */
    DT_TRY(pg_do(s, "INSERT INTO meta(key, value) VALUES('record_id_erased', $1::bigint::text) "
                 "ON CONFLICT(key) DO UPDATE SET value = "
                 "greatest(meta.value::bigint, excluded.value::bigint)::text", &p, what, err));
    return pg_do(s, "DELETE FROM record WHERE id = $1", &p, what, err);
}
