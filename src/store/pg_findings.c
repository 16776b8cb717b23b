/*
 * pg_findings.c — the PostgreSQL backend's event rows and findings: the
 * twins of findings_sql.c's functions (pg_int.h), with the same results,
 * order of rows and errors.
 *
 * Invariants (findings_sql.c's, kept here):
 *   1. An event row's contents and a finding's evidence and step reasons
 *      are sealed (crypt.c) under the labels findings_sql.c binds them to
 *      (source and event id, finding id, finding id and step), so the
 *      server holds none in clear and a sealed value moved to another row
 *      does not open.
 *   2. A finding is never deleted and its steps are only appended: seq
 *      counts them from 1 with no gap, so a removed step shows.
 *   3. An event's id is the SQLite backend's INTEGER PRIMARY KEY, max + 1,
 *      taken under the write lock (pg_int.h, invariant 2): rows list in the
 *      order first stored, as there.
 */
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"

#define FINDING_COLS                                                                     \
    "id, rule, rule_version, model_version, state, confidence, sources, evidence, "      \
    "purpose, created, updated, notified_at, contest_days"

/* ---- events ---------------------------------------------------------------- */

/* The stored row of (source, event_id), opened: *id 0 and *row NULL when none. */
static int event_get(st_store *s, int64_t source, const char *event_id, int64_t *id, char **row,
                     dt_error *err)
{
    *id = 0;
    *row = NULL;
    pg_params p = {0};
    pg_param_i64(&p, source);
    pg_param_text(&p, event_id);
    PGresult *r = pg_run(s, "SELECT id, \"row\" FROM event WHERE source = $1::bigint AND "
                         "event_id = $2", &p, "reading an event", err);
    if (!r) return pg_failed(s);
    int rc = DT_OK;
    if (PQntuples(r) == 1) {
        *id = pg_i64(r, 0, 0);
        rc = sq_open_labelled(s, sq_event_label(source, event_id), pg_text(r, 0, 1), row, err);
    }
    PQclear(r);
    return rc;
}

static int event_add(st_store *s, int64_t source, const char *event_id, const char *sealed,
                     int64_t received, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, source);
    pg_param_text(&p, event_id);
    pg_param_text(&p, sealed);
    pg_param_i64(&p, received);
    return pg_do(s, "INSERT INTO event(id, source, event_id, \"row\", received) "
                 "SELECT coalesce(max(id), 0) + 1, $1::bigint, $2, $3, $4::bigint FROM event",
                 &p, "storing an event", err);
}

static int event_update(st_store *s, int64_t id, const char *sealed, int64_t received,
                        dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, id);
    pg_param_text(&p, sealed);
    pg_param_i64(&p, received);
    return pg_do(s, "UPDATE event SET \"row\" = $2, received = $3::bigint WHERE id = $1::bigint",
                 &p, "storing an event", err);
}

int pg_event_put(st_store *s, int64_t source, const char *event_id, const char *row,
                 int64_t received, st_put_result *result, dt_error *err)
{
    int64_t id;
    char *old = NULL, *sealed = NULL;
    DT_TRY(event_get(s, source, event_id, &id, &old, err));
    int same = old && strcmp(old, row) == 0;
    dt_free(old);
    *result = same ? ST_PUT_SAME : id ? ST_PUT_CHANGED : ST_PUT_NEW;
    if (same) return DT_OK; /* its arrival is not renewed, as in findings_sql.c */
    DT_TRY(sq_seal_labelled(s, sq_event_label(source, event_id), row, &sealed, err));
    int rc = id ? event_update(s, id, sealed, received, err)
                : event_add(s, source, event_id, sealed, received, err);
    dt_free(sealed);
    return rc;
}

int pg_events_each(st_store *s, const char *source, st_event_fn fn, void *ctx, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, source);
    PGresult *r = pg_run(s, "SELECT e.event_id, e.\"row\", e.source FROM event e "
                         "JOIN source s ON s.id = e.source WHERE s.name = $1 ORDER BY e.id", &p,
                         "reading events", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; out >= 0 && i < PQntuples(r); i++) {
        const char *event_id = pg_text(r, i, 0);
        char *row = NULL;
        out = sq_open_labelled(s, sq_event_label(pg_i64(r, i, 2), event_id), pg_text(r, i, 1), &row,
                            err);
        if (out == DT_OK) out = fn(ctx, event_id, row);
        dt_free(row);
    }
    PQclear(r);
    return out < 0 ? out : DT_OK;
}

