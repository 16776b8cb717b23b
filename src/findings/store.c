/*
 * store.c — findings in a store: run the rules over the purpose's view of
 * the store and keep what they find, list and show findings, move them
 * through the due-process states (state.c), export them. Each public call
 * is one governed call (service.h: a row of the table of calls, one audit
 * entry).
 *
 * Invariants:
 *   1. A finding belongs to the purpose whose run made it: it is listed,
 *      shown, moved on and re-evaluated under that purpose only, and only
 *      while the purpose's view still has every source it rests on.
 *   2. A run keeps a finding's id, state and history when it finds it
 *      again (the id is a hash of rule and records), brings its evidence
 *      up to date, and supersedes, with the reason, one it no longer finds;
 *      it deletes nothing. A run never re-evaluates a finding of a rule
 *      that did not run.
 *   3. A rule that needs a source or a column the purpose's view withholds
 *      does not run, and the run says which rule and why: its findings
 *      would depend on what the view withholds.
 *   4. verify and dismiss need an earlier finding.show of the finding by the
 *      same principal, after its evidence last changed: the audit log is
 *      the proof. verify and notify are refused while a record its evidence
 *      names has been withdrawn since the run (the next run supersedes it). "final" is read, not stored: a notified finding is final
 *      once its contest window has passed.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "findings/findings.h"
#include "io/csv.h"
#include "service/service.h"

static int64_t now_s(void)
{
    return gv_now() / 1000000;
}

static int oom(dt_error *err)
{
    return err->code ? err->code : dt_err_set(err, DT_ENOMEM, "out of memory");
}

static fnd_state state_of_name(const char *name)
{
    for (int k = 0; k < FND_N_STATES; k++)
        if (strcmp(fnd_state_names[k], name) == 0) return (fnd_state)k;
    return FND_N_STATES;
}

/* The finding's status now: a notified one whose window has passed is
 * final (invariant 4). */
static fnd_status status_of(const st_finding *f, int64_t now)
{
    fnd_status s = {.state = state_of_name(f->state), .notified_at = f->notified_at,
                    .contest_days = f->contest_days};
    if (s.state == FND_S_NOTIFIED && now >= fnd_final_from(&s)) s.state = FND_S_FINAL;
    return s;
}

/* The config index of the source a JSON record reference names, or -1. */
static int ref_source(const svc_request *q, json_t *ref)
{
    const char *name = json_string_value(json_object_get(ref, "source"));
    return name ? cfg_source_index(svc_config(q), name) : -1;
}

/* Invariant 1: the purpose's, every source it rests on in the view, and
 * every link it shows one the view lets join. */
static int links_allowed(const svc_request *q, json_t *ev)
{
    const gv_view *v = svc_view(q);
    json_t *lk;
    size_t i;
    json_array_foreach(json_object_get(ev, "links"), i, lk) {
        int a = ref_source(q, json_object_get(lk, "a")), b = ref_source(q, json_object_get(lk, "b"));
        if (a < 0 || b < 0 || !gv_view_links(v, (size_t)a, (size_t)b)) return 0;
    }
    return 1;
}

/* ev: the finding's evidence parsed, or NULL to parse it here. */
static int is_ours_parsed(const svc_request *q, const st_finding *f, json_t *ev)
{
    const gv_view *v = svc_view(q);
    if (strcmp(f->purpose, svc_purpose(q)) != 0 || (f->sources & ~v->sources) != 0) return 0;
    if (v->is_full) return 1;
    json_t *own = ev ? NULL : json_loads(f->evidence, 0, NULL);
    int ok = (ev || own) && links_allowed(q, ev ? ev : own);
    json_decref(own);
    return ok;
}

static int is_ours(const svc_request *q, const st_finding *f)
{
    return is_ours_parsed(q, f, NULL);
}

/* ---- which rules the view lets run (invariant 3) ---------------------------- */

static int field_ok(const svc_request *q, int src, int field, const char *what, char *why,
                    size_t cap)
{
    const dt_config *cfg = svc_config(q);
    if (src < 0) return 1; /* the config decides (fnd_run_rules says why) */
    if (!gv_view_has(svc_view(q), (size_t)src)) {
        snprintf(why, cap, "purpose '%s' may not use source '%s' (%s)", svc_purpose(q),
                 cfg->sources[src].name, what);
        return 0;
    }
    if (field >= 0 && !svc_field_shown(q, (size_t)src, field)) {
        snprintf(why, cap, "purpose '%s' may not see field '%s' of source '%s' (%s)",
                 svc_purpose(q), cfg->fields[field].name, cfg->sources[src].name, what);
        return 0;
    }
    return 1;
}

