/*
 * govern.h — who may do what, for which purpose, and the proof that it was
 * done (src/govern): the clock, principals and their tokens, source
 * policies and the view a purpose has of the store, and the audit log.
 *
 * Invariants:
 *   1. A token is never stored: only its SHA-256. A token that matches no
 *      active principal gets the same answer whether it is unknown or
 *      revoked.
 *   2. A purpose a source's policy does not name, or names with an
 *      agreement past its expiry, is not allowed on that source. There is
 *      no default permission.
 *   3. The audit log only grows: entries are appended in seq order 1, 2,
 *      ... and each commit of entries signs a tree head over all of them,
 *      in the same transaction, so no committed entry is ever unsigned.
 *   4. Every principal and policy row is written with the entry that binds
 *      it (gv_bind_*), in one transaction; verify holds the tables to the
 *      log (audit_bind.c). At least one admin stays active.
 */
#ifndef DT_GOVERN_H
#define DT_GOVERN_H

#include <stddef.h>
#include <stdint.h>

#include "govern/merkle.h"
#include "io/config.h"
#include "store/store.h"
#include "util/util.h"

/* ---- time ---------------------------------------------------------------- */

/* Microseconds since the epoch. Test builds (DT_TEST_HOOKS) read
 * DOVETAIL_TEST_NOW (YYYY-MM-DD or epoch seconds) first, so expiry and
 * retention are tested without waiting; release builds never do. */
int64_t gv_now(void);
/* "2026-11-24T10:00:00.123456Z". */
void gv_time_text(int64_t us, char out[32]);
/* Midnight UTC of a YYYY-MM-DD date, as microseconds; -1 if not a date. */
int64_t gv_date_parse(const char *text);

/* ---- principals ---------------------------------------------------------- */

typedef enum gv_role { GV_ADMIN, GV_STEWARD, GV_ANALYST, GV_REVIEWER, GV_AUDITOR, GV_N_ROLES } gv_role;

const char *gv_role_name(gv_role r);
/* 0, or -1 when the name is no role. */
int gv_role_parse(const char *name, gv_role *out);

/* A name for a principal or a purpose: 1 to 64 of [a-z0-9._-], starting
 * with a letter or digit. 1 when it is one. */
int gv_name_ok(const char *name);

enum { GV_TOKEN_LEN = 67 }; /* "dt_" and 64 hex digits */

typedef struct gv_principal {
    char *name;
    gv_role role;
    char *sources;         /* a steward's sources, comma-separated; "" otherwise */
} gv_principal;

void gv_principal_fini(gv_principal *p);
/* 1 when p is the steward of that source. */
int gv_stewards(const gv_principal *p, const char *source);
/* Creates a principal in the caller's transaction and writes its token
 * (shown once, stored only as its hash) into token. A revoked principal's
 * name may be given again: a new principal. OUT: *bind, the row's subject
 * for the change's audit entry (gv_bind_principal; dt_free it). */
int gv_principal_add(st_store *st, const char *name, gv_role role, const char *sources,
                     char token[GV_TOKEN_LEN + 1], char **bind, dt_error *err);
/* Revokes the active principal `name` in the caller's transaction
 * (DT_ENOTFOUND when none). DT_EDENIED when it is the last active admin:
 * the store would have no one left to administer it; the caller rolls
 * back. OUT: *bind, as for gv_principal_add. */
int gv_principal_revoke(st_store *st, const char *name, char **bind, dt_error *err);
/* Gives the active principal `name` a new token (into token) and revokes
 * the old: the old row is revoked, a new row of the same name, role and
 * sources holds the new token. OUT: *bind_old, *bind_new (dt_free). */
int gv_principal_rotate(st_store *st, const char *name, char token[GV_TOKEN_LEN + 1],
                        char **bind_old, char **bind_new, dt_error *err);
/* The active principal holding token. DT_EAUTH (one message for unknown,
 * malformed and revoked tokens) when there is none. */
int gv_authenticate(st_store *st, const char *token, gv_principal *out, dt_error *err);

/* ---- source policies and views -------------------------------------------- */

typedef struct gv_purpose_rule {
    char *purpose;
    int allowed;
    char *agreement;           /* the matching agreement's id; NULL when not allowed */
    int64_t expires;           /* microseconds; the permission lapses at this instant */
    int all_fields;
    char **fields;             /* the source's columns that may be shown */
    size_t n_fields;
    int link_any;
    char **link_with;          /* other sources it may be linked with */
    size_t n_link_with;
} gv_purpose_rule;

typedef struct gv_policy {
    int64_t version;           /* 0: no policy set (nothing allowed) */
    int is_over_limits;        /* stored before the limits and over them: nothing allowed */
    long retention_days;       /* 0: none given */
    gv_purpose_rule *rules;
    size_t n_rules;
} gv_policy;

