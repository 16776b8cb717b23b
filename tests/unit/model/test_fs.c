/* Unit tests for src/model/fs.c and model_json.c: EM recovers the m and λ
 * that generated a seeded sample of comparison vectors; left-out
 * comparisons keep their m; passes average; λ over candidates; weights,
 * probabilities and term-frequency adjustment; results do not depend on
 * the order patterns were added in; model.json round trip and rejection of
 * a model whose levels differ from the config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <math.h>

#include <cmocka.h>

#include "model/model.h"

/* Four comparisons with 4, 3, 2 and 3 non-null codes (levels + else). */
static const char CONFIG[] =
    "fields:\n"
    "  given: given_name\n"
    "  surname: surname\n"
    "  dob: date\n"
    "  postcode: postcode\n"
    "sources:\n"
    "  - name: a\n"
    "    path: a.csv\n"
    "    id: id\n"
    "    columns: {given: given, surname: surname, dob: dob, postcode: postcode}\n"
    "blocking:\n"
    "  rules:\n"
    "    - [postcode]\n"
    "    - [dob]\n"
    "comparisons:\n"
    "  - field: given\n"
    "    levels: [exact, {jaro_winkler: 0.92}, {jaro_winkler: 0.8}]\n"
    "  - field: surname\n"
    "    tf: true\n"
    "    levels: [exact, {jaro_winkler: 0.9}]\n"
    "  - field: dob\n"
    "    levels: [exact]\n"
    "  - field: postcode\n"
    "    levels: [exact, {damerau_levenshtein: 1}]\n"
    "model:\n"
    "  em_max_iterations: 500\n"
    "  em_tolerance: 0.0000001\n";

/* Same comparisons, but the given name's second level has another label. */
static const char CONFIG_OTHER_LEVELS[] =
    "fields:\n"
    "  given: given_name\n"
    "  surname: surname\n"
    "  dob: date\n"
    "  postcode: postcode\n"
    "sources:\n"
    "  - name: a\n"
    "    path: a.csv\n"
    "    id: id\n"
    "    columns: {given: given, surname: surname, dob: dob, postcode: postcode}\n"
    "blocking:\n"
    "  rules: [[postcode]]\n"
    "comparisons:\n"
    "  - field: given\n"
    "    levels: [exact, {jaro_winkler: 0.9}, {jaro_winkler: 0.8}]\n"
    "  - field: surname\n"
    "    levels: [exact, {jaro_winkler: 0.9}]\n"
    "  - field: dob\n"
    "    levels: [exact]\n"
    "  - field: postcode\n"
    "    levels: [exact, {damerau_levenshtein: 1}]\n";

#define N_COMP 4

/* Truth, indexed by code (0 = null, unused). */
static const double TRUE_M[N_COMP][FS_MAX_CODES] = {
    {0, 0.80, 0.10, 0.05, 0.05},
    {0, 0.85, 0.10, 0.05},
    {0, 0.90, 0.10},
    {0, 0.75, 0.15, 0.10},
};
static const double TRUE_U[N_COMP][FS_MAX_CODES] = {
    {0, 0.02, 0.03, 0.10, 0.85},
    {0, 0.03, 0.07, 0.90},
    {0, 0.05, 0.95},
    {0, 0.01, 0.04, 0.95},
};
static const int N_CODES[N_COMP] = {5, 4, 3, 4};
static const double TRUE_LAMBDA = 0.3;
static const double NULL_RATE_DOB = 0.05; /* independent of match status */

static dt_config *parse(const char *yaml)
{
    dt_config *cfg = NULL;
    dt_error err;
    dt_error_clear(&err);
    int rc = cfg_parse(yaml, strlen(yaml), "test.yaml", "/tmp", &cfg, &err);
    if (rc != DT_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, DT_OK);
    return cfg;
}

static double uniform(util_rng *r)
{
    return (double)util_rng_below(r, 1u << 30) / (double)(1u << 30);
}

static uint8_t draw(util_rng *r, const double *probs, int n_codes)
{
    double x = uniform(r), acc = 0;
    for (int l = 1; l < n_codes; l++) {
        acc += probs[l];
        if (x < acc) return (uint8_t)l;
    }
    return (uint8_t)(n_codes - 1);
}

/* One comparison vector: a match with probability lambda. */
static void gen_vector(util_rng *r, double lambda, uint8_t g[N_COMP])
{
    int is_match = uniform(r) < lambda;
    for (int c = 0; c < N_COMP; c++)
        g[c] = draw(r, is_match ? TRUE_M[c] : TRUE_U[c], N_CODES[c]);
    if (uniform(r) < NULL_RATE_DOB) g[2] = 0;
}

/* n vectors into a flat array of n * N_COMP bytes (caller frees). */
static uint8_t *gen_vectors(uint64_t seed, size_t n, double lambda)
{
    util_rng r;
    util_rng_seed(&r, seed);
    uint8_t *v = malloc(n * N_COMP);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) gen_vector(&r, lambda, v + i * N_COMP);
    return v;
}

static void add_all(fs_patterns *p, const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) assert_int_equal(fs_patterns_add(p, v + i * N_COMP, 1), DT_OK);
}

static void set_true_u(fs_model *m)
{
    for (int c = 0; c < N_COMP; c++)
        for (int l = 1; l < N_CODES[c]; l++) m->comps[c].u[l] = TRUE_U[c][l];
}

static void set_true_m_u(fs_model *m)
{
    set_true_u(m);
    for (int c = 0; c < N_COMP; c++)
        for (int l = 1; l < N_CODES[c]; l++) m->comps[c].m[l] = TRUE_M[c][l];
}

static void test_patterns_aggregate(void **state)
{
    (void)state;
    fs_patterns p;
    fs_patterns_init(&p, N_COMP);
    const uint8_t a[N_COMP] = {1, 2, 0, 3}, b[N_COMP] = {1, 2, 1, 3};
    assert_int_equal(fs_patterns_add(&p, a, 2), DT_OK);
    assert_int_equal(fs_patterns_add(&p, b, 1), DT_OK);
    assert_int_equal(fs_patterns_add(&p, a, 5), DT_OK);
    assert_int_equal(p.vecs.n_strs, 2);
    assert_int_equal(p.counts[util_intern_find(&p.vecs, (const char *)a, N_COMP)], 7);
    assert_int_equal(p.counts[util_intern_find(&p.vecs, (const char *)b, N_COMP)], 1);
    fs_patterns_fini(&p);
}

