/*
 * index.c — the persistent blocking index's logic, for every backend: how
 * a (rule, key) becomes a slot, how a record's slots are written, dropped
 * and compared, how blocks are scanned under the cap. What it stores and
 * reads goes through the idx_ primitives of index.h, which each backend
 * implements on its tables (block_key, block_new, record_keys).
 *
 * A slot packs a hash of (rule, key), then the record's source code, then
 * its 30-bit record id, so adding a key is one insert into a rowid B-tree
 * and a block is one range scan: about twice as fast as a (rule, key,
 * record) index, and sorted batches touch neighbouring pages. Inside a
 * block the records of one source are one range too, so a purpose's read
 * scans only the sources it may see and never meets a hidden record: its
 * work does not grow with what it may not see.
 *
 * The code takes the bits the store's sources need (none for one source,
 * 3 for five); the hash the rest of 64 bits, at most 33 (the sign bit is
 * used once there is a code: a block's range never straddles it, since
 * its two ends share the hash). Two keys can share a hash; a match is
 * then a record that shares no key, which callers drop by comparing keys
 * (store.h says so). With 33 bits, at 35 M keys that is under 0.5 % of
 * matches; each bit of code doubles it.
 *
 * A batch goes to the primitives whole: st_keys_set reads every record's
 * stored list in one call and writes the slots lost, the lists and the
 * slots gained in one call each; st_keys_match reads the blocks 1,024 at
 * a time. On PostgreSQL each call is a statement or a few (a round trip
 * each), where a call per slot, per record and per block made 18 of a
 * resolving record's 35 round trips (bench/delta.sh). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "store/index.h"

/* ---- the backend's primitives ---------------------------------------- */

#define IDX_CALL(fn, ...) ((s)->pg ? pg_idx_##fn(__VA_ARGS__) : sq_idx_##fn(__VA_ARGS__))

static int idx_source_max(st_store *s, int64_t *n, dt_error *err)
{
    return IDX_CALL(source_max, s, n, err);
}

static int idx_lists_get(st_store *s, const int64_t *records, size_t n, idx_list_at_fn fn,
                         void *ctx, dt_error *err)
{
    return IDX_CALL(lists_get, s, records, n, fn, ctx, err);
}

static int idx_list_drop(st_store *s, int64_t record, dt_error *err)
{
    return IDX_CALL(list_drop, s, record, err);
}

static int idx_lists_each(st_store *s, idx_list_fn fn, void *ctx, dt_error *err)
{
    return IDX_CALL(lists_each, s, fn, ctx, err);
}

static int idx_slots_drop(st_store *s, const uint64_t *slots, size_t n, dt_error *err)
{
    return IDX_CALL(slots_drop, s, slots, n, err);
}

static int idx_slots_stage(st_store *s, const uint64_t *slots, size_t n, dt_error *err)
{
    return IDX_CALL(slots_stage, s, slots, n, err);
}

static int idx_slots_put(st_store *s, const uint64_t *slots, size_t n, dt_error *err)
{
    return IDX_CALL(slots_put, s, slots, n, err);
}

static int idx_lists_put(st_store *s, const int64_t *records, size_t n, const uint64_t *slots,
                         const size_t *counts, dt_error *err)
{
    return IDX_CALL(lists_put, s, records, n, slots, counts, err);
}

static int idx_staged_count(st_store *s, int64_t *n, dt_error *err)
{
    return IDX_CALL(staged_count, s, n, err);
}

static int idx_record_max(st_store *s, int64_t *n, dt_error *err)
{
    return IDX_CALL(record_max, s, n, err);
}

static int idx_merge_staged(st_store *s, dt_error *err)
{
    return IDX_CALL(merge_staged, s, err);
}

static int idx_clear(st_store *s, dt_error *err)
{
    return IDX_CALL(clear, s, err);
}

static int idx_ranges(st_store *s, const uint64_t *lo, const uint64_t *hi, size_t n,
                      id_buf *recs, size_t *ends, dt_error *err)
{
    return IDX_CALL(ranges, s, lo, hi, n, recs, ends, err);
}

static int idx_count(st_store *s, uint64_t lo, uint64_t hi, int64_t *n, dt_error *err)
{
    return IDX_CALL(count, s, lo, hi, n, err);
}

