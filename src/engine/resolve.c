/*
 * resolve.c — incremental resolution: records new to the store (or
 * changed, or withdrawn) go through the batch stages against the store's
 * blocking index, with the store's frozen model, and the entities they
 * touch are clustered again.
 *
 * Why incremental equals batch (with the same frozen model and no block
 * over the cap): a pair is compared when the later of its two records
 * arrives, through the same keys, values and weights as in batch; and the
 * batch clusterer decides inside one connected component of the link graph
 * from that component's links alone (strongest first, ties by canonical
 * record order). So clustering again the whole component a change touches,
 * its records in canonical order, gives the component batch would give.
 *
 * Invariants:
 *   1. Runs inside the caller's transaction: records, keys, links and
 *      entities of a batch commit together or not at all.
 *   2. An entity keeps its id while most of its records stay together;
 *      merges and splits are recorded in entity_event with their cause.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/engine.h"
#include "store/store.h"

/* A table of store records: table index i holds store record sids[i]. */
typedef struct loaded {
    eng_ctx e;
    int64_t *sids;
    size_t cap;
    util_intern by_sid;    /* 8-byte store id -> table index (ids are dense, in load order) */
} loaded;

static int loaded_init(loaded *l, const dt_config *cfg, dt_error *err)
{
    memset(l, 0, sizeof *l);
    util_intern_init(&l->by_sid);
    DT_TRY(eng_init(&l->e, cfg, err));
    return eng_load_nicknames(&l->e);
}

static void loaded_fini(loaded *l)
{
    eng_fini(&l->e);
    util_intern_fini(&l->by_sid);
    dt_free(l->sids);
}

static long index_of(const loaded *l, int64_t sid)
{
    uint32_t i = util_intern_find(&l->by_sid, (const char *)&sid, sizeof sid);
    return i == UINT32_MAX ? -1 : (long)i;
}

static int source_of(const dt_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_sources; i++)
        if (strcmp(cfg->sources[i].name, name) == 0) return (int)i;
    return -1;
}

/* Adds a stored record (its normalized values) to the table. */
static int load_record(loaded *l, st_store *st, int64_t sid)
{
    if (index_of(l, sid) >= 0) return DT_OK;
    eng_ctx *e = &l->e;
    st_record r;
    DT_TRY(st_record_get(st, sid, &r, NULL, e->err));
    int src = source_of(e->cfg, r.source);
    json_t *norm = src >= 0 ? json_loads(r.norm, 0, NULL) : NULL;
    int rc = norm ? DT_OK : dt_err_set(e->err, DT_EINTERNAL, "stored record %s:%s is unreadable",
                                       r.source, r.record_id);
    size_t i_rec = 0;
    if (rc == DT_OK)
        rc = cmp_table_add(&e->table, (uint16_t)src, r.record_id, strlen(r.record_id), &i_rec);
    for (size_t f = 0; rc == DT_OK && f < e->cfg->n_fields; f++) {
        const char *v = json_string_value(json_object_get(norm, e->cfg->fields[f].name));
        if (v) rc = cmp_table_set(&e->table, i_rec, f, v, strlen(v));
    }
    json_decref(norm);
    st_record_free(&r);
    uint32_t id;
    if (rc == DT_OK) rc = util_intern_put(&l->by_sid, (const char *)&sid, sizeof sid, &id);
    if (rc == DT_OK) rc = util_grow((void **)&l->sids, &l->cap, (size_t)id + 1, sizeof *l->sids);
    if (rc == DT_OK) l->sids[id] = sid;
    return rc == DT_ENOMEM ? dt_err_set(e->err, rc, "out of memory") : rc;
}

/* ---- candidates ------------------------------------------------------ */

typedef struct id_set {
    util_intern set;       /* 8-byte ids */
    int64_t *ids;
    size_t n, cap;
} id_set;

static void id_set_fini(id_set *s)
{
    util_intern_fini(&s->set);
    dt_free(s->ids);
}

static int id_set_add(id_set *s, int64_t id)
{
    uint32_t k, before = s->set.n_strs;
    DT_TRY(util_intern_put(&s->set, (const char *)&id, sizeof id, &k));
    if (k < before) return DT_OK;
    DT_TRY(util_grow((void **)&s->ids, &s->cap, s->n + 1, sizeof *s->ids));
    s->ids[s->n++] = id;
    return DT_OK;
}

