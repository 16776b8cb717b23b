/* Unit tests for the PostgreSQL backend's links, decisions and entities
 * (src/store/pg_links.c) against a real PostgreSQL 15 that
 * tests/pg-server starts for this binary on a Unix socket: links stored
 * once per pair and replaced, read by record (both ends, in SQLite's
 * order), in (a, b) order and with their sources, dropped and cleared;
 * the bulk indexes dropped and built inside a transaction; the review
 * band; decisions and their keys; record sources; entities, their
 * members, sizes and events, and a withdrawn member reported as damage;
 * normalized reads, active ids and the model version; the batch forms
 * resolution reads and writes many records with, against their
 * one-record twins. */
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
#include "many_records.h"


/* Puts a record (inside the caller's transaction); its store id. */
static int64_t rec(st_store *s, int64_t src, const char *id, const char *norm)
{
    dt_error err;
    dt_error_clear(&err);
    st_put_result r;
    int64_t out = 0;
    assert_int_equal(pg_record_put(s, src, id, "{\"raw\":1}", norm, 1000, &r, &out, &err), DT_OK);
    assert_int_equal(r, ST_PUT_NEW);
    return out;
}

static void withdraw(st_store *s, int64_t src, const char *id)
{
    dt_error err;
    int found = 0;
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_record_withdraw(s, src, id, &found, &err), DT_OK);
    assert_int_equal(found, 1);
    assert_int_equal(pg_commit(s, &err), DT_OK);
}

/* The one text value sql returns, through the store's own connection
 * (so inside its transaction), into out. */
