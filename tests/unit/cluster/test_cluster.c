/* Unit tests for src/cluster/cluster.c: connected components, entities
 * named by their smallest record, confidence as the weakest merging link,
 * independence from link order, the one-to-one rule, weak-join reports
 * and the size histogram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/cluster.h"

static const clu_options PLAIN = {.weak_link = 0.0, .weak_join_size = 1000000};

static void test_components(void **state)
{
    (void)state;
    /* {0, 3, 5} via two links, {1, 2}, and singletons 4 and 6; the links
     * name larger indexes first to show entity naming does not follow a. */
    clu_link links[] = {{5, 3, 0.95}, {3, 0, 0.99}, {2, 1, 0.97}};
    clu_result r;
    assert_int_equal(clu_run(7, links, 3, &PLAIN, &r), DT_OK);
    const uint32_t want[7] = {0, 1, 1, 0, 4, 0, 6};
    assert_memory_equal(r.entity, want, sizeof want);
    assert_int_equal(r.n_entities, 4);
    assert_int_equal(r.n_used_links, 3);
    assert_int_equal(r.size[0], 3);
    assert_int_equal(r.size[1], 2);
    assert_int_equal(r.size[4], 1);
    assert_int_equal(r.size[6], 1);
    assert_true(r.confidence[0] == 0.95);
    assert_true(r.confidence[1] == 0.97);
    assert_true(r.confidence[4] == 1.0); /* a single record */
    assert_int_equal(r.size_hist[0], 2);  /* size 1 */
    assert_int_equal(r.size_hist[1], 1);  /* size 2 */
    assert_int_equal(r.size_hist[2], 1);  /* size 3 */
    assert_int_equal(r.size_hist[3], 0);
    assert_int_equal(r.n_dropped_one_to_one, 0);
    assert_int_equal(r.n_weak_joins, 0);
    clu_result_fini(&r);

    /* No links, no records. */
    assert_int_equal(clu_run(3, NULL, 0, &PLAIN, &r), DT_OK);
    assert_int_equal(r.n_entities, 3);
    assert_int_equal(r.entity[2], 2);
    clu_result_fini(&r);
    assert_int_equal(clu_run(0, NULL, 0, &PLAIN, &r), DT_OK);
    assert_int_equal(r.n_entities, 0);
    clu_result_fini(&r);
}

/* A link between records already joined does not lower the confidence:
 * only links that merge two clusters count. */
static void test_confidence_weakest_merging_link(void **state)
{
    (void)state;
    clu_link links[] = {{0, 2, 0.60}, {1, 2, 0.98}, {0, 1, 0.99}, {3, 4, 0.70}, {4, 5, 0.85}};
    clu_result r;
    assert_int_equal(clu_run(6, links, 5, &PLAIN, &r), DT_OK);
    assert_int_equal(r.entity[2], 0);
    assert_true(r.confidence[0] == 0.98); /* 0.60 closed a triangle, merged nothing */
    assert_int_equal(r.entity[5], 3);
    assert_true(r.confidence[3] == 0.70); /* a chain: its weakest link */
    assert_int_equal(r.size[3], 3);
    assert_int_equal(r.n_used_links, 5);
    clu_result_fini(&r);
}

static void shuffle(clu_link *l, size_t n, util_rng *r)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)util_rng_below(r, i + 1);
        clu_link t = l[i];
        l[i] = l[j];
        l[j] = t;
    }
}

/* Invariant 1: the result depends on the set of links only. Ties in p are
 * frequent here, and one-to-one makes the order of ties matter. */
