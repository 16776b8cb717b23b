/* Unit tests for src/compare/strmetric.c: Jaro and Jaro–Winkler against
 * the published name pairs of Winkler (1990) and the usual textbook
 * examples, Levenshtein and OSA Damerau–Levenshtein including the early
 * stop, empty strings, code points rather than bytes, and truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "compare/strmetric.h"

/* Decodes well-formed UTF-8 (tests only; the library uses norm's decoder).
 * Returns the number of code points written to out. */
static size_t decode(const char *s, uint32_t *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (*p && n < cap) {
        uint32_t c = *p++;
        int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        if (extra) c &= 0x3Fu >> extra;
        while (extra-- > 0) c = (c << 6) | (*p++ & 0x3Fu);
        out[n++] = c;
    }
    return n;
}

typedef double (*sim_fn)(const uint32_t *, size_t, const uint32_t *, size_t);
typedef int (*dist_fn)(const uint32_t *, size_t, const uint32_t *, size_t, int);

static double sim(sim_fn f, const char *x, const char *y)
{
    uint32_t a[600], b[600];
    size_t na = decode(x, a, 600), nb = decode(y, b, 600);
    return f(a, na, b, nb);
}

static int dist(dist_fn f, const char *x, const char *y, int max)
{
    uint32_t a[600], b[600];
    size_t na = decode(x, a, 600), nb = decode(y, b, 600);
    return f(a, na, b, nb, max);
}

/* Published values are rounded to 3 or 4 places. */
#define assert_near(x, want) assert_true(fabs_((x) - (want)) < 5e-4)
static double fabs_(double x)
{
    return x < 0 ? -x : x;
}

static void test_jaro_textbook(void **state)
{
    (void)state;
    assert_near(sim(cmp_jaro, "MARTHA", "MARHTA"), 0.9444);
    assert_near(sim(cmp_jaro_winkler, "MARTHA", "MARHTA"), 0.9611);
    assert_near(sim(cmp_jaro, "DWAYNE", "DUANE"), 0.8222);
    assert_near(sim(cmp_jaro_winkler, "DWAYNE", "DUANE"), 0.84);
    assert_near(sim(cmp_jaro, "DIXON", "DICKSONX"), 0.7667);
    assert_near(sim(cmp_jaro_winkler, "DIXON", "DICKSONX"), 0.8133);
    assert_near(sim(cmp_jaro, "JELLYFISH", "SMELLYFISH"), 0.8963);
    assert_near(sim(cmp_jaro_winkler, "JELLYFISH", "SMELLYFISH"), 0.8963);
    /* symmetric */
    assert_near(sim(cmp_jaro_winkler, "DICKSONX", "DIXON"), 0.8133);
}

/* Winkler (1990), "String comparator metrics and enhanced decision rules in
 * the Fellegi-Sunter model of record linkage", table of name pairs: Jaro
 * and Jaro–Winkler (without strcmp95's extra adjustments). */
static void test_winkler_table(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        double jaro, jw;
    } cases[] = {
        {"SHACKLEFORD", "SHACKELFORD", 0.970, 0.982},
        {"DUNNINGHAM", "CUNNIGHAM", 0.896, 0.896},
        {"NICHLESON", "NICHULSON", 0.926, 0.956},
        {"JONES", "JOHNSON", 0.790, 0.832},
        {"MASSEY", "MASSIE", 0.889, 0.933},
        {"ABROMS", "ABRAMS", 0.889, 0.922},
        {"HARDIN", "MARTINEZ", 0.722, 0.722},
        {"ITMAN", "SMITH", 0.467, 0.467},
        {"JERALDINE", "GERALDINE", 0.926, 0.926},
        {"MICHELLE", "MICHAEL", 0.869, 0.921},
        {"JULIES", "JULIUS", 0.889, 0.933},
        {"TANYA", "TONYA", 0.867, 0.880},
        {"DWAYNE", "DUANE", 0.822, 0.840},
        {"SEAN", "SUSAN", 0.783, 0.805},
        {"JON", "JOHN", 0.917, 0.933},
        {"JON", "JAN", 0.778, 0.800},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double j = sim(cmp_jaro, cases[i].a, cases[i].b);
        double jw = sim(cmp_jaro_winkler, cases[i].a, cases[i].b);
        assert_true(fabs_(j - cases[i].jaro) < 1e-3);
        assert_true(fabs_(jw - cases[i].jw) < 1e-3);
    }
}

