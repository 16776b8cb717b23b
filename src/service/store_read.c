/*
 * store_read.c — the store's reads: export, resolve, entity and explain,
 * each under a purpose's view (src/govern). What a view hides takes no
 * part: a hidden source's records are not candidates, members or rows;
 * links between sources that may not link are not followed; a column the
 * policy does not name is not shown, in any output, nor any number or
 * rule that depends on it (a weight, a total, a probability, a blocking
 * rule): where one took part, the band (link, review, none) stands in.
 *
 * Entity ids: under a view that allows every source and every link, the
 * store's own entity ids; under any other, each entity is clustered again
 * from the links the view allows (svc_view_entity) and named by
 * gv_view_id, so an id never carries what a hidden record joined.
 *
 * Invariants:
 *   1. Nothing leaves (a file renamed into place, a result handed back)
 *      before the request's audit entry is committed (req_end).
 *   2. Export checks the whole store (st_verify) in the snapshot it reads,
 *      so a damaged store is an error, never a short or altered file.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/report.h"
#include "service/service_int.h"

/* ---- what a view shows ------------------------------------------------------- */

/* The columns of source s that feed field f. */
static int field_columns_shown(const svc_request *q, size_t i_src, int f)
{
    const dt_config *cfg = q->s->cfg;
    const cfg_source *s = &cfg->sources[i_src];
    for (size_t m = 0; m < s->n_maps; m++)
        if (s->maps[m].i_field == f && !gv_view_shows(&q->view, cfg, i_src, s->maps[m].column))
            return 0;
    cfg_field_type t = cfg->fields[f].type;
    int is_name = t == CFG_T_GIVEN_NAME || t == CFG_T_MIDDLE_NAME || t == CFG_T_SURNAME;
    if (is_name && s->full_name_column &&
        !gv_view_shows(&q->view, cfg, i_src, s->full_name_column))
        return 0;
    return 1;
}

static int note_field_columns(svc_request *q, size_t i_src, int f)
{
    const cfg_source *s = &q->s->cfg->sources[i_src];
    for (size_t m = 0; m < s->n_maps; m++)
        if (s->maps[m].i_field == f) DT_TRY(req_field(q, s->name, s->maps[m].column));
    return DT_OK;
}

/* 1 when every field comparison c reads may be shown for source i_src;
 * then those columns are noted as shown. */
static int comparison_shown(svc_request *q, size_t i_src, size_t c, int *shown)
{
    const cfg_comparison *cc = &q->s->cfg->comparisons[c];
    *shown = field_columns_shown(q, i_src, cc->i_field);
    for (int l = 0; *shown && l < cc->n_levels; l++)
        for (int k = 0; *shown && k < cc->levels[l].n_with; k++)
            *shown = field_columns_shown(q, i_src, cc->levels[l].with[k]);
    if (!*shown) return DT_OK;
    DT_TRY(note_field_columns(q, i_src, cc->i_field));
    for (int l = 0; l < cc->n_levels; l++)
        for (int k = 0; k < cc->levels[l].n_with; k++)
            DT_TRY(note_field_columns(q, i_src, cc->levels[l].with[k]));
    return DT_OK;
}

/* The entity of a record under q's view, as an id into out (18 bytes);
 * "" when it has none. Restricted views cluster again; cache holds the
 * view entity of each record met, as an index into ids. */
typedef struct view_ids {
    util_ids met;            /* records whose view entity is known */
    uint32_t *entity;        /* per met record: index into names */
    size_t cap;
    util_intern names;
} view_ids;

static void view_ids_fini(view_ids *v)
{
    util_ids_fini(&v->met);
    dt_free(v->entity);
    util_intern_fini(&v->names);
}

static int view_entity_id(svc_request *q, view_ids *cache, int64_t sid, const char *stored,
                          const char **out, dt_error *err)
{
    if (q->view.is_full) {
        *out = stored;
        return DT_OK;
    }
    uint32_t k = util_ids_find(&cache->met, sid);
    if (k != UINT32_MAX) {
        *out = util_intern_str(&cache->names, cache->entity[k]);
        return DT_OK;
    }
    util_ids members = {0};
    int rc = svc_view_entity(q->s->st, q->s->cfg, q->s->nicks,
                             q->s->has_model ? &q->s->model : NULL, &q->view, &q->s->sources, sid,
                             &members, err);
    int64_t min = sid;
    for (uint32_t i = 0; rc == DT_OK && i < members.n; i++)
        if (members.ids[i] < min) min = members.ids[i];
    char id[18];
    gv_view_id(q->s->view_key, min, id);
    uint32_t name;
    if (rc == DT_OK) rc = util_intern_put(&cache->names, id, strlen(id), &name);
    for (uint32_t i = 0; rc == DT_OK && i < members.n; i++) {
        uint32_t at;
        int is_new;
        rc = util_ids_put(&cache->met, members.ids[i], &at, &is_new);
        if (rc == DT_OK) rc = util_grow((void **)&cache->entity, &cache->cap, (size_t)at + 1,
                                        sizeof *cache->entity);
        if (rc == DT_OK) cache->entity[at] = name;
    }
    util_ids_fini(&members);
    if (rc == DT_ENOTFOUND) return dt_err_set(err, DT_EINTERNAL, "a visible record vanished");
    if (rc == DT_ENOMEM) return dt_err_set(err, rc, "out of memory");
    DT_TRY(rc);
    *out = util_intern_str(&cache->names, name);
    return DT_OK;
}

