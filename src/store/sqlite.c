/*
 * sqlite.c — the store (store.h) on SQLite, the embedded default.
 *
 * WAL journal with synchronous=FULL: a committed batch survives a killed
 * process and a power cut, and readers do not block the writer. Every
 * statement is prepared once at open and bound, never built from text.
 * Writers take the lock at st_begin (BEGIN IMMEDIATE), so a second writer
 * fails there, before it has done any work, instead of deadlocking later.
 *
 * The PostgreSQL backend implements the same store.h functions (pg_int.h):
 * each function here hands a PostgreSQL store to its pg_ twin first, so
 * callers only ever see store.h.
 *
 * Record contents (raw and norm, in record and record_history) are sealed
 * by crypt.c, bound to (id, version, column); blocking-index slots hold a
 * keyed hash. The file is created 0600 before SQLite opens it, and SQLite
 * gives its -wal and -shm the database file's mode.
 *
 * Invariant: every write after open commits through st_commit or moves
 * the data generation itself, and st_commit moves it on when the
 * transaction changed a row outside the audit log (store.h, st_data_gen):
 * a reader that held a snapshot tells with one small read whether it
 * still shows the data as they are. Test builds check it with a commit
 * hook on every handle the service opens (st_check_commits; the store's
 * own unit tests also write outside transactions).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/index.h"

enum { SCHEMA_VERSION = 8, BUSY_TIMEOUT_MS = 2000 };

static const char SCHEMA[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE source(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    /* The current version of each record; earlier versions move to
     * record_history, so no row a source sent is ever overwritten (only
     * erased, whole, when its source's retention period has passed).
     * received: unix time the version last arrived, for retention.
     * raw and norm are sealed (crypt.c), bound to (id, version). */
    "CREATE TABLE record(id INTEGER PRIMARY KEY,"
    "  source INTEGER NOT NULL REFERENCES source(id),"
    "  record_id TEXT NOT NULL, raw BLOB NOT NULL, norm BLOB NOT NULL,"
    "  version INTEGER NOT NULL, withdrawn INTEGER NOT NULL DEFAULT 0,"
    "  received INTEGER NOT NULL, UNIQUE(source, record_id));"
    "CREATE TABLE record_history(record INTEGER NOT NULL REFERENCES record(id),"
    "  version INTEGER NOT NULL, raw BLOB NOT NULL, norm BLOB NOT NULL,"
    "  source INTEGER NOT NULL, received INTEGER NOT NULL, PRIMARY KEY(record, version));"
    RETENTION_INDEXES
    "CREATE TABLE model(version INTEGER PRIMARY KEY, created TEXT NOT NULL, json TEXT NOT NULL);"
    /* The blocking index: one integer per (rule, key, record), the key's
     * keyed hash above the record id (see key_hash), so a block is one range of
     * the rowid B-tree. New slots go to block_new, small enough to stay
     * in cache, and are merged into block_key in one sorted pass now and
     * then (see merge_new). record_keys lists a record's slots. */
    "CREATE TABLE block_key(slot INTEGER PRIMARY KEY);"
    "CREATE TABLE block_new(slot INTEGER PRIMARY KEY);"
    "CREATE TABLE record_keys(record INTEGER PRIMARY KEY REFERENCES record(id),"
    "  slots BLOB NOT NULL);"
    "CREATE TABLE link(a INTEGER NOT NULL REFERENCES record(id),"
    "  b INTEGER NOT NULL REFERENCES record(id), rule INTEGER NOT NULL,"
    "  weight REAL NOT NULL, p REAL NOT NULL, PRIMARY KEY(a, b)) WITHOUT ROWID;"
    "CREATE INDEX link_b ON link(b);"
    "CREATE TABLE membership(record INTEGER PRIMARY KEY REFERENCES record(id),"
    "  entity TEXT NOT NULL);"
    "CREATE INDEX membership_entity ON membership(entity);"
    "CREATE TABLE entity_event(seq INTEGER PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL,"
    "  entity TEXT NOT NULL, other TEXT NOT NULL, cause TEXT NOT NULL);"
    DECISION_SCHEMA
    GOVERN_SCHEMA
    FINDINGS_SCHEMA;

enum stmt_id {
    S_META_GET, S_META_SET, S_SOURCE_GET, S_SOURCE_ADD, S_REC_GET, S_REC_ADD, S_REC_KEEP,
    S_REC_UPDATE, S_REC_RECEIVED, S_REC_WITHDRAW, S_REC_EACH, S_REC_EACH_SRC, S_REC_COUNT, S_REC_COUNT_SRC,
    S_REC_BY_ID, S_REC_NORM, S_REC_ID, S_REC_NEXT_ID, S_MODEL_PUT, S_MODEL_LATEST, S_MODEL_VERSION, S_KEY_ADD, S_KEY_DEL, S_KEY_DEL_NEW, S_KEY_RANGE, S_KEY_NEW_COUNT, S_KEY_MERGE, S_KEY_NEW_CLEAR, S_REC_MAX, S_RKEYS_GET, S_RKEYS_PUT, S_RKEYS_DEL,
    S_LINK_PUT, S_LINKS_DROP, S_LINKS_OF, S_ENTITY_OF, S_ENTITY_SET, S_ENTITY_CLEAR,
    S_EVENT_ADD, S_MEMBERS_EACH, S_ENTITY_MEMBERS, S_ACTIVE_IDS, S_LINKS_OF_SRC, S_REC_SOURCE,
    S_SOURCE_MAX, S_KEY_COUNT, S_LINKS_EACH, S_REC_NORM_EACH, S_LINKS_CLEAR, S_KEY_PUT, S_KEY_PUT_MANY, S_RKEYS_EACH, S_GEN_BUMP, S_DEC_PUT, S_DEC_OF, S_DEC_DROP, S_DEC_EACH, S_LINKS_BAND, S_DEC_KEYS, S_LINK_SOURCES, S_ENTITY_SIZES,
    S_BEGIN_READ, S_BEGIN_WRITE, S_COMMIT, S_ROLLBACK, N_STMTS
};
_Static_assert((int)N_STMTS <= (int)SQ_MAX_STMTS, "raise SQ_MAX_STMTS");

/* KEY_PUT_MANY's rows a statement (sq_idx_slots_put). */
enum { KEY_PUT_ROWS = 64 };
#define SLOTS_8 "(?),(?),(?),(?),(?),(?),(?),(?)"
#define SLOTS_32 SLOTS_8 "," SLOTS_8 "," SLOTS_8 "," SLOTS_8

