/*
 * block.c — blocking keys and candidate-pair generation.
 *
 * Each rule sorts its records by key and walks runs of equal keys: a run
 * is a block. A block whose pair count (counted for the mode: cross-source,
 * same-source or all) exceeds the cap is skipped and reported, never
 * silently truncated. Pairs already produced by an earlier rule are not
 * emitted again (block.h, invariant 2), which makes the union without a
 * global hash set of pairs.
 */
#include <stdlib.h>
#include <string.h>

#include "block/block.h"

/* ---- keys ---------------------------------------------------------- */

/* Byte length of the first n code points of s. */
static size_t utf8_prefix(const char *s, size_t n_cps)
{
    size_t i = 0;
    while (s[i] && n_cps) {
        i++;
        while ((s[i] & 0xC0) == 0x80) i++;
        n_cps--;
    }
    return i;
}

static void token_bounds(const char *s, int last, const char **start, size_t *len)
{
    if (!last) {
        *start = s;
        *len = strcspn(s, " ");
        return;
    }
    const char *sp = strrchr(s, ' ');
    *start = sp ? sp + 1 : s;
    *len = strlen(*start);
}

enum { KEY_SCRATCH = 128 };

/* Text of the key, or NULL with *len 0 when there is none. The result may
 * point into buf (KEY_SCRATCH bytes), which must outlive its use. */
static const char *key_text(const cfg_key *k, const char *v, const norm_nicknames *nicks,
                            char *buf, size_t *len)
{
    const char *p = v;
    size_t n = strlen(v);
    switch (k->fn) {
    case CFG_K_VALUE: break;
    case CFG_K_DATE:
        /* Dates are normalized "YYYYMMDD"; 00 marks an unknown part. */
        if (n != 8 || memcmp(v + 4, "00", 2) == 0 || memcmp(v + 6, "00", 2) == 0)
            return *len = 0, NULL;
        break;
    case CFG_K_SOUNDEX:
        norm_soundex(v, buf);
        p = buf;
        n = strlen(buf);
        break;
    case CFG_K_NYSIIS:
        norm_nysiis(v, buf);
        p = buf;
        n = strlen(buf);
        break;
    case CFG_K_SUBSTR: {
        size_t skip = utf8_prefix(v, (size_t)k->arg1 - 1);
        p = v + skip;
        n = utf8_prefix(p, (size_t)k->arg2);
        break;
    }
    case CFG_K_YEAR:
    case CFG_K_MONTH:
    case CFG_K_DAY: {
        if (n != 8) return *len = 0, NULL;
        int off = k->fn == CFG_K_YEAR ? 0 : k->fn == CFG_K_MONTH ? 4 : 6;
        n = k->fn == CFG_K_YEAR ? 4 : 2;
        p = v + off;
        if (n == 2 && p[0] == '0' && p[1] == '0') return *len = 0, NULL;
        break;
    }
    case CFG_K_SUFFIX: {
        /* The last arg1 code points, or nothing when the value is shorter:
         * a suffix key of a short value would pair it with unrelated ones. */
        size_t n_cps = 0;
        for (const char *q = v; *q; q++) n_cps += (*q & 0xC0) != 0x80;
        if (n_cps < (size_t)k->arg1) return *len = 0, NULL;
        p = v + utf8_prefix(v, n_cps - (size_t)k->arg1);
        n = strlen(p);
        break;
    }
    case CFG_K_FIRST_TOKEN:
    case CFG_K_LAST_TOKEN: token_bounds(v, k->fn == CFG_K_LAST_TOKEN, &p, &n); break;
    case CFG_K_INITIAL: n = utf8_prefix(v, 1); break;
    case CFG_K_NICKNAME: {
        /* norm_nick_canonical may hand back its argument: keep it in buf. */
        size_t first = strcspn(v, " ");
        if (first >= KEY_SCRATCH) first = KEY_SCRATCH - 1;
        memcpy(buf, v, first);
        buf[first] = '\0';
        p = nicks ? norm_nick_canonical(nicks, buf) : buf;
        n = strlen(p);
        break;
    }
    default: return *len = 0, NULL;
    }
    *len = n;
    return n ? p : NULL;
}

