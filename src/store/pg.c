/*
 * pg.c — the PostgreSQL backend's connection, schema, transactions,
 * settings, sources, models and records, and the statement cache every
 * pg_ file runs through (pg_int.h has the invariants).
 *
 * The tables are the SQLite backend's (sqlite.c, govern_sql.c,
 * findings_sql.c), typed for PostgreSQL: every integer BIGINT (one binary
 * width to read), blobs BYTEA, "by" and "row" quoted. Ids the SQLite
 * backend takes as max + 1 (records, sources, models) are taken so here
 * too, under the write lock, so a rolled-back train gives its model
 * version again, as there.
 *
 * The data generation (store.h) moves on at a commit that changed a row
 * outside the audit log, as in SQLite: pg_run counts the rows each
 * statement wrote from its command tag, and the audit log's statements
 * count theirs apart (st_log_changed), so a group commit of entries alone
 * (a server's) leaves it.
 *
 * A connection is opened with JIT off (SESSION says why). A row put, one
 * or many, is pg_records_put: a look-up for all of them, then a statement
 * per kind of write.
 */
#include <assert.h>
#include <endian.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/pg_int.h"

static const char SCHEMA[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE source(id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE record(id BIGINT PRIMARY KEY, source BIGINT NOT NULL REFERENCES source(id),"
    "  record_id TEXT NOT NULL, raw BYTEA NOT NULL, norm BYTEA NOT NULL,"
    "  version BIGINT NOT NULL, withdrawn BIGINT NOT NULL DEFAULT 0,"
    "  received BIGINT NOT NULL, UNIQUE(source, record_id));"
    "CREATE TABLE record_history(record BIGINT NOT NULL REFERENCES record(id),"
    "  version BIGINT NOT NULL, raw BYTEA NOT NULL, norm BYTEA NOT NULL,"
    "  source BIGINT NOT NULL, received BIGINT NOT NULL, PRIMARY KEY(record, version));"
    "CREATE INDEX record_received ON record(source, received);"
    "CREATE INDEX history_received ON record_history(source, received);"
    "CREATE TABLE model(version BIGINT PRIMARY KEY, created TEXT NOT NULL, json TEXT NOT NULL);"
    "CREATE TABLE block_key(slot BIGINT PRIMARY KEY);"
    "CREATE TABLE block_new(slot BIGINT PRIMARY KEY);"
    "CREATE TABLE record_keys(record BIGINT PRIMARY KEY REFERENCES record(id),"
    "  slots BYTEA NOT NULL);"
    "CREATE TABLE link(a BIGINT NOT NULL REFERENCES record(id),"
    "  b BIGINT NOT NULL REFERENCES record(id), rule BIGINT NOT NULL,"
    "  weight DOUBLE PRECISION NOT NULL, p DOUBLE PRECISION NOT NULL, PRIMARY KEY(a, b));"
    "CREATE INDEX link_b ON link(b);"
    "CREATE TABLE membership(record BIGINT PRIMARY KEY REFERENCES record(id),"
    "  entity TEXT NOT NULL);"
    "CREATE INDEX membership_entity ON membership(entity);"
    "CREATE TABLE entity_event(seq BIGINT PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL,"
    "  entity TEXT NOT NULL, other TEXT NOT NULL, cause TEXT NOT NULL);"
    "CREATE TABLE decision(a BIGINT NOT NULL REFERENCES record(id),"
    "  b BIGINT NOT NULL REFERENCES record(id), same BIGINT NOT NULL,"
    "  \"by\" TEXT NOT NULL, time BIGINT NOT NULL, note TEXT NOT NULL, PRIMARY KEY(a, b));"
    "CREATE INDEX decision_b ON decision(b);"
    "CREATE TABLE principal(id BIGINT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,"
    "  sources TEXT NOT NULL, token_hash BYTEA NOT NULL UNIQUE, created BIGINT NOT NULL,"
    "  revoked BIGINT);"
    "CREATE UNIQUE INDEX principal_active ON principal(name) WHERE revoked IS NULL;"
    "CREATE TABLE policy(source BIGINT NOT NULL REFERENCES source(id),"
    "  version BIGINT NOT NULL, text TEXT NOT NULL, set_by TEXT NOT NULL,"
    "  time BIGINT NOT NULL, PRIMARY KEY(source, version));"
    "CREATE TABLE audit(seq BIGINT PRIMARY KEY, time BIGINT NOT NULL,"
    "  principal TEXT NOT NULL, purpose TEXT NOT NULL, action TEXT NOT NULL,"
    "  fields TEXT NOT NULL, outcome TEXT NOT NULL, n_subjects BIGINT NOT NULL,"
    "  leaf_hash BYTEA NOT NULL);"
    "CREATE TABLE audit_subject(seq BIGINT NOT NULL, i BIGINT NOT NULL,"
    "  subject TEXT NOT NULL, PRIMARY KEY(seq, i));"
    "CREATE INDEX audit_subject_of ON audit_subject(subject, seq);"
    "CREATE TABLE tree_head(size BIGINT PRIMARY KEY, time BIGINT NOT NULL,"
    "  root BYTEA NOT NULL, signature BYTEA NOT NULL, frontier BYTEA NOT NULL);"
    "CREATE TABLE log_end(id BIGINT PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL,"
    "  frontier BYTEA NOT NULL, mac BYTEA NOT NULL);"
    "CREATE TABLE event(id BIGINT PRIMARY KEY, source BIGINT NOT NULL REFERENCES source(id),"
    "  event_id TEXT NOT NULL, \"row\" TEXT NOT NULL, received BIGINT NOT NULL,"
    "  UNIQUE(source, event_id));"
    "CREATE TABLE finding(id TEXT NOT NULL, rule TEXT NOT NULL,"
    "  rule_version BIGINT NOT NULL, model_version BIGINT NOT NULL, state TEXT NOT NULL,"
    "  confidence DOUBLE PRECISION NOT NULL, sources BIGINT NOT NULL, evidence TEXT NOT NULL,"
    "  purpose TEXT NOT NULL, created BIGINT NOT NULL, updated BIGINT NOT NULL,"
    "  notified_at BIGINT NOT NULL, contest_days BIGINT NOT NULL, PRIMARY KEY(purpose, id));"
    "CREATE TABLE finding_step(purpose TEXT NOT NULL, finding TEXT NOT NULL,"
    "  seq BIGINT NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL, \"by\" TEXT NOT NULL,"
    "  reason TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY(purpose, finding, seq),"
    "  FOREIGN KEY(purpose, finding) REFERENCES finding(purpose, id));";

/* ---- parameters and results ------------------------------------------ */

static void put_be64(unsigned char *b, uint64_t v)
{
    uint64_t be = htobe64(v);
    memcpy(b, &be, 8);
}

void pg_param_i64(pg_params *p, int64_t v)
{
    assert(p->n < PG_MAX_PARAMS);
    put_be64(p->num[p->n], (uint64_t)v);
    p->v[p->n] = (const char *)p->num[p->n];
    p->len[p->n] = 8;
    p->fmt[p->n++] = 1;
}

void pg_param_f64(pg_params *p, double v)
{
    assert(p->n < PG_MAX_PARAMS);
    uint64_t bits;
    memcpy(&bits, &v, 8);
    put_be64(p->num[p->n], bits);
    p->v[p->n] = (const char *)p->num[p->n];
    p->len[p->n] = 8;
    p->fmt[p->n++] = 1;
}

void pg_param_text(pg_params *p, const char *s)
{
    assert(p->n < PG_MAX_PARAMS);
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n++] = 0;
}

void pg_param_blob(pg_params *p, const void *data, size_t n)
{
    assert(p->n < PG_MAX_PARAMS);
    p->v[p->n] = n ? data : "";
    p->len[p->n] = (int)n;
    p->fmt[p->n++] = 1;
}

/* Each statement is prepared on the connection the first time it runs
 * (named by its text's number here) and executed by name after: the
 * server plans it once, where an unnamed statement was planned at every
 * call (0.4 ms, three quarters of a record's put at 100,000 people). */
typedef struct pg_stmts {
    util_intern texts;
    uint8_t *is_prepared; /* by text number */
    size_t cap;
} pg_stmts;

static void stmts_free(st_store *s)
{
    if (!s->pg_stmts) return;
    util_intern_fini(&s->pg_stmts->texts);
    dt_free(s->pg_stmts->is_prepared);
    dt_free(s->pg_stmts);
    s->pg_stmts = NULL;
}

/* The statement's name, prepared first if it is new; NULL with *r the
 * failed result (or NULL: no memory). */
static const char *prepared(st_store *s, const char *sql, const pg_params *p, char name[16],
                            PGresult **r)
{
    *r = NULL;
    pg_stmts *t = s->pg_stmts;
    if (!t && (t = s->pg_stmts = dt_calloc(1, sizeof *t))) util_intern_init(&t->texts);
    uint32_t id;
    size_t had = t ? t->cap : 0;
    if (!t || util_intern_put(&t->texts, sql, strlen(sql), &id) < 0 ||
        util_grow((void **)&t->is_prepared, &t->cap, (size_t)id + 1, 1) < 0)
        return NULL;
    if (t->cap > had) memset(t->is_prepared + had, 0, t->cap - had); /* grown: none yet */
    snprintf(name, 16, "dt%u", id);
    if (t->is_prepared[id]) return name;
    *r = PQprepare((PGconn *)s->pg, name, sql, p ? p->n : 0, NULL);
    if (!*r || PQresultStatus(*r) != PGRES_COMMAND_OK) return NULL;
    PQclear(*r);
    *r = NULL;
    t->is_prepared[id] = 1;
    return name;
}

/* Counts the rows a statement wrote, for the data generation (pg_commit,
 * as sqlite3_changes64 counts them): an INSERT, UPDATE or DELETE says how
 * many; another statement that writes (TRUNCATE, CREATE or DROP INDEX)
 * says none, and counts as one; a SELECT, and a transaction's or
 * session's own statement, write nothing. */
static void count_changes(st_store *s, PGresult *r)
{
    static const char *const NONE[] = {"SELECT", "BEGIN", "COMMIT", "ROLLBACK", "SET"};
    const char *tag = PQcmdStatus(r), *n = PQcmdTuples(r);
    int64_t rows = *n ? strtoll(n, NULL, 10) : 1;
    for (size_t i = 0; i < sizeof NONE / sizeof *NONE; i++)
        if (!strncmp(tag, NONE[i], strlen(NONE[i]))) rows = 0;
    s->pg_last_changes = rows;
    s->pg_changes += rows;
}

/* The session's settings, on every connection (open_db, revive). No JIT:
 * the planner compiles a statement whose estimate passes jit_above_cost,
 * about 100 ms each time, and a batch's block ranges (BETWEEN two columns
 * of an unnested array, estimated at 0.5% of block_key each) always pass
 * it, though they read a few rows each: it was a quarter of a resolving
 * batch's time (bench/delta.sh). */
static const char *const SESSION[] = {"SET client_min_messages = warning", "SET jit = off"};

/* Makes a connection the server closed (a restart, a failover, a
 * terminated backend) again, with its session's settings; its prepared
 * statements went with it. 1 when it was made again. */
static int revive(st_store *s)
{
    PGconn *c = (PGconn *)s->pg;
    if (PQstatus(c) != CONNECTION_BAD) return 0;
    PQreset(c);
    if (PQstatus(c) != CONNECTION_OK) return 0;
    if (s->pg_stmts) memset(s->pg_stmts->is_prepared, 0, s->pg_stmts->cap);
    for (size_t i = 0; i < sizeof SESSION / sizeof *SESSION; i++) PQclear(PQexec(c, SESSION[i]));
    return 1;
}

static PGresult *run_once(st_store *s, const char *sql, const pg_params *p)
{
    char name[16];
    PGresult *r = NULL;
    const char *stmt = prepared(s, sql, p, name, &r);
    if (stmt)
        r = PQexecPrepared((PGconn *)s->pg, stmt, p ? p->n : 0, p ? p->v : NULL,
                           p ? p->len : NULL, p ? p->fmt : NULL, 1);
    return r;
}

static int is_done(const PGresult *r)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

PGresult *pg_run(st_store *s, const char *sql, const pg_params *p, const char *what,
                 dt_error *err)
{
    PGconn *c = (PGconn *)s->pg;
    /* Between our transactions nothing is under way on the connection:
     * one the server closed is made again, so a server outlives a restart
     * of its database. libpq learns of a loss only when a statement fails
     * on it, so a BEGIN or a read (nothing of either happened) is sent
     * once more on the connection made again; a write is not. Inside a
     * transaction a loss is the caller's error: what was done in it is
     * gone. */
    int is_between = !s->in_txn && !s->pg_in_read;
    if (is_between) revive(s);
    PGresult *r = run_once(s, sql, p);
    if (!is_done(r) && is_between && (!strncmp(sql, "SELECT", 6) || !strncmp(sql, "BEGIN", 5)) &&
        revive(s)) {
        PQclear(r);
        r = run_once(s, sql, p);
    }
    if (is_done(r)) {
        count_changes(s, r);
        return r;
    }
    const char *why = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!why) why = PQerrorMessage(c);
    size_t n = strcspn(why, "\n");
    while (n && (why[n - 1] == '\n' || why[n - 1] == ' ')) n--;
    if (state && (!strcmp(state, "55P03") || !strcmp(state, "40001") || !strcmp(state, "40P01")))
        s->pg_failed = dt_err_at(err, DT_EBUSY, s->path, 0, 0, "%s: the store is locked by "
                                 "another process (%.*s); try again when it has finished",
                                 what, (int)n, why);
    else
        s->pg_failed = dt_err_at(err, DT_EIO, s->path, 0, 0, "%s: %.*s", what, (int)n, why);
    PQclear(r);
    return NULL;
}

void pg_array_i64(util_buf *b, const int64_t *v, size_t n)
{
    util_buf_clear(b);
    util_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) util_buf_printf(b, i ? ",%lld" : "%lld", (long long)v[i]);
    util_buf_putc(b, '}');
}

