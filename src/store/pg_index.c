/*
 * pg_index.c — the blocking index's primitives (index.h) on PostgreSQL.
 * index.c holds the logic, shared with SQLite. Slots go straight into
 * block_key: staging (block_new) saves SQLite rewriting a page per key at
 * each commit, which PostgreSQL's heap and WAL do not, so none is staged
 * and nothing is merged.
 *
 * Every primitive on many rows (slots, lists, ranges) binds them as
 * arrays, PG_BATCH to a statement: a resolving batch reads and writes its
 * slots in a few round trips, where a statement per slot or per block was
 * most of a record's 35 (bench/delta.sh).
 */
#include <stdlib.h>
#include <string.h>

#include "store/index.h"

int pg_idx_source_max(st_store *s, int64_t *n, dt_error *err)
{
    return pg_one_i64(s, "SELECT coalesce(max(id), 0) FROM source", NULL, n, "reading sources",
                      err);
}

int pg_idx_record_max(st_store *s, int64_t *n, dt_error *err)
{
    return pg_one_i64(s, "SELECT coalesce(max(id), 0) FROM record", NULL, n,
                      "reading the blocking index", err);
}

/* One statement per PG_BATCH records (`= ANY`, ordered by record: each
 * record's row found by binary search). */
int pg_idx_lists_get(st_store *s, const int64_t *records, size_t n, idx_list_at_fn fn,
                     void *ctx, dt_error *err)
{
    util_buf ids = {0};
    int rc = DT_OK;
    for (size_t k = 0; k < n && rc == DT_OK; k += PG_BATCH) {
        size_t m = n - k < PG_BATCH ? n - k : PG_BATCH;
        pg_array_i64(&ids, records + k, m);
        pg_params p = {0};
        pg_param_text(&p, ids.data);
        PGresult *r = ids.is_failed ? NULL
                                    : pg_run(s, "SELECT record, slots FROM record_keys WHERE "
                                             "record = ANY($1::bigint[]) ORDER BY record", &p,
                                             "updating the blocking index", err);
        if (!r) {
            rc = ids.is_failed ? dt_err_set(err, DT_ENOMEM, "out of memory") : pg_failed(s);
            break;
        }
        for (size_t i = k; i < k + m && rc == DT_OK; i++) {
            int j, end;
            pg_rows_of(r, 0, records[i], &j, &end);
            if (j < end) rc = fn(ctx, i, PQgetvalue(r, j, 1), (size_t)PQgetlength(r, j, 1));
        }
        PQclear(r);
    }
    util_buf_fini(&ids);
    return rc;
}

int pg_idx_list_drop(st_store *s, int64_t record, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, record);
    return pg_do(s, "DELETE FROM record_keys WHERE record = $1", &p,
                 "updating the blocking index", err);
}

