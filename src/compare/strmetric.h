/*
 * strmetric.h — string similarity metrics over Unicode code points
 * (src/compare). Callers decode UTF-8 first (norm_utf8_decode), so "é"
 * counts as one character, not two bytes.
 *
 * All functions are pure and thread-safe; none allocates for strings up to
 * CMP_MAX_LEN code points (longer inputs are truncated to that length, which
 * never happens with person names or addresses).
 */
#ifndef DT_STRMETRIC_H
#define DT_STRMETRIC_H

#include <stddef.h>
#include <stdint.h>

#define CMP_MAX_LEN 256

/* Jaro similarity in [0, 1] (Jaro 1989). Two empty strings: 1. */
double cmp_jaro(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

/* Jaro–Winkler similarity with Winkler's parameters: prefix scale 0.1, at
 * most 4 common prefix characters, applied only when Jaro exceeds 0.7
 * (Winkler 1990). */
double cmp_jaro_winkler(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

/* A set of the code points of a (its first CMP_MAX_LEN): one bit per
 * code point, by hash, so different ones may share a bit. */
uint64_t cmp_cp_mask(const uint32_t *a, size_t na);

/* An upper bound of cmp_jaro (is_winkler 0) or cmp_jaro_winkler (1) of
 * two strings from their lengths and cmp_cp_masks: without a code point
 * in common the strings have few matching characters. Cheap enough to ask
 * before every comparison of two different names. */
double cmp_jaro_bound(size_t na, uint64_t mask_a, size_t nb, uint64_t mask_b, int is_winkler);

/* Levenshtein distance (insert, delete, substitute). Stops early and
 * returns max + 1 once the distance must exceed max (max < 0: no limit). */
int cmp_levenshtein(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, int max);

/* Damerau–Levenshtein distance, optimal string alignment variant: adjacent
 * transpositions count 1, but no substring is edited twice (so "ca" -> "abc"
 * is 3, not 2 as in the unrestricted distance). Same early stop as above. */
int cmp_damerau_levenshtein(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                            int max);

#endif /* DT_STRMETRIC_H */