int svc_need_model(const dt_store *s, dt_error *err)
{
    if (s->has_model) return DT_OK;
    return dt_err_at(err, DT_EINVAL, st_path(s->st), 0, 0, "the store has no model, so no "
                     "entities yet: run 'dovetail train' first");
}

/* ---- export ------------------------------------------------------------------- */

typedef struct export_ctx {
    svc_request *q;
    FILE *f;
    util_buf line;
    uint64_t n;
    view_ids cache;
    dt_error *err;
} export_ctx;

static int export_row(void *ctx, int64_t sid, const char *source, const char *record_id,
                      const char *entity)
{
    export_ctx *x = ctx;
    int i_src = cfg_source_index(x->q->s->cfg, source);
    if (i_src < 0 || !gv_view_has(&x->q->view, (size_t)i_src)) return DT_OK;
    DT_TRY(view_entity_id(x->q, &x->cache, sid, entity, &entity, x->err));
    DT_TRY(req_subject(x->q, source, record_id));
    util_buf_clear(&x->line);
    csv_write_field(&x->line, source, strlen(source), ',');
    util_buf_putc(&x->line, ',');
    csv_write_field(&x->line, record_id, strlen(record_id), ',');
    util_buf_printf(&x->line, ",%s\n", entity);
    if (x->line.is_failed) return DT_ENOMEM;
    x->n++;
    return fwrite(x->line.data, 1, x->line.len, x->f) == x->line.len ? DT_OK : DT_EIO;
}

static int export_to(svc_request *q, util_out *out, uint64_t *n_rows, dt_error *err)
{
    FILE *f = out->f;
    export_ctx x = {.q = q, .f = f, .err = err};
    fputs("source,record_id,entity_id\n", f);
    int rc = st_members_each(q->s->st, export_row, &x, err);
    if (rc == DT_OK) rc = util_out_close(out, err);
    if (rc == DT_EIO && err->code == DT_OK) dt_err_at(err, DT_EIO, out->path, 0, 0, "write failed");
    if (rc == DT_ENOMEM && err->code == DT_OK) dt_err_set(err, rc, "out of memory");
    util_buf_fini(&x.line);
    view_ids_fini(&x.cache);
    *n_rows = x.n;
    return rc;
}

/* A file can be put at path: no directory is there (rename would fail
 * after the entry was made). */
static int out_path_ok(const char *path, dt_error *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return dt_err_at(err, DT_EIO, path, 0, 0, "a directory is there: name a file");
    return DT_OK;
}

int dt_store_export(dt_store *store, const dt_request *req, const char *out_path,
                    uint64_t *n_rows, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !out_path) return dt_err_set(err, DT_EINVAL, "dt_store_export: NULL argument");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_ENTITY_EXPORT, NULL, &q, err));
    util_out out = {0};
    uint64_t n = 0;
    int rc = svc_need_model(store, err);
    if (rc == DT_OK && q.view.sources == 0 && !q.view.lapsed[0]) /* lapsed: a warning, 0 rows */
        rc = dt_err_set(err, DT_EDENIED, "no source's policy allows purpose '%s', so there is "
                        "nothing to export", q.purpose);
    if (rc == DT_OK) rc = out_path_ok(out_path, err);
    if (rc == DT_OK) rc = util_out_open(&out, out_path, err);
    if (rc == DT_OK) rc = st_verify(store->st, err); /* the snapshot export_to reads */
    if (rc == DT_OK) rc = export_to(&q, &out, &n, err);
    rc = req_end_placing(&q, rc, &out, err);
    if (n_rows) *n_rows = rc == DT_OK ? n : 0;
    return dt_err_ensure(err, rc);
}

/* ---- resolve -------------------------------------------------------------------- */

/* The record.json object as a header row and a value row. */
typedef struct json_row {
    const char **names, **values;
    size_t *name_lens, *value_lens;
    char **owned;          /* number texts we made */
    size_t n;
} json_row;

static void json_row_fini(json_row *r)
{
    for (size_t i = 0; r->owned && i < r->n; i++) dt_free(r->owned[i]);
    dt_free(r->owned);
    dt_free(r->names);
    dt_free(r->values);
    dt_free(r->name_lens);
    dt_free(r->value_lens);
}

/* 1 if the row already has a field of that name. */
static int json_row_has(const json_row *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->names[i], name)) return 1;
    return 0;
}

/* A record may leave out columns it has no value for: they are added empty,
 * so they read as null. Only the id column is required. */
static int json_row_complete(json_row *r, const cfg_source *s, dt_error *err)
{
    if (!json_row_has(r, s->id_column))
        return dt_err_field(err, DT_EINPUT, s->id_column, "the record has no field '%s' (the "
                            "record id of source '%s')", s->id_column, s->name);
    for (size_t m = 0; m <= s->n_maps; m++) {
        const char *col = m < s->n_maps ? s->maps[m].column : s->full_name_column;
        if (!col || json_row_has(r, col)) continue;
        r->names[r->n] = col;
        r->name_lens[r->n] = strlen(col);
        r->values[r->n] = "";
        r->value_lens[r->n++] = 0;
    }
    return DT_OK;
}

/* Every key of the record is a column of source s, and no value holds a
 * NUL: a misspelt column would otherwise be dropped without a
 * word (a `zipcode` key cut a weight from 19.7 to 10.1), and text after
 * a NUL would be cut off. */
static int json_row_check(json_t *o, const cfg_source *s, dt_error *err)
{
    const char *key; /* jansson refuses a NUL in a key */
    json_t *v;
    json_object_foreach(o, key, v) {
        if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
            return dt_err_field(err, DT_EINPUT, key, "record field '%s' holds a NUL character",
                                key);
        if (cfg_column_index(s, key) >= 0) continue;
        char known[512];
        cfg_columns_text(s, known, sizeof known);
        return dt_err_field(err, DT_EINPUT, key, "record field '%s' is not a column of source "
                            "'%s' (its columns: %s)", key, s->name, known);
    }
    return DT_OK;
}

