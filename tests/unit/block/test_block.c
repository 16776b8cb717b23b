/* Unit tests for src/block/block.c: key functions over normalized values
 * (UTF-8 aware substr and initial, partial dates, tokens, nicknames), and
 * candidate pairs: the union of rules with each pair once under the first
 * rule, modes, the block-size cap and its report, per-rule stats and the
 * estimates reported before pairs are generated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "block/block.h"

/* The key's text, or "" when there is no key; asserts the hash is 0 iff
 * there is no text. */
static const char *key_text(cfg_key_fn fn, int arg1, int arg2, const char *value,
                            const norm_nicknames *nicks)
{
    static char out[64];
    cfg_key k = {.fn = fn, .i_field = 0, .arg1 = arg1, .arg2 = arg2};
    util_buf b = {0};
    uint64_t h = block_value_key(&k, value, nicks, &b);
    snprintf(out, sizeof out, "%s", b.len ? b.data : "");
    util_buf_fini(&b);
    if (h == 0) assert_string_equal(out, "");
    else assert_true(out[0] != '\0');
    assert_true(h == block_value_key(&k, value, nicks, NULL)); /* text is optional */
    return out;
}

static uint64_t key(cfg_key_fn fn, const char *value)
{
    cfg_key k = {.fn = fn};
    return block_value_key(&k, value, NULL, NULL);
}

static void test_value_keys(void **state)
{
    (void)state;
    assert_string_equal(key_text(CFG_K_VALUE, 0, 0, "smith", NULL), "smith");
    assert_string_equal(key_text(CFG_K_SOUNDEX, 0, 0, "robert", NULL), "r163");
    assert_true(key(CFG_K_SOUNDEX, "robert") == key(CFG_K_SOUNDEX, "rupert"));
    assert_true(key(CFG_K_SOUNDEX, "robert") != key(CFG_K_SOUNDEX, "rubin"));
    assert_true(key(CFG_K_VALUE, "robert") != key(CFG_K_VALUE, "rupert"));
    assert_true(key(CFG_K_SOUNDEX, "123") == 0); /* no letter: no key */
    assert_true(key(CFG_K_NYSIIS, "robert") != 0);

    /* substr counts code points, 1-based. */
    assert_string_equal(key_text(CFG_K_SUBSTR, 4, 1, "josé", NULL), "é");
    assert_string_equal(key_text(CFG_K_SUBSTR, 3, 2, "josé", NULL), "sé");
    assert_string_equal(key_text(CFG_K_SUBSTR, 1, 2, "josé", NULL), "jo");
    assert_string_equal(key_text(CFG_K_SUBSTR, 1, 3, "ñandú", NULL), "ñan");
    assert_string_equal(key_text(CFG_K_SUBSTR, 2, 10, "jo", NULL), "o"); /* past the end */
    assert_string_equal(key_text(CFG_K_SUBSTR, 5, 1, "josé", NULL), "");  /* nothing left */

    /* Dates are "YYYYMMDD"; "00" is an unknown part. */
    assert_string_equal(key_text(CFG_K_YEAR, 0, 0, "19800512", NULL), "1980");
    assert_string_equal(key_text(CFG_K_MONTH, 0, 0, "19800512", NULL), "05");
    assert_string_equal(key_text(CFG_K_DAY, 0, 0, "19800512", NULL), "12");
    assert_string_equal(key_text(CFG_K_MONTH, 0, 0, "19800012", NULL), "");
    assert_string_equal(key_text(CFG_K_DAY, 0, 0, "19800500", NULL), "");
    assert_string_equal(key_text(CFG_K_YEAR, 0, 0, "19800000", NULL), "1980");
    assert_string_equal(key_text(CFG_K_YEAR, 0, 0, "1980", NULL), ""); /* not a date */
    assert_true(key(CFG_K_YEAR, "19800512") == key(CFG_K_YEAR, "19801231"));

    assert_string_equal(key_text(CFG_K_FIRST_TOKEN, 0, 0, "mary ann lee", NULL), "mary");
    assert_string_equal(key_text(CFG_K_LAST_TOKEN, 0, 0, "mary ann lee", NULL), "lee");
    assert_string_equal(key_text(CFG_K_FIRST_TOKEN, 0, 0, "mary", NULL), "mary");
    assert_string_equal(key_text(CFG_K_LAST_TOKEN, 0, 0, "mary", NULL), "mary");
    assert_string_equal(key_text(CFG_K_INITIAL, 0, 0, "émile", NULL), "é");
    assert_string_equal(key_text(CFG_K_INITIAL, 0, 0, "john", NULL), "j");
    assert_true(key(CFG_K_INITIAL, "john") == key(CFG_K_INITIAL, "jane"));

    /* suffix counts code points from the end; shorter values have no key. */
    assert_string_equal(key_text(CFG_K_SUFFIX, 4, 0, "123456789", NULL), "6789");
    assert_string_equal(key_text(CFG_K_SUFFIX, 4, 0, "6789", NULL), "6789");
    assert_string_equal(key_text(CFG_K_SUFFIX, 2, 0, "josé", NULL), "sé");
    assert_string_equal(key_text(CFG_K_SUFFIX, 4, 0, "789", NULL), "");

    /* A whole-date key needs the whole date; year() still keys a partial one. */
    assert_string_equal(key_text(CFG_K_DATE, 0, 0, "19740512", NULL), "19740512");
    assert_string_equal(key_text(CFG_K_DATE, 0, 0, "19740000", NULL), "");
    assert_string_equal(key_text(CFG_K_DATE, 0, 0, "19740500", NULL), "");
    assert_string_equal(key_text(CFG_K_YEAR, 0, 0, "19740000", NULL), "1974");

    /* Null and empty values have no key under any function. */
    for (int fn = 0; fn < CFG_N_KEY_FNS; fn++) {
        cfg_key k = {.fn = (cfg_key_fn)fn, .arg1 = 1, .arg2 = 2};
        assert_true(block_value_key(&k, NULL, NULL, NULL) == 0);
        assert_true(block_value_key(&k, "", NULL, NULL) == 0);
    }
}

