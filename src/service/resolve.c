/*
 * resolve.c — incremental resolution: records new to the store (or
 * changed, or withdrawn) go through the batch stages against the store's
 * blocking index, with the store's frozen model, and the entities they
 * touch are clustered again.
 *
 * Why incremental equals batch (with the same frozen model): a pair is
 * compared when the later of its two records arrives, through the same
 * keys, values and weights as in batch; and the batch clusterer decides
 * inside one connected component of the link graph from that component's
 * links alone (strongest first, ties by canonical record order). So
 * clustering again the whole component a change touches, its records in
 * canonical order, gives the component batch would give.
 *
 * The block cap: a block whose pairs (counted as batch counts them, by the
 * mode from per-source counts) exceed max_block_pairs is skipped with
 * batch's warning, and a pair only a skipped block shares is not compared.
 * The store's block is every stored record with the key, the batch's
 * included: it equals batch's when the block is over the cap by the time
 * its records are resolved. Pairs compared while it was under the cap keep
 * their links until those records are resolved again (train).
 *
 * In bulk (svc_resolve_bulk: a large ingest, train) the same holds with
 * the whole store in one table: the pairs a batch would score are the
 * candidate pairs that hold one of its records (the block cap counts the
 * same stored records), the links of other pairs stay as stored, and
 * clustering every component, untouched ones included, gives each the
 * entities it has (their records keep their ids, so nothing is written).
 *
 * Invariants:
 *   1. Runs inside the caller's transaction: records, keys, links and
 *      entities of a batch commit together or not at all.
 *   2. An entity keeps its id while most of its records stay together;
 *      merges and splits are recorded in entity_event with their cause.
 *   3. A batch reads and writes the store a batch at a time, not a record
 *      at a time (store.h's batch forms: one statement per PG_BATCH rows
 *      on PostgreSQL): the candidates' records, the links scored, the
 *      seeds' mates, the names tried first, the events; the component
 *      walk a level at a time, replayed record by record so its records
 *      join in the order a call per record gave. What is read is the same
 *      as a call per record would read, in the same order, so the
 *      entities and events are too.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "service/service_int.h"

/* A table of store records: table record i is store record sids.ids[i],
 * and entity[i] its entity when it was loaded ("" when none). */
typedef struct loaded {
    pl_ctx e;
    util_ids sids;
    char **entity;
    size_t cap_entity;
    util_ids *skipped;     /* per rule: keys whose block is over the cap; NULL: none */
} loaded;

/* nicks: a table to borrow, or NULL to load one (slow: a store passes its own). */
static int loaded_init(loaded *l, const dt_config *cfg, const norm_nicknames *nicks,
                       dt_error *err)
{
    memset(l, 0, sizeof *l);
    DT_TRY(pl_init(&l->e, cfg, err));
    /* a block's key is its records' values, across sources: whoever reads
     * the log (an admin training, a steward ingesting) need not see them */
    l->e.hides_values = 1;
    pl_borrow_nicknames(&l->e, nicks);
    return pl_load_nicknames(&l->e);
}

static void loaded_fini(loaded *l)
{
    for (uint32_t i = 0; l->entity && i < l->sids.n; i++) dt_free(l->entity[i]);
    dt_free(l->entity);
    for (size_t r = 0; l->skipped && r < l->e.cfg->n_rules; r++) util_ids_fini(&l->skipped[r]);
    dt_free(l->skipped);
    pl_fini(&l->e);
    util_ids_fini(&l->sids);
}

static long index_of(const loaded *l, int64_t sid)
{
    uint32_t i = util_ids_find(&l->sids, sid);
    return i == UINT32_MAX ? -1 : (long)i;
}

/* Pairs the table's newest record with its store id and entity. */
static int remember(loaded *l, int64_t sid, const char *entity)
{
    char *copy = dt_strdup(entity);
    uint32_t i;
    int is_new;
    int rc = copy ? util_grow((void **)&l->entity, &l->cap_entity, (size_t)l->sids.n + 1,
                              sizeof *l->entity)
                  : DT_ENOMEM;
    if (rc == DT_OK) rc = util_ids_put(&l->sids, sid, &i, &is_new);
    if (rc == DT_OK && (!is_new || i + 1 != l->e.table.n_recs))
        rc = dt_err_set(l->e.err, DT_EINTERNAL, "store record %lld was loaded twice",
                        (long long)sid);
    if (rc == DT_OK) l->entity[i] = copy;
    else dt_free(copy);
    return rc;
}

typedef struct norm_row {
    pl_ctx *e;
    size_t i_rec;
} norm_row;

static int set_norm_value(void *ctx, const char *key, size_t key_len, const char *v, size_t n)
{
    (void)key_len;
    norm_row *r = ctx;
    /* a null is no value, as it was written; a field the config no longer has is skipped */
    int f = v ? cfg_field_index(r->e->cfg, key) : -1;
    return f < 0 ? 0 : cmp_table_set(&r->e->table, r->i_rec, (size_t)f, v, n);
}

/* Adds a stored record's normalized values to the table, counting it
 * for its source (the comparable pairs behind λ count them). */
static int table_add_stored(pl_ctx *e, const st_record *r)
{
    int src = cfg_source_index(e->cfg, r->source);
    norm_row row = {e, 0};
    int rc = src < 0 ? 1
                     : cmp_table_add(&e->table, (uint16_t)src, r->record_id,
                                     strlen(r->record_id), &row.i_rec);
    util_buf key = {0}, value = {0};
    if (rc == DT_OK) {
        e->recs_per_source[src]++;
        rc = util_json_flat_each(r->norm, &key, &value, set_norm_value, &row);
        if (key.is_failed || value.is_failed) rc = DT_ENOMEM; /* the reader says 1 for it */
    }
    util_buf_fini(&key);
    util_buf_fini(&value);
    if (rc == 1)
        return dt_err_set(e->err, DT_EINTERNAL, "stored record %s:%s is unreadable", r->source,
                          r->record_id);
    return rc == DT_ENOMEM ? dt_err_set(e->err, rc, "out of memory") : rc;
}

/* Adds record `row` of another table (the ingest's, or an earlier stage's)
 * with the same values, so records already in memory are not read back. */
static int table_add_copy(pl_ctx *e, const cmp_table *t, uint32_t row)
{
    size_t i_rec;
    uint32_t rid = t->rid[row];
    int rc = cmp_table_add(&e->table, t->src[row], t->ids.strs[rid], t->ids.lens[rid], &i_rec);
    e->recs_per_source[t->src[row]]++;
    for (size_t f = 0; rc == DT_OK && f < e->cfg->n_fields; f++) {
        uint32_t v = t->cols[f].vals[row];
        if (v != CMP_NULL)
            rc = cmp_table_set(&e->table, i_rec, f, t->cols[f].dict.strs[v], t->cols[f].dict.lens[v]);
    }
    return rc == DT_ENOMEM ? dt_err_set(e->err, rc, "out of memory") : rc;
}

static int add_stored_record(loaded *l, const st_record *r, int64_t sid)
{
    DT_TRY(table_add_stored(&l->e, r));
    int rc = remember(l, sid, r->entity);
    return rc < 0 && l->e.err->code == DT_OK ? dt_err_set(l->e.err, rc, "out of memory") : rc;
}

static int add_read_record(void *ctx, size_t i, const st_record *r)
{
    (void)i;
    return add_stored_record(ctx, r, r->id);
}

/* Adds the stored records of ids that the table lacks, once each, in the
 * order given: read from the store in one call (st_records_norm). */
static int load_records(loaded *l, st_store *st, const int64_t *ids, size_t n)
{
    util_ids want = {0};
    int rc = DT_OK;
    for (size_t k = 0; k < n && rc == DT_OK; k++)
        if (index_of(l, ids[k]) < 0) rc = util_ids_add(&want, ids[k]);
    if (rc < 0) rc = dt_err_set(l->e.err, rc, "out of memory");
    if (rc == DT_OK && want.n) rc = st_records_norm(st, want.ids, want.n, add_read_record, l, l->e.err);
    util_ids_fini(&want);
    return rc;
}

/* Adds record `row` of `from` as store record sid, with its entity. */
static int copy_record(loaded *l, const loaded *from, uint32_t row)
{
    DT_TRY(table_add_copy(&l->e, &from->e.table, row));
    int rc = remember(l, from->sids.ids[row], from->entity[row]);
    return rc < 0 && l->e.err->code == DT_OK ? dt_err_set(l->e.err, rc, "out of memory") : rc;
}

/* ---- candidates ------------------------------------------------------ */

/* A pair to score: a new record's table index, and the other's store id. */
typedef struct cand {
    uint32_t a;
    int64_t b;
} cand;

typedef struct cand_list {
    cand *v;
    size_t n, cap;
} cand_list;

/* Matches from the blocking index, each packed in one sort key: batch
 * record i in the high 32 bits, the stored record's id in the low 32
 * (the index holds record ids below 2^30), so a radix sort orders them
 * by (i, id). */
typedef struct match_list {
    util_kv *v;
    size_t n, cap;
} match_list;

static uint32_t match_i(const util_kv *m)
{
    return (uint32_t)(m->key >> 32);
}

static int64_t match_b(const util_kv *m)
{
    return (int64_t)(m->key & 0xffffffffu);
}

static int add_match(void *ctx, size_t i, int64_t b)
{
    match_list *m = ctx;
    if (b < 0 || b > (int64_t)UINT32_MAX || i > UINT32_MAX) return DT_EINTERNAL; /* see st_keys_set */
    DT_TRY(util_grow((void **)&m->v, &m->cap, m->n + 1, sizeof *m->v));
    m->v[m->n++] = (util_kv){((uint64_t)i << 32) | (uint64_t)b, 0};
    return DT_OK;
}

/* Sorts matches and drops repeats (one record matched under several rules). */
static int unique_matches(match_list *m)
{
    if (!m->n) return DT_OK;
    DT_TRY(util_sort_kv(m->v, m->n));
    size_t k = 1;
    for (size_t j = 1; j < m->n; j++)
        if (m->v[j].key != m->v[k - 1].key) m->v[k++] = m->v[j];
    m->n = k;
    return DT_OK;
}

/* ---- the block cap ----------------------------------------------------- */

typedef struct block_cap {
    loaded *l;
    st_store *st;
    util_ids *warned;      /* hashes of (rule, key) said already; NULL: say none */
    uint64_t codes;        /* the sources whose records count (a purpose's): bits of codes */
} block_cap;

static int skip_key(loaded *l, size_t rule, uint64_t key)
{
    if (!l->skipped && !(l->skipped = dt_calloc(l->e.cfg->n_rules, sizeof *l->skipped)))
        return DT_ENOMEM;
    return util_ids_add(&l->skipped[rule], (int64_t)key);
}

