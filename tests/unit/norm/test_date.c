/* Unit tests for src/norm/date.c: every supported format, one-digit
 * fields, partial dates, impossible dates and bad formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "norm/norm.h"

static void check_date(const char *s, const char *fmt, int y, int m, int d)
{
    norm_date out = {0};
    int rc = norm_date_parse(s, strlen(s), fmt, &out);
    if (rc != DT_OK) fail_msg("parse(\"%s\", \"%s\") = %s", s, fmt, dt_errname(rc));
    if (out.year != y || out.month != m || out.day != d)
        fail_msg("parse(\"%s\", \"%s\") = %d-%d-%d, want %d-%d-%d", s, fmt, out.year, out.month,
                 out.day, y, m, d);
}

/* The parse must fail with code and leave out untouched. */
static void check_bad(const char *s, const char *fmt, int code)
{
    norm_date out = {7, 7, 7};
    int rc = norm_date_parse(s, strlen(s), fmt, &out);
    if (rc != code) fail_msg("parse(\"%s\", \"%s\") = %s, want %s", s, fmt, dt_errname(rc),
                             dt_errname(code));
    assert_int_equal(out.year, 7);
    assert_int_equal(out.month, 7);
    assert_int_equal(out.day, 7);
}

static void test_formats(void **state)
{
    (void)state;
    check_date("19800105", "YYYYMMDD", 1980, 1, 5);
    check_date("01051980", "MMDDYYYY", 1980, 1, 5);
    check_date("05011980", "DDMMYYYY", 1980, 1, 5);
    check_date("1980-01-05", "YYYY-MM-DD", 1980, 1, 5);
    check_date("01/05/1980", "MM/DD/YYYY", 1980, 1, 5);
    check_date("05.01.1980", "DD.MM.YYYY", 1980, 1, 5);
    check_date("1980", "YYYY", 1980, 0, 0);
    check_date("1980-07", "YYYY-MM", 1980, 7, 0);
    check_date("12/31/1999", "MM/DD/YYYY", 1999, 12, 31);
    check_date("1980 01 05", "YYYY MM DD", 1980, 1, 5);
}

static void test_one_digit_fields(void **state)
{
    (void)state;
    check_date("1/5/1980", "MM/DD/YYYY", 1980, 1, 5);
    check_date("1/15/1980", "MM/DD/YYYY", 1980, 1, 15);
    check_date("5.1.1980", "DD.MM.YYYY", 1980, 1, 5);
    check_date("1980-1-5", "YYYY-MM-DD", 1980, 1, 5); /* DD last, after a separator */
    check_date("1980-10-5", "YYYY-MM-DD", 1980, 10, 5);
    /* without separators every field has a fixed width */
    check_bad("198015", "YYYYMMDD", DT_EINPUT);
    check_bad("1051980", "MMDDYYYY", DT_EINPUT);
    check_bad("123/5/1980", "MM/DD/YYYY", DT_EINPUT);
}

static void test_spaces(void **state)
{
    (void)state;
    check_date("  1980-01-05\t", "YYYY-MM-DD", 1980, 1, 5);
    check_date("19800105\r\n", "YYYYMMDD", 1980, 1, 5);
    check_bad("1980- 01-05", "YYYY-MM-DD", DT_EINPUT);
}

static void test_partial(void **state)
{
    (void)state;
    check_date("19800000", "YYYYMMDD", 1980, 0, 0);
    check_date("19800300", "YYYYMMDD", 1980, 3, 0);
    check_date("00/00/1980", "MM/DD/YYYY", 1980, 0, 0);
    check_date("0/0/1980", "MM/DD/YYYY", 1980, 0, 0);
    check_date("00.03.1980", "DD.MM.YYYY", 1980, 3, 0);
    check_date("1980-00-15", "YYYY-MM-DD", 1980, 0, 15); /* day kept, month unknown */
}

static void test_impossible(void **state)
{
    (void)state;
    check_bad("19810229", "YYYYMMDD", DT_EINPUT); /* 1981 is not a leap year */
    check_date("19800229", "YYYYMMDD", 1980, 2, 29);
    check_date("20000229", "YYYYMMDD", 2000, 2, 29); /* divisible by 400 */
    check_bad("19000229", "YYYYMMDD", DT_EINPUT);    /* divisible by 100 only */
    check_bad("1980-02-30", "YYYY-MM-DD", DT_EINPUT);
    check_bad("1980-04-31", "YYYY-MM-DD", DT_EINPUT);
    check_date("1980-03-31", "YYYY-MM-DD", 1980, 3, 31);
    check_bad("1980-13-01", "YYYY-MM-DD", DT_EINPUT);
    check_bad("1980-00-32", "YYYY-MM-DD", DT_EINPUT);
    check_bad("0999-01-01", "YYYY-MM-DD", DT_EINPUT);
    check_bad("0000", "YYYY", DT_EINPUT);
    check_date("1000", "YYYY", 1000, 0, 0);
    check_date("9999-12-31", "YYYY-MM-DD", 9999, 12, 31);
}

static void test_not_matching(void **state)
{
    (void)state;
    check_bad("", "YYYY-MM-DD", DT_EINPUT);
    check_bad("   ", "YYYY", DT_EINPUT);
    check_bad("1980/01/05", "YYYY-MM-DD", DT_EINPUT);
    check_bad("1980-01-05x", "YYYY-MM-DD", DT_EINPUT);
    check_bad("1980-01", "YYYY-MM-DD", DT_EINPUT);
    check_bad("80-01-05", "YYYY-MM-DD", DT_EINPUT);
    check_bad("19800105", "YYYY-MM-DD", DT_EINPUT);
    check_bad("Jan 5 1980", "MM DD YYYY", DT_EINPUT);
    check_bad("198O0105", "YYYYMMDD", DT_EINPUT); /* letter O */
}

static void test_formats_ok(void **state)
{
    (void)state;
    const char *good[] = {"YYYYMMDD", "MMDDYYYY", "YYYY-MM-DD", "MM/DD/YYYY", "DD.MM.YYYY",
                          "YYYY", "YYYY-MM", "MM/YYYY", "DDMMYYYY"};
    for (size_t i = 0; i < DT_ARRAY_LEN(good); i++) {
        if (!norm_date_format_ok(good[i])) fail_msg("format \"%s\" rejected", good[i]);
    }
    const char *bad[] = {"", "MM/DD", "YY-MM-DD", "YYYYY", "YYYY-MMM-DD", "YYYY-DD",
                         "YYYY-MM-MM", "YYYYYYYY", "DD/MM/YY", "yyyy-mm-dd"};
    for (size_t i = 0; i < DT_ARRAY_LEN(bad); i++) {
        if (norm_date_format_ok(bad[i])) fail_msg("format \"%s\" accepted", bad[i]);
    }
    assert_false(norm_date_format_ok(NULL));
    check_bad("01/05", "MM/DD", DT_EINVAL);
    check_bad("1980-01-05", "YY-MM-DD", DT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),   cmocka_unit_test(test_one_digit_fields),
        cmocka_unit_test(test_spaces),    cmocka_unit_test(test_partial),
        cmocka_unit_test(test_impossible), cmocka_unit_test(test_not_matching),
        cmocka_unit_test(test_formats_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