int st_records_bound(st_store *s, uint64_t *n, dt_error *err)
{
    int64_t max = 0;
    DT_TRY(idx_record_max(s, &max, err));
    *n = max > 0 ? (uint64_t)max : 0;
    return DT_OK;
}

/* ---- slots ------------------------------------------------------------ */



/* Bits of a source code: enough for every source the store has (all are
 * made at init, in config order, so a code is a config index). Read once
 * per handle, after the sources exist. */
static int source_bits(st_store *s, int *bits, dt_error *err)
{
    if (s->source_bits >= 0) {
        *bits = s->source_bits;
        return DT_OK;
    }
    int64_t n = 0;
    DT_TRY(idx_source_max(s, &n, err));
    int b = 0;
    while ((INT64_C(1) << b) < n) b++;
    if (n > 0) s->source_bits = b;
    *bits = b;
    return DT_OK;
}

static int hash_bits(int source_bits)
{
    return 64 - SLOT_RECORD_BITS - (source_bits ? source_bits : 1);
}

/* Keyed (crypt.c): without the key file, a slot says nothing of the key
 * it came from, however few values (an SSN's 10^9) the key can take. */
static uint64_t key_hash(const st_store *s, int source_bits, size_t rule, uint64_t key)
{
    return sq_slot_hash(s, rule, key) >> (64 - hash_bits(source_bits));
}

static uint64_t slot_make(int source_bits, uint64_t hash, uint64_t code, uint64_t record)
{
    return ((hash << source_bits | code) << SLOT_RECORD_BITS) | record;
}


static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* The slot lists stored for a batch of records (lists_get), copied:
 * record i's n[i] slots at slots + at[i], in the order stored; has[i] 0
 * when it has none. */
typedef struct stored_lists {
    uint64_t *slots;
    size_t n_slots, cap;
    size_t *at, *n;
    uint8_t *has;
} stored_lists;

static void stored_lists_fini(stored_lists *w)
{
    dt_free(w->slots);
    dt_free(w->at);
    dt_free(w->n);
    dt_free(w->has);
}

static int keep_list(void *ctx, size_t i, const void *blob, size_t len)
{
    stored_lists *w = ctx;
    size_t k = len / sizeof *w->slots;
    DT_TRY(util_grow((void **)&w->slots, &w->cap, w->n_slots + k + 1, sizeof *w->slots));
    if (k) memcpy(w->slots + w->n_slots, blob, k * sizeof *w->slots);
    w->at[i] = w->n_slots;
    w->n[i] = k;
    w->has[i] = 1;
    w->n_slots += k;
    return DT_OK;
}

/* The stored slot lists of n records, in one read (w: zeroed; fini it). */
static int read_lists(st_store *s, const int64_t *records, size_t n, stored_lists *w,
                      dt_error *err)
{
    w->at = dt_calloc(n ? n : 1, sizeof *w->at);
    w->n = dt_calloc(n ? n : 1, sizeof *w->n);
    w->has = dt_calloc(n ? n : 1, 1);
    int rc = w->at && w->n && w->has ? idx_lists_get(s, records, n, keep_list, w, err)
                                     : DT_ENOMEM;
    return rc == DT_ENOMEM && err->code == DT_OK ? dt_err_set(err, rc, "out of memory") : rc;
}

/* Drops the slots a record holds, if any. */
static int drop_slots(st_store *s, int64_t record, dt_error *err)
{
    stored_lists w = {0};
    int rc = read_lists(s, &record, 1, &w, err);
    if (rc == DT_OK && w.has[0]) {
        rc = idx_slots_drop(s, w.slots, w.n[0], err);
        if (rc == DT_OK) rc = idx_list_drop(s, record, err);
    }
    stored_lists_fini(&w);
    return rc;
}

int st_keys_drop(st_store *s, int64_t record, dt_error *err)
{
    return drop_slots(s, record, err);
}