static int is_skipped_key(const loaded *l, size_t rule, uint64_t key)
{
    return l->skipped && util_ids_find(&l->skipped[rule], (int64_t)key) != UINT32_MAX;
}

static int add_same_pairs(void *ctx, uint64_t n)
{
    *(uint64_t *)ctx += n * (n - 1) / 2;
    return DT_OK;
}

/* 1 when the block of batch record i's key under rule holds more pairs
 * than the cap (as block_pair_count counts them); it is then skipped, and
 * said once. */
static int too_big(void *ctx, size_t rule, size_t i, uint64_t n_recs)
{
    block_cap *c = ctx;
    pl_ctx *e = &c->l->e;
    uint64_t key = e->keys[rule][i], n_pairs = n_recs * (n_recs - 1) / 2, same = 0;
    if (e->cfg->mode != CFG_MODE_LINK_AND_DEDUPE) {
        DT_TRY(st_block_sources(c->st, rule, key, c->codes, add_same_pairs, &same, e->err));
        n_pairs = e->cfg->mode == CFG_MODE_DEDUPE ? same : n_pairs - same;
    }
    if (n_pairs <= e->cfg->max_block_pairs) return 0;
    uint32_t ignored;
    int is_new = 0;
    int rc = skip_key(c->l, rule, key);
    if (rc == DT_OK && c->warned)
        rc = util_ids_put(c->warned, (int64_t)(util_mix64(key) ^ rule), &ignored, &is_new);
    if (rc < 0) return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    if (is_new) pl_skipped_block(e, (int)rule, (uint32_t)i, n_recs, n_pairs);
    return 1;
}

/* The fewest records whose pairs may exceed the cap: smaller blocks are
 * scanned without counting. */
static uint64_t cap_min_records(uint64_t cap)
{
    uint64_t n = (uint64_t)sqrt(2.0 * (double)cap);
    while (n > 2 && (n - 1) * (n - 2) / 2 > cap) n--;
    while (n * (n - 1) / 2 <= cap) n++;
    return n;
}

static st_block_cap block_cap_of(block_cap *c)
{
    return (st_block_cap){cap_min_records(c->l->e.cfg->max_block_pairs), too_big, c};
}

/* Stores the keys of the table's records 0..n-1 (the new ones), then finds
 * for each the stored records that may share a key with it, in blocks
 * under the cap: every pair once (two new records pair from the one
 * loaded first). */
static int find_candidates(loaded *l, st_store *st, size_t n, util_ids *warned, cand_list *out,
                           util_ids *others)
{
    pl_ctx *e = &l->e;
    const uint64_t *const *keys = (const uint64_t *const *)e->keys;
    match_list m = {0};
    DT_TRY(st_keys_set(st, l->sids.ids, e->table.src, n, keys, e->cfg->n_rules, e->err));
    block_cap c = {l, st, warned, ~UINT64_C(0)};
    st_block_cap cap = block_cap_of(&c);
    int rc = st_keys_match(st, n, keys, e->cfg->n_rules, ~UINT64_C(0), &cap, add_match, &m,
                           e->err);
    if (rc == DT_OK) rc = unique_matches(&m);
    for (size_t k = 0; k < m.n && rc == DT_OK; k++) {
        uint32_t i = match_i(&m.v[k]);
        int64_t b = match_b(&m.v[k]);
        long j = index_of(l, b);
        if (b == l->sids.ids[i] || (j >= 0 && (size_t)j < n && (size_t)j < i)) continue;
        rc = util_grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v);
        if (rc == DT_OK) out->v[out->n++] = (cand){i, b};
        if (rc == DT_OK && j < 0) rc = util_ids_add(others, b);
    }
    dt_free(m.v);
    return rc == DT_ENOMEM ? dt_err_set(e->err, rc, "out of memory") : rc;
}

/* The first rule whose keys agree on two table records, in a block under
 * the cap, or -1. */
static int first_rule(const loaded *l, uint32_t a, uint32_t b)
{
    const pl_ctx *e = &l->e;
    for (size_t r = 0; r < e->cfg->n_rules; r++) {
        uint64_t k = e->keys[r][a];
        if (k && k == e->keys[r][b] && !is_skipped_key(l, r, k)) return (int)r;
    }
    return -1;
}

/* Scores the candidate pairs with the frozen model and stores those at or
 * over the review threshold. Exact agreement is the only TF-adjusted
 * level, and there both values are one, so either side's value serves. */
static int score_candidates(loaded *l, st_store *st, const fs_model *m, const cand_list *cl)
{
    pl_ctx *e = &l->e;
    const dt_config *cfg = e->cfg;
    uint8_t g[FS_MAX_COMPARISONS];
    st_link_row *rows = NULL;
    size_t n_rows = 0, cap = 0;
    int rc = DT_OK;
    for (size_t k = 0; k < cl->n && rc == DT_OK; k++) {
        uint32_t a = cl->v[k].a, b = (uint32_t)index_of(l, cl->v[k].b);
        int rule = first_rule(l, a, b);
        if (rule < 0 || !block_mode_allows(cfg->mode, e->table.src[a], e->table.src[b])) continue;
        cmp_vector(&e->table, cfg, a, b, g);
        double w = fs_pair_weight(m, cfg, &e->table, g, a, b), p = fs_probability(w);
        if (p < cfg->review_threshold) continue;
        rc = util_grow((void **)&rows, &cap, n_rows + 1, sizeof *rows);
        if (rc == DT_OK) rows[n_rows++] = (st_link_row){l->sids.ids[a], l->sids.ids[b], rule, w, p};
    }
    /* one call: each pair is a candidate once (find_candidates), so no
     * two rows name one pair */
    if (rc == DT_OK) rc = st_links_put(st, rows, n_rows, e->err);
    dt_free(rows);
    return rc == DT_ENOMEM && e->err->code == DT_OK ? dt_err_set(e->err, rc, "out of memory") : rc;
}

/* ---- clustering the touched components -------------------------------- */

/* A link of the component, by store ids. */
typedef struct edge {
    int64_t a, b;
    double p;
} edge;

typedef struct bfs {
    util_ids *seen;
    int64_t from;
    edge *v;
    size_t n, cap;
    edge *apart;           /* reviewers' cannot-links met, once each (p: 0), and */
    size_t n_apart, cap_apart; /* must-links (p: 1) */
} bfs;

/* Each link is met from both ends; it is kept once, from its smaller id. */
static int visit(void *ctx, int64_t other, double p)
{
    bfs *b = ctx;
    DT_TRY(util_ids_add(b->seen, other));
    if (b->from > other) return DT_OK;
    DT_TRY(util_grow((void **)&b->v, &b->cap, b->n + 1, sizeof *b->v));
    b->v[b->n++] = (edge){b->from, other, p};
    return DT_OK;
}

/* A reviewer's decision: "same" is a link of probability 1, so it joins
 * first (clu_run, invariant 1); "not the same" a pair kept apart. */
static int visit_decision(void *ctx, int64_t other, int same)
{
    bfs *b = ctx;
    if (same) DT_TRY(visit(ctx, other, 1.0));
    if (b->from > other) return DT_OK;
    DT_TRY(util_grow((void **)&b->apart, &b->cap_apart, b->n_apart + 1, sizeof *b->apart));
    b->apart[b->n_apart++] = (edge){b->from, other, same ? 1.0 : 0.0};
    return DT_OK;
}

/* The links and decisions of one level of the walk (the records the
 * queue held when it began), as the store gives them: i is the record's
 * place in the level. */
typedef struct level_row {
    size_t i;
    int64_t other;
    double p;
    int same;
} level_row;

typedef struct level {
    level_row *links, *decisions;
    size_t n_links, cap_links, n_decisions, cap_decisions;
} level;

static int level_link(void *ctx, size_t i, int64_t other, double p)
{
    level *v = ctx;
    DT_TRY(util_grow((void **)&v->links, &v->cap_links, v->n_links + 1, sizeof *v->links));
    v->links[v->n_links++] = (level_row){i, other, p, 0};
    return DT_OK;
}

static int level_decision(void *ctx, size_t i, int64_t other, int same)
{
    level *v = ctx;
    DT_TRY(util_grow((void **)&v->decisions, &v->cap_decisions, v->n_decisions + 1,
                     sizeof *v->decisions));
    v->decisions[v->n_decisions++] = (level_row){i, other, 0.0, same};
    return DT_OK;
}

/* Every record reachable from the seeds through links at or over the link
 * threshold and reviewers' "same" decisions (the seeds included), those
 * links, and the "not the same" decisions among them. The queue is read a
 * level at a time (two store calls, not two per record) and replayed
 * record by record, links then decisions, so records join the set in the
 * order a call per record would add them. */
static int component(st_store *st, const dt_config *cfg, util_ids *set, bfs *b, dt_error *err)
{
    b->seen = set;
    level v = {0};
    int rc = DT_OK;
    for (size_t k = 0; k < set->n && rc == DT_OK;) { /* set grows as we go: a queue */
        size_t end = set->n, x = 0, y = 0;
        v.n_links = v.n_decisions = 0;
        rc = st_links_of_records(st, set->ids + k, end - k, cfg->link_threshold, level_link, &v,
                                 err);
        if (rc == DT_OK)
            rc = st_decisions_of_records(st, set->ids + k, end - k, level_decision, &v, err);
        for (size_t j = k; j < end && rc == DT_OK; j++) {
            b->from = set->ids[j];
            for (; rc == DT_OK && x < v.n_links && v.links[x].i == j - k; x++)
                rc = visit(b, v.links[x].other, v.links[x].p);
            for (; rc == DT_OK && y < v.n_decisions && v.decisions[y].i == j - k; y++)
                rc = visit_decision(b, v.decisions[y].other, v.decisions[y].same);
        }
        k = end;
    }
    dt_free(v.links);
    dt_free(v.decisions);
    return rc;
}

/* A record of the component, for putting the component in canonical
 * order (pl_canonical_key, then the id text) so its records keep batch's
 * relative order. It is in the batch's table already, or read here. */
typedef struct member {
    uint64_t key;
    const char *rid;
    long in_batch;         /* its index in the batch's table, or -1 */
    int64_t sid;
    st_record rec;         /* when in_batch < 0 */
} member;

static int cmp_member(const void *x, const void *y)
{
    const member *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return strcmp(a->rid, b->rid);
}

static void members_free(member *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++)
        if (m[i].in_batch < 0) st_record_free(&m[i].rec);
    dt_free(m);
}

/* Keeps a record read for member at[i] (copies: st_records_norm lends). */
typedef struct member_read {
    member *m;
    const size_t *at;
} member_read;

static int keep_member(void *ctx, size_t i, const st_record *r)
{
    member_read *w = ctx;
    st_record *c = &w->m[w->at[i]].rec;
    *c = (st_record){.source = dt_strdup(r->source), .record_id = dt_strdup(r->record_id),
                     .raw = dt_strdup(""), .norm = dt_strdup(r->norm),
                     .entity = dt_strdup(r->entity), .version = r->version,
                     .is_withdrawn = r->is_withdrawn, .id = r->id};
    if (c->source && c->record_id && c->raw && c->norm && c->entity) return DT_OK;
    st_record_free(c);
    return DT_ENOMEM;
}

