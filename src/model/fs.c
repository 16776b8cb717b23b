/*
 * fs.c — Fellegi–Sunter estimation and scoring: u from random pairs, m by
 * EM per training rule, λ over the candidates, weights with term-frequency
 * adjustment. See model.h for the method and its references.
 *
 * Smoothing: u and m get a pseudo-count of 0.5 per level (u) or a floor
 * (m), so no level has probability 0 and no weight is infinite.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

/* ---- patterns ------------------------------------------------------ */

void fs_patterns_init(fs_patterns *p, size_t n_comp)
{
    memset(p, 0, sizeof *p);
    util_intern_init(&p->vecs);
    p->n_comp = n_comp;
}

void fs_patterns_fini(fs_patterns *p)
{
    util_intern_fini(&p->vecs);
    dt_free(p->counts);
    memset(p, 0, sizeof *p);
}

int fs_patterns_add(fs_patterns *p, const uint8_t *gammas, uint64_t count)
{
    uint32_t id;
    DT_TRY(util_intern_put(&p->vecs, (const char *)gammas, p->n_comp, &id));
    if (id >= p->cap) {
        size_t old = p->cap;
        DT_TRY(util_grow((void **)&p->counts, &p->cap, (size_t)id + 1, sizeof *p->counts));
        memset(p->counts + old, 0, (p->cap - old) * sizeof *p->counts);
    }
    p->counts[id] += count;
    return DT_OK;
}

/* Pattern ids in byte order of their vectors, so sums do not depend on the
 * order pairs arrived in (model.h invariant 3). */
static const fs_patterns *g_sort_pats;

static int cmp_pattern(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return memcmp(g_sort_pats->vecs.strs[a], g_sort_pats->vecs.strs[b], g_sort_pats->n_comp);
}

static uint32_t *sorted_patterns(const fs_patterns *p)
{
    uint32_t n = p->vecs.n_strs;
    uint32_t *order = dt_malloc((n ? n : 1) * sizeof *order);
    if (!order) return NULL;
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    g_sort_pats = p; /* qsort has no context argument; callers are single-threaded */
    qsort(order, n, sizeof *order, cmp_pattern);
    g_sort_pats = NULL;
    return order;
}

/* ---- model --------------------------------------------------------- */

/* Default m before EM: the first level most likely, then halving. */
static void default_m(fs_comp *c)
{
    int n_lv = c->n_codes - 1; /* codes 1..n_codes-1 */
    double rest = 0.1, sum = 0;
    c->m[1] = 0.9;
    for (int l = 2; l <= n_lv; l++) {
        rest /= 2;
        c->m[l] = rest;
    }
    for (int l = 1; l <= n_lv; l++) sum += c->m[l];
    for (int l = 1; l <= n_lv; l++) c->m[l] /= sum;
}

int fs_model_init(fs_model *m, const dt_config *cfg)
{
    memset(m, 0, sizeof *m);
    if (cfg->n_comparisons > FS_MAX_COMPARISONS) return DT_EINVAL;
    m->n_comp = cfg->n_comparisons;
    m->config_hash = cfg->hash;
    m->seed = cfg->seed;
    m->lambda = 1e-4;
    m->n_ctx = cfg->n_contexts;
    for (size_t k = 0; k < m->n_ctx; k++) {
        m->ctx[k].mask = cfg->contexts[k].mask;
        m->ctx[k].require = cfg->contexts[k].require;
        memcpy(m->ctx[k].levels, cfg->contexts[k].levels, sizeof m->ctx[k].levels);
    }
    for (size_t i = 0; i < m->n_comp; i++) {
        fs_comp *c = &m->comps[i];
        c->n_codes = cfg->comparisons[i].n_levels + 2;
        default_m(c);
        for (int l = 1; l < c->n_codes; l++) c->u[l] = 1.0 / (c->n_codes - 1);
    }
    return DT_OK;
}

static void tf_fini(fs_tf *tf)
{
    util_intern_fini(&tf->values);
    dt_free(tf->counts);
    dt_free(tf->u_by_value);
    memset(tf, 0, sizeof *tf);
}

static void mby_fini(fs_mby *x)
{
    util_intern_fini(&x->values);
    dt_free(x->ratio);
    dt_free(x->bound);
    memset(x, 0, sizeof *x);
}

void fs_model_fini(fs_model *m)
{
    dt_free(m->train);
    for (size_t c = 0; c < FS_MAX_COMPARISONS; c++) {
        tf_fini(&m->tf[c]);
        mby_fini(&m->mby[c]);
    }
    memset(m, 0, sizeof *m);
}

