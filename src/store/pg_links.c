/*
 * pg_links.c — the PostgreSQL backend's links, review decisions, entities
 * and the record reads resolution makes (normalized values with their
 * entity, active ids, the model version), and the batch forms
 * resolution reads and writes many records with (store.h, "many records
 * at once"): the twins of sqlite.c's functions of the same names (pg_int.h
 * has the backend's invariants).
 *
 * Invariants:
 *   1. Each function gives what its sqlite.c twin gives: the same rows in
 *      the same order, the same codes and messages. Where SQLite's order
 *      comes from its plan (a primary key or an index walked), the order
 *      is spelled out here, since PostgreSQL promises none without
 *      ORDER BY; text is ordered COLLATE "C", by bytes, as SQLite orders it.
 *   2. A link or a decision is stored as (a, b) with a < b, whichever way
 *      round the caller named it, so a pair has one row.
 *   3. Ids SQLite hands out itself (entity_event.seq, an INTEGER PRIMARY
 *      KEY) are taken as max + 1 in the statement that inserts, under the
 *      write lock (pg_int.h, invariant 2), so they follow with no gap.
 *   4. A callback's negative return stops a walk and is returned as is;
 *      only st_links_band's (and st_decision_keys_each's) positive one
 *      stops it too, with DT_OK.
 *
 * Every walk reads its rows into one PGresult first: fine for now, but a
 * million-row walk (pg_records_norm_each, pg_links_each, pg_members_each)
 * holds them all in memory at once, and should read in single-row mode or
 * through a cursor later.
 */
#include <assert.h>
#include <string.h>

#include "store/pg_int.h"

/* ---- records as resolution reads them ----------------------------------- */

/* A record's names, sealed norm, version, withdrawn flag, id and entity
 * ("" when none): what st_records_norm_each and st_record_norm read. */
#define NORM_SELECT                                                                        \
    "SELECT s.name, r.record_id, r.norm, r.version, r.withdrawn, r.id, "                  \
    "coalesce(m.entity, '') FROM record r JOIN source s ON s.id = r.source "              \
    "LEFT JOIN membership m ON m.record = r.id "

/* Opens row i's norm (column 2 of NORM_SELECT) into out. */
static int open_norm(st_store *s, const PGresult *r, int i, util_buf *out, dt_error *err)
{
    return sq_open_blob(s, pg_i64(r, i, 5), pg_i64(r, i, 3), 'n', PQgetvalue(r, i, 2),
                        (size_t)PQgetlength(r, i, 2), out, err);
}

/* Row i of a NORM_SELECT result as a record whose norm is norm. */
static st_record norm_record(const PGresult *r, int i, const char *norm)
{
    return (st_record){.source = pg_text(r, i, 0), .record_id = pg_text(r, i, 1), .raw = "",
                       .norm = norm, .version = pg_i64(r, i, 3),
                       .is_withdrawn = pg_i64(r, i, 4) != 0, .entity = pg_text(r, i, 6),
                       .id = pg_i64(r, i, 5)};
}

static int walk_norm(st_store *s, const PGresult *r, st_record_fn fn, void *ctx, dt_error *err)
{
    for (int i = 0; i < PQntuples(r); i++) {
        DT_TRY(open_norm(s, r, i, &s->scratch[1], err));
        st_record rec = norm_record(r, i, s->scratch[1].data);
        if (!rec.source || !rec.record_id || !rec.entity)
            return sq_damaged(s, "reading records", "a record without its id or values", err);
        int out = fn(ctx, &rec);
        if (out < 0) return out;
    }
    return DT_OK;
}

int pg_records_norm_each(st_store *s, st_record_fn fn, void *ctx, dt_error *err)
{
    PGresult *r = pg_run(s, NORM_SELECT "WHERE r.withdrawn = 0 ORDER BY r.id", NULL,
                         "reading records", err);
    if (!r) return pg_failed(s);
    int rc = walk_norm(s, r, fn, ctx, err);
    PQclear(r);
    return rc;
}

/* The strings of row 0 copied into *out, norm opened; out->id stays 0,
 * as sqlite.c's record_get leaves it. */
static int norm_copy(st_store *s, const PGresult *r, st_record *out, dt_error *err)
{
    DT_TRY(open_norm(s, r, 0, &s->scratch[1], err));
    st_record in = norm_record(r, 0, s->scratch[1].data);
    if (!in.source || !in.record_id || !in.entity)
        return sq_damaged(s, "reading a record", "a record without its id or values", err);
    *out = (st_record){.source = dt_strdup(in.source), .record_id = dt_strdup(in.record_id),
                       .raw = dt_strdup(""), .norm = dt_strdup(in.norm),
                       .entity = dt_strdup(in.entity), .version = in.version,
                       .is_withdrawn = in.is_withdrawn};
    if (out->source && out->record_id && out->raw && out->norm && out->entity) return DT_OK;
    st_record_free(out);
    return dt_err_set(err, DT_ENOMEM, "out of memory");
}

