/* Unit tests for src/norm/fold.c: UTF-8 validation and decoding, and
 * folding of names and text across scripts (norm.h invariants 2 and 3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "norm/norm.h"

/* Folds s and checks the result; the buffer is reused to show that
 * norm_fold appends. */
static void check_fold(const char *s, unsigned flags, const char *want)
{
    util_buf b = {0};
    assert_int_equal(util_buf_append(&b, "<", 1), DT_OK);
    assert_int_equal(norm_fold(&b, s, strlen(s), flags), DT_OK);
    if (strcmp(b.data + 1, want) != 0)
        fail_msg("fold(\"%s\") = \"%s\", want \"%s\"", s, b.data + 1, want);
    util_buf_fini(&b);
}

#define NAME(s, want) check_fold((s), NORM_FOLD_NAME, (want))
#define TEXT(s, want) check_fold((s), NORM_FOLD_TEXT, (want))

static void test_invalid_at(void **state)
{
    (void)state;
    assert_int_equal(norm_utf8_invalid_at("abc", 3), -1);
    assert_int_equal(norm_utf8_invalid_at("Jos\xc3\xa9", 5), -1);
    assert_int_equal(norm_utf8_invalid_at("Jos\xe9", 4), 3);         /* Latin-1 é */
    assert_int_equal(norm_utf8_invalid_at("ab\xc3", 3), 2);          /* truncated */
    assert_int_equal(norm_utf8_invalid_at("\xc0\xaf", 2), 0);        /* overlong '/' */
    assert_int_equal(norm_utf8_invalid_at("x\xed\xa0\x80", 4), 1);   /* surrogate */
    assert_int_equal(norm_utf8_invalid_at("\xf0\x9f\x98\x80", 4), -1); /* emoji */
    assert_int_equal(norm_utf8_invalid_at("", 0), -1);
}

static void test_decode(void **state)
{
    (void)state;
    uint32_t cps[8];
    assert_int_equal(norm_utf8_decode("a\xc3\xa9\xe2\x82\xac", 6, cps, 8), 3);
    assert_int_equal(cps[0], 'a');
    assert_int_equal(cps[1], 0xE9);
    assert_int_equal(cps[2], 0x20AC);
    /* invalid bytes are Latin-1, one code point each */
    assert_int_equal(norm_utf8_decode("M\xfcller\xff", 7, cps, 8), 7);
    assert_int_equal(cps[1], 0xFC);
    assert_int_equal(cps[6], 0xFF);
    /* cap bounds the output */
    assert_int_equal(norm_utf8_decode("abcdef", 6, cps, 2), 2);
    assert_int_equal(cps[1], 'b');
}

static void test_latin_accents(void **state)
{
    (void)state;
    NAME("José", "jose");
    NAME("MÜLLER", "muller");
    NAME("Müller", "muller");
    NAME("Nguyễn Văn An", "nguyen van an");
    NAME("François Pérez-Ñúñez", "francois perez nunez");
    NAME("Łukasz Wróbel", "lukasz wrobel");
    NAME("Øyvind Ærø", "oyvind aero");
    NAME("Straße", "strasse");
    NAME("STRAẞE", "strasse");
    NAME("Đorđe Þórðarson", "dorde thordarson");
    NAME("Œdipe", "oedipe");
    NAME("Işık İnönü", "isik inonu");
    NAME("Ħal Far", "hal far");
    NAME("Ǣ ǿ", "ae o"); /* letters of our table that carry a diacritic */
    NAME("Ｊｏｈｎ", "john");    /* fullwidth forms (compatibility) */
    NAME("ﬁnley", "finley");    /* ligature */
}

