/*
 * sqlite_int.h — what the SQLite backend's files share (sqlite.c holds
 * records, index, links and entities; govern_sql.c principals, policies
 * and the audit log). Never included outside src/store.
 *
 * Invariant: every statement is prepared once at open (sqlite.c's and
 * govern_sql.c's lists) and bound, never built from text.
 */
#ifndef DT_STORE_SQLITE_INT_H
#define DT_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

enum { SQ_MAX_STMTS = 80, SQ_MAX_GOV_STMTS = 32, SQ_MAX_FND_STMTS = 16 };
/* The same row sent again renews its arrival (its retention period) once
 * a day at most, so a daily full snapshot does not write every row. */
enum { ST_RENEW_AFTER_S = 86400 };

struct pg_conn; /* libpq's PGconn */

struct st_store {
    sqlite3 *db;
    struct pg_conn *pg;   /* a PostgreSQL store (pg_int.h): db is NULL */
    struct pg_stmts *pg_stmts; /* its statements prepared on the connection (pg.c) */
    int pg_failed;        /* the code of pg_run's last failure (pg_int.h) */
    char *pg_url;         /* its URL as given (a password too): st_probe_open connects with it */
    char *path;
    sqlite3_stmt *stmt[SQ_MAX_STMTS];
    sqlite3_stmt *gov[SQ_MAX_GOV_STMTS];
    sqlite3_stmt *fnd[SQ_MAX_FND_STMTS];
    int in_txn;
    int is_committing; /* st_commit's COMMIT is under way */
    pthread_mutex_t *gate; /* st_set_write_gate: taken from st_begin to its end */
    int is_gated;          /* this handle holds the gate */
    int is_gen_moved;  /* the open transaction moved the data generation itself */
    int is_held;       /* a read transaction is kept open between requests (st_snapshot_hold) */
    int is_bulk;       /* st_begin_bulk's transaction: foreign keys unchecked until its end */
    int64_t changes_at_begin; /* sqlite3_total_changes64 (PostgreSQL: pg_changes) at st_begin */
    int64_t log_changes;      /* rows the audit log's statements wrote since st_begin */
    int64_t pg_changes;       /* PostgreSQL: rows its statements wrote since open (pg_run) */
    int64_t pg_last_changes;  /* PostgreSQL: rows the last statement wrote */
    int pg_in_read;           /* PostgreSQL: a pg_snapshot_begin transaction is open */
    int is_created;    /* this open made the file: a failed create removes it */
    int64_t erased_max; /* the highest record id ever erased, as of st_begin */
    int64_t n_new;     /* rows in block_new, about (a rollback leaves it high); -1: unread */
    int source_bits;   /* bits of a blocking slot's source code; -1: unread */
    /* crypt.c: keys from the key file (wiped at close) and sealing state */
    uint8_t master[ST_KEY_BYTES];   /* the key file's key; only subkeys are used */
    uint8_t key_record[32];         /* XChaCha20-Poly1305: record contents, sealed text */
    uint8_t key_slot[16];           /* SipHash: blocking-index slots */
    uint8_t nonce_prefix[16];       /* random at open; a counter follows it */
    uint8_t key_sealing[32];        /* HChaCha20(key_record, nonce_prefix): crypt.c inv. 2 */
    uint64_t nonce_count;
    int has_key;
    util_buf scratch[2];            /* sealed raw and norm of the row being written or read */
};

/* What retention (govern_sql.c) finds its due record versions by. */
#define RETENTION_INDEXES                                                                \
    "CREATE INDEX record_received ON record(source, received);"                          \
    "CREATE INDEX history_received ON record_history(source, received);"

/* Principals: a name is held by one active principal at a time, so a
 * revoked name can be given again (a new row, a new id). Schema 6 on. */
#define PRINCIPAL_SCHEMA(table)                                                          \
    "CREATE TABLE " table "(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"                 \
    "  role TEXT NOT NULL, sources TEXT NOT NULL, token_hash BLOB NOT NULL UNIQUE,"     \
    "  created INTEGER NOT NULL, revoked INTEGER);"
