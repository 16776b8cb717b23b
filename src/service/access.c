/*
 * access.c — the request path every public store call takes (see
 * service_int.h; each call's row is in calls.c), and the governance calls
 * themselves: principals, source policies, the audit log's checks and
 * disclosures.
 *
 * Invariants:
 *   1. Every request, allowed or denied, appends one audit entry, and the
 *      entry is committed (fsync) before the call returns. Its outcome is
 *      what happened: a file that could not be written is "failed", and
 *      one that could not be put in place after its "allowed" entry gets
 *      a second entry, "failed" (req_end_placing).
 *   2. A denial's message names the principal, its role and the action,
 *      never a record: it says nothing of what the store holds.
 *   3. Every request first erases what retention has made due (its own
 *      transaction and entry, retention.c). Then, from the token check to
 *      the entry's commit, a read sees one snapshot of the store
 *      (st_snapshot_begin), so its principal, policy and records are of
 *      one instant. The snapshot ends before any commit, since a write
 *      transaction cannot start inside it: a write logs its entry first,
 *      then works in transactions of its own.
 *   4. With a committer, a SVC_SNAPSHOT read's snapshot is held after its
 *      request (st_snapshot_hold), and the next such request on the
 *      handle goes on in it only when a fresh read of the data generation
 *      equals the one it shows, and it is under SVC_HOLD_MS old: so it
 *      reads the data as they are, with the page cache a new snapshot
 *      would have lost to the audit log's commits. Any other call, and
 *      any write (st_begin), releases it; the committer releases one left
 *      idle (commit.c), so a held snapshot never stops the WAL's reset
 *      for long, and none is held while the committer wants to reset the
 *      WAL (commit.c, invariant 6). A request holds s->busy throughout.
 *      SQLite's alone: on PostgreSQL (st_can_hold 0) the server keeps no
 *      page cache of ours to save, and a transaction left open would
 *      hold back its vacuum, so every snapshot ends with its request.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "service/service_int.h"

/* ---- the request path ------------------------------------------------------ */

/* Invariant 4: a snapshot this call may hold, on a handle that may. */
static int may_hold(const dt_store *s, const svc_call *c)
{
    return s->committer && c && (c->flags & SVC_SNAPSHOT) && st_can_hold(s->st);
}

static void end_snapshot(svc_request *q)
{
    if (q->snapshot && may_hold(q->s, q->call) && !svc_committer_wants_reset(q->s->committer))
        st_snapshot_hold(q->s->st, 1);
    else st_snapshot_end(q->s->st, q->snapshot);
    q->snapshot = 0;
}

/* Releases the held snapshot unless call c may go on in it (invariant 4). */
static int check_held(dt_store *s, const svc_call *c, dt_error *err)
{
    if (!st_snapshot_is_held(s->st)) return DT_OK;
    int64_t gen = -1;
    if (may_hold(s, c) && svc_mono_ms() - s->held_at_ms < SVC_HOLD_MS &&
        !svc_committer_wants_reset(s->committer))
        DT_TRY(st_probe_gen(s->probe, &gen, err));
    if (gen != s->held_gen) st_snapshot_release(s->st);
    return DT_OK;
}

/* Starts q's snapshot, or goes on in the held one (invariant 4). */
static int start_snapshot(svc_request *q, dt_error *err)
{
    dt_store *s = q->s;
    DT_TRY(check_held(s, q->call, err));
    DT_TRY(st_snapshot_begin(s->st, &q->snapshot, err));
    if (!q->snapshot || !may_hold(s, q->call)) return DT_OK;
    s->held_at_ms = svc_mono_ms();
    int rc = st_data_gen(s->st, &s->held_gen, err);
    if (rc < 0) s->held_gen = -1; /* no probe matches it: the snapshot is not held on */
    return rc;
}

static void lock_handle(svc_request *q)
{
    dt_store *s = q->s;
    if (!s->committer) return;
    if (s->depth++ == 0) pthread_mutex_lock(&s->busy);
    q->is_locked = 1;
}

