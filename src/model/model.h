/*
 * model.h — the Fellegi–Sunter model (src/model): m and u per comparison
 * level, the prior λ, expectation–maximisation, term-frequency adjustment,
 * scoring, and model.json.
 *
 * Fellegi, I. P. & Sunter, A. B. (1969), "A theory for record linkage",
 * JASA 64(328). EM for m as in Winkler (1988) and Splink: u comes from
 * random pairs (seeded) and stays fixed; m is estimated by EM once per
 * training blocking rule, with the comparisons that rule blocks on left
 * out (they agree on every pair in it), and averaged over the passes that
 * estimated it.
 *
 * Invariants:
 *   1. Level codes follow compare.h: 0 null (weight 0), 1..L levels, L+1 else.
 *   2. 0 < m, u < 1 for every non-null level after estimation (smoothed), so
 *      every weight is finite.
 *   3. Every sum runs over aggregated patterns in sorted order, so results
 *      are bit-identical whatever the order pairs were produced in.
 *   4. A context (config model: contexts) is a region of comparison space
 *      that random pairs almost never reach, so the global u says nothing
 *      there: pairs sharing a surname and an address (a household: spouses,
 *      parents and children, twins), or a surname and a birth date (twins,
 *      whose SSNs are one digit apart: a "typo" to the global model). A
 *      pair belongs to the first context whose condition it meets (and,
 *      with require, whose identifier both records carry). It is scored by
 *      that context's own model, learned by EM over the candidate pairs in
 *      it, m AND u of every comparison, with P(match | context) as the
 *      prior. A comparison constant in the context gets m = u: weight 0.
 *   5. Outside contexts the prior is per pair of sources (config model:
 *      prior_by_source_pair, on by default): duplicates within one
 *      registry are far rarer than one person in two registries, and one
 *      prior made every within-registry pair look likelier than it is.
 *      m and u are shared; λ of a pair of sources is P(match) among the
 *      comparable pairs of those sources. 0 in lambda_sp: not estimated,
 *      the one λ is used. A context keeps one λ: its within-registry
 *      non-matches are mostly twins and namesakes the cannot-link rules
 *      part anyway, and a λ per pair of sources there counted them and
 *      cost within-registry recall (earners 0.97 -> 0.90 at 1M people).
 *   6. A comparison with m_by_value (config) has, besides its m, an m per
 *      value of another field that both records share: P(given names
 *      differ | same person) is not one number when part of a population
 *      goes by an adopted given name in one registry and the name they
 *      were born with in another. It is kept as a ratio to the
 *      comparison's m, per value with enough pairs behind it, learned from
 *      the pairs' match posteriors (fs_mby_fit), and shrunk towards 1 by a
 *      prior of FS_MBY_PRIOR_PAIRS pairs; other values, and pairs whose
 *      values differ, use m alone.
 */
#ifndef DT_MODEL_H
#define DT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "compare/compare.h"
#include "io/config.h"
#include "util/util.h"

#define FS_MAX_CODES (CFG_MAX_LEVELS + 2)
#define FS_MAX_COMPARISONS 64
/* The least m of a level: what EM gives a level no match agreed at. */
#define FS_M_FLOOR 1e-6

typedef struct fs_comp {
    int n_codes;                 /* n_levels + 2 (null and else included) */
    double m[FS_MAX_CODES];
    double u[FS_MAX_CODES];
    int n_m_estimates;           /* EM passes that estimated m; 0: m is the default */
} fs_comp;

enum { FS_TRACE = 64 };
typedef struct fs_training {
    int rule;                    /* blocking rule index */
    uint64_t n_pairs;            /* pairs it trained on */
    uint64_t n_patterns;         /* distinct comparison vectors among them */
    uint64_t left_out;           /* bit i: comparison i left out */
    int iterations;
    int converged;
    double lambda;               /* share of matches within the rule's pairs */
    float change[FS_TRACE];      /* the largest change of any m or λ at iteration i+1 (the
                                    first FS_TRACE), for the report's convergence chart */
} fs_training;