/* Each record of the set, in canonical order; those the batch's table
 * lacks are read from the store, all in one call. */
static int canonical_members(st_store *st, const loaded *batch, const util_ids *set, member **out,
                             dt_error *err)
{
    const cmp_table *t = &batch->e.table;
    member *m = *out = dt_calloc(set->n ? set->n : 1, sizeof *m);
    int64_t *ids = dt_malloc((set->n ? set->n : 1) * sizeof *ids);
    size_t *at = dt_malloc((set->n ? set->n : 1) * sizeof *at), n_read = 0;
    int rc = m && ids && at ? DT_OK : DT_ENOMEM;
    for (size_t i = 0; i < set->n && rc == DT_OK; i++) {
        m[i].sid = set->ids[i];
        m[i].in_batch = index_of(batch, m[i].sid);
        if (m[i].in_batch < 0) {
            ids[n_read] = m[i].sid;
            at[n_read++] = i;
            continue;
        }
        uint32_t row = (uint32_t)m[i].in_batch;
        m[i].rid = cmp_record_id(t, row);
        m[i].key = pl_canonical_key(t->src[row], m[i].rid, t->ids.lens[t->rid[row]]);
    }
    member_read w = {m, at};
    if (rc == DT_OK && n_read) rc = st_records_norm(st, ids, n_read, keep_member, &w, err);
    for (size_t k = 0; k < n_read && rc == DT_OK; k++) {
        member *x = &m[at[k]];
        int src = cfg_source_index(batch->e.cfg, x->rec.source);
        x->rid = x->rec.record_id;
        x->key = pl_canonical_key((uint16_t)(src < 0 ? 0 : src), x->rid, strlen(x->rid));
    }
    dt_free(ids);
    dt_free(at);
    if (rc == DT_ENOMEM && err->code == DT_OK) return dt_err_set(err, rc, "out of memory");
    DT_TRY(rc);
    qsort(m, set->n, sizeof *m, cmp_member);
    return DT_OK;
}

/* The component's records in canonical order, as a table. */
static int load_component(loaded *l, st_store *st, const loaded *batch, const util_ids *set,
                          dt_error *err)
{
    member *m = NULL;
    int rc = canonical_members(st, batch, set, &m, err);
    for (size_t i = 0; i < set->n && rc == DT_OK; i++)
        rc = m[i].in_batch >= 0 ? copy_record(l, batch, (uint32_t)m[i].in_batch)
                                : add_stored_record(l, &m[i].rec, m[i].sid);
    members_free(m, set->n);
    return rc;
}

/* Codes the component's values and binds the model's term frequencies
 * and m-by-value to them: a context's cannot-link weighs the pair with
 * them (pl_records_conflict), and a model bound to another table (the
 * batch's) reads another table's value numbers, so the same two records
 * were kept apart, or not, by whatever values shared their numbers. */
static int bind_component(loaded *l)
{
    if (cmp_table_finish(&l->e.table) < 0 ||
        (l->e.model && fs_tf_bind((fs_model *)l->e.model, l->e.cfg, &l->e.table) < 0))
        return DT_ENOMEM;
    return DT_OK;
}

/* The component's links between table indices, smaller index first. */
static int table_links(const loaded *l, const bfs *b, clu_link **out)
{
    *out = dt_malloc((b->n ? b->n : 1) * sizeof **out);
    if (!*out) return DT_ENOMEM;
    for (size_t k = 0; k < b->n; k++) {
        uint32_t i = (uint32_t)index_of(l, b->v[k].a), j = (uint32_t)index_of(l, b->v[k].b);
        (*out)[k] = (clu_link){i < j ? i : j, i < j ? j : i, b->v[k].p};
    }
    return DT_OK;
}

/* The walk's decisions, by table index (pl_decided). */
static int decided_pairs(const loaded *l, const bfs *b, pl_decided *d)
{
    for (size_t k = 0; k < b->n_apart; k++) {
        long i = index_of(l, b->apart[k].a), j = index_of(l, b->apart[k].b);
        if (i < 0 || j < 0) continue; /* "not the same" as a record out of reach: moot */
        DT_TRY(pl_decided_add(d, (uint32_t)i, (uint32_t)j, b->apart[k].p > 0));
    }
    return DT_OK;
}

/* ---- entity ids -------------------------------------------------------- */

/* A cluster of the component and the id it gets. Old ids are interned:
 * an old id's number indexes the per-id arrays below. */
typedef struct cluster_name {
    uint32_t root;         /* the cluster's first record (canonical) */
    long old;              /* the old id most of its records held (interned), or -1 */
    size_t votes;          /* how many held it */
    char id[24];           /* the id it gets */
} cluster_name;

typedef struct naming {
    loaded *l;
    st_store *st;
    const clu_result *res;
    size_t n;              /* records */
    uint32_t *old;         /* per record: interned old id, UINT32_MAX if none */
    util_intern olds;      /* old id strings */
    uint32_t *order;       /* records sorted by (cluster, old id) */
    cluster_name *all;
    size_t n_clusters;
    size_t *cluster_of;    /* per root record: its index in all */
    util_intern chosen;    /* ids given in this round */
    uint32_t *holder;      /* whole store loaded (bulk): per old id, the one cluster root
                              holding it, or HELD_BY_MANY; NULL: ask the store */
    uint8_t *first_used;   /* asking the store: per cluster that had no id, whether the
                              name fresh_id tries first is held outside it (read at once) */
} naming;

enum { HELD_BY_MANY = UINT32_MAX };

/* Records by (cluster, old id, record): one radix sort, so naming a
 * whole store (svc_resolve_bulk) costs O(n). A record with no old id
 * (UINT32_MAX) comes last in its cluster. */
static int order_by_cluster_old(naming *nm)
{
    util_kv *kv = dt_malloc((nm->n ? nm->n : 1) * sizeof *kv);
    if (!kv) return DT_ENOMEM;
    for (size_t i = 0; i < nm->n; i++)
        kv[i] = (util_kv){(uint64_t)nm->res->entity[i] << 32 | nm->old[i], (uint32_t)i};
    int rc = util_sort_kv(kv, nm->n);
    for (size_t i = 0; i < nm->n && rc == DT_OK; i++) nm->order[i] = kv[i].val;
    dt_free(kv);
    return rc;
}

/* Each cluster's most held old id (ties: the smaller string), from runs
 * of the sorted order. */
static void tally_votes(naming *nm)
{
    for (size_t i = 0; i < nm->n;) {
        uint32_t r = nm->order[i], root = nm->res->entity[r], old = nm->old[r];
        size_t j = i;
        while (j < nm->n && nm->res->entity[nm->order[j]] == root && nm->old[nm->order[j]] == old) j++;
        cluster_name *c = &nm->all[nm->cluster_of[root]];
        size_t votes = j - i;
        if (old != UINT32_MAX &&
            (votes > c->votes ||
             (votes == c->votes && strcmp(nm->olds.strs[old], nm->olds.strs[c->old]) < 0))) {
            c->old = old;
            c->votes = votes;
        }
        i = j;
    }
}

/* Per old id, the cluster with the best claim on it: most votes, then the
 * smaller root. best[old] indexes all, or SIZE_MAX. */
static int best_claims(const naming *nm, size_t **best)
{
    size_t n_old = nm->olds.n_strs;
    *best = dt_malloc((n_old ? n_old : 1) * sizeof **best);
    if (!*best) return DT_ENOMEM;
    for (size_t k = 0; k < n_old; k++) (*best)[k] = SIZE_MAX;
    for (size_t k = 0; k < nm->n_clusters; k++) {
        const cluster_name *c = &nm->all[k];
        if (c->old < 0) continue;
        size_t *b = &(*best)[c->old];
        if (*b == SIZE_MAX || c->votes > nm->all[*b].votes ||
            (c->votes == nm->all[*b].votes && c->root < nm->all[*b].root))
            *b = k;
    }
    return DT_OK;
}

typedef struct outside_check {
    const loaded *l;
    const clu_result *res;
    uint32_t root;
    int is_used;
} outside_check;

static int held_outside(void *ctx, int64_t rec)
{
    outside_check *c = ctx;
    long i = index_of(c->l, rec);
    if (i < 0 || c->res->entity[i] != c->root) c->is_used = 1;
    return DT_OK;
}

typedef struct first_names {
    naming *nm;
    const size_t *cluster; /* per name asked: its cluster's index in nm->all */
} first_names;

static int held_outside_first(void *ctx, size_t i, int64_t rec)
{
    first_names *f = ctx;
    naming *nm = f->nm;
    long j = index_of(nm->l, rec);
    if (j < 0 || nm->res->entity[j] != nm->all[f->cluster[i]].root) nm->first_used[f->cluster[i]] = 1;
    return DT_OK;
}

/* Asking the store (no holder table): for every cluster still without an
 * id, whether the name fresh_id tries first (its first record's, as batch
 * names it) is held by a record outside it, in one call. The
 * memberships are not written until every cluster is named, so the
 * answer holds however the clusters before it are named. */
static int check_first_names(naming *nm)
{
    size_t n = 0;
    for (size_t k = 0; k < nm->n_clusters; k++) n += !nm->all[k].id[0];
    if (nm->holder || !n) return DT_OK;
    nm->first_used = dt_calloc(nm->n_clusters, 1);
    char (*names)[24] = dt_malloc(n * sizeof *names);
    const char **ptrs = dt_malloc(n * sizeof *ptrs);
    size_t *cluster = dt_malloc(n * sizeof *cluster);
    int rc = nm->first_used && names && ptrs && cluster ? DT_OK : DT_ENOMEM;
    for (size_t k = 0, j = 0; k < nm->n_clusters && rc == DT_OK; k++) {
        if (nm->all[k].id[0]) continue;
        pl_entity_id(&nm->l->e, nm->all[k].root, names[j]);
        ptrs[j] = names[j];
        cluster[j++] = k;
    }
    first_names f = {nm, cluster};
    if (rc == DT_OK) rc = st_entities_members(nm->st, ptrs, n, held_outside_first, &f, nm->l->e.err);
    dt_free(names);
    dt_free(ptrs);
    dt_free(cluster);
    return rc;
}

/* A fresh id for cluster k: named after its first record, as batch names
 * entities, unless that name is taken (an entity that once had this record
 * first may keep it after the record left): then salted until free. */
