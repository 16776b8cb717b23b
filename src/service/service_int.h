/*
 * service_int.h — the dt_store handle, the request every public store
 * call goes through (access.c): authenticate, authorize, build the
 * purpose's view, and append the audit entry before the reply; and the
 * pipeline's stages run against the store (resolve.c). Private to
 * src/service.
 *
 * Invariant: a public store function that reads or writes records calls
 * req_begin first and req_end last, and returns nothing to its caller
 * unless req_end succeeded, so no reply leaves without a durable entry.
 */
#ifndef DT_SERVICE_INT_H
#define DT_SERVICE_INT_H

#include <pthread.h>

#include "govern/govern.h"
#include "pipeline/pipeline.h"
#include "service/service.h"
#include "store/store.h"

/* Adds a stored record's normalized values to e->table (resolve.c); a
 * loader then calls pl_finish_load. */
int svc_add_stored(pl_ctx *e, const struct st_record *r);

/* What svc_resolve is to resolve: recs (new or changed, active) and gone
 * (withdrawn), as store ids. The caller may say which recs it stored for
 * the first time in this transaction (is_new: they hold no links, keys or
 * entity yet) and hand over their standardized values (recs[i] is row
 * rows[i] of values), so they are not read back; either may be NULL. */
typedef struct svc_batch {
    const int64_t *recs;
    size_t n;
    const uint8_t *is_new;
    const cmp_table *values;
    const uint32_t *rows;
    const int64_t *gone;
    size_t n_gone;
    const int64_t *also;       /* records whose entities are clustered again though not
                                  scored again (a reviewer's decision on them) */
    size_t n_also;
    const char *cause;         /* recorded with each merge or split */
    const norm_nicknames *nicks; /* the store's table, borrowed; NULL loads one */
    dt_log_fn on_log;          /* blocks over the cap are said here; may be NULL */
    dt_progress_fn on_progress; /* svc_resolve_bulk's stages; may be NULL */
    void *cb_ctx;
    util_ids *warned;          /* blocks said already, kept across batches; may be NULL */
} svc_batch;

/* Resolves store records against the store (resolve.c), inside the
 * caller's transaction: the batch's recs are scored with the frozen model
 * m against the blocking index, its gone records lose their keys, links
 * and entity, and every entity they touch is clustered again. */
struct st_store;
int svc_resolve(struct st_store *st, const dt_config *cfg, fs_model *m, const svc_batch *batch,
                dt_error *err);

/* Resolves as svc_resolve does, with the same links and entities, for
 * a batch of recs (NULL: every active record, as after a new model; the
 * batch's values, gone and also are not taken) large beside the store:
 * every active record is read once into
 * one table, the batch stages block and score the pairs that hold a
 * record to score again, links are written by (a, b), and the whole
 * store is clustered from its links and named by the incremental rule.
 * Its cost grows with the store, not the batch. Inside the caller's
 * transaction. */
int svc_resolve_bulk(struct st_store *st, const dt_config *cfg, fs_model *m,
                     const svc_batch *in, dt_error *err);

/* Store source ids to config source indexes. */
typedef struct svc_sources {
    int *index;            /* by store source id; -1 for none */
    size_t n;
} svc_sources;

/* Maps each config source's store id (sources are created at init). */
int svc_sources_load(struct st_store *st, const dt_config *cfg, svc_sources *out, dt_error *err);
void svc_sources_fini(svc_sources *m);
static inline int svc_source_index(const svc_sources *m, int64_t store_source)
{
    return store_source >= 0 && (size_t)store_source < m->n ? m->index[store_source] : -1;
}

/* The records of the entity store record sid is in under a restricted
 * view: the cluster, as batch clusters, of its component among the links
 * the view allows. DT_ENOTFOUND (no message) when the record is absent,
 * withdrawn or of a source the view hides. nicks: the store's nickname
 * table, borrowed. OUT: members (store ids). */
