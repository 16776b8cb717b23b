/*
 * link.c — dt_link_run: the batch path from CSV files to scored links and
 * entities (ARCHITECTURE.md, "The data's path").
 *
 *   read → index → block → compare → train → score → cluster → write
 *
 * Determinism: records are in canonical order after pl_load; pairs come
 * out of blocking in an order fixed by keys and record indexes; compare
 * and score write each pair's own slot from any thread; training sums over
 * sorted patterns; clustering sorts links. So the outputs are the same
 * bytes for any --threads and any input row order.
 *
 * Output files are written to a temporary name and renamed, so a failed
 * run never leaves a half-written file under the final name.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/pipeline.h"
#include "pipeline/report.h"
#include "io/csv.h"

enum { WEAK_LOG_MAX = 10 }; /* weak joins shown on the log; all go to weak_links.csv */

typedef pl_weak_join weak_join;

/* Every link's own answer (clu_link.own) by its pair: the pairs clustering
 * asks about across two clusters about to join are mostly links
 * themselves (a person's third record joins the two linked before, and is
 * linked to both). Open addressing, one table per part, each built by one
 * thread; a key is (a << 32 | b) with a < b, so never 0 (empty). Not
 * util_ids: it reads its ids array at every probe, and most pairs asked
 * are absent, which cost one cache miss here. */
enum { KNOWN_MAX_PARTS = 64 };

typedef struct known_part {
    uint64_t *key;
    uint8_t *own;
    size_t cap;                 /* KNOWN_SLOTS_PER_KEY a key; any size (not a power of
                                   two: at 10M people the tables sat at the memory peak) */
} known_part;

/* Slots per key: a load of 2/3, where a probe for an absent pair (most
 * asked) still reads one or two cache lines. */
#define KNOWN_SLOTS_PER_KEY 1.5

typedef struct known_map {
    size_t n_parts;             /* 0: none */
    known_part part[KNOWN_MAX_PARTS];
} known_map;

/* The fields rows of the pair and entity files repeat (sources', rules'
 * and levels' names), CSV-escaped once for the run: each of tens of
 * millions of rows copies them. */
typedef struct out_texts {
    util_buf all;               /* every text, each at its offset */
    size_t *source, *rule;      /* offsets into all, per source and per rule, +1: the end */
    size_t level[FS_MAX_COMPARISONS][FS_MAX_CODES + 1];
} out_texts;

typedef struct link_run {
    pl_ctx e;
    weak_join *weak;            /* every weak join, in clustering order */
    size_t n_weak, cap_weak;
    int weak_oom;               /* a weak join could not be kept */
    const dt_link_options *opts;
    uint8_t *gammas;            /* n_pairs x n_comp level codes */
    double *weights;            /* per pair */
    fs_cut link_cut;            /* the link threshold as weights, from the score stage on */
    fs_model model;
    fs_scorer *scorer;          /* model over e.table, from the score stage on (e.scorer) */
    clu_result clu;
    dt_link_summary sum;
    atomic_ulong done;          /* progress of the running parallel stage */
    pl_loader load;            /* NULL: the config's CSV files (pl_load) */
    void *load_ctx;
    char **model_text;          /* non-NULL: stop after training, model as text here */
    char *rejects_default;      /* out_dir/rejects.csv */
    pl_after_fn after;          /* NULL: none (pl_link_run_then) */
    void *after_ctx;
    pl_decided decided;         /* labelled pairs (dt_link_options.labels) */
    known_map known;            /* links' own conflicts by pair, while clustering */
    out_texts texts;            /* while writing */
} link_run;

/* ---- compare -------------------------------------------------------- */

typedef struct cmp_job {
    link_run *run;
    const block_pair *pairs;
    uint8_t *gammas;
    size_t n;
    const char *stage;
} cmp_job;

static void compare_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    cmp_job *j = ctx;
    const pl_ctx *e = &j->run->e;
    size_t nc = e->cfg->n_comparisons;
    for (size_t i = begin; i < end; i++)
        cmp_vector(&e->table, e->cfg, j->pairs[i].a, j->pairs[i].b, j->gammas + i * nc);
    unsigned long done = atomic_fetch_add(&j->run->done, end - begin) + (end - begin);
    if (i_worker == 0) pl_progress(&j->run->e, j->stage, done, j->n, 0);
}

static int compare_pairs(link_run *run, const block_pair *pairs, size_t n, uint8_t **out,
                         const char *stage)
{
    size_t nc = run->e.cfg->n_comparisons;
    uint8_t *g = dt_malloc((n ? n : 1) * nc);
    if (!g) return dt_err_set(run->e.err, DT_ENOMEM, "out of memory for %zu comparison vectors", n);
    cmp_job job = {run, pairs, g, n, stage};
    atomic_store(&run->done, 0);
    util_parallel_for(run->e.n_threads, n, 2048, compare_range, &job);
    pl_progress(&run->e, stage, n, n, 1);
    *out = g;
    return DT_OK;
}

/* ---- train ---------------------------------------------------------- */

static int sample_u(link_run *run)
{
    pl_ctx *e = &run->e;
    const dt_config *cfg = e->cfg;
    uint64_t n = e->table.n_recs, want = cfg->u_sample_pairs;
    uint64_t comparable = pl_comparable_pairs(e);
    if (comparable < want) want = comparable;
    if (want == 0) {
        pl_log(e, DT_LOG_WARN, "train: no comparable pairs to estimate u from; using defaults");
        return DT_OK;
    }
    block_pair *pairs = dt_malloc(want * sizeof *pairs);
    if (!pairs) return dt_err_set(e->err, DT_ENOMEM, "out of memory sampling pairs");
    util_rng rng;
    util_rng_seed(&rng, cfg->seed);
    size_t got = 0;
    for (uint64_t tries = 0; got < want && tries < want * 100; tries++) {
        uint32_t a = (uint32_t)util_rng_below(&rng, n), b = (uint32_t)util_rng_below(&rng, n);
        if (a == b || !block_sources_pair(cfg->mode, e->linkable, e->table.src[a], e->table.src[b]))
            continue;
        pairs[got++] = a < b ? (block_pair){a, b} : (block_pair){b, a};
    }
    uint8_t *g = NULL;
    int rc = compare_pairs(run, pairs, got, &g, "train");
    fs_patterns pats;
    fs_patterns_init(&pats, cfg->n_comparisons);
    for (size_t i = 0; rc == DT_OK && i < got; i++)
        rc = fs_patterns_add(&pats, g + i * cfg->n_comparisons, 1);
    if (rc == DT_OK) rc = fs_estimate_u(&run->model, &pats);
    fs_patterns_fini(&pats);
    dt_free(g);
    dt_free(pairs);
    if (rc < 0) return dt_err_set(e->err, rc, "out of memory estimating u");
    pl_log(e, DT_LOG_INFO, "train: u from %zu random pairs (seed %llu)", got,
            (unsigned long long)cfg->seed);
    return DT_OK;
}

/* Comparisons whose field the rule blocks on: they always agree in it. */
static uint64_t rule_left_out(const dt_config *cfg, const cfg_rule *r)
{
    uint64_t mask = 0;
    for (size_t c = 0; c < cfg->n_comparisons; c++)
        for (int k = 0; k < r->n_keys; k++)
            if (r->keys[k].i_field == cfg->comparisons[c].i_field) mask |= 1ULL << c;
    return mask;
}

static void log_pass(pl_ctx *e, const fs_training *t)
{
    const dt_config *cfg = e->cfg;
    char left[512] = "";
    for (size_t c = 0; c < cfg->n_comparisons; c++) {
        if (!((t->left_out >> c) & 1)) continue;
        if (*left) strncat(left, ",", sizeof left - strlen(left) - 1);
        strncat(left, cfg->comparisons[c].name, sizeof left - strlen(left) - 1);
    }
    pl_log(e, t->converged ? DT_LOG_INFO : DT_LOG_WARN,
            "train: EM on rule %s: %llu pairs, %llu patterns, %d iterations%s, lambda %.6g, "
            "left out: %s",
            cfg->rules[t->rule].name, (unsigned long long)t->n_pairs,
            (unsigned long long)t->n_patterns, t->iterations,
            t->converged ? " (converged)" : " (NOT converged: raise em_max_iterations)",
            t->lambda, *left ? left : "none");
}

/* One aggregation over all candidates: each distinct (comparison vector,
 * mask of training rules whose keys agree on the pair) with its count. The
 * EM passes and λ then read distinct patterns only, never the pairs again.
 * The vector is n_comp level bytes, the pair of sources (FS_SP_BYTES; its
 * own prior, model.h invariant 5), then the 8-byte mask. */
#define TS_MASK_AT(nc) ((nc) + FS_SP_BYTES)
typedef struct train_set {
    fs_patterns all;          /* vectors of TS_MASK_AT(n_comp) + 8 bytes */
    int rules[64];            /* training rule indexes, mask bit order */
    size_t n_rules;
    uint64_t sample_below;    /* a pair is read when its hash is under this (model:
                                 em_sample_pairs); UINT64_MAX: every pair */
    uint64_t seed;
    uint64_t n_read;          /* pairs in all */
} train_set;

/* The sample for model: em_sample_pairs: each candidate pair with the
 * same chance, so counts over it, scaled, estimate counts over all. */
static void sample_setup(const pl_ctx *e, train_set *ts)
{
    uint64_t want = e->cfg->em_sample_pairs, n = e->blk.n_pairs;
    ts->seed = util_mix64(e->cfg->seed ^ 0x656d73616d706c65ULL);
    ts->sample_below = UINT64_MAX;
    if (!want || want >= n) return;
    double below = (double)want / (double)n * 18446744073709551616.0; /* 2^64 */
    ts->sample_below = below < 18446744073709549568.0 ? (uint64_t)below : UINT64_MAX - 1;
}

/* Pairs of all the candidates, as many as the sample holds in proportion:
 * what λ divides the sample's expected matches by. */
static uint64_t sampled(const pl_ctx *e, const train_set *ts, uint64_t n)
{
    if (ts->sample_below == UINT64_MAX || !e->blk.n_pairs) return n;
    uint64_t x = (uint64_t)llround((double)n * (double)ts->n_read / (double)e->blk.n_pairs);
    return n && !x ? 1 : x;
}

/* Whether the sample takes pair (a, b): by a hash of the two records, so
 * the sample is the same for any thread count and row order (records are
 * in canonical order by then). */