void pg_elem_hex(util_buf *b, const void *data, size_t n)
{
    static const char HEX[] = "0123456789abcdef";
    const unsigned char *x = data;
    util_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        util_buf_putc(b, HEX[x[i] >> 4]);
        util_buf_putc(b, HEX[x[i] & 15]);
    }
    util_buf_putc(b, '"');
}

void pg_elem_f64(util_buf *b, double v)
{
    if (isinf(v)) util_buf_printf(b, v > 0 ? "Infinity" : "-Infinity");
    else if (isnan(v)) util_buf_printf(b, "NaN");
    else util_buf_printf(b, "%.17g", v);
}

void pg_elem_text(util_buf *b, const char *s)
{
    util_buf_putc(b, '"');
    for (const char *c = s; *c; c++) {
        if (*c == '"' || *c == '\\') util_buf_putc(b, '\\');
        util_buf_putc(b, *c);
    }
    util_buf_putc(b, '"');
}

void pg_array_f64(util_buf *b, const double *v, size_t n)
{
    util_buf_clear(b);
    util_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i) util_buf_putc(b, ',');
        pg_elem_f64(b, v[i]);
    }
    util_buf_putc(b, '}');
}

void pg_array_text(util_buf *b, const char *const *v, size_t n)
{
    util_buf_clear(b);
    util_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i) util_buf_putc(b, ',');
        pg_elem_text(b, v[i]);
    }
    util_buf_putc(b, '}');
}

