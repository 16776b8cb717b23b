/*
 * service.h — what parts above the service (findings, and the benchmark
 * that prices enforcement) may use of it. The governed calls themselves
 * are public (include/dovetail.h) and listed in one table (calls.c); this
 * header adds nothing that skips that table's checks except the
 * benchmark's timing ways, which write nothing and show nothing the
 * caller did not send.
 */
#ifndef DT_SERVICE_H
#define DT_SERVICE_H

#include "dovetail.h"
#include "cluster/cluster.h"
#include "govern/govern.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

/* How much of the request path svc_bench_resolve runs:
 *   SVC_WAY_CORE      the resolution alone, under a view that allows every
 *                     source and link (no token, no entry);
 *   SVC_WAY_ENFORCED  plus authentication, the purpose's view and its
 *                     filtering, with the audit entry left out;
 *   SVC_WAY_GOVERNED  dt_store_resolve itself. */
typedef enum svc_way { SVC_WAY_CORE, SVC_WAY_ENFORCED, SVC_WAY_GOVERNED } svc_way;

/* Resolves record_json of `source` the given way (bench/resolve.c).
 * OUT: *out (dt_resolution_free). */
int svc_bench_resolve(dt_store *s, const dt_request *req, svc_way way, const char *source,
                      const char *record_json, dt_resolution **out, dt_error *err);

/* ---- governed calls made by the parts above (findings) ----------------------
 *
 * A part above the service makes its public calls through these, so they
 * take the same path as the service's own: svc_begin looks the call up in
 * the table of calls by its action and runs req_begin (token, purpose, role,
 * snapshot, view); svc_end appends the audit entry, naming what the call
 * noted with svc_subject and svc_field. */
typedef struct svc_request svc_request;

/* Starts the call whose row has this action ("finding.run"); object is
 * the source it names, or NULL. OUT: *q, until svc_end. */
int svc_begin(dt_store *s, const dt_request *r, const char *action, const char *object,
              svc_request **q, dt_error *err);
/* svc_begin, with a subject the entry names from the start (also: for a
 * call logged before its work). */
int svc_begin_also(dt_store *s, const dt_request *r, const char *action, const char *object,
                   const char *also, svc_request **q, dt_error *err);
/* Logs the entry ("failed" when rc < 0) and frees q; returns rc or the
 * log's error. */
int svc_end(svc_request *q, int rc, dt_error *err);
/* svc_end for a call whose reply is files written aside (util_out, not yet
 * committed): they are synced, the entry logged, and only then put in
 * place; a failure leaves none of them. */
int svc_end_placing(svc_request *q, int rc, util_out *const *outs, size_t n, dt_error *err);
/* Runs work in one transaction with the call's "allowed" entry. */
int svc_commit_with(svc_request *q, gv_work_fn work, void *ctx, dt_error *err);
st_store *svc_st(const svc_request *q);
const dt_config *svc_config(const svc_request *q);
const gv_view *svc_view(const svc_request *q);
const char *svc_who(const svc_request *q);
const char *svc_purpose(const svc_request *q);
/* The store's model, or DT_EINVAL saying to train one. */
int svc_model(const svc_request *q, const fs_model **m, int64_t *version, dt_error *err);
int svc_subject(svc_request *q, const char *source, const char *record_id);
int svc_subject_text(svc_request *q, const char *subject);
int svc_field(svc_request *q, const char *source, const char *column);

/* Every active record of the sources q's view allows, as a table, and
 * their entities under the view: the clusters of the stored links the view
 * lets join (as batch clusters them), with each entity's join tree. */
typedef struct svc_linked {
    pl_ctx *e;           /* table record i is store record sids[i] */
    const int64_t *sids;
    clu_result clu;
    void *own;
} svc_linked;
int svc_load_linked(svc_request *q, svc_linked *out, dt_error *err);
void svc_linked_fini(svc_linked *l);

/* A record by "source:record_id" as q's view shows it: its raw row with
 * only the columns shown, each noted for the entry with the record.
 * DT_ENOTFOUND, the same for absent and hidden. */
int svc_record_shown(svc_request *q, const char *key, char **raw, dt_error *err);
/* 1 when q's view shows source i_src and every column that feeds field
 * `field` of it. */
int svc_field_shown(const svc_request *q, size_t i_src, int field);
/* Why two records link, as dt_store_explain shows it under q's view. */
int svc_explain(svc_request *q, const char *key_a, const char *key_b, dt_explanation *ex,
                dt_error *err);

#endif
