/*
 * store.h — the persistent store (src/store): one interface, backends
 * behind it. SQLite is the embedded default; a PostgreSQL backend can sit
 * behind the same functions later, so callers never see SQL or a handle
 * of either. Knows util only: values cross this boundary as text.
 *
 * Invariants:
 *   1. Nothing a source sent is lost or rewritten: a record's raw row is
 *      kept as it came (a JSON object of the source's column names and
 *      values), beside its normalized values.
 *   2. Writes happen inside st_begin/st_commit; a batch is one transaction,
 *      so a process killed mid-batch leaves the store as before the batch.
 *   3. Putting the same (source, record id, raw row) twice changes nothing
 *      (idempotent ingest); a changed raw row is an update (new version).
 *   4. Every error names the store's path and what failed; a locked store,
 *      a full disk or an unreadable file is a DT_EIO error, never a crash,
 *      and rolls the batch back.
 */
#ifndef DT_STORE_H
#define DT_STORE_H

#include <stdint.h>

#include "util/util.h"

typedef struct st_store st_store;

typedef enum st_mode {
    ST_OPEN,   /* the store must exist and be a dovetail store */
    ST_CREATE, /* the store must not exist yet; it is created empty */
} st_mode;

/* Opens (or creates) the store at path. OUT: *out (st_close it). */
int st_open(const char *path, st_mode mode, st_store **out, dt_error *err);
void st_close(st_store *s);
const char *st_path(const st_store *s);

int st_begin(st_store *s, dt_error *err);
int st_commit(st_store *s, dt_error *err);
/* Undoes the open transaction, if any; never fails the caller. */
void st_rollback(st_store *s);

/* Store-wide settings (the config text, its hash, the model). *value is
 * dt_malloc'd, or NULL when the key is absent. */
int st_meta_set(st_store *s, const char *key, const char *value, dt_error *err);
int st_meta_get(st_store *s, const char *key, char **value, dt_error *err);

/* The id of a source, created on first use. */
int st_source_id(st_store *s, const char *name, int64_t *id, dt_error *err);

typedef enum st_put_result {
    ST_PUT_NEW,      /* first time this record id was seen */
    ST_PUT_SAME,     /* the same raw row again: nothing changed */
    ST_PUT_CHANGED,  /* a different raw row: stored as a new version */
    ST_PUT_RESTORED, /* a withdrawn record sent again */
} st_put_result;

/* Stores a record's raw row and normalized values (both JSON text). */
int st_record_put(st_store *s, int64_t source, const char *record_id, const char *raw,
                  const char *norm, st_put_result *result, dt_error *err);
/* Withdraws a record; *found is 0 when it was not there or already withdrawn. */
int st_record_withdraw(st_store *s, int64_t source, const char *record_id, int *found,
                       dt_error *err);

typedef struct st_record {
    const char *source, *record_id, *raw, *norm;
    int64_t version;
    int is_withdrawn;
} st_record;

/* Calls fn for each record (of one source, or all when source is NULL),
 * in (source name, record id) order; a negative return from fn stops the
 * walk with that code. Withdrawn records only when with_withdrawn. */
typedef int (*st_record_fn)(void *ctx, const st_record *r);
int st_records_each(st_store *s, const char *source, int with_withdrawn, st_record_fn fn,
                    void *ctx, dt_error *err);
/* Records of a source (NULL: all) that are not withdrawn. */
int st_record_count(st_store *s, const char *source, uint64_t *n, dt_error *err);

#endif
