/*
 * pipeline.c — the pipeline context and the stages every entry point shares:
 * callbacks, blocking keys, candidate pairs, record lookup, entity ids.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/pipeline.h"

static const char *const stage_names[DT_N_STAGES] = {
    "read", "index", "block", "compare", "train", "score", "cluster", "write",
};

const char *dt_stage_name(int i_stage)
{
    return i_stage >= 0 && i_stage < DT_N_STAGES ? stage_names[i_stage] : "?";
}

int pl_init(pl_ctx *e, const dt_config *cfg, dt_error *err)
{
    memset(e, 0, sizeof *e);
    e->cfg = cfg;
    e->err = err;
    e->n_threads = util_n_cores();
    e->null_per_field = dt_calloc(cfg->n_fields, sizeof *e->null_per_field);
    e->recs_per_source = dt_calloc(cfg->n_sources, sizeof *e->recs_per_source);
    e->keys = dt_calloc(cfg->n_rules, sizeof *e->keys);
    if (!e->null_per_field || !e->recs_per_source || !e->keys ||
        cmp_table_init(&e->table, cfg, NULL) < 0) {
        pl_fini(e);
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    return DT_OK;
}

void pl_fini(pl_ctx *e)
{
    if (e->rejects) fclose(e->rejects);
    cmp_table_fini(&e->table);
    norm_nick_free(e->own_nicks);
    pl_free_keys(e);
    dt_free(e->keys);
    dt_free(e->null_per_field);
    dt_free(e->recs_per_source);
    block_output_fini(&e->blk);
    memset(e, 0, sizeof *e);
}

void pl_log(pl_ctx *e, dt_log_level level, const char *fmt, ...)
{
    if (!e->on_log) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    e->on_log(e->cb_ctx, level, line);
}

void pl_progress(pl_ctx *e, const char *stage, uint64_t done, uint64_t total, int force)
{
    if (!e->on_progress) return;
    double now = util_now();
    if (!force && now - e->last_progress < 0.05) return;
    e->last_progress = now;
    e->on_progress(e->cb_ctx, stage, done, total);
}

/* ---- blocking keys -------------------------------------------------- */

/* Key of every distinct value of a key's field, so each is computed once. */
static uint64_t *value_keys(const pl_ctx *e, const cfg_key *k)
{
    const cmp_column *col = &e->table.cols[k->i_field];
    uint32_t n = col->dict.n_strs;
    uint64_t *vk = dt_malloc((n ? n : 1) * sizeof *vk);
    if (!vk) return NULL;
    for (uint32_t v = 0; v < n; v++) vk[v] = block_value_key(k, col->dict.strs[v], e->nicks, NULL);
    return vk;
}

static int rule_keys(pl_ctx *e, const cfg_rule *r, uint64_t *out)
{
    uint64_t *vk[CFG_MAX_KEYS] = {0};
    int rc = DT_OK;
    for (int k = 0; k < r->n_keys && rc == DT_OK; k++)
        if (!(vk[k] = value_keys(e, &r->keys[k]))) rc = DT_ENOMEM;
    for (size_t i = 0; i < e->table.n_recs && rc == DT_OK; i++) {
        uint64_t parts[CFG_MAX_KEYS];
        for (int k = 0; k < r->n_keys; k++) {
            uint32_t v = e->table.cols[r->keys[k].i_field].vals[i];
            parts[k] = v == CMP_NULL ? 0 : vk[k][v];
        }
        out[i] = block_combine(parts, r->n_keys);
    }
    for (int k = 0; k < r->n_keys; k++) dt_free(vk[k]);
    return rc;
}

typedef struct keys_job {
    pl_ctx *e;
    int *rc;                    /* per rule */
} keys_job;

static void keys_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    keys_job *j = ctx;
    size_t n = j->e->table.n_recs ? j->e->table.n_recs : 1;
    for (size_t r = begin; r < end; r++) {
        uint64_t *keys = dt_malloc(n * sizeof *keys);
        j->e->keys[r] = keys;
        j->rc[r] = keys ? rule_keys(j->e, &j->e->cfg->rules[r], keys) : DT_ENOMEM;
    }
}

static void fp_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    pl_ctx *e = ctx;
    size_t nr = e->cfg->n_rules;
    for (size_t i = begin; i < end; i++)
        for (size_t r = 0; r < nr; r++) e->key_fp[i * nr + r] = pl_key_fp(e->keys[r][i]);
}

