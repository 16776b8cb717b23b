/* Unit tests for copying a store (src/store/copy.c, st_copy) between
 * SQLite and a real PostgreSQL 15 (tests/pg-server, started for this
 * binary): a SQLite store with a row in every table, edge values among
 * them (NULL, empty and zero bytes, quotes and braces in text, the
 * extreme integers, infinity and the smallest double), copied into
 * PostgreSQL and back into SQLite holds every row as it was, every table
 * of the schema included, and its sealed records open under the same key
 * file; a destination holding a store, a file in the way, another URL
 * scheme are refused; tables of others beside the copy are left as they
 * were; a copy that fails at a late table leaves nothing
 * (no tables in PostgreSQL, no file in SQLite) and the source usable. */
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

static void exec_sql(st_store *s, const char *sql)
{
    char *why = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &why);
    if (rc != SQLITE_OK) fprintf(stderr, "%s: %s\n", sql, why);
    sqlite3_free(why);
    assert_int_equal(rc, SQLITE_OK);
}

/* A SQLite store at path with a row in every table (records through the
 * store, so their contents are sealed; the rest as SQL). OUT: the ids of
 * the records "r1" and "r2". */
static st_store *filled_store(const char *path, int64_t *r1, int64_t *r2)
{
    st_store *s = NULL;
    dt_error err;
    dt_error_clear(&err);
    assert_int_equal(st_open(path, g_key, ST_CREATE, &s, &err), DT_OK);
    int64_t src = 0, version = 0, r3 = 0;
    st_put_result res;
    assert_int_equal(st_source_id(s, "a", &src, &err), DT_OK);
    assert_int_equal(st_begin(s, &err), DT_OK);
    assert_int_equal(st_record_put(s, src, "r1", "{\"n\":\"one\"}", "{\"n\":1}", 100, &res, r1,
                                   &err), DT_OK);
    assert_int_equal(st_record_put(s, src, "r2", "{\"n\":\"two\"}", "{\"n\":2}", 100, &res, r2,
                                   &err), DT_OK);
    assert_int_equal(st_record_put(s, src, "r2", "{\"n\":\"TWO\"}", "{\"n\":2}", 200, &res, r2,
                                   &err), DT_OK); /* a second version: one row of history */
    assert_int_equal(st_record_put(s, src, "r\"3\\,{x}", "{}", "{}", 100, &res, &r3, &err), DT_OK);
    int found = 0;
    assert_int_equal(st_record_withdraw(s, src, "r\"3\\,{x}", &found, &err), DT_OK);
    assert_int_equal(st_model_put(s, "{\"model\": true}", &version, &err), DT_OK);
    assert_int_equal(st_entity_set(s, *r1, "E1", &err), DT_OK);
    assert_int_equal(st_entity_set(s, *r2, "E1", &err), DT_OK);
    assert_int_equal(st_entity_event(s, "new", "E1", "", "test", &err), DT_OK);
    assert_int_equal(st_decision_put(s, *r1, *r2, 1, "rev", 5, "sealed note", &err), DT_OK);
    assert_int_equal(st_commit(s, &err), DT_OK);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO meta VALUES('odd', 'quote \" back\\ comma, {brace} NULL ünï');"
             "INSERT INTO meta VALUES('empty', '');"
             "INSERT INTO block_key VALUES(-9223372036854775808), (9223372036854775807), (0);"
             "INSERT INTO block_new VALUES(5);"
             "INSERT INTO record_keys VALUES(%lld, X''), (%lld, X'00ff00');"
             "INSERT INTO link VALUES(%lld, %lld, 3, 9e999, 0.1), (%lld, %lld, 0, 5e-324, 1e300);"
             "INSERT INTO principal VALUES(1, 'admin', 'admin', '', X'0102', 10, NULL),"
             "  (2, 'old', 'steward', 'a,b', X'', 11, 12);"
             "INSERT INTO policy VALUES(%lld, 1, 'purposes: {}', 'stew', 13);"
             "INSERT INTO audit VALUES(1, 14, 'admin', 'setup', 'principal.add', '[]', 'allowed',"
             "  2,"
             "  X'00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff');"
             "INSERT INTO audit_subject VALUES(1, 0, 'principal:admin'), (1, 1, 'a:r\"1');"
             "INSERT INTO tree_head VALUES(1, 15, X'aa', X'bb', X'');"
             "INSERT INTO log_end VALUES(1, 1, X'cc', X'dd');"
             "INSERT INTO event VALUES(1, %lld, 'e1', 'sealed row', 16);"
             "INSERT INTO finding VALUES('F1', 'rule', 1, 1, 'open', 0.75, -1, 'evidence', 'p', 17,"
             "  18, 0, 30);"
             "INSERT INTO finding_step VALUES('p', 'F1', 1, 'run', 'open', 'x', 'why', 19);",
             (long long)*r1, (long long)*r2, (long long)*r1, (long long)*r2, (long long)*r1,
             (long long)r3, (long long)src, (long long)src);
    exec_sql(s, sql);
    return s;
}