int pg_events_oldest(st_store *s, const char *source, int64_t *oldest, int *any, dt_error *err)
{
    *oldest = 0;
    *any = 0;
    pg_params p = {0};
    pg_param_text(&p, source);
    PGresult *r = pg_run(s, "SELECT min(e.received) FROM event e JOIN source s ON s.id = e.source "
                         "WHERE s.name = $1", &p, "reading event arrival times", err);
    if (!r) return pg_failed(s);
    *any = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0); /* min() of no row is NULL */
    if (*any) *oldest = pg_i64(r, 0, 0);
    PQclear(r);
    return DT_OK;
}

int pg_events_erase(st_store *s, const char *source, int64_t cutoff, uint64_t *n, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, source);
    pg_param_i64(&p, cutoff);
    PGresult *r = pg_run(s, "DELETE FROM event WHERE received < $2::bigint AND "
                         "source = (SELECT id FROM source WHERE name = $1)", &p,
                         "erasing events past retention", err);
    if (!r) return pg_failed(s);
    *n = strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return DT_OK;
}

/* ---- findings ---------------------------------------------------------------- */

int pg_finding_put(st_store *s, const st_finding *f, dt_error *err)
{
    char *sealed = NULL;
    DT_TRY(sq_seal_labelled(s, sq_finding_label(f->purpose, f->id), f->evidence, &sealed, err));
    pg_params p = {0};
    pg_param_text(&p, f->id);
    pg_param_text(&p, f->rule);
    pg_param_i64(&p, f->rule_version);
    pg_param_i64(&p, f->model_version);
    pg_param_text(&p, f->state);
    pg_param_f64(&p, f->confidence);
    pg_param_i64(&p, (int64_t)f->sources);
    pg_param_text(&p, sealed);
    pg_param_text(&p, f->purpose);
    pg_param_i64(&p, f->created);
    pg_param_i64(&p, f->updated);
    pg_param_i64(&p, f->notified_at);
    pg_param_i64(&p, f->contest_days);
    /* every field replaced, as SQLite's INSERT OR REPLACE does */
    int rc = pg_do(s, "INSERT INTO finding(" FINDING_COLS ") VALUES($1, $2, $3::bigint, "
                   "$4::bigint, $5, $6::float8, $7::bigint, $8, $9, $10::bigint, $11::bigint, "
                   "$12::bigint, $13::bigint) ON CONFLICT(purpose, id) DO UPDATE SET "
                   "rule = excluded.rule, rule_version = excluded.rule_version, "
                   "model_version = excluded.model_version, state = excluded.state, "
                   "confidence = excluded.confidence, sources = excluded.sources, "
                   "evidence = excluded.evidence, created = excluded.created, "
                   "updated = excluded.updated, notified_at = excluded.notified_at, "
                   "contest_days = excluded.contest_days", &p, "storing a finding", err);
    dt_free(sealed);
    return rc;
}

static char *text_dup(const PGresult *r, int row, int col)
{
    const char *v = pg_text(r, row, col);
    return dt_strdup(v ? v : "");
}

/* The finding on row i of r (FINDING_COLS), its evidence opened. */
static int finding_row(st_store *s, const PGresult *r, int i, st_finding *f, dt_error *err)
{
    memset(f, 0, sizeof *f);
    f->id = text_dup(r, i, 0);
    f->rule = text_dup(r, i, 1);
    f->rule_version = (int)pg_i64(r, i, 2);
    f->model_version = pg_i64(r, i, 3);
    f->state = text_dup(r, i, 4);
    f->confidence = pg_f64(r, i, 5);
    f->sources = (uint64_t)pg_i64(r, i, 6);
    f->purpose = text_dup(r, i, 8);
    f->created = pg_i64(r, i, 9);
    f->updated = pg_i64(r, i, 10);
    f->notified_at = pg_i64(r, i, 11);
    f->contest_days = (int)pg_i64(r, i, 12);
    int rc = f->id && f->rule && f->state && f->purpose
                 ? DT_OK
                 : dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK)
        rc = sq_open_labelled(s, sq_finding_label(f->purpose, f->id), pg_text(r, i, 7),
                              &f->evidence, err);
    if (rc < 0) st_finding_free(f);
    return rc;
}