uint64_t block_value_key(const cfg_key *k, const char *value, const norm_nicknames *nicks,
                         util_buf *text)
{
    if (!value || !*value) return 0;
    char buf[KEY_SCRATCH];
    size_t n;
    const char *p = key_text(k, value, nicks, buf, &n);
    if (!p) return 0;
    if (text) util_buf_append(text, p, n); /* for messages only: failure just shortens them */
    uint64_t h = util_hash64(p, n, 0x626c6f636bULL + (uint64_t)k->fn);
    return h ? h : 1;
}

uint64_t block_combine(const uint64_t *parts, int n_parts)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < n_parts; i++) {
        if (parts[i] == 0) return 0;
        h = util_mix64(h ^ parts[i]) + (uint64_t)i;
    }
    return h ? h : 1;
}

/* ---- pairs --------------------------------------------------------- */

/* (key, record) of one record under one rule; sorted, runs are blocks. */
typedef util_kv entry;

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* Per rule: the sorted keys of blocks skipped for size, and what the report
 * says of each (one record in it, its records and pairs). */
typedef struct skipped_keys {
    uint64_t *keys;
    size_t n, cap;
    uint64_t (*info)[3];
    size_t cap_info;
} skipped_keys;

/* One rule's blocks to emit, from phase 1 to phase 2. */
typedef struct rule_blocks {
    uint32_t *words;        /* per block: its size, then its records */
    size_t n, cap;
} rule_blocks;

/* One rule's new pairs, concatenated in rule order at the end. */
typedef struct rule_pairs_out {
    block_pair *pairs;
    uint32_t *agree;        /* beside pairs, when the input wants it */
    size_t n, cap;
} rule_pairs_out;

/* A worker's scratch for sorting one rule. */
typedef struct sort_scratch {
    uint64_t *packed, *tmp;     /* n_recs each: (key's high half << 32 | record) */
    entry *run;                 /* a run of equal high halves, with whole keys */
    size_t cap_run;
} sort_scratch;

static void sort_scratch_fini(sort_scratch *sc)
{
    dt_free(sc->packed);
    dt_free(sc->tmp);
    dt_free(sc->run);
    *sc = (sort_scratch){0};
}

/* Rules run in parallel, each on one worker: a rule writes only its own
 * stats, skipped keys and pairs, and reads earlier rules' skipped keys only
 * after every rule was counted. */
typedef struct block_state {
    const block_input *in;
    block_output *out;
    skipped_keys *skipped;  /* n_rules */
    rule_pairs_out *pairs;  /* n_rules */
    rule_blocks *blocks;    /* n_rules */
    sort_scratch *sort;     /* per worker */
    const uint8_t *key_fp;  /* in->key_fp, or on_counted's */
    int *rc;                /* per rule */
} block_state;

static int is_skipped(const skipped_keys *s, uint64_t key)
{
    return s->n && bsearch(&key, s->keys, s->n, sizeof key, cmp_u64) != NULL;
}

/* Pairs a block holds under the mode, from its per-source counts. */
static uint64_t block_pair_count(const block_input *in, const entry *e, size_t n)
{
    uint64_t all = (uint64_t)n * (n - 1) / 2;
    if (in->mode == CFG_MODE_LINK_AND_DEDUPE) return all;
    /* Records in a block are sorted by index and indexes are grouped by
     * source, so each source is one run. */
    uint64_t same = 0, run = 1;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && in->src[e[i].val] == in->src[e[i - 1].val]) {
            run++;
            continue;
        }
        same += run * (run - 1) / 2;
        run = 1;
    }
    return in->mode == CFG_MODE_DEDUPE ? same : all - same;
}