static void test_nickname_key(void **state)
{
    (void)state;
    /* Without a table the key is the first token. */
    assert_string_equal(key_text(CFG_K_NICKNAME, 0, 0, "bill smith", NULL), "bill");

    char path[] = "/tmp/dt_test_nicks_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char table[] = "# test table\nwilliam\tbill,will,billy\nrobert\tbob,rob\n";
    assert_int_equal(write(fd, table, sizeof table - 1), (ssize_t)(sizeof table - 1));
    close(fd);
    norm_nicknames *nicks = NULL;
    dt_error err;
    dt_error_clear(&err);
    int rc = norm_nick_load(path, &nicks, &err);
    unlink(path);
    assert_int_equal(rc, DT_OK);
    assert_string_equal(key_text(CFG_K_NICKNAME, 0, 0, "bill", nicks), "william");
    assert_string_equal(key_text(CFG_K_NICKNAME, 0, 0, "billy jo", nicks), "william");
    assert_string_equal(key_text(CFG_K_NICKNAME, 0, 0, "bob", nicks), "robert");
    assert_string_equal(key_text(CFG_K_NICKNAME, 0, 0, "zed", nicks), "zed");
    cfg_key k = {.fn = CFG_K_NICKNAME};
    assert_true(block_value_key(&k, "will", nicks, NULL) ==
                block_value_key(&k, "william", nicks, NULL));
    assert_true(block_value_key(&k, "will", nicks, NULL) !=
                block_value_key(&k, "rob", nicks, NULL));
    norm_nick_free(nicks);
}

static void test_combine(void **state)
{
    (void)state;
    const uint64_t ab[2] = {11, 22}, ba[2] = {22, 11}, a0[2] = {11, 0};
    assert_true(block_combine(ab, 2) != 0);
    assert_true(block_combine(ab, 2) == block_combine(ab, 2));
    assert_true(block_combine(ab, 2) != block_combine(ba, 2)); /* key order matters */
    assert_true(block_combine(a0, 2) == 0);
    assert_true(block_combine(ab, 1) != block_combine(ab, 2));
}

