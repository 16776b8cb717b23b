/* Unit tests for src/util: errors, intern table, arena, rng, buffer,
 * parallel-for, the allocation fault hook and directory creation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <sys/stat.h>

#include "tmpdir.h"
#include "util/util.h"

#include "tmpdir.h"

static void test_errnames(void **state)
{
    (void)state;
    assert_string_equal(dt_errname(DT_EINPUT), "DT_EINPUT");
    assert_string_equal(dt_errname(12345), "DT_EUNKNOWN");
    assert_string_equal(dt_strerror(DT_ENOMEM), "out of memory");
    dt_error e;
    dt_error_clear(&e);
    assert_int_equal(dt_err_at(&e, DT_ECONFIG, "a.yaml", 3, 7, "bad %s", "key"), DT_ECONFIG);
    assert_string_equal(e.msg, "a.yaml:3:7: bad key");
    assert_int_equal(e.line, 3);
    assert_int_equal(e.column, 7);
    assert_int_equal(dt_err_set(NULL, DT_EIO, "x"), DT_EIO); /* NULL err is allowed */
}

static void test_ids(void **state)
{
    (void)state;
    util_ids s = {0};
    assert_int_equal(util_ids_find(&s, 7), UINT32_MAX); /* empty: no table yet */
    /* ids far apart and negative ones, enough to grow the table many times */
    for (int64_t k = 0; k < 20000; k++) {
        uint32_t index;
        int is_new;
        int64_t id = (k % 2 ? -k : k) * 1000003;
        assert_int_equal(util_ids_put(&s, id, &index, &is_new), DT_OK);
        assert_true(is_new);
        assert_int_equal(index, (uint32_t)k);
    }
    for (int64_t k = 0; k < 20000; k++) {
        int64_t id = (k % 2 ? -k : k) * 1000003;
        uint32_t index;
        int is_new;
        assert_int_equal(util_ids_find(&s, id), (uint32_t)k);
        assert_int_equal(s.ids[k], id);
        assert_int_equal(util_ids_put(&s, id, &index, &is_new), DT_OK);
        assert_false(is_new);
        assert_int_equal(index, (uint32_t)k);
    }
    assert_int_equal(s.n, 20000);
    assert_int_equal(util_ids_find(&s, 1), UINT32_MAX);
    assert_int_equal(util_ids_add(&s, 1), DT_OK);
    assert_int_equal(util_ids_find(&s, 1), 20000);
    util_ids_fini(&s);
    assert_int_equal(s.n, 0);
}

static void test_intern(void **state)
{
    (void)state;
    util_intern t;
    util_intern_init(&t);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        uint32_t id;
        snprintf(key, sizeof key, "v%d", i);
        assert_int_equal(util_intern_put(&t, key, strlen(key), &id), DT_OK);
        assert_int_equal(id, (uint32_t)i);
    }
    uint32_t id;
    assert_int_equal(util_intern_put(&t, "v42", 3, &id), DT_OK);
    assert_int_equal(id, 42);
    assert_string_equal(util_intern_str(&t, 4999), "v4999");
    assert_int_equal(util_intern_find(&t, "v77", 3), 77);
    assert_int_equal(util_intern_find(&t, "nope", 4), UINT32_MAX);
    assert_int_equal(util_intern_put(&t, "", 0, &id), DT_OK); /* empty string is a value */
    assert_int_equal(id, 5000);
    util_intern_fini(&t);
}

/* util_json_flat_each: what it reports, and what it refuses. */
static int flat_join(void *ctx, const char *key, size_t key_len, const char *v, size_t n)
{
    util_buf *out = ctx;
    assert_int_equal(strlen(key), key_len);
    util_buf_printf(out, "%s=%s;", key, v ? v : "(null)");
    if (v) assert_int_equal(strlen(v), n);
    return 0;
}

static const char *flat(const char *text, int *rc)
{
    static util_buf out;
    util_buf key = {0}, value = {0};
    util_buf_clear(&out);
    util_buf_append(&out, "", 0);
    *rc = util_json_flat_each(text, &key, &value, flat_join, &out);
    util_buf_fini(&key);
    util_buf_fini(&value);
    return out.data;
}

