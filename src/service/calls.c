/*
 * calls.c — the table of governed calls: every public store call is one
 * row, and req_begin (access.c) sets up, authorizes and logs a request
 * from its row alone, so no call has its own way in. The CLI checks its
 * store commands against this table (dt_calls, `dovetail calls`), and
 * the HTTP server will route from it.
 *
 * Invariants (svc_calls_check; its unit test runs it on this table and on
 * broken ones):
 *   1. Row i has id i: the enum and the table cannot drift apart.
 *   2. Action names are unique and read object.verb, lower case.
 *   3. Every row admits at least one role, and no reading row admits the
 *      admin (an admin manages, and reads no record).
 *   4. A row that names a source or a principal says what its audit entry
 *      calls it (subject kind).
 *   5. A row that may go on in a held snapshot (SVC_SNAPSHOT) writes
 *      nothing and logs last: it reads the data, never the log.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "service/service_int.h"

#define ROW(id_, action_, roles_, flags_, kind_, audit_, command_)                            \
    [SVC_##id_] = {SVC_##id_, action_, roles_, flags_, kind_, audit_, command_}

/* Subjects an entry names, besides the rows a read shows. */
#define SOURCE_SUBJECT "source"
#define POLICY_SUBJECT "policy"
#define PRINCIPAL_SUBJECT "principal"

