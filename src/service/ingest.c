/*
 * ingest.c — the store's public side: init, open, ingest, withdraw.
 *
 * Ingest reads a source's CSV through the same reader and standardization
 * as batch link (pl_load_file), and keeps each accepted row twice: raw, as
 * a JSON object of the file's column names and values, and normalized, as
 * a JSON object of the config's field names and standardized values. A
 * raw value that is not valid UTF-8 (JSON text must be) is kept as
 * {"latin1": TEXT}: every byte one character, so the bytes come back
 * exactly. Rejected rows go to the rejects file as in link (read.c).
 *
 * Invariants:
 *   1. One transaction per batch of rows: a killed ingest keeps whole
 *      batches, and ingesting the same file again ends in the state an
 *      uninterrupted run would have left (rows already stored are n_same).
 *   2. Within one file a repeated record id keeps its first row, as in
 *      batch link; the later row is rejected and reported (read.c).
 *   3. A snapshot withdraws the source's stored records missing from the
 *      file only after the whole file is in, in a transaction of its own,
 *      and only when no row was rejected: a rejected row's record would
 *      look missing.
 *   4. Once the store has a model, each batch's new and changed records are
 *      resolved (resolve.c) in the batch's own transaction, so records,
 *      links and entities never disagree. Rows are stored PUT_BATCH at a
 *      time (st_records_put), always before the batch that holds them is
 *      resolved.
 *   5. A new model (train, import) and every record resolved with it commit
 *      in one transaction: until then the previous model's entities are
 *      served, whole, and a killed train leaves them so.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/service_int.h"

enum { DEFAULT_BATCH_ROWS = 10000 };

/* A model's term frequencies are people's values (surnames, cities), so
 * the store keeps models sealed under this label. */
#define MODEL_LABEL "model"

/* Loads the newest model the store holds, if any. */
static int load_model(dt_store *s, dt_error *err)
{
    fs_model_fini(&s->model);
    s->has_model = 0;
    char *sealed = NULL, *json = NULL;
    int64_t version;
    DT_TRY(st_model_latest(s->st, &sealed, &version, err));
    int has = sealed != NULL;
    int rc = has ? st_open_text(s->st, MODEL_LABEL, sealed, &json, err) : DT_OK;
    if (rc == DT_OK && has)
        rc = fs_model_from_text(&s->model, s->cfg, json, "the store's model", err);
    dt_free(sealed);
    dt_free(json);
    s->has_model = has && rc == DT_OK;
    if (rc == DT_OK) s->model_version = version; /* else the next request tries again */
    return rc;
}

int store_model_refresh(dt_store *s, dt_error *err)
{
    int64_t newest;
    DT_TRY(st_model_version(s->st, &newest, err));
    return newest == s->model_version ? DT_OK : load_model(s, err);
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

/* The audit log's public key (its signing key is derived from the key
 * file, never stored). */
static int keep_keys(st_store *st, dt_error *err)
{
    DT_TRY(st_begin(st, err));
    int rc = gv_audit_init_key(st, err);
    if (rc == DT_OK) return st_commit(st, err);
    st_rollback(st);
    return rc;
}

typedef struct first_admin {
    st_store *st;
    gv_audit *log;
    const char *name;
    char *token;
} first_admin;

/* The first admin and its entry (entry 1 of the log), which binds its row
 * as every later principal's entry does: a log wiped or cut below it
 * leaves the admin unaccounted for, and verify says so. */
static int add_first_admin(void *ctx, dt_error *err)
{
    first_admin *f = ctx;
    char *bind, *named = dt_asprintf("principal:%s", f->name);
    if (!named) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int rc = gv_principal_add(f->st, f->name, GV_ADMIN, NULL, f->token, &bind, err);
    const char *subjects[] = {named, bind};
    gv_entry e = {.principal = "dovetail:init", .purpose = "init", .action = "principal.add",
                  .outcome = "allowed", .subjects = subjects, .n_subjects = 2};
    if (rc == DT_OK) rc = gv_audit_add(f->log, &e, err);
    dt_free(bind);
    dt_free(named);
    return rc;
}

/* The keys, then the first admin with its audit entry. */
static int keep_governance(st_store *st, const char *admin_name, char token[DT_TOKEN_SIZE],
                           dt_error *err)
{
    DT_TRY(keep_keys(st, err));
    first_admin f = {.st = st, .name = admin_name, .token = token};
    DT_TRY(gv_audit_open(st, &f.log, err));
    int rc = gv_audit_commit_with(f.log, add_first_admin, &f, NULL, err);
    gv_audit_close(f.log);
    return rc;
}

/* The key file a caller gave, else DOVETAIL_KEY_FILE's (NULL when neither). */
static const char *key_file(const char *key_path)
{
    return key_path ? key_path : getenv("DOVETAIL_KEY_FILE");
}

int dt_store_init(const char *store_path, const char *config_path, const char *admin_name,
                  char admin_token[DT_TOKEN_SIZE], dt_error *err)
{
    return dt_store_init_keyed(store_path, config_path, NULL, admin_name, admin_token, err);
}

int dt_store_init_keyed(const char *store_path, const char *config_path, const char *key_path,
                        const char *admin_name, char admin_token[DT_TOKEN_SIZE], dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store_path || !config_path || !admin_name || !admin_token)
        return dt_err_set(err, DT_EINVAL, "dt_store_init: NULL argument");
    dt_config *cfg = NULL;
    DT_TRY(dt_config_load(config_path, &cfg, err));
    if (cfg->n_sources > GV_MAX_SOURCES) {
        dt_config_free(cfg);
        return dt_err_set(err, DT_ELIMIT, "a store holds up to %d sources", GV_MAX_SOURCES);
    }
    st_store *st = NULL;
    int rc = st_open(store_path, key_file(key_path), ST_CREATE, &st, err);
    if (rc == DT_OK) rc = keep_config(st, cfg, config_path, err);
    if (rc == DT_OK) rc = keep_governance(st, admin_name, admin_token, err);
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
    return dt_store_open_keyed(store_path, NULL, out, err);
}

