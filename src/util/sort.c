/*
 * sort.c — radix sort of (64-bit key, 32-bit value) pairs. Blocking sorts
 * one entry per record per rule and loading sorts every record, tens of
 * millions of items each; a comparison sort there costs several times a
 * radix sort's two reads and one write per item per pass.
 *
 * Invariant: the result is ordered by key, then by val (the value is
 * sorted first, and every later pass is stable); util_sort_u64's result
 * is ascending.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum { RADIX_BITS = 16, RADIX = 1 << RADIX_BITS };

/* One stable counting pass on the digit at shift of either key or val. */
static void radix_pass(const util_kv *src, util_kv *dst, size_t n, int shift, int on_val,
                       size_t *count)
{
    memset(count, 0, RADIX * sizeof *count);
    for (size_t i = 0; i < n; i++) {
        uint64_t x = on_val ? src[i].val : src[i].key;
        count[(x >> shift) & (RADIX - 1)]++;
    }
    size_t sum = 0;
    for (size_t d = 0; d < RADIX; d++) {
        size_t c = count[d];
        count[d] = sum;
        sum += c;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t x = on_val ? src[i].val : src[i].key;
        dst[count[(x >> shift) & (RADIX - 1)]++] = src[i];
    }
}

/* 1 if vals never decrease: callers often build items in val order, and
 * then the val passes can go (every later pass is stable). */
static int vals_ascending(const util_kv *a, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (a[i].val < a[i - 1].val) return 0;
    return 1;
}

/* 1 if every item has the same digit there: the pass would change nothing. */
static int digit_constant(const util_kv *a, size_t n, int shift, int on_val)
{
    uint64_t first = ((on_val ? a[0].val : a[0].key) >> shift) & (RADIX - 1);
    for (size_t i = 1; i < n; i++)
        if ((((on_val ? a[i].val : a[i].key) >> shift) & (RADIX - 1)) != first) return 0;
    return 1;
}

static int kv_less(const util_kv *a, const util_kv *b)
{
    return a->key < b->key || (a->key == b->key && a->val < b->val);
}

static int cmp_kv(const void *x, const void *y)
{
    const util_kv *a = x, *b = y;
    return kv_less(a, b) ? -1 : kv_less(b, a);
}

static void insertion_sort_kv(util_kv *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        util_kv x = a[i];
        size_t j = i;
        for (; j > 0 && kv_less(&x, &a[j - 1]); j--) a[j] = a[j - 1];
        a[j] = x;
    }
}

int util_sort_kv(util_kv *items, size_t n)
{
    /* a few items (blocking sorts tens of thousands of 2-record runs at 10M
     * people): the radix passes' 512 KiB of counts cost more than sorting */
    if (n <= 32) {
        insertion_sort_kv(items, n);
        return DT_OK;
    }
    util_kv *tmp = dt_malloc(n * sizeof *tmp);
    size_t *count = dt_malloc(RADIX * sizeof *count);
    if (!tmp || !count) {
        dt_free(tmp);
        dt_free(count);
        return DT_ENOMEM;
    }
    util_kv *src = items, *dst = tmp;
    /* Least significant first: val's two digits, then key's four. */
    static const struct { int shift, on_val; } passes[] = {
        {0, 1}, {16, 1}, {0, 0}, {16, 0}, {32, 0}, {48, 0},
    };
    int skip_vals = vals_ascending(items, n);
    for (size_t p = 0; p < sizeof passes / sizeof passes[0]; p++) {
        if (passes[p].on_val && skip_vals) continue;
        if (digit_constant(src, n, passes[p].shift, passes[p].on_val)) continue;
        radix_pass(src, dst, n, passes[p].shift, passes[p].on_val, count);
        util_kv *t = src;
        src = dst;
        dst = t;
    }
    if (src != items) memcpy(items, src, n * sizeof *items);
    dt_free(tmp);
    dt_free(count);
    return DT_OK;
}

typedef struct halves_job {
    util_kv *items;
    size_t n, half;
    int rc[2];
} halves_job;

static void sort_halves(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    halves_job *j = ctx;
    for (size_t k = begin; k < end; k++)
        j->rc[k] = k == 0 ? util_sort_kv(j->items, j->half)
                          : util_sort_kv(j->items + j->half, j->n - j->half);
}

enum { SORT_ON_MIN = 1 << 20 };

