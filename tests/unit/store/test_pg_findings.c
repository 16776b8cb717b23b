/* Unit tests for the PostgreSQL backend's events and findings
 * (src/store/pg_findings.c) against a real PostgreSQL 15 that
 * tests/pg-server starts for this binary on a Unix socket: events put new,
 * the same and changed, listed in the order first stored, their oldest
 * arrival and erasure before a cutoff; findings put, replaced and got,
 * listed per purpose by id in byte order, two purposes keeping their own
 * finding of one id; steps numbered from 1 and read back in order; every
 * sealed value absent in clear from the server, a value moved to another
 * row refused, a removed step reported as damage; what SQLite's
 * test_events_and_findings (test_store.c) checks, on this backend. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/pg_int.h"
#include "util/util.h"

#include "tmpdir.h"
#include "pg_server.h"


/* The one value sql returns, read as text straight from the server
 * (around the store), into out. */
static void server_value(const char *url, const char *sql, char *out, size_t n)
{
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    snprintf(out, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
}

static void assert_server_says(const char *url, const char *sql, const char *want)
{
    char got[256];
    server_value(url, sql, got, sizeof got);
    assert_string_equal(got, want);
}

typedef struct seen {
    int n, stop_at; /* stop_at: the callback fails at that row (0: never) */
    char rows[8][160];
} seen;

static int seen_add(seen *x, const char *row)
{
    if (x->n == 8) return DT_EINTERNAL;
    snprintf(x->rows[x->n++], sizeof x->rows[0], "%s", row);
    return x->n == x->stop_at ? DT_EINTERNAL : DT_OK;
}

static int on_event(void *ctx, const char *event_id, const char *row)
{
    char b[160];
    snprintf(b, sizeof b, "%s=%s", event_id, row);
    return seen_add(ctx, b);
}

static int on_finding(void *ctx, const st_finding *f)
{
    char b[160];
    snprintf(b, sizeof b, "%s:%s:%s", f->purpose, f->id, f->state);
    return seen_add(ctx, b);
}

static int on_step(void *ctx, const st_finding_step *step)
{
    seen *x = ctx;
    assert_int_equal(step->seq, x->n + 1);
    char b[160];
    snprintf(b, sizeof b, "%s:%s:%s@%lld", step->action, step->reason, step->by,
             (long long)step->at);
    return seen_add(ctx, b);
}

static st_put_result event_put(st_store *s, int64_t src, const char *id, const char *row,
                               int64_t received)
{
    dt_error err;
    dt_error_clear(&err);
    st_put_result r = (st_put_result)-1;
    assert_int_equal(pg_event_put(s, src, id, row, received, &r, &err), DT_OK);
    return r;
}

#define ROW_9 "{\"cents\":123456,\"key\":\"Quillon-9\"}"
#define ROW_9B "{\"cents\":7,\"key\":\"Quillon-9\"}"
#define ROW_1 "{\"cents\":8,\"key\":\"Quillon-9\"}"

/* New, same, changed; by first-stored order (P9 before P1), not by id
 * text; the same event id of another source its own row. */
static void put_events(st_store *s, int64_t pay, int64_t refunds)
{
    dt_error err;
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(event_put(s, pay, "P9", ROW_9, 5), ST_PUT_NEW);
    assert_int_equal(event_put(s, pay, "P9", ROW_9, 6), ST_PUT_SAME);
    assert_int_equal(event_put(s, pay, "P9", ROW_9B, 7), ST_PUT_CHANGED);
    assert_int_equal(event_put(s, pay, "P1", ROW_1, 9), ST_PUT_NEW);
    assert_int_equal(event_put(s, refunds, "P9", ROW_9, 3), ST_PUT_NEW);
    assert_int_equal(pg_commit(s, &err), DT_OK);
}

static void test_events(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    dt_error_clear(&err);
    int64_t pay, refunds;
    assert_int_equal(pg_source_id(s, "payments", &pay, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "refunds", &refunds, &err), DT_OK);
    put_events(s, pay, refunds);
    /* ids are max + 1, the changed row keeping its own */
    assert_server_says(url, "SELECT string_agg(id || ':' || event_id, ',' ORDER BY id) FROM event",
                       "1:P9,2:P1,3:P9");

    seen ev = {0};
    assert_int_equal(pg_events_each(s, "payments", on_event, &ev, &err), DT_OK);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.rows[0], "P9=" ROW_9B);
    assert_string_equal(ev.rows[1], "P1=" ROW_1);
    ev = (seen){.stop_at = 1}; /* the callback's error ends the walk */
    assert_int_equal(pg_events_each(s, "payments", on_event, &ev, &err), DT_EINTERNAL);
    assert_int_equal(ev.n, 1);
    ev = (seen){0};
    assert_int_equal(pg_events_each(s, "earnings", on_event, &ev, &err), DT_OK);
    assert_int_equal(ev.n, 0); /* never ingested: none, and nothing created */
    assert_server_says(url, "SELECT count(*) FROM source WHERE name = 'earnings'", "0");

    int64_t oldest = -1;
    int any = -1;
    assert_int_equal(pg_events_oldest(s, "payments", &oldest, &any, &err), DT_OK);
    assert_true(any);
    assert_int_equal(oldest, 7); /* the same row again did not renew it; the change did */
    assert_int_equal(pg_events_oldest(s, "earnings", &oldest, &any, &err), DT_OK);
    assert_false(any);
    assert_int_equal(oldest, 0);

    /* sealed: the server holds no amount, key or field name of the rows */
    assert_server_says(url, "SELECT count(*) FROM event WHERE position('Quillon' in \"row\") > 0 "
                            "OR position('123456' in \"row\") > 0 "
                            "OR position('cents' in \"row\") > 0", "0");

    uint64_t n = 99;
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_events_erase(s, "payments", 8, &n, &err), DT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(pg_events_erase(s, "earnings", 8, &n, &err), DT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    ev = (seen){0};
    assert_int_equal(pg_events_each(s, "payments", on_event, &ev, &err), DT_OK);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.rows[0], "P1=" ROW_1);
    assert_int_equal(pg_events_oldest(s, "payments", &oldest, &any, &err), DT_OK);
    assert_true(any);
    assert_int_equal(oldest, 9);
    ev = (seen){0}; /* the other source's row of the same id was not erased */
    assert_int_equal(pg_events_each(s, "refunds", on_event, &ev, &err), DT_OK);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.rows[0], "P9=" ROW_9);

    /* a row moved onto another source's does not open: it is bound to its own */
    server_do(url, "UPDATE event SET \"row\" = (SELECT \"row\" FROM event WHERE source = 2) "
                   "WHERE source = 1");
    ev = (seen){0};
    assert_int_equal(pg_events_each(s, "payments", on_event, &ev, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "does not open"));
    assert_int_equal(ev.n, 0);
    st_put_result r;
    assert_int_equal(pg_event_put(s, pay, "P1", ROW_1, 10, &r, &err), DT_EIO);
    pg_close(s);
}

