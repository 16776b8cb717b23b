/* Unit tests of the public store API with two handles on one store, as a
 * long-running server and a command hold it: what one handle stores (a
 * model, audit entries) the other takes up on its next request. FEBRL
 * dataset4: 300 originals and their duplicates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dovetail.h"

#include "tmpdir.h"

/* The record number N of "rec-N-org" or "rec-N-dup-0"; -1 for a header. */
static long rec_number(const char *line)
{
    return strncmp(line, "rec-", 4) == 0 ? strtol(line + 4, NULL, 10) : -1;
}

/* The first n originals of dataset4a and their duplicates in dataset4b. */
static void write_subsets(const char *a_path, const char *b_path, int n)
{
    static char seen[10000];
    char line[1024];
    FILE *in = fopen(DT_TEST_DATA "/febrl/dataset4a.csv", "r"), *out = fopen(a_path, "w");
    assert_non_null(in);
    assert_non_null(out);
    for (int i = 0; i <= n && fgets(line, sizeof line, in); i++) {
        long k = rec_number(line);
        if (k >= 0 && k < (long)sizeof seen) seen[k] = 1;
        fputs(line, out);
    }
    fclose(in);
    fclose(out);
    in = fopen(DT_TEST_DATA "/febrl/dataset4b.csv", "r");
    out = fopen(b_path, "w");
    assert_non_null(in);
    assert_non_null(out);
    while (fgets(line, sizeof line, in)) {
        long k = rec_number(line);
        if (k < 0 || (k < (long)sizeof seen && seen[k])) fputs(line, out);
    }
    fclose(in);
    fclose(out);
}

static void write_policy(const char *path)
{
    time_t later = time(NULL) + 400L * 86400;
    char day[16];
    strftime(day, sizeof day, "%Y-%m-%d", gmtime(&later));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "purposes:\n  test:\n    allowed: true\n    agreement: T-1\n    expires: %s\n"
               "    fields: all\n    link_with: all\n", day);
    fclose(f);
}

static void must(int rc, const dt_error *err)
{
    if (rc < 0) fprintf(stderr, "%s\n", err->msg);
    assert_int_equal(rc, DT_OK);
}

static void test_two_handles(void **state)
{
    (void)state;
    char store[300], a_csv[300], b_csv[300], pol[300];
    tmpdir_path(store, sizeof store, "s.db");
    tmpdir_path(a_csv, sizeof a_csv, "a.csv");
    tmpdir_path(b_csv, sizeof b_csv, "b.csv");
    tmpdir_path(pol, sizeof pol, "policy.yaml");
    write_subsets(a_csv, b_csv, 300);
    write_policy(pol);
    dt_error err;
    char admin[DT_TOKEN_SIZE], steward[DT_TOKEN_SIZE], analyst[DT_TOKEN_SIZE], auditor[DT_TOKEN_SIZE];
    char key[300];
    tmpdir_path(key, sizeof key, "s.key");
    must(dt_store_init_keyed(store, DT_SRC_ROOT "/examples/febrl4.yaml", key, "admin", admin, &err),
         &err);
    dt_store *h1 = NULL, *h2 = NULL;
    must(dt_store_open_keyed(store, key, &h1, &err), &err);
    must(dt_store_open_keyed(store, key, &h2, &err), &err); /* before any model */
    dt_request as_admin = {admin, "setup"}, as_steward = {steward, "setup"},
               as_analyst = {analyst, "test"};
    must(dt_principal_add(h1, &as_admin, "steward", "steward", "a,b", steward, &err), &err);
    must(dt_principal_add(h1, &as_admin, "analyst", "analyst", NULL, analyst, &err), &err);
    must(dt_principal_add(h1, &as_admin, "auditor", "auditor", NULL, auditor, &err), &err);
    int64_t version;
    must(dt_policy_set(h1, &as_steward, "a", pol, &version, &err), &err);
    must(dt_policy_set(h1, &as_steward, "b", pol, &version, &err), &err);
    dt_ingest_options ia = {.source = "a", .path = a_csv}, ib = {.source = "b", .path = b_csv};
    must(dt_store_ingest(h1, &as_steward, &ia, NULL, &err), &err);
    must(dt_store_ingest(h1, &as_steward, &ib, NULL, &err), &err);

    const char *rec = "{\"rec_id\": \"q-1\", \"given_name\": \"michaela\", \"surname\": \"neumann\", "
                      "\"street_number\": \"8\", \"address_1\": \"stanley street\", "
                      "\"suburb\": \"winston hills\", \"postcode\": \"4223\", \"state\": \"nsw\", "
                      "\"date_of_birth\": \"19151111\", \"soc_sec_id\": \"5304218\"}";
    dt_resolution *r = NULL;
    assert_int_equal(dt_store_resolve(h2, &as_analyst, "b", rec, &r, &err), DT_EINVAL);
    assert_non_null(strstr(err.msg, "no model"));

    dt_link_options opts = {0};
    must(dt_store_train(h1, &(dt_request){admin, "test"}, &opts, &version, &err), &err);
    /* h2 takes up the model h1 stored, and its audit entries follow h1's */
    must(dt_store_resolve(h2, &as_analyst, "b", rec, &r, &err), &err);
    assert_true(r->n_candidates >= 1);
    assert_string_equal(r->candidates[0].source, "a");
    assert_string_equal(r->candidates[0].record_id, "rec-1070-org");
    assert_true(r->candidates[0].probability > 0.9);
    assert_true(r->entity[0] != '\0');
    dt_resolution_free(r);
    must(dt_store_resolve(h1, &as_analyst, "b", rec, &r, &err), &err);
    dt_resolution_free(r);

    dt_audit_verdict v;
    must(dt_audit_verify(h2, &(dt_request){auditor, "oversight"}, NULL, &v, &err), &err);
    assert_true(v.ok);
    /* 3 principals, 2 policies, 2 ingests, the refused resolve, train and two
     * resolves: both handles' entries, in one unbroken log */
    assert_int_equal(v.n_entries, 11);
    dt_store_close(h1);
    dt_store_close(h2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_handles),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