int pg_record_norm(st_store *s, int64_t id, st_record *out, dt_error *err)
{
    memset(out, 0, sizeof *out);
    pg_params p = {0};
    pg_param_i64(&p, id);
    PGresult *r = pg_run(s, NORM_SELECT "WHERE r.id = $1", &p, "reading a record", err);
    if (!r) return pg_failed(s);
    int rc = PQntuples(r) == 1 ? norm_copy(s, r, out, err)
                               : dt_err_set(err, DT_ENOTFOUND, "no record %lld", (long long)id);
    PQclear(r);
    return rc;
}

int pg_active_ids(st_store *s, int64_t from, int64_t *ids, size_t max, size_t *n,
                  dt_error *err)
{
    *n = 0;
    pg_params p = {0};
    pg_param_i64(&p, from);
    /* SQLite reads a LIMIT past INT64_MAX (negative) as none; PostgreSQL
     * refuses a negative one */
    pg_param_i64(&p, max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max);
    PGresult *r = pg_run(s, "SELECT id FROM record WHERE withdrawn = 0 AND id >= $1::bigint "
                         "ORDER BY id LIMIT $2::bigint", &p, "reading records", err);
    if (!r) return pg_failed(s);
    for (int i = 0; i < PQntuples(r) && *n < max; i++) ids[(*n)++] = pg_i64(r, i, 0);
    PQclear(r);
    return DT_OK;
}

int pg_model_version(st_store *s, int64_t *version, dt_error *err)
{
    return pg_one_i64(s, "SELECT coalesce(max(version), 0) FROM model", NULL, version,
                      "reading the model", err);
}

/* ---- links ------------------------------------------------------------- */

int pg_link_put(st_store *s, int64_t a, int64_t b, int rule, double weight, double p,
                dt_error *err)
{
    pg_params q = {0};
    pg_param_i64(&q, a < b ? a : b);
    pg_param_i64(&q, a < b ? b : a);
    pg_param_i64(&q, rule);
    pg_param_f64(&q, weight);
    pg_param_f64(&q, p);
    return pg_do(s, "INSERT INTO link(a, b, rule, weight, p) VALUES($1::bigint, $2::bigint, "
                 "$3::bigint, $4::double precision, $5::double precision) ON CONFLICT(a, b) "
                 "DO UPDATE SET rule = excluded.rule, weight = excluded.weight, p = excluded.p",
                 &q, "storing a link", err);
}

int pg_links_clear(st_store *s, dt_error *err)
{
    return pg_do(s, "DELETE FROM link", NULL, "dropping links", err);
}

/* The index goes inside the caller's transaction, as in SQLite; here a
 * rollback brings it back, and other connections that read links wait
 * for the transaction's end (DROP INDEX locks the table). */
int pg_links_index_drop(st_store *s, dt_error *err)
{
    return pg_do(s, "DROP INDEX link_b", NULL, "writing links in bulk", err);
}

int pg_links_index_build(st_store *s, dt_error *err)
{
    return pg_do(s, "CREATE INDEX link_b ON link(b)", NULL, "writing links in bulk", err);
}

int pg_links_drop(st_store *s, int64_t record, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, record);
    return pg_do(s, "DELETE FROM link WHERE a = $1::bigint OR b = $1::bigint", &p,
                 "dropping links", err);
}

/* A record's pairs where it is a, by b, then those where it is b, by a:
 * the order SQLite's primary key and index give (invariant 1). */
#define OF_RECORD_ORDER " ORDER BY part, other"

int pg_links_of(st_store *s, int64_t record, double min_p, st_link_fn fn, void *ctx,
                dt_error *err)
{
    pg_params q = {0};
    pg_param_i64(&q, record);
    pg_param_f64(&q, min_p);
    PGresult *r = pg_run(s, "SELECT b AS other, p, 0 AS part FROM link WHERE a = $1::bigint "
                         "AND p >= $2::double precision UNION ALL SELECT a, p, 1 FROM link "
                         "WHERE b = $1::bigint AND p >= $2::double precision" OF_RECORD_ORDER,
                         &q, "reading links", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; out >= 0 && i < PQntuples(r); i++)
        out = fn(ctx, pg_i64(r, i, 0), pg_f64(r, i, 1));
    PQclear(r);
    return out < 0 ? out : DT_OK;
}

