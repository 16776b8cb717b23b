/*
 * ingest.c — the store's public side: init, open, ingest, withdraw.
 *
 * Ingest reads a source's CSV through the same reader and standardization
 * as batch link (eng_load_file), and keeps each accepted row twice: raw, as
 * a JSON object of the file's column names and values, and normalized, as
 * a JSON object of the config's field names and standardized values.
 *
 * Invariants:
 *   1. One transaction per batch of rows: a killed ingest keeps whole
 *      batches, and ingesting the same file again ends in the state an
 *      uninterrupted run would have left (rows already stored are n_same).
 *   2. Within one file a repeated record id keeps its first row, as in
 *      batch link; the later row is rejected and reported.
 *   3. A snapshot withdraws the source's stored records missing from the
 *      file only after the whole file is in, in a transaction of its own.
 *   4. Once the store has a model, each batch's new and changed records are
 *      resolved (resolve.c) in the batch's own transaction, so records,
 *      links and entities never disagree.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "store/store.h"

enum { DEFAULT_BATCH_ROWS = 10000, REPORT_MAX = 10 };

struct dt_store {
    st_store *st;
    dt_config *cfg;
    fs_model model;      /* the newest stored model, when has_model */
    int has_model;
    int64_t model_version;
};

/* Loads the newest model the store holds, if any. */
static int load_model(dt_store *s, dt_error *err)
{
    char *json = NULL;
    DT_TRY(st_model_latest(s->st, &json, &s->model_version, err));
    if (!json) return DT_OK;
    int rc = fs_model_from_text(&s->model, s->cfg, json, "the store's model", err);
    dt_free(json);
    s->has_model = rc == DT_OK;
    return rc;
}

/* ---- init and open -------------------------------------------------- */

static int keep_config(st_store *st, const dt_config *cfg, const char *config_path,
                       dt_error *err)
{
    char *text = NULL, *dir = util_dirname(config_path), abs[PATH_MAX];
    size_t n = 0;
    int rc = dir ? util_read_file(config_path, &text, &n, err)
                 : dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK && !realpath(dir, abs))
        rc = dt_err_at(err, DT_EIO, dir, 0, 0, "cannot resolve the config's directory");
    if (rc == DT_OK) rc = st_begin(st, err);
    if (rc == DT_OK) rc = st_meta_set(st, "config", text, err);
    if (rc == DT_OK) rc = st_meta_set(st, "config_name", config_path, err);
    if (rc == DT_OK) rc = st_meta_set(st, "config_dir", abs, err);
    for (size_t i = 0; rc == DT_OK && i < cfg->n_sources; i++) {
        int64_t id;
        rc = st_source_id(st, cfg->sources[i].name, &id, err);
    }
    if (rc == DT_OK) rc = st_commit(st, err);
    else st_rollback(st);
    dt_free(text);
    dt_free(dir);
    return rc;
}

int dt_store_init(const char *store_path, const char *config_path, dt_error *err)
{
    dt_error_clear(err);
    if (!store_path || !config_path) return dt_err_set(err, DT_EINVAL, "dt_store_init: NULL argument");
    dt_config *cfg = NULL;
    DT_TRY(dt_config_load(config_path, &cfg, err));
    st_store *st = NULL;
    int rc = st_open(store_path, ST_CREATE, &st, err);
    if (rc == DT_OK) rc = keep_config(st, cfg, config_path, err);
    st_close(st);
    if (rc < 0 && st) remove(store_path); /* a half-made store helps nobody */
    dt_config_free(cfg);
    return dt_err_ensure(err, rc);
}

static int load_config(st_store *st, dt_config **out, dt_error *err)
{
    char *text = NULL, *name = NULL, *dir = NULL;
    int rc = st_meta_get(st, "config", &text, err);
    if (rc == DT_OK) rc = st_meta_get(st, "config_name", &name, err);
    if (rc == DT_OK) rc = st_meta_get(st, "config_dir", &dir, err);
    if (rc == DT_OK && (!text || !name || !dir))
        rc = dt_err_at(err, DT_EIO, st_path(st), 0, 0, "the store holds no configuration");
    if (rc == DT_OK) rc = cfg_parse(text, strlen(text), name, dir, out, err);
    dt_free(text);
    dt_free(name);
    dt_free(dir);
    return rc;
}