static void rules_allowed(const svc_request *q, int ok[FND_N_RULES], char why[][160])
{
    const cfg_findings *fc = &svc_config(q)->findings;
    for (int k = 0; k < FND_N_RULES; k++) ok[k] = 1, why[k][0] = '\0';
    if (!field_ok(q, fc->death_source, fc->death_field, "the deaths", why[0], 160)) {
        ok[FND_PAYMENT_AFTER_DEATH] = ok[FND_DEATH_CONTRADICTED] = 0;
        snprintf(why[1], 160, "%s", why[0]);
    }
    for (size_t k = 0; k < fc->n_events && ok[FND_PAYMENT_AFTER_DEATH]; k++)
        if (fc->events[k].is_payment &&
            !field_ok(q, fc->events[k].of, -1, "whose events are the payments", why[0], 160))
            ok[FND_PAYMENT_AFTER_DEATH] = 0;
    for (size_t k = 0; k < fc->n_activity && ok[FND_DEATH_CONTRADICTED]; k++)
        if (!field_ok(q, fc->activity_source[k], fc->activity_field[k], "activity", why[1], 160))
            ok[FND_DEATH_CONTRADICTED] = 0;
    for (size_t k = 0; k < fc->n_events && ok[FND_DEATH_CONTRADICTED]; k++)
        if (!fc->events[k].is_payment &&
            !field_ok(q, fc->events[k].of, -1, "whose events are activity", why[1], 160))
            ok[FND_DEATH_CONTRADICTED] = 0;
    /* a payment after a death that later activity contradicts is not
     * improper (findings.h, invariant 3): unchecked, none may be raised */
    if (ok[FND_PAYMENT_AFTER_DEATH] && !ok[FND_DEATH_CONTRADICTED])
        snprintf(why[0], 160, "death_contradicted cannot run, which must clear each death "
                 "first: %.80s", why[1]), ok[FND_PAYMENT_AFTER_DEATH] = 0;
    if (!field_ok(q, fc->enroll_source, fc->enroll_start, "the enrollments", why[2], 160) ||
        !field_ok(q, fc->enroll_source, fc->enroll_program, "the enrollments", why[2], 160))
        ok[FND_DUPLICATE_ENROLLMENT] = 0;
    for (size_t s = 0; s < svc_config(q)->n_sources && ok[FND_SHARED_IDENTIFIER]; s++)
        if (fc->identifier_field >= 0 && gv_view_has(svc_view(q), s) &&
            !field_ok(q, (int)s, fc->identifier_field, "the identifier", why[3], 160))
            ok[FND_SHARED_IDENTIFIER] = 0;
}

/* ---- events from the store ------------------------------------------------------ */

typedef struct ev_load {
    pl_ctx *e;
    fnd_events *ev;
    const uint8_t *keep;
    size_t k;
    uint32_t *by_id;
    util_buf key;
} ev_load;

static int take_stored(void *ctx, const char *event_id, const char *row)
{
    ev_load *x = ctx;
    x->ev->n_read++;
    json_t *o = json_loads(row, 0, NULL);
    const char *key = json_string_value(json_object_get(o, "key"));
    json_t *lo = json_object_get(o, "lo"), *hi = json_object_get(o, "hi");
    if (!key || !json_is_integer(lo) || !json_is_integer(hi)) {
        json_decref(o);
        x->ev->n_rejected++;
        return DT_OK;
    }
    uint32_t id = util_intern_find(&x->e->table.ids, key, strlen(key));
    uint32_t rec = id == UINT32_MAX ? UINT32_MAX : x->by_id[id];
    fnd_event ve = {.k = x->k, .rec = rec, .lo = (int32_t)json_integer_value(lo),
                    .hi = (int32_t)json_integer_value(hi),
                    .cents = json_integer_value(json_object_get(o, "cents"))};
    json_decref(o);
    if (rec == UINT32_MAX) return x->ev->n_orphans++, DT_OK; /* its record is not (yet) here */
    util_buf_clear(&x->key);
    DT_TRY(util_buf_printf(&x->key, "%s\x1f%s", x->e->cfg->findings.events[x->k].name, event_id));
    return fnd_event_put(x->e, x->ev, x->keep, &ve, x->key.data, x->key.len);
}

/* The events of the sources the view has (an event source is governed by
 * the policy of the source it belongs to). */
static int load_events(svc_request *q, pl_ctx *e, const uint8_t *keep, fnd_events *ev,
                       dt_error *err)
{
    int rc = fnd_events_begin(e, ev);
    ev_load x = {.e = e, .ev = ev, .keep = keep};
    const cfg_findings *fc = &e->cfg->findings;
    for (size_t k = 0; k < fc->n_events && rc == DT_OK; k++) {
        if (!gv_view_has(svc_view(q), (size_t)fc->events[k].of)) continue;
        x.k = k;
        x.by_id = fnd_records_by_id(e, fc->events[k].of);
        rc = x.by_id ? st_events_each(svc_st(q), fc->events[k].name, take_stored, &x, err)
                     : DT_ENOMEM;
        dt_free(x.by_id);
    }
    util_buf_fini(&x.key);
    return fnd_events_end(e, ev, rc);
}

/* ---- run ---------------------------------------------------------------------------- */

/* A finding to write, and the step that records why. */
typedef struct pending {
    st_finding f;
    const char *action;      /* "run", "supersede", or NULL: no step */
    char reason[256];
    int has_base, bump;      /* a stored row it replaces; its evidence changed */
    int owns;                /* f.id and f.evidence are its own (else the stored row's) */
    const char *base_state;
    int64_t base_notified;
} pending;

typedef struct run {
    svc_request *q;
    dt_error *err;
    svc_linked L;
    pl_linked pl;
    fnd_events ev;
    fnd_result r;
    int ok[FND_N_RULES];
    char why[FND_N_RULES][160];
    int64_t now, model_version;
    st_finding *old;         /* the purpose's stored findings */
    size_t n_old, cap_old;
    util_intern old_ids;     /* their ids: id k is old[k] */
    util_intern found;       /* ids this run found */
    pending *w;
    size_t n_w, cap_w;
    dt_findings_run_summary *sum;
} run;

