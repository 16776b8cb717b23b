/* Unit tests of the record dt_store_resolve reads (src/service/
 * store_read.c, resolve.c): a key that is not a column of the source, a
 * value holding a NUL, and a value that cannot be standardized are each
 * an error naming the field (dt_error.field), where they used to be
 * dropped, cut short or nulled without a word and changed the answer.
 * FEBRL dataset4: 300 originals and their duplicates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "dovetail.h"
#include "util/util.h"

#include "tmpdir.h"
#include "febrl_store.h"

/* rec-1070-dup-0 of dataset4b as a query of source a; `postcode` is the
 * key to use for the postcode, `dob` the birth date. */
static char *record(const char *postcode, const char *dob, const char *suburb)
{
    static char text[1024];
    snprintf(text, sizeof text,
             "{\"rec_id\": \"q-1\", \"given_name\": \"michaela\", \"surname\": \"neumann\", "
             "\"street_number\": \"8\", \"address_1\": \"stanley street\", "
             "\"suburb\": \"%s\", \"%s\": \"4223\", \"state\": \"nsw\", "
             "\"date_of_birth\": \"%s\", \"soc_sec_id\": \"5304218\"}",
             suburb, postcode, dob);
    return text;
}

static dt_store *g_store;
static char g_analyst[DT_TOKEN_SIZE];

static int setup(void **state)
{
    if (tmpdir_setup(state) < 0) return -1;
    febrl_tokens tok;
    febrl_store_make(300, &tok, &g_store);
    memcpy(g_analyst, tok.analyst, sizeof g_analyst);
    dt_error err;
    dt_link_options opts = {0};
    int64_t version;
    must(dt_store_train(g_store, &(dt_request){tok.admin, "test"}, &opts, &version, &err), &err);
    return 0;
}

static int teardown(void **state)
{
    dt_store_close(g_store);
    return tmpdir_teardown(state);
}

/* Resolves json against b; asserts DT_EINPUT naming `field`, with a
 * message that holds `mention`. */
static void expect_refused(const char *json, const char *field, const char *mention)
{
    dt_error err;
    dt_resolution *r = NULL;
    int rc = dt_store_resolve(g_store, &(dt_request){g_analyst, "test"}, "b", json, &r, &err);
    if (rc != DT_EINPUT || !strstr(err.msg, mention))
        fprintf(stderr, "got %d \"%s\"; wanted '%s'\n", rc, err.msg, mention);
    assert_int_equal(rc, DT_EINPUT);
    assert_null(r);
    assert_string_equal(err.field, field);
    assert_non_null(strstr(err.msg, mention));
}

static double top_weight(const char *json)
{
    dt_error err;
    dt_resolution *r = NULL;
    must(dt_store_resolve(g_store, &(dt_request){g_analyst, "test"}, "b", json, &r, &err), &err);
    assert_true(r->n_candidates >= 1);
    assert_string_equal(r->candidates[0].record_id, "rec-1070-org");
    double w = r->candidates[0].weight;
    dt_resolution_free(r);
    return w;
}

static void test_good_record(void **state)
{
    (void)state;
    /* every column used: the postcode agrees, so it adds to the weight */
    double full = top_weight(record("postcode", "19151111", "winston hills"));
    double no_postcode = top_weight("{\"rec_id\": \"q-1\", \"given_name\": \"michaela\", "
                                    "\"surname\": \"neumann\", \"street_number\": \"8\", "
                                    "\"address_1\": \"stanley street\", \"suburb\": "
                                    "\"winston hills\", \"state\": \"nsw\", \"date_of_birth\": "
                                    "\"19151111\", \"soc_sec_id\": \"5304218\"}");
    assert_true(full > no_postcode + 1);
}

static void test_unknown_key(void **state)
{
    (void)state;
    expect_refused(record("zipcode", "19151111", "winston hills"), "zipcode",
                   "record field 'zipcode' is not a column of source 'b' (its columns: rec_id, "
                   "given_name, surname, date_of_birth, soc_sec_id, street_number, address_1, "
                   "address_2, suburb, postcode, state)");
}

static void test_nul_in_value(void **state)
{
    (void)state;
    expect_refused(record("postcode", "19151111", "winston\\u0000 hills"), "suburb",
                   "record field 'suburb' holds a NUL character");
}

static void test_impossible_date(void **state)
{
    (void)state;
    expect_refused(record("postcode", "19900231", "winston hills"), "date_of_birth",
                   "record field 'date_of_birth': '19900231' is not a valid date (format "
                   "YYYYMMDD)");
    expect_refused(record("postcode", "1915-11-11", "winston hills"), "date_of_birth",
                   "'1915-11-11' is not a valid date");
    /* an empty value is no value: allowed, as a left-out key is */
    dt_error err;
    dt_resolution *r = NULL;
    must(dt_store_resolve(g_store, &(dt_request){g_analyst, "test"}, "b",
                          record("postcode", "", "winston hills"), &r, &err), &err);
    dt_resolution_free(r);
}

/* Out of memory at each allocation of a resolve in turn: the call fails
 * with DT_ENOMEM and says so, or succeeds. A stored record whose values
 * could not be read for want of memory was reported unreadable (the flat
 * reader answers 1 for both). */
static void test_out_of_memory(void **state)
{
    (void)state;
    int n_failed = 0, k;
    for (k = 1; k < 100000; k += k < 600 ? 1 : k / 8) {
        dt_error err;
        dt_error_clear(&err);
        dt_resolution *r = NULL;
        util_fail_after(k);
        int rc = dt_store_resolve(g_store, &(dt_request){g_analyst, "test"}, "b",
                                  record("postcode", "19151111", "winston hills"), &r, &err);
        util_fail_after(0);
        dt_resolution_free(r);
        if (rc == DT_OK) break;
        if (rc != DT_ENOMEM || strstr(err.msg, "unreadable"))
            fail_msg("allocation %d: %d \"%s\"", k, rc, err.msg);
        n_failed++;
    }
    assert_true(n_failed > 50);
    assert_true(k < 100000);
    top_weight(record("postcode", "19151111", "winston hills")); /* the handle still works */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_record),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_nul_in_value),
        cmocka_unit_test(test_impossible_date),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