int pg_do(st_store *s, const char *sql, const pg_params *p, const char *what, dt_error *err)
{
    PGresult *r = pg_run(s, sql, p, what, err);
    PQclear(r);
    return r ? DT_OK : pg_failed(s);
}

int64_t pg_i64(const PGresult *r, int row, int col)
{
    /* 8 bytes or NULL: any other width is a column not cast to bigint */
    assert(PQgetisnull(r, row, col) || PQgetlength(r, row, col) == 8);
    uint64_t be = 0;
    if (PQgetlength(r, row, col) == 8) memcpy(&be, PQgetvalue(r, row, col), 8);
    return (int64_t)be64toh(be);
}

double pg_f64(const PGresult *r, int row, int col)
{
    uint64_t bits = (uint64_t)pg_i64(r, row, col);
    double v;
    memcpy(&v, &bits, 8);
    return v;
}

const char *pg_text(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

void pg_rows_of(const PGresult *r, int col, int64_t key, int *begin, int *end)
{
    int lo = 0, hi = PQntuples(r);
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (pg_i64(r, mid, col) < key) lo = mid + 1;
        else hi = mid;
    }
    for (*begin = lo; lo < PQntuples(r) && pg_i64(r, lo, col) == key;) lo++;
    *end = lo;
}

int pg_one_i64(st_store *s, const char *sql, const pg_params *p, int64_t *v, const char *what,
                   dt_error *err)
{
    PGresult *r = pg_run(s, sql, p, what, err);
    if (!r) return pg_failed(s);
    int ok = PQntuples(r) == 1 && PQnfields(r) >= 1 && !PQgetisnull(r, 0, 0);
    if (ok) *v = pg_i64(r, 0, 0);
    PQclear(r);
    return ok ? DT_OK : dt_err_at(err, DT_EIO, s->path, 0, 0, "%s: no value", what);
}

/* ---- open and close ---------------------------------------------------- */

/* Cuts `key=value` out of a query (after ? or &) or a keyword/value
 * string (after a space or at the start), with its separator. */
static void cut_param(char *out, const char *key)
{
    size_t n = strlen(key);
    for (char *p = out; (p = strstr(p, key)); p += n) {
        int at_start = p == out || p[-1] == '?' || p[-1] == '&' || p[-1] == ' ';
        if (!at_start || p[n] != '=') continue;
        char *end = p + n + strcspn(p + n, "& ");
        if (*end) end++; /* its separator goes with it */
        else if (p > out && (p[-1] == '&' || p[-1] == '?' || p[-1] == ' ')) p--;
        memmove(p, end, strlen(end) + 1);
        return;
    }
}

/* The URL without its password (invariant 4): postgresql://user:pw@host
 * becomes postgresql://user@host (the last @ of the authority ends the
 * user part, so a password holding an @ goes too), and the password
 * and sslpassword parameters are cut. */
char *pg_redacted(const char *url)
{
    char *out = dt_strdup(url);
    if (!out) return NULL;
    char *scheme = strstr(out, "://");
    if (scheme) {
        char *auth = scheme + 3, *end = auth + strcspn(auth, "/?");
        char *at = NULL;
        for (char *p = auth; p < end; p++)
            if (*p == '@') at = p;
        char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) memmove(colon, at, strlen(at) + 1);
    }
    cut_param(out, "password");
    cut_param(out, "sslpassword"); /* the client key's passphrase */
    return out;
}