static int in_sample(const train_set *ts, uint32_t a, uint32_t b)
{
    return ts->sample_below == UINT64_MAX ||
           util_mix64(((uint64_t)a << 32 | b) ^ ts->seed) < ts->sample_below;
}

enum { AGG_MAX_WORKERS = 64, AGG_CHUNK = 1 << 16, AGG_WORDS = 3 };

/* A worker's counts by vector, the vector zero-padded into AGG_WORDS
 * words: at 10M people 240M pairs fall into a few hundred thousand
 * vectors, and hashing and comparing three words is half what the
 * byte-string table (fs_patterns) costs a pair. Merged into one
 * fs_patterns after. A vector longer than the words (more than 14
 * comparisons) goes to fs_patterns directly. */
typedef struct agg_table {
    uint64_t (*keys)[AGG_WORDS];
    uint64_t *counts;         /* 0: an empty slot (a kept vector counts >= 1) */
    size_t cap, n;            /* cap: 0 or a power of two, over twice n */
} agg_table;

static uint64_t agg_hash(const uint64_t *k)
{
    return util_mix64(k[0] ^ k[1] * 0x9e3779b97f4a7c15ULL ^ k[2] * 0xc2b2ae3d27d4eb4fULL);
}

static void agg_table_fini(agg_table *t)
{
    dt_free(t->keys);
    dt_free(t->counts);
    *t = (agg_table){0};
}

static void agg_place(agg_table *t, const uint64_t *k, uint64_t count)
{
    size_t mask = t->cap - 1, i = agg_hash(k) & mask;
    while (t->counts[i]) i = (i + 1) & mask;
    memcpy(t->keys[i], k, sizeof t->keys[i]);
    t->counts[i] = count;
}

static int agg_grow(agg_table *t)
{
    agg_table big = {.cap = t->cap ? 2 * t->cap : 1024, .n = t->n};
    big.keys = dt_malloc(big.cap * sizeof *big.keys);
    big.counts = dt_calloc(big.cap, sizeof *big.counts);
    if (!big.keys || !big.counts) {
        agg_table_fini(&big);
        return DT_ENOMEM;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->counts[i]) agg_place(&big, t->keys[i], t->counts[i]);
    agg_table_fini(t);
    *t = big;
    return DT_OK;
}

static int agg_add(agg_table *t, const uint64_t *k)
{
    if (2 * (t->n + 1) > t->cap) DT_TRY(agg_grow(t));
    size_t mask = t->cap - 1, i = agg_hash(k) & mask;
    for (; t->counts[i]; i = (i + 1) & mask)
        if (t->keys[i][0] == k[0] && t->keys[i][1] == k[1] && t->keys[i][2] == k[2]) {
            t->counts[i]++;
            return DT_OK;
        }
    memcpy(t->keys[i], k, sizeof t->keys[i]);
    t->counts[i] = 1;
    t->n++;
    return DT_OK;
}

/* Each worker aggregates its chunks into its own table; the tables are
 * merged after. Pattern sums are taken in byte order of the vectors
 * (model.h, invariant 3), so the result does not depend on the split. */
typedef struct agg_job {
    link_run *run;
    const train_set *ts;
    int is_packed;            /* vectors fit AGG_WORDS: table, else part */
    agg_table table[AGG_MAX_WORKERS];
    fs_patterns part[AGG_MAX_WORKERS];
    int rc[AGG_MAX_WORKERS];
} agg_job;

static void aggregate_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    agg_job *j = ctx;
    const pl_ctx *e = &j->run->e;
    const train_set *ts = j->ts;
    size_t nc = e->cfg->n_comparisons;
    uint64_t words[AGG_WORDS] = {0};
    uint8_t vec[FS_MAX_COMPARISONS + FS_SP_BYTES + 8];
    /* rc and the table in locals: the workers' slots share cache lines,
     * and a store to one per pair had the cores trade them (a quarter of
     * the time) */
    int rc = j->rc[i_worker];
    agg_table table = j->table[i_worker];
    for (size_t i = begin; i < end && rc == DT_OK; i++) {
        uint32_t a = e->blk.pairs[i].a, b = e->blk.pairs[i].b;
        if (!in_sample(ts, a, b)) continue;
        uint64_t mask = 0;
        for (size_t k = 0; k < ts->n_rules; k++)
            if (e->blk.agree ? (int)(e->blk.agree[i] >> ts->rules[k] & 1)
                             : pl_same_key(e, (size_t)ts->rules[k], a, b))
                mask |= 1ULL << k;
        unsigned sa = cmp_src(&e->table, a), sb = cmp_src(&e->table, b);
        uint16_t sp = sa < FS_MAX_PRIOR_SOURCES && sb < FS_MAX_PRIOR_SOURCES
                          ? (uint16_t)fs_source_pair(sa, sb) : UINT16_MAX;
        memcpy(vec, j->run->gammas + i * nc, nc);
        memcpy(vec + nc, &sp, FS_SP_BYTES);
        memcpy(vec + TS_MASK_AT(nc), &mask, 8);
        if (j->is_packed) {
            memcpy(words, vec, TS_MASK_AT(nc) + 8);
            rc = agg_add(&table, words);
        } else {
            rc = fs_patterns_add(&j->part[i_worker], vec, 1);
        }
    }
    j->table[i_worker] = table;
    j->rc[i_worker] = rc;
}

static int aggregate(link_run *run, train_set *ts)
{
    pl_ctx *e = &run->e;
    size_t nc = e->cfg->n_comparisons, len = TS_MASK_AT(nc) + 8;
    int n_workers = e->n_threads < AGG_MAX_WORKERS ? e->n_threads : AGG_MAX_WORKERS;
    agg_job *j = dt_calloc(1, sizeof *j);
    if (!j) return DT_ENOMEM;
    j->run = run;
    j->ts = ts;
    j->is_packed = len <= sizeof(uint64_t) * AGG_WORDS;
    for (int w = 0; w < AGG_MAX_WORKERS; w++) fs_patterns_init(&j->part[w], len);
    util_parallel_for(n_workers, e->blk.n_pairs, AGG_CHUNK, aggregate_range, j);
    int rc = DT_OK;
    for (int w = 0; w < AGG_MAX_WORKERS; w++)
        if (j->rc[w] < 0) rc = j->rc[w];
    ts->all = j->part[0]; /* worker 0 always runs; the others merge into it */
    fs_patterns_init(&j->part[0], len);
    for (int w = 1; w < AGG_MAX_WORKERS && rc == DT_OK; w++) {
        const fs_patterns *p = &j->part[w];
        for (uint32_t id = 0; id < p->vecs.n_strs && rc == DT_OK; id++)
            rc = fs_patterns_add(&ts->all, (const uint8_t *)p->vecs.strs[id], p->counts[id]);
    }
    for (int w = 0; w < AGG_MAX_WORKERS && rc == DT_OK; w++) {
        const agg_table *t = &j->table[w];
        for (size_t i = 0; i < t->cap && rc == DT_OK; i++)
            if (t->counts[i])
                rc = fs_patterns_add(&ts->all, (const uint8_t *)t->keys[i], t->counts[i]);
    }
    for (int w = 0; w < AGG_MAX_WORKERS; w++) {
        fs_patterns_fini(&j->part[w]);
        agg_table_fini(&j->table[w]);
    }
    dt_free(j);
    ts->n_read = 0;
    for (uint32_t id = 0; rc == DT_OK && id < ts->all.vecs.n_strs; id++)
        ts->n_read += ts->all.counts[id];
    return rc;
}

/* The comparison vectors of the pairs whose mask has any bit of want (or
 * is empty, with want_none), with their pair of sources when with_sp. */
static int select_patterns(const train_set *ts, size_t nc, uint64_t want, int want_none,
                           int with_sp, fs_patterns *out)
{
    fs_patterns_init(out, with_sp ? nc + FS_SP_BYTES : nc);
    for (uint32_t id = 0; id < ts->all.vecs.n_strs; id++) {
        const uint8_t *v = (const uint8_t *)ts->all.vecs.strs[id];
        uint64_t mask;
        memcpy(&mask, v + TS_MASK_AT(nc), 8);
        if (mask & want || (want_none && !mask))
            DT_TRY(fs_patterns_add(out, v, ts->all.counts[id]));
    }
    return DT_OK;
}

static int em_pass(link_run *run, const train_set *ts, size_t k, fs_training *out)
{
    const dt_config *cfg = run->e.cfg;
    int rule = ts->rules[k];
    fs_patterns pats;
    int rc = select_patterns(ts, cfg->n_comparisons, 1ULL << k, 0, 0, &pats);
    if (rc == DT_OK)
        rc = fs_em_pass(&run->model, cfg, &pats, rule_left_out(cfg, &cfg->rules[rule]), rule, out);
    fs_patterns_fini(&pats);
    if (rc < 0) return dt_err_set(run->e.err, rc, "out of memory in EM");
    log_pass(&run->e, out);
    return DT_OK;
}

static const char *cfg_name(const pl_ctx *e)
{
    return e->cfg->path && *e->cfg->path ? e->cfg->path : "the config";
}

/* A level where m <= u scores agreement as evidence against a match. Say
 * why, and what to change in the config if that is not what was meant. */
static void warn_m_le_u(pl_ctx *e, const fs_model *m, size_t c, int l)
{
    const cfg_comparison *cc = &e->cfg->comparisons[c];
    const char *level = cmp_level_label(cc, l);
    double mv = m->comps[c].m[l], uv = m->comps[c].u[l];
    if (mv < 2 * FS_M_FLOOR) /* averaged over passes, none of which saw a match there */
        pl_log(e, DT_LOG_WARN,
                "model: comparison '%s' level '%s' has m (%.4g) <= u (%.4g): no match in "
                "training agreed at this level, so agreeing there counts against a match "
                "(weight %+.3f). If the data has no such variation, remove '%s' from the "
                "levels of comparison '%s' in %s (its pairs then go to the next level that "
                "holds, or else)",
                cc->name, level, mv, uv, fs_level_weight(m, c, l), level, cc->name, cfg_name(e));
    else
        pl_log(e, DT_LOG_WARN,
                "model: comparison '%s' level '%s' has m (%.4g) <= u (%.4g): non-matches agree "
                "at this level more often than matches, so agreeing there counts against a "
                "match (weight %+.3f). If it should count for one, make '%s' stricter or "
                "remove it from the levels of comparison '%s' in %s",
                cc->name, level, mv, uv, fs_level_weight(m, c, l), level, cc->name, cfg_name(e));
}

