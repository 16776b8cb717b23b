/*
 * copy.c — a whole store copied into a new one, row for row (st_copy):
 * how `dovetail migrate` moves a store from SQLite to PostgreSQL, or
 * back, or to another file. Either backend is read and either written:
 * a SQLite source is stepped through, a PostgreSQL one fetched through a
 * cursor, PG_BATCH rows at a time; rows go into SQLite one bound INSERT
 * each (in one transaction, that is cheap), into PostgreSQL PG_BATCH at
 * a time, each column one array literal unnested (pg_int.h), so a
 * million people move in a few round trips per table, not one per row.
 * Table and column names come from the list below, never from data;
 * every value is bound.
 *
 * Invariants:
 *   1. Rows are copied as stored: nothing is opened or sealed again. A
 *      record's contents, a note, a finding's evidence, the model stay the
 *      ciphertext they were, bound to the same ids and versions (crypt.c,
 *      invariant 1), so they open under the same key file; every id,
 *      sequence number, leaf hash and signature is the source's, so the
 *      copy's audit log is the source's, entry for entry and head for
 *      head, and its sealed end (audit.c, invariant 1) checks under the
 *      same key.
 *   2. The source is read in one snapshot: the copy is the store at one
 *      instant, whatever other processes commit meanwhile.
 *   3. The new store is made in the transaction that fills it, under its
 *      write lock (sq_create_txn, pg_create_txn): until the commit there
 *      is none. A copy that fails rolls it back and removes a new SQLite
 *      file; one killed leaves nothing in PostgreSQL, and in SQLite an
 *      empty file, which a later copy to that path refuses as it refuses
 *      any file there.
 *   4. Before the commit each table of the copy is counted, and must hold
 *      the rows its snapshot held; the copy's settings (meta) are the
 *      source's, but the data generation, which the copy's commit moves
 *      on (store.h, st_data_gen); both backends are at the one schema
 *      version the list below is of (else nothing is copied).
 *   5. The copy is sealed under the source's keys, taken from the open
 *      source: no key file is read again, so the one that opened the
 *      source opens the copy.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/pg_int.h"

enum { CP_MAX_COLS = 13, CP_BATCH_BYTES = 16 << 20 };
_Static_assert((int)CP_MAX_COLS <= (int)PG_MAX_PARAMS, "a batch binds a column a parameter");

typedef struct cp_table {
    const char *name;
    const char *cols;  /* as SELECT and INSERT list them */
    const char *kinds; /* a letter a column: i integer, r real, t text, b blob */
} cp_table;

/* Every table of schema 8 (sqlite.c's SCHEMA, pg.c's), parents before
 * children, so each foreign key finds its row as it is inserted. */
static const cp_table TABLES[] = {
    {"meta", "key, value", "tt"},
    {"source", "id, name", "it"},
    {"record", "id, source, record_id, raw, norm, version, withdrawn, received", "iitbbiii"},
    {"record_history", "record, version, raw, norm, source, received", "iibbii"},
    {"model", "version, created, json", "itt"},
    {"block_key", "slot", "i"},
    {"block_new", "slot", "i"},
    {"record_keys", "record, slots", "ib"},
    {"link", "a, b, rule, weight, p", "iiirr"},
    {"membership", "record, entity", "it"},
    {"entity_event", "seq, time, kind, entity, other, cause", "ittttt"},
    {"decision", "a, b, same, \"by\", time, note", "iiitit"},
    {"principal", "id, name, role, sources, token_hash, created, revoked", "itttbii"},
    {"policy", "source, version, text, set_by, time", "iitti"},
    {"audit", "seq, time, principal, purpose, action, fields, outcome, n_subjects, leaf_hash",
     "iitttttib"},
    {"audit_subject", "seq, i, subject", "iit"},
    {"tree_head", "size, time, root, signature, frontier", "iibbb"},
    {"log_end", "id, size, frontier, mac", "iibb"},
    {"event", "id, source, event_id, \"row\", received", "iitti"},
    {"finding", "id, rule, rule_version, model_version, state, confidence, sources, evidence, "
                "purpose, created, updated, notified_at, contest_days", "ttiitrittiiii"},
    {"finding_step", "purpose, finding, seq, action, state, \"by\", reason, at", "ttitttti"},
};
enum { CP_N_TABLES = sizeof TABLES / sizeof *TABLES };
#define CP_SCHEMA_VERSION "8" /* the schema TABLES lists */
#define CP_CURSOR "dt_copy"

