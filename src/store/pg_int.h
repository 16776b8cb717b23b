/*
 * pg_int.h — the PostgreSQL backend (src/store/pg*.c): a store whose path
 * is a postgresql:// URL keeps its tables in that database, through libpq,
 * behind the functions of store.h. Never included outside src/store.
 *
 * Work in progress (issue 19): the schema, connection, transactions,
 * settings, sources, models and records are here, tested against a real
 * PostgreSQL 15 (tests/unit/store/test_pg.c); st_open does not hand a URL
 * to pg_open until every function of store.h has its PostgreSQL twin.
 *
 * Invariants:
 *   1. Every statement is bound (PQexecParams), never built from text; a
 *      result's integers are read in binary (8-byte columns only).
 *   2. One writer at a time, across every process and server: a write
 *      transaction takes one advisory lock first (PG_WRITE_LOCK), so what
 *      one commit appends (audit entries, record ids) follows what the last
 *      one did, with no gap and no fork; reads take no lock (snapshots).
 *   3. Record contents are sealed before they leave the process, as in the
 *      SQLite backend (crypt.c): the server never sees them in clear.
 *   4. A message names the store by its URL without its password.
 */
#ifndef DT_STORE_PG_INT_H
#define DT_STORE_PG_INT_H

#include <libpq-fe.h>

#include "store/sqlite_int.h"

enum { PG_MAX_PARAMS = 12, PG_SCHEMA_VERSION = 8 };

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
 * err set (DT_EIO naming the store, `what` and the server's message). */
PGresult *pg_run(st_store *s, const char *sql, const pg_params *p, const char *what,
                 dt_error *err);
/* Runs sql and clears its result. */
int pg_do(st_store *s, const char *sql, const pg_params *p, const char *what, dt_error *err);
/* Column values of a binary result. */
int64_t pg_i64(const PGresult *r, int row, int col);
double pg_f64(const PGresult *r, int row, int col);
const char *pg_text(const PGresult *r, int row, int col);

/* Opens (or creates) the store in the database at url (invariants as
 * st_open's). */
int pg_open(const char *url, const char *key_path, st_mode mode, st_store **out, dt_error *err);
void pg_close(st_store *s);

/* The twins of store.h's functions of the same names (st_ for pg_). */
int pg_begin(st_store *s, dt_error *err);
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

#endif