static void test_jaro_edges(void **state)
{
    (void)state;
    assert_true(sim(cmp_jaro, "", "") == 1.0);
    assert_true(sim(cmp_jaro_winkler, "", "") == 1.0);
    assert_true(sim(cmp_jaro, "abc", "") == 0.0);
    assert_true(sim(cmp_jaro, "", "abc") == 0.0);
    assert_true(sim(cmp_jaro, "abc", "xyz") == 0.0);
    assert_true(sim(cmp_jaro_winkler, "same", "same") == 1.0);
    assert_true(sim(cmp_jaro, "a", "a") == 1.0);
    /* Boost only above 0.7: jaro 2/3 with a shared first letter stays put. */
    assert_near(sim(cmp_jaro, "ab", "ac"), 0.6667);
    assert_near(sim(cmp_jaro_winkler, "ab", "ac"), 0.6667);
    /* At most 4 prefix characters count. */
    double j = sim(cmp_jaro, "abcdefgh", "abcdefgx");
    assert_near(sim(cmp_jaro_winkler, "abcdefgh", "abcdefgx"), j + 0.4 * (1 - j));
    /* Code points, not bytes (Elixir's String.jaro_distance test pair). */
    assert_near(sim(cmp_jaro, "семена", "стремя"), 0.6667);
    assert_near(sim(cmp_jaro, "josé", "jose"), (0.75 + 0.75 + 1.0) / 3);
}

static void test_levenshtein(void **state)
{
    (void)state;
    assert_int_equal(dist(cmp_levenshtein, "kitten", "sitting", -1), 3);
    assert_int_equal(dist(cmp_levenshtein, "sitting", "kitten", -1), 3);
    assert_int_equal(dist(cmp_levenshtein, "flaw", "lawn", -1), 2);
    assert_int_equal(dist(cmp_levenshtein, "", "", -1), 0);
    assert_int_equal(dist(cmp_levenshtein, "", "abc", -1), 3);
    assert_int_equal(dist(cmp_levenshtein, "abc", "", -1), 3);
    assert_int_equal(dist(cmp_levenshtein, "abc", "abc", 0), 0);
    assert_int_equal(dist(cmp_levenshtein, "abcd", "acbd", -1), 2);
    assert_int_equal(dist(cmp_levenshtein, "ca", "abc", -1), 3);
    assert_int_equal(dist(cmp_levenshtein, "josé", "jose", -1), 1);
    assert_int_equal(dist(cmp_levenshtein, "müller", "muller", -1), 1);
}

static void test_levenshtein_early_stop(void **state)
{
    (void)state;
    /* Within the limit: the exact distance. */
    assert_int_equal(dist(cmp_levenshtein, "kitten", "sitting", 3), 3);
    assert_int_equal(dist(cmp_levenshtein, "kitten", "sitting", 10), 3);
    /* Beyond it: max + 1, whether found by length or by the band. */
    assert_int_equal(dist(cmp_levenshtein, "kitten", "sitting", 2), 3);
    assert_int_equal(dist(cmp_levenshtein, "kitten", "sitting", 1), 2);
    assert_int_equal(dist(cmp_levenshtein, "kitten", "sitting", 0), 1);
    assert_int_equal(dist(cmp_levenshtein, "a", "abcdef", 2), 3);
    assert_int_equal(dist(cmp_levenshtein, "abcdef", "uvwxyz", 3), 4);
    assert_int_equal(dist(cmp_levenshtein, "", "abc", 1), 2);
    assert_int_equal(dist(cmp_levenshtein, "", "abc", 3), 3);
}

