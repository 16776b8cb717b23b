/* Unit tests for src/store on SQLite: create and reopen, idempotent puts,
 * updates that keep the earlier version, withdrawal and restore, a
 * rolled-back batch, a locked store and files that are not stores, the
 * blocking index, and the batch forms against their one-record twins. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/store.h"
#include "util/util.h"

#include "tmpdir.h"
#include "many_records.h"

static char g_path[256], g_key[256];

static int setup(void **state)
{
    if (tmpdir_setup(state) < 0) return -1;
    tmpdir_path(g_path, sizeof g_path, "s.db");
    tmpdir_path(g_key, sizeof g_key, "s.key"); /* made by the first create */
    return 0;
}

static void fresh(void)
{
    tmpdir_remove_store(g_path);
}

static st_store *create(void)
{
    fresh();
    st_store *s = NULL;
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(st_open(g_path, g_key, ST_CREATE, &s, &err), DT_OK);
    return s;
}

static st_put_result put(st_store *s, int64_t src, const char *id, const char *raw)
{
    dt_error err;
    dt_error_clear(&err);
    st_put_result r;
    int64_t rec = 0;
    assert_int_equal(st_record_put(s, src, id, raw, "{}", 1000, &r, &rec, &err), DT_OK);
    assert_true(rec > 0);
    return r;
}

static uint64_t count(st_store *s, const char *source)
{
    dt_error err;
    dt_error_clear(&err);
    uint64_t n = 0;
    assert_int_equal(st_record_count(s, source, &n, &err), DT_OK);
    return n;
}

static void test_create_and_reopen(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(st_meta_set(s, "config", "fields: {}", &err), DT_OK);
    st_close(s);

    /* Creating over an existing file is refused and leaves it alone. */
    assert_int_equal(st_open(g_path, g_key, ST_CREATE, &s, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "already there"));
    assert_int_equal(access(g_path, F_OK), 0);

    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &s, &err), DT_OK);
    char *v = NULL;
    assert_int_equal(st_meta_get(s, "config", &v, &err), DT_OK);
    assert_string_equal(v, "fields: {}");
    dt_free(v);
    assert_int_equal(st_meta_get(s, "absent", &v, &err), DT_OK);
    assert_null(v);

    /* A store of another schema version is refused, saying what to do. */
    assert_int_equal(st_meta_set(s, "schema_version", "1", &err), DT_OK);
    st_close(s);
    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &s, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "schema version 1"));
    assert_non_null(strstr(err.msg, "dovetail init"));
}

static void test_put_is_idempotent(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    dt_error_clear(&err);
    int64_t a, b, a2;
    assert_int_equal(st_source_id(s, "benefits", &a, &err), DT_OK);
    assert_int_equal(st_source_id(s, "voters", &b, &err), DT_OK);
    assert_int_equal(st_source_id(s, "benefits", &a2, &err), DT_OK);
    assert_true(a == a2 && a != b);

    assert_int_equal(put(s, a, "1", "{\"name\":\"Ann\"}"), ST_PUT_NEW);
    assert_int_equal(put(s, a, "1", "{\"name\":\"Ann\"}"), ST_PUT_SAME);
    assert_int_equal(put(s, b, "1", "{\"name\":\"Ann\"}"), ST_PUT_NEW); /* ids are per source */
    assert_int_equal(count(s, NULL), 2);
    assert_int_equal(count(s, "benefits"), 1);
    assert_int_equal(count(s, "nobody"), 0);
    st_close(s);
}

typedef struct seen {
    int n;
    char ids[8][32];
    char raws[8][64];
    int64_t versions[8];
    int withdrawn[8];
} seen;

static int collect(void *ctx, const st_record *r)
{
    seen *v = ctx;
    if (v->n == 8) return DT_EINTERNAL;
    snprintf(v->ids[v->n], sizeof v->ids[0], "%s:%s", r->source, r->record_id);
    snprintf(v->raws[v->n], sizeof v->raws[0], "%s", r->raw);
    v->versions[v->n] = r->version;
    v->withdrawn[v->n++] = r->is_withdrawn;
    return DT_OK;
}