int dt_store_open_keyed(const char *store_path, const char *key_path, dt_store **out,
                        dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store_path || !out) return dt_err_set(err, DT_EINVAL, "dt_store_open: NULL argument");
    *out = NULL;
    dt_store *s = dt_calloc(1, sizeof *s);
    if (!s) return dt_err_set(err, DT_ENOMEM, "out of memory");
    s->policies.stamp = -1;
    s->retention.checked = -1;
    pthread_mutex_init(&s->busy, NULL);
    int rc = st_open(store_path, key_file(key_path), ST_OPEN, &s->st, err);
    if (rc == DT_OK) st_check_commits(s->st);
    if (rc == DT_OK) rc = load_config(s->st, &s->cfg, err);
    if (rc == DT_OK) rc = load_model(s, err);
    if (rc == DT_OK) rc = svc_sources_load(s->st, s->cfg, &s->sources, err);
    if (rc == DT_OK) rc = gv_view_key_read(s->st, s->view_key, err);
    if (rc == DT_OK) { /* a store without its nickname file still serves the audit calls: */
        dt_error ignored; /* what needs the table loads it again, and says why it cannot */
        if (norm_nick_load(s->cfg->nicknames_path, &s->nicks, &ignored) < 0) s->nicks = NULL;
    }
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
    if (store->committer) svc_committer_leave(store->committer, store);
    st_probe_close(store->probe);
    pthread_mutex_destroy(&store->busy);
    fs_model_fini(&store->model);
    norm_nick_free(store->nicks);
    gv_audit_close(store->audit);
    gv_policies_fini(&store->policies);
    svc_sources_fini(&store->sources);
    st_close(store->st);
    dt_config_free(store->cfg);
    dt_free(store);
}

const dt_config *dt_store_config(const dt_store *store)
{
    return store ? store->cfg : NULL;
}

/* ---- ingest --------------------------------------------------------- */

typedef struct ingest_run {
    dt_store *store;
    pl_ctx e;
    const dt_ingest_options *opts;
    int64_t src_id;
    int64_t received;        /* unix seconds at the start: each row's arrival */
    const char *path;
    util_intern seen;        /* record ids of this file */
    size_t in_batch;
    int64_t *touched;        /* store ids of this batch's new and changed records */
    uint32_t *touched_row;   /* each one's row in e.table */
    uint8_t *touched_new;    /* 1 when it was stored for the first time */
    size_t n_touched, cap_touched, cap_row, cap_new;
    char *cause;             /* recorded with entity merges and splits */
    util_ids warned;         /* blocks over the cap said already */
    int is_bulk;             /* one transaction, resolved in bulk at the end */
    st_put_row *pend;        /* rows waiting to be stored, PUT_BATCH at a time */
    uint32_t *pend_rec;      /* each one's row in e.table */
    size_t n_pend;
    dt_ingest_summary sum;
} ingest_run;

/* s read as Latin-1, in UTF-8: each byte one code point, so encoding
 * the text as Latin-1 again gives s back. OUT: b (cleared first). */
static void latin1_to_utf8(util_buf *b, const char *s, size_t n)
{
    util_buf_clear(b);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            util_buf_putc(b, (char)c);
        } else {
            util_buf_putc(b, (char)(0xC0 | c >> 6));
            util_buf_putc(b, (char)(0x80 | (c & 0x3F)));
        }
    }
}

