/*
 * review.c — a reviewer's decision on two stored records: the same person
 * or not. The decision is kept (store: decision), and the entities of
 * both records are clustered again, honouring every decision on their
 * records from then on (resolve.c: "same" joins first and overrides a
 * rule's conflict; "not the same" never shares an entity), in batch's
 * order, so ingest and train after it honour it too.
 *
 * Invariants:
 *   1. The decision, the entities it changes and the call's audit entry,
 *      which names both records, commit together or not at all
 *      (req_commit_with).
 *   2. Both records are visible under the purpose and their sources may
 *      be linked there: a reviewer cannot join what the purpose may not
 *      link, nor learn more of a record than its view shows (the reply is
 *      the two entity ids).
 *   3. The note is sealed under the store's key, bound to its pair.
 */
#include <stdio.h>
#include <string.h>

#include "service/service_int.h"

typedef struct decide_work {
    dt_store *s;
    int64_t a, b;
    int same;
    const char *by, *note;
    dt_decision_result *out;
} decide_work;

static int entity_into(st_store *st, int64_t rec, char *out, size_t cap, dt_error *err)
{
    char *entity = NULL;
    DT_TRY(st_entity_of(st, rec, &entity, err));
    snprintf(out, cap, "%s", entity);
    dt_free(entity);
    return DT_OK;
}

/* Invariant 1: inside the request's transaction. */
static int decide(void *ctx, dt_error *err)
{
    decide_work *w = ctx;
    st_store *st = w->s->st;
    char label[64], *sealed = NULL;
    snprintf(label, sizeof label, "decision:%lld:%lld", (long long)(w->a < w->b ? w->a : w->b),
             (long long)(w->a < w->b ? w->b : w->a));
    DT_TRY(st_seal_text(st, label, w->note, &sealed, err));
    int rc = st_decision_put(st, w->a, w->b, w->same, w->by, gv_now(), sealed, err);
    dt_free(sealed);
    int64_t both[2] = {w->a, w->b};
    svc_batch bt = {.also = both, .n_also = 2, .cause = w->same ? "review: same person"
                                                                 : "review: not the same person",
                    .nicks = w->s->nicks};
    if (rc == DT_OK) rc = svc_resolve(st, w->s->cfg, &w->s->model, &bt, err);
    if (rc == DT_OK) rc = entity_into(st, w->a, w->out->entity_a, sizeof w->out->entity_a, err);
    if (rc == DT_OK) rc = entity_into(st, w->b, w->out->entity_b, sizeof w->out->entity_b, err);
    return rc;
}

/* Invariant 2. */
static int decidable(svc_request *q, const char *key_a, const char *key_b, int64_t *a,
                     int64_t *b, dt_error *err)
{
    size_t src_a, src_b;
    DT_TRY(svc_visible_record(q, key_a, &src_a, a, err));
    DT_TRY(svc_visible_record(q, key_b, &src_b, b, err));
    if (*a == *b)
        return dt_err_set(err, DT_EINPUT, "a decision is on two records: %s was given twice",
                          key_a);
    if (!gv_view_links(&q->view, src_a, src_b))
        return dt_err_set(err, DT_EDENIED, "sources '%s' and '%s' may not be linked for "
                          "purpose '%s'", q->s->cfg->sources[src_a].name,
                          q->s->cfg->sources[src_b].name, q->purpose);
    if (req_subject_text(q, key_a) < 0 || req_subject_text(q, key_b) < 0)
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    return DT_OK;
}

int dt_review_decide(dt_store *store, const dt_request *req, const char *key_a,
                     const char *key_b, int same, const char *note, dt_decision_result *out,
                     dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !key_a || !key_b || !out)
        return dt_err_set(err, DT_EINVAL, "dt_review_decide: NULL argument");
    memset(out, 0, sizeof *out);
    if (note && strlen(note) > DT_NOTE_MAX)
        return dt_err_set(err, DT_EINPUT, "the note is over %d bytes", DT_NOTE_MAX);
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_REVIEW_DECIDE, NULL, &q, err));
    decide_work w = {store, 0, 0, same != 0, q.who.name ? q.who.name : "", note ? note : "", out};
    int rc = svc_need_model(store, err);
    if (rc == DT_OK) rc = decidable(&q, key_a, key_b, &w.a, &w.b, err);
    if (rc == DT_OK) rc = req_commit_with(&q, decide, &w, err);
    /* a store entity id under a narrower view would tell what a hidden record
     * joined (store_read.c): the reply names none there */
    if (rc < 0 || !q.view.is_full) memset(out, 0, sizeof *out);
    return dt_err_ensure(err, req_end(&q, rc, err));
}
