/*
 * store.h — the persistent store (src/store): one interface, backends
 * behind it. SQLite is the embedded default; PostgreSQL (a postgresql://
 * URL for a path, pg_int.h) sits behind the same functions, so callers
 * never see SQL or a handle of either. Knows util only: values cross this
 * boundary as text.
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
 *      and rolls the batch back. A damaged page is an error wherever SQLite
 *      or a check here meets it, never the end of a table (st_verify finds
 *      the damage reads alone would not).
 *   5. Record contents are stored sealed and blocking keys as keyed hashes,
 *      under the key file (crypt.c); no secret key is stored. A copy of the
 *      store without its key file reveals no record's contents.
 *   6. A call on many rows (st_records_put, st_links_put, the batch forms
 *      "many records at once") gives what its one-row twin would give
 *      called for each row in order: the same rows, order, ids and errors.
 *      It exists for the backend with a round trip per statement.
 */
#ifndef DT_STORE_H
#define DT_STORE_H

#include <stdint.h>

#include <pthread.h>

#include "util/util.h"

typedef struct st_store st_store;

typedef enum st_mode {
    ST_OPEN,   /* the store must exist and be a dovetail store */
    ST_CREATE, /* the store must not exist yet; it is created empty */
    ST_CREATE_TXN, /* as ST_CREATE with the key file there, inside a write transaction
                      left open: until st_commit there is no store (copy.c) */
} st_mode;

/* Opens (or creates) the store at path, 0600 with its -wal and -shm,
 * under the key file at key_path (crypt.c): ST_CREATE makes the key file
 * when it is absent; ST_OPEN needs the one the store was made with (else
 * DT_EAUTH). OUT: *out (st_close it). */
int st_open(const char *path, const char *key_path, st_mode mode, st_store **out,
            dt_error *err);
void st_close(st_store *s);
/* 1 when path is a postgresql:// (or postgres://) URL: the store is kept
 * in that database (pg_int.h), its messages name it without a password. */
int st_is_url(const char *path);
const char *st_path(const st_store *s);
/* A store's path or URL as messages name it: a URL (of any scheme)
 * without its password, as st_path of a store opened there shows it.
 * dt_malloc'd; NULL: out of memory. */
char *st_path_shown(const char *path);
/* 1 when a and b are handles on one store: one file (device and inode),
 * or one URL (its two schemes alike, its password aside). */
int st_same_store(const st_store *a, const st_store *b);

/* 1 when the store could only be opened for reading (a read-only file,
 * a full disk): every write fails with DT_EIO. */
int st_is_readonly(const st_store *s);
/* ---- keys (crypt.c) ---------------------------------------------------- */

enum { ST_KEY_BYTES = 32 };
/* What a subkey of the key file is for: each use has its own. */
enum st_subkey {
    ST_SUBKEY_RECORD = 1,     /* sealing record contents and st_seal_text */
    ST_SUBKEY_SLOT = 2,       /* blocking-index hashes */
    ST_SUBKEY_AUDIT_SIGN = 3, /* the audit log's Ed25519 seed */
    ST_SUBKEY_VIEW_ID = 4,    /* view entity ids */
    ST_SUBKEY_CHECK = 5,      /* kept in the store: names a wrong key file */
    ST_SUBKEY_AUDIT_MAC = 6,  /* the MAC that seals the audit log's end */
};
/* Derives len (16 to 64) bytes for `which` from the store's key file. */
int st_subkey(const st_store *s, enum st_subkey which, uint8_t *out, size_t len);
/* Seals text under the store's key, bound to label (a value sealed under
 * one label does not open under another), as base64 text. *out is
 * dt_malloc'd. */
int st_seal_text(st_store *s, const char *label, const char *plain, char **out, dt_error *err);
/* Opens what st_seal_text sealed under label; DT_EIO when it does not. */
int st_open_text(st_store *s, const char *label, const char *sealed, char **out, dt_error *err);

int st_begin(st_store *s, dt_error *err);
/* As st_begin, but DT_EBUSY at once where st_begin would wait for the
 * write lock (another handle's or process's write). */
int st_begin_now(st_store *s, dt_error *err);
/* As st_begin, for a transaction that writes many rows (svc_resolve_bulk):
 * foreign keys are not checked until it ends (each check a lookup in
 * the record table: 70% of writing three million links). Its writer
 * must only name records it read in it; test builds check every
 * reference at st_commit. */
