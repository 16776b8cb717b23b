/* Tests for src/pipeline through the public API: a whole link run on the
 * bundled registries example (counts, outputs, determinism across thread
 * counts), which pair files each dt_pairs_output writes, the default mode
 * with two sources, and the same run with the Nth allocation failing for
 * many N: it must return DT_ENOMEM with a message, never crash or leak
 * (ASan). Also pl_fixed, the output's number formatting, against printf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <math.h>

#include "dovetail.h"
#include "pipeline/pipeline.h"
#include "util/util.h"

static char g_dir[64];

/* The registries example with a smaller u sample, so a run is quick. */
static dt_config *small_config(void)
{
    char *text = NULL;
    size_t n = 0;
    dt_error err;
    assert_int_equal(util_read_file(DT_SRC_ROOT "/examples/registries.yaml", &text, &n, &err), DT_OK);
    char *p = strstr(text, "u_sample_pairs: 200000");
    assert_non_null(p);
    memcpy(p, "u_sample_pairs:   5000", 22);
    char path[128];
    snprintf(path, sizeof path, "%s/registries.yaml", DT_SRC_ROOT "/examples");
    (void)path;
    /* Write beside the example so its relative paths still resolve. */
    char tmp[] = DT_SRC_ROOT "/examples/.test_link_XXXXXX.yaml";
    int fd = mkstemps(tmp, 5);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    dt_free(text);
    dt_config *cfg = NULL;
    int rc = dt_config_load(tmp, &cfg, &err);
    unlink(tmp);
    assert_int_equal(rc, DT_OK);
    return cfg;
}

static char *slurp(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = NULL;
    dt_error err;
    assert_int_equal(util_read_file(path, &text, NULL, &err), DT_OK);
    return text;
}

static void assert_same_files(const char *dir1, const char *dir2, const char *const *files,
                              size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *a = slurp(dir1, files[i]), *b = slurp(dir2, files[i]);
        assert_string_equal(a, b);
        dt_free(a);
        dt_free(b);
    }
}

static void test_link_counts_and_threads(void **state)
{
    (void)state;
    dt_config *cfg = small_config();
    char out1[96], out2[96];
    snprintf(out1, sizeof out1, "%s/t1", g_dir);
    snprintf(out2, sizeof out2, "%s/t2", g_dir);
    dt_link_options o = {.n_threads = 1, .out_dir = out1, .pairs = DT_PAIRS_ALL};
    dt_link_summary s;
    dt_error err;
    assert_int_equal(dt_link_run(cfg, &o, &s, &err), DT_OK);
    assert_int_equal(s.n_records, 484);
    assert_int_equal(s.n_rejected_rows, 0);
    assert_true(s.n_links > 200 && s.n_links < 300);
    assert_true(s.n_entities > 250 && s.n_entities < 320);
    uint64_t total = 0;
    for (int i = 0; i < 8; i++) total += s.cluster_size_hist[i];
    assert_int_equal(total, s.n_entities);
    o.n_threads = 2;
    o.out_dir = out2;
    assert_int_equal(dt_link_run(cfg, &o, &s, &err), DT_OK);
    const char *files[] = {"entities.csv", "pairs.csv", "model.json"};
    assert_same_files(out1, out2, files, 3);
    dt_config_free(cfg);
}

static void test_link_out_of_memory(void **state)
{
    (void)state;
    dt_config *cfg = small_config();
    char out[96];
    snprintf(out, sizeof out, "%s/oom", g_dir);
    dt_link_options o = {.n_threads = 2, .out_dir = out};
    int n_failed = 0, k;
    /* Every allocation point early on, then a sparser sweep to the end. */
    for (k = 1; k < 400000; k += k < 300 ? 1 : k / 8) {
        dt_error err;
        dt_error_clear(&err);
        util_fail_after(k);
        int rc = dt_link_run(cfg, &o, NULL, &err);
        util_fail_after(0);
        if (rc == DT_OK) break;
        assert_int_equal(rc, DT_ENOMEM);
        assert_int_equal(err.code, DT_ENOMEM);
        assert_true(err.msg[0] != '\0');
        n_failed++;
    }
    assert_true(n_failed > 300);   /* the sweep really hit failures */
    assert_true(k < 400000);       /* and the run eventually succeeds */
    dt_config_free(cfg);
}