static void req_free(svc_request *q)
{
    end_snapshot(q);
    if (q->is_locked && --q->s->depth == 0) pthread_mutex_unlock(&q->s->busy);
    q->is_locked = 0;
    gv_principal_fini(&q->who);
    util_intern_fini(&q->subjects);
    util_intern_fini(&q->fields);
}

static gv_entry entry_of(const svc_request *q, const char *outcome)
{
    return (gv_entry){
        .principal = q->who.name ? q->who.name : "",
        .purpose = gv_name_ok(q->purpose) ? q->purpose : "",
        .action = q->action,
        .outcome = outcome,
        .subjects = (const char *const *)q->subjects.strs,
        .n_subjects = q->subjects.n_strs,
        .fields = (const char *const *)q->fields.strs,
        .n_fields = q->fields.n_strs,
    };
}

static int queue_entry(svc_request *q, const char *outcome, dt_error *err)
{
    gv_entry e = entry_of(q, outcome);
    return gv_audit_add(q->s->audit, &e, err);
}

/* Appends q's entry with this outcome and commits it: through the
 * handle's committer when it has one (a group commit), else alone. */
static int log_entry(svc_request *q, const char *outcome, dt_error *err)
{
    end_snapshot(q);
    if (!q->is_logged) return DT_OK;
    if (q->s->committer) {
        /* the committer needs the write lock: a caller holding it would wait forever */
        assert(!st_is_writing(q->s->st));
        gv_entry e = entry_of(q, outcome);
        return svc_committer_append(q->s->committer, &e, err);
    }
    DT_TRY(queue_entry(q, outcome, err));
    return gv_audit_commit(q->s->audit, NULL, err);
}

typedef struct after_work {
    svc_request *q;
    gv_work_fn work;
    void *ctx;
} after_work;

static int work_then_entry(void *ctx, dt_error *err)
{
    after_work *w = ctx;
    DT_TRY(w->work(w->ctx, err));
    return queue_entry(w->q, "allowed", err);
}

int req_commit_with(svc_request *q, gv_work_fn work, void *ctx, dt_error *err)
{
    end_snapshot(q);
    after_work w = {q, work, ctx};
    int rc = gv_audit_commit_with(q->s->audit, work_then_entry, &w, NULL, err);
    if (rc < 0) gv_audit_drop(q->s->audit);
    else q->is_logged = 0;
    return rc;
}

/* Logs a denial; returns rc (or the log's own error, which is worse). */
static int deny(svc_request *q, int rc, dt_error *err)
{
    dt_error log_err;
    dt_error_clear(&log_err);
    int lrc = log_entry(q, "denied", &log_err);
    req_free(q);
    if (lrc < 0) {
        *err = log_err;
        return lrc;
    }
    return rc;
}

static int open_log(dt_store *s, int may_skip_log, svc_request *q, dt_error *err)
{
    q->is_logged = 1;
    if (may_skip_log && st_is_readonly(s->st)) { /* nothing can be appended: verify still runs */
        q->is_logged = 0;
        return DT_OK;
    }
    if (s->audit) return DT_OK;
    dt_error open_err;
    dt_error_clear(&open_err);
    int rc = gv_audit_open(s->st, &s->audit, &open_err);
    if (rc == DT_OK) return DT_OK;
    if (may_skip_log && rc == DT_EIO) {
        q->is_logged = 0;
        return DT_OK;
    }
    *err = open_err;
    return rc;
}

/* Erases what retention made due before the request reads (retention.c).
 * The erasure writes, so it runs between two snapshots. */
static int retention_first(svc_request *q, dt_error *err)
{
    /* a log that refuses appends cannot record an erasure; purge does its own */
    if (!q->is_logged || (q->call && q->call->id == SVC_STORE_PURGE)) return DT_OK;
    int due;
    DT_TRY(store_retention_due(q->s, &due, err)); /* refreshes the policies too */
    q->policies_fresh = 1;
    if (!due) return DT_OK;
    end_snapshot(q);
    q->policies_fresh = 0;
    DT_TRY(store_retention_run(q->s, err));
    return start_snapshot(q, err);
}

