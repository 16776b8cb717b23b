/*
 * model_json.c — saves and loads model.json with jansson. The file carries
 * the parameters (m, u, weight per level, λ), the training diagnostics,
 * and what produced it: dovetail version, a hash of the config, the seed.
 * Loading checks the comparisons and their level labels against the
 * config, so a model never scores a config it was not trained for. The
 * frozen term frequencies go under "term_frequencies", by comparison.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/model.h"

static json_t *levels_json(const fs_model *m, const cfg_comparison *c, size_t i)
{
    json_t *arr = json_array();
    const fs_comp *fc = &m->comps[i];
    for (int l = 1; l < fc->n_codes && arr; l++) {
        json_t *o = json_pack("{s:s, s:f, s:f, s:f}", "level", cmp_level_label(c, l), "m",
                              fc->m[l], "u", fc->u[l], "weight", fs_level_weight(m, i, l));
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *tf_json(const fs_model *m, const dt_config *cfg)
{
    json_t *all = json_object();
    for (size_t c = 0; all && c < m->n_comp; c++) {
        const fs_tf *tf = &m->tf[c];
        if (!tf->is_set) continue;
        json_t *counts = json_object();
        for (uint32_t v = 0; counts && v < tf->values.n_strs; v++)
            if (json_object_set_new(counts, tf->values.strs[v],
                                    json_integer((json_int_t)tf->counts[v]))) {
                json_decref(counts);
                counts = NULL;
            }
        json_t *o = counts ? json_pack("{s:I, s:o}", "nonnull", (json_int_t)tf->n_nonnull,
                                       "counts", counts)
                           : NULL;
        if (!o || json_object_set_new(all, cfg->comparisons[c].name, o)) {
            json_decref(all);
            return NULL;
        }
    }
    return all;
}

/* m per shared value (model.h invariant 6): {"given": {"field": "surname",
 * "ratios": {"wang": [r per level, else last]}}}; NULL when out of memory. */
static json_t *mby_json(const fs_model *m, const dt_config *cfg)
{
    json_t *all = json_object();
    for (size_t c = 0; all && c < m->n_comp; c++) {
        const fs_mby *x = &m->mby[c];
        if (!x->is_set) continue;
        json_t *ratios = json_object();
        for (uint32_t id = 0; ratios && id < x->values.n_strs; id++) {
            json_t *arr = json_array();
            for (int l = 1; arr && l < m->comps[c].n_codes; l++)
                if (json_array_append_new(arr, json_real(x->ratio[id][l]))) {
                    json_decref(arr);
                    arr = NULL;
                }
            if (!arr || json_object_set_new(ratios, x->values.strs[id], arr)) {
                json_decref(ratios);
                ratios = NULL;
            }
        }
        json_t *o = ratios ? json_pack("{s:s, s:o}", "field",
                                       cfg->fields[cfg->comparisons[c].m_by_field].name,
                                       "ratios", ratios)
                           : NULL;
        if (!o || json_object_set_new(all, cfg->comparisons[c].name, o)) {
            json_decref(all);
            return NULL;
        }
    }
    return all;
}

/* λ per pair of sources (model.h invariant 5) as {"a~b": λ}, sources in
 * config order; NULL when out of memory. */
static json_t *sources_json(const fs_model *m, const dt_config *cfg)
{
    json_t *o = json_object();
    for (size_t a = 0; o && a < m->n_sources; a++)
        for (size_t b = a; b < m->n_sources; b++) {
            double l = m->lambda_sp[fs_source_pair((unsigned)a, (unsigned)b)];
            if (l <= 0) continue;
            char *key = dt_asprintf("%s~%s", cfg->sources[a].name, cfg->sources[b].name);
            if (!key || json_object_set_new(o, key, json_real(l))) {
                dt_free(key);
                json_decref(o);
                return NULL;
            }
            dt_free(key);
        }
    return o;
}

/* Reads what sources_json wrote, by name: a config may list the sources
 * in another order, or only some of them (a link over the sources one
 * purpose may see, with the store's model). A pair naming a source the
 * config lacks is skipped; a pair the model lacks gets the one λ. */