/* One column's value of the row being copied: p (text NUL-terminated,
 * or a blob's n bytes) is valid until the next row is read. */
typedef struct cp_value {
    int is_null;
    int64_t i;
    double f;
    const char *p;
    size_t n;
} cp_value;

/* ---- reading a table of the source ----------------------------------------- */

typedef struct cp_reader {
    st_store *s;
    const cp_table *t;
    size_t n_cols;
    sqlite3_stmt *st; /* SQLite: the walk */
    PGresult *r;      /* PostgreSQL: the rows fetched last; row i_row is next */
    int i_row;
    int is_declared;  /* PostgreSQL: the cursor is open */
    cp_value v[CP_MAX_COLS];
} cp_reader;

static int reader_open(cp_reader *rd, st_store *s, const cp_table *t, dt_error *err)
{
    memset(rd, 0, sizeof *rd);
    rd->s = s;
    rd->t = t;
    rd->n_cols = strlen(t->kinds);
    assert(rd->n_cols <= CP_MAX_COLS);
#ifndef NDEBUG
    size_t n_names = 1;
    for (const char *c = t->cols; *c; c++) n_names += *c == ',';
    assert(n_names == rd->n_cols); /* a kind for each column */
#endif
    char *sql = dt_asprintf("%sSELECT %s FROM %s", s->pg ? "DECLARE " CP_CURSOR " NO SCROLL "
                            "CURSOR FOR " : "", t->cols, t->name);
    if (!sql) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int rc = DT_OK;
    if (s->pg) {
        rc = pg_do(s, sql, NULL, "reading the store to copy", err);
        rd->is_declared = rc == DT_OK;
    } else {
        int src = sqlite3_prepare_v2(s->db, sql, -1, &rd->st, NULL);
        if (src != SQLITE_OK) rc = sq_fail(s, src, "reading the store to copy", err);
    }
    dt_free(sql);
    return rc;
}

static void reader_close(cp_reader *rd)
{
    sqlite3_finalize(rd->st);
    PQclear(rd->r);
    if (rd->is_declared) {
        dt_error ignored; /* a failed transaction closed it already */
        pg_do(rd->s, "CLOSE " CP_CURSOR, NULL, "reading the store to copy", &ignored);
    }
}

static void value_of_pg(cp_value *v, char kind, const PGresult *r, int row, int col)
{
    *v = (cp_value){.is_null = PQgetisnull(r, row, col)};
    if (v->is_null) return;
    if (kind == 'i') v->i = pg_i64(r, row, col);
    else if (kind == 'r') v->f = pg_f64(r, row, col);
    else { /* text and bytea alike, in binary: their bytes */
        v->p = PQgetvalue(r, row, col);
        v->n = (size_t)PQgetlength(r, row, col);
    }
}

static void value_of_sqlite(cp_value *v, char kind, sqlite3_stmt *st, int col)
{
    *v = (cp_value){.is_null = sqlite3_column_type(st, col) == SQLITE_NULL};
    if (v->is_null) return;
    if (kind == 'i') v->i = sqlite3_column_int64(st, col);
    else if (kind == 'r') v->f = sqlite3_column_double(st, col);
    else {
        const void *p = kind == 't' ? (const void *)sqlite3_column_text(st, col)
                                    : sqlite3_column_blob(st, col);
        v->n = (size_t)sqlite3_column_bytes(st, col);
        v->p = p ? p : "";
    }
}