static int emit(const block_state *st, rule_pairs_out *o, uint32_t a, uint32_t b,
                uint32_t agree)
{
    if (o->n == o->cap) {
        size_t cap = o->cap;
        DT_TRY(util_grow((void **)&o->pairs, &o->cap, o->n + 1, sizeof *o->pairs));
        if (st->in->want_agree)
            DT_TRY(util_grow((void **)&o->agree, &cap, o->n + 1, sizeof *o->agree));
    }
    if (st->in->want_agree) o->agree[o->n] = agree;
    o->pairs[o->n++] = (block_pair){a, b};
    return DT_OK;
}

/* The pairs of one block of rule `rule` that no earlier rule made, with
 * the rules whose keys agree on each (this rule's do: the block is its
 * key's; earlier rules' were just asked; only later ones are left). */
static int emit_block(const block_state *st, int rule, rule_pairs_out *o, const uint32_t *recs,
                      size_t n)
{
    const block_input *in = st->in;
    /* then the sources need no look (a cache miss per record) */
    int any_pair = in->mode == CFG_MODE_LINK_AND_DEDUPE && !in->linkable;
    size_t n_agree = in->want_agree ? (in->n_rules < BLOCK_AGREE_RULES ? in->n_rules
                                                                        : BLOCK_AGREE_RULES)
                                    : 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t a = recs[i];
        for (size_t j = i + 1; j < n; j++) {
            uint32_t b = recs[j];
            if (!any_pair && !block_sources_pair(in->mode, in->linkable, in->src[a], in->src[b]))
                continue;
            uint32_t agree = 0;
            int covered = 0;
            for (int r = 0; r < rule && !covered; r++) {
                if (!block_same_key(in->keys, st->key_fp, in->n_rules, (size_t)r, a, b)) continue;
                if ((size_t)r < n_agree) agree |= 1u << r;
                covered = !is_skipped(&st->skipped[r], in->keys[r][a]);
            }
            if (covered) continue;
            if ((size_t)rule < n_agree) agree |= 1u << rule;
            for (size_t r = (size_t)rule + 1; r < n_agree; r++)
                if (block_same_key(in->keys, st->key_fp, in->n_rules, r, a, b)) agree |= 1u << r;
            DT_TRY(emit(st, o, a, b, agree));
        }
    }
    return DT_OK;
}

/* One rule's counting state, in the worker's locals while it counts: the
 * rules' states are adjacent in their arrays, and stores per block (or
 * per record) to one would pull the cache line another worker's rule is
 * writing. emit_rule does the same with its pairs. */
typedef struct rule_count {
    rule_blocks blocks;
    block_rule_stats stats;
    skipped_keys skipped;
} rule_count;

static int skip_block(rule_count *rc, const entry *e, size_t n, uint64_t n_pairs)
{
    skipped_keys *s = &rc->skipped;
    DT_TRY(util_grow((void **)&s->keys, &s->cap, s->n + 1, sizeof *s->keys));
    DT_TRY(util_grow((void **)&s->info, &s->cap_info, s->n + 1, sizeof *s->info));
    s->info[s->n][0] = e[0].val;
    s->info[s->n][1] = n;
    s->info[s->n][2] = n_pairs;
    s->keys[s->n++] = e[0].key; /* blocks come in key order: stays sorted */
    rc->stats.n_skipped_blocks++;
    rc->stats.n_skipped_pairs += n_pairs;
    return DT_OK;
}

/* Keeps a block to emit: its size, then its records (in index order). */
static int keep_block(rule_blocks *kb, const entry *e, size_t n)
{
    DT_TRY(util_grow((void **)&kb->words, &kb->cap, kb->n + n + 1, sizeof *kb->words));
    kb->words[kb->n++] = (uint32_t)n;
    for (size_t i = 0; i < n; i++) kb->words[kb->n++] = e[i].val;
    return DT_OK;
}

/* One block (entries of one key, records ascending): counted, then kept
 * for phase 2 or skipped. */
