/* Unit tests for the PostgreSQL backend (src/store/pg.c) against a real
 * PostgreSQL 15 that tests/pg-server starts for this binary on a Unix
 * socket: create and reopen, a second create refused, the wrong key file,
 * settings, sources, models with their versions, idempotent puts, new
 * versions kept, withdrawal and restore, record order, rollback, contents
 * sealed at rest (the server holds no value in clear), two connections
 * writing one after the other through the write lock, the blocking index
 * (index.c's logic over pg_index.c's primitives), the data generation's
 * probe, and the generation itself (the audit log's rows alone leave it),
 * a connection the server closed made again at the next transaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/index.h"
#include "util/util.h"

#include "tmpdir.h"
#include "pg_server.h"


static st_put_result put(st_store *s, int64_t src, const char *id, const char *raw)
{
    dt_error err;
    dt_error_clear(&err);
    st_put_result r;
    int64_t rec = 0;
    assert_int_equal(pg_record_put(s, src, id, raw, "{\"n\":1}", 1000, &r, &rec, &err), DT_OK);
    assert_true(rec > 0);
    return r;
}

static void test_create_reopen_and_refuse(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    assert_int_equal(pg_meta_set(s, "k", "v1", &err), DT_OK);
    assert_int_equal(pg_meta_set(s, "k", "v2", &err), DT_OK);
    pg_close(s);
    assert_int_equal(pg_open(url, g_key, ST_OPEN, &s, &err), DT_OK);
    char *v = NULL;
    assert_int_equal(pg_meta_get(s, "k", &v, &err), DT_OK);
    assert_string_equal(v, "v2");
    dt_free(v);
    assert_int_equal(pg_meta_get(s, "absent", &v, &err), DT_OK);
    assert_null(v);
    pg_close(s);
    /* a second create over a store is refused; so is a database with none */
    assert_int_equal(pg_open(url, g_key, ST_CREATE, &s, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "already there"));
    char other[512];
    fresh_db(other, sizeof other);
    assert_int_equal(pg_open(other, g_key, ST_OPEN, &s, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "no store there"));
    /* another key file does not open it */
    char key2[300];
    tmpdir_path(key2, sizeof key2, "other.key");
    st_store *t = NULL;
    assert_int_equal(pg_open(other, key2, ST_CREATE, &t, &err), DT_OK);
    pg_close(t);
    assert_int_equal(pg_open(url, key2, ST_OPEN, &s, &err), DT_EAUTH);
    /* no server there: an error naming the store, not a crash */
    assert_int_equal(pg_open("postgresql:///x?host=/nonexistent&user=u&password=hunter2", g_key,
                             ST_OPEN, &s, &err),
                     DT_EIO);
    assert_non_null(strstr(err.msg, "cannot connect"));
    assert_null(strstr(err.msg, "hunter2"));
    assert_int_equal(pg_open("postgresql://u:p@ss@/x?host=/nonexistent&sslpassword=k&password=s3",
                             g_key, ST_OPEN, &s, &err),
                     DT_EIO);
    assert_null(strstr(err.msg, "p@ss"));
    assert_null(strstr(err.msg, "ss@"));
    assert_null(strstr(err.msg, "s3"));
    assert_null(strstr(err.msg, "=k"));
    assert_non_null(strstr(err.msg, "postgresql://u@/x?host=/nonexistent:"));
    assert_int_equal(pg_open("host=/nonexistent password=s3 user=u", g_key, ST_OPEN, &s, &err),
                     DT_EIO);
    assert_null(strstr(err.msg, "s3"));
}

