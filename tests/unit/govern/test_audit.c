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

#include "govern/audit_int.h"
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

/* A new store at g_path with its log's key, as init leaves it. */
static st_store *create_store(void)
{
    dt_error err;
    dt_error_clear(&err);
    st_store *s = NULL;
    tmpdir_remove_store(g_path);
    assert_int_equal(st_open(g_path, g_key, ST_CREATE, &s, &err), DT_OK);
    assert_int_equal(st_begin(s, &err), DT_OK);
    assert_int_equal(gv_audit_init_key(s, &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
    return s;
}

static void test_two_writers(void **state)
{
    (void)state;
    dt_error err;
    dt_error_clear(&err);
    st_store *s1 = NULL, *s2 = NULL;
    s1 = create_store();
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
    s1 = create_store();
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

static int64_t count_rows(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void run_sql(const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void expect_verdict(st_store *s, int ok, int64_t n_unsigned, const char *why)
{
    dt_error err;
    dt_error_clear(&err);
    gv_verdict v;
    assert_int_equal(gv_audit_verify(s, NULL, &v, &err), DT_OK);
    if (v.ok != ok) fprintf(stderr, "verdict: %s\n", v.why);
    assert_int_equal(v.ok, ok);
    if (ok) assert_int_equal(v.n_unsigned, n_unsigned);
    else if (!strstr(v.why, why)) fail_msg("verdict: %s", v.why);
}

/* A log signed only now and then (a server's committer) seals its end at
 * each commit: it opens and verifies with entries past its newest head,
 * signs on demand, and still refuses what is written outside dovetail. A
 * head per commit made the heads half the size of the log itself. */
static void test_sealed_end(void **state)
{
    (void)state;
    dt_error err;
    dt_error_clear(&err);
    st_store *s1 = NULL, *s2 = NULL;
    s1 = create_store();
    gv_audit *a1 = NULL, *a2 = NULL;
    assert_int_equal(gv_audit_open(s1, &a1, &err), DT_OK);
    append(a1, "one", 1); /* signed: the default signs every commit */
    gv_audit_sign_every(a1, 3600 * 1000);
    for (int i = 2; i <= 5; i++) append(a1, "one", i);
    assert_false(gv_audit_is_signed(a1));
    assert_int_equal(count_rows("SELECT count(*) FROM tree_head"), 1);
    expect_verdict(s1, 1, 4, NULL);

    /* another handle (a process started after a crash) opens on the sealed
     * end and appends after it; its head covers all */
    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &s2, &err), DT_OK);
    int rc = gv_audit_open(s2, &a2, &err);
    if (rc != DT_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, DT_OK);
    append(a2, "two", 6);
    expect_verdict(s1, 1, 0, NULL);
    append(a1, "one", 7); /* a1 takes up a2's head and seals again */
    expect_verdict(s1, 1, 1, NULL);

    /* signing on demand; a second handle's sign after it adds no head (its
     * size is taken: a second row of that size was a constraint error) */
    assert_int_equal(gv_audit_sign(a2, 1, &err), DT_OK);
    assert_int_equal(gv_audit_sign(a1, 0, &err), DT_OK);
    assert_true(gv_audit_is_signed(a1));
    assert_int_equal(count_rows("SELECT max(size) FROM tree_head"), 7);
    expect_verdict(s1, 1, 0, NULL);

    /* a changed entry in the sealed tail fails verify */
    append(a1, "one", 8);
    append(a1, "one", 9);
    run_sql("UPDATE audit SET principal = 'mallory' WHERE seq = 9");
    expect_verdict(s1, 0, 0, "changed after it was written");
    run_sql("UPDATE audit SET principal = 'one' WHERE seq = 9");
    expect_verdict(s1, 1, 2, NULL);

    /* a well-formed entry appended past the sealed end, its leaf right (the
     * leaf is a plain hash: anyone can make one): refused at open, and by
     * verify */
    const char *subjects[] = {"benefits:1"};
    st_audit_entry forged = {.seq = 10, .time = 1, .principal = "one", .purpose = "test",
                             .action = "resolve", .fields = "[]", .outcome = "allowed",
                             .subjects = subjects, .n_subjects = 1};
    mk_hash leaf;
    assert_int_equal(au_leaf(&forged, 1, leaf), DT_OK);
    forged.leaf_hash = leaf;
    forged.leaf_hash_len = MK_HASH;
    assert_int_equal(st_begin(s2, &err), DT_OK);
    assert_int_equal(st_audit_put(s2, &forged, &err), DT_OK);
    assert_int_equal(st_commit(s2, &err), DT_OK);
    expect_verdict(s1, 0, 0, "no signed head and no sealed end");
    gv_audit *a3 = NULL;
    assert_int_equal(gv_audit_open(s2, &a3, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "no signed head or sealed end covers"));

    /* ... and sealing it again by hand (no key: the MAC of the old end,
     * moved to the new size) is refused too */
    run_sql("UPDATE log_end SET size = 10");
    assert_int_equal(gv_audit_open(s2, &a3, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "its sealed end does not match"));
    expect_verdict(s1, 0, 0, "no signed head and no sealed end");

    gv_audit_close(a1);
    gv_audit_close(a2);
    st_close(s1);
    st_close(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_writers),
        cmocka_unit_test(test_open_while_another_commits),
        cmocka_unit_test(test_verify_no_heads),
        cmocka_unit_test(test_sealed_end),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
