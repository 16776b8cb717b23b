/* Unit tests for src/govern/policy.c: the limits on a policy (its size and
 * purpose count, with parsing linear in the text), fields that must be
 * columns of the source, an expiry already past when a steward sets it,
 * and the lapse message naming the source it is about. The config is
 * FEBRL's shape: its birth date column is date_of_birth, not dob. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "govern/govern.h"
#include "io/config.h"

static const char CONFIG[] =
    "fields:\n  given: given_name\n  surname: surname\n  dob: date\n"
    "sources:\n"
    "  - name: a\n    path: a.csv\n    id: rec_id\n"
    "    columns: {given: given_name, surname: surname,"
    " dob: {column: date_of_birth, format: YYYYMMDD}}\n"
    "  - name: b\n    path: b.csv\n    id: rec_id\n"
    "    columns: {given: given_name, surname: surname,"
    " dob: {column: date_of_birth, format: YYYYMMDD}}\n"
    "blocking:\n  rules: [[surname]]\n"
    "comparisons:\n  - field: surname\n    levels: [exact]\n";

#define US_PER_DAY (INT64_C(86400) * 1000000)
static const int64_t NOW = INT64_C(1790000000) * 1000000; /* 2026-09-21 */

static dt_config *g_cfg;

static int setup(void **state)
{
    (void)state;
    dt_error err;
    return cfg_parse(CONFIG, strlen(CONFIG), "c.yaml", "/tmp", &g_cfg, &err);
}

static int teardown(void **state)
{
    (void)state;
    dt_config_free(g_cfg);
    return 0;
}

/* One allowed purpose of source a. */
static const char *rule(const char *purpose, const char *expires, const char *fields)
{
    static char text[512];
    snprintf(text, sizeof text, "purposes:\n  %s:\n    allowed: true\n    agreement: A-1\n"
             "    expires: %s\n    fields: %s\n", purpose, expires, fields);
    return text;
}

static int parse(const char *text, size_t n, int64_t now, gv_policy *p, dt_error *err)
{
    dt_error_clear(err);
    return gv_policy_parse(text, n, "p.yaml", g_cfg, 0, now, p, err);
}

/* Asserts text fails with DT_ECONFIG at line:column, mentioning `mention`. */
static void expect_error(const char *text, long line, long column, const char *mention)
{
    gv_policy p;
    dt_error err;
    int rc = parse(text, strlen(text), NOW, &p, &err);
    if (rc != DT_ECONFIG || err.line != line || err.column != column || !strstr(err.msg, mention))
        fprintf(stderr, "got %d %ld:%ld \"%s\"; wanted %ld:%ld '%s'\n", rc, err.line,
                err.column, err.msg, line, column, mention);
    assert_int_equal(rc, DT_ECONFIG);
    assert_int_equal(err.line, line);
    assert_int_equal(err.column, column);
    assert_non_null(strstr(err.msg, mention));
    assert_int_equal(p.n_rules, 0);
}

/* "purposes:" and n purposes p0, p1, ..., the last named `last` (when
 * not NULL): allowed ones, 5 lines each (85 bytes), or denied ones on one
 * line each. */
static char *many_purposes(size_t n, const char *last, int is_allowed, size_t *len)
{
    size_t cap = 64 + n * 128;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t k = (size_t)snprintf(text, cap, "purposes:\n");
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%zu", i);
        k += (size_t)snprintf(text + k, cap - k, is_allowed ? "  %s:\n    allowed: true\n"
                              "    agreement: CMA-2026-014\n    expires: 2027-06-30\n"
                              "    fields: [surname, given_name]\n" : "  %s: {allowed: false}\n",
                              i + 1 == n && last ? last : name);
    }
    *len = k;
    return text;
}

static void test_purpose_count(void **state)
{
    (void)state;
    gv_policy p;
    dt_error err;
    size_t n;
    char *text = many_purposes(GV_MAX_PURPOSES, NULL, 1, &n);
    assert_int_equal(parse(text, n, NOW, &p, &err), DT_OK);
    assert_int_equal(p.n_rules, GV_MAX_PURPOSES);
    gv_policy_fini(&p);
    free(text);
    /* the repeat is found at the end of the longest allowed policy */
    text = many_purposes(GV_MAX_PURPOSES, "p0", 1, &n);
    assert_int_equal(parse(text, n, NOW, &p, &err), DT_ECONFIG);
    assert_non_null(strstr(err.msg, "purpose 'p0' appears twice"));
    assert_int_equal(err.line, 2 + 5 * (GV_MAX_PURPOSES - 1));
    free(text);
    /* 20,000 purposes in 0.5 MB: refused at 'purposes', before any is parsed */
    text = many_purposes(20000, NULL, 0, &n);
    assert_true(n < GV_POLICY_MAX_BYTES);
    assert_int_equal(parse(text, n, NOW, &p, &err), DT_ECONFIG);
    assert_non_null(strstr(err.msg, "at most 1000 purposes; this one names 20000"));
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 3);
    free(text);
    /* the policy: 50,000 allowed purposes, 4.2 MB */
    text = many_purposes(50000, NULL, 1, &n);
    assert_true(n > 4200000);
    assert_int_equal(parse(text, n, NOW, &p, &err), DT_ECONFIG);
    assert_non_null(strstr(err.msg, "the limit is 1048576"));
    free(text);
}