static void test_model_init(void **state)
{
    (void)state;
    dt_config *cfg = parse(CONFIG);
    fs_model m;
    assert_int_equal(fs_model_init(&m, cfg), DT_OK);
    assert_int_equal(m.n_comp, N_COMP);
    for (int c = 0; c < N_COMP; c++) {
        assert_int_equal(m.comps[c].n_codes, N_CODES[c]);
        assert_int_equal(m.comps[c].n_m_estimates, 0);
        double sum_m = 0, sum_u = 0;
        for (int l = 1; l < N_CODES[c]; l++) {
            sum_m += m.comps[c].m[l];
            sum_u += m.comps[c].u[l];
        }
        assert_true(fabs(sum_m - 1) < 1e-12);
        assert_true(fabs(sum_u - 1) < 1e-12);
        assert_true(m.comps[c].m[1] > m.comps[c].m[2]); /* the first level is the likeliest */
    }
    assert_int_equal(m.seed, 42);
    assert_true(m.config_hash == cfg->hash);
    fs_model_fini(&m);
    dt_config_free(cfg);
}

static void test_estimate_u(void **state)
{
    (void)state;
    dt_config *cfg = parse(CONFIG);
    fs_model m;
    assert_int_equal(fs_model_init(&m, cfg), DT_OK);
    enum { N = 100000 };
    uint8_t *v = gen_vectors(11, N, 0.0); /* non-matches only */
    fs_patterns p;
    fs_patterns_init(&p, N_COMP);
    add_all(&p, v, N);
    assert_int_equal(fs_estimate_u(&m, &p), DT_OK);
    assert_int_equal(m.n_u_pairs, N);
    for (int c = 0; c < N_COMP; c++)
        for (int l = 1; l < N_CODES[c]; l++)
            assert_true(fabs(m.comps[c].u[l] - TRUE_U[c][l]) < 0.005);

    /* Exact smoothing: (count + 0.5) / (total + 0.5 * codes), nulls ignored. */
    fs_patterns q;
    fs_patterns_init(&q, N_COMP);
    const uint8_t g1[N_COMP] = {1, 3, 0, 3}, g2[N_COMP] = {4, 3, 2, 3};
    assert_int_equal(fs_patterns_add(&q, g1, 3), DT_OK);
    assert_int_equal(fs_patterns_add(&q, g2, 1), DT_OK);
    assert_int_equal(fs_estimate_u(&m, &q), DT_OK);
    assert_true(fabs(m.comps[0].u[1] - 3.5 / 6.0) < 1e-12);
    assert_true(fabs(m.comps[0].u[2] - 0.5 / 6.0) < 1e-12);
    assert_true(fabs(m.comps[0].u[4] - 1.5 / 6.0) < 1e-12);
    assert_true(fabs(m.comps[2].u[1] - 0.5 / 2.0) < 1e-12); /* one non-null value */
    assert_true(fabs(m.comps[2].u[2] - 1.5 / 2.0) < 1e-12);
    for (int c = 0; c < N_COMP; c++)
        for (int l = 1; l < N_CODES[c]; l++) assert_true(m.comps[c].u[l] > 0);

    fs_patterns_fini(&q);
    fs_patterns_fini(&p);
    free(v);
    fs_model_fini(&m);
    dt_config_free(cfg);
}

/* The headline: EM on data drawn from known m, u and λ gives them back. */
static void test_em_recovers_parameters(void **state)
{
    (void)state;
    dt_config *cfg = parse(CONFIG);
    fs_model m;
    assert_int_equal(fs_model_init(&m, cfg), DT_OK);

    enum { N_U = 100000, N = 20000 };
    uint8_t *vu = gen_vectors(1, N_U, 0.0);
    fs_patterns pu;
    fs_patterns_init(&pu, N_COMP);
    add_all(&pu, vu, N_U);
    assert_int_equal(fs_estimate_u(&m, &pu), DT_OK);

    uint8_t *v = gen_vectors(2, N, TRUE_LAMBDA);
    fs_patterns p;
    fs_patterns_init(&p, N_COMP);
    add_all(&p, v, N);
    fs_training tr;
    assert_int_equal(fs_em_pass(&m, cfg, &p, 0, 1, &tr), DT_OK);
    assert_int_equal(tr.rule, 1);
    assert_int_equal(tr.n_pairs, N);
    assert_int_equal(tr.n_patterns, p.vecs.n_strs);
    assert_int_equal(tr.left_out, 0);
    assert_true(tr.converged);
    assert_in_range(tr.iterations, 2, 500);
    assert_true(fabs(tr.lambda - TRUE_LAMBDA) < 0.02);
    fs_finish_m(&m);
    for (int c = 0; c < N_COMP; c++) {
        assert_int_equal(m.comps[c].n_m_estimates, 1);
        for (int l = 1; l < N_CODES[c]; l++) {
            double got = m.comps[c].m[l];
            if (fabs(got - TRUE_M[c][l]) >= 0.02)
                fprintf(stderr, "comparison %d level %d: m %.4f, truth %.4f\n", c, l, got,
                        TRUE_M[c][l]);
            assert_true(fabs(got - TRUE_M[c][l]) < 0.02);
        }
    }

    fs_patterns_fini(&p);
    fs_patterns_fini(&pu);
    free(v);
    free(vu);
    fs_model_fini(&m);
    dt_config_free(cfg);
}

/* A second data set, from other m (to tell passes apart). */
static uint8_t *gen_vectors_shifted(uint64_t seed, size_t n)
{
    util_rng r;
    util_rng_seed(&r, seed);
    static const double m0[FS_MAX_CODES] = {0, 0.60, 0.20, 0.10, 0.10};
    uint8_t *v = malloc(n * N_COMP);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        uint8_t *g = v + i * N_COMP;
        int is_match = uniform(&r) < 0.5;
        g[0] = draw(&r, is_match ? m0 : TRUE_U[0], N_CODES[0]);
        for (int c = 1; c < N_COMP; c++)
            g[c] = draw(&r, is_match ? TRUE_M[c] : TRUE_U[c], N_CODES[c]);
    }
    return v;
}