static void test_update_withdraw_restore(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    dt_error_clear(&err);
    int64_t a;
    assert_int_equal(st_source_id(s, "benefits", &a, &err), DT_OK);
    assert_int_equal(put(s, a, "7", "{\"zip\":\"02139\"}"), ST_PUT_NEW);
    assert_int_equal(put(s, a, "7", "{\"zip\":\"02140\"}"), ST_PUT_CHANGED);

    int found = -1;
    assert_int_equal(st_record_withdraw(s, a, "7", &found, &err), DT_OK);
    assert_int_equal(found, 1);
    assert_int_equal(st_record_withdraw(s, a, "7", &found, &err), DT_OK);
    assert_int_equal(found, 0); /* already withdrawn */
    assert_int_equal(st_record_withdraw(s, a, "8", &found, &err), DT_OK);
    assert_int_equal(found, 0);
    assert_int_equal(count(s, NULL), 0);

    seen v = {0};
    assert_int_equal(st_records_each(s, NULL, 0, collect, &v, &err), DT_OK);
    assert_int_equal(v.n, 0);
    assert_int_equal(st_records_each(s, "benefits", 1, collect, &v, &err), DT_OK);
    assert_int_equal(v.n, 1);
    assert_string_equal(v.ids[0], "benefits:7");
    assert_string_equal(v.raws[0], "{\"zip\":\"02140\"}");
    assert_int_equal(v.versions[0], 2);
    assert_int_equal(v.withdrawn[0], 1);

    /* Sent again, even unchanged, a withdrawn record comes back. */
    assert_int_equal(put(s, a, "7", "{\"zip\":\"02140\"}"), ST_PUT_RESTORED);
    assert_int_equal(count(s, NULL), 1);
    st_close(s);

    /* No version was overwritten: the history holds versions 1 and 2,
     * sealed (neither value is there in clear). */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(version, '|'), "
                                            "sum(instr(raw, CAST('0213' AS BLOB)) = 0) FROM "
                                            "(SELECT version, raw FROM record_history "
                                            "ORDER BY version)",
                                        -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "1|2");
    assert_int_equal(sqlite3_column_int(st, 1), 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_rollback_and_order(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    dt_error_clear(&err);
    int64_t a, b;
    assert_int_equal(st_source_id(s, "b", &b, &err), DT_OK);
    assert_int_equal(st_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(st_begin(s, &err), DT_OK);
    put(s, b, "2", "{}");
    put(s, a, "9", "{}");
    put(s, a, "10", "{}");
    assert_int_equal(st_commit(s, &err), DT_OK);
    assert_int_equal(st_begin(s, &err), DT_OK);
    put(s, a, "11", "{}");
    st_rollback(s);
    assert_int_equal(count(s, NULL), 3);

    /* Walks come in (source name, record id) order, whatever the insert order. */
    seen v = {0};
    assert_int_equal(st_records_each(s, NULL, 0, collect, &v, &err), DT_OK);
    assert_int_equal(v.n, 3);
    assert_string_equal(v.ids[0], "a:10");
    assert_string_equal(v.ids[1], "a:9");
    assert_string_equal(v.ids[2], "b:2");
    st_close(s);
}

static void test_locked_and_foreign_files(void **state)
{
    (void)state;
    st_store *s = create(), *t = NULL;
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &t, &err), DT_OK);
    assert_int_equal(st_begin(s, &err), DT_OK);
    /* A second writer is told the store is locked, and nothing changes. */
    assert_int_equal(st_begin(t, &err), DT_EBUSY);
    assert_non_null(strstr(err.msg, "locked by another process"));
    assert_non_null(strstr(err.msg, g_path));
    st_rollback(s);
    st_close(t);
    st_close(s);

    char other[300];
    snprintf(other, sizeof other, "%s/not-a-store.txt", g_dir);
    FILE *f = fopen(other, "w");
    assert_non_null(f);
    fputs("name,dob\nann,1980-01-02\n", f);
    fclose(f);
    dt_error_clear(&err);
    assert_int_equal(st_open(other, g_key, ST_OPEN, &t, &err), DT_EIO);
    assert_non_null(strstr(err.msg, other));
    assert_null(t);

    snprintf(other, sizeof other, "%s/missing.db", g_dir);
    assert_int_equal(st_open(other, g_key, ST_OPEN, &t, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "dovetail init"));
    assert_int_equal(access(other, F_OK), -1); /* opening never creates */
}

/* An erased record's id is never given to another record, even when it
 * was the highest: ids once shown name one record for good. */
static void test_erased_ids_not_reused(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    dt_error_clear(&err);
    int64_t a, id1, id2, id3;
    st_put_result r;
    assert_int_equal(st_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(st_begin(s, &err), DT_OK);
    assert_int_equal(st_record_put(s, a, "1", "{}", "{}", 1000, &r, &id1, &err), DT_OK);
    assert_int_equal(st_record_put(s, a, "2", "{}", "{}", 1000, &r, &id2, &err), DT_OK);
    assert_int_equal(st_record_erase(s, id2, &err), DT_OK);
    assert_int_equal(st_record_put(s, a, "3", "{}", "{}", 1000, &r, &id3, &err), DT_OK);
    assert_true(id3 > id2);
    assert_int_equal(st_record_put(s, a, "2", "{}", "{}", 1000, &r, &id2, &err), DT_OK);
    assert_int_equal(r, ST_PUT_NEW); /* sent again after its erasure: a new record */
    assert_true(id2 > id3);
    assert_int_equal(st_commit(s, &err), DT_OK);
    assert_int_equal(count(s, NULL), 3);
    st_close(s);
}

/* A read snapshot sees the store of one instant while another connection
 * commits; inside a write transaction it starts nothing. */
static void test_snapshot(void **state)
{
    (void)state;
    st_store *s = create(), *t = NULL;
    dt_error err;
    dt_error_clear(&err);
    int64_t a;
    assert_int_equal(st_source_id(s, "a", &a, &err), DT_OK);
    put(s, a, "1", "{}");
    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &t, &err), DT_OK);
    int started = 0;
    assert_int_equal(st_snapshot_begin(s, &started, &err), DT_OK);
    assert_int_equal(started, 1);
    assert_int_equal(count(s, NULL), 1);
    assert_int_equal(st_begin(t, &err), DT_OK); /* a reader takes no write lock */
    put(t, a, "2", "{}");
    assert_int_equal(st_commit(t, &err), DT_OK);
    assert_int_equal(count(s, NULL), 1);
    st_snapshot_end(s, started);
    assert_int_equal(count(s, NULL), 2);

    assert_int_equal(st_begin(s, &err), DT_OK);
    assert_int_equal(st_snapshot_begin(s, &started, &err), DT_OK);
    assert_int_equal(started, 0);
    put(s, a, "3", "{}");
    st_snapshot_end(s, started); /* ends nothing: the write is still open */
    st_rollback(s);
    assert_int_equal(count(s, NULL), 2);
    st_close(t);
    st_close(s);
}