int fs_tf_capture(fs_model *m, const dt_config *cfg, const cmp_table *t)
{
    for (size_t c = 0; c < m->n_comp; c++) {
        if (!cfg->comparisons[c].tf) continue;
        fs_tf *tf = &m->tf[c];
        const cmp_column *col = &t->cols[cfg->comparisons[c].i_field];
        tf_fini(tf);
        util_intern_init(&tf->values);
        uint32_t n = col->dict.n_strs;
        tf->counts = dt_malloc((n ? n : 1) * sizeof *tf->counts);
        if (!tf->counts) return DT_ENOMEM;
        for (uint32_t v = 0; v < n; v++) {
            uint32_t id;
            DT_TRY(util_intern_put(&tf->values, col->dict.strs[v], col->dict.lens[v], &id));
            tf->counts[id] = col->info[v].count;
        }
        tf->n_nonnull = col->n_nonnull;
        tf->is_set = 1;
    }
    return fs_tf_bind(m, cfg, t);
}

/* bound[v] for every value id of t's conditioning field: the model's id
 * of the same text, or -1. */
static int mby_bind(fs_mby *x, const cmp_column *col)
{
    dt_free(x->bound);
    uint32_t n = col->dict.n_strs;
    if (!(x->bound = dt_malloc((n ? n : 1) * sizeof *x->bound))) return DT_ENOMEM;
    for (uint32_t v = 0; v < n; v++) {
        uint32_t id = util_intern_find(&x->values, col->dict.strs[v], col->dict.lens[v]);
        x->bound[v] = id == UINT32_MAX ? -1 : (int32_t)id;
    }
    return DT_OK;
}

int fs_mby_fit(fs_model *m, const dt_config *cfg, const cmp_table *t, size_t c,
               const uint64_t *mass)
{
    fs_mby *x = &m->mby[c];
    const fs_comp *fc = &m->comps[c];
    const cmp_column *col = &t->cols[cfg->comparisons[c].m_by_field];
    int n_codes = fc->n_codes;
    mby_fini(x);
    util_intern_init(&x->values);
    size_t cap = 0;
    for (uint32_t v = 0; v < col->dict.n_strs; v++) {
        const uint64_t *mv = mass + (size_t)v * (size_t)n_codes;
        double total = 0;
        for (int l = 1; l < n_codes; l++) total += (double)mv[l] / FS_MBY_UNIT;
        if (total < FS_MBY_MIN_MASS) continue;
        uint32_t id;
        DT_TRY(util_intern_put(&x->values, col->dict.strs[v], col->dict.lens[v], &id));
        DT_TRY(util_grow((void **)&x->ratio, &cap, (size_t)id + 1, sizeof *x->ratio));
        for (int l = 0; l < FS_MAX_CODES; l++) x->ratio[id][l] = 1;
        for (int l = 1; l < n_codes; l++) {
            double mv_l = ((double)mv[l] / FS_MBY_UNIT + FS_MBY_PRIOR_PAIRS * fc->m[l]) /
                          (total + FS_MBY_PRIOR_PAIRS);
            x->ratio[id][l] = mv_l / fc->m[l];
        }
    }
    x->is_set = 1;
    return mby_bind(x, col);
}

int fs_tf_bind(fs_model *m, const dt_config *cfg, const cmp_table *t)
{
    for (size_t c = 0; c < m->n_comp; c++)
        if (m->mby[c].is_set && cfg->comparisons[c].m_by_field >= 0)
            DT_TRY(mby_bind(&m->mby[c], &t->cols[cfg->comparisons[c].m_by_field]));
    for (size_t c = 0; c < m->n_comp; c++) {
        fs_tf *tf = &m->tf[c];
        dt_free(tf->u_by_value);
        tf->u_by_value = NULL;
        if (!cfg->comparisons[c].tf || !tf->is_set) continue;
        const cmp_column *col = &t->cols[cfg->comparisons[c].i_field];
        uint32_t n = col->dict.n_strs;
        tf->u_by_value = dt_malloc((n ? n : 1) * sizeof *tf->u_by_value);
        if (!tf->u_by_value) return DT_ENOMEM;
        for (uint32_t v = 0; v < n; v++) {
            uint32_t id = util_intern_find(&tf->values, col->dict.strs[v], col->dict.lens[v]);
            double u = id == UINT32_MAX || !tf->n_nonnull
                           ? 0 : (double)tf->counts[id] / (double)tf->n_nonnull;
            tf->u_by_value[v] = u < cfg->tf_min_u ? cfg->tf_min_u : u;
        }
    }
    return DT_OK;
}