int util_sort_kv_on(util_kv *items, size_t n, int n_threads)
{
    if (n_threads < 2 || n < SORT_ON_MIN) return util_sort_kv(items, n);
    halves_job j = {items, n, n / 2, {DT_OK, DT_OK}};
    util_parallel_for(2, 2, 1, sort_halves, &j);
    if (j.rc[0] < 0 || j.rc[1] < 0) return DT_ENOMEM;
    util_kv *out = dt_malloc(n * sizeof *out);
    if (!out) return DT_ENOMEM;
    /* Items equal in key and val are equal: any merge order is the one
     * sort of the whole would give. */
    size_t a = 0, b = j.half, k = 0;
    while (a < j.half && b < n) out[k++] = !kv_less(&items[b], &items[a]) ? items[a++] : items[b++];
    while (a < j.half) out[k++] = items[a++];
    while (b < n) out[k++] = items[b++];
    memcpy(items, out, n * sizeof *items);
    dt_free(out);
    return DT_OK;
}

/* Buckets of the top digit: hashed keys put a few dozen items in each,
 * which a few passes of insertion sort put in order faster than four
 * radix passes over everything; a crowded bucket (keys that are not
 * spread) falls back to the general sort, so the result is always
 * util_sort_kv's. */
enum { SPREAD_MIN = 1 << 18, BUCKET_SMALL = 48, BUCKET_LARGE = 4096 };

int util_sort_kv_spread(util_kv *items, size_t n)
{
    if (n < SPREAD_MIN) return util_sort_kv(items, n);
    util_kv *tmp = dt_malloc(n * sizeof *tmp);
    size_t *end = dt_malloc(RADIX * sizeof *end);
    int rc = tmp && end ? DT_OK : DT_ENOMEM;
    if (rc == DT_OK) radix_pass(items, tmp, n, 48, 0, end); /* end[d]: where bucket d ends */
    for (size_t d = 0, start = 0; rc == DT_OK && d < RADIX; start = end[d++]) {
        size_t size = end[d] - start;
        if (size > BUCKET_LARGE) rc = util_sort_kv(tmp + start, size);
        else if (size > BUCKET_SMALL) qsort(tmp + start, size, sizeof *tmp, cmp_kv);
        else insertion_sort_kv(tmp + start, size);
    }
    if (rc == DT_OK) memcpy(items, tmp, n * sizeof *items);
    dt_free(tmp);
    dt_free(end);
    return rc;
}

/* One stable counting pass of plain keys on the digit at shift. */
static void radix_pass_u64(const uint64_t *src, uint64_t *dst, size_t n, int shift, size_t *count)
{
    memset(count, 0, RADIX * sizeof *count);
    for (size_t i = 0; i < n; i++) count[(src[i] >> shift) & (RADIX - 1)]++;
    size_t sum = 0;
    for (size_t d = 0; d < RADIX; d++) {
        size_t c = count[d];
        count[d] = sum;
        sum += c;
    }
    for (size_t i = 0; i < n; i++) dst[count[(src[i] >> shift) & (RADIX - 1)]++] = src[i];
}

int util_sort_u64_hi(uint64_t *v, size_t n, uint64_t *tmp)
{
    if (n < 2) return DT_OK;
    uint64_t *own = tmp ? NULL : dt_malloc(n * sizeof *own);
    size_t *count = dt_malloc(RADIX * sizeof *count);
    if ((!tmp && !own) || !count) {
        dt_free(own);
        dt_free(count);
        return DT_ENOMEM;
    }
    radix_pass_u64(v, tmp ? tmp : own, n, 32, count);
    radix_pass_u64(tmp ? tmp : own, v, n, 48, count);
    dt_free(own);
    dt_free(count);
    return DT_OK;
}

int util_sort_u64(uint64_t *v, size_t n)
{
    if (n < 2) return DT_OK;
    uint64_t *tmp = dt_malloc(n * sizeof *tmp);
    size_t *count = dt_malloc(RADIX * sizeof *count);
    if (!tmp || !count) {
        dt_free(tmp);
        dt_free(count);
        return DT_ENOMEM;
    }
    uint64_t *src = v, *dst = tmp;
    for (int shift = 0; shift < 64; shift += RADIX_BITS) {
        radix_pass_u64(src, dst, n, shift, count);
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    assert(src == v); /* an even number of passes ends where it began */
    dt_free(tmp);
    dt_free(count);
    return DT_OK;
}
