/*
 * levels.c — evaluates a comparison's ordered levels for one record pair.
 * The first level that holds wins (see compare.h for the codes). Every
 * check reads only the read-only table, so this runs on many threads.
 *
 * Dates compare as parts: a partial date (month or day unknown) is never
 * "exact", not even against the same partial date, but may meet
 * partial_date, same_year...
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare/compare.h"
#include "compare/strmetric.h"

typedef struct side {
    const cmp_column *col;
    uint32_t v;                 /* value id */
    const cmp_value_info *in;
    const char *s;
    const uint32_t *cps;
} side;

/* Only the value id: enough for null and exact, the commonest outcomes. */
static side side_of(const cmp_table *t, int i_col, uint32_t rec)
{
    side x = {&t->cols[i_col], cmp_val(t, (size_t)i_col, rec), NULL, NULL, NULL};
    return x;
}

/* What else a level may read; called once, when a level needs it. The
 * text is side_text's: few levels read it, and it is a cache miss more. */
static void side_fill(side *x)
{
    x->in = &x->col->info[x->v];
    x->cps = x->col->cps + x->in->cp_off;
}

static const char *side_text(side *x)
{
    if (!x->s) x->s = util_intern_str(&x->col->dict, x->v);
    return x->s;
}

/* Days since 0000-03-01 in the proleptic Gregorian calendar. */
static long day_number(const norm_date *d)
{
    long y = d->year, m = d->month;
    if (m <= 2) {
        y -= 1;
        m += 12;
    }
    return 365 * y + y / 4 - y / 100 + y / 400 + (153 * (m - 3) + 2) / 5 + d->day;
}

static int is_full(const norm_date *d)
{
    return d->year && d->month && d->day;
}

static int date_level(cfg_level_kind kind, double threshold, const norm_date *a,
                      const norm_date *b)
{
    switch (kind) {
    case CFG_L_DATE_SWAP_DM:
        return is_full(a) && is_full(b) && a->year == b->year && a->month == b->day &&
               a->day == b->month && a->month != a->day;
    case CFG_L_DATE_YEAR_OFF:
        return a->month && a->day && a->month == b->month && a->day == b->day &&
               abs(a->year - b->year) <= (int)threshold;
    case CFG_L_DATE_SAME_YEAR_MONTH: return a->month && a->year == b->year && a->month == b->month;
    case CFG_L_DATE_SAME_YEAR: return a->year == b->year;
    case CFG_L_DATE_WITHIN_DAYS:
        return is_full(a) && is_full(b) && labs(day_number(a) - day_number(b)) <= (long)threshold;
    case CFG_L_DATE_PARTIAL:
        /* One side partial and agreeing on every part both sides know. */
        return (!is_full(a) || !is_full(b)) && a->year == b->year &&
               (!a->month || !b->month || a->month == b->month) &&
               (!a->day || !b->day || a->day == b->day);
    default: return 0;
    }
}

/* 1 if some space-separated token of a occurs among the tokens of b. */
static int tokens_meet(const char *a, const char *b)
{
    size_t nb = strlen(b);
    while (*a) {
        while (*a == ' ') a++;
        size_t n = strcspn(a, " ");
        if (n == 0) break;
        for (const char *p = b; p < b + nb;) {
            size_t m = strcspn(p, " ");
            if (m == n && memcmp(p, a, n) == 0) return 1;
            p += m;
            while (*p == ' ') p++;
        }
        a += n;
    }
    return 0;
}

/* token_overlap: tokens of this field on one side meet the tokens of this
 * field and the `with` fields on the other side, either way round. This is
 * what recovers double surnames split across fields ("garcia lopez" vs
 * middle "garcia", surname "lopez"). */
static int token_overlap(const cmp_table *t, const cfg_comparison *c, const cfg_level *lv,
                         uint32_t a, uint32_t b)
{
    for (int dir = 0; dir < 2; dir++) {
        uint32_t x = dir ? b : a, y = dir ? a : b;
        const char *own = cmp_value(t, (size_t)c->i_field, x);
        if (!own) continue;
        const char *other = cmp_value(t, (size_t)c->i_field, y);
        if (other && tokens_meet(own, other)) return 1;
        for (int w = 0; w < lv->n_with; w++) {
            other = cmp_value(t, (size_t)lv->with[w], y);
            if (other && tokens_meet(own, other)) return 1;
        }
    }
    return 0;
}

/* The nickname table says the two values may name one person. Values
 * looked up at cmp_table_finish compare by id. */
