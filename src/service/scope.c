/*
 * scope.c — the governed-call path for the parts above the service
 * (service.h): a findings call is a row of the table of calls like any
 * other, and goes through req_begin and req_end.
 *
 * Invariant: svc_begin hands out a request only when req_begin admitted
 * it; every one handed out is ended by svc_end, which logs its entry.
 */
#include <string.h>

#include "service/service_int.h"

int svc_begin(dt_store *s, const dt_request *r, const char *action, const char *object,
              svc_request **q, dt_error *err)
{
    return svc_begin_also(s, r, action, object, NULL, q, err);
}

int svc_begin_also(dt_store *s, const dt_request *r, const char *action, const char *object,
                   const char *also, svc_request **q, dt_error *err)
{
    *q = NULL;
    const svc_call *c = NULL;
    for (size_t i = 0; i < SVC_N_CALLS && !c; i++)
        if (strcmp(svc_calls[i].action, action) == 0) c = &svc_calls[i];
    if (!c) return dt_err_set(err, DT_EINTERNAL, "no governed call '%s'", action);
    svc_request *req = dt_calloc(1, sizeof *req);
    if (!req) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int rc = req_begin_also(s, r, c->id, object, also, req, err);
    if (rc < 0) {
        dt_free(req);
        return rc;
    }
    *q = req;
    return DT_OK;
}

int svc_end(svc_request *q, int rc, dt_error *err)
{
    rc = req_end(q, rc, err);
    dt_free(q);
    return rc;
}

int svc_end_placing(svc_request *q, int rc, util_out *const *outs, size_t n, dt_error *err)
{
    rc = req_end_placing_n(q, rc, outs, n, err);
    dt_free(q);
    return rc;
}

int svc_commit_with(svc_request *q, gv_work_fn work, void *ctx, dt_error *err)
{
    return req_commit_with(q, work, ctx, err);
}

st_store *svc_st(const svc_request *q)
{
    return q->s->st;
}

const dt_config *svc_config(const svc_request *q)
{
    return q->s->cfg;
}

const gv_view *svc_view(const svc_request *q)
{
    return &q->view;
}

const char *svc_who(const svc_request *q)
{
    return q->who.name ? q->who.name : "";
}

const char *svc_purpose(const svc_request *q)
{
    return q->purpose;
}

int svc_model(const svc_request *q, const fs_model **m, int64_t *version, dt_error *err)
{
    if (!q->s->has_model)
        return dt_err_at(err, DT_EINVAL, st_path(q->s->st), 0, 0, "the store has no model, so "
                         "no entities yet: run 'dovetail train' first");
    *m = &q->s->model;
    *version = q->s->model_version;
    return DT_OK;
}

int svc_subject(svc_request *q, const char *source, const char *record_id)
{
    return req_subject(q, source, record_id);
}

int svc_subject_text(svc_request *q, const char *subject)
{
    return req_subject_text(q, subject);
}

int svc_field(svc_request *q, const char *source, const char *column)
{
    return req_field(q, source, column);
}