static void test_json_flat(void **state)
{
    (void)state;
    int rc;
    assert_string_equal(flat("{\"given\":\"zoila\",\"dob\":\"1930-04-20\"}", &rc),
                        "given=zoila;dob=1930-04-20;");
    assert_int_equal(rc, 0);
    assert_string_equal(flat(" { \"a\" : \"x\\\"y\\\\z\\/\\t\" , \"b\" : null , \"c\" : \"\" } ", &rc),
                        "a=x\"y\\z/\t;b=(null);c=;");
    assert_int_equal(rc, 0);
    /* é, then U+1F600 from a surrogate pair, as UTF-8 */
    assert_string_equal(flat("{\"k\":\"\\u00e9\\ud83d\\ude00\"}", &rc), "k=\xc3\xa9\xf0\x9f\x98\x80;");
    assert_int_equal(rc, 0);
    assert_string_equal(flat("{}", &rc), "");
    assert_int_equal(rc, 0);
    static const char *const refused[] = {
        "", "[]", "{\"k\":1}", "{\"k\":\"a\"} x", "{\"k\":\"\\ud800\"}", "{\"k\":\"\\udc00\"}",
        "{\"k\":\"\\u0000\"}", "{\"k\":\"\\x\"}", "{\"k\":\"a\tb\"}", "{\"k\":\"a", "{\"k\" \"a\"}",
        "{\"k\":\"a\",}", "{\"k\":nul}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        flat(refused[i], &rc);
        assert_int_equal(rc, 1);
    }
}

static void test_rng_deterministic(void **state)
{
    (void)state;
    util_rng a, b;
    util_rng_seed(&a, 7);
    util_rng_seed(&b, 7);
    int counts[10] = {0};
    for (int i = 0; i < 10000; i++) {
        uint64_t x = util_rng_below(&a, 10);
        assert_int_equal(x, util_rng_below(&b, 10));
        counts[x]++;
    }
    for (int i = 0; i < 10; i++) assert_in_range(counts[i], 850, 1150);
}

static void test_arena_and_buf(void **state)
{
    (void)state;
    util_arena a;
    util_arena_init(&a, 64);
    char *big = util_arena_alloc(&a, 1000); /* larger than a block */
    memset(big, 'x', 1000);
    char *s = util_arena_strndup(&a, "hello", 5);
    assert_string_equal(s, "hello");
    assert_int_equal(((uintptr_t)util_arena_alloc(&a, 3)) % 16, 0);
    util_arena_fini(&a);

    /* Blocks start at 4 KiB and double up to the cap; what was handed out
     * stays put and intact while later blocks are added. */
    util_arena_init(&a, 64 * 1024);
    assert_int_equal(a.next_bytes, 4096);
    enum { N = 20000 };
    char **p = malloc(N * sizeof *p);
    assert_non_null(p);
    for (int i = 0; i < N; i++) {
        char text[16];
        int n = snprintf(text, sizeof text, "v%d", i);
        p[i] = util_arena_strndup(&a, text, (size_t)n);
        assert_non_null(p[i]);
    }
    for (int i = 0; i < N; i++) {
        char text[16];
        snprintf(text, sizeof text, "v%d", i);
        assert_string_equal(p[i], text);
    }
    assert_int_equal(a.next_bytes, 64 * 1024);
    free(p);
    util_arena_fini(&a);
    assert_int_equal(a.next_bytes, 4096); /* a reused arena starts small again */

    util_buf b = {0};
    assert_int_equal(util_buf_printf(&b, "%d-%s", 12, "ab"), DT_OK);
    assert_int_equal(util_buf_append(&b, "cd", 2), DT_OK);
    assert_string_equal(b.data, "12-abcd");
    util_buf_clear(&b);
    assert_int_equal(b.len, 0);
    util_buf_fini(&b);
}

static void sum_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    unsigned long *out = ctx;
    for (size_t i = begin; i < end; i++) out[i] = i * i;
}

static void test_parallel_for(void **state)
{
    (void)state;
    enum { N = 100003 };
    static unsigned long out[N];
    assert_int_equal(util_parallel_for(4, N, 1000, sum_range, out), DT_OK);
    for (size_t i = 0; i < N; i++) assert_int_equal(out[i], i * i);
}