static int nick_equal(const cmp_table *t, side *x, side *y)
{
    if (!t->nicks) return 0;
    if (x->col->nicks != t->nicks || y->col->nicks != t->nicks)
        return norm_nick_equal(t->nicks, side_text(x), side_text(y));
    if (x->col == y->col ? x->v == y->v : strcmp(side_text(x), side_text(y)) == 0) return 1;
    return norm_nick_equal_id(t->nicks, x->in->nick, y->in->nick);
}

/* Rounding may leave a computed metric a hair over its computed bound. */
#define BOUND_SLACK 1e-9

/* Jaro-Winkler (or Jaro) of the two values reaches threshold: computed
 * only when its bound (cmp_jaro_bound) does. Most candidate pairs that
 * differ in a name differ in most of its letters. */
static int jaro_reaches(const side *x, const side *y, int is_winkler, double threshold,
                        double *memo)
{
    if (isnan(*memo)) {
        const cmp_value_info *p = x->in, *q = y->in;
        if (cmp_jaro_bound(p->cp_len, p->cp_mask, q->cp_len, q->cp_mask, is_winkler) +
                BOUND_SLACK < threshold)
            return 0;
        *memo = is_winkler ? cmp_jaro_winkler(x->cps, p->cp_len, y->cps, q->cp_len)
                           : cmp_jaro(x->cps, p->cp_len, y->cps, q->cp_len);
    }
    return *memo >= threshold;
}

static int initial_match(const side *x, const side *y)
{
    if (x->in->cp_len == 1 && y->in->cp_len >= 1) return x->cps[0] == y->cps[0];
    if (y->in->cp_len == 1 && x->in->cp_len >= 1) return x->cps[0] == y->cps[0];
    return 0;
}

/* Jaro-Winkler at which two names crossed by `swapped` agree: the
 * threshold of the name comparisons' own typo level in bench/bench.yaml
 * and the examples. Fixed: a level takes one value, the swapped field. */
#define SWAP_JARO_WINKLER 0.92

/* How one name agrees with another written in the other field, for
 * `swapped`. An initial is weaker than a name: it may stand for the given
 * name, and a surname is never written as one, so it counts for one side
 * of a swap only. */
enum { CROSS_NONE = 0, CROSS_INITIAL, CROSS_NAME };

static int crossed_agree(const cmp_table *t, size_t f, uint32_t a, size_t g, uint32_t b)
{
    side x = side_of(t, (int)f, a), y = side_of(t, (int)g, b);
    if (x.v == CMP_NULL || y.v == CMP_NULL) return CROSS_NONE;
    side_fill(&x);
    side_fill(&y);
    /* Two values of one column are one id; across columns, compare text. */
    const char *xs = side_text(&x), *ys = side_text(&y);
    if (strcmp(xs, ys) == 0 || tokens_meet(xs, ys)) return CROSS_NAME;
    if (nick_equal(t, &x, &y)) return CROSS_NAME;
    double jw = NAN;
    if (jaro_reaches(&x, &y, 1, SWAP_JARO_WINKLER, &jw)) return CROSS_NAME;
    return initial_match(&x, &y) ? CROSS_INITIAL : CROSS_NONE;
}

/* Crossing the fields, each side agrees with the other: this field with
 * the other record's `with` field and the other way round, each under
 * exact, a shared token ("beiya / zeng chin" against "chin / beiya": a swap
 * whose surname lost a part), a nickname ("patricia / satterfield" against
 * "satterfield / patty"), Jaro-Winkler >= SWAP_JARO_WINKLER (a typo
 * besides the swap) or, for one side only, an initial. Both sides must
 * agree: one shared name is what different people have too. */
static int swapped(const cmp_table *t, const cfg_comparison *c, const cfg_level *lv, uint32_t a,
                   uint32_t b)
{
    size_t f = (size_t)c->i_field, g = (size_t)lv->with[0];
    int one = crossed_agree(t, f, a, g, b);
    if (one == CROSS_NONE) return 0;
    int two = crossed_agree(t, g, a, f, b);
    return two != CROSS_NONE && (one == CROSS_NAME || two == CROSS_NAME);
}

/* Metric values already computed for this pair: levels at several
 * thresholds of one metric compute it once. NAN / -1: not yet. */
typedef struct memo {
    double jw, jaro;
    int lev, dl;
    int lev_max, dl_max; /* the early-stop bound the distance was computed with */
} memo;

typedef int (*distance_fn)(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, int max);