static int keep_old(void *ctx, const st_finding *f)
{
    run *x = ctx;
    uint32_t k;
    DT_TRY(util_intern_put(&x->old_ids, f->id, strlen(f->id), &k)); /* ids are unique: k == n_old */
    DT_TRY(util_grow((void **)&x->old, &x->cap_old, x->n_old + 1, sizeof *x->old));
    st_finding *c = &x->old[x->n_old];
    *c = *f;
    c->id = dt_strdup(f->id);
    c->rule = dt_strdup(f->rule);
    c->state = dt_strdup(f->state);
    c->purpose = dt_strdup(f->purpose);
    c->evidence = dt_strdup(f->evidence);
    x->n_old++;
    return c->id && c->rule && c->state && c->purpose && c->evidence ? DT_OK : DT_ENOMEM;
}

static const st_finding *old_of(const run *x, const char *id)
{
    uint32_t k = util_intern_find(&x->old_ids, id, strlen(id));
    return k == UINT32_MAX ? NULL : &x->old[k];
}

static pending *add_pending(run *x)
{
    if (util_grow((void **)&x->w, &x->cap_w, x->n_w + 1, sizeof *x->w) < 0) return NULL;
    pending *p = &x->w[x->n_w++];
    memset(p, 0, sizeof *p);
    return p;
}

static uint64_t sources_of(const pl_ctx *e, const fnd_finding *f)
{
    uint64_t bits = 0;
    for (size_t i = 0; i < f->n_recs; i++) bits |= 1ull << e->table.src[f->recs[i]];
    return bits;
}

static char *evidence_text(run *x, const fnd_finding *f)
{
    json_t *o = fnd_finding_json(x->L.e, &x->ev, f);
    json_object_del(o, "entity_id"); /* batch's ids: the store names entities its own way */
    json_object_del(o, "finding_id"); /* the row has them, and the state moves on */
    json_object_del(o, "state");
    json_object_del(o, "other_entity_id");
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    char *copy = text ? dt_strdup(text) : NULL;
    free(text);
    return copy;
}

/* A finding this run made: new, found again, or back after a supersede. */
static int take_found(run *x, const fnd_finding *f)
{
    char id[18];
    fnd_finding_id(x->L.e, f, id);
    uint32_t k;
    DT_TRY(util_intern_put(&x->found, id, strlen(id), &k));
    const st_finding *old = old_of(x, id);
    pending *p = add_pending(x);
    if (!p) return DT_ENOMEM;
    const char *fresh = f->needs_review ? "needs-review" : "open";
    p->action = "run";
    p->f = (st_finding){.rule = (char *)fnd_rule_names[f->rule],
                        .rule_version = fnd_rule_versions[f->rule],
                        .model_version = x->model_version, .confidence = f->confidence,
                        .sources = sources_of(x->L.e, f), .purpose = (char *)svc_purpose(x->q),
                        .created = x->now,
                        .contest_days = x->L.e->cfg->findings.contest_days};
    p->owns = 1;
    if (!(p->f.id = dt_strdup(id)) || !(p->f.evidence = evidence_text(x, f))) return DT_ENOMEM;
    p->bump = 1;
    if (old) {
        p->has_base = 1;
        p->base_state = old->state;
        p->base_notified = old->notified_at;
    }
    if (!old || strcmp(old->state, "superseded") == 0) {
        p->f.state = (char *)fresh;
        snprintf(p->reason, sizeof p->reason, "%s", old ? "found again after it was superseded"
                                                        : "found by a run");
        x->sum->n_new += !old;
        if (old) p->f.created = old->created;
        return DT_OK;
    }
    /* found again: state and history kept, evidence brought up to date */
    x->sum->n_kept++;
    p->f.created = old->created;
    p->f.notified_at = old->notified_at;
    p->f.contest_days = old->contest_days;
    p->f.state = old->state;
    p->action = NULL; /* no step unless the state changes */
    if (strcmp(old->state, "open") == 0 && f->needs_review) {
        p->f.state = "needs-review";
        p->action = "run";
        snprintf(p->reason, sizeof p->reason, "a run found it resting on weaker links "
                 "(confidence %.3f): it needs review", f->confidence);
    }
    if (strcmp(old->evidence, p->f.evidence) == 0 && !p->action) {
        p->f.updated = old->updated;
        p->bump = 0;
    }
    return DT_OK;
}

/* Why a stored finding no longer holds: a record gone, a split, or the rule. */
static void gone_reason(run *x, const st_finding *f, int rule, char *out, size_t cap)
{
    json_t *o = json_loads(f->evidence, 0, NULL), *recs = json_object_get(o, "records"), *r;
    size_t i;
    uint32_t entity = UINT32_MAX;
    int split = 0;
    json_array_foreach(recs, i, r) {
        const char *s = json_string_value(json_object_get(r, "source"));
        const char *id = json_string_value(json_object_get(r, "record_id"));
        char key[600];
        snprintf(key, sizeof key, "%s:%s", s ? s : "", id ? id : "");
        long rec = pl_find_record(x->L.e, key);
        if (rec < 0) {
            snprintf(out, cap, "record %.200s is withdrawn or no longer held", key);
            json_decref(o);
            return;
        }
        uint32_t ent = x->L.clu.entity[rec];
        if (f->rule && strcmp(f->rule, "shared_identifier") != 0 && entity != UINT32_MAX &&
            ent != entity)
            split = 1;
        entity = ent;
    }
    json_decref(o);
    if (split) snprintf(out, cap, "its records are no longer one entity (a split)");
    else snprintf(out, cap, "the rule (version %d) no longer finds it with model version %lld",
                  fnd_rule_versions[rule], (long long)x->model_version);
}

static int rule_index(const char *name)
{
    for (int k = 0; k < FND_N_RULES; k++)
        if (strcmp(fnd_rule_names[k], name) == 0) return k;
    return -1;
}