/* A raw value as JSON: a string when s is UTF-8 (jansson refuses
 * anything else), else {"latin1": s read as Latin-1}. NULL: no memory. */
static json_t *raw_value(util_buf *b, const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    if (v) return v;
    latin1_to_utf8(b, s, n);
    json_t *text = b->is_failed ? NULL : json_stringn(b->data ? b->data : "", b->len);
    return text ? json_pack("{s:o}", "latin1", text) : NULL;
}

/* A header name as a JSON key (keys must be UTF-8): read as Latin-1 when
 * it is not UTF-8. Header names are the file's, not a person's data. */
static const char *raw_key(util_buf *b, const char *name)
{
    json_t *v = json_string(name);
    json_decref(v);
    if (v) return name;
    latin1_to_utf8(b, name, strlen(name));
    return b->is_failed ? NULL : b->data;
}

/* The raw row as a JSON object keyed by the file's column names; a name
 * the header repeats gets "#2", "#3"... so no value is dropped. */
static char *raw_json(const char *const *header, const csv_row *row)
{
    json_t *o = json_object();
    util_buf b = {0};
    int ok = o != NULL;
    for (size_t i = 0; ok && i < row->n_fields; i++) {
        char key[300];
        const char *name = raw_key(&b, header[i]);
        if (!(ok = name != NULL)) break;
        snprintf(key, sizeof key, "%s", name);
        for (int k = 2; json_object_get(o, key); k++) snprintf(key, sizeof key, "%s#%d", name, k);
        ok = json_object_set_new(o, key, raw_value(&b, row->fields[i], row->lens[i])) == 0;
    }
    util_buf_fini(&b);
    char *text = ok ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

/* The record's standardized values as a JSON object of field names. */
static char *norm_json(const pl_ctx *e, size_t i_rec)
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

/* Resolves the whole file's new and changed records in bulk. */
static int resolve_bulk(ingest_run *run)
{
    dt_store *s = run->store;
    svc_batch b = {.recs = run->touched, .n = run->n_touched, .is_new = run->touched_new,
                  .cause = run->cause, .nicks = s->nicks, .on_log = run->e.on_log,
                  .on_progress = run->e.on_progress, .cb_ctx = run->e.cb_ctx};
    int rc = svc_resolve_bulk(s->st, s->cfg, &s->model, &b, run->e.err);
    run->n_touched = 0;
    return rc;
}

/* Resolves the batch's new and changed records, when there is a model. */
static int resolve_batch(ingest_run *run)
{
    dt_store *s = run->store;
    if (!s->has_model || !run->n_touched) return DT_OK;
    if (run->is_bulk) return resolve_bulk(run);
    svc_batch b = {.recs = run->touched, .n = run->n_touched, .is_new = run->touched_new,
                   .values = &run->e.table, .rows = run->touched_row, .cause = run->cause,
                   .nicks = s->nicks, .on_log = run->e.on_log, .cb_ctx = run->e.cb_ctx,
                   .warned = &run->warned};
    int rc = svc_resolve(s->st, s->cfg, &s->model, &b, run->e.err);
    run->n_touched = 0;
    return rc;
}

static int next_batch(ingest_run *run)
{
    st_store *st = run->store->st;
    DT_TRY(resolve_batch(run));
    DT_TRY(st_commit(st, run->e.err));
    run->in_batch = 0;
    pl_progress(&run->e, "ingest", run->sum.n_rows, 0, 0);
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

/* Rows are stored PUT_BATCH at a time (st_records_put), and always
 * before their batch is resolved: a backend with a round trip per
 * statement takes a few per batch, not three per row. */
enum { PUT_BATCH = 5000 };

static void pending_free(ingest_run *run)
{
    for (size_t i = 0; i < run->n_pend; i++) {
        free((char *)run->pend[i].raw); /* jansson's */
        free((char *)run->pend[i].norm);
    }
    run->n_pend = 0;
}

/* Stores the waiting rows and takes each one's result as on_row would. */
static int flush_pending(ingest_run *run)
{
    if (!run->n_pend) return DT_OK;
    int rc = st_records_put(run->store->st, run->src_id, run->pend, run->n_pend, run->received,
                            run->e.err);
    for (size_t i = 0; i < run->n_pend && rc == DT_OK; i++) {
        const st_put_row *r = &run->pend[i];
        tally(&run->sum, r->result);
        if (r->result != ST_PUT_SAME)
            rc = touch(run, r->id, run->pend_rec[i], r->result == ST_PUT_NEW);
    }
    pending_free(run);
    return rc;
}

/* Keeps a row (its JSON texts now the run's) for flush_pending. */
static int add_pending(ingest_run *run, const char *id, char *raw, char *norm, size_t i_rec)
{
    if (!run->pend && (!(run->pend = dt_malloc(PUT_BATCH * sizeof *run->pend)) ||
                       !(run->pend_rec = dt_malloc(PUT_BATCH * sizeof *run->pend_rec)))) {
        free(raw);
        free(norm);
        return dt_err_set(run->e.err, DT_ENOMEM, "out of memory");
    }
    run->pend[run->n_pend] = (st_put_row){.record_id = id, .raw = raw, .norm = norm};
    run->pend_rec[run->n_pend++] = (uint32_t)i_rec;
    run->sum.n_rows++;
    pl_progress(&run->e, "ingest", run->sum.n_rows, 0, 0);
    return run->n_pend == PUT_BATCH ? flush_pending(run) : DT_OK;
}

static int on_row(void *ctx, size_t i_rec, const char *const *header, const csv_row *row)
{
    ingest_run *run = ctx;
    const char *id = cmp_record_id(&run->e.table, (uint32_t)i_rec);
    uint32_t k; /* read.c rejected a repeated id: this one is new in the file */
    DT_TRY(util_intern_put(&run->seen, id, strlen(id), &k));
    char *raw = raw_json(header, row), *norm = raw ? norm_json(&run->e, i_rec) : NULL;
    if (!norm) {
        free(raw); /* jansson's */
        return dt_err_set(run->e.err, DT_ENOMEM, "out of memory");
    }
    DT_TRY(add_pending(run, id, raw, norm, i_rec));
    if (run->is_bulk) return DT_OK;
    size_t batch = run->opts->batch_rows ? run->opts->batch_rows : DEFAULT_BATCH_ROWS;
    if (++run->in_batch < batch) return DT_OK;
    DT_TRY(flush_pending(run));
    return next_batch(run);
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
    svc_batch b = {.gone = g->v, .n_gone = g->n, .cause = cause, .nicks = s->nicks};
    return svc_resolve(s->st, s->cfg, &s->model, &b, err);
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

/* The source's stored records that the snapshot leaves out. */
static int find_absent(ingest_run *run, absent_ids *a)
{
    int rc = st_records_each(run->store->st, run->opts->source, 0, collect_absent, a,
                             run->e.err);
    if (rc == DT_OK && a->ids.is_failed) rc = dt_err_set(run->e.err, DT_ENOMEM, "out of memory");
    return rc;
}

/* Withdraws the source's stored records that the snapshot left out. */
static int withdraw_absent(ingest_run *run)
{
    st_store *st = run->store->st;
    absent_ids a = {.seen = &run->seen};
    int rc = find_absent(run, &a);
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

/* A snapshot with rejected rows is not the source's full content: the
 * records of the rejected rows would look absent. So nothing is withdrawn. */
static int snapshot_refused(ingest_run *run)
{
    pl_ctx *e = &run->e;
    absent_ids a = {.seen = &run->seen};
    DT_TRY(find_absent(run, &a));
    util_buf_fini(&a.ids);
    const char *path = e->rejects_path;
    return dt_err_set(e->err, DT_EINPUT, "snapshot not applied: %llu rows of %s were rejected "
                      "(%s%s), so none of the %zu stored records of %s the file leaves out "
                      "was withdrawn; the %llu accepted rows are stored. Fix the rejected "
                      "rows and ingest the whole file again", (unsigned long long)e->n_rejected,
                      run->path, path ? "each is in " : "see the warnings", path ? path : "",
                      a.n, run->opts->source, (unsigned long long)run->sum.n_rows);
}

/* In bulk (dt_ingest_options.bulk) when the store resolves and the files
 * are large beside what it holds: resolving batch by batch costs about a
 * tenth of a millisecond a record at a million people, resolving in bulk
 * a few microseconds per record stored. The records stored are bounded
 * by the largest id, not counted: a count reads the whole record table
 * (half a second and 2.5 GB at a million people) for every daily delta. */
static int chooses_bulk(dt_store *store, const dt_ingest_options *opts, size_t n)
{
    if (!store->has_model || opts[0].bulk < 0) return 0;
    if (opts[0].bulk > 0) return 1;
    uint64_t lines = 0, stored = 0;
    dt_error ignored; /* a file that cannot be read fails its read, with the reason */
    for (size_t k = 0; k < n; k++) {
        uint64_t m = 0;
        if (util_count_lines(opts[k].path, UINT64_MAX, &m) < 0) return 0;
        lines += m ? m - 1 : 0;
    }
    if (lines < DT_BULK_MIN_ROWS || st_records_bound(store->st, &stored, &ignored) < 0)
        return 0;
    return lines * 8 >= stored;
}

/* Reads the run's file into the transaction open (rows stored). */
static int load(ingest_run *run, size_t i_src)
{
    int rc = pl_load_file(&run->e, i_src, run->path, on_row, run);
    return rc == DT_OK ? flush_pending(run) : rc;
}

/* After the run's rows are committed: its rejected rows, the snapshot's
 * withdrawals. */
static int finish(ingest_run *run)
{
    pl_progress(&run->e, "ingest", run->sum.n_rows, run->sum.n_rows, 1);
    DT_TRY(pl_rejects_close(&run->e));
    if (run->opts->is_snapshot && run->e.n_rejected) return snapshot_refused(run);
    char outcome[64];
    snprintf(outcome, sizeof outcome, "the %llu accepted rows are stored",
             (unsigned long long)run->sum.n_rows);
    DT_TRY(pl_rejects_check(&run->e, run->opts->max_rejected, outcome));
    return run->opts->is_snapshot ? withdraw_absent(run) : DT_OK;
}

static int ingest(ingest_run *run, size_t i_src)
{
    st_store *st = run->store->st;
    if ((run->is_bulk = chooses_bulk(run->store, run->opts, 1)))
        pl_log(&run->e, DT_LOG_INFO, "ingest: loading %s in bulk, in one transaction",
               run->path);
    DT_TRY(run->is_bulk ? st_begin_bulk(st, run->e.err) : st_begin(st, run->e.err));
    int rc = load(run, i_src);
    if (rc == DT_OK) rc = resolve_batch(run);
    if (rc == DT_OK) rc = st_commit(st, run->e.err);
    if (rc < 0) {
        st_rollback(st); /* the batches before this one stay: a rerun completes them */
        return rc;
    }
    return finish(run);
}

static void run_free(ingest_run *run)
{
    if (!run) return;
    pl_fini(&run->e);
    util_intern_fini(&run->seen);
    dt_free(run->touched);
    dt_free(run->touched_row);
    dt_free(run->touched_new);
    pending_free(run);
    dt_free(run->pend);
    dt_free(run->pend_rec);
    util_ids_fini(&run->warned);
    dt_free(run->cause);
    dt_free(run);
}

/* A run of opts's file, its source's store id looked up. */
static int run_new(dt_store *store, const dt_ingest_options *opts, ingest_run **out,
                   dt_error *err)
{
    ingest_run *run = *out = dt_calloc(1, sizeof *run);
    if (!run) return dt_err_set(err, DT_ENOMEM, "out of memory");
    run->store = store;
    run->opts = opts;
    run->path = opts->path;
    run->received = gv_now() / 1000000;
    run->cause = dt_asprintf("ingest of %s into %s", opts->path, opts->source);
    util_intern_init(&run->seen);
    int rc = run->cause ? pl_init(&run->e, store->cfg, err)
                        : dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc < 0) return rc;
    pl_borrow_nicknames(&run->e, store->nicks);
    run->e.on_log = opts->on_log;
    run->e.on_progress = opts->on_progress;
    run->e.cb_ctx = opts->cb_ctx;
    run->e.rejects_path = opts->rejects_path;
    return st_source_id(store->st, opts->source, &run->src_id, err);
}

/* The run's summary, once it ended with rc. */
static void run_summary(ingest_run *run, double t0, int rc, dt_ingest_summary *summary)
{
    run->sum.n_rejected = run->e.n_rejected;
    for (size_t f = 0; f < run->store->cfg->n_fields; f++)
        run->sum.n_null_values += run->e.null_per_field[f];
    run->sum.seconds = util_now() - t0;
    if (rc == DT_OK && summary) *summary = run->sum;
}

static int ingest_file(dt_store *store, size_t i_src, const dt_ingest_options *opts,
                       dt_ingest_summary *summary, dt_error *err)
{
    double t0 = util_now();
    ingest_run *run = NULL;
    int rc = run_new(store, opts, &run, err);
    if (rc == DT_OK) rc = ingest(run, i_src);
    if (run) run_summary(run, t0, rc, summary);
    run_free(run);
    return rc;
}

int dt_store_ingest(dt_store *store, const dt_request *req, const dt_ingest_options *opts,
                    dt_ingest_summary *summary, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !opts || !opts->source || !opts->path)
        return dt_err_set(err, DT_EINVAL, "dt_store_ingest: store, source and path are required");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_STORE_INGEST, opts->source, &q, err));
    int rc = ingest_file(store, q.i_src, opts, summary, err);
    return dt_err_ensure(err, req_end(&q, rc, err));
}