static int n_tables(st_store *s)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master WHERE type = "
                                        "'table'", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Every row of table in a and in b, ordered by every column, alike to the
 * byte (and to the bit for doubles). OUT: rows compared. */
static int64_t same_table(st_store *a, st_store *b, const char *table)
{
    char sql[256];
    /* but the data generation, which each copy's commit moves on (store.h) */
    snprintf(sql, sizeof sql, "SELECT * FROM %s%s", table,
             strcmp(table, "meta") ? "" : " WHERE key <> 'data_gen'");
    sqlite3_stmt *sa = NULL, *sb = NULL;
    assert_int_equal(sqlite3_prepare_v2(a->db, sql, -1, &sa, NULL), SQLITE_OK);
    int n = sqlite3_column_count(sa);
    sqlite3_finalize(sa);
    size_t len = strlen(sql);
    for (int c = 0; c < n; c++) len += (size_t)snprintf(sql + len, sizeof sql - len, "%s%d",
                                                        c ? ", " : " ORDER BY ", c + 1);
    assert_int_equal(sqlite3_prepare_v2(a->db, sql, -1, &sa, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(b->db, sql, -1, &sb, NULL), SQLITE_OK);
    int64_t rows = 0;
    for (;;) {
        int ra = sqlite3_step(sa), rb = sqlite3_step(sb);
        assert_int_equal(ra, rb); /* a row in both, or the end of both */
        if (ra != SQLITE_ROW) break;
        rows++;
        for (int c = 0; c < n; c++) {
            int type = sqlite3_column_type(sa, c);
            assert_int_equal(type, sqlite3_column_type(sb, c));
            if (type == SQLITE_INTEGER) {
                assert_true(sqlite3_column_int64(sa, c) == sqlite3_column_int64(sb, c));
            } else if (type == SQLITE_FLOAT) {
                double x = sqlite3_column_double(sa, c), y = sqlite3_column_double(sb, c);
                assert_memory_equal(&x, &y, sizeof x);
            } else if (type != SQLITE_NULL) {
                int nx = sqlite3_column_bytes(sa, c);
                assert_int_equal(nx, sqlite3_column_bytes(sb, c));
                if (nx) assert_memory_equal(sqlite3_column_blob(sa, c), sqlite3_column_blob(sb, c),
                                            (size_t)nx);
            }
        }
    }
    sqlite3_finalize(sa);
    sqlite3_finalize(sb);
    return rows;
}

static int64_t pg_count(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    int64_t n = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return n;
}

typedef struct steps {
    int n_done;
    int is_whole; /* every table done with done == total */
} steps;

static void on_step(void *ctx, const st_copy_step *step)
{
    steps *k = ctx;
    if (!step->is_done || !step->is_table) return;
    k->n_done++;
    k->is_whole &= step->done == step->total;
}

/* What each test starts from: a filled store `name` in the scratch
 * directory, and a fresh database for its copy. */
typedef struct fixture {
    char path[300], url[512];
    int64_t r1, r2;
    st_store *s;
    dt_error err;
    st_copy_result res;
} fixture;

static void fixture_make(fixture *f, const char *name)
{
    memset(f, 0, sizeof *f);
    tmpdir_path(f->path, sizeof f->path, name);
    fresh_db(f->url, sizeof f->url);
    f->s = filled_store(f->path, &f->r1, &f->r2);
    dt_error_clear(&f->err);
}

static void test_round_trip(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, "src.db");
    char back[300];
    tmpdir_path(back, sizeof back, "back.db");
    steps k = {0, 1};
    int rc = st_copy(f.s, f.url, on_step, &k, &f.res, &f.err);
    if (rc < 0) fprintf(stderr, "%s\n", f.err.msg);
    assert_int_equal(rc, DT_OK);
    assert_int_equal(f.res.n_tables, n_tables(f.s)); /* no table of the schema left out */
    assert_int_equal(k.n_done, f.res.n_tables);
    assert_true(k.is_whole);
    assert_int_equal(f.res.n_entries, 1);
    assert_int_equal(f.res.n_heads, 1);

    /* the copy opens under the same key file, and its sealed records with it */
    st_store *p = NULL;
    assert_int_equal(pg_open(f.url, g_key, ST_OPEN, &p, &f.err), DT_OK);
    st_record r;
    assert_int_equal(pg_record_get(p, f.r2, &r, NULL, &f.err), DT_OK);
    assert_string_equal(r.raw, "{\"n\":\"TWO\"}");
    assert_int_equal(r.version, 2);
    st_record_free(&r);
    /* its keys, indexes and foreign keys, dropped for the rows, are all made again */
    char made[512];
    pg_close(pg_create(made, sizeof made));
    static const char *const CATALOG[] = {
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'",
        "SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace"};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pg_count(f.url, CATALOG[i]), pg_count(made, CATALOG[i]));
    char *v = NULL;
    assert_int_equal(pg_meta_get(p, "odd", &v, &f.err), DT_OK);
    assert_string_equal(v, "quote \" back\\ comma, {brace} NULL ünï");
    dt_free(v);

    /* and back into SQLite: every row of every table as the source holds it */
    st_copy_result res2;
    rc = st_copy(p, back, NULL, NULL, &res2, &f.err);
    if (rc < 0) fprintf(stderr, "%s\n", f.err.msg);
    assert_int_equal(rc, DT_OK);
    pg_close(p);
    st_store *b = NULL;
    assert_int_equal(st_open(back, g_key, ST_OPEN, &b, &f.err), DT_OK);
    sqlite3_stmt *names = NULL;
    assert_int_equal(sqlite3_prepare_v2(f.s->db, "SELECT name FROM sqlite_master WHERE type = "
                                        "'table'", -1, &names, NULL), SQLITE_OK);
    int64_t rows = 0;
    while (sqlite3_step(names) == SQLITE_ROW)
        rows += same_table(f.s, b, (const char *)sqlite3_column_text(names, 0));
    sqlite3_finalize(names);
    assert_int_equal(rows + 1, (int64_t)f.res.n_rows); /* + data_gen */
    assert_int_equal(res2.n_rows, f.res.n_rows);
    assert_int_equal(st_record_get(b, f.r2, &r, NULL, &f.err), DT_OK);
    assert_string_equal(r.raw, "{\"n\":\"TWO\"}");
    st_record_free(&r);
    st_close(b);
    st_close(f.s);
}