/* Stored findings this run did not find (invariant 2). */
static int supersede_lost(run *x)
{
    for (size_t i = 0; i < x->n_old; i++) {
        st_finding *f = &x->old[i];
        int k = rule_index(f->rule);
        fnd_status s = status_of(f, x->now);
        if (k < 0 || !x->r.ran[k] || !x->ok[k] || !is_ours(x->q, f) ||
            !fnd_allows(s.state, FND_A_SUPERSEDE) ||
            util_intern_find(&x->found, f->id, strlen(f->id)) != UINT32_MAX)
            continue;
        pending *p = add_pending(x);
        if (!p) return DT_ENOMEM;
        gone_reason(x, f, k, p->reason, sizeof p->reason);
        p->f = *f;
        p->f.state = (char *)fnd_state_names[FND_S_SUPERSEDED];
        p->action = "supersede";
        p->has_base = p->bump = 1;
        p->base_state = f->state;
        p->base_notified = f->notified_at;
        x->sum->n_superseded++;
    }
    return DT_OK;
}

/* Under the write lock: a person's step taken on the finding while the
 * run read (its state or notice changed) stands; the run brings the
 * evidence up to date around it, and supersedes it only if that state
 * allows. 0: write p; 1: leave the row as it is. */
static int settle_base(run *x, pending *p, int *skip, dt_error *err)
{
    *skip = 0;
    if (!p->has_base) return DT_OK;
    st_finding cur;
    DT_TRY(st_finding_get(svc_st(x->q), p->f.purpose, p->f.id, &cur, err));
    fnd_state now_state = status_of(&cur, x->now).state;
    int moved = strcmp(cur.state, p->base_state) != 0 || cur.notified_at != p->base_notified;
    if (moved && p->action && !strcmp(p->action, "supersede"))
        *skip = !fnd_allows(now_state, FND_A_SUPERSEDE);
    else if (moved) {
        p->f.state = (char *)fnd_state_names[state_of_name(cur.state) < FND_N_STATES
                                                  ? state_of_name(cur.state) : FND_S_NEEDS_REVIEW];
        p->f.notified_at = cur.notified_at;
        p->action = NULL;
    }
    st_finding_free(&cur);
    return DT_OK;
}

static int write_pending(void *ctx, dt_error *err)
{
    run *x = ctx;
    int64_t stamp = gv_now(); /* the evidence's version: a show before this showed older */
    for (size_t i = 0; i < x->n_w; i++) {
        pending *p = &x->w[i];
        int skip;
        DT_TRY(settle_base(x, p, &skip, err));
        if (skip) continue;
        if (p->bump) p->f.updated = stamp;
        DT_TRY(st_finding_put(svc_st(x->q), &p->f, err));
        if (p->action) {
            st_finding_step step = {.at = x->now, .action = p->action, .state = p->f.state,
                                    .by = svc_who(x->q), .reason = p->reason};
            DT_TRY(st_finding_step_add(svc_st(x->q), p->f.purpose, p->f.id, &step, err));
        }
        char subject[40];
        snprintf(subject, sizeof subject, "finding:%s", p->f.id);
        if (p->action && svc_subject_text(x->q, subject) < 0) return oom(err);
    }
    return DT_OK;
}

static void summarize(run *x)
{
    dt_findings_summary *s = &x->sum->found;
    for (int k = 0; k < FND_N_RULES; k++) {
        s->ran[k] = x->r.ran[k] && x->ok[k];
        snprintf(x->sum->why_not[k], sizeof x->sum->why_not[k], "%s",
                 !x->ok[k] ? x->why[k] : x->r.ran[k] ? "" : x->r.why_not[k]);
    }
    s->n_event_rows = x->ev.n_read;
    s->n_events = x->ev.n_used;
    s->n_rejected_events = x->ev.n_rejected;
    s->n_orphan_events = x->ev.n_orphans;
    s->n_withheld = x->r.n_withheld;
    s->n_identifier_typos = x->r.n_typos;
}

static int run_rules(run *x)
{
    const fs_model *m;
    DT_TRY(svc_model(x->q, &m, &x->model_version, x->err));
    rules_allowed(x->q, x->ok, x->why);
    DT_TRY(svc_load_linked(x->q, &x->L, x->err));
    x->pl = (pl_linked){.e = x->L.e, .clu = &x->L.clu};
    uint8_t *keep = NULL;
    int rc = fnd_keep_records(&x->pl, &keep) < 0 ? oom(x->err) : DT_OK;
    if (rc == DT_OK) rc = load_events(x->q, x->L.e, keep, &x->ev, x->err);
    dt_free(keep);
    if (rc == DT_OK) rc = fnd_run_rules(&x->pl, &x->ev, &x->r);
    if (rc == DT_OK) rc = st_findings_each(svc_st(x->q), svc_purpose(x->q), keep_old, x, x->err);
    for (size_t i = 0; rc == DT_OK && i < x->r.n; i++) {
        const fnd_finding *f = &x->r.items[i];
        if (!x->ok[f->rule]) continue; /* invariant 3 */
        x->sum->found.n_findings++;
        x->sum->found.per_rule[f->rule]++;
        x->sum->found.n_needs_review += f->needs_review != 0;
        rc = take_found(x, f);
    }
    if (rc == DT_OK) rc = supersede_lost(x);
    if (rc == DT_ENOMEM) rc = oom(x->err);
    if (rc == DT_OK) summarize(x);
    return rc;
}