/* ---- several files, one load ---------------------------------------- */

/* Every run's new and changed records, resolved in bulk as one batch. */
static int resolve_together(ingest_run *const *runs, size_t n)
{
    ingest_run *first = runs[0];
    dt_store *s = first->store;
    size_t total = 0;
    for (size_t k = 0; k < n; k++) total += runs[k]->n_touched;
    if (!s->has_model || !total) return DT_OK;
    int64_t *recs = dt_malloc(total * sizeof *recs);
    uint8_t *is_new = dt_malloc(total);
    char *cause = dt_asprintf("ingest of %zu files", n);
    int rc = recs && is_new && cause ? DT_OK : dt_err_set(first->e.err, DT_ENOMEM, "out of memory");
    for (size_t k = 0, at = 0; k < n && rc == DT_OK; k++) {
        memcpy(recs + at, runs[k]->touched, runs[k]->n_touched * sizeof *recs);
        memcpy(is_new + at, runs[k]->touched_new, runs[k]->n_touched);
        at += runs[k]->n_touched;
        runs[k]->n_touched = 0;
    }
    svc_batch b = {.recs = recs, .n = total, .is_new = is_new, .cause = cause,
                   .nicks = s->nicks, .on_log = first->e.on_log,
                   .on_progress = first->e.on_progress, .cb_ctx = first->e.cb_ctx};
    if (rc == DT_OK) rc = svc_resolve_bulk(s->st, s->cfg, &s->model, &b, first->e.err);
    dt_free(recs);
    dt_free(is_new);
    dt_free(cause);
    return rc;
}