/* Each record's slots, record by record; *n_out slots in all. */
static int batch_slots(st_store *s, const int64_t *records, const uint16_t *codes, size_t n,
                       const uint64_t *const *keys, size_t n_rules, uint64_t **out,
                       size_t *n_out, dt_error *err)
{
    int sb;
    DT_TRY(source_bits(s, &sb, err));
    *out = dt_malloc((n && n_rules ? n * n_rules : 1) * sizeof **out);
    if (!*out) return dt_err_set(err, DT_ENOMEM, "out of memory");
    *n_out = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = DT_OK;
        if ((uint64_t)records[i] > SLOT_RECORD_MASK)
            rc = dt_err_at(err, DT_ELIMIT, s->path, 0, 0, "record %lld: the blocking index "
                           "holds record ids below 2^30", (long long)records[i]);
        else if (codes[i] >> sb)
            rc = dt_err_set(err, DT_EINTERNAL, "record %lld: source code %u past the store's "
                            "sources", (long long)records[i], (unsigned)codes[i]);
        if (rc < 0) {
            dt_free(*out);
            return rc;
        }
        for (size_t r = 0; r < n_rules; r++)
            if (keys[r][i])
                (*out)[(*n_out)++] = slot_make(sb, key_hash(s, sb, r, keys[r][i]), codes[i],
                                               (uint64_t)records[i]);
    }
    return DT_OK;
}

/* Stores each record's slot list (slots holds them record by record). */
static int put_slot_lists(st_store *s, const int64_t *records, size_t n,
                          const uint64_t *const *keys, size_t n_rules, const uint64_t *slots,
                          dt_error *err)
{
    size_t *counts = dt_malloc((n ? n : 1) * sizeof *counts);
    if (!counts) return dt_err_set(err, DT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        counts[i] = 0;
        for (size_t r = 0; r < n_rules; r++) counts[i] += keys[r][i] != 0;
    }
    int rc = idx_lists_put(s, records, n, slots, counts, err);
    dt_free(counts);
    return rc;
}

/* Why two tables: a slot lands at a random place in block_key, so adding
 * one there dirties a page of its own, and each commit wrote (and the WAL
 * checkpoint wrote again) about 4 KiB per key: a third of resolving
 * ingest's time at 1M people. block_new stays small, so a batch dirties
 * few pages; when it reaches an eighth of the keys the store may hold
 * (about n_rules per record) or 65,536 slots, one sorted pass moves it into
 * block_key, writing each page of block_key at most once. */
static int merge_new(st_store *s, size_t n_rules, dt_error *err)
{
    if (s->n_new < 0) DT_TRY(idx_staged_count(s, &s->n_new, err));
    int64_t max_id = 0;
    DT_TRY(idx_record_max(s, &max_id, err));
    int64_t limit = max_id * (int64_t)n_rules / 8;
    if (s->n_new < (limit > (1 << 16) ? limit : (1 << 16))) return DT_OK;
    DT_TRY(idx_merge_staged(s, err));
    s->n_new = 0;
    return DT_OK;
}

/* The slots of `now` (n_now, sorted) that `was` (n_was, sorted) lacks go
 * to add; the slots of `was` that `now` lacks go to drop. */
static void slots_diff(const uint64_t *was, size_t n_was, const uint64_t *now, size_t n_now,
                       uint64_t *add, size_t *n_add, uint64_t *drop, size_t *n_drop)
{
    size_t i = 0, j = 0;
    while (i < n_was || j < n_now) {
        if (j == n_now || (i < n_was && was[i] < now[j])) drop[(*n_drop)++] = was[i++];
        else if (i == n_was || now[j] < was[i]) add[(*n_add)++] = now[j++];
        else i++, j++;
    }
}

/* A record's slots (run, n: batch_slots's, in rule order) against those
 * stored (was, n_was, in their stored order; sorted here): the slots it
 * gained go to add, those it lost to drop, and *is_same says its stored
 * list is already this one. A changed record keeps most of its keys (a
 * new ZIP changes the keys that use the ZIP), so most of its slots stay
 * where they are: no write for them. now: room for n slots. */
static void record_diff(const uint64_t *run, size_t n, uint64_t *was, size_t n_was, int found,
                        uint64_t *now, uint64_t *add, size_t *n_add, uint64_t *drop,
                        size_t *n_drop, int *is_same)
{
    *is_same = found && n_was == n && (!n || memcmp(was, run, n * sizeof *run) == 0);
    if (*is_same) return;
    if (n) {
        memcpy(now, run, n * sizeof *now);
        qsort(now, n, sizeof *now, cmp_u64);
    }
    if (n_was) qsort(was, n_was, sizeof *was, cmp_u64);
    slots_diff(was, n_was, now, n, add, n_add, drop, n_drop);
}

/* Reads the batch's stored lists at once, diffs each record's, then
 * writes in three steps: the slots lost, the lists that changed, the
 * slots gained (sorted: neighbouring pages). */