static int id_set_has(const id_set *s, int64_t id)
{
    return util_intern_find(&s->set, (const char *)&id, sizeof id) != UINT32_MAX;
}

static int add_id(void *ctx, int64_t id)
{
    return id_set_add(ctx, id);
}

/* A pair to score: a new record's table index, and the other's store id. */
typedef struct cand {
    uint32_t a;
    int64_t b;
} cand;

typedef struct cand_list {
    cand *v;
    size_t n, cap;
} cand_list;

/* Stores the keys of the table's records 0..n-1 (the new ones), then finds
 * for each the stored records that share a key with it: every pair once
 * (two new records pair from the one loaded first). */
static int find_candidates(loaded *l, st_store *st, size_t n, cand_list *out, id_set *others)
{
    eng_ctx *e = &l->e;
    uint64_t keys[256]; /* block_run allows 255 rules */
    for (size_t i = 0; i < n; i++) {
        for (size_t r = 0; r < e->cfg->n_rules; r++) keys[r] = e->keys[r][i];
        DT_TRY(st_keys_replace(st, l->sids[i], keys, e->cfg->n_rules, e->err));
    }
    int rc = DT_OK;
    for (size_t i = 0; i < n && rc == DT_OK; i++) {
        id_set found = {0};
        util_intern_init(&found.set);
        for (size_t r = 0; r < e->cfg->n_rules && rc == DT_OK; r++)
            if (e->keys[r][i]) rc = st_keys_lookup(st, (int)r, e->keys[r][i], add_id, &found, e->err);
        for (size_t k = 0; k < found.n && rc == DT_OK; k++) {
            int64_t b = found.ids[k];
            long j = index_of(l, b);
            if (b == l->sids[i] || (j >= 0 && (size_t)j < n && (size_t)j < i)) continue;
            rc = util_grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v);
            if (rc == DT_OK) out->v[out->n++] = (cand){(uint32_t)i, b};
            if (rc == DT_OK && j < 0) rc = id_set_add(others, b);
        }
        id_set_fini(&found);
    }
    return rc == DT_ENOMEM ? dt_err_set(e->err, rc, "out of memory") : rc;
}

/* The first rule whose keys agree on two table records, or -1. */
static int first_rule(const eng_ctx *e, uint32_t a, uint32_t b)
{
    for (size_t r = 0; r < e->cfg->n_rules; r++)
        if (e->keys[r][a] && e->keys[r][a] == e->keys[r][b]) return (int)r;
    return -1;
}

/* Scores the candidate pairs with the frozen model and stores those at or
 * over the review threshold. Exact agreement is the only TF-adjusted
 * level, and there both values are one, so either side's value serves. */
static int score_candidates(loaded *l, st_store *st, const fs_model *m, const cand_list *cl)
{
    eng_ctx *e = &l->e;
    const dt_config *cfg = e->cfg;
    uint8_t g[FS_MAX_COMPARISONS];
    for (size_t k = 0; k < cl->n; k++) {
        uint32_t a = cl->v[k].a, b = (uint32_t)index_of(l, cl->v[k].b);
        int rule = first_rule(e, a, b);
        if (rule < 0 || !block_mode_allows(cfg->mode, e->table.src[a], e->table.src[b])) continue;
        cmp_vector(&e->table, cfg, a, b, g);
        double w = fs_pair_weight(m, cfg, &e->table, g, a), p = fs_probability(w);
        if (p >= cfg->review_threshold)
            DT_TRY(st_link_put(st, l->sids[a], l->sids[b], rule, w, p, e->err));
    }
    return DT_OK;
}

/* ---- clustering the touched components -------------------------------- */

typedef struct bfs {
    st_store *st;
    id_set *seen;
    dt_error *err;
} bfs;

static int visit(void *ctx, int64_t other, double p)
{
    (void)p;
    return id_set_add(((bfs *)ctx)->seen, other);
}

/* Every record reachable from the seeds through links at or over the link
 * threshold (the seeds included). */
static int component(st_store *st, const dt_config *cfg, id_set *set, dt_error *err)
{
    bfs b = {st, set, err};
    for (size_t k = 0; k < set->n; k++) /* set grows as we go: a queue */
        DT_TRY(st_links_of(st, set->ids[k], cfg->link_threshold, visit, &b, err));
    return DT_OK;
}

/* Canonical order (read.c): source, then a 48-bit hash of the id, then
 * the id text, so a component's records keep batch's relative order. */