/* Rules on every thread, each writing its own keys. */
int pl_keys(pl_ctx *e)
{
    size_t nr = e->cfg->n_rules, n = e->table.n_recs;
    /* a request's few records: threads would cost more than they save */
    int n_threads = n < (1 << 16) ? 1 : e->n_threads;
    int *rc = dt_calloc(nr ? nr : 1, sizeof *rc);
    int bad = !rc;
    if (!bad) {
        keys_job j = {e, rc};
        bad = util_parallel_for(n_threads, nr, 1, keys_range, &j) < 0;
    }
    for (size_t r = 0; !bad && r < nr; r++) bad = rc[r] < 0;
    dt_free(rc);
    return bad ? dt_err_set(e->err, DT_ENOMEM, "out of memory computing blocking keys") : DT_OK;
}

int pl_key_fps(pl_ctx *e)
{
    size_t nr = e->cfg->n_rules, n = e->table.n_recs;
    dt_free(e->key_fp);
    if (!(e->key_fp = dt_malloc((n && nr ? n * nr : 1) * sizeof *e->key_fp)))
        return dt_err_set(e->err, DT_ENOMEM, "out of memory computing blocking keys");
    return util_parallel_for(n < (1 << 16) ? 1 : e->n_threads, n, 1 << 16, fp_range, e);
}

static int context_cannot_link(const pl_ctx *e)
{
    return e->model && e->model->n_ctx && e->cfg->context_cannot_link > 0;
}

int pl_has_conflicts(const pl_ctx *e)
{
    return e->cfg->n_exclusive || e->cfg->n_cannot_links || context_cannot_link(e);
}

/* The levels of one pair, each comparison evaluated at most once: done has
 * bit c set when g[c] holds its level. Clustering asks about every pair
 * across two clusters about to join, so the checks below look at what they
 * already know first, then at the cheapest comparisons (fewest levels). */
typedef struct pair_levels {
    uint8_t g[FS_MAX_COMPARISONS];
    uint64_t done;
} pair_levels;

static uint8_t level_once(const pl_ctx *e, uint32_t a, uint32_t b, size_t c, pair_levels *pl)
{
    if (!((pl->done >> c) & 1)) {
        pl->g[c] = (uint8_t)cmp_eval(&e->table, &e->cfg->comparisons[c], a, b);
        pl->done |= 1ULL << c;
    }
    return pl->g[c];
}

/* 1 when each comparison in mask is at one of its levels (bit l of
 * levels[c]): a cannot_link rule, or a context's condition. */
static int levels_meet(const pl_ctx *e, uint32_t a, uint32_t b, uint64_t mask,
                       const uint32_t *levels, pair_levels *pl)
{
    for (size_t c = 0; c < e->cfg->n_comparisons && c < 64; c++)
        if ((mask & pl->done) >> c & 1 && !((levels[c] >> pl->g[c]) & 1)) return 0;
    for (uint64_t left = mask & ~pl->done; left;) {
        size_t best = 64;
        for (size_t c = 0; c < e->cfg->n_comparisons && c < 64; c++)
            if ((left >> c) & 1 &&
                (best == 64 || e->cfg->comparisons[c].n_levels < e->cfg->comparisons[best].n_levels))
                best = c;
        if (!((levels[best] >> level_once(e, a, b, best, pl)) & 1)) return 0;
        left &= ~(1ULL << best);
    }
    return 1;
}

/* 1 when the pair meets some estimated context's condition. */
static int may_be_in_context(const pl_ctx *e, uint32_t a, uint32_t b, pair_levels *pl)
{
    const fs_model *m = e->model;
    for (size_t k = 0; k < m->n_ctx; k++)
        if (m->ctx[k].is_set && levels_meet(e, a, b, m->ctx[k].mask, m->ctx[k].levels, pl))
            return 1;
    return 0;
}

/* Without an identifier on both records, only a pair the context's model
 * all but rules out (a different sex, a birth date decades away) is kept
 * apart for good. */
#ifndef CONTEXT_CANNOT_LINK_WITHOUT_ID
#define CONTEXT_CANNOT_LINK_WITHOUT_ID 0.01
#endif

/* 1 when both records hold a value of some exclusive comparison (an SSN,
 * or its last 4 digits against a full one). */
static int carries_identifier(const dt_config *cfg, const uint8_t *g)
{
    for (size_t k = 0; k < cfg->n_exclusive; k++)
        if (g[cfg->exclusive[k]] != 0) return 1;
    return 0;
}