static const char *const STMT_SQL[N_STMTS] = {
    [S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [S_META_SET] = "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [S_GEN_BUMP] = "INSERT INTO meta(key, value) VALUES('data_gen', '1') ON CONFLICT(key) "
                   "DO UPDATE SET value = CAST(value AS INTEGER) + 1",
    [S_SOURCE_GET] = "SELECT id FROM source WHERE name = ?1",
    [S_SOURCE_ADD] = "INSERT INTO source(name) VALUES(?1)",
    [S_SOURCE_MAX] = "SELECT coalesce(max(id), 0) FROM source",
    [S_REC_GET] = "SELECT id, raw, withdrawn, received, version FROM record "
                  "WHERE source = ?1 AND record_id = ?2",
    /* ids are never reused, even after retention erased the highest ones:
     * an id once shown (or enciphered into a view's entity id) names one
     * record for good */
    [S_REC_NEXT_ID] = "SELECT max(coalesce((SELECT max(id) FROM record), 0), ?1) + 1",
    [S_REC_ADD] = "INSERT INTO record(id, source, record_id, raw, norm, version, received) "
                  "VALUES(?6, ?1, ?2, ?3, ?4, 1, ?5)",
    [S_REC_KEEP] = "INSERT INTO record_history(record, version, raw, norm, source, received) "
                   "SELECT id, version, raw, norm, source, received FROM record WHERE id = ?1",
    [S_REC_UPDATE] = "UPDATE record SET raw = ?2, norm = ?3, version = version + 1, "
                     "withdrawn = 0, received = ?4 WHERE id = ?1",
    [S_REC_RECEIVED] = "UPDATE record SET received = ?2 WHERE id = ?1",
    [S_REC_WITHDRAW] = "UPDATE record SET withdrawn = 1 "
                       "WHERE source = ?1 AND record_id = ?2 AND withdrawn = 0",
    [S_REC_EACH] = "SELECT s.name, r.record_id, r.raw, r.norm, r.version, r.withdrawn, r.id "
                   "FROM record r JOIN source s ON s.id = r.source "
                   "WHERE ?2 OR r.withdrawn = 0 ORDER BY s.name, r.record_id",
    [S_REC_EACH_SRC] = "SELECT s.name, r.record_id, r.raw, r.norm, r.version, r.withdrawn, r.id "
                       "FROM record r JOIN source s ON s.id = r.source "
                       "WHERE s.name = ?1 AND (?2 OR r.withdrawn = 0) ORDER BY r.record_id",
    [S_REC_COUNT] = "SELECT count(*) FROM record WHERE withdrawn = 0",
    [S_REC_COUNT_SRC] = "SELECT count(*) FROM record r JOIN source s ON s.id = r.source "
                        "WHERE s.name = ?1 AND r.withdrawn = 0",
    [S_REC_BY_ID] = "SELECT s.name, r.record_id, r.raw, r.norm, r.version, r.withdrawn, r.source "
                    "FROM record r JOIN source s ON s.id = r.source WHERE r.id = ?1",
    [S_REC_NORM] = "SELECT s.name, r.record_id, NULL, r.norm, r.version, r.withdrawn, r.source, "
                   "coalesce(m.entity, '') FROM record r JOIN source s ON s.id = r.source "
                   "LEFT JOIN membership m ON m.record = r.id WHERE r.id = ?1",
    [S_REC_NORM_EACH] = "SELECT s.name, r.record_id, NULL, r.norm, r.version, r.withdrawn, r.id, "
                        "coalesce(m.entity, '') FROM record r JOIN source s ON s.id = r.source "
                        "LEFT JOIN membership m ON m.record = r.id WHERE r.withdrawn = 0 "
                        "ORDER BY r.id",
    [S_REC_ID] = "SELECT id FROM record WHERE source = ?1 AND record_id = ?2",
    [S_MODEL_PUT] = "INSERT INTO model(created, json) VALUES(strftime('%Y-%m-%dT%H:%M:%SZ'), ?1)",
    [S_MODEL_LATEST] = "SELECT version, json FROM model ORDER BY version DESC LIMIT 1",
    [S_MODEL_VERSION] = "SELECT coalesce(max(version), 0) FROM model",
    /* prepared, not run as text: a request begins and ends a read or two
     * and the committer a write, and parsing each was 5 parser allocations
     * a request (sqlite3ParserAlloc) */
    [S_BEGIN_READ] = "BEGIN", /* deferred: takes no write lock */
    [S_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_KEY_ADD] = "INSERT OR IGNORE INTO block_new(slot) VALUES(?1)",
    [S_KEY_DEL] = "DELETE FROM block_key WHERE slot = ?1",
    [S_KEY_PUT] = "INSERT OR IGNORE INTO block_key(slot) VALUES(?1)",
    [S_KEY_PUT_MANY] = "INSERT OR IGNORE INTO block_key(slot) VALUES" SLOTS_32 "," SLOTS_32,
    [S_KEY_DEL_NEW] = "DELETE FROM block_new WHERE slot = ?1",
    [S_KEY_RANGE] = "SELECT slot FROM block_key WHERE slot BETWEEN ?1 AND ?2 "
                    "UNION ALL SELECT slot FROM block_new WHERE slot BETWEEN ?1 AND ?2",
    [S_KEY_NEW_COUNT] = "SELECT count(*) FROM block_new",
    [S_KEY_COUNT] = "SELECT (SELECT count(*) FROM block_key WHERE slot BETWEEN ?1 AND ?2) + "
                    "(SELECT count(*) FROM block_new WHERE slot BETWEEN ?1 AND ?2)",
    [S_KEY_MERGE] = "INSERT OR IGNORE INTO block_key(slot) SELECT slot FROM block_new ORDER BY slot",
    [S_KEY_NEW_CLEAR] = "DELETE FROM block_new",
    [S_REC_MAX] = "SELECT coalesce(max(id), 0) FROM record",
    [S_RKEYS_GET] = "SELECT slots FROM record_keys WHERE record = ?1",
    [S_RKEYS_EACH] = "SELECT record, slots FROM record_keys ORDER BY record",
    [S_RKEYS_PUT] = "INSERT OR REPLACE INTO record_keys(record, slots) VALUES(?1, ?2)",
    [S_RKEYS_DEL] = "DELETE FROM record_keys WHERE record = ?1",
    [S_LINK_PUT] = "INSERT OR REPLACE INTO link(a, b, rule, weight, p) VALUES(?1, ?2, ?3, ?4, ?5)",
    [S_LINKS_DROP] = "DELETE FROM link WHERE a = ?1 OR b = ?1",
    [S_LINKS_CLEAR] = "DELETE FROM link",
    [S_DEC_PUT] = "INSERT OR REPLACE INTO decision(a, b, same, by, time, note) "
                  "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_DEC_OF] = "SELECT b, same FROM decision WHERE a = ?1 "
                 "UNION ALL SELECT a, same FROM decision WHERE b = ?1",
    [S_DEC_DROP] = "DELETE FROM decision WHERE a = ?1 OR b = ?1",
    [S_DEC_EACH] = "SELECT a, b, same FROM decision ORDER BY a, b",
    [S_LINK_SOURCES] = "SELECT l.p, ra.source, rb.source FROM link l JOIN record ra ON ra.id = l.a "
                       "JOIN record rb ON rb.id = l.b WHERE ra.withdrawn = 0 AND rb.withdrawn = 0",
    [S_ENTITY_SIZES] = "SELECT count(*) FROM membership m JOIN record r ON r.id = m.record "
                       "WHERE r.withdrawn = 0 GROUP BY m.entity",
    [S_DEC_KEYS] = "SELECT sa.name || ':' || ra.record_id, sb.name || ':' || rb.record_id, d.same "
                   "FROM decision d JOIN record ra ON ra.id = d.a JOIN source sa ON sa.id = ra.source "
                   "JOIN record rb ON rb.id = d.b JOIN source sb ON sb.id = rb.source "
                   "WHERE ra.withdrawn = 0 AND rb.withdrawn = 0 ORDER BY d.a, d.b",
    [S_LINKS_BAND] = "SELECT l.a, l.b, l.p, sa.name, ra.record_id, sb.name, rb.record_id, "
                     "coalesce(ma.entity, ''), coalesce(mb.entity, '') "
                     "FROM link l JOIN record ra ON ra.id = l.a JOIN source sa ON sa.id = ra.source "
                     "JOIN record rb ON rb.id = l.b JOIN source sb ON sb.id = rb.source "
                     "LEFT JOIN membership ma ON ma.record = l.a "
                     "LEFT JOIN membership mb ON mb.record = l.b "
                     "WHERE l.p >= ?1 AND l.p < ?2 AND ra.withdrawn = 0 AND rb.withdrawn = 0 "
                     "AND NOT EXISTS (SELECT 1 FROM decision d WHERE d.a = l.a AND d.b = l.b) "
                     "ORDER BY CASE WHEN ?3 THEN abs(l.p - 0.5) ELSE 0 END, l.a, l.b",
    [S_LINKS_OF] = "SELECT b, p FROM link WHERE a = ?1 AND p >= ?2 "
                   "UNION ALL SELECT a, p FROM link WHERE b = ?1 AND p >= ?2",
    [S_LINKS_OF_SRC] = "SELECT l.b, l.p, r.source FROM link l JOIN record r ON r.id = l.b "
                       "WHERE l.a = ?1 AND l.p >= ?2 UNION ALL SELECT l.a, l.p, r.source "
                       "FROM link l JOIN record r ON r.id = l.a WHERE l.b = ?1 AND l.p >= ?2",
    [S_LINKS_EACH] = "SELECT a, b, p FROM link WHERE p >= ?1 ORDER BY a, b",
    [S_REC_SOURCE] = "SELECT source, withdrawn FROM record WHERE id = ?1",
    [S_ENTITY_OF] = "SELECT entity FROM membership WHERE record = ?1",
    [S_ENTITY_SET] = "INSERT OR REPLACE INTO membership(record, entity) VALUES(?1, ?2)",
    [S_ENTITY_CLEAR] = "DELETE FROM membership WHERE record = ?1",
    [S_EVENT_ADD] = "INSERT INTO entity_event(time, kind, entity, other, cause) "
                    "VALUES(strftime('%Y-%m-%dT%H:%M:%SZ'), ?1, ?2, ?3, ?4)",
    [S_ACTIVE_IDS] = "SELECT id FROM record WHERE withdrawn = 0 AND id >= ?1 ORDER BY id LIMIT ?2",
    [S_ENTITY_MEMBERS] = "SELECT record FROM membership WHERE entity = ?1",
    /* withdrawn records too: one with an entity is damage (see st_members_each) */
    [S_MEMBERS_EACH] = "SELECT s.name, r.record_id, m.entity, r.id, r.withdrawn FROM record r "
                       "JOIN source s ON s.id = r.source JOIN membership m ON m.record = r.id "
                       "ORDER BY s.name, r.record_id",
};


/* The store file is damaged: an error naming what we were doing and why,
 * never "no rows" (a damaged page read as the end of a table would serve a
 * short result as a whole one). */
int sq_damaged(const st_store *s, const char *what, const char *why, dt_error *err)
{
    return dt_err_at(err, DT_EIO, s->path, 0, 0, "%s: the store file is damaged (%s); restore "
                     "it from a backup", what, why);
}

/* An error from SQLite, named by the store's path and what we were doing. */
int sq_fail(const st_store *s, int rc, const char *what, dt_error *err)
{
    const char *why = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return dt_err_at(err, DT_EBUSY, s->path, 0, 0,
                         "%s: the store is locked by another process (%s); try again when it "
                         "has finished", what, why);
    case SQLITE_FULL:
        return dt_err_at(err, DT_EIO, s->path, 0, 0, "%s: the disk is full (%s); nothing of "
                         "this batch was stored", what, why);
    case SQLITE_NOMEM: return dt_err_set(err, DT_ENOMEM, "out of memory in the store");
    case SQLITE_NOTADB: /* no SQLite header: another kind of file, or a damaged first page */
        return dt_err_at(err, DT_EIO, s->path, 0, 0, "%s: not a dovetail store, or its first "
                         "page is damaged (%s)", what, why);
    case SQLITE_CORRUPT: return sq_damaged(s, what, why, err);
    default: return dt_err_at(err, DT_EIO, s->path, 0, 0, "%s: %s", what, why);
    }
}

int sq_exec(st_store *s, const char *sql, const char *what, dt_error *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? DT_OK : sq_fail(s, rc, what, err);
}

/* The prepared statement, reset and with its bindings cleared. */
static sqlite3_stmt *stmt(st_store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->stmt[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* Runs a transaction's prepared BEGIN, COMMIT or ROLLBACK; SQLite's code. */
static int run_txn(st_store *s, enum stmt_id id)
{
    int rc = sqlite3_step(stmt(s, id));
    sqlite3_reset(s->stmt[id]);
    return rc;
}

int sq_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* Runs a statement that returns no row. */
int sq_step_done(st_store *s, sqlite3_stmt *st, const char *what, dt_error *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, what, err);
}

/* The schema version, read without the prepared statements (an older
 * schema may not prepare them). */
static int schema_version(st_store *s, int *version, dt_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return dt_err_at(err, DT_EIO, s->path, 0, 0, "not a dovetail store (%s)",
                         sqlite3_errmsg(s->db));
    rc = sqlite3_step(st);
    *version = rc == SQLITE_ROW ? atoi((const char *)sqlite3_column_text(st, 0)) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "opening the store", err);
}