static int64_t gen_of(st_store *s)
{
    dt_error err;
    int64_t gen = -1;
    assert_int_equal(st_data_gen(s, &gen, &err), DT_OK);
    return gen;
}

/* The data generation moves on with every commit that changes data and
 * only then: the audit log's rows alone leave it, so a held snapshot
 * stays usable while reads are logged; and a held snapshot goes on until
 * released, while the probe sees the generation as it is now. */
static void test_data_generation_and_held_snapshot(void **state)
{
    (void)state;
    st_store *s = create(), *t = NULL;
    dt_error err;
    dt_error_clear(&err);
    int64_t a, g0 = gen_of(s), g;
    assert_int_equal(st_source_id(s, "a", &a, &err), DT_OK);
    put(s, a, "1", "{}");
    assert_true(gen_of(s) > g0);
    g0 = gen_of(s);

    assert_int_equal(st_begin(s, &err), DT_OK); /* an entry and a head: the log alone */
    uint8_t leaf[32] = {1};
    const char *subjects[] = {"a:1"};
    st_audit_entry e = {.seq = 1, .time = 1, .principal = "p", .purpose = "x", .action = "a.b",
                        .fields = "[]", .outcome = "allowed", .subjects = subjects,
                        .n_subjects = 1, .leaf_hash = leaf, .leaf_hash_len = 32};
    assert_int_equal(st_audit_put(s, &e, &err), DT_OK);
    uint8_t frontier[32] = {0};
    st_head h = {.size = 1, .time = 1, .frontier = frontier, .frontier_len = 32};
    assert_int_equal(st_head_put(s, &h, &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
    assert_int_equal(gen_of(s), g0);
    assert_int_equal(st_begin(s, &err), DT_OK); /* a data row beside an entry: moves */
    e.seq = 2;
    assert_int_equal(st_audit_put(s, &e, &err), DT_OK);
    assert_int_equal(st_meta_set(s, "k", "v", &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
    assert_int_equal(gen_of(s), g0 + 1);
    assert_int_equal(st_begin(s, &err), DT_OK); /* rolled back: nothing moves */
    assert_int_equal(st_meta_set(s, "k", "w", &err), DT_OK);
    st_rollback(s);
    assert_int_equal(gen_of(s), g0 + 1);

    st_probe *p = NULL;
    assert_int_equal(st_probe_open(s, &p, &err), DT_OK);
    int started = 0;
    assert_int_equal(st_snapshot_begin(s, &started, &err), DT_OK);
    assert_int_equal(count(s, NULL), 1);
    st_snapshot_hold(s, started);
    assert_true(st_snapshot_is_held(s));
    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &t, &err), DT_OK);
    assert_int_equal(st_begin(t, &err), DT_OK);
    put(t, a, "2", "{}");
    assert_int_equal(st_commit(t, &err), DT_OK);
    assert_int_equal(st_snapshot_begin(s, &started, &err), DT_OK); /* goes on in the held one */
    assert_int_equal(started, 0);
    assert_int_equal(count(s, NULL), 1);
    assert_int_equal(gen_of(s), g0 + 1);
    assert_int_equal(st_probe_gen(p, &g, &err), DT_OK); /* the probe sees it as it is */
    assert_int_equal(g, g0 + 2);
    st_snapshot_release(s);
    assert_false(st_snapshot_is_held(s));
    assert_int_equal(count(s, NULL), 2);
    assert_int_equal(st_snapshot_begin(s, &started, &err), DT_OK);
    assert_int_equal(count(s, NULL), 2);
    st_snapshot_hold(s, started);
    assert_int_equal(st_begin(s, &err), DT_OK); /* a write releases a held snapshot */
    assert_false(st_snapshot_is_held(s));
    st_rollback(s);
    st_probe_close(p);
    st_close(t);
    st_close(s);
}

static int collect_match(void *ctx, size_t i, int64_t record)
{
    uint32_t *hits = ctx; /* per record id, a bit per query */
    hits[record] |= 1u << i;
    return 0;
}

/* Which records of the sources in codes match each query: hits[record]
 * has bit i for query i. */
static void match_codes(st_store *s, size_t n, const uint64_t *const *keys, uint64_t codes,
                        uint32_t hits[8])
{
    dt_error err;
    dt_error_clear(&err);
    memset(hits, 0, 8 * sizeof *hits);
    assert_int_equal(st_keys_match(s, n, keys, 2, codes, NULL, collect_match, hits, &err), DT_OK);
}

static void match(st_store *s, size_t n, const uint64_t *const *keys, uint32_t hits[8])
{
    match_codes(s, n, keys, ~UINT64_C(0), hits);
}

static void test_blocking_index(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    dt_error_clear(&err);
    int64_t src = 0, recs[4] = {1, 2, 3, 4};
    assert_int_equal(st_source_id(s, "a", &src, &err), DT_OK);
    const char *ids[4] = {"r1", "r2", "r3", "r4"};
    for (int i = 0; i < 4; i++) put(s, src, ids[i], "{}");
    uint64_t rule0[4] = {10, 10, 20, 0}, rule1[4] = {7, 8, 8, 7};
    const uint64_t *keys[2] = {rule0, rule1};
    uint16_t codes[4] = {0};
    assert_int_equal(st_keys_set(s, recs, codes, 4, keys, 2, &err), DT_OK);

    /* Query 0 (10, 8) shares rule 0's key with r1 and r2, rule 1's with r2
     * and r3; query 1 (7, none) holds under rule 0 a key that only rule 1
     * has: no match. */
    uint64_t q_rule0[2] = {10, 7}, q_rule1[2] = {8, 0};
    const uint64_t *q[2] = {q_rule0, q_rule1};
    uint32_t hits[8];
    match(s, 2, q, hits);
    assert_int_equal(hits[1], 1);
    assert_int_equal(hits[2], 1);
    assert_int_equal(hits[3], 1);
    assert_int_equal(hits[4], 0);

    /* Setting again replaces a record's keys; dropping removes them. */
    uint64_t again0[1] = {0}, again1[1] = {9};
    const uint64_t *again[2] = {again0, again1};
    assert_int_equal(st_keys_set(s, &recs[1], codes, 1, again, 2, &err), DT_OK);
    assert_int_equal(st_keys_drop(s, recs[0], &err), DT_OK);
    assert_int_equal(st_keys_drop(s, recs[0], &err), DT_OK); /* none held is fine */
    match(s, 2, q, hits);
    assert_int_equal(hits[1], 0);
    assert_int_equal(hits[2], 0);
    assert_int_equal(hits[3], 1);
    uint64_t q9[2] = {0, 9};
    const uint64_t *nine[2] = {&q9[0], &q9[1]};
    match(s, 1, nine, hits);
    assert_int_equal(hits[2], 1);

    /* Ids past the index's range are refused, naming the limit. */
    int64_t huge = (int64_t)1 << 30;
    assert_int_equal(st_keys_set(s, &huge, codes, 1, keys, 2, &err), DT_ELIMIT);
    assert_non_null(strstr(err.msg, "2^30"));
    st_close(s);
}

/* Rows of `table` in the store file (a second connection: WAL, committed). */
static int64_t rows_of(const char *table)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    char sql[80];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* A changed record keeps the slots of the keys it kept where they are:
 * only what changed is written (a daily delta rewrote every slot of each
 * changed record, 8 random pages each at a million people). */
static void test_keys_set_writes_the_difference(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    dt_error_clear(&err);
    int64_t src = 0, recs[2] = {1, 2};
    assert_int_equal(st_source_id(s, "a", &src, &err), DT_OK);
    put(s, src, "r1", "{}");
    put(s, src, "r2", "{}");
    uint64_t rule0[2] = {10, 20}, rule1[2] = {7, 8};
    const uint64_t *keys[2] = {rule0, rule1};
    uint16_t codes[2] = {0, 0};
    assert_int_equal(st_keys_add(s, recs, codes, 2, keys, 2, &err), DT_OK); /* into block_key */
    assert_int_equal(rows_of("block_key"), 4);
    assert_int_equal(rows_of("block_new"), 0);
    uint64_t again0[1] = {20}, again1[1] = {9}; /* r2: rule 0's key kept, rule 1's changed */
    const uint64_t *again[2] = {again0, again1};
    assert_int_equal(st_keys_set(s, &recs[1], codes, 1, again, 2, &err), DT_OK);
    assert_int_equal(rows_of("block_key"), 3);
    assert_int_equal(rows_of("block_new"), 1);
    assert_int_equal(st_keys_set(s, &recs[1], codes, 1, again, 2, &err), DT_OK); /* the same */
    assert_int_equal(rows_of("block_key") + rows_of("block_new"), 4);
    uint64_t q0[1] = {20}, q1[1] = {9};
    const uint64_t *q[2] = {q0, q1};
    uint32_t hits[8];
    match(s, 1, q, hits);
    assert_int_equal(hits[1], 0);
    assert_int_equal(hits[2], 1);
    uint64_t old0[1] = {0}, old1[1] = {8};
    const uint64_t *old[2] = {old0, old1};
    match(s, 1, old, hits);
    assert_int_equal(hits[2], 0); /* the slot of the key it lost is gone */
    st_close(s);
}

/* Five sources, record r of source r - 1, every one in one block: a
 * match asked for some sources meets only their records. */
static st_store *five_sources(int64_t recs[6], const uint64_t *const *keys)
{
    st_store *s = create();
    dt_error err;
    dt_error_clear(&err);
    const char *names[5] = {"a", "b", "c", "d", "e"};
    uint16_t codes[5];
    for (int i = 0; i < 5; i++) {
        int64_t src = 0;
        assert_int_equal(st_source_id(s, names[i], &src, &err), DT_OK);
        put(s, src, "r", "{}");
        recs[i] = i + 1;
        codes[i] = (uint16_t)i;
    }
    assert_int_equal(st_keys_set(s, recs, codes, 5, keys, 2, &err), DT_OK);
    return s;
}

static void test_blocking_index_by_source(void **state)
{
    (void)state;
    uint64_t rule0[5] = {42, 42, 42, 42, 42}, rule1[5] = {0};
    const uint64_t *keys[2] = {rule0, rule1};
    int64_t recs[6];
    st_store *s = five_sources(recs, keys);
    uint64_t q0[1] = {42}, q1[1] = {0};
    const uint64_t *q[2] = {q0, q1};
    uint32_t hits[8];
    match(s, 1, q, hits);
    for (int r = 1; r <= 5; r++) assert_int_equal(hits[r], 1);
    match_codes(s, 1, q, (1u << 0) | (1u << 2) | (1u << 3), hits); /* a, c, d */
    assert_int_equal(hits[1], 1);
    assert_int_equal(hits[2], 0);
    assert_int_equal(hits[3], 1);
    assert_int_equal(hits[4], 1);
    assert_int_equal(hits[5], 0);
    match_codes(s, 1, q, 0, hits);
    for (int r = 1; r <= 5; r++) assert_int_equal(hits[r], 0);
    /* half of all hashes set a slot's sign bit: a block's ranges hold either way */
    for (uint64_t key = 1; key <= 16; key++) {
        uint64_t all[5] = {key, key, key, key, key};
        const uint64_t *k2[2] = {all, rule1};
        uint16_t codes[5] = {0, 1, 2, 3, 4};
        dt_error e;
        assert_int_equal(st_keys_set(s, recs, codes, 5, k2, 2, &e), DT_OK);
        uint64_t qk[1] = {key};
        const uint64_t *qq[2] = {qk, q1};
        match_codes(s, 1, qq, (1u << 1) | (1u << 3), hits); /* b, d */
        assert_int_equal(hits[1] | hits[3] | hits[5], 0);
        assert_int_equal(hits[2] & hits[4], 1);
    }
    /* a code past the store's sources is our bug, not data */
    dt_error err;
    dt_error_clear(&err);
    int64_t one = 1;
    uint16_t bad = 8;
    assert_int_equal(st_keys_set(s, &one, &bad, 1, keys, 2, &err), DT_EINTERNAL);
    st_close(s);
}

/* The whole of a file (empty when absent), for grepping. */
static char *slurp(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1);
    if (!f) return buf;
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf = realloc(buf, *n + got);
        memcpy(buf + *n, chunk, got);
        *n += got;
    }
    fclose(f);
    return buf;
}