static void test_fail_after(void **state)
{
    (void)state;
    util_fail_after(2);
    void *p = dt_malloc(8);
    assert_non_null(p);
    assert_null(dt_malloc(8));
    util_fail_after(0);
    dt_free(p);
    util_intern t;
    util_intern_init(&t);
    util_fail_after(1);
    uint32_t id;
    assert_int_equal(util_intern_put(&t, "a", 1, &id), DT_ENOMEM);
    util_fail_after(0);
    assert_int_equal(util_intern_put(&t, "a", 1, &id), DT_OK);
    util_intern_fini(&t);
}

static int cmp_kv(const void *x, const void *y)
{
    const util_kv *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->val > b->val) - (a->val < b->val);
}

static void test_sort_kv(void **state)
{
    (void)state;
    enum { N = 50000 };
    static util_kv a[N], b[N];
    util_rng r;
    util_rng_seed(&r, 3);
    /* Keys from a few values (ties decided by val) and full 64-bit ones;
     * round 2 has vals already ascending (the sort skips their passes). */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < N; i++) {
            a[i].key = round == 1 ? util_rng_next(&r) : util_rng_below(&r, 7) << 40;
            a[i].val = round == 2 ? (uint32_t)(i / 3) : (uint32_t)util_rng_next(&r);
        }
        memcpy(b, a, sizeof a);
        assert_int_equal(util_sort_kv(a, N), DT_OK);
        qsort(b, N, sizeof *b, cmp_kv);
        assert_memory_equal(a, b, sizeof a);
    }
    /* a few items take insertion sort: the same order */
    for (size_t n = 2; n <= 40; n++) {
        for (size_t i = 0; i < n; i++)
            a[i] = (util_kv){util_rng_below(&r, 5), (uint32_t)util_rng_below(&r, 7)};
        memcpy(b, a, n * sizeof *a);
        assert_int_equal(util_sort_kv(a, n), DT_OK);
        qsort(b, n, sizeof *b, cmp_kv);
        for (size_t i = 0; i < n; i++) /* not memcmp: util_kv has padding */
            assert_true(a[i].key == b[i].key && a[i].val == b[i].val);
    }
    util_kv one = {5, 1};
    assert_int_equal(util_sort_kv(&one, 1), DT_OK);
    assert_int_equal(util_sort_kv(NULL, 0), DT_OK);
}

/* util_sort_kv_spread gives util_sort_kv's order on hashed keys (small
 * buckets), on keys that share their top bits (one bucket: the general
 * sort), on buckets between (qsort), with repeated keys and vals in any
 * order. */
static void test_sort_kv_spread(void **state)
{
    (void)state;
    enum { N = 600000 };
    util_kv *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    util_rng r;
    util_rng_seed(&r, 5);
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < N; i++) {
            uint64_t h = util_rng_next(&r);
            a[i].key = round == 0   ? h
                       : round == 1 ? h >> 20                      /* all in bucket 0 */
                       : round == 2 ? (h % 3000) << 48 | (h >> 50) /* ~200 per bucket */
                                    : util_rng_below(&r, 1000) * 0x9e3779b97f4a7c15ULL;
            a[i].val = round == 3 ? (uint32_t)util_rng_next(&r) : (uint32_t)i;
        }
        memcpy(b, a, N * sizeof *a);
        assert_int_equal(util_sort_kv_spread(a, N), DT_OK);
        assert_int_equal(util_sort_kv(b, N), DT_OK);
        for (size_t i = 0; i < N; i++) { /* not memcmp: util_kv has padding */
            assert_true(a[i].key == b[i].key);
            assert_int_equal(a[i].val, b[i].val);
        }
    }
    util_fail_after(1);
    assert_int_equal(util_sort_kv_spread(a, N), DT_ENOMEM);
    util_fail_after(0);
    free(a);
    free(b);
}

/* util_sort_kv_on: the halves sorted on two threads and merged give
 * util_sort_kv's order, keys and vals repeated (a merge that took the
 * right half first on a tie would differ); out of memory is an error. */