int st_begin_bulk(st_store *s, dt_error *err);
int st_commit(st_store *s, dt_error *err);
/* Undoes the open transaction, if any; never fails the caller. */
void st_rollback(st_store *s);
/* A read of many statements sees one snapshot of the store, even while
 * another process writes, and pays for opening a read transaction once,
 * not per statement. Inside a write transaction it adds nothing
 * (*started = 0). st_snapshot_end ends what st_snapshot_begin started. */
int st_snapshot_begin(st_store *s, int *started, dt_error *err);
void st_snapshot_end(st_store *s, int started);
/* Keeps the read transaction st_snapshot_begin started open after the
 * call, so the next one reads the same snapshot with its page cache
 * intact (a commit by anyone, even of one audit entry, empties the cache
 * of every handle that starts a new one). While held, st_snapshot_begin
 * continues it; the caller must first check that no data changed since
 * (st_data_gen of a fresh read, e.g. st_probe_gen) and release it when
 * some did, or when it reads the audit log, which a held snapshot shows
 * as it was. st_begin releases it (a write cannot start inside a read). */
void st_snapshot_hold(st_store *s, int started);
/* 1 when st_snapshot_hold keeps anything: SQLite's page cache. On
 * PostgreSQL it ends the snapshot (the server keeps the cache, and an
 * open transaction would hold back its vacuum), so there is nothing to
 * check a held one with. */
int st_can_hold(const st_store *s);
int st_snapshot_is_held(const st_store *s);
void st_snapshot_release(st_store *s);
/* The data generation: 0 in a new store, one more after every commit
 * that changed any row but the audit log's (st_commit; the audit log's
 * statements count their rows with st_log_changed). Equal generations
 * mean equal data, whatever the audit log gained. */
int st_data_gen(st_store *s, int64_t *gen, dt_error *err);
void st_log_changed(st_store *s);
/* Handles of one process that share gate take it before their write
 * lock and give it back after their commit or rollback: they queue for
 * the lock, where SQLite's busy timeout would have them poll for it, and
 * a writer polling against a busy group committer can lose every time
 * until its timeout. NULL: none. SQLite's alone: PostgreSQL's write lock
 * queues its waiters itself (pg_int.h, invariant 2). */
void st_set_write_gate(st_store *s, pthread_mutex_t *gate);
/* 1 while an st_begin transaction is open. */
int st_is_writing(const st_store *s);
/* Test builds: from now on, a commit that bypasses the above aborts. */
void st_check_commits(st_store *s);
/* A small connection of its own to s's store that reads the current data
 * generation in a fresh transaction: cheap, since it caches nothing worth
 * keeping (on PostgreSQL it connects at its first read: pg.c). */
typedef struct st_probe st_probe;
int st_probe_open(const st_store *s, st_probe **out, dt_error *err);
int st_probe_gen(st_probe *p, int64_t *gen, dt_error *err);
void st_probe_close(st_probe *p);
/* SQLite resets the WAL (writes it again from the top) only when a
 * checkpoint has copied all of it and no reader is still on it; readers
 * that always overlap, as a busy server's do, never leave it that moment
 * and the WAL grows by every commit. A process that keeps the WAL short
 * itself: st_wal_watch counts the WAL's frames into *frames after each of
 * s's commits, in place of SQLite's automatic checkpoint on s; and
 * st_probe_checkpoint copies what it can of the WAL into the database
 * (waiting for no one), or with restart copies all of it and resets it,
 * waiting at most ST_RESET_WAIT_US for readers on it to leave and for a
 * writer (the caller keeps its own from starting meanwhile). *is_whole:
 * the WAL was copied whole (and, with restart, reset); 0 when a reader or
 * writer was still there (try again). On PostgreSQL there is no WAL of
 * ours: st_wal_watch leaves *frames as it is and st_probe_checkpoint
 * copies nothing (*is_whole 1). */
enum { ST_RESET_WAIT_US = 2000 };
void st_wal_watch(st_store *s, _Atomic int_fast64_t *frames);
int st_probe_checkpoint(st_probe *p, int restart, int *is_whole, dt_error *err);

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

/* Stores a record's raw row and normalized values (both JSON text), as
 * received (unix time) then: the start of its retention period. Inside
 * st_begin: a new record's id is above every id ever erased, as read there.
 * OUT: *result, *id (the record's store id; may be NULL). */
int st_record_put(st_store *s, int64_t source, const char *record_id, const char *raw,
                  const char *norm, int64_t received, st_put_result *result, int64_t *id,
                  dt_error *err);