int pg_links_each(st_store *s, double min_p, st_link_pair_fn fn, void *ctx, dt_error *err)
{
    pg_params q = {0};
    pg_param_f64(&q, min_p);
    PGresult *r = pg_run(s, "SELECT a, b, p FROM link WHERE p >= $1::double precision "
                         "ORDER BY a, b", &q, "reading links", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; out >= 0 && i < PQntuples(r); i++)
        out = fn(ctx, pg_i64(r, i, 0), pg_i64(r, i, 1), pg_f64(r, i, 2));
    PQclear(r);
    return out < 0 ? out : DT_OK;
}

int pg_links_of_source(st_store *s, int64_t record, double min_p, st_link_src_fn fn, void *ctx,
                       dt_error *err)
{
    pg_params q = {0};
    pg_param_i64(&q, record);
    pg_param_f64(&q, min_p);
    PGresult *r = pg_run(s, "SELECT l.b AS other, l.p, r.source, 0 AS part FROM link l "
                         "JOIN record r ON r.id = l.b WHERE l.a = $1::bigint "
                         "AND l.p >= $2::double precision UNION ALL SELECT l.a, l.p, r.source, 1 "
                         "FROM link l JOIN record r ON r.id = l.a WHERE l.b = $1::bigint "
                         "AND l.p >= $2::double precision" OF_RECORD_ORDER,
                         &q, "reading links", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; out >= 0 && i < PQntuples(r); i++)
        out = fn(ctx, pg_i64(r, i, 0), pg_f64(r, i, 1), pg_i64(r, i, 2));
    PQclear(r);
    return out < 0 ? out : DT_OK;
}

/* In no particular order, as in SQLite (no ORDER BY there either): its
 * one caller counts. */
int pg_link_sources_each(st_store *s, st_link_sources_fn fn, void *ctx, dt_error *err)
{
    PGresult *r = pg_run(s, "SELECT l.p, ra.source, rb.source FROM link l "
                         "JOIN record ra ON ra.id = l.a JOIN record rb ON rb.id = l.b "
                         "WHERE ra.withdrawn = 0 AND rb.withdrawn = 0", NULL, "reading links",
                         err);
    if (!r) return pg_failed(s);
    for (int i = 0; i < PQntuples(r); i++)
        fn(ctx, pg_f64(r, i, 0), pg_i64(r, i, 1), pg_i64(r, i, 2));
    PQclear(r);
    return DT_OK;
}

/* A callback's DT_ENOMEM comes without a message (its allocation failed):
 * given one here, as sqlite.c does for the walks whose rows are text. */
static int walk_end(int out, dt_error *err)
{
    if (out == DT_ENOMEM) return dt_err_set(err, out, "out of memory");
    return out < 0 ? out : DT_OK;
}

static st_band_pair band_pair(const PGresult *r, int i)
{
    return (st_band_pair){pg_i64(r, i, 0), pg_i64(r, i, 1), pg_f64(r, i, 2),
                          pg_text(r, i, 3), pg_text(r, i, 4), pg_text(r, i, 5),
                          pg_text(r, i, 6), pg_text(r, i, 7), pg_text(r, i, 8)};
}

int pg_links_band(st_store *s, double lo, double hi, int by_doubt, st_band_fn fn, void *ctx,
                  dt_error *err)
{
    pg_params q = {0};
    pg_param_f64(&q, lo);
    pg_param_f64(&q, hi);
    pg_param_i64(&q, by_doubt != 0);
    PGresult *r = pg_run(s, "SELECT l.a, l.b, l.p, sa.name, ra.record_id, sb.name, rb.record_id, "
                         "coalesce(ma.entity, ''), coalesce(mb.entity, '') FROM link l "
                         "JOIN record ra ON ra.id = l.a JOIN source sa ON sa.id = ra.source "
                         "JOIN record rb ON rb.id = l.b JOIN source sb ON sb.id = rb.source "
                         "LEFT JOIN membership ma ON ma.record = l.a "
                         "LEFT JOIN membership mb ON mb.record = l.b "
                         "WHERE l.p >= $1::double precision AND l.p < $2::double precision "
                         "AND ra.withdrawn = 0 AND rb.withdrawn = 0 AND NOT EXISTS "
                         "(SELECT 1 FROM decision d WHERE d.a = l.a AND d.b = l.b) "
                         "ORDER BY CASE WHEN $3::bigint <> 0 THEN abs(l.p - 0.5) ELSE 0 END, "
                         "l.a, l.b", &q, "reading links", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; out == 0 && i < PQntuples(r); i++) {
        st_band_pair bp = band_pair(r, i);
        out = fn(ctx, &bp);
    }
    PQclear(r);
    return walk_end(out, err);
}