static void test_osa(void **state)
{
    (void)state;
    assert_int_equal(dist(cmp_damerau_levenshtein, "ca", "abc", -1), 3); /* unrestricted: 2 */
    assert_int_equal(dist(cmp_damerau_levenshtein, "abcd", "acbd", -1), 1);
    assert_int_equal(dist(cmp_damerau_levenshtein, "martha", "marhta", -1), 1);
    assert_int_equal(dist(cmp_damerau_levenshtein, "kitten", "sitting", -1), 3);
    assert_int_equal(dist(cmp_damerau_levenshtein, "ab", "ba", -1), 1);
    assert_int_equal(dist(cmp_damerau_levenshtein, "abcdef", "badcfe", -1), 3);
    assert_int_equal(dist(cmp_damerau_levenshtein, "", "", -1), 0);
    assert_int_equal(dist(cmp_damerau_levenshtein, "", "ab", -1), 2);
    assert_int_equal(dist(cmp_damerau_levenshtein, "josé", "jose", -1), 1);
    assert_int_equal(dist(cmp_damerau_levenshtein, "éj", "jé", -1), 1);
    /* Early stop. */
    assert_int_equal(dist(cmp_damerau_levenshtein, "abcdef", "badcfe", 3), 3);
    assert_int_equal(dist(cmp_damerau_levenshtein, "abcdef", "badcfe", 2), 3);
    assert_int_equal(dist(cmp_damerau_levenshtein, "abcdef", "badcfe", 0), 1);
    assert_int_equal(dist(cmp_damerau_levenshtein, "ab", "ba", 1), 1);
    assert_int_equal(dist(cmp_damerau_levenshtein, "a", "abcd", 2), 3);
}

