/* Unit tests for the PostgreSQL backend's governance tables
 * (src/store/pg_govern.c) against a real PostgreSQL 15 that
 * tests/pg-server starts for this binary: principals added, found, listed
 * by name in byte order, revoked and their names given again; policies
 * versioned per source; the audit log's entries and subjects read back
 * in seq order over several pages, by subject, as leaves, with an orphan
 * subject row and a damaged row found; tree heads and the log's end;
 * retention over records of several arrival times, earlier versions and
 * whole records erased (an erased id never given again). */
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

static st_store *create(void)
{
    char url[512];
    return pg_create(url, sizeof url);
}

/* Runs sql (no parameters) on the store's own connection, as a tamperer
 * or a test's fixture would. */
static void exec_sql(st_store *s, const char *sql)
{
    PGresult *r = PQexec((PGconn *)s->pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fprintf(stderr, "%s: %s\n", sql, PQerrorMessage((PGconn *)s->pg));
    assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    PQclear(r);
}

/* The one integer a query (no parameters) returns, read as text. */
static int64_t query_i64(st_store *s, const char *sql)
{
    PGresult *r = PQexec((PGconn *)s->pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* Gives table.column a collation that is not byte order ("alice" before
 * "Zed"), where the server has one, so a walk's byte order is its own
 * COLLATE "C" and not the database's default (often C already). */
static void collate_as_words(st_store *s, const char *table, const char *column)
{
    if (query_i64(s, "SELECT count(*) FROM pg_collation WHERE collname = 'en-US-x-icu'") == 0)
        return;
    char sql[200];
    snprintf(sql, sizeof sql, "ALTER TABLE %s ALTER COLUMN %s TYPE TEXT COLLATE \"en-US-x-icu\"",
             table, column);
    exec_sql(s, sql);
}

/* A record of source src arriving at `received`. OUT: its store id. */
static int64_t put_at(st_store *s, int64_t src, const char *id, const char *raw, int64_t received,
                      st_put_result want)
{
    dt_error err;
    dt_error_clear(&err);
    st_put_result r;
    int64_t rec = 0;
    assert_int_equal(pg_record_put(s, src, id, raw, "{\"n\":1}", received, &r, &rec, &err), DT_OK);
    assert_int_equal(r, want);
    assert_true(rec > 0);
    return rec;
}

/* ---- principals ------------------------------------------------------------ */

static st_principal principal(const char *name, const char *role, const char *sources,
                              uint8_t token, int64_t created)
{
    st_principal p = {.name = (char *)name, .role = (char *)role, .sources = (char *)sources,
                      .created = created};
    memset(p.token_hash, token, 32);
    return p;
}

typedef struct names {
    char v[8][16];
    int64_t ids[8], revoked[8];
    int n, stop_at; /* stop_at: the callback returns DT_EINTERNAL there (0: never) */
} names;

static int add_principal(void *ctx, const st_principal *p)
{
    names *x = ctx;
    if (x->n == 8) return DT_EINTERNAL;
    snprintf(x->v[x->n], sizeof x->v[0], "%s", p->name);
    x->ids[x->n] = p->id;
    x->revoked[x->n++] = p->revoked;
    return x->n == x->stop_at ? DT_EINTERNAL : DT_OK;
}

static void test_principals(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    st_principal a = principal("alice", "admin", NULL, 1, 100),
                 b = principal("bob", "steward", "a,b", 2, 200),
                 z = principal("Zed", "admin", "", 3, 300);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_principal_add(s, &a, &err), DT_OK);
    assert_int_equal(pg_principal_add(s, &b, &err), DT_OK);
    assert_int_equal(pg_principal_add(s, &z, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_int_equal(a.id, 1);
    assert_int_equal(b.id, 2);
    assert_int_equal(z.id, 3);
    /* an active name, or a token hash, held already */
    st_principal again = principal("alice", "viewer", "", 9, 400);
    assert_int_equal(pg_principal_add(s, &again, &err), DT_EINVAL);
    assert_non_null(strstr(err.msg, "an active principal named 'alice' exists already"));
    st_principal same_token = principal("dora", "viewer", "", 2, 400);
    assert_int_equal(pg_principal_add(s, &same_token, &err), DT_EINVAL);
    /* refused inside a batch, which goes on (as in SQLite): nothing failed
     * on the server, so its transaction is not aborted */
    st_principal eve = principal("eve", "viewer", "", 5, 400);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_principal_add(s, &again, &err), DT_EINVAL);
    assert_int_equal(pg_principal_add(s, &eve, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_int_equal(eve.id, 4);

    st_principal got;
    uint8_t hash[32];
    memset(hash, 2, sizeof hash);
    assert_int_equal(pg_principal_by_token(s, hash, &got, &err), DT_OK);
    assert_int_equal(got.id, 2);
    assert_string_equal(got.name, "bob");
    assert_string_equal(got.role, "steward");
    assert_string_equal(got.sources, "a,b");
    assert_memory_equal(got.token_hash, hash, 32);
    assert_int_equal(got.created, 200);
    assert_int_equal(got.revoked, 0);
    st_principal_fini(&got);
    memset(hash, 7, sizeof hash);
    assert_int_equal(pg_principal_by_token(s, hash, &got, &err), DT_ENOTFOUND);
    assert_null(got.name);
    assert_int_equal(pg_principal_by_name(s, "alice", &got, &err), DT_OK);
    assert_int_equal(got.id, 1);
    assert_string_equal(got.sources, "");
    st_principal_fini(&got);
    assert_int_equal(pg_principal_by_name(s, "nobody", &got, &err), DT_ENOTFOUND);
    int64_t n = -1;
    assert_int_equal(pg_principal_count_active(s, "admin", &n, &err), DT_OK);
    assert_int_equal(n, 2);

    /* revoked: the row as it now is; its token still names it */
    assert_int_equal(pg_principal_revoke(s, "alice", 500, &got, &err), DT_OK);
    assert_int_equal(got.id, 1);
    assert_int_equal(got.revoked, 500);
    assert_string_equal(got.role, "admin");
    st_principal_fini(&got);
    assert_int_equal(pg_principal_revoke(s, "alice", 600, &got, &err), DT_ENOTFOUND);
    assert_int_equal(pg_principal_by_name(s, "alice", &got, &err), DT_ENOTFOUND);
    memset(hash, 1, sizeof hash);
    assert_int_equal(pg_principal_by_token(s, hash, &got, &err), DT_OK);
    assert_int_equal(got.revoked, 500);
    st_principal_fini(&got);
    assert_int_equal(pg_principal_count_active(s, "admin", &n, &err), DT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(pg_principal_count_active(s, "nobody", &n, &err), DT_OK);
    assert_int_equal(n, 0);

    /* the name given again: a new row, a new id */
    assert_int_equal(pg_principal_add(s, &again, &err), DT_OK);
    assert_int_equal(again.id, 5);
    assert_int_equal(pg_principal_by_name(s, "alice", &got, &err), DT_OK);
    assert_int_equal(got.id, 5);
    assert_string_equal(got.role, "viewer");
    st_principal_fini(&got);

    /* by name in byte order ("Zed" first), then id */
    collate_as_words(s, "principal", "name");
    names x = {0};
    assert_int_equal(pg_principals_each(s, add_principal, &x, &err), DT_OK);
    assert_int_equal(x.n, 5);
    assert_string_equal(x.v[0], "Zed");
    assert_string_equal(x.v[1], "alice");
    assert_int_equal(x.ids[1], 1);
    assert_int_equal(x.revoked[1], 500);
    assert_string_equal(x.v[2], "alice");
    assert_int_equal(x.ids[2], 5);
    assert_int_equal(x.revoked[2], 0);
    assert_string_equal(x.v[3], "bob");
    assert_string_equal(x.v[4], "eve");
    /* a callback's error ends the walk and is returned */
    x = (names){.stop_at = 2};
    assert_int_equal(pg_principals_each(s, add_principal, &x, &err), DT_EINTERNAL);
    assert_int_equal(x.n, 2);
    pg_close(s);
}

/* ---- policies -------------------------------------------------------------- */

typedef struct policies {
    char v[8][48];
    int n;
} policies;

static int add_policy(void *ctx, const st_policy_row *p)
{
    policies *x = ctx;
    if (x->n == 8) return DT_EINTERNAL;
    snprintf(x->v[x->n++], sizeof x->v[0], "%s/%lld/%s/%s/%lld", p->source,
             (long long)p->version, p->text, p->set_by, (long long)p->time);
    return DT_OK;
}

static int add_name(void *ctx, const char *name)
{
    policies *x = ctx;
    if (x->n == 8) return DT_EINTERNAL;
    snprintf(x->v[x->n++], sizeof x->v[0], "%s", name);
    return DT_OK;
}

static void test_policies(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    int64_t a, b, c, z, v = -1, n = -1;
    assert_int_equal(pg_source_id(s, "b", &b, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "c", &c, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "Z", &z, &err), DT_OK);
    char *text = (char *)"unset";
    assert_int_equal(pg_policy_latest(s, a, &text, &v, &err), DT_OK);
    assert_null(text);
    assert_int_equal(v, 0);
    assert_int_equal(pg_policy_count(s, &n, &err), DT_OK);
    assert_int_equal(n, 0);

    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_policy_put(s, a, "keep: 30d", "root", 10, &v, &err), DT_OK);
    assert_int_equal(v, 1);
    assert_int_equal(pg_policy_put(s, a, "keep: 60d", "ann", 20, &v, &err), DT_OK);
    assert_int_equal(v, 2);
    assert_int_equal(pg_policy_put(s, b, "keep: 1y", "root", 30, &v, &err), DT_OK);
    assert_int_equal(v, 1);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    /* a version put in a rolled-back transaction is given again */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_policy_put(s, b, "gone", "root", 40, &v, &err), DT_OK);
    assert_int_equal(v, 2);
    pg_rollback(s);
    assert_int_equal(pg_policy_put(s, b, "keep: 2y", "root", 50, &v, &err), DT_OK);
    assert_int_equal(v, 2);
    assert_int_equal(pg_policy_count(s, &n, &err), DT_OK);
    assert_int_equal(n, 4);
    assert_int_equal(pg_policy_latest(s, a, &text, &v, &err), DT_OK);
    assert_string_equal(text, "keep: 60d");
    assert_int_equal(v, 2);
    dt_free(text);
    /* by source id (b was made first), then version */
    policies x = {0};
    assert_int_equal(pg_policies_each(s, add_policy, &x, &err), DT_OK);
    assert_int_equal(x.n, 4);
    assert_string_equal(x.v[0], "b/1/keep: 1y/root/30");
    assert_string_equal(x.v[1], "b/2/keep: 2y/root/50");
    assert_string_equal(x.v[2], "a/1/keep: 30d/root/10");
    assert_string_equal(x.v[3], "a/2/keep: 60d/ann/20");
    /* a policy of no source is refused (the source must exist) */
    assert_int_equal(pg_policy_put(s, 99, "x", "root", 60, &v, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "storing a policy"));

    /* sources holding a record, withdrawn too, by name in byte order */
    collate_as_words(s, "source", "name");
    assert_int_equal(pg_begin(s, &err), DT_OK);
    put_at(s, b, "1", "{}", 1, ST_PUT_NEW);
    put_at(s, a, "1", "{}", 1, ST_PUT_NEW);
    put_at(s, z, "1", "{}", 1, ST_PUT_NEW);
    int found = 0;
    assert_int_equal(pg_record_withdraw(s, a, "1", &found, &err), DT_OK);
    assert_int_equal(found, 1);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    x = (policies){0};
    assert_int_equal(pg_sources_with_records(s, add_name, &x, &err), DT_OK);
    assert_int_equal(x.n, 3);
    assert_string_equal(x.v[0], "Z");
    assert_string_equal(x.v[1], "a");
    assert_string_equal(x.v[2], "b");
    pg_close(s);
}

/* ---- the audit log --------------------------------------------------------- */

/* What a walk saw: each entry as one line, its seq, and its subjects. */
typedef struct entries {
    char (*v)[160];
    int64_t *seqs;
    int n, cap;
    int64_t stop_at; /* the callback returns DT_EINTERNAL at this seq (0: never) */
} entries;

static int add_entry(void *ctx, const st_audit_entry *e)
{
    entries *x = ctx;
    assert_true(x->n < x->cap);
    char subjects[64] = "";
    for (size_t i = 0; i < e->n_subject_rows; i++) {
        strcat(subjects, i ? "," : "");
        strncat(subjects, e->subjects[i], 16);
    }
    assert_int_equal(e->leaf_hash_len, 32);
    snprintf(x->v[x->n], sizeof x->v[0], "%lld %lld %s %s %s %s %s %zu [%s] %02x",
             (long long)e->seq, (long long)e->time, e->principal, e->purpose, e->action,
             e->fields, e->outcome, e->n_subjects, subjects, e->leaf_hash[0]);
    x->seqs[x->n++] = e->seq;
    return e->seq == x->stop_at ? DT_EINTERNAL : DT_OK;
}

static entries entries_new(int cap)
{
    entries x = {.v = calloc((size_t)cap, sizeof *x.v),
                 .seqs = calloc((size_t)cap, sizeof(int64_t)), .cap = cap};
    assert_non_null(x.v);
    assert_non_null(x.seqs);
    return x;
}

static void entries_free(entries *x)
{
    free(x->v);
    free(x->seqs);
}

/* Puts entry seq with its subjects; its leaf hash is seq's byte 32 times. */
static void put_entry(st_store *s, int64_t seq, const char *const *subjects, size_t n)
{
    uint8_t leaf[32];
    memset(leaf, (int)(seq & 0xff), sizeof leaf);
    st_audit_entry e = {.seq = seq, .time = 1000 + seq, .principal = "alice",
                        .purpose = "fraud", .action = "query", .fields = "[\"name\"]",
                        .outcome = "ok", .subjects = subjects, .n_subjects = n,
                        .leaf_hash = leaf, .leaf_hash_len = sizeof leaf};
    dt_error err;
    assert_int_equal(pg_audit_put(s, &e, &err), DT_OK);
}

static void test_audit(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    int64_t last = -1;
    assert_int_equal(pg_audit_last(s, &last, &err), DT_OK);
    assert_int_equal(last, 0);
    const char *one[] = {"s1", "s2"}, *three[] = {"s2"};
    assert_int_equal(pg_begin(s, &err), DT_OK);
    put_entry(s, 1, one, 2);
    put_entry(s, 2, NULL, 0);
    put_entry(s, 3, three, 1);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_int_equal(pg_audit_last(s, &last, &err), DT_OK);
    assert_int_equal(last, 3);
    /* a seq taken already is refused: the log only grows */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    uint8_t leaf[32] = {0};
    st_audit_entry dup = {.seq = 2, .principal = "x", .purpose = "x", .action = "x",
                          .fields = "[]", .outcome = "x", .leaf_hash = leaf,
                          .leaf_hash_len = 32};
    assert_int_equal(pg_audit_put(s, &dup, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "appending to the audit log"));
    pg_rollback(s);

    entries x = entries_new(8);
    assert_int_equal(pg_audit_each(s, 1, add_entry, &x, &err), DT_OK);
    assert_int_equal(x.n, 3);
    assert_string_equal(x.v[0], "1 1001 alice fraud query [\"name\"] ok 2 [s1,s2] 01");
    assert_string_equal(x.v[1], "2 1002 alice fraud query [\"name\"] ok 0 [] 02");
    assert_string_equal(x.v[2], "3 1003 alice fraud query [\"name\"] ok 1 [s2] 03");
    x.n = 0;
    assert_int_equal(pg_audit_each(s, 2, add_entry, &x, &err), DT_OK);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.seqs[0], 2);
    x.n = 0;
    assert_int_equal(pg_audit_each(s, 4, add_entry, &x, &err), DT_OK);
    assert_int_equal(x.n, 0);

    /* by subject, in seq order, without their subjects */
    assert_int_equal(pg_audit_of_subject(s, "s2", add_entry, &x, &err), DT_OK);
    assert_int_equal(x.n, 2);
    assert_string_equal(x.v[0], "1 1001 alice fraud query [\"name\"] ok 2 [] 01");
    assert_int_equal(x.seqs[1], 3);
    x.n = 0;
    assert_int_equal(pg_audit_of_subject(s, "s9", add_entry, &x, &err), DT_OK);
    assert_int_equal(x.n, 0);
    /* subjects stored as they came (one array of them a statement): a
     * quote, a backslash, a comma, braces, the word NULL, UTF-8, a space */
    const char *odd[] = {"b:\"q\\,{x}", "b:NULL", "b:\xc3\xa9 "};
    assert_int_equal(pg_begin(s, &err), DT_OK);
    put_entry(s, 4, odd, 3);
    for (int i = 0; i < 3; i++) {
        x.n = 0;
        assert_int_equal(pg_audit_of_subject(s, odd[i], add_entry, &x, &err), DT_OK);
        assert_int_equal(x.n, 1);
        assert_int_equal(x.seqs[0], 4);
    }
    pg_rollback(s);
    x.n = 0;

    uint8_t leaves[5 * 32];
    int64_t found = -1;
    assert_int_equal(pg_audit_leaves(s, 5, leaves, &found, &err), DT_OK);
    assert_int_equal(found, 3);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 32; k++) assert_int_equal(leaves[32 * i + k], i + 1);
    assert_int_equal(pg_audit_leaves(s, 2, leaves, &found, &err), DT_OK);
    assert_int_equal(found, 2);

    /* a subject row no entry holds: found, and skipped by the walk */
    int64_t seq = -1;
    char *subject = (char *)"unset";
    assert_int_equal(pg_audit_subject_orphan(s, 3, &seq, &subject, &err), DT_OK);
    assert_null(subject);
    exec_sql(s, "INSERT INTO audit_subject(seq, i, subject) VALUES(7, 0, 'ghost')");
    assert_int_equal(pg_audit_subject_orphan(s, 3, &seq, &subject, &err), DT_OK);
    assert_int_equal(seq, 7);
    assert_string_equal(subject, "ghost");
    dt_free(subject);
    assert_int_equal(pg_audit_subject_orphan(s, 7, &seq, &subject, &err), DT_OK);
    assert_null(subject);
    exec_sql(s, "INSERT INTO audit_subject(seq, i, subject) VALUES(0, 0, 'zero')");
    assert_int_equal(pg_audit_subject_orphan(s, 7, &seq, &subject, &err), DT_OK);
    assert_int_equal(seq, 0);
    assert_string_equal(subject, "zero");
    dt_free(subject);
    /* subject rows are read as found: one more or one fewer than the
     * entry says is for the log's check (audit_check.c) to name */
    exec_sql(s, "INSERT INTO audit_subject(seq, i, subject) VALUES(2, 5, 'late')");
    exec_sql(s, "DELETE FROM audit_subject WHERE seq = 1 AND i = 0");
    x.n = 0;
    assert_int_equal(pg_audit_each(s, 0, add_entry, &x, &err), DT_OK);
    assert_int_equal(x.n, 3);
    assert_string_equal(x.v[0], "1 1001 alice fraud query [\"name\"] ok 2 [s2] 01");
    assert_string_equal(x.v[1], "2 1002 alice fraud query [\"name\"] ok 0 [late] 02");

    /* a row without its values is damage, never an entry with a NULL */
    exec_sql(s, "ALTER TABLE audit ALTER COLUMN outcome DROP NOT NULL");
    exec_sql(s, "UPDATE audit SET outcome = NULL WHERE seq = 3");
    x.n = 0;
    assert_int_equal(pg_audit_each(s, 1, add_entry, &x, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "damaged (a row of the audit log without its values)"));
    assert_int_equal(x.n, 2);
    x.n = 0;
    assert_int_equal(pg_audit_of_subject(s, "s2", add_entry, &x, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "damaged"));
    assert_int_equal(x.n, 1);
    entries_free(&x);
    pg_close(s);
}

/* A log longer than one statement's page: every entry once, in order,
 * each with its subjects, from any seq; a callback's error stops it. */
static void test_audit_pages(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    enum { N = 2600 };
    assert_int_equal(pg_begin(s, &err), DT_OK);
    for (int64_t seq = 1; seq <= N; seq++) {
        char a[24], b[24];
        snprintf(a, sizeof a, "a%lld", (long long)seq);
        snprintf(b, sizeof b, "b%lld", (long long)seq);
        const char *subjects[] = {a, b};
        put_entry(s, seq, subjects, (size_t)(seq % 3));
    }
    assert_int_equal(pg_commit(s, &err), DT_OK);
    entries x = entries_new(N);
    int started = 0;
    assert_int_equal(pg_snapshot_begin(s, &started, &err), DT_OK);
    assert_int_equal(pg_audit_each(s, 1, add_entry, &x, &err), DT_OK);
    pg_snapshot_end(s, started);
    assert_int_equal(x.n, N);
    for (int i = 0; i < N; i++) {
        int64_t seq = i + 1;
        assert_int_equal(x.seqs[i], seq);
        char want[64];
        if (seq % 3 == 0) snprintf(want, sizeof want, "0 [] ");
        else if (seq % 3 == 1) snprintf(want, sizeof want, "1 [a%lld] ", (long long)seq);
        else snprintf(want, sizeof want, "2 [a%lld,b%lld] ", (long long)seq, (long long)seq);
        assert_non_null(strstr(x.v[i], want));
    }
    x.n = 0;
    assert_int_equal(pg_audit_each(s, 999, add_entry, &x, &err), DT_OK);
    assert_int_equal(x.n, N - 998);
    assert_int_equal(x.seqs[0], 999);
    x = (entries){.v = x.v, .seqs = x.seqs, .cap = x.cap, .stop_at = 1500};
    assert_int_equal(pg_audit_each(s, 1, add_entry, &x, &err), DT_EINTERNAL);
    assert_int_equal(x.n, 1500);
    entries_free(&x);
    pg_close(s);
}

/* ---- tree heads and the log's end --------------------------------------------- */

typedef struct heads {
    int64_t sizes[8];
    size_t frontier_len[8];
    uint8_t first_byte[8];
    int n;
} heads;

static int add_head(void *ctx, const st_head *h)
{
    heads *x = ctx;
    if (x->n == 8) return DT_EINTERNAL;
    assert_non_null(h->frontier);
    x->sizes[x->n] = h->size;
    x->frontier_len[x->n] = h->frontier_len;
    x->first_byte[x->n++] = h->frontier_len ? h->frontier[0] : 0;
    return DT_OK;
}

static void put_head(st_store *s, int64_t size, size_t frontier_len)
{
    uint8_t frontier[64];
    memset(frontier, (int)size, sizeof frontier);
    st_head h = {.size = size, .time = 100 * size, .frontier = frontier,
                 .frontier_len = frontier_len};
    memset(h.root, (int)size, 32);
    memset(h.signature, (int)size + 1, 64);
    dt_error err;
    assert_int_equal(pg_head_put(s, &h, &err), DT_OK);
}

static void test_heads_and_end(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    st_head h;
    int found = -1;
    assert_int_equal(pg_head_latest(s, &h, &found, &err), DT_OK);
    assert_int_equal(found, 0);
    heads x = {0};
    assert_int_equal(pg_heads_each(s, add_head, &x, &err), DT_OK);
    assert_int_equal(x.n, 0);
    put_head(s, 2, 10);
    put_head(s, 5, 0);
    put_head(s, 3, 64);
    assert_int_equal(pg_head_latest(s, &h, &found, &err), DT_OK);
    assert_int_equal(found, 1);
    assert_int_equal(h.size, 5);
    assert_int_equal(h.time, 500);
    uint8_t want[64];
    memset(want, 5, 32);
    assert_memory_equal(h.root, want, 32);
    memset(want, 6, 64);
    assert_memory_equal(h.signature, want, 64);
    assert_int_equal(h.frontier_len, 0);
    assert_non_null(h.frontier);
    dt_free(h.frontier);
    assert_int_equal(pg_heads_each(s, add_head, &x, &err), DT_OK);
    assert_int_equal(x.n, 3);
    assert_int_equal(x.sizes[0], 2);
    assert_int_equal(x.frontier_len[0], 10);
    assert_int_equal(x.first_byte[0], 2);
    assert_int_equal(x.sizes[1], 3);
    assert_int_equal(x.frontier_len[1], 64);
    assert_int_equal(x.sizes[2], 5);
    /* a size signed already is refused */
    st_head again = {.size = 3};
    assert_int_equal(pg_head_put(s, &again, &err), DT_EIO);
    assert_non_null(strstr(err.msg, "signing the audit log"));
    /* a root of the wrong length reads as zeros */
    exec_sql(s, "UPDATE tree_head SET root = '\\x0102' WHERE size = 5");
    assert_int_equal(pg_head_latest(s, &h, &found, &err), DT_OK);
    memset(want, 0, 32);
    assert_memory_equal(h.root, want, 32);
    dt_free(h.frontier);

    st_log_end e, got;
    assert_int_equal(pg_log_end_get(s, &got, &found, &err), DT_OK);
    assert_int_equal(found, 0);
    assert_int_equal(got.size, 0);
    memset(&e, 0, sizeof e);
    e.size = 4;
    e.frontier_len = 40;
    memset(e.frontier, 0xab, e.frontier_len);
    memset(e.mac, 0xcd, ST_MAC_BYTES);
    assert_int_equal(pg_log_end_put(s, &e, &err), DT_OK);
    assert_int_equal(pg_log_end_get(s, &got, &found, &err), DT_OK);
    assert_int_equal(found, 1);
    assert_int_equal(got.size, 4);
    assert_int_equal(got.frontier_len, 40);
    assert_memory_equal(got.frontier, e.frontier, 40);
    assert_memory_equal(got.mac, e.mac, ST_MAC_BYTES);
    /* replaced in place: one row */
    e.size = 6;
    e.frontier_len = ST_FRONTIER_MAX;
    memset(e.frontier, 0x11, e.frontier_len);
    memset(e.mac, 0x22, ST_MAC_BYTES);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_log_end_put(s, &e, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_int_equal(pg_log_end_get(s, &got, &found, &err), DT_OK);
    assert_int_equal(got.size, 6);
    assert_int_equal(got.frontier_len, ST_FRONTIER_MAX);
    assert_memory_equal(got.frontier, e.frontier, ST_FRONTIER_MAX);
    assert_memory_equal(got.mac, e.mac, ST_MAC_BYTES);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM log_end"), 1);
    /* a MAC or frontier of the wrong length reads as one that fails */
    exec_sql(s, "UPDATE log_end SET mac = '\\x01', frontier = ''");
    assert_int_equal(pg_log_end_get(s, &got, &found, &err), DT_OK);
    assert_int_equal(found, 1);
    assert_int_equal(got.frontier_len, 0);
    memset(want, 0, 32);
    assert_memory_equal(got.mac, want, ST_MAC_BYTES);
    pg_close(s);
}

/* ---- retention -------------------------------------------------------------- */

typedef struct due {
    int64_t ids[8];
    char record_ids[8][16];
    int n;
} due;

static int add_due(void *ctx, int64_t id, const char *record_id)
{
    due *x = ctx;
    if (x->n == 8) return DT_EINTERNAL;
    x->ids[x->n] = id;
    snprintf(x->record_ids[x->n++], sizeof x->record_ids[0], "%s", record_id);
    return DT_OK;
}

static void test_retention(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    int64_t a, b, c;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "b", &b, &err), DT_OK);
    assert_int_equal(pg_source_id(s, "c", &c, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    int64_t r1 = put_at(s, a, "r1", "{\"x\":1}", 100, ST_PUT_NEW);
    int64_t r2 = put_at(s, a, "r2", "{\"x\":2}", 200, ST_PUT_NEW);
    int64_t r3 = put_at(s, a, "r3", "{\"x\":3}", 300, ST_PUT_NEW);
    int64_t q1 = put_at(s, b, "q1", "{\"y\":1}", 50, ST_PUT_NEW);
    /* r1's first version arrived at 100, its second at 400 */
    assert_int_equal(put_at(s, a, "r1", "{\"x\":10}", 400, ST_PUT_CHANGED), r1);
    assert_int_equal(pg_commit(s, &err), DT_OK);

    int64_t oldest = -1;
    int any = -1;
    assert_int_equal(pg_retention_oldest(s, a, &oldest, &any, &err), DT_OK);
    assert_int_equal(any, 1);
    assert_int_equal(oldest, 100);
    assert_int_equal(pg_retention_oldest(s, b, &oldest, &any, &err), DT_OK);
    assert_int_equal(oldest, 50);
    assert_int_equal(pg_retention_oldest(s, c, &oldest, &any, &err), DT_OK);
    assert_int_equal(any, 0);
    assert_int_equal(oldest, 0);

    /* due by their current version's arrival, by id, after `after`, at most max */
    due x = {0};
    assert_int_equal(pg_retention_due(s, a, 250, 0, 10, add_due, &x, &err), DT_OK);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.ids[0], r2);
    assert_string_equal(x.record_ids[0], "r2");
    x = (due){0};
    assert_int_equal(pg_retention_due(s, a, 350, 0, (size_t)-1, add_due, &x, &err), DT_OK);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.ids[0], r2);
    assert_int_equal(x.ids[1], r3);
    x = (due){0};
    assert_int_equal(pg_retention_due(s, a, 350, r2, 10, add_due, &x, &err), DT_OK);
    assert_int_equal(x.n, 1);
    assert_string_equal(x.record_ids[0], "r3");
    x = (due){0};
    assert_int_equal(pg_retention_due(s, a, 350, 0, 1, add_due, &x, &err), DT_OK);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.ids[0], r2);
    x = (due){0};
    assert_int_equal(pg_retention_due(s, a, 350, 0, 0, add_due, &x, &err), DT_OK);
    assert_int_equal(x.n, 0);

    /* kept records with an earlier version that arrived before the cutoff */
    x = (due){0};
    assert_int_equal(pg_retention_old_versions(s, a, 250, add_due, &x, &err), DT_OK);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.ids[0], r1);
    assert_string_equal(x.record_ids[0], "r1");
    x = (due){0};
    assert_int_equal(pg_retention_old_versions(s, a, 100, add_due, &x, &err), DT_OK);
    assert_int_equal(x.n, 0);
    x = (due){0};
    assert_int_equal(pg_retention_old_versions(s, a, 450, add_due, &x, &err), DT_OK);
    assert_int_equal(x.n, 0); /* r1's current version is due itself */

    uint64_t n = 99;
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_retention_erase_versions(s, a, 250, &n, &err), DT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(pg_retention_erase_versions(s, a, 250, &n, &err), DT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_int_equal(pg_retention_oldest(s, a, &oldest, &any, &err), DT_OK);
    assert_int_equal(oldest, 200);
    x = (due){0};
    assert_int_equal(pg_retention_due(s, b, 100, 0, 10, add_due, &x, &err), DT_OK);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.ids[0], q1);
    pg_close(s);
}