int fs_estimate_u(fs_model *m, const fs_patterns *pats)
{
    double counts[FS_MAX_COMPARISONS][FS_MAX_CODES] = {{0}};
    uint64_t total = 0;
    uint32_t *order = sorted_patterns(pats);
    if (!order) return DT_ENOMEM;
    for (uint32_t k = 0; k < pats->vecs.n_strs; k++) {
        uint32_t id = order[k];
        const uint8_t *g = (const uint8_t *)pats->vecs.strs[id];
        for (size_t c = 0; c < m->n_comp; c++) counts[c][g[c]] += (double)pats->counts[id];
        total += pats->counts[id];
    }
    dt_free(order);
    m->n_u_pairs = total;
    for (size_t c = 0; c < m->n_comp; c++) {
        fs_comp *fc = &m->comps[c];
        double sum = 0;
        for (int l = 1; l < fc->n_codes; l++) sum += counts[c][l] + 0.5;
        for (int l = 1; l < fc->n_codes; l++) fc->u[l] = (counts[c][l] + 0.5) / sum;
    }
    return DT_OK;
}

/* Bayes factor of one pattern under the current m, over comparisons not
 * left out. */
static double pattern_bf(const fs_model *m, const double (*mm)[FS_MAX_CODES], const uint8_t *g,
                         uint64_t left_out)
{
    double bf = 1.0;
    for (size_t c = 0; c < m->n_comp; c++) {
        if ((left_out >> c) & 1 || g[c] == 0) continue;
        bf *= mm[c][g[c]] / m->comps[c].u[g[c]];
    }
    return bf;
}

/* Bayes factor of one pattern under the model's own m and u. */
static double model_bf(const fs_model *m, const uint8_t *g)
{
    double bf = 1.0;
    for (size_t c = 0; c < m->n_comp; c++)
        if (g[c]) bf *= m->comps[c].m[g[c]] / m->comps[c].u[g[c]];
    return bf;
}

typedef struct em_state {
    double m[FS_MAX_COMPARISONS][FS_MAX_CODES];
    double lambda;
} em_state;

/* One E and M step; returns the largest change of any m or λ. */
static double em_step(const fs_model *m, const fs_patterns *pats, const uint32_t *order,
                      uint64_t left_out, em_state *s)
{
    double num[FS_MAX_COMPARISONS][FS_MAX_CODES] = {{0}};
    double den[FS_MAX_COMPARISONS] = {0};
    double match_total = 0, total = 0;
    for (uint32_t k = 0; k < pats->vecs.n_strs; k++) {
        uint32_t id = order[k];
        const uint8_t *g = (const uint8_t *)pats->vecs.strs[id];
        double n = (double)pats->counts[id];
        double bf = pattern_bf(m, (const double (*)[FS_MAX_CODES])s->m, g, left_out);
        double post = s->lambda * bf / (s->lambda * bf + (1 - s->lambda));
        match_total += n * post;
        total += n;
        for (size_t c = 0; c < m->n_comp; c++) {
            if ((left_out >> c) & 1 || g[c] == 0) continue;
            num[c][g[c]] += n * post;
            den[c] += n * post;
        }
    }
    double delta = 0;
    double lambda = total > 0 ? match_total / total : s->lambda;
    lambda = fmin(fmax(lambda, 1e-9), 1 - 1e-9);
    delta = fabs(lambda - s->lambda);
    s->lambda = lambda;
    for (size_t c = 0; c < m->n_comp; c++) {
        if ((left_out >> c) & 1 || den[c] <= 0) continue;
        const fs_comp *fc = &m->comps[c];
        for (int l = 1; l < fc->n_codes; l++) {
            double v = fmax(num[c][l] / den[c], FS_M_FLOOR);
            delta = fmax(delta, fabs(v - s->m[c][l]));
            s->m[c][l] = v;
        }
    }
    return delta;
}

int fs_em_pass(fs_model *m, const dt_config *cfg, const fs_patterns *pats, uint64_t left_out,
               int rule, fs_training *out)
{
    memset(out, 0, sizeof *out);
    out->rule = rule;
    out->left_out = left_out;
    out->n_patterns = pats->vecs.n_strs;
    for (uint32_t i = 0; i < pats->vecs.n_strs; i++) out->n_pairs += pats->counts[i];
    if (out->n_pairs == 0) return DT_OK;
    uint32_t *order = sorted_patterns(pats);
    if (!order) return DT_ENOMEM;
    em_state s;
    memset(&s, 0, sizeof s);
    for (size_t c = 0; c < m->n_comp; c++) {
        fs_comp tmp = m->comps[c];
        default_m(&tmp); /* every pass starts from the same point */
        memcpy(s.m[c], tmp.m, sizeof s.m[c]);
    }
    s.lambda = 0.1;
    for (out->iterations = 1; out->iterations <= cfg->em_max_iterations; out->iterations++) {
        double change = em_step(m, pats, order, left_out, &s);
        if (out->iterations <= FS_TRACE) out->change[out->iterations - 1] = (float)change;
        if (change < cfg->em_tolerance) {
            out->converged = 1;
            break;
        }
    }
    if (out->iterations > cfg->em_max_iterations) out->iterations = cfg->em_max_iterations;
    dt_free(order);
    out->lambda = s.lambda;
    /* Running average of m over the passes that estimated it. */
    for (size_t c = 0; c < m->n_comp; c++) {
        if ((left_out >> c) & 1) continue;
        fs_comp *fc = &m->comps[c];
        int k = fc->n_m_estimates;
        for (int l = 1; l < fc->n_codes; l++)
            fc->m[l] = k == 0 ? s.m[c][l] : (fc->m[l] * k + s.m[c][l]) / (k + 1);
        fc->n_m_estimates++;
    }
    return DT_OK;
}