int st_keys_set(st_store *s, const int64_t *records, const uint16_t *codes, size_t n,
                const uint64_t *const *keys, size_t n_rules, dt_error *err)
{
    uint64_t *slots = NULL;
    size_t n_slots = 0, n_add = 0, n_drop = 0, n_put = 0;
    DT_TRY(batch_slots(s, records, codes, n, keys, n_rules, &slots, &n_slots, err));
    stored_lists was = {0};
    int rc = read_lists(s, records, n, &was, err);
    uint64_t *add = dt_malloc((n_slots ? n_slots : 1) * sizeof *add);
    uint64_t *drop = dt_malloc((was.n_slots ? was.n_slots : 1) * sizeof *drop);
    uint64_t *now = dt_malloc((n_rules ? n_rules : 1) * sizeof *now);
    uint64_t *lists = dt_malloc((n_slots ? n_slots : 1) * sizeof *lists);
    int64_t *put = dt_malloc((n ? n : 1) * sizeof *put);
    size_t *counts = dt_malloc((n ? n : 1) * sizeof *counts);
    if (rc == DT_OK && !(add && drop && now && lists && put && counts))
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    size_t at = 0, n_lists = 0;
    for (size_t i = 0; i < n && rc == DT_OK; i++) {
        size_t k = 0;
        for (size_t r = 0; r < n_rules; r++) k += keys[r][i] != 0;
        int is_same = 0;
        uint64_t *stored = was.has[i] ? was.slots + was.at[i] : NULL;
        record_diff(slots + at, k, stored, was.n[i], was.has[i], now, add, &n_add, drop, &n_drop,
                    &is_same);
        if (!is_same) { /* its list, in rule order, written below */
            memcpy(lists + n_lists, slots + at, k * sizeof *lists);
            n_lists += k;
            put[n_put] = records[i];
            counts[n_put++] = k;
        }
        at += k;
    }
    assert(rc < 0 || at == n_slots);
    if (rc == DT_OK && n_drop) {
        rc = util_sort_u64(drop, n_drop) < 0 ? dt_err_set(err, DT_ENOMEM, "out of memory")
                                             : idx_slots_drop(s, drop, n_drop, err);
    }
    if (rc == DT_OK && n_put) rc = idx_lists_put(s, put, n_put, lists, counts, err);
    if (rc == DT_OK && n_add) { /* sorted: neighbouring pages */
        rc = util_sort_u64(add, n_add) < 0 ? dt_err_set(err, DT_ENOMEM, "out of memory")
                                           : idx_slots_stage(s, add, n_add, err);
    }
    stored_lists_fini(&was);
    dt_free(slots);
    dt_free(add);
    dt_free(drop);
    dt_free(now);
    dt_free(lists);
    dt_free(put);
    dt_free(counts);
    if (rc == DT_OK && s->n_new >= 0) s->n_new += (int64_t)n_add;
    return rc == DT_OK ? merge_new(s, n_rules, err) : rc;
}

/* Writes slots straight into block_key, in rowid order (signed: the sign
 * bit flipped, they sort as unsigned): many at once touch each page of it
 * once, in order (into an empty index, appends). */
static int put_sorted_slots(st_store *s, uint64_t *slots, size_t n_slots, dt_error *err)
{
    const uint64_t sign = UINT64_C(1) << 63;
    for (size_t k = 0; k < n_slots; k++) slots[k] ^= sign;
    int rc = util_sort_u64(slots, n_slots);
    for (size_t k = 0; k < n_slots; k++) slots[k] ^= sign;
    if (rc < 0) return dt_err_set(err, rc, "out of memory");
    assert(n_slots < 2 || (int64_t)slots[0] <= (int64_t)slots[n_slots - 1]);
    return idx_slots_put(s, slots, n_slots, err);
}

int st_keys_add(st_store *s, const int64_t *records, const uint16_t *codes, size_t n,
                const uint64_t *const *keys, size_t n_rules, dt_error *err)
{
    uint64_t *slots = NULL;
    size_t n_slots = 0;
    DT_TRY(batch_slots(s, records, codes, n, keys, n_rules, &slots, &n_slots, err));
    int rc = put_slot_lists(s, records, n, keys, n_rules, slots, err);
    if (rc == DT_OK) rc = put_sorted_slots(s, slots, n_slots, err);
    dt_free(slots);
    return rc;
}

/* Empties the index and writes every record's slots (slots: record by
 * record, as batch_slots gives them) in one pass. */