static void log_parameters(pl_ctx *e, const fs_model *m)
{
    const dt_config *cfg = e->cfg;
    for (size_t c = 0; c < m->n_comp; c++) {
        const cfg_comparison *cc = &cfg->comparisons[c];
        if (m->comps[c].n_m_estimates == 0)
            pl_log(e, DT_LOG_WARN,
                    "model: m of comparison '%s' was never estimated (every training rule "
                    "blocks on its field): defaults used",
                    cc->name);
        for (int l = 1; l < m->comps[c].n_codes; l++) {
            double mv = m->comps[c].m[l], uv = m->comps[c].u[l];
            pl_log(e, DT_LOG_INFO, "model: %-16s %-26s m %.6f  u %.6f  weight %+.3f", cc->name,
                    cmp_level_label(cc, l), mv, uv, fs_level_weight(m, c, l));
            if (l <= cc->n_levels && mv <= uv) warn_m_le_u(e, m, c, l);
        }
    }
    pl_log(e, DT_LOG_INFO,
            "model: lambda %.6g (prior weight %+.3f), about %.0f matches among %llu comparable "
            "pairs",
            m->lambda, fs_prior_weight(m), m->lambda * (double)m->n_comparable_pairs,
            (unsigned long long)m->n_comparable_pairs);
}

static void log_contexts(pl_ctx *e, const fs_model *m)
{
    const dt_config *cfg = e->cfg;
    for (size_t k = 0; k < m->n_ctx; k++) {
        const fs_context *x = &m->ctx[k];
        const char *name = cfg->contexts[k].name;
        if (!x->is_set) {
            pl_log(e, DT_LOG_WARN, "train: no candidate pair falls in context '%s'; global "
                   "weights score its pairs", name);
            continue;
        }
        pl_log(e, x->converged ? DT_LOG_INFO : DT_LOG_WARN,
               "train: EM in context '%s': %llu pairs, %llu patterns, %d iterations%s, share "
               "of matches %.6g", name, (unsigned long long)x->n_pairs,
               (unsigned long long)x->n_patterns, x->iterations,
               x->converged ? " (converged)" : " (NOT converged)", x->lambda);
        for (size_t c = 0; c < m->n_comp; c++) {
            const cfg_comparison *cc = &cfg->comparisons[c];
            for (int l = 1; l < x->comps[c].n_codes; l++)
                pl_log(e, DT_LOG_INFO, "model: in %-10s %-16s %-26s m %.6f  u %.6f  weight "
                       "%+.3f", name, cc->name, cmp_level_label(cc, l), x->comps[c].m[l],
                       x->comps[c].u[l], log2(x->comps[c].m[l] / x->comps[c].u[l]));
        }
    }
}

/* λ per pair of sources (model.h invariant 5) over every candidate. */
static int lambda_by_sources(link_run *run, const train_set *ts)
{
    pl_ctx *e = &run->e;
    size_t n = e->cfg->n_sources;
    if (n > FS_MAX_PRIOR_SOURCES) {
        pl_log(e, DT_LOG_WARN, "train: more than %d sources: one prior for every pair of "
               "sources", FS_MAX_PRIOR_SOURCES);
        return DT_OK;
    }
    uint64_t comparable[FS_MAX_SOURCE_PAIRS] = {0};
    for (uint16_t a = 0; a < n; a++)
        for (uint16_t b = a; b < n; b++)
            comparable[fs_source_pair(a, b)] = sampled(e, ts, pl_comparable_pairs_of(e, a, b));
    fs_patterns pats;
    int rc = select_patterns(ts, e->cfg->n_comparisons, ~0ULL, 1, 1, &pats);
    if (rc == DT_OK) rc = fs_estimate_lambda_by_sources(&run->model, &pats, n, comparable);
    fs_patterns_fini(&pats);
    DT_TRY(rc);
    for (uint16_t a = 0; a < n; a++)
        for (uint16_t b = a; b < n; b++) {
            double l = run->model.lambda_sp[fs_source_pair(a, b)];
            if (l > 0)
                pl_log(e, DT_LOG_INFO, "model: lambda %s~%s %.6g (prior weight %+.3f)",
                       e->cfg->sources[a].name, e->cfg->sources[b].name, l,
                       log2(l / (1 - l)));
        }
    return DT_OK;
}

/* m from the pairs a person labelled the same (dt_label): each level's
 * count, with EM's m as DT_LABEL_PRIOR pairs of prior evidence. A label
 * whose records were not loaded (another purpose's, withdrawn) is skipped
 * and counted. */
static int learn_from_labels(link_run *run)
{
    pl_ctx *e = &run->e;
    const dt_link_options *o = run->opts;
    if (!o || !o->n_labels) return DT_OK;
    fs_model *m = &run->model;
    double n[FS_MAX_COMPARISONS][FS_MAX_CODES] = {{0}}, total[FS_MAX_COMPARISONS] = {0};
    size_t used = 0, missing = 0;
    uint8_t g[FS_MAX_COMPARISONS];
    for (size_t k = 0; k < o->n_labels; k++) {
        const dt_label *lb = &o->labels[k];
        if (!lb->same) continue;
        long a = lb->a ? pl_find_record(e, lb->a) : -1, b = lb->b ? pl_find_record(e, lb->b) : -1;
        if (a < 0 || b < 0 || a == b) {
            missing++;
            continue;
        }
        cmp_vector(&e->table, e->cfg, (uint32_t)a, (uint32_t)b, g);
        for (size_t c = 0; c < m->n_comp; c++)
            if (g[c]) n[c][g[c]]++, total[c]++;
        used++;
    }
    for (size_t c = 0; c < m->n_comp && used; c++) {
        fs_comp *fc = &m->comps[c];
        for (int l = 1; l < fc->n_codes; l++)
            fc->m[l] = fmax((n[c][l] + DT_LABEL_PRIOR * fc->m[l]) / (total[c] + DT_LABEL_PRIOR),
                            FS_M_FLOOR);
    }
    if (used) fs_finish_m(m); /* renormalized */
    pl_log(e, DT_LOG_INFO, "labels: m refitted from %zu pairs labelled the same person "
           "(%zu labels' records not loaded, skipped)", used, missing);
    return DT_OK;
}

static int train(link_run *run)
{
    pl_ctx *e = &run->e;
    const dt_config *cfg = e->cfg;
    DT_TRY(sample_u(run));
    train_set ts;
    ts.n_rules = cfg->n_training_rules ? cfg->n_training_rules : cfg->n_rules;
    if (ts.n_rules > 64)
        return dt_err_set(e->err, DT_ECONFIG, "at most 64 training rules (set model: "
                          "training_rules)");
    for (size_t k = 0; k < ts.n_rules; k++)
        ts.rules[k] = cfg->n_training_rules ? cfg->training_rules[k] : (int)k;
    run->model.train = dt_calloc(ts.n_rules, sizeof *run->model.train);
    if (!run->model.train) return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    sample_setup(e, &ts);
    int rc = aggregate(run, &ts);
    if (rc == DT_OK && ts.sample_below != UINT64_MAX)
        pl_log(e, DT_LOG_INFO, "train: EM and lambda on a sample of %llu of the %zu candidate "
               "pairs (model: em_sample_pairs)", (unsigned long long)ts.n_read, e->blk.n_pairs);
    for (size_t k = 0; k < ts.n_rules && rc == DT_OK; k++) {
        rc = em_pass(run, &ts, k, &run->model.train[k]);
        if (rc == DT_OK) run->model.n_train++;
    }
    fs_patterns pats = {0};
    if (rc == DT_OK) {
        fs_finish_m(&run->model);
        rc = learn_from_labels(run);
        /* λ is over every candidate: all masks, the empty one included. */
        if (rc == DT_OK) rc = select_patterns(&ts, cfg->n_comparisons, ~0ULL, 1, 0, &pats);
        uint64_t comparable = pl_comparable_pairs(e);
        if (rc == DT_OK) rc = fs_estimate_lambda(&run->model, &pats, sampled(e, &ts, comparable));
        run->model.n_comparable_pairs = comparable;
        if (rc == DT_OK && cfg->prior_by_source_pair) rc = lambda_by_sources(run, &ts);
        if (rc == DT_OK) rc = fs_em_contexts(&run->model, cfg, &pats);
        if (rc == DT_OK) log_contexts(e, &run->model);
    }
    fs_patterns_fini(&pats);
    fs_patterns_fini(&ts.all);
    if (rc < 0 && e->err->code == DT_OK) dt_err_set(e->err, rc, "out of memory in training");
    return rc;
}

/* ---- m given a shared value (model.h invariant 6) -------------------- */

/* Passes over the candidates: each refits every m_by_value comparison from
 * the posteriors the previous fit gives, so a surname whose twins the
 * first pass still calls one person sheds that mass in the next. */
enum { MBY_PASSES = 3 };
/* Each worker keeps counts for every value (at 10M people, millions of
 * surnames): a few workers are as fast on a pass this cheap. */
enum { MBY_MAX_WORKERS = 4 };

static int mby_workers(const pl_ctx *e)
{
    return e->n_threads < 1 ? 1 : e->n_threads > MBY_MAX_WORKERS ? MBY_MAX_WORKERS : e->n_threads;
}

/* The pairs a pass of comparison c counts, kept by the first pass: their
 * mass cell and their weight but for c's own m-by-value term. Scoring adds
 * that term after every other (fs_scorer_weight), and no comparison after
 * c has one yet, so a later pass's weight is w + the term, to the bit, and
 * reads neither the pairs nor their records again (at 10M people the
 * passes over 240M pairs were most of training). */
typedef struct mby_kept {
    double *w;
    uint32_t *cell;          /* v * n_codes + level code */
    size_t n, cap;
    int rc;
} mby_kept;

typedef struct mby_job {
    link_run *run;
    const fs_scorer *sc;
    size_t c;                /* the comparison */
    int n_codes;
    size_t field;            /* the conditioning field (its column) */
    int same;                /* fs_same_value_comparison of that field: pairs not at 1 there
                                hold different values (or none), no read of vals needed */
    uint64_t **mass;         /* per worker: value id x level code, FS_MBY_UNIT per pair */
    mby_kept *kept;          /* per worker, or NULL: nothing kept */
    int n_workers;
} mby_job;