int svc_view_entity(struct st_store *st, const dt_config *cfg, const norm_nicknames *nicks,
                    const fs_model *m, const gv_view *v, const svc_sources *map, int64_t sid,
                    util_ids *members, dt_error *err);

/* A stored record a query record would link to. */
typedef struct svc_candidate {
    int64_t sid;
    int i_source;
    char *record_id, *entity;     /* entity "" when none */
    double weight, p;
    uint8_t levels[FS_MAX_COMPARISONS];
} svc_candidate;

/* Runs one record (a row of source i_src, with its header) through the
 * stages against the store, writing nothing: the candidates at or over the
 * review threshold, strongest first, of the sources that are bits of
 * `sources` (config indexes): no record of another source is read, so the
 * work does not grow with what a purpose hides. nicks: as for
 * svc_view_entity. OUT: *out (dt_free each record_id and entity, then the
 * array), *n. */
int svc_resolve_one(struct st_store *st, const dt_config *cfg, const norm_nicknames *nicks,
                    fs_model *m, size_t i_src, uint64_t sources, const csv_row *header,
                    const csv_row *row, svc_candidate **out, size_t *n, dt_error *err);


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
    svc_sources sources;
    uint8_t view_key[GV_VIEW_KEY];
    norm_nicknames *nicks; /* loaded at open; read-only, shared by every call */
    store_retention retention;
    dt_committer *committer; /* borrowed: lone entries commit through it; NULL: here */
    /* with a committer (access.c, invariant 4): */
    struct st_probe *probe;   /* reads the current data generation */
    int64_t held_gen;         /* the data generation the held snapshot shows */
    int64_t held_at_ms;       /* when it started (monotonic) */
    pthread_mutex_t busy;     /* held by a request from req_begin to its end */
    int depth;                /* requests under way on this handle (retention's nest) */
    char notice[512];
};

/* The store record "source:record_id" names, when the purpose's view
 * shows its source and it is active; DT_ENOTFOUND naming it otherwise
 * (store_read.c). */
int svc_visible_record(svc_request *q, const char *key, size_t *i_src, int64_t *sid,
                       dt_error *err);
/* DT_EINVAL naming the store when it has no model (no entities yet). */
int svc_need_model(const dt_store *s, dt_error *err);

/* Appends e through c and waits until it is durable (commit.c). */
int svc_committer_append(dt_committer *c, const gv_entry *e, dt_error *err);
/* How long a snapshot may be held (access.c), and the monotonic clock. */
enum { SVC_HOLD_MS = 200 };
/* The WAL's length, in frames, past which the sweeper copies it into the
 * database and past which it resets it, and how long it waits for the
 * handles to drop their snapshots first (commit.c, invariant 6; a test may
 * set a shorter length before the committer is used); meanwhile a handle
 * holds no snapshot (access.c). */
enum { SVC_WAL_COPY_FRAMES = 1024, SVC_WAL_RESET_FRAMES = 16384, SVC_RESET_LEAD_MS = 20 };
void svc_committer_set_wal_reset(dt_committer *c, int64_t frames);
/* The committer signs a head at most this often under load, and this long
 * after its last commit when idle (commit.c, invariant 7). */
enum { SVC_SIGN_MS = 250 };
int svc_committer_wants_reset(dt_committer *c);
int64_t svc_mono_ms(void);
int64_t svc_mono_us(void);
/* Takes back store from its committer (dt_store_close). */
void svc_committer_leave(dt_committer *c, dt_store *store);

/* Roles a call admits, as bits of gv_role. */
enum {
    R_ADMIN = 1u << GV_ADMIN,
    R_STEWARD = 1u << GV_STEWARD,
    R_ANALYST = 1u << GV_ANALYST,
    R_REVIEWER = 1u << GV_REVIEWER,
    R_AUDITOR = 1u << GV_AUDITOR,
    R_READERS = R_ANALYST | R_REVIEWER,
};