static void test_left_out_and_average(void **state)
{
    (void)state;
    dt_config *cfg = parse(CONFIG);
    enum { N = 5000 };
    uint8_t *va = gen_vectors(3, N, TRUE_LAMBDA), *vb = gen_vectors_shifted(4, N);
    fs_patterns pa, pb;
    fs_patterns_init(&pa, N_COMP);
    fs_patterns_init(&pb, N_COMP);
    add_all(&pa, va, N);
    add_all(&pb, vb, N);
    fs_training tr;

    /* Each data set alone. */
    fs_model ma, mb;
    assert_int_equal(fs_model_init(&ma, cfg), DT_OK);
    assert_int_equal(fs_model_init(&mb, cfg), DT_OK);
    set_true_u(&ma);
    set_true_u(&mb);
    assert_int_equal(fs_em_pass(&ma, cfg, &pa, 0, 0, &tr), DT_OK);
    assert_int_equal(fs_em_pass(&mb, cfg, &pb, 0, 1, &tr), DT_OK);
    assert_true(fabs(ma.comps[0].m[1] - mb.comps[0].m[1]) > 0.1); /* the passes differ */

    /* Pass A leaving out comparison 2 (dob): its m stays the default. */
    fs_model m;
    assert_int_equal(fs_model_init(&m, cfg), DT_OK);
    set_true_u(&m);
    fs_comp dob_before = m.comps[2];
    assert_int_equal(fs_em_pass(&m, cfg, &pa, 1u << 2, 0, &tr), DT_OK);
    assert_int_equal(tr.left_out, 1u << 2);
    assert_memory_equal(&m.comps[2], &dob_before, sizeof dob_before);
    assert_int_equal(m.comps[2].n_m_estimates, 0);
    for (int c = 0; c < N_COMP; c++)
        if (c != 2) assert_int_equal(m.comps[c].n_m_estimates, 1);

    /* Pass B over everything: comparisons 0, 1, 3 average two passes,
     * comparison 2 holds B's estimate alone. */
    assert_int_equal(fs_em_pass(&m, cfg, &pb, 0, 1, &tr), DT_OK);
    assert_int_equal(m.comps[2].n_m_estimates, 1);
    for (int l = 1; l < N_CODES[2]; l++)
        assert_true(fabs(m.comps[2].m[l] - mb.comps[2].m[l]) < 1e-12);
    for (int c = 0; c < N_COMP; c++) {
        if (c == 2) continue;
        assert_int_equal(m.comps[c].n_m_estimates, 2);
        /* Leaving dob out changes pass A's estimates of the others a
         * little, so compare with a pass A that left it out too. */
    }
    fs_model ma2;
    assert_int_equal(fs_model_init(&ma2, cfg), DT_OK);
    set_true_u(&ma2);
    assert_int_equal(fs_em_pass(&ma2, cfg, &pa, 1u << 2, 0, &tr), DT_OK);
    for (int c = 0; c < N_COMP; c++) {
        if (c == 2) continue;
        for (int l = 1; l < N_CODES[c]; l++) {
            double want = (ma2.comps[c].m[l] + mb.comps[c].m[l]) / 2;
            assert_true(fabs(m.comps[c].m[l] - want) < 1e-12);
        }
    }

    /* A comparison no pass estimated gets the default from fs_finish_m. */
    fs_model mn;
    assert_int_equal(fs_model_init(&mn, cfg), DT_OK);
    set_true_u(&mn);
    fs_comp default_dob = mn.comps[2];
    assert_int_equal(fs_em_pass(&mn, cfg, &pa, 1u << 2, 0, &tr), DT_OK);
    fs_finish_m(&mn);
    for (int l = 1; l < N_CODES[2]; l++)
        assert_true(fabs(mn.comps[2].m[l] - default_dob.m[l]) < 1e-12);
    for (int c = 0; c < N_COMP; c++) {
        double sum = 0;
        for (int l = 1; l < N_CODES[c]; l++) sum += mn.comps[c].m[l];
        assert_true(fabs(sum - 1) < 1e-12);
    }

    /* An empty pattern set trains nothing and changes nothing. */
    fs_patterns empty;
    fs_patterns_init(&empty, N_COMP);
    fs_comp before = mn.comps[0];
    assert_int_equal(fs_em_pass(&mn, cfg, &empty, 0, 0, &tr), DT_OK);
    assert_int_equal(tr.n_pairs, 0);
    assert_memory_equal(&mn.comps[0], &before, sizeof before);
    fs_patterns_fini(&empty);

    fs_model_fini(&mn);
    fs_model_fini(&ma2);
    fs_model_fini(&m);
    fs_model_fini(&ma);
    fs_model_fini(&mb);
    fs_patterns_fini(&pa);
    fs_patterns_fini(&pb);
    free(va);
    free(vb);
    dt_config_free(cfg);
}

/* Posterior match probability of a pattern under the model's m, u and λ,
 * computed independently of fs.c. */
static double posterior(const fs_model *m, const uint8_t *g, double lambda)
{
    double bf = 1;
    for (size_t c = 0; c < m->n_comp; c++)
        if (g[c]) bf *= m->comps[c].m[g[c]] / m->comps[c].u[g[c]];
    return lambda * bf / (lambda * bf + 1 - lambda);
}

static void test_estimate_lambda(void **state)
{
    (void)state;
    dt_config *cfg = parse(CONFIG);
    fs_model m;
    assert_int_equal(fs_model_init(&m, cfg), DT_OK);

    /* Near-certain evidence: all-agree pairs are matches, all-disagree
     * pairs are not, so λ is 100 matches among 10^6 comparable pairs. */
    for (int c = 0; c < N_COMP; c++) {
        int else_code = N_CODES[c] - 1;
        for (int l = 1; l < N_CODES[c]; l++) m.comps[c].m[l] = m.comps[c].u[l] = 0.5;
        m.comps[c].m[1] = 1 - 1e-7;
        m.comps[c].u[1] = 1e-7;
        m.comps[c].m[else_code] = 1e-7;
        m.comps[c].u[else_code] = 1 - 1e-7;
    }
    fs_patterns p;
    fs_patterns_init(&p, N_COMP);
    const uint8_t agree[N_COMP] = {1, 1, 1, 1}, disagree[N_COMP] = {4, 3, 2, 3};
    assert_int_equal(fs_patterns_add(&p, agree, 100), DT_OK);
    assert_int_equal(fs_patterns_add(&p, disagree, 900), DT_OK);
    assert_int_equal(fs_estimate_lambda(&m, &p, 1000000), DT_OK);
    assert_int_equal(m.n_comparable_pairs, 1000000);
    assert_true(m.lambda_iterations >= 1);
    assert_true(fabs(m.lambda * 1e6 - 100) < 0.01);
    fs_patterns_fini(&p);

    /* Realistic parameters: λ is the fixed point of
     * λ = Σ n(γ) P(match | γ, λ) / N. */
    set_true_m_u(&m);
    enum { N = 20000 };
    uint8_t *v = gen_vectors(5, N, 0.05);
    fs_patterns_init(&p, N_COMP);
    add_all(&p, v, N);
    const uint64_t n_comparable = 200000;
    assert_int_equal(fs_estimate_lambda(&m, &p, n_comparable), DT_OK);
    double sum = 0;
    for (uint32_t id = 0; id < p.vecs.n_strs; id++)
        sum += (double)p.counts[id] *
               posterior(&m, (const uint8_t *)p.vecs.strs[id], m.lambda);
    assert_true(fabs(sum / (double)n_comparable - m.lambda) < 1e-6 * m.lambda);
    /* About the 1,000 matches drawn, over 200,000 pairs. */
    assert_true(m.lambda > 0.004 && m.lambda < 0.006);

    /* No comparable pairs: λ stays as it was. */
    double before = m.lambda;
    assert_int_equal(fs_estimate_lambda(&m, &p, 0), DT_OK);
    assert_true(m.lambda == before);

    fs_patterns_fini(&p);
    free(v);
    fs_model_fini(&m);
    dt_config_free(cfg);
}