/* 1 when needle occurs in the store file or its WAL. */
static int store_holds(const char *needle)
{
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    const char *paths[2] = {g_path, wal};
    int found = 0;
    for (int i = 0; i < 2; i++) {
        size_t n;
        char *b = slurp(paths[i], &n);
        found |= memmem(b, n, needle, strlen(needle)) != NULL;
        free(b);
    }
    return found;
}

static int mode_of(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int)(sb.st_mode & 0777) : -1;
}

/* Record contents are sealed: neither the store nor its WAL holds them,
 * the files are 0600 whatever the umask, a sealed value moved to another
 * row does not open, and a wrong or exposed key file is refused. */
static void test_sealed_at_rest(void **state)
{
    (void)state;
    mode_t old_mask = umask(022);
    st_store *s = create();
    dt_error err;
    dt_error_clear(&err);
    int64_t src = 0, id1 = 0, id2 = 0;
    st_put_result r;
    assert_int_equal(st_source_id(s, "a", &src, &err), DT_OK);
    assert_int_equal(st_begin(s, &err), DT_OK);
    assert_int_equal(st_record_put(s, src, "1", "{\"name\":\"Zebedee\",\"ssn\":\"987654321\"}",
                                   "{\"given\":\"zebedee\"}", 1000, &r, &id1, &err), DT_OK);
    assert_int_equal(st_record_put(s, src, "2", "{\"name\":\"Quenby\"}", "{\"given\":\"quenby\"}",
                                   1000, &r, &id2, &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
    char side[300];
    snprintf(side, sizeof side, "%s-wal", g_path);
    assert_int_equal(mode_of(g_path), 0600);
    assert_int_equal(mode_of(side), 0600);
    snprintf(side, sizeof side, "%s-shm", g_path);
    assert_int_equal(mode_of(side), 0600);
    assert_int_equal(mode_of(g_key), 0600);
    assert_false(store_holds("Zebedee"));
    assert_false(store_holds("zebedee"));
    assert_false(store_holds("987654321"));
    assert_false(store_holds("Quenby"));
    st_record got;
    assert_int_equal(st_record_get(s, id1, &got, NULL, &err), DT_OK);
    assert_string_equal(got.raw, "{\"name\":\"Zebedee\",\"ssn\":\"987654321\"}");
    assert_string_equal(got.norm, "{\"given\":\"zebedee\"}");
    st_record_free(&got);
    st_close(s);
    umask(old_mask);

    /* Swapping two rows' sealed values is caught when they are read. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE record SET raw = (SELECT raw FROM record WHERE "
                                      "record_id = '2') WHERE record_id = '1'", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &s, &err), DT_OK);
    assert_int_equal(st_record_get(s, id1, &got, NULL, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "does not open"));
    assert_int_equal(st_record_get(s, id2, &got, NULL, &err), DT_OK);
    st_record_free(&got);
    st_close(s);

    /* Another store's key file is named as the wrong one. */
    char other[300], other_key[300];
    snprintf(other, sizeof other, "%s/other.db", g_dir);
    snprintf(other_key, sizeof other_key, "%s/other.key", g_dir);
    assert_int_equal(st_open(other, other_key, ST_CREATE, &s, &err), DT_OK);
    st_close(s);
    dt_error_clear(&err);
    assert_int_equal(st_open(g_path, other_key, ST_OPEN, &s, &err), DT_EAUTH);
    assert_non_null(strstr(err.msg, "does not open this store"));
    assert_null(s);
    assert_int_equal(st_open(g_path, NULL, ST_OPEN, &s, &err), DT_EINVAL);
    assert_non_null(strstr(err.msg, "no key file"));

    /* A key file others may read is refused. */
    assert_int_equal(chmod(g_key, 0644), 0);
    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &s, &err), DT_EINVAL);
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_int_equal(chmod(g_key, 0600), 0);
}