void req_init(svc_request *q, dt_store *s, const char *action, const char *purpose)
{
    memset(q, 0, sizeof *q);
    q->s = s;
    q->action = action;
    q->purpose = purpose;
    util_intern_init(&q->subjects);
    util_intern_init(&q->fields);
}

/* The role check: the row admits the principal's role and, for a
 * steward, the source the call names is one it stewards. */
static int role_admits(const svc_request *q, const char *object)
{
    if (!(q->call->roles >> q->who.role & 1)) return 0;
    if (q->who.role == GV_STEWARD && (q->call->flags & SVC_SOURCE))
        return object && gv_stewards(&q->who, object);
    return 1;
}

static int deny_role(svc_request *q, const char *object, dt_error *err)
{
    int names_source = (q->call->flags & SVC_SOURCE) && object;
    return deny(q, dt_err_set(err, DT_EDENIED, "principal '%s' (%s%s%s) may not %s%s%s",
                              q->who.name, gv_role_name(q->who.role),
                              q->who.sources[0] ? " of " : "", q->who.sources, q->action,
                              names_source ? " on source " : "", names_source ? object : ""),
                err);
}

/* The source or principal the call names: a source must be the config's
 * (told to an authenticated principal only); the entry names it. */
static int name_object(svc_request *q, const char *object, dt_error *err)
{
    const svc_call *c = q->call;
    if (!(c->flags & (SVC_SOURCE | SVC_PRINCIPAL))) return DT_OK;
    if (!object) return dt_err_set(err, DT_EINVAL, "%s: no %s named", c->action,
                                   c->flags & SVC_SOURCE ? "source" : "principal");
    if (c->flags & SVC_SOURCE) DT_TRY(store_source_index(q->s, object, &q->i_src, err));
    if (c->subject_kind && req_subject(q, c->subject_kind, object) < 0)
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    return DT_OK;
}

/* What the row asks once the principal may make the call: the entry
 * first (writes, heads), and the view. */
static int begin_work(svc_request *q, dt_error *err)
{
    const svc_call *c = q->call;
    /* a write logs before it starts, so the view of one is made after */
    if (c->flags & SVC_LOG_FIRST) {
        int rc = log_entry(q, "allowed", err);
        q->is_logged = 0; /* logged, or failing to: req_end adds nothing */
        if (rc < 0) {
            gv_audit_drop(q->s->audit);
            return rc;
        }
    }
    if (c->flags & SVC_SIGNS) {
        end_snapshot(q); /* a write of its own: no snapshot may stay open */
        DT_TRY(gv_audit_sign(q->s->audit, 1, err));
    }
    return c->flags & SVC_VIEW ? req_view(q, err) : DT_OK;
}

int req_begin(dt_store *s, const dt_request *r, svc_call_id id, const char *object,
              svc_request *q, dt_error *err)
{
    return req_begin_also(s, r, id, object, NULL, q, err);
}

int req_begin_also(dt_store *s, const dt_request *r, svc_call_id id, const char *object,
                   const char *also, svc_request *q, dt_error *err)
{
    return req_begin_sources(s, r, id, &object, 1, also, q, err);
}