/* A URL may hold a password: wiped before it is freed. */
static void forget_url(char *url)
{
    if (url) sodium_memzero(url, strlen(url));
    dt_free(url);
}

static int has_schema(st_store *s, int *yes, dt_error *err)
{
    int64_t n = 0;
    DT_TRY(pg_one_i64(s, "SELECT count(*) FROM pg_catalog.pg_tables "
                   "WHERE schemaname = current_schema() AND tablename = 'meta'",
                   NULL, &n, "opening the store", err));
    *yes = n > 0;
    return DT_OK;
}

/* Several statements with no parameters (the schema): the simple query
 * protocol, which PQexecParams's one statement is not. */
static int run_script(st_store *s, const char *sql, const char *what, dt_error *err)
{
    PGresult *r = PQexec((PGconn *)s->pg, sql);
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        const char *why = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        dt_err_at(err, DT_EIO, s->path, 0, 0, "%s: %s", what, why ? why : "no reply");
    }
    PQclear(r);
    return ok ? DT_OK : DT_EIO;
}

/* The tables, in a transaction of their own, or in the caller's
 * (ST_CREATE_TXN: it is left open). */
static int create_schema(st_store *s, dt_error *err)
{
    const char *what = "creating the store";
    int is_alone = !s->in_txn;
    if (is_alone) DT_TRY(pg_do(s, "BEGIN", NULL, what, err));
    int rc = run_script(s, SCHEMA, what, err);
    char version[16];
    snprintf(version, sizeof version, "%d", PG_SCHEMA_VERSION);
    if (rc == DT_OK) rc = pg_meta_set(s, "schema_version", version, err);
    if (rc == DT_OK && is_alone) rc = pg_do(s, "COMMIT", NULL, what, err);
    if (rc < 0) pg_rollback(s);
    return rc;
}

static int lock_write(st_store *s, int may_wait, dt_error *err);
/* Connects to url, named path in messages. OUT: *out, set (PQfinish it)
 * even when the connection failed. */
static int connect_to(const char *url, const char *path, PGconn **out, dt_error *err)
{
    PGconn *c = *out = PQconnectdb(url);
    if (!c) return dt_err_set(err, DT_ENOMEM, "out of memory");
    if (PQstatus(c) == CONNECTION_OK) return DT_OK;
    const char *why = PQerrorMessage(c);
    size_t n = strcspn(why, "\n");
    return dt_err_at(err, DT_EIO, path, 0, 0, "cannot connect: %.*s", (int)n, why);
}

static int open_db(st_store *s, const char *url, const char *key_path, st_mode mode,
                   dt_error *err)
{
    DT_TRY(connect_to(url, s->path, &s->pg, err));
    for (size_t i = 0; i < sizeof SESSION / sizeof *SESSION; i++)
        DT_TRY(pg_do(s, SESSION[i], NULL, "opening the store", err));
    /* looked for and made under the write lock: two copies into one database wait in turn */
    if (mode == ST_CREATE_TXN) DT_TRY(lock_write(s, 1, err));
    int exists;
    DT_TRY(has_schema(s, &exists, err));
    if (mode != ST_OPEN && exists)
        return dt_err_at(err, DT_EIO, s->path, 0, 0, "a dovetail store is already there: use "
                         "another database or schema");
    if (mode == ST_OPEN && !exists)
        return dt_err_at(err, DT_EIO, s->path, 0, 0, "no store there; create one with "
                         "'dovetail init'");
    if (!s->has_key) DT_TRY(sq_key_load(s, key_path, mode == ST_CREATE, err));
    if (mode != ST_OPEN) {
        s->is_created = 1;
        DT_TRY(create_schema(s, err));
    } else {
        /* a meta table without our columns is another program's, as
         * SQLite's schema_version() says */
        pg_params p = {0};
        pg_param_text(&p, "schema_version");
        PGresult *r = pg_run(s, "SELECT value FROM meta WHERE key = $1", &p,
                             "not a dovetail store", err);
        if (!r) return DT_EIO;
        int version = PQntuples(r) == 1 ? atoi(pg_text(r, 0, 0)) : 0;
        PQclear(r);
        if (version != PG_SCHEMA_VERSION)
            return dt_err_at(err, DT_EIO, s->path, 0, 0, "store schema version %d, this "
                             "dovetail reads version %d", version, PG_SCHEMA_VERSION);
    }
    return sq_key_check(s, key_path, err); /* a setting: st_meta_get and _set take a pg store */
}

