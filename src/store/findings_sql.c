/*
 * findings_sql.c — the SQLite backend's event rows and findings (store.h,
 * "events and findings"): what src/findings keeps in the store.
 *
 * Invariants:
 *   1. An event row's contents and a finding's evidence and step reasons
 *      are sealed (crypt.c), each bound to its own key (source and event
 *      id, finding id, finding id and step), so a copy of the store
 *      without its key file shows no payment, date or reason, and a
 *      sealed value moved to another row does not open.
 *   2. A finding is never deleted and its steps are only appended: seq
 *      counts them from 1 with no gap, so a removed step shows.
 *   3. Every statement is prepared once at open and bound.
 */
#include <stdio.h>
#include <string.h>

#include "store/pg_int.h"

enum fnd_stmt {
    F_EVENT_GET, F_EVENT_ADD, F_EVENT_UPDATE, F_EVENTS_EACH, F_FINDING_PUT, F_FINDING_GET,
    F_FINDINGS_EACH, F_STEP_NEXT, F_STEP_ADD, F_STEPS_EACH, F_EVENT_OLDEST, F_EVENT_ERASE, N_FND
};
_Static_assert((int)N_FND <= (int)SQ_MAX_FND_STMTS, "raise SQ_MAX_FND_STMTS");

#define FINDING_COLS                                                                     \
    "id, rule, rule_version, model_version, state, confidence, sources, evidence, "      \
    "purpose, created, updated, notified_at, contest_days"

static const char *const FND_SQL[N_FND] = {
    [F_EVENT_GET] = "SELECT id, row FROM event WHERE source = ?1 AND event_id = ?2",
    [F_EVENT_ADD] = "INSERT INTO event(source, event_id, row, received) VALUES(?1, ?2, ?3, ?4)",
    [F_EVENT_UPDATE] = "UPDATE event SET row = ?2, received = ?3 WHERE id = ?1",
    [F_EVENTS_EACH] = "SELECT e.event_id, e.row, e.source FROM event e "
                      "JOIN source s ON s.id = e.source WHERE s.name = ?1 ORDER BY e.id",
    [F_EVENT_OLDEST] = "SELECT min(e.received) FROM event e JOIN source s ON s.id = e.source "
                       "WHERE s.name = ?1",
    [F_EVENT_ERASE] = "DELETE FROM event WHERE received < ?2 AND "
                      "source = (SELECT id FROM source WHERE name = ?1)",
    [F_FINDING_PUT] = "INSERT OR REPLACE INTO finding(" FINDING_COLS ") "
                      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [F_FINDING_GET] = "SELECT " FINDING_COLS " FROM finding WHERE purpose = ?2 AND id = ?1",
    [F_FINDINGS_EACH] = "SELECT " FINDING_COLS " FROM finding WHERE purpose = ?1 ORDER BY id",
    [F_STEP_NEXT] = "SELECT coalesce(max(seq), 0) + 1 FROM finding_step "
                    "WHERE purpose = ?2 AND finding = ?1",
    [F_STEP_ADD] = "INSERT INTO finding_step(finding, seq, action, state, by, reason, at, purpose) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [F_STEPS_EACH] = "SELECT seq, action, state, by, reason, at FROM finding_step "
                     "WHERE purpose = ?2 AND finding = ?1 ORDER BY seq",
};