static void test_sources_and_models(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t a = 0, b = 0, again = 0;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "b", &b, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "a", &again, &err), DT_OK);
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    assert_int_equal(again, a);
    char *json = NULL;
    int64_t version = -1;
    assert_int_equal(pg_model_latest(s, &json, &version, &err), DT_OK);
    assert_null(json);
    assert_int_equal(version, 0);
    /* a model put in a rolled-back transaction gives its version again */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_model_put(s, "{\"m\":0}", &version, &err), DT_OK);
    assert_int_equal(version, 1);
    pg_rollback(s);
    assert_int_equal(pg_model_put(s, "{\"m\":1}", &version, &err), DT_OK);
    assert_int_equal(version, 1);
    assert_int_equal(pg_model_put(s, "{\"m\":2}", &version, &err), DT_OK);
    assert_int_equal(version, 2);
    assert_int_equal(pg_model_latest(s, &json, &version, &err), DT_OK);
    assert_string_equal(json, "{\"m\":2}");
    assert_int_equal(version, 2);
    dt_free(json);
    pg_close(s);
}

typedef struct seen {
    char ids[8][16];
    int64_t versions[8];
    int n;
} seen;

static int add_seen(void *ctx, const st_record *r)
{
    seen *x = ctx;
    if (x->n == 8) return DT_EINTERNAL;
    snprintf(x->ids[x->n], sizeof x->ids[0], "%s:%s", r->source, r->record_id);
    x->versions[x->n++] = r->version;
    return DT_OK;
}

static void test_records(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t a, b;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "b", &b, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(put(s, a, "r2", "{\"x\":\"zoë\"}"), ST_PUT_NEW);
    assert_int_equal(put(s, a, "r1", "{\"x\":1}"), ST_PUT_NEW);
    assert_int_equal(put(s, b, "Z", "{\"x\":2}"), ST_PUT_NEW);
    assert_int_equal(put(s, a, "r1", "{\"x\":1}"), ST_PUT_SAME);
    assert_int_equal(put(s, a, "r1", "{\"x\":9}"), ST_PUT_CHANGED);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    /* a batch rolled back leaves nothing */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(put(s, b, "gone", "{}"), ST_PUT_NEW);
    pg_rollback(s);
    uint64_t n = 0;
    assert_int_equal(pg_record_count(s, NULL, &n, &err), DT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(pg_record_count(s, "b", &n, &err), DT_OK);
    assert_int_equal(n, 1);
    /* by (source, record id), in byte order; the new version read back */
    seen x = {0};
    assert_int_equal(pg_records_each(s, NULL, 0, add_seen, &x, &err), DT_OK);
    assert_int_equal(x.n, 3);
    assert_string_equal(x.ids[0], "a:r1");
    assert_int_equal(x.versions[0], 2);
    assert_string_equal(x.ids[1], "a:r2");
    assert_string_equal(x.ids[2], "b:Z");
    int64_t id = 0, src = 0;
    assert_int_equal(pg_record_id(s, a, "r2", &id, &err), DT_OK);
    st_record r;
    assert_int_equal(pg_record_get(s, id, &r, &src, &err), DT_OK);
    assert_string_equal(r.raw, "{\"x\":\"zoë\"}");
    assert_string_equal(r.norm, "{\"n\":1}");
    assert_int_equal(src, a);
    st_record_free(&r);
    assert_int_equal(pg_record_id(s, a, "nope", &id, &err), DT_ENOTFOUND);
    /* withdrawn, then restored by the same row again */
    int found = 0;
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_record_withdraw(s, a, "r2", &found, &err), DT_OK);
    assert_int_equal(found, 1);
    assert_int_equal(pg_record_withdraw(s, a, "r2", &found, &err), DT_OK);
    assert_int_equal(found, 0);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_int_equal(pg_record_count(s, "a", &n, &err), DT_OK);
    assert_int_equal(n, 1);
    x = (seen){0};
    assert_int_equal(pg_records_each(s, "a", 1, add_seen, &x, &err), DT_OK);
    assert_int_equal(x.n, 2);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(put(s, a, "r2", "{\"x\":\"zoë\"}"), ST_PUT_RESTORED);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    /* the earlier version is kept, and nothing is in clear on the server */
    PGconn *c = PQconnectdb(url);
    PGresult *q = PQexec(c, "SELECT count(*) FROM record_history");
    assert_string_equal(PQgetvalue(q, 0, 0), "2");
    PQclear(q);
    /* four bytes of each (zoë, "x":): two ('zo') turn up in random sealed bytes
     * now and then, and failed a clean check */
    q = PQexec(c, "SELECT count(*) FROM record WHERE position('\\x7a6fc3ab'::bytea in raw) > 0 "
                  "OR position('\\x2278223a'::bytea in norm) > 0");
    assert_string_equal(PQgetvalue(q, 0, 0), "0");
    PQclear(q);
    PQfinish(c);
    pg_close(s);
}

