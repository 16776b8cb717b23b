/* many_records.h — one check of store.h's batch forms (st_records_norm,
 * st_links_of_records, ...), run on each backend (test_store.c on SQLite,
 * test_pg_links.c on PostgreSQL): each must give what its one-record twin
 * gives, record by record, in the order given, repeats included, over
 * more than PG_BATCH records (two statements on PostgreSQL). Included by
 * one test file per binary, after cmocka.h; the store it is handed is
 * empty. */
#ifndef DT_TEST_MANY_RECORDS_H
#define DT_TEST_MANY_RECORDS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/pg_int.h"
#include "util/util.h"

/* What the callbacks of one walk saw, a line each. */
typedef struct lines {
    util_buf b;
    int n, stop_at; /* stop_at: the call that returns -13 (0: none) */
} lines;

static int line(lines *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int line(lines *x, const char *fmt, ...)
{
    char text[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    util_buf_printf(&x->b, "%s\n", text);
    return ++x->n == x->stop_at ? -13 : DT_OK;
}

/* Asserts the two walks saw the same, then empties both. */
static void same_lines(lines *got, lines *want)
{
    assert_string_equal(got->b.data ? got->b.data : "", want->b.data ? want->b.data : "");
    util_buf_fini(&got->b);
    util_buf_fini(&want->b);
    *got = (lines){0};
    *want = (lines){0};
}

static int at_link(void *ctx, size_t i, int64_t other, double p)
{
    return line(ctx, "%zu %lld %.17g", i, (long long)other, p);
}

static int at_decision(void *ctx, size_t i, int64_t other, int same)
{
    return line(ctx, "%zu %lld %d", i, (long long)other, same);
}

static int at_entity(void *ctx, size_t i, const char *entity)
{
    return line(ctx, "%zu [%s]", i, entity);
}

static int at_id(void *ctx, size_t i, int64_t id)
{
    return line(ctx, "%zu %lld", i, (long long)id);
}

static int at_record(void *ctx, size_t i, const st_record *r)
{
    return line(ctx, "%zu %lld %s:%s %s [%s] v%lld w%d e=%s", i, (long long)r->id, r->source,
                r->record_id, r->norm, r->raw, (long long)r->version, r->is_withdrawn, r->entity);
}

/* The one-record twins, called record by record into the same lines. */
typedef struct twin {
    lines *x;
    size_t i;
} twin;

static int one_link(void *ctx, int64_t other, double p)
{
    twin *t = ctx;
    return at_link(t->x, t->i, other, p);
}

static int one_decision(void *ctx, int64_t other, int same)
{
    twin *t = ctx;
    return at_decision(t->x, t->i, other, same);
}

static int one_id(void *ctx, int64_t id)
{
    twin *t = ctx;
    return at_id(t->x, t->i, id);
}

/* Six records (OUT: r[1..6]) with links, decisions and entities (names
 * with a quote and a backslash); then each batch form against its twins;
 * a missing record is DT_ENOTFOUND after those before it, a callback's
 * negative return stops a walk. Last, one transaction drops the links of
 * r1 and r6 (r1 named twice) and adds the events "split E0", then "new
 * E\"q\\" and "merge E1 E2" (cause "ingest"): the caller checks them. */
static void many_records_check(st_store *s, int64_t r[7])
{
    dt_error err;
    int64_t a, b;
    assert_int_equal(st_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(st_source_id(s, "B", &b, &err), DT_OK);
    assert_int_equal(st_begin(s, &err), DT_OK);
    for (int k = 1; k <= 6; k++) {
        char id[16], norm[32];
        snprintf(id, sizeof id, "k%d", k);
        snprintf(norm, sizeof norm, "{\"n\":%d}", k);
        st_put_result pr;
        assert_int_equal(st_record_put(s, k % 2 ? a : b, id, "{}", norm, 1000, &pr, &r[k], &err),
                         DT_OK);
    }
    st_link_row links[5] = {{r[1], r[2], 0, 2.5, 0.9}, {r[3], r[1], 1, 0.1, 0.4},
                            {r[2], r[4], 0, 1.5, 0.8}, {r[5], r[1], 2, 3.5, 0.95},
                            {r[6], r[3], 0, 4.5, 0.99}};
    assert_int_equal(st_links_put(s, links, 5, &err), DT_OK);
    assert_int_equal(st_decision_put(s, r[4], r[1], 0, "rev", 1, "n", &err), DT_OK);
    assert_int_equal(st_decision_put(s, r[2], r[6], 1, "rev", 1, "n", &err), DT_OK);
    int64_t with[4] = {r[1], r[2], r[3], r[5]};
    const char *names[4] = {"E1", "E1", "E\"q\\", "E1"};
    assert_int_equal(st_entities_set(s, with, names, 4, &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
    size_t n = PG_BATCH + 7;
    int64_t *ids = malloc(n * sizeof *ids);
    assert_non_null(ids);
    for (size_t k = 0; k < n; k++) ids[k] = r[1 + (k * 5) % 6];
    lines got = {0}, want = {0};
    assert_int_equal(st_links_of_records(s, ids, n, 0.5, at_link, &got, &err), DT_OK);
    for (size_t k = 0; k < n; k++) {
        twin t = {&want, k};
        assert_int_equal(st_links_of(s, ids[k], 0.5, one_link, &t, &err), DT_OK);
    }
    assert_true(want.n > (int)n);
    same_lines(&got, &want);
    assert_int_equal(st_decisions_of_records(s, ids, n, at_decision, &got, &err), DT_OK);
    for (size_t k = 0; k < n; k++) {
        twin t = {&want, k};
        assert_int_equal(st_decisions_of(s, ids[k], one_decision, &t, &err), DT_OK);
    }
    assert_true(want.n > 0);
    same_lines(&got, &want);
    assert_int_equal(st_entities_of(s, ids, n, at_entity, &got, &err), DT_OK);
    for (size_t k = 0; k < n; k++) {
        char *e = NULL;
        assert_int_equal(st_entity_of(s, ids[k], &e, &err), DT_OK);
        at_entity(&want, k, e);
        dt_free(e);
    }
    assert_int_equal(got.n, (int)n);
    same_lines(&got, &want);
    assert_int_equal(st_records_norm(s, ids, n, at_record, &got, &err), DT_OK);
    for (size_t k = 0; k < n; k++) {
        st_record one;
        assert_int_equal(st_record_norm(s, ids[k], &one, &err), DT_OK);
        one.id = ids[k];
        at_record(&want, k, &one);
        st_record_free(&one);
    }
    same_lines(&got, &want);
    /* one entity absent, one asked twice */
    const char *ents[4] = {"E1", "E\"q\\", "none", "E1"};
    assert_int_equal(st_entities_members(s, ents, 4, at_id, &got, &err), DT_OK);
    for (size_t k = 0; k < 4; k++) {
        twin t = {&want, k};
        assert_int_equal(st_entity_members(s, ents[k], one_id, &t, &err), DT_OK);
    }
    assert_int_equal(got.n, 7);
    same_lines(&got, &want);
    int64_t gap[4] = {r[1], r[2], 999, r[3]};
    assert_int_equal(st_records_norm(s, gap, 4, at_record, &got, &err), DT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no record 999"));
    assert_int_equal(got.n, 2);
    util_buf_fini(&got.b);
    got = (lines){.stop_at = 2};
    assert_int_equal(st_links_of_records(s, ids, n, 0.5, at_link, &got, &err), -13);
    assert_int_equal(got.n, 2);
    util_buf_fini(&got.b);
    free(ids);
    int64_t drop[3] = {r[1], r[6], r[1]};
    st_event_row ev[2] = {{"new", "E\"q\\", "", "ingest"}, {"merge", "E1", "E2", "ingest"}};
    assert_int_equal(st_begin(s, &err), DT_OK);
    assert_int_equal(st_links_drop_records(s, drop, 3, &err), DT_OK);
    assert_int_equal(st_entity_event(s, "split", "E0", "", "x", &err), DT_OK);
    assert_int_equal(st_entity_events(s, ev, 2, &err), DT_OK);
    assert_int_equal(st_entity_events(s, ev, 0, &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
}

#endif