/* The runs' files in one transaction, resolved once: a first load of
 * several registries blocks, scores and clusters the store once, where
 * one file after another does it once per file over a growing store. */
static int load_together(ingest_run *const *runs, const size_t *i_src, size_t n)
{
    st_store *st = runs[0]->store->st;
    pl_log(&runs[0]->e, DT_LOG_INFO, "ingest: loading %zu files in bulk, in one transaction", n);
    DT_TRY(st_begin_bulk(st, runs[0]->e.err));
    int rc = DT_OK;
    for (size_t k = 0; k < n && rc == DT_OK; k++) {
        runs[k]->is_bulk = 1;
        rc = load(runs[k], i_src[k]);
    }
    if (rc == DT_OK) rc = resolve_together(runs, n);
    if (rc == DT_OK) rc = st_commit(st, runs[0]->e.err);
    if (rc < 0) {
        st_rollback(st); /* all or nothing, as one bulk file */
        return rc;
    }
    for (size_t k = 0; k < n; k++) { /* each file's rejects and snapshot, the first error kept */
        int frc = finish(runs[k]);
        if (rc == DT_OK) rc = frc;
    }
    return rc;
}

static int ingest_files(dt_store *store, const size_t *i_src, const dt_ingest_options *opts,
                        size_t n, dt_ingest_summary *summaries, dt_error *err)
{
    int rc = DT_OK;
    if (!chooses_bulk(store, opts, n)) { /* one after another, each choosing for itself */
        for (size_t k = 0; k < n && rc == DT_OK; k++)
            rc = ingest_file(store, i_src[k], &opts[k], &summaries[k], err);
        return rc;
    }
    double t0 = util_now();
    ingest_run **runs = dt_calloc(n, sizeof *runs);
    if (!runs) return dt_err_set(err, DT_ENOMEM, "out of memory");
    for (size_t k = 0; k < n && rc == DT_OK; k++) rc = run_new(store, &opts[k], &runs[k], err);
    if (rc == DT_OK) rc = load_together(runs, i_src, n);
    for (size_t k = 0; k < n; k++) {
        if (runs[k]) run_summary(runs[k], t0, rc, &summaries[k]);
        run_free(runs[k]);
    }
    dt_free(runs);
    return rc;
}