#define PRINCIPAL_INDEXES                                                                \
    "CREATE UNIQUE INDEX principal_active ON principal(name) WHERE revoked IS NULL;"

/* The tables govern_sql.c keeps, created with the rest of the schema. */
#define GOVERN_SCHEMA                                                                    \
    PRINCIPAL_SCHEMA("principal")                                                        \
    PRINCIPAL_INDEXES                                                                    \
    "CREATE TABLE policy(source INTEGER NOT NULL REFERENCES source(id),"                 \
    "  version INTEGER NOT NULL, text TEXT NOT NULL, set_by TEXT NOT NULL,"              \
    "  time INTEGER NOT NULL, PRIMARY KEY(source, version));"                            \
    "CREATE TABLE audit(seq INTEGER PRIMARY KEY, time INTEGER NOT NULL,"                 \
    "  principal TEXT NOT NULL, purpose TEXT NOT NULL, action TEXT NOT NULL,"            \
    "  fields TEXT NOT NULL, outcome TEXT NOT NULL, n_subjects INTEGER NOT NULL,"        \
    "  leaf_hash BLOB NOT NULL);"                                                        \
    "CREATE TABLE audit_subject(seq INTEGER NOT NULL, i INTEGER NOT NULL,"               \
    "  subject TEXT NOT NULL, PRIMARY KEY(seq, i)) WITHOUT ROWID;"                       \
    "CREATE INDEX audit_subject_of ON audit_subject(subject, seq);"                      \
    "CREATE TABLE tree_head(size INTEGER PRIMARY KEY, time INTEGER NOT NULL,"            \
    "  root BLOB NOT NULL, signature BLOB NOT NULL, frontier BLOB NOT NULL);"            \
    LOG_END_SCHEMA

/* Reviewers' decisions on pairs of records, a < b (store ids): same
 * person (a must-link) or not (a cannot-link), which clustering honours
 * from then on (resolve.c); the note is sealed (crypt.c). Schema 8. */
#define DECISION_SCHEMA                                                                  \
    "CREATE TABLE decision(a INTEGER NOT NULL REFERENCES record(id),"                    \
    "  b INTEGER NOT NULL REFERENCES record(id), same INTEGER NOT NULL,"                 \
    "  by TEXT NOT NULL, time INTEGER NOT NULL, note TEXT NOT NULL,"                     \
    "  PRIMARY KEY(a, b)) WITHOUT ROWID;"                                                \
    "CREATE INDEX decision_b ON decision(b);"

/* The log's end as its last commit left it, sealed by a MAC (audit.c,
 * invariant 1): one row, rewritten in place. Schema 8. */
#define LOG_END_SCHEMA                                                                   \
    "CREATE TABLE log_end(id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL," \
    "  frontier BLOB NOT NULL, mac BLOB NOT NULL);"

int sq_fail(const st_store *s, int rc, const char *what, dt_error *err);
/* DT_EIO: "<what>: the store file is damaged (<why>)". */
int sq_damaged(const st_store *s, const char *what, const char *why, dt_error *err);
int sq_exec(st_store *s, const char *sql, const char *what, dt_error *err);
int sq_bind_text(sqlite3_stmt *st, int i, const char *v);
/* Runs a statement that returns no row. */
int sq_step_done(st_store *s, sqlite3_stmt *st, const char *what, dt_error *err);
/* The integer in the one row a bound statement returns. */
int sq_one_int(st_store *s, sqlite3_stmt *st, int64_t *v, const char *what, dt_error *err);
int sq_prepare_govern(st_store *s, dt_error *err);
/* Column i of st's row as a dt_malloc'd string ("" for NULL); NULL: out of memory. */
char *sq_col_dup(sqlite3_stmt *st, int i);
/* Ends a walk over st's rows: fn's negative return `out`, else the
 * statement's final code rc as an error or DT_OK. */
int sq_walk_end(st_store *s, sqlite3_stmt *st, int rc, int out, const char *what, dt_error *err);

/* The tables findings_sql.c keeps (schema 7 on; a schema 6 store gets them
 * at open): event rows of event sources, findings and their steps. */