/* ---- pairs ----------------------------------------------------------- */

typedef struct expect_pair {
    uint32_t a, b;
    int rule;
} expect_pair;

/* Checks that out holds exactly the expected pairs (any order), each once. */
static void check_pairs(const block_output *out, const expect_pair *want, size_t n_want)
{
    for (size_t i = 0; i < out->n_pairs; i++) {
        assert_true(out->pairs[i].a < out->pairs[i].b);
        for (size_t j = 0; j < i; j++)
            assert_false(out->pairs[j].a == out->pairs[i].a &&
                         out->pairs[j].b == out->pairs[i].b);
    }
    for (size_t k = 0; k < n_want; k++) {
        int found = 0;
        for (size_t i = 0; i < out->n_pairs; i++) {
            if (out->pairs[i].a != want[k].a || out->pairs[i].b != want[k].b) continue;
            found = 1;
            assert_int_equal(out->rules[i], want[k].rule);
        }
        if (!found) fprintf(stderr, "missing pair (%u, %u)\n", want[k].a, want[k].b);
        assert_true(found);
    }
    assert_int_equal(out->n_pairs, n_want);
}

typedef struct estimate_log {
    int n;
    int rules[4];
    block_rule_stats stats[4];
    int refuse_at;   /* rule whose estimate is refused; -1: none */
} estimate_log;

static int on_estimate(void *ctx, int rule, const block_rule_stats *stats)
{
    estimate_log *e = ctx;
    assert_in_range(e->n, 0, 3);
    e->rules[e->n] = rule;
    e->stats[e->n++] = *stats;
    return rule == e->refuse_at ? DT_ELIMIT : DT_OK;
}

static void test_union_first_rule_wins(void **state)
{
    (void)state;
    /* Rule 0 blocks {0,1,2} and {3,4}; rule 1 blocks {0,2,3} and {1,5}.
     * Record 5 has no key under rule 0. */
    uint64_t k0[6] = {7, 7, 7, 9, 9, 0};
    uint64_t k1[6] = {5, 6, 5, 5, 0, 6};
    uint64_t *const keys[2] = {k0, k1};
    uint16_t src[6] = {0};
    estimate_log est = {.refuse_at = -1};
    block_input in = {.n_recs = 6, .src = src, .n_rules = 2, .keys = keys,
                      .mode = CFG_MODE_DEDUPE, .max_block_pairs = 1000,
                      .on_estimate = on_estimate, .ctx = &est};
    block_output out;
    assert_int_equal(block_run(&in, &out), DT_OK);
    /* Estimates come once per rule, in order, before any pair exists. */
    assert_int_equal(est.n, 2);
    assert_int_equal(est.rules[0], 0);
    assert_int_equal(est.rules[1], 1);
    assert_int_equal(est.stats[0].n_pairs_est, 4);
    assert_int_equal(est.stats[1].n_pairs_est, 4);
    assert_int_equal(est.stats[1].n_blocks, 2);
    assert_int_equal(est.stats[0].n_pairs, 0);
    assert_int_equal(est.stats[1].n_pairs, 0);
    const expect_pair want[] = {{0, 1, 0}, {0, 2, 0}, {1, 2, 0}, {3, 4, 0},
                                {0, 3, 1}, {2, 3, 1}, {1, 5, 1}};
    check_pairs(&out, want, DT_ARRAY_LEN(want));
    assert_int_equal(out.stats[0].n_blocks, 2);
    assert_int_equal(out.stats[0].n_pairs_est, 4);
    assert_int_equal(out.stats[0].n_pairs, 4);
    assert_int_equal(out.stats[0].largest_block, 3);
    assert_int_equal(out.stats[0].n_skipped_blocks, 0);
    assert_int_equal(out.stats[1].n_blocks, 2);
    assert_int_equal(out.stats[1].n_pairs_est, 4); /* (0,2) counted, not emitted */
    assert_int_equal(out.stats[1].n_pairs, 3);
    assert_int_equal(out.stats[1].largest_block, 3);
    block_output_fini(&out);

    /* Refusing an estimate stops the run before any pair is made. */
    est = (estimate_log){.refuse_at = 1};
    assert_int_equal(block_run(&in, &out), DT_ELIMIT);
    assert_int_equal(est.n, 2);
    assert_null(out.pairs);
    assert_int_equal(out.n_pairs, 0);

    /* The same rules in the other order: the same pairs, other owners. */
    uint64_t *const swapped[2] = {k1, k0};
    in.keys = swapped;
    in.on_estimate = NULL;
    assert_int_equal(block_run(&in, &out), DT_OK);
    const expect_pair want2[] = {{0, 2, 0}, {0, 3, 0}, {2, 3, 0}, {1, 5, 0},
                                 {0, 1, 1}, {1, 2, 1}, {3, 4, 1}};
    check_pairs(&out, want2, DT_ARRAY_LEN(want2));
    block_output_fini(&out);
}

