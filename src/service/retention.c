/*
 * retention.c — erasing record versions once their source's retention
 * period (its policy's retention_days) has passed, counted from when each
 * version arrived (a row sent again unchanged renews it; see st_record_put).
 *
 * Invariants:
 *   1. No read shows a version past retention: every request first erases
 *      what is due (req_begin), and fails if it cannot.
 *   2. An erasure is one transaction with its audit entry: what is due is
 *      listed under the write lock (so a record another process renewed
 *      meanwhile stays), erased, and named in the entry, or none of it
 *      happens. The audit log itself is never erased: 5 U.S.C. 552a(c)(2)
 *      keeps the accounting of disclosures for the life of the record or
 *      five years, whichever is longer.
 *   3. A record erased whole leaves as a withdrawn one does (links, keys,
 *      entity; its entity's other records are clustered again), then every
 *      row of it goes.
 *   4. An event source's rows (findings: events:) are governed by the
 *      policy of the source they belong to: they are erased once that
 *      source's retention period has passed since each arrived.
 */
#include <stdio.h>
#include <string.h>

#include "service/service_int.h"

enum {
    DAY_S = 86400,
    RECHECK_S = 3600, /* under a day: what others ingest is never due before the recheck */
    PAGE = 10000,     /* records read per query */
    BATCH = 1000,     /* records reclustered per svc_resolve call */
};

/* The principal retention's own entries name: no principal can hold it
 * (a ':' is not allowed in principal names). */
static const char RETENTION_PRINCIPAL[] = "dovetail:retention";

typedef struct due_list {
    int64_t *ids;
    char **rids;
    size_t n, cap, cap_rids;
} due_list;

/* What one source has due at a cutoff. */
typedef struct source_due {
    int64_t src_id, cutoff;
    due_list whole;     /* records whose current version is due: erased whole */
    due_list versions;  /* records kept, with earlier versions due */
} source_due;

static void due_fini(due_list *d)
{
    for (size_t i = 0; i < d->n; i++) dt_free(d->rids[i]);
    dt_free(d->rids);
    dt_free(d->ids);
    memset(d, 0, sizeof *d);
}

static int due_add(void *ctx, int64_t id, const char *record_id)
{
    due_list *d = ctx;
    DT_TRY(util_grow((void **)&d->ids, &d->cap, d->n + 1, sizeof *d->ids));
    DT_TRY(util_grow((void **)&d->rids, &d->cap_rids, d->n + 1, sizeof *d->rids));
    if (!(d->rids[d->n] = dt_strdup(record_id ? record_id : ""))) return DT_ENOMEM;
    d->ids[d->n++] = id;
    return DT_OK;
}

/* The store id of config source i (every config source has one from init). */
static int64_t store_source_id(const dt_store *s, size_t i)
{
    for (size_t k = 0; k < s->sources.n; k++)
        if (s->sources.index[k] == (int)i) return (int64_t)k;
    return -1;
}

static long retention_days(const dt_store *s, size_t i)
{
    return i < s->policies.n ? s->policies.p[i].retention_days : 0;
}

/* ---- when is something due ------------------------------------------------ */

/* The earliest instant (unix seconds) a version falls due; INT64_MAX when
 * none can. */
static int next_due(dt_store *s, int64_t *next, dt_error *err)
{
    *next = INT64_MAX;
    for (size_t i = 0; i < s->cfg->n_sources; i++) {
        long days = retention_days(s, i);
        int64_t src = store_source_id(s, i), oldest;
        int any;
        if (days <= 0 || src < 0) continue;
        DT_TRY(st_retention_oldest(s->st, src, &oldest, &any, err));
        if (any && oldest + (int64_t)days * DAY_S < *next) *next = oldest + (int64_t)days * DAY_S;
    }
    for (size_t k = 0; k < s->cfg->findings.n_events; k++) { /* invariant 4 */
        const cfg_event *ev = &s->cfg->findings.events[k];
        long days = retention_days(s, (size_t)ev->of);
        int64_t oldest;
        int any;
        if (days <= 0) continue;
        DT_TRY(st_events_oldest(s->st, ev->name, &oldest, &any, err));
        if (any && oldest + (int64_t)days * DAY_S < *next) *next = oldest + (int64_t)days * DAY_S;
    }
    return DT_OK;
}

int store_retention_due(dt_store *s, int *due, dt_error *err)
{
    DT_TRY(gv_policies_refresh(s->st, s->cfg, &s->policies, err));
    int64_t now = gv_now() / 1000000;
    store_retention *r = &s->retention;
    if (r->stamp != s->policies.stamp || r->checked < 0 || now >= r->checked + RECHECK_S) {
        DT_TRY(next_due(s, &r->next, err));
        r->stamp = s->policies.stamp;
        r->checked = now;
    }
    *due = now > r->next;
    return DT_OK;
}