static void test_refusals(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, "refuse.db");
    assert_int_equal(st_copy(f.s, f.url, NULL, NULL, &f.res, &f.err), DT_OK);
    /* a database that holds a store */
    assert_int_equal(st_copy(f.s, f.url, NULL, NULL, &f.res, &f.err), DT_EIO);
    assert_non_null(strstr(f.err.msg, "already there"));
    assert_int_equal(f.res.n_rows, 0);
    /* an empty store made there by a create */
    char url2[512];
    pg_close(pg_create(url2, sizeof url2));
    assert_int_equal(st_copy(f.s, url2, NULL, NULL, &f.res, &f.err), DT_EIO);
    assert_non_null(strstr(f.err.msg, "already there"));
    /* a file in the way, itself left as it was */
    assert_int_equal(st_copy(f.s, f.path, NULL, NULL, &f.res, &f.err), DT_EIO);
    assert_non_null(strstr(f.err.msg, "a file is already there"));
    st_store *again = NULL;
    assert_int_equal(st_open(f.path, g_key, ST_OPEN, &again, &f.err), DT_OK);
    st_close(again);
    /* another scheme: named without its password */
    assert_int_equal(st_copy(f.s, "mysql://u:s3cret@db/x", NULL, NULL, &f.res, &f.err), DT_EINVAL);
    assert_null(strstr(f.err.msg, "s3cret"));
    assert_non_null(strstr(f.err.msg, "mysql://u@db/x"));
    st_close(f.s);
}