int sq_prepare_findings(st_store *s, dt_error *err)
{
    for (int i = 0; i < N_FND; i++) {
        int rc = sqlite3_prepare_v3(s->db, FND_SQL[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->fnd[i], NULL);
        if (rc != SQLITE_OK) return sq_fail(s, rc, "opening the store", err);
    }
    return DT_OK;
}

void sq_finalize_findings(st_store *s)
{
    for (int i = 0; i < N_FND; i++) sqlite3_finalize(s->fnd[i]);
}

static sqlite3_stmt *fnd(st_store *s, enum fnd_stmt id)
{
    sqlite3_stmt *st = s->fnd[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* ---- events ---------------------------------------------------------------- */

char *sq_event_label(int64_t source, const char *event_id)
{
    return dt_asprintf("event %lld:%s", (long long)source, event_id);
}

int sq_seal_labelled(st_store *s, char *label, const char *plain, char **out, dt_error *err)
{
    int rc = label ? st_seal_text(s, label, plain, out, err)
                   : dt_err_set(err, DT_ENOMEM, "out of memory");
    dt_free(label);
    return rc;
}

int sq_open_labelled(st_store *s, char *label, const char *sealed, char **out, dt_error *err)
{
    int rc = label ? st_open_text(s, label, sealed ? sealed : "", out, err)
                   : dt_err_set(err, DT_ENOMEM, "out of memory");
    dt_free(label);
    return rc;
}

/* The stored row of (source, event_id), opened: *id 0 and *row NULL when none. */
static int event_get(st_store *s, int64_t source, const char *event_id, int64_t *id, char **row,
                     dt_error *err)
{
    sqlite3_stmt *st = fnd(s, F_EVENT_GET);
    sqlite3_bind_int64(st, 1, source);
    sq_bind_text(st, 2, event_id);
    *id = 0;
    *row = NULL;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return sqlite3_reset(st), DT_OK;
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return sq_fail(s, rc, "reading an event", err);
    }
    *id = sqlite3_column_int64(st, 0);
    char *sealed = dt_strdup((const char *)sqlite3_column_text(st, 1));
    sqlite3_reset(st);
    if (!sealed) return dt_err_set(err, DT_ENOMEM, "out of memory");
    rc = sq_open_labelled(s, sq_event_label(source, event_id), sealed, row, err);
    dt_free(sealed);
    return rc;
}

int st_event_put(st_store *s, int64_t source, const char *event_id, const char *row,
                 int64_t received, st_put_result *result, dt_error *err)
{
    if (s->pg) return pg_event_put(s, source, event_id, row, received, result, err);
    int64_t id;
    char *old = NULL, *sealed = NULL;
    DT_TRY(event_get(s, source, event_id, &id, &old, err));
    int same = old && strcmp(old, row) == 0;
    dt_free(old);
    *result = same ? ST_PUT_SAME : id ? ST_PUT_CHANGED : ST_PUT_NEW;
    if (same) return DT_OK;
    DT_TRY(sq_seal_labelled(s, sq_event_label(source, event_id), row, &sealed, err));
    sqlite3_stmt *st = fnd(s, id ? F_EVENT_UPDATE : F_EVENT_ADD);
    if (id) {
        sqlite3_bind_int64(st, 1, id);
        sq_bind_text(st, 2, sealed);
        sqlite3_bind_int64(st, 3, received);
    } else {
        sqlite3_bind_int64(st, 1, source);
        sq_bind_text(st, 2, event_id);
        sq_bind_text(st, 3, sealed);
        sqlite3_bind_int64(st, 4, received);
    }
    int rc = sq_step_done(s, st, "storing an event", err);
    dt_free(sealed);
    return rc;
}

int st_events_each(st_store *s, const char *source, st_event_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_events_each(s, source, fn, ctx, err);
    sqlite3_stmt *st = fnd(s, F_EVENTS_EACH);
    sq_bind_text(st, 1, source);
    int rc, out = DT_OK;
    while (out >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *event_id = (const char *)sqlite3_column_text(st, 0);
        char *row = NULL;
        out = sq_open_labelled(s, sq_event_label(sqlite3_column_int64(st, 2), event_id),
                            (const char *)sqlite3_column_text(st, 1), &row, err);
        if (out == DT_OK) out = fn(ctx, event_id, row);
        dt_free(row);
    }
    return sq_walk_end(s, st, out < 0 ? SQLITE_DONE : rc, out, "reading events", err);
}

int st_events_oldest(st_store *s, const char *source, int64_t *oldest, int *any, dt_error *err)
{
    if (s->pg) return pg_events_oldest(s, source, oldest, any, err);
    sqlite3_stmt *st = fnd(s, F_EVENT_OLDEST);
    sq_bind_text(st, 1, source);
    int rc = sqlite3_step(st);
    *any = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    *oldest = *any ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? DT_OK : sq_fail(s, rc, "reading event arrival times", err);
}

int st_events_erase(st_store *s, const char *source, int64_t cutoff, uint64_t *n, dt_error *err)
{
    if (s->pg) return pg_events_erase(s, source, cutoff, n, err);
    sqlite3_stmt *st = fnd(s, F_EVENT_ERASE);
    sq_bind_text(st, 1, source);
    sqlite3_bind_int64(st, 2, cutoff);
    DT_TRY(sq_step_done(s, st, "erasing events past retention", err));
    *n = (uint64_t)sqlite3_changes(s->db);
    return DT_OK;
}

/* ---- findings ---------------------------------------------------------------- */

char *sq_finding_label(const char *purpose, const char *id)
{
    return dt_asprintf("finding %s/%s", purpose, id);
}

int st_finding_put(st_store *s, const st_finding *f, dt_error *err)
{
    if (s->pg) return pg_finding_put(s, f, err);
    char *sealed = NULL;
    DT_TRY(sq_seal_labelled(s, sq_finding_label(f->purpose, f->id), f->evidence, &sealed, err));
    sqlite3_stmt *st = fnd(s, F_FINDING_PUT);
    sq_bind_text(st, 1, f->id);
    sq_bind_text(st, 2, f->rule);
    sqlite3_bind_int(st, 3, f->rule_version);
    sqlite3_bind_int64(st, 4, f->model_version);
    sq_bind_text(st, 5, f->state);
    sqlite3_bind_double(st, 6, f->confidence);
    sqlite3_bind_int64(st, 7, (int64_t)f->sources);
    sq_bind_text(st, 8, sealed);
    sq_bind_text(st, 9, f->purpose);
    sqlite3_bind_int64(st, 10, f->created);
    sqlite3_bind_int64(st, 11, f->updated);
    sqlite3_bind_int64(st, 12, f->notified_at);
    sqlite3_bind_int(st, 13, f->contest_days);
    int rc = sq_step_done(s, st, "storing a finding", err);
    dt_free(sealed);
    return rc;
}

void st_finding_free(st_finding *f)
{
    dt_free(f->id);
    dt_free(f->rule);
    dt_free(f->state);
    dt_free(f->purpose);
    dt_free(f->evidence);
    memset(f, 0, sizeof *f);
}

/* The finding on st's row (FINDING_COLS), its evidence opened. */
static int finding_row(st_store *s, sqlite3_stmt *st, st_finding *f, dt_error *err)
{
    memset(f, 0, sizeof *f);
    f->id = sq_col_dup(st, 0);
    f->rule = sq_col_dup(st, 1);
    f->rule_version = sqlite3_column_int(st, 2);
    f->model_version = sqlite3_column_int64(st, 3);
    f->state = sq_col_dup(st, 4);
    f->confidence = sqlite3_column_double(st, 5);
    f->sources = (uint64_t)sqlite3_column_int64(st, 6);
    f->purpose = sq_col_dup(st, 8);
    f->created = sqlite3_column_int64(st, 9);
    f->updated = sqlite3_column_int64(st, 10);
    f->notified_at = sqlite3_column_int64(st, 11);
    f->contest_days = sqlite3_column_int(st, 12);
    int rc = f->id && f->rule && f->state && f->purpose ? DT_OK
                                                        : dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK)
        rc = sq_open_labelled(s, sq_finding_label(f->purpose, f->id),
                              (const char *)sqlite3_column_text(st, 7), &f->evidence, err);
    if (rc < 0) st_finding_free(f);
    return rc;
}

int st_finding_get(st_store *s, const char *purpose, const char *id, st_finding *out,
                   dt_error *err)
{
    if (s->pg) return pg_finding_get(s, purpose, id, out, err);
    sqlite3_stmt *st = fnd(s, F_FINDING_GET);
    sq_bind_text(st, 1, id);
    sq_bind_text(st, 2, purpose);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        memset(out, 0, sizeof *out);
        return DT_ENOTFOUND;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return sq_fail(s, rc, "reading a finding", err);
    }
    rc = finding_row(s, st, out, err);
    sqlite3_reset(st);
    return rc;
}