static void run_fini(run *x)
{
    for (size_t i = 0; i < x->n_w; i++)
        if (x->w[i].owns) {
            dt_free(x->w[i].f.id);
            dt_free(x->w[i].f.evidence);
        }
    dt_free(x->w);
    for (size_t i = 0; i < x->n_old; i++) st_finding_free(&x->old[i]);
    dt_free(x->old);
    util_intern_fini(&x->found);
    util_intern_fini(&x->old_ids);
    fnd_result_fini(&x->r);
    fnd_events_fini(&x->ev);
    svc_linked_fini(&x->L);
}

int dt_store_findings_run(dt_store *store, const dt_request *req, dt_findings_run_summary *out,
                          dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !out) return dt_err_set(err, DT_EINVAL, "dt_store_findings_run: NULL argument");
    memset(out, 0, sizeof *out);
    if (!dt_store_config(store)->findings.is_set)
        return dt_err_set(err, DT_ECONFIG, "the store's config has no findings: section "
                          "(README, \"Findings\")");
    double t0 = util_now();
    run x = {.err = err, .sum = out, .now = now_s()};
    util_intern_init(&x.found);
    util_intern_init(&x.old_ids);
    DT_TRY(svc_begin(store, req, "finding.run", NULL, &x.q, err));
    int rc = run_rules(&x);
    if (rc == DT_OK) rc = svc_commit_with(x.q, write_pending, &x, err);
    out->found.seconds = util_now() - t0;
    rc = svc_end(x.q, rc, err);
    run_fini(&x);
    return rc;
}

/* ---- list, show, export --------------------------------------------------------- */

typedef struct lister {
    svc_request *q;
    dt_error *err;
    const char *state;       /* NULL: any */
    json_t *arr;
    int64_t now;
    int with_evidence;
} lister;

static json_t *finding_head(const st_finding *f, int64_t now)
{
    fnd_status s = status_of(f, now);
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:f, s:I, s:I, s:I}", "finding_id", f->id,
                          "rule", f->rule, "rule_version", f->rule_version, "state",
                          s.state < FND_N_STATES ? fnd_state_names[s.state] : f->state,
                          "confidence", f->confidence, "model_version",
                          (json_int_t)f->model_version, "created", (json_int_t)f->created,
                          "updated", (json_int_t)(f->updated / 1000000));
    if (o && f->notified_at) {
        json_object_set_new(o, "notified_at", json_integer(f->notified_at));
        json_object_set_new(o, "final_from", json_integer(fnd_final_from(&s)));
    }
    return o;
}

/* The evidence's records as "source:record_id", each noted for the entry. */
static int note_records(svc_request *q, json_t *ev)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(ev, "records"), i, r) {
        const char *s = json_string_value(json_object_get(r, "source"));
        const char *id = json_string_value(json_object_get(r, "record_id"));
        if (s && id) DT_TRY(svc_subject(q, s, id));
    }
    return DT_OK;
}

static int list_one(void *ctx, const st_finding *f)
{
    lister *l = ctx;
    json_t *ev = json_loads(f->evidence, 0, NULL);
    if (ev && !is_ours_parsed(l->q, f, ev)) {
        json_decref(ev);
        return DT_OK;
    }
    json_t *o = finding_head(f, l->now);
    const char *state = json_string_value(json_object_get(o, "state"));
    int rc = o && state ? DT_OK : DT_ENOMEM;
    if (rc == DT_OK && !ev)
        rc = dt_err_set(l->err, DT_EIO, "finding %s: its evidence does not parse: the store "
                        "was altered or damaged", f->id);
    if (rc == DT_OK && l->state && strcmp(state, l->state) != 0) {
        json_decref(o);
        json_decref(ev);
        return DT_OK;
    }
    const char *copy[] = {"records", "date", "amount", "identifier", "detail", "events"};
    for (size_t k = 0; rc == DT_OK && k < sizeof copy / sizeof *copy; k++) {
        if (!l->with_evidence && strcmp(copy[k], "events") == 0) continue;
        json_t *v = json_object_get(ev, copy[k]);
        if (v && json_object_set(o, copy[k], v) < 0) rc = DT_ENOMEM;
    }
    char subject[40];
    snprintf(subject, sizeof subject, "finding:%s", f->id);
    if (rc == DT_OK) rc = svc_subject_text(l->q, subject);
    if (rc == DT_OK) rc = note_records(l->q, ev);
    if (rc == DT_OK && json_array_append_new(l->arr, o) < 0) rc = DT_ENOMEM;
    else if (rc != DT_OK) json_decref(o);
    json_decref(ev);
    return rc;
}

static int dump(json_t *root, char **out, dt_error *err)
{
    char *text = root ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    *out = text ? dt_strdup(text) : NULL;
    free(text);
    return *out ? DT_OK : oom(err);
}

static int state_known(const char *state, dt_error *err)
{
    if (!state || state_of_name(state) < FND_N_STATES) return DT_OK;
    dt_err_set(err, DT_EINVAL, "no state '%s' (needs-review, open, verified, dismissed, "
               "notified, contested, final, superseded)", state);
    snprintf(err->field, sizeof err->field, "state");
    return DT_EINVAL;
}

int dt_store_findings_list(dt_store *store, const dt_request *req, const char *state,
                           char **json, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !json) return dt_err_set(err, DT_EINVAL, "dt_store_findings_list: NULL argument");
    *json = NULL;
    DT_TRY(state_known(state, err));
    lister l = {.state = state, .now = now_s(), .err = err};
    DT_TRY(svc_begin(store, req, "finding.list", NULL, &l.q, err));
    l.arr = json_array();
    int rc = l.arr ? st_findings_each(svc_st(l.q), svc_purpose(l.q), list_one, &l, err)
                   : DT_ENOMEM;
    json_t *root = rc == DT_OK ? json_pack("{s:o}", "findings", l.arr) : NULL;
    if (rc == DT_OK) rc = dump(root, json, err);
    else json_decref(l.arr);
    json_decref(root);
    if (rc == DT_ENOMEM) rc = oom(err);
    rc = svc_end(l.q, rc, err);
    if (rc < 0) {
        dt_free(*json);
        *json = NULL;
    }
    return rc;
}