#define FINDINGS_SCHEMA                                                                  \
    "CREATE TABLE event(id INTEGER PRIMARY KEY, source INTEGER NOT NULL REFERENCES source(id)," \
    "  event_id TEXT NOT NULL, row TEXT NOT NULL, received INTEGER NOT NULL,"            \
    "  UNIQUE(source, event_id));"                                                       \
    "CREATE TABLE finding(id TEXT NOT NULL, rule TEXT NOT NULL,"                         \
    "  rule_version INTEGER NOT NULL, model_version INTEGER NOT NULL, state TEXT NOT NULL," \
    "  confidence REAL NOT NULL, sources INTEGER NOT NULL, evidence TEXT NOT NULL,"      \
    "  purpose TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL,"       \
    "  notified_at INTEGER NOT NULL, contest_days INTEGER NOT NULL,"                     \
    "  PRIMARY KEY(purpose, id)) WITHOUT ROWID;"                                          \
    "CREATE TABLE finding_step(purpose TEXT NOT NULL, finding TEXT NOT NULL,"            \
    "  seq INTEGER NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL, by TEXT NOT NULL," \
    "  reason TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY(purpose, finding, seq),"   \
    "  FOREIGN KEY(purpose, finding) REFERENCES finding(purpose, id)) WITHOUT ROWID;"
int sq_prepare_findings(st_store *s, dt_error *err);
/* The labels events, findings and their steps are sealed under (one
 * spelling for both backends: a value sealed by one opens in the other's
 * copy of the store), and sealing or opening under a label the call
 * frees (NULL: out of memory). */
char *sq_event_label(int64_t source, const char *event_id);
char *sq_finding_label(const char *purpose, const char *id);
char *sq_step_label(const char *purpose, const char *finding, int64_t seq);
int sq_seal_labelled(st_store *s, char *label, const char *plain, char **out, dt_error *err);
int sq_open_labelled(st_store *s, char *label, const char *sealed, char **out, dt_error *err);
void sq_finalize_findings(st_store *s);

/* As st_open with ST_CREATE_TXN, sealed under like's key (no key file is
 * read): the tables are made in the transaction left open for the caller
 * to fill (copy.c). A failed create removes the file; once open, the
 * caller removes it (sq_remove_files) when it gives up. */
int sq_create_txn(const char *path, const st_store *like, st_store **out, dt_error *err);
/* Removes a store file and its -wal and -shm. */
void sq_remove_files(const char *path);

/* crypt.c. Reads the key file (creating it first when may_create and it
 * is absent) and derives the keys in use. */
int sq_key_load(st_store *s, const char *key_path, int may_create, dt_error *err);
/* The keys in use of another store, as if its key file had been read. */
void sq_key_like(st_store *s, const st_store *like);
/* Wipes the keys and frees the scratch buffers. */
void sq_key_forget(st_store *s);
/* A created store keeps its key check; an opened one compares it (a
 * wrong key file is DT_EAUTH naming key_path). */
int sq_key_check(st_store *s, const char *key_path, dt_error *err);
/* Seals a record's column text (column 'r' raw, 'n' norm) bound to its
 * store id and version, into out (bind out->data, out->len as a blob). */
int sq_seal_column(st_store *s, int64_t id, int64_t version, char column, const char *text,
                   util_buf *out, dt_error *err);
/* Opens column i_col of st's row, sealed as sq_seal_column did, into out
 * as NUL-terminated text; a value that does not open is DT_EIO. */
int sq_open_column(st_store *s, int64_t id, int64_t version, char column,
                   sqlite3_stmt *st, int i_col, util_buf *out, dt_error *err);
/* As sq_open_column, from n bytes at blob (another backend's row). */
int sq_open_blob(st_store *s, int64_t id, int64_t version, char column, const void *blob,
                 size_t n, util_buf *out, dt_error *err);
/* The keyed hash of a blocking key under a rule (SipHash-2-4). */
uint64_t sq_slot_hash(const st_store *s, size_t rule, uint64_t key);
void sq_finalize_govern(st_store *s);

#endif