void fs_finish_m(fs_model *m)
{
    for (size_t c = 0; c < m->n_comp; c++) {
        fs_comp *fc = &m->comps[c];
        if (fc->n_m_estimates == 0) default_m(fc);
        double sum = 0;
        for (int l = 1; l < fc->n_codes; l++) sum += fc->m[l];
        for (int l = 1; l < fc->n_codes; l++) fc->m[l] /= sum;
    }
}

/* ---- the family context (model.h, invariant 4) ---------------------- */

static int context_holds(const fs_context *x, size_t n_comp, const uint8_t *g)
{
    int has_id = !x->require;
    for (size_t c = 0; c < n_comp; c++) {
        if ((x->mask >> c) & 1 && !((x->levels[c] >> g[c]) & 1)) return 0;
        if ((x->require >> c) & 1 && g[c] != 0) has_id = 1;
    }
    return has_id;
}

int fs_context_of(const fs_model *m, const uint8_t *g)
{
    for (size_t k = 0; k < m->n_ctx; k++)
        if (context_holds(&m->ctx[k], m->n_comp, g)) return (int)k + 1;
    return 0;
}

int fs_scoring_context(const fs_model *m, const uint8_t *g)
{
    int k = fs_context_of(m, g);
    return k && m->ctx[k - 1].is_set ? k : 0;
}

typedef struct ctx_state {
    double m[FS_MAX_COMPARISONS][FS_MAX_CODES];
    double u[FS_MAX_COMPARISONS][FS_MAX_CODES];
    double lambda;
} ctx_state;

/* Floors keep every weight finite with few pairs in the context. */
enum { CTX_MIN_ITERATIONS = 200 };
#define CTX_FLOOR 1e-6

static double ctx_bf(const fs_model *m, const ctx_state *s, const uint8_t *g)
{
    double bf = 1.0;
    for (size_t c = 0; c < m->n_comp; c++)
        if (g[c]) bf *= s->m[c][g[c]] / s->u[c][g[c]];
    return bf;
}

static void ctx_normalize(double *p, int n_codes)
{
    double sum = 0;
    for (int l = 1; l < n_codes; l++) sum += p[l] = fmax(p[l], CTX_FLOOR);
    for (int l = 1; l < n_codes; l++) p[l] /= sum;
}

/* One E and M step over the context's patterns (ids in order); returns the
 * largest change of any parameter. */
/* Pairs clustering never joins (cfg_levels_forbid_link) are known
 * non-matches, and EM counts them so: inside a household the non-matches
 * are spouses, parents and children, and twins, a mix that EM left alone
 * splits by sex and given name instead of by person. acc is scratch. */
static double ctx_step(const fs_model *m, const dt_config *cfg, const fs_patterns *pats,
                       const uint32_t *ids, uint32_t n_ids, ctx_state *s, ctx_state *acc)
{
    memset(acc, 0, sizeof *acc);
    double match_total = 0, total = 0;
    for (uint32_t k = 0; k < n_ids; k++) {
        const uint8_t *g = (const uint8_t *)pats->vecs.strs[ids[k]];
        double n = (double)pats->counts[ids[k]], bf = ctx_bf(m, s, g);
        double post = cfg_levels_forbid_link(cfg, g)
                          ? 0 : s->lambda * bf / (s->lambda * bf + (1 - s->lambda));
        match_total += n * post;
        total += n;
        for (size_t c = 0; c < m->n_comp; c++) {
            if (g[c] == 0) continue;
            acc->m[c][g[c]] += n * post;
            acc->u[c][g[c]] += n * (1 - post);
        }
    }
    double delta = fabs(match_total / total - s->lambda);
    s->lambda = fmin(fmax(match_total / total, 1e-9), 1 - 1e-9);
    for (size_t c = 0; c < m->n_comp; c++) {
        int n_codes = m->comps[c].n_codes;
        ctx_normalize(acc->m[c], n_codes);
        ctx_normalize(acc->u[c], n_codes);
        for (int l = 1; l < n_codes; l++) {
            delta = fmax(delta, fabs(acc->m[c][l] - s->m[c][l]));
            delta = fmax(delta, fabs(acc->u[c][l] - s->u[c][l]));
            s->m[c][l] = acc->m[c][l];
            s->u[c][l] = acc->u[c][l];
        }
    }
    return delta;
}