/* Term frequencies of a comparison's values, frozen with the model so a
 * saved model scores new records exactly as it scored the data it was
 * trained on. u_by_value is the same, bound to one table's value ids. */
typedef struct fs_tf {
    int is_set;
    util_intern values;          /* value text -> id */
    uint64_t *counts;            /* per id: records holding the value */
    uint64_t n_nonnull;          /* records with any value */
    double *u_by_value;          /* per value id of the bound table; NULL: unbound */
} fs_tf;

/* m given a value of another field (invariant 6), by value text, bound to
 * a table's value ids like fs_tf. */
typedef struct fs_mby {
    int is_set;
    util_intern values;              /* value text -> id */
    double (*ratio)[FS_MAX_CODES];   /* per id, per level code: m given the value / m */
    int32_t *bound;                  /* per value id of the bound table: id, or -1 */
} fs_mby;

/* The pseudo-pairs at the comparison's m that every value's estimate
 * starts from, and the least posterior mass a value needs to be kept. */
#define FS_MBY_PRIOR_PAIRS 50.0
#define FS_MBY_MIN_MASS 20.0

/* Sources with a prior per pair (invariant 5); with more, one prior. */
#define FS_MAX_PRIOR_SOURCES 32
#define FS_MAX_SOURCE_PAIRS (FS_MAX_PRIOR_SOURCES * (FS_MAX_PRIOR_SOURCES + 1) / 2)
/* Patterns given to fs_estimate_lambda_by_sources carry, after the
 * levels, the pair of sources as 2 bytes (memcpy of a uint16_t from
 * fs_source_pair); fs_estimate_lambda and fs_em_contexts read only the
 * levels of such patterns. */
#define FS_SP_BYTES 2

/* Index of an unordered pair of source indexes, both < FS_MAX_PRIOR_SOURCES. */
static inline int fs_source_pair(unsigned a, unsigned b)
{
    unsigned lo = a < b ? a : b, hi = a < b ? b : a;
    return (int)(hi * (hi + 1) / 2 + lo);
}

/* One context's condition (from the config) and model (invariant 4). */
#define FS_MAX_CONTEXTS CFG_MAX_CONTEXTS
typedef struct fs_context {
    uint64_t mask;               /* comparisons in its condition */
    uint32_t levels[FS_MAX_COMPARISONS]; /* per comparison in mask: bit l, level l meets it */
    uint64_t require;            /* one of these has values on both sides; 0: no condition */
    int is_set;                  /* estimated (or loaded); 0: its pairs use global weights */
    fs_comp comps[FS_MAX_COMPARISONS]; /* m and u of every comparison within it */
    double lambda;               /* share of matches among candidate pairs in it */
    uint64_t n_pairs, n_patterns;
    int iterations, converged;
} fs_context;

typedef struct fs_model {
    size_t n_comp;
    fs_context ctx[FS_MAX_CONTEXTS];
    size_t n_ctx;
    fs_comp comps[FS_MAX_COMPARISONS];
    fs_tf tf[FS_MAX_COMPARISONS]; /* only for comparisons with tf: true */
    fs_mby mby[FS_MAX_COMPARISONS]; /* only for comparisons with m_by_value */
    double lambda;               /* P(match) for two random comparable records */
    size_t n_sources;            /* > 0: priors per pair of these sources (invariant 5) */
    double lambda_sp[FS_MAX_SOURCE_PAIRS]; /* per pair of sources; 0: use lambda */
    uint64_t n_u_pairs;          /* random pairs behind u */
    uint64_t n_comparable_pairs; /* all pairs the mode allows */
    fs_training *train;          /* one per EM pass */
    size_t n_train;
    int lambda_iterations;
    uint64_t config_hash, seed;
} fs_model;

/* Aggregated comparison vectors: each distinct vector once, with a count. */
typedef struct fs_patterns {
    util_intern vecs;            /* n_comp bytes each */
    uint64_t *counts;
    size_t cap;
    size_t n_comp;
} fs_patterns;