/* A database that holds other tables (no store): the copy goes beside
 * them, and their keys and indexes are not touched (copy.c drops and
 * makes again only its own). */
static void test_beside_others(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, "beside.db");
    server_do(f.url, "CREATE TABLE other(x bigint PRIMARY KEY);"
                     "CREATE TABLE other2(y bigint REFERENCES other(x));"
                     "CREATE INDEX other2_y ON other2(y)");
    static const char *const OIDS[] = {
        "SELECT oid::bigint FROM pg_class WHERE relname = 'other2_y'",
        "SELECT oid::bigint FROM pg_constraint WHERE conrelid = 'other2'::regclass",
        "SELECT oid::bigint FROM pg_constraint WHERE conrelid = 'other'::regclass"};
    int64_t before[3];
    for (int i = 0; i < 3; i++) before[i] = pg_count(f.url, OIDS[i]);
    assert_int_equal(st_copy(f.s, f.url, NULL, NULL, &f.res, &f.err), DT_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(pg_count(f.url, OIDS[i]), before[i]);
    st_close(f.s);
}

/* A link to a record that is not there (written with the source's foreign
 * keys off): the copy fails, at that late table in SQLite, at its end in
 * PostgreSQL (references are checked after the rows), and leaves no store. */
static void test_failure_leaves_nothing(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, "broken.db");
    char to_file[300];
    tmpdir_path(to_file, sizeof to_file, "never.db");
    exec_sql(f.s, "PRAGMA foreign_keys=OFF; INSERT INTO link VALUES(1, 999999, 0, 1, 1); "
                  "PRAGMA foreign_keys=ON");
    assert_int_equal(st_copy(f.s, f.url, NULL, NULL, &f.res, &f.err), DT_EIO);
    assert_non_null(strstr(f.err.msg, "checking its references")); /* at the end (copy.c) */
    assert_non_null(strstr(f.err.msg, "\"link\""));
    assert_int_equal(pg_count(f.url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
                     0);
    assert_int_equal(st_copy(f.s, to_file, NULL, NULL, &f.res, &f.err), DT_EIO);
    assert_non_null(strstr(f.err.msg, "copying table link"));
    assert_int_equal(access(to_file, F_OK), -1);
    /* the source's snapshot ended: it still writes */
    assert_int_equal(st_begin(f.s, &f.err), DT_OK);
    assert_int_equal(st_meta_set(f.s, "after", "1", &f.err), DT_OK);
    assert_int_equal(st_commit(f.s, &f.err), DT_OK);
    st_close(f.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_beside_others),
        cmocka_unit_test(test_failure_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, pg_setup, pg_teardown);
}