int req_begin_sources(dt_store *s, const dt_request *r, svc_call_id id,
                      const char *const *objects, size_t n_objects, const char *also,
                      svc_request *q, dt_error *err)
{
    assert(n_objects >= 1);
    const svc_call *c = svc_call_get(id);
    req_init(q, s, c->action, r && r->purpose ? r->purpose : "");
    q->call = c;
    if (also && req_subject_text(q, also) < 0) {
        req_free(q);
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    s->notice[0] = '\0';
    lock_handle(q);
    int rc = open_log(s, (c->flags & SVC_LOG_OPTIONAL) != 0, q, err);
    if (rc == DT_OK) rc = start_snapshot(q, err);
    if (rc < 0) {
        req_free(q);
        return rc;
    }
    rc = store_model_refresh(s, err);
    if (rc == DT_OK) rc = retention_first(q, err);
    if (rc < 0) return req_end(q, rc, err); /* logged as failed, by no one yet */
    rc = gv_authenticate(s->st, r ? r->token : NULL, &q->who, err);
    if (rc == DT_EAUTH) return deny(q, rc, err);
    if (rc < 0) {
        req_free(q);
        return rc;
    }
    if (!gv_name_ok(q->purpose))
        return deny(q, dt_err_set(err, DT_EINVAL, "a purpose is required (1 to 64 of a-z, 0-9, "
                                  "'.', '_', '-', e.g. payment-integrity): every use of the "
                                  "store names one"), err);
    /* each object named and admitted, the first's index kept in q->i_src */
    for (size_t k = n_objects; k-- > 0;) {
        rc = name_object(q, objects[k], err);
        if (rc < 0) return req_end(q, rc, err);
        if (!role_admits(q, objects[k])) return deny_role(q, objects[k], err);
    }
    rc = begin_work(q, err);
    return rc < 0 ? req_end(q, rc, err) : DT_OK;
}

int req_view(svc_request *q, dt_error *err)
{
    dt_store *s = q->s;
    if (!q->policies_fresh) DT_TRY(gv_policies_refresh(s->st, s->cfg, &s->policies, err));
    DT_TRY(gv_view_make(&s->policies, s->cfg, q->purpose, gv_now(), &q->view, err));
    if (q->view.lapsed[0]) snprintf(s->notice, sizeof s->notice, "%s", q->view.lapsed);
    return DT_OK;
}

int req_subject_text(svc_request *q, const char *subject)
{
    uint32_t id;
    return util_intern_put(&q->subjects, subject, strlen(subject), &id);
}

/* "a:b" into an interned set, without building the text twice. */
static int put_pair(util_intern *set, const char *a, char sep, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char small[256], *text = na + nb + 2 <= sizeof small ? small : dt_malloc(na + nb + 2);
    if (!text) return DT_ENOMEM;
    memcpy(text, a, na);
    text[na] = sep;
    memcpy(text + na + 1, b, nb + 1);
    uint32_t id;
    int rc = util_intern_put(set, text, na + nb + 1, &id);
    if (text != small) dt_free(text);
    return rc;
}

int req_subject(svc_request *q, const char *source, const char *record_id)
{
    return put_pair(&q->subjects, source, ':', record_id);
}

int req_field(svc_request *q, const char *source, const char *column)
{
    return put_pair(&q->fields, source, '.', column);
}

int req_end(svc_request *q, int rc, dt_error *err)
{
    dt_error log_err;
    dt_error_clear(&log_err);
    int lrc = log_entry(q, rc < 0 ? "failed" : "allowed", &log_err);
    req_free(q);
    if (lrc < 0 && rc >= 0) {
        *err = log_err;
        return lrc;
    }
    return rc;
}

int req_end_placing(svc_request *q, int rc, util_out *out, dt_error *err)
{
    return req_end_placing_n(q, rc, &out, 1, err);
}

static void abort_all(util_out *const *outs, size_t n)
{
    for (size_t i = 0; i < n; i++) util_out_abort(outs[i]);
}

int req_end_placing_n(svc_request *q, int rc, util_out *const *outs, size_t n, dt_error *err)
{
    for (size_t i = 0; i < n && rc == DT_OK; i++) /* on disk before the entry says so */
        rc = util_out_close(outs[i], err);
    if (rc < 0) {
        abort_all(outs, n);
        return req_end(q, rc, err);
    }
    rc = log_entry(q, "allowed", err);
    if (rc < 0) {
        req_free(q);
        abort_all(outs, n);
        return rc;
    }
    q->is_logged = 0;
    for (size_t i = 0; i < n && rc == DT_OK; i++) rc = util_out_commit(outs[i], 0, err);
    if (rc < 0) { /* the entry said allowed: a second one says it failed */
        abort_all(outs, n);
        q->is_logged = 1;
    }
    return req_end(q, rc, err);
}

int store_source_index(const dt_store *s, const char *name, size_t *i_src, dt_error *err)
{
    int found = cfg_source_index(s->cfg, name);
    if (found >= 0) {
        *i_src = (size_t)found;
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

const char *dt_store_notice(const dt_store *store)
{
    return store ? store->notice : "";
}

/* ---- principals ------------------------------------------------------------- */

typedef struct principal_add {
    svc_request *q;
    const char *name, *sources;
    gv_role role;
    char *token;
} principal_add;

/* Names a row the change wrote on its entry (taking bind), so the log
 * binds the table (src/govern/audit_bind.c). */
static int bind_row(svc_request *q, char *bind, dt_error *err)
{
    int rc = req_subject_text(q, bind) < 0 ? dt_err_set(err, DT_ENOMEM, "out of memory") : DT_OK;
    dt_free(bind);
    return rc;
}

static int add_principal(void *ctx, dt_error *err)
{
    principal_add *p = ctx;
    char *bind;
    DT_TRY(gv_principal_add(p->q->s->st, p->name, p->role, p->sources, p->token, &bind, err));
    return bind_row(p->q, bind, err);
}

/* Every named source must be the config's. */
static int check_sources(const dt_store *s, const char *sources, dt_error *err)
{
    char *copy = sources ? dt_strdup(sources) : NULL;
    if (sources && !copy) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int rc = DT_OK;
    size_t i;
    for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t && rc == DT_OK;
         t = strtok_r(NULL, ",", &save))
        rc = store_source_index(s, t, &i, err);
    dt_free(copy);
    return rc;
}

int dt_principal_add(dt_store *store, const dt_request *req, const char *name, const char *role,
                     const char *sources, char token[DT_TOKEN_SIZE], dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !name || !role || !token)
        return dt_err_set(err, DT_EINVAL, "dt_principal_add: NULL argument");
    svc_request q;
    principal_add p = {.q = &q, .name = name, .sources = sources, .token = token};
    DT_TRY(req_begin(store, req, SVC_PRINCIPAL_ADD, name, &q, err));
    int rc = gv_role_parse(role, &p.role) < 0
                 ? dt_err_field(err, DT_EINVAL, "role", "no role '%s' (admin, steward, "
                                "analyst, reviewer, auditor)", role)
                 : check_sources(store, sources, err);
    if (rc == DT_OK) rc = req_commit_with(&q, add_principal, &p, err);
    return dt_err_ensure(err, req_end(&q, rc, err));
}

static int revoke_principal(void *ctx, dt_error *err)
{
    principal_add *p = ctx;
    char *bind;
    DT_TRY(gv_principal_revoke(p->q->s->st, p->name, &bind, err));
    return bind_row(p->q, bind, err);
}

int dt_principal_revoke(dt_store *store, const dt_request *req, const char *name, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !name) return dt_err_set(err, DT_EINVAL, "dt_principal_revoke: NULL argument");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_PRINCIPAL_REVOKE, name, &q, err));
    principal_add p = {.q = &q, .name = name};
    int rc = req_commit_with(&q, revoke_principal, &p, err);
    return dt_err_ensure(err, req_end(&q, rc, err));
}