static int keys_rewrite(st_store *s, const int64_t *records, size_t n, const uint64_t *const *keys,
                        size_t n_rules, uint64_t *slots, size_t n_slots, dt_error *err)
{
    DT_TRY(idx_clear(s, err));
    s->n_new = 0;
    DT_TRY(put_slot_lists(s, records, n, keys, n_rules, slots, err));
    return put_sorted_slots(s, slots, n_slots, err);
}

/* The keys' slots, record by record; at[i] where record i's begin
 * (at[n] the end). */
typedef struct slot_runs {
    uint64_t *slots;
    size_t n_slots, *at;
} slot_runs;

/* Marks redo[i] for each record whose stored slots are not what runs
 * gives it (none stored, or others), and drops the slots of records
 * stored with keys but not in the list (they are not active). OUT:
 * *n_stored, the records that held slots. */
/* keys_compare's walk over the stored slot lists, in record order. */
typedef struct list_walk {
    const int64_t *records;
    size_t n, i;
    const slot_runs *runs;
    uint8_t *redo;
    int64_t n_stored;
    util_ids stale;
} list_walk;

static int compare_list(void *ctx, int64_t r, const void *blob, size_t blob_len)
{
    list_walk *w = ctx;
    w->n_stored++;
    for (; w->i < w->n && w->records[w->i] < r; w->i++) w->redo[w->i] = 1;
    if (w->i == w->n || w->records[w->i] != r) return util_ids_add(&w->stale, r);
    const slot_runs *runs = w->runs;
    size_t len = (runs->at[w->i + 1] - runs->at[w->i]) * sizeof *runs->slots;
    w->redo[w->i] = blob_len != len || (len && memcmp(blob, runs->slots + runs->at[w->i], len) != 0);
    w->i++;
    return DT_OK;
}

static int keys_compare(st_store *s, const int64_t *records, size_t n, const slot_runs *runs,
                        uint8_t *redo, int64_t *n_stored, dt_error *err)
{
    list_walk w = {.records = records, .n = n, .runs = runs, .redo = redo};
    int out = idx_lists_each(s, compare_list, &w, err);
    for (; w.i < n; w.i++) redo[w.i] = 1;
    for (uint32_t k = 0; k < w.stale.n && out == DT_OK; k++) out = drop_slots(s, w.stale.ids[k], err);
    util_ids_fini(&w.stale);
    *n_stored = w.n_stored;
    return out == DT_ENOMEM ? dt_err_set(err, out, "out of memory") : out;
}

/* st_keys_set on the records redo marks. */
static int keys_redo(st_store *s, const int64_t *records, const uint16_t *codes, size_t n,
                     const uint64_t *const *keys, size_t n_rules, const uint8_t *redo,
                     dt_error *err)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += redo[i];
    if (!m) return DT_OK;
    int64_t *r = dt_malloc(m * sizeof *r);
    uint16_t *c = dt_malloc(m * sizeof *c);
    uint64_t **k = dt_calloc(n_rules ? n_rules : 1, sizeof *k);
    int rc = r && c && k ? DT_OK : DT_ENOMEM;
    for (size_t j = 0; j < n_rules && rc == DT_OK; j++)
        if (!(k[j] = dt_malloc(m * sizeof *k[j]))) rc = DT_ENOMEM;
    for (size_t i = 0, x = 0; i < n && rc == DT_OK; i++) {
        if (!redo[i]) continue;
        r[x] = records[i];
        c[x] = codes[i];
        for (size_t j = 0; j < n_rules; j++) k[j][x] = keys[j][i];
        x++;
    }
    if (rc == DT_OK) rc = st_keys_set(s, r, c, m, (const uint64_t *const *)k, n_rules, err);
    for (size_t j = 0; k && j < n_rules; j++) dt_free(k[j]);
    dt_free(k);
    dt_free(r);
    dt_free(c);
    return rc == DT_ENOMEM ? dt_err_set(err, rc, "out of memory") : rc;
}

