/*
 * block.h — blocking (src/block): key expressions over normalized values,
 * and candidate-pair generation as the union of several rules, each pair
 * once. Knows norm and the config; not the record table (the engine hands
 * it one 64-bit key per record per rule).
 *
 * Invariants:
 *   1. A key of 0 means "no key": the record is in no block of that rule.
 *   2. A pair is emitted by the first rule (config order) whose keys are
 *      equal on both records and whose block was not skipped for its size;
 *      later rules skip it. So each pair appears once, and `rule` says which
 *      rule produced it.
 *   3. Emitted pairs have a < b (canonical record indexes), and which pairs
 *      exist depends only on keys, sources and mode, never on threads.
 */
#ifndef DT_BLOCK_H
#define DT_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "io/config.h"
#include "norm/norm.h"
#include "util/util.h"

/* The key of one field value under a key function: a hash, or 0 when the
 * function yields nothing (e.g. soundex of a value with no letter). If
 * text is not NULL the key's text is appended to it (for messages). */
uint64_t block_value_key(const cfg_key *k, const char *value, const norm_nicknames *nicks,
                         util_buf *text);

/* Combines a rule's per-key hashes into one; 0 if any part is 0. */
uint64_t block_combine(const uint64_t *parts, int n_parts);

typedef struct block_pair {
    uint32_t a, b;   /* a < b */
} block_pair;

typedef struct block_rule_stats {
    uint64_t n_blocks;         /* blocks with at least two records */
    uint64_t n_pairs_est;      /* pairs the rule's blocks hold (before removing earlier rules') */
    uint64_t n_pairs;          /* pairs this rule emitted (new ones) */
    uint64_t largest_block;    /* records in its largest block */
    uint64_t n_skipped_blocks; /* blocks over the cap */
    uint64_t n_skipped_pairs;  /* pairs those blocks hold (part of n_pairs_est) */
} block_rule_stats;

/* Called for a block over the cap: rule index, one record in the block,
 * the block's record count and pair count. */
typedef void (*block_skip_fn)(void *ctx, int rule, uint32_t rec, uint64_t n_recs,
                              uint64_t n_pairs);

/* Called once per rule after every rule's blocks are counted and before
 * any pair is generated, so the caller can show what is coming, and refuse
 * it: a negative return stops block_run with that code. Both callbacks run
 * on the calling thread, in rule order. */
typedef int (*block_estimate_fn)(void *ctx, int rule, const block_rule_stats *stats);

typedef struct block_input {
    size_t n_recs;
    const uint16_t *src;        /* source per record */
    size_t n_rules;
    uint64_t *const *keys;      /* keys[rule][rec] */
    const uint8_t *key_fp;      /* NULL, or key_fp[rec * n_rules + rule]: 8 bits of that
                                   key, 0 for none, equal for equal keys (pipeline.h) */
    int want_agree;             /* 1: fill block_output.agree (at most BLOCK_AGREE_RULES) */
    cfg_mode mode;              /* which pairs count: cross-source, same-source, both */
    const uint64_t *linkable;   /* per source, bit j: may pair with source j; NULL: any */
    uint64_t max_block_pairs;
    int n_threads;              /* rules run in parallel on this many; <= 0: one */
    block_skip_fn on_skip;      /* may be NULL */
    block_estimate_fn on_estimate; /* may be NULL */
    /* may be NULL: called once every block is counted, before any pair is
     * made; may hand the fingerprints then (*key_fp), so they need not be
     * held while blocks are sorted. A negative return stops block_run. */
    int (*on_counted)(void *ctx, const uint8_t **key_fp);
    void (*on_emitted)(void *ctx); /* may be NULL: every pair is out, keys are read no more
                                      (the caller may free them before the pairs are joined) */
    void *ctx;
} block_input;

enum { BLOCK_AGREE_RULES = 32 };

typedef struct block_output {
    block_pair *pairs;          /* dt_free */
    uint8_t *rules;             /* rule per pair; dt_free */
    uint32_t *agree;            /* per pair when asked: bit r set when rule r's keys are
                                   equal (and not 0) on both records, skipped blocks or
                                   not; what training's masks need, so the keys can go
                                   after blocking; NULL otherwise */
    size_t n_pairs;
    block_rule_stats *stats;    /* n_rules entries; dt_free */
} block_output;

/* Generates the candidate pairs. OUT: *out (release with block_output_fini). */
int block_run(const block_input *in, block_output *out);
void block_output_fini(block_output *out);

/* 1 if the mode compares records of sources sa and sb. */
static inline int block_mode_allows(cfg_mode mode, uint16_t sa, uint16_t sb)
{
    if (mode == CFG_MODE_LINK) return sa != sb;
    if (mode == CFG_MODE_DEDUPE) return sa == sb;
    return 1;
}

/* 1 if the mode compares sources sa and sb and linkable (NULL: any) lets
 * them pair: a purpose whose policies keep two sources apart never
 * compares their records, not even to train. */
static inline int block_sources_pair(cfg_mode mode, const uint64_t *linkable, uint16_t sa,
                                     uint16_t sb)
{
    return block_mode_allows(mode, sa, sb) && (!linkable || (linkable[sa] >> sb & 1));
}

/* 1 when rule r's keys are equal (and not 0) on records a and b; with
 * fingerprints (key_fp, record-major, NULL: none) asked first, which
 * settle most pairs in the cache line they share. */
static inline int block_same_key(uint64_t *const *keys, const uint8_t *key_fp, size_t n_rules,
                                 size_t r, uint32_t a, uint32_t b)
{
    if (key_fp) {
        uint8_t fa = key_fp[(size_t)a * n_rules + r];
        if (!fa || fa != key_fp[(size_t)b * n_rules + r]) return 0;
    }
    return keys[r][a] && keys[r][a] == keys[r][b];
}

#endif /* DT_BLOCK_H */