/* Two records in a context (a household's or twins' shared data; model.h
 * invariant 4) that the model learned there calls different people are
 * relatives: a chain of other links must not join them either. Without an
 * identifier on both, a probability under one half is often an absence of
 * evidence (a given name in English on one roll and in Chinese on the
 * other), which must not outvote the links that join them: at 10M people,
 * a hundred people per ZIP, that split 16% of Chinese-named people. */
static int context_conflict(const pl_ctx *e, uint32_t a, uint32_t b, pair_levels *pl)
{
    if (!may_be_in_context(e, a, b, pl)) return 0;
    for (size_t c = 0; c < e->cfg->n_comparisons; c++) level_once(e, a, b, c, pl);
    if (!fs_scoring_context(e->model, pl->g)) return 0;
    double w = e->scorer ? fs_scorer_weight(e->scorer, pl->g, a, b)
                         : fs_pair_weight(e->model, e->cfg, &e->table, pl->g, a, b);
    double p = fs_probability(w);
    double limit = e->cfg->context_cannot_link;
    if (!carries_identifier(e->cfg, pl->g) && limit > CONTEXT_CANNOT_LINK_WITHOUT_ID)
        limit = CONTEXT_CANNOT_LINK_WITHOUT_ID;
    return p < limit;
}

/* cfg_levels_forbid_link, and the contexts, over levels evaluated lazily:
 * on the cluster stage at 1M, 5.9 s against 7.1 s for the pair's whole
 * vector first. A cannot_link rule holds when each of its comparisons is at
 * one of its levels: say, an SSN one digit away and a given name that no
 * level takes for the same (not a nickname, an initial, a shared token or
 * a near spelling): twins, not one person with two typos. */
/* ---- people's decisions (pipeline.h, pl_decided) ---------------------- */

static int64_t decided_key(uint32_t a, uint32_t b)
{
    return (int64_t)((uint64_t)(a < b ? a : b) << 32 | (a < b ? b : a));
}

void pl_decided_init(pl_decided *d, const pl_ctx *e)
{
    memset(d, 0, sizeof *d);
    d->e = e;
    d->has_rules = e->cfg && pl_has_conflicts(e);
}

int pl_decided_add(pl_decided *d, uint32_t a, uint32_t b, int same)
{
    return util_ids_add(same ? &d->together : &d->apart, decided_key(a, b));
}

void pl_decided_fini(pl_decided *d)
{
    util_ids_fini(&d->apart);
    util_ids_fini(&d->together);
}

int pl_decided_conflict(void *ctx, uint32_t a, uint32_t b, const uint8_t *g)
{
    const pl_decided *d = ctx;
    if (d->apart.n && util_ids_find(&d->apart, decided_key(a, b)) != UINT32_MAX) return 1;
    if (d->together.n && util_ids_find(&d->together, decided_key(a, b)) != UINT32_MAX) return 0;
    return d->has_rules && pl_records_conflict(d->e, a, b, g);
}

int pl_records_conflict(const pl_ctx *e, uint32_t a, uint32_t b, const uint8_t *g)
{
    pair_levels pl = {.done = 0};
    if (g) { /* the compare stage's levels for this very pair */
        memcpy(pl.g, g, e->cfg->n_comparisons);
        pl.done = e->cfg->n_comparisons >= 64 ? ~0ULL : (1ULL << e->cfg->n_comparisons) - 1;
    }
    for (size_t k = 0; k < e->cfg->n_exclusive; k++) {
        int c = e->cfg->exclusive[k];
        if (level_once(e, a, b, (size_t)c, &pl) == e->cfg->comparisons[c].n_levels + 1) return 1;
    }
    for (size_t k = 0; k < e->cfg->n_cannot_links; k++) {
        const cfg_cannot_link *r = &e->cfg->cannot_links[k];
        if (levels_meet(e, a, b, r->mask, r->levels, &pl)) return 1;
    }
    return context_cannot_link(e) && context_conflict(e, a, b, &pl);
}

void pl_free_keys(pl_ctx *e)
{
    dt_free(e->key_fp);
    e->key_fp = NULL;
    for (size_t r = 0; e->keys && r < e->cfg->n_rules; r++) {
        dt_free(e->keys[r]);
        e->keys[r] = NULL;
    }
}

/* Text of a record's key under a rule, for messages. */
static void key_text(const pl_ctx *e, int rule, uint32_t rec, util_buf *out)
{
    const cfg_rule *r = &e->cfg->rules[rule];
    for (int k = 0; k < r->n_keys; k++) {
        if (k) util_buf_append(out, "|", 1);
        block_value_key(&r->keys[k], cmp_value(&e->table, (size_t)r->keys[k].i_field, rec),
                        e->nicks, out);
    }
}