static void one_text(st_store *s, const char *sql, char *out, size_t n)
{
    PGresult *r = PQexec((PGconn *)s->pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    snprintf(out, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* What a walk's callbacks saw; the walk stops with `ret` at call `stop_at`
 * (0: never). */
typedef struct seen {
    int64_t a[16], b[16], c[16];
    double p[16];
    char text[16][64];
    int n, stop_at, ret;
} seen;

static int next(seen *x)
{
    x->n++;
    return x->n == x->stop_at ? x->ret : DT_OK;
}

static int on_link(void *ctx, int64_t other, double p)
{
    seen *x = ctx;
    x->a[x->n] = other;
    x->p[x->n] = p;
    return next(x);
}

static int on_pair(void *ctx, int64_t a, int64_t b, double p)
{
    seen *x = ctx;
    x->a[x->n] = a;
    x->b[x->n] = b;
    x->p[x->n] = p;
    return next(x);
}

static int on_link_src(void *ctx, int64_t other, double p, int64_t other_source)
{
    seen *x = ctx;
    x->a[x->n] = other;
    x->p[x->n] = p;
    x->c[x->n] = other_source;
    return next(x);
}

static void on_sources(void *ctx, double p, int64_t source_a, int64_t source_b)
{
    seen *x = ctx;
    x->p[0] += p;
    x->a[0] += source_a;
    x->b[0] += source_b;
    x->n++;
}

static void test_links(void **state)
{
    (void)state;
    char url[512], v[64];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t a, b;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "b", &b, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    int64_t r1 = rec(s, a, "r1", "{}"), r2 = rec(s, a, "r2", "{}");
    int64_t r3 = rec(s, b, "r3", "{}"), r4 = rec(s, b, "r4", "{}");
    /* (r2, r1) is stored as (r1, r2), and a second put replaces it */
    assert_int_equal(pg_link_put(s, r2, r1, 1, 3.0, 0.5, &err), DT_OK);
    assert_int_equal(pg_link_put(s, r1, r2, 2, 4.5, 0.9, &err), DT_OK);
    assert_int_equal(pg_link_put(s, r3, r1, 1, 1.0, 0.3, &err), DT_OK);
    assert_int_equal(pg_link_put(s, r2, r4, 1, 2.0, 0.7, &err), DT_OK);
    assert_int_equal(pg_link_put(s, r4, r1, 1, 1.5, 0.6, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_true(r1 == 1 && r2 == 2);
    one_text(s, "SELECT count(*) FROM link WHERE a > b", v, sizeof v);
    assert_string_equal(v, "0");
    one_text(s, "SELECT rule || ' ' || weight || ' ' || p FROM link WHERE a = 1 AND b = 2", v,
             sizeof v);
    assert_string_equal(v, "2 4.5 0.9");
    /* by record: where it is a (by b), then where it is b (by a) */
    seen x = {0};
    assert_int_equal(pg_links_of(s, r1, 0.0, on_link, &x, &err), DT_OK);
    assert_int_equal(x.n, 3);
    assert_int_equal(x.a[0], r2);
    assert_int_equal(x.a[1], r3);
    assert_int_equal(x.a[2], r4);
    assert_true(x.p[0] == 0.9 && x.p[1] == 0.3 && x.p[2] == 0.6);
    x = (seen){0};
    assert_int_equal(pg_links_of(s, r4, 0.0, on_link, &x, &err), DT_OK);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.a[0], r1);
    assert_int_equal(x.a[1], r2);
    x = (seen){0};
    assert_int_equal(pg_links_of(s, r2, 0.65, on_link, &x, &err), DT_OK);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.a[0], r4); /* r2 is a */
    assert_int_equal(x.a[1], r1); /* r2 is b */
    x = (seen){.stop_at = 1, .ret = -77};
    assert_int_equal(pg_links_of(s, r1, 0.0, on_link, &x, &err), -77);
    assert_int_equal(x.n, 1);
    x = (seen){0};
    assert_int_equal(pg_links_of_source(s, r2, 0.65, on_link_src, &x, &err), DT_OK);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.a[0], r4);
    assert_int_equal(x.c[0], b);
    assert_true(x.p[0] == 0.7);
    assert_int_equal(x.a[1], r1);
    assert_int_equal(x.c[1], a);
    assert_true(x.p[1] == 0.9);
    x = (seen){.stop_at = 2, .ret = -5};
    assert_int_equal(pg_links_of_source(s, r1, 0.0, on_link_src, &x, &err), -5);
    assert_int_equal(x.n, 2);
    /* every link, (a, b) order, at or over min_p */
    x = (seen){0};
    assert_int_equal(pg_links_each(s, 0.6, on_pair, &x, &err), DT_OK);
    assert_int_equal(x.n, 3);
    assert_true(x.a[0] == r1 && x.b[0] == r2 && x.p[0] == 0.9);
    assert_true(x.a[1] == r1 && x.b[1] == r4 && x.p[1] == 0.6);
    assert_true(x.a[2] == r2 && x.b[2] == r4 && x.p[2] == 0.7);
    x = (seen){.stop_at = 1, .ret = -3};
    assert_int_equal(pg_links_each(s, 0.0, on_pair, &x, &err), -3);
    assert_int_equal(x.n, 1);
    /* with their records' sources, between active records only */
    x = (seen){0};
    assert_int_equal(pg_link_sources_each(s, on_sources, &x, &err), DT_OK);
    assert_int_equal(x.n, 4);
    assert_int_equal(x.a[0], 4 * a);
    assert_int_equal(x.b[0], a + 3 * b);
    withdraw(s, b, "r3");
    x = (seen){0};
    assert_int_equal(pg_link_sources_each(s, on_sources, &x, &err), DT_OK);
    assert_int_equal(x.n, 3);
    assert_true(x.p[0] > 2.19 && x.p[0] < 2.21);
    /* one record's links dropped, then all */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_links_drop(s, r4, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    x = (seen){0};
    assert_int_equal(pg_links_each(s, 0.0, on_pair, &x, &err), DT_OK);
    assert_int_equal(x.n, 2);
    assert_true(x.a[0] == r1 && x.b[0] == r2);
    assert_true(x.a[1] == r1 && x.b[1] == r3);
    assert_int_equal(pg_links_clear(s, &err), DT_OK);
    x = (seen){0};
    assert_int_equal(pg_links_each(s, 0.0, on_pair, &x, &err), DT_OK);
    assert_int_equal(x.n, 0);
    pg_close(s);
}

static int count_index(st_store *s, const char *name)
{
    char sql[200], v[16];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_indexes WHERE indexname = '%s'", name);
    one_text(s, sql, v, sizeof v);
    return atoi(v);
}

static void test_bulk_indexes(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t a;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    int64_t r1 = rec(s, a, "r1", "{}"), r2 = rec(s, a, "r2", "{}");
    assert_int_equal(pg_commit(s, &err), DT_OK);
    /* dropped and built again inside one transaction */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_links_index_drop(s, &err), DT_OK);
    assert_int_equal(pg_members_index_drop(s, &err), DT_OK);
    assert_int_equal(count_index(s, "link_b"), 0);
    assert_int_equal(count_index(s, "membership_entity"), 0);
    assert_int_equal(pg_link_put(s, r1, r2, 1, 1.0, 0.8, &err), DT_OK);
    assert_int_equal(pg_entity_set(s, r1, "E", &err), DT_OK);
    assert_int_equal(pg_links_index_build(s, &err), DT_OK);
    assert_int_equal(pg_members_index_build(s, &err), DT_OK);
    assert_int_equal(count_index(s, "link_b"), 1);
    assert_int_equal(count_index(s, "membership_entity"), 1);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    /* a rolled-back drop leaves them; a second build is an error */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_links_index_drop(s, &err), DT_OK);
    assert_int_equal(pg_members_index_drop(s, &err), DT_OK);
    pg_rollback(s);
    assert_int_equal(count_index(s, "link_b"), 1);
    assert_int_equal(count_index(s, "membership_entity"), 1);
    assert_int_equal(pg_links_index_build(s, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "writing links in bulk"));
    assert_int_equal(pg_members_index_build(s, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "writing entities in bulk"));
    seen x = {0};
    assert_int_equal(pg_links_of(s, r2, 0.0, on_link, &x, &err), DT_OK);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.a[0], r1);
    pg_close(s);
}