/* opts[k]'s source as a config index, refusing event sources (their own
 * call) and a source named twice. */
static int many_sources(const dt_store *store, const dt_ingest_options *opts, size_t n,
                        const char **names, size_t *i_src, dt_error *err)
{
    for (size_t k = 0; k < n; k++) {
        if (!opts[k].source || !opts[k].path)
            return dt_err_set(err, DT_EINVAL, "dt_store_ingest_many: file %zu has no source or "
                              "path", k + 1);
        if (dt_config_is_event_source(store->cfg, opts[k].source))
            return dt_err_set(err, DT_EINVAL, "'%s' is an event source: ingest it on its own",
                              opts[k].source);
        for (size_t j = 0; j < k; j++)
            if (strcmp(names[j], opts[k].source) == 0)
                return dt_err_set(err, DT_EINVAL, "source '%s' is named twice: one file a "
                                  "source", opts[k].source);
        names[k] = opts[k].source;
        DT_TRY(store_source_index(store, opts[k].source, &i_src[k], err));
    }
    return DT_OK;
}

int dt_store_ingest_many(dt_store *store, const dt_request *req, const dt_ingest_options *opts,
                         size_t n, dt_ingest_summary *summaries, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !opts || !summaries || !n)
        return dt_err_set(err, DT_EINVAL, "dt_store_ingest_many: store, files and summaries "
                          "are required");
    const char **names = dt_calloc(n, sizeof *names);
    size_t *i_src = dt_calloc(n, sizeof *i_src);
    int rc = names && i_src ? many_sources(store, opts, n, names, i_src, err)
                            : dt_err_set(err, DT_ENOMEM, "out of memory");
    svc_request q;
    if (rc == DT_OK) rc = req_begin_sources(store, req, SVC_STORE_INGEST, names, n, NULL, &q, err);
    if (rc == DT_OK)
        rc = dt_err_ensure(err, req_end(&q, ingest_files(store, i_src, opts, n, summaries, err),
                                        err));
    dt_free(names);
    dt_free(i_src);
    return rc;
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