static int count_block(const block_state *st, rule_count *rc, const entry *e, size_t size)
{
    const block_input *in = st->in;
    block_rule_stats *rs = &rc->stats;
    uint64_t n_pairs = block_pair_count(in, e, size);
    rs->n_blocks++;
    rs->n_pairs_est += n_pairs;
    if (size > rs->largest_block) rs->largest_block = size;
    if (n_pairs > in->max_block_pairs) return skip_block(rc, e, size, n_pairs);
    return keep_block(&rc->blocks, e, size);
}

/* A run of records whose keys share the high half: nearly always one
 * block; keys that differ only below (a 32-bit collision) are put in
 * (key, record) order and split, so blocks come out as a sort by whole key
 * would give them. */
static int count_run(const block_state *st, int rule, rule_count *rc, sort_scratch *sc,
                     const uint64_t *p, size_t size)
{
    const uint64_t *keys = st->in->keys[rule];
    DT_TRY(util_grow((void **)&sc->run, &sc->cap_run, size, sizeof *sc->run));
    int is_one = 1;
    for (size_t k = 0; k < size; k++) {
        uint32_t rec = (uint32_t)p[k];
        sc->run[k] = (entry){keys[rec], rec};
        is_one &= sc->run[k].key == sc->run[0].key;
    }
    if (is_one) return count_block(st, rc, sc->run, size);
    DT_TRY(util_sort_kv(sc->run, size));
    for (size_t i = 0; i < size;) {
        size_t j = i + 1;
        while (j < size && sc->run[j].key == sc->run[i].key) j++;
        if (j - i >= 2) DT_TRY(count_block(st, rc, sc->run + i, j - i));
        i = j;
    }
    return DT_OK;
}

/* Phase 1: count every block, decide which are over the cap, and keep the
 * others of two or more records for phase 2 (so a rule's records are
 * sorted once: the sorts were most of blocking). Records are sorted by
 * their key's high half, 8 bytes each and two radix passes (records go in
 * ascending, and the passes keep that order among equals); only records
 * that share a high half with another read their whole key. */
static int count_rule(block_state *st, int rule, sort_scratch *sc)
{
    const block_input *in = st->in;
    const uint64_t *keys = in->keys[rule];
    size_t n = 0;
    for (size_t i = 0; i < in->n_recs; i++)
        if (keys[i]) sc->packed[n++] = (keys[i] >> 32) << 32 | (uint32_t)i;
    DT_TRY(util_sort_u64_hi(sc->packed, n, sc->tmp));
    rule_count local = {st->blocks[rule], st->out->stats[rule], st->skipped[rule]};
    int rc = DT_OK;
    for (size_t i = 0; i < n && rc == DT_OK;) {
        size_t j = i + 1;
        while (j < n && sc->packed[j] >> 32 == sc->packed[i] >> 32) j++;
        if (j - i >= 2) rc = count_run(st, rule, &local, sc, sc->packed + i, j - i);
        i = j;
    }
    rule_blocks *kb = &local.blocks; /* the doubling's slack back before phase 2 */
    uint32_t *w = kb->n && kb->n < kb->cap ? dt_realloc(kb->words, kb->n * sizeof *w) : NULL;
    if (w) {
        kb->words = w;
        kb->cap = kb->n;
    }
    st->blocks[rule] = local.blocks;
    st->out->stats[rule] = local.stats;
    st->skipped[rule] = local.skipped;
    return rc;
}

/* Phase 2: emit the pairs of every block kept. */
static int emit_rule(block_state *st, int rule)
{
    rule_blocks *kb = &st->blocks[rule];
    rule_pairs_out o = st->pairs[rule]; /* a local: see rule_count */
    int rc = DT_OK;
    for (size_t i = 0; i < kb->n && rc == DT_OK; i += 1 + kb->words[i])
        rc = emit_block(st, rule, &o, kb->words + i + 1, kb->words[i]);
    dt_free(kb->words);
    *kb = (rule_blocks){0};
    /* the doubling's slack back (a remap for large arrays), before the
     * other rules' grow */
    if (rc == DT_OK && o.n && o.n < o.cap) {
        block_pair *p = dt_realloc(o.pairs, o.n * sizeof *p);
        if (p) o.pairs = p;
        uint32_t *g = o.agree ? dt_realloc(o.agree, o.n * sizeof *g) : NULL;
        if (g) o.agree = g;
        if (p && (g || !o.agree)) o.cap = o.n;
    }
    st->pairs[rule] = o;
    return rc;
}