enum { SKIP_LOG_MAX = 10 }; /* over-cap blocks named on the log; the rest are counted */

static void on_skip(void *ctx, int rule, uint32_t rec, uint64_t n_recs, uint64_t n_pairs)
{
    pl_skipped_block(ctx, rule, rec, n_recs, n_pairs);
}

void pl_skipped_block(pl_ctx *e, int rule, uint32_t rec, uint64_t n_recs, uint64_t n_pairs)
{
    if (++e->n_skipped_blocks > SKIP_LOG_MAX) return;
    if (e->hides_values) { /* a block's key is its records' values */
        pl_log(e, DT_LOG_WARN, "blocking rule %s: a block has %llu records (%llu pairs), over "
               "the cap of %llu pairs: skipped", e->cfg->rules[rule].name,
               (unsigned long long)n_recs, (unsigned long long)n_pairs,
               (unsigned long long)e->cfg->max_block_pairs);
        return;
    }
    util_buf text = {0};
    key_text(e, rule, rec, &text);
    pl_log(e, DT_LOG_WARN,
            "blocking rule %s: block '%s' has %llu records (%llu pairs), over the cap of %llu "
            "pairs: skipped",
            e->cfg->rules[rule].name, text.data ? text.data : "", (unsigned long long)n_recs,
            (unsigned long long)n_pairs, (unsigned long long)e->cfg->max_block_pairs);
    util_buf_fini(&text);
}

/* How many more items of `bytes` each fit in the memory the machine has
 * left (9/10 of it: the rest is the kernel's and what we have not
 * counted); UINT64_MAX when the machine does not say. */
static uint64_t fits_in_memory(uint64_t bytes)
{
    uint64_t phys = util_phys_memory(), used = util_peak_rss();
    if (phys == 0) return UINT64_MAX;
    uint64_t room = phys / 10 * 9;
    return used >= room ? 0 : (room - used) / bytes;
}

/* Generating a pair costs its 9 bytes twice at worst (per-rule arrays,
 * then their concatenation). */
enum { BLOCK_BYTES_PER_PAIR = 2 * (sizeof(block_pair) + 1) };

/* Logs each rule's estimate; after the last, refuses a run whose pairs
 * could not be generated in memory, or that exceeds max_pairs, before any
 * is made (a run killed for memory loses everything and says nothing). The
 * sum of the rules' estimates is an upper bound: rules overlap, and each
 * pair is made once. pl_check_pair_memory then checks the exact count. */
static int on_estimate(void *ctx, int rule, const block_rule_stats *s)
{
    pl_ctx *e = ctx;
    pl_log(e, DT_LOG_INFO,
            "block: rule %d %s: about %llu pairs in %llu blocks (largest %llu records)%s", rule + 1,
            e->cfg->rules[rule].name, (unsigned long long)s->n_pairs_est,
            (unsigned long long)s->n_blocks, (unsigned long long)s->largest_block,
            s->n_skipped_blocks ? ", some blocks skipped (see above)" : "");
    if (rule == 0) e->pair_bound = 0;
    e->pair_bound += s->n_pairs_est - s->n_skipped_pairs;
    if ((size_t)rule + 1 < e->cfg->n_rules) return DT_OK;
    if (e->cfg->max_pairs && e->pair_bound > e->cfg->max_pairs)
        return dt_err_set(e->err, DT_ELIMIT,
                          "blocking would make up to %llu candidate pairs, over blocking.max_pairs "
                          "(%llu): tighten the rules with the most pairs (estimates above) or "
                          "lower max_block_pairs",
                          (unsigned long long)e->pair_bound,
                          (unsigned long long)e->cfg->max_pairs);
    uint64_t room = fits_in_memory(BLOCK_BYTES_PER_PAIR);
    if (e->pair_bound <= room) return DT_OK;
    return dt_err_set(e->err, DT_ELIMIT,
                      "blocking would make up to %llu candidate pairs and this machine has memory "
                      "for about %llu: tighten the rules with the most pairs (estimates above) "
                      "or lower max_block_pairs",
                      (unsigned long long)e->pair_bound, (unsigned long long)room);
}

int pl_check_pair_memory(pl_ctx *e, uint64_t bytes_per_pair)
{
    uint64_t n = e->blk.n_pairs, room = fits_in_memory(bytes_per_pair);
    if (n <= room) return DT_OK;
    return dt_err_set(e->err, DT_ELIMIT,
                      "%llu candidate pairs need about %.1f GiB more to compare and score, and "
                      "this machine has memory for about %llu pairs: tighten the rules with the "
                      "most pairs (see the log) or lower max_block_pairs",
                      (unsigned long long)n, (double)n * (double)bytes_per_pair / (1u << 30),
                      (unsigned long long)room);
}