const svc_call svc_calls[SVC_N_CALLS] = {
    ROW(STORE_INGEST, "store.ingest", R_STEWARD, SVC_WRITE | SVC_SOURCE | SVC_LOG_FIRST,
        SOURCE_SUBJECT, "the source; logged before the first batch, so a killed ingest is on the log",
        "ingest"),
    ROW(STORE_WITHDRAW, "store.withdraw", R_STEWARD, SVC_WRITE | SVC_SOURCE | SVC_LOG_FIRST,
        SOURCE_SUBJECT, "the source; logged before the work", "withdraw"),
    ROW(STORE_PURGE, "store.purge", R_ADMIN | R_STEWARD, SVC_WRITE, NULL,
        "every record erased, in the transaction that erases it", "purge"),
    ROW(MODEL_IMPORT, "model.import", R_ADMIN, SVC_WRITE | SVC_LOG_FIRST, NULL,
        "the call; logged before the work", "train --model"),
    ROW(MODEL_TRAIN, "model.train", R_ADMIN, SVC_WRITE | SVC_LOG_FIRST | SVC_VIEW, NULL,
        "the call and its purpose; logged before the work", "train"),
    ROW(ENTITY_EXPORT, "entity.export", R_READERS, SVC_VIEW | SVC_SNAPSHOT, NULL,
        "every record written and the columns shown", "export"),
    ROW(RECORD_RESOLVE, "record.resolve", R_READERS, SVC_VIEW | SVC_SOURCE | SVC_SNAPSHOT, NULL,
        "every candidate shown and the columns compared", "resolve"),
    ROW(ENTITY_GET, "entity.get", R_READERS, SVC_VIEW | SVC_SNAPSHOT, NULL,
        "every record shown and the columns shown", "entity"),
    ROW(PAIR_EXPLAIN, "pair.explain", R_READERS, SVC_VIEW | SVC_SNAPSHOT, NULL,
        "both records and the columns shown", "explain --store"),
    ROW(PRINCIPAL_ADD, "principal.add", R_ADMIN, SVC_WRITE | SVC_PRINCIPAL, PRINCIPAL_SUBJECT,
        "the principal and its row as written, in the transaction that adds it",
        "principal add"),
    ROW(PRINCIPAL_REVOKE, "principal.revoke", R_ADMIN, SVC_WRITE | SVC_PRINCIPAL,
        PRINCIPAL_SUBJECT, "the principal and its row as revoked, in the transaction that "
        "revokes it",
        "principal revoke"),
    ROW(PRINCIPAL_ROTATE, "principal.rotate", R_ADMIN, SVC_WRITE | SVC_PRINCIPAL,
        PRINCIPAL_SUBJECT, "the principal, its old and new rows, in the transaction that "
        "rotates its token", "principal rotate"),
    ROW(PRINCIPAL_LIST, "principal.list", R_ADMIN | R_AUDITOR, SVC_SNAPSHOT, NULL, "the call",
        "principal list"),
    ROW(POLICY_SET, "policy.set", R_STEWARD, SVC_WRITE | SVC_SOURCE, POLICY_SUBJECT,
        "the source's policy and its row as written, in the transaction that sets it",
        "policy set"),
    ROW(POLICY_GET, "policy.get", R_STEWARD | R_ADMIN | R_AUDITOR, SVC_SOURCE | SVC_SNAPSHOT, POLICY_SUBJECT,
        "the source's policy", "policy show"),
    ROW(AUDIT_VERIFY, "audit.verify", R_AUDITOR, SVC_LOG_OPTIONAL, NULL,
        "the call (when the log still takes entries)", "audit verify"),
    ROW(AUDIT_HEAD, "audit.head", R_AUDITOR, SVC_LOG_FIRST | SVC_SIGNS, NULL,
        "the call; logged first, so the head shown covers it", "audit head"),
    ROW(AUDIT_PROVE, "audit.prove", R_AUDITOR, SVC_LOG_FIRST | SVC_SIGNS, NULL,
        "the call; logged first", "audit prove"),
    ROW(AUDIT_CONSISTENCY, "audit.consistency", R_AUDITOR, SVC_LOG_FIRST | SVC_SIGNS, NULL,
        "the call; logged first", "audit consistency"),
    ROW(AUDIT_WITNESS, "audit.witness", R_AUDITOR, SVC_SIGNS, NULL,
        "the call, once the file is written aside: failed when it could not be, or not "
        "put in place", "audit witness"),
    ROW(AUDIT_DISCLOSURES, "audit.disclosures", R_AUDITOR, 0, NULL,
        "every record asked about", "disclosures"),
    /* findings (src/findings): rows here like every call, made through service.h */
    ROW(EVENT_INGEST, "event.ingest", R_STEWARD, SVC_WRITE | SVC_SOURCE | SVC_LOG_FIRST,
        SOURCE_SUBJECT, "the parent source (its steward ingests its events) and the event "
        "source; logged before the first batch", "ingest"),
    ROW(FINDING_RUN, "finding.run", R_ANALYST, SVC_WRITE | SVC_VIEW, NULL,
        "every finding made or superseded, in the transaction that stores them",
        "findings run"),
    ROW(FINDING_LIST, "finding.list", R_READERS, SVC_VIEW | SVC_SNAPSHOT, NULL, "every finding listed",
        "findings list"),
    ROW(FINDING_SHOW, "finding.show", R_READERS, SVC_VIEW | SVC_SNAPSHOT, NULL,
        "the finding, every record shown and the columns shown: what a verify or "
        "dismiss by the same person must follow", "findings show"),
    ROW(FINDING_VERIFY, "finding.verify", R_REVIEWER, SVC_WRITE | SVC_VIEW, NULL,
        "the finding, in the transaction that records the step", "findings verify"),
    ROW(FINDING_DISMISS, "finding.dismiss", R_REVIEWER, SVC_WRITE | SVC_VIEW, NULL,
        "the finding, in the transaction that records the step", "findings dismiss"),
    ROW(FINDING_NOTIFY, "finding.notify", R_ANALYST | R_REVIEWER, SVC_WRITE | SVC_VIEW, NULL,
        "the finding, in the transaction that records the notice", "findings notify"),
    ROW(FINDING_CONTEST, "finding.contest", R_ANALYST | R_REVIEWER, SVC_WRITE | SVC_VIEW, NULL,
        "the finding, in the transaction that records the contest", "findings contest"),
    ROW(FINDING_EXPORT, "finding.export", R_READERS, SVC_VIEW | SVC_SNAPSHOT, NULL,
        "every finding written and its records", "findings export"),
    ROW(REVIEW_DECIDE, "review.decide", R_REVIEWER, SVC_WRITE | SVC_VIEW, NULL,
        "both records, in the transaction that keeps the decision and changes the entities",
        "review decide"),
    ROW(REVIEW_QUEUE, "review.queue", R_REVIEWER, SVC_VIEW | SVC_SNAPSHOT, NULL,
        "every record listed, and the columns the probabilities read", "review queue"),
    ROW(STORE_REPORT, "store.report", R_READERS | R_AUDITOR, SVC_VIEW | SVC_SNAPSHOT,
        NULL, "the call: the report counts links and entities, and names no record", "report"),
    /* reads every row but opens none: an admin's */
    ROW(STORE_MIGRATE, "store.migrate", R_ADMIN, SVC_LOG_FIRST | SVC_SIGNS, NULL,
        "the store it is copied to (a URL without its password); logged, and a head signed "
        "over it, before the copy, so the copy's log holds both; a failed copy adds a second "
        "entry, failed", "migrate"),
};

