/* Unit tests for src/govern/audit_bind.c and the principal changes it
 * binds (principal.c): each change is an entry carrying its row; verify
 * holds the principal table to the log, naming the row that differs; the
 * last active admin cannot be revoked; rotate revokes one row and adds
 * another under the same name. */
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

typedef struct fixture {
    char path[256];
    st_store *st;
    gv_audit *log;
} fixture;

static void must(int rc, const dt_error *err)
{
    if (rc < 0) fprintf(stderr, "%s\n", err->msg);
    assert_int_equal(rc, DT_OK);
}

/* A store with a signing key and an empty log. */
static void open_store(fixture *f, const char *name)
{
    dt_error err;
    dt_error_clear(&err);
    tmpdir_path(f->path, sizeof f->path, name);
    char key[300];
    tmpdir_path(key, sizeof key, "bind.key"); /* made by the first create, shared after */
    must(st_open(f->path, key, ST_CREATE, &f->st, &err), &err);
    must(st_begin(f->st, &err), &err);
    must(gv_audit_init_key(f->st, &err), &err);
    must(st_commit(f->st, &err), &err);
    must(gv_audit_open(f->st, &f->log, &err), &err);
}

static void close_store(fixture *f)
{
    gv_audit_close(f->log);
    st_close(f->st);
}

/* One change and its entry, as src/service makes them: the work writes
 * the rows and queues the entry naming them, in one transaction. */
typedef struct change {
    fixture *f;
    const char *op, *name;
    gv_role role;
    char token[GV_TOKEN_LEN + 1];
} change;

static int queue(change *c, char *const *binds, size_t n, dt_error *err)
{
    gv_entry e = {.principal = "admin", .purpose = "test", .action = c->op,
                  .outcome = "allowed", .subjects = (const char *const *)binds,
                  .n_subjects = n};
    return gv_audit_add(c->f->log, &e, err);
}

static int do_change(void *ctx, dt_error *err)
{
    change *c = ctx;
    char *b[2] = {NULL, NULL};
    int rc = !strcmp(c->op, "add")
                 ? gv_principal_add(c->f->st, c->name, c->role, NULL, c->token, &b[0], err)
             : !strcmp(c->op, "revoke")
                 ? gv_principal_revoke(c->f->st, c->name, &b[0], err)
                 : gv_principal_rotate(c->f->st, c->name, c->token, &b[0], &b[1], err);
    if (rc == DT_OK) rc = queue(c, b, b[1] ? 2 : 1, err);
    dt_free(b[0]);
    dt_free(b[1]);
    return rc;
}

static int run(fixture *f, const char *op, const char *name, gv_role role, dt_error *err)
{
    change c = {.f = f, .op = op, .name = name, .role = role};
    int rc = gv_audit_commit_with(f->log, do_change, &c, NULL, err);
    if (rc < 0) gv_audit_drop(f->log);
    return rc;
}

static void sql(const fixture *f, const char *text)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static gv_verdict verify(const fixture *f)
{
    dt_error err;
    dt_error_clear(&err);
    gv_verdict v;
    must(gv_audit_verify(f->st, NULL, &v, &err), &err);
    return v;
}

static void expect_bad(const fixture *f, const char *why)
{
    gv_verdict v = verify(f);
    if (v.ok || !strstr(v.why, why)) fprintf(stderr, "verdict: %d %s\n", v.ok, v.why);
    assert_false(v.ok);
    assert_non_null(strstr(v.why, why));
}

static void test_bound_principals(void **state)
{
    (void)state;
    fixture f;
    open_store(&f, "bound.db");
    dt_error err;
    dt_error_clear(&err);
    must(run(&f, "add", "root", GV_ADMIN, &err), &err);
    must(run(&f, "add", "ann", GV_ANALYST, &err), &err);
    must(run(&f, "revoke", "ann", 0, &err), &err);
    gv_verdict v = verify(&f);
    assert_true(v.ok);
    assert_int_equal(v.n_entries, 3);

    sql(&f, "UPDATE principal SET revoked = NULL WHERE name = 'ann'");
    expect_bad(&f, "principal 'ann' (row 2, analyst) is active, but entry 3 revoked it");
    sql(&f, "UPDATE principal SET revoked = 5 WHERE name = 'ann'");
    expect_bad(&f, "principal 'ann' (row 2, analyst) is not the row entry 3 logged");
    sql(&f, "DELETE FROM principal WHERE name = 'ann'");
    expect_bad(&f, "entry 3 logged the row principal:2, which the store no longer holds");
    sql(&f, "INSERT INTO principal VALUES(2, 'ann', 'admin', '', zeroblob(32), 1, 5)");
    expect_bad(&f, "principal 'ann' (row 2, admin) is not the row entry 3 logged");
    sql(&f, "DELETE FROM principal WHERE name = 'ann'; "
            "INSERT INTO principal VALUES(9, 'eve', 'admin', '', zeroblob(32), 1, NULL)");
    expect_bad(&f, "principal 'eve' (row 9, admin) is accounted for by no entry of the signed "
                   "log (3 entries)");
    /* a read showing a record of a source named "row" whose id spells eve's
     * row does not vouch for her: a record's subject never reads as a row's */
    st_principal eve = {.id = 9, .name = "eve", .role = "admin", .sources = "", .created = 1};
    char *bind;
    must(gv_bind_principal(&eve, &bind), &err);
    bind[3] = ':';
    gv_entry read = {.principal = "ann", .purpose = "test", .action = "resolve",
                     .outcome = "allowed", .subjects = (const char *const *)&bind,
                     .n_subjects = 1};
    must(gv_audit_add(f.log, &read, &err), &err);
    must(gv_audit_commit(f.log, NULL, &err), &err);
    dt_free(bind);
    expect_bad(&f, "principal 'eve' (row 9, admin) is accounted for by no entry");
    close_store(&f);
}