/* Adds vectors with their pair of sources after the levels (model.h,
 * invariant 5). */
static void add_all_sp(fs_patterns *p, const uint8_t *v, size_t n, int sp)
{
    uint8_t g[N_COMP + FS_SP_BYTES];
    uint16_t code = (uint16_t)sp;
    for (size_t i = 0; i < n; i++) {
        memcpy(g, v + i * N_COMP, N_COMP);
        memcpy(g + N_COMP, &code, FS_SP_BYTES);
        assert_int_equal(fs_patterns_add(p, g, 1), DT_OK);
    }
}

/* Duplicates within source a are rarer than a's records in b: one λ
 * would serve neither. Each pair of sources gets its own fixed point,
 * the prior of its pairs, and survives model.json. */
static void test_lambda_by_sources(void **state)
{
    (void)state;
    const char *at = strstr(CONFIG, "blocking:");
    char *two = dt_asprintf("%.*s  - name: b\n    path: b.csv\n    id: id\n    columns: {given: "
                            "given, surname: surname, dob: dob, postcode: postcode}\n%s",
                            (int)(at - CONFIG), CONFIG, at);
    dt_config *cfg = parse(two);
    fs_model m;
    assert_int_equal(fs_model_init(&m, cfg), DT_OK);
    set_true_m_u(&m);
    enum { N = 20000 };
    const int aa = fs_source_pair(0, 0), ab = fs_source_pair(1, 0), bb = fs_source_pair(1, 1);
    assert_int_equal(ab, fs_source_pair(0, 1));
    assert_true(aa != ab && ab != bb && aa != bb);
    uint8_t *within = gen_vectors(7, N, 0.02), *across = gen_vectors(8, N, 0.3);
    fs_patterns p;
    fs_patterns_init(&p, N_COMP + FS_SP_BYTES);
    add_all_sp(&p, within, N, aa);
    add_all_sp(&p, across, N, ab);
    uint64_t comparable[FS_MAX_SOURCE_PAIRS] = {0};
    comparable[aa] = N;
    comparable[ab] = 2 * N; /* as many pairs again that blocking never proposed */
    assert_int_equal(fs_estimate_lambda(&m, &p, 3 * N), DT_OK);
    assert_int_equal(fs_estimate_lambda_by_sources(&m, &p, 2, comparable), DT_OK);
    assert_int_equal(m.n_sources, 2);
    assert_true(m.lambda_sp[aa] > 0.01 && m.lambda_sp[aa] < 0.03);
    assert_true(m.lambda_sp[ab] > 0.13 && m.lambda_sp[ab] < 0.17);
    assert_true(m.lambda_sp[bb] == 0); /* no comparable pairs: not estimated */
    /* Each is its own fixed point: λ = Σ P(match | γ, λ) / comparable. */
    double sum_aa = 0, sum_ab = 0;
    for (size_t i = 0; i < N; i++) {
        sum_aa += posterior(&m, within + i * N_COMP, m.lambda_sp[aa]);
        sum_ab += posterior(&m, across + i * N_COMP, m.lambda_sp[ab]);
    }
    assert_true(fabs(sum_aa / N - m.lambda_sp[aa]) < 1e-6);
    assert_true(fabs(sum_ab / (2 * N) - m.lambda_sp[ab]) < 1e-6);
    /* Scoring: the pair's own prior; unknown sources or no estimate: the one λ. */
    assert_true(fs_pair_prior_weight(&m, 0, 0, 0) == log2(m.lambda_sp[aa] / (1 - m.lambda_sp[aa])));
    assert_true(fs_pair_prior_weight(&m, 0, 1, 0) == log2(m.lambda_sp[ab] / (1 - m.lambda_sp[ab])));
    assert_true(fs_pair_prior_weight(&m, 0, 1, 1) == fs_prior_weight(&m));
    assert_true(fs_pair_prior_weight(&m, 0, -1, 0) == fs_prior_weight(&m));

    dt_error err;
    dt_error_clear(&err);
    char *text = fs_model_to_text(&m, cfg);
    assert_non_null(text);
    fs_model back;
    assert_int_equal(fs_model_from_text(&back, cfg, text, "model.json", &err), DT_OK);
    assert_int_equal(back.n_sources, 2);
    for (int sp = 0; sp < FS_MAX_SOURCE_PAIRS; sp++)
        assert_true(fabs(back.lambda_sp[sp] - m.lambda_sp[sp]) <= 1e-12 * m.lambda_sp[sp]);
    fs_model_fini(&back);
    /* A config with only some of the model's sources (a purpose's view)
     * reads the pairs it has by name; a prior out of (0, 1) is refused. */
    char *bad = dt_asprintf("%s", text);
    char *name = strstr(bad, "\"a~b\"");
    assert_non_null(name);
    name[3] = 'z';
    assert_int_equal(fs_model_from_text(&back, cfg, bad, "model.json", &err), DT_OK);
    assert_true(back.lambda_sp[ab] == 0 && back.lambda_sp[aa] > 0);
    fs_model_fini(&back);
    char *value = strstr(bad, "\"a~a\":"); /* compact JSON */
    assert_non_null(value);
    value[6] = '2'; /* 0.0... -> 2.0... */
    assert_int_equal(fs_model_from_text(&back, cfg, bad, "model.json", &err), DT_EMODEL);
    assert_non_null(strstr(err.msg, "a~a"));
    fs_model_fini(&back);

    dt_free(bad);
    dt_free(text);
    fs_patterns_fini(&p);
    free(within);
    free(across);
    fs_model_fini(&m);
    dt_config_free(cfg);
    dt_free(two);
}