static void test_modes(void **state)
{
    (void)state;
    /* Records 0, 1 from source 0; 2, 3, 4 from source 1; one block. */
    uint64_t k[5] = {3, 3, 3, 3, 3};
    uint64_t *const keys[1] = {k};
    uint16_t src[5] = {0, 0, 1, 1, 1};
    block_input in = {.n_recs = 5, .src = src, .n_rules = 1, .keys = keys,
                      .mode = CFG_MODE_LINK, .max_block_pairs = 1000};
    block_output out;

    assert_int_equal(block_run(&in, &out), DT_OK);
    const expect_pair link[] = {{0, 2, 0}, {0, 3, 0}, {0, 4, 0}, {1, 2, 0}, {1, 3, 0}, {1, 4, 0}};
    check_pairs(&out, link, DT_ARRAY_LEN(link));
    assert_int_equal(out.stats[0].n_pairs_est, 6);
    block_output_fini(&out);

    in.mode = CFG_MODE_DEDUPE;
    assert_int_equal(block_run(&in, &out), DT_OK);
    const expect_pair dedupe[] = {{0, 1, 0}, {2, 3, 0}, {2, 4, 0}, {3, 4, 0}};
    check_pairs(&out, dedupe, DT_ARRAY_LEN(dedupe));
    assert_int_equal(out.stats[0].n_pairs_est, 4);
    block_output_fini(&out);

    in.mode = CFG_MODE_LINK_AND_DEDUPE;
    assert_int_equal(block_run(&in, &out), DT_OK);
    assert_int_equal(out.n_pairs, 10);
    assert_int_equal(out.stats[0].n_pairs_est, 10);
    block_output_fini(&out);

    assert_true(block_mode_allows(CFG_MODE_LINK, 0, 1));
    assert_false(block_mode_allows(CFG_MODE_LINK, 1, 1));
    assert_true(block_mode_allows(CFG_MODE_DEDUPE, 1, 1));
    assert_false(block_mode_allows(CFG_MODE_DEDUPE, 0, 1));
    assert_true(block_mode_allows(CFG_MODE_LINK_AND_DEDUPE, 0, 1));
}

/* A purpose's view that keeps sources 0 and 2 apart: no pair of theirs is
 * made, in any mode, while each still pairs with source 1 and itself. */