void fs_patterns_init(fs_patterns *p, size_t n_comp);
void fs_patterns_fini(fs_patterns *p);
int fs_patterns_add(fs_patterns *p, const uint8_t *gammas, uint64_t count);

int fs_model_init(fs_model *m, const dt_config *cfg);
void fs_model_fini(fs_model *m);

/* u[level] from the comparison vectors of random pairs. */
int fs_estimate_u(fs_model *m, const fs_patterns *random_pairs);

/* One EM pass over one training rule's pairs: estimates m for the
 * comparisons not in left_out, updates the running average, and fills a
 * training record. */
int fs_em_pass(fs_model *m, const dt_config *cfg, const fs_patterns *pats, uint64_t left_out,
               int rule, fs_training *out);

/* Finishes m after all passes: comparisons never estimated get a default
 * (and the caller warns). */
void fs_finish_m(fs_model *m);

/* Each context's m and u by EM over the candidate patterns that fall in it
 * (invariant 4). A context no pattern falls in stays unset. */
int fs_em_contexts(fs_model *m, const dt_config *cfg, const fs_patterns *candidates);
/* 1 + the index of the first context the pair's levels put it in; 0: none. */
int fs_context_of(const fs_model *m, const uint8_t *gammas);
/* The same, but 0 when that context is unset: the model that scores it. */
int fs_scoring_context(const fs_model *m, const uint8_t *gammas);

/* λ by EM over all candidate pairs, treating pairs outside the candidates
 * as non-matches: λ = Σ P(match | γ, λ) / n_comparable_pairs. */
int fs_estimate_lambda(fs_model *m, const fs_patterns *candidates, uint64_t n_comparable_pairs);

/* λ per pair of sources (invariant 5), with the m and u already
 * estimated: patterns carry the source pair (FS_SP_BYTES); comparable[sp]
 * is the number of pairs of those sources the mode allows. Sets
 * m->n_sources. */
int fs_estimate_lambda_by_sources(fs_model *m, const fs_patterns *pats, size_t n_sources,
                                  const uint64_t *comparable);

/* The prior's weight for a pair scored in context k (fs_scoring_context)
 * between records of sources a and b (-1: unknown, the one prior). */
double fs_pair_prior_weight(const fs_model *m, int k, int src_a, int src_b);

/* log2 Bayes factor of one level code (no term-frequency adjustment). */
double fs_level_weight(const fs_model *m, size_t i_comp, int code);
/* The prior's weight, log2(λ / (1 - λ)). */
double fs_prior_weight(const fs_model *m);

/* Freezes the term frequencies of t's values into the model (after
 * training on t), then binds them to t. */
int fs_tf_capture(fs_model *m, const dt_config *cfg, const cmp_table *t);
/* Binds the model's frozen frequencies to t's value ids: a value the model
 * never saw is rare (tf_min_u). Without frozen frequencies (a model.json
 * older than them) t's own counts are used. */
int fs_tf_bind(fs_model *m, const dt_config *cfg, const cmp_table *t);

/* Sets comparison c's m per value (invariant 6) from the posterior mass
 * of the pairs whose two records share the value: mass[v * n_codes + l]
 * for t's value id v and level code l, in units of 2^-32 of a pair (so
 * sums are exact in any order), then binds to t. */
int fs_mby_fit(fs_model *m, const dt_config *cfg, const cmp_table *t, size_t c,
               const uint64_t *mass);
#define FS_MBY_UNIT 4294967296.0

/* Weight of one comparison for a record pair with TF adjustment when the
 * comparison asks for it and the level is exact: log2(m / tf(value)).
 * OUT (optional): *u_used. */
double fs_comp_weight(const fs_model *m, const dt_config *cfg, const cmp_table *t,
                      size_t i_comp, int code, uint32_t a, double *u_used);
/* The same for a pair scored in context k (fs_scoring_context; 0: global).
 * OUT (optional): *m_used, *u_used. */
double fs_comp_weight_in(const fs_model *m, const dt_config *cfg, const cmp_table *t,
                         size_t i_comp, int code, uint32_t a, int k, double *m_used,
                         double *u_used);