static void count_rules(void *ctx, size_t begin, size_t end, int i_worker)
{
    block_state *st = ctx;
    for (size_t r = begin; r < end; r++) st->rc[r] = count_rule(st, (int)r, &st->sort[i_worker]);
}

static void emit_rules(void *ctx, size_t begin, size_t end, int i_worker)
{
    block_state *st = ctx;
    (void)i_worker;
    for (size_t r = begin; r < end; r++) st->rc[r] = emit_rule(st, (int)r);
}

static int first_error(const block_state *st)
{
    for (size_t r = 0; r < st->in->n_rules; r++)
        if (st->rc[r] < 0) return st->rc[r];
    return DT_OK;
}

/* Skipped blocks and estimates are reported from here, in rule order, so
 * the messages do not depend on which worker counted which rule. */
static int report_counts(const block_state *st)
{
    const block_input *in = st->in;
    for (size_t r = 0; r < in->n_rules && in->on_skip; r++)
        for (size_t k = 0; k < st->skipped[r].n; k++) {
            const uint64_t *info = st->skipped[r].info[k];
            in->on_skip(in->ctx, (int)r, (uint32_t)info[0], info[1], info[2]);
        }
    for (size_t r = 0; r < in->n_rules && in->on_estimate; r++)
        DT_TRY(in->on_estimate(in->ctx, (int)r, &st->out->stats[r]));
    return DT_OK;
}

/* Moves the per-rule pairs into out, in rule order. */
/* A rule's pairs (which 0) or agree masks (1), taken out of it. */
static void *take(rule_pairs_out *o, int which)
{
    void *p = which ? (void *)o->agree : (void *)o->pairs;
    if (which) o->agree = NULL;
    else o->pairs = NULL;
    return p;
}

/* out's array grown from the largest rule's (realloc of a large block
 * remaps pages, no copy), then the other rules' copied in and freed one by
 * one: at 240M pairs a second whole copy was gigabytes at the stage's
 * peak. The largest rule's own are moved up to their place first. */
static void *concat_one(block_state *st, size_t elem, size_t n, size_t big, int which)
{
    size_t nr = st->in->n_rules, at = 0;
    for (size_t r = 0; r < big; r++) at += st->pairs[r].n;
    rule_pairs_out *b = &st->pairs[big];
    char *out = dt_realloc(which ? (void *)b->agree : (void *)b->pairs, (n ? n : 1) * elem);
    if (!out) return NULL; /* b keeps its array: state_fini frees it */
    take(b, which);
    if (b->n && at) memmove(out + at * elem, out, b->n * elem);
    size_t pos = 0;
    for (size_t r = 0; r < nr; r++) {
        rule_pairs_out *o = &st->pairs[r];
        if (r != big) {
            void *src = take(o, which);
            if (o->n) memcpy(out + pos * elem, src, o->n * elem);
            dt_free(src);
        }
        pos += o->n;
    }
    return out;
}

/* Moves the per-rule pairs into out, in rule order. */
static int concat_pairs(block_state *st)
{
    block_output *out = st->out;
    size_t n = 0, big = 0, nr = st->in->n_rules;
    for (size_t r = 0; r < nr; r++) {
        n += st->pairs[r].n;
        if (st->pairs[r].n > st->pairs[big].n) big = r;
    }
    out->rules = dt_malloc(n ? n : 1);
    if (!out->rules) return DT_ENOMEM;
    if (st->in->want_agree) {
        if (!(out->agree = concat_one(st, sizeof *out->agree, n, big, 1))) return DT_ENOMEM;
    }
    if (!(out->pairs = concat_one(st, sizeof *out->pairs, n, big, 0))) return DT_ENOMEM;
    for (size_t r = 0; r < nr; r++) {
        rule_pairs_out *o = &st->pairs[r];
        memset(out->rules + out->n_pairs, (int)r, o->n);
        out->n_pairs += o->n;
        out->stats[r].n_pairs = o->n;
        *o = (rule_pairs_out){0};
    }
    return DT_OK;
}