static void test_order_independent(void **state)
{
    (void)state;
    enum { N_RECS = 300, N_LINKS = 400 };
    util_rng r;
    util_rng_seed(&r, 2024);
    uint16_t src[N_RECS];
    for (int i = 0; i < N_RECS; i++) src[i] = (uint16_t)(i < N_RECS / 2 ? 0 : 1);
    clu_link base[N_LINKS], work[N_LINKS];
    for (int i = 0; i < N_LINKS; i++) {
        uint32_t a = (uint32_t)util_rng_below(&r, N_RECS / 2);
        uint32_t b = (uint32_t)(N_RECS / 2 + util_rng_below(&r, N_RECS / 2));
        base[i] = (clu_link){a, b, 0.5 + 0.1 * (double)util_rng_below(&r, 5)};
    }
    for (int one_to_one = 0; one_to_one <= 1; one_to_one++) {
        clu_options opt = {.src = src, .one_to_one = one_to_one, .weak_link = 0.8,
                           .weak_join_size = 2};
        clu_result first;
        memcpy(work, base, sizeof base);
        assert_int_equal(clu_run(N_RECS, work, N_LINKS, &opt, &first), DT_OK);
        assert_true(first.n_entities < N_RECS); /* links did join records */
        if (one_to_one) assert_true(first.n_dropped_one_to_one > 0);
        for (int round = 0; round < 5; round++) {
            memcpy(work, base, sizeof base);
            shuffle(work, N_LINKS, &r);
            clu_result again;
            assert_int_equal(clu_run(N_RECS, work, N_LINKS, &opt, &again), DT_OK);
            assert_memory_equal(again.entity, first.entity, N_RECS * sizeof *first.entity);
            assert_int_equal(again.n_entities, first.n_entities);
            assert_int_equal(again.n_used_links, first.n_used_links);
            assert_int_equal(again.n_dropped_one_to_one, first.n_dropped_one_to_one);
            assert_int_equal(again.n_weak_joins, first.n_weak_joins);
            assert_memory_equal(again.size_hist, first.size_hist, sizeof first.size_hist);
            for (uint32_t i = 0; i < N_RECS; i++) {
                if (first.entity[i] != i) continue;
                assert_true(again.confidence[i] == first.confidence[i]);
                assert_int_equal(again.size[i], first.size[i]);
            }
            clu_result_fini(&again);
        }
        /* Every record's entity is the smallest index in its component. */
        for (uint32_t i = 0; i < N_RECS; i++) {
            assert_true(first.entity[i] <= i);
            assert_int_equal(first.entity[first.entity[i]], first.entity[i]);
        }
        clu_result_fini(&first);
    }
}

static void test_one_to_one(void **state)
{
    (void)state;
    /* Records 0, 1 in source 0; 2, 3 in source 1. Record 0 links to both
     * 2 and 3; the weaker link comes first in the input. */
    const uint16_t src[4] = {0, 0, 1, 1};
    clu_options opt = {.src = src, .one_to_one = 1, .weak_link = 0, .weak_join_size = 100};
    clu_link links[] = {{0, 2, 0.90}, {0, 3, 0.95}};
    clu_result r;
    assert_int_equal(clu_run(4, links, 2, &opt, &r), DT_OK);
    assert_int_equal(r.entity[3], 0); /* the stronger link is kept */
    assert_int_equal(r.entity[2], 2);
    assert_int_equal(r.n_dropped_one_to_one, 1);
    assert_int_equal(r.n_used_links, 1);
    assert_int_equal(r.n_entities, 3);
    clu_result_fini(&r);

    /* The same from the other side: 2 in source 1 linked to 0 and 1. */
    clu_link links2[] = {{1, 2, 0.97}, {0, 2, 0.96}, {0, 3, 0.91}};
    assert_int_equal(clu_run(4, links2, 3, &opt, &r), DT_OK);
    assert_int_equal(r.entity[2], 1);
    assert_int_equal(r.entity[3], 0); /* 0 still had no link into source 1 */
    assert_int_equal(r.entity[0], 0);
    assert_int_equal(r.n_dropped_one_to_one, 1);
    clu_result_fini(&r);

    /* Without the rule all three records join. */
    clu_link links3[] = {{0, 2, 0.90}, {0, 3, 0.95}};
    opt.one_to_one = 0;
    assert_int_equal(clu_run(4, links3, 2, &opt, &r), DT_OK);
    assert_int_equal(r.entity[2], 0);
    assert_int_equal(r.entity[3], 0);
    assert_int_equal(r.n_dropped_one_to_one, 0);
    clu_result_fini(&r);
}

typedef struct weak_log {
    int n;
    clu_link last;
    uint32_t size_a, size_b;
} weak_log;