const svc_call *svc_call_get(svc_call_id id)
{
    assert(id >= 0 && id < SVC_N_CALLS);
    assert(svc_calls[id].id == id);
    return &svc_calls[id];
}

/* 1 if s reads object.verb: lower-case words of a-z and '-', one dot. */
static int is_object_verb(const char *s)
{
    const char *dot = strchr(s, '.');
    if (!dot || dot == s || !dot[1] || strchr(dot + 1, '.')) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '-' || *p == '.')) return 0;
    return 1;
}

int svc_calls_check(const svc_call *table, size_t n, const char **why)
{
    for (size_t i = 0; i < n; i++) {
        const svc_call *c = &table[i];
        if (c->id != (svc_call_id)i || !c->action) return *why = "a row out of place", -1;
        if (!is_object_verb(c->action)) return *why = c->action, -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(table[j].action, c->action) == 0) return *why = c->action, -1;
        if (!c->roles) return *why = c->action, -1;
        if ((c->flags & SVC_VIEW) && (c->roles & R_ADMIN) && !(c->flags & SVC_WRITE))
            return *why = c->action, -1;
        if ((c->flags & (SVC_SOURCE | SVC_PRINCIPAL)) == (SVC_SOURCE | SVC_PRINCIPAL))
            return *why = c->action, -1;
        if ((c->flags & SVC_PRINCIPAL) && !c->subject_kind) return *why = c->action, -1;
        if (!c->audit || !c->command) return *why = c->action, -1;
        if ((c->flags & SVC_SNAPSHOT) && (c->flags & (SVC_WRITE | SVC_LOG_FIRST)))
            return *why = c->action, -1;
    }
    return 0;
}

/* ---- the public view of the table ---------------------------------------------- */

static const char *roles_text(unsigned roles, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int r = 0; r < GV_N_ROLES; r++) {
        if (!(roles >> r & 1)) continue;
        const char *name = gv_role_name((gv_role)r);
        int k = snprintf(buf + n, cap - n, "%s%s", n ? "," : "", name);
        if (k < 0 || (size_t)k >= cap - n) break;
        n += (size_t)k;
    }
    return buf;
}

static dt_call_info infos[SVC_N_CALLS];
static char infos_roles[SVC_N_CALLS][64];
static pthread_once_t infos_once = PTHREAD_ONCE_INIT;

static void fill_infos(void)
{
    for (int i = 0; i < SVC_N_CALLS; i++) {
        const svc_call *c = &svc_calls[i];
        infos[i] = (dt_call_info){
            .action = c->action,
            .roles = roles_text(c->roles, infos_roles[i], sizeof infos_roles[i]),
            .is_write = (c->flags & SVC_WRITE) != 0,
            .names_source = (c->flags & SVC_SOURCE) != 0,
            .audit = c->audit,
            .command = c->command,
        };
    }
}

const dt_call_info *dt_calls(size_t *n)
{
    pthread_once(&infos_once, fill_infos);
    if (n) *n = SVC_N_CALLS;
    return infos;
}