/* pg_open, or pg_create_txn when like is not NULL. */
static int open_store(const char *url, const char *key_path, const st_store *like, st_mode mode,
                      st_store **out, dt_error *err)
{
    *out = NULL;
    st_store *s = dt_calloc(1, sizeof *s);
    if (!s || !(s->path = pg_redacted(url)) || !(s->pg_url = dt_strdup(url))) {
        if (s) dt_free(s->path);
        dt_free(s);
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    s->n_new = -1;
    s->source_bits = -1;
    if (like) sq_key_like(s, like);
    int rc = open_db(s, url, key_path, mode, err);
    if (rc < 0) {
        pg_close(s);
        return rc;
    }
    *out = s;
    return DT_OK;
}

int pg_open(const char *url, const char *key_path, st_mode mode, st_store **out, dt_error *err)
{
    return open_store(url, key_path, NULL, mode, out, err);
}

int pg_create_txn(const char *url, const st_store *like, st_store **out, dt_error *err)
{
    return open_store(url, NULL, like, ST_CREATE_TXN, out, err);
}

void pg_close(st_store *s)
{
    if (!s) return;
    if (s->in_txn) pg_rollback(s);
    stmts_free(s);
    PQfinish((PGconn *)s->pg);
    sq_key_forget(s);
    forget_url(s->pg_url);
    dt_free(s->path);
    dt_free(s);
}

/* ---- transactions ------------------------------------------------------- */

/* A transaction with the write lock (invariant 2), waited for or
 * (may_wait 0) DT_EBUSY at once when another holds it. */
static int lock_write(st_store *s, int may_wait, dt_error *err)
{
    const char *what = "starting a batch";
    DT_TRY(pg_do(s, "BEGIN ISOLATION LEVEL READ COMMITTED", NULL, what, err));
    PGresult *r = pg_run(s, may_wait ? "SELECT pg_advisory_xact_lock(x'" PG_WRITE_LOCK
                                       "'::bigint)"
                                     : "SELECT pg_try_advisory_xact_lock(x'" PG_WRITE_LOCK
                                       "'::bigint)",
                         NULL, what, err);
    /* the wait returns when it has the lock; the try says (a binary bool) */
    int got = r && (may_wait || (PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 1));
    PQclear(r);
    if (!got) {
        pg_rollback(s);
        return r ? dt_err_set(err, DT_EBUSY, "the store is being written") : pg_failed(s);
    }
    s->in_txn = 1;
    s->changes_at_begin = s->pg_changes;
    s->log_changes = 0;
    return DT_OK;
}

/* Starts a write: the write lock (the erased-id mark is read where a
 * record is added: see "The next record's id"). */
static int begin_write(st_store *s, int may_wait, dt_error *err)
{
    return lock_write(s, may_wait, err);
}

int pg_begin(st_store *s, dt_error *err)
{
    return begin_write(s, 1, err);
}

int pg_begin_now(st_store *s, dt_error *err)
{
    return begin_write(s, 0, err);
}

/* Every heap page of every table is read (the server checks each page's
 * checksum as it reads it, when the cluster has them); comparing indexes
 * with their tables needs amcheck, which is contrib's, not here yet. */
int pg_verify(st_store *s, dt_error *err)
{
    static const char *const TABLES[] = {
        "meta", "source", "record", "record_history", "model", "block_key", "block_new",
        "record_keys", "link", "membership", "entity_event", "decision", "principal", "policy",
        "audit", "audit_subject", "tree_head", "log_end", "event", "finding", "finding_step"};
    for (size_t i = 0; i < sizeof TABLES / sizeof *TABLES; i++) {
        char sql[80];
        int64_t n;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", TABLES[i]); /* names, not data */
        DT_TRY(pg_one_i64(s, sql, NULL, &n, "checking the store", err));
    }
    int64_t bad = 0;
    DT_TRY(pg_one_i64(s, "SELECT count(*) FROM membership m JOIN record r ON r.id = m.record "
                      "WHERE r.withdrawn <> 0", NULL, &bad, "checking the store", err));
    return bad ? sq_damaged(s, "checking the store", "a withdrawn record has an entity", err)
               : DT_OK;
}

int pg_commit(st_store *s, dt_error *err)
{
    const char *what = "committing a batch";
    /* the data generation moves on with every commit that changed a row
     * outside the audit log (store.h): a group commit of entries alone
     * leaves it, one statement fewer in the one step every server's
     * commits take in turn */
    int64_t changed = s->pg_changes - s->changes_at_begin - s->log_changes;
    int rc = changed > 0 ? pg_do(s, "INSERT INTO meta(key, value) VALUES('data_gen', '1') "
                                 "ON CONFLICT(key) DO UPDATE SET value = "
                                 "(meta.value::bigint + 1)::text", NULL, what, err)
                         : DT_OK;
    if (rc == DT_OK) rc = pg_do(s, "COMMIT", NULL, what, err);
    if (rc < 0) {
        pg_rollback(s);
        return rc;
    }
    s->in_txn = 0;
    return DT_OK;
}

void pg_rollback(st_store *s)
{
    PQclear(PQexec((PGconn *)s->pg, "ROLLBACK"));
    s->in_txn = s->pg_in_read = 0; /* whatever was open, none is now */
}

int pg_snapshot_begin(st_store *s, int *started, dt_error *err)
{
    *started = 0;
    if (s->in_txn || s->pg_in_read) return DT_OK;
    revive(s); /* a closed connection's status is not idle */
    if (PQtransactionStatus((PGconn *)s->pg) != PQTRANS_IDLE) return DT_OK;
    DT_TRY(pg_do(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, "starting a read",
                 err));
    *started = s->pg_in_read = 1;
    return DT_OK;
}

void pg_snapshot_end(st_store *s, int started)
{
    if (!started) return;
    s->pg_in_read = 0;
    PQclear(PQexec((PGconn *)s->pg, "COMMIT"));
}

int pg_data_gen(st_store *s, int64_t *gen, dt_error *err)
{
    char *v = NULL;
    DT_TRY(pg_meta_get(s, "data_gen", &v, err));
    *gen = v ? strtoll(v, NULL, 10) : 0;
    dt_free(v);
    return DT_OK;
}

/* ---- the data generation's probe (store.h) ------------------------------ */

/* A connection of its own, made at its first read, not at open: on
 * PostgreSQL a server holds no snapshot between requests (st_can_hold),
 * so its handles' probes are seldom read, and the committer's (there only
 * for SQLite's WAL) never is; made at open, they were two connections a
 * worker, and several servers share one max_connections. */
struct pg_probe {
    char *url;  /* as the store was opened with (a password too) */
    char *path; /* the store's name in messages: without the password */
    PGconn *c;  /* NULL until the first read, and again after a failed one */
};

int pg_probe_open(const st_store *s, pg_probe **out, dt_error *err)
{
    *out = NULL;
    pg_probe *p = dt_calloc(1, sizeof *p);
    if (!p || !(p->url = dt_strdup(s->pg_url)) || !(p->path = dt_strdup(s->path))) {
        pg_probe_close(p);
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    *out = p;
    return DT_OK;
}

int pg_probe_gen(pg_probe *p, int64_t *gen, dt_error *err)
{
    if (!p->c && connect_to(p->url, p->path, &p->c, err) < 0) {
        int rc = p->c ? DT_EIO : DT_ENOMEM;
        PQfinish(p->c);
        p->c = NULL;
        return rc;
    }
    /* one statement outside a transaction: a fresh snapshot of its own */
    PGresult *r = PQexec(p->c, "SELECT value FROM meta WHERE key = 'data_gen'");
    int ok = r && PQresultStatus(r) == PGRES_TUPLES_OK;
    if (ok) *gen = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    else {
        const char *why = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        if (!why) why = PQerrorMessage(p->c);
        dt_err_at(err, DT_EIO, p->path, 0, 0, "reading the store's data generation: %.*s",
                  (int)strcspn(why, "\n"), why);
        if (PQstatus(p->c) != CONNECTION_OK) { /* the next read connects anew */
            PQfinish(p->c);
            p->c = NULL;
        }
    }
    PQclear(r);
    return ok ? DT_OK : DT_EIO;
}

void pg_probe_close(pg_probe *p)
{
    if (!p) return;
    PQfinish(p->c);
    forget_url(p->url);
    dt_free(p->path);
    dt_free(p);
}

/* ---- settings, sources, models ------------------------------------------ */

int pg_meta_set(st_store *s, const char *key, const char *value, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, key);
    pg_param_text(&p, value);
    return pg_do(s, "INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT(key) "
                 "DO UPDATE SET value = excluded.value", &p, "writing a setting", err);
}

int pg_meta_get(st_store *s, const char *key, char **value, dt_error *err)
{
    *value = NULL;
    pg_params p = {0};
    pg_param_text(&p, key);
    PGresult *r = pg_run(s, "SELECT value FROM meta WHERE key = $1", &p, "reading a setting", err);
    if (!r) return pg_failed(s);
    int rc = DT_OK;
    if (PQntuples(r) == 1 && !(*value = dt_strdup(pg_text(r, 0, 0))))
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    PQclear(r);
    return rc;
}

/* The source's id, looked up (a read, any time). */
static int source_lookup(st_store *s, const pg_params *p, int64_t *id, int *found,
                         dt_error *err)
{
    PGresult *r = pg_run(s, "SELECT id FROM source WHERE name = $1", p, "reading sources", err);
    if (!r) return pg_failed(s);
    *found = PQntuples(r) == 1;
    if (*found) *id = pg_i64(r, 0, 0);
    PQclear(r);
    return DT_OK;
}

int pg_source_id(st_store *s, const char *name, int64_t *id, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, name);
    int found = 0;
    DT_TRY(source_lookup(s, &p, id, &found, err));
    if (found) return DT_OK;
    /* under the write lock, where another process may have added it since */
    int is_alone = !s->in_txn;
    if (is_alone) DT_TRY(pg_begin(s, err));
    int rc = pg_do(s, "INSERT INTO source(id, name) SELECT coalesce(max(id), 0) + 1, $1 "
                   "FROM source ON CONFLICT(name) DO NOTHING", &p, "adding a source", err);
    if (rc == DT_OK) rc = source_lookup(s, &p, id, &found, err);
    if (rc == DT_OK && !found) rc = dt_err_at(err, DT_EIO, s->path, 0, 0, "adding a source: lost");
    if (is_alone) rc = rc == DT_OK ? pg_commit(s, err) : (pg_rollback(s), rc);
    return rc;
}

