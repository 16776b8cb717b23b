/*
 * findings.h — findings (src/findings): the rules that turn linked records
 * into findings a person must verify before anything is done about them
 * (ARCHITECTURE.md; the Computer Matching Act, 5 U.S.C. 552a(p): no adverse
 * action on a match until it is independently verified, the person told,
 * and their time to contest has passed).
 *
 *   payment_after_death    a payment of an enrollment dated after the date
 *                          of death of the entity the enrollment belongs to
 *   death_contradicted     a death record whose entity acted after that date
 *   duplicate_enrollment   one entity enrolled twice in one program at once
 *   shared_identifier      one identifier held by two entities that the rest
 *                          of their records call two people
 *
 * Files: rules.c (the rules), events.c (event rows), output.c (findings.csv
 * and findings.json), batch.c (link --findings), state.c (the states),
 * store.c and store_events.c (findings and event rows in a store, each a
 * governed call made through service.h).
 *
 * Invariants:
 *   1. A rule proposes; it never concludes. It emits needs-review or open,
 *      and only a named person moves a finding further (the store's states).
 *   2. A finding's confidence is the weakest link on the join tree paths
 *      that tie its records together (1 for one record). Under review_below
 *      it is needs-review, never open; so is one whose records disagree
 *      outright on a given name or a date (twins, a parent and child),
 *      or a shared identifier one of whose holders has it on one record
 *      only, whatever the links say. A shared identifier is not raised at
 *      all when that one record is the person of a third entity whose own
 *      identifier is one keystroke away: a typo, not two people sharing.
 *   3. death_contradicted takes precedence: the payments after a death that
 *      the person's own later activity contradicts are not improper, so that
 *      death's payment_after_death findings are withheld and the death
 *      finding lists what was withheld.
 *   4. A rule that needs a source or field the config does not declare does
 *      not run, and the run says which rule and why; it is never "no
 *      findings".
 *   5. Findings come out in an order fixed by the records (rule, entity,
 *      anchor record), so a run gives the same bytes for any thread count.
 */
#ifndef DT_FINDINGS_H
#define DT_FINDINGS_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "pipeline/pipeline.h"

enum {
    FND_PAYMENT_AFTER_DEATH,
    FND_DEATH_CONTRADICTED,
    FND_DUPLICATE_ENROLLMENT,
    FND_SHARED_IDENTIFIER,
    FND_N_RULES
};
extern const char *const fnd_rule_names[FND_N_RULES];
/* Bumped whenever a rule's meaning changes: a finding names the version
 * that made it. */
extern const int fnd_rule_versions[FND_N_RULES];

#define FND_NO_DAY INT32_MIN

/* Why a finding needs a person whatever its links' probabilities. */
enum {
    FND_WHY_NONE,
    FND_WHY_DISAGREES,   /* its records disagree on a given name or a date (a twin?) */
    FND_WHY_ONE_RECORD   /* shared_identifier: one entity holds it on one record only, and
                            a typo of the other's identifier would look the same */
};

/* The event rows of the config's event sources that the rules need whole
 * (those of records in keep[]), grouped by the record they belong to
 * (first[rec] .. first[rec + 1]), dates ascending within one; and, for
 * every record, the last day of its last payment (events.c). */
typedef struct fnd_events {
    size_t n;
    uint32_t *rec;           /* the person record it belongs to (table index) */
    int32_t *lo, *hi;        /* first and last day its date may be */
    int64_t *cents;          /* its amount in cents; 0 without one */
    uint32_t *id;            /* its own id, in ids */
    uint8_t *src;            /* index into cfg->findings.events */
    util_intern ids;         /* event source name, US, row id */
    uint32_t *first;         /* n_recs + 1 offsets */
    int32_t *last_pay;       /* per record: its last payment's last day; FND_NO_DAY: none */
    uint64_t n_read, n_used, n_rejected, n_orphans, n_undated;
    uint64_t *idset;         /* while reading: hashes of the ids seen */
    size_t idset_cap, idset_n;
    size_t cap;              /* of the per-event arrays */
} fnd_events;

/* One event row, read and checked: event source k's, of record rec. */
typedef struct fnd_event {
    size_t k;
    uint32_t rec;
    int32_t lo, hi;
    int64_t cents;
} fnd_event;

/* Reads every event source (rows whose key is no record of the parent
 * source are orphans: counted and reported, not kept). Bad rows are
 * counted, and the first few named on the log with file and line. keep:
 * per record, 1 to keep its rows whole (fnd_keep_records); NULL: all. */
int fnd_events_read(pl_ctx *e, const uint8_t *keep, fnd_events *ev);
/* The records whose events the rules read whole: those of entities that
 * hold a death record. OUT: *keep (dt_free it). */
int fnd_keep_records(const pl_linked *l, uint8_t **keep);
void fnd_events_fini(fnd_events *ev);
/* The steps of fnd_events_read, for a reader of rows kept elsewhere (the
 * store): begin, put each row (key: "<event source>\x1f<row id>", unique),
 * then end with the reading's rc (it groups the rows by record). */
int fnd_events_begin(const pl_ctx *e, fnd_events *ev);
int fnd_event_put(const pl_ctx *e, fnd_events *ev, const uint8_t *keep, const fnd_event *ve,
                  const char *key, size_t key_len);
int fnd_events_end(pl_ctx *e, fnd_events *ev, int rc);
/* The set of 64-bit hashes of ids seen (ev->idset): *seen 1 when h was
 * in it, else h is added. fnd_events_fini frees it. */
int fnd_idset_seen(fnd_events *ev, uint64_t h, int *seen);
/* Per id in e's id dictionary, the record of source `of` with that id, or
 * UINT32_MAX. dt_free it. NULL: out of memory. */