int dt_store_withdraw(dt_store *store, const dt_request *req, const char *source,
                      const char *ids_path, uint64_t *n_withdrawn, uint64_t *n_unknown,
                      dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !source || !ids_path || !n_withdrawn || !n_unknown)
        return dt_err_set(err, DT_EINVAL, "dt_store_withdraw: NULL argument");
    *n_withdrawn = *n_unknown = 0;
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_STORE_WITHDRAW, source, &q, err));
    size_t i_src = q.i_src;
    int64_t src;
    int rc = st_source_id(store->st, source, &src, err);
    if (rc == DT_OK)
        rc = withdraw_rows(store, src, &store->cfg->sources[i_src], ids_path, n_withdrawn,
                           n_unknown, err);
    if (rc < 0) *n_withdrawn = *n_unknown = 0;
    return dt_err_ensure(err, req_end(&q, rc, err));
}

/* ---- model and export -------------------------------------------------
 *
 * A new model becomes the store's only when every record is resolved with
 * it: the model row, and every link and entity it changes, commit in one
 * transaction. Until then readers (other processes, WAL snapshots) see the
 * previous model and its entities, whole; a killed or failed train leaves
 * them so, and train run again starts over. The cost is the write lock for
 * the whole resolution (other writers wait, then fail "locked") and a WAL
 * as large as the pages it changes; bench/README.md has the figures. */

/* Resolves every active record again with the store's model, in bulk
 * (svc_resolve_bulk), inside the caller's transaction. */
int store_resolve_all(dt_store *s, const char *cause, const dt_link_options *o, dt_error *err)
{
    svc_batch b = {.cause = cause, .nicks = s->nicks, .on_log = o ? o->on_log : NULL,
                  .on_progress = o ? o->on_progress : NULL, .cb_ctx = o ? o->cb_ctx : NULL};
    return svc_resolve_bulk(s->st, s->cfg, &s->model, &b, err);
}

/* Says on the log (when there is one) that resolution starts. */
static void log_resolving(dt_store *store, const dt_link_options *o, int64_t version)
{
    uint64_t n = 0;
    dt_error ignored;
    if (!o || !o->on_log || st_record_count(store->st, NULL, &n, &ignored) < 0) return;
    char line[200];
    snprintf(line, sizeof line, "train: resolving %llu records with model version %lld; the "
             "previous entities are served until every one is done", (unsigned long long)n,
             (long long)version);
    o->on_log(o->cb_ctx, DT_LOG_INFO, line);
}

/* Keeps a model as the store's newest version and resolves every record
 * with it, in one transaction. o: for its log, or NULL. */
static int adopt_model(dt_store *store, const char *text, const dt_link_options *o,
                       int64_t *version, dt_error *err)
{
    char *sealed = NULL;
    DT_TRY(st_seal_text(store->st, MODEL_LABEL, text, &sealed, err));
    int rc = st_begin_bulk(store->st, err);
    if (rc < 0) {
        dt_free(sealed);
        return rc;
    }
    rc = st_model_put(store->st, sealed, version, err);
    dt_free(sealed);
    if (rc == DT_OK) rc = load_model(store, err);
    char *cause = rc == DT_OK ? dt_asprintf("model version %lld", (long long)*version) : NULL;
    if (rc == DT_OK && !cause) rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK) log_resolving(store, o, *version);
    if (rc == DT_OK) rc = store_resolve_all(store, cause, o, err);
    if (rc == DT_OK) rc = st_commit(store->st, err);
    dt_free(cause);
    if (rc == DT_OK) return DT_OK;
    st_rollback(store->st);
    /* The model in memory was never committed, and its version number will
     * be given again: go back to the committed one (failing that, the next
     * request loads it). */
    dt_error ignored;
    if (load_model(store, &ignored) < 0) store->model_version = -1;
    return rc;
}