#define ID_A "F00000000000000aa"
#define ID_B "F00000000000000AB" /* before ID_A in byte order, after it in most locales' */
#define EVIDENCE "{\"records\":[{\"source\":\"benefits\",\"record_id\":\"Zebulon-7\"}]}"

static st_finding finding_of(const char *purpose, const char *id, const char *state)
{
    return (st_finding){.id = (char *)id, .rule = "payment_after_death", .state = (char *)state,
                        .purpose = (char *)purpose, .evidence = EVIDENCE, .rule_version = 1,
                        .contest_days = 30, .model_version = 2, .created = 100, .updated = 100,
                        .notified_at = 0, .confidence = 0.97, .sources = 3};
}

static void put_finding(st_store *s, st_finding f)
{
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(pg_finding_put(s, &f, &err), DT_OK);
}

/* Every field of got is want's. */
static void assert_finding(const st_finding *got, const st_finding *want)
{
    assert_string_equal(got->id, want->id);
    assert_string_equal(got->rule, want->rule);
    assert_string_equal(got->state, want->state);
    assert_string_equal(got->purpose, want->purpose);
    assert_string_equal(got->evidence, want->evidence);
    assert_int_equal(got->rule_version, want->rule_version);
    assert_int_equal(got->contest_days, want->contest_days);
    assert_int_equal(got->model_version, want->model_version);
    assert_int_equal(got->created, want->created);
    assert_int_equal(got->updated, want->updated);
    assert_int_equal(got->notified_at, want->notified_at);
    assert_true(got->confidence == want->confidence);
    assert_true(got->sources == want->sources);
}