int dt_store_open(const char *store_path, dt_store **out, dt_error *err)
{
    dt_error_clear(err);
    if (!store_path || !out) return dt_err_set(err, DT_EINVAL, "dt_store_open: NULL argument");
    *out = NULL;
    dt_store *s = dt_calloc(1, sizeof *s);
    if (!s) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int rc = st_open(store_path, ST_OPEN, &s->st, err);
    if (rc == DT_OK) rc = load_config(s->st, &s->cfg, err);
    if (rc == DT_OK) rc = load_model(s, err);
    if (rc < 0) {
        dt_store_close(s);
        return dt_err_ensure(err, rc);
    }
    *out = s;
    return DT_OK;
}

void dt_store_close(dt_store *store)
{
    if (!store) return;
    fs_model_fini(&store->model);
    st_close(store->st);
    dt_config_free(store->cfg);
    dt_free(store);
}

const dt_config *dt_store_config(const dt_store *store)
{
    return store ? store->cfg : NULL;
}

static int source_index(const dt_store *s, const char *name, size_t *i_src, dt_error *err)
{
    for (size_t i = 0; i < s->cfg->n_sources; i++)
        if (strcmp(s->cfg->sources[i].name, name) == 0) {
            *i_src = i;
            return DT_OK;
        }
    util_buf known = {0};
    for (size_t i = 0; i < s->cfg->n_sources; i++)
        util_buf_printf(&known, "%s%s", i ? ", " : "", s->cfg->sources[i].name);
    int rc = dt_err_set(err, DT_EINVAL, "no source '%s' in the store's config (it has: %s)", name,
                        known.data ? known.data : "none");
    util_buf_fini(&known);
    return rc;
}

/* ---- ingest --------------------------------------------------------- */

typedef struct ingest_run {
    dt_store *store;
    eng_ctx e;
    const dt_ingest_options *opts;
    int64_t src_id;
    const char *path;
    util_intern seen;        /* record ids of this file */
    uint64_t *seen_line;     /* per seen id: its row's line, for repeat reports */
    size_t cap_seen_line;
    size_t in_batch;
    uint64_t n_reported;
    int64_t *touched;        /* store ids of this batch's new and changed records */
    uint32_t *touched_row;   /* each one's row in e.table */
    uint8_t *touched_new;    /* 1 when it was stored for the first time */
    size_t n_touched, cap_touched, cap_row, cap_new;
    char *cause;             /* recorded with entity merges and splits */
    dt_ingest_summary sum;
} ingest_run;

/* The raw row as a JSON object keyed by the file's column names; a name
 * the header repeats gets "#2", "#3"... so no value is dropped. */