/* Refuses a store of another schema version before any statement is
 * prepared against it. Versions 1 to 5 kept records in clear, and their
 * blocking index holds unkeyed hashes that only the records' own
 * standardization could key again: no in-place upgrade, so what is there
 * in clear is never left behind in free pages either. */
static int check_version(st_store *s, int version, dt_error *err)
{
    if (version == SCHEMA_VERSION) return DT_OK;
    if (version >= 1 && version < 6)
        return dt_err_at(err, DT_EIO, s->path, 0, 0, "store schema version %d keeps records "
                         "unencrypted; this dovetail reads version %d (encrypted at rest): create "
                         "the store again (dovetail init --key FILE), ingest its sources, and "
                         "delete this file", version, SCHEMA_VERSION);
    return dt_err_at(err, DT_EIO, s->path, 0, 0, "store schema version %d, this dovetail "
                     "reads version %d: create the store again (dovetail init) and ingest "
                     "its sources", version, SCHEMA_VERSION);
}

/* Schemas 6 and 7 lack only tables added since (the findings' tables in
 * 7, the log's sealed end and reviewers' decisions in 8): they are added in place, in one
 * transaction. */
static int upgrade(st_store *s, int *version, dt_error *err)
{
    const char *what = "adding the newer tables to the store";
    DT_TRY(sq_exec(s, "BEGIN IMMEDIATE", what, err));
    int rc = *version == 6 ? sq_exec(s, FINDINGS_SCHEMA, what, err) : DT_OK;
    if (rc == DT_OK)
        rc = sq_exec(s, LOG_END_SCHEMA DECISION_SCHEMA
                     "UPDATE meta SET value = '8' WHERE key = 'schema_version';"
                     "COMMIT", what, err);
    if (rc < 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    *version = 8;
    return DT_OK;
}

/* The tables, committed, or (keep_open) in a write transaction left
 * open for st_commit to end, as st_begin would have started it. */
static int create_schema(st_store *s, int keep_open, dt_error *err)
{
    DT_TRY(sq_exec(s, "BEGIN IMMEDIATE", "creating the store", err));
    int rc = sq_exec(s, SCHEMA, "creating the store", err);
    if (rc == DT_OK && !keep_open) rc = sq_exec(s, "COMMIT", "creating the store", err);
    if (rc < 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    s->in_txn = keep_open; /* its changes count from 0: the commit moves the data generation */
    return DT_OK;
}

static int prepare_all(st_store *s, dt_error *err)
{
    for (int i = 0; i < N_STMTS; i++) {
        int rc = sqlite3_prepare_v3(s->db, STMT_SQL[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->stmt[i], NULL);
        if (rc != SQLITE_OK) return sq_fail(s, rc, "opening the store", err);
    }
    DT_TRY(sq_prepare_govern(s, err));
    return sq_prepare_findings(s, err);
}

/* Opens the database file (a name or a file: URI) and sets it up. */
static int open_file(st_store *s, const char *name, int flags, dt_error *err)
{
    sqlite3_close(s->db);
    int rc = sqlite3_open_v2(name, &s->db, flags, NULL);
    if (rc != SQLITE_OK) return sq_fail(s, rc, "opening the store", err);
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (flags & SQLITE_OPEN_READONLY) /* a read shows whether the file can be read */
        return sq_exec(s, "SELECT count(*) FROM meta", "opening the store", err);
    /* journal_mode reads the file: a non-database fails here, not later. */
    DT_TRY(sq_exec(s, "PRAGMA journal_mode=WAL", "opening the store", err));
    /* A 256 MiB page cache: resolution reads records, keys and links at random. */
    return sq_exec(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                   "PRAGMA cache_size=-262144", "opening the store", err);
}

/* The store's path as a file: URI with these query parameters. */
static char *path_uri(const char *path, const char *query)
{
    util_buf b = {0};
    util_buf_printf(&b, "file:");
    for (const char *p = path; *p; p++)
        if (*p == '%' || *p == '?' || *p == '#') util_buf_printf(&b, "%%%02x", (unsigned char)*p);
        else util_buf_printf(&b, "%c", *p);
    util_buf_printf(&b, "?%s", query);
    char *uri = b.data ? dt_strdup(b.data) : NULL;
    util_buf_fini(&b);
    return uri;
}

/* When the store cannot be opened for writing (a read-only file, a full
 * disk where even SQLite's WAL index cannot be made), it is opened to be
 * read, so an auditor can still verify it; every write then fails. With
 * no WAL index to be had, the file is read as immutable: what the last
 * checkpoint left, as no one can write to it meanwhile. The first error
 * stands when neither works. */
static int open_readonly(st_store *s, int first_rc, dt_error *err)
{
    static const char *const QUERIES[] = {"mode=ro", "mode=ro&immutable=1"};
    int rc = DT_EIO;
    for (size_t i = 0; rc < 0 && i < sizeof QUERIES / sizeof *QUERIES; i++) {
        char *uri = path_uri(s->path, QUERIES[i]);
        dt_error why;
        dt_error_clear(&why);
        rc = uri ? open_file(s, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, &why) : DT_ENOMEM;
        dt_free(uri);
    }
    if (rc < 0) return first_rc;
    if (err) dt_error_clear(err);
    return DT_OK;
}

int st_is_readonly(const st_store *s)
{
    if (s->pg) return 0;
    return sqlite3_db_readonly(s->db, "main") == 1;
}

/* Makes the empty database file, 0600 whatever the umask, where no file
 * (or planted symlink) is: SQLite then opens it as an empty database and
 * makes its -wal and -shm with its mode. */
static int create_file(st_store *s, dt_error *err)
{
    int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return dt_err_at(err, DT_EIO, s->path, 0, 0, "a file is already there: remove it or "
                         "choose another path");
    if (fd < 0)
        return dt_err_at(err, DT_EIO, s->path, 0, 0, "cannot create the store: %s",
                         strerror(errno));
    s->is_created = 1;
    int ok = fchmod(fd, 0600) == 0;
    close(fd);
    return ok ? DT_OK : dt_err_at(err, DT_EIO, s->path, 0, 0, "cannot set the store's mode: %s",
                                  strerror(errno));
}

static int open_db(st_store *s, const char *key_path, st_mode mode, dt_error *err)
{
    if (mode == ST_OPEN && access(s->path, F_OK) != 0)
        return dt_err_at(err, DT_EIO, s->path, 0, 0, "no store there (%s); create one with "
                         "'dovetail init'", strerror(errno));
    if (mode != ST_OPEN) DT_TRY(create_file(s, err));
    if (!s->has_key) DT_TRY(sq_key_load(s, key_path, mode == ST_CREATE, err));
    int rc = open_file(s, s->path, SQLITE_OPEN_READWRITE, err);
    if (rc == DT_EIO && mode == ST_OPEN) rc = open_readonly(s, rc, err);
    DT_TRY(rc);
    if (mode != ST_OPEN) {
        DT_TRY(create_schema(s, mode == ST_CREATE_TXN, err));
        DT_TRY(prepare_all(s, err));
        char version[16];
        snprintf(version, sizeof version, "%d", SCHEMA_VERSION);
        DT_TRY(st_meta_set(s, "schema_version", version, err));
        return sq_key_check(s, key_path, err);
    }
    int version;
    DT_TRY(schema_version(s, &version, err));
    if (version == 6 || version == 7) DT_TRY(upgrade(s, &version, err));
    DT_TRY(check_version(s, version, err));
    DT_TRY(prepare_all(s, err));
    return sq_key_check(s, key_path, err);
}

void sq_remove_files(const char *path)
{
    unlink(path);
    char *side = dt_asprintf("%s-wal", path);
    if (side) unlink(side);
    dt_free(side);
    side = dt_asprintf("%s-shm", path);
    if (side) unlink(side);
    dt_free(side);
}

#ifndef NDEBUG
/* Test builds: the invariant, every write commits through st_commit. */
static int commit_hook(void *ctx)
{
    st_store *s = ctx;
    assert(s->is_committing || s->is_gen_moved);
    s->is_gen_moved = 0;
    return 0;
}
#endif

void st_check_commits(st_store *s)
{
    if (s->pg) return;
#ifndef NDEBUG
    sqlite3_commit_hook(s->db, commit_hook, s);
#else
    (void)s;
#endif
}

int st_is_url(const char *path)
{
    return !strncmp(path, "postgresql://", 13) || !strncmp(path, "postgres://", 11);
}

char *st_path_shown(const char *path)
{
    /* any URL: one of another scheme, refused, is still named in messages and the log */
    return strstr(path, "://") ? pg_redacted(path) : dt_strdup(path);
}

/* st_open, or sq_create_txn when like is not NULL. */
static int open_store(const char *path, const char *key_path, const st_store *like,
                      st_mode mode, st_store **out, dt_error *err)
{
    *out = NULL;
    st_store *s = dt_calloc(1, sizeof *s);
    if (!s || !(s->path = dt_strdup(path))) {
        dt_free(s);
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    s->n_new = -1;
    s->source_bits = -1;
    if (like) sq_key_like(s, like);
    int rc = open_db(s, key_path, mode, err);
    if (rc < 0) {
        int created = s->is_created;
        st_close(s);
        if (created) sq_remove_files(path);
        return rc;
    }
    *out = s;
    return DT_OK;
}

int st_open(const char *path, const char *key_path, st_mode mode, st_store **out,
            dt_error *err)
{
    if (st_is_url(path)) return pg_open(path, key_path, mode, out, err);
    return open_store(path, key_path, NULL, mode, out, err);
}

int sq_create_txn(const char *path, const st_store *like, st_store **out, dt_error *err)
{
    return open_store(path, NULL, like, ST_CREATE_TXN, out, err);
}

void st_close(st_store *s)
{
    if (s && s->pg) {
        pg_close(s);
        return;
    }
    if (!s) return;
    if (s->in_txn) st_rollback(s);
    for (int i = 0; i < N_STMTS; i++) sqlite3_finalize(s->stmt[i]);
    sq_finalize_govern(s);
    sq_finalize_findings(s);
    sqlite3_close(s->db);
    sq_key_forget(s);
    dt_free(s->path);
    dt_free(s);
}

const char *st_path(const st_store *s)
{
    return s->path;
}

/* A URL's scheme has two spellings: one store either way. */
static const char *past_scheme(const char *url)
{
    return url + (strncmp(url, "postgres://", 11) ? 13 : 11);
}

int st_same_store(const st_store *a, const st_store *b)
{
    if (!a->pg != !b->pg) return 0;
    if (a->pg) return !strcmp(past_scheme(a->path), past_scheme(b->path));
    struct stat sa, sb;
    return stat(a->path, &sa) == 0 && stat(b->path, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

void st_set_write_gate(st_store *s, pthread_mutex_t *gate)
{
    assert(!s->is_gated);
    s->gate = gate;
}

int st_is_writing(const st_store *s)
{
    return s->in_txn;
}

static void ungate(st_store *s)
{
    if (s->is_gated) pthread_mutex_unlock(s->gate);
    s->is_gated = 0;
}

static int begin_write(st_store *s, int may_wait, dt_error *err)
{
    st_snapshot_release(s); /* a write cannot start inside a read */
    if (s->gate && !s->is_gated) {
        if (may_wait) pthread_mutex_lock(s->gate);
        else if (pthread_mutex_trylock(s->gate) != 0)
            return dt_err_set(err, DT_EBUSY, "the store is being written");
        s->is_gated = 1;
    }
    if (!may_wait) sqlite3_busy_timeout(s->db, 0);
    int brc = sq_step_done(s, stmt(s, S_BEGIN_WRITE), "starting a batch", err);
    if (!may_wait) sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (brc < 0) {
        ungate(s);
        return brc;
    }
    s->in_txn = 1;
    s->changes_at_begin = sqlite3_total_changes64(s->db);
    s->log_changes = 0;
    /* under the write lock: what any process erased last (see S_REC_ADD) */
    char *v = NULL;
    int rc = st_meta_get(s, "record_id_erased", &v, err);
    s->erased_max = v ? strtoll(v, NULL, 10) : 0;
    dt_free(v);
    if (rc < 0) st_rollback(s);
    return rc;
}

int st_begin(st_store *s, dt_error *err)
{
    if (s->pg) return pg_begin(s, err);
    return begin_write(s, 1, err);
}

/* Foreign keys are checked again once a bulk transaction ends. */
static void bulk_end(st_store *s)
{
    if (!s->is_bulk) return;
    s->is_bulk = 0;
    sqlite3_exec(s->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL); /* cannot fail outside a txn */
}

int st_begin_bulk(st_store *s, dt_error *err)
{
    if (s->pg) return pg_begin(s, err); /* its foreign keys are cheap: indexed */
    st_snapshot_release(s); /* the pragma is a no-op inside a transaction */
    DT_TRY(sq_exec(s, "PRAGMA foreign_keys=OFF", "starting a bulk write", err));
    s->is_bulk = 1;
    int rc = begin_write(s, 1, err);
    if (rc < 0) bulk_end(s);
    return rc;
}

#ifndef NDEBUG
/* Test builds: a bulk transaction left every reference whole. */
static int foreign_keys_hold(st_store *s)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
}
#endif

int st_begin_now(st_store *s, dt_error *err)
{
    if (s->pg) return pg_begin_now(s, err);
    return begin_write(s, 0, err);
}

void st_log_changed(st_store *s)
{
    s->log_changes += s->pg ? s->pg_last_changes : sqlite3_changes64(s->db);
}

int st_commit(st_store *s, dt_error *err)
{
    if (s->pg) return pg_commit(s, err);
    /* the invariant: a commit that changed more than the audit log says so */
    int64_t changed = sqlite3_total_changes64(s->db) - s->changes_at_begin - s->log_changes;
    assert(!s->is_bulk || foreign_keys_hold(s));
    int rc = changed > 0 ? sq_step_done(s, stmt(s, S_GEN_BUMP), "committing a batch", err) : DT_OK;
    s->is_committing = 1;
    if (rc == DT_OK) rc = sq_step_done(s, stmt(s, S_COMMIT), "committing a batch", err);
    s->is_committing = 0;
    if (rc < 0) {
        st_rollback(s);
        return rc;
    }
    s->in_txn = 0;
    bulk_end(s);
    ungate(s);
    return DT_OK;
}

void st_rollback(st_store *s)
{
    if (s->pg) {
        pg_rollback(s);
        return;
    }
    if (s->stmt[S_ROLLBACK]) run_txn(s, S_ROLLBACK); /* fails only when none is open */
    else sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* a store not yet prepared */
    s->in_txn = 0;
    s->is_gen_moved = 0;
    bulk_end(s);
    ungate(s);
}

int st_snapshot_begin(st_store *s, int *started, dt_error *err)
{
    if (s->pg) return pg_snapshot_begin(s, started, err);
    *started = 0;
    if (s->is_held) return DT_OK; /* the held one goes on: the caller checked it (store.h) */
    if (s->in_txn || !sqlite3_get_autocommit(s->db)) return DT_OK;
    DT_TRY(sq_step_done(s, stmt(s, S_BEGIN_READ), "starting a read", err));
    *started = 1;
    return DT_OK;
}

void st_snapshot_hold(st_store *s, int started)
{
    if (s->pg) {
        pg_snapshot_end(s, started); /* no page cache to keep */
        return;
    }
    if (!started) return;
    if (sqlite3_txn_state(s->db, NULL) == SQLITE_TXN_READ) s->is_held = 1;
    else st_snapshot_end(s, started); /* a read that wrote (st_source_id) holds no lock long */
}

int st_can_hold(const st_store *s)
{
    return !s->pg;
}

int st_snapshot_is_held(const st_store *s)
{
    return s->is_held;
}

void st_snapshot_release(st_store *s)
{
    if (s->pg) return;
    if (!s->is_held) return;
    s->is_held = 0;
    st_snapshot_end(s, 1);
}

int st_data_gen(st_store *s, int64_t *gen, dt_error *err)
{
    if (s->pg) return pg_data_gen(s, gen, err);
    char *v = NULL;
    DT_TRY(st_meta_get(s, "data_gen", &v, err));
    *gen = v ? strtoll(v, NULL, 10) : 0;
    dt_free(v);
    return DT_OK;
}

void st_snapshot_end(st_store *s, int started)
{
    if (s->pg) {
        pg_snapshot_end(s, started);
        return;
    }
    /* A read changed nothing, so ending it cannot lose data; if COMMIT
     * fails, ROLLBACK still ends it, or every later st_begin would fail. */
    if (started && run_txn(s, S_COMMIT) != SQLITE_DONE) run_txn(s, S_ROLLBACK);
    if (started) s->is_gen_moved = 0;
}

int st_meta_set(st_store *s, const char *key, const char *value, dt_error *err)
{
    if (s->pg) return pg_meta_set(s, key, value, err);
    sqlite3_stmt *st = stmt(s, S_META_SET);
    sq_bind_text(st, 1, key);
    sq_bind_text(st, 2, value);
    return sq_step_done(s, st, "writing a setting", err);
}

int st_meta_get(st_store *s, const char *key, char **value, dt_error *err)
{
    if (s->pg) return pg_meta_get(s, key, value, err);
    *value = NULL;
    sqlite3_stmt *st = stmt(s, S_META_GET);
    sq_bind_text(st, 1, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *value = dt_strdup((const char *)sqlite3_column_text(st, 0));
        rc = *value ? SQLITE_DONE : SQLITE_NOMEM;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading a setting", err);
}

int st_source_id(st_store *s, const char *name, int64_t *id, dt_error *err)
{
    if (s->pg) return pg_source_id(s, name, id, err);
    sqlite3_stmt *st = stmt(s, S_SOURCE_GET);
    sq_bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return DT_OK;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return sq_fail(s, rc, "reading sources", err);
    /* a new source is new data (the invariant): in a transaction of its
     * own when none is open; inside a read, which this write turns into a
     * write, the generation moves here */
    int is_alone = sqlite3_get_autocommit(s->db);
    if (is_alone) DT_TRY(st_begin(s, err));
    st = stmt(s, S_SOURCE_ADD);
    sq_bind_text(st, 1, name);
    rc = sq_step_done(s, st, "adding a source", err);
    *id = sqlite3_last_insert_rowid(s->db);
    if (rc == DT_OK && !s->in_txn) {
        rc = sq_step_done(s, stmt(s, S_GEN_BUMP), "adding a source", err);
        s->is_gen_moved = rc == DT_OK;
    }
    if (is_alone) rc = rc == DT_OK ? st_commit(s, err) : (st_rollback(s), rc);
    return rc;
}

/* Binds a record's raw and norm, sealed for (id, version), as ?i_raw and
 * ?i_raw + 1; the blobs stay in s->scratch until the next seal. */
static int bind_sealed(st_store *s, sqlite3_stmt *st, int i_raw, int64_t id, int64_t version,
                       const char *raw, const char *norm, dt_error *err)
{
    DT_TRY(sq_seal_column(s, id, version, 'r', raw, &s->scratch[0], err));
    DT_TRY(sq_seal_column(s, id, version, 'n', norm, &s->scratch[1], err));
    sqlite3_bind_blob(st, i_raw, s->scratch[0].data, (int)s->scratch[0].len, SQLITE_STATIC);
    sqlite3_bind_blob(st, i_raw + 1, s->scratch[1].data, (int)s->scratch[1].len, SQLITE_STATIC);
    return DT_OK;
}

/* A new record: its id first, since its contents are sealed bound to it. */
static int record_add(st_store *s, int64_t source, const char *record_id, const char *raw,
                      const char *norm, int64_t received, int64_t *out_id, dt_error *err)
{
    sqlite3_stmt *st = stmt(s, S_REC_NEXT_ID);
    sqlite3_bind_int64(st, 1, s->erased_max);
    int64_t id = 0;
    DT_TRY(sq_one_int(s, st, &id, "storing a record", err));
    st = stmt(s, S_REC_ADD);
    sqlite3_bind_int64(st, 1, source);
    sq_bind_text(st, 2, record_id);
    DT_TRY(bind_sealed(s, st, 3, id, 1, raw, norm, err));
    sqlite3_bind_int64(st, 5, received);
    sqlite3_bind_int64(st, 6, id);
    DT_TRY(sq_step_done(s, st, "storing a record", err));
    *out_id = id;
    return DT_OK;
}

int st_record_put(st_store *s, int64_t source, const char *record_id, const char *raw,
                  const char *norm, int64_t received, st_put_result *result, int64_t *out_id,
                  dt_error *err)
{
    if (s->pg) return pg_record_put(s, source, record_id, raw, norm, received, result, out_id, err);
    int64_t ignored;
    if (!out_id) out_id = &ignored;
    sqlite3_stmt *st = stmt(s, S_REC_GET);
    sqlite3_bind_int64(st, 1, source);
    sq_bind_text(st, 2, record_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        *result = ST_PUT_NEW;
        return record_add(s, source, record_id, raw, norm, received, out_id, err);
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return sq_fail(s, rc, "reading a record", err);
    }
    int64_t id = sqlite3_column_int64(st, 0);
    int64_t version = sqlite3_column_int64(st, 4);
    *out_id = id;
    rc = sq_open_column(s, id, version, 'r', st, 1, &s->scratch[0], err);
    int same = rc == DT_OK && strcmp(s->scratch[0].data, raw) == 0;
    int withdrawn = sqlite3_column_int(st, 2);
    int64_t was_received = sqlite3_column_int64(st, 3);
    sqlite3_reset(st);
    DT_TRY(rc);
    if (same && !withdrawn) {
        *result = ST_PUT_SAME;
        if (received - was_received < ST_RENEW_AFTER_S) return DT_OK;
        st = stmt(s, S_REC_RECEIVED);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, received);
        return sq_step_done(s, st, "renewing a record", err);
    }
    st = stmt(s, S_REC_KEEP);
    sqlite3_bind_int64(st, 1, id);
    DT_TRY(sq_step_done(s, st, "keeping a record's earlier version", err));
    st = stmt(s, S_REC_UPDATE);
    sqlite3_bind_int64(st, 1, id);
    DT_TRY(bind_sealed(s, st, 2, id, version + 1, raw, norm, err));
    sqlite3_bind_int64(st, 4, received);
    *result = withdrawn ? ST_PUT_RESTORED : ST_PUT_CHANGED;
    return sq_step_done(s, st, "updating a record", err);
}

int st_records_put(st_store *s, int64_t source, st_put_row *rows, size_t n, int64_t received,
                   dt_error *err)
{
    if (s->pg) return pg_records_put(s, source, rows, n, received, err);
    for (size_t i = 0; i < n; i++)
        DT_TRY(st_record_put(s, source, rows[i].record_id, rows[i].raw, rows[i].norm, received,
                             &rows[i].result, &rows[i].id, err));
    return DT_OK;
}

int st_record_withdraw(st_store *s, int64_t source, const char *record_id, int *found,
                       dt_error *err)
{
    if (s->pg) return pg_record_withdraw(s, source, record_id, found, err);
    sqlite3_stmt *st = stmt(s, S_REC_WITHDRAW);
    sqlite3_bind_int64(st, 1, source);
    sq_bind_text(st, 2, record_id);
    DT_TRY(sq_step_done(s, st, "withdrawing a record", err));
    *found = sqlite3_changes(s->db) > 0;
    return DT_OK;
}

/* Calls fn with each row of st as a record: columns source, record id,
 * raw (read when with_raw), norm, version, withdrawn, id, and the entity
 * when the statement has an eighth column. */
static int walk_records(st_store *s, sqlite3_stmt *st, int with_raw, st_record_fn fn, void *ctx,
                        dt_error *err)
{
    int rc, has_entity = sqlite3_column_count(st) > 7;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 6), version = sqlite3_column_int64(st, 4);
        int out = with_raw ? sq_open_column(s, id, version, 'r', st, 2, &s->scratch[0], err) : DT_OK;
        if (out == DT_OK) out = sq_open_column(s, id, version, 'n', st, 3, &s->scratch[1], err);
        st_record r = {
            .source = (const char *)sqlite3_column_text(st, 0),
            .record_id = (const char *)sqlite3_column_text(st, 1),
            .raw = with_raw ? s->scratch[0].data : "",
            .norm = s->scratch[1].data,
            .version = version,
            .is_withdrawn = sqlite3_column_int(st, 5),
            .entity = has_entity ? (const char *)sqlite3_column_text(st, 7) : "",
            .id = id,
        };
        if (out == DT_OK && (!r.source || !r.record_id || !r.raw || !r.norm || !r.entity)) {
            sqlite3_reset(st);
            return sq_damaged(s, "reading records", "a record without its id or values", err);
        }
        if (out == DT_OK) out = fn(ctx, &r);
        if (out < 0) {
            sqlite3_reset(st);
            return out;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading records", err);
}

int st_records_each(st_store *s, const char *source, int with_withdrawn, st_record_fn fn,
                    void *ctx, dt_error *err)
{
    if (s->pg) return pg_records_each(s, source, with_withdrawn, fn, ctx, err);
    sqlite3_stmt *st = stmt(s, source ? S_REC_EACH_SRC : S_REC_EACH);
    if (source) sq_bind_text(st, 1, source);
    sqlite3_bind_int(st, 2, with_withdrawn);
    return walk_records(s, st, 1, fn, ctx, err);
}

int st_records_norm_each(st_store *s, st_record_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_records_norm_each(s, fn, ctx, err);
    return walk_records(s, stmt(s, S_REC_NORM_EACH), 0, fn, ctx, err);
}

int sq_one_int(st_store *s, sqlite3_stmt *st, int64_t *v, const char *what, dt_error *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? DT_OK : sq_fail(s, rc, what, err);
}

int st_record_count(st_store *s, const char *source, uint64_t *n, dt_error *err)
{
    if (s->pg) return pg_record_count(s, source, n, err);
    sqlite3_stmt *st = stmt(s, source ? S_REC_COUNT_SRC : S_REC_COUNT);
    if (source) sq_bind_text(st, 1, source);
    int64_t v = 0;
    DT_TRY(sq_one_int(s, st, &v, "counting records", err));
    *n = (uint64_t)v;
    return DT_OK;
}

/* Steps statement `which` for record id: DT_OK on its row (reset the
 * statement after reading it), DT_ENOTFOUND, or the error. */
static int record_row(st_store *s, enum stmt_id which, int64_t id, sqlite3_stmt **out,
                      dt_error *err)
{
    sqlite3_stmt *st = *out = stmt(s, which);
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return DT_OK;
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return dt_err_set(err, DT_ENOTFOUND, "no record %lld", (long long)id);
    return sq_fail(s, rc, "reading a record", err);
}

/* Column i_col of st's row, opened, as a dt_malloc'd string in *out. */
static int open_owned(st_store *s, int64_t id, int64_t version, char column, sqlite3_stmt *st,
                      int i_col, const char **out, dt_error *err)
{
    util_buf b = {0};
    int rc = sq_open_column(s, id, version, column, st, i_col, &b, err);
    if (rc < 0) util_buf_fini(&b);
    else *out = b.data; /* ownership passes on */
    return rc;
}

static int record_get(st_store *s, enum stmt_id which, int64_t id, st_record *out,
                      int64_t *source_id, dt_error *err)
{
    sqlite3_stmt *st;
    DT_TRY(record_row(s, which, id, &st, err));
    int64_t version = sqlite3_column_int64(st, 4);
    *out = (st_record){
        .source = dt_strdup((const char *)sqlite3_column_text(st, 0)),
        .record_id = dt_strdup((const char *)sqlite3_column_text(st, 1)),
        .version = version,
        .is_withdrawn = sqlite3_column_int(st, 5),
        .entity = dt_strdup(sqlite3_column_count(st) > 7 ? (const char *)sqlite3_column_text(st, 7)
                                                          : ""),
    };
    int rc = which == S_REC_NORM ? ((out->raw = dt_strdup("")) ? DT_OK : DT_ENOMEM)
                                 : open_owned(s, id, version, 'r', st, 2, &out->raw, err);
    if (rc == DT_OK) rc = open_owned(s, id, version, 'n', st, 3, &out->norm, err);
    if (source_id) *source_id = sqlite3_column_int64(st, 6);
    int is_null = !sqlite3_column_text(st, 0) || !sqlite3_column_text(st, 1) ||
                  (which != S_REC_NORM && sqlite3_column_type(st, 2) == SQLITE_NULL) ||
                  sqlite3_column_type(st, 3) == SQLITE_NULL; /* S_REC_NORM reads no raw */
    sqlite3_reset(st);
    if (is_null) {
        st_record_free(out);
        return sq_damaged(s, "reading a record", "a record without its id or values", err);
    }
    if (out->source && out->record_id && out->raw && out->norm && out->entity) return DT_OK;
    st_record_free(out);
    return rc < 0 && rc != DT_ENOMEM ? rc : dt_err_set(err, DT_ENOMEM, "out of memory");
}

int st_record_get(st_store *s, int64_t id, st_record *out, int64_t *source_id, dt_error *err)
{
    if (s->pg) return pg_record_get(s, id, out, source_id, err);
    return record_get(s, S_REC_BY_ID, id, out, source_id, err);
}

int st_record_norm(st_store *s, int64_t id, st_record *out, dt_error *err)
{
    if (s->pg) return pg_record_norm(s, id, out, err);
    return record_get(s, S_REC_NORM, id, out, NULL, err);
}

void st_record_free(st_record *r)
{
    dt_free((char *)r->source);
    dt_free((char *)r->record_id);
    dt_free((char *)r->raw);
    dt_free((char *)r->norm);
    dt_free((char *)r->entity);
    memset(r, 0, sizeof *r);
}

int st_record_id(st_store *s, int64_t source, const char *record_id, int64_t *id,
                 dt_error *err)
{
    if (s->pg) return pg_record_id(s, source, record_id, id, err);
    sqlite3_stmt *st = stmt(s, S_REC_ID);
    sqlite3_bind_int64(st, 1, source);
    sq_bind_text(st, 2, record_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) return DT_OK;
    if (rc == SQLITE_DONE) return dt_err_set(err, DT_ENOTFOUND, "no record '%s'", record_id);
    return sq_fail(s, rc, "reading a record", err);
}

int st_model_put(st_store *s, const char *json, int64_t *version, dt_error *err)
{
    if (s->pg) return pg_model_put(s, json, version, err);
    sqlite3_stmt *st = stmt(s, S_MODEL_PUT);
    sq_bind_text(st, 1, json);
    DT_TRY(sq_step_done(s, st, "storing the model", err));
    *version = sqlite3_last_insert_rowid(s->db);
    return DT_OK;
}

int st_model_latest(st_store *s, char **json, int64_t *version, dt_error *err)
{
    if (s->pg) return pg_model_latest(s, json, version, err);
    *json = NULL;
    *version = 0;
    sqlite3_stmt *st = stmt(s, S_MODEL_LATEST);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int64(st, 0);
        *json = dt_strdup((const char *)sqlite3_column_text(st, 1));
        rc = *json ? SQLITE_DONE : SQLITE_NOMEM;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading the model", err);
}

int st_model_version(st_store *s, int64_t *version, dt_error *err)
{
    if (s->pg) return pg_model_version(s, version, err);
    return sq_one_int(s, stmt(s, S_MODEL_VERSION), version, "reading the model", err);
}

/* ---- the blocking index's primitives (index.h; its logic is index.c) ---- */

int sq_idx_source_max(st_store *s, int64_t *n, dt_error *err)
{
    return sq_one_int(s, stmt(s, S_SOURCE_MAX), n, "reading sources", err);
}

int sq_idx_lists_get(st_store *s, const int64_t *records, size_t n, idx_list_at_fn fn,
                     void *ctx, dt_error *err)
{
    sqlite3_stmt *st = stmt(s, S_RKEYS_GET);
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, records[i]);
        int rc = sqlite3_step(st), out = DT_OK;
        if (rc == SQLITE_ROW)
            out = fn(ctx, i, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return sq_fail(s, rc, "updating the blocking index", err);
        if (out < 0) return out;
    }
    return DT_OK;
}

static int list_put(st_store *s, int64_t record, const uint64_t *slots, size_t n,
                    dt_error *err)
{
    sqlite3_stmt *st = stmt(s, S_RKEYS_PUT);
    sqlite3_bind_int64(st, 1, record);
    sqlite3_bind_blob(st, 2, slots, (int)(n * sizeof *slots), SQLITE_STATIC);
    return sq_step_done(s, st, "updating the blocking index", err);
}

int sq_idx_list_drop(st_store *s, int64_t record, dt_error *err)
{
    sqlite3_stmt *st = stmt(s, S_RKEYS_DEL);
    sqlite3_bind_int64(st, 1, record);
    return sq_step_done(s, st, "updating the blocking index", err);
}

int sq_idx_lists_each(st_store *s, idx_list_fn fn, void *ctx, dt_error *err)
{
    sqlite3_stmt *st = stmt(s, S_RKEYS_EACH);
    int rc, out = DT_OK;
    while (out == DT_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        out = fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
                 (size_t)sqlite3_column_bytes(st, 1));
    return sq_walk_end(s, st, rc, out, "reading the blocking index", err);
}

/* Runs a statement on one slot. */
static int slot_step(st_store *s, enum stmt_id which, uint64_t slot, dt_error *err)
{
    sqlite3_stmt *st = stmt(s, which);
    sqlite3_bind_int64(st, 1, (int64_t)slot);
    return sq_step_done(s, st, "updating the blocking index", err);
}

int sq_idx_slots_drop(st_store *s, const uint64_t *slots, size_t n, dt_error *err)
{
    for (size_t k = 0; k < n; k++) {
        DT_TRY(slot_step(s, S_KEY_DEL, slots[k], err));
        DT_TRY(slot_step(s, S_KEY_DEL_NEW, slots[k], err));
    }
    return DT_OK;
}

int sq_idx_slots_stage(st_store *s, const uint64_t *slots, size_t n, dt_error *err)
{
    for (size_t k = 0; k < n; k++) DT_TRY(slot_step(s, S_KEY_ADD, slots[k], err));
    return DT_OK;
}

int sq_idx_slots_put(st_store *s, const uint64_t *slots, size_t n, dt_error *err)
{
    /* 64 rows a statement: a third less time a slot than one (the
     * statement's own overhead), tens of millions of them in a bulk load */
    size_t k = 0;
    for (; k + KEY_PUT_ROWS <= n; k += KEY_PUT_ROWS) {
        sqlite3_stmt *st = stmt(s, S_KEY_PUT_MANY);
        for (int j = 0; j < KEY_PUT_ROWS; j++) sqlite3_bind_int64(st, j + 1, (int64_t)slots[k + j]);
        DT_TRY(sq_step_done(s, st, "updating the blocking index", err));
    }
    for (; k < n; k++) DT_TRY(slot_step(s, S_KEY_PUT, slots[k], err));
    return DT_OK;
}

int sq_idx_lists_put(st_store *s, const int64_t *records, size_t n, const uint64_t *slots,
                     const size_t *counts, dt_error *err)
{
    for (size_t i = 0; i < n; slots += counts[i++])
        DT_TRY(list_put(s, records[i], slots, counts[i], err));
    return DT_OK;
}

int sq_idx_staged_count(st_store *s, int64_t *n, dt_error *err)
{
    return sq_one_int(s, stmt(s, S_KEY_NEW_COUNT), n, "merging the blocking index", err);
}

int sq_idx_record_max(st_store *s, int64_t *n, dt_error *err)
{
    return sq_one_int(s, stmt(s, S_REC_MAX), n, "merging the blocking index", err);
}

/* Why two tables: a slot lands at a random place in block_key, so adding
 * one there dirties a page of its own, and each commit wrote (and the WAL
 * checkpoint wrote again) about 4 KiB per key: a third of resolving
 * ingest's time at 1M people. block_new stays small, so a batch dirties
 * few pages; index.c merges it in one sorted pass, writing each page of
 * block_key at most once. */
int sq_idx_merge_staged(st_store *s, dt_error *err)
{
    const char *what = "merging the blocking index";
    DT_TRY(sq_step_done(s, stmt(s, S_KEY_MERGE), what, err));
    return sq_step_done(s, stmt(s, S_KEY_NEW_CLEAR), what, err);
}

int sq_idx_clear(st_store *s, dt_error *err)
{
    return sq_exec(s, "DELETE FROM block_key; DELETE FROM block_new; DELETE FROM record_keys",
                   "writing the blocking index", err);
}

int sq_idx_ranges(st_store *s, const uint64_t *lo, const uint64_t *hi, size_t n, id_buf *recs,
                  size_t *ends, dt_error *err)
{
    sqlite3_stmt *st = stmt(s, S_KEY_RANGE);
    for (size_t k = 0; k < n; k++) {
        sqlite3_bind_int64(st, 1, (int64_t)lo[k]);
        sqlite3_bind_int64(st, 2, (int64_t)hi[k]);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (util_grow((void **)&recs->v, &recs->cap, recs->n + 1, sizeof *recs->v) < 0) {
                sqlite3_reset(st);
                return dt_err_set(err, DT_ENOMEM, "out of memory");
            }
            recs->v[recs->n++] = (int64_t)((uint64_t)sqlite3_column_int64(st, 0) & SLOT_RECORD_MASK);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) return sq_fail(s, rc, "reading the blocking index", err);
        ends[k] = recs->n;
    }
    return DT_OK;
}

int sq_idx_count(st_store *s, uint64_t lo, uint64_t hi, int64_t *n, dt_error *err)
{
    sqlite3_stmt *st = stmt(s, S_KEY_COUNT);
    sqlite3_bind_int64(st, 1, (int64_t)lo);
    sqlite3_bind_int64(st, 2, (int64_t)hi);
    return sq_one_int(s, st, n, "reading the blocking index", err);
}

/* Walks the rows of a bound statement whose first column is an id. */
static int each_id(st_store *s, sqlite3_stmt *st, st_id_fn fn, void *ctx, const char *what,
                   dt_error *err)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int out = fn(ctx, sqlite3_column_int64(st, 0));
        if (out < 0) {
            sqlite3_reset(st);
            return out;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, what, err);
}

int st_link_put(st_store *s, int64_t a, int64_t b, int rule, double weight, double p,
                dt_error *err)
{
    if (s->pg) return pg_link_put(s, a, b, rule, weight, p, err);
    sqlite3_stmt *st = stmt(s, S_LINK_PUT);
    sqlite3_bind_int64(st, 1, a < b ? a : b);
    sqlite3_bind_int64(st, 2, a < b ? b : a);
    sqlite3_bind_int(st, 3, rule);
    sqlite3_bind_double(st, 4, weight);
    sqlite3_bind_double(st, 5, p);
    return sq_step_done(s, st, "storing a link", err);
}

int st_links_put(st_store *s, const st_link_row *v, size_t n, dt_error *err)
{
    if (s->pg) return pg_links_put(s, v, n, err);
    for (size_t k = 0; k < n; k++)
        DT_TRY(st_link_put(s, v[k].a, v[k].b, v[k].rule, v[k].weight, v[k].p, err));
    return DT_OK;
}

int st_entities_set(st_store *s, const int64_t *records, const char *const *entities, size_t n,
                    dt_error *err)
{
    if (s->pg) return pg_entities_set(s, records, entities, n, err);
    for (size_t k = 0; k < n; k++) DT_TRY(st_entity_set(s, records[k], entities[k], err));
    return DT_OK;
}

int st_links_drop(st_store *s, int64_t record, dt_error *err)
{
    if (s->pg) return pg_links_drop(s, record, err);
    sqlite3_stmt *st = stmt(s, S_LINKS_DROP);
    sqlite3_bind_int64(st, 1, record);
    return sq_step_done(s, st, "dropping links", err);
}

int st_links_index_drop(st_store *s, dt_error *err)
{
    if (s->pg) return pg_links_index_drop(s, err);
    return sq_exec(s, "DROP INDEX link_b", "writing links in bulk", err);
}

int st_links_index_build(st_store *s, dt_error *err)
{
    if (s->pg) return pg_links_index_build(s, err);
    return sq_exec(s, "CREATE INDEX link_b ON link(b)", "writing links in bulk", err);
}

int st_members_index_drop(st_store *s, dt_error *err)
{
    if (s->pg) return pg_members_index_drop(s, err);
    return sq_exec(s, "DROP INDEX membership_entity", "writing entities in bulk", err);
}

int st_members_index_build(st_store *s, dt_error *err)
{
    if (s->pg) return pg_members_index_build(s, err);
    return sq_exec(s, "CREATE INDEX membership_entity ON membership(entity)",
                   "writing entities in bulk", err);
}

int st_links_clear(st_store *s, dt_error *err)
{
    if (s->pg) return pg_links_clear(s, err);
    return sq_step_done(s, stmt(s, S_LINKS_CLEAR), "dropping links", err);
}

int st_decision_put(st_store *s, int64_t a, int64_t b, int same, const char *by, int64_t time,
                    const char *note, dt_error *err)
{
    if (s->pg) return pg_decision_put(s, a, b, same, by, time, note, err);
    assert(a != b);
    sqlite3_stmt *st = stmt(s, S_DEC_PUT);
    sqlite3_bind_int64(st, 1, a < b ? a : b);
    sqlite3_bind_int64(st, 2, a < b ? b : a);
    sqlite3_bind_int(st, 3, same != 0);
    sq_bind_text(st, 4, by);
    sqlite3_bind_int64(st, 5, time);
    sq_bind_text(st, 6, note);
    return sq_step_done(s, st, "storing a review decision", err);
}

int st_decisions_of(st_store *s, int64_t record, st_decision_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_decisions_of(s, record, fn, ctx, err);
    sqlite3_stmt *st = stmt(s, S_DEC_OF);
    sqlite3_bind_int64(st, 1, record);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int out = fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1));
        if (out < 0) {
            sqlite3_reset(st);
            return out;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading review decisions", err);
}

int st_decisions_each(st_store *s, st_decision_pair_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_decisions_each(s, fn, ctx, err);
    sqlite3_stmt *st = stmt(s, S_DEC_EACH);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int out = fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                     sqlite3_column_int(st, 2));
        if (out < 0) {
            sqlite3_reset(st);
            return out;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading review decisions", err);
}

int st_link_sources_each(st_store *s, st_link_sources_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_link_sources_each(s, fn, ctx, err);
    sqlite3_stmt *st = stmt(s, S_LINK_SOURCES);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, sqlite3_column_double(st, 0), sqlite3_column_int64(st, 1),
           sqlite3_column_int64(st, 2));
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading links", err);
}