static void test_weights(void **state)
{
    (void)state;
    dt_config *cfg = parse(CONFIG);
    fs_model m;
    assert_int_equal(fs_model_init(&m, cfg), DT_OK);
    set_true_m_u(&m);
    m.lambda = 0.2;
    assert_true(fabs(fs_level_weight(&m, 0, 1) - log2(0.80 / 0.02)) < 1e-12);
    assert_true(fabs(fs_level_weight(&m, 0, 4) - log2(0.05 / 0.85)) < 1e-12);
    assert_true(fs_level_weight(&m, 3, 3) < 0);
    for (int c = 0; c < N_COMP; c++) assert_true(fs_level_weight(&m, (size_t)c, 0) == 0);
    assert_true(fabs(fs_prior_weight(&m) - log2(0.25)) < 1e-12);
    assert_true(fs_probability(0) == 0.5);
    assert_true(fabs(fs_probability(1) - 2.0 / 3.0) < 1e-12);
    assert_true(fabs(fs_probability(-3) - 1.0 / 9.0) < 1e-12);
    assert_true(fs_probability(60) > 0.999999 && fs_probability(-60) < 1e-6);

    /* A table for scoring: surname (tf: true) is "smith" three times,
     * "jones" once, and one record has no surname. */
    cmp_table t;
    assert_int_equal(cmp_table_init(&t, cfg, NULL), DT_OK);
    const char *surnames[] = {"smith", "smith", "smith", "jones", ""};
    for (size_t i = 0; i < 5; i++) {
        size_t rec;
        char rid[8];
        snprintf(rid, sizeof rid, "r%zu", i);
        assert_int_equal(cmp_table_add(&t, 0, rid, strlen(rid), &rec), DT_OK);
        assert_int_equal(rec, i);
        assert_int_equal(cmp_table_set(&t, rec, 1, surnames[i], strlen(surnames[i])), DT_OK);
    }
    assert_int_equal(cmp_table_finish(&t), DT_OK);
    double u_used = -1;
    /* Agreeing on the rare "jones" (1 of 4) outweighs the common "smith". */
    double w_jones = fs_comp_weight(&m, cfg, &t, 1, 1, 3, &u_used);
    assert_true(fabs(u_used - 0.25) < 1e-12);
    assert_true(fabs(w_jones - log2(0.85 / 0.25)) < 1e-12);
    double w_smith = fs_comp_weight(&m, cfg, &t, 1, 1, 0, &u_used);
    assert_true(fabs(u_used - 0.75) < 1e-12);
    assert_true(w_jones > w_smith);
    /* Not the exact level: plain u. */
    assert_true(fabs(fs_comp_weight(&m, cfg, &t, 1, 2, 3, &u_used) - log2(0.10 / 0.07)) < 1e-12);
    assert_true(fabs(u_used - 0.07) < 1e-12);
    /* Null: weight 0. */
    assert_true(fs_comp_weight(&m, cfg, &t, 1, 0, 3, NULL) == 0);
    /* A comparison without tf: plain u even on the exact level. */
    assert_true(fabs(fs_comp_weight(&m, cfg, &t, 0, 1, 3, NULL) - log2(0.80 / 0.02)) < 1e-12);

    /* The pair weight is the prior plus the comparisons' weights. */
    const uint8_t g[N_COMP] = {1, 1, 0, 3};
    double want = log2(0.25) + log2(0.80 / 0.02) + log2(0.85 / 0.25) + log2(0.10 / 0.95);
    assert_true(fabs(fs_pair_weight(&m, cfg, &t, g, 3, 3) - want) < 1e-12);

    /* The scorer's tables give fs_pair_weight's numbers bit for bit, on
     * every level of every comparison and for every record's surname. */
    fs_scorer *sc;
    assert_int_equal(fs_scorer_new(&m, cfg, &t, &sc), DT_OK);
    size_t n_same = 0;
    for (int code = 0; code <= cfg->comparisons[1].n_levels + 1; code++)
        for (uint32_t a = 0; a < 5; a++) {
            const uint8_t gv[N_COMP] = {(uint8_t)(code % 3), (uint8_t)code, 2, (uint8_t)(3 - code % 4)};
            double x = fs_scorer_weight(sc, gv, a, 4 - a), y = fs_pair_weight(&m, cfg, &t, gv, a, 4 - a);
            assert_memory_equal(&x, &y, sizeof x);
            n_same++;
        }
    assert_true(n_same >= 20);
    fs_scorer_free(sc);

    /* tf_min_u floors the term frequency. */
    dt_config *cfg2 = parse(CONFIG);
    cfg2->tf_min_u = 0.5;
    fs_comp_weight(&m, cfg2, &t, 1, 1, 3, &u_used);
    assert_true(fabs(u_used - 0.5) < 1e-12);
    dt_config_free(cfg2);

    cmp_table_fini(&t);
    fs_model_fini(&m);
    dt_config_free(cfg);
}

static char *save_and_load(const fs_model *m, const dt_config *cfg, fs_model *back);

/* Invariant 6: m of the given name per surname both records share. Among
 * the pairs sharing "wang", 40% of the posterior mass disagrees on the
 * given name (an English name in one registry); among "smith" none does,
 * and "jones" has too few pairs to be kept. */