/* ---- review decisions ----------------------------------------------------- */

int pg_decision_put(st_store *s, int64_t a, int64_t b, int same, const char *by, int64_t time,
                    const char *note, dt_error *err)
{
    assert(a != b);
    pg_params p = {0};
    pg_param_i64(&p, a < b ? a : b);
    pg_param_i64(&p, a < b ? b : a);
    pg_param_i64(&p, same != 0);
    pg_param_text(&p, by);
    pg_param_i64(&p, time);
    pg_param_text(&p, note);
    return pg_do(s, "INSERT INTO decision(a, b, same, \"by\", time, note) VALUES($1::bigint, "
                 "$2::bigint, $3::bigint, $4, $5::bigint, $6) ON CONFLICT(a, b) DO UPDATE SET "
                 "same = excluded.same, \"by\" = excluded.\"by\", time = excluded.time, "
                 "note = excluded.note", &p, "storing a review decision", err);
}

int pg_decisions_of(st_store *s, int64_t record, st_decision_fn fn, void *ctx, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, record);
    PGresult *r = pg_run(s, "SELECT b AS other, same, 0 AS part FROM decision "
                         "WHERE a = $1::bigint UNION ALL SELECT a, same, 1 FROM decision "
                         "WHERE b = $1::bigint" OF_RECORD_ORDER, &p, "reading review decisions",
                         err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; out >= 0 && i < PQntuples(r); i++)
        out = fn(ctx, pg_i64(r, i, 0), (int)pg_i64(r, i, 1));
    PQclear(r);
    return out < 0 ? out : DT_OK;
}

int pg_decisions_each(st_store *s, st_decision_pair_fn fn, void *ctx, dt_error *err)
{
    PGresult *r = pg_run(s, "SELECT a, b, same FROM decision ORDER BY a, b", NULL,
                         "reading review decisions", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; out >= 0 && i < PQntuples(r); i++)
        out = fn(ctx, pg_i64(r, i, 0), pg_i64(r, i, 1), (int)pg_i64(r, i, 2));
    PQclear(r);
    return out < 0 ? out : DT_OK;
}

/* A positive return stops too, with DT_OK (sqlite.c stops there as well,
 * but then reports its unfinished statement as an error). */
int pg_decision_keys_each(st_store *s, st_decision_key_fn fn, void *ctx, dt_error *err)
{
    PGresult *r = pg_run(s, "SELECT sa.name || ':' || ra.record_id, sb.name || ':' || "
                         "rb.record_id, d.same FROM decision d JOIN record ra ON ra.id = d.a "
                         "JOIN source sa ON sa.id = ra.source JOIN record rb ON rb.id = d.b "
                         "JOIN source sb ON sb.id = rb.source WHERE ra.withdrawn = 0 "
                         "AND rb.withdrawn = 0 ORDER BY d.a, d.b", NULL,
                         "reading review decisions", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; out == 0 && i < PQntuples(r); i++)
        out = fn(ctx, pg_text(r, i, 0), pg_text(r, i, 1), (int)pg_i64(r, i, 2));
    PQclear(r);
    return walk_end(out, err);
}

int pg_decisions_drop(st_store *s, int64_t record, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, record);
    return pg_do(s, "DELETE FROM decision WHERE a = $1::bigint OR b = $1::bigint", &p,
                 "dropping review decisions", err);
}

/* ---- entities ------------------------------------------------------------ */

int pg_record_source(st_store *s, int64_t id, int64_t *source, int *is_active, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, id);
    PGresult *r = pg_run(s, "SELECT source, withdrawn FROM record WHERE id = $1::bigint", &p,
                         "reading a record", err);
    if (!r) return pg_failed(s);
    int found = PQntuples(r) == 1;
    if (found) {
        *source = pg_i64(r, 0, 0);
        *is_active = pg_i64(r, 0, 1) == 0;
    }
    PQclear(r);
    return found ? DT_OK : DT_ENOTFOUND; /* no message: store.h */
}

int pg_entity_of(st_store *s, int64_t record, char **entity, dt_error *err)
{
    *entity = NULL;
    pg_params p = {0};
    pg_param_i64(&p, record);
    PGresult *r = pg_run(s, "SELECT entity FROM membership WHERE record = $1::bigint", &p,
                         "reading entities", err);
    if (!r) return pg_failed(s);
    *entity = dt_strdup(PQntuples(r) == 1 ? pg_text(r, 0, 0) : "");
    PQclear(r);
    return *entity ? DT_OK : dt_err_set(err, DT_ENOMEM, "out of memory");
}