static int mby_keep(mby_kept *k, double w, uint32_t cell)
{
    if (k->n == k->cap) { /* two arrays: 12 bytes a pair, not a padded 16 */
        size_t cap = k->cap ? 2 * k->cap : 4096;
        double *nw = dt_realloc(k->w, cap * sizeof *nw);
        if (!nw) return DT_ENOMEM;
        k->w = nw;
        uint32_t *ncell = dt_realloc(k->cell, cap * sizeof *ncell);
        if (!ncell) return DT_ENOMEM;
        k->cell = ncell;
        k->cap = cap;
    }
    k->w[k->n] = w;
    k->cell[k->n++] = cell;
    return DT_OK;
}

static void mby_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    mby_job *j = ctx;
    const pl_ctx *e = &j->run->e;
    size_t nc = e->cfg->n_comparisons;
    uint64_t *mass = j->mass[i_worker];
    /* a local copy: the workers' lists share cache lines (aggregate_range) */
    mby_kept kept = j->kept ? j->kept[i_worker] : (mby_kept){0};
    for (size_t i = begin; i < end; i++) {
        const block_pair *p = &e->blk.pairs[i];
        const uint8_t *g = j->run->gammas + i * nc;
        if ((j->same >= 0 && g[j->same] != 1) || !g[j->c]) continue;
        uint32_t v = cmp_val(&e->table, j->field, p->a);
        if (v == CMP_NULL || v != cmp_val(&e->table, j->field, p->b)) continue;
        double w = fs_scorer_weight(j->sc, g, p->a, p->b);
        size_t cell = (size_t)v * (size_t)j->n_codes + g[j->c];
        mass[cell] += (uint64_t)(fs_probability(w) * FS_MBY_UNIT);
        if (j->kept && kept.rc == DT_OK) kept.rc = mby_keep(&kept, w, (uint32_t)cell);
    }
    if (j->kept) j->kept[i_worker] = kept;
}

/* A later pass over the kept pairs: the lists as one sequence. */
static void mby_kept_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    mby_job *j = ctx;
    const fs_scorer *sc = j->sc;
    const int32_t *bound = j->run->model.mby[j->c].bound;
    uint64_t *mass = j->mass[i_worker];
    size_t at = 0;
    for (int l = 0; l < j->n_workers && begin < end; l++) {
        const mby_kept *k = &j->kept[l];
        for (; begin < end && begin < at + k->n; begin++) {
            size_t x = begin - at;
            uint32_t cell = k->cell[x], v = cell / (uint32_t)j->n_codes;
            int code = (int)(cell % (uint32_t)j->n_codes);
            double w = k->w[x];
            if (bound[v] >= 0) w += sc->mby_w[j->c][bound[v]][code];
            mass[cell] += (uint64_t)(fs_probability(w) * FS_MBY_UNIT);
        }
        at += k->n;
    }
}

/* One pass for comparison c: the posterior mass per shared value and level,
 * summed in integers so any split across workers gives the same fit. The
 * first pass keeps its pairs in kept (when not NULL) for the later ones. */
static int mby_pass(link_run *run, size_t c, uint64_t **mass, size_t n_cells, mby_kept *kept,
                    int is_first)
{
    pl_ctx *e = &run->e;
    int n_workers = mby_workers(e);
    fs_scorer *sc;
    DT_TRY(fs_scorer_new(&run->model, e->cfg, &e->table, &sc));
    for (int w = 0; w < n_workers; w++) memset(mass[w], 0, n_cells * sizeof **mass);
    int field = e->cfg->comparisons[c].m_by_field;
    mby_job j = {run, sc, c, run->model.comps[c].n_codes, (size_t)field,
                 fs_same_value_comparison(e->cfg, field), mass, kept, n_workers};
    if (is_first || !kept) {
        util_parallel_for(n_workers, e->blk.n_pairs, 1 << 16, mby_range, &j);
    } else {
        size_t n = 0;
        for (int w = 0; w < n_workers; w++) n += kept[w].n;
        util_parallel_for(n_workers, n, 1 << 16, mby_kept_range, &j);
    }
    fs_scorer_free(sc);
    for (int w = 1; w < n_workers; w++)
        for (size_t k = 0; k < n_cells; k++) mass[0][k] += mass[w][k];
    return fs_mby_fit(&run->model, e->cfg, &e->table, c, mass[0]);
}

/* Every worker kept all its pairs (none ran out of memory). */
static int mby_kept_whole(const mby_kept *kept, int n_workers)
{
    for (int w = 0; kept && w < n_workers; w++)
        if (kept[w].rc < 0) return 0;
    return kept != NULL;
}

static mby_kept *mby_kept_free(mby_kept *kept, int n_workers)
{
    for (int w = 0; kept && w < n_workers; w++) {
        dt_free(kept[w].w);
        dt_free(kept[w].cell);
    }
    dt_free(kept);
    return NULL;
}

/* Whether the later passes of comparison c may read kept pairs: no
 * comparison after it has m by value yet, and a mass cell fits 32 bits. */
static int mby_can_keep(const link_run *run, size_t c, size_t n_cells)
{
    for (size_t d = c + 1; d < run->e.cfg->n_comparisons; d++)
        if (run->model.mby[d].is_set) return 0;
    return n_cells <= UINT32_MAX;
}

static int fit_m_by_value(link_run *run)
{
    pl_ctx *e = &run->e;
    int n_workers = mby_workers(e), rc = DT_OK;
    for (size_t c = 0; c < e->cfg->n_comparisons && rc == DT_OK; c++) {
        const cfg_comparison *cc = &e->cfg->comparisons[c];
        if (cc->m_by_field < 0) continue;
        size_t n_cells = (size_t)e->table.cols[cc->m_by_field].dict.n_strs *
                         (size_t)run->model.comps[c].n_codes;
        uint64_t **mass = dt_calloc((size_t)n_workers, sizeof *mass);
        for (int w = 0; mass && w < n_workers && rc == DT_OK; w++)
            if (!(mass[w] = dt_malloc((n_cells ? n_cells : 1) * sizeof **mass))) rc = DT_ENOMEM;
        if (!mass) rc = DT_ENOMEM;
        mby_kept *kept = mby_can_keep(run, c, n_cells)
                             ? dt_calloc((size_t)n_workers, sizeof *kept) : NULL;
        for (int pass = 0; pass < MBY_PASSES && rc == DT_OK; pass++) {
            rc = mby_pass(run, c, mass, n_cells, kept, pass == 0);
            if (pass == 0 && !mby_kept_whole(kept, n_workers)) /* then read the pairs again */
                kept = mby_kept_free(kept, n_workers);
        }
        mby_kept_free(kept, n_workers);
        for (int w = 0; mass && w < n_workers; w++) dt_free(mass[w]);
        dt_free(mass);
        if (rc == DT_OK)
            pl_log(e, DT_LOG_INFO, "model: '%s' has m per value of '%s' for %u values",
                   cc->name, e->cfg->fields[cc->m_by_field].name,
                   run->model.mby[c].values.n_strs);
    }
    return rc < 0 ? dt_err_set(e->err, rc, "out of memory fitting m_by_value") : DT_OK;
}

/* ---- score ---------------------------------------------------------- */

static void score_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    link_run *run = ctx;
    const pl_ctx *e = &run->e;
    size_t nc = e->cfg->n_comparisons;
    for (size_t i = begin; i < end; i++)
        run->weights[i] = fs_scorer_weight(e->scorer, run->gammas + i * nc, e->blk.pairs[i].a,
                                           e->blk.pairs[i].b);
}

static int score(link_run *run)
{
    size_t n = run->e.blk.n_pairs;
    run->weights = dt_malloc((n ? n : 1) * sizeof *run->weights);
    if (!run->weights || fs_scorer_new(&run->model, run->e.cfg, &run->e.table, &run->scorer) < 0)
        return dt_err_set(run->e.err, DT_ENOMEM, "out of memory for weights");
    run->e.scorer = run->scorer;
    util_parallel_for(run->e.n_threads, n, 4096, score_range, run);
    run->link_cut = fs_cut_of(run->e.cfg->link_threshold);
    fs_cut review = fs_cut_of(run->e.cfg->review_threshold);
    for (size_t i = 0; i < n; i++) {
        if (fs_reaches(&run->link_cut, run->weights[i])) run->sum.n_links++;
        else if (fs_reaches(&review, run->weights[i])) run->sum.n_review++;
    }
    return DT_OK;
}

/* ---- cluster -------------------------------------------------------- */

static void on_weak(void *ctx, const clu_link *l, uint32_t size_a, uint32_t size_b)
{
    link_run *run = ctx;
    pl_ctx *e = &run->e;
    if (util_grow((void **)&run->weak, &run->cap_weak, run->n_weak + 1, sizeof *run->weak) < 0) {
        run->weak_oom = 1;
        return;
    }
    run->weak[run->n_weak++] = (weak_join){l->a, l->b, l->p, size_a, size_b};
    if (run->n_weak > WEAK_LOG_MAX) return;
    pl_log(e, DT_LOG_WARN,
            "cluster: weak link (p=%.3f) %s:%s - %s:%s joins clusters of %u and %u records; "
            "check it in review",
            l->p, pl_source_name(e, l->a), cmp_record_id(&e->table, l->a),
            pl_source_name(e, l->b), cmp_record_id(&e->table, l->b), size_a, size_b);
}

static uint64_t known_key(uint32_t a, uint32_t b)
{
    return a < b ? (uint64_t)a << 32 | b : (uint64_t)b << 32 | a;
}

static size_t known_part_of(const known_map *m, uint64_t key)
{
    return (size_t)(util_mix64(key) >> 40) % m->n_parts;
}

/* The key's slot in its part p: where it is, or the empty one ending its run. */
static size_t known_slot(const known_part *p, uint64_t key)
{
    /* the hash's low half scaled to [0, cap): its high half chose the part */
    size_t i = (size_t)(((uint64_t)(uint32_t)util_mix64(key) * p->cap) >> 32);
    while (p->key[i] && p->key[i] != key) i = i + 1 == p->cap ? 0 : i + 1;
    return i;
}

