/*
 * strmetric.c — Jaro, Jaro–Winkler, Levenshtein and optimal-string-
 * alignment Damerau–Levenshtein over decoded code points (src/compare).
 * These run once or more per candidate pair, billions of times in a large
 * link, so they never allocate and keep their loops small.
 *
 * Invariants:
 *   1. Inputs longer than CMP_MAX_LEN code points are cut to their first
 *      CMP_MAX_LEN; all scratch lives on the stack in arrays of that size.
 *   2. The edit distances compute every DP cell as min(true value, max + 1)
 *      (min-plus steps commute with that clamp), so cells outside the band
 *      |i - j| <= max may be taken as max + 1 without changing any result
 *      that is <= max.
 */
#include <string.h>

#include "compare/strmetric.h"

static size_t clamp_len(size_t n)
{
    return n > CMP_MAX_LEN ? CMP_MAX_LEN : n;
}

/* Jaro (1989) as restated by Winkler (1990): characters match when equal
 * and at most floor(max(na, nb) / 2) - 1 apart, each used once; t is half
 * the number of matched characters that appear in a different order. */
double cmp_jaro(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    na = clamp_len(na);
    nb = clamp_len(nb);
    if (na == 0 && nb == 0) return 1.0;
    if (na == 0 || nb == 0) return 0.0;
    size_t longer = na > nb ? na : nb;
    size_t window = longer / 2 > 0 ? longer / 2 - 1 : 0;
    unsigned char a_used[CMP_MAX_LEN], b_used[CMP_MAX_LEN];
    memset(a_used, 0, na); /* only what is used: names are short */
    memset(b_used, 0, nb);
    size_t n_match = 0;
    for (size_t i = 0; i < na; i++) {
        size_t lo = i > window ? i - window : 0;
        size_t hi = i + window + 1 < nb ? i + window + 1 : nb;
        for (size_t j = lo; j < hi; j++) {
            if (b_used[j] || a[i] != b[j]) continue;
            a_used[i] = b_used[j] = 1;
            n_match++;
            break;
        }
    }
    if (n_match == 0) return 0.0;
    size_t n_half_transpose = 0, j = 0;
    for (size_t i = 0; i < na; i++) {
        if (!a_used[i]) continue;
        while (!b_used[j]) j++;
        if (a[i] != b[j]) n_half_transpose++;
        j++;
    }
    double m = (double)n_match;
    double t = (double)(n_half_transpose / 2);
    return (m / (double)na + m / (double)nb + (m - t) / m) / 3.0;
}

/* Winkler (1990): jw = j + l * p * (1 - j), l the common prefix (at most
 * 4), p = 0.1, applied only when j exceeds the boost threshold 0.7. */
double cmp_jaro_winkler(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    double j = cmp_jaro(a, na, b, nb);
    if (j <= 0.7) return j;
    na = clamp_len(na);
    nb = clamp_len(nb);
    size_t n_prefix = 0;
    while (n_prefix < 4 && n_prefix < na && n_prefix < nb && a[n_prefix] == b[n_prefix])
        n_prefix++;
    return j + (double)n_prefix * 0.1 * (1.0 - j);
}

uint64_t cmp_cp_mask(const uint32_t *a, size_t na)
{
    uint64_t m = 0;
    na = clamp_len(na);
    for (size_t i = 0; i < na; i++) m |= 1ULL << ((a[i] * 0x9E3779B97F4A7C15ULL) >> 58);
    return m;
}

/* Matching characters m are at most what each string holds of code points
 * the other has too. Per bit k of the masks, with A_k and B_k the
 * characters of each string on that bit, m <= sum_k min(A_k, B_k); a bit
 * set in a only leaves at least one of a's characters unmatched, so
 * m <= na - |bits of a not in b|, and the same for b. Then
 * Jaro <= (m/na + m/nb + 1) / 3, and Winkler's boost (applied over 0.7)
 * adds at most 4 * 0.1 * (1 - Jaro). */
double cmp_jaro_bound(size_t na, uint64_t mask_a, size_t nb, uint64_t mask_b, int is_winkler)
{
    na = clamp_len(na);
    nb = clamp_len(nb);
    if (na == 0 || nb == 0) return na == nb ? 1.0 : 0.0;
    size_t only_a = (size_t)__builtin_popcountll(mask_a & ~mask_b);
    size_t only_b = (size_t)__builtin_popcountll(mask_b & ~mask_a);
    size_t m = na - only_a < nb - only_b ? na - only_a : nb - only_b;
    if (m == 0) return 0.0;
    double j = ((double)m / (double)na + (double)m / (double)nb + 1.0) / 3.0;
    if (j > 1.0) j = 1.0;
    return is_winkler && j > 0.7 ? j + 0.4 * (1.0 - j) : j;
}

static int min2(int x, int y)
{
    return x < y ? x : y;
}

/* Normalises lengths and max for the banded distances. Returns -1 to go
 * on, or the answer when it is already known. */
