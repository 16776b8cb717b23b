/*
 * store_events.c — dt_store_ingest_events: an event source's rows (a
 * payment, a filing) into the store, sealed, for `findings run`.
 *
 * Invariants:
 *   1. No row is dropped unsaid: each is stored (new, unchanged, changed)
 *      or rejected and counted, the first few named by file and line.
 *   2. A row is stored as JSON {"key", "date", "lo", "hi", "cents"}: the
 *      key and date as sent, the days the date may be and the amount in
 *      cents as the rules read them, so a run parses nothing again.
 *   3. The ingest is one governed call (event.ingest), logged before the
 *      first batch; each batch is its own transaction, so a killed ingest
 *      keeps whole batches and running it again finishes the job.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "findings/findings.h"
#include "io/csv.h"
#include "service/service.h"

enum { LOG_MAX = 5, DEFAULT_BATCH = 10000 };

int dt_config_is_event_source(const dt_config *cfg, const char *name)
{
    for (size_t k = 0; cfg && name && k < cfg->findings.n_events; k++)
        if (strcmp(cfg->findings.events[k].name, name) == 0) return 1;
    return 0;
}

typedef struct ingest {
    svc_request *q;
    const cfg_event *ev;
    const dt_ingest_options *o;
    dt_ingest_summary *sum;
    dt_error *err;
    fnd_cols c;
    uint64_t n_logged, n_read;
    fnd_events seen;            /* its id set only: a repeated id in the file is rejected */
    int64_t source;
    int64_t received;          /* unix seconds at the start: each row's arrival */
    size_t in_batch;
} ingest;