static void test_m_by_value(void **state)
{
    (void)state;
    char *yaml = dt_asprintf("%s", CONFIG);
    assert_non_null(yaml);
    char *at = strstr(yaml, "  - field: given\n") + strlen("  - field: given\n");
    char *with = dt_asprintf("%.*s    m_by_value: surname\n%s", (int)(at - yaml), yaml, at);
    dt_config *cfg = parse(with);
    fs_model m;
    assert_int_equal(fs_model_init(&m, cfg), DT_OK);
    set_true_m_u(&m);
    m.lambda = 0.2;
    cmp_table t;
    assert_int_equal(cmp_table_init(&t, cfg, NULL), DT_OK);
    const char *surnames[] = {"wang", "wang", "smith", "smith", "jones", "jones", ""};
    for (size_t i = 0; i < 7; i++) {
        size_t rec;
        char rid[8];
        snprintf(rid, sizeof rid, "r%zu", i);
        assert_int_equal(cmp_table_add(&t, 0, rid, strlen(rid), &rec), DT_OK);
        assert_int_equal(cmp_table_set(&t, rec, 1, surnames[i], strlen(surnames[i])), DT_OK);
    }
    assert_int_equal(cmp_table_finish(&t), DT_OK);
    const cmp_column *col = &t.cols[1];
    size_t n_codes = (size_t)m.comps[0].n_codes; /* null, 3 levels, else */
    uint64_t *mass = dt_calloc(col->dict.n_strs * n_codes, sizeof *mass);
    assert_non_null(mass);
    uint32_t wang = col->vals[0], smith = col->vals[2], jones = col->vals[4];
    mass[wang * n_codes + 1] = (uint64_t)(60 * FS_MBY_UNIT);
    mass[wang * n_codes + 4] = (uint64_t)(40 * FS_MBY_UNIT);
    mass[smith * n_codes + 1] = (uint64_t)(100 * FS_MBY_UNIT);
    mass[jones * n_codes + 4] = (uint64_t)(5 * FS_MBY_UNIT);
    assert_int_equal(fs_mby_fit(&m, cfg, &t, 0, mass), DT_OK);
    dt_free(mass);
    assert_int_equal(m.mby[0].values.n_strs, 2); /* jones: under FS_MBY_MIN_MASS */
    double m_else = m.comps[0].m[4], k = FS_MBY_PRIOR_PAIRS;
    double r_wang = 0, r_smith = 0, r_jones = 0, r_apart = 0;
    const uint8_t g[N_COMP] = {4, 1, 1, 1}; /* given names differ, all else agrees */
    double w_wang = fs_mby_weight(&m, cfg, &t, 0, 4, 0, 1, &r_wang);
    double w_smith = fs_mby_weight(&m, cfg, &t, 0, 4, 2, 3, &r_smith);
    assert_true(fs_mby_weight(&m, cfg, &t, 0, 4, 4, 5, &r_jones) == 0 && r_jones == 1);
    assert_true(fs_mby_weight(&m, cfg, &t, 0, 4, 0, 2, &r_apart) == 0 && r_apart == 1);
    assert_true(fs_mby_weight(&m, cfg, &t, 0, 0, 0, 1, NULL) == 0); /* null given: nothing */
    assert_true(fabs(r_wang - (40 + k * m_else) / (100 + k) / m_else) < 1e-12);
    assert_true(fabs(r_smith - (k * m_else) / (100 + k) / m_else) < 1e-12);
    assert_true(w_wang > 0 && w_smith < 0);
    assert_true(fs_pair_weight(&m, cfg, &t, g, 0, 1) > fs_pair_weight(&m, cfg, &t, g, 2, 3));

    /* The scorer and fs_pair_weight agree bit for bit with it, on vectors
     * the table could give: the surname's level is exact (1) when the two
     * surnames are one value, null (0) when one is missing, else 2 (the
     * scorer takes "not 1" for "a different surname" and reads no value). */
    fs_scorer *sc, *without;
    assert_int_equal(fs_scorer_new(&m, cfg, &t, &sc), DT_OK);
    m.mby[0].is_set = 0;
    assert_int_equal(fs_scorer_new(&m, cfg, &t, &without), DT_OK);
    m.mby[0].is_set = 1;
    for (uint32_t a = 0; a < 7; a++)
        for (uint32_t b = 0; b < 7; b++)
            for (int code = 0; code < 5; code++) {
                uint32_t va = col->vals[a], vb = col->vals[b];
                uint8_t level = va == CMP_NULL || vb == CMP_NULL ? 0 : va == vb ? 1 : 2;
                const uint8_t gv[N_COMP] = {(uint8_t)code, level, 1, 0};
                double x = fs_scorer_weight(sc, gv, a, b), y = fs_pair_weight(&m, cfg, &t, gv, a, b);
                assert_memory_equal(&x, &y, sizeof x);
                /* The term comes last: the weight without it, plus it, to
                 * the bit (what the fit's later passes add to the first's). */
                double z = fs_scorer_weight(without, gv, a, b) +
                           fs_mby_weight(&m, cfg, &t, 0, code, a, b, NULL);
                assert_memory_equal(&x, &z, sizeof x);
            }
    fs_scorer_free(without);
    fs_scorer_free(sc);

    /* model.json keeps it by value text; bound again, the same weights. */
    fs_model back;
    char *path = save_and_load(&m, cfg, &back);
    assert_int_equal(back.mby[0].values.n_strs, 2);
    assert_int_equal(fs_tf_bind(&back, cfg, &t), DT_OK);
    double w_back = fs_mby_weight(&back, cfg, &t, 0, 4, 0, 1, NULL);
    assert_memory_equal(&w_back, &w_wang, sizeof w_back);
    fs_model_fini(&back);
    /* A config that conditions on another field refuses the model. */
    char *other_yaml = dt_asprintf("%.*s    m_by_value: postcode\n%s", (int)(at - yaml), yaml, at);
    dt_config *other = parse(other_yaml);
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(fs_model_load(&back, other, path, &err), DT_EMODEL);
    assert_non_null(strstr(err.msg, "train again"));
    fs_model_fini(&back);
    /* One without m_by_value reads the rest and ignores it. */
    dt_config *plain = parse(CONFIG);
    assert_int_equal(fs_model_load(&back, plain, path, &err), DT_OK);
    assert_false(back.mby[0].is_set);
    fs_model_fini(&back);
    dt_config_free(plain);
    dt_config_free(other);
    dt_free(other_yaml);
    unlink(path);
    cmp_table_fini(&t);
    fs_model_fini(&m);
    dt_config_free(cfg);
    dt_free(with);
    dt_free(yaml);
}

/* Invariant 3: the same multiset of vectors in another order, with other
 * count splits, gives bit-identical u, m and λ. */