static int fresh_id(naming *nm, size_t k)
{
    cluster_name *c = &nm->all[k];
    char base[24];
    pl_entity_id(&nm->l->e, c->root, base);
    snprintf(c->id, sizeof c->id, "%s", base);
    for (uint64_t salt = 1;; salt++) {
        outside_check oc = {nm->l, nm->res, c->root, 0};
        oc.is_used = util_intern_find(&nm->chosen, c->id, strlen(c->id)) != UINT32_MAX;
        if (!oc.is_used && nm->holder) {
            uint32_t o = util_intern_find(&nm->olds, c->id, strlen(c->id));
            oc.is_used = o != UINT32_MAX && nm->holder[o] != c->root;
        } else if (!oc.is_used && salt == 1 && nm->first_used) {
            oc.is_used = nm->first_used[k]; /* c->id is the first name */
        } else if (!oc.is_used) {
            DT_TRY(st_entity_members(nm->st, c->id, held_outside, &oc, nm->l->e.err));
        }
        if (!oc.is_used) {
            uint32_t ignored;
            return util_intern_put(&nm->chosen, c->id, strlen(c->id), &ignored);
        }
        snprintf(c->id, sizeof c->id, "E%016llx",
                 (unsigned long long)util_hash64(base, strlen(base), salt));
    }
}

/* Records what became of each old id of each cluster: absorbed ("merge")
 * or left behind by the cluster that kept it ("split"); "new" for a
 * cluster whose records had no entity. All in one call, in this order. */
static int record_events(naming *nm, const char *cause)
{
    st_event_row *ev = NULL;
    size_t n_ev = 0, cap = 0;
    int rc = DT_OK;
    for (size_t i = 0; i < nm->n && rc == DT_OK;) {
        uint32_t r = nm->order[i], root = nm->res->entity[r];
        const cluster_name *c = &nm->all[nm->cluster_of[root]];
        size_t j = i;
        int any_old = 0;
        while (j < nm->n && nm->res->entity[nm->order[j]] == root && rc == DT_OK) {
            uint32_t old = nm->old[nm->order[j]];
            size_t k = j;
            while (k < nm->n && nm->res->entity[nm->order[k]] == root && nm->old[nm->order[k]] == old) k++;
            if (old != UINT32_MAX) {
                any_old = 1;
                const char *o = nm->olds.strs[old];
                int kept = util_intern_find(&nm->chosen, o, strlen(o)) != UINT32_MAX;
                if (strcmp(o, c->id) != 0 &&
                    (rc = util_grow((void **)&ev, &cap, n_ev + 1, sizeof *ev)) == DT_OK)
                    ev[n_ev++] = (st_event_row){kept ? "split" : "merge", c->id, o, cause};
            }
            j = k;
        }
        if (!any_old && rc == DT_OK && (rc = util_grow((void **)&ev, &cap, n_ev + 1, sizeof *ev)) == DT_OK)
            ev[n_ev++] = (st_event_row){"new", c->id, "", cause};
        i = j;
    }
    if (rc == DT_OK) rc = st_entity_events(nm->st, ev, n_ev, nm->l->e.err);
    dt_free(ev);
    return rc;
}

/* Interns each record's entity before this round. */
static int read_old_ids(naming *nm)
{
    for (size_t i = 0; i < nm->n; i++) {
        const char *e = nm->l->entity[i];
        nm->old[i] = UINT32_MAX;
        if (e[0]) DT_TRY(util_intern_put(&nm->olds, e, strlen(e), &nm->old[i]));
    }
    return DT_OK;
}

/* With the whole store loaded: which cluster holds each old id (one, or
 * HELD_BY_MANY), so a fresh id is checked in memory, not by a query per
 * cluster. */
static int find_holders(naming *nm)
{
    size_t n_old = nm->olds.n_strs;
    nm->holder = dt_malloc((n_old ? n_old : 1) * sizeof *nm->holder);
    if (!nm->holder) return DT_ENOMEM;
    for (size_t k = 0; k < n_old; k++) nm->holder[k] = HELD_BY_MANY - 1;
    for (size_t i = 0; i < nm->n; i++) {
        uint32_t o = nm->old[i], root = nm->res->entity[i];
        if (o == UINT32_MAX) continue;
        if (nm->holder[o] == HELD_BY_MANY - 1) nm->holder[o] = root;
        else if (nm->holder[o] != root) nm->holder[o] = HELD_BY_MANY;
    }
    return DT_OK;
}

/* Writes the memberships that changed, by store id: neighbouring rows. */
static int write_memberships(naming *nm)
{
    loaded *l = nm->l;
    util_kv *v = dt_malloc((nm->n ? nm->n : 1) * sizeof *v);
    if (!v) return DT_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < nm->n; i++) {
        const char *id = nm->all[nm->cluster_of[nm->res->entity[i]]].id;
        if (nm->old[i] != UINT32_MAX && !strcmp(nm->olds.strs[nm->old[i]], id)) continue; /* as it was */
        v[k++] = (util_kv){(uint64_t)l->sids.ids[i], (uint32_t)i};
    }
    int rc = util_sort_kv(v, k);
    /* many beside the records loaded (a bulk load): the index on entity
     * is built again after, in one sorted pass */
    int is_many = nm->holder && k * 4 >= nm->n;
    if (rc == DT_OK && is_many) rc = st_members_index_drop(nm->st, l->e.err);
    int64_t *recs = rc == DT_OK ? dt_malloc((k ? k : 1) * sizeof *recs) : NULL;
    const char **ids = recs ? dt_malloc((k ? k : 1) * sizeof *ids) : NULL;
    if (rc == DT_OK && !ids) rc = DT_ENOMEM;
    for (size_t j = 0; j < k && rc == DT_OK; j++) {
        recs[j] = (int64_t)v[j].key;
        ids[j] = nm->all[nm->cluster_of[nm->res->entity[v[j].val]]].id;
    }
    if (rc == DT_OK) rc = st_entities_set(nm->st, recs, ids, k, l->e.err);
    if (rc == DT_OK && is_many) rc = st_members_index_build(nm->st, l->e.err);
    dt_free(recs);
    dt_free(ids);
    dt_free(v);
    return rc;
}

/* Gives each cluster of the component its id and writes the memberships:
 * a cluster keeps the old id most of its records held unless another
 * cluster holds more of that entity; otherwise it gets a fresh id.
 * is_whole: l holds every active record of the store. */
static int name_clusters(loaded *l, st_store *st, const clu_result *res, const char *cause,
                         int is_whole)
{
    naming nm = {.l = l, .st = st, .res = res, .n = l->e.table.n_recs};
    size_t n = nm.n ? nm.n : 1;
    util_intern_init(&nm.olds);
    util_intern_init(&nm.chosen);
    nm.old = dt_malloc(n * sizeof *nm.old);
    nm.order = dt_malloc(n * sizeof *nm.order);
    nm.cluster_of = dt_malloc(n * sizeof *nm.cluster_of);
    nm.all = dt_calloc(res->n_entities ? res->n_entities : 1, sizeof *nm.all);
    size_t *best = NULL;
    int rc = nm.old && nm.order && nm.cluster_of && nm.all ? read_old_ids(&nm) : DT_ENOMEM;
    for (size_t i = 0; i < nm.n && rc == DT_OK; i++) {
        if (res->entity[i] != i) continue;
        nm.cluster_of[i] = nm.n_clusters;
        nm.all[nm.n_clusters++] = (cluster_name){.root = (uint32_t)i, .old = -1};
    }
    if (rc == DT_OK) rc = order_by_cluster_old(&nm);
    if (rc == DT_OK) {
        tally_votes(&nm);
        rc = best_claims(&nm, &best);
    }
    for (size_t k = 0; k < nm.n_clusters && rc == DT_OK; k++) {
        cluster_name *c = &nm.all[k];
        if (c->old < 0 || best[c->old] != k) continue;
        const char *o = nm.olds.strs[c->old];
        uint32_t ignored;
        snprintf(c->id, sizeof c->id, "%s", o);
        rc = util_intern_put(&nm.chosen, o, strlen(o), &ignored);
    }
    if (rc == DT_OK && is_whole) rc = find_holders(&nm);
    if (rc == DT_OK) rc = check_first_names(&nm);
    for (size_t k = 0; k < nm.n_clusters && rc == DT_OK; k++)
        if (!nm.all[k].id[0]) rc = fresh_id(&nm, k);
    if (rc == DT_OK) rc = record_events(&nm, cause);
    if (rc == DT_OK) rc = write_memberships(&nm);
    if (rc == DT_ENOMEM && l->e.err->code == DT_OK) dt_err_set(l->e.err, rc, "out of memory");
    dt_free(nm.holder);
    dt_free(nm.first_used);
    dt_free(best);
    dt_free(nm.old);
    dt_free(nm.order);
    dt_free(nm.cluster_of);
    dt_free(nm.all);
    util_intern_fini(&nm.olds);
    util_intern_fini(&nm.chosen);
    return rc;
}

/* Clusters the component of the seeds again and names its entities; the
 * batch's table supplies the records it holds. */
static int recluster(st_store *st, const dt_config *cfg, const loaded *batch, util_ids *seeds,
                     const char *cause, dt_error *err)
{
    bfs b = {0};
    loaded l;
    memset(&l, 0, sizeof l);
    int rc = component(st, cfg, seeds, &b, err);
    if (rc == DT_OK) rc = loaded_init(&l, cfg, batch->e.nicks, err);
    l.e.model = batch->e.model; /* its context's cannot-links, as batch has them */
    if (rc == DT_OK) rc = load_component(&l, st, batch, seeds, err);
    if (rc == DT_OK) rc = bind_component(&l);
    clu_link *links = NULL;
    if (rc == DT_OK) rc = table_links(&l, &b, &links);
    clu_result res;
    memset(&res, 0, sizeof res);
    pl_decided decided;
    pl_decided_init(&decided, &l.e);
    if (rc == DT_OK) rc = decided_pairs(&l, &b, &decided);
    if (rc == DT_OK) {
        clu_options opt = {.src = l.e.table.src, .one_to_one = cfg->one_to_one,
                           .weak_link = cfg->weak_link,
                           .weak_join_size = (uint32_t)cfg->weak_join_size,
                           .conflicts = pl_decided_any(&decided) ? pl_decided_conflict : NULL,
                           .ctx = &decided};
        rc = clu_run(l.e.table.n_recs, links, b.n, &opt, &res);
    }
    pl_decided_fini(&decided);
    if (rc == DT_OK) rc = name_clusters(&l, st, &res, cause, 0);
    if (rc == DT_ENOMEM && err->code == DT_OK) dt_err_set(err, rc, "out of memory clustering");
    clu_result_fini(&res);
    dt_free(links);
    dt_free(b.v);
    dt_free(b.apart);
    if (l.e.cfg) loaded_fini(&l);
    return rc;
}

/* ---- resolving a batch --------------------------------------------------- */

/* Entities of records as st_entities_of gives them: entity[i] is
 * dt_malloc'd ("" when none). */
