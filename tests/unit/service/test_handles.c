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
#include "febrl_store.h"

static void test_two_handles(void **state)
{
    (void)state;
    febrl_tokens tok;
    dt_store *h1 = NULL, *h2 = NULL;
    febrl_store_make(300, &tok, &h1);
    char store[300];
    tmpdir_path(store, sizeof store, "s.db");
    dt_error err;
    char key[300];
    tmpdir_path(key, sizeof key, "s.key");
    must(dt_store_open_keyed(store, key, &h2, &err), &err); /* before any model */
    dt_request as_analyst = {tok.analyst, "test"};
    int64_t version;

    const char *rec = "{\"rec_id\": \"q-1\", \"given_name\": \"michaela\", \"surname\": \"neumann\", "
                      "\"street_number\": \"8\", \"address_1\": \"stanley street\", "
                      "\"suburb\": \"winston hills\", \"postcode\": \"4223\", \"state\": \"nsw\", "
                      "\"date_of_birth\": \"19151111\", \"soc_sec_id\": \"5304218\"}";
    dt_resolution *r = NULL;
    assert_int_equal(dt_store_resolve(h2, &as_analyst, "b", rec, &r, &err), DT_EINVAL);
    assert_non_null(strstr(err.msg, "no model"));

    dt_link_options opts = {0};
    must(dt_store_train(h1, &(dt_request){tok.admin, "test"}, &opts, &version, &err), &err);
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
    must(dt_audit_verify(h2, &(dt_request){tok.auditor, "oversight"}, NULL, &v, &err), &err);
    assert_true(v.ok);
    /* init's admin, 3 principals, 2 policies, 2 ingests, the refused resolve,
     * train and two resolves: both handles' entries, in one unbroken log */
    assert_int_equal(v.n_entries, 12);
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