/* CLU_OWN_* of the pair, CLU_OWN_UNKNOWN when it is not a link. */
static int known_own(const known_map *m, uint32_t a, uint32_t b)
{
    if (!m->n_parts) return CLU_OWN_UNKNOWN;
    uint64_t key = known_key(a, b);
    const known_part *p = &m->part[known_part_of(m, key)];
    size_t i = known_slot(p, key);
    return p->key[i] == key ? p->own[i] : CLU_OWN_UNKNOWN;
}

typedef struct known_job {
    known_map *m;
    const clu_link *links;
    size_t n;
    int rc[KNOWN_MAX_PARTS];
} known_job;

static void known_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    known_job *j = ctx;
    known_map *m = j->m;
    for (size_t t = begin; t < end; t++) {
        size_t count = 0;
        for (size_t i = 0; i < j->n; i++)
            count += known_part_of(m, known_key(j->links[i].a, j->links[i].b)) == t;
        size_t cap = 16 + (size_t)((double)count * KNOWN_SLOTS_PER_KEY);
        known_part *p = &m->part[t];
        p->key = dt_calloc(cap, sizeof *p->key);
        p->own = dt_malloc(cap);
        p->cap = cap;
        if (!p->key || !p->own) {
            j->rc[t] = DT_ENOMEM;
            continue;
        }
        for (size_t i = 0; i < j->n; i++) {
            uint64_t key = known_key(j->links[i].a, j->links[i].b);
            if (known_part_of(m, key) != t) continue; /* another part's */
            size_t s = known_slot(p, key);
            if (p->key[s]) continue; /* a repeated pair: the same answer */
            p->key[s] = key;
            p->own[s] = j->links[i].own;
        }
    }
}

static void known_fini(known_map *m)
{
    for (size_t t = 0; t < m->n_parts; t++) {
        dt_free(m->part[t].key);
        dt_free(m->part[t].own);
    }
    m->n_parts = 0;
}

static int known_build(known_map *m, const clu_link *links, size_t n, int n_threads)
{
    known_job j = {.m = m, .links = links, .n = n};
    m->n_parts = n_threads < 1               ? 1
                 : n_threads > KNOWN_MAX_PARTS ? KNOWN_MAX_PARTS
                                               : (size_t)n_threads;
    int rc = util_parallel_for(n_threads, m->n_parts, 1, known_range, &j);
    for (size_t t = 0; t < m->n_parts && rc == DT_OK; t++) rc = j.rc[t];
    if (rc < 0) known_fini(m);
    return rc;
}

/* cannot-link: an exclusive comparison ends in "else" for the pair. */
/* The run is the clusterer's ctx (on_weak reads it): its labels decide. */
static int records_conflict(void *ctx, uint32_t a, uint32_t b, const uint8_t *g)
{
    link_run *run = ctx;
    int own = g ? CLU_OWN_UNKNOWN : known_own(&run->known, a, b);
    if (own != CLU_OWN_UNKNOWN) return own == CLU_OWN_CONFLICT;
    return pl_decided_conflict(&run->decided, a, b, g);
}

/* Labels as constraints (dt_link_options.labels): "same" a link of
 * probability 1 (clu_run takes it first), "not the same" a conflict. A
 * label whose records are not in this run is skipped. */
static int label_constraints(link_run *run, clu_link *links, size_t *n)
{
    const dt_link_options *o = run->opts;
    for (size_t k = 0; o && k < o->n_labels; k++) {
        const dt_label *lb = &o->labels[k];
        long a = lb->a ? pl_find_record(&run->e, lb->a) : -1;
        long b = lb->b ? pl_find_record(&run->e, lb->b) : -1;
        if (a < 0 || b < 0 || a == b) continue;
        DT_TRY(pl_decided_add(&run->decided, (uint32_t)a, (uint32_t)b, lb->same));
        if (lb->same)
            links[(*n)++] = (clu_link){(uint32_t)(a < b ? a : b), (uint32_t)(a < b ? b : a), 1.0,
                                       NULL, CLU_OWN_UNKNOWN};
    }
    return DT_OK;
}

/* Each link's own pair asked on every thread before clustering, which
 * asks one pair at a time: most joins are of two records, or of a record
 * and its link's other end, whose answer this already is. */
typedef struct own_job {
    link_run *run;
    clu_link *links;
} own_job;

static void own_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    own_job *j = ctx;
    link_run *run = j->run;
    clu_link *l = j->links;
    for (size_t i = begin; i < end; i++)
        l[i].own = records_conflict(run, l[i].a, l[i].b, l[i].g) ? CLU_OWN_CONFLICT
                                                                  : CLU_OWN_FREE;
}

static int cluster(link_run *run)
{
    pl_ctx *e = &run->e;
    const dt_config *cfg = e->cfg;
    size_t n_labels = run->opts ? run->opts->n_labels : 0;
    clu_link *links = dt_malloc((run->sum.n_links + n_labels + 1) * sizeof *links);
    if (!links) return dt_err_set(e->err, DT_ENOMEM, "out of memory for links");
    size_t n = 0;
    for (size_t i = 0; i < e->blk.n_pairs; i++)
        if (fs_reaches(&run->link_cut, run->weights[i]))
            links[n++] = (clu_link){e->blk.pairs[i].a, e->blk.pairs[i].b,
                                    fs_probability(run->weights[i]),
                                    run->gammas + i * cfg->n_comparisons, CLU_OWN_UNKNOWN};
    if (cfg->one_to_one && cfg->n_sources > 64) {
        dt_free(links);
        return dt_err_set(e->err, DT_ECONFIG, "one_to_one supports at most 64 sources");
    }
    pl_decided_init(&run->decided, e);
    int rc = label_constraints(run, links, &n);
    clu_options opt = {.src = e->table.src, .one_to_one = cfg->one_to_one,
                       .weak_link = cfg->weak_link, .weak_join_size = (uint32_t)cfg->weak_join_size,
                       .on_weak = on_weak,
                       .conflicts = pl_decided_any(&run->decided) ? records_conflict : NULL,
                       .ctx = run, .keep_joins = run->after != NULL};
    /* sorted first: the sort's scratch and the table below are not held at once */
    if (rc == DT_OK && n) rc = clu_sort_links_on(links, n, e->n_threads);
    opt.is_sorted = 1;
    if (rc == DT_OK && opt.conflicts) {
        own_job job = {run, links};
        rc = util_parallel_for(e->n_threads, n, 4096, own_range, &job);
        if (rc == DT_OK) rc = known_build(&run->known, links, n, e->n_threads);
    }
    if (rc == DT_OK) rc = clu_run(e->table.n_recs, links, n, &opt, &run->clu);
    known_fini(&run->known);
    dt_free(links);
    if (rc == DT_OK && run->weak_oom) rc = DT_ENOMEM;
    if (rc < 0) return dt_err_set(e->err, rc, "out of memory clustering");
    if (run->n_weak > WEAK_LOG_MAX)
        pl_log(e, DT_LOG_WARN, "cluster: %zu more weak links not shown; all %zu are in "
                "weak_links.csv", run->n_weak - WEAK_LOG_MAX, run->n_weak);
    run->sum.n_entities = run->clu.n_entities;
    memcpy(run->sum.cluster_size_hist, run->clu.size_hist, sizeof run->clu.size_hist);
    if (pl_has_conflicts(e))
        pl_log(e, DT_LOG_INFO, "cluster: %llu links refused: they would put records that "
                "disagree on an exclusive comparison, that a cannot_link rule keeps apart, or "
                "that the model calls different people within the context, in one entity",
                (unsigned long long)run->clu.n_refused);
    if (cfg->one_to_one)
        pl_log(e, DT_LOG_INFO, "cluster: one-to-one kept %llu links, dropped %llu",
                (unsigned long long)run->clu.n_used_links,
                (unsigned long long)run->clu.n_dropped_one_to_one);
    return DT_OK;
}

/* ---- write ---------------------------------------------------------- */

typedef struct out_file {
    util_out out;  /* written through out.f; out.f NULL when not open */
    util_buf line;
} out_file;

static int out_open(pl_ctx *e, out_file *o, const char *dir, const char *name)
{
    memset(o, 0, sizeof *o);
    char *path = util_path_join(dir, name);
    int rc = path ? util_out_open(&o->out, path, e->err)
                  : dt_err_set(e->err, DT_ENOMEM, "out of memory");
    dt_free(path);
    return rc;
}

static int out_line(pl_ctx *e, out_file *o)
{
    util_buf_putc(&o->line, '\n');
    if (o->line.is_failed)
        return dt_err_set(e->err, DT_ENOMEM, "out of memory writing %s", o->out.path);
    if (fwrite(o->line.data, 1, o->line.len, o->out.f) != o->line.len)
        return dt_err_at(e->err, DT_EIO, o->out.path, 0, 0, "write failed: %s", strerror(errno));
    util_buf_clear(&o->line);
    return DT_OK;
}

static int out_close(pl_ctx *e, out_file *o, int ok)
{
    int rc = DT_OK;
    if (o->out.f && ok) rc = util_out_commit(&o->out, 0, e->err);
    else util_out_abort(&o->out);
    util_buf_fini(&o->line);
    return rc;
}

static void put_field(util_buf *b, const char *s, int comma)
{
    if (comma) util_buf_putc(b, ',');
    csv_write_field(b, s, strlen(s), ',');
}

/* Powers of ten up to PL_FIXED_MAX_DECIMALS. */
static const uint64_t pow10_u64[] = {1,         10,         100,        1000,      10000,
                                     100000,    1000000,    10000000,   100000000, 1000000000};

/* Exact, not via scaling in floating point: x = m * 2^-sh with m the 53-bit
 * significand, so x * 10^d = m * 10^d / 2^sh, whose quotient and remainder
 * 128-bit integers hold. Ties go to the even last digit, as glibc's printf
 * does under the default rounding mode. */