static void test_last_admin(void **state)
{
    (void)state;
    fixture f;
    open_store(&f, "admins.db");
    dt_error err;
    dt_error_clear(&err);
    must(run(&f, "add", "root", GV_ADMIN, &err), &err);
    assert_int_equal(run(&f, "revoke", "root", 0, &err), DT_EDENIED);
    assert_non_null(strstr(err.msg, "'root' is the last active admin"));
    must(run(&f, "add", "root2", GV_ADMIN, &err), &err);
    must(run(&f, "revoke", "root", 0, &err), &err);
    assert_int_equal(run(&f, "revoke", "root2", 0, &err), DT_EDENIED);
    /* rotating the last admin keeps one active */
    must(run(&f, "rotate", "root2", 0, &err), &err);
    assert_int_equal(run(&f, "revoke", "root2", 0, &err), DT_EDENIED);
    assert_int_equal(run(&f, "rotate", "nobody", 0, &err), DT_ENOTFOUND);
    gv_verdict v = verify(&f);
    assert_true(v.ok);
    assert_int_equal(v.n_entries, 4); /* the refused and failed changes left no entry */
    close_store(&f);
}

static int on_principal(void *ctx, const st_principal *p)
{
    int *n = ctx;
    if (!strcmp(p->name, "bob")) n[p->revoked ? 1 : 0]++;
    return DT_OK;
}

static void test_rotate_and_reuse(void **state)
{
    (void)state;
    fixture f;
    open_store(&f, "rotate.db");
    dt_error err;
    dt_error_clear(&err);
    must(run(&f, "add", "root", GV_ADMIN, &err), &err);
    change c = {.f = &f, .op = "add", .name = "bob", .role = GV_REVIEWER};
    must(gv_audit_commit_with(f.log, do_change, &c, NULL, &err), &err);
    char old_token[GV_TOKEN_LEN + 1];
    memcpy(old_token, c.token, sizeof old_token);
    c.op = "rotate";
    must(gv_audit_commit_with(f.log, do_change, &c, NULL, &err), &err);
    assert_string_not_equal(old_token, c.token);
    gv_principal who;
    assert_int_equal(gv_authenticate(f.st, old_token, &who, &err), DT_EAUTH);
    must(gv_authenticate(f.st, c.token, &who, &err), &err);
    assert_string_equal(who.name, "bob");
    assert_int_equal(who.role, GV_REVIEWER);
    gv_principal_fini(&who);
    /* revoked, then the name again: a new principal */
    must(run(&f, "revoke", "bob", 0, &err), &err);
    assert_int_equal(run(&f, "add", "root", GV_ADMIN, &err), DT_EINVAL);
    must(run(&f, "add", "bob", GV_AUDITOR, &err), &err);
    int n[2] = {0, 0};
    must(st_principals_each(f.st, on_principal, n, &err), &err);
    assert_int_equal(n[0], 1);
    assert_int_equal(n[1], 2);
    gv_verdict v = verify(&f);
    if (!v.ok) fprintf(stderr, "%s\n", v.why);
    assert_true(v.ok);
    assert_int_equal(v.n_entries, 5);
    close_store(&f);
}

static void test_policies_and_index(void **state)
{
    (void)state;
    fixture f;
    open_store(&f, "policy.db");
    dt_error err;
    dt_error_clear(&err);
    int64_t src, version;
    must(st_begin(f.st, &err), &err);
    must(st_source_id(f.st, "benefits", &src, &err), &err);
    must(st_policy_put(f.st, src, "purposes: {}\n", "steward", 7, &version, &err), &err);
    must(st_commit(f.st, &err), &err);
    expect_bad(&f, "the policy of source 'benefits', version 1 is accounted for by no entry");
    /* the same row, bound by an entry */
    st_policy_row row = {.source = "benefits", .text = "purposes: {}\n", .set_by = "steward",
                         .version = 1, .time = 7};
    char *bind;
    must(gv_bind_policy(&row, &bind), &err);
    gv_entry e = {.principal = "steward", .purpose = "test", .action = "policy.set",
                  .outcome = "allowed", .subjects = (const char *const *)&bind, .n_subjects = 1};
    must(gv_audit_add(f.log, &e, &err), &err);
    must(gv_audit_commit(f.log, NULL, &err), &err);
    dt_free(bind);
    assert_true(verify(&f).ok);
    sql(&f, "UPDATE policy SET text = 'purposes: {x: 1}' WHERE version = 1");
    expect_bad(&f, "the policy of source 'benefits', version 1 is not the row entry 1 logged");
    sql(&f, "UPDATE policy SET text = 'purposes: {}\n' WHERE version = 1; "
            "INSERT INTO audit_subject VALUES(7, 0, 'benefits:42')");
    expect_bad(&f, "the disclosures index holds subject 'benefits:42' under entry 7");
    close_store(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound_principals),
        cmocka_unit_test(test_last_admin),
        cmocka_unit_test(test_rotate_and_reuse),
        cmocka_unit_test(test_policies_and_index),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