static int edit_prelude(size_t *na, size_t *nb, int *max)
{
    *na = clamp_len(*na);
    *nb = clamp_len(*nb);
    int diff = (int)*na - (int)*nb;
    if (diff < 0) diff = -diff;
    if (*max < 0 || *max > (int)(*na + *nb)) *max = (int)(*na + *nb);
    if (diff > *max) return *max + 1;
    if (*na == 0 || *nb == 0) return diff;
    return -1;
}

/* The distance when it is at most 1, else 2: a scan, not a table. A
 * bound of 1 is the commonest there is (an identifier or a date one typo
 * away), and most candidate pairs differ in most of those digits. Equal
 * lengths are one substitution or (osa) one swap of neighbours at the
 * first difference; lengths one apart, one insertion there. The caller
 * has checked the lengths differ by at most 1. */
static int within_one(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, int osa)
{
    const uint32_t *lo = na <= nb ? a : b, *hi = na <= nb ? b : a;
    size_t n_lo = na <= nb ? na : nb, n_hi = na <= nb ? nb : na, i = 0;
    while (i < n_lo && lo[i] == hi[i]) i++;
    if (n_lo != n_hi) return memcmp(lo + i, hi + i + 1, (n_lo - i) * sizeof *lo) == 0 ? 1 : 2;
    if (i == n_lo) return 0;
    if (memcmp(lo + i + 1, hi + i + 1, (n_lo - i - 1) * sizeof *lo) == 0) return 1;
    return osa && i + 1 < n_lo && lo[i] == hi[i + 1] && lo[i + 1] == hi[i] &&
                   memcmp(lo + i + 2, hi + i + 2, (n_lo - i - 2) * sizeof *lo) == 0
               ? 1 : 2;
}

/* Wagner–Fischer over two rows, limited to the band |i - j| <= max
 * (Ukkonen 1985), stopping once a whole row exceeds max. */
int cmp_levenshtein(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, int max)
{
    int known = edit_prelude(&na, &nb, &max);
    if (known >= 0) return known;
    if (max <= 1) return min2(within_one(a, na, b, nb, 0), max + 1);
    const int big = max + 1;
    int rows[2][CMP_MAX_LEN + 1];
    int *prev = rows[0], *cur = rows[1];
    for (size_t j = 0; j <= nb; j++) prev[j] = min2((int)j, big);
    for (size_t i = 1; i <= na; i++) {
        size_t lo = i > (size_t)max ? i - (size_t)max : 1;
        size_t hi = i + (size_t)max < nb ? i + (size_t)max : nb;
        cur[lo - 1] = lo == 1 ? min2((int)i, big) : big;
        int row_min = cur[lo - 1];
        const uint32_t ai = a[i - 1];
        for (size_t j = lo; j <= hi; j++) {
            int v = prev[j - 1] + (ai != b[j - 1]);
            v = min2(v, prev[j] + 1);
            v = min2(v, cur[j - 1] + 1);
            v = min2(v, big);
            cur[j] = v;
            row_min = min2(row_min, v);
        }
        if (hi < nb) cur[hi + 1] = big; /* the next row reads one cell further right */
        if (row_min > max) return big;
        int *t = prev;
        prev = cur;
        cur = t;
    }
    return prev[nb];
}

/* As cmp_levenshtein, plus the transposition step of the optimal string
 * alignment distance (Damerau 1964; Lowrance & Wagner 1975 give the
 * unrestricted one), which reads two rows back. A row's minimum can drop
 * by one through a transposition, so stopping needs two rows above max. */
int cmp_damerau_levenshtein(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                            int max)
{
    int known = edit_prelude(&na, &nb, &max);
    if (known >= 0) return known;
    if (max <= 1) return min2(within_one(a, na, b, nb, 1), max + 1);
    const int big = max + 1;
    int rows[3][CMP_MAX_LEN + 1];
    int *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= nb; j++) prev[j] = min2((int)j, big);
    int prev_min = 0;
    for (size_t i = 1; i <= na; i++) {
        size_t lo = i > (size_t)max ? i - (size_t)max : 1;
        size_t hi = i + (size_t)max < nb ? i + (size_t)max : nb;
        cur[lo - 1] = lo == 1 ? min2((int)i, big) : big;
        int row_min = cur[lo - 1];
        const uint32_t ai = a[i - 1];
        for (size_t j = lo; j <= hi; j++) {
            int v = prev[j - 1] + (ai != b[j - 1]);
            v = min2(v, prev[j] + 1);
            v = min2(v, cur[j - 1] + 1);
            if (i > 1 && j > 1 && ai == b[j - 2] && a[i - 2] == b[j - 1])
                v = min2(v, prev2[j - 2] + 1);
            v = min2(v, big);
            cur[j] = v;
            row_min = min2(row_min, v);
        }
        if (hi < nb) cur[hi + 1] = big;
        if (row_min > max && prev_min > max) return big;
        prev_min = row_min;
        int *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[nb];
}