int pg_model_put(st_store *s, const char *json, int64_t *version, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, json);
    return pg_one_i64(s, "INSERT INTO model(version, created, json) SELECT coalesce(max(version), "
                   "0) + 1, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                   "$1 FROM model RETURNING version", &p, version, "storing the model", err);
}

int pg_model_latest(st_store *s, char **json, int64_t *version, dt_error *err)
{
    *json = NULL;
    *version = 0;
    PGresult *r = pg_run(s, "SELECT version, json FROM model ORDER BY version DESC LIMIT 1", NULL,
                         "reading the model", err);
    if (!r) return pg_failed(s);
    int rc = DT_OK;
    if (PQntuples(r) == 1) {
        *version = pg_i64(r, 0, 0);
        if (!(*json = dt_strdup(pg_text(r, 0, 1))))
            rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    PQclear(r);
    return rc;
}

/* ---- records ---------------------------------------------------------- */

/* Opens column col of row `row` (sealed as column `which`) into out. */
static int open_cell(st_store *s, const PGresult *r, int row, int col, int64_t id,
                     int64_t version, char which, util_buf *out, dt_error *err)
{
    return sq_open_blob(s, id, version, which, PQgetvalue(r, row, col),
                        (size_t)PQgetlength(r, row, col), out, err);
}

/* The next record's id: never one once erased (see sqlite.c, S_REC_NEXT_ID),
 * as the erasures committed and this transaction's own left the setting.
 * Read where a record is added, under the write lock, not at every
 * st_begin: a group commit of audit entries has no use for it. */
#define NEXT_RECORD_ID                                                                    \
    "SELECT greatest(coalesce((SELECT max(id) FROM record), 0), coalesce((SELECT "        \
    "value::bigint FROM meta WHERE key = 'record_id_erased'), 0)) + 1"

/* One row through pg_records_put: as many statements as it took alone
 * (a look-up, then the next id and an insert, or a history row and an
 * update), and one way of storing rows to keep twin with sqlite.c's. */
int pg_record_put(st_store *s, int64_t source, const char *record_id, const char *raw,
                  const char *norm, int64_t received, st_put_result *result, int64_t *out_id,
                  dt_error *err)
{
    st_put_row row = {.record_id = record_id, .raw = raw, .norm = norm};
    DT_TRY(pg_records_put(s, source, &row, 1, received, err));
    *result = row.result;
    if (out_id) *out_id = row.id;
    return DT_OK;
}

int pg_record_withdraw(st_store *s, int64_t source, const char *record_id, int *found,
                       dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, source);
    pg_param_text(&p, record_id);
    PGresult *r = pg_run(s, "UPDATE record SET withdrawn = 1 WHERE source = $1 AND "
                         "record_id = $2 AND withdrawn = 0", &p, "withdrawing a record", err);
    if (!r) return pg_failed(s);
    *found = atoi(PQcmdTuples(r)) > 0;
    PQclear(r);
    return DT_OK;
}

/* Calls fn with each record of r (columns as sqlite.c's S_REC_EACH). */
static int walk_records(st_store *s, const PGresult *r, st_record_fn fn, void *ctx,
                        dt_error *err)
{
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t id = pg_i64(r, i, 6), version = pg_i64(r, i, 4);
        DT_TRY(open_cell(s, r, i, 2, id, version, 'r', &s->scratch[0], err));
        DT_TRY(open_cell(s, r, i, 3, id, version, 'n', &s->scratch[1], err));
        st_record rec = {.source = pg_text(r, i, 0), .record_id = pg_text(r, i, 1),
                         .raw = s->scratch[0].data, .norm = s->scratch[1].data,
                         .version = version, .is_withdrawn = pg_i64(r, i, 5) != 0,
                         .entity = "", .id = id};
        int out = fn(ctx, &rec);
        if (out < 0) return out;
    }
    return DT_OK;
}

