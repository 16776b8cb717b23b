/* Unit tests for src/norm/date.c: every supported format, one-digit
 * fields, partial dates, impossible dates and bad formats; and, through a
 * link run, a date field read by a list of formats (YYYY-MM-DD, then
 * YYYY), where a year alone is a partial date and not a null. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dovetail.h"
#include "norm/norm.h"
#include "tmpdir.h"

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

static void write_file(const char *name, const char *text)
{
    char path[256];
    tmpdir_path(path, sizeof path, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Rows: 1 a full date, 2 a year only (read by the second format), 3 a
 * date no format reads (the one null), 5 blank (missing, not a null). */
static const char k_people[] = "id,first,last,dob\n"
                               "1,john,smith,1987-03-04\n"
                               "2,jon,smith,1987\n"
                               "3,mary,jones,1990-13-45\n"
                               "4,mary,jones,1990-01-02\n"
                               "5,anne,brown,\n"
                               "6,ann,brown,1975\n";

static const char k_config[] = "mode: dedupe\n"
                               "fields: {given: given_name, surname: surname, dob: date}\n"
                               "sources:\n"
                               "  - name: p\n"
                               "    path: people.csv\n"
                               "    id: id\n"
                               "    columns:\n"
                               "      given: first\n"
                               "      surname: last\n"
                               "      dob: [{column: dob, format: YYYY-MM-DD}, {column: dob, format: YYYY}]\n"
                               "blocking: {rules: [[soundex(surname)]]}\n"
                               "comparisons:\n"
                               "  - {field: given, levels: [exact, {jaro_winkler: 0.8}]}\n"
                               "  - {field: dob, levels: [exact, same_year]}\n"
                               "model: {seed: 1, u_sample_pairs: 1000}\n"
                               "thresholds: {link: 0.5, review: 0.1}\n";

static void test_year_only_through_formats(void **state)
{
    (void)state;
    write_file("people.csv", k_people);
    write_file("dates.yaml", k_config);
    char path[256], out[256];
    tmpdir_path(path, sizeof path, "dates.yaml");
    tmpdir_path(out, sizeof out, "out");
    dt_config *cfg = NULL;
    dt_error err;
    assert_int_equal(dt_config_load(path, &cfg, &err), DT_OK);
    dt_link_options o = {.n_threads = 1, .out_dir = out, .pairs = DT_PAIRS_ALL}; /* reads pairs.csv */
    dt_link_summary s;
    assert_int_equal(dt_link_run(cfg, &o, &s, &err), DT_OK);
    dt_config_free(cfg);
    assert_int_equal(s.n_records, 6);
    /* only 1990-13-45: 1987 and 1975 are years, the blank is missing */
    assert_int_equal(s.n_null_values, 1);
    /* and the year is kept: john (1987-03-04) and jon (1987) agree on it */
    tmpdir_path(path, sizeof path, "out/pairs.csv");
    char *text = NULL;
    assert_int_equal(util_read_file(path, &text, NULL, &err), DT_OK);
    assert_non_null(strstr(text, "p,2,p,1,[soundex(surname)],"));
    assert_non_null(strstr(strstr(text, "p,2,p,1,"), ",same_year\n"));
    dt_free(text);
}

/* Day counts: a full date is one day, a partial one its month or year;
 * days round-trip through norm_date_from_days over four centuries. */
static void test_days(void **state)
{
    (void)state;
    int32_t lo, hi;
    assert_int_equal(norm_date_days(&(norm_date){1970, 1, 1}, &lo, &hi), DT_OK);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 0);
    assert_int_equal(norm_date_days(&(norm_date){2000, 3, 1}, &lo, &hi), DT_OK);
    assert_int_equal(lo, 11017);
    assert_int_equal(norm_date_days(&(norm_date){2024, 2, 0}, &lo, &hi), DT_OK);
    assert_int_equal(hi - lo, 28); /* a leap February */
    assert_int_equal(norm_date_days(&(norm_date){2023, 0, 0}, &lo, &hi), DT_OK);
    assert_int_equal(hi - lo, 364);
    assert_int_equal(norm_date_days(&(norm_date){0, 0, 0}, &lo, &hi), DT_EINVAL);
    norm_date d;
    for (int32_t day = -80000; day < 80000; day += 7) {
        assert_int_equal(norm_date_from_days(day, &d), DT_OK);
        assert_int_equal(norm_date_days(&d, &lo, &hi), DT_OK);
        assert_int_equal(lo, day);
        assert_int_equal(hi, day);
    }
    assert_int_equal(norm_date_from_days(-719468 - 1, &d), DT_EINVAL); /* year 0 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days),
        cmocka_unit_test(test_formats),   cmocka_unit_test(test_one_digit_fields),
        cmocka_unit_test(test_spaces),    cmocka_unit_test(test_partial),
        cmocka_unit_test(test_impossible), cmocka_unit_test(test_not_matching),
        cmocka_unit_test(test_formats_ok), cmocka_unit_test(test_year_only_through_formats),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
