/*
 * explain.c — dt_explain_pair: one pair, field by field, under a saved
 * model: the values each side holds after standardization, the level that
 * held, and the weight it adds, with term-frequency adjustment as link
 * applied it. Reads the sources through pl_load, so the values shown are
 * exactly the ones link compared.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"

char *dt_explanation_json(const dt_explanation *ex)
{
    if (!ex) return NULL;
    json_t *rows = json_array();
    for (size_t i = 0; rows && i < ex->n_rows; i++) {
        const dt_explain_row *w = &ex->rows[i];
        if (json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:f}", "comparison",
                                                  w->comparison, "a", w->value_a, "b",
                                                  w->value_b, "level", w->level, "weight",
                                                  w->weight)) < 0) {
            json_decref(rows);
            return NULL;
        }
    }
    json_t *o = json_pack("{s:s?, s:s?, s:s, s:s, s:b, s:o}", "a", ex->key_a, "b", ex->key_b,
                          "band", ex->band ? ex->band : "", "blocking_rule",
                          ex->blocking_rule ? ex->blocking_rule : "", "withheld",
                          ex->is_withheld, "rows", rows);
    /* withheld: the total and probability would tell the hidden value */
    if (o && !ex->is_withheld) json_object_set_new(o, "probability", json_real(ex->probability));
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    char *copy = text ? dt_strdup(text) : NULL;
    free(text);
    return copy;
}

void dt_explanation_free(dt_explanation *ex)
{
    if (!ex) return;
    for (size_t i = 0; i < ex->n_rows; i++) {
        dt_free(ex->rows[i].comparison);
        dt_free(ex->rows[i].value_a);
        dt_free(ex->rows[i].value_b);
        dt_free(ex->rows[i].level);
    }
    dt_free(ex->rows);
    dt_free(ex->key_a);
    dt_free(ex->key_b);
    dt_free(ex->blocking_rule);
    dt_free(ex);
}

/* The standardized value a comparison reads from its own field ("" null). */
static char *shown_value(const pl_ctx *e, const cfg_comparison *c, uint32_t rec)
{
    const char *v = cmp_value(&e->table, (size_t)c->i_field, rec);
    return dt_strdup(v ? v : "");
}

static int fill_rows(const pl_ctx *e, const fs_model *m, uint32_t a, uint32_t b,
                     int rows_global, dt_explanation *ex)
{
    const dt_config *cfg = e->cfg;
    uint8_t g[FS_MAX_COMPARISONS];
    cmp_vector(&e->table, cfg, a, b, g);
    ex->rows = dt_calloc(cfg->n_comparisons, sizeof *ex->rows);
    if (!ex->rows) return DT_ENOMEM;
    ex->n_rows = cfg->n_comparisons;
    int k = rows_global ? 0 : fs_scoring_context(m, g);
    ex->prior_weight = fs_pair_prior_weight(m, k, e->table.src[a], e->table.src[b]);
    for (size_t c = 0; c < cfg->n_comparisons; c++) {
        const cfg_comparison *cc = &cfg->comparisons[c];
        dt_explain_row *r = &ex->rows[c];
        r->comparison = dt_strdup(cc->name);
        r->value_a = shown_value(e, cc, a);
        r->value_b = shown_value(e, cc, b);
        /* Within a context every weight is the context's own. */
        r->level = k ? dt_asprintf("%s (in context %s)", cmp_level_label(cc, g[c]),
                                   cfg->contexts[k - 1].name)
                     : dt_strdup(cmp_level_label(cc, g[c]));
        if (!r->comparison || !r->value_a || !r->value_b || !r->level) return DT_ENOMEM;
        r->weight = fs_comp_weight_in(m, cfg, &e->table, c, g[c], a, k, &r->m, &r->u);
        /* A view that hides a field may hide the one m is conditioned on. */
        double ratio = 1;
        if (!rows_global) r->weight += fs_mby_weight(m, cfg, &e->table, c, g[c], a, b, &ratio);
        r->m *= ratio;
        if (ratio != 1) { /* say why m is not the comparison's own */
            char *with = dt_asprintf("%s, m x%.3g for this %s", r->level, ratio,
                                     cfg->fields[cc->m_by_field].name);
            if (!with) return DT_ENOMEM;
            dt_free(r->level);
            r->level = with;
        }
    }
    /* The rows' sum, in the order scoring sums the terms (fs_pair_weight):
     * the total is the pair's score to the last bit. */
    ex->total_weight = fs_pair_weight(m, cfg, &e->table, g, a, b);
    ex->probability = fs_probability(ex->total_weight);
    return DT_OK;
}