/* Event rows and findings (findings_sql.c): events are sealed and keyed by
 * (event source, id); a finding is keyed by (purpose, id), so two purposes
 * that find the same thing keep two findings; its evidence and steps are
 * sealed and bound to their row; a missing step is damage, not a shorter
 * history; a schema 6 store gets the tables at open. */
typedef struct seen_rows {
    int n;
    char last[256];
} seen_rows;

static int count_event(void *ctx, const char *event_id, const char *row)
{
    seen_rows *r = ctx;
    r->n++;
    snprintf(r->last, sizeof r->last, "%s=%s", event_id, row);
    return DT_OK;
}

static int count_step(void *ctx, const st_finding_step *step)
{
    seen_rows *r = ctx;
    assert_int_equal(step->seq, ++r->n);
    snprintf(r->last, sizeof r->last, "%s:%s:%s", step->action, step->state, step->reason);
    return DT_OK;
}

static st_finding finding_of(const char *purpose, const char *state)
{
    return (st_finding){.id = "F00000000000000aa", .rule = "payment_after_death",
                        .state = (char *)state, .purpose = (char *)purpose,
                        .evidence = "{\"records\":[{\"source\":\"benefits\",\"record_id\":\"Zebulon-7\"}]}",
                        .rule_version = 1, .contest_days = 30, .model_version = 2,
                        .created = 100, .updated = 100, .confidence = 0.97, .sources = 3};
}