static int json_row_make(json_t *o, size_t n_extra, json_row *r, dt_error *err)
{
    size_t n = json_object_size(o) + n_extra;
    memset(r, 0, sizeof *r);
    r->names = dt_calloc(n ? n : 1, sizeof *r->names);
    r->values = dt_calloc(n ? n : 1, sizeof *r->values);
    r->name_lens = dt_calloc(n ? n : 1, sizeof *r->name_lens);
    r->value_lens = dt_calloc(n ? n : 1, sizeof *r->value_lens);
    r->owned = dt_calloc(n ? n : 1, sizeof *r->owned);
    if (!r->names || !r->values || !r->name_lens || !r->value_lens || !r->owned)
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        size_t i = r->n++;
        r->names[i] = key;
        r->name_lens[i] = strlen(key);
        if (json_is_string(v)) {
            r->values[i] = json_string_value(v);
            r->value_lens[i] = json_string_length(v);
            continue;
        }
        if (json_is_null(v)) r->owned[i] = dt_strdup("");
        else if (json_is_integer(v)) r->owned[i] = dt_asprintf("%lld", (long long)json_integer_value(v));
        else if (json_is_real(v)) r->owned[i] = dt_asprintf("%.17g", json_real_value(v));
        else
            return dt_err_field(err, DT_EINPUT, key, "record field '%s' must be a string, a "
                                "number or null", key);
        if (!r->owned[i]) return dt_err_set(err, DT_ENOMEM, "out of memory");
        r->values[i] = r->owned[i];
        r->value_lens[i] = strlen(r->owned[i]);
    }
    return DT_OK;
}

static char *level_label(const dt_config *cfg, size_t c, int code)
{
    return dt_strdup(cmp_level_label(&cfg->comparisons[c], code));
}

/* One candidate as the view shows it: levels of comparisons over columns
 * the view hides read "withheld", and then its weight and probability are
 * not given either (they would tell the hidden level); its band is. */
static int fill_candidate(svc_request *q, view_ids *cache, svc_candidate *c, dt_candidate *d,
                          dt_error *err)
{
    const dt_config *cfg = q->s->cfg;
    const char *entity;
    DT_TRY(view_entity_id(q, cache, c->sid, c->entity, &entity, err));
    d->source = dt_strdup(cfg->sources[c->i_source].name);
    d->record_id = c->record_id;
    d->entity = dt_strdup(entity);
    c->record_id = NULL; /* moved */
    d->band = pl_band(cfg, c->p);
    d->levels = dt_calloc(cfg->n_comparisons ? cfg->n_comparisons : 1, sizeof *d->levels);
    if (!d->source || !d->entity || !d->levels) return dt_err_set(err, DT_ENOMEM, "out of memory");
    DT_TRY(req_subject(q, d->source, d->record_id));
    for (size_t k = 0; k < cfg->n_comparisons; k++) {
        int shown;
        DT_TRY(comparison_shown(q, (size_t)c->i_source, k, &shown));
        d->levels[k] = shown ? level_label(cfg, k, c->levels[k]) : dt_strdup("withheld");
        if (!d->levels[k]) return dt_err_set(err, DT_ENOMEM, "out of memory");
        d->is_withheld |= !shown;
    }
    d->weight = d->is_withheld ? 0 : c->weight;
    d->probability = d->is_withheld ? 0 : c->p;
    return DT_OK;
}

/* Link band first, then by source and record id: an order that tells
 * nothing a band does not. */
static int cmp_candidate_band(const void *x, const void *y)
{
    const dt_candidate *a = x, *b = y;
    int la = !strcmp(a->band, "link"), lb = !strcmp(b->band, "link");
    if (la != lb) return lb - la;
    int c = strcmp(a->source, b->source);
    return c ? c : strcmp(a->record_id, b->record_id);
}

/* The candidates the view lets the query's source link to. Where the
 * record goes is decided on the true probabilities (the strongest
 * candidate at or over the link threshold), before any is withheld. */