static char *raw_json(const char *const *header, const csv_row *row)
{
    json_t *o = json_object();
    int ok = o != NULL;
    for (size_t i = 0; ok && i < row->n_fields; i++) {
        char key[300];
        snprintf(key, sizeof key, "%s", header[i]);
        for (int k = 2; json_object_get(o, key); k++) snprintf(key, sizeof key, "%s#%d", header[i], k);
        ok = json_object_set_new(o, key, json_stringn(row->fields[i], row->lens[i])) == 0;
    }
    char *text = ok ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

/* The record's standardized values as a JSON object of field names. */
static char *norm_json(const eng_ctx *e, size_t i_rec)
{
    json_t *o = json_object();
    int ok = o != NULL;
    for (size_t f = 0; ok && f < e->cfg->n_fields; f++) {
        const char *v = cmp_value(&e->table, f, (uint32_t)i_rec);
        if (v) ok = json_object_set_new(o, e->cfg->fields[f].name, json_string(v)) == 0;
    }
    char *text = ok ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

static void tally(dt_ingest_summary *sum, st_put_result r)
{
    switch (r) {
    case ST_PUT_NEW: sum->n_new++; break;
    case ST_PUT_SAME: sum->n_same++; break;
    case ST_PUT_CHANGED: sum->n_changed++; break;
    case ST_PUT_RESTORED: sum->n_restored++; break;
    }
}

/* 1 if the id was already in this file (the row is then rejected). */
static int repeated(ingest_run *run, const char *id, long line, int *is_repeat)
{
    uint32_t before = run->seen.n_strs, k;
    DT_TRY(util_intern_put(&run->seen, id, strlen(id), &k));
    *is_repeat = k < before;
    if (*is_repeat) {
        run->sum.n_rejected++;
        if (++run->n_reported <= REPORT_MAX)
            eng_log(&run->e, DT_LOG_WARN, "%s:%ld: record id '%s' repeats line %llu: row rejected",
                    run->path, line, id, (unsigned long long)run->seen_line[k]);
        return DT_OK;
    }
    DT_TRY(util_grow((void **)&run->seen_line, &run->cap_seen_line, (size_t)k + 1,
                     sizeof *run->seen_line));
    run->seen_line[k] = (uint64_t)line;
    return DT_OK;
}

/* Resolves the batch's new and changed records, when there is a model. */
static int resolve_batch(ingest_run *run)
{
    dt_store *s = run->store;
    if (!s->has_model || !run->n_touched) return DT_OK;
    eng_batch b = {.recs = run->touched, .n = run->n_touched, .is_new = run->touched_new,
                   .values = &run->e.table, .rows = run->touched_row, .cause = run->cause};
    int rc = eng_resolve(s->st, s->cfg, &s->model, &b, run->e.err);
    run->n_touched = 0;
    return rc;
}

static int next_batch(ingest_run *run)
{
    st_store *st = run->store->st;
    DT_TRY(resolve_batch(run));
    DT_TRY(st_commit(st, run->e.err));
    run->in_batch = 0;
    eng_progress(&run->e, "ingest", run->sum.n_rows, 0, 0);
    return st_begin(st, run->e.err);
}

/* Adds a record to the batch to resolve. */
static int touch(ingest_run *run, int64_t sid, size_t i_rec, int is_new)
{
    size_t need = run->n_touched + 1;
    DT_TRY(util_grow((void **)&run->touched, &run->cap_touched, need, sizeof *run->touched));
    DT_TRY(util_grow((void **)&run->touched_row, &run->cap_row, need, sizeof *run->touched_row));
    DT_TRY(util_grow((void **)&run->touched_new, &run->cap_new, need, sizeof *run->touched_new));
    run->touched[run->n_touched] = sid;
    run->touched_row[run->n_touched] = (uint32_t)i_rec;
    run->touched_new[run->n_touched++] = (uint8_t)is_new;
    return DT_OK;
}

static int on_row(void *ctx, size_t i_rec, const char *const *header, const csv_row *row)
{
    ingest_run *run = ctx;
    const char *id = cmp_record_id(&run->e.table, (uint32_t)i_rec);
    int is_repeat;
    DT_TRY(repeated(run, id, row->line, &is_repeat));
    if (is_repeat) return DT_OK;
    char *raw = raw_json(header, row), *norm = raw ? norm_json(&run->e, i_rec) : NULL;
    int rc = norm ? DT_OK : dt_err_set(run->e.err, DT_ENOMEM, "out of memory");
    st_put_result r;
    int64_t sid = 0;
    if (rc == DT_OK)
        rc = st_record_put(run->store->st, run->src_id, id, raw, norm, &r, &sid, run->e.err);
    free(raw); /* jansson's */
    free(norm);
    DT_TRY(rc);
    tally(&run->sum, r);
    if (r != ST_PUT_SAME) DT_TRY(touch(run, sid, i_rec, r == ST_PUT_NEW));
    run->sum.n_rows++;
    size_t batch = run->opts->batch_rows ? run->opts->batch_rows : DEFAULT_BATCH_ROWS;
    return ++run->in_batch >= batch ? next_batch(run) : DT_OK;
}

/* Records withdrawn in this transaction, to resolve again. */
typedef struct gone_list {
    int64_t *v;
    size_t n, cap;
} gone_list;

/* Withdraws one record; *found says whether it was there and active. */
static int withdraw_one(st_store *st, int64_t src, const char *rid, gone_list *g, int *found,
                        dt_error *err)
{
    int64_t id;
    *found = 0;
    int rc = st_record_id(st, src, rid, &id, err);
    if (rc == DT_ENOTFOUND) return DT_OK;
    if (rc == DT_OK) rc = st_record_withdraw(st, src, rid, found, err);
    if (rc == DT_OK && *found) rc = util_grow((void **)&g->v, &g->cap, g->n + 1, sizeof *g->v);
    if (rc == DT_OK && *found) g->v[g->n++] = id;
    return rc == DT_ENOMEM ? dt_err_set(err, rc, "out of memory") : rc;
}

/* Clusters the entities of withdrawn records again, when there is a model. */
static int resolve_gone(dt_store *s, const gone_list *g, const char *cause, dt_error *err)
{
    if (!g->n || !s->has_model) return DT_OK;
    eng_batch b = {.gone = g->v, .n_gone = g->n, .cause = cause};
    return eng_resolve(s->st, s->cfg, &s->model, &b, err);
}

typedef struct absent_ids {
    const util_intern *seen;
    util_buf ids;     /* NUL-separated */
    size_t n;
} absent_ids;

static int collect_absent(void *ctx, const st_record *r)
{
    absent_ids *a = ctx;
    if (util_intern_find(a->seen, r->record_id, strlen(r->record_id)) != UINT32_MAX) return DT_OK;
    a->n++;
    return util_buf_append(&a->ids, r->record_id, strlen(r->record_id) + 1);
}

/* Withdraws the source's stored records that the snapshot left out. */
static int withdraw_absent(ingest_run *run)
{
    st_store *st = run->store->st;
    absent_ids a = {.seen = &run->seen};
    int rc = st_records_each(st, run->opts->source, 0, collect_absent, &a, run->e.err);
    if (rc == DT_OK && a.ids.is_failed) rc = dt_err_set(run->e.err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK && a.n) rc = st_begin(st, run->e.err);
    const char *p = a.ids.data;
    gone_list gone = {0};
    for (size_t i = 0; rc == DT_OK && i < a.n; i++, p += strlen(p) + 1) {
        int found;
        rc = withdraw_one(st, run->src_id, p, &gone, &found, run->e.err);
        run->sum.n_withdrawn += (uint64_t)found;
    }
    if (rc == DT_OK) rc = resolve_gone(run->store, &gone, run->cause, run->e.err);
    if (rc == DT_OK && a.n) rc = st_commit(st, run->e.err);
    else if (rc < 0) st_rollback(st);
    dt_free(gone.v);
    util_buf_fini(&a.ids);
    return rc;
}

static int ingest(ingest_run *run, size_t i_src)
{
    st_store *st = run->store->st;
    DT_TRY(st_source_id(st, run->opts->source, &run->src_id, run->e.err));
    DT_TRY(st_begin(st, run->e.err));
    int rc = eng_load_file(&run->e, i_src, run->path, on_row, run);
    if (rc == DT_OK) rc = resolve_batch(run);
    if (rc == DT_OK) rc = st_commit(st, run->e.err);
    if (rc < 0) {
        st_rollback(st); /* the batches before this one stay: a rerun completes them */
        return rc;
    }
    eng_progress(&run->e, "ingest", run->sum.n_rows, run->sum.n_rows, 1);
    return run->opts->is_snapshot ? withdraw_absent(run) : DT_OK;
}

int dt_store_ingest(dt_store *store, const dt_ingest_options *opts, dt_ingest_summary *summary,
                    dt_error *err)
{
    dt_error_clear(err);
    if (!store || !opts || !opts->source || !opts->path)
        return dt_err_set(err, DT_EINVAL, "dt_store_ingest: store, source and path are required");
    size_t i_src;
    DT_TRY(source_index(store, opts->source, &i_src, err));
    double t0 = util_now();
    ingest_run *run = dt_calloc(1, sizeof *run);
    if (!run) return dt_err_set(err, DT_ENOMEM, "out of memory");
    run->store = store;
    run->opts = opts;
    run->path = opts->path;
    run->cause = dt_asprintf("ingest of %s into %s", opts->path, opts->source);
    util_intern_init(&run->seen);
    int rc = run->cause ? eng_init(&run->e, store->cfg, err)
                        : dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK) {
        run->e.on_log = opts->on_log;
        run->e.on_progress = opts->on_progress;
        run->e.cb_ctx = opts->cb_ctx;
        rc = ingest(run, i_src);
        run->sum.n_rejected += run->e.n_rejected;
        for (size_t f = 0; f < store->cfg->n_fields; f++)
            run->sum.n_null_values += run->e.null_per_field[f];
        if (run->n_reported > REPORT_MAX)
            eng_log(&run->e, DT_LOG_WARN, "%s: %llu more repeated ids not shown", run->path,
                    (unsigned long long)(run->n_reported - REPORT_MAX));
    }
    run->sum.seconds = util_now() - t0;
    if (rc == DT_OK && summary) *summary = run->sum;
    eng_fini(&run->e);
    util_intern_fini(&run->seen);
    dt_free(run->seen_line);
    dt_free(run->touched);
    dt_free(run->touched_row);
    dt_free(run->touched_new);
    dt_free(run->cause);
    dt_free(run);
    return dt_err_ensure(err, rc);
}

/* ---- withdraw ------------------------------------------------------- */

static int withdraw_rows(dt_store *store, int64_t src, const cfg_source *s, const char *path,
                         uint64_t *n_withdrawn, uint64_t *n_unknown, dt_error *err)
{
    csv_reader *r = NULL;
    DT_TRY(csv_open(path, NULL, &r, err));
    csv_row row;
    int rc = csv_next(r, &row, err);
    if (rc == 0) rc = dt_err_at(err, DT_EINPUT, path, 1, 1, "no header row: the file is empty");
    size_t col = 0;
    for (size_t i = 0; rc == 1 && i < row.n_fields; i++)
        if (strcmp(row.fields[i], s->id_column) == 0) col = i;
    if (rc == 1) rc = st_begin(store->st, err);
    gone_list gone = {0};
    while (rc >= 0 && (rc = csv_next(r, &row, err)) == 1) {
        if (col >= row.n_fields || row.lens[col] == 0) {
            rc = dt_err_at(err, DT_EINPUT, path, row.line, 1, "no record id in column %zu: "
                           "nothing was withdrawn", col + 1);
            break;
        }
        int found;
        rc = withdraw_one(store->st, src, row.fields[col], &gone, &found, err);
        if (found) (*n_withdrawn)++;
        else (*n_unknown)++;
        if (rc == DT_OK) rc = 1;
    }
    csv_close(r);
    if (rc == 0 && gone.n) {
        char *cause = dt_asprintf("withdrawal listed in %s", path);
        rc = cause ? resolve_gone(store, &gone, cause, err)
                   : dt_err_set(err, DT_ENOMEM, "out of memory");
        dt_free(cause);
    }
    dt_free(gone.v);
    if (rc == 0) return st_commit(store->st, err);
    st_rollback(store->st); /* all or nothing: a bad line withdraws none */
    return rc < 0 ? rc : DT_OK;
}

int dt_store_withdraw(dt_store *store, const char *source, const char *ids_path,
                      uint64_t *n_withdrawn, uint64_t *n_unknown, dt_error *err)
{
    dt_error_clear(err);
    if (!store || !source || !ids_path || !n_withdrawn || !n_unknown)
        return dt_err_set(err, DT_EINVAL, "dt_store_withdraw: NULL argument");
    *n_withdrawn = *n_unknown = 0;
    size_t i_src;
    DT_TRY(source_index(store, source, &i_src, err));
    int64_t src;
    DT_TRY(st_source_id(store->st, source, &src, err));
    int rc = withdraw_rows(store, src, &store->cfg->sources[i_src], ids_path, n_withdrawn,
                           n_unknown, err);
    if (rc < 0) *n_withdrawn = *n_unknown = 0;
    return dt_err_ensure(err, rc);
}

/* ---- model and export ------------------------------------------------- */

/* Resolves every active record again with the store's model, in batches,
 * each in its own transaction: after a new model, every entity is its. */
static int resolve_all(dt_store *s, const char *cause, dt_error *err)
{
    enum { BATCH = 2000 };
    int rc = DT_OK;
    for (int64_t from = 0; rc == DT_OK;) {
        int64_t ids[BATCH];
        size_t k = 0;
        rc = st_active_ids(s->st, from, ids, BATCH, &k, err);
        if (rc < 0 || k == 0) break;
        rc = st_begin(s->st, err);
        eng_batch b = {.recs = ids, .n = k, .cause = cause};
        if (rc == DT_OK) rc = eng_resolve(s->st, s->cfg, &s->model, &b, err);
        if (rc == DT_OK) rc = st_commit(s->st, err);
        else st_rollback(s->st);
        from = ids[k - 1] + 1;
    }
    return rc;
}

/* Keeps a model as the store's newest version and resolves every record
 * with it. */
static int adopt_model(dt_store *store, const char *text, int64_t *version, dt_error *err)
{
    int rc = st_begin(store->st, err);
    if (rc == DT_OK) rc = st_model_put(store->st, text, version, err);
    if (rc == DT_OK) rc = st_commit(store->st, err);
    else st_rollback(store->st);
    fs_model_fini(&store->model);
    store->has_model = 0;
    if (rc == DT_OK) rc = load_model(store, err);
    char *cause = rc == DT_OK ? dt_asprintf("model version %lld", (long long)*version) : NULL;
    if (rc == DT_OK) rc = cause ? resolve_all(store, cause, err) : DT_ENOMEM;
    dt_free(cause);
    return rc;
}

int dt_store_import_model(dt_store *store, const char *model_path, int64_t *version,
                          dt_error *err)
{
    dt_error_clear(err);
    if (!store || !model_path || !version)
        return dt_err_set(err, DT_EINVAL, "dt_store_import_model: NULL argument");
    fs_model m;
    memset(&m, 0, sizeof m);
    int rc = fs_model_load(&m, store->cfg, model_path, err);
    char *text = rc == DT_OK ? fs_model_to_text(&m, store->cfg) : NULL;
    if (rc == DT_OK && !text) rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    fs_model_fini(&m);
    if (rc == DT_OK) rc = adopt_model(store, text, version, err);
    dt_free(text);
    return dt_err_ensure(err, rc);
}

typedef struct export_ctx {
    FILE *f;
    util_buf line;
    uint64_t n;
} export_ctx;

static int export_row(void *ctx, const char *source, const char *record_id, const char *entity)
{
    export_ctx *x = ctx;
    util_buf_clear(&x->line);
    csv_write_field(&x->line, source, strlen(source), ',');
    util_buf_putc(&x->line, ',');
    csv_write_field(&x->line, record_id, strlen(record_id), ',');
    util_buf_printf(&x->line, ",%s\n", entity);
    if (x->line.is_failed) return DT_ENOMEM;
    x->n++;
    return fwrite(x->line.data, 1, x->line.len, x->f) == x->line.len ? DT_OK : DT_EIO;
}

int dt_store_export(dt_store *store, const char *out_path, uint64_t *n_rows, dt_error *err)
{
    dt_error_clear(err);
    if (!store || !out_path) return dt_err_set(err, DT_EINVAL, "dt_store_export: NULL argument");
    if (!store->has_model)
        return dt_err_at(err, DT_EINVAL, st_path(store->st), 0, 0, "the store has no model, so "
                         "no entities yet: run 'dovetail train' first");
    char *tmp = dt_asprintf("%s.tmp", out_path);
    FILE *f = tmp ? fopen(tmp, "wb") : NULL;
    if (!f) {
        int rc = tmp ? dt_err_at(err, DT_EIO, tmp, 0, 0, "cannot write") : DT_ENOMEM;
        dt_free(tmp);
        return dt_err_ensure(err, rc);
    }
    export_ctx x = {.f = f};
    fputs("source,record_id,entity_id\n", f);
    int rc = st_members_each(store->st, export_row, &x, err);
    if (fclose(f) != 0 && rc == DT_OK) rc = DT_EIO;
    if (rc == DT_EIO && err->code == DT_OK) dt_err_at(err, DT_EIO, tmp, 0, 0, "write failed");
    if (rc == DT_OK && rename(tmp, out_path) != 0)
        rc = dt_err_at(err, DT_EIO, out_path, 0, 0, "cannot rename into place");
    if (rc < 0) remove(tmp);
    util_buf_fini(&x.line);
    dt_free(tmp);
    if (n_rows) *n_rows = x.n;
    return dt_err_ensure(err, rc);
}

/* ---- resolve (a read) and entity ------------------------------------------ */

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
        return dt_err_set(err, DT_EINPUT, "the record has no field '%s' (the record id of "
                          "source '%s')", s->id_column, s->name);
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
            if (memchr(r->values[i], '\0', r->value_lens[i]))
                return dt_err_set(err, DT_EINPUT, "record field '%s' holds a NUL character", key);
            continue;
        }
        if (json_is_null(v)) r->owned[i] = dt_strdup("");
        else if (json_is_integer(v)) r->owned[i] = dt_asprintf("%lld", (long long)json_integer_value(v));
        else if (json_is_real(v)) r->owned[i] = dt_asprintf("%.17g", json_real_value(v));
        else
            return dt_err_set(err, DT_EINPUT, "record field '%s' must be a string, a number or "
                              "null", key);
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