/* Starts from the global m (matches agree) and u (non-matches do not), so
 * the class EM calls "match" is the one that agrees. */
static void ctx_start(const fs_model *m, ctx_state *s)
{
    for (size_t c = 0; c < m->n_comp; c++) {
        memcpy(s->m[c], m->comps[c].m, sizeof s->m[c]);
        memcpy(s->u[c], m->comps[c].u, sizeof s->u[c]);
    }
    s->lambda = 0.5;
}

/* EM's two classes have no names: in the context the non-matches (twins)
 * may outnumber the matches, and EM may end with them in the class it
 * started as "match". The matches are the class that agrees more often at
 * the first level of the comparisons outside the context; swap if not. */
static void ctx_label_classes(const fs_model *m, const fs_context *x, ctx_state *s)
{
    double lead = 0;
    for (size_t c = 0; c < m->n_comp; c++)
        if (!((x->mask >> c) & 1)) lead += s->m[c][1] - s->u[c][1];
    if (lead >= 0) return;
    for (size_t c = 0; c < m->n_comp; c++)
        for (int l = 1; l < m->comps[c].n_codes; l++) {
            double t = s->m[c][l];
            s->m[c][l] = s->u[c][l];
            s->u[c][l] = t;
        }
    s->lambda = 1 - s->lambda;
}

/* EM over the patterns in order[0..n_ids) for context x. */
static int em_one_context(const fs_model *m, const dt_config *cfg, const fs_patterns *pats,
                          const uint32_t *ids, uint32_t n_ids, fs_context *x)
{
    ctx_state *s = dt_malloc(2 * sizeof *s); /* the parameters, then ctx_step's scratch */
    if (!s) return DT_ENOMEM;
    ctx_start(m, s);
    int max_it = cfg->em_max_iterations > CTX_MIN_ITERATIONS ? cfg->em_max_iterations
                                                             : CTX_MIN_ITERATIONS;
    x->converged = 0;
    for (x->iterations = 1; x->iterations <= max_it; x->iterations++) {
        if (ctx_step(m, cfg, pats, ids, n_ids, s, s + 1) < cfg->em_tolerance) {
            x->converged = 1;
            break;
        }
    }
    if (x->iterations > max_it) x->iterations = max_it;
    ctx_label_classes(m, x, s);
    for (size_t c = 0; c < m->n_comp; c++) {
        x->comps[c].n_codes = m->comps[c].n_codes;
        memcpy(x->comps[c].m, s->m[c], sizeof x->comps[c].m);
        memcpy(x->comps[c].u, s->u[c], sizeof x->comps[c].u);
    }
    x->lambda = s->lambda;
    x->is_set = 1;
    dt_free(s);
    return DT_OK;
}

int fs_em_contexts(fs_model *m, const dt_config *cfg, const fs_patterns *pats)
{
    if (!m->n_ctx) return DT_OK;
    uint32_t *order = sorted_patterns(pats), *ids = NULL;
    if (order) ids = dt_malloc((pats->vecs.n_strs ? pats->vecs.n_strs : 1) * sizeof *ids);
    int rc = order && ids ? DT_OK : DT_ENOMEM;
    for (size_t k = 0; k < m->n_ctx && rc == DT_OK; k++) {
        fs_context *x = &m->ctx[k];
        x->is_set = 0;
        x->n_pairs = 0;
        uint32_t n_ids = 0;
        for (uint32_t i = 0; i < pats->vecs.n_strs; i++) { /* in byte order (invariant 3) */
            if (fs_context_of(m, (const uint8_t *)pats->vecs.strs[order[i]]) != (int)k + 1)
                continue;
            ids[n_ids++] = order[i];
            x->n_pairs += pats->counts[order[i]];
        }
        x->n_patterns = n_ids;
        if (n_ids) rc = em_one_context(m, cfg, pats, ids, n_ids, x);
    }
    dt_free(ids);
    dt_free(order);
    return rc;
}

/* The pair of sources a pattern carries; -1 when it carries none. */
static int pattern_sp(const fs_model *m, const fs_patterns *pats, const uint8_t *g)
{
    if (!m->n_sources || pats->n_comp != m->n_comp + FS_SP_BYTES) return -1;
    uint16_t sp;
    memcpy(&sp, g + m->n_comp, sizeof sp);
    return sp < FS_MAX_SOURCE_PAIRS ? sp : -1;
}

/* λ_c = Σ P(match | γ, λ_c) over the candidates of class c / comparable[c],
 * iterated from lambda[c] to its fixed point, for n_cls classes: one class
 * (by_sp 0), or one per pair of sources. A class with no comparable pairs
 * keeps its start. Returns the iterations, or DT_ENOMEM. */