static void on_weak(void *ctx, const clu_link *l, uint32_t size_a, uint32_t size_b)
{
    weak_log *w = ctx;
    w->n++;
    w->last = *l;
    w->size_a = size_a;
    w->size_b = size_b;
}

static void test_weak_join(void **state)
{
    (void)state;
    weak_log w = {0};
    clu_options opt = {.weak_link = 0.9, .weak_join_size = 3, .on_weak = on_weak, .ctx = &w};
    /* Clusters {0,1,2} and {3,4,5} by strong links, {6,7} by one. */
    clu_link strong[] = {{0, 1, 0.99}, {1, 2, 0.99}, {3, 4, 0.99}, {4, 5, 0.99}, {6, 7, 0.99}};
    clu_link links[6];
    clu_result r;

    /* A weak link joining the two clusters of three: reported. */
    memcpy(links, strong, sizeof strong);
    links[5] = (clu_link){2, 3, 0.5};
    assert_int_equal(clu_run(8, links, 6, &opt, &r), DT_OK);
    assert_int_equal(w.n, 1);
    assert_int_equal(r.n_weak_joins, 1);
    assert_int_equal(w.last.a, 2);
    assert_int_equal(w.last.b, 3);
    assert_true(w.last.p == 0.5);
    assert_int_equal(w.size_a, 3);
    assert_int_equal(w.size_b, 3);
    assert_int_equal(r.entity[5], 0); /* reported, still joined */
    assert_true(r.confidence[0] == 0.5);
    clu_result_fini(&r);

    /* A strong link between the same clusters: not reported. */
    w = (weak_log){0};
    memcpy(links, strong, sizeof strong);
    links[5] = (clu_link){2, 3, 0.95};
    assert_int_equal(clu_run(8, links, 6, &opt, &r), DT_OK);
    assert_int_equal(w.n, 0);
    assert_int_equal(r.n_weak_joins, 0);
    clu_result_fini(&r);

    /* A weak link to a cluster of two (below weak_join_size): not reported. */
    memcpy(links, strong, sizeof strong);
    links[5] = (clu_link){5, 6, 0.5};
    assert_int_equal(clu_run(8, links, 6, &opt, &r), DT_OK);
    assert_int_equal(w.n, 0);
    assert_int_equal(r.n_weak_joins, 0);
    assert_int_equal(r.entity[7], 3);
    clu_result_fini(&r);

    /* No callback: still counted. */
    opt.on_weak = NULL;
    memcpy(links, strong, sizeof strong);
    links[5] = (clu_link){0, 5, 0.1};
    assert_int_equal(clu_run(8, links, 6, &opt, &r), DT_OK);
    assert_int_equal(r.n_weak_joins, 1);
    clu_result_fini(&r);
}

static void test_size_histogram(void **state)
{
    (void)state;
    assert_int_equal(clu_hist_bucket(1), 0);
    assert_int_equal(clu_hist_bucket(2), 1);
    assert_int_equal(clu_hist_bucket(5), 4);
    assert_int_equal(clu_hist_bucket(6), 5);
    assert_int_equal(clu_hist_bucket(10), 5);
    assert_int_equal(clu_hist_bucket(11), 6);
    assert_int_equal(clu_hist_bucket(100), 6);
    assert_int_equal(clu_hist_bucket(101), 7);
    assert_int_equal(clu_hist_bucket(UINT32_MAX), 7);

    /* Chains of 4, 7, 12 and 150 records, and 3 singletons. */
    enum { N = 4 + 7 + 12 + 150 + 3 };
    const uint32_t sizes[] = {4, 7, 12, 150};
    clu_link links[N];
    size_t n_links = 0;
    uint32_t start = 0;
    for (size_t k = 0; k < 4; k++) {
        for (uint32_t i = 1; i < sizes[k]; i++)
            links[n_links++] = (clu_link){start + i - 1, start + i, 0.99};
        start += sizes[k];
    }
    clu_result r;
    assert_int_equal(clu_run(N, links, n_links, &PLAIN, &r), DT_OK);
    const uint64_t want[8] = {3, 0, 0, 1, 0, 1, 1, 1};
    assert_memory_equal(r.size_hist, want, sizeof want);
    assert_int_equal(r.n_entities, 7);
    assert_int_equal(r.size[11], 12);
    assert_int_equal(r.size[23], 150);
    clu_result_fini(&r);
}