/* ---- what is due ---------------------------------------------------------- */

static int collect(dt_store *s, source_due *d, dt_error *err)
{
    for (int64_t after = 0;;) {
        size_t before = d->whole.n;
        DT_TRY(st_retention_due(s->st, d->src_id, d->cutoff, after, PAGE, due_add, &d->whole, err));
        if (d->whole.n - before < PAGE) break;
        after = d->whole.ids[d->whole.n - 1];
    }
    return st_retention_old_versions(s->st, d->src_id, d->cutoff, due_add, &d->versions, err);
}

static void plan_fini(source_due *plan, size_t n)
{
    for (size_t i = 0; plan && i < n; i++) {
        due_fini(&plan[i].whole);
        due_fini(&plan[i].versions);
    }
    dt_free(plan);
}

/* Per config source, what is due now (cutoff 0: the source keeps all). */
static int plan_make(dt_store *s, source_due **out, dt_error *err)
{
    int64_t now = gv_now() / 1000000;
    source_due *plan = dt_calloc(s->cfg->n_sources ? s->cfg->n_sources : 1, sizeof *plan);
    if (!plan) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int rc = DT_OK;
    for (size_t i = 0; i < s->cfg->n_sources && rc == DT_OK; i++) {
        long days = retention_days(s, i);
        plan[i].src_id = store_source_id(s, i);
        if (days <= 0 || plan[i].src_id < 0) continue;
        plan[i].cutoff = now - (int64_t)days * DAY_S;
        rc = collect(s, &plan[i], err);
    }
    if (rc == DT_ENOMEM) dt_err_set(err, rc, "out of memory listing records due");
    if (rc < 0) {
        plan_fini(plan, s->cfg->n_sources);
        return rc;
    }
    *out = plan;
    return DT_OK;
}

static int plan_subjects(svc_request *q, const source_due *plan)
{
    const dt_config *cfg = q->s->cfg;
    for (size_t i = 0; i < cfg->n_sources; i++) {
        for (size_t k = 0; k < plan[i].whole.n; k++)
            DT_TRY(req_subject(q, cfg->sources[i].name, plan[i].whole.rids[k]));
        for (size_t k = 0; k < plan[i].versions.n; k++)
            DT_TRY(req_subject(q, cfg->sources[i].name, plan[i].versions.rids[k]));
    }
    return DT_OK;
}

/* ---- erasing ---------------------------------------------------------------- */

/* Erases records whole, in the caller's transaction: as withdrawn first
 * (their entities' other records clustered again), then every row. */
static int erase_batch(dt_store *s, const int64_t *ids, size_t n, const char *cause,
                       dt_error *err)
{
    if (s->has_model) {
        svc_batch b = {.gone = ids, .n_gone = n, .cause = cause, .nicks = s->nicks};
        DT_TRY(svc_resolve(s->st, s->cfg, &s->model, &b, err));
    }
    for (size_t k = 0; k < n; k++) DT_TRY(st_record_erase(s->st, ids[k], err));
    return DT_OK;
}

static int erase_source(dt_store *s, size_t i, const source_due *d, dt_purge_count *count,
                        dt_error *err)
{
    char cause[160];
    snprintf(cause, sizeof cause, "retention of source %s (%ld days)", s->cfg->sources[i].name,
             retention_days(s, i));
    for (size_t at = 0; at < d->whole.n; at += BATCH) {
        size_t n = d->whole.n - at < BATCH ? d->whole.n - at : BATCH;
        DT_TRY(erase_batch(s, d->whole.ids + at, n, cause, err));
        count->records += n;
    }
    return st_retention_erase_versions(s->st, d->src_id, d->cutoff, &count->versions, err);
}

static int report_init(const dt_store *s, dt_purge_report *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->sources = dt_calloc(s->cfg->n_sources ? s->cfg->n_sources : 1, sizeof *rep->sources);
    if (!rep->sources) return DT_ENOMEM;
    rep->n_sources = s->cfg->n_sources;
    for (size_t i = 0; i < s->cfg->n_sources; i++) {
        rep->sources[i].retention_days = retention_days(s, i);
        if (!(rep->sources[i].source = dt_strdup(s->cfg->sources[i].name))) return DT_ENOMEM;
    }
    return DT_OK;
}

void dt_purge_report_free(dt_purge_report *r)
{
    for (size_t i = 0; r && r->sources && i < r->n_sources; i++) dt_free(r->sources[i].source);
    if (r) dt_free(r->sources);
    if (r) memset(r, 0, sizeof *r);
}

/* Invariant 4: the event source's rows past its parent's cutoff; the
 * entry names the event source when any went. */
