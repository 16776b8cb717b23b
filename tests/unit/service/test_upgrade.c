/* Unit tests of the upgrade to schema 6 (src/store/sqlite.c) and the
 * baseline that binds an upgraded store's rows to its log
 * (src/service/access.c): a store whose log binds no row (as every store
 * before schema 6) is bound by one entry at its first request, and is held
 * to the log from then on; a baseline asked for again is refused by
 * verify; a wiped log is never bound afresh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "dovetail.h"
#include "govern/govern.h"

#include "tmpdir.h"

static void must(int rc, const dt_error *err)
{
    if (rc < 0) fprintf(stderr, "%s\n", err->msg);
    assert_int_equal(rc, DT_OK);
}

static void sql(const char *path, const char *text)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static char *sql_text(const char *path, const char *query)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, query, -1, &st, NULL), SQLITE_OK);
    char *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static void expect_text(const char *path, const char *query, const char *want)
{
    char *got = sql_text(path, query);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* A store as schema 5 left it: principals, and a log of entries that
 * bind no row (made here with the store's own key). */
static void make_schema5(const char *path, char admin[DT_TOKEN_SIZE],
                         char auditor[DT_TOKEN_SIZE], int n_entries)
{
    dt_error err;
    must(dt_store_init(path, DT_SRC_ROOT "/examples/febrl4.yaml", "admin", admin, &err), &err);
    dt_store *h;
    must(dt_store_open(path, &h, &err), &err);
    must(dt_principal_add(h, &(dt_request){admin, "setup"}, "auditor", "auditor", NULL, auditor,
                          &err), &err);
    dt_store_close(h);
    sql(path, "DELETE FROM audit_subject; DELETE FROM audit; DELETE FROM tree_head");
    st_store *st;
    gv_audit *log;
    must(st_open(path, ST_OPEN, &st, &err), &err);
    must(gv_audit_open(st, &log, &err), &err);
    for (int i = 0; i < n_entries; i++) {
        gv_entry e = {.principal = "admin", .purpose = "setup", .action = "principal.add",
                      .outcome = "allowed"};
        must(gv_audit_add(log, &e, &err), &err);
        must(gv_audit_commit(log, NULL, &err), &err);
    }
    gv_audit_close(log);
    st_close(st);
    sql(path, "UPDATE meta SET value = '5' WHERE key = 'schema_version'");
}

static dt_audit_verdict verify(const char *path, const char *auditor)
{
    dt_error err;
    dt_store *h;
    must(dt_store_open(path, &h, &err), &err);
    dt_audit_verdict v;
    must(dt_audit_verify(h, &(dt_request){auditor, "oversight"}, NULL, &v, &err), &err);
    dt_store_close(h);
    return v;
}

static void test_baseline(void **state)
{
    (void)state;
    char path[300], admin[DT_TOKEN_SIZE], auditor[DT_TOKEN_SIZE];
    tmpdir_path(path, sizeof path, "five.db");
    make_schema5(path, admin, auditor, 2);
    dt_audit_verdict v = verify(path, auditor);
    if (!v.ok) fprintf(stderr, "%s\n", v.why);
    assert_true(v.ok);
    assert_int_equal(v.n_entries, 3); /* the two entries and the baseline */
    expect_text(path, "SELECT value FROM meta WHERE key = 'schema_version'", "6");
    expect_text(path, "SELECT value FROM meta WHERE key = 'bind_baseline'", "done");
    expect_text(path, "SELECT subject FROM audit_subject WHERE seq = 3 AND i = 0",
                GV_BIND_BASELINE);
    expect_text(path, "SELECT count(*) FROM audit_subject WHERE seq = 3", "3");

    /* held to the log from then on */
    sql(path, "UPDATE principal SET role = 'admin' WHERE name = 'admin'; "
              "INSERT INTO principal(name, role, sources, token_hash, created) "
              "VALUES('eve', 'admin', '', zeroblob(32), 1)");
    v = verify(path, auditor);
    assert_false(v.ok);
    assert_non_null(strstr(v.why, "principal 'eve'"));
    /* a baseline asked for again, to launder her row, is refused */
    sql(path, "UPDATE meta SET value = 'due' WHERE key = 'bind_baseline'");
    v = verify(path, auditor);
    assert_false(v.ok);
    assert_non_null(strstr(v.why, "bound the store's principals and policies afresh"));
}

static void test_wiped_is_not_bound(void **state)
{
    (void)state;
    char path[300], admin[DT_TOKEN_SIZE], auditor[DT_TOKEN_SIZE];
    tmpdir_path(path, sizeof path, "wiped.db");
    make_schema5(path, admin, auditor, 0); /* no entry at all: a wiped log */
    dt_audit_verdict v = verify(path, auditor);
    assert_false(v.ok);
    assert_non_null(strstr(v.why, "principal 'admin' (row 1, admin) is accounted for by no entry"));
    char *due = sql_text(path, "SELECT value FROM meta WHERE key = 'bind_baseline'");
    assert_null(due);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline),
        cmocka_unit_test(test_wiped_is_not_bound),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