int pg_entity_set(st_store *s, int64_t record, const char *entity, dt_error *err)
{
    pg_params p = {0};
    pg_param_i64(&p, record);
    if (!entity)
        return pg_do(s, "DELETE FROM membership WHERE record = $1::bigint", &p,
                     "updating entities", err);
    pg_param_text(&p, entity);
    return pg_do(s, "INSERT INTO membership(record, entity) VALUES($1::bigint, $2) "
                 "ON CONFLICT(record) DO UPDATE SET entity = excluded.entity", &p,
                 "updating entities", err);
}

/* statement_timestamp(), not now(): SQLite's 'now' is the statement's
 * time, and a bulk resolution's transaction can last minutes. */
int pg_entity_event(st_store *s, const char *kind, const char *entity, const char *other,
                    const char *cause, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, kind);
    pg_param_text(&p, entity);
    pg_param_text(&p, other);
    pg_param_text(&p, cause);
    return pg_do(s, "INSERT INTO entity_event(seq, time, kind, entity, other, cause) "
                 "SELECT coalesce(max(seq), 0) + 1, to_char(statement_timestamp() AT TIME ZONE "
                 "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), $1, $2, $3, $4 FROM entity_event",
                 &p, "recording an entity change", err);
}

/* By record: the order SQLite's index on entity (or, with it dropped, its
 * table) gives. */
int pg_entity_members(st_store *s, const char *entity, st_id_fn fn, void *ctx, dt_error *err)
{
    pg_params p = {0};
    pg_param_text(&p, entity);
    PGresult *r = pg_run(s, "SELECT record FROM membership WHERE entity = $1 ORDER BY record",
                         &p, "reading entities", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; out >= 0 && i < PQntuples(r); i++) out = fn(ctx, pg_i64(r, i, 0));
    PQclear(r);
    return out < 0 ? out : DT_OK;
}

/* A withdrawn record loses its entity in the transaction that withdraws
 * it (resolve.c), so a member marked withdrawn, or one without its names,
 * is a damaged row: skipping it would serve a short result as a whole. */
int pg_members_each(st_store *s, st_member_fn fn, void *ctx, dt_error *err)
{
    PGresult *r = pg_run(s, "SELECT s.name, r.record_id, m.entity, r.id, r.withdrawn "
                         "FROM record r JOIN source s ON s.id = r.source "
                         "JOIN membership m ON m.record = r.id "
                         "ORDER BY s.name COLLATE \"C\", r.record_id COLLATE \"C\"", NULL,
                         "reading entities", err);
    if (!r) return pg_failed(s);
    int out = DT_OK;
    for (int i = 0; out >= 0 && i < PQntuples(r); i++) {
        const char *source = pg_text(r, i, 0), *record_id = pg_text(r, i, 1),
                   *entity = pg_text(r, i, 2);
        if (!source || !record_id || !entity || pg_i64(r, i, 4) != 0)
            out = sq_damaged(s, "reading entities", "a withdrawn or nameless record has an "
                             "entity", err);
        else out = fn(ctx, pg_i64(r, i, 3), source, record_id, entity);
    }
    PQclear(r);
    return out < 0 ? out : DT_OK;
}

int pg_members_index_drop(st_store *s, dt_error *err)
{
    return pg_do(s, "DROP INDEX membership_entity", NULL, "writing entities in bulk", err);
}

int pg_members_index_build(st_store *s, dt_error *err)
{
    return pg_do(s, "CREATE INDEX membership_entity ON membership(entity)", NULL,
                 "writing entities in bulk", err);
}

/* By entity, in byte order: SQLite's GROUP BY sorts so. */
int pg_entity_sizes_each(st_store *s, st_size_fn fn, void *ctx, dt_error *err)
{
    PGresult *r = pg_run(s, "SELECT count(*) FROM membership m JOIN record r ON r.id = m.record "
                         "WHERE r.withdrawn = 0 GROUP BY m.entity "
                         "ORDER BY m.entity COLLATE \"C\"", NULL, "reading entities", err);
    if (!r) return pg_failed(s);
    for (int i = 0; i < PQntuples(r); i++) fn(ctx, (uint64_t)pg_i64(r, i, 0));
    PQclear(r);
    return DT_OK;
}

/* Binds n array literals as the next n parameters. */
static int bind_columns(pg_params *p, const util_buf *col, int n, dt_error *err)
{
    for (int c = 0; c < n; c++) {
        if (col[c].is_failed) return dt_err_set(err, DT_ENOMEM, "out of memory");
        pg_param_text(p, col[c].data);
    }
    return DT_OK;
}