static int rotate_principal(void *ctx, dt_error *err)
{
    principal_add *p = ctx;
    char *old, *new;
    DT_TRY(gv_principal_rotate(p->q->s->st, p->name, p->token, &old, &new, err));
    int rc = bind_row(p->q, old, err);
    if (rc == DT_OK) return bind_row(p->q, new, err);
    dt_free(new);
    return rc;
}

int dt_principal_rotate(dt_store *store, const dt_request *req, const char *name,
                        char token[DT_TOKEN_SIZE], dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !name || !token)
        return dt_err_set(err, DT_EINVAL, "dt_principal_rotate: NULL argument");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_PRINCIPAL_ROTATE, name, &q, err));
    principal_add p = {.q = &q, .name = name, .token = token};
    int rc = req_commit_with(&q, rotate_principal, &p, err);
    return dt_err_ensure(err, req_end(&q, rc, err));
}

typedef struct principal_list {
    dt_principal_fn fn;
    void *ctx;
} principal_list;

static int list_one(void *ctx, const st_principal *p)
{
    principal_list *l = ctx;
    char created[32], revoked[32] = "";
    gv_time_text(p->created, created);
    if (p->revoked) gv_time_text(p->revoked, revoked);
    dt_principal_info info = {p->name, p->role, p->sources, created, revoked};
    return l->fn(l->ctx, &info);
}