size_t pl_fixed(char *out, double x, int n_decimals)
{
    assert(n_decimals >= 0 && n_decimals <= PL_FIXED_MAX_DECIMALS);
    if (!(fabs(x) < 1e9)) /* NaN, infinities, and numbers a link never writes */
        return (size_t)snprintf(out, PL_FIXED_SIZE, "%.*f", n_decimals, x);
    int e2;
    double fr = frexp(fabs(x), &e2); /* |x| = fr * 2^e2, fr in [0.5, 1) or 0 */
    uint64_t m = (uint64_t)ldexp(fr, 53);
    int sh = 53 - e2; /* >= 23, since |x| < 2^30 */
    unsigned __int128 num = (unsigned __int128)m * pow10_u64[n_decimals];
    uint64_t q = 0;
    if (sh < 120) { /* else num < 2^83 is under half of 2^sh: q stays 0 */
        unsigned __int128 one = (unsigned __int128)1 << sh, rem = num & (one - 1);
        q = (uint64_t)(num >> sh);
        unsigned __int128 half = one >> 1;
        if (rem > half || (rem == half && (q & 1))) q++;
    }
    char *p = out;
    if (signbit(x)) *p++ = '-'; /* printf keeps the sign of -0.0 and of what rounds to 0 */
    uint64_t whole = q / pow10_u64[n_decimals], frac = q % pow10_u64[n_decimals];
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    while (n) *p++ = digits[--n];
    if (n_decimals) {
        *p++ = '.';
        for (int i = n_decimals - 1; i >= 0; i--) {
            p[i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        p += n_decimals;
    }
    *p = '\0';
    return (size_t)(p - out);
}

/* ",<x with n_decimals>" */
static void put_fixed(util_buf *b, double x, int n_decimals)
{
    char text[PL_FIXED_SIZE + 1];
    text[0] = ',';
    size_t n = pl_fixed(text + 1, x, n_decimals);
    util_buf_append(b, text, n + 1);
}

static void pair_header(const dt_config *cfg, util_buf *b)
{
    util_buf_printf(b, "source_a,record_id_a,source_b,record_id_b,rule,weight,probability");
    for (size_t c = 0; c < cfg->n_comparisons; c++) put_field(b, cfg->comparisons[c].name, 1);
}

static int texts_add(out_texts *t, size_t *at, const char *s)
{
    *at = t->all.len;
    return csv_write_field(&t->all, s, strlen(s), ',');
}

static void texts_fini(out_texts *t)
{
    util_buf_fini(&t->all);
    dt_free(t->source);
    dt_free(t->rule);
    memset(t, 0, sizeof *t);
}

static int texts_init(pl_ctx *e, out_texts *t)
{
    const dt_config *cfg = e->cfg;
    memset(t, 0, sizeof *t);
    t->source = dt_malloc((cfg->n_sources + 1) * sizeof *t->source);
    t->rule = dt_malloc((cfg->n_rules + 1) * sizeof *t->rule);
    int rc = t->source && t->rule ? DT_OK : DT_ENOMEM;
    for (size_t k = 0; k < cfg->n_sources && rc == DT_OK; k++)
        rc = texts_add(t, &t->source[k], cfg->sources[k].name);
    if (t->source) t->source[cfg->n_sources] = t->all.len;
    for (size_t k = 0; k < cfg->n_rules && rc == DT_OK; k++)
        rc = texts_add(t, &t->rule[k], cfg->rules[k].name);
    if (t->rule) t->rule[cfg->n_rules] = t->all.len;
    for (size_t c = 0; c < cfg->n_comparisons && rc == DT_OK; c++) {
        const cfg_comparison *cc = &cfg->comparisons[c];
        int code = 0;
        for (; code <= cc->n_levels + 1 && rc == DT_OK; code++)
            rc = texts_add(t, &t->level[c][code], cmp_level_label(cc, code));
        t->level[c][code] = t->all.len;
    }
    if (rc == DT_OK && t->all.is_failed) rc = DT_ENOMEM;
    if (rc < 0) {
        texts_fini(t);
        return dt_err_set(e->err, rc, rc == DT_ENOMEM ? "out of memory"
                                                      : "a name holds a NUL byte");
    }
    return DT_OK;
}

/* Text k of offsets at (at[k] to at[k + 1]), after a comma when comma. */
static void put_text(util_buf *b, const out_texts *t, const size_t *at, size_t k, int comma)
{
    if (comma) util_buf_putc(b, ',');
    util_buf_append(b, t->all.data + at[k], at[k + 1] - at[k]);
}

static void put_record_id(util_buf *b, const pl_ctx *e, uint32_t rec)
{
    uint32_t rid = e->table.rid[rec];
    util_buf_putc(b, ',');
    csv_write_field(b, util_intern_str(&e->table.ids, rid), e->table.ids.lens[rid], ',');
}

static void pair_row(const link_run *run, size_t i, util_buf *b)
{
    const pl_ctx *e = &run->e;
    const out_texts *t = &run->texts;
    const block_pair *p = &e->blk.pairs[i];
    put_text(b, t, t->source, e->table.src[p->a], 0);
    put_record_id(b, e, p->a);
    put_text(b, t, t->source, e->table.src[p->b], 1);
    put_record_id(b, e, p->b);
    put_text(b, t, t->rule, e->blk.rules[i], 1);
    put_fixed(b, run->weights[i], 4);
    put_fixed(b, fs_probability(run->weights[i]), 6);
    const uint8_t *g = run->gammas + i * e->cfg->n_comparisons;
    for (size_t c = 0; c < e->cfg->n_comparisons; c++) put_text(b, t, t->level[c], g[c], 1);
}

/* Rows are formatted in parallel, a batch at a time, each chunk into its
 * own buffers, then written in chunk order: the bytes are those of a
 * sequential run, and memory stays at one batch of text. A row function
 * writes row k of the output to one file, the other (when there is one),
 * or both. */
enum { FMT_CHUNK = 8192, FMT_BATCH_CHUNKS = 64 };

typedef struct fmt_job fmt_job;
typedef void (*row_fn)(const fmt_job *j, size_t k, util_buf *one, util_buf *two);

struct fmt_job {
    link_run *run;
    row_fn row;
    const void *arg;            /* the row function's */
    size_t start;               /* first row of this batch */
    util_buf *one, *two;        /* per chunk of the batch */
};

static void format_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    fmt_job *j = ctx;
    size_t c = begin / FMT_CHUNK;
    /* locals: the chunks' buffers are adjacent, and every field's store
     * to one would pull the cache line another worker's is in */
    util_buf one = j->one[c], two = j->two[c];
    for (size_t k = begin; k < end; k++) j->row(j, j->start + k, &one, &two);
    j->one[c] = one;
    j->two[c] = two;
}

static int write_buf(pl_ctx *e, out_file *o, const util_buf *b)
{
    if (b->is_failed) return dt_err_set(e->err, DT_ENOMEM, "out of memory writing %s", o->out.path);
    if (b->len && fwrite(b->data, 1, b->len, o->out.f) != b->len)
        return dt_err_at(e->err, DT_EIO, o->out.path, 0, 0, "write failed: %s", strerror(errno));
    return DT_OK;
}

static int write_rows(link_run *run, out_file *one, out_file *two, row_fn row, const void *arg,
                      size_t n)
{
    util_buf bone[FMT_BATCH_CHUNKS] = {{0}}, btwo[FMT_BATCH_CHUNKS] = {{0}};
    int rc = DT_OK;
    for (size_t start = 0; start < n && rc == DT_OK; start += FMT_CHUNK * FMT_BATCH_CHUNKS) {
        size_t m = n - start < FMT_CHUNK * FMT_BATCH_CHUNKS ? n - start
                                                            : FMT_CHUNK * FMT_BATCH_CHUNKS;
        fmt_job job = {run, row, arg, start, bone, btwo};
        util_parallel_for(run->e.n_threads, m, FMT_CHUNK, format_range, &job);
        for (size_t c = 0; c * FMT_CHUNK < m && rc == DT_OK; c++) {
            rc = write_buf(&run->e, one, &bone[c]);
            if (rc == DT_OK && two) rc = write_buf(&run->e, two, &btwo[c]);
            util_buf_clear(&bone[c]);
            util_buf_clear(&btwo[c]);
        }
        /* to disk while the next batch is formatted: at 10M people the
         * files are 1.6 GB, and syncing them after the last byte took 3 s */
        if (rc == DT_OK) rc = util_out_write_back(&one->out, run->e.err);
        if (rc == DT_OK && two) rc = util_out_write_back(&two->out, run->e.err);
        pl_progress(&run->e, "write", start + m, n, 0);
    }
    for (size_t c = 0; c < FMT_BATCH_CHUNKS; c++) {
        util_buf_fini(&bone[c]);
        util_buf_fini(&btwo[c]);
    }
    return rc;
}

/* Row k of review.csv. The rows to write are the review band's only. */
static void review_rows(const fmt_job *j, size_t k, util_buf *rev, util_buf *unused)
{
    (void)unused;
    pair_row(j->run, ((const util_kv *)j->arg)[k].val, rev);
    util_buf_putc(rev, '\n');
}

/* Row k of pairs.csv, and of review.csv when under the link threshold. */
static void pair_rows(const fmt_job *j, size_t k, util_buf *all, util_buf *rev)
{
    size_t i = ((const util_kv *)j->arg)[k].val;
    size_t start = all->len;
    pair_row(j->run, i, all);
    util_buf_putc(all, '\n');
    /* the same bytes: copied, not formatted twice */
    if (!fs_reaches(&j->run->link_cut, j->run->weights[i]) && !all->is_failed)
        util_buf_append(rev, all->data + start, all->len - start);
}

/* Pairs at or over the review threshold (and under the link threshold
 * when is_review_only), ordered by (a, b). */
static int output_pairs(link_run *run, int is_review_only, util_kv **out, size_t *n_out)
{
    pl_ctx *e = &run->e;
    if (e->blk.n_pairs > UINT32_MAX)
        return dt_err_set(e->err, DT_EINVAL, "more than 2^32 candidate pairs: tighten the "
                          "blocking rules");
    size_t cap = run->sum.n_review + (is_review_only ? 0 : run->sum.n_links);
    util_kv *kv = dt_malloc((cap + 1) * sizeof *kv);
    if (!kv) return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    fs_cut review = fs_cut_of(e->cfg->review_threshold), link = fs_cut_of(e->cfg->link_threshold);
    size_t n = 0;
    for (size_t i = 0; i < e->blk.n_pairs; i++) {
        double w = run->weights[i];
        if (!fs_reaches(&review, w) || (is_review_only && fs_reaches(&link, w))) continue;
        const block_pair *bp = &e->blk.pairs[i];
        kv[n++] = (util_kv){(uint64_t)bp->a << 32 | bp->b, (uint32_t)i};
    }
    if (util_sort_kv(kv, n) < 0) {
        dt_free(kv);
        return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    }
    *out = kv;
    *n_out = n;
    return DT_OK;
}

/* Removes out_dir/name, left by an earlier run that wrote it. */
static int remove_stale(pl_ctx *e, const char *dir, const char *name)
{
    char *path = util_path_join(dir, name);
    if (!path) return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    int rc = DT_OK;
    if (remove(path) != 0 && errno != ENOENT)
        rc = dt_err_at(e->err, DT_EIO, path, 0, 0, "cannot remove: %s", strerror(errno));
    dt_free(path);
    return rc;
}

/* review.csv, and pairs.csv with DT_PAIRS_ALL: one pass over the sorted
 * pairs fills both. */
static int write_pairs(link_run *run, const char *dir)
{
    pl_ctx *e = &run->e;
    const dt_config *cfg = e->cfg;
    dt_pairs_output what = run->opts->pairs;
    if (what != DT_PAIRS_ALL) DT_TRY(remove_stale(e, dir, "pairs.csv"));
    if (what == DT_PAIRS_NONE) return remove_stale(e, dir, "review.csv");
    int is_all = what == DT_PAIRS_ALL;
    util_kv *order = NULL;
    size_t n = 0;
    DT_TRY(output_pairs(run, !is_all, &order, &n));
    out_file all = {0}, rev;
    int rc = is_all ? out_open(e, &all, dir, "pairs.csv") : DT_OK;
    if (rc == DT_OK) rc = out_open(e, &rev, dir, "review.csv");
    else memset(&rev, 0, sizeof rev);
    if (rc == DT_OK) {
        pair_header(cfg, &rev.line);
        rc = out_line(e, &rev);
        if (is_all) pair_header(cfg, &all.line);
        if (is_all && rc == DT_OK) rc = out_line(e, &all);
    }
    if (rc == DT_OK && is_all) rc = write_rows(run, &all, &rev, pair_rows, order, n);
    else if (rc == DT_OK) rc = write_rows(run, &rev, NULL, review_rows, order, n);
    int rc2 = out_close(e, &all, rc == DT_OK);
    int rc3 = out_close(e, &rev, rc == DT_OK && rc2 == DT_OK);
    dt_free(order);
    return rc < 0 ? rc : rc2 < 0 ? rc2 : rc3;
}

/* Record k's row of entities.csv; its entity's row of clusters.csv when k
 * names the entity. */
static void entity_rows(const fmt_job *j, size_t k, util_buf *ent, util_buf *clu)
{
    const pl_ctx *e = &j->run->e;
    const clu_result *c = &j->run->clu;
    const uint64_t *ent_hash = j->arg;
    uint32_t name = c->entity[k];
    char id[18];
    pl_entity_id_of(ent_hash[name], id);
    put_text(ent, &j->run->texts, j->run->texts.source, e->table.src[k], 0);
    put_record_id(ent, e, (uint32_t)k);
    id[17] = '\n'; /* the NUL ends the row instead */
    util_buf_putc(ent, ',');
    util_buf_append(ent, id, sizeof id);
    if (name != k) return;
    /* entity_id,size,confidence */
    char size[24], *p = size + sizeof size;
    uint32_t n = c->size[k];
    do *--p = (char)('0' + n % 10); while (n /= 10);
    *--p = ',';
    util_buf_append(clu, id, sizeof id - 1);
    util_buf_append(clu, p, (size_t)(size + sizeof size - p));
    put_fixed(clu, c->confidence[k], 6);
    util_buf_putc(clu, '\n');
}

typedef struct hash_job {
    link_run *run;
    uint64_t *h;
} hash_job;

static void hash_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    hash_job *j = ctx;
    for (size_t k = begin; k < end; k++)
        if (j->run->clu.entity[k] == k) j->h[k] = pl_entity_hash(&j->run->e, (uint32_t)k);
}