int pg_links_put(st_store *s, const st_link_row *v, size_t n, dt_error *err)
{
    enum { A, B, RULE, WEIGHT, P, N_COLS };
    util_buf col[N_COLS] = {{0}};
    int64_t *ints = dt_malloc((n < PG_BATCH ? n : PG_BATCH) * sizeof *ints + 1);
    double *dbls = dt_malloc((n < PG_BATCH ? n : PG_BATCH) * sizeof *dbls + 1);
    int rc = ints && dbls ? DT_OK : dt_err_set(err, DT_ENOMEM, "out of memory");
    for (size_t k = 0; k < n && rc == DT_OK; k += PG_BATCH) {
        size_t m = n - k < PG_BATCH ? n - k : PG_BATCH;
        const st_link_row *r = v + k;
        for (size_t i = 0; i < m; i++) ints[i] = r[i].a < r[i].b ? r[i].a : r[i].b;
        pg_array_i64(&col[A], ints, m);
        for (size_t i = 0; i < m; i++) ints[i] = r[i].a < r[i].b ? r[i].b : r[i].a;
        pg_array_i64(&col[B], ints, m);
        for (size_t i = 0; i < m; i++) ints[i] = r[i].rule;
        pg_array_i64(&col[RULE], ints, m);
        for (size_t i = 0; i < m; i++) dbls[i] = r[i].weight;
        pg_array_f64(&col[WEIGHT], dbls, m);
        for (size_t i = 0; i < m; i++) dbls[i] = r[i].p;
        pg_array_f64(&col[P], dbls, m);
        pg_params p = {0};
        rc = bind_columns(&p, col, N_COLS, err);
        if (rc == DT_OK)
            rc = pg_do(s, "INSERT INTO link(a, b, rule, weight, p) SELECT * FROM "
                       "unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::float8[], "
                       "$5::float8[]) ON CONFLICT(a, b) DO UPDATE SET rule = excluded.rule, "
                       "weight = excluded.weight, p = excluded.p", &p, "storing links", err);
    }
    for (int c = 0; c < N_COLS; c++) util_buf_fini(&col[c]);
    dt_free(ints);
    dt_free(dbls);
    return rc;
}

int pg_entities_set(st_store *s, const int64_t *records, const char *const *entities, size_t n,
                    dt_error *err)
{
    util_buf ids = {0}, names = {0};
    int rc = DT_OK;
    for (size_t k = 0; k < n && rc == DT_OK; k += PG_BATCH) {
        size_t m = n - k < PG_BATCH ? n - k : PG_BATCH;
        pg_array_i64(&ids, records + k, m);
        pg_array_text(&names, entities + k, m);
        pg_params p = {0};
        pg_param_text(&p, ids.data);
        pg_param_text(&p, names.data);
        rc = ids.is_failed || names.is_failed
                 ? dt_err_set(err, DT_ENOMEM, "out of memory")
                 : pg_do(s, "INSERT INTO membership(record, entity) SELECT * FROM "
                         "unnest($1::bigint[], $2::text[]) ON CONFLICT(record) DO UPDATE SET "
                         "entity = excluded.entity", &p, "updating entities", err);
    }
    util_buf_fini(&ids);
    util_buf_fini(&names);
    return rc;
}

/* ---- many records at once (store.h): one statement per PG_BATCH ---------- */

/* Each reads the rows of a batch's records with `= ANY($1)`, ordered by
 * record, and hands each record its rows (found by binary search) in
 * the order given: the planner sees how many records an array holds (an
 * index scan for a few, a scan for many), where a join with the unnested
 * array was planned as a merge join over the whole table. */

/* What each batch's result is handed to: the batch is elements k..k+m-1
 * of the caller's array. */
typedef int (*batch_rows_fn)(void *ctx, const PGresult *r, size_t k, size_t m, dt_error *err);

/* Runs sql once per PG_BATCH elements of v (bigint or, with texts, text),
 * the batch bound as $1 (an array literal) and *min_p, when given, as $2,
 * handing each result to fn. */
static int each_batch(st_store *s, const char *sql, const int64_t *v, const char *const *texts,
                      size_t n, const double *min_p, const char *what, batch_rows_fn fn,
                      void *ctx, dt_error *err)
{
    util_buf a = {0};
    int rc = DT_OK;
    for (size_t k = 0; k < n && rc == DT_OK; k += PG_BATCH) {
        size_t m = n - k < PG_BATCH ? n - k : PG_BATCH;
        if (texts) pg_array_text(&a, texts + k, m);
        else pg_array_i64(&a, v + k, m);
        if (a.is_failed) {
            rc = dt_err_set(err, DT_ENOMEM, "out of memory");
            break;
        }
        pg_params p = {0};
        pg_param_text(&p, a.data);
        if (min_p) pg_param_f64(&p, *min_p);
        PGresult *r = pg_run(s, sql, &p, what, err);
        if (!r) {
            rc = pg_failed(s);
            break;
        }
        rc = fn ? fn(ctx, r, k, m, err) : DT_OK;
        PQclear(r);
    }
    util_buf_fini(&a);
    return rc;
}