int dt_principal_list(dt_store *store, const dt_request *req, dt_principal_fn fn, void *ctx,
                      dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !fn) return dt_err_set(err, DT_EINVAL, "dt_principal_list: NULL argument");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_PRINCIPAL_LIST, NULL, &q, err));
    principal_list l = {fn, ctx};
    int rc = st_principals_each(store->st, list_one, &l, err);
    return dt_err_ensure(err, req_end(&q, rc, err));
}

/* ---- policies ------------------------------------------------------------------ */

typedef struct policy_put {
    svc_request *q;
    int64_t source;
    st_policy_row row;
} policy_put;

static int put_policy(void *ctx, dt_error *err)
{
    policy_put *p = ctx;
    p->row.time = gv_now();
    DT_TRY(st_policy_put(p->q->s->st, p->source, p->row.text, p->row.set_by, p->row.time,
                         &p->row.version, err));
    char *bind;
    if (gv_bind_policy(&p->row, &bind) < 0) return dt_err_set(err, DT_ENOMEM, "out of memory");
    return bind_row(p->q, bind, err);
}

static int set_policy(svc_request *q, size_t i_src, const char *path, int64_t *version,
                      dt_error *err)
{
    dt_store *s = q->s;
    char *text = NULL;
    size_t n = 0;
    DT_TRY(util_read_file_max(path, GV_POLICY_MAX_BYTES, "a policy", &text, &n, err));
    gv_policy parsed;
    int rc = strlen(text) == n ? gv_policy_parse(text, n, path, s->cfg, i_src, gv_now(),
                                                 &parsed, err)
                               : dt_err_at(err, DT_EINPUT, path, 0, 0, "a NUL byte in a policy");
    if (rc == DT_OK) gv_policy_fini(&parsed);
    policy_put p = {.q = q, .row = {.source = s->cfg->sources[i_src].name, .text = text,
                                    .set_by = q->who.name}};
    if (rc == DT_OK) rc = st_source_id(s->st, p.row.source, &p.source, err);
    if (rc == DT_OK) rc = req_commit_with(q, put_policy, &p, err);
    if (rc == DT_OK) *version = p.row.version;
    dt_free(text);
    return rc;
}

int dt_policy_set(dt_store *store, const dt_request *req, const char *source,
                  const char *policy_path, int64_t *version, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !source || !policy_path || !version)
        return dt_err_set(err, DT_EINVAL, "dt_policy_set: NULL argument");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_POLICY_SET, source, &q, err));
    int rc = set_policy(&q, q.i_src, policy_path, version, err);
    return dt_err_ensure(err, req_end(&q, rc, err));
}

int dt_policy_get(dt_store *store, const dt_request *req, const char *source, char **text,
                  int64_t *version, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !source || !text || !version)
        return dt_err_set(err, DT_EINVAL, "dt_policy_get: NULL argument");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_POLICY_GET, source, &q, err));
    int64_t src, v = 0;
    char *t = NULL;
    int rc = st_source_id(store->st, source, &src, err);
    if (rc == DT_OK) rc = st_policy_latest(store->st, src, &t, &v, err);
    rc = req_end(&q, rc, err);
    if (rc < 0) {
        dt_free(t);
        return dt_err_ensure(err, rc);
    }
    *text = t;
    *version = v;
    return dt_err_ensure(err, rc);
}