/* The stored finding id under q (invariant 1); DT_ENOTFOUND otherwise, the
 * same for absent and another purpose's. */
static int get_ours(svc_request *q, const char *id, st_finding *f, dt_error *err)
{
    int rc = st_finding_get(svc_st(q), svc_purpose(q), id, f, err);
    if (rc == DT_OK && !is_ours(q, f)) {
        st_finding_free(f);
        rc = DT_ENOTFOUND;
    }
    if (rc == DT_ENOTFOUND) {
        dt_err_set(err, DT_ENOTFOUND, "no finding '%s' for purpose '%s'", id, svc_purpose(q));
        snprintf(err->field, sizeof err->field, "id");
    }
    return rc;
}

static int add_step(void *ctx, const st_finding_step *s)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "seq", (json_int_t)s->seq, "action",
                          s->action, "state", s->state, "by", s->by, "reason", s->reason, "at",
                          (json_int_t)s->at);
    return json_array_append_new(ctx, o) < 0 ? DT_ENOMEM : DT_OK;
}

/* Each record as the view shows it now (a withdrawn one says so). */
static int show_records(svc_request *q, json_t *ev, dt_error *err)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(ev, "records"), i, r) {
        char key[600];
        snprintf(key, sizeof key, "%s:%s", json_string_value(json_object_get(r, "source")),
                 json_string_value(json_object_get(r, "record_id")));
        char *raw = NULL;
        int rc = svc_record_shown(q, key, &raw, err);
        if (rc == DT_ENOTFOUND) {
            dt_error_clear(err);
            json_object_set_new(r, "withdrawn", json_true());
            continue;
        }
        DT_TRY(rc);
        json_t *v = json_loads(raw, 0, NULL);
        dt_free(raw);
        if (!v || json_object_set_new(r, "row", v) < 0) return oom(err);
    }
    return DT_OK;
}

static json_t *explanation_json(const dt_explanation *ex)
{
    char *text = dt_explanation_json(ex);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    dt_free(text);
    return o;
}

/* Why the model made each link: its comparisons as the view shows them. */
static int show_links(svc_request *q, json_t *ev, dt_error *err)
{
    size_t i;
    json_t *lk;
    json_array_foreach(json_object_get(ev, "links"), i, lk) {
        char a[600], b[600];
        json_t *ja = json_object_get(lk, "a"), *jb = json_object_get(lk, "b");
        snprintf(a, sizeof a, "%s:%s", json_string_value(json_object_get(ja, "source")),
                 json_string_value(json_object_get(ja, "record_id")));
        snprintf(b, sizeof b, "%s:%s", json_string_value(json_object_get(jb, "source")),
                 json_string_value(json_object_get(jb, "record_id")));
        dt_explanation *ex = dt_calloc(1, sizeof *ex);
        if (!ex || !(ex->key_a = dt_strdup(a)) || !(ex->key_b = dt_strdup(b))) {
            dt_explanation_free(ex);
            return oom(err);
        }
        int rc = svc_explain(q, a, b, ex, err);
        if (rc == DT_ENOTFOUND) { /* a record withdrawn since: show_records says which */
            dt_error_clear(err);
            rc = DT_OK;
        } else if (rc == DT_OK && json_object_set_new(lk, "why", explanation_json(ex)) < 0) {
            rc = oom(err);
        }
        dt_explanation_free(ex);
        DT_TRY(rc);
    }
    return DT_OK;
}

/* "finding:<id>@<its evidence's version>": a show's entry names what it
 * showed, so a verify finds a show of the evidence as it is now. */
static void shown_subject(const st_finding *f, char *out, size_t cap)
{
    snprintf(out, cap, "finding:%s@%lld", f->id, (long long)f->updated);
}

static int show(svc_request *q, const char *id, char **json, dt_error *err)
{
    st_finding f;
    DT_TRY(get_ours(q, id, &f, err));
    json_t *o = finding_head(&f, now_s()), *ev = json_loads(f.evidence, 0, NULL);
    json_t *steps = json_array();
    int rc = o && ev && steps ? DT_OK : oom(err);
    if (rc == DT_OK) rc = show_records(q, ev, err);
    if (rc == DT_OK) rc = show_links(q, ev, err);
    if (rc == DT_OK) rc = st_finding_steps_each(svc_st(q), f.purpose, id, add_step, steps, err);
    if (rc == DT_OK && (json_object_set(o, "evidence", ev) < 0 ||
                        json_object_set(o, "steps", steps) < 0))
        rc = oom(err);
    char subject[64];
    snprintf(subject, sizeof subject, "finding:%s", f.id);
    if (rc == DT_OK && svc_subject_text(q, subject) < 0) rc = oom(err);
    shown_subject(&f, subject, sizeof subject); /* which evidence was shown (invariant 4) */
    if (rc == DT_OK && svc_subject_text(q, subject) < 0) rc = oom(err);
    if (rc == DT_OK) rc = dump(o, json, err);
    json_decref(o);
    json_decref(ev);
    json_decref(steps);
    st_finding_free(&f);
    return rc == DT_ENOMEM ? oom(err) : rc;
}

