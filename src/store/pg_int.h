/*
 * pg_int.h — the PostgreSQL backend (src/store/pg*.c): a store whose path
 * is a postgresql:// URL keeps its tables in that database, through libpq,
 * behind the functions of store.h. Never included outside src/store.
 *
 * st_open hands it a URL; each st_ function hands a PostgreSQL store to
 * its pg_ twin (declared below; pg.c: connection, schema, transactions,
 * settings, sources, models, records; pg_links.c; pg_govern.c;
 * pg_findings.c; pg_index.c: the blocking index's primitives). copy.c
 * reads and writes either backend's tables to copy a whole store (st_copy,
 * `dovetail migrate`). What is left is in docs/architecture.md.
 *
 * Invariants:
 *   1. Every statement is bound, never built from data, prepared once per
 *      connection and executed by name (pg_run); a result's integers are
 *      read in binary (8-byte columns only: test builds assert it).
 *   2. One writer at a time, across every process and server: a write
 *      transaction takes one advisory lock first (PG_WRITE_LOCK), so what
 *      one commit appends (audit entries, record ids) follows what the last
 *      one did, with no gap and no fork; reads take no lock (snapshots).
 *      Writers queue for that lock in the order they asked (PostgreSQL's
 *      lock queue), without the 2 s bound of SQLite's busy timeout: a
 *      server's writes wait out another process's bulk load rather than
 *      fail. A lock PostgreSQL refuses (a lock timeout an operator set, a
 *      deadlock, a serialization failure) is DT_EBUSY, as SQLITE_BUSY is.
 *      The lock's waiters queue in the server, so handles that share a
 *      committer take no write gate here (st_set_write_gate is SQLite's).
 *   3. Record contents are sealed before they leave the process, as in the
 *      SQLite backend (crypt.c): the server never sees them in clear.
 *   4. A message names the store by its URL without its password.
 *   5. A connection the server closed (a restart, a failover) is made
 *      again between transactions, with its statements prepared anew
 *      (pg_run): a long-lived server outlives its database's restart.
 *      Inside a transaction the loss is an error; a BEGIN or a read
 *      outside one is sent again, a write never (it may have happened).
 *   6. Many rows go in one statement, PG_BATCH at a time, bound as array
 *      literals and unnested, or read back with `= ANY($1)` ordered by
 *      key, each caller's row finding its own by binary search
 *      (pg_rows_of): every statement is a round trip, and the planner
 *      sees an array's length where a join with it was misplanned.
 */
#ifndef DT_STORE_PG_INT_H
#define DT_STORE_PG_INT_H

#include <libpq-fe.h>

#include "store/sqlite_int.h"

enum { PG_MAX_PARAMS = 16, PG_SCHEMA_VERSION = 8 };

/* The advisory lock every write transaction takes (invariant 2). */
#define PG_WRITE_LOCK "7263766e6b746c64" /* hex of a fixed 64-bit key */

/* Parameters of one statement: integers and blobs bound in binary, text
 * as text. */
typedef struct pg_params {
    int n;
    const char *v[PG_MAX_PARAMS];
    int len[PG_MAX_PARAMS], fmt[PG_MAX_PARAMS];
    unsigned char num[PG_MAX_PARAMS][8];
} pg_params;

void pg_param_i64(pg_params *p, int64_t v);
void pg_param_f64(pg_params *p, double v);
void pg_param_text(pg_params *p, const char *s);
void pg_param_blob(pg_params *p, const void *data, size_t n);

/* Runs sql with p (may be NULL): the result (PQclear it), or NULL with
 * err set (naming the store, `what` and the server's message): DT_EBUSY
 * for a lock refused, else DT_EIO; pg_failed(s) is that code. */
PGresult *pg_run(st_store *s, const char *sql, const pg_params *p, const char *what,
                 dt_error *err);
/* Writes v as a PostgreSQL array literal, "{1,2,3}", NUL-terminated, into
 * b (cleared first): many rows bound as one text parameter and unnested. */
void pg_array_i64(util_buf *b, const int64_t *v, size_t n);
/* As pg_array_i64, for doubles (exact: 17 significant digits) and for
 * text (each element quoted, " and \ escaped). */