static int fill_resolution(svc_request *q, size_t i_src, svc_candidate *cands, size_t n,
                           dt_resolution *r, dt_error *err)
{
    const dt_config *cfg = q->s->cfg;
    r->entity = dt_strdup("");
    r->n_comparisons = cfg->n_comparisons;
    r->comparisons = dt_calloc(cfg->n_comparisons ? cfg->n_comparisons : 1, sizeof *r->comparisons);
    r->candidates = dt_calloc(n ? n : 1, sizeof *r->candidates);
    if (!r->entity || !r->comparisons || !r->candidates)
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    for (size_t c = 0; c < cfg->n_comparisons; c++)
        if (!(r->comparisons[c] = dt_strdup(cfg->comparisons[c].name)))
            return dt_err_set(err, DT_ENOMEM, "out of memory");
    view_ids cache = {0};
    int rc = DT_OK, is_withheld = 0;
    double top_p = 0;
    for (size_t k = 0; k < n && rc == DT_OK; k++) {
        if (!gv_view_links(&q->view, i_src, (size_t)cands[k].i_source)) continue;
        if (!r->n_candidates) top_p = cands[k].p; /* cands come strongest first */
        dt_candidate *d = &r->candidates[r->n_candidates++];
        rc = fill_candidate(q, &cache, &cands[k], d, err);
        is_withheld |= d->is_withheld;
    }
    view_ids_fini(&cache);
    DT_TRY(rc);
    const dt_candidate *top = r->n_candidates ? &r->candidates[0] : NULL;
    if (top && top_p >= cfg->link_threshold && top->entity[0]) {
        dt_free(r->entity);
        if (!(r->entity = dt_strdup(top->entity))) return dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    if (is_withheld)
        qsort(r->candidates, r->n_candidates, sizeof *r->candidates, cmp_candidate_band);
    return DT_OK;
}

/* The sources whose records the query (of source i_src) may link to under
 * q's view, as bits of config indexes: only these are read. */
static uint64_t linkable_sources(const svc_request *q, size_t i_src)
{
    uint64_t v = 0;
    for (size_t j = 0; j < q->s->cfg->n_sources && j < 64; j++)
        if (gv_view_links(&q->view, i_src, j)) v |= UINT64_C(1) << j;
    return v;
}

/* The query's own source must be allowed: its records are what it is. */
static int check_query_source(svc_request *q, size_t i_src, dt_error *err)
{
    if (gv_view_has(&q->view, i_src)) return DT_OK;
    const char *name = q->s->cfg->sources[i_src].name;
    const gv_purpose_rule *r = gv_policy_rule(&q->s->policies.p[i_src], q->purpose);
    if (r && r->allowed) { /* allowed once, lapsed now: say so of this source */
        char why[sizeof q->view.lapsed];
        gv_lapsed_text(q->s->cfg, i_src, r, why, sizeof why);
        return dt_err_set(err, DT_EDENIED, "%s", why);
    }
    return dt_err_set(err, DT_EDENIED, "source '%s': its policy does not allow purpose '%s'",
                      name, q->purpose);
}

int store_resolve_json(svc_request *q, size_t i_src, const char *record_json,
                       dt_resolution **out, dt_error *err)
{
    dt_store *store = q->s;
    json_error_t jerr;
    /* NULs are let through to be refused with the field's name */
    json_t *o = json_loads(record_json, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!o) return dt_err_at(err, DT_EINPUT, "record", jerr.line, jerr.column, "%s", jerr.text);
    json_row jr;
    memset(&jr, 0, sizeof jr);
    const cfg_source *s = &store->cfg->sources[i_src];
    int rc = json_is_object(o) ? json_row_check(o, s, err)
                               : dt_err_set(err, DT_EINPUT, "the record must be a JSON object");
    if (rc == DT_OK) rc = json_row_make(o, s->n_maps + 1, &jr, err);
    if (rc == DT_OK) rc = json_row_complete(&jr, s, err);
    svc_candidate *cands = NULL;
    size_t n = 0;
    int snap = 0;
    if (rc == DT_OK) rc = st_snapshot_begin(store->st, &snap, err);
    if (rc == DT_OK) {
        csv_row header = {.n_fields = jr.n, .fields = jr.names, .lens = jr.name_lens, .line = 1};
        csv_row row = {.n_fields = jr.n, .fields = jr.values, .lens = jr.value_lens, .line = 1};
        rc = svc_resolve_one(store->st, store->cfg, store->nicks, &store->model, i_src,
                             linkable_sources(q, i_src), &header, &row, &cands, &n, err);
    }
    dt_resolution *r = rc == DT_OK ? dt_calloc(1, sizeof *r) : NULL;
    if (rc == DT_OK && !r) rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK) rc = fill_resolution(q, i_src, cands, n, r, err);
    st_snapshot_end(store->st, snap);
    for (size_t k = 0; k < n; k++) {
        dt_free(cands[k].record_id);
        dt_free(cands[k].entity);
    }
    dt_free(cands);
    json_row_fini(&jr);
    json_decref(o);
    if (rc < 0) dt_resolution_free(r);
    else *out = r;
    return rc;
}

int dt_store_resolve(dt_store *store, const dt_request *req, const char *source,
                     const char *record_json, dt_resolution **out, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !source || !record_json || !out)
        return dt_err_set(err, DT_EINVAL, "dt_store_resolve: NULL argument");
    *out = NULL;
    if (strlen(record_json) > DT_RECORD_JSON_MAX)
        return dt_err_set(err, DT_EINPUT, "the record is over %u bytes", DT_RECORD_JSON_MAX);
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_RECORD_RESOLVE, source, &q, err));
    dt_resolution *r = NULL;
    int rc = svc_need_model(store, err);
    if (rc == DT_OK) rc = check_query_source(&q, q.i_src, err);
    if (rc == DT_OK) rc = store_resolve_json(&q, q.i_src, record_json, &r, err);
    rc = req_end(&q, rc, err);
    if (rc < 0) {
        dt_resolution_free(r);
        return dt_err_ensure(err, rc);
    }
    *out = r;
    return DT_OK;
}

/* The resolution alone: a request with every source and link allowed. */
static int resolve_core(dt_store *store, size_t i_src, const char *json, dt_resolution **res,
                        dt_error *err)
{
    svc_request q;
    req_init(&q, store, "resolve", "core");
    q.view.n_sources = store->cfg->n_sources;
    q.view.is_full = 1;
    static gv_purpose_rule all = {.allowed = 1, .all_fields = 1, .link_any = 1};
    for (size_t i = 0; i < store->cfg->n_sources; i++) {
        q.view.sources |= UINT64_C(1) << i;
        q.view.linkable[i] = ~UINT64_C(0);
        q.view.rule[i] = &all;
    }
    int rc = store_resolve_json(&q, i_src, json, res, err);
    util_intern_fini(&q.subjects);
    util_intern_fini(&q.fields);
    return rc;
}