typedef struct canon {
    uint64_t key;
    int64_t sid;
    char *rid;
} canon;

static int cmp_canon(const void *x, const void *y)
{
    const canon *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return strcmp(a->rid, b->rid);
}

static int canonical_sids(st_store *st, const dt_config *cfg, const id_set *set, int64_t *out,
                          dt_error *err)
{
    canon *c = dt_calloc(set->n ? set->n : 1, sizeof *c);
    if (!c) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int rc = DT_OK;
    for (size_t i = 0; i < set->n && rc == DT_OK; i++) {
        st_record r;
        rc = st_record_get(st, set->ids[i], &r, NULL, err);
        if (rc < 0) break;
        int src = source_of(cfg, r.source);
        uint64_t h = util_hash64(r.record_id, strlen(r.record_id), 0x6964);
        c[i] = (canon){((uint64_t)(src < 0 ? 0 : src) << 48) | (h >> 16), set->ids[i],
                       dt_strdup(r.record_id)};
        st_record_free(&r);
        if (!c[i].rid) rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    if (rc == DT_OK) qsort(c, set->n, sizeof *c, cmp_canon);
    for (size_t i = 0; i < set->n; i++) {
        if (rc == DT_OK) out[i] = c[i].sid;
        dt_free(c[i].rid);
    }
    dt_free(c);
    return rc;
}

typedef struct link_collect {
    loaded *l;
    uint32_t from;
    clu_link *v;
    size_t n, cap;
} link_collect;

static int collect_link(void *ctx, int64_t other, double p)
{
    link_collect *c = ctx;
    long j = index_of(c->l, other);
    if (j < 0 || (uint32_t)j <= c->from) return DT_OK; /* each link once, from its smaller end */
    DT_TRY(util_grow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v));
    c->v[c->n++] = (clu_link){c->from, (uint32_t)j, p};
    return DT_OK;
}

static int conflicts(void *ctx, uint32_t a, uint32_t b)
{
    return eng_records_conflict(ctx, a, b);
}

/* ---- entity ids -------------------------------------------------------- */

typedef struct cluster_name {
    uint32_t root;         /* the cluster's first record (canonical) */
    const char *old;       /* the old id most of its records held, or NULL */
    size_t votes;          /* how many held it */
    char id[24];           /* the id it gets */
} cluster_name;

/* The old id most members of root's cluster held (ties: smallest id). */
static void tally_old(cluster_name *c, const clu_result *res, char **old, size_t n)
{
    c->old = NULL;
    c->votes = 0;
    for (size_t i = 0; i < n; i++) {
        if (res->entity[i] != c->root || !old[i][0]) continue;
        size_t votes = 0;
        for (size_t j = 0; j < n; j++) votes += res->entity[j] == c->root && !strcmp(old[j], old[i]);
        if (votes > c->votes || (votes == c->votes && strcmp(old[i], c->old) < 0)) {
            c->old = old[i];
            c->votes = votes;
        }
    }
}