static int find_rule(pl_ctx *e, uint32_t a, uint32_t b, dt_explanation *ex)
{
    DT_TRY(pl_keys(e));
    const char *rule = "";
    if (block_mode_allows(e->cfg->mode, e->table.src[a], e->table.src[b]))
        for (size_t r = 0; r < e->cfg->n_rules && !*rule; r++)
            if (e->keys[r][a] && e->keys[r][a] == e->keys[r][b]) rule = e->cfg->rules[r].name;
    ex->is_candidate = *rule != '\0';
    ex->blocking_rule = dt_strdup(rule);
    return ex->blocking_rule ? DT_OK : DT_ENOMEM;
}

const char *pl_band(const dt_config *cfg, double p)
{
    return p >= cfg->link_threshold ? "link" : p >= cfg->review_threshold ? "review" : "none";
}

int pl_explain_records(pl_ctx *e, fs_model *m, uint32_t a, uint32_t b, int rows_global,
                       dt_explanation *ex)
{
    int rc = fill_rows(e, m, a, b, rows_global, ex);
    if (rc == DT_OK) rc = find_rule(e, a, b, ex);
    if (rc == DT_OK) ex->band = ex->is_candidate ? pl_band(e->cfg, ex->probability) : "none";
    return rc == DT_ENOMEM ? dt_err_set(e->err, rc, "out of memory") : rc;
}

static int explain(pl_ctx *e, const char *out_dir, const char *key_a, const char *key_b,
                   dt_explanation *ex)
{
    DT_TRY(pl_load(e));
    long a = pl_find_record(e, key_a), b = pl_find_record(e, key_b);
    if (a < 0 || b < 0)
        return dt_err_set(e->err, DT_ENOTFOUND, "no record %s in the config's sources "
                          "(write SOURCE:RECORD_ID)", a < 0 ? key_a : key_b);
    fs_model m;
    DT_TRY(pl_model_load(e, out_dir, &m));
    int rc = pl_explain_records(e, &m, (uint32_t)a, (uint32_t)b, 0, ex);
    fs_model_fini(&m);
    return rc;
}

int dt_explain_pair(const dt_config *cfg, const char *out_dir, const char *key_a,
                    const char *key_b, dt_explanation **out, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!cfg || !out_dir || !key_a || !key_b || !out)
        return dt_err_set(err, DT_EINVAL, "dt_explain_pair: NULL argument");
    dt_explanation *ex = dt_calloc(1, sizeof *ex);
    if (!ex) return dt_err_set(err, DT_ENOMEM, "out of memory");
    ex->key_a = dt_strdup(key_a);
    ex->key_b = dt_strdup(key_b);
    pl_ctx e;
    int rc = pl_init(&e, cfg, err);
    if (rc == DT_OK) {
        rc = ex->key_a && ex->key_b ? explain(&e, out_dir, key_a, key_b, ex)
                                    : dt_err_set(err, DT_ENOMEM, "out of memory");
        pl_fini(&e);
    }
    if (rc < 0) {
        dt_explanation_free(ex);
        return dt_err_ensure(err, rc);
    }
    *out = ex;
    return DT_OK;
}
