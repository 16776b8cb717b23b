/* Unit tests of the table of governed calls (src/service/calls.c) and of
 * what req_begin does from a row: its invariants hold and a broken table
 * fails them; a call names nothing about the store before the token is
 * checked; every public call takes a NULL dt_error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "service/service_int.h"

#include "tmpdir.h"

static void must(int rc, const dt_error *err)
{
    if (rc < 0) fprintf(stderr, "%s\n", err->msg);
    assert_int_equal(rc, DT_OK);
}

static void test_table_keeps_its_invariants(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(svc_calls_check(svc_calls, SVC_N_CALLS, &why), 0);
    size_t n = 0;
    const dt_call_info *info = dt_calls(&n);
    assert_int_equal(n, SVC_N_CALLS);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(info[i].action, svc_calls[i].action);
        assert_int_equal(info[i].is_write, (svc_calls[i].flags & SVC_WRITE) != 0);
        assert_true(info[i].roles[0] != '\0');
    }
    assert_string_equal(info[SVC_STORE_INGEST].roles, "steward");
    assert_string_equal(info[SVC_ENTITY_EXPORT].roles, "analyst,reviewer");
    assert_int_equal(info[SVC_ENTITY_EXPORT].is_write, 0);
}

/* A copy of the table with one row changed by `mutate` fails the check. */
static void expect_broken(void (*mutate)(svc_call *t), const char *fault)
{
    static svc_call t[SVC_N_CALLS];
    memcpy(t, svc_calls, sizeof t);
    mutate(t);
    const char *why = NULL;
    assert_int_equal(svc_calls_check(t, SVC_N_CALLS, &why), -1);
    assert_non_null(why);
    if (fault) assert_string_equal(why, fault);
}

static void dup_action(svc_call *t) { t[SVC_ENTITY_GET].action = t[SVC_ENTITY_EXPORT].action; }
static void admin_reads(svc_call *t) { t[SVC_ENTITY_GET].roles |= R_ADMIN; }
static void no_role(svc_call *t) { t[SVC_AUDIT_HEAD].roles = 0; }
static void bad_name(svc_call *t) { t[SVC_POLICY_GET].action = "policyGet"; }
static void out_of_place(svc_call *t) { t[SVC_POLICY_GET].id = SVC_POLICY_SET; }

static void test_broken_tables_fail(void **state)
{
    (void)state;
    expect_broken(dup_action, "entity.export");
    expect_broken(admin_reads, "entity.get");
    expect_broken(no_role, "audit.head");
    expect_broken(bad_name, "policyGet");
    expect_broken(out_of_place, NULL);
}

/* A store of the febrl4 example with one admin; the admin's token. */
static dt_store *make_store(const char *name, char admin[DT_TOKEN_SIZE])
{
    char path[300];
    tmpdir_path(path, sizeof path, name);
    dt_error err;
    char key[300];
    tmpdir_path(key, sizeof key, "calls.key"); /* one key file serves every store here */
    must(dt_store_init_keyed(path, DT_SRC_ROOT "/examples/febrl4.yaml", key, "admin", admin, &err),
         &err);
    dt_store *s = NULL;
    must(dt_store_open_keyed(path, key, &s, &err), &err);
    return s;
}

static int count_one(void *ctx, const dt_principal_info *p)
{
    (void)p;
    ++*(int *)ctx;
    return 0;
}

static void test_nothing_said_before_the_token(void **state)
{
    (void)state;
    char admin[DT_TOKEN_SIZE];
    dt_store *s = make_store("t1.db", admin);
    dt_error err;
    dt_request stranger = {"dt_0000", "pi"}, as_admin = {admin, "setup"};
    char *text = NULL;
    int64_t version = 0;
    /* an unknown source: a stranger learns only that its token is bad */
    assert_int_equal(dt_policy_get(s, &stranger, "nosuch", &text, &version, &err), DT_EAUTH);
    assert_null(strstr(err.msg, "nosuch"));
    assert_null(strstr(err.msg, "it has"));
    dt_resolution *r = NULL;
    assert_int_equal(dt_store_resolve(s, &stranger, "nosuch", "{}", &r, &err), DT_EAUTH);
    assert_null(strstr(err.msg, "it has"));
    /* the admin is told which sources there are */
    assert_int_equal(dt_policy_get(s, &as_admin, "nosuch", &text, &version, &err), DT_EINVAL);
    assert_non_null(strstr(err.msg, "it has: a, b"));
    assert_null(text);
    /* the source is known and the admin may read its policy: none yet */
    must(dt_policy_get(s, &as_admin, "a", &text, &version, &err), &err);
    assert_null(text);
    assert_int_equal(version, 0);
    int n = 0;
    must(dt_principal_list(s, &as_admin, count_one, &n, &err), &err);
    assert_int_equal(n, 1);
    dt_store_close(s);
}

/* A store whose audit key was damaged: every call fails at the log's
 * opening, the path that wrote through err unguarded. */
static void test_null_err_everywhere(void **state)
{
    (void)state;
    char admin[DT_TOKEN_SIZE], path[300];
    dt_store *s = make_store("t2.db", admin);
    dt_store_close(s);
    tmpdir_path(path, sizeof path, "t2.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = 'zz' WHERE key = "
                                      "'audit_public_key'", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char key[300];
    tmpdir_path(key, sizeof key, "calls.key");
    assert_true(dt_store_open_keyed(path, key, &s, NULL) == DT_OK);
    dt_request as_admin = {admin, "setup"};
    int n = 0;
    char *text = NULL, token[DT_TOKEN_SIZE];
    int64_t version = 0;
    uint64_t n_rows = 0;
    dt_resolution *r = NULL;
    assert_true(dt_principal_list(s, &as_admin, count_one, &n, NULL) < 0);
    assert_true(dt_principal_add(s, &as_admin, "x", "analyst", NULL, token, NULL) < 0);
    assert_true(dt_principal_revoke(s, &as_admin, "x", NULL) < 0);
    assert_true(dt_policy_get(s, &as_admin, "a", &text, &version, NULL) < 0);
    assert_true(dt_audit_head(s, &as_admin, &text, NULL) < 0);
    assert_true(dt_store_export(s, &as_admin, "/nonexistent/x.csv", &n_rows, NULL) < 0);
    assert_true(dt_store_resolve(s, &as_admin, "a", "{}", &r, NULL) < 0);
    assert_true(dt_disclosures(s, &as_admin, "a:1", NULL, NULL, NULL, NULL) < 0);
    dt_store_close(s);
    assert_true(dt_store_open("/nonexistent/dir/s.db", &s, NULL) < 0);
    dt_config *cfg = NULL;
    assert_true(dt_config_load("/nonexistent.yaml", &cfg, NULL) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_keeps_its_invariants),
        cmocka_unit_test(test_broken_tables_fail),
        cmocka_unit_test(test_nothing_said_before_the_token),
        cmocka_unit_test(test_null_err_everywhere),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
