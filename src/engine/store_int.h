/*
 * store_int.h — the dt_store handle, and the request every public store
 * call goes through (access.c): authenticate, authorize, build the
 * purpose's view, and append the audit entry before the reply. Internal
 * to src/engine.
 *
 * Invariant: a public store function that reads or writes records calls
 * req_begin first and req_end last, and returns nothing to its caller
 * unless req_end succeeded, so no reply leaves without a durable entry.
 */
#ifndef DT_ENGINE_STORE_INT_H
#define DT_ENGINE_STORE_INT_H

#include "engine/engine.h"
#include "store/store.h"

/* When retention next has something to erase (retention.c). */
typedef struct store_retention {
    int64_t next;        /* unix seconds the next version falls due; INT64_MAX: none */
    int64_t checked;     /* when next was worked out; -1: never */
    int64_t stamp;       /* the policy set's stamp then */
} store_retention;

struct dt_store {
    st_store *st;
    dt_config *cfg;
    fs_model model;      /* the newest stored model, when has_model */
    int has_model;
    int64_t model_version;
    gv_audit *audit;     /* opened at the first request */
    gv_policy_set policies;
    eng_sources sources;
    uint8_t view_key[GV_VIEW_KEY];
    norm_nicknames *nicks; /* loaded at open; read-only, shared by every call */
    store_retention retention;
    char notice[512];
};

/* Roles a call admits, as bits of gv_role. */
enum {
    R_ADMIN = 1u << GV_ADMIN,
    R_STEWARD = 1u << GV_STEWARD,
    R_ANALYST = 1u << GV_ANALYST,
    R_REVIEWER = 1u << GV_REVIEWER,
    R_AUDITOR = 1u << GV_AUDITOR,
    R_READERS = R_ANALYST | R_REVIEWER,
};

typedef struct eng_request {
    dt_store *s;
    gv_principal who;
    const char *purpose, *action;
    int is_logged;       /* 0 only for audit verify on a log that refuses appends */
    int snapshot;        /* the read snapshot req_begin started, until a commit */
    int policies_fresh;  /* the policy set was refreshed inside this snapshot */
    gv_view view;        /* after req_view */
    util_intern subjects, fields;
} eng_request;

/* The request's checks, in order: a usable audit log, the token, the
 * purpose, the role (and for a steward, that it stewards `source`). A
 * failed check appends a "denied" entry and returns the error. With
 * may_skip_log, a log that refuses appends (written outside dovetail)
 * does not stop the call: audit verify must still run on it. */
int req_begin(dt_store *s, const dt_request *r, const char *action, unsigned roles,
              const char *source, int may_skip_log, eng_request *q, dt_error *err);
/* Builds q->view: what q->purpose may see now. */
int req_view(eng_request *q, dt_error *err);
/* Notes a record the reply shows, and a column of a source it shows. */
int req_subject(eng_request *q, const char *source, const char *record_id);
int req_subject_text(eng_request *q, const char *subject);
int req_field(eng_request *q, const char *source, const char *column);
/* Logs the entry now, before a write starts ("allowed", or "failed"
 * when rc < 0, which also ends the request), so a killed write is on the
 * log; req_end then logs nothing more. Returns rc or the log's error. */
int req_log_now(eng_request *q, int rc, dt_error *err);
/* Runs work in one transaction with q's "allowed" entry, so a change and
 * its entry are stored together or not at all. The entry is made after
 * work ran, so work may name the subjects it found under the write lock.
 * On failure nothing is kept and req_end logs "failed". */
int req_commit_with(eng_request *q, gv_work_fn work, void *ctx, dt_error *err);
/* A request with no principal yet (req_begin starts every public one;
 * retention.c makes its own for the store's own erasures). */
void req_init(eng_request *q, dt_store *s, const char *action, const char *purpose);
/* Appends the entry ("allowed", or "failed" when rc < 0) and commits it;
 * returns rc, or the commit's error when rc was DT_OK. */
int req_end(eng_request *q, int rc, dt_error *err);

/* Resolves one record.json of source i_src as q's view allows (what
 * dt_store_resolve does between req_view and req_end). */
int store_resolve_json(eng_request *q, size_t i_src, const char *record_json,
                       dt_resolution **out, dt_error *err);

/* Refreshes the policy set; *due = 1 when some record version is past its
 * source's retention period now (worked out again at most hourly, or when
 * policies change). */
int store_retention_due(dt_store *s, int *due, dt_error *err);
/* Erases every version past retention in one transaction with its audit
 * entry (principal "dovetail:retention", purpose "retention"), naming each
 * record touched. Fails (and the request with it) when it cannot: nothing
 * due is read. Call outside any transaction or snapshot. */
int store_retention_run(dt_store *s, dt_error *err);

/* Loads the store's newest model when another handle (another process)
 * stored one since this handle loaded its own. */
int store_model_refresh(dt_store *s, dt_error *err);

/* The config index of a source name, or DT_EINVAL listing the known ones. */
int store_source_index(const dt_store *s, const char *name, size_t *i_src, dt_error *err);
/* Resolves every active record again with the store's model. */
int store_resolve_all(dt_store *s, const char *cause, dt_error *err);

#endif