static int keep_entity(void *ctx, size_t i, const char *entity)
{
    char **v = ctx;
    return (v[i] = dt_strdup(entity)) ? DT_OK : DT_ENOMEM;
}

/* The members of distinct entities, each entity's in a run: entity u's
 * are ids[at[u]..at[u + 1]). */
typedef struct mate_runs {
    int64_t *ids;
    size_t *owner, n, cap_ids, cap_owner;
} mate_runs;

static int add_mate(void *ctx, size_t u, int64_t id)
{
    mate_runs *w = ctx;
    DT_TRY(util_grow((void **)&w->ids, &w->cap_ids, w->n + 1, sizeof *w->ids));
    DT_TRY(util_grow((void **)&w->owner, &w->cap_owner, w->n + 1, sizeof *w->owner));
    w->ids[w->n] = id;
    w->owner[w->n++] = u;
    return DT_OK;
}

/* Adds the present entity-mates of n records (before anything changes),
 * record by record, and after its mates the record itself when self[i]
 * (NULL: never): the seeds a call per record would give, in its order,
 * from two store calls (the records' entities, then their members). */
static int add_entity_mates(st_store *st, const int64_t *recs, size_t n, const uint8_t *self,
                            util_ids *seeds, dt_error *err)
{
    if (!n) return DT_OK;
    char **entity = dt_calloc(n, sizeof *entity);
    uint32_t *u = dt_malloc(n * sizeof *u), *start = NULL;
    util_intern names;
    util_intern_init(&names);
    mate_runs w = {0};
    int rc = entity && u ? st_entities_of(st, recs, n, keep_entity, entity, err) : DT_ENOMEM;
    for (size_t i = 0; i < n && rc == DT_OK; i++) {
        u[i] = UINT32_MAX;
        if (entity[i][0]) rc = util_intern_put(&names, entity[i], strlen(entity[i]), &u[i]);
    }
    if (rc == DT_OK && names.n_strs)
        rc = st_entities_members(st, (const char *const *)names.strs, names.n_strs, add_mate, &w,
                                 err);
    if (rc == DT_OK && !(start = dt_calloc((size_t)names.n_strs + 1, sizeof *start))) rc = DT_ENOMEM;
    for (size_t k = 0; k < w.n && rc == DT_OK; k++) start[w.owner[k] + 1] = (uint32_t)k + 1;
    for (uint32_t x = 1; rc == DT_OK && x <= names.n_strs; x++)
        if (start[x] < start[x - 1]) start[x] = start[x - 1]; /* an entity with no member */
    for (size_t i = 0; i < n && rc == DT_OK; i++) {
        for (uint32_t k = u[i] == UINT32_MAX ? 0 : start[u[i]];
             u[i] != UINT32_MAX && k < start[u[i] + 1] && rc == DT_OK; k++)
            rc = util_ids_add(seeds, w.ids[k]);
        if (rc == DT_OK && self && self[i]) rc = util_ids_add(seeds, recs[i]);
    }
    for (size_t i = 0; entity && i < n; i++) dt_free(entity[i]);
    dt_free(entity);
    dt_free(u);
    dt_free(start);
    dt_free(w.ids);
    dt_free(w.owner);
    util_intern_fini(&names);
    return rc == DT_ENOMEM && err->code == DT_OK ? dt_err_set(err, rc, "out of memory") : rc;
}

static int is_new_record(const svc_batch *bt, size_t i)
{
    return bt->is_new && bt->is_new[i];
}

/* The batch's records that are not new (those that may have links, an
 * entity): *out dt_malloc'd. */
static int stored_before(const svc_batch *bt, int64_t **out, size_t *n)
{
    *n = 0;
    if (!(*out = dt_malloc((bt->n ? bt->n : 1) * sizeof **out))) return DT_ENOMEM;
    for (size_t i = 0; i < bt->n; i++)
        if (!is_new_record(bt, i)) (*out)[(*n)++] = bt->recs[i];
    return DT_OK;
}

/* Puts the batch's records in the table as records 0..n-1: from the
 * caller's values when it has them (the entities of those not new read
 * in one call), else from the store. */
static int load_batch(loaded *l, st_store *st, const svc_batch *bt)
{
    if (!bt->values) return load_records(l, st, bt->recs, bt->n);
    int64_t *old = NULL;
    size_t n_old = 0;
    char **entity = NULL;
    int rc = stored_before(bt, &old, &n_old);
    if (rc == DT_OK && !(entity = dt_calloc(n_old ? n_old : 1, sizeof *entity))) rc = DT_ENOMEM;
    if (rc == DT_OK) rc = st_entities_of(st, old, n_old, keep_entity, entity, l->e.err);
    for (size_t i = 0, k = 0; i < bt->n && rc == DT_OK; i++) {
        const char *e = is_new_record(bt, i) ? "" : entity[k++];
        rc = table_add_copy(&l->e, bt->values, bt->rows[i]);
        if (rc == DT_OK) rc = remember(l, bt->recs[i], e);
    }
    for (size_t k = 0; entity && k < n_old; k++) dt_free(entity[k]);
    dt_free(entity);
    dt_free(old);
    if (rc < 0 && l->e.err->code == DT_OK) dt_err_set(l->e.err, rc, "out of memory");
    return rc;
}

/* Scores the batch's records (new or changed) against the store; l holds
 * them and their candidates after. */
static int score_new(loaded *l, st_store *st, fs_model *m, const svc_batch *bt)
{
    const dt_config *cfg = l->e.cfg;
    util_ids others = {0};
    cand_list cl = {0};
    int64_t *old = NULL;
    size_t n_old = 0;
    int rc = stored_before(bt, &old, &n_old);
    rc = rc == DT_OK ? st_links_drop_records(st, old, n_old, l->e.err)
                     : dt_err_set(l->e.err, rc, "out of memory");
    dt_free(old);
    if (rc == DT_OK) rc = load_batch(l, st, bt);
    if (rc == DT_OK) rc = pl_keys(&l->e);
    if (rc == DT_OK) rc = find_candidates(l, st, bt->n, bt->warned, &cl, &others);
    if (rc == DT_OK) rc = load_records(l, st, others.ids, others.n);
    if (rc == DT_OK) {
        pl_free_keys(&l->e);
        rc = pl_keys(&l->e);
    }
    if (rc == DT_OK && (cmp_table_finish(&l->e.table) < 0 || fs_tf_bind(m, cfg, &l->e.table) < 0))
        rc = dt_err_set(l->e.err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK) rc = score_candidates(l, st, m, &cl);
    dt_free(cl.v);
    util_ids_fini(&others);
    return rc;
}

/* The seeds without the withdrawn records: a withdrawn record is no
 * longer anyone's mate. */
static int drop_gone(const util_ids *seeds, const svc_batch *bt, util_ids *kept)
{
    util_ids gone = {0};
    int rc = DT_OK;
    for (size_t i = 0; i < bt->n_gone && rc == DT_OK; i++) rc = util_ids_add(&gone, bt->gone[i]);
    for (uint32_t k = 0; k < seeds->n && rc == DT_OK; k++)
        if (util_ids_find(&gone, seeds->ids[k]) == UINT32_MAX) rc = util_ids_add(kept, seeds->ids[k]);
    util_ids_fini(&gone);
    return rc;
}

/* The entity-mates of the changed, the withdrawn and the `also` records
 * (with those themselves, after their mates), in that order. */
static int seed_mates(st_store *st, const svc_batch *bt, util_ids *seeds, dt_error *err)
{
    size_t n = 0, m = bt->n + bt->n_gone + bt->n_also;
    int64_t *who = dt_malloc((m ? m : 1) * sizeof *who);
    uint8_t *self = dt_calloc(m ? m : 1, 1);
    int rc = who && self ? DT_OK : dt_err_set(err, DT_ENOMEM, "out of memory");
    for (size_t i = 0; i < bt->n && rc == DT_OK; i++)
        if (!is_new_record(bt, i)) who[n++] = bt->recs[i];
    for (size_t i = 0; i < bt->n_gone && rc == DT_OK; i++) who[n++] = bt->gone[i];
    for (size_t i = 0; i < bt->n_also && rc == DT_OK; i++) {
        self[n] = 1;
        who[n++] = bt->also[i];
    }
    if (rc == DT_OK) rc = add_entity_mates(st, who, n, self, seeds, err);
    dt_free(who);
    dt_free(self);
    return rc;
}

int svc_resolve(st_store *st, const dt_config *cfg, fs_model *m, const svc_batch *bt,
                dt_error *err)
{
    util_ids seeds = {0}, kept = {0};
    loaded l;
    int rc = loaded_init(&l, cfg, bt->nicks, err);
    l.e.on_log = bt->on_log;
    l.e.cb_ctx = bt->cb_ctx;
    l.e.model = m;
    if (rc == DT_OK) rc = seed_mates(st, bt, &seeds, err);
    if (rc == DT_OK) rc = st_links_drop_records(st, bt->gone, bt->n_gone, err);
    for (size_t i = 0; i < bt->n_gone && rc == DT_OK; i++) {
        rc = st_decisions_drop(st, bt->gone[i], err);
        if (rc == DT_OK) rc = st_keys_drop(st, bt->gone[i], err);
        if (rc == DT_OK) rc = st_entity_set(st, bt->gone[i], NULL, err);
    }
    if (rc == DT_OK && bt->n) rc = score_new(&l, st, m, bt);
    for (size_t i = 0; i < bt->n && rc == DT_OK; i++) rc = util_ids_add(&seeds, bt->recs[i]);
    if (rc == DT_OK) rc = drop_gone(&seeds, bt, &kept);
    if (rc == DT_OK && kept.n) rc = recluster(st, cfg, &l, &kept, bt->cause, err);
    if (rc == DT_ENOMEM && err->code == DT_OK) dt_err_set(err, rc, "out of memory resolving");
    util_ids_fini(&kept);
    util_ids_fini(&seeds);
    if (l.e.cfg) loaded_fini(&l);
    return rc;
}

/* ---- resolving in bulk ----------------------------------------------------- */

enum { FRESH_NEW = 1, FRESH_CHANGED = 2 };

/* What a bulk resolution holds: every active record of the store in one
 * table (canonical order), which of them are fresh (scored again), and
 * the links the fresh ones make. */
typedef struct bulk {
    loaded l;
    st_store *st;
    fs_model *m;
    const svc_batch *in;
    uint8_t *fresh;            /* per table record: 0, or FRESH_NEW (stored in this
                                  transaction: no keys, links or entity yet) or FRESH_CHANGED */
    size_t n_fresh;
    uint32_t *at;              /* by store id: its table record, or UINT32_MAX (a
                                  dense index_of: millions of links are looked up) */
    int64_t n_at;
    block_pair *pairs;         /* candidate pairs with a fresh record */
    double *weights;           /* per pair */
    size_t n_pairs;
    fs_scorer *scorer;
} bulk;