int st_findings_each(st_store *s, const char *purpose, st_finding_fn fn, void *ctx,
                     dt_error *err)
{
    if (s->pg) return pg_findings_each(s, purpose, fn, ctx, err);
    sqlite3_stmt *st = fnd(s, F_FINDINGS_EACH);
    sq_bind_text(st, 1, purpose);
    int rc, out = DT_OK;
    while (out >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        st_finding f;
        out = finding_row(s, st, &f, err);
        if (out == DT_OK) out = fn(ctx, &f);
        st_finding_free(&f);
    }
    return sq_walk_end(s, st, out < 0 ? SQLITE_DONE : rc, out, "reading findings", err);
}

char *sq_step_label(const char *purpose, const char *finding, int64_t seq)
{
    return dt_asprintf("finding %s/%s step %lld", purpose, finding, (long long)seq);
}

int st_finding_step_add(st_store *s, const char *purpose, const char *finding,
                        st_finding_step *step, dt_error *err)
{
    if (s->pg) return pg_finding_step_add(s, purpose, finding, step, err);
    sqlite3_stmt *st = fnd(s, F_STEP_NEXT);
    sq_bind_text(st, 1, finding);
    sq_bind_text(st, 2, purpose);
    DT_TRY(sq_one_int(s, st, &step->seq, "numbering a finding's step", err));
    char *sealed = NULL;
    DT_TRY(sq_seal_labelled(s, sq_step_label(purpose, finding, step->seq),
                            step->reason ? step->reason : "", &sealed, err));
    st = fnd(s, F_STEP_ADD);
    sq_bind_text(st, 1, finding);
    sqlite3_bind_int64(st, 2, step->seq);
    sq_bind_text(st, 3, step->action);
    sq_bind_text(st, 4, step->state);
    sq_bind_text(st, 5, step->by);
    sq_bind_text(st, 6, sealed);
    sqlite3_bind_int64(st, 7, step->at);
    sq_bind_text(st, 8, purpose);
    int rc = sq_step_done(s, st, "storing a finding's step", err);
    dt_free(sealed);
    return rc;
}