/* The next row into rd->v; *has 0 at the end. */
static int reader_next(cp_reader *rd, int *has, dt_error *err)
{
    const char *kinds = rd->t->kinds;
    if (!rd->s->pg) {
        int rc = sqlite3_step(rd->st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return sq_fail(rd->s, rc, "reading the store to copy", err);
        *has = rc == SQLITE_ROW;
        for (size_t c = 0; *has && c < rd->n_cols; c++)
            value_of_sqlite(&rd->v[c], kinds[c], rd->st, (int)c);
        return DT_OK;
    }
    if (!rd->r || rd->i_row == PQntuples(rd->r)) {
        char sql[48];
        snprintf(sql, sizeof sql, "FETCH %d FROM " CP_CURSOR, (int)PG_BATCH);
        PQclear(rd->r);
        rd->i_row = 0;
        rd->r = pg_run(rd->s, sql, NULL, "reading the store to copy", err);
        if (!rd->r) return pg_failed(rd->s);
    }
    *has = rd->i_row < PQntuples(rd->r);
    for (size_t c = 0; *has && c < rd->n_cols; c++)
        value_of_pg(&rd->v[c], kinds[c], rd->r, rd->i_row, (int)c);
    rd->i_row += *has;
    return DT_OK;
}

/* ---- writing a table of the copy ---------------------------------------------- */

typedef struct cp_writer {
    st_store *s;
    const cp_table *t;
    size_t n_cols;
    const char *what;             /* "copying TABLE", for messages */
    sqlite3_stmt *st;             /* SQLite: the INSERT */
    char *sql;                    /* PostgreSQL: the INSERT of unnested arrays */
    util_buf arrays[CP_MAX_COLS]; /* PostgreSQL: each column's array literal so far */
    size_t n_rows, n_bytes;       /* PostgreSQL: in the arrays */
} cp_writer;

/* PostgreSQL's INSERT: each column an array, a blob's as hex text. */
static char *pg_insert_sql(const cp_table *t)
{
    static const char *const ARRAY_OF[] = {['i'] = "bigint[]", ['r'] = "double precision[]",
                                           ['t'] = "text[]", ['b'] = "text[]"};
    util_buf b = {0};
    util_buf_printf(&b, "INSERT INTO %s(%s) SELECT ", t->name, t->cols);
    for (size_t c = 0; t->kinds[c]; c++)
        util_buf_printf(&b, t->kinds[c] == 'b' ? "%sdecode(c%zu, 'hex')" : "%sc%zu",
                        c ? ", " : "", c);
    util_buf_printf(&b, " FROM unnest(");
    for (size_t c = 0; t->kinds[c]; c++)
        util_buf_printf(&b, "%s$%zu::%s", c ? ", " : "", c + 1,
                        ARRAY_OF[(unsigned char)t->kinds[c]]);
    util_buf_printf(&b, ") AS u(");
    for (size_t c = 0; t->kinds[c]; c++) util_buf_printf(&b, "%sc%zu", c ? ", " : "", c);
    util_buf_putc(&b, ')');
    char *sql = b.is_failed || !b.data ? NULL : dt_strdup(b.data);
    util_buf_fini(&b);
    return sql;
}

static int writer_open(cp_writer *w, st_store *s, const cp_table *t, const char *what,
                       dt_error *err)
{
    memset(w, 0, sizeof *w);
    w->s = s;
    w->t = t;
    w->what = what;
    w->n_cols = strlen(t->kinds);
    if (s->pg) return (w->sql = pg_insert_sql(t)) ? DT_OK
                                                  : dt_err_set(err, DT_ENOMEM, "out of memory");
    util_buf b = {0};
    util_buf_printf(&b, "INSERT INTO %s(%s) VALUES(", t->name, t->cols);
    for (size_t c = 0; c < w->n_cols; c++) util_buf_printf(&b, c ? ", ?" : "?");
    util_buf_putc(&b, ')');
    int rc = b.is_failed ? SQLITE_NOMEM : sqlite3_prepare_v2(s->db, b.data, -1, &w->st, NULL);
    util_buf_fini(&b);
    return rc == SQLITE_OK ? DT_OK : sq_fail(s, rc, what, err);
}

static void writer_close(cp_writer *w)
{
    sqlite3_finalize(w->st);
    dt_free(w->sql);
    for (size_t c = 0; c < CP_MAX_COLS; c++) util_buf_fini(&w->arrays[c]);
}

/* Sends the rows the arrays hold in one statement. */
static int writer_flush(cp_writer *w, dt_error *err)
{
    if (!w->s->pg || !w->n_rows) return DT_OK;
    pg_params p = {0};
    for (size_t c = 0; c < w->n_cols; c++) {
        util_buf_putc(&w->arrays[c], '}');
        if (w->arrays[c].is_failed) return dt_err_set(err, DT_ENOMEM, "out of memory");
        pg_param_text(&p, w->arrays[c].data);
    }
    int rc = pg_do(w->s, w->sql, &p, w->what, err);
    for (size_t c = 0; c < w->n_cols; c++) util_buf_clear(&w->arrays[c]);
    w->n_rows = w->n_bytes = 0;
    return rc;
}

/* Appends a value to an array literal (pg_int.h): a blob as quoted hex,
 * so an empty one is an element too. */
static void pg_elem(util_buf *b, char kind, const cp_value *v)
{
    if (v->is_null) util_buf_printf(b, "NULL");
    else if (kind == 'i') util_buf_printf(b, "%lld", (long long)v->i);
    else if (kind == 'r') pg_elem_f64(b, v->f);
    else if (kind == 't') pg_elem_text(b, v->p);
    else pg_elem_hex(b, v->p, v->n);
}

static int writer_put(cp_writer *w, const cp_value *v, dt_error *err)
{
    const char *kinds = w->t->kinds;
    if (w->s->pg) {
        for (size_t c = 0; c < w->n_cols; c++) {
            util_buf_putc(&w->arrays[c], w->n_rows ? ',' : '{');
            pg_elem(&w->arrays[c], kinds[c], &v[c]);
            w->n_bytes += v[c].n;
        }
        return ++w->n_rows == PG_BATCH || w->n_bytes > CP_BATCH_BYTES ? writer_flush(w, err)
                                                                       : DT_OK;
    }
    for (size_t c = 0; c < w->n_cols; c++) {
        int i = (int)c + 1;
        if (v[c].is_null) sqlite3_bind_null(w->st, i);
        else if (kinds[c] == 'i') sqlite3_bind_int64(w->st, i, v[c].i);
        else if (kinds[c] == 'r') sqlite3_bind_double(w->st, i, v[c].f);
        else if (kinds[c] == 't') sqlite3_bind_text(w->st, i, v[c].p, (int)v[c].n, SQLITE_STATIC);
        else sqlite3_bind_blob(w->st, i, v[c].p, (int)v[c].n, SQLITE_STATIC);
    }
    return sq_step_done(w->s, w->st, w->what, err);
}

/* ---- the copy ------------------------------------------------------------------ */

/* Rows of a table (its name from TABLES). */
static int count_rows(st_store *s, const char *table, uint64_t *n, dt_error *err)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    int64_t v = 0;
    if (s->pg) {
        DT_TRY(pg_one_i64(s, sql, NULL, &v, "counting a table's rows", err));
    } else {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        rc = rc == SQLITE_OK ? sq_one_int(s, st, &v, "counting a table's rows", err)
                             : sq_fail(s, rc, "counting a table's rows", err);
        sqlite3_finalize(st);
        DT_TRY(rc);
    }
    *n = (uint64_t)v;
    return DT_OK;
}