static void test_name_punctuation(void **state)
{
    (void)state;
    NAME("O'Brien", "obrien");
    NAME("D’Angelo", "dangelo");
    NAME("D‘Arcy", "darcy");
    NAME("Kaʻahumanu", "kaahumanu");
    NAME("N`Diaye", "ndiaye");
    NAME("O´Neil", "oneil");
    NAME("García-López", "garcia lopez");
    NAME("Smith, John A.", "smith john a");
    NAME("J.R.R. Tolkien", "j r r tolkien");
    NAME("  Mary\t\tAnn \n Smith  ", "mary ann smith");
    NAME("Mary\xc2\xa0" "Ann", "mary ann"); /* NBSP */
    NAME("Anne--Marie", "anne marie");
    NAME("Paral·lel", "parallel");
    NAME("Mül\xc2\xadler", "muller"); /* soft hyphen is ignorable */
    NAME("", "");
    NAME("  -- , . ", "");
}

static void test_text_punctuation(void **state)
{
    (void)state;
    TEXT("O'Brien", "o brien");
    TEXT("D’Angelo", "d angelo");
    TEXT("12 Main St., Apt #4", "12 main st apt 4");
    TEXT("a&b+c/d", "a b c d");
    TEXT("Route 66!", "route 66");
    TEXT("½", "1 2"); /* 1⁄2: the fraction slash is a symbol */
    TEXT("①②", "12");
}

static void test_other_scripts(void **state)
{
    (void)state;
    NAME("Иван Петров", "иван петров");
    NAME("ЁЛКИН", "елкин");
    NAME("王小明", "王小明");
    NAME("محمد", "محمد");
    NAME("مُحَمَّد", "محمد"); /* harakat are diacritics */
    NAME("Σωκράτης", "σωκρατησ"); /* final sigma folds to sigma */
    NAME("राम", "राम");           /* vowel signs are spelling, kept */
    NAME("김민준", "김민준");      /* Hangul round-trips through jamo */
    NAME("がっこう", "がっこう");   /* kana voicing kept and recomposed */
    NAME("\xe3\x81\x8b\xe3\x82\x99", "\xe3\x81\x8c"); /* か + U+3099 -> が (NFC) */
    NAME("\xe1\x84\x80\xe1\x85\xa1", "\xea\xb0\x80"); /* jamo ᄀ + ᅡ -> 가 */
    NAME("١٢٣", "١٢٣");           /* digits of other scripts are kept */
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    NAME("Jos\xe9", "jose");
    NAME("M\xdcLLER", "muller");
    NAME("Fran\xe7ois", "francois");
    NAME("\xd8yvind", "oyvind");
    NAME("Stra\xdf" "e", "strasse");
    NAME("ab\xc3", "aba"); /* a truncated sequence: its lead byte is Latin-1 Ã */
}

static void test_long_input(void **state)
{
    (void)state;
    /* longer than the stack buffer: the heap path must give the same */
    char in[4000], want[4000];
    size_t n_in = 0, n_want = 0;
    for (int i = 0; i < 600; i++) {
        memcpy(in + n_in, "É-", 3);
        n_in += 3;
        if (i) want[n_want++] = ' ';
        want[n_want++] = 'e';
    }
    in[n_in] = '\0';
    want[n_want] = '\0';
    NAME(in, want);
}

static void test_oom_leaves_buffer(void **state)
{
    (void)state;
    util_buf b = {0};
    assert_int_equal(util_buf_append(&b, "keep", 4), DT_OK);
    char in[2000];
    memset(in, 'x', sizeof in);
    util_fail_after(1);
    int rc = norm_fold(&b, in, sizeof in, NORM_FOLD_NAME);
    util_fail_after(0);
    assert_int_equal(rc, DT_ENOMEM);
    assert_string_equal(b.data, "keep");
    util_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_at),       cmocka_unit_test(test_decode),
        cmocka_unit_test(test_latin_accents),    cmocka_unit_test(test_name_punctuation),
        cmocka_unit_test(test_text_punctuation), cmocka_unit_test(test_other_scripts),
        cmocka_unit_test(test_invalid_utf8),     cmocka_unit_test(test_long_input),
        cmocka_unit_test(test_oom_leaves_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