uint32_t *fnd_records_by_id(const pl_ctx *e, int of);
/* An event file's columns (io/csv.h's reader): their indexes from its
 * header, by the names the config gives (amount -1: none); an empty file
 * or a missing column is DT_EINPUT naming path. */
typedef struct fnd_cols {
    int id, key, date, amount;
    size_t n_fields;
} fnd_cols;
struct csv_reader;
int fnd_event_columns(const cfg_event *ev, const char *path, struct csv_reader *r, fnd_cols *c,
                      dt_error *err);
/* The first and last day an event's date may be, read with its format;
 * DT_EINPUT when the format does not read it. */
int fnd_event_days(const cfg_event *ev, const char *s, size_t n, int32_t *lo, int32_t *hi);
/* Amount text as cents: optional sign, digits, optional '.' and up to two
 * decimals; "" is 0. DT_EINPUT when it is no such amount. */
int fnd_parse_cents(const char *s, size_t n, int64_t *out);

typedef struct fnd_finding {
    int rule;
    int needs_review;
    double confidence;
    uint32_t entity;         /* the entity's naming record */
    uint32_t entity_b;       /* shared_identifier: the other entity; else UINT32_MAX */
    uint32_t *recs;          /* records it rests on, anchor first */
    size_t n_recs;
    clu_link *links;         /* the links that tie its records (a < b), g NULL */
    size_t n_links;
    uint32_t *events;        /* event indexes it lists (payments after death, activity) */
    size_t n_events;
    int64_t cents;           /* their sum */
    int32_t day;             /* date of death; FND_NO_DAY otherwise */
    uint32_t value;          /* shared_identifier: the identifier's value id; else CMP_NULL */
    uint64_t n_withheld;     /* death_contradicted: payments after it, not called improper */
    int64_t withheld_cents;
    double p_one_person;     /* shared_identifier: the best pair's probability without it */
    int review_why;          /* FND_WHY_*: needs-review whatever its confidence */
} fnd_finding;

typedef struct fnd_result {
    fnd_finding *items;
    size_t n, cap;
    uint64_t per_rule[FND_N_RULES];
    uint64_t n_needs_review;
    uint64_t n_withheld;     /* payment_after_death findings withheld (invariant 3) */
    uint64_t n_typos;        /* shared_identifier not raised: a typo of a lookalike's identifier */
    int ran[FND_N_RULES];    /* 0: the rule could not run (invariant 4) */
    char why_not[FND_N_RULES][160];
} fnd_result;

/* Runs every rule over l's entities and ev. */
int fnd_run_rules(const pl_linked *l, const fnd_events *ev, fnd_result *out);
void fnd_result_fini(fnd_result *r);

/* A finding's id: "F" and 16 hex digits, a hash of its rule and records,
 * so a run that finds it again gives it the same id. */
void fnd_finding_id(const pl_ctx *e, const fnd_finding *f, char out[18]);
/* A finding as findings.json writes it (jansson; NULL: out of memory). */
struct json_t;
struct json_t *fnd_finding_json(const pl_ctx *e, const fnd_events *ev, const fnd_finding *f);
/* Writes findings.csv and findings.json into l->out_dir. */
int fnd_write(const pl_linked *l, const fnd_events *ev, const fnd_result *r);

/* ---- the due-process states (state.c) ------------------------------ */

/* needs-review | open -> verified | dismissed (a named reviewer, a reason,
 * after the evidence was shown) -> notified (the notice date) -> final,
 * only once the contest window has passed without a contest; or contested
 * -> verified | dismissed. Any state but dismissed and superseded may be
 * superseded when its evidence no longer holds; nothing is deleted. */
typedef enum fnd_state {
    FND_S_NEEDS_REVIEW,
    FND_S_OPEN,
    FND_S_VERIFIED,
    FND_S_DISMISSED,
    FND_S_NOTIFIED,
    FND_S_CONTESTED,
    FND_S_FINAL,
    FND_S_SUPERSEDED,
    FND_N_STATES
} fnd_state;
extern const char *const fnd_state_names[FND_N_STATES]; /* "needs-review", ... */

typedef enum fnd_action {
    FND_A_VERIFY,
    FND_A_DISMISS,
    FND_A_NOTIFY,
    FND_A_CONTEST,
    FND_A_FINALIZE,
    FND_A_SUPERSEDE,
    FND_N_ACTIONS
} fnd_action;
extern const char *const fnd_action_names[FND_N_ACTIONS]; /* "verify", ... */

typedef struct fnd_status {
    fnd_state state;
    int64_t notified_at;     /* seconds since the epoch; 0: not notified */
    int contest_days;        /* the window (config findings: contest_days) */
} fnd_status;

typedef struct fnd_step {
    fnd_action action;
    const char *by;          /* the named person (or, for supersede, the run) */
    const char *reason;      /* why: required to verify, dismiss, contest, supersede */
    int evidence_shown;      /* verify, dismiss: the evidence was shown to `by` first */
    int64_t at;              /* when, seconds since the epoch */
} fnd_step;

/* Applies step to s: DT_OK and s moved on, or DT_ESTATE (the action is not
 * one the state allows, or too early or too late for the contest window)
 * or DT_EINVAL (a required field is missing), with err saying which and
 * naming the actions the state allows; s unchanged then. */
int fnd_apply(fnd_status *s, const fnd_step *step, dt_error *err);
/* 1 when action may be taken from state (timing aside). */
int fnd_allows(fnd_state state, fnd_action action);
/* The first second at which a notified finding may become final. */
int64_t fnd_final_from(const fnd_status *s);

#endif /* DT_FINDINGS_H */