/* The public call's own path (req_begin: log check, snapshot, token,
 * role; the view; its filtering) with the audit entry left out. */
static int resolve_enforced(dt_store *store, const dt_request *req, const char *source,
                            const char *json, dt_resolution **res, dt_error *err)
{
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_RECORD_RESOLVE, source, &q, err));
    q.is_logged = 0; /* what governed adds: the entry and its commit */
    int rc = store_resolve_json(&q, q.i_src, json, res, err);
    return req_end(&q, rc, err);
}

int svc_bench_resolve(dt_store *s, const dt_request *req, svc_way way, const char *source,
                      const char *record_json, dt_resolution **out, dt_error *err)
{
    if (way == SVC_WAY_GOVERNED) return dt_store_resolve(s, req, source, record_json, out, err);
    if (way == SVC_WAY_ENFORCED) return resolve_enforced(s, req, source, record_json, out, err);
    size_t i_src;
    DT_TRY(store_source_index(s, source, &i_src, err));
    return resolve_core(s, i_src, record_json, out, err);
}

void dt_resolution_free(dt_resolution *r)
{
    if (!r) return;
    for (size_t k = 0; r->candidates && k < r->n_candidates; k++) {
        dt_candidate *d = &r->candidates[k];
        for (size_t c = 0; d->levels && c < r->n_comparisons; c++) dt_free(d->levels[c]);
        dt_free(d->levels);
        dt_free(d->source);
        dt_free(d->record_id);
        dt_free(d->entity);
    }
    for (size_t c = 0; r->comparisons && c < r->n_comparisons; c++) dt_free(r->comparisons[c]);
    dt_free(r->comparisons);
    dt_free(r->candidates);
    dt_free(r->entity);
    dt_free(r);
}

/* ---- entity ------------------------------------------------------------------------ */

typedef struct entity_walk {
    svc_request *q;
    util_ids ids;
    dt_error *err;
} entity_walk;

static int add_id(void *ctx, int64_t id)
{
    entity_walk *w = ctx;
    return util_ids_add(&w->ids, id);
}

/* The raw row with only the columns the view shows; each is noted. */
static int minimize_raw(svc_request *q, size_t i_src, const char *raw, char **out)
{
    const dt_config *cfg = q->s->cfg;
    json_t *o = json_loads(raw, 0, NULL), *kept = json_object();
    const char *key;
    json_t *v;
    int rc = o && kept ? DT_OK : DT_ENOMEM;
    json_object_foreach(o, key, v) {
        if (rc < 0 || !gv_view_shows(&q->view, cfg, i_src, key)) continue;
        rc = json_object_set(kept, key, v) < 0 ? DT_ENOMEM : DT_OK;
        if (rc == DT_OK) rc = req_field(q, cfg->sources[i_src].name, key);
    }
    char *text = rc == DT_OK ? json_dumps(kept, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    *out = text ? dt_strdup(text) : NULL;
    free(text);
    json_decref(o);
    json_decref(kept);
    return *out ? DT_OK : DT_ENOMEM;
}

/* Adds a member as the view shows it; members of hidden sources are not
 * members under the view. */
static int add_member(entity_walk *w, int64_t id, dt_entity_record **v, size_t *n, size_t *cap)
{
    st_record r;
    DT_TRY(st_record_get(w->q->s->st, id, &r, NULL, w->err));
    int i_src = cfg_source_index(w->q->s->cfg, r.source), rc = DT_OK;
    if (!r.is_withdrawn && i_src >= 0 && gv_view_has(&w->q->view, (size_t)i_src)) {
        char *raw = NULL;
        rc = minimize_raw(w->q, (size_t)i_src, r.raw, &raw);
        if (rc == DT_OK) rc = util_grow((void **)v, cap, *n + 1, sizeof **v);
        if (rc == DT_OK) rc = req_subject(w->q, r.source, r.record_id);
        if (rc == DT_OK) {
            (*v)[(*n)++] = (dt_entity_record){(char *)r.source, (char *)r.record_id, raw};
            r.source = r.record_id = NULL;
        } else dt_free(raw);
    }
    st_record_free(&r);
    return rc == DT_ENOMEM ? dt_err_set(w->err, rc, "out of memory") : rc;
}

static int cmp_entity_record(const void *x, const void *y)
{
    const dt_entity_record *a = x, *b = y;
    int c = strcmp(a->source, b->source);
    return c ? c : strcmp(a->record_id, b->record_id);
}

/* The store ids of an entity under q's view; none when the id names no
 * entity the view has. */
static int entity_members(entity_walk *w, const char *entity_id)
{
    svc_request *q = w->q;
    if (q->view.is_full)
        return st_entity_members(q->s->st, entity_id, add_id, w, w->err);
    int64_t sid;
    if (gv_view_id_parse(q->s->view_key, entity_id, &sid) < 0) return DT_OK;
    int rc = svc_view_entity(q->s->st, q->s->cfg, q->s->nicks,
                             q->s->has_model ? &q->s->model : NULL, &q->view, &q->s->sources, sid,
                             &w->ids, w->err);
    if (rc == DT_ENOTFOUND) return DT_OK;
    DT_TRY(rc);
    for (uint32_t i = 0; i < w->ids.n; i++)
        if (w->ids.ids[i] < sid) { /* not the id this entity goes by */
            util_ids_fini(&w->ids);
            memset(&w->ids, 0, sizeof w->ids);
            break;
        }
    return DT_OK;
}

static int entity_records(svc_request *q, const char *entity_id, dt_entity_record **out,
                          size_t *n, dt_error *err)
{
    entity_walk w = {.q = q, .err = err};
    dt_entity_record *v = NULL;
    size_t cap = 0;
    *n = 0;
    int rc = entity_members(&w, entity_id);
    for (uint32_t i = 0; rc == DT_OK && i < w.ids.n; i++)
        rc = add_member(&w, w.ids.ids[i], &v, n, &cap);
    util_ids_fini(&w.ids);
    if (rc == DT_OK && *n == 0) rc = dt_err_set(err, DT_ENOTFOUND, "no entity '%s'", entity_id);
    if (rc < 0) {
        dt_entity_records_free(v, *n);
        *n = 0;
        return rc;
    }
    qsort(v, *n, sizeof *v, cmp_entity_record);
    *out = v;
    return DT_OK;
}

int dt_store_entity(dt_store *store, const dt_request *req, const char *entity_id,
                    dt_entity_record **out, size_t *n, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !entity_id || !out || !n)
        return dt_err_set(err, DT_EINVAL, "dt_store_entity: NULL argument");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_ENTITY_GET, NULL, &q, err));
    dt_entity_record *v = NULL;
    size_t k = 0;
    int rc = svc_need_model(store, err);
    if (rc == DT_OK) rc = entity_records(&q, entity_id, &v, &k, err);
    rc = req_end(&q, rc, err);
    if (rc < 0) {
        dt_entity_records_free(v, k);
        return dt_err_ensure(err, rc);
    }
    *out = v;
    *n = k;
    return DT_OK;
}