/* As pg_rows_of, for a text key in column 0 (ordered COLLATE "C": by
 * bytes, as strcmp compares). */
static void text_rows_of(const PGresult *r, const char *key, int *begin, int *end)
{
    int lo = 0, hi = PQntuples(r);
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(PQgetvalue(r, mid, 0), key) < 0) lo = mid + 1;
        else hi = mid;
    }
    for (*begin = lo; lo < PQntuples(r) && strcmp(PQgetvalue(r, lo, 0), key) == 0;) lo++;
    *end = lo;
}

/* A batch walk's store, records and caller's callback (one of fn's kinds). */
typedef struct batch_walk {
    st_store *s;
    const int64_t *ids;
    const char *const *texts;
    int is_decision; /* pair_rows: fn is a decision's, not a link's */
    union {
        st_record_at_fn record;
        st_link_at_fn link;
        st_decision_at_fn decision;
        st_entity_at_fn entity;
        st_id_at_fn id;
    } fn;
    void *ctx;
} batch_walk;

/* NORM_SELECT's rows by id (column 5): the first id with none is missing. */
static int norm_rows(void *ctx, const PGresult *r, size_t k, size_t m, dt_error *err)
{
    batch_walk *b = ctx;
    for (size_t i = k; i < k + m; i++) {
        int j, end;
        pg_rows_of(r, 5, b->ids[i], &j, &end);
        if (j == end) return dt_err_set(err, DT_ENOTFOUND, "no record %lld", (long long)b->ids[i]);
        DT_TRY(open_norm(b->s, r, j, &b->s->scratch[1], err));
        st_record rec = norm_record(r, j, b->s->scratch[1].data);
        if (!rec.source || !rec.record_id || !rec.entity)
            return sq_damaged(b->s, "reading records", "a record without its id or values", err);
        int out = b->fn.record(b->ctx, i, &rec);
        if (out < 0) return out;
    }
    return DT_OK;
}

int pg_records_norm(st_store *s, const int64_t *ids, size_t n, st_record_at_fn fn, void *ctx,
                    dt_error *err)
{
    batch_walk b = {.s = s, .ids = ids, .fn.record = fn, .ctx = ctx};
    return each_batch(s, NORM_SELECT "WHERE r.id = ANY($1::bigint[]) ORDER BY r.id", ids, NULL, n,
                      NULL, "reading records", norm_rows, &b, err);
}

/* Rows (record, other, p or same, part) ordered by record, then as
 * OF_RECORD_ORDER orders one record's: each record's run in turn. */
static int pair_rows(void *ctx, const PGresult *r, size_t k, size_t m, dt_error *err)
{
    (void)err;
    batch_walk *b = ctx;
    for (size_t i = k; i < k + m; i++) {
        int j, end;
        pg_rows_of(r, 0, b->ids[i], &j, &end);
        for (; j < end; j++) {
            int out = b->is_decision
                          ? b->fn.decision(b->ctx, i, pg_i64(r, j, 1), (int)pg_i64(r, j, 2))
                          : b->fn.link(b->ctx, i, pg_i64(r, j, 1), pg_f64(r, j, 2));
            if (out < 0) return out;
        }
    }
    return DT_OK;
}

int pg_links_of_records(st_store *s, const int64_t *records, size_t n, double min_p,
                        st_link_at_fn fn, void *ctx, dt_error *err)
{
    batch_walk b = {.s = s, .ids = records, .fn.link = fn, .ctx = ctx};
    return each_batch(s, "SELECT a AS r, b AS other, p, 0 AS part FROM link "
                      "WHERE a = ANY($1::bigint[]) AND p >= $2::double precision UNION ALL "
                      "SELECT b, a, p, 1 FROM link WHERE b = ANY($1::bigint[]) "
                      "AND p >= $2::double precision ORDER BY r, part, other",
                      records, NULL, n, &min_p, "reading links", pair_rows, &b, err);
}