/* st_record_put for n rows of one source at once (distinct record ids;
 * a bulk load): each row's result and store id are set, as n calls in
 * order would set them; a backend with a round trip per statement looks
 * them up and stores the new ones in a few. */
typedef struct st_put_row {
    const char *record_id, *raw, *norm;
    st_put_result result; /* OUT */
    int64_t id;           /* OUT */
} st_put_row;
int st_records_put(st_store *s, int64_t source, st_put_row *rows, size_t n, int64_t received,
                   dt_error *err);
/* Withdraws a record; *found is 0 when it was not there or already withdrawn. */
int st_record_withdraw(st_store *s, int64_t source, const char *record_id, int *found,
                       dt_error *err);

typedef struct st_record {
    const char *source, *record_id, *raw, *norm;
    const char *entity;    /* st_record_norm only: its entity, "" when none */
    int64_t version;
    int is_withdrawn;
    int64_t id;            /* st_records_each only: its store id */
} st_record;

/* Calls fn for each record (of one source, or all when source is NULL),
 * in (source name, record id) order; a negative return from fn stops the
 * walk with that code. Withdrawn records only when with_withdrawn. */
typedef int (*st_record_fn)(void *ctx, const st_record *r);
int st_records_each(st_store *s, const char *source, int with_withdrawn, st_record_fn fn,
                    void *ctx, dt_error *err);
/* Every active record by store id, with its normalized values and its
 * entity ("" when none), raw "": what a bulk resolution reads (one
 * sequential pass where st_record_norm per record would seek). */
int st_records_norm_each(st_store *s, st_record_fn fn, void *ctx, dt_error *err);
/* Records of a source (NULL: all) that are not withdrawn: a pass over
 * them (seconds at a million records, its pages read from disk). */
int st_record_count(st_store *s, const char *source, uint64_t *n, dt_error *err);
/* At least the records stored (the largest store id given), at once: for
 * a choice by size, where st_record_count would read the whole table. */
int st_records_bound(st_store *s, uint64_t *n, dt_error *err);
/* One record by store id, its strings copied (st_record_free them).
 * DT_ENOTFOUND when there is none. */
int st_record_get(st_store *s, int64_t id, st_record *out, int64_t *source_id, dt_error *err);
void st_record_free(st_record *r);
/* As st_record_get without the raw row (out->raw is ""), with the
 * record's entity: resolution reads only normalized values. */
int st_record_norm(st_store *s, int64_t id, st_record *out, dt_error *err);
/* The store id of (source, record id); DT_ENOTFOUND when absent. */
int st_record_id(st_store *s, int64_t source, const char *record_id, int64_t *id,
                 dt_error *err);

/* Up to max store ids of active records, from id `from` on, ascending.
 * OUT: *n. */
int st_active_ids(st_store *s, int64_t from, int64_t *ids, size_t max, size_t *n,
                  dt_error *err);

/* ---- model, blocking index, links, entities ------------------------- */

/* Model parameters as JSON text, versioned: put adds a version. */
int st_model_put(st_store *s, const char *json, int64_t *version, dt_error *err);
/* The newest model; *json NULL (and *version 0) when none was trained. */
int st_model_latest(st_store *s, char **json, int64_t *version, dt_error *err);
/* The newest model's version alone (0: none), cheap enough for every request. */
int st_model_version(st_store *s, int64_t *version, dt_error *err);

/* The persistent blocking index, a batch of n records at a time: keys[r][i]
 * is record i's key under rule r (0: none), codes[i] its source's code
 * (its config index: the store's sources are made in config order).
 * Only active, resolved records hold keys: withdrawing a record drops them.
 * Setting replaces whatever keys each record held. Record ids must be
 * below 2^30 (DT_ELIMIT otherwise), so every id a match returns is too. */
int st_keys_set(st_store *s, const int64_t *records, const uint16_t *codes, size_t n,
                const uint64_t *const *keys, size_t n_rules, dt_error *err);
/* As st_keys_set for every active record at once (records ascending):
 * one pass over the stored slot lists finds the records whose keys
 * differ (a new config, a record stored before the store had a model)
 * and only those are written; when no record holds keys, the index is
 * written in one sorted pass. Records not in the list lose their keys. */
int st_keys_reset(st_store *s, const int64_t *records, const uint16_t *codes, size_t n,
                  const uint64_t *const *keys, size_t n_rules, dt_error *err);
