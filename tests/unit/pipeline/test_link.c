/* Tests for src/pipeline through the public API: a whole link run on the
 * bundled registries example (counts, outputs, determinism across thread
 * counts), and the same run with the Nth allocation failing for many N:
 * it must return DT_ENOMEM with a message, never crash or leak (ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dovetail.h"
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

static void test_link_counts_and_threads(void **state)
{
    (void)state;
    dt_config *cfg = small_config();
    char out1[96], out2[96];
    snprintf(out1, sizeof out1, "%s/t1", g_dir);
    snprintf(out2, sizeof out2, "%s/t2", g_dir);
    dt_link_options o = {.n_threads = 1, .out_dir = out1};
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
    for (size_t i = 0; i < 3; i++) {
        char *a = slurp(out1, files[i]), *b = slurp(out2, files[i]);
        assert_string_equal(a, b);
        dt_free(a);
        dt_free(b);
    }
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

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/dt_test_link_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_counts_and_threads),
        cmocka_unit_test(test_link_out_of_memory),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) rc = rc ? rc : 1;
    return rc;
}