static int fill_resolution(const dt_store *s, eng_candidate *cands, size_t n, dt_resolution *r)
{
    const dt_config *cfg = s->cfg;
    r->entity = dt_strdup("");
    r->n_comparisons = cfg->n_comparisons;
    r->comparisons = dt_calloc(cfg->n_comparisons ? cfg->n_comparisons : 1, sizeof *r->comparisons);
    r->candidates = dt_calloc(n ? n : 1, sizeof *r->candidates);
    if (!r->entity || !r->comparisons || !r->candidates) return DT_ENOMEM;
    for (size_t c = 0; c < cfg->n_comparisons; c++)
        if (!(r->comparisons[c] = dt_strdup(cfg->comparisons[c].name))) return DT_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        dt_candidate *d = &r->candidates[r->n_candidates++];
        d->source = dt_strdup(cfg->sources[cands[k].i_source].name);
        d->record_id = cands[k].record_id;
        d->entity = cands[k].entity;
        cands[k].record_id = cands[k].entity = NULL; /* moved */
        d->weight = cands[k].weight;
        d->probability = cands[k].p;
        d->levels = dt_calloc(cfg->n_comparisons ? cfg->n_comparisons : 1, sizeof *d->levels);
        if (!d->source || !d->levels) return DT_ENOMEM;
        for (size_t c = 0; c < cfg->n_comparisons; c++)
            if (!(d->levels[c] = level_label(cfg, c, cands[k].levels[c]))) return DT_ENOMEM;
    }
    if (n && cands[0].p >= cfg->link_threshold && r->candidates[0].entity[0]) {
        dt_free(r->entity);
        r->entity = dt_strdup(r->candidates[0].entity);
    }
    return r->entity ? DT_OK : DT_ENOMEM;
}