/* Erasing a record whole: its versions, links, decisions, keys and
 * membership; its id is never given again, even the highest. */
static void test_record_erase(void **state)
{
    (void)state;
    st_store *s = create();
    dt_error err;
    int64_t a;
    assert_int_equal(pg_source_id(s, "a", &a, &err), DT_OK);
    assert_int_equal(pg_begin(s, &err), DT_OK);
    int64_t r1 = put_at(s, a, "r1", "{\"x\":1}", 100, ST_PUT_NEW);
    int64_t r2 = put_at(s, a, "r2", "{\"x\":2}", 100, ST_PUT_NEW);
    int64_t r3 = put_at(s, a, "r3", "{\"x\":3}", 100, ST_PUT_NEW);
    put_at(s, a, "r2", "{\"x\":20}", 200, ST_PUT_CHANGED);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_int_equal(r3, 3);
    exec_sql(s, "INSERT INTO link(a, b, rule, weight, p) VALUES(1, 2, 0, 1.0, 0.9), "
                "(2, 3, 0, 1.0, 0.8), (1, 3, 0, 1.0, 0.7)");
    exec_sql(s, "INSERT INTO decision(a, b, same, \"by\", time, note) "
                "VALUES(1, 2, 1, 'ann', 1, ''), (1, 3, 0, 'ann', 1, '')");
    exec_sql(s, "INSERT INTO membership(record, entity) VALUES(1, 'e1'), (2, 'e1'), (3, 'e2')");
    exec_sql(s, "INSERT INTO record_keys(record, slots) VALUES(1, ''), (2, ''), (3, '')");

    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_record_erase(s, r2, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    st_record rec;
    assert_int_equal(pg_record_get(s, r2, &rec, NULL, &err), DT_ENOTFOUND);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM record_history WHERE record = 2"), 0);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM link WHERE a = 2 OR b = 2"), 0);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM link"), 1);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM decision"), 1);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM membership"), 2);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM record_keys"), 2);
    char *v = NULL;
    assert_int_equal(pg_meta_get(s, "record_id_erased", &v, &err), DT_OK);
    assert_string_equal(v, "2");
    dt_free(v);

    /* the highest id erased, then a lower one: the mark keeps the highest */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_record_erase(s, r3, &err), DT_OK);
    assert_int_equal(pg_record_erase(s, r1, &err), DT_OK);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    assert_int_equal(pg_meta_get(s, "record_id_erased", &v, &err), DT_OK);
    assert_string_equal(v, "3");
    dt_free(v);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM record"), 0);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM link"), 0);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM membership"), 0);
    /* a record added to the empty table takes an id past every erased one */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(put_at(s, a, "r3", "{\"x\":3}", 300, ST_PUT_NEW), 4);
    assert_int_equal(pg_commit(s, &err), DT_OK);
    /* in the erasing transaction itself, one at a time or many at once */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_record_erase(s, 4, &err), DT_OK);
    assert_int_equal(put_at(s, a, "r4", "{\"x\":4}", 300, ST_PUT_NEW), 5);
    assert_int_equal(pg_record_erase(s, 5, &err), DT_OK);
    st_put_row row = {"r5", "{\"x\":5}", "{}", 0, 0};
    assert_int_equal(pg_records_put(s, a, &row, 1, 300, &err), DT_OK);
    assert_int_equal(row.id, 6);
    pg_rollback(s);
    /* an erase rolled back leaves the record and the mark */
    assert_int_equal(pg_begin(s, &err), DT_OK);
    assert_int_equal(pg_record_erase(s, 4, &err), DT_OK);
    pg_rollback(s);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM record WHERE id = 4"), 1);
    assert_int_equal(pg_meta_get(s, "record_id_erased", &v, &err), DT_OK);
    assert_string_equal(v, "3");
    dt_free(v);
    pg_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_principals),    cmocka_unit_test(test_policies),
        cmocka_unit_test(test_audit),         cmocka_unit_test(test_audit_pages),
        cmocka_unit_test(test_heads_and_end), cmocka_unit_test(test_retention),
        cmocka_unit_test(test_record_erase),
    };
    return cmocka_run_group_tests(tests, pg_setup, pg_teardown);
}