int pg_records_each(st_store *s, const char *source, int with_withdrawn, st_record_fn fn,
                    void *ctx, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, source ? source : "");
    pg_param_i64(&p, with_withdrawn);
    /* COLLATE "C": ordered by bytes, as SQLite orders text */
    PGresult *r = pg_run(s, "SELECT s.name, r.record_id, r.raw, r.norm, r.version, r.withdrawn, "
                         "r.id FROM record r JOIN source s ON s.id = r.source "
                         "WHERE ($1 = '' OR s.name = $1) AND ($2::bigint <> 0 OR r.withdrawn = 0) "
                         "ORDER BY s.name COLLATE \"C\", r.record_id COLLATE \"C\"", &p,
                         "reading records", err);
    if (!r) return pg_failed(s);
    int rc = walk_records(s, r, fn, ctx, err);
    PQclear(r);
    return rc;
}

int pg_record_count(st_store *s, const char *source, uint64_t *n, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, source ? source : "");
    int64_t v = 0;
    DT_TRY(pg_one_i64(s, "SELECT count(*) FROM record r JOIN source s ON s.id = r.source "
                   "WHERE ($1 = '' OR s.name = $1) AND r.withdrawn = 0", &p, &v,
                   "counting records", err));
    *n = (uint64_t)v;
    return DT_OK;
}

int pg_record_get(st_store *s, int64_t id, st_record *out, int64_t *source_id, dt_error *err)
{
    memset(out, 0, sizeof *out);
    pg_params p = {0};
    pg_param_i64(&p, id);
    PGresult *r = pg_run(s, "SELECT s.name, r.record_id, r.raw, r.norm, r.version, r.withdrawn, "
                         "r.source FROM record r JOIN source s ON s.id = r.source "
                         "WHERE r.id = $1", &p, "reading a record", err);
    if (!r) return pg_failed(s);
    int rc = PQntuples(r) == 1 ? DT_OK : dt_err_set(err, DT_ENOTFOUND, "no record %lld",
                                                    (long long)id);
    int64_t version = rc == DT_OK ? pg_i64(r, 0, 4) : 0;
    if (rc == DT_OK) rc = open_cell(s, r, 0, 2, id, version, 'r', &s->scratch[0], err);
    if (rc == DT_OK) rc = open_cell(s, r, 0, 3, id, version, 'n', &s->scratch[1], err);
    if (rc == DT_OK) {
        *out = (st_record){.source = dt_strdup(pg_text(r, 0, 0)),
                           .record_id = dt_strdup(pg_text(r, 0, 1)),
                           .raw = dt_strdup(s->scratch[0].data),
                           .norm = dt_strdup(s->scratch[1].data), .entity = dt_strdup(""),
                           .version = version, .is_withdrawn = pg_i64(r, 0, 5) != 0, .id = id};
        if (source_id) *source_id = pg_i64(r, 0, 6);
        if (!out->source || !out->record_id || !out->raw || !out->norm || !out->entity) {
            st_record_free(out);
            rc = dt_err_set(err, DT_ENOMEM, "out of memory");
        }
    }
    PQclear(r);
    return rc;
}

int pg_record_id(st_store *s, int64_t source, const char *record_id, int64_t *id,
                 dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, source);
    pg_param_text(&p, record_id);
    PGresult *r = pg_run(s, "SELECT id FROM record WHERE source = $1 AND record_id = $2", &p,
                         "reading a record", err);
    if (!r) return pg_failed(s);
    int found = PQntuples(r) == 1;
    if (found) *id = pg_i64(r, 0, 0);
    PQclear(r);
    return found ? DT_OK : dt_err_set(err, DT_ENOTFOUND, "no record '%s'", record_id);
}

/* Appends one element to an array literal being built in b ("{" first). */
static void array_next(util_buf *b, size_t i)
{
    util_buf_putc(b, i ? ',' : '{');
}

/* pg_records_put's writes, as array literals to bind: the new rows (ids,
 * record ids, sealed raw and norm in hex), the rows stored again with
 * new contents (ids, sealed raw and norm: a new version), and the ids of
 * the rows renewed (the same row again, its retention period half gone,
 * as sqlite.c renews it). */
typedef struct put_arrays {
    util_buf ids, rids, raws, norms;
    size_t n;
    util_buf again_ids, again_raws, again_norms;
    size_t n_again;
    util_buf renew;
    size_t n_renew;
} put_arrays;

static void put_arrays_fini(put_arrays *w)
{
    util_buf *all[] = {&w->ids, &w->rids, &w->raws, &w->norms, &w->again_ids, &w->again_raws,
                       &w->again_norms, &w->renew};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) util_buf_fini(all[i]);
}

/* Seals raw and norm for (id, version) and appends them to raws and norms
 * as element i, in hex, and id to ids. */
static int add_sealed(st_store *s, util_buf *ids, util_buf *raws, util_buf *norms, size_t i,
                      int64_t id, int64_t version, const char *raw, const char *norm,
                      dt_error *err)
{
    DT_TRY(sq_seal_column(s, id, version, 'r', raw, &s->scratch[0], err));
    DT_TRY(sq_seal_column(s, id, version, 'n', norm, &s->scratch[1], err));
    array_next(ids, i);
    util_buf_printf(ids, "%lld", (long long)id);
    array_next(raws, i);
    pg_elem_hex(raws, s->scratch[0].data, s->scratch[0].len);
    array_next(norms, i);
    pg_elem_hex(norms, s->scratch[1].data, s->scratch[1].len);
    return DT_OK;
}

static int add_new_row(st_store *s, put_arrays *w, int64_t id, const st_put_row *row,
                       dt_error *err)
{
    DT_TRY(add_sealed(s, &w->ids, &w->raws, &w->norms, w->n, id, 1, row->raw, row->norm, err));
    array_next(&w->rids, w->n++);
    pg_elem_text(&w->rids, row->record_id);
    return DT_OK;
}

/* A row stored again (row `row` of r, the look-up's): the same (renewed
 * when its retention period is half gone, as sqlite.c does), or a new
 * version. */