static int add_bulk_record(void *ctx, const st_record *r)
{
    bulk *b = ctx;
    return add_stored_record(&b->l, r, r->id);
}

/* The table in canonical order, store ids and entities beside it. */
static int bulk_order(bulk *b)
{
    loaded *l = &b->l;
    uint32_t *perm = NULL;
    DT_TRY(pl_finish_load_perm(&l->e, &perm));
    util_ids sids = {0};
    char **entity = dt_malloc((l->sids.n ? l->sids.n : 1) * sizeof *entity);
    int rc = entity ? DT_OK : DT_ENOMEM;
    for (uint32_t i = 0; i < l->sids.n && rc == DT_OK; i++) {
        rc = util_ids_add(&sids, l->sids.ids[perm[i]]);
        entity[i] = l->entity[perm[i]];
    }
    dt_free(perm);
    if (rc < 0) {
        dt_free(entity);
        util_ids_fini(&sids);
        return dt_err_set(l->e.err, DT_ENOMEM, "out of memory");
    }
    util_ids_fini(&l->sids);
    dt_free(l->entity);
    l->sids = sids;
    l->entity = entity;
    l->cap_entity = sids.n;
    return DT_OK;
}

/* The table record of store record sid, or -1 when it holds none. */
static long bulk_index(const bulk *b, int64_t sid)
{
    return sid >= 0 && sid < b->n_at && b->at[sid] != UINT32_MAX ? (long)b->at[sid] : -1;
}

static int index_stored(bulk *b)
{
    const util_ids *sids = &b->l.sids;
    for (uint32_t i = 0; i < sids->n; i++)
        if (sids->ids[i] >= b->n_at) b->n_at = sids->ids[i] + 1;
    if (!(b->at = dt_malloc((size_t)(b->n_at ? b->n_at : 1) * sizeof *b->at))) return DT_ENOMEM;
    for (int64_t k = 0; k < b->n_at; k++) b->at[k] = UINT32_MAX;
    for (uint32_t i = 0; i < sids->n; i++) b->at[sids->ids[i]] = i;
    return DT_OK;
}

/* Marks the fresh records; all of them when the caller names none. */
static int mark_fresh(bulk *b)
{
    const loaded *l = &b->l;
    size_t n = l->e.table.n_recs;
    DT_TRY(index_stored(b));
    if (!(b->fresh = dt_calloc(n ? n : 1, 1))) return DT_ENOMEM;
    for (size_t i = 0; i < n && !b->in->recs; i++) b->fresh[i] = FRESH_CHANGED;
    for (size_t k = 0; b->in->recs && k < b->in->n; k++) {
        long i = bulk_index(b, b->in->recs[k]);
        if (i >= 0) b->fresh[i] = b->in->is_new && b->in->is_new[k] ? FRESH_NEW : FRESH_CHANGED;
    }
    for (size_t i = 0; i < n; i++) b->n_fresh += b->fresh[i] != 0;
    return DT_OK;
}

/* The candidate pairs that hold a fresh record: a pair of two others
 * keeps the link it has. */
static int fresh_pairs(bulk *b)
{
    block_output *blk = &b->l.e.blk;
    size_t k = 0;
    for (size_t i = 0; i < blk->n_pairs; i++)
        if (b->fresh[blk->pairs[i].a] || b->fresh[blk->pairs[i].b]) {
            blk->pairs[k] = blk->pairs[i];
            blk->rules[k++] = blk->rules[i];
        }
    b->pairs = blk->pairs;
    b->n_pairs = k;
    b->weights = dt_malloc((k ? k : 1) * sizeof *b->weights);
    return b->weights ? DT_OK : DT_ENOMEM;
}

static void bulk_score_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    bulk *b = ctx;
    const pl_ctx *e = &b->l.e;
    uint8_t g[FS_MAX_COMPARISONS];
    for (size_t i = begin; i < end; i++) {
        cmp_vector(&e->table, e->cfg, b->pairs[i].a, b->pairs[i].b, g);
        b->weights[i] = fs_scorer_weight(b->scorer, g, b->pairs[i].a, b->pairs[i].b);
    }
}

/* Compares and scores the fresh pairs with the frozen model. */
static int bulk_score(bulk *b)
{
    pl_ctx *e = &b->l.e;
    if (fs_tf_bind(b->m, e->cfg, &e->table) < 0 ||
        fs_scorer_new(b->m, e->cfg, &e->table, &b->scorer) < 0)
        return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    return util_parallel_for(e->n_threads, b->n_pairs, 4096, bulk_score_range, b) < 0
               ? dt_err_set(e->err, DT_ENOMEM, "out of memory")
               : DT_OK;
}

/* The fresh records lose the links they had (all links, when all are
 * fresh); the new ones are written by (a, b) store ids, the index on b
 * dropped meanwhile when they are many beside the store. */
static int bulk_write_links(bulk *b)
{
    pl_ctx *e = &b->l.e;
    const int64_t *sid = b->l.sids.ids;
    if (!b->in->recs) DT_TRY(st_links_clear(b->st, e->err));
    for (size_t k = 0; b->in->recs && k < b->in->n; k++)
        if (!b->in->is_new || !b->in->is_new[k]) DT_TRY(st_links_drop(b->st, b->in->recs[k], e->err));
    int is_many = b->n_fresh * 4 >= e->table.n_recs;
    if (is_many) DT_TRY(st_links_index_drop(b->st, e->err));
    util_kv *v = dt_malloc((b->n_pairs ? b->n_pairs : 1) * sizeof *v);
    if (!v) return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < b->n_pairs; i++) {
        if (fs_probability(b->weights[i]) < e->cfg->review_threshold) continue;
        int64_t x = sid[b->pairs[i].a], y = sid[b->pairs[i].b];
        /* ids are below 2^30 (st_keys_set), so (a, b) packs in one key */
        v[n++] = (util_kv){(uint64_t)(x < y ? x : y) << 32 | (uint64_t)(x < y ? y : x),
                           (uint32_t)i};
    }
    int rc = util_sort_kv(v, n);
    st_link_row *rows = rc == DT_OK ? dt_malloc((n ? n : 1) * sizeof *rows) : NULL;
    if (rc == DT_OK && !rows) rc = DT_ENOMEM;
    for (size_t k = 0; k < n && rc == DT_OK; k++) {
        size_t i = v[k].val;
        rows[k] = (st_link_row){(int64_t)(v[k].key >> 32), (int64_t)(v[k].key & 0xffffffffu),
                                b->l.e.blk.rules[i], b->weights[i], fs_probability(b->weights[i])};
    }
    if (rc == DT_OK) rc = st_links_put(b->st, rows, n, e->err);
    dt_free(rows);
    dt_free(v);
    if (rc == DT_OK && is_many) rc = st_links_index_build(b->st, e->err);
    return rc == DT_ENOMEM ? dt_err_set(e->err, rc, "out of memory") : rc;
}

/* The blocking keys of the fresh records that are `which` (a FRESH_
 * value), by store id; those of every record when all are fresh, the
 * index written anew when it holds none (a store ingested before it had
 * a model). */
static int write_keys_of(bulk *b, uint8_t which)
{
    pl_ctx *e = &b->l.e;
    size_t n_rules = e->cfg->n_rules, n = 0;
    for (size_t i = 0; i < e->table.n_recs; i++) n += b->fresh[i] == which;
    if (!n) return DT_OK;
    int64_t *recs = dt_malloc(n * sizeof *recs);
    uint16_t *codes = dt_malloc(n * sizeof *codes);
    uint64_t **keys = dt_calloc(n_rules ? n_rules : 1, sizeof *keys);
    util_kv *order = dt_malloc(n * sizeof *order);
    int rc = recs && codes && keys && order ? DT_OK : DT_ENOMEM;
    for (size_t r = 0; r < n_rules && rc == DT_OK; r++)
        if (!(keys[r] = dt_malloc(n * sizeof *keys[r]))) rc = DT_ENOMEM;
    for (size_t i = 0, k = 0; i < e->table.n_recs && rc == DT_OK; i++)
        if (b->fresh[i] == which) order[k++] = (util_kv){(uint64_t)b->l.sids.ids[i], (uint32_t)i};
    if (rc == DT_OK) rc = util_sort_kv(order, n); /* record_keys in order */
    for (size_t k = 0; k < n && rc == DT_OK; k++) {
        uint32_t i = order[k].val;
        recs[k] = b->l.sids.ids[i];
        codes[k] = e->table.src[i];
        for (size_t r = 0; r < n_rules; r++) keys[r][k] = e->keys[r][i];
    }
    const uint64_t *const *kk = (const uint64_t *const *)keys;
    if (rc == DT_OK)
        rc = !b->in->recs          ? st_keys_reset(b->st, recs, codes, n, kk, n_rules, e->err)
             : which == FRESH_NEW ? st_keys_add(b->st, recs, codes, n, kk, n_rules, e->err)
                                  : st_keys_set(b->st, recs, codes, n, kk, n_rules, e->err);
    for (size_t r = 0; keys && r < n_rules; r++) dt_free(keys[r]);
    dt_free(keys);
    dt_free(order);
    dt_free(recs);
    dt_free(codes);
    return rc == DT_ENOMEM ? dt_err_set(e->err, rc, "out of memory") : rc;
}

static int bulk_write_keys(bulk *b)
{
    DT_TRY(write_keys_of(b, FRESH_CHANGED));
    return write_keys_of(b, FRESH_NEW);
}

/* Every link at or over the link threshold and every decision, as the
 * store now holds them, by table index. */
typedef struct graph {
    const bulk *b;
    clu_link *v;
    size_t n, cap;
    pl_decided *decided;
} graph;

static int graph_add(graph *g, int64_t a, int64_t b, double p)
{
    long i = bulk_index(g->b, a), j = bulk_index(g->b, b);
    if (i < 0 || j < 0) return DT_OK; /* a withdrawn record's: it has none (st_links_drop) */
    DT_TRY(util_grow((void **)&g->v, &g->cap, g->n + 1, sizeof *g->v));
    g->v[g->n++] = (clu_link){(uint32_t)(i < j ? i : j), (uint32_t)(i < j ? j : i), p, NULL};
    return DT_OK;
}

static int graph_link(void *ctx, int64_t a, int64_t b, double p)
{
    return graph_add(ctx, a, b, p);
}

/* A reviewer's decision: "same" is a link of probability 1 too, as the
 * component walk has it (visit_decision). */
static int graph_decision(void *ctx, int64_t a, int64_t b, int same)
{
    graph *g = ctx;
    long i = bulk_index(g->b, a), j = bulk_index(g->b, b);
    if (i < 0 || j < 0) return DT_OK;
    if (same) DT_TRY(graph_add(g, a, b, 1.0));
    return pl_decided_add(g->decided, (uint32_t)i, (uint32_t)j, same);
}