int dt_store_resolve(dt_store *store, const char *source, const char *record_json,
                     dt_resolution **out, dt_error *err)
{
    dt_error_clear(err);
    if (!store || !source || !record_json || !out)
        return dt_err_set(err, DT_EINVAL, "dt_store_resolve: NULL argument");
    *out = NULL;
    if (strlen(record_json) > DT_RECORD_JSON_MAX)
        return dt_err_set(err, DT_EINPUT, "the record is over %u bytes", DT_RECORD_JSON_MAX);
    if (!store->has_model)
        return dt_err_at(err, DT_EINVAL, st_path(store->st), 0, 0, "the store has no model: run "
                         "'dovetail train' first");
    size_t i_src;
    DT_TRY(source_index(store, source, &i_src, err));
    json_error_t jerr;
    json_t *o = json_loads(record_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) return dt_err_at(err, DT_EINPUT, "record", jerr.line, jerr.column, "%s", jerr.text);
    json_row jr;
    const cfg_source *s = &store->cfg->sources[i_src];
    int rc = json_is_object(o) ? json_row_make(o, s->n_maps + 1, &jr, err)
                               : (memset(&jr, 0, sizeof jr),
                                  dt_err_set(err, DT_EINPUT, "the record must be a JSON object"));
    if (rc == DT_OK) rc = json_row_complete(&jr, s, err);
    eng_candidate *cands = NULL;
    size_t n = 0;
    if (rc == DT_OK) {
        csv_row header = {.n_fields = jr.n, .fields = jr.names, .lens = jr.name_lens, .line = 1};
        csv_row row = {.n_fields = jr.n, .fields = jr.values, .lens = jr.value_lens, .line = 1};
        rc = eng_resolve_one(store->st, store->cfg, &store->model, i_src, &header, &row, &cands,
                             &n, err);
    }
    dt_resolution *r = rc == DT_OK ? dt_calloc(1, sizeof *r) : NULL;
    if (rc == DT_OK && (!r || fill_resolution(store, cands, n, r) < 0))
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    for (size_t k = 0; k < n; k++) {
        dt_free(cands[k].record_id);
        dt_free(cands[k].entity);
    }
    dt_free(cands);
    json_row_fini(&jr);
    json_decref(o);
    if (rc < 0) {
        dt_resolution_free(r);
        return dt_err_ensure(err, rc);
    }
    *out = r;
    return DT_OK;
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

typedef struct entity_walk {
    st_store *st;
    dt_entity_record *v;
    size_t n, cap;
    dt_error *err;
} entity_walk;

static int add_member(void *ctx, int64_t id)
{
    entity_walk *w = ctx;
    st_record r;
    DT_TRY(st_record_get(w->st, id, &r, NULL, w->err));
    int rc = r.is_withdrawn ? DT_OK : util_grow((void **)&w->v, &w->cap, w->n + 1, sizeof *w->v);
    if (rc == DT_OK && !r.is_withdrawn) {
        w->v[w->n++] = (dt_entity_record){(char *)r.source, (char *)r.record_id, (char *)r.raw};
        dt_free((char *)r.norm);
        dt_free((char *)r.entity);
        return DT_OK;
    }
    st_record_free(&r);
    return rc;
}

static int cmp_entity_record(const void *x, const void *y)
{
    const dt_entity_record *a = x, *b = y;
    int c = strcmp(a->source, b->source);
    return c ? c : strcmp(a->record_id, b->record_id);
}

int dt_store_entity(dt_store *store, const char *entity_id, dt_entity_record **out, size_t *n,
                    dt_error *err)
{
    dt_error_clear(err);
    if (!store || !entity_id || !out || !n) return dt_err_set(err, DT_EINVAL, "dt_store_entity: NULL argument");
    entity_walk w = {.st = store->st, .err = err};
    int rc = st_entity_members(store->st, entity_id, add_member, &w, err);
    if (rc == DT_OK && w.n == 0) rc = dt_err_set(err, DT_ENOTFOUND, "no entity '%s'", entity_id);
    if (rc < 0) {
        dt_entity_records_free(w.v, w.n);
        return dt_err_ensure(err, rc);
    }
    qsort(w.v, w.n, sizeof *w.v, cmp_entity_record);
    *out = w.v;
    *n = w.n;
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

static int load_store(eng_ctx *e, void *ctx)
{
    return eng_load_store(e, ctx);
}

int dt_store_train(dt_store *store, const dt_link_options *opts, int64_t *version, dt_error *err)
{
    dt_error_clear(err);
    if (!store || !version) return dt_err_set(err, DT_EINVAL, "dt_store_train: NULL argument");
    dt_link_options o = opts ? *opts : (dt_link_options){0};
    o.model_path = NULL;
    char *text = NULL;
    int rc = eng_train_from(store->cfg, &o, load_store, store->st, &text, err);
    if (rc == DT_OK) rc = adopt_model(store, text, version, err);
    dt_free(text);
    return dt_err_ensure(err, rc);
}