static int load_sources(fs_model *m, const dt_config *cfg, json_t *o, const char *path,
                        dt_error *err)
{
    memset(m->lambda_sp, 0, sizeof m->lambda_sp);
    if (!o || !m->n_sources) return DT_OK;
    if (!json_is_object(o))
        return dt_err_at(err, DT_EMODEL, path, 0, 0, "lambda_by_sources must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        int sp = -1;
        for (size_t a = 0; sp < 0 && a < m->n_sources; a++) {
            size_t n = strlen(cfg->sources[a].name);
            if (strncmp(key, cfg->sources[a].name, n) != 0 || key[n] != '~') continue;
            for (size_t b = a; b < m->n_sources; b++)
                if (strcmp(key + n + 1, cfg->sources[b].name) == 0) {
                    sp = fs_source_pair((unsigned)a, (unsigned)b);
                    break;
                }
        }
        double l = json_number_value(v);
        if (!(l > 0 && l < 1))
            return dt_err_at(err, DT_EMODEL, path, 0, 0, "lambda_by_sources: '%s' must be in "
                             "(0, 1)", key);
        if (sp >= 0) m->lambda_sp[sp] = l;
    }
    return DT_OK;
}

/* One context (model.h, invariant 4): its condition, the EM's
 * diagnostics, and every comparison's levels within it. */