/* As st_keys_set for records that hold no keys (new in this
 * transaction), many at once: nothing is looked up, and the slots go
 * straight into the index in one sorted pass (a bulk load). */
int st_keys_add(st_store *s, const int64_t *records, const uint16_t *codes, size_t n,
                const uint64_t *const *keys, size_t n_rules, dt_error *err);
/* Drops a record's keys (none held is fine). */
int st_keys_drop(st_store *s, int64_t record, dt_error *err);
typedef int (*st_match_fn)(void *ctx, size_t i, int64_t record);
/* The block cap: before the records of a block of min_records or more
 * reach fn, too_big(ctx, rule, i, n_records) is asked about it (i: the
 * first query with that key) and returns 1 to skip the block, 0 to scan
 * it, or a negative code to stop. */
typedef struct st_block_cap {
    uint64_t min_records;
    int (*too_big)(void *ctx, size_t rule, size_t i, uint64_t n_records);
    void *ctx;
} st_block_cap;
/* Calls fn(ctx, i, record) for each stored record of a source whose code
 * is a bit of `codes` (~0: any) sharing a key (same rule, same key) with
 * query i of n, except in the blocks cap (may be NULL) says are too big.
 * Records of other sources are not read at all, so the work does not grow
 * with them (nor does a block's size, as cap sees it). A backend may index
 * a hash of the key, so a few records that share none can come too (and
 * count in a block's size), and one record more than once: callers compare
 * the keys. A negative return from fn stops with it. */
int st_keys_match(st_store *s, size_t n, const uint64_t *const *keys, size_t n_rules,
                  uint64_t codes, const st_block_cap *cap, st_match_fn fn, void *ctx,
                  dt_error *err);
typedef int (*st_count_fn)(void *ctx, uint64_t n);
/* Calls fn(ctx, n) for each source whose code is a bit of `codes` with n
 * records in the block of (rule, key): what a cap that counts pairs by
 * source needs. */
int st_block_sources(st_store *s, size_t rule, uint64_t key, uint64_t codes, st_count_fn fn,
                     void *ctx, dt_error *err);
typedef int (*st_id_fn)(void *ctx, int64_t id);

/* Scored pairs (at or over the review threshold), a < b. */
int st_link_put(st_store *s, int64_t a, int64_t b, int rule, double weight, double p,
                dt_error *err);
/* Many links at once (a bulk resolution), each as st_link_put stores it;
 * a backend with a round trip per statement sends them in a few. */
typedef struct st_link_row {
    int64_t a, b;
    int rule;
    double weight, p;
} st_link_row;
int st_links_put(st_store *s, const st_link_row *v, size_t n, dt_error *err);
/* Drops every link (before every record is scored again, in bulk). */
int st_links_clear(st_store *s, dt_error *err);
/* Many links to write: the index that finds a record's links as the
 * second of a pair is dropped, inside the caller's transaction, and built
 * again in one sorted pass after (st_links_of and st_links_drop need it:
 * nothing may call them in between). */
int st_links_index_drop(st_store *s, dt_error *err);
int st_links_index_build(st_store *s, dt_error *err);
/* Drops every link of a record (before it is scored again or withdrawn). */
int st_links_drop(st_store *s, int64_t record, dt_error *err);
typedef int (*st_link_fn)(void *ctx, int64_t other, double p);
typedef int (*st_link_pair_fn)(void *ctx, int64_t a, int64_t b, double p);
/* Calls fn for each link of record with probability >= min_p. */
int st_links_of(st_store *s, int64_t record, double min_p, st_link_fn fn, void *ctx,
                dt_error *err);

/* A reviewer's decision that records a and b (a != b) are the same
 * person (same 1) or not (0), replacing any earlier one on the pair; note
 * as the caller sealed it. */
int st_decision_put(st_store *s, int64_t a, int64_t b, int same, const char *by, int64_t time,
                    const char *note, dt_error *err);
typedef int (*st_decision_fn)(void *ctx, int64_t other, int same);
/* Calls fn for each decision on a pair that holds record. */
int st_decisions_of(st_store *s, int64_t record, st_decision_fn fn, void *ctx, dt_error *err);
typedef int (*st_decision_pair_fn)(void *ctx, int64_t a, int64_t b, int same);
/* Calls fn for every decision, by (a, b). */
int st_decisions_each(st_store *s, st_decision_pair_fn fn, void *ctx, dt_error *err);
/* A pair in the review band, with its records' names. */
typedef struct st_band_pair {
    int64_t a, b;
    double p;
    const char *source_a, *id_a, *source_b, *id_b;
    const char *entity_a, *entity_b; /* the store's entities ("" when none) */
} st_band_pair;
typedef int (*st_band_fn)(void *ctx, const st_band_pair *bp); /* 1: stop */
/* Each link with lo <= p < hi between two active records that no
 * reviewer has decided, the most doubtful first (p nearest 0.5) when
 * by_doubt, else by (a, b). */