static int lambda_fixed_point(const fs_model *m, const fs_patterns *pats, int by_sp, int n_cls,
                              const uint64_t *comparable, double *lambda)
{
    uint32_t n = pats->vecs.n_strs;
    uint32_t *order = sorted_patterns(pats);
    double *bf = dt_malloc((n ? n : 1) * sizeof *bf);
    int *cls = dt_malloc((n ? n : 1) * sizeof *cls);
    if (!order || !bf || !cls) {
        dt_free(order);
        dt_free(bf);
        dt_free(cls);
        return DT_ENOMEM;
    }
    for (uint32_t k = 0; k < n; k++) { /* in byte order (invariant 3) */
        const uint8_t *g = (const uint8_t *)pats->vecs.strs[order[k]];
        bf[k] = model_bf(m, g);
        cls[k] = by_sp ? pattern_sp(m, pats, g) : 0;
    }
    double expected[FS_MAX_SOURCE_PAIRS];
    int it;
    for (it = 1; it <= 1000; it++) {
        memset(expected, 0, (size_t)n_cls * sizeof *expected);
        for (uint32_t k = 0; k < n; k++) {
            if (cls[k] < 0 || cls[k] >= n_cls) continue;
            double l = lambda[cls[k]];
            expected[cls[k]] += (double)pats->counts[order[k]] * l * bf[k] / (l * bf[k] + 1 - l);
        }
        int done = 1;
        for (int c = 0; c < n_cls; c++) {
            if (!comparable[c]) continue;
            double next = fmin(fmax(expected[c] / (double)comparable[c], 1e-12), 0.5);
            if (fabs(next - lambda[c]) > 1e-9 * lambda[c]) done = 0;
            lambda[c] = next;
        }
        if (done) break;
    }
    dt_free(cls);
    dt_free(bf);
    dt_free(order);
    return it > 1000 ? 1000 : it;
}

int fs_estimate_lambda(fs_model *m, const fs_patterns *pats, uint64_t n_comparable_pairs)
{
    m->n_comparable_pairs = n_comparable_pairs;
    if (n_comparable_pairs == 0) return DT_OK;
    double lambda = 1.0 / (double)n_comparable_pairs;
    int it = lambda_fixed_point(m, pats, 0, 1, &n_comparable_pairs, &lambda);
    if (it < 0) return it;
    m->lambda_iterations = it;
    m->lambda = lambda;
    return DT_OK;
}

int fs_estimate_lambda_by_sources(fs_model *m, const fs_patterns *pats, size_t n_sources,
                                  const uint64_t *comparable)
{
    memset(m->lambda_sp, 0, sizeof m->lambda_sp);
    m->n_sources = 0;
    if (n_sources == 0 || n_sources > FS_MAX_PRIOR_SOURCES ||
        pats->n_comp != m->n_comp + FS_SP_BYTES)
        return DT_OK;
    m->n_sources = n_sources;
    int n_sp = fs_source_pair((unsigned)n_sources - 1, (unsigned)n_sources - 1) + 1;
    double lambda[FS_MAX_SOURCE_PAIRS];
    for (int sp = 0; sp < n_sp; sp++) lambda[sp] = m->lambda;
    int it = lambda_fixed_point(m, pats, 1, n_sp, comparable, lambda);
    if (it < 0) return it;
    for (int sp = 0; sp < n_sp; sp++) m->lambda_sp[sp] = comparable[sp] ? lambda[sp] : 0;
    return DT_OK;
}

/* ---- scoring ------------------------------------------------------- */

double fs_level_weight(const fs_model *m, size_t i_comp, int code)
{
    if (code == 0) return 0;
    const fs_comp *c = &m->comps[i_comp];
    return log2(c->m[code] / c->u[code]);
}

double fs_prior_weight(const fs_model *m)
{
    return log2(m->lambda / (1 - m->lambda));
}

double fs_pair_prior_weight(const fs_model *m, int k, int src_a, int src_b)
{
    if (k) return log2(m->ctx[k - 1].lambda / (1 - m->ctx[k - 1].lambda));
    int known = src_a >= 0 && src_b >= 0 && (size_t)src_a < m->n_sources &&
                (size_t)src_b < m->n_sources;
    double lambda = known ? m->lambda_sp[fs_source_pair((unsigned)src_a, (unsigned)src_b)] : 0;
    if (lambda <= 0) lambda = m->lambda;
    return log2(lambda / (1 - lambda));
}

double fs_comp_weight(const fs_model *m, const dt_config *cfg, const cmp_table *t,
                      size_t i_comp, int code, uint32_t a, double *u_used)
{
    return fs_comp_weight_in(m, cfg, t, i_comp, code, a, 0, NULL, u_used);
}

