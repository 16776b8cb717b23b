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
 * matches; each bit of code doubles it. */
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

static int idx_list_get(st_store *s, int64_t record, uint64_t **slots, size_t *n, int *found,
                        dt_error *err)
{
    return IDX_CALL(list_get, s, record, slots, n, found, err);
}

static int idx_list_drop(st_store *s, int64_t record, dt_error *err)
{
    return IDX_CALL(list_drop, s, record, err);
}

static int idx_lists_each(st_store *s, idx_list_fn fn, void *ctx, dt_error *err)
{
    return IDX_CALL(lists_each, s, fn, ctx, err);
}

static int idx_slot_drop(st_store *s, uint64_t slot, dt_error *err)
{
    return IDX_CALL(slot_drop, s, slot, err);
}

static int idx_slot_stage(st_store *s, uint64_t slot, dt_error *err)
{
    return IDX_CALL(slot_stage, s, slot, err);
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

static int idx_range(st_store *s, uint64_t lo, uint64_t hi, id_buf *recs, dt_error *err)
{
    return IDX_CALL(range, s, lo, hi, recs, err);
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

/* Drops the slots a record holds, if any. */
static int drop_slots(st_store *s, int64_t record, dt_error *err)
{
    uint64_t *slots = NULL;
    size_t n = 0;
    int found = 0;
    DT_TRY(idx_list_get(s, record, &slots, &n, &found, err));
    if (!found) return DT_OK;
    int rc = DT_OK;
    for (size_t k = 0; k < n && rc == DT_OK; k++) rc = idx_slot_drop(s, slots[k], err);
    dt_free(slots);
    return rc == DT_OK ? idx_list_drop(s, record, err) : rc;
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
 * to *add; the slots of `was` that `now` lacks are dropped from the index. */
static int slots_diff(st_store *s, const uint64_t *was, size_t n_was, const uint64_t *now,
                      size_t n_now, uint64_t *add, size_t *n_add, dt_error *err)
{
    size_t i = 0, j = 0;
    while (i < n_was || j < n_now) {
        if (j == n_now || (i < n_was && was[i] < now[j])) DT_TRY(idx_slot_drop(s, was[i++], err));
        else if (i == n_was || now[j] < was[i]) add[(*n_add)++] = now[j++];
        else i++, j++;
    }
    return DT_OK;
}

/* Record i's slots (run, n: batch_slots's, in rule order) against those
 * stored: the slots it gained go to add, those it lost are dropped, and
 * *is_same says its stored list is already this one. A changed record
 * keeps most of its keys (a new ZIP changes the keys that use the ZIP),
 * so most of its slots stay where they are: no write for them. */
static int record_diff(st_store *s, int64_t record, const uint64_t *run, size_t n,
                       uint64_t *add, size_t *n_add, int *is_same, dt_error *err)
{
    uint64_t *was = NULL, *now = NULL;
    size_t n_was = 0;
    int found = 0;
    DT_TRY(idx_list_get(s, record, &was, &n_was, &found, err));
    *is_same = found && n_was == n && (!n || memcmp(was, run, n * sizeof *run) == 0);
    if (*is_same) {
        dt_free(was);
        return DT_OK;
    }
    int rc = n && !(now = dt_malloc(n * sizeof *now)) ? dt_err_set(err, DT_ENOMEM, "out of memory")
                                                      : DT_OK;
    if (rc == DT_OK) {
        if (n) {
            memcpy(now, run, n * sizeof *now);
            qsort(now, n, sizeof *now, cmp_u64);
        }
        if (n_was) qsort(was, n_was, sizeof *was, cmp_u64);
        rc = slots_diff(s, was, n_was, now, n, add, n_add, err);
    }
    dt_free(now);
    dt_free(was);
    return rc;
}

int st_keys_set(st_store *s, const int64_t *records, const uint16_t *codes, size_t n,
                const uint64_t *const *keys, size_t n_rules, dt_error *err)
{
    uint64_t *slots = NULL;
    size_t n_slots = 0, n_add = 0, n_put = 0;
    DT_TRY(batch_slots(s, records, codes, n, keys, n_rules, &slots, &n_slots, err));
    uint64_t *add = dt_malloc((n_slots ? n_slots : 1) * sizeof *add);
    uint64_t *lists = dt_malloc((n_slots ? n_slots : 1) * sizeof *lists);
    int64_t *put = dt_malloc((n ? n : 1) * sizeof *put);
    size_t *counts = dt_malloc((n ? n : 1) * sizeof *counts);
    int rc = add && lists && put && counts ? DT_OK : dt_err_set(err, DT_ENOMEM, "out of memory");
    size_t at = 0, n_lists = 0;
    for (size_t i = 0; i < n && rc == DT_OK; i++) {
        size_t k = 0;
        for (size_t r = 0; r < n_rules; r++) k += keys[r][i] != 0;
        int is_same = 0;
        rc = record_diff(s, records[i], slots + at, k, add, &n_add, &is_same, err);
        if (rc == DT_OK && !is_same) { /* its list, in rule order, written below */
            memcpy(lists + n_lists, slots + at, k * sizeof *lists);
            n_lists += k;
            put[n_put] = records[i];
            counts[n_put++] = k;
        }
        at += k;
    }
    assert(rc < 0 || at == n_slots);
    if (rc == DT_OK && n_put) rc = idx_lists_put(s, put, n_put, lists, counts, err);
    if (rc == DT_OK) qsort(add, n_add, sizeof *add, cmp_u64); /* neighbouring pages */
    for (size_t k = 0; k < n_add && rc == DT_OK; k++) rc = idx_slot_stage(s, add[k], err);
    dt_free(slots);
    dt_free(add);
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

/* A walk over the code ranges of the block of hash h: read_run gathers
 * their record ids into recs, count_run calls fn with each one's count. */
typedef struct block_walk {
    st_store *s;
    int sb;              /* bits of a source code */
    uint64_t h;          /* the block's keyed hash */
    id_buf *recs;        /* read_run's ids */
    st_count_fn fn;      /* count_run's callback, and its ctx */
    void *ctx;
    dt_error *err;
} block_walk;

static int read_run(void *ctx, uint64_t first, uint64_t last)
{
    block_walk *b = ctx;
    return idx_range(b->s, slot_make(b->sb, b->h, first, 0),
                     slot_make(b->sb, b->h, last, SLOT_RECORD_MASK), b->recs, b->err);
}

/* Calls fn for each record of the sources in `codes` in the block of hash
 * h, for each asker in q, unless the cap says the block (as far as those
 * sources go) is too big. Records of other sources are never read, so
 * neither the work nor the cap's decision depends on them. */
static int scan_block(st_store *s, int sb, uint64_t h, uint64_t codes, const key_query *q,
                      size_t n_q, const st_block_cap *cap, id_buf *recs, st_match_fn fn,
                      void *ctx, dt_error *err)
{
    recs->n = 0;
    block_walk b = {.s = s, .sb = sb, .h = h, .recs = recs, .err = err};
    DT_TRY(each_code_run(sb, codes, read_run, &b));
    if (cap && recs->n >= cap->min_records) {
        int skip = cap->too_big(cap->ctx, q[0].rule, q[0].i, recs->n);
        if (skip) return skip < 0 ? skip : DT_OK;
    }
    for (size_t j = 0; j < recs->n; j++)
        for (size_t k = 0; k < n_q; k++) DT_TRY(fn(ctx, q[k].i, recs->v[j]));
    return DT_OK;
}

int st_keys_match(st_store *s, size_t n, const uint64_t *const *keys, size_t n_rules,
                  uint64_t codes, const st_block_cap *cap, st_match_fn fn, void *ctx,
                  dt_error *err)
{
    int sb;
    DT_TRY(source_bits(s, &sb, err));
    key_query *q = dt_malloc((n && n_rules ? n * n_rules : 1) * sizeof *q);
    if (!q) return dt_err_set(err, DT_ENOMEM, "out of memory");
    size_t n_q = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < n_rules; r++)
            if (keys[r][i]) q[n_q++] = (key_query){key_hash(s, sb, r, keys[r][i]), i, r};
    qsort(q, n_q, sizeof *q, cmp_query); /* one scan per block, in index order */
    id_buf recs = {0};
    int rc = DT_OK;
    for (size_t k = 0; k < n_q && rc == DT_OK;) {
        size_t j = k;
        while (j < n_q && q[j].hash == q[k].hash) j++;
        rc = scan_block(s, sb, q[k].hash, codes, q + k, j - k, cap, &recs, fn, ctx, err);
        k = j;
    }
    dt_free(recs.v);
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