static void report(st_copy_fn on_step, void *ctx, const char *name, uint64_t done,
                   uint64_t total, int is_done, int is_table)
{
    if (!on_step) return;
    st_copy_step step = {name, done, total, is_done, is_table};
    on_step(ctx, &step);
}

#ifdef DT_TEST_HOOKS
/* Test builds: DOVETAIL_TEST_COPY_PAUSE_MS after each table, so a test
 * can kill a copy in the middle. */
static void test_pause(void)
{
    const char *v = getenv("DOVETAIL_TEST_COPY_PAUSE_MS");
    if (v && *v) usleep((useconds_t)atoi(v) * 1000);
}
#endif

static int copy_table(st_store *from, st_store *to, const cp_table *t, st_copy_fn on_step,
                      void *ctx, uint64_t *n_copied, dt_error *err)
{
    char what[64];
    snprintf(what, sizeof what, "copying table %s", t->name);
    uint64_t total = 0, done = 0, in_copy = 0;
    DT_TRY(count_rows(from, t->name, &total, err));
    report(on_step, ctx, t->name, 0, total, 0, 1);
    cp_reader rd;
    cp_writer w;
    int rc = reader_open(&rd, from, t, err);
    if (rc == DT_OK) rc = writer_open(&w, to, t, what, err);
    else memset(&w, 0, sizeof w);
    for (int has = 1; rc == DT_OK;) {
        rc = reader_next(&rd, &has, err);
        if (rc < 0 || !has) break;
        rc = writer_put(&w, rd.v, err);
        if (++done % PG_BATCH == 0) report(on_step, ctx, t->name, done, total, 0, 1);
    }
    if (rc == DT_OK) rc = writer_flush(&w, err);
    writer_close(&w);
    reader_close(&rd);
    if (rc == DT_OK) rc = count_rows(to, t->name, &in_copy, err);
    if (rc == DT_OK && (done != total || in_copy != total)) /* invariant 4 */
        rc = dt_err_at(err, DT_EIO, st_path(to), 0, 0, "%s: %llu rows in the source, %llu read, "
                       "%llu in the copy", what, (unsigned long long)total,
                       (unsigned long long)done, (unsigned long long)in_copy);
    if (rc < 0) return rc;
#ifdef DT_TEST_HOOKS
    test_pause();
#endif
    report(on_step, ctx, t->name, done, total, 1, 1);
    *n_copied = done;
    return DT_OK;
}