/* Each entity's hash (pl_entity_id), at its name record, on every thread:
 * a member's row then reads 8 bytes of its entity, not its id text. */
static int entity_hashes(link_run *run, uint64_t **out)
{
    size_t n = run->e.table.n_recs;
    uint64_t *h = dt_malloc((n ? n : 1) * sizeof *h);
    if (!h) return dt_err_set(run->e.err, DT_ENOMEM, "out of memory");
    hash_job j = {run, h};
    util_parallel_for(run->e.n_threads, n, 1 << 16, hash_range, &j);
    *out = h;
    return DT_OK;
}

static int write_entities(link_run *run, const char *dir)
{
    pl_ctx *e = &run->e;
    out_file ent, clu;
    int rc = out_open(e, &ent, dir, "entities.csv");
    int rc_clu = rc == DT_OK ? out_open(e, &clu, dir, "clusters.csv") : DT_OK;
    if (rc == DT_OK && rc_clu < 0) {
        out_close(e, &ent, 0);
        return rc_clu;
    }
    if (rc < 0) return rc;
    util_buf_printf(&ent.line, "source,record_id,entity_id");
    util_buf_printf(&clu.line, "entity_id,size,confidence");
    rc = out_line(e, &ent);
    if (rc == DT_OK) rc = out_line(e, &clu);
    uint64_t *ent_hash = NULL;
    if (rc == DT_OK) rc = entity_hashes(run, &ent_hash);
    if (rc == DT_OK) rc = write_rows(run, &ent, &clu, entity_rows, ent_hash, e->table.n_recs);
    dt_free(ent_hash);
    int rc2 = out_close(e, &ent, rc == DT_OK);
    int rc3 = out_close(e, &clu, rc == DT_OK && rc2 == DT_OK);
    return rc < 0 ? rc : rc2 < 0 ? rc2 : rc3;
}

/* Every weak link that joined two clusters of weak_join_size or more, for
 * a person to check: they are where chaining would show. */
static int write_weak_links(link_run *run, const char *dir)
{
    pl_ctx *e = &run->e;
    out_file o;
    DT_TRY(out_open(e, &o, dir, "weak_links.csv"));
    util_buf_printf(&o.line, "source_a,record_id_a,source_b,record_id_b,probability,size_a,size_b");
    int rc = out_line(e, &o);
    for (size_t i = 0; i < run->n_weak && rc == DT_OK; i++) {
        const weak_join *w = &run->weak[i];
        put_field(&o.line, pl_source_name(e, w->a), 0);
        put_field(&o.line, cmp_record_id(&e->table, w->a), 1);
        put_field(&o.line, pl_source_name(e, w->b), 1);
        put_field(&o.line, cmp_record_id(&e->table, w->b), 1);
        util_buf_printf(&o.line, ",%.6f,%u,%u", w->p, w->size_a, w->size_b);
        rc = out_line(e, &o);
    }
    int rc2 = out_close(e, &o, rc == DT_OK);
    return rc < 0 ? rc : rc2;
}

/* A record's truth entity and source, for counting true pairs by entity. */
typedef struct truth_rec {
    uint32_t truth;
    uint16_t src;
} truth_rec;

static int cmp_truth_rec(const void *x, const void *y)
{
    const truth_rec *a = x, *b = y;
    if (a->truth != b->truth) return a->truth < b->truth ? -1 : 1;
    return (a->src > b->src) - (a->src < b->src);
}

/* True pairs the mode compares: per truth entity, its pairs, less or only
 * those within one source as the mode has it. */
static uint64_t true_pairs(const pl_ctx *e, const uint32_t *truth, truth_rec *v)
{
    size_t n = e->table.n_recs;
    for (size_t i = 0; i < n; i++) v[i] = (truth_rec){truth[i], e->table.src[i]};
    qsort(v, n, sizeof *v, cmp_truth_rec);
    uint64_t total = 0;
    for (size_t i = 0, j; i < n; i = j) {
        uint64_t all = 0, same = 0;
        for (j = i; j < n && v[j].truth == v[i].truth; j++) all++;
        for (size_t k = i, l; k < j; k = l) {
            for (l = k; l < j && v[l].src == v[k].src; l++) {}
            same += (uint64_t)(l - k) * (l - k - 1) / 2;
        }
        uint64_t pairs = all * (all - 1) / 2;
        total += e->cfg->mode == CFG_MODE_LINK ? pairs - same
                 : e->cfg->mode == CFG_MODE_DEDUPE ? same : pairs;
    }
    return total;
}

/* Per rule, the true pairs it added; and all true pairs (report.h). */
static int truth_counts(link_run *run, uint64_t *found, uint64_t *n_true)
{
    pl_ctx *e = &run->e;
    uint32_t *truth = NULL;
    DT_TRY(pl_truth_of(e, &truth));
    truth_rec *v = dt_malloc((e->table.n_recs ? e->table.n_recs : 1) * sizeof *v);
    if (!v) {
        dt_free(truth);
        return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < e->blk.n_pairs; i++)
        if (truth[e->blk.pairs[i].a] == truth[e->blk.pairs[i].b]) found[e->blk.rules[i]]++;
    *n_true = true_pairs(e, truth, v);
    dt_free(v);
    dt_free(truth);
    return DT_OK;
}

static int write_report(link_run *run)
{
    const pl_ctx *e = &run->e;
    pl_report *r = dt_calloc(1, sizeof *r);
    if (!r) return dt_err_set(run->e.err, DT_ENOMEM, "out of memory");
    *r = (pl_report){.cfg = e->cfg, .model = &run->model, .n_records = run->sum.n_records,
                     .n_candidate_pairs = run->sum.n_candidate_pairs,
                     .n_links = run->sum.n_links, .n_review = run->sum.n_review,
                     .n_entities = run->sum.n_entities, .seconds = run->sum.total_seconds,
                     .blocking = e->blk.stats, .pairs_counted = "Every compared pair",
                     .has_sizes = 1, .has_weak = 1, .weak = run->weak,
                     .n_weak = run->n_weak};
    memcpy(r->size_hist, run->sum.cluster_size_hist, sizeof r->size_hist);
    uint64_t found[256] = {0};
    if (e->cfg->truth_pattern || e->cfg->truth_file) {
        int trc = truth_counts(run, found, &r->n_true_pairs);
        if (trc < 0) {
            dt_free(r);
            return trc;
        }
        r->true_found = found;
    }
    for (size_t i = 0; i < e->blk.n_pairs; i++) {
        double p = fs_probability(run->weights[i]);
        r->prob_bins[pl_report_bin(p)]++;
        uint16_t sa = e->table.src[e->blk.pairs[i].a], sb = e->table.src[e->blk.pairs[i].b];
        if (p >= e->cfg->link_threshold && sa < PL_REPORT_SOURCES && sb < PL_REPORT_SOURCES)
            r->sp_links[sa < sb ? sa : sb][sa < sb ? sb : sa]++;
    }
    int rc = pl_report_write(r, run->opts->report_path, run->e.err);
    dt_free(r);
    return rc;
}