void pg_array_f64(util_buf *b, const double *v, size_t n);
void pg_array_text(util_buf *b, const char *const *v, size_t n);
/* One element of those arrays appended to b (the caller writes the
 * braces and commas): a double as pg_array_f64 writes it, a text quoted
 * as pg_array_text does. */
void pg_elem_f64(util_buf *b, double v);
void pg_elem_text(util_buf *b, const char *s);
/* One element of a text array holding n bytes as quoted hex (decode(x,
 * 'hex') reads it back; quoted, an empty blob is an element too). */
void pg_elem_hex(util_buf *b, const void *data, size_t n);
/* Many rows go in one statement each PG_BATCH of them (arrays sent as
 * text and unnested): a round trip per row was 50 s for the 60,000 links
 * of 20,000 people. */
enum { PG_BATCH = 5000 };
/* Rows [*begin, *end) of r whose column col, a bigint r is ordered by,
 * is key (a binary search): a batch's rows read with `= ANY($1)` and
 * ORDER BY, handed back to each of the caller's records. */
void pg_rows_of(const PGresult *r, int col, int64_t key, int *begin, int *end);
/* Runs sql and clears its result. */
int pg_do(st_store *s, const char *sql, const pg_params *p, const char *what, dt_error *err);
/* The one integer the one row sql returns; DT_EIO when none. */
int pg_one_i64(st_store *s, const char *sql, const pg_params *p, int64_t *v, const char *what,
               dt_error *err);
/* Column values of a binary result. */
int64_t pg_i64(const PGresult *r, int row, int col);
double pg_f64(const PGresult *r, int row, int col);
const char *pg_text(const PGresult *r, int row, int col);

/* Opens (or creates) the store in the database at url (invariants as
 * st_open's). */
int pg_open(const char *url, const char *key_path, st_mode mode, st_store **out, dt_error *err);
/* As pg_open with ST_CREATE_TXN, sealed under like's key (no key file is
 * read): the tables are made under the write lock, in the transaction
 * left open for the caller to fill (copy.c), so a database holds no
 * store until st_commit, and none when the process dies first. */
int pg_create_txn(const char *url, const st_store *like, st_store **out, dt_error *err);
void pg_close(st_store *s);
/* The URL as messages show it: without its password (invariant 4).
 * dt_malloc'd; NULL when out of memory. */
char *pg_redacted(const char *url);

/* st_probe's on PostgreSQL (pg.c): a connection of its own, made at its
 * first read; the WAL's calls have nothing to do there. */
typedef struct pg_probe pg_probe;
int pg_probe_open(const st_store *s, pg_probe **out, dt_error *err);
int pg_probe_gen(pg_probe *p, int64_t *gen, dt_error *err);
void pg_probe_close(pg_probe *p);

/* The twins of store.h's functions of the same names (st_ for pg_). */
int pg_begin(st_store *s, dt_error *err);
int pg_links_put(st_store *s, const st_link_row *v, size_t n, dt_error *err);
int pg_records_put(st_store *s, int64_t source, st_put_row *rows, size_t n, int64_t received,
                   dt_error *err);
int pg_entities_set(st_store *s, const int64_t *records, const char *const *entities, size_t n,
                    dt_error *err);
int pg_begin_now(st_store *s, dt_error *err);
int pg_verify(st_store *s, dt_error *err);
int pg_commit(st_store *s, dt_error *err);
void pg_rollback(st_store *s);
int pg_snapshot_begin(st_store *s, int *started, dt_error *err);
void pg_snapshot_end(st_store *s, int started);
int pg_data_gen(st_store *s, int64_t *gen, dt_error *err);
int pg_meta_set(st_store *s, const char *key, const char *value, dt_error *err);
int pg_meta_get(st_store *s, const char *key, char **value, dt_error *err);
int pg_source_id(st_store *s, const char *name, int64_t *id, dt_error *err);
int pg_record_put(st_store *s, int64_t source, const char *record_id, const char *raw,
                  const char *norm, int64_t received, st_put_result *result, int64_t *id,
                  dt_error *err);
int pg_record_withdraw(st_store *s, int64_t source, const char *record_id, int *found,
                       dt_error *err);
int pg_records_each(st_store *s, const char *source, int with_withdrawn, st_record_fn fn,
                    void *ctx, dt_error *err);