/* The governed calls, one row each in calls.c (svc_calls[id].id == id). */
typedef enum svc_call_id {
    SVC_STORE_INGEST,
    SVC_STORE_WITHDRAW,
    SVC_STORE_PURGE,
    SVC_MODEL_IMPORT,
    SVC_MODEL_TRAIN,
    SVC_ENTITY_EXPORT,
    SVC_RECORD_RESOLVE,
    SVC_ENTITY_GET,
    SVC_PAIR_EXPLAIN,
    SVC_PRINCIPAL_ADD,
    SVC_PRINCIPAL_REVOKE,
    SVC_PRINCIPAL_ROTATE,
    SVC_PRINCIPAL_LIST,
    SVC_POLICY_SET,
    SVC_POLICY_GET,
    SVC_AUDIT_VERIFY,
    SVC_AUDIT_HEAD,
    SVC_AUDIT_PROVE,
    SVC_AUDIT_CONSISTENCY,
    SVC_AUDIT_WITNESS,
    SVC_AUDIT_DISCLOSURES,
    SVC_EVENT_INGEST,
    SVC_FINDING_RUN,
    SVC_FINDING_LIST,
    SVC_FINDING_SHOW,
    SVC_FINDING_VERIFY,
    SVC_FINDING_DISMISS,
    SVC_FINDING_NOTIFY,
    SVC_FINDING_CONTEST,
    SVC_FINDING_EXPORT,
    SVC_REVIEW_DECIDE,
    SVC_REVIEW_QUEUE,
    SVC_STORE_REPORT,
    SVC_STORE_MIGRATE,
    SVC_N_CALLS
} svc_call_id;

/* What req_begin does for a row, beyond authentication and its roles. */
enum svc_flag {
    SVC_WRITE = 1u << 0,        /* changes the store */
    SVC_SOURCE = 1u << 1,       /* names a source: it must be the config's, and a steward
                                   must steward it (checked after authentication) */
    SVC_PRINCIPAL = 1u << 2,    /* names a principal */
    SVC_VIEW = 1u << 3,         /* works under the purpose's view (req_view) */
    SVC_LOG_FIRST = 1u << 4,    /* its entry is committed before the work starts: a killed
                                   write is on the log, a head shown covers its own entry */
    SVC_LOG_OPTIONAL = 1u << 5, /* runs when the log refuses appends (audit verify) */
    SVC_SNAPSHOT = 1u << 6,     /* a read of no audit table: with a committer, it may go on
                                   in the snapshot an earlier one held, while the data
                                   generation says nothing changed (access.c, inv. 4) */
    SVC_SIGNS = 1u << 7,        /* shows signed heads: a head is signed over the whole log
                                   first (after its own entry, when logged first), as a
                                   committer signs only every SVC_SIGN_MS */
};

typedef struct svc_call {
    svc_call_id id;
    const char *action;         /* the audit entry's action: object.verb */
    unsigned roles;             /* R_* bits of the roles admitted */
    unsigned flags;             /* svc_flag bits */
    const char *subject_kind;   /* the entry names the object as "<kind>:<name>"; NULL: not */
    const char *audit;          /* what its entry records, for people (dt_calls, docs) */
    const char *command;        /* the CLI command that makes the call */
} svc_call;

extern const svc_call svc_calls[SVC_N_CALLS];
const svc_call *svc_call_get(svc_call_id id);
/* 0 when a table of n rows keeps the invariants calls.c states; else -1
 * and *why (the action at fault). */
int svc_calls_check(const svc_call *table, size_t n, const char **why);

typedef struct svc_request {
    dt_store *s;
    const svc_call *call;       /* NULL for the store's own requests (retention) */
    gv_principal who;
    const char *purpose, *action;
    size_t i_src;        /* the source a SVC_SOURCE call names, as a config index */
    int is_logged;       /* 0 only for audit verify on a log that refuses appends */
    int snapshot;        /* the read snapshot req_begin started, until a commit */
    int policies_fresh;  /* the policy set was refreshed inside this snapshot */
    int is_locked;       /* this request took s->busy (a handle shared with a committer) */
    gv_view view;        /* after req_view */
    util_intern subjects, fields;
} svc_request;