/* Unbanded reference DP for cross-checking the banded, early-stopping one. */
static int ref_distance(const uint32_t *a, int na, const uint32_t *b, int nb, int is_osa)
{
    static int d[40][40];
    for (int i = 0; i <= na; i++) d[i][0] = i;
    for (int j = 0; j <= nb; j++) d[0][j] = j;
    for (int i = 1; i <= na; i++) {
        for (int j = 1; j <= nb; j++) {
            int v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (is_osa && i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[na][nb];
}

static void test_band_matches_reference(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ull; /* xorshift64: deterministic */
    for (int iter = 0; iter < 3000; iter++) {
        uint32_t a[32], b[32];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int na = (int)(x % 12), nb = (int)((x >> 8) % 12);
        for (int i = 0; i < na; i++) a[i] = 'a' + (uint32_t)((x >> (i + 16)) % 3);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        for (int j = 0; j < nb; j++) b[j] = 'a' + (uint32_t)((x >> (j + 16)) % 3);
        int lev = ref_distance(a, na, b, nb, 0), osa = ref_distance(a, na, b, nb, 1);
        for (int max = -1; max <= 12; max++) {
            int want_lev = max >= 0 && lev > max ? max + 1 : lev;
            int want_osa = max >= 0 && osa > max ? max + 1 : osa;
            assert_int_equal(cmp_levenshtein(a, (size_t)na, b, (size_t)nb, max), want_lev);
            assert_int_equal(cmp_damerau_levenshtein(a, (size_t)na, b, (size_t)nb, max),
                             want_osa);
        }
    }
}

/* Strings one or two edits apart, where the bound-1 scan decides: random
 * strings are rarely that close. */
static void test_bound_one_matches_reference(void **state)
{
    (void)state;
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (int iter = 0; iter < 20000; iter++) {
        uint32_t a[32], b[32];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int na = (int)(x % 11), nb = na;
        for (int i = 0; i < na; i++) a[i] = b[i] = '0' + (uint32_t)((x >> (i + 12)) % 4);
        for (int edit = 0; edit <= (int)(x >> 60) % 2; edit++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int at = nb ? (int)((x >> 8) % (uint64_t)nb) : 0;
            switch (x % 4) {
            case 0: if (nb) b[at] = '0' + (uint32_t)((x >> 20) % 4); break;
            case 1: memmove(b + at + 1, b + at, (size_t)(nb - at) * sizeof *b), b[at] = '9', nb++;
                    break;
            case 2: if (nb) memmove(b + at, b + at + 1, (size_t)(nb - at - 1) * sizeof *b), nb--;
                    break;
            default: if (at + 1 < nb) { uint32_t t = b[at]; b[at] = b[at + 1]; b[at + 1] = t; }
            }
        }
        int lev = ref_distance(a, na, b, nb, 0), osa = ref_distance(a, na, b, nb, 1);
        for (int max = 0; max <= 2; max++) {
            assert_int_equal(cmp_levenshtein(a, (size_t)na, b, (size_t)nb, max),
                             lev > max ? max + 1 : lev);
            assert_int_equal(cmp_damerau_levenshtein(a, (size_t)na, b, (size_t)nb, max),
                             osa > max ? max + 1 : osa);
            assert_int_equal(cmp_damerau_levenshtein(b, (size_t)nb, a, (size_t)na, max),
                             osa > max ? max + 1 : osa);
        }
    }
}

static void test_truncation(void **state)
{
    (void)state;
    static uint32_t a[CMP_MAX_LEN + 50], b[CMP_MAX_LEN + 50];
    for (size_t i = 0; i < CMP_MAX_LEN + 50; i++) a[i] = b[i] = 'a' + (uint32_t)(i % 26);
    b[CMP_MAX_LEN + 10] = '#'; /* beyond the limit: not seen */
    assert_int_equal(cmp_levenshtein(a, CMP_MAX_LEN + 50, b, CMP_MAX_LEN + 50, -1), 0);
    assert_int_equal(cmp_damerau_levenshtein(a, CMP_MAX_LEN + 50, b, CMP_MAX_LEN + 50, 3), 0);
    assert_true(cmp_jaro(a, CMP_MAX_LEN + 50, b, CMP_MAX_LEN + 50) == 1.0);
    assert_int_equal(cmp_levenshtein(a, CMP_MAX_LEN + 50, b, 10, -1), CMP_MAX_LEN - 10);
}

/* cmp_jaro_bound is never below Jaro or Jaro-Winkler: on names that
 * share many letters, few, none, repeat letters, differ in length, are
 * empty or run past CMP_MAX_LEN; and it rules out the pairs it should
 * (no letter in common: 0). */
static void test_jaro_bound(void **state)
{
    (void)state;
    static const char *names[] = {
        "", "a", "aa", "martha", "marhta", "dwayne", "duane", "dixon", "dicksonx", "jones",
        "johnson", "nguyen", "nguyễn", "ngo", "zoë", "zoe", "müller", "mueller", "abcabcabc",
        "cba", "xyz", "garcia lopez", "lopez", "o'brien", "obrien", "li", "lee", "ssss", "s",
    };
    size_t n = sizeof names / sizeof *names;
    uint32_t a[600], b[600];
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < n; k++) {
            size_t na = decode(names[i], a, 600), nb = decode(names[k], b, 600);
            uint64_t ma = cmp_cp_mask(a, na), mb = cmp_cp_mask(b, nb);
            assert_true(cmp_jaro_bound(na, ma, nb, mb, 0) + 1e-12 >= cmp_jaro(a, na, b, nb));
            assert_true(cmp_jaro_bound(na, ma, nb, mb, 1) + 1e-12 >=
                        cmp_jaro_winkler(a, na, b, nb));
        }
    size_t na = decode("martha", a, 600), nb = decode("xyz", b, 600);
    assert_true(cmp_jaro_bound(na, cmp_cp_mask(a, na), nb, cmp_cp_mask(b, nb), 1) == 0.0);
    for (size_t i = 0; i < CMP_MAX_LEN + 50; i++) a[i] = b[i] = 'a' + (uint32_t)(i % 26);
    b[0] = '#';
    uint64_t ma = cmp_cp_mask(a, CMP_MAX_LEN + 50), mb = cmp_cp_mask(b, CMP_MAX_LEN + 50);
    assert_true(cmp_jaro_bound(CMP_MAX_LEN + 50, ma, CMP_MAX_LEN + 50, mb, 1) + 1e-12 >=
                cmp_jaro_winkler(a, CMP_MAX_LEN + 50, b, CMP_MAX_LEN + 50));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jaro_textbook),
        cmocka_unit_test(test_winkler_table),
        cmocka_unit_test(test_jaro_edges),
        cmocka_unit_test(test_levenshtein),
        cmocka_unit_test(test_levenshtein_early_stop),
        cmocka_unit_test(test_osa),
        cmocka_unit_test(test_band_matches_reference),
        cmocka_unit_test(test_bound_one_matches_reference),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_jaro_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