/* Records 0 and 3 hold different identifiers: they may never share an
 * entity, whichever path of links would join them. */
static int conflict_0_3(void *ctx, uint32_t a, uint32_t b, const uint8_t *g)
{
    (void)g;
    (*(int *)ctx)++;
    return (a == 0 && b == 3) || (a == 3 && b == 0);
}

static void test_cannot_link(void **state)
{
    (void)state;
    /* 0-1 strong, 2-3 strong, 1-2 weaker: the chain 0-1-2-3 would put 0
     * and 3 together, so the weakest link that would close it is refused. */
    clu_link links[] = {{0, 1, 0.99}, {2, 3, 0.98}, {1, 2, 0.70}, {4, 5, 0.9}};
    int n_checks = 0;
    clu_options opt = PLAIN;
    opt.conflicts = conflict_0_3;
    opt.ctx = &n_checks;
    clu_result r;
    assert_int_equal(clu_run(6, links, 4, &opt, &r), DT_OK);
    assert_int_equal(r.n_refused, 1);
    assert_int_equal(r.entity[0], r.entity[1]);
    assert_int_equal(r.entity[2], r.entity[3]);
    assert_true(r.entity[1] != r.entity[2]);
    assert_int_equal(r.entity[4], r.entity[5]);
    assert_int_equal(r.n_entities, 3);
    assert_true(n_checks >= 4); /* the refused join looked at every cross pair */
    clu_result_fini(&r);

    /* Without the constraint the chain joins all four. */
    assert_int_equal(clu_run(6, links, 4, &PLAIN, &r), DT_OK);
    assert_int_equal(r.entity[0], r.entity[3]);
    assert_int_equal(r.n_refused, 0);
    clu_result_fini(&r);
}

/* The link's own levels reach the check for its own pair, a to b, and for
 * no other: any other cross pair was never compared. */
typedef struct levels_seen {
    const uint8_t *link_levels[3];
    int with, without, wrong;
} levels_seen;

static int record_levels(void *ctx, uint32_t a, uint32_t b, const uint8_t *g)
{
    levels_seen *s = ctx;
    const uint8_t *own = NULL; /* links below: i joins 2i and 2i+1 for i < 2, then 1-2 */
    if (a == 0 && b == 1) own = s->link_levels[0];
    if (a == 2 && b == 3) own = s->link_levels[1];
    if (a == 1 && b == 2) own = s->link_levels[2];
    if (g) s->with++;
    else s->without++;
    if (g != own) s->wrong++;
    return 0;
}

static void test_conflict_gets_link_levels(void **state)
{
    (void)state;
    static const uint8_t g01[] = {1, 2}, g23[] = {3, 4}, g12[] = {5, 6};
    clu_link links[] = {{0, 1, 0.99, g01}, {2, 3, 0.98, g23}, {1, 2, 0.70, g12}};
    levels_seen seen = {.link_levels = {g01, g23, g12}};
    clu_options opt = PLAIN;
    opt.conflicts = record_levels;
    opt.ctx = &seen;
    clu_result r;
    assert_int_equal(clu_run(4, links, 3, &opt, &r), DT_OK);
    /* 0-1 and 2-3: one check each, the link itself; 1-2 joins {0,1} and
     * {2,3}: four checks, one of them (1, 2) the link's own pair. */
    assert_int_equal(seen.with, 3);
    assert_int_equal(seen.without, 3);
    assert_int_equal(seen.wrong, 0);
    assert_int_equal(r.n_entities, 1);
    clu_result_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_components),
        cmocka_unit_test(test_confidence_weakest_merging_link),
        cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_one_to_one),
        cmocka_unit_test(test_weak_join),
        cmocka_unit_test(test_size_histogram),
        cmocka_unit_test(test_cannot_link),
        cmocka_unit_test(test_conflict_gets_link_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