static void test_order_independent(void **state)
{
    (void)state;
    dt_config *cfg = parse(CONFIG);
    enum { N = 8000 };
    uint8_t *v = gen_vectors(6, N, TRUE_LAMBDA);
    uint8_t *w = malloc((size_t)N * N_COMP);
    assert_non_null(w);
    memcpy(w, v, (size_t)N * N_COMP);
    util_rng r;
    util_rng_seed(&r, 99);
    for (size_t i = N - 1; i > 0; i--) { /* Fisher–Yates */
        size_t j = (size_t)util_rng_below(&r, i + 1);
        uint8_t tmp[N_COMP];
        memcpy(tmp, w + i * N_COMP, N_COMP);
        memcpy(w + i * N_COMP, w + j * N_COMP, N_COMP);
        memcpy(w + j * N_COMP, tmp, N_COMP);
    }
    assert_memory_not_equal(v, w, (size_t)N * N_COMP);

    fs_patterns p1, p2;
    fs_patterns_init(&p1, N_COMP);
    fs_patterns_init(&p2, N_COMP);
    add_all(&p1, v, N);
    /* p2: pairs of equal vectors sometimes arrive as one count of 2. */
    for (size_t i = 0; i < N; i++) {
        const uint8_t *g = w + i * N_COMP;
        if (i + 1 < N && memcmp(g, g + N_COMP, N_COMP) == 0) {
            assert_int_equal(fs_patterns_add(&p2, g, 2), DT_OK);
            i++;
        } else {
            assert_int_equal(fs_patterns_add(&p2, g, 1), DT_OK);
        }
    }
    fs_model m1, m2;
    fs_training t1, t2;
    assert_int_equal(fs_model_init(&m1, cfg), DT_OK);
    assert_int_equal(fs_model_init(&m2, cfg), DT_OK);
    assert_int_equal(fs_estimate_u(&m1, &p1), DT_OK);
    assert_int_equal(fs_estimate_u(&m2, &p2), DT_OK);
    assert_int_equal(fs_em_pass(&m1, cfg, &p1, 0, 0, &t1), DT_OK);
    assert_int_equal(fs_em_pass(&m2, cfg, &p2, 0, 0, &t2), DT_OK);
    fs_finish_m(&m1);
    fs_finish_m(&m2);
    assert_int_equal(fs_estimate_lambda(&m1, &p1, 100000), DT_OK);
    assert_int_equal(fs_estimate_lambda(&m2, &p2, 100000), DT_OK);
    for (int c = 0; c < N_COMP; c++) {
        assert_memory_equal(m1.comps[c].u, m2.comps[c].u, sizeof m1.comps[c].u);
        assert_memory_equal(m1.comps[c].m, m2.comps[c].m, sizeof m1.comps[c].m);
    }
    assert_memory_equal(&t1.lambda, &t2.lambda, sizeof t1.lambda);
    assert_int_equal(t1.iterations, t2.iterations);
    assert_memory_equal(&m1.lambda, &m2.lambda, sizeof m1.lambda);

    fs_model_fini(&m1);
    fs_model_fini(&m2);
    fs_patterns_fini(&p1);
    fs_patterns_fini(&p2);
    free(v);
    free(w);
    dt_config_free(cfg);
}

static char *temp_path(void)
{
    static char path[64];
    strcpy(path, "/tmp/dt_test_model_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return path;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Saves m to a temporary model.json and loads it into *back; the path. */
static char *save_and_load(const fs_model *m, const dt_config *cfg, fs_model *back)
{
    char *path = temp_path();
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(fs_model_save(m, cfg, path, &err), DT_OK);
    assert_int_equal(fs_model_load(back, cfg, path, &err), DT_OK);
    return path;
}

static void test_json_round_trip(void **state)
{
    (void)state;
    dt_config *cfg = parse(CONFIG);
    fs_model m;
    assert_int_equal(fs_model_init(&m, cfg), DT_OK);
    enum { N = 3000 };
    uint8_t *v = gen_vectors(7, N, TRUE_LAMBDA);
    fs_patterns p;
    fs_patterns_init(&p, N_COMP);
    add_all(&p, v, N);
    assert_int_equal(fs_estimate_u(&m, &p), DT_OK);
    m.train = dt_calloc(1, sizeof *m.train);
    assert_non_null(m.train);
    m.n_train = 1;
    assert_int_equal(fs_em_pass(&m, cfg, &p, 1u << 3, 1, &m.train[0]), DT_OK);
    fs_finish_m(&m);
    assert_int_equal(fs_estimate_lambda(&m, &p, 50000), DT_OK);

    fs_model back;
    char *path = save_and_load(&m, cfg, &back);
    dt_error err;
    assert_int_equal(back.n_comp, N_COMP);
    assert_memory_equal(&back.lambda, &m.lambda, sizeof m.lambda);
    assert_int_equal(back.n_u_pairs, N);
    assert_int_equal(back.n_comparable_pairs, 50000);
    for (int c = 0; c < N_COMP; c++) {
        assert_int_equal(back.comps[c].n_codes, N_CODES[c]);
        assert_int_equal(back.comps[c].n_m_estimates, m.comps[c].n_m_estimates);
        for (int l = 1; l < N_CODES[c]; l++) {
            assert_memory_equal(&back.comps[c].m[l], &m.comps[c].m[l], sizeof(double));
            assert_memory_equal(&back.comps[c].u[l], &m.comps[c].u[l], sizeof(double));
        }
    }
    assert_int_equal(back.comps[3].n_m_estimates, 0); /* left out of the only pass */
    fs_model_fini(&back);

    /* The file names what produced it. */
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(path, &text, &len, &err), DT_OK);
    assert_non_null(strstr(text, "\"dovetail_version\""));
    assert_non_null(strstr(text, "\"jaro_winkler>=0.92\""));
    assert_non_null(strstr(text, "\"[dob]\"")); /* the training rule's name */
    dt_free(text);

    /* A config whose level labels differ is refused. */
    dt_config *other = parse(CONFIG_OTHER_LEVELS);
    dt_error_clear(&err);
    assert_int_equal(fs_model_load(&back, other, path, &err), DT_EMODEL);
    assert_int_equal(err.code, DT_EMODEL);
    assert_non_null(strstr(err.msg, "jaro_winkler>=0.92"));
    assert_non_null(strstr(err.msg, "jaro_winkler>=0.9'"));
    fs_model_fini(&back);
    dt_config_free(other);

    /* Not JSON at all: an error with the position. */
    write_text(path, "{\"comparisons\": [1,\n");
    dt_error_clear(&err);
    assert_int_equal(fs_model_load(&back, cfg, path, &err), DT_EMODEL);
    assert_int_equal(err.line, 2);
    fs_model_fini(&back);

    /* Valid JSON but λ out of range. */
    write_text(path, "{\"lambda\": 1.5, \"comparisons\": [{}, {}, {}, {}]}");
    dt_error_clear(&err);
    assert_int_equal(fs_model_load(&back, cfg, path, &err), DT_EMODEL);
    assert_non_null(strstr(err.msg, "lambda"));
    fs_model_fini(&back);

    unlink(path);
    fs_patterns_fini(&p);
    free(v);
    fs_model_fini(&m);
    dt_config_free(cfg);
}

/* The family context (model.h, invariant 4): CONFIG with the surname and
 * birth date as the context and the postcode as the exclusive identifier.
 * In the context the non-matches are "twins": given name else, postcode one
 * edit away. Random pairs (global u) almost never are one edit away, so the
 * global weight of that level is for a match; learned within the context,
 * it is against one. */
static dt_config *parse_with_context(const char *context)
{
    /* Without the surname's TF, so weights need no table. */
    char base[sizeof CONFIG];
    strcpy(base, CONFIG);
    char *tf = strstr(base, "    tf: true\n");
    memmove(tf, tf + strlen("    tf: true\n"), strlen(tf + strlen("    tf: true\n")) + 1);
    char *yaml = dt_asprintf("%s  contexts:\n    - {name: twins, when: %s, require: "
                             "[postcode]}\ncluster:\n  exclusive: [postcode]\n", base, context);
    assert_non_null(yaml);
    dt_config *cfg = parse(yaml);
    dt_free(yaml);
    return cfg;
}

static void add_context_pairs(fs_patterns *p, uint64_t seed, size_t n, double share_twins)
{
    util_rng r;
    util_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        uint8_t g[N_COMP] = {1, 1, 1, 1};
        if (uniform(&r) < share_twins) {
            g[0] = 4;                                 /* another given name */
            g[3] = uniform(&r) < 0.8 ? 2 : 3;         /* identifier one edit away */
        } else {
            g[0] = uniform(&r) < 0.9 ? 1 : 2;
            g[3] = uniform(&r) < 0.95 ? 1 : 2;        /* a typo now and then */
        }
        assert_int_equal(fs_patterns_add(p, g, 1), DT_OK);
    }
}