int pg_idx_lists_each(st_store *s, idx_list_fn fn, void *ctx, dt_error *err)
{
    /* one result for every list: a store of millions should page it */
    PGresult *r = pg_run(s, "SELECT record, slots FROM record_keys ORDER BY record", NULL,
                         "reading the blocking index", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; i < PQntuples(r) && out == DT_OK; i++)
        out = fn(ctx, pg_i64(r, i, 0), PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
    PQclear(r);
    return out;
}

/* Runs sql with the slots bound as $1, PG_BATCH at a time. */
static int slots_do(st_store *s, const char *sql, const uint64_t *slots, size_t n,
                    const char *what, dt_error *err)
{
    util_buf a = {0};
    int rc = DT_OK;
    for (size_t k = 0; k < n && rc == DT_OK; k += PG_BATCH) {
        size_t m = n - k < PG_BATCH ? n - k : PG_BATCH;
        pg_array_i64(&a, (const int64_t *)(slots + k), m);
        pg_params p = {0};
        pg_param_text(&p, a.data);
        rc = a.is_failed ? dt_err_set(err, DT_ENOMEM, "out of memory")
                         : pg_do(s, sql, &p, what, err);
    }
    util_buf_fini(&a);
    return rc;
}

int pg_idx_slots_drop(st_store *s, const uint64_t *slots, size_t n, dt_error *err)
{
    return slots_do(s, "DELETE FROM block_key WHERE slot = ANY($1::bigint[])", slots, n,
                    "updating the blocking index", err);
}

/* Nothing is staged here (the file's opening): straight into block_key. */
int pg_idx_slots_stage(st_store *s, const uint64_t *slots, size_t n, dt_error *err)
{
    return pg_idx_slots_put(s, slots, n, err);
}

int pg_idx_staged_count(st_store *s, int64_t *n, dt_error *err)
{
    (void)s;
    (void)err;
    *n = 0;
    return DT_OK;
}

int pg_idx_merge_staged(st_store *s, dt_error *err)
{
    (void)s;
    (void)err;
    return DT_OK;
}

int pg_idx_clear(st_store *s, dt_error *err)
{
    return pg_do(s, "TRUNCATE block_key, block_new, record_keys", NULL,
                 "writing the blocking index", err);
}

/* One statement for PG_BATCH ranges: each an index range scan (LATERAL),
 * its rows numbered by the range that found them. */
int pg_idx_ranges(st_store *s, const uint64_t *lo, const uint64_t *hi, size_t n, id_buf *recs,
                  size_t *ends, dt_error *err)
{
    util_buf los = {0}, his = {0};
    int rc = DT_OK;
    for (size_t k = 0; k < n && rc == DT_OK; k += PG_BATCH) {
        size_t m = n - k < PG_BATCH ? n - k : PG_BATCH;
        pg_array_i64(&los, (const int64_t *)(lo + k), m);
        pg_array_i64(&his, (const int64_t *)(hi + k), m);
        pg_params p = {0};
        pg_param_text(&p, los.data);
        pg_param_text(&p, his.data);
        PGresult *r = los.is_failed || his.is_failed
                          ? NULL
                          : pg_run(s, "SELECT t.i, b.slot FROM unnest($1::bigint[], "
                                   "$2::bigint[]) WITH ORDINALITY AS t(lo, hi, i) CROSS JOIN "
                                   "LATERAL (SELECT slot FROM block_key WHERE slot BETWEEN t.lo "
                                   "AND t.hi) b ORDER BY t.i, b.slot", &p,
                                   "reading the blocking index", err);
        if (!r) {
            rc = los.is_failed || his.is_failed ? dt_err_set(err, DT_ENOMEM, "out of memory")
                                                : pg_failed(s);
            break;
        }
        int n_rows = PQntuples(r);
        if (util_grow((void **)&recs->v, &recs->cap, recs->n + (size_t)n_rows + 1,
                      sizeof *recs->v) < 0)
            rc = dt_err_set(err, DT_ENOMEM, "out of memory");
        size_t at = 0; /* ranges of this batch ended so far */
        for (int j = 0; j < n_rows && rc == DT_OK; j++) {
            size_t i = (size_t)pg_i64(r, j, 0) - 1;
            while (at < i) ends[k + at++] = recs->n;
            recs->v[recs->n++] = (int64_t)((uint64_t)pg_i64(r, j, 1) & SLOT_RECORD_MASK);
        }
        while (rc == DT_OK && at < m) ends[k + at++] = recs->n;
        PQclear(r);
    }
    util_buf_fini(&los);
    util_buf_fini(&his);
    return rc;
}

int pg_idx_count(st_store *s, uint64_t lo, uint64_t hi, int64_t *n, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, (int64_t)lo);
    pg_param_i64(&p, (int64_t)hi);
    return pg_one_i64(s, "SELECT count(*) FROM block_key WHERE slot BETWEEN $1 AND $2", &p, n,
                      "reading the blocking index", err);
}

int pg_idx_slots_put(st_store *s, const uint64_t *slots, size_t n, dt_error *err)
{
    return slots_do(s, "INSERT INTO block_key(slot) SELECT unnest($1::bigint[]) ON CONFLICT "
                    "DO NOTHING", slots, n, "writing the blocking index", err);
}

int pg_idx_lists_put(st_store *s, const int64_t *records, size_t n, const uint64_t *slots,
                     const size_t *counts, dt_error *err)
{
    util_buf ids = {0}, lists = {0};
    int rc = DT_OK;
    for (size_t k = 0; k < n && rc == DT_OK; k += PG_BATCH) {
        size_t m = n - k < PG_BATCH ? n - k : PG_BATCH;
        pg_array_i64(&ids, records + k, m);
        util_buf_clear(&lists);
        util_buf_putc(&lists, '{');
        for (size_t i = k; i < k + m; slots += counts[i++]) {
            if (i > k) util_buf_putc(&lists, ',');
            pg_elem_hex(&lists, slots, counts[i] * sizeof *slots);
        }
        util_buf_printf(&lists, "}");
        pg_params p = {0};
        pg_param_text(&p, ids.data);
        pg_param_text(&p, lists.data);
        rc = ids.is_failed || lists.is_failed
                 ? dt_err_set(err, DT_ENOMEM, "out of memory")
                 : pg_do(s, "INSERT INTO record_keys(record, slots) SELECT r, decode(h, 'hex') "
                         "FROM unnest($1::bigint[], $2::text[]) AS t(r, h) ON CONFLICT(record) "
                         "DO UPDATE SET slots = excluded.slots", &p,
                         "updating the blocking index", err);
    }
    util_buf_fini(&ids);
    util_buf_fini(&lists);
    return rc;
}