/* Starts request `id` as its row says, in this order: a usable audit log
 * (unless SVC_LOG_OPTIONAL), the read snapshot, retention, the token, the
 * purpose, that `object` is a source of the config (SVC_SOURCE; q->i_src),
 * the role (for a steward, that it stewards `object`), then with
 * SVC_LOG_FIRST the entry committed, and the purpose's view (SVC_VIEW). `object`
 * is the source or principal the call names, NULL for others. A failed
 * check appends a "denied" (or "failed") entry and returns the error;
 * nothing about the store is said before the token is checked. */
int req_begin(dt_store *s, const dt_request *r, svc_call_id id, const char *object,
              svc_request *q, dt_error *err);
/* req_begin, with `also` (not NULL) a subject the entry names from the
 * start, so a SVC_LOG_FIRST entry holds it too (event.ingest: the event
 * source beside the source it belongs to). */
int req_begin_also(dt_store *s, const dt_request *r, svc_call_id id, const char *object,
                   const char *also, svc_request *q, dt_error *err);
/* req_begin_also for a call on several sources at once (a load of several
 * files): each must be the config's and the principal's (a steward of
 * each), one entry names them all; q->i_src is the first's. */
int req_begin_sources(dt_store *s, const dt_request *r, svc_call_id id,
                      const char *const *objects, size_t n_objects, const char *also,
                      svc_request *q, dt_error *err);
/* Builds q->view: what q->purpose may see now. */
int req_view(svc_request *q, dt_error *err);
/* Notes a record the reply shows, and a column of a source it shows. */
int req_subject(svc_request *q, const char *source, const char *record_id);
int req_subject_text(svc_request *q, const char *subject);
int req_field(svc_request *q, const char *source, const char *column);
/* Ends q for a call whose reply is the file out, written aside (its
 * temporary) and not yet committed: syncs it, logs the entry ("failed"
 * when rc < 0 or the file could not be synced), and only once that entry
 * is durable renames it into place. A rename that fails after an
 * "allowed" entry appends a second entry, "failed", so the log never
 * claims a file that is not there. out is committed or aborted (freed)
 * either way. Returns rc or the error. */
int req_end_placing(svc_request *q, int rc, util_out *out, dt_error *err);
/* req_end_placing for n files: all synced before the entry, all renamed
 * after it (a rename that fails leaves the rest aborted, and a "failed"
 * entry follows). */
int req_end_placing_n(svc_request *q, int rc, util_out *const *outs, size_t n, dt_error *err);
/* Runs work in one transaction with q's "allowed" entry, so a change and
 * its entry are stored together or not at all. The entry is made after
 * work ran, so work may name the subjects it found under the write lock.
 * On failure nothing is kept and req_end logs "failed". */
int req_commit_with(svc_request *q, gv_work_fn work, void *ctx, dt_error *err);
/* A request with no principal yet (req_begin starts every public one;
 * retention.c makes its own for the store's own erasures). */
void req_init(svc_request *q, dt_store *s, const char *action, const char *purpose);
/* Appends the entry ("allowed", or "failed" when rc < 0) and commits it;
 * returns rc, or the commit's error when rc was DT_OK. */
int req_end(svc_request *q, int rc, dt_error *err);

/* Resolves one record.json of source i_src as q's view allows (what
 * dt_store_resolve does between req_view and req_end). */
int store_resolve_json(svc_request *q, size_t i_src, const char *record_json,
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
/* Resolves every active record again with the store's model, inside the
 * caller's transaction; o (may be NULL) for the log. */
int store_resolve_all(dt_store *s, const char *cause, const dt_link_options *o, dt_error *err);

#endif