static void test_context(void **state)
{
    (void)state;
    dt_config *cfg = parse_with_context("{surname: exact, dob: exact}");
    fs_model m;
    assert_int_equal(fs_model_init(&m, cfg), DT_OK);
    set_true_u(&m);

    /* Membership: the context comparisons at their first level, and the
     * identifier present on both sides. */
    assert_int_equal(fs_context_of(&m, (const uint8_t[]){4, 1, 1, 2}), 1);
    assert_int_equal(fs_context_of(&m, (const uint8_t[]){4, 2, 1, 2}), 0);
    assert_int_equal(fs_context_of(&m, (const uint8_t[]){4, 1, 1, 0}), 0);
    /* Not estimated yet: scored with the global weights. */
    assert_int_equal(fs_scoring_context(&m, (const uint8_t[]){4, 1, 1, 2}), 0);

    enum { N_RANDOM = 20000, N_CTX = 20000 };
    uint8_t *v = gen_vectors(11, N_RANDOM, 0.01);
    fs_patterns p;
    fs_patterns_init(&p, N_COMP);
    add_all(&p, v, N_RANDOM);
    add_context_pairs(&p, 12, N_CTX, 0.2);
    /* Pairs with a near given name whose identifiers differ outright:
     * exclusive makes them non-matches, and EM must count them as such, or
     * the match class learns that a different identifier happens. */
    assert_int_equal(fs_patterns_add(&p, (const uint8_t[]){2, 1, 1, 3}, 300), DT_OK);
    uint8_t twin[N_COMP] = {4, 1, 1, 2};
    double before = fs_pair_weight(&m, cfg, NULL, twin, 0, 0);
    assert_int_equal(fs_em_contexts(&m, cfg, &p), DT_OK);
    assert_true(m.ctx[0].is_set);
    assert_true(m.ctx[0].converged);
    assert_true(m.ctx[0].n_pairs >= N_CTX);
    assert_true(fabs(m.ctx[0].lambda - 0.8 * N_CTX / (N_CTX + 300.0)) < 0.03);
    /* learned, not random-pair u: the twins, 80% one edit away, and the 300 */
    assert_true(fabs(m.ctx[0].comps[3].u[2] - 0.8 * 0.2 * N_CTX / (0.2 * N_CTX + 300)) < 0.05);
    assert_true(fabs(m.ctx[0].comps[3].m[2] - 0.05) < 0.02);
    assert_true(m.ctx[0].comps[3].m[3] < 1e-4);              /* never a match */
    assert_true(log2(m.comps[3].m[2] / m.comps[3].u[2]) > 0); /* globally: for a match */
    double after = fs_pair_weight(&m, cfg, NULL, twin, 0, 0);
    assert_true(after < -5);                                 /* within: a twin */
    fs_scorer *sc; /* the scorer takes the context's tables, bit for bit */
    assert_int_equal(fs_scorer_new(&m, cfg, NULL, &sc), DT_OK);
    double scored = fs_scorer_weight(sc, twin, 0, 0);
    assert_memory_equal(&scored, &after, sizeof after);
    fs_scorer_free(sc);
    assert_true(before > after);
    /* A pair out of the context keeps the global weights. */
    uint8_t out[N_COMP] = {4, 2, 1, 2};
    double w = fs_prior_weight(&m);
    for (int c = 0; c < N_COMP; c++) w += fs_level_weight(&m, (size_t)c, out[c]);
    assert_true(fabs(fs_pair_weight(&m, cfg, NULL, out, 0, 0) - w) < 1e-12);

    /* model.json keeps it; a config with another context refuses it. */
    fs_model back;
    char *path = save_and_load(&m, cfg, &back);
    dt_error err;
    assert_true(back.ctx[0].is_set);
    assert_memory_equal(&back.ctx[0].lambda, &m.ctx[0].lambda, sizeof m.ctx[0].lambda);
    assert_memory_equal(&back.ctx[0].comps[3].u[2], &m.ctx[0].comps[3].u[2], sizeof(double));
    assert_true(fs_pair_weight(&back, cfg, NULL, twin, 0, 0) == after);
    fs_model_fini(&back);
    dt_config *other = parse_with_context("{surname: 'jaro_winkler>=0.9', dob: exact}");
    dt_error_clear(&err);
    assert_int_equal(fs_model_load(&back, other, path, &err), DT_EMODEL);
    assert_non_null(strstr(err.msg, "context"));
    fs_model_fini(&back);
    dt_config_free(other);

    unlink(path);
    fs_patterns_fini(&p);
    free(v);
    fs_model_fini(&m);
    dt_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_aggregate),
        cmocka_unit_test(test_model_init),
        cmocka_unit_test(test_estimate_u),
        cmocka_unit_test(test_em_recovers_parameters),
        cmocka_unit_test(test_left_out_and_average),
        cmocka_unit_test(test_estimate_lambda),
        cmocka_unit_test(test_lambda_by_sources),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_m_by_value),
        cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