static void test_sort_kv_on(void **state)
{
    (void)state;
    enum { N = (1 << 20) + 7 }; /* over SORT_ON_MIN */
    util_kv *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    util_rng r;
    util_rng_seed(&r, 9);
    for (size_t i = 0; i < N; i++) {
        a[i].key = util_rng_below(&r, 5000);
        a[i].val = (uint32_t)util_rng_below(&r, 50);
    }
    memcpy(b, a, N * sizeof *a);
    assert_int_equal(util_sort_kv_on(a, N, 2), DT_OK);
    assert_int_equal(util_sort_kv(b, N), DT_OK);
    for (size_t i = 0; i < N; i++) {
        assert_true(a[i].key == b[i].key);
        assert_int_equal(a[i].val, b[i].val);
    }
    util_fail_after(1); /* every allocation from here: no count shared by the threads */
    assert_int_equal(util_sort_kv_on(a, N, 2), DT_ENOMEM);
    util_fail_after(0);
    free(a);
    free(b);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* util_mkdir makes missing parents (link --out out/febrl4 on a fresh tree),
 * accepts an existing directory and refuses a file in the way. */
static void test_mkdir_parents(void **state)
{
    (void)state;
    char path[256], file[256];
    dt_error err;
    tmpdir_path(path, sizeof path, "out/febrl4/x");
    assert_int_equal(util_mkdir(path, &err), DT_OK);
    assert_true(is_dir(path));
    assert_int_equal(util_mkdir(path, &err), DT_OK);
    tmpdir_path(file, sizeof file, "out/file");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    tmpdir_path(path, sizeof path, "out/file/y");
    assert_int_equal(util_mkdir(path, &err), DT_EIO);
    assert_int_equal(util_mkdir(file, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "not a directory"));
}

static int mode_of(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0 ? (int)(sb.st_mode & 0777) : -1;
}

static void read_back(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t got = fread(out, 1, n - 1, f);
    out[got] = '\0';
    fclose(f);
}

/* Files are written 0600 and directories made 0700 whatever the umask,
 * through a temporary no one can predict: a symlink planted at OUT.tmp
 * is not followed, an existing target is replaced whole (or, with
 * no_replace, kept), and an aborted write leaves nothing behind. */
static void test_private_files(void **state)
{
    (void)state;
    mode_t old_mask = umask(022);
    char dir[256], out[300], tmp[300], victim[300], text[64];
    dt_error err;
    dt_error_clear(&err);
    tmpdir_path(dir, sizeof dir, "d");
    assert_int_equal(util_mkdir(dir, &err), DT_OK);
    assert_int_equal(mode_of(dir), 0700);
    snprintf(out, sizeof out, "%s/out.csv", dir);
    snprintf(tmp, sizeof tmp, "%s/out.csv.tmp", dir);
    snprintf(victim, sizeof victim, "%s/victim", g_dir);
    assert_int_equal(util_write_file(victim, "keep\n", 5, 0, &err), DT_OK);
    assert_int_equal(symlink(victim, tmp), 0);

    assert_int_equal(util_write_file(out, "a,b\n", 4, 0, &err), DT_OK);
    assert_int_equal(mode_of(out), 0600);
    read_back(victim, text, sizeof text);
    assert_string_equal(text, "keep\n");
    assert_int_equal(dt_file_write(out, "c\n", 2, &err), DT_OK); /* replaced whole */
    read_back(out, text, sizeof text);
    assert_string_equal(text, "c\n");
    assert_int_equal(util_write_file(out, "d\n", 2, 1, &err), DT_EIO); /* no_replace */
    read_back(out, text, sizeof text);
    assert_string_equal(text, "c\n");

    util_out o;
    assert_int_equal(util_out_open(&o, out, &err), DT_OK);
    assert_int_equal(mode_of(o.tmp), 0600);
    assert_non_null(strstr(o.tmp, "/.out.csv."));
    char made[300];
    snprintf(made, sizeof made, "%s", o.tmp);
    fputs("half", o.f);
    util_out_abort(&o);
    assert_int_equal(access(made, F_OK), -1);
    read_back(out, text, sizeof text);
    assert_string_equal(text, "c\n");

    snprintf(out, sizeof out, "%s/missing/out.csv", dir);
    assert_int_equal(util_write_file(out, "x", 1, 0, &err), DT_EIO);
    assert_non_null(strstr(err.msg, out));
    umask(old_mask);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errnames),      cmocka_unit_test(test_intern),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_rng_deterministic), cmocka_unit_test(test_arena_and_buf),
        cmocka_unit_test(test_parallel_for),  cmocka_unit_test(test_fail_after),
        cmocka_unit_test(test_sort_kv),       cmocka_unit_test(test_sort_kv_spread),
        cmocka_unit_test(test_sort_kv_on),       cmocka_unit_test(test_mkdir_parents),
        cmocka_unit_test(test_private_files), cmocka_unit_test(test_json_flat),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