int pg_decisions_of_records(st_store *s, const int64_t *records, size_t n, st_decision_at_fn fn,
                            void *ctx, dt_error *err)
{
    batch_walk b = {.s = s, .ids = records, .is_decision = 1, .fn.decision = fn, .ctx = ctx};
    return each_batch(s, "SELECT a AS r, b AS other, same, 0 AS part FROM decision "
                      "WHERE a = ANY($1::bigint[]) UNION ALL SELECT b, a, same, 1 FROM decision "
                      "WHERE b = ANY($1::bigint[]) ORDER BY r, part, other",
                      records, NULL, n, NULL, "reading review decisions", pair_rows, &b, err);
}

/* A record with no row has no entity (""). */
static int entity_rows(void *ctx, const PGresult *r, size_t k, size_t m, dt_error *err)
{
    (void)err;
    batch_walk *b = ctx;
    for (size_t i = k; i < k + m; i++) {
        int j, end;
        pg_rows_of(r, 0, b->ids[i], &j, &end);
        int out = b->fn.entity(b->ctx, i, j < end ? pg_text(r, j, 1) : "");
        if (out < 0) return out;
    }
    return DT_OK;
}

int pg_entities_of(st_store *s, const int64_t *records, size_t n, st_entity_at_fn fn, void *ctx,
                   dt_error *err)
{
    batch_walk b = {.s = s, .ids = records, .fn.entity = fn, .ctx = ctx};
    return each_batch(s, "SELECT record, entity FROM membership WHERE record = ANY($1::bigint[]) "
                      "ORDER BY record", records, NULL, n, NULL, "reading entities", entity_rows,
                      &b, err);
}

static int member_rows(void *ctx, const PGresult *r, size_t k, size_t m, dt_error *err)
{
    (void)err;
    batch_walk *b = ctx;
    for (size_t i = k; i < k + m; i++) {
        int j, end;
        text_rows_of(r, b->texts[i], &j, &end);
        for (; j < end; j++) {
            int out = b->fn.id(b->ctx, i, pg_i64(r, j, 1));
            if (out < 0) return out;
        }
    }
    return DT_OK;
}

/* Each entity's records by record, as pg_entity_members gives them. */
int pg_entities_members(st_store *s, const char *const *entities, size_t n, st_id_at_fn fn,
                        void *ctx, dt_error *err)
{
    batch_walk b = {.s = s, .texts = entities, .fn.id = fn, .ctx = ctx};
    return each_batch(s, "SELECT entity, record FROM membership WHERE entity = ANY($1::text[]) "
                      "ORDER BY entity COLLATE \"C\", record", NULL, entities, n, NULL,
                      "reading entities", member_rows, &b, err);
}

int pg_links_drop_records(st_store *s, const int64_t *records, size_t n, dt_error *err)
{
    return each_batch(s, "DELETE FROM link WHERE a = ANY($1::bigint[]) OR b = ANY($1::bigint[])",
                      records, NULL, n, NULL, "dropping links", NULL, NULL, err);
}

/* Numbered on from the highest seq in the one statement that inserts them
 * (invariant 3), in the rows' order. */
int pg_entity_events(st_store *s, const st_event_row *v, size_t n, dt_error *err)
{
    enum { KIND, ENTITY, OTHER, CAUSE, N_COLS };
    util_buf col[N_COLS] = {{0}};
    const char **texts = dt_malloc((n < PG_BATCH ? n : PG_BATCH) * sizeof *texts + 1);
    int rc = texts ? DT_OK : dt_err_set(err, DT_ENOMEM, "out of memory");
    for (size_t k = 0; k < n && rc == DT_OK; k += PG_BATCH) {
        size_t m = n - k < PG_BATCH ? n - k : PG_BATCH;
        for (int c = 0; c < N_COLS; c++) {
            for (size_t i = 0; i < m; i++) {
                const st_event_row *e = &v[k + i];
                texts[i] = c == KIND ? e->kind : c == ENTITY ? e->entity : c == OTHER ? e->other
                                                                                      : e->cause;
            }
            pg_array_text(&col[c], texts, m);
        }
        pg_params p = {0};
        rc = bind_columns(&p, col, N_COLS, err);
        if (rc == DT_OK)
            rc = pg_do(s, "INSERT INTO entity_event(seq, time, kind, entity, other, cause) "
                       "SELECT h.seq + t.i, to_char(statement_timestamp() AT TIME ZONE 'UTC', "
                       "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), t.k, t.e, t.o, t.c FROM "
                       "unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY "
                       "AS t(k, e, o, c, i), (SELECT coalesce(max(seq), 0) AS seq "
                       "FROM entity_event) h", &p, "recording entity changes", err);
    }
    for (int c = 0; c < N_COLS; c++) util_buf_fini(&col[c]);
    dt_free(texts);
    return rc;
}