static void check_get(st_store *s, const st_finding *want)
{
    dt_error err;
    dt_error_clear(&err);
    st_finding got;
    assert_int_equal(pg_finding_get(s, want->purpose, want->id, &got, &err), DT_OK);
    assert_finding(&got, want);
    st_finding_free(&got);
}

static void test_findings(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    put_finding(s, finding_of("integrity", ID_A, "open"));
    put_finding(s, finding_of("audit", ID_A, "needs-review"));
    put_finding(s, finding_of("integrity", ID_B, "open"));
    assert_int_equal(pg_commit(s, &err), DT_OK);

    /* replaced, every field; the other purpose's finding of that id kept */
    st_finding a = finding_of("integrity", ID_A, "verified");
    a.rule = "payment_after_death_v2";
    a.rule_version = INT_MAX; /* rule_version and contest_days share a parameter */
    a.contest_days = INT_MIN;
    a.model_version = INT64_MAX;
    a.created = -1;
    a.updated = 200;
    a.notified_at = 150;
    a.confidence = 0.1 + 0.2;
    a.sources = UINT64_MAX - 4;
    a.evidence = "{\"records\":[],\"note\":\"Zebulon rechecked\"}";
    put_finding(s, a);
    check_get(s, &a);
    assert_server_says(url, "SELECT rule_version || ' ' || contest_days || ' ' || sources FROM "
                            "finding WHERE purpose = 'integrity' AND id = '" ID_A "'",
                       "2147483647 -2147483648 -5"); /* as SQLite holds them */
    st_finding b = finding_of("audit", ID_A, "needs-review");
    b.rule_version = -7;
    b.contest_days = 0;
    put_finding(s, b);
    check_get(s, &b);
    st_finding b2 = finding_of("integrity", ID_B, "open");
    check_get(s, &b2);

    st_finding got = {.id = "x"};
    dt_error_clear(&err);
    assert_int_equal(pg_finding_get(s, "other", ID_A, &got, &err), DT_ENOTFOUND);
    assert_string_equal(err.msg, ""); /* no message */
    assert_null(got.id);
    assert_int_equal(pg_finding_get(s, "integrity", "F-none", &got, &err), DT_ENOTFOUND);

    seen fs = {0};
    assert_int_equal(pg_findings_each(s, "integrity", on_finding, &fs, &err), DT_OK);
    assert_int_equal(fs.n, 2);
    assert_string_equal(fs.rows[0], "integrity:" ID_B ":open"); /* by id, in bytes */
    assert_string_equal(fs.rows[1], "integrity:" ID_A ":verified");
    fs = (seen){0};
    assert_int_equal(pg_findings_each(s, "audit", on_finding, &fs, &err), DT_OK);
    assert_int_equal(fs.n, 1);
    assert_string_equal(fs.rows[0], "audit:" ID_A ":needs-review");
    fs = (seen){.stop_at = 1};
    assert_int_equal(pg_findings_each(s, "integrity", on_finding, &fs, &err), DT_EINTERNAL);
    assert_int_equal(fs.n, 1);
    fs = (seen){0};
    assert_int_equal(pg_findings_each(s, "nobody", on_finding, &fs, &err), DT_OK);
    assert_int_equal(fs.n, 0);

    assert_server_says(url, "SELECT count(*) FROM finding WHERE position('Zebulon' in evidence) "
                            "> 0 OR position('records' in evidence) > 0", "0");
    /* one purpose's evidence moved onto the other's row does not open */
    server_do(url, "UPDATE finding SET evidence = (SELECT evidence FROM finding WHERE "
                   "purpose = 'integrity' AND id = '" ID_A "') WHERE purpose = 'audit'");
    assert_int_equal(pg_finding_get(s, "audit", ID_A, &got, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "does not open"));
    fs = (seen){0};
    assert_int_equal(pg_findings_each(s, "audit", on_finding, &fs, &err), DT_EIO);
    assert_int_equal(fs.n, 0);
    pg_close(s);
}