static int on_band(void *ctx, const st_band_pair *bp)
{
    seen *x = ctx;
    x->a[x->n] = bp->a;
    x->b[x->n] = bp->b;
    x->p[x->n] = bp->p;
    snprintf(x->text[x->n], sizeof x->text[0], "%s:%s|%s:%s|%s|%s", bp->source_a, bp->id_a,
             bp->source_b, bp->id_b, bp->entity_a, bp->entity_b);
    return next(x);
}

static void test_band(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t a, b;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "b", &b, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    int64_t r1 = rec(s, a, "r1", "{}"), r2 = rec(s, a, "r2", "{}");
    int64_t r3 = rec(s, b, "x", "{}"), r4 = rec(s, b, "y", "{}"), r5 = rec(s, b, "w", "{}");
    /* doubts (|p - 0.5|) exact in binary: 0.125, 0.125, 0.0625 */
    assert_int_equal(pg_link_put(s, r1, r2, 1, 1.0, 0.625, &err), DT_OK);
    assert_int_equal(pg_link_put(s, r1, r3, 1, 1.0, 0.375, &err), DT_OK);
    assert_int_equal(pg_link_put(s, r2, r3, 1, 1.0, 0.5625, &err), DT_OK);
    assert_int_equal(pg_link_put(s, r1, r4, 1, 1.0, 0.5, &err), DT_OK);   /* decided */
    assert_int_equal(pg_link_put(s, r2, r5, 1, 1.0, 0.5, &err), DT_OK);   /* withdrawn */
    assert_int_equal(pg_link_put(s, r3, r4, 1, 1.0, 0.875, &err), DT_OK); /* p = hi */
    assert_int_equal(pg_link_put(s, r3, r5, 1, 1.0, 0.125, &err), DT_OK); /* p < lo */
    assert_int_equal(pg_decision_put(s, r4, r1, 0, "ann", 10, "", &err), DT_OK);
    assert_int_equal(pg_entity_set(s, r1, "E1", &err), DT_OK);
    assert_int_equal(pg_entity_set(s, r3, "E3", &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    withdraw(s, b, "w");
    seen x = {0};
    assert_int_equal(pg_links_band(s, 0.25, 0.875, 0, on_band, &x, &err), DT_OK);
    assert_int_equal(x.n, 3);
    assert_true(x.a[0] == r1 && x.b[0] == r2 && x.p[0] == 0.625);
    assert_true(x.a[1] == r1 && x.b[1] == r3);
    assert_true(x.a[2] == r2 && x.b[2] == r3);
    assert_string_equal(x.text[0], "a:r1|a:r2|E1|");
    assert_string_equal(x.text[1], "a:r1|b:x|E1|E3");
    assert_string_equal(x.text[2], "a:r2|b:x||E3");
    /* the most doubtful first, ties by (a, b) */
    x = (seen){0};
    assert_int_equal(pg_links_band(s, 0.25, 0.875, 1, on_band, &x, &err), DT_OK);
    assert_int_equal(x.n, 3);
    assert_true(x.a[0] == r2 && x.b[0] == r3);
    assert_true(x.a[1] == r1 && x.b[1] == r2);
    assert_true(x.a[2] == r1 && x.b[2] == r3);
    /* 1 stops with DT_OK; a negative code is returned; DT_ENOMEM gets a message */
    x = (seen){.stop_at = 1, .ret = 1};
    assert_int_equal(pg_links_band(s, 0.25, 0.875, 1, on_band, &x, &err), DT_OK);
    assert_int_equal(x.n, 1);
    x = (seen){.stop_at = 2, .ret = -9};
    assert_int_equal(pg_links_band(s, 0.25, 0.875, 1, on_band, &x, &err), -9);
    assert_int_equal(x.n, 2);
    dt_error_clear(&err);
    x = (seen){.stop_at = 1, .ret = DT_ENOMEM};
    assert_int_equal(pg_links_band(s, 0.25, 0.875, 1, on_band, &x, &err), DT_ENOMEM);
    assert_string_equal(err.msg, "out of memory");
    pg_close(s);
}

static int on_decision(void *ctx, int64_t other, int same)
{
    seen *x = ctx;
    x->a[x->n] = other;
    x->c[x->n] = same;
    return next(x);
}

static int on_decision_pair(void *ctx, int64_t a, int64_t b, int same)
{
    seen *x = ctx;
    x->a[x->n] = a;
    x->b[x->n] = b;
    x->c[x->n] = same;
    return next(x);
}

static int on_key(void *ctx, const char *a, const char *b, int same)
{
    seen *x = ctx;
    snprintf(x->text[x->n], sizeof x->text[0], "%s=%s:%d", a, b, same);
    return next(x);
}

static void test_decisions(void **state)
{
    (void)state;
    char url[512], v[64];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t a, b;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "b", &b, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    int64_t r1 = rec(s, a, "r1", "{}"), r2 = rec(s, a, "r2", "{}");
    int64_t r3 = rec(s, b, "x", "{}"), r4 = rec(s, b, "y", "{}");
    assert_int_equal(pg_decision_put(s, r2, r1, 1, "ann", 100, "n1", &err), DT_OK);
    assert_int_equal(pg_decision_put(s, r1, r2, 0, "bob", 200, "n2", &err), DT_OK);
    assert_int_equal(pg_decision_put(s, r3, r1, 7, "ann", 300, "", &err), DT_OK);
    assert_int_equal(pg_decision_put(s, r2, r4, 1, "ann", 400, "", &err), DT_OK);
    assert_int_equal(pg_decision_put(s, r4, r1, 0, "cy", 500, "", &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    one_text(s, "SELECT a || ' ' || b || ' ' || same || ' ' || \"by\" || ' ' || time || ' ' || "
                "note FROM decision WHERE a = 1 AND b = 2", v, sizeof v);
    assert_string_equal(v, "1 2 0 bob 200 n2");
    one_text(s, "SELECT count(*) FROM decision WHERE a > b", v, sizeof v);
    assert_string_equal(v, "0");
    /* of a record: where it is a (by b), then where it is b (by a) */
    seen x = {0};
    assert_int_equal(pg_decisions_of(s, r2, on_decision, &x, &err), DT_OK);
    assert_int_equal(x.n, 2);
    assert_true(x.a[0] == r4 && x.c[0] == 1);
    assert_true(x.a[1] == r1 && x.c[1] == 0);
    x = (seen){.stop_at = 1, .ret = -4};
    assert_int_equal(pg_decisions_of(s, r1, on_decision, &x, &err), -4);
    assert_int_equal(x.n, 1);
    x = (seen){0};
    assert_int_equal(pg_decisions_each(s, on_decision_pair, &x, &err), DT_OK);
    assert_int_equal(x.n, 4);
    assert_true(x.a[0] == r1 && x.b[0] == r2 && x.c[0] == 0);
    assert_true(x.a[1] == r1 && x.b[1] == r3 && x.c[1] == 1); /* same is 0 or 1 */
    assert_true(x.a[2] == r1 && x.b[2] == r4);
    assert_true(x.a[3] == r2 && x.b[3] == r4);
    x = (seen){.stop_at = 3, .ret = -2};
    assert_int_equal(pg_decisions_each(s, on_decision_pair, &x, &err), -2);
    assert_int_equal(x.n, 3);
    /* keys of active records only, by (a, b) */
    withdraw(s, b, "x");
    x = (seen){0};
    assert_int_equal(pg_decision_keys_each(s, on_key, &x, &err), DT_OK);
    assert_int_equal(x.n, 3);
    assert_string_equal(x.text[0], "a:r1=a:r2:0");
    assert_string_equal(x.text[1], "a:r1=b:y:0");
    assert_string_equal(x.text[2], "a:r2=b:y:1");
    dt_error_clear(&err);
    x = (seen){.stop_at = 2, .ret = DT_ENOMEM};
    assert_int_equal(pg_decision_keys_each(s, on_key, &x, &err), DT_ENOMEM);
    assert_string_equal(err.msg, "out of memory");
    assert_int_equal(x.n, 2);
    /* dropped for one record */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_decisions_drop(s, r1, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    x = (seen){0};
    assert_int_equal(pg_decisions_each(s, on_decision_pair, &x, &err), DT_OK);
    assert_int_equal(x.n, 1);
    assert_true(x.a[0] == r2 && x.b[0] == r4);
    pg_close(s);
}

static int on_id(void *ctx, int64_t id)
{
    seen *x = ctx;
    x->a[x->n] = id;
    return next(x);
}

static void on_size(void *ctx, uint64_t n)
{
    seen *x = ctx;
    x->a[x->n++] = (int64_t)n;
}

static int on_member(void *ctx, int64_t record, const char *source, const char *record_id,
                     const char *entity)
{
    seen *x = ctx;
    x->a[x->n] = record;
    snprintf(x->text[x->n], sizeof x->text[0], "%s:%s=%s", source, record_id, entity);
    return next(x);
}

static void check_entity(st_store *s, int64_t record, const char *want)
{
    dt_error err;
    char *e = NULL;
    assert_int_equal(pg_entity_of(s, record, &e, &err), DT_OK);
    assert_string_equal(e, want);
    dt_free(e);
}

static void test_record_source(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t a, b;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "b", &b, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    int64_t r1 = rec(s, a, "r1", "{}"), r2 = rec(s, b, "r2", "{}");
    assert_int_equal(pg_commit(s, &err), DT_OK);
    withdraw(s, b, "r2");
    int64_t src = 0;
    int active = -1;
    assert_int_equal(pg_record_source(s, r1, &src, &active, &err), DT_OK);
    assert_int_equal(src, a);
    assert_int_equal(active, 1);
    assert_int_equal(pg_record_source(s, r2, &src, &active, &err), DT_OK);
    assert_int_equal(src, b);
    assert_int_equal(active, 0);
    dt_error_clear(&err);
    assert_int_equal(pg_record_source(s, 999, &src, &active, &err), DT_ENOTFOUND);
    assert_int_equal(err.code, DT_OK); /* no message */
    assert_string_equal(err.msg, "");
    pg_close(s);
}

static void test_entities(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t big, small;
    /* byte order: "B" < "a", "Z" < "a" < "é" */
    assert_int_equal(pg_source_id(s, "a", &small, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "B", &big, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    int64_t e1 = rec(s, small, "é", "{}"), a1 = rec(s, small, "a", "{}");
    int64_t z1 = rec(s, small, "Z", "{}"), b1 = rec(s, big, "q", "{}");
    int64_t lone = rec(s, big, "lone", "{}");
    check_entity(s, e1, "");
    assert_int_equal(pg_entity_set(s, e1, "X", &err), DT_OK);
    check_entity(s, e1, "X");
    assert_int_equal(pg_entity_set(s, e1, "b", &err), DT_OK); /* replaced */
    check_entity(s, e1, "b");
    assert_int_equal(pg_entity_set(s, lone, "gone", &err), DT_OK);
    assert_int_equal(pg_entity_set(s, lone, NULL, &err), DT_OK); /* taken out */
    check_entity(s, lone, "");
    assert_int_equal(pg_entity_set(s, z1, "B", &err), DT_OK);
    assert_int_equal(pg_entity_set(s, b1, "B", &err), DT_OK);
    assert_int_equal(pg_entity_set(s, a1, "B", &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    /* an entity's members, by record */
    seen x = {0};
    assert_int_equal(pg_entity_members(s, "B", on_id, &x, &err), DT_OK);
    assert_int_equal(x.n, 3);
    assert_true(x.a[0] == a1 && x.a[1] == z1 && x.a[2] == b1);
    x = (seen){.stop_at = 1, .ret = -6};
    assert_int_equal(pg_entity_members(s, "B", on_id, &x, &err), -6);
    assert_int_equal(x.n, 1);
    x = (seen){0};
    assert_int_equal(pg_entity_members(s, "none", on_id, &x, &err), DT_OK);
    assert_int_equal(x.n, 0);
    /* every member by (source, record id), in byte order */
    x = (seen){0};
    assert_int_equal(pg_members_each(s, on_member, &x, &err), DT_OK);
    assert_int_equal(x.n, 4);
    assert_string_equal(x.text[0], "B:q=B");
    assert_string_equal(x.text[1], "a:Z=B");
    assert_string_equal(x.text[2], "a:a=B");
    assert_string_equal(x.text[3], "a:é=b");
    assert_int_equal(x.a[0], b1);
    assert_int_equal(x.a[3], e1);
    x = (seen){.stop_at = 2, .ret = -8};
    assert_int_equal(pg_members_each(s, on_member, &x, &err), -8);
    assert_int_equal(x.n, 2);
    /* sizes of active members, by entity in byte order ("B" < "b") */
    x = (seen){0};
    assert_int_equal(pg_entity_sizes_each(s, on_size, &x, &err), DT_OK);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.a[0], 3);
    assert_int_equal(x.a[1], 1);
    /* a withdrawn record that keeps its entity is damage */
    withdraw(s, big, "q");
    x = (seen){0};
    assert_int_equal(pg_entity_sizes_each(s, on_size, &x, &err), DT_OK);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.a[0], 2);
    x = (seen){0};
    assert_int_equal(pg_members_each(s, on_member, &x, &err), DT_EIO);
    assert_int_equal(x.n, 0);
    assert_non_null(strstr(err.msg, url));
    assert_non_null(strstr(err.msg, "reading entities: the store file is damaged (a withdrawn "
                                    "or nameless record has an entity)"));
    pg_close(s);
}

static void test_entity_events(void **state)
{
    (void)state;
    char url[512], v[200];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_entity_event(s, "new", "E1", "", "ingest", &err), DT_OK);
    assert_int_equal(pg_entity_event(s, "merge", "E1", "E2", "review", &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    /* a rolled-back event gives its seq again */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_entity_event(s, "split", "E9", "", "x", &err), DT_OK);
    pg_rollback(s);
    assert_int_equal(pg_entity_event(s, "split", "E1", "E3", "withdraw", &err), DT_OK);
    one_text(s, "SELECT string_agg(seq || ' ' || kind || ' ' || entity || ' ' || other || ' ' "
                "|| cause, ',' ORDER BY seq) FROM entity_event", v, sizeof v);
    assert_string_equal(v, "1 new E1  ingest,2 merge E1 E2 review,3 split E1 E3 withdraw");
    /* SQLite's strftime('%Y-%m-%dT%H:%M:%SZ'), in UTC, now */
    one_text(s, "SELECT count(*) FROM entity_event WHERE time ~ "
                "'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' AND "
                "abs(extract(epoch FROM (time::timestamp - (now() AT TIME ZONE 'UTC')))) < 600",
             v, sizeof v);
    assert_string_equal(v, "3");
    pg_close(s);
}

typedef struct norm_seen {
    int64_t id[8];
    char text[8][64];
    int n;
} norm_seen;

static int on_norm(void *ctx, const st_record *r)
{
    norm_seen *x = ctx;
    if (x->n == 8) return DT_EINTERNAL;
    x->id[x->n] = r->id;
    snprintf(x->text[x->n++], sizeof x->text[0], "%s:%s %s [%s] v%lld w%d e=%s", r->source,
             r->record_id, r->norm, r->raw, (long long)r->version, r->is_withdrawn, r->entity);
    return DT_OK;
}

static int stop_norm(void *ctx, const st_record *r)
{
    (void)r;
    int *n = ctx;
    return ++*n == 2 ? -11 : DT_OK;
}

static void test_norm_reads(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t a, b, version = -1;
    assert_int_equal(pg_model_version(s, &version, &err), DT_OK);
    assert_int_equal(version, 0);
    assert_int_equal(pg_model_put(s, "{}", &version, &err), DT_OK);
    assert_int_equal(pg_model_put(s, "{}", &version, &err), DT_OK);
    assert_int_equal(pg_model_version(s, &version, &err), DT_OK);
    assert_int_equal(version, 2);
    assert_int_equal(pg_source_id(s, "z", &a, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "b", &b, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    int64_t r1 = rec(s, a, "k1", "{\"n\":1}"), r2 = rec(s, b, "k2", "{\"n\":2}");
    int64_t r3 = rec(s, a, "k3", "{\"n\":3}"), r4 = rec(s, b, "k4", "{\"n\":4}");
    int64_t r5 = rec(s, a, "k5", "{\"n\":5}");
    st_put_result pr;
    assert_int_equal(pg_record_put(s, a, "k3", "{\"raw\":2}", "{\"n\":33}", 2000, &pr, NULL, &err),
                     DT_OK);
    assert_int_equal(pr, ST_PUT_CHANGED);
    assert_int_equal(pg_entity_set(s, r2, "E2", &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    withdraw(s, b, "k4");
    /* active records by id (not by name), norm opened, raw "", entity */
    norm_seen x = {0};
    assert_int_equal(pg_records_norm_each(s, on_norm, &x, &err), DT_OK);
    assert_int_equal(x.n, 4);
    assert_true(x.id[0] == r1 && x.id[1] == r2 && x.id[2] == r3 && x.id[3] == r5);
    assert_string_equal(x.text[0], "z:k1 {\"n\":1} [] v1 w0 e=");
    assert_string_equal(x.text[1], "b:k2 {\"n\":2} [] v1 w0 e=E2");
    assert_string_equal(x.text[2], "z:k3 {\"n\":33} [] v2 w0 e=");
    int n = 0;
    assert_int_equal(pg_records_norm_each(s, stop_norm, &n, &err), -11);
    assert_int_equal(n, 2);
    /* one record, withdrawn or not */
    st_record r;
    assert_int_equal(pg_record_norm(s, r2, &r, &err), DT_OK);
    assert_string_equal(r.source, "b");
    assert_string_equal(r.record_id, "k2");
    assert_string_equal(r.raw, "");
    assert_string_equal(r.norm, "{\"n\":2}");
    assert_string_equal(r.entity, "E2");
    assert_int_equal(r.version, 1);
    assert_int_equal(r.is_withdrawn, 0);
    st_record_free(&r);
    assert_int_equal(pg_record_norm(s, r4, &r, &err), DT_OK);
    assert_string_equal(r.norm, "{\"n\":4}");
    assert_string_equal(r.entity, "");
    assert_int_equal(r.is_withdrawn, 1);
    st_record_free(&r);
    assert_int_equal(pg_record_norm(s, 999, &r, &err), DT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no record 999"));
    /* a norm that does not open under the key (another record's, so
     * bound to another id) is an error, not a value */
    assert_true(r1 == 1 && r5 == 5);
    PGresult *q = PQexec((PGconn *)s->pg, "UPDATE record SET norm = (SELECT norm FROM record "
                                          "WHERE id = 1) WHERE id = 5");
    assert_int_equal(PQresultStatus(q), PGRES_COMMAND_OK);
    PQclear(q);
    assert_int_equal(pg_record_norm(s, r5, &r, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "does not open"));
    x = (norm_seen){0};
    assert_int_equal(pg_records_norm_each(s, on_norm, &x, &err), DT_EIO);
    assert_int_equal(x.n, 3);
    /* active ids, a page at a time */
    int64_t ids[4] = {0};
    size_t got = 9;
    assert_int_equal(pg_active_ids(s, 1, ids, 2, &got, &err), DT_OK);
    assert_int_equal(got, 2);
    assert_true(ids[0] == r1 && ids[1] == r2);
    assert_int_equal(pg_active_ids(s, ids[1] + 1, ids, 2, &got, &err), DT_OK);
    assert_int_equal(got, 2);
    assert_true(ids[0] == r3 && ids[1] == r5); /* r4 withdrawn */
    assert_int_equal(pg_active_ids(s, ids[1] + 1, ids, 2, &got, &err), DT_OK);
    assert_int_equal(got, 0);
    assert_int_equal(pg_active_ids(s, 1, ids, 0, &got, &err), DT_OK);
    assert_int_equal(got, 0);
    assert_int_equal(pg_active_ids(s, 0, ids, SIZE_MAX, &got, &err), DT_OK);
    assert_int_equal(got, 4);
    pg_close(s);
}

/* store.h's batch forms against their one-record twins (many_records.h),
 * and what the check's last transaction wrote: the links of r1 and r6
 * dropped, the events numbered on in the rows' order. */
static void test_many_records(void **state)
{
    (void)state;
    char url[512], v[400], want[64];
    st_store *s = pg_create(url, sizeof url);
    int64_t r[7];
    many_records_check(s, r);
    one_text(s, "SELECT string_agg(a || '-' || b, ',' ORDER BY a, b) FROM link", v, sizeof v);
    snprintf(want, sizeof want, "%lld-%lld", (long long)r[2], (long long)r[4]);
    assert_string_equal(v, want);
    one_text(s, "SELECT string_agg(seq || ' ' || kind || ' ' || entity || ' ' || other || ' ' "
                "|| cause, ',' ORDER BY seq) FROM entity_event", v, sizeof v);
    assert_string_equal(v, "1 split E0  x,2 new E\"q\\  ingest,3 merge E1 E2 ingest");
    pg_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_links),
        cmocka_unit_test(test_bulk_indexes),
        cmocka_unit_test(test_band),
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_record_source),
        cmocka_unit_test(test_entities),
        cmocka_unit_test(test_entity_events),
        cmocka_unit_test(test_norm_reads),
        cmocka_unit_test(test_many_records),
    };
    return cmocka_run_group_tests(tests, pg_setup, pg_teardown);
}