int st_entity_sizes_each(st_store *s, st_size_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_entity_sizes_each(s, fn, ctx, err);
    sqlite3_stmt *st = stmt(s, S_ENTITY_SIZES);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) fn(ctx, (uint64_t)sqlite3_column_int64(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading entities", err);
}

int st_decision_keys_each(st_store *s, st_decision_key_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_decision_keys_each(s, fn, ctx, err);
    sqlite3_stmt *st = stmt(s, S_DEC_KEYS);
    int rc, out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(st, 0);
        const char *b = (const char *)sqlite3_column_text(st, 1);
        out = a && b ? fn(ctx, a, b, sqlite3_column_int(st, 2)) : DT_ENOMEM;
    }
    sqlite3_reset(st);
    if (out < 0) return out == DT_ENOMEM ? dt_err_set(err, out, "out of memory") : out;
    return out > 0 || rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading review decisions", err);
}

int st_links_band(st_store *s, double lo, double hi, int by_doubt, st_band_fn fn, void *ctx,
                  dt_error *err)
{
    if (s->pg) return pg_links_band(s, lo, hi, by_doubt, fn, ctx, err);
    sqlite3_stmt *st = stmt(s, S_LINKS_BAND);
    sqlite3_bind_double(st, 1, lo);
    sqlite3_bind_double(st, 2, hi);
    sqlite3_bind_int(st, 3, by_doubt != 0);
    int rc, out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        st_band_pair bp = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                           sqlite3_column_double(st, 2),
                           (const char *)sqlite3_column_text(st, 3),
                           (const char *)sqlite3_column_text(st, 4),
                           (const char *)sqlite3_column_text(st, 5),
                           (const char *)sqlite3_column_text(st, 6),
                           (const char *)sqlite3_column_text(st, 7),
                           (const char *)sqlite3_column_text(st, 8)};
        if (!bp.source_a || !bp.id_a || !bp.source_b || !bp.id_b || !bp.entity_a ||
            !bp.entity_b) {
            out = DT_ENOMEM;
            break;
        }
        out = fn(ctx, &bp);
    }
    sqlite3_reset(st);
    if (out < 0) return out == DT_ENOMEM ? dt_err_set(err, out, "out of memory") : out;
    return out > 0 || rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading links", err);
}

