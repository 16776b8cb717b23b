/* Unit tests for src/norm/ident.c: identifiers with their rules,
 * postcodes, phones, sex codes and street addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "norm/norm.h"

typedef int (*norm_fn)(util_buf *out, const char *s, size_t n);

/* Runs fn on s into a buffer holding "<" and checks the appended text, or
 * with want NULL that it fails with DT_EINPUT and leaves "<" alone. */
static void check(norm_fn fn, const char *name, const char *s, const char *want)
{
    util_buf b = {0};
    assert_int_equal(util_buf_putc(&b, '<'), DT_OK);
    int rc = fn(&b, s, strlen(s));
    if (want && (rc != DT_OK || strcmp(b.data + 1, want) != 0))
        fail_msg("%s(\"%s\") = %s \"%s\", want \"%s\"", name, s, dt_errname(rc), b.data + 1,
                 want);
    if (!want && (rc != DT_EINPUT || strcmp(b.data, "<") != 0))
        fail_msg("%s(\"%s\") = %s \"%s\", want DT_EINPUT", name, s, dt_errname(rc), b.data);
    util_buf_fini(&b);
}

static const norm_ident_rules *g_rules; /* rules for ident_with_rules */

static int ident_with_rules(util_buf *out, const char *s, size_t n)
{
    return norm_ident(out, s, n, g_rules);
}

static int postcode5(util_buf *out, const char *s, size_t n)
{
    return norm_postcode(out, s, n, 5);
}

static int postcode_any(util_buf *out, const char *s, size_t n)
{
    return norm_postcode(out, s, n, 0);
}

#define IDENT(s, want) check(ident_with_rules, "ident", (s), (want))

static void test_ident_plain(void **state)
{
    (void)state;
    g_rules = NULL;
    IDENT("123-45-6789", "123456789");
    IDENT(" 12 34 ", "1234");
    IDENT("A1B2", "12");
    IDENT("", NULL);
    IDENT("n/a", NULL);
    norm_ident_rules len = {.min_len = 8, .max_len = 9};
    g_rules = &len;
    IDENT("1234567", NULL);
    IDENT("12345678", "12345678");
    IDENT("123456789", "123456789");
    IDENT("1234567890", NULL);
}

static void test_ident_ssn(void **state)
{
    (void)state;
    norm_ident_rules ssn = {.min_len = 9, .max_len = 9, .ssn = 1, .reject_repeated = 1};
    g_rules = &ssn;
    IDENT("123-45-6789", "123456789");
    IDENT("000-12-3456", NULL); /* area 000 */
    IDENT("666-12-3456", NULL); /* area 666 */
    IDENT("123-00-4567", NULL); /* group 00 */
    IDENT("123-45-0000", NULL); /* serial 0000 */
    IDENT("900-12-3456", "900123456"); /* 900-999 allowed: synthetic data */
    IDENT("111-11-1111", NULL); /* repeated */
    IDENT("999999999", NULL);
    IDENT("12-345-678", NULL);  /* 8 digits */
    norm_ident_rules ssn_only = {.ssn = 1};
    g_rules = &ssn_only;
    IDENT("1234567890", NULL); /* the SSN rule itself demands 9 digits */
    IDENT("222-22-2222", "222222222"); /* repeated allowed without the rule */
}

static void test_postcode(void **state)
{
    (void)state;
    check(postcode5, "postcode", "02139-4307", "02139");
    check(postcode5, "postcode", " 2139 ", "2139");
    check(postcode_any, "postcode", "sw1a 1aa", "SW1A1AA");
    check(postcode_any, "postcode", "K1A 0B1", "K1A0B1");
    check(postcode_any, "postcode", "2000", "2000");
    check(postcode_any, "postcode", " - ", NULL);
    check(postcode_any, "postcode", "", NULL);
}