void dt_entity_records_free(dt_entity_record *records, size_t n)
{
    for (size_t i = 0; records && i < n; i++) {
        dt_free(records[i].source);
        dt_free(records[i].record_id);
        dt_free(records[i].raw);
    }
    dt_free(records);
}

/* ---- explain ---------------------------------------------------------------------- */

/* A stored record by "source:record_id", if the view shows it; the same
 * DT_ENOTFOUND for absent and hidden. */
int svc_visible_record(svc_request *q, const char *key, size_t *i_src, int64_t *sid,
                       dt_error *err)
{
    const char *colon = strchr(key, ':');
    char *source = colon ? dt_strndup(key, (size_t)(colon - key)) : NULL;
    int64_t src;
    int i = source ? cfg_source_index(q->s->cfg, source) : -1, active = 0;
    int rc = i >= 0 && gv_view_has(&q->view, (size_t)i) ? DT_OK : DT_ENOTFOUND;
    if (rc == DT_OK) *i_src = (size_t)i;
    if (rc == DT_OK) rc = st_source_id(q->s->st, source, &src, err);
    if (rc == DT_OK) rc = st_record_id(q->s->st, src, colon + 1, sid, err);
    if (rc == DT_OK) rc = st_record_source(q->s->st, *sid, &src, &active, err);
    dt_free(source);
    if (rc == DT_ENOTFOUND || (rc == DT_OK && !active)) {
        dt_error_clear(err);
        return dt_err_set(err, DT_ENOTFOUND, "no record %s in the store (write "
                          "SOURCE:RECORD_ID)", key);
    }
    return rc;
}

static int load_norm(pl_ctx *e, st_store *st, int64_t sid)
{
    st_record r;
    DT_TRY(st_record_norm(st, sid, &r, e->err));
    int rc = svc_add_stored(e, &r);
    st_record_free(&r);
    return rc;
}

/* 1 when the blocking rule named reads only fields both sides show. */
static int rule_shown(const svc_request *q, size_t src_a, size_t src_b, const char *name)
{
    const dt_config *cfg = q->s->cfg;
    for (size_t r = 0; r < cfg->n_rules; r++) {
        if (strcmp(cfg->rules[r].name, name)) continue;
        for (int k = 0; k < cfg->rules[r].n_keys; k++) {
            int f = cfg->rules[r].keys[k].i_field;
            if (!field_columns_shown(q, src_a, f) || !field_columns_shown(q, src_b, f)) return 0;
        }
    }
    return 1;
}

/* Drops the rows over columns either side's view hides; then the total,
 * probability and blocking rule go too (each tells the hidden levels:
 * total minus the rows shown, or a rule keyed on a hidden field), and the
 * band alone says where the pair falls. */
static int minimize_rows(svc_request *q, size_t src_a, size_t src_b, dt_explanation *ex)
{
    size_t kept = 0;
    for (size_t c = 0; c < ex->n_rows; c++) {
        int shown_a, shown_b;
        DT_TRY(comparison_shown(q, src_a, c, &shown_a));
        DT_TRY(comparison_shown(q, src_b, c, &shown_b));
        if (shown_a && shown_b) {
            ex->rows[kept++] = ex->rows[c];
            continue;
        }
        dt_explain_row *r = &ex->rows[c];
        dt_free(r->comparison);
        dt_free(r->value_a);
        dt_free(r->value_b);
        dt_free(r->level);
    }
    ex->is_withheld = kept < ex->n_rows || !rule_shown(q, src_a, src_b, ex->blocking_rule);
    ex->n_rows = kept;
    if (!ex->is_withheld) return DT_OK;
    ex->total_weight = ex->probability = 0;
    ex->is_candidate = 0;
    ex->blocking_rule[0] = '\0';
    return DT_OK;
}

/* 1 when either side's view hides some comparison. */
static int any_comparison_hidden(svc_request *q, size_t src_a, size_t src_b, int *hidden)
{
    *hidden = 0;
    for (size_t c = 0; c < q->s->cfg->n_comparisons && !*hidden; c++) {
        int shown_a, shown_b;
        DT_TRY(comparison_shown(q, src_a, c, &shown_a));
        DT_TRY(comparison_shown(q, src_b, c, &shown_b));
        *hidden = !shown_a || !shown_b;
    }
    return DT_OK;
}