static int file_exists(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* The probability column (7th) of a pairs.csv row; the registries example
 * quotes no field before it. */
static double row_probability(const char *row)
{
    for (int i = 0; i < 6; i++) row = strchr(row, ',') + 1;
    return strtod(row, NULL);
}

/* --pairs all writes both files, review.csv being exactly the rows of
 * pairs.csv under the link threshold; review (the default) writes the same
 * review.csv and removes a pairs.csv an earlier run left; none removes both. */
static void test_pairs_outputs(void **state)
{
    (void)state;
    dt_config *cfg = small_config();
    char out[96];
    snprintf(out, sizeof out, "%s/pairs", g_dir);
    dt_link_options o = {.n_threads = 2, .out_dir = out, .pairs = DT_PAIRS_ALL};
    dt_link_summary s;
    dt_error err;
    assert_int_equal(dt_link_run(cfg, &o, &s, &err), DT_OK);
    char *all = slurp(out, "pairs.csv"), *rev_all = slurp(out, "review.csv");
    /* review.csv from pairs.csv: the header, then rows with p < link (0.5 here) */
    size_t n_rows = 0, n_review = 0;
    char *expect = dt_malloc(strlen(all) + 1);
    size_t n_expect = 0;
    for (const char *line = all; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = (size_t)(end - line) + 1;
        int is_header = line == all;
        if (!is_header) n_rows++;
        if (is_header || row_probability(line) < 0.5) {
            memcpy(expect + n_expect, line, len);
            n_expect += len;
            n_review += !is_header;
        }
        line = end + 1;
    }
    expect[n_expect] = '\0';
    assert_int_equal(n_rows, s.n_links + s.n_review);
    assert_int_equal(n_review, s.n_review);
    assert_true(n_review > 0);
    assert_string_equal(rev_all, expect);

    o.pairs = DT_PAIRS_REVIEW;
    assert_int_equal(dt_link_run(cfg, &o, &s, &err), DT_OK);
    assert_false(file_exists(out, "pairs.csv"));
    char *rev = slurp(out, "review.csv");
    assert_string_equal(rev, rev_all);
    assert_true(file_exists(out, "entities.csv"));

    o.pairs = DT_PAIRS_NONE;
    assert_int_equal(dt_link_run(cfg, &o, &s, &err), DT_OK);
    assert_false(file_exists(out, "pairs.csv"));
    assert_false(file_exists(out, "review.csv"));
    assert_true(file_exists(out, "entities.csv"));
    dt_free(all);
    dt_free(rev_all);
    dt_free(rev);
    dt_free(expect);
    dt_config_free(cfg);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Entity id of record `id` of `source` in dir/entities.csv. */
static void entity_of(const char *dir, const char *source, const char *id, char out[32])
{
    char *text = slurp(dir, "entities.csv"), key[64];
    snprintf(key, sizeof key, "\n%s,%s,", source, id);
    const char *p = strstr(text, key);
    assert_non_null(p);
    p += strlen(key);
    size_t n = strcspn(p, "\n");
    assert_true(n < 32);
    memcpy(out, p, n);
    out[n] = '\0';
    dt_free(text);
}

/* Two sources and no mode: link_and_dedupe, so a duplicate inside one
 * registry is found (before, the default was link, which never compared
 * records of one source), and the log says which mode was chosen. */
static void on_log_keep(void *ctx, dt_log_level level, const char *line)
{
    (void)level;
    if (strncmp(line, "mode: ", 6) == 0) snprintf(ctx, 256, "%s", line);
}

static void test_default_mode_two_sources(void **state)
{
    (void)state;
    char dir[96];
    snprintf(dir, sizeof dir, "%s/mode", g_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    /* 40 people; person 0 twice in registry a, the others once in each. */
    static const char *const given[] = {"ann", "bob", "cy", "di", "eve", "fay", "gus", "hal"};
    static const char *const surname[] = {"lee", "ray", "kim", "diaz", "moss"};
    util_buf a = {0}, b = {0};
    util_buf_printf(&a, "id,first,last,dob,zip\n");
    util_buf_printf(&b, "id,first,last,dob,zip\n");
    for (int i = 0; i < 40; i++) {
        const char *g = given[i % 8], *sn = surname[i / 8];
        util_buf_printf(&a, "a%d,%s,%s,19%02d-%02d-%02d,%05d\n", i, g, sn, 40 + i, 1 + i % 12,
                        1 + i % 28, 10000 + 37 * i);
        if (i > 0) /* person 0 is in registry a only: nothing in b chains the two */
            util_buf_printf(&b, "b%d,%s,%s,19%02d-%02d-%02d,%05d\n", i, g, sn, 40 + i,
                            1 + i % 12, 1 + i % 28, 10000 + 37 * i);
    }
    util_buf_printf(&a, "a_dup,ann,lee,1940-01-01,10000\n");
    util_buf_putc(&a, '\0');
    util_buf_putc(&b, '\0');
    write_text(dir, "a.csv", a.data);
    write_text(dir, "b.csv", b.data);
    util_buf_fini(&a);
    util_buf_fini(&b);
    write_text(dir, "c.yaml",
               "fields: {first: given_name, last: surname, dob: date, zip: postcode}\n"
               "sources:\n"
               "  - {name: a, path: a.csv, id: id, columns: {first: first, last: last, dob: dob, "
               "zip: zip}}\n"
               "  - {name: b, path: b.csv, id: id, columns: {first: first, last: last, dob: dob, "
               "zip: zip}}\n"
               "blocking: {rules: [[last], [dob]]}\n"
               "comparisons:\n"
               "  - {field: first, levels: [exact]}\n"
               "  - {field: last, levels: [exact]}\n"
               "  - {field: dob, levels: [exact]}\n"
               "  - {field: zip, levels: [exact]}\n"
               "model: {u_sample_pairs: 2000}\n");
    char path[128], out[128], line[256] = "";
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    dt_config *cfg = NULL;
    dt_error err;
    assert_int_equal(dt_config_load(path, &cfg, &err), DT_OK);
    dt_link_options o = {.n_threads = 1, .out_dir = out, .on_log = on_log_keep, .cb_ctx = line};
    assert_int_equal(dt_link_run(cfg, &o, NULL, &err), DT_OK);
    assert_non_null(strstr(line, "mode: link_and_dedupe (the default with two or more sources"));
    char e_dup[32], e_orig[32], e_a[32], e_b[32];
    entity_of(out, "a", "a_dup", e_dup);
    entity_of(out, "a", "a0", e_orig);
    assert_string_equal(e_dup, e_orig);
    entity_of(out, "a", "a7", e_a); /* and across sources as before */
    entity_of(out, "b", "b7", e_b);
    assert_string_equal(e_a, e_b);
    dt_config_free(cfg);
}

static void on_log_sample(void *ctx, dt_log_level level, const char *line)
{
    (void)level;
    if (strstr(line, "on a sample of")) snprintf(ctx, 256, "%s", line);
}

/* model: em_sample_pairs: EM and λ read about that many candidates, the
 * same ones for any thread count; λ still estimates matches among all
 * candidates, so the links stay near the full fit's. */
static void test_em_sample(void **state)
{
    (void)state;
    dt_config *cfg = small_config();
    char full[96], one[96], two[96], line[256] = "";
    snprintf(full, sizeof full, "%s/sample_full", g_dir);
    snprintf(one, sizeof one, "%s/sample_1", g_dir);
    snprintf(two, sizeof two, "%s/sample_2", g_dir);
    dt_link_options o = {.n_threads = 2, .out_dir = full, .on_log = on_log_sample,
                         .cb_ctx = line};
    dt_link_summary s_full, s1, s2;
    dt_error err;
    assert_int_equal(dt_link_run(cfg, &o, &s_full, &err), DT_OK);
    assert_string_equal(line, ""); /* no sample unless asked */
    cfg->em_sample_pairs = s_full.n_candidate_pairs / 2;
    o.out_dir = one;
    o.n_threads = 1;
    assert_int_equal(dt_link_run(cfg, &o, &s1, &err), DT_OK);
    unsigned long long got = 0, of = 0;
    assert_int_equal(sscanf(line, "train: EM and lambda on a sample of %llu of the %llu", &got,
                            &of), 2);
    assert_int_equal(of, s_full.n_candidate_pairs);
    assert_true(got > of / 2 - of / 8 && got < of / 2 + of / 8);
    o.out_dir = two;
    o.n_threads = 2;
    assert_int_equal(dt_link_run(cfg, &o, &s2, &err), DT_OK);
    const char *files[] = {"entities.csv", "review.csv", "model.json"};
    assert_same_files(one, two, files, 3);
    assert_true(s1.n_links > s_full.n_links * 9 / 10 && s1.n_links < s_full.n_links * 11 / 10);
    char *m_full = slurp(full, "model.json"), *m_one = slurp(one, "model.json");
    const char *top = "\n  \"lambda\": "; /* the model's, not a context's */
    double l_full = strtod(strstr(m_full, top) + strlen(top), NULL);
    double l_one = strtod(strstr(m_one, top) + strlen(top), NULL);
    assert_true(l_one > l_full * 0.7 && l_one < l_full * 1.3);
    dt_free(m_full);
    dt_free(m_one);
    /* More than there are: every pair, as without the setting. */
    cfg->em_sample_pairs = s_full.n_candidate_pairs;
    line[0] = '\0';
    o.out_dir = one;
    assert_int_equal(dt_link_run(cfg, &o, &s1, &err), DT_OK);
    assert_string_equal(line, "");
    assert_same_files(full, one, files, 1);
    dt_config_free(cfg);
}

/* pl_fixed writes what printf's "%.*f" does, for the numbers link writes
 * (weights, probabilities, confidences) and the awkward ones: ties at the
 * last digit, values that round to zero (with their sign), tiny and
 * subnormal numbers, NaN, the infinities, and numbers past its fast range. */
static void check_fixed(double x, int d)
{
    char want[PL_FIXED_SIZE], got[PL_FIXED_SIZE];
    int n_want = snprintf(want, sizeof want, "%.*f", d, x);
    size_t n_got = pl_fixed(got, x, d);
    if (strcmp(want, got) != 0 || (size_t)n_want != n_got)
        fail_msg("%.17g with %d decimals: printf '%s', pl_fixed '%s'", x, d, want, got);
}

static void test_fixed_matches_printf(void **state)
{
    (void)state;
    static const double edge[] = {
        0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, -2.5, 0.0078125, 0.00048828125, 0.25, 0.125,
        0.0000005, 0.0000015, 0.00000049999999999, 0.99999949999999, 0.9999995, 0.9999996,
        1e-7, -1e-7, 1e-300, 4.9406564584124654e-324, -4.9406564584124654e-324,
        2.2250738585072014e-308, 123456.78905, 999999999.9999999, 1e9, -1e9, 1e15, 1e300,
        -1.7976931348623157e308, 12.34565, 0.1, 0.2, 0.3, 0.7, 16.25, -16.25, 30.0000005};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
        for (int d = 0; d <= PL_FIXED_MAX_DECIMALS; d++) check_fixed(edge[i], d);
    for (int d = 0; d <= PL_FIXED_MAX_DECIMALS; d++) {
        check_fixed(NAN, d);
        check_fixed(-NAN, d);
        check_fixed(INFINITY, d);
        check_fixed(-INFINITY, d);
    }
    /* Every tie k + 1/2 at the last digit that a double holds exactly. */
    for (int d = 0; d <= 6; d++)
        for (int k = 0; k < 4096; k++) check_fixed(ldexp(2 * k + 1, -(d + 1)), d);
    util_rng rng;
    util_rng_seed(&rng, 7);
    for (int i = 0; i < 300000; i++) {
        uint64_t bits = util_rng_next(&rng);
        double x;
        int kind = i % 4;
        if (kind == 0) { /* any finite double */
            memcpy(&x, &bits, sizeof x);
            if (!isfinite(x)) continue;
        } else if (kind == 1) { /* a probability */
            x = (double)(bits >> 11) / 9007199254740992.0;
        } else if (kind == 2) { /* a weight in bits */
            x = ((double)(bits >> 11) / 9007199254740992.0 - 0.5) * 120.0;
        } else { /* a short decimal, often a tie in binary's nearest */
            x = (double)(int64_t)(bits % 2000000001) / 1e7 - 100.0;
        }
        check_fixed(x, 4);
        check_fixed(x, 6);
        check_fixed(x, (int)(bits >> 60) % (PL_FIXED_MAX_DECIMALS + 1));
    }
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/dt_test_link_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_counts_and_threads),
        cmocka_unit_test(test_em_sample),
        cmocka_unit_test(test_pairs_outputs),
        cmocka_unit_test(test_default_mode_two_sources),
        cmocka_unit_test(test_fixed_matches_printf),
        cmocka_unit_test(test_link_out_of_memory),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) rc = rc ? rc : 1;
    return rc;
}