static void test_linkable_sources(void **state)
{
    (void)state;
    uint64_t k[6] = {7, 7, 7, 7, 7, 7};
    uint64_t *const keys[1] = {k};
    uint16_t src[6] = {0, 0, 1, 1, 2, 2};
    const uint64_t linkable[3] = {0x3, 0x7, 0x6}; /* 0: {0,1}  1: {0,1,2}  2: {1,2} */
    block_input in = {.n_recs = 6, .src = src, .n_rules = 1, .keys = keys, .linkable = linkable,
                      .mode = CFG_MODE_LINK_AND_DEDUPE, .max_block_pairs = 1000};
    block_output out;
    assert_int_equal(block_run(&in, &out), DT_OK);
    const expect_pair both[] = {{0, 1, 0}, {0, 2, 0}, {0, 3, 0}, {1, 2, 0}, {1, 3, 0}, {2, 3, 0},
                                {2, 4, 0}, {2, 5, 0}, {3, 4, 0}, {3, 5, 0}, {4, 5, 0}};
    check_pairs(&out, both, DT_ARRAY_LEN(both));
    block_output_fini(&out);

    in.mode = CFG_MODE_LINK;
    assert_int_equal(block_run(&in, &out), DT_OK);
    const expect_pair link[] = {{0, 2, 0}, {0, 3, 0}, {1, 2, 0}, {1, 3, 0},
                                {2, 4, 0}, {2, 5, 0}, {3, 4, 0}, {3, 5, 0}};
    check_pairs(&out, link, DT_ARRAY_LEN(link));
    block_output_fini(&out);

    assert_false(block_sources_pair(CFG_MODE_LINK, linkable, 0, 2));
    assert_false(block_sources_pair(CFG_MODE_LINK, linkable, 2, 0));
    assert_true(block_sources_pair(CFG_MODE_LINK, NULL, 0, 2));
    assert_false(block_sources_pair(CFG_MODE_LINK, linkable, 1, 1));
}

typedef struct skip_log {
    int n;
    int rule;
    uint32_t rec;
    uint64_t n_recs, n_pairs;
} skip_log;

static void on_skip(void *ctx, int rule, uint32_t rec, uint64_t n_recs, uint64_t n_pairs)
{
    skip_log *s = ctx;
    s->n++;
    s->rule = rule;
    s->rec = rec;
    s->n_recs = n_recs;
    s->n_pairs = n_pairs;
}

static void test_cap_skips_block(void **state)
{
    (void)state;
    /* Rule 0: block {1,2,3} (3 pairs, over the cap of 2) and {4,5}.
     * Rule 1: block {1,2} — the skipped block did not cover (1,2), so
     * rule 1 emits it; (4,5) it covered. */
    uint64_t k0[6] = {0, 8, 8, 8, 6, 6};
    uint64_t k1[6] = {0, 4, 4, 0, 5, 5};
    uint64_t *const keys[2] = {k0, k1};
    uint16_t src[6] = {0};
    skip_log log = {0};
    block_input in = {.n_recs = 6, .src = src, .n_rules = 2, .keys = keys,
                      .mode = CFG_MODE_DEDUPE, .max_block_pairs = 2, .on_skip = on_skip,
                      .ctx = &log};
    block_output out;
    assert_int_equal(block_run(&in, &out), DT_OK);
    const expect_pair want[] = {{4, 5, 0}, {1, 2, 1}};
    check_pairs(&out, want, DT_ARRAY_LEN(want));
    assert_int_equal(log.n, 1);
    assert_int_equal(log.rule, 0);
    assert_int_equal(log.rec, 1);
    assert_int_equal(log.n_recs, 3);
    assert_int_equal(log.n_pairs, 3);
    assert_int_equal(out.stats[0].n_skipped_blocks, 1);
    assert_int_equal(out.stats[0].n_skipped_pairs, 3);
    assert_int_equal(out.stats[0].n_blocks, 2);
    assert_int_equal(out.stats[0].n_pairs_est, 4);
    assert_int_equal(out.stats[0].n_pairs, 1);
    assert_int_equal(out.stats[0].largest_block, 3);
    assert_int_equal(out.stats[1].n_skipped_blocks, 0);
    assert_int_equal(out.stats[1].n_pairs, 1);
    block_output_fini(&out);

    /* A block with exactly the cap is kept; the report is optional. */
    in.max_block_pairs = 3;
    in.on_skip = NULL;
    assert_int_equal(block_run(&in, &out), DT_OK);
    const expect_pair want3[] = {{1, 2, 0}, {1, 3, 0}, {2, 3, 0}, {4, 5, 0}};
    check_pairs(&out, want3, DT_ARRAY_LEN(want3));
    assert_int_equal(out.stats[0].n_skipped_blocks, 0);
    block_output_fini(&out);

    /* The cap counts pairs the mode allows: in link mode the block of
     * {1,2,3} with sources 0,0,1 has 2 pairs, under a cap of 2. */
    uint16_t src2[6] = {0, 0, 0, 1, 0, 1};
    in.src = src2;
    in.mode = CFG_MODE_LINK;
    in.max_block_pairs = 2;
    in.on_skip = on_skip;
    log = (skip_log){0};
    assert_int_equal(block_run(&in, &out), DT_OK);
    const expect_pair want4[] = {{1, 3, 0}, {2, 3, 0}, {4, 5, 0}};
    check_pairs(&out, want4, DT_ARRAY_LEN(want4));
    assert_int_equal(log.n, 0);
    block_output_fini(&out);
}