int st_links_band(st_store *s, double lo, double hi, int by_doubt, st_band_fn fn, void *ctx,
                  dt_error *err);
typedef void (*st_link_sources_fn)(void *ctx, double p, int64_t source_a, int64_t source_b);
/* Every link between two active records: its probability and their sources. */
int st_link_sources_each(st_store *s, st_link_sources_fn fn, void *ctx, dt_error *err);
typedef void (*st_size_fn)(void *ctx, uint64_t n);
/* The active records of each entity, counted. */
int st_entity_sizes_each(st_store *s, st_size_fn fn, void *ctx, dt_error *err);
typedef int (*st_decision_key_fn)(void *ctx, const char *a, const char *b, int same);
/* Every decision between two active records, their keys "source:record_id";
 * a positive return from fn stops the walk (DT_OK), a negative one with it. */
int st_decision_keys_each(st_store *s, st_decision_key_fn fn, void *ctx, dt_error *err);
/* Drops every decision on a record (withdrawn or erased). */
int st_decisions_drop(st_store *s, int64_t record, dt_error *err);

typedef int (*st_link_src_fn)(void *ctx, int64_t other, double p, int64_t other_source);
/* As st_links_of, with the other record's source id. */
int st_links_of_source(st_store *s, int64_t record, double min_p, st_link_src_fn fn, void *ctx,
                       dt_error *err);
/* A record's source id, and whether it is active; DT_ENOTFOUND (no
 * message) when there is no record of that id. */
int st_record_source(st_store *s, int64_t id, int64_t *source, int *is_active, dt_error *err);

/* Which entity a record belongs to ("" when none yet). *entity is dt_malloc'd. */
int st_entity_of(st_store *s, int64_t record, char **entity, dt_error *err);
/* As st_links_index_drop and _build, for memberships: the index that
 * finds an entity's records (st_entity_members needs it). */
int st_members_index_drop(st_store *s, dt_error *err);
int st_members_index_build(st_store *s, dt_error *err);
/* Puts n records in their entities (none NULL), as st_entity_set does. */
int st_entities_set(st_store *s, const int64_t *records, const char *const *entities, size_t n,
                    dt_error *err);
/* Puts a record in an entity, or takes it out of any (entity NULL). */
int st_entity_set(st_store *s, int64_t record, const char *entity, dt_error *err);
/* Records how an entity changed: kind "new", "merge" or "split", the
 * other entity concerned ("" if none) and the cause. */
int st_entity_event(st_store *s, const char *kind, const char *entity, const char *other,
                    const char *cause, dt_error *err);
/* Calls fn with each record of an entity. */
int st_entity_members(st_store *s, const char *entity, st_id_fn fn, void *ctx, dt_error *err);
typedef int (*st_member_fn)(void *ctx, int64_t record, const char *source,
                            const char *record_id, const char *entity);
/* Every active record with its entity, in (source name, record id) order;
 * a withdrawn record with an entity is damage, a DT_EIO error. */
int st_members_each(st_store *s, st_member_fn fn, void *ctx, dt_error *err);
/* Reads every page and compares every index with its table: DT_EIO
 * "the store file is damaged (...)" naming what is wrong, or DT_OK. Inside
 * a snapshot, it checks what the snapshot reads. */
int st_verify(st_store *s, dt_error *err);

/* Calls fn for each stored link with probability >= min_p (a < b), in
 * (a, b) order: one walk where a per-record st_links_of would be many. */
int st_links_each(st_store *s, double min_p, st_link_pair_fn fn, void *ctx, dt_error *err);

/* ---- many records at once: what resolution reads and writes per batch ---- */

/* Each gives what its one-record twin (named) gives, called for each of n
 * records in the order given, its callback told which (i). A backend with
 * a round trip per statement (PostgreSQL) runs one statement per PG_BATCH
 * records, where a resolving batch made about 35 round trips per record
 * (bench/delta.sh); SQLite steps the twin's statement n times, as fast
 * there. A negative return from fn stops the walk with that code. */