/* Clusters the whole store from its links and decisions, and names the
 * entities as the incremental path names them. */
static int bulk_cluster(bulk *b)
{
    loaded *l = &b->l;
    const dt_config *cfg = l->e.cfg;
    pl_decided decided;
    pl_decided_init(&decided, &l->e);
    graph g = {.b = b, .decided = &decided};
    int rc = st_links_each(b->st, cfg->link_threshold, graph_link, &g, l->e.err);
    if (rc == DT_OK) rc = st_decisions_each(b->st, graph_decision, &g, l->e.err);
    clu_result res;
    memset(&res, 0, sizeof res);
    if (rc == DT_OK) {
        clu_options opt = {.src = l->e.table.src, .one_to_one = cfg->one_to_one,
                           .weak_link = cfg->weak_link,
                           .weak_join_size = (uint32_t)cfg->weak_join_size,
                           .conflicts = pl_decided_any(&decided) ? pl_decided_conflict : NULL,
                           .ctx = &decided};
        rc = clu_run(l->e.table.n_recs, g.v, g.n, &opt, &res);
    }
    pl_decided_fini(&decided);
    dt_free(g.v);
    if (rc == DT_OK) rc = name_clusters(l, b->st, &res, b->in->cause, 1);
    if (rc == DT_OK)
        pl_log(&l->e, DT_LOG_INFO, "resolve: %zu records in %zu entities, %zu of them scored "
               "again (%zu candidate pairs)", (size_t)l->e.table.n_recs, (size_t)res.n_entities,
               b->n_fresh, b->n_pairs);
    clu_result_fini(&res);
    return rc;
}

/* Says how long a stage of a bulk resolution took, on the log. */
static void bulk_stage(bulk *b, const char *what, double *t0)
{
    double now = util_now();
    pl_log(&b->l.e, DT_LOG_INFO, "resolve: %s (%.1f s)", what, now - *t0);
    *t0 = now;
}

static int bulk_run(bulk *b)
{
    pl_ctx *e = &b->l.e;
    double t0 = util_now();
    DT_TRY(st_records_norm_each(b->st, add_bulk_record, b, e->err));
    DT_TRY(bulk_order(b));
    DT_TRY(mark_fresh(b) == DT_OK ? DT_OK : dt_err_set(e->err, DT_ENOMEM, "out of memory"));
    bulk_stage(b, "read the stored records", &t0);
    DT_TRY(pl_keys(e));
    DT_TRY(pl_block(e));
    DT_TRY(fresh_pairs(b) == DT_OK ? DT_OK : dt_err_set(e->err, DT_ENOMEM, "out of memory"));
    bulk_stage(b, "blocked", &t0);
    DT_TRY(bulk_score(b));
    bulk_stage(b, "compared and scored", &t0);
    DT_TRY(bulk_write_keys(b));
    pl_free_keys(e);
    bulk_stage(b, "wrote the blocking index", &t0);
    DT_TRY(bulk_write_links(b));
    bulk_stage(b, "wrote the links", &t0);
    dt_free(b->weights);
    b->weights = NULL;
    block_output_fini(&e->blk);
    b->pairs = NULL;
    DT_TRY(bulk_cluster(b));
    bulk_stage(b, "clustered and wrote the entities", &t0);
    return DT_OK;
}

int svc_resolve_bulk(st_store *st, const dt_config *cfg, fs_model *m, const svc_batch *in,
                     dt_error *err)
{
    assert(!in->n_gone && !in->n_also && !in->values);
    bulk b = {.st = st, .m = m, .in = in};
    int rc = loaded_init(&b.l, cfg, in->nicks, err);
    b.l.e.on_log = in->on_log;
    b.l.e.on_progress = in->on_progress;
    b.l.e.cb_ctx = in->cb_ctx;
    b.l.e.model = m;
    if (rc == DT_OK) rc = bulk_run(&b);
    if (rc == DT_ENOMEM && err->code == DT_OK) dt_err_set(err, rc, "out of memory resolving");
    fs_scorer_free(b.scorer);
    dt_free(b.weights);
    dt_free(b.fresh);
    dt_free(b.at);
    if (b.l.e.cfg) loaded_fini(&b.l);
    return rc;
}

/* ---- entities under a restricted view (src/govern) -------------------------- */

/* A breadth-first walk over the links a view allows: a link is followed
 * only when the view lets its two sources link, so a record of a hidden
 * source never joins two visible ones. */
typedef struct view_walk {
    bfs b;
    const gv_view *v;
    const svc_sources *map;
    st_store *st;
    dt_error *err;
    uint16_t *src;             /* per record of the set: its config source */
    size_t cap_src;
    uint32_t from_i;
} view_walk;

static int set_source(view_walk *w, uint32_t i, int src)
{
    DT_TRY(util_grow((void **)&w->src, &w->cap_src, (size_t)i + 1, sizeof *w->src));
    w->src[i] = (uint16_t)src;
    return DT_OK;
}

static int visit_view(void *ctx, int64_t other, double p, int64_t other_source)
{
    view_walk *w = ctx;
    int to = svc_source_index(w->map, other_source);
    if (to < 0 || !gv_view_links(w->v, w->src[w->from_i], (size_t)to)) return DT_OK;
    uint32_t i;
    int is_new;
    DT_TRY(util_ids_put(w->b.seen, other, &i, &is_new));
    if (is_new) DT_TRY(set_source(w, i, to));
    if (w->b.from > other) return DT_OK;
    DT_TRY(util_grow((void **)&w->b.v, &w->b.cap, w->b.n + 1, sizeof *w->b.v));
    w->b.v[w->b.n++] = (edge){w->b.from, other, p};
    return DT_OK;
}

/* A reviewer's decision, as the view allows it: "same" is followed as a
 * link of probability 1 where the view lets the two sources link;
 * "not the same" is kept for the clusterer (moot unless both are met). */
static int visit_view_decision(void *ctx, int64_t other, int same)
{
    view_walk *w = ctx;
    int64_t source;
    int active;
    DT_TRY(st_record_source(w->st, other, &source, &active, w->err));
    int to = svc_source_index(w->map, source);
    if (!active || to < 0 || !gv_view_links(w->v, w->src[w->from_i], (size_t)to)) return DT_OK;
    if (same) DT_TRY(visit_view(ctx, other, 1.0, source));
    if (w->b.from > other) return DT_OK;
    bfs *b = &w->b;
    DT_TRY(util_grow((void **)&b->apart, &b->cap_apart, b->n_apart + 1, sizeof *b->apart));
    b->apart[b->n_apart++] = (edge){b->from, other, same ? 1.0 : 0.0};
    return DT_OK;
}

static int view_component(st_store *st, const dt_config *cfg, view_walk *w, util_ids *set,
                          dt_error *err)
{
    w->b.seen = set;
    w->st = st;
    w->err = err;
    for (uint32_t k = 0; k < set->n; k++) {
        w->b.from = set->ids[k];
        w->from_i = k;
        DT_TRY(st_links_of_source(st, set->ids[k], cfg->link_threshold, visit_view, w, err));
        DT_TRY(st_decisions_of(st, set->ids[k], visit_view_decision, w, err));
    }
    return DT_OK;
}

/* Clusters the component in l as batch would, and puts the records of
 * seed's cluster in members. */
static int view_cluster(loaded *l, const bfs *b, int64_t seed, util_ids *members)
{
    const dt_config *cfg = l->e.cfg;
    clu_link *links = NULL;
    DT_TRY(table_links(l, b, &links));
    clu_result res;
    memset(&res, 0, sizeof res);
    pl_decided decided;
    pl_decided_init(&decided, &l->e);
    int rc = decided_pairs(l, b, &decided);
    clu_options opt = {.src = l->e.table.src, .one_to_one = cfg->one_to_one,
                       .weak_link = cfg->weak_link, .weak_join_size = (uint32_t)cfg->weak_join_size,
                       .conflicts = pl_decided_any(&decided) ? pl_decided_conflict : NULL,
                       .ctx = &decided};
    if (rc == DT_OK) rc = clu_run(l->e.table.n_recs, links, b->n, &opt, &res);
    pl_decided_fini(&decided);
    uint32_t root = rc == DT_OK ? res.entity[index_of(l, seed)] : 0;
    for (uint32_t i = 0; rc == DT_OK && i < l->e.table.n_recs; i++)
        if (res.entity[i] == root) rc = util_ids_add(members, l->sids.ids[i]);
    clu_result_fini(&res);
    dt_free(links);
    return rc;
}

int svc_view_entity(st_store *st, const dt_config *cfg, const norm_nicknames *nicks,
                    const fs_model *m, const gv_view *v, const svc_sources *map, int64_t sid,
                    util_ids *members, dt_error *err)
{
    int64_t source;
    int active, rc = st_record_source(st, sid, &source, &active, err);
    int src = rc == DT_OK ? svc_source_index(map, source) : -1;
    if (rc == DT_ENOTFOUND || (rc == DT_OK && (!active || src < 0 || !gv_view_has(v, (size_t)src))))
        return DT_ENOTFOUND; /* the caller words it, the same for hidden and absent */
    DT_TRY(rc);
    util_ids set = {0};
    view_walk w = {.v = v, .map = map};
    loaded l, none;
    memset(&l, 0, sizeof l);
    memset(&none, 0, sizeof none);
    rc = util_ids_add(&set, sid);
    if (rc == DT_OK) rc = set_source(&w, 0, src);
    if (rc == DT_OK) rc = view_component(st, cfg, &w, &set, err);
    if (rc == DT_OK && set.n == 1) { /* no allowed link: the record alone (9 in 10 in bench) */
        rc = util_ids_add(members, sid);
        goto done;
    }
    if (rc == DT_OK) rc = loaded_init(&l, cfg, nicks, err);
    l.e.model = m; /* its context's cannot-links, as batch clustering has them */
    none.e.cfg = cfg; /* an empty batch: every member is read from the store */
    if (rc == DT_OK) rc = load_component(&l, st, &none, &set, err);
    if (rc == DT_OK) rc = bind_component(&l);
    if (rc == DT_OK) rc = view_cluster(&l, &w.b, sid, members);
done:
    if (rc == DT_ENOMEM && err->code == DT_OK) dt_err_set(err, rc, "out of memory clustering");
    dt_free(w.b.v);
    dt_free(w.b.apart);
    dt_free(w.src);
    util_ids_fini(&set);
    if (l.e.cfg) loaded_fini(&l);
    return rc;
}

/* ---- one record, read only ------------------------------------------------ */

static int cmp_candidate_p(const void *x, const void *y)
{
    const svc_candidate *a = x, *b = y;
    if (a->p != b->p) return a->p > b->p ? -1 : 1;
    return (a->sid > b->sid) - (a->sid < b->sid);
}