int st_decisions_drop(st_store *s, int64_t record, dt_error *err)
{
    if (s->pg) return pg_decisions_drop(s, record, err);
    sqlite3_stmt *st = stmt(s, S_DEC_DROP);
    sqlite3_bind_int64(st, 1, record);
    return sq_step_done(s, st, "dropping review decisions", err);
}

int st_links_of(st_store *s, int64_t record, double min_p, st_link_fn fn, void *ctx,
                dt_error *err)
{
    if (s->pg) return pg_links_of(s, record, min_p, fn, ctx, err);
    sqlite3_stmt *st = stmt(s, S_LINKS_OF);
    sqlite3_bind_int64(st, 1, record);
    sqlite3_bind_double(st, 2, min_p);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int out = fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1));
        if (out < 0) {
            sqlite3_reset(st);
            return out;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading links", err);
}

int st_links_each(st_store *s, double min_p, st_link_pair_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_links_each(s, min_p, fn, ctx, err);
    sqlite3_stmt *st = stmt(s, S_LINKS_EACH);
    sqlite3_bind_double(st, 1, min_p);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int out = fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                     sqlite3_column_double(st, 2));
        if (out < 0) {
            sqlite3_reset(st);
            return out;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading links", err);
}

int st_links_of_source(st_store *s, int64_t record, double min_p, st_link_src_fn fn, void *ctx,
                       dt_error *err)
{
    if (s->pg) return pg_links_of_source(s, record, min_p, fn, ctx, err);
    sqlite3_stmt *st = stmt(s, S_LINKS_OF_SRC);
    sqlite3_bind_int64(st, 1, record);
    sqlite3_bind_double(st, 2, min_p);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int out = fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1),
                     sqlite3_column_int64(st, 2));
        if (out < 0) {
            sqlite3_reset(st);
            return out;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading links", err);
}