int dt_store_finding_show(dt_store *store, const dt_request *req, const char *id, char **json,
                          dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !id || !json) return dt_err_set(err, DT_EINVAL, "dt_store_finding_show: NULL argument");
    *json = NULL;
    svc_request *q;
    DT_TRY(svc_begin(store, req, "finding.show", NULL, &q, err));
    int rc = svc_end(q, show(q, id, json, err), err);
    if (rc < 0) {
        dt_free(*json);
        *json = NULL;
    }
    return rc;
}

/* ---- steps ------------------------------------------------------------------------ */

typedef struct shown_check {
    const char *who, *purpose;
    int shown;
} shown_check;

static int find_show(void *ctx, const st_audit_entry *e)
{
    shown_check *c = ctx;
    if (strcmp(e->action, "finding.show") == 0 && strcmp(e->outcome, "allowed") == 0 &&
        strcmp(e->principal, c->who) == 0 && strcmp(e->purpose, c->purpose) == 0)
        c->shown = 1;
    return DT_OK;
}

static int action_of(const char *name, fnd_action *a, dt_error *err)
{
    static const fnd_action people[] = {FND_A_VERIFY, FND_A_DISMISS, FND_A_NOTIFY, FND_A_CONTEST};
    for (size_t k = 0; name && k < sizeof people / sizeof *people; k++)
        if (strcmp(fnd_action_names[people[k]], name) == 0) return *a = people[k], DT_OK;
    dt_err_set(err, DT_EINVAL, "no action '%s' (verify, dismiss, notify, contest)",
               name ? name : "");
    snprintf(err->field, sizeof err->field, "action");
    return DT_EINVAL;
}

typedef struct stepping {
    svc_request *q;
    st_finding f;
    st_finding_step step;
    fnd_action a;
    char *read_state;          /* as read before the lock */
    int64_t read_notified, read_updated;
} stepping;

static int evidence_holds(stepping *s, dt_error *err);

/* Under the write lock: the finding is as it was read (no other step or
 * run moved it meanwhile), and a verify or notice still rests on records
 * that are there. */
static int still_as_read(stepping *s, dt_error *err)
{
    st_finding cur;
    DT_TRY(st_finding_get(svc_st(s->q), s->f.purpose, s->f.id, &cur, err));
    int same = !strcmp(cur.state, s->read_state) && cur.notified_at == s->read_notified &&
               cur.updated == s->read_updated;
    st_finding_free(&cur);
    if (!same)
        return dt_err_set(err, DT_ESTATE, "finding %s changed while this step was made (another "
                          "step or a run): show it again, then decide", s->f.id);
    return s->a == FND_A_VERIFY || s->a == FND_A_NOTIFY ? evidence_holds(s, err) : DT_OK;
}

static int write_step(void *ctx, dt_error *err)
{
    stepping *s = ctx;
    DT_TRY(still_as_read(s, err));
    DT_TRY(st_finding_put(svc_st(s->q), &s->f, err));
    DT_TRY(st_finding_step_add(svc_st(s->q), s->f.purpose, s->f.id, &s->step, err));
    char subject[40];
    snprintf(subject, sizeof subject, "finding:%s", s->f.id);
    return svc_subject_text(s->q, subject) < 0 ? oom(err) : DT_OK;
}

/* A verify or a notice moves toward action against a person: refused while
 * a record the evidence names has been withdrawn since the run (the next
 * run supersedes the finding, saying so). */
static int evidence_holds(stepping *s, dt_error *err)
{
    json_t *ev = json_loads(s->f.evidence, 0, NULL), *r;
    size_t i;
    int rc = ev ? DT_OK : oom(err);
    json_array_foreach(json_object_get(ev, "records"), i, r) {
        const char *src = json_string_value(json_object_get(r, "source"));
        const char *rid = json_string_value(json_object_get(r, "record_id"));
        int64_t source, sid;
        int active = 0;
        if (rc < 0 || !src || !rid) continue;
        rc = st_source_id(svc_st(s->q), src, &source, err);
        if (rc == DT_OK) rc = st_record_id(svc_st(s->q), source, rid, &sid, err);
        if (rc == DT_OK) rc = st_record_source(svc_st(s->q), sid, &source, &active, err);
        if (rc == DT_ENOTFOUND || (rc == DT_OK && !active)) {
            dt_error_clear(err);
            rc = dt_err_set(err, DT_ESTATE, "record %s:%s of finding %s has been withdrawn "
                            "since the run that made it: run `dovetail findings run`, which "
                            "supersedes the finding if its evidence no longer holds", src, rid,
                            s->f.id);
        }
    }
    json_decref(ev);
    return rc;
}

static int take_step(stepping *s, fnd_action a, const char *reason, dt_error *err)
{
    int64_t now = now_s();
    s->a = a;
    s->read_notified = s->f.notified_at;
    s->read_updated = s->f.updated;
    if (!(s->read_state = dt_strdup(s->f.state))) return oom(err);
    fnd_status st = status_of(&s->f, now);
    fnd_step step = {.action = a, .by = svc_who(s->q), .reason = reason, .at = now};
    if (a == FND_A_VERIFY || a == FND_A_DISMISS) { /* invariant 4 */
        char subject[64];
        shown_subject(&s->f, subject, sizeof subject);
        shown_check c = {.who = svc_who(s->q), .purpose = svc_purpose(s->q)};
        DT_TRY(st_audit_of_subject(svc_st(s->q), subject, find_show, &c, err));
        step.evidence_shown = c.shown;
    }
    if ((a == FND_A_VERIFY || a == FND_A_NOTIFY) && fnd_allows(st.state, a))
        DT_TRY(evidence_holds(s, err));
    DT_TRY(fnd_apply(&st, &step, err));
    dt_free(s->f.state);
    if (!(s->f.state = dt_strdup(fnd_state_names[st.state]))) return oom(err);
    s->f.notified_at = st.notified_at; /* updated stays: it is when the evidence last changed */
    s->step = (st_finding_step){.at = now, .action = fnd_action_names[a], .state = s->f.state,
                                .by = svc_who(s->q), .reason = reason ? reason : ""};
    return svc_commit_with(s->q, write_step, s, err);
}