typedef int (*st_record_at_fn)(void *ctx, size_t i, const st_record *r);
/* st_record_norm: r's strings are borrowed until fn returns, r->id is
 * ids[i]. DT_ENOTFOUND ("no record N") at the first id with no record,
 * fn having seen those before it. */
int st_records_norm(st_store *s, const int64_t *ids, size_t n, st_record_at_fn fn, void *ctx,
                    dt_error *err);
typedef int (*st_link_at_fn)(void *ctx, size_t i, int64_t other, double p);
/* st_links_of. */
int st_links_of_records(st_store *s, const int64_t *records, size_t n, double min_p,
                        st_link_at_fn fn, void *ctx, dt_error *err);
typedef int (*st_decision_at_fn)(void *ctx, size_t i, int64_t other, int same);
/* st_decisions_of. */
int st_decisions_of_records(st_store *s, const int64_t *records, size_t n, st_decision_at_fn fn,
                            void *ctx, dt_error *err);
typedef int (*st_entity_at_fn)(void *ctx, size_t i, const char *entity);
/* st_entity_of: fn once for each record, with its entity ("" when none;
 * borrowed until fn returns). */
int st_entities_of(st_store *s, const int64_t *records, size_t n, st_entity_at_fn fn, void *ctx,
                   dt_error *err);
typedef int (*st_id_at_fn)(void *ctx, size_t i, int64_t id);
/* st_entity_members: fn(ctx, i, record) for each record of entity i. */
int st_entities_members(st_store *s, const char *const *entities, size_t n, st_id_at_fn fn,
                        void *ctx, dt_error *err);
/* st_links_drop of each record. */
int st_links_drop_records(st_store *s, const int64_t *records, size_t n, dt_error *err);
/* st_entity_event of each row, in order (their seq ascending). */
typedef struct st_event_row {
    const char *kind, *entity, *other, *cause;
} st_event_row;
int st_entity_events(st_store *s, const st_event_row *v, size_t n, dt_error *err);

/* ---- events and findings (findings_sql.c) ---------------------------- */

/* An event source's row (a payment, a filing) as JSON text, by its id: put
 * stores it sealed. OUT: *result (new, same, changed). */
int st_event_put(st_store *s, int64_t source, const char *event_id, const char *row,
                 int64_t received, st_put_result *result, dt_error *err);
typedef int (*st_event_fn)(void *ctx, const char *event_id, const char *row);
/* Every row of the event source of that name, in the order first stored
 * (none when it was never ingested: nothing is created). */
int st_events_each(st_store *s, const char *source, st_event_fn fn, void *ctx, dt_error *err);

/* Retention: the earliest arrival of the event source's rows (*any 0 when
 * it has none), and erasing those that arrived before cutoff (OUT: *n). */
int st_events_oldest(st_store *s, const char *source, int64_t *oldest, int *any, dt_error *err);
int st_events_erase(st_store *s, const char *source, int64_t cutoff, uint64_t *n, dt_error *err);

/* A finding as stored: evidence is JSON text (sealed in the store);
 * sources the bits of the config sources it rests on; times are unix
 * seconds. */
typedef struct st_finding {
    char *id, *rule, *state, *purpose, *evidence;
    int rule_version, contest_days;
    int64_t model_version, created, updated, notified_at;
    double confidence;
    uint64_t sources;
} st_finding;
/* A finding is keyed by (purpose, id): each purpose's run keeps its own,
 * with its own history, even where two find the same thing. */
/* Adds or replaces the finding of (f->purpose, f->id) (every field). */
int st_finding_put(st_store *s, const st_finding *f, dt_error *err);
/* DT_ENOTFOUND (no message) when there is none. st_finding_free *out. */
int st_finding_get(st_store *s, const char *purpose, const char *id, st_finding *out,
                   dt_error *err);
void st_finding_free(st_finding *f);
typedef int (*st_finding_fn)(void *ctx, const st_finding *f);
/* Every finding of a purpose, by id. */
int st_findings_each(st_store *s, const char *purpose, st_finding_fn fn, void *ctx,
                     dt_error *err);

/* A step of a finding's history: the action, the state it led to, who,
 * why (sealed in the store), when. */
typedef struct st_finding_step {
    int64_t seq, at;
    const char *action, *state, *by, *reason;
} st_finding_step;
/* Appends a step (step->seq is set: the next of the finding's). */
int st_finding_step_add(st_store *s, const char *purpose, const char *finding,
                        st_finding_step *step, dt_error *err);