/* ---- the audit log's checks ------------------------------------------------------ */

int dt_audit_verify(dt_store *store, const dt_request *req, const char *witness_path,
                    dt_audit_verdict *out, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !out) return dt_err_set(err, DT_EINVAL, "dt_audit_verify: NULL argument");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_AUDIT_VERIFY, NULL, &q, err));
    int is_logged = q.is_logged;
    gv_verdict v;
    int rc = gv_audit_verify(store->st, witness_path, &v, err);
    if (rc == DT_OK) {
        *out = (dt_audit_verdict){v.ok, v.n_entries, v.n_heads, v.n_witness_heads, v.first_bad,
                                  v.n_unsigned, ""};
        snprintf(out->why, sizeof out->why, "%s", v.why);
    }
    int end = req_end(&q, rc, err);
    if (rc < 0 || (is_logged && end == DT_OK)) return dt_err_ensure(err, end);
    /* The verdict stands though this request's own entry could not be
     * appended (a full disk, a read-only store, a log that refuses
     * appends): an auditor must be able to check a store nobody can write. */
    snprintf(store->notice, sizeof store->notice, "this verify's own audit entry could not be "
             "logged: %.400s", !is_logged && st_is_readonly(store->st)
                               ? "the store could be opened for reading only"
                           : !is_logged ? "the log refuses appends (written outside dovetail)"
                                        : err->msg);
    dt_error_clear(err);
    return DT_OK;
}

/* An auditor's call that answers with JSON text. */
typedef int (*json_query)(st_store *st, const void *arg, char **out, dt_error *err);

static int audit_json(dt_store *store, const dt_request *req, svc_call_id id, json_query fn,
                      const void *arg, char **json, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !json)
        return dt_err_set(err, DT_EINVAL, "%s: NULL argument", svc_call_get(id)->action);
    svc_request q;
    /* the row logs this request's entry first, so the head shown covers it */
    DT_TRY(req_begin(store, req, id, NULL, &q, err));
    char *text = NULL;
    int rc = req_end(&q, fn(store->st, arg, &text, err), err);
    if (rc < 0) {
        dt_free(text);
        return dt_err_ensure(err, rc);
    }
    *json = text;
    return DT_OK;
}

static int head_query(st_store *st, const void *arg, char **out, dt_error *err)
{
    (void)arg;
    return gv_audit_head_json(st, out, err);
}

static int prove_query(st_store *st, const void *arg, char **out, dt_error *err)
{
    return gv_audit_prove(st, *(const int64_t *)arg, out, err);
}

static int consistency_query(st_store *st, const void *arg, char **out, dt_error *err)
{
    return gv_audit_consistency(st, arg, out, err);
}

int dt_audit_head(dt_store *store, const dt_request *req, char **json, dt_error *err)
{
    return audit_json(store, req, SVC_AUDIT_HEAD, head_query, NULL, json, err);
}

int dt_audit_prove(dt_store *store, const dt_request *req, int64_t seq, char **json,
                   dt_error *err)
{
    return audit_json(store, req, SVC_AUDIT_PROVE, prove_query, &seq, json, err);
}

int dt_audit_consistency(dt_store *store, const dt_request *req, const char *old_head_json,
                         char **json, dt_error *err)
{
    if (!old_head_json) return dt_err_set(err, DT_EINVAL, "dt_audit_consistency: NULL argument");
    return audit_json(store, req, SVC_AUDIT_CONSISTENCY, consistency_query, old_head_json,
                      json, err);
}