int dt_store_finding_step(dt_store *store, const dt_request *req, const char *id,
                          const char *action, const char *reason, char **state, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !id) return dt_err_set(err, DT_EINVAL, "dt_store_finding_step: NULL argument");
    if (state) *state = NULL;
    fnd_action a;
    DT_TRY(action_of(action, &a, err));
    char call[32];
    snprintf(call, sizeof call, "finding.%s", action);
    stepping s = {0};
    DT_TRY(svc_begin(store, req, call, NULL, &s.q, err));
    int rc = get_ours(s.q, id, &s.f, err);
    if (rc == DT_OK) rc = take_step(&s, a, reason, err);
    if (rc == DT_OK && state && !(*state = dt_strdup(s.f.state))) rc = oom(err);
    rc = svc_end(s.q, rc, err);
    st_finding_free(&s.f);
    dt_free(s.read_state);
    if (rc < 0 && state) {
        dt_free(*state);
        *state = NULL;
    }
    return rc;
}

/* ---- export ------------------------------------------------------------------------ */

static int csv_field(util_buf *b, json_t *v, int last)
{
    char num[64] = "";
    const char *s = json_string_value(v);
    if (json_is_real(v)) snprintf(num, sizeof num, "%.6f", json_real_value(v));
    else if (json_is_integer(v)) snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
    if (!s) s = num;
    DT_TRY(csv_write_field(b, s, strlen(s), ','));
    return util_buf_putc(b, last ? '\n' : ',');
}

static int csv_of(json_t *arr, util_buf *b)
{
    static const char *const cols[] = {"finding_id", "rule", "rule_version", "state",
                                       "confidence", "records", "identifier", "date",
                                       "amount", "detail"};
    enum { N = sizeof cols / sizeof *cols };
    for (size_t c = 0; c < N; c++) DT_TRY(util_buf_printf(b, "%s%s", cols[c], c + 1 < N ? "," : "\n"));
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        for (size_t c = 0; c < N; c++) {
            json_t *v = json_object_get(o, cols[c]);
            if (strcmp(cols[c], "records") == 0) { /* source:record_id;... */
                util_buf keys = {0};
                size_t j;
                json_t *r;
                json_array_foreach(v, j, r)
                    util_buf_printf(&keys, "%s%s:%s", j ? ";" : "",
                                    json_string_value(json_object_get(r, "source")),
                                    json_string_value(json_object_get(r, "record_id")));
                json_t *t = json_string(keys.data ? keys.data : "");
                util_buf_fini(&keys);
                int rc = csv_field(b, t, 0);
                json_decref(t);
                DT_TRY(rc);
                continue;
            }
            DT_TRY(csv_field(b, v, c + 1 == N));
        }
    }
    return DT_OK;
}

/* Writes both files aside (outs): they are put in place only after the
 * entry is durable (svc_end_placing). */
static int export_to(lister *l, const char *dir, util_out *outs, uint64_t *n, dt_error *err)
{
    int rc = st_findings_each(svc_st(l->q), svc_purpose(l->q), list_one, l, err);
    util_buf b = {0};
    json_t *root = rc == DT_OK ? json_pack("{s:O}", "findings", l->arr) : NULL;
    char *text = NULL, *csv_path = util_path_join(dir, "findings.csv");
    char *json_path = util_path_join(dir, "findings.json");
    if (rc == DT_OK) rc = root && csv_path && json_path ? util_mkdir(dir, err) : DT_ENOMEM;
    if (rc == DT_OK) rc = csv_of(l->arr, &b);
    if (rc == DT_OK) rc = dump(root, &text, err);
    if (rc == DT_OK) rc = util_out_open(&outs[0], csv_path, err);
    if (rc == DT_OK && b.len && fwrite(b.data, 1, b.len, outs[0].f) != b.len)
        rc = dt_err_at(err, DT_EIO, csv_path, 0, 0, "cannot write");
    if (rc == DT_OK) rc = util_out_open(&outs[1], json_path, err);
    if (rc == DT_OK && fwrite(text, 1, strlen(text), outs[1].f) != strlen(text))
        rc = dt_err_at(err, DT_EIO, json_path, 0, 0, "cannot write");
    if (n) *n = json_array_size(l->arr);
    dt_free(text);
    dt_free(csv_path);
    dt_free(json_path);
    util_buf_fini(&b);
    json_decref(root);
    return rc == DT_ENOMEM ? oom(err) : rc;
}

int dt_store_findings_export(dt_store *store, const dt_request *req, const char *out_dir,
                             uint64_t *n, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !out_dir)
        return dt_err_set(err, DT_EINVAL, "dt_store_findings_export: NULL argument");
    lister l = {.now = now_s(), .with_evidence = 1, .err = err};
    DT_TRY(svc_begin(store, req, "finding.export", NULL, &l.q, err));
    util_out outs[2];
    memset(outs, 0, sizeof outs);
    util_out *const ptrs[2] = {&outs[0], &outs[1]};
    l.arr = json_array();
    int rc = l.arr ? export_to(&l, out_dir, outs, n, err) : oom(err);
    json_decref(l.arr);
    return svc_end_placing(l.q, rc, ptrs, 2, err);
}