static void test_events_and_findings(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    dt_error_clear(&err);
    int64_t pay;
    st_put_result r;
    assert_int_equal(st_source_id(s, "payments", &pay, &err), DT_OK);
    assert_int_equal(st_begin(s, &err), DT_OK);
    assert_int_equal(st_event_put(s, pay, "P1", "{\"cents\":123456,\"key\":\"Quillon-9\"}", 5, &r, &err), DT_OK);
    assert_int_equal(r, ST_PUT_NEW);
    assert_int_equal(st_event_put(s, pay, "P1", "{\"cents\":123456,\"key\":\"Quillon-9\"}", 6, &r, &err), DT_OK);
    assert_int_equal(r, ST_PUT_SAME);
    assert_int_equal(st_event_put(s, pay, "P1", "{\"cents\":7,\"key\":\"Quillon-9\"}", 7, &r, &err), DT_OK);
    assert_int_equal(r, ST_PUT_CHANGED);
    assert_int_equal(st_event_put(s, pay, "P2", "{\"cents\":8,\"key\":\"Quillon-9\"}", 9, &r, &err), DT_OK);

    st_finding a = finding_of("integrity", "open"), b = finding_of("audit", "needs-review");
    assert_int_equal(st_finding_put(s, &a, &err), DT_OK);
    assert_int_equal(st_finding_put(s, &b, &err), DT_OK);
    st_finding_step s1 = {.at = 101, .action = "verify", .state = "verified", .by = "rev",
                          .reason = "Zebulon's payments confirmed"};
    st_finding_step s2 = {.at = 102, .action = "notify", .state = "notified", .by = "ana", .reason = ""};
    assert_int_equal(st_finding_step_add(s, "integrity", a.id, &s1, &err), DT_OK);
    assert_int_equal(st_finding_step_add(s, "integrity", a.id, &s2, &err), DT_OK);
    assert_int_equal(s2.seq, 2);
    assert_int_equal(st_commit(s, &err), DT_OK);

    seen_rows ev = {0};
    assert_int_equal(st_events_each(s, "payments", count_event, &ev, &err), DT_OK);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.last, "P2={\"cents\":8,\"key\":\"Quillon-9\"}");
    ev.n = 0;
    assert_int_equal(st_events_each(s, "earnings", count_event, &ev, &err), DT_OK);
    assert_int_equal(ev.n, 0); /* never ingested: none, and nothing created */
    int64_t oldest;
    int any;
    uint64_t n_erased;
    assert_int_equal(st_events_oldest(s, "payments", &oldest, &any, &err), DT_OK);
    assert_true(any);
    assert_int_equal(oldest, 7);

    st_finding got;
    assert_int_equal(st_finding_get(s, "audit", a.id, &got, &err), DT_OK);
    assert_string_equal(got.state, "needs-review"); /* the other purpose's row was not replaced */
    st_finding_free(&got);
    assert_int_equal(st_finding_get(s, "integrity", a.id, &got, &err), DT_OK);
    assert_string_equal(got.state, "open");
    assert_string_equal(got.evidence, a.evidence);
    assert_int_equal(got.sources, 3);
    st_finding_free(&got);
    assert_int_equal(st_finding_get(s, "other", a.id, &got, &err), DT_ENOTFOUND);
    seen_rows steps = {0};
    assert_int_equal(st_finding_steps_each(s, "integrity", a.id, count_step, &steps, &err), DT_OK);
    assert_int_equal(steps.n, 2);
    steps.n = 0;
    assert_int_equal(st_finding_steps_each(s, "audit", a.id, count_step, &steps, &err), DT_OK);
    assert_int_equal(steps.n, 0);
    assert_false(store_holds("Quillon-9"));
    assert_false(store_holds("Zebulon"));
    assert_false(store_holds("123456"));

    assert_int_equal(st_begin(s, &err), DT_OK);
    assert_int_equal(st_events_erase(s, "payments", 8, &n_erased, &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
    assert_int_equal(n_erased, 1);
    st_close(s);

    /* One purpose's evidence moved onto the other's row does not open; a
     * step removed is damage. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE finding SET evidence = (SELECT evidence FROM finding "
                                      "WHERE purpose = 'integrity') WHERE purpose = 'audit';"
                                      "DELETE FROM finding_step WHERE seq = 1", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &s, &err), DT_OK);
    assert_int_equal(st_finding_get(s, "audit", a.id, &got, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "does not open"));
    dt_error_clear(&err);
    assert_int_equal(st_finding_steps_each(s, "integrity", a.id, count_step, &steps, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "a step is missing"));
    st_close(s);

    /* A schema 6 store (no findings tables, no log_end, no decision) gets them at open. */
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE finding_step; DROP TABLE finding; DROP TABLE event;"
                                      "DROP TABLE log_end; DROP TABLE decision;"
                                      "UPDATE meta SET value = '6' WHERE key = 'schema_version'",
                                      NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    dt_error_clear(&err);
    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &s, &err), DT_OK);
    ev.n = 0;
    assert_int_equal(st_events_each(s, "payments", count_event, &ev, &err), DT_OK);
    assert_int_equal(ev.n, 0);
    char *v = NULL;
    assert_int_equal(st_meta_get(s, "schema_version", &v, &err), DT_OK);
    assert_string_equal(v, "8");
    dt_free(v);
    st_close(s);

    /* A schema 7 store (no log_end, no decision) gets them at open, its findings kept. */
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE log_end; DROP TABLE decision;"
                                      "UPDATE meta SET value = '7' WHERE key = 'schema_version'",
                                      NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(st_open(g_path, g_key, ST_OPEN, &s, &err), DT_OK);
    st_log_end end;
    int found = 1;
    assert_int_equal(st_log_end_get(s, &end, &found, &err), DT_OK);
    assert_int_equal(found, 0);
    assert_int_equal(st_meta_get(s, "schema_version", &v, &err), DT_OK);
    assert_string_equal(v, "8");
    dt_free(v);
    st_close(s);
}