/* Many random keys: every pair comes once, from the first rule that
 * blocks it, and every such pair is there. */
static void test_random_union(void **state)
{
    (void)state;
    enum { N = 300, R = 5 };
    util_rng rng;
    util_rng_seed(&rng, 5);
    static uint64_t k[R][N];
    uint16_t src[N];
    for (int i = 0; i < N; i++) {
        src[i] = (uint16_t)(i * 2 < N ? 0 : 1); /* indexes grouped by source */
        for (int r = 0; r < R; r++) {
            k[r][i] = util_rng_below(&rng, 40); /* 0: no key */
        }
    }
    uint64_t *const keys[R] = {k[0], k[1], k[2], k[3], k[4]};
    for (int run = 0; run < 6; run++) {
        /* Each mode on one worker, then on three: same pairs, same order. */
        int mode = run % 3, threads = run < 3 ? 1 : 3;
        block_input in = {.n_recs = N, .src = src, .n_rules = R, .keys = keys,
                          .mode = (cfg_mode)mode, .max_block_pairs = 1u << 30,
                          .n_threads = threads};
        block_output out;
        assert_int_equal(block_run(&in, &out), DT_OK);
        static block_pair first_run[3][N * N / 2];
        static size_t n_first[3];
        if (threads == 1) {
            memcpy(first_run[mode], out.pairs, out.n_pairs * sizeof *out.pairs);
            n_first[mode] = out.n_pairs;
        } else {
            assert_int_equal(out.n_pairs, n_first[mode]);
            assert_memory_equal(first_run[mode], out.pairs, out.n_pairs * sizeof *out.pairs);
        }
        static int8_t seen[N][N];
        memset(seen, -1, sizeof seen);
        for (size_t i = 0; i < out.n_pairs; i++) {
            block_pair p = out.pairs[i];
            assert_true(p.a < p.b);
            assert_int_equal(seen[p.a][p.b], -1);
            seen[p.a][p.b] = (int8_t)out.rules[i];
        }
        size_t n_expected = 0;
        for (uint32_t a = 0; a < N; a++)
            for (uint32_t b = a + 1; b < N; b++) {
                int first = -1;
                for (int r = 0; r < R && first < 0; r++)
                    if (k[r][a] && k[r][a] == k[r][b]) first = r;
                if (!block_mode_allows(in.mode, src[a], src[b])) first = -1;
                assert_int_equal(seen[a][b], first);
                n_expected += first >= 0;
            }
        assert_int_equal(out.n_pairs, n_expected);
        assert_true(n_expected > 100);
        block_output_fini(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_keys),
        cmocka_unit_test(test_nickname_key),
        cmocka_unit_test(test_combine),
        cmocka_unit_test(test_union_first_rule_wins),
        cmocka_unit_test(test_modes), cmocka_unit_test(test_linkable_sources),
        cmocka_unit_test(test_cap_skips_block),
        cmocka_unit_test(test_random_union),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