static int import_model(dt_store *store, const char *model_path, const dt_link_options *o,
                        int64_t *version, dt_error *err);

/* o: callbacks for the log, or NULL. */
static int store_import(dt_store *store, const dt_request *req, const char *model_path,
                        const dt_link_options *o, int64_t *version, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !model_path || !version)
        return dt_err_set(err, DT_EINVAL, "dt_store_import_model: NULL argument");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_MODEL_IMPORT, NULL, &q, err));
    return dt_err_ensure(err, req_end(&q, import_model(store, model_path, o, version, err), err));
}

int dt_store_import_model(dt_store *store, const dt_request *req, const char *model_path,
                          int64_t *version, dt_error *err)
{
    return store_import(store, req, model_path, NULL, version, err);
}

static int import_model(dt_store *store, const char *model_path, const dt_link_options *o,
                        int64_t *version, dt_error *err)
{
    fs_model m;
    memset(&m, 0, sizeof m);
    int rc = fs_model_load(&m, store->cfg, model_path, err);
    char *text = rc == DT_OK ? fs_model_to_text(&m, store->cfg) : NULL;
    if (rc == DT_OK && !text) rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    fs_model_fini(&m);
    if (rc == DT_OK) rc = adopt_model(store, text, o, version, err);
    dt_free(text);
    return rc;
}

/* Training under a purpose reads only the records of the sources its view
 * allows, and compares only pairs of sources its view lets link. */
typedef struct train_load {
    st_store *st;
    const gv_view *view;
    pl_ctx *e;
} train_load;

static int add_visible(void *ctx, const st_record *r)
{
    train_load *t = ctx;
    int i = cfg_source_index(t->e->cfg, r->source);
    return i >= 0 && gv_view_has(t->view, (size_t)i) ? svc_add_stored(t->e, r) : DT_OK;
}

static int load_store(pl_ctx *e, void *ctx)
{
    train_load *t = ctx;
    t->e = e;
    e->hides_values = 1; /* train is an admin's, who reads no record */
    if (!t->view->is_full) e->linkable = t->view->linkable;
    DT_TRY(st_records_each(t->st, NULL, 0, add_visible, t, e->err));
    return pl_finish_load(e);
}

/* The store's review decisions as labels (dt_link_options.use_decisions). */
typedef struct label_list {
    dt_label *v;
    size_t n, cap;
} label_list;

static int add_label(void *ctx, const char *a, const char *b, int same)
{
    label_list *l = ctx;
    DT_TRY(util_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v));
    dt_label *x = &l->v[l->n];
    x->a = dt_strdup(a);
    x->b = dt_strdup(b);
    x->same = same;
    l->n++;
    return x->a && x->b ? DT_OK : DT_ENOMEM;
}

static void labels_free(label_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        dt_free((char *)l->v[i].a);
        dt_free((char *)l->v[i].b);
    }
    dt_free(l->v);
}

int dt_store_train(dt_store *store, const dt_request *req, const dt_link_options *opts,
                   int64_t *version, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !version) return dt_err_set(err, DT_EINVAL, "dt_store_train: NULL argument");
    if (opts && opts->model_path) return store_import(store, req, opts->model_path, opts, version, err);
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_MODEL_TRAIN, NULL, &q, err));
    int rc = DT_OK;
    dt_link_options o = opts ? *opts : (dt_link_options){0};
    o.model_path = NULL;
    char *text = NULL;
    train_load t = {.st = store->st, .view = &q.view};
    if (rc == DT_OK && q.view.sources == 0)
        rc = dt_err_set(err, DT_EDENIED, "no source's policy allows purpose '%s' now, so there "
                        "is nothing to train on%s%s", q.purpose, store->notice[0] ? ": " : "",
                        store->notice);
    label_list labels = {0};
    if (rc == DT_OK && o.use_decisions) {
        rc = st_decision_keys_each(store->st, add_label, &labels, err);
        o.labels = labels.v;
        o.n_labels = labels.n;
    }
    if (rc == DT_OK) rc = pl_train_from(store->cfg, &o, load_store, &t, &text, err);
    if (rc == DT_OK) rc = adopt_model(store, text, &o, version, err);
    dt_free(text);
    labels_free(&labels);
    return dt_err_ensure(err, req_end(&q, rc, err));
}