int dt_audit_witness(dt_store *store, const dt_request *req, const char *path, int64_t *n_heads,
                     dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !path || !n_heads) return dt_err_set(err, DT_EINVAL, "dt_audit_witness: NULL argument");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_AUDIT_WITNESS, NULL, &q, err));
    /* written aside first, so the entry says whether it was; in place after the entry */
    util_out out = {0};
    int64_t n = 0;
    int rc = util_out_open(&out, path, err);
    if (rc == DT_OK) rc = gv_audit_write_witness(store->st, &out, &n, err);
    rc = req_end_placing(&q, rc, &out, err);
    if (rc == DT_OK) *n_heads = n;
    return dt_err_ensure(err, rc);
}

/* ---- disclosures ------------------------------------------------------------------ */

typedef struct disclosure_out {
    dt_disclosure_fn fn;
    void *ctx;
} disclosure_out;

static int on_disclosure(void *ctx, const st_audit_entry *e, const char *subject)
{
    disclosure_out *o = ctx;
    char when[32];
    gv_time_text(e->time, when);
    dt_disclosure d = {e->seq, when, e->principal, e->purpose, e->action, subject, e->fields};
    return o->fn(o->ctx, &d);
}

typedef struct subject_list {
    dt_store *s;
    util_intern keys;
    dt_error *err;
} subject_list;

static int add_subject(void *ctx, int64_t sid)
{
    subject_list *l = ctx;
    st_record r;
    DT_TRY(st_record_get(l->s->st, sid, &r, NULL, l->err));
    char *key = dt_asprintf("%s:%s", r.source, r.record_id);
    st_record_free(&r);
    uint32_t id;
    int rc = key ? util_intern_put(&l->keys, key, strlen(key), &id) : DT_ENOMEM;
    dt_free(key);
    return rc;
}

/* The records of an entity: a stored id, or a restricted view's id (its
 * smallest record, whose stored entity is then taken whole). */
static int entity_subjects(subject_list *l, const char *entity_id)
{
    DT_TRY(st_entity_members(l->s->st, entity_id, add_subject, l, l->err));
    int64_t sid;
    if (l->keys.n_strs || gv_view_id_parse(l->s->view_key, entity_id, &sid) < 0) return DT_OK;
    char *stored = NULL;
    int rc = st_entity_of(l->s->st, sid, &stored, l->err);
    if (rc == DT_OK && stored[0]) rc = st_entity_members(l->s->st, stored, add_subject, l, l->err);
    else if (rc == DT_OK) rc = add_subject(l, sid);
    dt_free(stored);
    return rc == DT_ENOTFOUND ? DT_OK : rc;
}

int dt_disclosures(dt_store *store, const dt_request *req, const char *record_key,
                   const char *entity_id, dt_disclosure_fn fn, void *ctx, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!store || !fn || !record_key == !entity_id)
        return dt_err_set(err, DT_EINVAL, "dt_disclosures: give a record key or an entity id");
    svc_request q;
    DT_TRY(req_begin(store, req, SVC_AUDIT_DISCLOSURES, NULL, &q, err));
    subject_list l = {.s = store, .err = err};
    util_intern_init(&l.keys);
    uint32_t id;
    int rc = record_key ? util_intern_put(&l.keys, record_key, strlen(record_key), &id)
                        : entity_subjects(&l, entity_id);
    if (rc == DT_OK && l.keys.n_strs == 0)
        rc = dt_err_set(err, DT_ENOTFOUND, "no entity '%s'", entity_id);
    disclosure_out o = {fn, ctx};
    if (rc == DT_OK)
        rc = gv_disclosures(store->st, l.keys.strs, l.keys.n_strs, on_disclosure, &o, err);
    for (uint32_t i = 0; rc == DT_OK && i < l.keys.n_strs; i++)
        rc = req_subject(&q, "about", l.keys.strs[i]) < 0 ? DT_ENOMEM : DT_OK;
    util_intern_fini(&l.keys);
    if (rc == DT_ENOMEM && err->code == DT_OK) dt_err_set(err, rc, "out of memory");
    return dt_err_ensure(err, req_end(&q, rc, err));
}