/* u at the exact level for value v. Agreeing on a rare value is stronger
 * evidence than on a common one: P(agree on v | non-match) = f_v^2,
 * P(agree on v | match) = m f_v, so the factor is m / f_v (Winkler 1989;
 * Splink). */
static double tf_u(const fs_model *m, const dt_config *cfg, const cmp_column *col, size_t i_comp,
                   uint32_t v, double u)
{
    if (v != CMP_NULL && m->tf[i_comp].u_by_value) return m->tf[i_comp].u_by_value[v];
    if (v != CMP_NULL && col->n_nonnull) {
        u = (double)col->info[v].count / (double)col->n_nonnull;
        if (u < cfg->tf_min_u) u = cfg->tf_min_u;
    }
    return u;
}

/* The model's id of the value records a and b share in the field that
 * conditions comparison c's m (invariant 6), or -1. */
static int32_t mby_id(const fs_model *m, const dt_config *cfg, const cmp_table *t, size_t c,
                      uint32_t a, uint32_t b)
{
    const fs_mby *x = &m->mby[c];
    if (!x->is_set || !x->bound || !t) return -1;
    const uint32_t *vals = t->cols[cfg->comparisons[c].m_by_field].vals;
    uint32_t v = vals[a];
    return v != CMP_NULL && v == vals[b] ? x->bound[v] : -1;
}

double fs_comp_weight_in(const fs_model *m, const dt_config *cfg, const cmp_table *t,
                         size_t i_comp, int code, uint32_t a, int k, double *m_used,
                         double *u_used)
{
    /* Within the context u was learned among the context's own
     * non-matches, value frequencies included: no TF there. */
    int use_ctx = k > 0;
    const fs_comp *c = use_ctx ? &m->ctx[k - 1].comps[i_comp] : &m->comps[i_comp];
    const cfg_comparison *cc = &cfg->comparisons[i_comp];
    double u = code ? c->u[code] : 1;
    if (m_used) *m_used = code ? c->m[code] : 1;
    if (code == 1 && cc->tf && !use_ctx) {
        const cmp_column *col = &t->cols[cc->i_field];
        u = tf_u(m, cfg, col, i_comp, col->vals[a], u);
    }
    if (u_used) *u_used = u;
    return code ? log2(c->m[code] / u) : 0;
}

double fs_mby_weight(const fs_model *m, const dt_config *cfg, const cmp_table *t, size_t i_comp,
                     int code, uint32_t a, uint32_t b, double *ratio)
{
    int32_t id = code ? mby_id(m, cfg, t, i_comp, a, b) : -1;
    double r = id >= 0 ? m->mby[i_comp].ratio[id][code] : 1;
    if (ratio) *ratio = r;
    return id >= 0 ? log2(r) : 0;
}

double fs_pair_weight(const fs_model *m, const dt_config *cfg, const cmp_table *t,
                      const uint8_t *gammas, uint32_t a, uint32_t b)
{
    int k = fs_scoring_context(m, gammas);
    double w = fs_pair_prior_weight(m, k, t ? cmp_src(t, a) : -1, t ? cmp_src(t, b) : -1);
    /* summed as fs_scorer_weight sums them: the levels, then m by value */
    for (size_t c = 0; c < m->n_comp; c++)
        w += fs_comp_weight_in(m, cfg, t, c, gammas[c], a, k, NULL, NULL);
    for (size_t c = 0; c < m->n_comp; c++)
        if (m->mby[c].is_set) w += fs_mby_weight(m, cfg, t, c, gammas[c], a, b, NULL);
    return w;
}

int fs_same_value_comparison(const dt_config *cfg, int i_field)
{
    for (size_t c = 0; i_field >= 0 && c < cfg->n_comparisons; c++) {
        const cfg_comparison *cc = &cfg->comparisons[c];
        if (cc->i_field == i_field && cc->n_levels > 0 && cc->levels[0].kind == CFG_L_EXACT &&
            cfg->fields[i_field].type != CFG_T_DATE)
            return (int)c;
    }
    return -1;
}