/* The blocking index holds keyed hashes: the same keys under two key
 * files give unrelated slots, so a copy cannot test guesses against it. */
static void test_keyed_slots(void **state)
{
    (void)state;
    char path[2][300], key[2][300], slots[2][4096];
    uint64_t rule0[2] = {123456789, 987654321}, rule1[2] = {0, 0};
    const uint64_t *keys[2] = {rule0, rule1};
    int64_t recs[2] = {1, 2};
    dt_error err;
    dt_error_clear(&err);
    for (int i = 0; i < 2; i++) {
        snprintf(path[i], sizeof path[i], "%s/slots%d.db", g_dir, i);
        snprintf(key[i], sizeof key[i], "%s/slots%d.key", g_dir, i);
        st_store *s = NULL;
        assert_int_equal(st_open(path[i], key[i], ST_CREATE, &s, &err), DT_OK);
        int64_t src;
        assert_int_equal(st_source_id(s, "a", &src, &err), DT_OK);
        put(s, src, "r1", "{}");
        put(s, src, "r2", "{}");
        uint16_t codes[2] = {0, 0};
        assert_int_equal(st_keys_set(s, recs, codes, 2, keys, 2, &err), DT_OK);
        uint32_t hits[8];
        match(s, 2, keys, hits); /* the store itself still finds its blocks */
        assert_int_equal(hits[1], 1); /* r1 by query 0 */
        assert_int_equal(hits[2], 2); /* r2 by query 1 */
        st_close(s);
        sqlite3 *db;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(path[i], &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(slot) FROM (SELECT slot "
                                                "FROM block_new UNION SELECT slot FROM "
                                                "block_key ORDER BY slot)", -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        snprintf(slots[i], sizeof slots[i], "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    assert_string_not_equal(slots[0], slots[1]);
}

/* The block cap: blocks of min_records or more are put to too_big, which
 * skips them; smaller ones are scanned without asking. */
typedef struct cap_seen {
    size_t n_asked;
    uint64_t n_records;
    size_t rule;
} cap_seen;

static int skip_all(void *ctx, size_t rule, size_t i, uint64_t n_records)
{
    cap_seen *c = ctx;
    (void)i;
    c->n_asked++;
    c->n_records = n_records;
    c->rule = rule;
    return 1;
}

static int add_count(void *ctx, uint64_t n)
{
    uint64_t *per = ctx; /* per[0]: sources, per[1..]: their counts, summed */
    per[0]++;
    per[1] += n * n;
    return 0;
}

static void test_block_cap(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    dt_error_clear(&err);
    int64_t a = 0, b = 0, recs[4] = {1, 2, 3, 4};
    assert_int_equal(st_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(st_source_id(s, "b", &b, &err), DT_OK);
    put(s, a, "r1", "{}");
    put(s, a, "r2", "{}");
    put(s, b, "r3", "{}");
    put(s, b, "r4", "{}");
    /* rule 0: key 10 for r1, r2, r3 (a block of 3); rule 1: 7 for r3, r4. */
    uint64_t rule0[4] = {10, 10, 10, 0}, rule1[4] = {0, 0, 7, 7};
    const uint64_t *keys[2] = {rule0, rule1};
    uint16_t codes[4] = {0, 0, 1, 1};
    assert_int_equal(st_keys_set(s, recs, codes, 4, keys, 2, &err), DT_OK);

    uint64_t q0[1] = {10}, q1[1] = {7};
    const uint64_t *q[2] = {q0, q1};
    uint32_t hits[8] = {0};
    cap_seen asked = {0};
    st_block_cap cap = {3, skip_all, &asked};
    assert_int_equal(st_keys_match(s, 1, q, 2, ~UINT64_C(0), &cap, collect_match, hits, &err), DT_OK);
    assert_int_equal(asked.n_asked, 1); /* the block of 2 is under min_records */
    assert_int_equal(asked.n_records, 3);
    assert_int_equal(asked.rule, 0);
    assert_int_equal(hits[1] | hits[2], 0); /* skipped: only rule 1's block came */
    assert_int_equal(hits[3], 1);
    assert_int_equal(hits[4], 1);

    /* Per source: a holds 2 of key 10's block, b 1 (2*2 + 1*1 = 5). */
    uint64_t per[2] = {0, 0};
    assert_int_equal(st_block_sources(s, 0, 10, ~UINT64_C(0), add_count, per, &err), DT_OK);
    assert_int_equal(per[0], 2);
    assert_int_equal(per[1], 5);
    /* a purpose that sees only b counts only b's record of the block */
    per[0] = per[1] = 0;
    assert_int_equal(st_block_sources(s, 0, 10, 1u << 1, add_count, per, &err), DT_OK);
    assert_int_equal(per[0], 1);
    assert_int_equal(per[1], 1);
    st_close(s);
}

static int stop_at_first(void *ctx, const char *a, const char *b, int same)
{
    (void)a;
    (void)b;
    (void)same;
    ++*(int *)ctx;
    return 1;
}

/* A walk over the decisions' keys that its callback stops (a positive
 * return) ends well, after one call: it used to report the unfinished
 * statement as a failed read. */
static void test_decision_keys_stop(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    dt_error_clear(&err);
    int64_t src = 0;
    assert_int_equal(st_source_id(s, "a", &src, &err), DT_OK);
    const char *ids[3] = {"r1", "r2", "r3"};
    for (int i = 0; i < 3; i++) put(s, src, ids[i], "{}");
    assert_int_equal(st_begin(s, &err), DT_OK);
    assert_int_equal(st_decision_put(s, 1, 2, 1, "rev", 1, "", &err), DT_OK);
    assert_int_equal(st_decision_put(s, 2, 3, 0, "rev", 1, "", &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
    int calls = 0;
    assert_int_equal(st_decision_keys_each(s, stop_at_first, &calls, &err), DT_OK);
    assert_int_equal(calls, 1);
    st_close(s);
}

/* store.h's batch forms against their one-record twins (many_records.h),
 * and what the check's last transaction wrote: the links of r1 and r6
 * dropped, the events numbered on in the rows' order. */
static void test_many_records(void **state)
{
    (void)state;
    st_store *s = create();
    int64_t r[7];
    many_records_check(s, r);
    st_close(s);
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT group_concat(a || '-' || b) FROM link), "
                                            "(SELECT group_concat(seq || ' ' || kind || ' ' || "
                                            "entity || ' ' || other || ' ' || cause) FROM "
                                            "(SELECT * FROM entity_event ORDER BY seq))",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char want[64];
    snprintf(want, sizeof want, "%lld-%lld", (long long)r[2], (long long)r[4]);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), want);
    assert_string_equal((const char *)sqlite3_column_text(st, 1),
                        "1 split E0  x,2 new E\"q\\  ingest,3 merge E1 E2 ingest");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_reopen),
        cmocka_unit_test(test_put_is_idempotent),
        cmocka_unit_test(test_update_withdraw_restore),
        cmocka_unit_test(test_rollback_and_order),
        cmocka_unit_test(test_locked_and_foreign_files),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_erased_ids_not_reused),
        cmocka_unit_test(test_blocking_index),
        cmocka_unit_test(test_keys_set_writes_the_difference),
        cmocka_unit_test(test_blocking_index_by_source),
        cmocka_unit_test(test_sealed_at_rest),
        cmocka_unit_test(test_keyed_slots),
        cmocka_unit_test(test_block_cap),
        cmocka_unit_test(test_events_and_findings),
        cmocka_unit_test(test_data_generation_and_held_snapshot),
        cmocka_unit_test(test_decision_keys_stop),
        cmocka_unit_test(test_many_records),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