/* The fingerprints once blocks are counted: sorting them wants the memory. */
static int on_counted(void *ctx, const uint8_t **key_fp)
{
    pl_ctx *e = ctx;
    int rc = pl_key_fps(e);
    *key_fp = e->key_fp;
    return rc;
}

static void on_emitted(void *ctx)
{
    pl_ctx *e = ctx;
    if (e->keys_end_at_block) pl_free_keys(e);
}

int pl_block(pl_ctx *e)
{
    block_input in = {
        .n_recs = e->table.n_recs,
        .src = e->table.src,
        .n_rules = e->cfg->n_rules,
        .keys = e->keys,
        .on_counted = on_counted,
        .want_agree = e->cfg->n_rules <= BLOCK_AGREE_RULES,
        .mode = e->cfg->mode,
        .linkable = e->linkable,
        .max_block_pairs = e->cfg->max_block_pairs,
        .n_threads = e->n_threads,
        .on_skip = on_skip,
        .on_estimate = on_estimate,
        .on_emitted = e->cfg->n_rules <= BLOCK_AGREE_RULES ? on_emitted : NULL,
        .ctx = e,
    };
    int rc = block_run(&in, &e->blk);
    if (rc == DT_ELIMIT) return rc; /* on_estimate said why */
    if (rc < 0) return dt_err_set(e->err, rc, "out of memory generating candidate pairs");
    if (e->n_skipped_blocks > SKIP_LOG_MAX)
        pl_log(e, DT_LOG_WARN, "block: %llu more blocks over the cap were skipped (per-rule "
                "counts below); tighten those rules or raise max_block_pairs",
                (unsigned long long)(e->n_skipped_blocks - SKIP_LOG_MAX));
    for (size_t r = 0; r < e->cfg->n_rules; r++) {
        const block_rule_stats *s = &e->blk.stats[r];
        pl_log(e, DT_LOG_INFO, "block: rule %zu %s produced %llu new pairs (%llu blocks skipped)",
                r + 1, e->cfg->rules[r].name, (unsigned long long)s->n_pairs,
                (unsigned long long)s->n_skipped_blocks);
    }
    return DT_OK;
}

uint64_t pl_comparable_pairs_of(const pl_ctx *e, uint16_t a, uint16_t b)
{
    if (!block_sources_pair(e->cfg->mode, e->linkable, a, b)) return 0;
    uint64_t k = e->recs_per_source[a];
    return a == b ? k * (k ? k - 1 : 0) / 2 : k * e->recs_per_source[b];
}

uint64_t pl_comparable_pairs(const pl_ctx *e)
{
    uint64_t sum = 0;
    for (uint16_t a = 0; a < e->cfg->n_sources; a++)
        for (uint16_t b = a; b < e->cfg->n_sources; b++) sum += pl_comparable_pairs_of(e, a, b);
    return sum;
}

long pl_find_record(const pl_ctx *e, const char *key)
{
    const char *colon = strchr(key, ':');
    if (!colon) return -1;
    size_t n_src = (size_t)(colon - key);
    const char *rid = colon + 1;
    uint32_t id = util_intern_find(&e->table.ids, rid, strlen(rid));
    if (id == UINT32_MAX) return -1;
    for (size_t i = 0; i < e->table.n_recs; i++) {
        const char *src = pl_source_name(e, (uint32_t)i);
        if (e->table.rid[i] == id && strlen(src) == n_src && memcmp(src, key, n_src) == 0)
            return (long)i;
    }
    return -1;
}

uint64_t pl_entity_hash(const pl_ctx *e, uint32_t rec)
{
    const char *src = pl_source_name(e, rec);
    uint32_t rid = e->table.rid[rec];
    uint64_t h = util_hash64(src, strlen(src), 0x656e74);
    return util_hash64(util_intern_str(&e->table.ids, rid), e->table.ids.lens[rid], h);
}

void pl_entity_id(const pl_ctx *e, uint32_t rec, char buf[18])
{
    pl_entity_id_of(pl_entity_hash(e, rec), buf);
}

void pl_entity_id_of(uint64_t h, char buf[18])
{
    /* "E%016" PRIx64 by hand: link writes one per record */
    static const char hex[] = "0123456789abcdef";
    buf[0] = 'E';
    for (int i = 16; i >= 1; i--, h >>= 4) buf[i] = hex[h & 15];
    buf[17] = '\0';
}