/* What m given the value records a and b share adds to comparison
 * i_comp's weight at this level (invariant 6): log2 of the ratio, 0 when
 * it does not apply. OUT (optional): *ratio (1 when it does not apply). */
double fs_mby_weight(const fs_model *m, const dt_config *cfg, const cmp_table *t, size_t i_comp,
                     int code, uint32_t a, uint32_t b, double *ratio);

/* Total match weight and probability of a pair. */
double fs_pair_weight(const fs_model *m, const dt_config *cfg, const cmp_table *t,
                      const uint8_t *gammas, uint32_t a, uint32_t b);
double fs_probability(double weight);

/* A probability threshold as weights: fs_probability(w) >= p exactly when
 * fs_reaches says so, with exp2 taken only for weights in the sliver
 * around log2(p / (1 - p)) where rounding could go either way. Scans over
 * every candidate (240M at 10M people) ask this once a pair. */
typedef struct fs_cut {
    double p, lo, hi;   /* below lo: never; at or over hi: always */
} fs_cut;
fs_cut fs_cut_of(double p);
static inline int fs_reaches(const fs_cut *c, double w)
{
    return w >= c->hi || (w >= c->lo && fs_probability(w) >= c->p);
}

/* fs_pair_weight with every log2 taken once: per context, comparison and
 * level, per pair of sources, and per value of a term-frequency comparison
 * of t. Gives exactly fs_pair_weight's numbers (the same terms summed in
 * the same order) at a table lookup each; the scoring stage weighs 240M
 * pairs at 10M people, nine log2 calls each otherwise. Valid while m and t
 * do not change. */
typedef struct fs_scorer {
    const fs_model *m;
    const cmp_table *t;
    size_t n_comp;
    double prior_ctx[FS_MAX_CONTEXTS + 1]; /* [0]: the one prior */
    double prior_sp[FS_MAX_SOURCE_PAIRS];
    double w[FS_MAX_CONTEXTS + 1][FS_MAX_COMPARISONS][FS_MAX_CODES];
    double *tf_exact[FS_MAX_COMPARISONS]; /* per value id of t; NULL: no TF */
    double (*mby_w[FS_MAX_COMPARISONS])[FS_MAX_CODES]; /* per model id: log2 ratio */
    size_t mby_col[FS_MAX_COMPARISONS]; /* t's column of the conditioning field */
    size_t tf_col[FS_MAX_COMPARISONS];  /* t's column, where TF */
    int mby_same[FS_MAX_COMPARISONS]; /* fs_same_value_comparison of the conditioning field */
    uint8_t mby_comps[FS_MAX_COMPARISONS]; /* the comparisons with mby_w, in order */
    size_t n_mby;
} fs_scorer;

/* A comparison of field i_field whose level 1 says the two records hold
 * the same value (exact first, not a date), or -1: a pair whose vector is
 * not at 1 there needs no look at the records' values. */
int fs_same_value_comparison(const dt_config *cfg, int i_field);

/* OUT: *sc (heap: it is large), released with fs_scorer_free. */
int fs_scorer_new(const fs_model *m, const dt_config *cfg, const cmp_table *t, fs_scorer **sc);
void fs_scorer_free(fs_scorer *sc);
double fs_scorer_weight(const fs_scorer *sc, const uint8_t *gammas, uint32_t a, uint32_t b);

/* model.json (jansson). Save writes parameters, diagnostics and the
 * dovetail version, config hash and seed. Load checks that comparisons and
 * level labels match cfg. */
int fs_model_save(const fs_model *m, const dt_config *cfg, const char *path, dt_error *err);
int fs_model_load(fs_model *m, const dt_config *cfg, const char *path, dt_error *err);
/* The same as text (compact JSON; dt_free it; NULL when out of memory),
 * for a store. `name` labels errors. */
char *fs_model_to_text(const fs_model *m, const dt_config *cfg);
int fs_model_from_text(fs_model *m, const dt_config *cfg, const char *text, const char *name,
                       dt_error *err);

#endif /* DT_MODEL_H */
