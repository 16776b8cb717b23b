/* Unit tests for src/govern/audit: two handles on one store file, as two
 * processes (a server and a command) hold it, append in turns; each takes
 * up what the other appended, and the whole log verifies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "govern/govern.h"

#include "tmpdir.h"

static char g_path[256], g_key[256];

static int setup(void **state)
{
    if (tmpdir_setup(state) < 0) return -1;
    tmpdir_path(g_path, sizeof g_path, "s.db");
    tmpdir_path(g_key, sizeof g_key, "s.key"); /* made by the first create */
    return 0;
}

static void append(gv_audit *a, const char *principal, int64_t want_seq)
{
    dt_error err;
    dt_error_clear(&err);
    const char *subjects[] = {"benefits:1"};
    gv_entry e = {.principal = principal, .purpose = "test", .action = "resolve",
                  .outcome = "allowed", .subjects = subjects, .n_subjects = 1};
    assert_int_equal(gv_audit_add(a, &e, &err), DT_OK);
    int64_t seq = 0;
    int rc = gv_audit_commit(a, &seq, &err);
    if (rc != DT_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, DT_OK);
    assert_int_equal(seq, want_seq);
}

static void test_two_writers(void **state)
{
    (void)state;
    dt_error err;
    dt_error_clear(&err);
    st_store *s1 = NULL, *s2 = NULL;
    assert_int_equal(st_open(g_path, g_key, ST_CREATE, &s1, &err), DT_OK);
    assert_int_equal(st_begin(s1, &err), DT_OK);
    assert_int_equal(gv_audit_init_key(s1, &err), DT_OK);
    assert_int_equal(st_commit(s1, &err), DT_OK);
    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &s2, &err), DT_OK);
    gv_audit *a1 = NULL, *a2 = NULL;
    assert_int_equal(gv_audit_open(s1, &a1, &err), DT_OK);
    assert_int_equal(gv_audit_open(s2, &a2, &err), DT_OK);

    append(a1, "one", 1);
    append(a1, "one", 2);
    append(a2, "two", 3); /* a2 opened on an empty log */
    append(a1, "one", 4);
    append(a2, "two", 5);
    append(a2, "two", 6);

    gv_verdict v;
    assert_int_equal(gv_audit_verify(s1, NULL, &v, &err), DT_OK);
    if (!v.ok) fprintf(stderr, "%s\n", v.why);
    assert_true(v.ok);
    assert_int_equal(v.n_entries, 6);

    /* A row added outside dovetail is still refused, not taken up. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO audit SELECT seq + 1, time, principal, purpose, "
                                      "action, fields, outcome, n_subjects, leaf_hash FROM audit "
                                      "WHERE seq = 6", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    const char *subjects[] = {"x:y"};
    gv_entry e = {.principal = "one", .purpose = "test", .action = "resolve",
                  .outcome = "allowed", .subjects = subjects, .n_subjects = 1};
    assert_int_equal(gv_audit_add(a2, &e, &err), DT_OK);
    assert_int_equal(gv_audit_commit(a2, NULL, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "written outside dovetail"));

    gv_audit_close(a1);
    gv_audit_close(a2);
    st_close(s1);
    st_close(s2);
}

static gv_audit *g_other;

static void append_between(void)
{
    gv_test_between_log_reads = NULL;
    append(g_other, "two", 2);
}

/* A handle opening the log while another commits between its two reads
 * of the log's end (entries, then the newest head) opens: it used to see
 * the new head over the old entries and refuse the log as written
 * outside dovetail (a server's first request on a handle, under load). */
static void test_open_while_another_commits(void **state)
{
    (void)state;
    dt_error err;
    dt_error_clear(&err);
    st_store *s1 = NULL, *s2 = NULL;
    tmpdir_remove_store(g_path);
    assert_int_equal(st_open(g_path, g_key, ST_CREATE, &s1, &err), DT_OK);
    assert_int_equal(st_begin(s1, &err), DT_OK);
    assert_int_equal(gv_audit_init_key(s1, &err), DT_OK);
    assert_int_equal(st_commit(s1, &err), DT_OK);
    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &s2, &err), DT_OK);
    assert_int_equal(gv_audit_open(s2, &g_other, &err), DT_OK);
    append(g_other, "two", 1);
    gv_audit *a1 = NULL;
    gv_test_between_log_reads = append_between;
    int rc = gv_audit_open(s1, &a1, &err);
    if (rc != DT_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, DT_OK);
    assert_null(gv_test_between_log_reads); /* the commit did fall between the reads */
    append(a1, "one", 3);
    gv_audit_close(a1);
    gv_audit_close(g_other);
    st_close(s1);
    st_close(s2);
}

/* A store whose log has no entry and no head yet verifies as empty (the
 * checkpoint list is empty: qsort got NULL, which UBSan stopped on). */
static void test_verify_no_heads(void **state)
{
    (void)state;
    dt_error err;
    dt_error_clear(&err);
    char path[256];
    tmpdir_path(path, sizeof path, "empty.db");
    st_store *s = NULL;
    assert_int_equal(st_open(path, g_key, ST_CREATE, &s, &err), DT_OK);
    assert_int_equal(st_begin(s, &err), DT_OK);
    assert_int_equal(gv_audit_init_key(s, &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
    gv_verdict v;
    assert_int_equal(gv_audit_verify(s, NULL, &v, &err), DT_OK);
    assert_true(v.ok);
    assert_int_equal(v.n_entries, 0);
    assert_int_equal(v.n_heads, 0);
    st_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_writers),
        cmocka_unit_test(test_open_while_another_commits),
        cmocka_unit_test(test_verify_no_heads),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