typedef int (*st_step_fn)(void *ctx, const st_finding_step *step);
/* A finding's steps in order; a gap in their numbers is damage (DT_EIO). */
int st_finding_steps_each(st_store *s, const char *purpose, const char *finding, st_step_fn fn,
                          void *ctx, dt_error *err);

/* ---- principals, policies, audit log (govern_sql.c) ------------------- */

typedef struct st_principal {
    int64_t id;                    /* the row's id: a name may be given again, an id never */
    char *name, *role, *sources;   /* sources: comma-separated (a steward's), or "" */
    uint8_t token_hash[32];        /* SHA-256 of the token */
    int64_t created, revoked;      /* microseconds since the epoch; revoked 0: active */
} st_principal;

void st_principal_fini(st_principal *p);
/* Adds a principal (p: every field but id); DT_EINVAL when an active one
 * has the name. OUT: p->id. */
int st_principal_add(st_store *s, st_principal *p, dt_error *err);
/* The principal holding the token of this hash; DT_ENOTFOUND when none. */
int st_principal_by_token(st_store *s, const uint8_t *token_hash, st_principal *out,
                          dt_error *err);
/* The active principal of that name; DT_ENOTFOUND (no message) when none. */
int st_principal_by_name(st_store *s, const char *name, st_principal *out, dt_error *err);
typedef int (*st_principal_fn)(void *ctx, const st_principal *p);
/* Every principal, by name (then id: a revoked name given again). */
int st_principals_each(st_store *s, st_principal_fn fn, void *ctx, dt_error *err);
/* Marks the active principal of that name revoked at `time`. OUT: *out,
 * the row as it now is; DT_ENOTFOUND (no message) when none is active. */
int st_principal_revoke(st_store *s, const char *name, int64_t time, st_principal *out,
                        dt_error *err);
/* Active principals of a role. */
int st_principal_count_active(st_store *s, const char *role, int64_t *n, dt_error *err);

/* A source's policy text, versioned: put adds a version. */
int st_policy_put(st_store *s, int64_t source, const char *text, const char *set_by,
                  int64_t time, int64_t *version, dt_error *err);
/* Policy rows in all: they are only added, so an equal count means
 * nothing changed. */
int st_policy_count(st_store *s, int64_t *n, dt_error *err);
/* The newest version; *text NULL (and *version 0) when none was set. */
int st_policy_latest(st_store *s, int64_t source, char **text, int64_t *version,
                     dt_error *err);

/* A policy row as stored: its source by name ("" when the row names no
 * source), so a renamed source does not keep its policies. */
typedef struct st_policy_row {
    const char *source, *text, *set_by;
    int64_t version, time;
} st_policy_row;
typedef int (*st_policy_fn)(void *ctx, const st_policy_row *p);
/* Every policy row, by source then version (strings valid during fn). */
int st_policies_each(st_store *s, st_policy_fn fn, void *ctx, dt_error *err);
typedef int (*st_name_fn)(void *ctx, const char *name);
/* The names of the sources that hold a record (current or withdrawn). */
int st_sources_with_records(st_store *s, st_name_fn fn, void *ctx, dt_error *err);

/* One audit entry as stored: fields is a JSON array text; leaf_hash 32
 * bytes. Subjects are kept one row each, so disclosures find them by index. */
typedef struct st_audit_entry {
    int64_t seq, time;
    const char *principal, *purpose, *action, *fields, *outcome;
    const char *const *subjects;
    size_t n_subjects;            /* as stored in the entry's row */
    size_t n_subject_rows;        /* st_audit_each: subject rows found */
    const uint8_t *leaf_hash;
    size_t leaf_hash_len;
} st_audit_entry;

int st_audit_put(st_store *s, const st_audit_entry *e, dt_error *err);
/* The highest seq stored, 0 when the log is empty. */
int st_audit_last(st_store *s, int64_t *seq, dt_error *err);
typedef int (*st_audit_fn)(void *ctx, const st_audit_entry *e);
/* Every entry from seq `from` on, in seq order, with its subjects. */
int st_audit_each(st_store *s, int64_t from, st_audit_fn fn, void *ctx, dt_error *err);
/* Entries naming `subject`, in seq order (without their subjects). */
int st_audit_of_subject(st_store *s, const char *subject, st_audit_fn fn, void *ctx,
                        dt_error *err);