static void say(const ingest *g, dt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(const ingest *g, dt_log_level level, const char *fmt, ...)
{
    if (!g->o->on_log) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    g->o->on_log(g->o->cb_ctx, level, line);
}

static void reject(ingest *g, long line, const char *why)
{
    g->sum->n_rejected++;
    if (g->n_logged++ < LOG_MAX)
        say(g, DT_LOG_WARN, "%s:%ld: row rejected: %s", g->o->path, line, why);
}

/* The row as stored (invariant 2), or NULL and *why. */
static char *row_json(ingest *g, const csv_row *row, const char **why)
{
    int64_t cents = 0;
    if (g->c.amount >= 0 &&
        fnd_parse_cents(row->fields[g->c.amount], row->lens[g->c.amount], &cents) < 0)
        return *why = "the amount is not a number", NULL;
    int32_t lo, hi;
    if (fnd_event_days(g->ev, row->fields[g->c.date], row->lens[g->c.date], &lo, &hi) < 0)
        return *why = "no date the format reads", NULL;
    if (row->lens[g->c.key] == 0) return *why = "no key (the record it belongs to)", NULL;
    json_t *o = json_pack("{s:s%, s:s%, s:i, s:i, s:I}", "key", row->fields[g->c.key],
                          row->lens[g->c.key], "date", row->fields[g->c.date], row->lens[g->c.date],
                          "lo", (int)lo, "hi", (int)hi, "cents", (json_int_t)cents);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (!text) *why = "its key or date is not valid UTF-8";
    return text;
}

static int commit_batch(ingest *g)
{
    if (!g->in_batch) return DT_OK;
    g->in_batch = 0;
    return st_commit(svc_st(g->q), g->err);
}

static int take(ingest *g, const csv_row *row)
{
    if (row->n_fields != g->c.n_fields) return reject(g, row->line, "wrong number of fields"), DT_OK;
    if (row->lens[g->c.id] == 0) return reject(g, row->line, "empty id"), DT_OK;
    int seen;
    DT_TRY(fnd_idset_seen(&g->seen, util_hash64(row->fields[g->c.id], row->lens[g->c.id], 0x65766964),
                          &seen));
    if (seen) return reject(g, row->line, "repeats an earlier row's id"), DT_OK;
    const char *why = NULL;
    char *json = row_json(g, row, &why);
    if (!json) return reject(g, row->line, why), DT_OK;
    char *id = dt_strndup(row->fields[g->c.id], row->lens[g->c.id]);
    int rc = id ? DT_OK : DT_ENOMEM;
    if (rc == DT_OK && g->in_batch == 0) rc = st_begin(svc_st(g->q), g->err);
    st_put_result res = ST_PUT_SAME;
    if (rc == DT_OK) {
        g->in_batch++;
        rc = st_event_put(svc_st(g->q), g->source, id, json, g->received, &res, g->err);
    }
    free(json); /* jansson's */
    dt_free(id);
    DT_TRY(rc);
    g->sum->n_rows++;
    if (res == ST_PUT_NEW) g->sum->n_new++;
    else if (res == ST_PUT_SAME) g->sum->n_same++;
    else g->sum->n_changed++;
    size_t batch = g->o->batch_rows ? g->o->batch_rows : DEFAULT_BATCH;
    return g->in_batch >= batch ? commit_batch(g) : DT_OK;
}

static int read_rows(ingest *g)
{
    csv_options opt = {.delimiter = g->ev->delimiter};
    csv_reader *r = NULL;
    int rc = csv_open(g->o->path, &opt, &r, g->err);
    if (rc == DT_OK) rc = fnd_event_columns(g->ev, g->o->path, r, &g->c, g->err);
    if (rc == DT_OK) rc = st_source_id(svc_st(g->q), g->ev->name, &g->source, g->err);
    while (rc == DT_OK) {
        csv_row row;
        int got = csv_next(r, &row, g->err);
        if (got == 0) break;
        g->n_read++;
        if (got == DT_EINPUT) { /* a broken row: the reader goes on at the next line */
            reject(g, g->err->line, g->err->msg);
            dt_error_clear(g->err);
            continue;
        }
        rc = got < 0 ? got : take(g, &row);
        if (rc == DT_OK && g->o->on_progress && g->n_read % 65536 == 0)
            g->o->on_progress(g->o->cb_ctx, "rows", g->n_read, 0);
    }
    if (rc == DT_OK) rc = commit_batch(g);
    else if (g->in_batch) st_rollback(svc_st(g->q));
    csv_close(r);
    if (rc == DT_ENOMEM && g->err->code == DT_OK) dt_err_set(g->err, rc, "out of memory");
    return rc;
}

static int event_source(const dt_config *cfg, const char *name, const cfg_event **out,
                        dt_error *err)
{
    for (size_t k = 0; name && k < cfg->findings.n_events; k++)
        if (strcmp(cfg->findings.events[k].name, name) == 0) return *out = &cfg->findings.events[k], DT_OK;
    return dt_err_set(err, DT_EINVAL, "'%s' is not an event source of the config (findings: "
                      "events:)", name ? name : "");
}

int dt_store_ingest_events(dt_store *store, const dt_request *req, const dt_ingest_options *opts,
                           dt_ingest_summary *summary, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !opts || !opts->path || !summary)
        return dt_err_set(err, DT_EINVAL, "dt_store_ingest_events: NULL argument");
    memset(summary, 0, sizeof *summary);
    const dt_config *cfg = dt_store_config(store);
    ingest g = {.o = opts, .sum = summary, .err = err, .received = gv_now() / 1000000};
    DT_TRY(event_source(cfg, opts->source, &g.ev, err));
    double t0 = util_now();
    char subject[160];
    snprintf(subject, sizeof subject, "events:%s", g.ev->name);
    DT_TRY(svc_begin_also(store, req, "event.ingest", cfg->sources[g.ev->of].name, subject, &g.q,
                          err));
    int rc = read_rows(&g);
    fnd_events_fini(&g.seen);
    if (rc == DT_OK && summary->n_rejected &&
        (opts->max_rejected >= 0 && summary->n_rejected > (uint64_t)opts->max_rejected))
        rc = dt_err_at(err, DT_EINPUT, opts->path, 0, 0, "%llu rows rejected (--max-rejected "
                       "%lld); the %llu others are stored", (unsigned long long)summary->n_rejected,
                       (long long)opts->max_rejected, (unsigned long long)summary->n_rows);
    summary->seconds = util_now() - t0;
    return svc_end(g.q, rc, err);
}