static void test_size(void **state)
{
    (void)state;
    gv_policy p;
    dt_error err;
    size_t n = GV_POLICY_MAX_BYTES + 1;
    char *text = malloc(n + 1);
    assert_non_null(text);
    const char *head = rule("test", "2027-06-30", "all");
    memset(text, ' ', n);
    memcpy(text, head, strlen(head));
    text[n - 1] = '\n';
    text[n] = '\0';
    assert_int_equal(parse(text, n, NOW, &p, &err), DT_ECONFIG);
    assert_non_null(strstr(err.msg, "p.yaml: the policy is 1048577 bytes; the limit is 1048576"));
    assert_int_equal(p.n_rules, 0);
    /* one byte less parses */
    assert_int_equal(parse(text, n - 1, NOW, &p, &err), DT_OK);
    gv_policy_fini(&p);
    free(text);
}

static void test_names_are_real(void **state)
{
    (void)state;
    expect_error(rule("test", "2027-06-30", "[surname, dob]"), 6, 23,
                 "fields: 'dob' is not a column of source 'a' (its columns: rec_id, given_name, "
                 "surname, date_of_birth)");
    expect_error(rule("test", "2027-06-30", "[surname, date_of_birth, surname]"), 6, 38,
                 "fields: 'surname' is listed twice");
    char links[600];
    snprintf(links, sizeof links, "%s    link_with: [b, b]\n", rule("test", "2027-06-30", "all"));
    expect_error(links, 7, 20, "link_with: 'b' is listed twice");
    gv_policy p;
    dt_error err;
    const char *ok = rule("test", "2027-06-30", "[rec_id, surname, date_of_birth]");
    assert_int_equal(parse(ok, strlen(ok), NOW, &p, &err), DT_OK);
    assert_int_equal(p.rules[0].n_fields, 3);
    gv_policy_fini(&p);
    /* a policy stored before the checks still loads (now 0): its steward
     * must be able to replace it, and every request reads it first */
    const char *old = rule("test", "2027-06-30", "[surname, dob, dob]");
    assert_int_equal(parse(old, strlen(old), 0, &p, &err), DT_OK);
    assert_int_equal(p.rules[0].n_fields, 3);
    gv_policy_fini(&p);
    assert_int_equal(parse(links, strlen(links), 0, &p, &err), DT_OK);
    gv_policy_fini(&p);
}

static void test_expiry_past(void **state)
{
    (void)state;
    /* NOW is 2026-09-21: the day before is refused when set ... */
    expect_error(rule("test", "2026-09-20", "all"), 5, 14,
                 "expires 2026-09-20 has passed: purpose 'test' would be refused");
    gv_policy p;
    dt_error err;
    const char *today = rule("test", "2026-09-21", "all"); /* holds through the day named */
    assert_int_equal(parse(today, strlen(today), NOW, &p, &err), DT_OK);
    gv_policy_fini(&p);
    /* ... and loads from the store (now 0), where it lapses */
    const char *old = rule("test", "2026-09-20", "all");
    assert_int_equal(parse(old, strlen(old), 0, &p, &err), DT_OK);
    assert_true(p.rules[0].expires <= NOW);
    gv_policy_fini(&p);
}

static void test_lapsed_names_source(void **state)
{
    (void)state;
    const char *old = rule("test", "2026-09-20", "all");
    gv_policy_set set = {.n = 2, .p = calloc(2, sizeof *set.p)};
    assert_non_null(set.p);
    dt_error err;
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(gv_policy_parse(old, strlen(old), "p.yaml", g_cfg, i, 0, &set.p[i], &err),
                         DT_OK);
    gv_view v;
    assert_int_equal(gv_view_make(&set, g_cfg, "test", NOW, &v, &err), DT_OK);
    assert_int_equal(v.sources, 0);
    assert_non_null(strstr(v.lapsed, "source 'a': agreement A-1 for purpose 'test' expired "
                                     "after 2026-09-20"));
    char why[512];
    gv_lapsed_text(g_cfg, 1, &set.p[1].rules[0], why, sizeof why);
    assert_non_null(strstr(why, "source 'b': agreement A-1 for purpose 'test' expired after"));
    for (size_t i = 0; i < 2; i++) gv_policy_fini(&set.p[i]);
    free(set.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_purpose_count),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_names_are_real),
        cmocka_unit_test(test_expiry_past),
        cmocka_unit_test(test_lapsed_names_source),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