int st_record_source(st_store *s, int64_t id, int64_t *source, int *is_active, dt_error *err)
{
    if (s->pg) return pg_record_source(s, id, source, is_active, err);
    sqlite3_stmt *st = stmt(s, S_REC_SOURCE);
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *source = sqlite3_column_int64(st, 0);
        *is_active = sqlite3_column_int(st, 1) == 0;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return DT_ENOTFOUND;
    return rc == SQLITE_ROW ? DT_OK : sq_fail(s, rc, "reading a record", err);
}

int st_entity_of(st_store *s, int64_t record, char **entity, dt_error *err)
{
    if (s->pg) return pg_entity_of(s, record, entity, err);
    sqlite3_stmt *st = stmt(s, S_ENTITY_OF);
    sqlite3_bind_int64(st, 1, record);
    int rc = sqlite3_step(st);
    const char *v = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "";
    *entity = rc == SQLITE_ROW || rc == SQLITE_DONE ? dt_strdup(v) : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sq_fail(s, rc, "reading entities", err);
    return *entity ? DT_OK : dt_err_set(err, DT_ENOMEM, "out of memory");
}

int st_entity_set(st_store *s, int64_t record, const char *entity, dt_error *err)
{
    if (s->pg) return pg_entity_set(s, record, entity, err);
    sqlite3_stmt *st = stmt(s, entity ? S_ENTITY_SET : S_ENTITY_CLEAR);
    sqlite3_bind_int64(st, 1, record);
    if (entity) sq_bind_text(st, 2, entity);
    return sq_step_done(s, st, "updating entities", err);
}