/* 1 if another cluster has a better claim on the same old id. */
static int outvoted(const cluster_name *c, const cluster_name *all, size_t n_clusters)
{
    for (size_t k = 0; k < n_clusters; k++) {
        const cluster_name *o = &all[k];
        if (o == c || !o->old || strcmp(o->old, c->old) != 0) continue;
        if (o->votes > c->votes || (o->votes == c->votes && o->root < c->root)) return 1;
    }
    return 0;
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

/* A fresh id for a cluster: named after its first record, as batch names
 * entities, unless that name is taken (an entity that once had this record
 * first may keep it after the record left): then salted until free. */
static int fresh_id(loaded *l, st_store *st, const clu_result *res, cluster_name *c,
                    const cluster_name *all, size_t n_clusters)
{
    char base[24];
    eng_entity_id(&l->e, c->root, base);
    snprintf(c->id, sizeof c->id, "%s", base);
    for (uint64_t salt = 1;; salt++) {
        int is_used = 0;
        for (size_t k = 0; k < n_clusters && !is_used; k++)
            is_used = &all[k] != c && !strcmp(all[k].id, c->id);
        outside_check oc = {l, res, c->root, is_used};
        if (!is_used) DT_TRY(st_entity_members(st, c->id, held_outside, &oc, l->e.err));
        if (!oc.is_used) return DT_OK;
        snprintf(c->id, sizeof c->id, "E%016llx",
                 (unsigned long long)util_hash64(base, strlen(base), salt));
    }
}

/* Records what happened to the old ids of one cluster's records. */
static int record_events(st_store *st, const cluster_name *c, const cluster_name *all,
                         size_t n_clusters, const clu_result *res, char **old, size_t n,
                         const char *cause, dt_error *err)
{
    int any_old = 0;
    for (size_t i = 0; i < n; i++) {
        if (res->entity[i] != c->root || !old[i][0]) continue;
        any_old = 1;
        if (!strcmp(old[i], c->id)) continue;
        int first = 1; /* one event per old id */
        for (size_t j = 0; j < i; j++) first &= !(res->entity[j] == c->root && !strcmp(old[j], old[i]));
        if (!first) continue;
        int kept_elsewhere = 0;
        for (size_t k = 0; k < n_clusters; k++) kept_elsewhere |= !strcmp(all[k].id, old[i]);
        DT_TRY(st_entity_event(st, kept_elsewhere ? "split" : "merge", c->id, old[i], cause, err));
    }
    return any_old ? DT_OK : st_entity_event(st, "new", c->id, "", cause, err);
}

/* Gives each cluster of the component its id and writes the memberships:
 * a cluster keeps the old id most of its records held unless another
 * cluster holds more of that entity; otherwise it is named after its
 * first record, as batch names entities. */
static int name_clusters(loaded *l, st_store *st, const clu_result *res, const char *cause)
{
    eng_ctx *e = &l->e;
    size_t n = e->table.n_recs;
    char **old = dt_calloc(n ? n : 1, sizeof *old);
    cluster_name *all = dt_calloc(res->n_entities ? res->n_entities : 1, sizeof *all);
    int rc = old && all ? DT_OK : dt_err_set(e->err, DT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == DT_OK; i++) rc = st_entity_of(st, l->sids[i], &old[i], e->err);
    size_t n_clusters = 0;
    for (size_t i = 0; i < n && rc == DT_OK; i++)
        if (res->entity[i] == i) all[n_clusters++].root = (uint32_t)i;
    for (size_t k = 0; k < n_clusters && rc == DT_OK; k++) tally_old(&all[k], res, old, n);
    for (size_t k = 0; k < n_clusters && rc == DT_OK; k++)
        if (all[k].old && !outvoted(&all[k], all, n_clusters))
            snprintf(all[k].id, sizeof all[k].id, "%s", all[k].old);
    for (size_t k = 0; k < n_clusters && rc == DT_OK; k++)
        if (!all[k].id[0]) rc = fresh_id(l, st, res, &all[k], all, n_clusters);
    for (size_t k = 0; k < n_clusters && rc == DT_OK; k++)
        rc = record_events(st, &all[k], all, n_clusters, res, old, n, cause, e->err);
    for (size_t i = 0; i < n && rc == DT_OK; i++) {
        const cluster_name *c = all;
        while (c->root != res->entity[i]) c++;
        rc = st_entity_set(st, l->sids[i], c->id, e->err);
    }
    for (size_t i = 0; old && i < n; i++) dt_free(old[i]);
    dt_free(old);
    dt_free(all);
    return rc;
}

/* Clusters the component of the seeds again and names its entities. */
static int recluster(st_store *st, const dt_config *cfg, id_set *seeds, const char *cause,
                     dt_error *err)
{
    DT_TRY(component(st, cfg, seeds, err));
    int64_t *order = dt_malloc((seeds->n ? seeds->n : 1) * sizeof *order);
    if (!order) return dt_err_set(err, DT_ENOMEM, "out of memory");
    loaded l;
    int rc = canonical_sids(st, cfg, seeds, order, err);
    if (rc == DT_OK) rc = loaded_init(&l, cfg, err);
    else memset(&l, 0, sizeof l);
    for (size_t i = 0; i < seeds->n && rc == DT_OK; i++) rc = load_record(&l, st, order[i]);
    if (rc == DT_OK && cmp_table_finish(&l.e.table) < 0)
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    link_collect lc = {.l = &l};
    for (uint32_t i = 0; i < l.e.table.n_recs && rc == DT_OK; i++) {
        lc.from = i;
        rc = st_links_of(st, l.sids[i], cfg->link_threshold, collect_link, &lc, err);
    }
    clu_result res;
    memset(&res, 0, sizeof res);
    if (rc == DT_OK) {
        clu_options opt = {.src = l.e.table.src, .one_to_one = cfg->one_to_one,
                           .weak_link = cfg->weak_link,
                           .weak_join_size = (uint32_t)cfg->weak_join_size,
                           .conflicts = cfg->n_exclusive ? conflicts : NULL, .ctx = &l.e};
        rc = clu_run(l.e.table.n_recs, lc.v, lc.n, &opt, &res);
        if (rc < 0) rc = dt_err_set(err, rc, "out of memory clustering");
    }
    if (rc == DT_OK) rc = name_clusters(&l, st, &res, cause);
    clu_result_fini(&res);
    dt_free(lc.v);
    if (l.e.cfg) loaded_fini(&l);
    dt_free(order);
    return rc;
}

/* ---- resolving a batch --------------------------------------------------- */

/* Adds a record's present entity-mates (before anything changes). */
static int add_entity_mates(st_store *st, int64_t rec, id_set *seeds, dt_error *err)
{
    char *entity = NULL;
    DT_TRY(st_entity_of(st, rec, &entity, err));
    int rc = entity[0] ? st_entity_members(st, entity, add_id, seeds, err) : DT_OK;
    dt_free(entity);
    return rc;
}

/* Scores the records recs (new or changed) against the store. */
static int score_new(st_store *st, const dt_config *cfg, fs_model *m, const int64_t *recs,
                     size_t n, dt_error *err)
{
    loaded l;
    int rc = loaded_init(&l, cfg, err);
    id_set others = {0};
    util_intern_init(&others.set);
    cand_list cl = {0};
    for (size_t i = 0; i < n && rc == DT_OK; i++) rc = st_links_drop(st, recs[i], err);
    for (size_t i = 0; i < n && rc == DT_OK; i++) rc = load_record(&l, st, recs[i]);
    if (rc == DT_OK) rc = eng_keys(&l.e);
    if (rc == DT_OK) rc = find_candidates(&l, st, n, &cl, &others);
    for (size_t k = 0; k < others.n && rc == DT_OK; k++) rc = load_record(&l, st, others.ids[k]);
    if (rc == DT_OK) {
        eng_free_keys(&l.e);
        rc = eng_keys(&l.e);
    }
    if (rc == DT_OK && (cmp_table_finish(&l.e.table) < 0 || fs_tf_bind(m, cfg, &l.e.table) < 0))
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK) rc = score_candidates(&l, st, m, &cl);
    dt_free(cl.v);
    id_set_fini(&others);
    loaded_fini(&l);
    return rc;
}