/* Limits on one policy: its text, and the purposes it names. */
enum { GV_POLICY_MAX_BYTES = 1 << 20, GV_MAX_PURPOSES = 1000 };

/* Parses a policy's YAML text for source i_src of cfg; errors name
 * `name`, line and column. Linear in n. A non-zero `now` is a steward
 * setting the policy, and adds the checks a stored policy was given when
 * set: the limits above, fields that are columns of the source and
 * link_with entries each listed once, and an expiry not yet passed and at
 * most 30 months ahead (an agreement lasts at most 18 months, and one
 * renewal of 12). */
int gv_policy_parse(const char *text, size_t n, const char *name, const dt_config *cfg,
                    size_t i_src, int64_t now, gv_policy *out, dt_error *err);
void gv_policy_fini(gv_policy *p);
/* The rule of a purpose, or NULL when the policy does not name it. */
const gv_purpose_rule *gv_policy_rule(const gv_policy *p, const char *purpose);

/* Every source's newest policy, parsed once and kept while the store's
 * policy rows stay the same (they are only ever added to). */
typedef struct gv_policy_set {
    size_t n;                  /* the config's sources */
    gv_policy *p;              /* per source */
    int64_t stamp;             /* policy rows when loaded; -1: never */
} gv_policy_set;

/* Reloads the set when the store's policies changed since the last call. */
int gv_policies_refresh(st_store *st, const dt_config *cfg, gv_policy_set *set, dt_error *err);
void gv_policies_fini(gv_policy_set *set);

enum { GV_MAX_SOURCES = 64 };

/* What one purpose may see of the store at one instant: which sources,
 * which links between them, and which columns of each. Points into the
 * policy set it was made from. */
typedef struct gv_view {
    size_t n_sources;
    uint64_t sources;                   /* bit i: source i is allowed */
    uint64_t linkable[GV_MAX_SOURCES];  /* bit j of [i]: i's records may link to j's */
    const gv_purpose_rule *rule[GV_MAX_SOURCES]; /* per allowed source */
    int is_full;                        /* every source and every pair allowed */
    char lapsed[512];                   /* why the first source whose policy once allowed
                                           the purpose (lapsed, over the limits) is out, or "" */
} gv_view;

/* Why source i_src takes no part under rule r, which has lapsed:
 * "source 'x': agreement A for purpose 'p' expired after YYYY-MM-DD, ...". */
void gv_lapsed_text(const dt_config *cfg, size_t i_src, const gv_purpose_rule *r, char *out,
                    size_t cap);

/* The view of `purpose` at `now`. DT_ELIMIT over GV_MAX_SOURCES sources. */
int gv_view_make(const gv_policy_set *set, const dt_config *cfg, const char *purpose,
                 int64_t now, gv_view *out, dt_error *err);
static inline int gv_view_has(const gv_view *v, size_t i_src)
{
    return i_src < GV_MAX_SOURCES && (v->sources >> i_src & 1);
}
static inline int gv_view_links(const gv_view *v, size_t a, size_t b)
{
    return gv_view_has(v, a) && gv_view_has(v, b) && (v->linkable[a] >> b & 1);
}
/* 1 when the view may show column `column` of source i_src (its record id
 * column always: it names the record). */
int gv_view_shows(const gv_view *v, const dt_config *cfg, size_t i_src, const char *column);

/* Entity ids under a restricted view: the entity's smallest store record
 * id, enciphered with the store's key (view_id.c says why). */
enum { GV_VIEW_KEY = 32 };
void gv_view_id(const uint8_t key[GV_VIEW_KEY], int64_t sid, char out[18]);
/* 0 and *sid, or -1 when id is not one gv_view_id could have made. */
int gv_view_id_parse(const uint8_t key[GV_VIEW_KEY], const char *id, int64_t *sid);
/* The key, derived from the store's key file. */
int gv_view_key_read(st_store *st, uint8_t key[GV_VIEW_KEY], dt_error *err);

/* ---- the audit log -------------------------------------------------------- */

/* One request, as it is logged. subjects: "source:record_id" (or another
 * subject, e.g. "policy:benefits"); fields: "source.column" shown. */
typedef struct gv_entry {
    const char *principal, *purpose, *action, *outcome;
    const char *const *subjects;
    size_t n_subjects;
    const char *const *fields;
    size_t n_fields;
} gv_entry;

typedef struct gv_audit gv_audit;

