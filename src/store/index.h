/*
 * index.h — what the blocking index's logic (index.c) asks of a backend:
 * a dozen primitives on three tables, each backend's own (sq_idx_ in
 * sqlite.c, pg_idx_ in pg_index.c). Never included outside src/store.
 *
 *   block_key    one row per slot (a rowid / BIGINT primary key)
 *   block_new    slots staged for one sorted merge into block_key (a
 *                backend with no use for staging puts them in block_key
 *                and says none are staged)
 *   record_keys  per record, its slots as one blob, in the order
 *                index.c wrote them
 *
 * Invariant: a slot's low SLOT_RECORD_BITS bits are its record's id.
 */
#ifndef DT_STORE_INDEX_H
#define DT_STORE_INDEX_H

#include "store/pg_int.h"

enum { SLOT_RECORD_BITS = 30 };
#define SLOT_RECORD_MASK ((UINT64_C(1) << SLOT_RECORD_BITS) - 1)

/* A growable array of record ids. */
typedef struct id_buf {
    int64_t *v;
    size_t n, cap;
} id_buf;

typedef int (*idx_list_fn)(void *ctx, int64_t record, const void *slots, size_t len);
typedef int (*idx_list_at_fn)(void *ctx, size_t i, const void *slots, size_t len);

/* Each backend's twins of these (sq_idx_ and pg_idx_). The ones on many
 * rows take them all at once: PostgreSQL runs each in a statement or a
 * few (PG_BATCH rows each), where a statement per row was a round trip per
 * row; SQLite steps its one-row statements, as fast there.
 *   source_max    the highest source id (0: none)
 *   lists_get     calls fn(ctx, i, slots, len) for each record i of n
 *                 that has a slot list, i ascending (len in bytes)
 *   list_drop     drops a record's slot list
 *   lists_each    every record's slot list, by record id (len in bytes)
 *   slots_drop    drops n slots from block_key and block_new
 *   slots_stage   adds n slots to block_new (none there already)
 *   slots_put     adds n slots to block_key (in rowid order; any there stays)
 *   lists_put     replaces n records' slot lists: record i's counts[i]
 *                 slots follow record i - 1's in slots
 *   staged_count  the slots in block_new
 *   record_max    the highest record id (0: none)
 *   merge_staged  moves block_new into block_key in one sorted pass
 *   clear         empties all three tables
 *   ranges        appends the record ids of the slots lo[k]..hi[k] (as
 *                 signed 64-bit values: lo and hi share their sign bit)
 *                 for k = 0..n-1, range by range (inside one, in no
 *                 promised order), and sets ends[k] to recs->n after
 *                 range k
 *   count         the slots lo..hi */
#define IDX_PRIMITIVES(prefix)                                                              \
    int prefix##source_max(st_store *s, int64_t *n, dt_error *err);                         \
    int prefix##lists_get(st_store *s, const int64_t *records, size_t n, idx_list_at_fn fn, \
                          void *ctx, dt_error *err);                                        \
    int prefix##list_drop(st_store *s, int64_t record, dt_error *err);                      \
    int prefix##lists_each(st_store *s, idx_list_fn fn, void *ctx, dt_error *err);          \
    int prefix##slots_drop(st_store *s, const uint64_t *slots, size_t n, dt_error *err);    \
    int prefix##slots_stage(st_store *s, const uint64_t *slots, size_t n, dt_error *err);   \
    int prefix##slots_put(st_store *s, const uint64_t *slots, size_t n, dt_error *err);     \
    int prefix##lists_put(st_store *s, const int64_t *records, size_t n,                    \
                          const uint64_t *slots, const size_t *counts, dt_error *err);       \
    int prefix##staged_count(st_store *s, int64_t *n, dt_error *err);                       \
    int prefix##record_max(st_store *s, int64_t *n, dt_error *err);                         \
    int prefix##merge_staged(st_store *s, dt_error *err);                                   \
    int prefix##clear(st_store *s, dt_error *err);                                          \
    int prefix##ranges(st_store *s, const uint64_t *lo, const uint64_t *hi, size_t n,       \
                       id_buf *recs, size_t *ends, dt_error *err);                          \
    int prefix##count(st_store *s, uint64_t lo, uint64_t hi, int64_t *n, dt_error *err);

IDX_PRIMITIVES(sq_idx_)
IDX_PRIMITIVES(pg_idx_)

#endif