int eng_resolve(st_store *st, const dt_config *cfg, fs_model *m, const int64_t *recs, size_t n,
                const int64_t *gone, size_t n_gone, const char *cause, dt_error *err)
{
    id_set seeds = {0};
    util_intern_init(&seeds.set);
    int rc = DT_OK;
    for (size_t i = 0; i < n && rc == DT_OK; i++) rc = add_entity_mates(st, recs[i], &seeds, err);
    for (size_t i = 0; i < n_gone && rc == DT_OK; i++) rc = add_entity_mates(st, gone[i], &seeds, err);
    for (size_t i = 0; i < n_gone && rc == DT_OK; i++) {
        uint64_t none[256] = {0};
        rc = st_links_drop(st, gone[i], err);
        if (rc == DT_OK) rc = st_keys_replace(st, gone[i], none, cfg->n_rules, err);
        if (rc == DT_OK) rc = st_entity_set(st, gone[i], NULL, err);
    }
    if (rc == DT_OK && n) rc = score_new(st, cfg, m, recs, n, err);
    for (size_t i = 0; i < n && rc == DT_OK; i++) rc = id_set_add(&seeds, recs[i]);
    /* A withdrawn record is no longer anyone's mate. */
    id_set kept = {0};
    util_intern_init(&kept.set);
    id_set gone_set = {0};
    util_intern_init(&gone_set.set);
    for (size_t i = 0; i < n_gone && rc == DT_OK; i++) rc = id_set_add(&gone_set, gone[i]);
    for (size_t k = 0; k < seeds.n && rc == DT_OK; k++)
        if (!id_set_has(&gone_set, seeds.ids[k])) rc = id_set_add(&kept, seeds.ids[k]);
    if (rc == DT_OK && kept.n) rc = recluster(st, cfg, &kept, cause, err);
    if (rc == DT_ENOMEM && err->code == DT_OK) dt_err_set(err, rc, "out of memory resolving");
    id_set_fini(&kept);
    id_set_fini(&gone_set);
    id_set_fini(&seeds);
    return rc;
}