/* The log of a store; reads its signing key and newest head. */
int gv_audit_open(st_store *st, gv_audit **out, dt_error *err);
#ifdef DT_TEST_HOOKS
/* Test builds: called between the two reads of the log's end at open. */
extern void (*gv_test_between_log_reads)(void);
#endif
void gv_audit_close(gv_audit *a);
/* Keeps the public half of the signing key the key file seeds, once, at
 * init (caller's transaction); the secret half is never stored. */
int gv_audit_init_key(st_store *st, dt_error *err);
/* Queues an entry (copied); nothing is durable until gv_audit_commit. */
int gv_audit_add(gv_audit *a, const gv_entry *e, dt_error *err);
/* Writes every queued entry and a tree head signed over the whole log in
 * one transaction: one fsync for the group (group commit), and a head on
 * demand whenever a caller commits. A no-op when none is queued. Not
 * inside another transaction. OUT: *seq, the last entry's seq (may be
 * NULL). */
int gv_audit_commit(gv_audit *a, int64_t *seq, dt_error *err);
/* As gv_audit_commit, with the caller's own writes (a policy, a
 * principal) in the same transaction, so a change is never stored
 * without its entry or the reverse. A failing work rolls everything back. */
typedef int (*gv_work_fn)(void *ctx, dt_error *err);
int gv_audit_commit_with(gv_audit *a, gv_work_fn work, void *ctx, int64_t *seq, dt_error *err);
/* Signs a head at a commit only when the last was signed ms or more ago
 * (0, the default: at every commit); the commits between seal the log's
 * end instead (audit.c, invariant 1). For a log under load. */
void gv_audit_sign_every(gv_audit *a, int64_t ms);
/* 1 when the newest head this handle knows of covers the log it knows. */
int gv_audit_is_signed(const gv_audit *a);
/* Signs a head over the whole log, in a transaction of its own, unless
 * one already covers it (nothing queued; not inside a transaction). Not
 * may_wait: DT_EBUSY at once when another write holds the store. */
int gv_audit_sign(gv_audit *a, int may_wait, dt_error *err);
/* Forgets the queued entries (their request did not happen). */
void gv_audit_drop(gv_audit *a);
/* Entries queued and not yet committed. */
size_t gv_audit_pending(const gv_audit *a);

/* The subject an entry carries for a principal or policy row it wrote
 * (audit_bind.c), so verify holds the tables to the log. *out is
 * dt_malloc'd; DT_ENOMEM. */
int gv_bind_principal(const st_principal *p, char **out);
int gv_bind_policy(const st_policy_row *p, char **out);
/* The subject of the one entry that binds the rows of a store kept before
 * the log bound them (an upgrade): valid only before any other binding. */
#define GV_BIND_BASELINE "row,baseline"

/* What audit verify found: ok, or the first bad entry and why (first_bad
 * 0 when the log checks out but a table it binds does not). */
typedef struct gv_verdict {
    int ok;
    int64_t n_entries, n_heads, n_witness_heads;
    int64_t first_bad;          /* seq of the first bad entry, 0 when none */
    int64_t n_unsigned;         /* entries past the newest head, vouched for by the
                                   sealed end (audit.c, invariant 1) */
    char why[512];
} gv_verdict;

/* Checks the whole log, in one snapshot: seq order, each entry against
 * its leaf hash, each head's signature and root, and the entries past the
 * newest head against the sealed end (its MAC needs the key file); with a
 * witness file (NULL: none), each of its
 * heads too, which catches a truncated and re-signed log. */
int gv_audit_verify(st_store *st, const char *witness_path, gv_verdict *out, dt_error *err);

/* Writes every signed head and the public key as JSON lines into out (a
 * file the caller opened and commits or aborts), for a witness kept
 * elsewhere. OUT: *n_heads. */
int gv_audit_write_witness(st_store *st, util_out *out, int64_t *n_heads, dt_error *err);
/* JSON of the newest signed head ({size, time, root, signature, key}). */
int gv_audit_head_json(st_store *st, char **out, dt_error *err);
/* JSON of an inclusion proof of entry seq in the newest head. */
int gv_audit_prove(st_store *st, int64_t seq, char **out, dt_error *err);
/* JSON of a consistency proof from an earlier head (its JSON text) to the
 * newest; DT_EINPUT naming why when the old head is not a prefix. */
int gv_audit_consistency(st_store *st, const char *old_head_json, char **out, dt_error *err);

/* ---- disclosures ---------------------------------------------------------- */

typedef int (*gv_disclosure_fn)(void *ctx, const st_audit_entry *e, const char *subject);
/* Every allowed read that showed one of subjects, in seq order. */
int gv_disclosures(st_store *st, const char *const *subjects, size_t n, gv_disclosure_fn fn,
                   void *ctx, dt_error *err);

#endif