static int explain_stored(svc_request *q, const char *key_a, const char *key_b,
                          dt_explanation *ex, dt_error *err)
{
    size_t src_a, src_b;
    int64_t a, b;
    DT_TRY(svc_visible_record(q, key_a, &src_a, &a, err));
    DT_TRY(svc_visible_record(q, key_b, &src_b, &b, err));
    if (!gv_view_links(&q->view, src_a, src_b))
        return dt_err_set(err, DT_EDENIED, "sources '%s' and '%s' may not be linked for "
                          "purpose '%s'", q->s->cfg->sources[src_a].name,
                          q->s->cfg->sources[src_b].name, q->purpose);
    pl_ctx e;
    DT_TRY(pl_init(&e, q->s->cfg, err));
    pl_borrow_nicknames(&e, q->s->nicks);
    int rc = load_norm(&e, q->s->st, a);
    if (rc == DT_OK) rc = load_norm(&e, q->s->st, b);
    if (rc == DT_OK) rc = pl_finish_load(&e);
    if (rc == DT_OK && fs_tf_bind(&q->s->model, q->s->cfg, &e.table) < 0)
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    long ia = rc == DT_OK ? pl_find_record(&e, key_a) : -1;
    long ib = rc == DT_OK ? pl_find_record(&e, key_b) : -1;
    if (rc == DT_OK && (ia < 0 || ib < 0))
        rc = dt_err_set(err, DT_EINTERNAL, "a stored record did not load");
    /* A context is chosen on every field, hidden ones too: with one hidden,
     * the rows shown are weighed by the global model. */
    int hidden = 0;
    if (rc == DT_OK) rc = any_comparison_hidden(q, src_a, src_b, &hidden);
    if (rc == DT_OK)
        rc = pl_explain_records(&e, &q->s->model, (uint32_t)ia, (uint32_t)ib, hidden, ex);
    if (rc == DT_OK) rc = minimize_rows(q, src_a, src_b, ex);
    if (rc == DT_OK) rc = req_subject_text(q, key_a);
    if (rc == DT_OK) rc = req_subject_text(q, key_b);
    if (rc == DT_ENOMEM && err->code == DT_OK) dt_err_set(err, rc, "out of memory");
    pl_fini(&e);
    return rc;
}

int dt_store_explain(dt_store *store, const dt_request *req, const char *key_a,
                     const char *key_b, dt_explanation **out, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !key_a || !key_b || !out)
        return dt_err_set(err, DT_EINVAL, "dt_store_explain: NULL argument");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_PAIR_EXPLAIN, NULL, &q, err));
    dt_explanation *ex = dt_calloc(1, sizeof *ex);
    int rc = ex ? svc_need_model(store, err) : dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK && (!(ex->key_a = dt_strdup(key_a)) || !(ex->key_b = dt_strdup(key_b))))
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK) rc = explain_stored(&q, key_a, key_b, ex, err);
    rc = req_end(&q, rc, err);
    if (rc < 0) {
        dt_explanation_free(ex);
        return dt_err_ensure(err, rc);
    }
    *out = ex;
    return DT_OK;
}

/* ---- the review queue ---------------------------------------------------------- */

typedef struct queue_walk {
    svc_request *q;
    size_t limit, n;
    dt_review_pair_fn fn;
    void *ctx;
    dt_error *err;
} queue_walk;

/* 1 when the view hides a column some comparison reads, for a pair of
 * sources it lets link: then no pair's probability is shown, nor the
 * order it would give. */
static int view_hides_comparisons(svc_request *q, int *hides)
{
    *hides = 0;
    size_t n = q->s->cfg->n_sources;
    for (size_t i = 0; i < n && !*hides; i++)
        for (size_t j = i; j < n && !*hides; j++)
            if (gv_view_links(&q->view, i, j)) DT_TRY(any_comparison_hidden(q, i, j, hides));
    return DT_OK;
}

static int on_band_pair(void *ctx, const st_band_pair *bp)
{
    queue_walk *w = ctx;
    if (w->n >= w->limit) return 1;
    int i = cfg_source_index(w->q->s->cfg, bp->source_a);
    int j = cfg_source_index(w->q->s->cfg, bp->source_b);
    if (i < 0 || j < 0 || !gv_view_links(&w->q->view, (size_t)i, (size_t)j)) return 0;
    char *a = dt_asprintf("%s:%s", bp->source_a, bp->id_a);
    char *b = dt_asprintf("%s:%s", bp->source_b, bp->id_b);
    int rc = a && b ? DT_OK : DT_ENOMEM;
    if (rc == DT_OK) rc = req_subject(w->q, bp->source_a, bp->id_a);
    if (rc == DT_OK) rc = req_subject(w->q, bp->source_b, bp->id_b);
    int full = w->q->view.is_full;
    dt_review_pair pair = {a, b, bp->p, full ? bp->entity_a : NULL, full ? bp->entity_b : NULL};
    if (rc == DT_OK) rc = w->fn(w->ctx, &pair);
    dt_free(a);
    dt_free(b);
    if (rc < 0) return rc == DT_ENOMEM ? dt_err_set(w->err, rc, "out of memory") : rc;
    w->n++;
    return 0;
}

static int on_withheld_pair(void *ctx, const st_band_pair *bp)
{
    st_band_pair hidden = *bp;
    hidden.p = NAN;
    return on_band_pair(ctx, &hidden);
}