static json_t *context_json(const fs_model *m, const dt_config *cfg, size_t k)
{
    const fs_context *x = &m->ctx[k];
    json_t *when = json_object(), *levels = json_object();
    json_t *o = json_pack("{s:s, s:o, s:I, s:f, s:I, s:I, s:i, s:b, s:o}", "name",
                          cfg->contexts[k].name, "when", when, "require",
                          (json_int_t)x->require, "lambda", x->lambda, "pairs",
                          (json_int_t)x->n_pairs, "patterns", (json_int_t)x->n_patterns,
                          "iterations", x->iterations, "converged", x->converged, "levels",
                          levels);
    if (!o) return NULL;
    for (size_t c = 0; c < m->n_comp; c++) {
        const cfg_comparison *cc = &cfg->comparisons[c];
        if ((x->mask >> c) & 1 &&
            json_object_set_new(when, cc->name, json_integer((json_int_t)x->levels[c])))
            goto fail;
        json_t *arr = json_array();
        if (!arr || json_object_set_new(levels, cc->name, arr)) goto fail;
        for (int l = 1; l < x->comps[c].n_codes; l++) {
            double mv = x->comps[c].m[l], uv = x->comps[c].u[l];
            json_t *lv = json_pack("{s:s, s:f, s:f, s:f}", "level", cmp_level_label(cc, l), "m",
                                   mv, "u", uv, "weight", log2(mv / uv));
            if (!lv || json_array_append_new(arr, lv)) goto fail;
        }
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

static json_t *contexts_json(const fs_model *m, const dt_config *cfg)
{
    json_t *arr = json_array();
    for (size_t k = 0; arr && k < m->n_ctx; k++) {
        if (!m->ctx[k].is_set) continue;
        json_t *o = context_json(m, cfg, k);
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *model_json(const fs_model *m, const dt_config *cfg)
{
    char hash[32], seed[32];
    snprintf(hash, sizeof hash, "%016" PRIx64, m->config_hash);
    snprintf(seed, sizeof seed, "%" PRIu64, m->seed);
    json_t *root = json_pack("{s:s, s:s, s:s, s:f, s:f, s:I, s:I, s:i}", "dovetail_version",
                             DT_VERSION_STRING, "config_hash", hash, "seed", seed, "lambda",
                             m->lambda, "prior_weight", fs_prior_weight(m), "u_sample_pairs",
                             (json_int_t)m->n_u_pairs, "comparable_pairs",
                             (json_int_t)m->n_comparable_pairs, "lambda_iterations",
                             m->lambda_iterations);
    json_t *comps = json_array(), *train = json_array();
    if (!root || !comps || !train) goto fail;
    if (m->n_sources && json_object_set_new(root, "lambda_by_sources",
                                            sources_json(m, cfg)))
        goto fail;
    json_object_set_new(root, "comparisons", comps);
    json_object_set_new(root, "training", train);
    for (size_t i = 0; i < m->n_comp; i++) {
        const cfg_comparison *c = &cfg->comparisons[i];
        json_t *lv = levels_json(m, c, i);
        json_t *o = lv ? json_pack("{s:s, s:b, s:i, s:o}", "name", c->name, "tf", c->tf,
                                   "m_estimates", m->comps[i].n_m_estimates, "levels", lv)
                       : NULL;
        if (!o || json_array_append_new(comps, o)) goto fail;
    }
    for (size_t k = 0; k < m->n_train; k++) {
        const fs_training *t = &m->train[k];
        json_t *left = json_array();
        for (size_t i = 0; left && i < m->n_comp; i++)
            if ((t->left_out >> i) & 1) json_array_append_new(left, json_string(cfg->comparisons[i].name));
        json_t *o = left ? json_pack("{s:s, s:I, s:I, s:i, s:b, s:f, s:o}", "rule",
                                     cfg->rules[t->rule].name, "pairs", (json_int_t)t->n_pairs,
                                     "patterns", (json_int_t)t->n_patterns, "iterations",
                                     t->iterations, "converged", t->converged, "lambda",
                                     t->lambda, "left_out", left)
                         : NULL;
        if (!o || json_array_append_new(train, o)) goto fail;
    }
    json_t *tf = tf_json(m, cfg);
    if (!tf || json_object_set_new(root, "term_frequencies", tf)) goto fail;
    json_t *mby = mby_json(m, cfg);
    if (!mby || json_object_set_new(root, "m_by_value", mby)) goto fail;
    if (m->n_ctx) {
        json_t *ctx = contexts_json(m, cfg);
        if (!ctx || json_object_set_new(root, "contexts", ctx)) goto fail;
    }
    return root;
fail:
    json_decref(root);
    return NULL;
}

char *fs_model_to_text(const fs_model *m, const dt_config *cfg)
{
    json_t *root = model_json(m, cfg);
    char *text = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(root);
    char *copy = text ? dt_strdup(text) : NULL; /* callers dt_free what we return */
    free(text);
    return copy;
}

int fs_model_save(const fs_model *m, const dt_config *cfg, const char *path, dt_error *err)
{
    json_t *root = model_json(m, cfg);
    if (!root) return dt_err_set(err, DT_ENOMEM, "out of memory building model.json");
    util_out o;
    int rc = util_out_open(&o, path, err);
    if (rc == DT_OK && json_dumpf(root, o.f, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) != 0)
        rc = dt_err_at(err, DT_EIO, path, 0, 0, "cannot write model");
    json_decref(root);
    if (rc == DT_OK) return util_out_commit(&o, 0, err);
    util_out_abort(&o);
    return rc;
}

static int load_comp(fs_model *m, const cfg_comparison *c, size_t i, json_t *jc,
                     const char *path, dt_error *err)
{
    const char *name = json_string_value(json_object_get(jc, "name"));
    json_t *levels = json_object_get(jc, "levels");
    fs_comp *fc = &m->comps[i];
    if (!name || strcmp(name, c->name) != 0)
        return dt_err_at(err, DT_EMODEL, path, 0, 0,
                         "comparison %zu is '%s' in the model but '%s' in the config", i + 1,
                         name ? name : "?", c->name);
    if (!json_is_array(levels) || json_array_size(levels) != (size_t)(fc->n_codes - 1))
        return dt_err_at(err, DT_EMODEL, path, 0, 0,
                         "comparison '%s' has a different number of levels than the config",
                         c->name);
    for (int l = 1; l < fc->n_codes; l++) {
        json_t *jl = json_array_get(levels, (size_t)l - 1);
        const char *label = json_string_value(json_object_get(jl, "level"));
        json_t *jm = json_object_get(jl, "m"), *ju = json_object_get(jl, "u");
        double mv = json_number_value(jm), uv = json_number_value(ju);
        if (!label || strcmp(label, cmp_level_label(c, l)) != 0)
            return dt_err_at(err, DT_EMODEL, path, 0, 0,
                             "comparison '%s' level %d is '%s' in the model but '%s' in the "
                             "config", c->name, l, label ? label : "?", cmp_level_label(c, l));
        if (!json_is_number(jm) || !json_is_number(ju) || !(mv > 0 && mv < 1) ||
            !(uv > 0 && uv < 1))
            return dt_err_at(err, DT_EMODEL, path, 0, 0,
                             "comparison '%s' level '%s': m and u must be numbers in (0, 1)",
                             c->name, label);
        fc->m[l] = mv;
        fc->u[l] = uv;
    }
    fc->n_m_estimates = (int)json_integer_value(json_object_get(jc, "m_estimates"));
    return DT_OK;
}

static int load_tf(fs_model *m, const dt_config *cfg, json_t *all, const char *path,
                   dt_error *err)
{
    for (size_t c = 0; json_is_object(all) && c < m->n_comp; c++) {
        json_t *o = json_object_get(all, cfg->comparisons[c].name);
        if (!o || !cfg->comparisons[c].tf) continue;
        json_t *counts = json_object_get(o, "counts");
        json_int_t nonnull = json_integer_value(json_object_get(o, "nonnull"));
        if (!json_is_object(counts) || nonnull < 0)
            return dt_err_at(err, DT_EMODEL, path, 0, 0, "term frequencies of '%s' are not "
                             "{nonnull, counts}", cfg->comparisons[c].name);
        fs_tf *tf = &m->tf[c];
        util_intern_init(&tf->values);
        size_t n = json_object_size(counts);
        tf->counts = dt_malloc((n ? n : 1) * sizeof *tf->counts);
        if (!tf->counts) return dt_err_set(err, DT_ENOMEM, "out of memory");
        const char *key;
        json_t *v;
        json_object_foreach(counts, key, v) {
            uint32_t id;
            if (util_intern_put(&tf->values, key, strlen(key), &id) < 0)
                return dt_err_set(err, DT_ENOMEM, "out of memory");
            tf->counts[id] = (uint64_t)(json_integer_value(v) > 0 ? json_integer_value(v) : 0);
        }
        tf->n_nonnull = (uint64_t)nonnull;
        tf->is_set = 1;
    }
    return DT_OK;
}

/* One comparison's m per shared value, as mby_json wrote it. A config
 * without m_by_value there ignores it; one that conditions on another
 * field refuses the model. */
static int load_mby_one(fs_model *m, const dt_config *cfg, size_t c, json_t *o,
                        const char *path, dt_error *err)
{
    const cfg_comparison *cc = &cfg->comparisons[c];
    const char *field = json_string_value(json_object_get(o, "field"));
    json_t *ratios = json_object_get(o, "ratios");
    if (!field || !json_is_object(ratios))
        return dt_err_at(err, DT_EMODEL, path, 0, 0, "m_by_value of '%s' is not {field, ratios}",
                         cc->name);
    if (strcmp(field, cfg->fields[cc->m_by_field].name) != 0)
        return dt_err_at(err, DT_EMODEL, path, 0, 0, "the model's m_by_value of '%s' is by "
                         "'%s', the config's by '%s': train again", cc->name, field,
                         cfg->fields[cc->m_by_field].name);
    fs_mby *x = &m->mby[c];
    util_intern_init(&x->values);
    x->is_set = 1;
    size_t n = json_object_size(ratios), n_levels = (size_t)m->comps[c].n_codes - 1;
    if (!(x->ratio = dt_malloc((n ? n : 1) * sizeof *x->ratio)))
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    const char *key;
    json_t *arr;
    json_object_foreach(ratios, key, arr) {
        uint32_t id;
        if (util_intern_put(&x->values, key, strlen(key), &id) < 0)
            return dt_err_set(err, DT_ENOMEM, "out of memory");
        if (!json_is_array(arr) || json_array_size(arr) != n_levels)
            return dt_err_at(err, DT_EMODEL, path, 0, 0, "m_by_value of '%s', value '%s': "
                             "expected %zu ratios (its levels and else)", cc->name, key, n_levels);
        for (int l = 0; l < FS_MAX_CODES; l++) x->ratio[id][l] = 1;
        for (size_t l = 0; l < n_levels; l++) {
            double r = json_number_value(json_array_get(arr, l));
            if (!(r > 0 && r < 1e6))
                return dt_err_at(err, DT_EMODEL, path, 0, 0, "m_by_value of '%s', value '%s': "
                                 "ratios must be numbers in (0, 1e6)", cc->name, key);
            x->ratio[id][l + 1] = r;
        }
    }
    return DT_OK;
}

static int load_mby(fs_model *m, const dt_config *cfg, json_t *all, const char *path,
                    dt_error *err)
{
    for (size_t c = 0; json_is_object(all) && c < m->n_comp; c++) {
        json_t *o = json_object_get(all, cfg->comparisons[c].name);
        if (o && cfg->comparisons[c].m_by_field >= 0) DT_TRY(load_mby_one(m, cfg, c, o, path, err));
    }
    return DT_OK;
}

static int load_context_levels(fs_context *x, const fs_model *m, const cfg_comparison *cc,
                               size_t c, json_t *arr, const char *path, dt_error *err)
{
    fs_comp *fc = &x->comps[c];
    fc->n_codes = m->comps[c].n_codes;
    if (!json_is_array(arr) || json_array_size(arr) != (size_t)(fc->n_codes - 1))
        return dt_err_at(err, DT_EMODEL, path, 0, 0, "contexts: comparison '%s' has a "
                         "different number of levels than the config", cc->name);
    for (int l = 1; l < fc->n_codes; l++) {
        json_t *jl = json_array_get(arr, (size_t)l - 1);
        const char *label = json_string_value(json_object_get(jl, "level"));
        double mv = json_number_value(json_object_get(jl, "m"));
        double uv = json_number_value(json_object_get(jl, "u"));
        if (!label || strcmp(label, cmp_level_label(cc, l)) != 0 || !(mv > 0 && mv < 1) ||
            !(uv > 0 && uv < 1))
            return dt_err_at(err, DT_EMODEL, path, 0, 0, "contexts: comparison '%s' level %d "
                             "must be '%s' with m and u in (0, 1)", cc->name, l,
                             cmp_level_label(cc, l));
        fc->m[l] = mv;
        fc->u[l] = uv;
    }
    return DT_OK;
}

/* The context of the config this entry names, if its condition is the
 * config's; else -1. */
static int config_context(const fs_model *m, const dt_config *cfg, json_t *o)
{
    const char *name = json_string_value(json_object_get(o, "name"));
    json_t *when = json_object_get(o, "when");
    for (size_t k = 0; name && k < m->n_ctx; k++) {
        const fs_context *x = &m->ctx[k];
        if (strcmp(cfg->contexts[k].name, name) != 0 || !json_is_object(when) ||
            (json_int_t)x->require != json_integer_value(json_object_get(o, "require")))
            continue;
        size_t n = 0;
        for (size_t c = 0; c < m->n_comp; c++) {
            if (!((x->mask >> c) & 1)) continue;
            json_t *v = json_object_get(when, cfg->comparisons[c].name);
            if (!json_is_integer(v) || json_integer_value(v) != (json_int_t)x->levels[c]) break;
            n++;
        }
        if (n == (size_t)__builtin_popcountll(x->mask) && json_object_size(when) == n)
            return (int)k;
    }
    return -1;
}

/* A model trained with contexts the config does not have is refused; a
 * config context the model lacks scores its pairs with global weights. */
static int load_contexts(fs_model *m, const dt_config *cfg, json_t *arr, const char *path,
                         dt_error *err)
{
    for (size_t i = 0; json_is_array(arr) && i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        int k = config_context(m, cfg, o);
        if (k < 0)
            return dt_err_at(err, DT_EMODEL, path, 0, 0, "the model's context '%s' is not one "
                             "of the config's model: contexts",
                             json_string_value(json_object_get(o, "name"))
                                 ? json_string_value(json_object_get(o, "name"))
                                 : "?");
        fs_context *x = &m->ctx[k];
        json_t *levels = json_object_get(o, "levels");
        for (size_t c = 0; c < m->n_comp; c++)
            DT_TRY(load_context_levels(x, m, &cfg->comparisons[c], c,
                                       json_object_get(levels, cfg->comparisons[c].name), path,
                                       err));
        x->lambda = json_number_value(json_object_get(o, "lambda"));
        if (!(x->lambda > 0 && x->lambda < 1))
            return dt_err_at(err, DT_EMODEL, path, 0, 0, "context '%s': lambda must be in "
                             "(0, 1)", cfg->contexts[k].name);
        x->n_pairs = (uint64_t)json_integer_value(json_object_get(o, "pairs"));
        x->is_set = 1;
    }
    return DT_OK;
}

static int model_from_json(fs_model *m, const dt_config *cfg, json_t *root, const char *path,
                           dt_error *err)
{
    DT_TRY(fs_model_init(m, cfg));
    int rc = DT_OK;
    json_t *comps = json_object_get(root, "comparisons");
    double lambda = json_number_value(json_object_get(root, "lambda"));
    if (!json_is_array(comps) || json_array_size(comps) != cfg->n_comparisons) {
        rc = dt_err_at(err, DT_EMODEL, path, 0, 0,
                       "model has %zu comparisons, config has %zu",
                       json_is_array(comps) ? json_array_size(comps) : 0, cfg->n_comparisons);
    } else if (!(lambda > 0 && lambda < 1)) {
        rc = dt_err_at(err, DT_EMODEL, path, 0, 0, "lambda must be a number in (0, 1)");
    }
    for (size_t i = 0; rc == DT_OK && i < cfg->n_comparisons; i++)
        rc = load_comp(m, &cfg->comparisons[i], i, json_array_get(comps, i), path, err);
    if (rc == DT_OK) {
        m->lambda = lambda;
        m->n_u_pairs = (uint64_t)json_integer_value(json_object_get(root, "u_sample_pairs"));
        m->n_comparable_pairs =
            (uint64_t)json_integer_value(json_object_get(root, "comparable_pairs"));
        rc = load_tf(m, cfg, json_object_get(root, "term_frequencies"), path, err);
    }
    if (rc == DT_OK) rc = load_mby(m, cfg, json_object_get(root, "m_by_value"), path, err);
    if (rc == DT_OK && json_object_get(root, "lambda_by_sources")) {
        /* A model from before priors per pair of sources has one prior. */
        m->n_sources = cfg->n_sources <= FS_MAX_PRIOR_SOURCES ? cfg->n_sources : 0;
        rc = load_sources(m, cfg, json_object_get(root, "lambda_by_sources"), path, err);
    }
    if (rc == DT_OK) rc = load_contexts(m, cfg, json_object_get(root, "contexts"), path, err);
    return rc;
}

int fs_model_from_text(fs_model *m, const dt_config *cfg, const char *text, const char *name,
                       dt_error *err)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root)
        return dt_err_at(err, DT_EMODEL, name, jerr.line, jerr.column, "cannot read model: %s",
                         jerr.text);
    int rc = model_from_json(m, cfg, root, name, err);
    json_decref(root);
    return rc;
}

int fs_model_load(fs_model *m, const dt_config *cfg, const char *path, dt_error *err)
{
    char *text = NULL;
    size_t n = 0;
    int rc = util_read_file(path, &text, &n, err);
    if (rc == DT_OK) rc = fs_model_from_text(m, cfg, text, path, err);
    dt_free(text);
    return rc;
}