/* Invariant 4: both stores at the schema TABLES lists; the copy's own
 * settings make way for the source's. */
static int settings_first(st_store *from, st_store *to, dt_error *err)
{
    char *v = NULL;
    DT_TRY(st_meta_get(from, "schema_version", &v, err));
    int same = v && !strcmp(v, CP_SCHEMA_VERSION);
    dt_free(v);
    if (!same)
        return dt_err_at(err, DT_EIO, st_path(from), 0, 0, "copying a store: its schema is "
                         "not version " CP_SCHEMA_VERSION ", which this dovetail copies");
    DT_TRY(st_meta_get(to, "schema_version", &v, err));
    same = v && !strcmp(v, CP_SCHEMA_VERSION);
    dt_free(v);
    if (!same) return dt_err_set(err, DT_EINTERNAL, "a new store is not at schema version "
                                 CP_SCHEMA_VERSION ", which copy.c copies");
    const char *sql = "DELETE FROM meta";
    return to->pg ? pg_do(to, sql, NULL, "copying settings", err)
                  : sq_exec(to, sql, "copying settings", err);
}

/* ---- PostgreSQL: keys, indexes and references after the rows ----------------- */

/* A row inserted where a foreign key is checks it, and locks its parent
 * row, one by one; an index (a primary key's, a unique constraint's, any
 * other) is kept row by row. Made after the rows, an index is one sort
 * and a foreign key one join, and each still checks every row: the
 * copy's keys and indexes (of TABLES, in the schema the copy was just
 * made in, nothing else there) are dropped first, in its transaction,
 * and made again at its end. The statements that drop and make them are
 * written by the server from its catalog, names quoted by it: no text of
 * ours and no data in them. Check constraints stay. Rows come keys (k 0),
 * other indexes (1), foreign keys (2): made in that order, dropped in the
 * other. */
static PGresult *pg_keys(st_store *to, dt_error *err)
{
    const char *names[CP_N_TABLES];
    for (size_t i = 0; i < CP_N_TABLES; i++) names[i] = TABLES[i].name;
    util_buf arr = {0};
    pg_array_text(&arr, names, CP_N_TABLES);
    pg_params p = {0};
    pg_param_text(&p, arr.data);
    PGresult *r = arr.is_failed ? NULL : pg_run(to,
        "WITH t AS (SELECT oid, relname FROM pg_class WHERE relname = ANY($1::text[]) AND "
        "relnamespace = current_schema()::regnamespace), "
        "c AS (SELECT * FROM pg_constraint WHERE conrelid IN (SELECT oid FROM t)) "
        "SELECT CASE contype WHEN 'f' THEN 2 ELSE 0 END AS k, "
        "format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname), "
        "format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, "
        "pg_get_constraintdef(oid)) FROM c WHERE contype IN ('p', 'u', 'f') "
        "UNION ALL SELECT 1, format('DROP INDEX %I.%I', schemaname, indexname), indexdef "
        "FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN "
        "(SELECT relname FROM t) AND indexname NOT IN (SELECT conname FROM c) ORDER BY 1",
        &p, "making the copy's tables", err);
    util_buf_fini(&arr);
    if (!r && err->code == DT_OK) dt_err_set(err, DT_ENOMEM, "out of memory");
    return r;
}

