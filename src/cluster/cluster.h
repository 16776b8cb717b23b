/*
 * cluster.h — entities from links (src/cluster): connected components by
 * union–find, an optional one-to-one rule between sources, a guard that
 * reports weak links joining two large clusters (chaining), and each
 * entity's confidence: the probability of its weakest merging link.
 *
 * Invariants:
 *   1. Links are processed strongest first, ties by (a, b), so the result
 *      depends only on the set of links, never on their input order.
 *   2. An entity is named by its smallest record index (canonical order),
 *      so ids derive from the records, not from run order.
 *   3. With a conflicts callback, no entity holds two conflicting records:
 *      a link whose clusters hold a conflicting pair is refused, and since
 *      links come strongest first, the stronger evidence decides.
 */
#ifndef DT_CLUSTER_H
#define DT_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

typedef struct clu_link {
    uint32_t a, b;
    double p;            /* match probability */
    const uint8_t *g;    /* the pair's comparison levels when known, else NULL */
    uint8_t own;         /* conflicts(a, b, g) when the caller asked it already (on
                            many threads): CLU_OWN_*; 0: ask it when needed */
} clu_link;

enum { CLU_OWN_UNKNOWN = 0, CLU_OWN_FREE = 1, CLU_OWN_CONFLICT = 2 };

/* Called for a weak link that joins two clusters of at least
 * weak_join_size records each. */
typedef void (*clu_weak_fn)(void *ctx, const clu_link *l, uint32_t size_a, uint32_t size_b);

/* 1 if records a and b may not be in one entity (say, two different SSNs).
 * g: their comparison levels when the caller gave them with the link (the
 * link's own pair, a to b), else NULL. Most joins are of two single
 * records, where the one pair to check is the link itself. */
typedef int (*clu_conflict_fn)(void *ctx, uint32_t a, uint32_t b, const uint8_t *g);

typedef struct clu_options {
    const uint16_t *src;   /* source per record */
    int one_to_one;        /* at most one link per record to each other source (<= 64 sources) */
    double weak_link;
    uint32_t weak_join_size;
    clu_weak_fn on_weak;   /* may be NULL */
    clu_conflict_fn conflicts; /* may be NULL: no cannot-link constraints */
    int keep_joins;        /* 1: keep the links that joined clusters (a spanning forest) */
    int is_sorted;         /* 1: links are in clu_sort_links order already */
    void *ctx;
} clu_options;

/* Puts links in the order clu_run takes them: strongest first, then by a,
 * then by b (equal links as given). DT_ENOMEM. */
int clu_sort_links(clu_link *links, size_t n);
/* The same, its sorts on n_threads (util_sort_kv_on). */
int clu_sort_links_on(clu_link *links, size_t n, int n_threads);

typedef struct clu_result {
    uint32_t *entity;      /* per record: smallest record index of its entity */
    double *confidence;    /* per record index that names an entity: weakest link (1 if single) */
    uint32_t *size;        /* per naming record: records in the entity */
    size_t n_entities;
    uint64_t size_hist[8]; /* sizes 1,2,3,4,5,6-10,11-100,>100 */
    uint64_t n_used_links; /* links accepted (after one-to-one) */
    uint64_t n_dropped_one_to_one;
    uint64_t n_weak_joins;
    uint64_t n_refused;    /* links not applied: a record pair across the two clusters conflicts */
    clu_link *joins;       /* with keep_joins: each link that joined two clusters, in order
                              (g NULL); they make one tree per entity */
    size_t n_joins;
} clu_result;

/* Sorts links in place (invariant 1) and clusters n_recs records.
 * OUT: *out, released with clu_result_fini. */
int clu_run(size_t n_recs, clu_link *links, size_t n_links, const clu_options *opt,
            clu_result *out);
void clu_result_fini(clu_result *r);

/* Index into size_hist for an entity of this size. */
int clu_hist_bucket(uint32_t size);

#endif /* DT_CLUSTER_H */