int fs_scorer_new(const fs_model *m, const dt_config *cfg, const cmp_table *t, fs_scorer **out)
{
    fs_scorer *sc = *out = dt_calloc(1, sizeof *sc);
    if (!sc) return DT_ENOMEM;
    *sc = (fs_scorer){.m = m, .t = t, .n_comp = m->n_comp};
    for (size_t k = 0; k <= m->n_ctx; k++) {
        if (k && !m->ctx[k - 1].is_set) continue; /* never a scoring context */
        sc->prior_ctx[k] = fs_pair_prior_weight(m, (int)k, -1, -1);
        for (size_t c = 0; c < m->n_comp; c++)
            for (int code = 1; code <= cfg->comparisons[c].n_levels + 1; code++) {
                /* The value only matters for TF at exact, taken below. */
                const fs_comp *fc = k ? &m->ctx[k - 1].comps[c] : &m->comps[c];
                sc->w[k][c][code] = log2(fc->m[code] / fc->u[code]);
            }
    }
    for (unsigned a = 0; a < m->n_sources; a++)
        for (unsigned b = a; b < m->n_sources; b++)
            sc->prior_sp[fs_source_pair(a, b)] = fs_pair_prior_weight(m, 0, (int)a, (int)b);
    for (size_t c = 0; c < m->n_comp && t; c++) {
        if (!cfg->comparisons[c].tf) continue;
        const cmp_column *col = &t->cols[cfg->comparisons[c].i_field];
        uint32_t n = col->dict.n_strs;
        if (!(sc->tf_exact[c] = dt_malloc((n ? n : 1) * sizeof *sc->tf_exact[c]))) goto fail;
        sc->tf_col[c] = (size_t)cfg->comparisons[c].i_field;
        for (uint32_t v = 0; v < n; v++)
            sc->tf_exact[c][v] = log2(m->comps[c].m[1] / tf_u(m, cfg, col, c, v, m->comps[c].u[1]));
    }
    for (size_t c = 0; c < m->n_comp && t; c++) {
        const fs_mby *x = &m->mby[c];
        if (!x->is_set || !x->bound) continue;
        uint32_t n = x->values.n_strs;
        if (!(sc->mby_w[c] = dt_malloc((n ? n : 1) * sizeof *sc->mby_w[c]))) goto fail;
        sc->mby_col[c] = (size_t)cfg->comparisons[c].m_by_field;
        sc->mby_same[c] = fs_same_value_comparison(cfg, cfg->comparisons[c].m_by_field);
        sc->mby_comps[sc->n_mby++] = (uint8_t)c;
        for (uint32_t id = 0; id < n; id++)
            for (int code = 1; code < m->comps[c].n_codes; code++)
                sc->mby_w[c][id][code] = log2(x->ratio[id][code]);
    }
    return DT_OK;
fail:
    fs_scorer_free(sc);
    *out = NULL;
    return DT_ENOMEM;
}

void fs_scorer_free(fs_scorer *sc)
{
    for (size_t c = 0; sc && c < FS_MAX_COMPARISONS; c++) {
        dt_free(sc->tf_exact[c]);
        dt_free(sc->mby_w[c]);
    }
    dt_free(sc);
}

double fs_scorer_weight(const fs_scorer *sc, const uint8_t *g, uint32_t a, uint32_t b)
{
    int k = fs_scoring_context(sc->m, g);
    double w;
    if (k || !sc->t || sc->m->n_sources == 0) {
        w = sc->prior_ctx[k];
    } else {
        unsigned sa = cmp_src(sc->t, a), sb = cmp_src(sc->t, b);
        w = sa < sc->m->n_sources && sb < sc->m->n_sources ? sc->prior_sp[fs_source_pair(sa, sb)]
                                                           : sc->prior_ctx[0];
    }
    for (size_t c = 0; c < sc->n_comp; c++) {
        int code = g[c];
        double x;
        if (code == 1 && !k && sc->tf_exact[c]) {
            uint32_t v = cmp_val(sc->t, sc->tf_col[c], a);
            x = v != CMP_NULL ? sc->tf_exact[c][v] : sc->w[0][c][1];
        } else {
            x = code ? sc->w[k][c][code] : 0;
        }
        w += x;
    }
    /* Last, so that a fit of comparison c's m by value (the last term set)
     * can keep the rest of a pair's weight between its passes. */
    for (size_t k_mby = 0; k_mby < sc->n_mby; k_mby++) {
        size_t c = sc->mby_comps[k_mby];
        int code = g[c], same = sc->mby_same[c];
        if (code && (same < 0 || g[same] == 1)) { /* as fs_mby_weight */
            uint32_t v = cmp_val(sc->t, sc->mby_col[c], a);
            if (v == CMP_NULL || v != cmp_val(sc->t, sc->mby_col[c], b)) continue;
            int32_t id = sc->m->mby[c].bound[v];
            if (id >= 0) w += sc->mby_w[c][id][code];
        }
    }
    return w;
}

double fs_probability(double weight)
{
    return 1.0 / (1.0 + exp2(-weight));
}

fs_cut fs_cut_of(double p)
{
    if (!(p > 0 && p < 1)) return (fs_cut){p, -INFINITY, INFINITY}; /* ask every weight */
    double w = log2(p / (1 - p));
    /* Far wider than any rounding of log2, exp2 and the division: at 1e-9
     * from the cut, the probability is 1e-10 or more away from p. */
    double slack = 1e-9 * (1 + fabs(w));
    return (fs_cut){p, w - slack, w + slack};
}