static void test_phone(void **state)
{
    (void)state;
    check(norm_phone, "phone", "(617) 555-0123", "6175550123");
    check(norm_phone, "phone", "+1 617 555 0123", "6175550123");  /* country code dropped */
    check(norm_phone, "phone", "+61 2 9876 5432", "1298765432"); /* keeps the last 10 */
    check(norm_phone, "phone", "555-0123", "5550123");
    check(norm_phone, "phone", "617.555.0123 ext. 45", "6175550123");
    check(norm_phone, "phone", "617-555-0123x45", "6175550123");
    check(norm_phone, "phone", "Tel: 555 0123", "5550123");
    check(norm_phone, "phone", "555-012", NULL);
    check(norm_phone, "phone", "unknown", NULL);
    check(norm_phone, "phone", "", NULL);
    /* a long run of digits keeps its tail */
    check(norm_phone, "phone", "00000000000000000000000000000000000000000000000000000000000000"
                               "00000000001234567890", "1234567890");
}

static void test_sex(void **state)
{
    (void)state;
    const char *male[] = {"m", "M", "Male", "MALE", "man", "h", "Hombre", "masculino", " m "};
    const char *female[] = {"f", "F", "Female", "woman", "w", "Mujer", "FEMENINO", "f."};
    for (size_t i = 0; i < DT_ARRAY_LEN(male); i++) check(norm_sex, "sex", male[i], "m");
    for (size_t i = 0; i < DT_ARRAY_LEN(female); i++) check(norm_sex, "sex", female[i], "f");
    const char *unknown[] = {"u", "x", "U", "unknown", "", "?", "1", "mf", "male female"};
    for (size_t i = 0; i < DT_ARRAY_LEN(unknown); i++) check(norm_sex, "sex", unknown[i], NULL);
}

static void test_address(void **state)
{
    (void)state;
    check(norm_address, "address", "123 North Main Street", "123 n main st");
    check(norm_address, "address", "123 N. Main St.", "123 n main st");
    check(norm_address, "address", "45 Rue de l'Église", "45 rue de l eglise");
    check(norm_address, "address", "Apartment 4B, 77 Sunset Boulevard",
          "apt 4b 77 sunset blvd");
    check(norm_address, "address", "Unit 3/12 Smith Crescent", "unit 3 12 smith cres");
    check(norm_address, "address", "Flat 2, 10 Downing Place", "flat 2 10 downing pl");
    check(norm_address, "address", "9 Elm Drive Suite 200", "9 elm dr ste 200");
    check(norm_address, "address", "P.O. Box 123", "po box 123");
    check(norm_address, "address", "1 Kings Road West", "1 kings rd w");
    check(norm_address, "address", "22 Ocean Parade", "22 ocean pde");
    check(norm_address, "address", "5 Lake Terrace", "5 lake tce");
    check(norm_address, "address", "7 Banksia Circuit", "7 banksia cct");
    check(norm_address, "address", "3 Miller Close", "3 miller cl");
    check(norm_address, "address", "1600 Pennsylvania Avenue NW", "1600 pennsylvania ave nw");
    check(norm_address, "address", "Pacific Highway", "pacific hwy");
    check(norm_address, "address", "10 Washington Square South", "10 washington sq s");
    check(norm_address, "address", "4 Oak Court East", "4 oak ct e");
    check(norm_address, "address", "12 Mill Lane", "12 mill ln");
    check(norm_address, "address", "", "");
}

/* Each street word maps to its abbreviation and each abbreviation to
 * itself; this also proves the table is sorted (bsearch finds them all). */
static void test_address_table(void **state)
{
    (void)state;
    /* A sample across the table's kinds: US suffixes, Commonwealth forms,
     * directions, unit words and misspellings. */
    const char *pairs[][2] = {
        {"avenue", "ave"},   {"boulevard", "blvd"}, {"crescent", "cres"}, {"cresent", "cres"},
        {"terrace", "tce"},  {"circuit", "cct"},    {"parade", "pde"},    {"north", "n"},
        {"southwest", "sw"}, {"apartment", "apt"},  {"suite", "ste"},     {"str", "st"},
        {"street", "st"},    {"highway", "hwy"},    {"saint", "st"},
    };
    for (size_t i = 0; i < DT_ARRAY_LEN(pairs); i++) {
        check(norm_address, "address", pairs[i][0], pairs[i][1]);
        check(norm_address, "address", pairs[i][1], pairs[i][1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ident_plain), cmocka_unit_test(test_ident_ssn),
        cmocka_unit_test(test_postcode),    cmocka_unit_test(test_phone),
        cmocka_unit_test(test_sex),         cmocka_unit_test(test_address),
        cmocka_unit_test(test_address_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