static int distance_within(int *cached, int *cached_max, int max, distance_fn fn, const side *x,
                           const side *y)
{
    /* A distance computed with a smaller bound may be "bound + 1" only:
     * recompute when the new bound is larger. */
    if (*cached < 0 || (*cached > *cached_max && max > *cached_max)) {
        *cached = fn(x->cps, x->in->cp_len, y->cps, y->in->cp_len, max);
        *cached_max = max;
    }
    return *cached <= max;
}

/* The shorter value is within max edits (OSA) of the longer's tail of the
 * same length: a last-4 against a full identifier, typos allowed. */
static int suffix_within(const side *x, const side *y, int max)
{
    const side *lo = x->in->cp_len < y->in->cp_len ? x : y, *hi = lo == x ? y : x;
    size_t n = lo->in->cp_len, off = hi->in->cp_len - n;
    if (n == 0 || n == hi->in->cp_len) return 0;
    if (max == 0) return memcmp(lo->cps, hi->cps + off, n * sizeof *lo->cps) == 0;
    return cmp_damerau_levenshtein(lo->cps, n, hi->cps + off, n, max) <= max;
}

static int level_holds(const cmp_table *t, const cfg_comparison *c, const cfg_level *lv,
                       side *x, side *y, uint32_t a, uint32_t b, memo *mm)
{
    const cmp_value_info *p = x->in, *q = y->in;
    switch (lv->kind) {
    case CFG_L_EXACT: return x->v == y->v;
    case CFG_L_NICKNAME: return nick_equal(t, x, y);
    case CFG_L_JARO_WINKLER: return jaro_reaches(x, y, 1, lv->threshold, &mm->jw);
    case CFG_L_JARO: return jaro_reaches(x, y, 0, lv->threshold, &mm->jaro);
    case CFG_L_LEVENSHTEIN:
        return distance_within(&mm->lev, &mm->lev_max, (int)lv->threshold, cmp_levenshtein, x, y);
    case CFG_L_DAMERAU_LEVENSHTEIN:
        return distance_within(&mm->dl, &mm->dl_max, (int)lv->threshold, cmp_damerau_levenshtein,
                               x, y);
    case CFG_L_INITIAL: return initial_match(x, y);
    case CFG_L_TOKEN_OVERLAP: return token_overlap(t, c, lv, a, b);
    case CFG_L_SWAPPED: return swapped(t, c, lv, a, b);
    case CFG_L_SOUNDEX: return p->soundex[0] && strcmp(p->soundex, q->soundex) == 0;
    case CFG_L_NYSIIS: return p->nysiis[0] && strcmp(p->nysiis, q->nysiis) == 0;
    case CFG_L_SUFFIX: return suffix_within(x, y, (int)lv->threshold);
    case CFG_L_NUMERIC_WITHIN:
        return !isnan(p->num) && !isnan(q->num) && fabs(p->num - q->num) <= lv->threshold;
    default: return date_level(lv->kind, lv->threshold, &p->date, &q->date);
    }
}

int cmp_eval(const cmp_table *t, const cfg_comparison *c, uint32_t a, uint32_t b)
{
    side x = side_of(t, c->i_field, a), y = side_of(t, c->i_field, b);
    if (x.v == CMP_NULL || y.v == CMP_NULL) return 0;
    memo mm = {NAN, NAN, -1, -1, 0, 0};
    int is_filled = 0;
    for (int l = 0; l < c->n_levels; l++) {
        const cfg_level *lv = &c->levels[l];
        if (lv->kind == CFG_L_EXACT) {
            /* Two birth years that agree are not one birth date: a year
             * says a hundredth of what a whole date says. */
            if (x.v == y.v && (x.col->type != CFG_T_DATE || is_full(&x.col->info[x.v].date)))
                return l + 1;
            continue;
        }
        if (!is_filled) {
            side_fill(&x);
            side_fill(&y);
            is_filled = 1;
        }
        if (level_holds(t, c, lv, &x, &y, a, b, &mm)) return l + 1;
    }
    return c->n_levels + 1;
}

void cmp_vector(const cmp_table *t, const dt_config *cfg, uint32_t a, uint32_t b,
                uint8_t *gammas)
{
    for (size_t i = 0; i < cfg->n_comparisons; i++)
        gammas[i] = (uint8_t)cmp_eval(t, &cfg->comparisons[i], a, b);
}

const char *cmp_level_label(const cfg_comparison *c, int level)
{
    if (level == 0) return "null";
    if (level > c->n_levels) return "else";
    return c->levels[level - 1].label;
}
