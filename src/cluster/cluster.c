/*
 * cluster.c — union–find with union by size and path halving (Tarjan 1975)
 * over links taken strongest first, plus the one-to-one and chaining
 * guards described in cluster.h.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"

/* A key that sorts doubles ascending as unsigned integers: the sign bit
 * set for positives, every bit flipped for negatives; zeros are one key. */
static uint64_t double_key(double p)
{
    uint64_t u;
    if (p == 0) p = 0.0;
    memcpy(&u, &p, sizeof u);
    return u >> 63 ? ~u : u | 1ULL << 63;
}

/* Orders links strongest first, then by a, then by b, equal links in the
 * order given: two radix sorts, by (a, b) and then by p (each sort breaks
 * ties by its value, here the rank from the one before). At 2.8M links
 * qsort took 0.4 s of the cluster stage. */
int clu_sort_links_on(clu_link *links, size_t n, int n_threads)
{
    util_kv *kv = dt_malloc(n * sizeof *kv);
    uint32_t *rank = dt_malloc(n * sizeof *rank);
    int rc = kv && rank ? DT_OK : DT_ENOMEM;
    for (size_t i = 0; rc == DT_OK && i < n; i++)
        kv[i] = (util_kv){(uint64_t)links[i].a << 32 | links[i].b, (uint32_t)i};
    if (rc == DT_OK) rc = util_sort_kv_on(kv, n, n_threads);
    for (size_t j = 0; rc == DT_OK && j < n; j++) {
        rank[j] = kv[j].val;
        kv[j] = (util_kv){~double_key(links[kv[j].val].p), (uint32_t)j};
    }
    if (rc == DT_OK) rc = util_sort_kv_on(kv, n, n_threads);
    for (size_t k = 0; rc == DT_OK && k < n; k++) kv[k].val = rank[kv[k].val];
    for (size_t k = 0; rc == DT_OK && k < n; k++) rank[k] = kv[k].val; /* rank: from */
    dt_free(kv);
    /* gathered into a copy once the keys are gone (no more memory than the
     * sort held): in place, each move waited on the one before */
    clu_link *sorted = rc == DT_OK ? dt_malloc(n * sizeof *sorted) : NULL;
    if (rc == DT_OK && !sorted) rc = DT_ENOMEM;
    for (size_t k = 0; rc == DT_OK && k < n; k++) sorted[k] = links[rank[k]];
    if (rc == DT_OK) memcpy(links, sorted, n * sizeof *links);
    dt_free(sorted);
    dt_free(rank);
    return rc;
}

int clu_sort_links(clu_link *links, size_t n)
{
    return clu_sort_links_on(links, n, 1);
}