int st_finding_steps_each(st_store *s, const char *purpose, const char *finding, st_step_fn fn,
                          void *ctx, dt_error *err)
{
    if (s->pg) return pg_finding_steps_each(s, purpose, finding, fn, ctx, err);
    sqlite3_stmt *st = fnd(s, F_STEPS_EACH);
    sq_bind_text(st, 1, finding);
    sq_bind_text(st, 2, purpose);
    int rc, out = DT_OK;
    int64_t expect = 1;
    while (out >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        st_finding_step step = {.seq = sqlite3_column_int64(st, 0),
                                .action = (const char *)sqlite3_column_text(st, 1),
                                .state = (const char *)sqlite3_column_text(st, 2),
                                .by = (const char *)sqlite3_column_text(st, 3),
                                .at = sqlite3_column_int64(st, 5)};
        if (step.seq != expect++) { /* invariant 2 */
            sqlite3_reset(st);
            return sq_damaged(s, "reading a finding's steps", "a step is missing", err);
        }
        char *reason = NULL;
        out = sq_open_labelled(s, sq_step_label(purpose, finding, step.seq),
                            (const char *)sqlite3_column_text(st, 4), &reason, err);
        step.reason = reason;
        if (out == DT_OK) out = fn(ctx, &step);
        dt_free(reason);
    }
    return sq_walk_end(s, st, out < 0 ? SQLITE_DONE : rc, out, "reading a finding's steps", err);
}