static int write_outputs(link_run *run)
{
    const char *dir = run->opts->out_dir;
    DT_TRY(util_mkdir(dir, run->e.err));
    DT_TRY(texts_init(&run->e, &run->texts));
    int rc = write_pairs(run, dir);
    if (rc == DT_OK) rc = write_entities(run, dir);
    texts_fini(&run->texts);
    DT_TRY(rc);
    DT_TRY(write_weak_links(run, dir));
    char *path = util_path_join(dir, "model.json");
    if (!path) return dt_err_set(run->e.err, DT_ENOMEM, "out of memory");
    rc = fs_model_save(&run->model, run->e.cfg, path, run->e.err);
    dt_free(path);
    return rc;
}

/* ---- the run -------------------------------------------------------- */

/* Not inlined: bench/callgrind.sh counts each stage's instructions by
 * dumping callgrind's counters after every call (--dump-after). */
__attribute__((noinline)) static int stage_end(link_run *run, int i_stage, double *t0)
{
    double now = util_now();
    run->sum.stage_seconds[i_stage] = now - *t0;
    run->sum.stage_peak_rss[i_stage] = util_peak_rss();
    *t0 = now;
    return DT_OK;
}

static int load_or_train(link_run *run)
{
    pl_ctx *e = &run->e;
    if (!run->opts->model_path) {
        DT_TRY(train(run));
        if (fs_tf_capture(&run->model, e->cfg, &e->table) < 0)
            return dt_err_set(e->err, DT_ENOMEM, "out of memory keeping term frequencies");
        return fit_m_by_value(run);
    }
    DT_TRY(fs_model_load(&run->model, run->e.cfg, run->opts->model_path, run->e.err));
    if (fs_tf_bind(&run->model, e->cfg, &e->table) < 0)
        return dt_err_set(e->err, DT_ENOMEM, "out of memory binding term frequencies");
    run->model.n_comparable_pairs = pl_comparable_pairs(&run->e);
    pl_log(&run->e, DT_LOG_INFO, "train: parameters loaded from %s", run->opts->model_path);
    return DT_OK;
}

/* Where the rows the CSV sources reject go. A rejects.csv an earlier run
 * left in out_dir goes first, wherever this run's go: it must not pass for
 * this run's. */
static int rejects_setup(link_run *run)
{
    const dt_link_options *o = run->opts;
    run->rejects_default = util_path_join(o->out_dir, "rejects.csv");
    if (!run->rejects_default) return dt_err_set(run->e.err, DT_ENOMEM, "out of memory");
    DT_TRY(util_mkdir(o->out_dir, run->e.err));
    if (remove(run->rejects_default) != 0 && errno != ENOENT)
        return dt_err_at(run->e.err, DT_EIO, run->rejects_default, 0, 0, "cannot remove: %s",
                         strerror(errno));
    run->e.rejects_path = o->rejects_path ? o->rejects_path : run->rejects_default;
    return DT_OK;
}

/* After reading the CSV sources: the rejects file is complete, and more
 * rejected rows than allowed stop the run before any linking. */
static int rejects_done(link_run *run)
{
    pl_ctx *e = &run->e;
    DT_TRY(pl_rejects_close(e));
    return pl_rejects_check(e, run->opts->max_rejected, "nothing was linked");
}

static int run_stages(link_run *run)
{
    pl_ctx *e = &run->e;
    double t0 = util_now(), start = t0;
    if (e->cfg->is_mode_default && e->cfg->n_sources > 1)
        pl_log(e, DT_LOG_INFO, "mode: link_and_dedupe (the default with two or more sources; "
               "set mode: link to compare records of different sources only)");
    /* read and index are one call: pl_load reads, then codes values */
    DT_TRY(run->load ? run->load(e, run->load_ctx) : pl_load(e));
    if (!run->load) DT_TRY(rejects_done(run));
    util_release_free(); /* the read's caches and batches: not resident past it */
    stage_end(run, 0, &t0);
    run->sum.n_records = e->table.n_recs;
    DT_TRY(pl_keys(e));
    stage_end(run, 1, &t0);
    e->keys_end_at_block = 1;
    DT_TRY(pl_block(e));
    /* the pairs' agreeing rules are what training wanted of the keys */
    if (e->blk.agree) pl_free_keys(e);
    if (cmp_table_rows(&e->table, e->cfg, e->n_threads) < 0)
        return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    run->sum.n_candidate_pairs = e->blk.n_pairs;
    stage_end(run, 2, &t0);
    /* From here each pair gains its comparison vector, its weight and, for
     * the few that pass, a link and an output slot (4 bytes amortized). */
    DT_TRY(pl_check_pair_memory(e, e->cfg->n_comparisons + sizeof(double) + 4));
    DT_TRY(compare_pairs(run, e->blk.pairs, e->blk.n_pairs, &run->gammas, "compare"));
    stage_end(run, 3, &t0);
    DT_TRY(fs_model_init(&run->model, e->cfg) == DT_OK
               ? DT_OK
               : dt_err_set(e->err, DT_ECONFIG, "too many comparisons (at most %d)",
                            FS_MAX_COMPARISONS));
    DT_TRY(load_or_train(run));
    dt_free(e->blk.agree); /* training's masks were their only use */
    e->blk.agree = NULL;
    e->model = &run->model;
    pl_free_keys(e); /* training's rule masks were their last use */
    log_parameters(e, &run->model);
    stage_end(run, 4, &t0);
    if (run->model_text) {
        *run->model_text = fs_model_to_text(&run->model, e->cfg);
        return *run->model_text ? DT_OK : dt_err_set(e->err, DT_ENOMEM, "out of memory");
    }
    DT_TRY(score(run));
    stage_end(run, 5, &t0);
    /* clustering asks few pairs the compare stage did not: memory over speed there */
    cmp_table_rows_free(&e->table);
    DT_TRY(cluster(run));
    stage_end(run, 6, &t0);
    DT_TRY(write_outputs(run));
    stage_end(run, 7, &t0);
    run->sum.total_seconds = util_now() - start;
    if (run->opts->report_path) DT_TRY(write_report(run));
    if (run->after) {
        /* The pairs, their levels and weights are written: what comes after
         * reads records and entities, and at 10M people those are 6 GB. */
        dt_free(run->gammas);
        dt_free(run->weights);
        run->gammas = NULL;
        run->weights = NULL;
        block_output_fini(&e->blk);
        pl_linked l = {.e = e, .clu = &run->clu, .out_dir = run->opts->out_dir};
        DT_TRY(run->after(run->after_ctx, &l));
    }
    return DT_OK;
}

static int link_run_all(const dt_config *cfg, const dt_link_options *opts, pl_loader load,
                        void *load_ctx, char **model_text, dt_link_summary *summary,
                        pl_after_fn after, void *after_ctx, dt_error *err)
{
    link_run *run = dt_calloc(1, sizeof *run);
    if (!run) return dt_err_set(err, DT_ENOMEM, "out of memory");
    run->after = after;
    run->after_ctx = after_ctx;
    run->opts = opts;
    run->load = load;
    run->load_ctx = load_ctx;
    run->model_text = model_text;
    int rc = pl_init(&run->e, cfg, err);
    if (rc == DT_OK) {
        run->e.on_log = opts->on_log;
        run->e.on_progress = opts->on_progress;
        run->e.cb_ctx = opts->cb_ctx;
        if (opts->n_threads > 0) run->e.n_threads = opts->n_threads;
        rc = load ? DT_OK : rejects_setup(run);
        if (rc == DT_OK) rc = run_stages(run);
    }
    run->sum.n_rejected_rows = run->e.n_rejected;
    for (size_t f = 0; run->e.null_per_field && f < cfg->n_fields; f++) {
        run->sum.n_null_values += run->e.null_per_field[f];
        if (run->e.null_per_field[f])
            pl_log(&run->e, DT_LOG_INFO, "read: %llu values of field '%s' could not be "
                    "standardized and became null", (unsigned long long)run->e.null_per_field[f],
                    cfg->fields[f].name);
    }
    if (run->e.n_bad_utf8_rows)
        pl_log(&run->e, DT_LOG_WARN, "read: %llu rows had invalid UTF-8 (read as Latin-1)",
                (unsigned long long)run->e.n_bad_utf8_rows);
    if (rc == DT_OK && summary) *summary = run->sum;
    if (rc < 0 && model_text) {
        dt_free(*model_text);
        *model_text = NULL;
    }
    dt_free(run->gammas);
    fs_scorer_free(run->scorer);
    dt_free(run->weights);
    dt_free(run->weak);
    pl_decided_fini(&run->decided);
    fs_model_fini(&run->model);
    clu_result_fini(&run->clu);
    pl_fini(&run->e);
    dt_free(run->rejects_default);
    dt_free(run);
    return dt_err_ensure(err, rc);
}

int dt_link_run(const dt_config *cfg, const dt_link_options *opts, dt_link_summary *summary,
                dt_error *err)
{
    return pl_link_run_then(cfg, opts, NULL, NULL, summary, err);
}

int pl_link_run_then(const dt_config *cfg, const dt_link_options *opts, pl_after_fn after,
                     void *ctx, dt_link_summary *summary, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!cfg || !opts || !opts->out_dir)
        return dt_err_set(err, DT_EINVAL, "dt_link_run: config, options and out_dir are required");
    /* outputs are written last: a folder that cannot take them must fail
     * the run before its work, not after */
    DT_TRY(util_mkdir(opts->out_dir, err));
    if (access(opts->out_dir, W_OK | X_OK) != 0)
        return dt_err_at(err, DT_EIO, opts->out_dir, 0, 0, "cannot write in this directory: %s",
                         strerror(errno));
    return link_run_all(cfg, opts, NULL, NULL, NULL, summary, after, ctx, err);
}

int pl_train_from(const dt_config *cfg, const dt_link_options *opts, pl_loader load, void *ctx,
                   char **model_text, dt_error *err)
{
    *model_text = NULL;
    if (opts->model_path) return dt_err_set(err, DT_EINVAL, "training does not load a model");
    return link_run_all(cfg, opts, load, ctx, model_text, NULL, NULL, NULL, err);
}