static int pg_keys_drop(st_store *to, const PGresult *keys, dt_error *err)
{
    for (int i = PQntuples(keys); i-- > 0;) /* foreign keys first, then what they name */
        DT_TRY(pg_do(to, pg_text(keys, i, 1), NULL, "making the copy's tables", err));
    return DT_OK;
}

static int pg_keys_make(st_store *to, const PGresult *keys, st_copy_fn on_step, void *ctx,
                        dt_error *err)
{
    const char *name = "keys, indexes";
    uint64_t n = (uint64_t)PQntuples(keys);
    for (uint64_t i = 0; i < n; i++) {
        report(on_step, ctx, name, i, n, 0, 0);
        DT_TRY(pg_do(to, pg_text(keys, (int)i, 2), NULL, "indexing the copy and checking its "
                     "references", err));
    }
    report(on_step, ctx, name, n, n, 1, 0);
    /* the planner's statistics, which tables filled in one go lack until autovacuum's turn */
    util_buf sql = {0};
    util_buf_printf(&sql, "ANALYZE");
    for (size_t i = 0; i < CP_N_TABLES; i++)
        util_buf_printf(&sql, "%s %s", i ? "," : "", TABLES[i].name); /* its own tables only */
    int rc = sql.is_failed ? dt_err_set(err, DT_ENOMEM, "out of memory")
                           : pg_do(to, sql.data, NULL, "copying a store", err);
    util_buf_fini(&sql);
    return rc;
}

static int copy_all(st_store *from, st_store *to, st_copy_fn on_step, void *ctx,
                    st_copy_result *out, dt_error *err)
{
    DT_TRY(settings_first(from, to, err));
    PGresult *keys = to->pg ? pg_keys(to, err) : NULL;
    if (to->pg && !keys) return err->code;
    int rc = keys ? pg_keys_drop(to, keys, err) : DT_OK;
    for (size_t i = 0; i < CP_N_TABLES && rc == DT_OK; i++) {
        uint64_t n = 0;
        rc = copy_table(from, to, &TABLES[i], on_step, ctx, &n, err);
        out->n_rows += n;
        out->n_tables += rc == DT_OK;
        if (!strcmp(TABLES[i].name, "audit")) out->n_entries = n;
        if (!strcmp(TABLES[i].name, "tree_head")) out->n_heads = n;
    }
    if (rc == DT_OK && keys) rc = pg_keys_make(to, keys, on_step, ctx, err);
    PQclear(keys);
    return rc;
}

int st_copy(st_store *from, const char *to_path, st_copy_fn on_step, void *ctx,
            st_copy_result *out, dt_error *err)
{
    memset(out, 0, sizeof *out);
    if (!st_is_url(to_path) && strstr(to_path, "://")) {
        char *shown = st_path_shown(to_path);
        int rc = dt_err_set(err, DT_EINVAL, "%s: not a store's place: a PostgreSQL URL "
                            "(postgresql://...) or a file's path", shown ? shown : "the copy");
        dt_free(shown);
        return rc;
    }
    st_store *to = NULL;
    DT_TRY(st_is_url(to_path) ? pg_create_txn(to_path, from, &to, err)
                              : sq_create_txn(to_path, from, &to, err));
    int started = 0;
    int rc = st_snapshot_begin(from, &started, err);
    if (rc == DT_OK) rc = copy_all(from, to, on_step, ctx, out, err);
    st_snapshot_end(from, started);
    if (rc == DT_OK) rc = st_commit(to, err);
    st_close(to); /* rolls back what was not committed */
    if (rc < 0 && !st_is_url(to_path)) sq_remove_files(to_path);
    if (rc < 0) memset(out, 0, sizeof *out);
    return rc;
}