static void state_fini(block_state *st, int n_workers)
{
    for (size_t r = 0; st->skipped && r < st->in->n_rules; r++) {
        dt_free(st->skipped[r].keys);
        dt_free(st->skipped[r].info);
    }
    for (size_t r = 0; st->pairs && r < st->in->n_rules; r++) {
        dt_free(st->pairs[r].pairs);
        dt_free(st->pairs[r].agree);
    }
    for (size_t r = 0; st->blocks && r < st->in->n_rules; r++) dt_free(st->blocks[r].words);
    dt_free(st->blocks);
    for (int w = 0; st->sort && w < n_workers; w++) sort_scratch_fini(&st->sort[w]);
    dt_free(st->skipped);
    dt_free(st->pairs);
    dt_free(st->sort);
    dt_free(st->rc);
}

int block_run(const block_input *in, block_output *out)
{
    memset(out, 0, sizeof *out);
    if (in->n_rules > 255) return DT_EINVAL;
    size_t n_rules = in->n_rules ? in->n_rules : 1;
    int n_workers = in->n_threads > 0 ? in->n_threads : 1;
    if ((size_t)n_workers > n_rules) n_workers = (int)n_rules;
    block_state st = {.in = in, .out = out, .key_fp = in->key_fp};
    out->stats = dt_calloc(n_rules, sizeof *out->stats);
    st.skipped = dt_calloc(n_rules, sizeof *st.skipped);
    st.pairs = dt_calloc(n_rules, sizeof *st.pairs);
    st.blocks = dt_calloc(n_rules, sizeof *st.blocks);
    st.rc = dt_calloc(n_rules, sizeof *st.rc);
    st.sort = dt_calloc((size_t)n_workers, sizeof *st.sort);
    int rc = out->stats && st.skipped && st.pairs && st.blocks && st.rc && st.sort ? DT_OK
                                                                                  : DT_ENOMEM;
    for (int w = 0; w < n_workers && rc == DT_OK; w++)
        if (!(st.sort[w].packed = dt_malloc((in->n_recs ? in->n_recs : 1) * sizeof(uint64_t))) ||
            !(st.sort[w].tmp = dt_malloc((in->n_recs ? in->n_recs : 1) * sizeof(uint64_t))))
            rc = DT_ENOMEM;
    if (rc == DT_OK) {
        util_parallel_for(n_workers, in->n_rules, 1, count_rules, &st);
        rc = first_error(&st);
    }
    /* phase 2 reads the kept blocks */
    for (int w = 0; w < n_workers && st.sort; w++) sort_scratch_fini(&st.sort[w]);
    if (rc == DT_OK) {
        rc = report_counts(&st);
    }
    if (rc == DT_OK && in->on_counted) rc = in->on_counted(in->ctx, &st.key_fp);
    if (rc == DT_OK) {
        util_parallel_for(n_workers, in->n_rules, 1, emit_rules, &st);
        rc = first_error(&st);
    }
    if (rc == DT_OK && in->on_emitted) in->on_emitted(in->ctx);
    if (rc == DT_OK) rc = concat_pairs(&st);
    state_fini(&st, n_workers);
    if (rc < 0) block_output_fini(out);
    return rc;
}

void block_output_fini(block_output *out)
{
    dt_free(out->pairs);
    dt_free(out->rules);
    dt_free(out->agree);
    dt_free(out->stats);
    memset(out, 0, sizeof *out);
}