int st_entity_event(st_store *s, const char *kind, const char *entity, const char *other,
                    const char *cause, dt_error *err)
{
    if (s->pg) return pg_entity_event(s, kind, entity, other, cause, err);
    sqlite3_stmt *st = stmt(s, S_EVENT_ADD);
    sq_bind_text(st, 1, kind);
    sq_bind_text(st, 2, entity);
    sq_bind_text(st, 3, other);
    sq_bind_text(st, 4, cause);
    return sq_step_done(s, st, "recording an entity change", err);
}

/* A withdrawn record loses its entity in the transaction that withdraws
 * it (resolve.c), so a member marked withdrawn, or one without its names,
 * is a damaged row: skipping it would serve a short result as a whole. */
int st_members_each(st_store *s, st_member_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_members_each(s, fn, ctx, err);
    sqlite3_stmt *st = stmt(s, S_MEMBERS_EACH);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *source = (const char *)sqlite3_column_text(st, 0),
                   *record_id = (const char *)sqlite3_column_text(st, 1),
                   *entity = (const char *)sqlite3_column_text(st, 2);
        if (!source || !record_id || !entity || sqlite3_column_int64(st, 4) != 0) {
            sqlite3_reset(st);
            return sq_damaged(s, "reading entities", "a withdrawn or nameless record has an "
                              "entity", err);
        }
        int out = fn(ctx, sqlite3_column_int64(st, 3), source, record_id, entity);
        if (out < 0) {
            sqlite3_reset(st);
            return out;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DT_OK : sq_fail(s, rc, "reading entities", err);
}

int st_entity_members(st_store *s, const char *entity, st_id_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_entity_members(s, entity, fn, ctx, err);
    sqlite3_stmt *st = stmt(s, S_ENTITY_MEMBERS);
    sq_bind_text(st, 1, entity);
    return each_id(s, st, fn, ctx, "reading entities", err);
}

/* ---- many records at once (store.h): the one-record statement n times ---- */

int st_records_norm(st_store *s, const int64_t *ids, size_t n, st_record_at_fn fn, void *ctx,
                    dt_error *err)
{
    if (s->pg) return pg_records_norm(s, ids, n, fn, ctx, err);
    for (size_t i = 0; i < n; i++) {
        st_record r;
        DT_TRY(record_get(s, S_REC_NORM, ids[i], &r, NULL, err));
        r.id = ids[i];
        int out = fn(ctx, i, &r);
        st_record_free(&r);
        if (out < 0) return out;
    }
    return DT_OK;
}

/* The walks below pass each callback its record's index through these. */
typedef struct at_walk {
    union {
        st_link_at_fn link;
        st_decision_at_fn decision;
        st_id_at_fn id;
    } fn;
    void *ctx;
    size_t i;
} at_walk;

static int link_at(void *ctx, int64_t other, double p)
{
    at_walk *w = ctx;
    return w->fn.link(w->ctx, w->i, other, p);
}

int st_links_of_records(st_store *s, const int64_t *records, size_t n, double min_p,
                        st_link_at_fn fn, void *ctx, dt_error *err)
{
    if (s->pg) return pg_links_of_records(s, records, n, min_p, fn, ctx, err);
    at_walk w = {.fn.link = fn, .ctx = ctx};
    for (; w.i < n; w.i++) DT_TRY(st_links_of(s, records[w.i], min_p, link_at, &w, err));
    return DT_OK;
}

static int decision_at(void *ctx, int64_t other, int same)
{
    at_walk *w = ctx;
    return w->fn.decision(w->ctx, w->i, other, same);
}

int st_decisions_of_records(st_store *s, const int64_t *records, size_t n, st_decision_at_fn fn,
                            void *ctx, dt_error *err)
{
    if (s->pg) return pg_decisions_of_records(s, records, n, fn, ctx, err);
    at_walk w = {.fn.decision = fn, .ctx = ctx};
    for (; w.i < n; w.i++) DT_TRY(st_decisions_of(s, records[w.i], decision_at, &w, err));
    return DT_OK;
}

int st_entities_of(st_store *s, const int64_t *records, size_t n, st_entity_at_fn fn, void *ctx,
                   dt_error *err)
{
    if (s->pg) return pg_entities_of(s, records, n, fn, ctx, err);
    for (size_t i = 0; i < n; i++) {
        char *entity = NULL;
        DT_TRY(st_entity_of(s, records[i], &entity, err));
        int out = fn(ctx, i, entity);
        dt_free(entity);
        if (out < 0) return out;
    }
    return DT_OK;
}

static int id_at(void *ctx, int64_t id)
{
    at_walk *w = ctx;
    return w->fn.id(w->ctx, w->i, id);
}

int st_entities_members(st_store *s, const char *const *entities, size_t n, st_id_at_fn fn,
                        void *ctx, dt_error *err)
{
    if (s->pg) return pg_entities_members(s, entities, n, fn, ctx, err);
    at_walk w = {.fn.id = fn, .ctx = ctx};
    for (; w.i < n; w.i++) DT_TRY(st_entity_members(s, entities[w.i], id_at, &w, err));
    return DT_OK;
}

int st_links_drop_records(st_store *s, const int64_t *records, size_t n, dt_error *err)
{
    if (s->pg) return pg_links_drop_records(s, records, n, err);
    for (size_t i = 0; i < n; i++) DT_TRY(st_links_drop(s, records[i], err));
    return DT_OK;
}

int st_entity_events(st_store *s, const st_event_row *v, size_t n, dt_error *err)
{
    if (s->pg) return pg_entity_events(s, v, n, err);
    for (size_t i = 0; i < n; i++)
        DT_TRY(st_entity_event(s, v[i].kind, v[i].entity, v[i].other, v[i].cause, err));
    return DT_OK;
}

int st_active_ids(st_store *s, int64_t from, int64_t *ids, size_t max, size_t *n,
                  dt_error *err)
{
    if (s->pg) return pg_active_ids(s, from, ids, max, n, err);
    sqlite3_stmt *st = stmt(s, S_ACTIVE_IDS);
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    int rc;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) ids[(*n)++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? DT_OK : sq_fail(s, rc, "reading records", err);
}

/* PRAGMA integrity_check, not quick_check: only it compares each index
 * with its table, and a flipped byte in a record id or an entity id (what
 * export serves) shows there and nowhere else. It reads every page: about
 * as long as an export on the FEBRL stores (bench/README.md). */
int st_verify(st_store *s, dt_error *err)
{
    if (s->pg) return pg_verify(s, err);
    const char *what = "checking the store";
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check(3)", -1, &st, NULL);
    if (rc != SQLITE_OK) return sq_fail(s, rc, what, err);
    util_buf found = {0};
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line && !strcmp(line, "ok")) continue;
        for (const char *p = line ? line : "?"; *p; p++) /* one line: "; " for newlines */
            if (*p == '\n') util_buf_append(&found, "; ", 2);
            else util_buf_putc(&found, *p);
    }
    sqlite3_finalize(st);
    int out = rc != SQLITE_DONE ? sq_fail(s, rc, what, err)
              : found.is_failed ? dt_err_set(err, DT_ENOMEM, "out of memory")
              : found.len       ? sq_damaged(s, what, found.data, err)
                                : DT_OK;
    util_buf_fini(&found);
    return out;
}