int pg_record_count(st_store *s, const char *source, uint64_t *n, dt_error *err);
int pg_record_get(st_store *s, int64_t id, st_record *out, int64_t *source_id, dt_error *err);
int pg_record_id(st_store *s, int64_t source, const char *record_id, int64_t *id,
                 dt_error *err);
int pg_model_put(st_store *s, const char *json, int64_t *version, dt_error *err);
int pg_model_latest(st_store *s, char **json, int64_t *version, dt_error *err);

/* The rest of store.h's functions, each the twin of the st_ one of the
 * same name (same arguments, results, order of rows and errors), in
 * pg_links.c (links, decisions, entities), pg_govern.c (principals,
 * policies, the audit log, retention) and pg_findings.c (events and
 * findings); the blocking index is index.c's, over pg_index.c's
 * primitives. */
int pg_records_norm_each(st_store *s, st_record_fn fn, void *ctx, dt_error *err);
int pg_record_norm(st_store *s, int64_t id, st_record *out, dt_error *err);
int pg_active_ids(st_store *s, int64_t from, int64_t *ids, size_t max, size_t *n,
                  dt_error *err);
int pg_model_version(st_store *s, int64_t *version, dt_error *err);
int pg_link_put(st_store *s, int64_t a, int64_t b, int rule, double weight, double p,
                dt_error *err);
int pg_links_clear(st_store *s, dt_error *err);
int pg_links_index_drop(st_store *s, dt_error *err);
int pg_links_index_build(st_store *s, dt_error *err);
int pg_links_drop(st_store *s, int64_t record, dt_error *err);
int pg_links_of(st_store *s, int64_t record, double min_p, st_link_fn fn, void *ctx,
                dt_error *err);
int pg_decision_put(st_store *s, int64_t a, int64_t b, int same, const char *by, int64_t time,
                    const char *note, dt_error *err);
int pg_decisions_of(st_store *s, int64_t record, st_decision_fn fn, void *ctx, dt_error *err);
int pg_decisions_each(st_store *s, st_decision_pair_fn fn, void *ctx, dt_error *err);
int pg_links_band(st_store *s, double lo, double hi, int by_doubt, st_band_fn fn, void *ctx,
                  dt_error *err);
int pg_link_sources_each(st_store *s, st_link_sources_fn fn, void *ctx, dt_error *err);
int pg_entity_sizes_each(st_store *s, st_size_fn fn, void *ctx, dt_error *err);
int pg_decision_keys_each(st_store *s, st_decision_key_fn fn, void *ctx, dt_error *err);
int pg_decisions_drop(st_store *s, int64_t record, dt_error *err);
int pg_links_of_source(st_store *s, int64_t record, double min_p, st_link_src_fn fn, void *ctx,
                       dt_error *err);
int pg_record_source(st_store *s, int64_t id, int64_t *source, int *is_active, dt_error *err);
int pg_entity_of(st_store *s, int64_t record, char **entity, dt_error *err);
int pg_members_index_drop(st_store *s, dt_error *err);
int pg_members_index_build(st_store *s, dt_error *err);
int pg_entity_set(st_store *s, int64_t record, const char *entity, dt_error *err);
int pg_entity_event(st_store *s, const char *kind, const char *entity, const char *other,
                    const char *cause, dt_error *err);
int pg_entity_members(st_store *s, const char *entity, st_id_fn fn, void *ctx, dt_error *err);
int pg_members_each(st_store *s, st_member_fn fn, void *ctx, dt_error *err);
int pg_verify(st_store *s, dt_error *err);
int pg_links_each(st_store *s, double min_p, st_link_pair_fn fn, void *ctx, dt_error *err);
int pg_records_norm(st_store *s, const int64_t *ids, size_t n, st_record_at_fn fn, void *ctx,
                    dt_error *err);
int pg_links_of_records(st_store *s, const int64_t *records, size_t n, double min_p,
                        st_link_at_fn fn, void *ctx, dt_error *err);
int pg_decisions_of_records(st_store *s, const int64_t *records, size_t n, st_decision_at_fn fn,
                            void *ctx, dt_error *err);
int pg_entities_of(st_store *s, const int64_t *records, size_t n, st_entity_at_fn fn, void *ctx,
                   dt_error *err);
int pg_entities_members(st_store *s, const char *const *entities, size_t n, st_id_at_fn fn,
                        void *ctx, dt_error *err);