int st_keys_reset(st_store *s, const int64_t *records, const uint16_t *codes, size_t n,
                  const uint64_t *const *keys, size_t n_rules, dt_error *err)
{
    for (size_t i = 1; i < n; i++)
        if (records[i] <= records[i - 1])
            return dt_err_set(err, DT_EINTERNAL, "st_keys_reset: records out of order");
    slot_runs runs = {0};
    DT_TRY(batch_slots(s, records, codes, n, keys, n_rules, &runs.slots, &runs.n_slots, err));
    runs.at = dt_malloc((n + 1) * sizeof *runs.at);
    uint8_t *redo = dt_malloc(n ? n : 1);
    int rc = runs.at && redo ? DT_OK : dt_err_set(err, DT_ENOMEM, "out of memory");
    for (size_t i = 0, at = 0; i <= n && rc == DT_OK; i++) {
        runs.at[i] = at;
        for (size_t r = 0; i < n && r < n_rules; r++) at += keys[r][i] != 0;
    }
    int64_t n_stored = 0;
    if (rc == DT_OK) rc = keys_compare(s, records, n, &runs, redo, &n_stored, err);
    if (rc == DT_OK)
        rc = n_stored ? keys_redo(s, records, codes, n, keys, n_rules, redo, err)
                      : keys_rewrite(s, records, n, keys, n_rules, runs.slots, runs.n_slots, err);
    dt_free(runs.slots);
    dt_free(runs.at);
    dt_free(redo);
    return rc;
}

/* A query key's hash, its rule and the batch record asking. */
typedef struct key_query {
    uint64_t hash;
    size_t i, rule;
} key_query;