/* Leaf hashes of entries seq 1..n, as stored (32 bytes each); *n_found may
 * be short when rows are missing. */
int st_audit_leaves(st_store *s, int64_t n, uint8_t *out, int64_t *n_found, dt_error *err);

/* A subject row whose seq is outside 1..n (no entry of a log of n
 * entries holds it): *subject (dt_malloc'd) and *seq, or *subject NULL. */
int st_audit_subject_orphan(st_store *s, int64_t n, int64_t *seq, char **subject,
                            dt_error *err);

typedef struct st_head {
    int64_t size, time;
    uint8_t root[32], signature[64];
    uint8_t *frontier;            /* st_head_latest and st_heads_each only; as put */
    size_t frontier_len;
} st_head;

int st_head_put(st_store *s, const st_head *h, dt_error *err);
/* The head of the largest size; *found 0 when none was signed. The
 * frontier is dt_malloc'd (free it). */
int st_head_latest(st_store *s, st_head *out, int *found, dt_error *err);
typedef int (*st_head_fn)(void *ctx, const st_head *h);
/* Every head, by size. */
int st_heads_each(st_store *s, st_head_fn fn, void *ctx, dt_error *err);

/* The log's end as the last commit left it: its size, the Merkle stream's
 * state there, and a MAC over both under a key the store does not keep
 * (audit.c, invariant 1). */
enum { ST_FRONTIER_MAX = 8 + 64 * 33, ST_MAC_BYTES = 32 };
typedef struct st_log_end {
    int64_t size;
    uint8_t frontier[ST_FRONTIER_MAX];
    size_t frontier_len;
    uint8_t mac[ST_MAC_BYTES];
} st_log_end;

/* Replaces the one end row (caller's transaction). */
int st_log_end_put(st_store *s, const st_log_end *e, dt_error *err);
/* *found 0 when no commit has written one (a log signed at every commit
 * so far); a frontier or MAC of the wrong length reads as a MAC that
 * fails. */
int st_log_end_get(st_store *s, st_log_end *out, int *found, dt_error *err);

/* ---- retention: record versions by source and arrival (unix seconds) ---- */

/* The earliest arrival of any version (current or earlier) of the
 * source's records; *any 0 when it holds none. */
int st_retention_oldest(st_store *s, int64_t source, int64_t *oldest, int *any, dt_error *err);
typedef int (*st_due_fn)(void *ctx, int64_t id, const char *record_id);
/* Records of source whose current version arrived before cutoff, by store
 * id after `after`, at most max. */
int st_retention_due(st_store *s, int64_t source, int64_t cutoff, int64_t after, size_t max,
                     st_due_fn fn, void *ctx, dt_error *err);
/* Records of source kept (current version at or after cutoff) with an
 * earlier version that arrived before it. */
int st_retention_old_versions(st_store *s, int64_t source, int64_t cutoff, st_due_fn fn,
                              void *ctx, dt_error *err);
/* Erases the source's earlier versions that arrived before cutoff. OUT: *n. */
int st_retention_erase_versions(st_store *s, int64_t source, int64_t cutoff, uint64_t *n,
                                dt_error *err);
/* Erases a record whole: links, keys, membership, every version, the row. */
int st_record_erase(st_store *s, int64_t id, dt_error *err);

/* ---- copying a store (copy.c) -------------------------------------------- */

/* Where st_copy is: rows done of a table whose snapshot holds total, and
 * whether the table is done (copied, and its rows counted in the copy);
 * or, is_table 0, the closing step (PostgreSQL's: done of total keys,
 * indexes and foreign keys made). */
typedef struct st_copy_step {
    const char *table;
    uint64_t done, total;
    int is_done, is_table;
} st_copy_step;
typedef void (*st_copy_fn)(void *ctx, const st_copy_step *step);
/* What a copy holds: tables, rows in all, audit entries and signed heads. */
typedef struct st_copy_result {
    uint64_t n_tables, n_rows, n_entries, n_heads;
} st_copy_result;
/* Copies every table of `from`, as one snapshot of it shows them, row for
 * row, into a new store at to_path (a file or a postgresql:// URL where no
 * store is), sealed under from's key; in one transaction there, so a
 * failed copy leaves no store (copy.c has the invariants). Call outside
 * any transaction or snapshot of from. on_step (may be NULL) hears of
 * each batch and each table done. OUT: *out. */
int st_copy(st_store *from, const char *to_path, st_copy_fn on_step, void *ctx,
            st_copy_result *out, dt_error *err);

#endif