int pg_links_drop_records(st_store *s, const int64_t *records, size_t n, dt_error *err);
int pg_entity_events(st_store *s, const st_event_row *v, size_t n, dt_error *err);
int pg_event_put(st_store *s, int64_t source, const char *event_id, const char *row,
                 int64_t received, st_put_result *result, dt_error *err);
int pg_events_each(st_store *s, const char *source, st_event_fn fn, void *ctx, dt_error *err);
int pg_events_oldest(st_store *s, const char *source, int64_t *oldest, int *any, dt_error *err);
int pg_events_erase(st_store *s, const char *source, int64_t cutoff, uint64_t *n, dt_error *err);
int pg_finding_put(st_store *s, const st_finding *f, dt_error *err);
int pg_finding_get(st_store *s, const char *purpose, const char *id, st_finding *out,
                   dt_error *err);
int pg_findings_each(st_store *s, const char *purpose, st_finding_fn fn, void *ctx,
                     dt_error *err);
int pg_finding_step_add(st_store *s, const char *purpose, const char *finding,
                        st_finding_step *step, dt_error *err);
int pg_finding_steps_each(st_store *s, const char *purpose, const char *finding, st_step_fn fn,
                          void *ctx, dt_error *err);
int pg_principal_add(st_store *s, st_principal *p, dt_error *err);
int pg_principal_by_token(st_store *s, const uint8_t *token_hash, st_principal *out,
                          dt_error *err);
int pg_principal_by_name(st_store *s, const char *name, st_principal *out, dt_error *err);
int pg_principals_each(st_store *s, st_principal_fn fn, void *ctx, dt_error *err);
int pg_principal_revoke(st_store *s, const char *name, int64_t time, st_principal *out,
                        dt_error *err);
int pg_principal_count_active(st_store *s, const char *role, int64_t *n, dt_error *err);
int pg_policy_put(st_store *s, int64_t source, const char *text, const char *set_by,
                  int64_t time, int64_t *version, dt_error *err);
int pg_policy_count(st_store *s, int64_t *n, dt_error *err);
int pg_policy_latest(st_store *s, int64_t source, char **text, int64_t *version,
                     dt_error *err);
int pg_policies_each(st_store *s, st_policy_fn fn, void *ctx, dt_error *err);
int pg_sources_with_records(st_store *s, st_name_fn fn, void *ctx, dt_error *err);
int pg_audit_put(st_store *s, const st_audit_entry *e, dt_error *err);
int pg_audit_last(st_store *s, int64_t *seq, dt_error *err);
int pg_audit_each(st_store *s, int64_t from, st_audit_fn fn, void *ctx, dt_error *err);
int pg_audit_of_subject(st_store *s, const char *subject, st_audit_fn fn, void *ctx,
                        dt_error *err);
int pg_audit_leaves(st_store *s, int64_t n, uint8_t *out, int64_t *n_found, dt_error *err);
int pg_audit_subject_orphan(st_store *s, int64_t n, int64_t *seq, char **subject,
                            dt_error *err);
int pg_head_put(st_store *s, const st_head *h, dt_error *err);
int pg_head_latest(st_store *s, st_head *out, int *found, dt_error *err);
int pg_heads_each(st_store *s, st_head_fn fn, void *ctx, dt_error *err);
int pg_log_end_put(st_store *s, const st_log_end *e, dt_error *err);
int pg_log_end_get(st_store *s, st_log_end *out, int *found, dt_error *err);
int pg_retention_oldest(st_store *s, int64_t source, int64_t *oldest, int *any, dt_error *err);
int pg_retention_due(st_store *s, int64_t source, int64_t cutoff, int64_t after, size_t max,
                     st_due_fn fn, void *ctx, dt_error *err);
int pg_retention_old_versions(st_store *s, int64_t source, int64_t cutoff, st_due_fn fn,
                              void *ctx, dt_error *err);
int pg_retention_erase_versions(st_store *s, int64_t source, int64_t cutoff, uint64_t *n,
                                dt_error *err);
int pg_record_erase(st_store *s, int64_t id, dt_error *err);

/* The code of the last pg_run that returned NULL. */
static inline int pg_failed(const st_store *s)
{
    return s->pg_failed;
}

#endif