static int erase_events(svc_request *q, size_t k, const source_due *parent, dt_purge_report *rep,
                        dt_error *err)
{
    const cfg_event *ev = &q->s->cfg->findings.events[k];
    uint64_t n = 0;
    if (!parent->cutoff) return DT_OK;
    DT_TRY(st_events_erase(q->s->st, ev->name, parent->cutoff, &n, err));
    rep->sources[ev->of].events += n;
    if (n && req_subject_text(q, ev->name) < 0) return dt_err_set(err, DT_ENOMEM, "out of memory");
    return DT_OK;
}

typedef struct purge_run {
    svc_request *q;
    dt_purge_report *rep;
} purge_run;

/* Under the write lock, in the entry's transaction: lists, erases, names. */
static int purge_work(void *ctx, dt_error *err)
{
    purge_run *p = ctx;
    dt_store *s = p->q->s;
    source_due *plan = NULL;
    DT_TRY(gv_policies_refresh(s->st, s->cfg, &s->policies, err));
    DT_TRY(plan_make(s, &plan, err));
    int rc = plan_subjects(p->q, plan) < 0 ? dt_err_set(err, DT_ENOMEM, "out of memory") : DT_OK;
    for (size_t i = 0; rc == DT_OK && i < s->cfg->n_sources; i++)
        if (plan[i].cutoff) rc = erase_source(s, i, &plan[i], &p->rep->sources[i], err);
    for (size_t k = 0; rc == DT_OK && k < s->cfg->findings.n_events; k++)
        rc = erase_events(p->q, k, &plan[s->cfg->findings.events[k].of], p->rep, err);
    plan_fini(plan, s->cfg->n_sources);
    return rc;
}

/* Erases what is due under q's entry; ends q. */
static int purge(svc_request *q, dt_purge_report *rep, dt_error *err)
{
    purge_run p = {q, rep};
    int rc = req_commit_with(q, purge_work, &p, err);
    for (size_t i = 0; rc < 0 && i < rep->n_sources; i++) /* rolled back: none of it happened */
        rep->sources[i].records = rep->sources[i].versions = rep->sources[i].events = 0;
    q->s->retention.checked = -1; /* what falls due next changed */
    return req_end(q, rc, err);
}

int store_retention_run(dt_store *s, dt_error *err)
{
    svc_request q;
    req_init(&q, s, svc_call_get(SVC_STORE_PURGE)->action, "retention");
    q.is_logged = 1;
    dt_purge_report rep;
    int rc = report_init(s, &rep) < 0 ? dt_err_set(err, DT_ENOMEM, "out of memory") : DT_OK;
    if (rc == DT_OK && !(q.who.name = dt_strdup(RETENTION_PRINCIPAL)))
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    rc = rc == DT_OK ? purge(&q, &rep, err) : req_end(&q, rc, err);
    dt_purge_report_free(&rep);
    if (rc >= 0) return DT_OK;
    char why[sizeof err->msg];
    snprintf(why, sizeof why, "%s", err->msg);
    return dt_err_set(err, rc, "records past their retention period could not be erased, so "
                      "nothing is read until they are: %s", why);
}

/* The sources whose counts q's principal may see, as bits of config
 * indexes: an admin's, every one; a steward's, those it stewards. */
static uint64_t report_shown(const svc_request *q)
{
    const dt_config *cfg = q->s->cfg;
    uint64_t shown = 0;
    for (size_t i = 0; i < cfg->n_sources && i < 64; i++)
        if (q->who.role == GV_ADMIN || gv_stewards(&q->who, cfg->sources[i].name))
            shown |= UINT64_C(1) << i;
    return shown;
}

/* Keeps the report's rows of the sources in shown, in order. The erasure
 * itself is store-wide (every request does it), but a steward of one
 * source learns nothing of another's from it. */
static void report_keep(dt_purge_report *rep, uint64_t shown)
{
    size_t kept = 0;
    for (size_t i = 0; i < rep->n_sources; i++) {
        if (i < 64 && (shown >> i & 1)) {
            rep->sources[kept++] = rep->sources[i];
            continue;
        }
        dt_free(rep->sources[i].source);
    }
    rep->n_sources = kept;
}

int dt_store_purge(dt_store *store, const dt_request *req, dt_purge_report *out, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !out) return dt_err_set(err, DT_EINVAL, "dt_store_purge: NULL argument");
    memset(out, 0, sizeof *out);
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_STORE_PURGE, NULL, &q, err));
    uint64_t shown = report_shown(&q);
    int rc = gv_policies_refresh(store->st, store->cfg, &store->policies, err);
    if (rc == DT_OK && report_init(store, out) < 0) rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    rc = rc == DT_OK ? purge(&q, out, err) : req_end(&q, rc, err);
    if (rc < 0) dt_purge_report_free(out);
    else report_keep(out, shown);
    return dt_err_ensure(err, rc);
}