static uint32_t find(uint32_t *parent, uint32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

int clu_hist_bucket(uint32_t size)
{
    if (size <= 5) return (int)size - 1;
    if (size <= 10) return 5;
    if (size <= 100) return 6;
    return 7;
}

/* One-to-one: a record may hold one accepted link to each other source. */
static int one_to_one_ok(uint64_t *linked_to, const uint16_t *src, const clu_link *l)
{
    uint64_t bit_b = 1ULL << (src[l->b] & 63), bit_a = 1ULL << (src[l->a] & 63);
    if ((linked_to[l->a] & bit_b) || (linked_to[l->b] & bit_a)) return 0;
    linked_to[l->a] |= bit_b;
    linked_to[l->b] |= bit_a;
    return 1;
}

enum { CLU_MAX_CONFLICT_CHECKS = 1 << 20 };

/* Members of each cluster form a circular list through next[]; joining
 * two clusters splices their lists in O(1). */
static int clusters_conflict(const uint32_t *next, uint32_t ra, uint32_t rb, uint64_t n_pairs,
                             const clu_link *l, const clu_options *opt)
{
    /* Two giant clusters would cost |A| x |B| checks: past the bound the
     * join goes ahead unchecked, and weak_links.csv is where to look. */
    if (n_pairs > CLU_MAX_CONFLICT_CHECKS) return 0;
    uint32_t x = ra;
    do {
        uint32_t y = rb;
        do {
            int is_own = x == l->a && y == l->b;
            if (is_own && l->own != CLU_OWN_UNKNOWN ? l->own == CLU_OWN_CONFLICT
                                                    : opt->conflicts(opt->ctx, x, y,
                                                                     is_own ? l->g : NULL))
                return 1;
            y = next[y];
        } while (y != rb);
        x = next[x];
    } while (x != ra);
    return 0;
}

static void join(clu_result *r, uint32_t *parent, uint32_t *next, double *conf,
                 const clu_link *l, const clu_options *opt)
{
    uint32_t ra = find(parent, l->a), rb = find(parent, l->b);
    if (ra == rb) return;
    uint32_t sa = r->size[ra], sb = r->size[rb];
    if (opt->conflicts && clusters_conflict(next, ra, rb, (uint64_t)sa * sb, l, opt)) {
        r->n_refused++;
        return;
    }
    if (r->joins) r->joins[r->n_joins++] = (clu_link){l->a, l->b, l->p, NULL};
    uint32_t t_next = next[ra]; /* splice the member lists */
    next[ra] = next[rb];
    next[rb] = t_next;
    if (l->p < opt->weak_link && sa >= opt->weak_join_size && sb >= opt->weak_join_size) {
        r->n_weak_joins++;
        if (opt->on_weak) opt->on_weak(opt->ctx, l, sa, sb);
    }
    if (sa < sb) {
        uint32_t t = ra;
        ra = rb;
        rb = t;
    }
    parent[rb] = ra;
    r->size[ra] = sa + sb;
    double c = conf[ra] < conf[rb] ? conf[ra] : conf[rb];
    conf[ra] = c < l->p ? c : l->p;
}

/* Names each entity by its smallest record index and moves the per-root
 * size and confidence to that name. */
static int name_entities(clu_result *r, size_t n_recs, uint32_t *parent, const double *conf)
{
    size_t n = n_recs ? n_recs : 1;
    uint32_t *name_of_root = dt_malloc(n * sizeof *name_of_root);
    uint32_t *size = dt_calloc(n, sizeof *size);
    if (!name_of_root || !size) {
        dt_free(name_of_root);
        dt_free(size);
        return DT_ENOMEM;
    }
    for (size_t i = 0; i < n_recs; i++) name_of_root[i] = UINT32_MAX;
    for (size_t i = 0; i < n_recs; i++) { /* index order: the first member seen is the smallest */
        uint32_t root = find(parent, (uint32_t)i);
        if (name_of_root[root] == UINT32_MAX) name_of_root[root] = (uint32_t)i;
    }
    for (size_t i = 0; i < n_recs; i++) {
        uint32_t root = find(parent, (uint32_t)i);
        uint32_t name = name_of_root[root];
        r->entity[i] = name;
        if (name != i) continue;
        r->confidence[i] = conf[root];
        size[i] = r->size[root];
        r->n_entities++;
        r->size_hist[clu_hist_bucket(size[i])]++;
    }
    dt_free(name_of_root);
    dt_free(r->size);
    r->size = size;
    return DT_OK;
}

int clu_run(size_t n_recs, clu_link *links, size_t n_links, const clu_options *opt,
            clu_result *out)
{
    memset(out, 0, sizeof *out);
    size_t n = n_recs ? n_recs : 1;
    uint32_t *parent = dt_malloc(n * sizeof *parent);
    uint32_t *next = dt_malloc(n * sizeof *next);
    double *conf = dt_malloc(n * sizeof *conf);
    uint64_t *linked_to = opt->one_to_one ? dt_calloc(n, sizeof *linked_to) : NULL;
    out->entity = dt_malloc(n * sizeof *out->entity);
    out->confidence = dt_malloc(n * sizeof *out->confidence);
    out->size = dt_malloc(n * sizeof *out->size);
    if (opt->keep_joins) out->joins = dt_malloc(n * sizeof *out->joins); /* < n_recs joins */
    if (!parent || !next || !conf || !out->entity || !out->confidence || !out->size ||
        (opt->one_to_one && !linked_to) || (opt->keep_joins && !out->joins)) {
        dt_free(parent);
        dt_free(next);
        dt_free(conf);
        dt_free(linked_to);
        clu_result_fini(out);
        return DT_ENOMEM;
    }
    for (size_t i = 0; i < n_recs; i++) {
        parent[i] = (uint32_t)i;
        next[i] = (uint32_t)i;
        conf[i] = 1.0;
        out->size[i] = 1;
    }
    int rc = n_links && !opt->is_sorted ? clu_sort_links(links, n_links) : DT_OK; /* links
                                                                  may be NULL when 0 */
    for (size_t i = 0; rc == DT_OK && i < n_links; i++) {
        if (linked_to && !one_to_one_ok(linked_to, opt->src, &links[i])) {
            out->n_dropped_one_to_one++;
            continue;
        }
        out->n_used_links++;
        join(out, parent, next, conf, &links[i], opt);
    }
    if (rc == DT_OK) rc = name_entities(out, n_recs, parent, conf);
    dt_free(parent);
    dt_free(next);
    dt_free(conf);
    dt_free(linked_to);
    if (rc < 0) clu_result_fini(out);
    return rc;
}

void clu_result_fini(clu_result *r)
{
    dt_free(r->entity);
    dt_free(r->confidence);
    dt_free(r->size);
    dt_free(r->joins);
    memset(r, 0, sizeof *r);
}