static int add_again_row(st_store *s, put_arrays *w, const PGresult *r, int row,
                         st_put_row *put, int64_t received, dt_error *err)
{
    int64_t id = pg_i64(r, row, 0), version = pg_i64(r, row, 4);
    int withdrawn = pg_i64(r, row, 2) != 0;
    int64_t was_received = pg_i64(r, row, 3);
    DT_TRY(open_cell(s, r, row, 1, id, version, 'r', &s->scratch[0], err));
    put->id = id;
    if (strcmp(s->scratch[0].data, put->raw) == 0 && !withdrawn) {
        put->result = ST_PUT_SAME;
        if (received - was_received < ST_RENEW_AFTER_S) return DT_OK;
        array_next(&w->renew, w->n_renew++);
        util_buf_printf(&w->renew, "%lld", (long long)id);
        return DT_OK;
    }
    put->result = withdrawn ? ST_PUT_RESTORED : ST_PUT_CHANGED;
    return add_sealed(s, &w->again_ids, &w->again_raws, &w->again_norms, w->n_again++, id,
                      version + 1, put->raw, put->norm, err);
}

/* Closes each array literal of bufs (n of them) and binds it as the next
 * parameter. */
static int bind_arrays(pg_params *p, util_buf *const *bufs, int n, dt_error *err)
{
    for (int c = 0; c < n; c++) {
        util_buf_putc(bufs[c], '}');
        if (bufs[c]->is_failed) return dt_err_set(err, DT_ENOMEM, "out of memory");
        pg_param_text(p, bufs[c]->data);
    }
    return DT_OK;
}

/* The writes w holds, a statement each: new rows inserted; rows stored
 * again keep their version in record_history, then take the new one. */
static int write_rows(st_store *s, int64_t source, put_arrays *w, int64_t received,
                      dt_error *err)
{
    pg_params p = {0};
    if (w->n) {
        pg_param_i64(&p, source);
        pg_param_i64(&p, received);
        util_buf *const cols[4] = {&w->ids, &w->rids, &w->raws, &w->norms};
        DT_TRY(bind_arrays(&p, cols, 4, err));
        DT_TRY(pg_do(s, "INSERT INTO record(id, source, record_id, raw, norm, version, received) "
                     "SELECT i, $1, r, decode(rw, 'hex'), decode(nm, 'hex'), 1, $2 FROM "
                     "unnest($3::bigint[], $4::text[], $5::text[], $6::text[]) AS t(i, r, rw, nm)",
                     &p, "storing records", err));
    }
    if (w->n_again) {
        p = (pg_params){0};
        util_buf *const cols[3] = {&w->again_ids, &w->again_raws, &w->again_norms};
        DT_TRY(bind_arrays(&p, cols, 3, err));
        pg_param_i64(&p, received);
        pg_params ids = {0};
        pg_param_text(&ids, w->again_ids.data);
        DT_TRY(pg_do(s, "INSERT INTO record_history(record, version, raw, norm, source, received) "
                     "SELECT id, version, raw, norm, source, received FROM record "
                     "WHERE id = ANY($1::bigint[])", &ids, "keeping records' earlier versions",
                     err));
        DT_TRY(pg_do(s, "UPDATE record SET raw = decode(t.rw, 'hex'), norm = decode(t.nm, 'hex'), "
                     "version = record.version + 1, withdrawn = 0, received = $4::bigint FROM "
                     "unnest($1::bigint[], $2::text[], $3::text[]) AS t(i, rw, nm) "
                     "WHERE record.id = t.i", &p, "updating records", err));
    }
    if (w->n_renew) {
        p = (pg_params){0};
        util_buf *const cols[1] = {&w->renew};
        DT_TRY(bind_arrays(&p, cols, 1, err));
        pg_param_i64(&p, received);
        DT_TRY(pg_do(s, "UPDATE record SET received = $2::bigint WHERE id = ANY($1::bigint[])", &p,
                     "renewing records", err));
    }
    return DT_OK;
}

/* One look-up for every row, the next id only when a row is new, then
 * write_rows's statements: a few round trips for n rows, where a call
 * per row took three. */
int pg_records_put(st_store *s, int64_t source, st_put_row *rows, size_t n, int64_t received,
                   dt_error *err)
{
    const char **rids = dt_malloc((n ? n : 1) * sizeof *rids);
    if (!rids) return dt_err_set(err, DT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) rids[i] = rows[i].record_id;
    util_buf arr = {0};
    pg_array_text(&arr, rids, n);
    dt_free(rids);
    if (arr.is_failed) {
        util_buf_fini(&arr);
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    pg_params p = {0};
    pg_param_i64(&p, source);
    pg_param_text(&p, arr.data);
    PGresult *r = pg_run(s, "SELECT id, raw, withdrawn, received, version, record_id FROM record "
                         "WHERE source = $1 AND record_id = ANY($2::text[])", &p,
                         "reading records", err);
    util_buf_fini(&arr);
    if (!r) return pg_failed(s);
    util_intern stored;
    util_intern_init(&stored);
    int rc = DT_OK;
    for (int j = 0; j < PQntuples(r) && rc == DT_OK; j++) {
        uint32_t k;
        rc = util_intern_put(&stored, pg_text(r, j, 5), strlen(pg_text(r, j, 5)), &k);
    }
    int64_t next = 0;
    /* never an id once erased: NEXT_RECORD_ID */
    if (rc == DT_OK && (size_t)PQntuples(r) < n)
        rc = pg_one_i64(s, NEXT_RECORD_ID, NULL, &next, "storing records", err);
    put_arrays w = {0};
    for (size_t i = 0; i < n && rc == DT_OK; i++) {
        uint32_t j = util_intern_find(&stored, rows[i].record_id, strlen(rows[i].record_id));
        if (j != UINT32_MAX) { /* interned in row order: j is its row */
            rc = add_again_row(s, &w, r, (int)j, &rows[i], received, err);
            continue;
        }
        rows[i].result = ST_PUT_NEW;
        rows[i].id = next++;
        rc = add_new_row(s, &w, rows[i].id, &rows[i], err);
    }
    if (rc == DT_OK) rc = write_rows(s, source, &w, received, err);
    put_arrays_fini(&w);
    util_intern_fini(&stored);
    PQclear(r);
    return rc == DT_ENOMEM && err->code == DT_OK ? dt_err_set(err, rc, "out of memory") : rc;
}