/* ---- the WAL's length ----------------------------------------------------- */

static int count_frames(void *frames, sqlite3 *db, const char *name, int n_frames)
{
    (void)db;
    (void)name;
    atomic_store((_Atomic int_fast64_t *)frames, n_frames);
    return SQLITE_OK;
}

void st_wal_watch(st_store *s, _Atomic int_fast64_t *frames)
{
    if (s->pg) return;
    sqlite3_wal_hook(s->db, count_frames, frames); /* ends the automatic checkpoint */
}

/* ---- the data generation's probe ------------------------------------------ */

struct st_probe {
    sqlite3 *db;
    sqlite3_stmt *gen;
    pg_probe *pg; /* a PostgreSQL store's (pg.c): db is NULL */
};

int st_probe_open(const st_store *s, st_probe **out, dt_error *err)
{
    *out = NULL;
    const char *path = s->path;
    st_probe *p = dt_calloc(1, sizeof *p);
    if (!p) return dt_err_set(err, DT_ENOMEM, "out of memory");
    if (s->pg) {
        int prc = pg_probe_open(s, &p->pg, err);
        if (prc < 0) dt_free(p);
        else *out = p;
        return prc;
    }
    /* read-write without create: a WAL reader may need to set up the -shm */
    int rc = sqlite3_open_v2(path, &p->db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) sqlite3_busy_timeout(p->db, BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(p->db, "SELECT value FROM meta WHERE key = 'data_gen'", -1,
                                SQLITE_PREPARE_PERSISTENT, &p->gen, NULL);
    if (rc != SQLITE_OK) {
        int code = rc == SQLITE_NOMEM ? DT_ENOMEM : DT_EIO;
        dt_err_at(err, code, path, 0, 0, "opening the store: %s",
                  p->db ? sqlite3_errmsg(p->db) : sqlite3_errstr(rc));
        st_probe_close(p);
        return code;
    }
    *out = p;
    return DT_OK;
}

int st_probe_gen(st_probe *p, int64_t *gen, dt_error *err)
{
    if (p->pg) return pg_probe_gen(p->pg, gen, err);
    int rc = sqlite3_step(p->gen); /* one statement: its own read transaction, fresh */
    const char *v = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(p->gen, 0) : NULL;
    *gen = v ? strtoll(v, NULL, 10) : 0;
    sqlite3_reset(p->gen);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return DT_OK;
    return dt_err_set(err, DT_EIO, "reading the store's data generation: %s",
                      sqlite3_errstr(rc));
}

enum { RESET_POLL_US = 100 };

static int reset_busy(void *arg, int n_tries)
{
    (void)arg;
    if (n_tries >= ST_RESET_WAIT_US / RESET_POLL_US) return 0;
    usleep(RESET_POLL_US);
    return 1;
}

/* Writes the store file's dirty pages to disk. SQLite syncs the file
 * only when a checkpoint copied the whole WAL; a reset's checkpoint then
 * synced all that the passive ones had copied before it (64 MB, 38 ms
 * with every commit stopped behind it, every half second under load). */
static int sync_store_file(sqlite3 *db)
{
    sqlite3_file *f = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
        !f->pMethods)
        return SQLITE_OK; /* no file: nothing to sync */
    return f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
}

int st_probe_checkpoint(st_probe *p, int restart, int *is_whole, dt_error *err)
{
    if (p->pg) { /* no WAL of ours: PostgreSQL checkpoints its own */
        *is_whole = 1;
        return DT_OK;
    }
    if (restart) sqlite3_busy_handler(p->db, reset_busy, NULL);
    int n_copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(p->db, NULL, restart ? SQLITE_CHECKPOINT_RESTART
                                                            : SQLITE_CHECKPOINT_PASSIVE,
                                       NULL, &n_copied);
    if (restart) sqlite3_busy_timeout(p->db, BUSY_TIMEOUT_MS);
    *is_whole = rc == SQLITE_OK;
    if (!restart && rc == SQLITE_OK && n_copied > 0) rc = sync_store_file(p->db);
    if (rc == SQLITE_OK || rc == SQLITE_BUSY) return DT_OK; /* busy: a reader or writer stays */
    return dt_err_set(err, DT_EIO, "copying the WAL into the store: %s", sqlite3_errstr(rc));
}

void st_probe_close(st_probe *p)
{
    if (!p) return;
    pg_probe_close(p->pg);
    sqlite3_finalize(p->gen);
    sqlite3_close(p->db);
    dt_free(p);
}
