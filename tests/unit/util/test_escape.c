/* Unit tests for src/util/escape.c (dt_escape_controls) and its use in
 * error messages: a record id holding ESC [ 2 J must reach a terminal as
 * text, not as a command. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/util.h"

static void expect(const char *in, const char *want)
{
    char out[256];
    size_t n = dt_escape_controls(in, out, sizeof out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    /* idempotent: the output escapes to itself */
    char again[256];
    dt_escape_controls(out, again, sizeof again);
    assert_string_equal(again, out);
}

static void test_controls(void **state)
{
    (void)state;
    expect("rec-1", "rec-1");
    expect("\x1b[2Jgone", "\\x1b[2Jgone");
    expect("a\tb\nc\rd", "a\\x09b\\x0ac\\x0dd");
    expect("del\x7f", "del\\x7f");
    expect("back\\slash", "back\\slash");
    /* C1 as UTF-8 (U+009B, CSI) and as a lone byte */
    expect("csi\xc2\x9b" "2J", "csi\\xc2\\x9b2J");
    expect("lone\x9b", "lone\\x9b");
    /* other UTF-8 stays: é, NBSP (U+00A0), €, 😀 */
    expect("Jos\xc3\xa9 \xc2\xa0\xe2\x82\xac\xf0\x9f\x98\x80", "Jos\xc3\xa9 \xc2\xa0\xe2\x82\xac\xf0\x9f\x98\x80");
    /* not UTF-8: Latin-1 é, a cut sequence, an overlong '/', a surrogate */
    expect("Jos\xe9", "Jos\\xe9");
    expect("cut\xe2\x82", "cut\\xe2\\x82");
    expect("\xc0\xaf", "\\xc0\\xaf");
    expect("\xed\xa0\x80", "\\xed\\xa0\\x80");
}

static void test_truncation(void **state)
{
    (void)state;
    char out[8];
    /* "ab" fits, the 4-byte escape of ESC would pass the 7 bytes: cut before it */
    assert_int_equal(dt_escape_controls("ab\x1b\x1b", out, 7), 10);
    assert_string_equal(out, "ab\\x1b");
    assert_int_equal(dt_escape_controls("ab\x1b\x1b", out, 6), 10);
    assert_string_equal(out, "ab");
    /* a UTF-8 character is never cut */
    assert_int_equal(dt_escape_controls("abcde\xe2\x82\xac", out, sizeof out), 8);
    assert_string_equal(out, "abcde");
    assert_int_equal(dt_escape_controls("x", NULL, 0), 1);
}

static void test_error_messages(void **state)
{
    (void)state;
    dt_error err;
    dt_error_clear(&err);
    dt_err_set(&err, DT_EINPUT, "no record '%s'", "evil\x1b]0;owned\x07");
    assert_string_equal(err.msg, "no record 'evil\\x1b]0;owned\\x07'");
    dt_err_at(&err, DT_EIO, "in\x1b.csv", 3, 4, "bad");
    assert_string_equal(err.msg, "in\\x1b.csv:3:4: bad");
    assert_string_equal(err.file, "in\x1b.csv"); /* for programs: as given */
    dt_err_field(&err, DT_EINPUT, "zip\x1b", "field '%s'", "zip\x1b");
    assert_string_equal(err.msg, "field 'zip\\x1b'");
    assert_string_equal(err.field, "zip\x1b");
    dt_err_set(&err, DT_EINPUT, "plain");
    assert_string_equal(err.field, ""); /* a later error names no field */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_controls),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_error_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