/* Two connections to one store: a write waits for the other's to end
 * (the advisory lock), and a snapshot reads what was committed. */
static void test_two_writers(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url), *t = NULL;
    dt_error err;
    assert_int_equal(pg_open(url, g_key, ST_OPEN, &t, &err), DT_OK);
    int64_t a;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(put(s, a, "one", "{}"), ST_PUT_NEW);
    /* t cannot take the write lock meanwhile: it is held */
    assert_int_equal(pg_begin_now(t, &err), DT_EBUSY);
    assert_int_equal(t->in_txn, 0);
    /* a wait PostgreSQL cuts short (here an operator's lock_timeout) is
     * DT_EBUSY too, as SQLITE_BUSY is, not an I/O error */
    char bounded[600];
    st_store *u = NULL;
    snprintf(bounded, sizeof bounded, "%s&options=-c%%20lock_timeout%%3D100", url);
    assert_int_equal(pg_open(bounded, g_key, ST_OPEN, &u, &err), DT_OK);
    assert_int_equal(pg_begin(u, &err), DT_EBUSY);
    assert_non_null(strstr(err.msg, "locked by another process"));
    assert_int_equal(u->in_txn, 0);
    pg_close(u);
    int64_t gen0 = 0, gen1 = 0;
    assert_int_equal(pg_data_gen(t, &gen0, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_int_equal(pg_data_gen(t, &gen1, &err), DT_OK);
    assert_true(gen1 > gen0);
    /* t writes next, and its record's id follows s's */
    assert_int_equal(pg_begin(t, &err), DT_OK);
    assert_int_equal(put(t, a, "two", "{}"), ST_PUT_NEW);
    assert_int_equal(pg_commit(t, &err), DT_OK);
    int64_t one = 0, two = 0;
    assert_int_equal(pg_record_id(s, a, "one", &one, &err), DT_OK);
    assert_int_equal(pg_record_id(s, a, "two", &two, &err), DT_OK);
    assert_int_equal(two, one + 1);
    /* a snapshot does not see a commit made after it began */
    int started = 0;
    assert_int_equal(pg_snapshot_begin(s, &started, &err), DT_OK);
    assert_int_equal(started, 1);
    uint64_t n0 = 0, n1 = 0;
    assert_int_equal(pg_record_count(s, NULL, &n0, &err), DT_OK);
    assert_int_equal(pg_begin(t, &err), DT_OK);
    assert_int_equal(put(t, a, "three", "{}"), ST_PUT_NEW);
    assert_int_equal(pg_commit(t, &err), DT_OK);
    assert_int_equal(pg_record_count(s, NULL, &n1, &err), DT_OK);
    assert_int_equal(n1, n0);
    pg_snapshot_end(s, started);
    assert_int_equal(pg_record_count(s, NULL, &n1, &err), DT_OK);
    assert_int_equal(n1, n0 + 1);
    pg_close(t);
    pg_close(s);
}

/* hits[record] has bit i for each query i it matched (as test_store.c). */
static int collect_match(void *ctx, size_t i, int64_t record)
{
    uint32_t *hits = ctx;
    if (record < 0 || record >= 8) return DT_EINTERNAL;
    hits[record] |= 1u << i;
    return DT_OK;
}

static void match(st_store *s, size_t n, const uint64_t *const *keys, uint32_t hits[8])
{
    dt_error err;
    memset(hits, 0, 8 * sizeof *hits);
    assert_int_equal(st_keys_match(s, n, keys, 2, ~UINT64_C(0), NULL, collect_match, hits, &err),
                     DT_OK);
}

static int add_count(void *ctx, uint64_t n)
{
    uint64_t *sum = ctx;
    sum[0]++;
    sum[1] += n;
    return DT_OK;
}

/* The blocking index's logic (index.c) over PostgreSQL's primitives: the
 * same matches as test_store.c's test_blocking_index on SQLite, a block's
 * per-source count, keys set again, dropped, and written anew. */
static void test_blocking_index(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t src = 0, recs[4] = {1, 2, 3, 4};
    assert_int_equal(pg_source_id(s, "a", &src, &err), DT_OK);
    const char *ids[4] = {"r1", "r2", "r3", "r4"};
    assert_int_equal(pg_begin(s, &err), DT_OK);
    for (int i = 0; i < 4; i++) put(s, src, ids[i], "{}");
    uint64_t rule0[4] = {10, 10, 20, 0}, rule1[4] = {7, 8, 8, 7};
    const uint64_t *keys[2] = {rule0, rule1};
    uint16_t codes[4] = {0};
    assert_int_equal(st_keys_set(s, recs, codes, 4, keys, 2, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    uint64_t q_rule0[2] = {10, 7}, q_rule1[2] = {8, 0};
    const uint64_t *q[2] = {q_rule0, q_rule1};
    uint32_t hits[8];
    match(s, 2, q, hits);
    assert_int_equal(hits[1], 1);
    assert_int_equal(hits[2], 1);
    assert_int_equal(hits[3], 1);
    assert_int_equal(hits[4], 0);
    uint64_t sum[2] = {0, 0};
    assert_int_equal(st_block_sources(s, 0, 10, ~UINT64_C(0), add_count, sum, &err), DT_OK);
    assert_int_equal(sum[0], 1);
    assert_int_equal(sum[1], 2);
    /* set again, dropped (twice: none held is fine) */
    uint64_t again0[1] = {0}, again1[1] = {9};
    const uint64_t *again[2] = {again0, again1};
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(st_keys_set(s, &recs[1], codes, 1, again, 2, &err), DT_OK);
    assert_int_equal(st_keys_drop(s, recs[0], &err), DT_OK);
    assert_int_equal(st_keys_drop(s, recs[0], &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    match(s, 2, q, hits);
    assert_int_equal(hits[1], 0);
    assert_int_equal(hits[2], 0);
    assert_int_equal(hits[3], 1);
    /* written anew for every record: the first keys again, and only the
     * records whose slots differ are written (r3 and r4 kept theirs) */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(st_keys_reset(s, recs, codes, 4, keys, 2, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    match(s, 2, q, hits);
    assert_int_equal(hits[1], 1);
    assert_int_equal(hits[2], 1);
    assert_int_equal(hits[3], 1);
    int64_t huge = (int64_t)1 << 30;
    assert_int_equal(st_keys_set(s, &huge, codes, 1, keys, 2, &err), DT_ELIMIT);
    pg_close(s);
}

typedef struct link_seen {
    int64_t a[4], b[4];
    double p[4];
    int n;
} link_seen;

static int add_link(void *ctx, int64_t a, int64_t b, double p)
{
    link_seen *x = ctx;
    if (x->n == 4) return DT_EINTERNAL;
    x->a[x->n] = a;
    x->b[x->n] = b;
    x->p[x->n++] = p;
    return DT_OK;
}

/* Links and memberships written many at once (a bulk resolution's
 * arrays): read back exactly, doubles to the last bit, an entity name
 * with a quote and a backslash as written. */
static void test_many_at_once(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t a;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    const char *ids[3] = {"r1", "r2", "r3"};
    for (int i = 0; i < 3; i++) put(s, a, ids[i], "{}");
    st_link_row rows[2] = {{2, 1, 0, 12.345678901234567, 0.99999999999999989},
                           {1, 3, 2, -1e-300, 1.0 / 3.0}};
    assert_int_equal(st_links_put(s, rows, 2, &err), DT_OK);
    int64_t recs[3] = {1, 2, 3};
    const char *names[3] = {"E1", "E\"q\\", "E1"};
    assert_int_equal(st_entities_set(s, recs, names, 3, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    link_seen x = {0};
    assert_int_equal(pg_links_each(s, 0.0, add_link, &x, &err), DT_OK);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.a[0], 1);
    assert_int_equal(x.b[0], 2);
    assert_true(x.p[0] == 0.99999999999999989);
    assert_int_equal(x.b[1], 3);
    assert_true(x.p[1] == 1.0 / 3.0);
    char *e = NULL;
    assert_int_equal(pg_entity_of(s, 2, &e, &err), DT_OK);
    assert_string_equal(e, "E\"q\\");
    dt_free(e);
    pg_close(s);
}

/* Rows stored many at once give what one call each would: new, the same
 * row again, a changed one (its earlier version kept), a withdrawn one
 * restored; new ids follow the highest, in the rows' order. */
static void test_records_many(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t a;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    put(s, a, "same", "{\"x\":1}");
    put(s, a, "changed", "{\"x\":2}");
    put(s, a, "gone", "{\"x\":3}");
    int found = 0;
    assert_int_equal(pg_record_withdraw(s, a, "gone", &found, &err), DT_OK);
    st_put_row rows[5] = {{"new \"1\"", "{\"y\":1}", "{}", 0, 0},
                          {"same", "{\"x\":1}", "{\"n\":1}", 0, 0},
                          {"changed", "{\"x\":9}", "{}", 0, 0},
                          {"gone", "{\"x\":3}", "{}", 0, 0},
                          {"new2", "{\"y\":2}", "{}", 0, 0}};
    assert_int_equal(st_records_put(s, a, rows, 5, 2000, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_int_equal(rows[0].result, ST_PUT_NEW);
    assert_int_equal(rows[1].result, ST_PUT_SAME);
    assert_int_equal(rows[2].result, ST_PUT_CHANGED);
    assert_int_equal(rows[3].result, ST_PUT_RESTORED);
    assert_int_equal(rows[4].result, ST_PUT_NEW);
    assert_int_equal(rows[0].id, 4);
    assert_int_equal(rows[4].id, 5);
    int64_t id = 0;
    assert_int_equal(pg_record_id(s, a, "changed", &id, &err), DT_OK);
    assert_int_equal(rows[2].id, id);
    st_record r;
    assert_int_equal(pg_record_get(s, rows[0].id, &r, NULL, &err), DT_OK);
    assert_string_equal(r.record_id, "new \"1\"");
    assert_string_equal(r.raw, "{\"y\":1}");
    st_record_free(&r);
    assert_int_equal(pg_record_get(s, id, &r, NULL, &err), DT_OK);
    assert_string_equal(r.raw, "{\"x\":9}");
    assert_int_equal(r.version, 2);
    st_record_free(&r);
    uint64_t n = 0;
    assert_int_equal(pg_record_count(s, "a", &n, &err), DT_OK);
    assert_int_equal(n, 5);
    pg_close(s);
}

static int64_t gen_of(st_store *s)
{
    dt_error err;
    int64_t gen = -1;
    assert_int_equal(st_data_gen(s, &gen, &err), DT_OK);
    return gen;
}

/* The data generation moves on with every commit that changes data and
 * only then, as on SQLite (test_store.c): a commit of the audit log's
 * rows alone (a server's group commit) leaves it; so does a rollback. */
static void test_data_generation(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    dt_error_clear(&err);
    int64_t a, g0 = gen_of(s);
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_true(gen_of(s) > g0);
    g0 = gen_of(s);
    assert_int_equal(st_begin(s, &err), DT_OK);
    put(s, a, "1", "{}");
    assert_int_equal(st_commit(s, &err), DT_OK);
    assert_int_equal(gen_of(s), g0 + 1);

    assert_int_equal(st_begin(s, &err), DT_OK); /* an entry, a head, the end: the log alone */
    uint8_t leaf[32] = {1}, frontier[32] = {0};
    const char *subjects[] = {"a:1", "a:2"};
    st_audit_entry e = {.seq = 1, .time = 1, .principal = "p", .purpose = "x", .action = "a.b",
                        .fields = "[]", .outcome = "allowed", .subjects = subjects,
                        .n_subjects = 2, .leaf_hash = leaf, .leaf_hash_len = 32};
    assert_int_equal(st_audit_put(s, &e, &err), DT_OK);
    st_head h = {.size = 1, .time = 1, .frontier = frontier, .frontier_len = 32};
    assert_int_equal(st_head_put(s, &h, &err), DT_OK);
    st_log_end end = {.size = 1, .frontier_len = 32};
    assert_int_equal(st_log_end_put(s, &end, &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
    assert_int_equal(gen_of(s), g0 + 1);
    assert_int_equal(st_begin(s, &err), DT_OK); /* a data row beside an entry: moves */
    e.seq = 2;
    assert_int_equal(st_audit_put(s, &e, &err), DT_OK);
    assert_int_equal(st_meta_set(s, "k", "v", &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
    assert_int_equal(gen_of(s), g0 + 2);
    assert_int_equal(st_begin(s, &err), DT_OK); /* a statement that counts no rows: moves */
    assert_int_equal(st_links_index_drop(s, &err), DT_OK);
    assert_int_equal(st_links_index_build(s, &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
    assert_int_equal(gen_of(s), g0 + 3);
    assert_int_equal(st_begin(s, &err), DT_OK); /* rolled back: nothing moves */
    assert_int_equal(st_meta_set(s, "k", "w", &err), DT_OK);
    st_rollback(s);
    assert_int_equal(gen_of(s), g0 + 3);
    assert_int_equal(st_begin(s, &err), DT_OK); /* nothing written: nothing moves */
    assert_int_equal(st_commit(s, &err), DT_OK);
    assert_int_equal(gen_of(s), g0 + 3);
    pg_close(s);
}

/* The one integer sql returns, on a connection of the test's own. */
static int64_t server_i64(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

/* Connections to the store's database but the one counting them. */
static int64_t connections(const char *url)
{
    return server_i64(url, "SELECT count(*) - 1 FROM pg_stat_activity "
                           "WHERE datname = current_database()");
}

/* The probe a server's handle reads the data generation with (store.h):
 * a connection of its own made at its first read, not at open (a handle
 * on PostgreSQL holds no snapshot to check, so most probes are never
 * read); it sees a commit at once, connects again after its connection
 * was lost, and has no WAL to copy. Handles on one database are one
 * store whichever way the URL's scheme is spelled; another database's
 * are not. */
static void test_probe(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url), *t = NULL;
    dt_error err;
    assert_false(st_can_hold(s));
    int64_t before = connections(url);
    st_probe *p = NULL;
    assert_int_equal(st_probe_open(s, &p, &err), DT_OK);
    int is_whole = 0;
    assert_int_equal(st_probe_checkpoint(p, 1, &is_whole, &err), DT_OK);
    assert_int_equal(is_whole, 1);
    assert_int_equal(connections(url), before);
    int64_t g0 = -1, g1 = -1;
    assert_int_equal(st_probe_gen(p, &g0, &err), DT_OK);
    assert_int_equal(connections(url), before + 1);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_meta_set(s, "k", "v", &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_int_equal(st_probe_gen(p, &g1, &err), DT_OK);
    assert_int_equal(g1, g0 + 1);
    server_i64(url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                    "datname = current_database() AND query LIKE '%data_gen''' AND "
                    "pid <> pg_backend_pid()");
    int64_t g2 = -1;
    dt_error_clear(&err);
    if (st_probe_gen(p, &g2, &err) < 0) { /* the loss is said, and the next read connects */
        assert_non_null(strstr(err.msg, "data generation"));
        assert_int_equal(st_probe_gen(p, &g2, &err), DT_OK);
    }
    assert_int_equal(g2, g1);
    st_probe_close(p);

    char other_scheme[512];
    snprintf(other_scheme, sizeof other_scheme, "postgres://%s", url + strlen("postgresql://"));
    assert_int_equal(pg_open(other_scheme, g_key, ST_OPEN, &t, &err), DT_OK);
    assert_true(st_same_store(s, t));
    pg_close(t);
    char other[512];
    t = pg_create(other, sizeof other);
    assert_false(st_same_store(s, t));
    pg_close(t);
    pg_close(s);
}

/* Ends every other connection to the store's database, as a restart of
 * the server (or a failover) would. */
static void drop_connections(const char *url)
{
    server_i64(url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                    "datname = current_database() AND pid <> pg_backend_pid()");
}

/* A connection the server closed is made again by the next statement
 * outside a transaction or the next transaction's start, a read's or a
 * write's, with its statements prepared anew: a long-lived server
 * outlives a restart of its database. Within a transaction a lost
 * connection is an error (what was done in it is gone), and the next
 * transaction goes on. */
static void test_connection_lost(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t a, id = 0;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    put(s, a, "one", "{}");
    assert_int_equal(pg_commit(s, &err), DT_OK);

    drop_connections(url); /* a read outside any transaction (a handle's first) */
    char *v = NULL;
    assert_int_equal(pg_meta_get(s, "schema_version", &v, &err), DT_OK);
    assert_non_null(v);
    dt_free(v);
    drop_connections(url);
    int started = 0;
    assert_int_equal(pg_snapshot_begin(s, &started, &err), DT_OK);
    assert_int_equal(started, 1);
    assert_int_equal(pg_record_id(s, a, "one", &id, &err), DT_OK); /* prepared before */
    pg_snapshot_end(s, started);

    drop_connections(url);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    put(s, a, "two", "{}");
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_int_equal(pg_record_id(s, a, "two", &id, &err), DT_OK);

    assert_int_equal(pg_begin(s, &err), DT_OK);
    drop_connections(url);
    st_put_result r;
    assert_int_equal(pg_record_put(s, a, "three", "{}", "{}", 1, &r, &id, &err), DT_EIO);
    pg_rollback(s);
    assert_int_equal(pg_snapshot_begin(s, &started, &err), DT_OK);
    assert_int_equal(pg_record_id(s, a, "three", &id, &err), DT_ENOTFOUND);
    pg_snapshot_end(s, started);
    assert_int_equal(pg_begin_now(s, &err), DT_OK);
    put(s, a, "three", "{}");
    assert_int_equal(pg_commit(s, &err), DT_OK);
    uint64_t n = 0;
    assert_int_equal(pg_record_count(s, NULL, &n, &err), DT_OK);
    assert_int_equal(n, 3);
    pg_close(s);
}

/* Counts a match: hits[i] for query i matching record i + 1 (its own
 * key), others for any other record. */
typedef struct many_hits {
    size_t own, others;
} many_hits;

static int count_match(void *ctx, size_t i, int64_t record)
{
    many_hits *h = ctx;
    if (record == (int64_t)i + 1) h->own++;
    else h->others++;
    return DT_OK;
}

/* The index over more rows than a statement takes (PG_BATCH) and more
 * blocks than a read asks for (index.c's 1,024): every record matches
 * itself by its own key, the ten that share a key match each other; keys
 * set again for half the records drop their old slots. And the block
 * ranges primitive past PG_BATCH ranges: each range's ids, empty ones
 * included, end where it says. */
static void test_index_many(void **state)
{
    (void)state;
    char url[512];
    st_store *s = pg_create(url, sizeof url);
    dt_error err;
    int64_t src;
    assert_int_equal(pg_source_id(s, "a", &src, &err), DT_OK);
    enum { N = 6000 };
    st_put_row *rows = calloc(N, sizeof *rows);
    char (*names)[16] = calloc(N, sizeof *names);
    int64_t *recs = calloc(N, sizeof *recs);
    uint64_t *rule0 = calloc(N, sizeof *rule0), *rule1 = calloc(N, sizeof *rule1);
    uint16_t *codes = calloc(N, sizeof *codes);
    assert_true(rows && names && recs && rule0 && rule1 && codes);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "r%d", i);
        rows[i] = (st_put_row){names[i], "{}", "{}", 0, 0};
        rule0[i] = 1000 + (uint64_t)i;
        rule1[i] = i < 10 ? 7 : 0;
    }
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(st_records_put(s, src, rows, N, 1000, &err), DT_OK);
    for (int i = 0; i < N; i++) recs[i] = rows[i].id;
    assert_int_equal(recs[N - 1], N);
    const uint64_t *keys[2] = {rule0, rule1};
    assert_int_equal(st_keys_set(s, recs, codes, N, keys, 2, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    many_hits h = {0};
    assert_int_equal(st_keys_match(s, N, keys, 2, ~UINT64_C(0), NULL, count_match, &h, &err),
                     DT_OK);
    assert_int_equal(h.own, N + 10); /* the ten under both rules */
    assert_int_equal(h.others, 90);
    /* half the records take new keys: their old ones match nothing */
    uint64_t *old0 = calloc(N, sizeof *old0);
    assert_non_null(old0);
    memcpy(old0, rule0, N * sizeof *old0);
    for (int i = 0; i < N; i += 2) rule0[i] = 100000 + (uint64_t)i;
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(st_keys_set(s, recs, codes, N, keys, 2, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    h = (many_hits){0};
    assert_int_equal(st_keys_match(s, N, keys, 2, ~UINT64_C(0), NULL, count_match, &h, &err),
                     DT_OK);
    assert_int_equal(h.own, N + 10);
    const uint64_t *old[2] = {old0, rule1};
    h = (many_hits){0};
    assert_int_equal(st_keys_match(s, N, old, 2, ~UINT64_C(0), NULL, count_match, &h, &err),
                     DT_OK);
    assert_int_equal(h.own, N / 2 + 10);
    PGresult *r = PQexec((PGconn *)s->pg, "SELECT count(*) FROM block_key");
    assert_string_equal(PQgetvalue(r, 0, 0), "6010");
    PQclear(r);
    /* ranges: range k is [4k, 4k + 3] past the sign bit, holding slot
     * 4k + 1 unless k % 3 == 0 */
    size_t n = PG_BATCH + 2, *ends = calloc(n, sizeof *ends);
    uint64_t *lo = calloc(n, sizeof *lo), *hi = calloc(n, sizeof *hi), *put = calloc(n, sizeof *put);
    assert_true(ends && lo && hi && put);
    size_t n_put = 0;
    for (size_t k = 0; k < n; k++) {
        lo[k] = (UINT64_C(1) << 63) + 4 * k; /* negative: one source's slots never are */
        hi[k] = lo[k] + 3;
        if (k % 3) put[n_put++] = lo[k] + 1;
    }
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_idx_slots_put(s, put, n_put, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    id_buf got = {0};
    assert_int_equal(pg_idx_ranges(s, lo, hi, n, &got, ends, &err), DT_OK);
    assert_int_equal(got.n, n_put);
    for (size_t k = 0, at = 0; k < n; k++) {
        if (k % 3) assert_int_equal(got.v[at++], (int64_t)((lo[k] + 1) & SLOT_RECORD_MASK));
        assert_int_equal(ends[k], at);
    }
    dt_free(got.v);
    free(ends);
    free(lo);
    free(hi);
    free(put);
    free(old0);
    free(rows);
    free(names);
    free(recs);
    free(rule0);
    free(rule1);
    free(codes);
    pg_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_reopen_and_refuse),
        cmocka_unit_test(test_sources_and_models),
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_two_writers),
        cmocka_unit_test(test_blocking_index),
        cmocka_unit_test(test_many_at_once),
        cmocka_unit_test(test_records_many),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_data_generation),
        cmocka_unit_test(test_connection_lost),
        cmocka_unit_test(test_index_many),
    };
    return cmocka_run_group_tests(tests, pg_setup, pg_teardown);
}