int dt_review_queue(dt_store *store, const dt_request *req, size_t limit,
                    dt_review_pair_fn fn, void *ctx, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !fn) return dt_err_set(err, DT_EINVAL, "dt_review_queue: NULL argument");
    if (limit == 0 || limit > DT_REVIEW_MAX)
        return dt_err_set(err, DT_EINPUT, "a queue is 1 to %d pairs, not %zu", DT_REVIEW_MAX, limit);
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_REVIEW_QUEUE, NULL, &q, err));
    int hides = 0;
    int rc = svc_need_model(store, err);
    if (rc == DT_OK) rc = view_hides_comparisons(&q, &hides);
    queue_walk w = {&q, limit, 0, fn, ctx, err};
    const dt_config *cfg = store->cfg;
    if (rc == DT_OK)
        rc = st_links_band(store->st, cfg->review_threshold, cfg->link_threshold, !hides,
                           hides ? on_withheld_pair : on_band_pair, &w, err);
    return dt_err_ensure(err, req_end(&q, rc, err));
}

/* ---- the report of a store ------------------------------------------------------ */

typedef struct report_count {
    svc_request *q;
    pl_report *r;
} report_count;

/* A link counts when the view shows both records' sources and lets them link. */
static void count_link(void *ctx, double p, int64_t source_a, int64_t source_b)
{
    report_count *c = ctx;
    int i = svc_source_index(&c->q->s->sources, source_a);
    int j = svc_source_index(&c->q->s->sources, source_b);
    if (i < 0 || j < 0 || !gv_view_links(&c->q->view, (size_t)i, (size_t)j)) return;
    pl_report *r = c->r;
    const dt_config *cfg = c->q->s->cfg;
    r->prob_bins[pl_report_bin(p)]++;
    if (p < cfg->link_threshold) {
        r->n_review++;
        return;
    }
    r->n_links++;
    if (i < PL_REPORT_SOURCES && j < PL_REPORT_SOURCES) r->sp_links[i < j ? i : j][i < j ? j : i]++;
}

static void count_entity(void *ctx, uint64_t n)
{
    pl_report *r = ctx;
    r->n_entities++;
    r->size_hist[clu_hist_bucket((uint32_t)(n > UINT32_MAX ? UINT32_MAX : n))]++;
}

static int report_counts(svc_request *q, pl_report *r, dt_error *err)
{
    const dt_config *cfg = q->s->cfg;
    for (size_t i = 0; i < cfg->n_sources; i++) {
        uint64_t n = 0;
        if (!gv_view_has(&q->view, i)) continue;
        DT_TRY(st_record_count(q->s->st, cfg->sources[i].name, &n, err));
        r->n_records += n;
    }
    report_count c = {q, r};
    DT_TRY(st_link_sources_each(q->s->st, count_link, &c, err));
    /* sizes count every record: under a narrower view they would tell of hidden ones */
    r->has_sizes = q->view.is_full;
    return r->has_sizes ? st_entity_sizes_each(q->s->st, count_entity, r, err) : DT_OK;
}

int dt_store_report(dt_store *store, const dt_request *req, const char *out_path, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !out_path) return dt_err_set(err, DT_EINVAL, "dt_store_report: NULL argument");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_STORE_REPORT, NULL, &q, err));
    util_out out = {0};
    util_buf html = {0};
    pl_report *r = dt_calloc(1, sizeof *r);
    int rc = r ? svc_need_model(store, err) : dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK) {
        *r = (pl_report){.cfg = store->cfg, .model = &store->model,
                         .pairs_counted = "Every stored pair at or over the review threshold "
                                          "between sources the purpose may link"};
        rc = out_path_ok(out_path, err);
    }
    if (rc == DT_OK) rc = report_counts(&q, r, err);
    if (rc == DT_OK && pl_report_html(r, &html) < 0)
        rc = dt_err_set(err, DT_ENOMEM, "out of memory writing the report");
    if (rc == DT_OK) rc = util_out_open(&out, out_path, err);
    if (rc == DT_OK && fwrite(html.data, 1, html.len, out.f) != html.len)
        rc = dt_err_at(err, DT_EIO, out_path, 0, 0, "cannot write: %s", strerror(errno));
    util_buf_fini(&html);
    dt_free(r);
    return dt_err_ensure(err, req_end_placing(&q, rc, &out, err));
}

/* ---- for the parts above (service.h) ---------------------------------------- */

int svc_record_shown(svc_request *q, const char *key, char **raw, dt_error *err)
{
    size_t i_src;
    int64_t sid;
    *raw = NULL;
    DT_TRY(svc_visible_record(q, key, &i_src, &sid, err));
    st_record r;
    DT_TRY(st_record_get(q->s->st, sid, &r, NULL, err));
    int rc = r.is_withdrawn ? DT_ENOTFOUND : minimize_raw(q, i_src, r.raw, raw);
    if (rc == DT_OK) rc = req_subject(q, r.source, r.record_id);
    st_record_free(&r);
    if (rc < 0) {
        dt_free(*raw);
        *raw = NULL;
    }
    return rc == DT_ENOMEM ? dt_err_set(err, rc, "out of memory") : rc;
}

int svc_explain(svc_request *q, const char *key_a, const char *key_b, dt_explanation *ex,
                dt_error *err)
{
    DT_TRY(svc_need_model(q->s, err));
    return explain_stored(q, key_a, key_b, ex, err);
}

int svc_field_shown(const svc_request *q, size_t i_src, int field)
{
    return gv_view_has(&q->view, i_src) && field_columns_shown(q, i_src, field);
}