int pg_finding_get(st_store *s, const char *purpose, const char *id, st_finding *out,
                   dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, purpose);
    pg_param_text(&p, id);
    PGresult *r = pg_run(s, "SELECT " FINDING_COLS " FROM finding WHERE purpose = $1 AND id = $2",
                         &p, "reading a finding", err);
    if (!r) return pg_failed(s);
    int rc;
    if (PQntuples(r) == 1) {
        rc = finding_row(s, r, 0, out, err);
    } else {
        memset(out, 0, sizeof *out);
        rc = DT_ENOTFOUND; /* no message: store.h */
    }
    PQclear(r);
    return rc;
}

int pg_findings_each(st_store *s, const char *purpose, st_finding_fn fn, void *ctx,
                     dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, purpose);
    /* COLLATE "C": ordered by bytes, as SQLite orders text */
    PGresult *r = pg_run(s, "SELECT " FINDING_COLS " FROM finding WHERE purpose = $1 "
                         "ORDER BY id COLLATE \"C\"", &p, "reading findings", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; out >= 0 && i < PQntuples(r); i++) {
        st_finding f;
        out = finding_row(s, r, i, &f, err);
        if (out == DT_OK) out = fn(ctx, &f);
        st_finding_free(&f);
    }
    PQclear(r);
    return out < 0 ? out : DT_OK;
}

int pg_finding_step_add(st_store *s, const char *purpose, const char *finding,
                        st_finding_step *step, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, purpose);
    pg_param_text(&p, finding);
    DT_TRY(pg_one_i64(s, "SELECT coalesce(max(seq), 0) + 1 FROM finding_step "
                      "WHERE purpose = $1 AND finding = $2", &p, &step->seq,
                      "numbering a finding's step", err));
    char *sealed = NULL;
    DT_TRY(sq_seal_labelled(s, sq_step_label(purpose, finding, step->seq),
                         step->reason ? step->reason : "", &sealed, err));
    pg_param_i64(&p, step->seq);
    pg_param_text(&p, step->action);
    pg_param_text(&p, step->state);
    pg_param_text(&p, step->by);
    pg_param_text(&p, sealed);
    pg_param_i64(&p, step->at);
    int rc = pg_do(s, "INSERT INTO finding_step(purpose, finding, seq, action, state, \"by\", "
                   "reason, at) VALUES($1, $2, $3::bigint, $4, $5, $6, $7, $8::bigint)", &p,
                   "storing a finding's step", err);
    dt_free(sealed);
    return rc;
}

/* Calls fn with the step on row i of r, which must be step i + 1
 * (invariant 2). */
static int step_row(st_store *s, const PGresult *r, int i, const char *purpose,
                    const char *finding, st_step_fn fn, void *ctx, dt_error *err)
{
    st_finding_step step = {.seq = pg_i64(r, i, 0), .action = pg_text(r, i, 1),
                            .state = pg_text(r, i, 2), .by = pg_text(r, i, 3),
                            .at = pg_i64(r, i, 5)};
    if (step.seq != (int64_t)i + 1)
        return sq_damaged(s, "reading a finding's steps", "a step is missing", err);
    char *reason = NULL;
    int out = sq_open_labelled(s, sq_step_label(purpose, finding, step.seq), pg_text(r, i, 4),
                               &reason, err);
    step.reason = reason;
    if (out == DT_OK) out = fn(ctx, &step);
    dt_free(reason);
    return out;
}

int pg_finding_steps_each(st_store *s, const char *purpose, const char *finding, st_step_fn fn,
                          void *ctx, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, purpose);
    pg_param_text(&p, finding);
    PGresult *r = pg_run(s, "SELECT seq, action, state, \"by\", reason, at FROM finding_step "
                         "WHERE purpose = $1 AND finding = $2 ORDER BY seq", &p,
                         "reading a finding's steps", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; out >= 0 && i < PQntuples(r); i++)
        out = step_row(s, r, i, purpose, finding, fn, ctx, err);
    PQclear(r);
    return out < 0 ? out : DT_OK;
}
