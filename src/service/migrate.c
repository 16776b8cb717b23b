/*
 * migrate.c — dt_store_migrate: the store copied whole into a new one,
 * row for row (st_copy, src/store/copy.c), as a governed call
 * (store.migrate, calls.c): an admin's, since the copy reads every row,
 * though it opens none.
 *
 * The call's entry is committed on the source, and a head signed over the
 * log, before the copy reads its snapshot (SVC_LOG_FIRST, SVC_SIGNS): so
 * the copy's log is the source's up to and with that entry, and its newest
 * head the source's too. A copy that fails leaves no store (copy.c,
 * invariant 3), and a second entry on the source says it failed, as
 * req_end_placing does for a file not put in place.
 */
#include <stdio.h>
#include <string.h>

#include "service/service_int.h"

typedef struct migrate_ctx {
    const dt_migrate_options *o;
    double table_start; /* util_now when the table being copied began */
} migrate_ctx;

static void on_step(void *ctx, const st_copy_step *step)
{
    migrate_ctx *m = ctx;
    const dt_migrate_options *o = m->o;
    if (!step->is_done && step->done == 0) m->table_start = util_now();
    if (o->on_progress) o->on_progress(o->cb_ctx, step->table, step->done, step->total);
    if (!step->is_done || !o->on_log) return;
    char line[160];
    snprintf(line, sizeof line, "%-15s %12llu %-5s %8.2f s", step->table,
             (unsigned long long)step->done, step->is_table ? "rows" : "made",
             util_now() - m->table_start);
    o->on_log(o->cb_ctx, DT_LOG_INFO, line);
}

int dt_store_migrate(dt_store *store, const dt_request *req, const char *to,
                     const dt_migrate_options *opts, dt_migrate_summary *out, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !to || !out) return dt_err_set(err, DT_EINVAL, "dt_store_migrate: NULL argument");
    dt_migrate_summary sum = {0};
    char *shown = st_path_shown(to);
    char *subject = shown ? dt_asprintf("store:%s", shown) : NULL;
    if (shown) snprintf(sum.to, sizeof sum.to, "%s", shown);
    snprintf(sum.from, sizeof sum.from, "%s", st_path(store->st));
    dt_free(shown);
    if (!subject) return dt_err_set(err, DT_ENOMEM, "out of memory");
    svc_request q;
    int rc = req_begin_also(store, req, SVC_STORE_MIGRATE, NULL, subject, &q, err);
    dt_free(subject);
    if (rc < 0) return rc;
    static const dt_migrate_options NONE = {0};
    migrate_ctx m = {opts ? opts : &NONE, util_now()};
    double started = util_now();
    st_copy_result copied;
    rc = st_copy(store->st, to, on_step, &m, &copied, err);
    if (rc < 0) q.is_logged = 1; /* "allowed" went first: a second entry says it failed */
    rc = req_end(&q, rc, err);
    if (rc < 0) return rc;
    sum.n_tables = copied.n_tables;
    sum.n_rows = copied.n_rows;
    sum.n_entries = copied.n_entries;
    sum.n_heads = copied.n_heads;
    sum.seconds = util_now() - started;
    *out = sum;
    return DT_OK;
}