static int cmp_query(const void *x, const void *y)
{
    const key_query *a = x, *b = y;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Calls fn(ctx, first, last) for each run of consecutive source codes in
 * `codes` below 2^sb: the ranges of a block that hold those sources. */
static int each_code_run(int sb, uint64_t codes, int (*fn)(void *, uint64_t, uint64_t),
                         void *ctx)
{
    uint64_t n_codes = UINT64_C(1) << sb;
    for (uint64_t c = 0; c < n_codes;) {
        if (!(codes >> c & 1)) {
            c++;
            continue;
        }
        uint64_t last = c;
        while (last + 1 < n_codes && (codes >> (last + 1) & 1)) last++;
        DT_TRY(fn(ctx, c, last));
        c = last + 1;
    }
    return DT_OK;
}

/* A walk over the code ranges of the block of hash h: add_run lists
 * them (lo, hi) to read, count_run calls fn with each one's count. */
typedef struct block_walk {
    st_store *s;
    int sb;              /* bits of a source code */
    uint64_t h;          /* the block's keyed hash */
    uint64_t *lo, *hi;   /* add_run's ranges */
    size_t n_ranges, cap_lo, cap_hi;
    st_count_fn fn;      /* count_run's callback, and its ctx */
    void *ctx;
    dt_error *err;
} block_walk;

static int add_run(void *ctx, uint64_t first, uint64_t last)
{
    block_walk *b = ctx;
    DT_TRY(util_grow((void **)&b->lo, &b->cap_lo, b->n_ranges + 1, sizeof *b->lo));
    DT_TRY(util_grow((void **)&b->hi, &b->cap_hi, b->n_ranges + 1, sizeof *b->hi));
    b->lo[b->n_ranges] = slot_make(b->sb, b->h, first, 0);
    b->hi[b->n_ranges++] = slot_make(b->sb, b->h, last, SLOT_RECORD_MASK);
    return DT_OK;
}

static int count_runs(void *ctx, uint64_t first, uint64_t last)
{
    (void)first;
    (void)last;
    ++*(size_t *)ctx;
    return DT_OK;
}

/* Calls fn for each record of a block (ids, n_ids: those of the sources
 * asked for), for each asker in q, unless the cap says the block (as far
 * as those sources go) is too big. Records of other sources are never
 * read, so neither the work nor the cap's decision depends on them. */
static int scan_block(const key_query *q, size_t n_q, const st_block_cap *cap,
                      const int64_t *ids, size_t n_ids, st_match_fn fn, void *ctx)
{
    if (cap && n_ids >= cap->min_records) {
        int skip = cap->too_big(cap->ctx, q[0].rule, q[0].i, n_ids);
        if (skip) return skip < 0 ? skip : DT_OK;
    }
    for (size_t j = 0; j < n_ids; j++)
        for (size_t k = 0; k < n_q; k++) DT_TRY(fn(ctx, q[k].i, ids[j]));
    return DT_OK;
}

/* Blocks whose ranges go to the store in one read (one statement on
 * PostgreSQL, where a read per block was 8 round trips a record), their
 * records held meanwhile. */
enum { BLOCKS_PER_READ = 1024 };

/* Reads the blocks that start at the queries first[0..n_blocks-1] (each
 * runs to the next's start, the last to end) and scans them in order. */
static int scan_blocks(block_walk *b, const key_query *q, const size_t *first, size_t n_blocks,
                       size_t end, size_t n_runs, uint64_t codes, const st_block_cap *cap,
                       id_buf *recs, size_t **ends, size_t *cap_ends, st_match_fn fn, void *ctx)
{
    b->n_ranges = 0;
    for (size_t j = 0; j < n_blocks; j++) {
        b->h = q[first[j]].hash;
        DT_TRY(each_code_run(b->sb, codes, add_run, b));
    }
    assert(b->n_ranges == n_blocks * n_runs);
    DT_TRY(util_grow((void **)ends, cap_ends, b->n_ranges + 1, sizeof **ends));
    recs->n = 0;
    DT_TRY(idx_ranges(b->s, b->lo, b->hi, b->n_ranges, recs, *ends, b->err));
    for (size_t j = 0; j < n_blocks; j++) {
        size_t r0 = j * n_runs, r1 = r0 + n_runs;
        size_t begin = r0 ? (*ends)[r0 - 1] : 0, stop = r1 ? (*ends)[r1 - 1] : 0;
        size_t q_end = j + 1 < n_blocks ? first[j + 1] : end;
        DT_TRY(scan_block(q + first[j], q_end - first[j], cap, stop > begin ? recs->v + begin : NULL,
                          stop - begin, fn, ctx));
    }
    return DT_OK;
}

int st_keys_match(st_store *s, size_t n, const uint64_t *const *keys, size_t n_rules,
                  uint64_t codes, const st_block_cap *cap, st_match_fn fn, void *ctx,
                  dt_error *err)
{
    int sb;
    DT_TRY(source_bits(s, &sb, err));
    key_query *q = dt_malloc((n && n_rules ? n * n_rules : 1) * sizeof *q);
    size_t *first = dt_malloc(BLOCKS_PER_READ * sizeof *first);
    if (!q || !first) {
        dt_free(q);
        dt_free(first);
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    size_t n_q = 0, n_runs = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < n_rules; r++)
            if (keys[r][i]) q[n_q++] = (key_query){key_hash(s, sb, r, keys[r][i]), i, r};
    qsort(q, n_q, sizeof *q, cmp_query); /* one scan per block, in index order */
    each_code_run(sb, codes, count_runs, &n_runs);
    block_walk b = {.s = s, .sb = sb, .err = err};
    id_buf recs = {0};
    size_t *ends = NULL, cap_ends = 0;
    int rc = DT_OK;
    for (size_t k = 0; k < n_q && rc == DT_OK;) {
        size_t n_blocks = 0;
        while (k < n_q && n_blocks < BLOCKS_PER_READ) {
            first[n_blocks++] = k;
            for (uint64_t h = q[k].hash; k < n_q && q[k].hash == h;) k++;
        }
        rc = scan_blocks(&b, q, first, n_blocks, k, n_runs, codes, cap, &recs, &ends, &cap_ends,
                         fn, ctx);
    }
    if (rc == DT_ENOMEM && err->code == DT_OK) dt_err_set(err, rc, "out of memory");
    dt_free(b.lo);
    dt_free(b.hi);
    dt_free(ends);
    dt_free(recs.v);
    dt_free(first);
    dt_free(q);
    return rc;
}

/* One code's range holds one source's records of the block. */
static int count_run(void *ctx, uint64_t first, uint64_t last)
{
    block_walk *c = ctx;
    for (uint64_t code = first; code <= last; code++) {
        int64_t n = 0;
        DT_TRY(idx_count(c->s, slot_make(c->sb, c->h, code, 0),
                         slot_make(c->sb, c->h, code, SLOT_RECORD_MASK), &n, c->err));
        if (n > 0) DT_TRY(c->fn(c->ctx, (uint64_t)n));
    }
    return DT_OK;
}

int st_block_sources(st_store *s, size_t rule, uint64_t key, uint64_t codes, st_count_fn fn,
                     void *ctx, dt_error *err)
{
    int sb;
    DT_TRY(source_bits(s, &sb, err));
    block_walk c = {.s = s, .sb = sb, .h = key_hash(s, sb, rule, key), .fn = fn, .ctx = ctx,
                    .err = err};
    return each_code_run(sb, codes, count_run, &c);
}