static void add_step(st_store *s, const char *purpose, st_finding_step *step, int64_t want_seq)
{
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(pg_finding_step_add(s, purpose, ID_A, step, &err), DT_OK);
    assert_int_equal(step->seq, want_seq);
}

static void test_steps(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    put_finding(s, finding_of("integrity", ID_A, "open"));
    put_finding(s, finding_of("audit", ID_A, "needs-review"));
    st_finding_step s1 = {.at = 101, .action = "verify", .state = "verified", .by = "rev",
                          .reason = "Zebulon's payments confirmed"};
    st_finding_step s2 = {.at = 102, .action = "notify", .state = "notified", .by = "ana",
                          .reason = NULL};
    st_finding_step s3 = {.at = 103, .action = "close", .state = "closed", .by = "rev",
                          .reason = "Quenby agreed"};
    add_step(s, "integrity", &s1, 1);
    add_step(s, "integrity", &s2, 2);
    add_step(s, "audit", &s3, 1); /* each purpose its own history */
    assert_int_equal(pg_commit(s, &err), DT_OK);
    /* a step rolled back gives its number again */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    add_step(s, "integrity", &s3, 3);
    pg_rollback(s);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    add_step(s, "integrity", &s3, 3);
    assert_int_equal(pg_commit(s, &err), DT_OK);

    seen st = {0};
    assert_int_equal(pg_finding_steps_each(s, "integrity", ID_A, on_step, &st, &err), DT_OK);
    assert_int_equal(st.n, 3);
    assert_string_equal(st.rows[0], "verify:Zebulon's payments confirmed:rev@101");
    assert_string_equal(st.rows[1], "notify::ana@102"); /* no reason: "" */
    assert_string_equal(st.rows[2], "close:Quenby agreed:rev@103");
    st = (seen){0};
    assert_int_equal(pg_finding_steps_each(s, "audit", ID_A, on_step, &st, &err), DT_OK);
    assert_int_equal(st.n, 1);
    assert_string_equal(st.rows[0], "close:Quenby agreed:rev@103");
    st = (seen){0};
    assert_int_equal(pg_finding_steps_each(s, "other", ID_A, on_step, &st, &err), DT_OK);
    assert_int_equal(st.n, 0);
    st = (seen){.stop_at = 2};
    assert_int_equal(pg_finding_steps_each(s, "integrity", ID_A, on_step, &st, &err),
                     DT_EINTERNAL);
    assert_int_equal(st.n, 2);
    /* a step of no stored finding is refused (the foreign key) */
    st_finding_step lone = {.at = 1, .action = "a", .state = "b", .by = "c", .reason = "d"};
    assert_int_equal(pg_finding_step_add(s, "integrity", "F-none", &lone, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "storing a finding's step"));

    assert_server_says(url, "SELECT count(*) FROM finding_step WHERE position('Zebulon' in reason)"
                            " > 0 OR position('Quenby' in reason) > 0", "0");
    /* a removed step is damage, named; the steps before it were read */
    server_do(url, "DELETE FROM finding_step WHERE purpose = 'integrity' AND seq = 2");
    st = (seen){0};
    assert_int_equal(pg_finding_steps_each(s, "integrity", ID_A, on_step, &st, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "a step is missing"));
    assert_int_equal(st.n, 1);
    /* a reason moved to another step does not open */
    server_do(url, "UPDATE finding_step SET reason = (SELECT reason FROM finding_step WHERE "
                   "purpose = 'integrity' AND seq = 1) WHERE purpose = 'audit'");
    st = (seen){0};
    assert_int_equal(pg_finding_steps_each(s, "audit", ID_A, on_step, &st, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "does not open"));
    pg_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_findings),
        cmocka_unit_test(test_steps),
    };
    return cmocka_run_group_tests(tests, pg_setup, pg_teardown);
}