/* Scores the query (table record 0) against each loaded candidate. */
static int score_query(loaded *l, fs_model *m, svc_candidate **out, size_t *n_out)
{
    pl_ctx *e = &l->e;
    const dt_config *cfg = e->cfg;
    size_t cap = 0;
    for (uint32_t j = 1; j < e->table.n_recs; j++) {
        if (first_rule(l, 0, j) < 0 || !block_mode_allows(cfg->mode, e->table.src[0], e->table.src[j]))
            continue;
        svc_candidate c = {.sid = l->sids.ids[j]};
        cmp_vector(&e->table, cfg, 0, j, c.levels);
        c.weight = fs_pair_weight(m, cfg, &e->table, c.levels, 0, j);
        c.p = fs_probability(c.weight);
        if (c.p < cfg->review_threshold) continue;
        c.i_source = e->table.src[j];
        c.record_id = dt_strdup(cmp_record_id(&e->table, j));
        DT_TRY(c.record_id ? DT_OK : DT_ENOMEM);
        c.entity = dt_strdup(l->entity[j]);
        int rc = c.entity ? DT_OK : DT_ENOMEM;
        if (rc == DT_OK) rc = util_grow((void **)out, &cap, *n_out + 1, sizeof **out);
        if (rc < 0) {
            dt_free(c.record_id);
            dt_free(c.entity);
            return rc;
        }
        (*out)[(*n_out)++] = c;
    }
    if (*n_out) qsort(*out, *n_out, sizeof **out, cmp_candidate_p);
    return DT_OK;
}

/* One query record: a value that cannot be standardized is an error
 * naming its column, not a silent null (batch and ingest count those
 * instead: one bad value in a file of millions is data; in a query it is
 * a typo the caller must hear about, as it changes the answer). */
static int reject_nulled(const pl_ctx *e, size_t i_src, const csv_row *header,
                         const csv_row *row, dt_error *err)
{
    const dt_config *cfg = e->cfg;
    const cfg_source *s = &cfg->sources[i_src];
    for (size_t m = 0; m < s->n_maps; m++) {
        const cfg_mapping *map = &s->maps[m];
        if (!e->null_per_field[map->i_field]) continue;
        for (size_t c = 0; c < header->n_fields; c++) {
            if (strcmp(header->fields[c], map->column) != 0 || row->lens[c] == 0) continue;
            cfg_field_type t = cfg->fields[map->i_field].type;
            const char *fmt = t != CFG_T_DATE ? "" : map->date_format ? map->date_format
                                                                       : "YYYY-MM-DD";
            return dt_err_field(err, DT_EINPUT, map->column, "record field '%s': '%s' is not a "
                                "valid %s%s%s%s", map->column, row->fields[c], cfg_type_names[t],
                                *fmt ? " (format " : "", fmt, *fmt ? ")" : "");
        }
    }
    return DT_OK;
}

int svc_resolve_one(struct st_store *st, const dt_config *cfg, const norm_nicknames *nicks,
                    fs_model *m, size_t i_src, uint64_t sources, const csv_row *header,
                    const csv_row *row, svc_candidate **out, size_t *n, dt_error *err)
{
    *out = NULL;
    *n = 0;
    loaded l;
    int rc = loaded_init(&l, cfg, nicks, err);
    if (rc == DT_OK) rc = pl_load_row(&l.e, i_src, header, row, "the record");
    if (rc == DT_OK) rc = reject_nulled(&l.e, i_src, header, row, err);
    if (rc == DT_OK && l.e.table.n_recs != 1)
        rc = dt_err_set(err, DT_EINPUT, "the record was rejected: %s",
                        l.e.n_rejected ? "its id column is empty or its fields do not match"
                                       : "no values");
    if (rc == DT_OK) rc = remember(&l, 0, ""); /* no store id: store ids start at 1 */
    if (rc == DT_OK) rc = pl_keys(&l.e);
    match_list found = {0};
    /* a read: skips as ingest would, says nothing, and counts only what it may see */
    block_cap c = {&l, st, NULL, sources};
    if (rc == DT_OK) { /* not before: a load that failed for want of memory has no config */
        st_block_cap cap = block_cap_of(&c);
        rc = st_keys_match(st, 1, (const uint64_t *const *)l.e.keys, cfg->n_rules, sources, &cap,
                           add_match, &found, err);
    }
    int64_t *ids = rc == DT_OK ? dt_malloc((found.n ? found.n : 1) * sizeof *ids) : NULL;
    if (rc == DT_OK && !ids) rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    for (size_t k = 0; k < found.n && rc == DT_OK; k++) ids[k] = match_b(&found.v[k]);
    if (rc == DT_OK) rc = load_records(&l, st, ids, found.n);
    dt_free(ids);
    if (rc == DT_OK) {
        pl_free_keys(&l.e);
        rc = pl_keys(&l.e);
    }
    if (rc == DT_OK && (cmp_table_finish(&l.e.table) < 0 || fs_tf_bind(m, cfg, &l.e.table) < 0))
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK) rc = score_query(&l, m, out, n);
    if (rc == DT_ENOMEM && err->code == DT_OK) dt_err_set(err, rc, "out of memory");
    dt_free(found.v);
    if (l.e.cfg) loaded_fini(&l);
    return rc;
}

/* ---- the whole store, for training ---------------------------------------- */

int svc_add_stored(pl_ctx *e, const st_record *r)
{
    return table_add_stored(e, r);
}

int svc_sources_load(st_store *st, const dt_config *cfg, svc_sources *out, dt_error *err)
{
    memset(out, 0, sizeof *out);
    int64_t *ids = dt_calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof *ids);
    if (!ids) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int rc = DT_OK;
    int64_t max = 0;
    for (size_t i = 0; i < cfg->n_sources && rc == DT_OK; i++) {
        rc = st_source_id(st, cfg->sources[i].name, &ids[i], err);
        if (rc == DT_OK && ids[i] > max) max = ids[i];
    }
    out->n = (size_t)max + 1;
    out->index = rc == DT_OK ? dt_malloc(out->n * sizeof *out->index) : NULL;
    if (rc == DT_OK && !out->index) rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    for (size_t i = 0; rc == DT_OK && i < out->n; i++) out->index[i] = -1;
    for (size_t i = 0; rc == DT_OK && i < cfg->n_sources; i++) out->index[ids[i]] = (int)i;
    dt_free(ids);
    if (rc < 0) svc_sources_fini(out);
    return rc;
}

void svc_sources_fini(svc_sources *m)
{
    dt_free(m->index);
    memset(m, 0, sizeof *m);
}

/* ---- every entity under a view, for findings (service.h) ------------------ */

typedef struct linked_load {
    loaded l;
    const gv_view *v;
    clu_link *links;
    size_t n_links, cap_links;
    pl_decided decided;    /* reviewers' decisions the view allows */
} linked_load;

static int add_view_record(void *ctx, const st_record *r)
{
    linked_load *o = ctx;
    int i = cfg_source_index(o->l.e.cfg, r->source);
    if (i < 0 || !gv_view_has(o->v, (size_t)i)) return DT_OK;
    return add_stored_record(&o->l, r, r->id);
}

/* A link is kept when the view shows both records and lets their sources
 * link: a hidden record never joins two shown ones. */
static int add_view_link(void *ctx, int64_t a, int64_t b, double p)
{
    linked_load *o = ctx;
    long i = index_of(&o->l, a), j = index_of(&o->l, b);
    if (i < 0 || j < 0) return DT_OK;
    const uint16_t *src = o->l.e.table.src;
    if (!gv_view_links(o->v, src[i], src[j])) return DT_OK;
    DT_TRY(util_grow((void **)&o->links, &o->cap_links, o->n_links + 1, sizeof *o->links));
    o->links[o->n_links++] = (clu_link){(uint32_t)(i < j ? i : j), (uint32_t)(i < j ? j : i), p};
    return DT_OK;
}

/* A reviewer's decision on two records the view shows and lets link:
 * "same" a link of probability 1, "not the same" a pair kept apart. */
static int add_view_decision(void *ctx, int64_t a, int64_t b, int same)
{
    linked_load *o = ctx;
    long i = index_of(&o->l, a), j = index_of(&o->l, b);
    if (i < 0 || j < 0 || !gv_view_links(o->v, o->l.e.table.src[i], o->l.e.table.src[j]))
        return DT_OK;
    DT_TRY(pl_decided_add(&o->decided, (uint32_t)i, (uint32_t)j, same));
    return same ? add_view_link(ctx, a, b, 1.0) : DT_OK;
}

int svc_load_linked(svc_request *q, svc_linked *out, dt_error *err)
{
    memset(out, 0, sizeof *out);
    const dt_config *cfg = q->s->cfg;
    const fs_model *m;
    int64_t version;
    DT_TRY(svc_model(q, &m, &version, err));
    linked_load *o = dt_calloc(1, sizeof *o);
    if (!o) return dt_err_set(err, DT_ENOMEM, "out of memory");
    out->own = o;
    o->v = &q->view;
    int rc = loaded_init(&o->l, cfg, q->s->nicks, err);
    o->l.e.model = m;
    if (!q->view.is_full) o->l.e.linkable = q->view.linkable;
    if (rc == DT_OK) rc = st_records_each(q->s->st, NULL, 0, add_view_record, o, err);
    if (rc == DT_OK && cmp_table_finish(&o->l.e.table) < 0) rc = DT_ENOMEM;
    if (rc == DT_OK && fs_tf_bind((fs_model *)m, cfg, &o->l.e.table) < 0) rc = DT_ENOMEM;
    if (rc == DT_OK) rc = st_links_each(q->s->st, cfg->link_threshold, add_view_link, o, err);
    pl_decided_init(&o->decided, &o->l.e);
    if (rc == DT_OK) rc = st_decisions_each(q->s->st, add_view_decision, o, err);
    if (rc == DT_OK) {
        clu_options opt = {.src = o->l.e.table.src, .one_to_one = cfg->one_to_one,
                           .weak_link = cfg->weak_link,
                           .weak_join_size = (uint32_t)cfg->weak_join_size,
                           .conflicts = pl_decided_any(&o->decided) ? pl_decided_conflict : NULL,
                           .ctx = &o->decided, .keep_joins = 1};
        rc = clu_run(o->l.e.table.n_recs, o->links, o->n_links, &opt, &out->clu);
    }
    pl_decided_fini(&o->decided);
    if (rc == DT_ENOMEM && err->code == DT_OK) dt_err_set(err, rc, "out of memory loading entities");
    if (rc < 0) {
        svc_linked_fini(out);
        return rc;
    }
    out->e = &o->l.e;
    out->sids = o->l.sids.ids;
    return DT_OK;
}

void svc_linked_fini(svc_linked *l)
{
    linked_load *o = l->own;
    clu_result_fini(&l->clu);
    if (o) {
        if (o->l.e.cfg) loaded_fini(&o->l);
        dt_free(o->links);
        dt_free(o);
    }
    memset(l, 0, sizeof *l);
}
