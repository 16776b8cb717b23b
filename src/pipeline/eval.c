/*
 * eval.c — dt_eval_run: scores a run's entities.csv against the truth the
 * config names, and re-runs blocking to measure it.
 *
 * Pairwise measures count only pairs the mode compares (cross-source for
 * link, same-source for dedupe, all for link_and_dedupe), so a link run is
 * not charged for duplicates inside one source it was never asked to find.
 * B-cubed (Bagga & Baldwin 1998) is per record over whole clusters.
 * Pair completeness and reduction ratio follow Christen (2012), "Data
 * Matching", ch. 4.
 *
 * Pairs are counted, never enumerated: one sort of the records by (entity,
 * source) per partition (truth, prediction, their intersection) gives
 * pair counts per pair of sources, and every pairwise figure (the mode's,
 * cross-source, per source, per source pair) sums those. Per-source and
 * per-source-pair figures are reported whatever the mode compares, marked
 * when the mode does not: what a link run leaves inside one registry.
 *
 * Calibration is of the pairwise model, before clustering: every candidate
 * pair blocking yields is scored with the run's model.json through
 * pl_pair_probability (link's own comparison and weight), including pairs
 * a cannot-link rule later keeps apart, and binned by probability; the
 * expected calibration error follows Naeini, Cooper & Hauskrecht (2015).
 */
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/pipeline.h"
#include "io/csv.h"

typedef struct eval_state {
    pl_ctx *e;
    uint32_t *truth;     /* per record: truth entity id */
    uint32_t *pred;      /* per record: predicted entity id */
    uint32_t *group;     /* per record: truth group id, or UINT32_MAX; NULL without groups */
    uint32_t n_truth_ids, n_pred_ids;
    util_intern groups;  /* group names */
    uint32_t *first_rec; /* per record id of the table (e->table.ids): its first record */
    uint32_t *next_rec;  /* per record: the next record with the same id (another source) */
} eval_state;

/* The truth key of a record no truth names: its own entity, which no real
 * entity key can equal (it starts with the separator byte). */
static int own_entity_key(util_buf *k, const pl_ctx *e, uint32_t rec)
{
    util_buf_clear(k);
    return util_buf_printf(k, "\x1f%s\x1f%s", pl_source_name(e, rec),
                           cmp_record_id(&e->table, rec));
}

/* ---- truth ---------------------------------------------------------- */

static int truth_from_pattern(eval_state *st, util_intern *ids)
{
    pl_ctx *e = st->e;
    regex_t re;
    if (regcomp(&re, e->cfg->truth_pattern, REG_EXTENDED) != 0)
        return dt_err_at(e->err, DT_ECONFIG, e->cfg->path, 0, 0,
                         "truth id_pattern '%s' is not a valid extended regular expression",
                         e->cfg->truth_pattern);
    int rc = DT_OK;
    uint64_t n_matched = 0;
    util_buf key = {0};
    for (size_t i = 0; i < e->table.n_recs && rc == DT_OK; i++) {
        regmatch_t m[2];
        const char *rid = cmp_record_id(&e->table, (uint32_t)i);
        util_buf_clear(&key);
        if (regexec(&re, rid, 2, m, 0) == 0 && m[1].rm_so >= 0) {
            n_matched++;
            rc = util_buf_append(&key, rid + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
        } else { /* no truth: its own entity */
            rc = own_entity_key(&key, e, (uint32_t)i);
        }
        if (rc == DT_OK) rc = util_intern_put(ids, key.data, key.len, &st->truth[i]);
    }
    util_buf_fini(&key);
    regfree(&re);
    if (rc < 0) return dt_err_set(e->err, rc, "out of memory");
    if (n_matched == 0 && e->table.n_recs)
        return dt_err_at(e->err, DT_ECONFIG, e->cfg->path, 0, 0,
                         "truth id_pattern '%s' matches no record id (group 1 is the entity)",
                         e->cfg->truth_pattern);
    return DT_OK;
}

/* Finds records by source and id through the table's own index of
 * record ids (no second index of millions of keys): per id its records,
 * one per source at most, chained in record order. */
static int record_index(eval_state *st)
{
    const cmp_table *t = &st->e->table;
    size_t n_ids = t->ids.n_strs, n = t->n_recs;
    st->first_rec = dt_malloc((n_ids ? n_ids : 1) * sizeof *st->first_rec);
    st->next_rec = dt_malloc((n ? n : 1) * sizeof *st->next_rec);
    if (!st->first_rec || !st->next_rec) return DT_ENOMEM;
    for (size_t i = 0; i < n_ids; i++) st->first_rec[i] = UINT32_MAX;
    for (size_t i = n; i-- > 0;) {
        st->next_rec[i] = st->first_rec[t->rid[i]];
        st->first_rec[t->rid[i]] = (uint32_t)i;
    }
    return DT_OK;
}

/* The record of `source` with id `id`, or UINT32_MAX. */
static uint32_t find_record(const eval_state *st, const char *source, const char *id, size_t len)
{
    uint32_t rid = util_intern_find(&st->e->table.ids, id, len);
    if (rid == UINT32_MAX) return UINT32_MAX;
    for (uint32_t r = st->first_rec[rid]; r != UINT32_MAX; r = st->next_rec[r])
        if (!strcmp(pl_source_name(st->e, r), source)) return r;
    return UINT32_MAX;
}

static int put_group(eval_state *st, uint32_t rec, const char *name, size_t n)
{
    if (!st->group) {
        size_t n_recs = st->e->table.n_recs ? st->e->table.n_recs : 1;
        if (!(st->group = dt_malloc(n_recs * sizeof *st->group))) return DT_ENOMEM;
        for (size_t i = 0; i < n_recs; i++) st->group[i] = UINT32_MAX;
    }
    return util_intern_put(&st->groups, name, n, &st->group[rec]);
}

/* Reads a CSV of source,record_id,<entity column> into out[record]. Rows
 * naming unknown records are errors; out[] of records not named stays
 * UINT32_MAX. */
static int read_assignment(eval_state *st, const char *path, const char *entity_col,
                           util_intern *ids, uint32_t *out, int want_group)
{
    pl_ctx *e = st->e;
    csv_reader *r = NULL;
    int rc = csv_open(path, &(csv_options){.delimiter = ','}, &r, e->err);
    csv_row row;
    long i_ent = -1, i_group = -1;
    if (rc == DT_OK) {
        rc = csv_next(r, &row, e->err);
        if (rc == 1 && row.n_fields >= 3 && !strcmp(row.fields[0], "source") &&
            !strcmp(row.fields[1], "record_id"))
            for (size_t c = 2; c < row.n_fields; c++) {
                if (!strcmp(row.fields[c], entity_col)) i_ent = (long)c;
                if (want_group && !strcmp(row.fields[c], "group")) i_group = (long)c;
            }
        if (rc >= 0 && i_ent < 0)
            rc = dt_err_at(e->err, DT_EINPUT, path, 1, 1,
                           "header must be source,record_id,%s", entity_col);
    }
    while (rc >= 0 && (rc = csv_next(r, &row, e->err)) == 1) {
        if (row.n_fields <= (size_t)i_ent) {
            rc = dt_err_at(e->err, DT_EINPUT, path, row.line, 1, "too few fields");
            break;
        }
        uint32_t rec = find_record(st, row.fields[0], row.fields[1], row.lens[1]);
        if (rec == UINT32_MAX) {
            rc = dt_err_at(e->err, DT_EINPUT, path, row.line, 1,
                           "record %s:%s is not in the config's sources", row.fields[0],
                           row.fields[1]);
            break;
        }
        rc = util_intern_put(ids, row.fields[i_ent], row.lens[i_ent], &out[rec]);
        if (rc == DT_OK && i_group >= 0 && (size_t)i_group < row.n_fields)
            rc = put_group(st, rec, row.fields[i_group], row.lens[i_group]);
    }
    csv_close(r);
    return rc < 0 ? rc : DT_OK;
}

static int load_truth(eval_state *st, util_intern *ids)
{
    pl_ctx *e = st->e;
    if (e->cfg->truth_pattern) return truth_from_pattern(st, ids);
    if (!e->cfg->truth_file)
        return dt_err_at(e->err, DT_ECONFIG, e->cfg->path, 0, 0,
                         "eval needs a truth: section (id_pattern or file)");
    for (size_t i = 0; i < e->table.n_recs; i++) st->truth[i] = UINT32_MAX;
    DT_TRY(read_assignment(st, e->cfg->truth_file, "entity", ids, st->truth, 1));
    util_buf k = {0};
    int rc = DT_OK;
    for (size_t i = 0; i < e->table.n_recs && rc == DT_OK; i++) {
        if (st->truth[i] != UINT32_MAX) continue;
        rc = own_entity_key(&k, e, (uint32_t)i);
        if (rc == DT_OK) rc = util_intern_put(ids, k.data, k.len, &st->truth[i]);
    }
    util_buf_fini(&k);
    return rc < 0 ? dt_err_set(e->err, rc, "out of memory") : DT_OK;
}

int pl_truth_of(pl_ctx *e, uint32_t **out)
{
    *out = NULL;
    eval_state st = {.e = e};
    util_intern_init(&st.groups);
    util_intern ids;
    util_intern_init(&ids);
    st.truth = dt_malloc((e->table.n_recs ? e->table.n_recs : 1) * sizeof *st.truth);
    int rc = st.truth && record_index(&st) == DT_OK ? DT_OK
                                                    : dt_err_set(e->err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK) rc = load_truth(&st, &ids);
    dt_free(st.first_rec);
    dt_free(st.next_rec);
    dt_free(st.group);
    util_intern_fini(&st.groups);
    util_intern_fini(&ids);
    if (rc < 0) {
        dt_free(st.truth);
        return rc;
    }
    *out = st.truth;
    return DT_OK;
}

static int load_pred(eval_state *st, const char *out_dir, util_intern *ids)
{
    pl_ctx *e = st->e;
    char *path = util_path_join(out_dir, "entities.csv");
    if (!path) return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    for (size_t i = 0; i < e->table.n_recs; i++) st->pred[i] = UINT32_MAX;
    int rc = read_assignment(st, path, "entity_id", ids, st->pred, 0);
    for (size_t i = 0; rc == DT_OK && i < e->table.n_recs; i++)
        if (st->pred[i] == UINT32_MAX)
            rc = dt_err_at(e->err, DT_EINPUT, path, 0, 0,
                           "record %s:%s is missing: was this directory written by "
                           "'dovetail link' with this config?",
                           pl_source_name(e, (uint32_t)i), cmp_record_id(&e->table, (uint32_t)i));
    dt_free(path);
    return rc;
}

/* ---- counting ------------------------------------------------------- */

typedef struct member {
    uint64_t group;
    uint16_t src;
} member;

static int cmp_member(const void *x, const void *y)
{
    const member *a = x, *b = y;
    if (a->group != b->group) return a->group < b->group ? -1 : 1;
    return (a->src > b->src) - (a->src < b->src);
}

/* Pairs inside groups, per pair of sources: cnt[s * n_src + t] for s <= t
 * (s == t: both records from s). One sort by (group, source), then per
 * group the runs of each source multiply: O(n log n), no pair enumerated.
 * OUT: cnt (zeroed by the caller). runs: scratch, n_src entries. */
static void count_source_pairs(const eval_state *st, member *m, int which, uint64_t *runs,
                               uint64_t *cnt)
{
    const pl_ctx *e = st->e;
    size_t n = e->table.n_recs, n_src = e->cfg->n_sources;
    for (size_t i = 0; i < n; i++) {
        uint64_t g = which == 0 ? st->truth[i]
                     : which == 1 ? st->pred[i]
                                  : ((uint64_t)st->pred[i] << 32) | st->truth[i];
        m[i] = (member){g, e->table.src[i]};
    }
    qsort(m, n, sizeof *m, cmp_member);
    for (size_t i = 0; i < n;) {
        size_t j = i, n_runs = 0;
        while (j < n && m[j].group == m[i].group) {
            size_t k = j;
            while (k < n && m[k].group == m[j].group && m[k].src == m[j].src) k++;
            runs[n_runs++] = (uint64_t)m[j].src << 32 | (k - j);
            j = k;
        }
        for (size_t x = 0; x < n_runs; x++) {
            uint64_t s = runs[x] >> 32, c = runs[x] & UINT32_MAX;
            cnt[s * n_src + s] += c * (c - 1) / 2;
            for (size_t y = x + 1; y < n_runs; y++) /* sources ascend within a group */
                cnt[s * n_src + (runs[y] >> 32)] += c * (runs[y] & UINT32_MAX);
        }
        i = j;
    }
}

/* The pairs of cnt the mode compares. */
static uint64_t mode_pairs(const uint64_t *cnt, size_t n_src, cfg_mode mode)
{
    uint64_t total = 0;
    for (size_t s = 0; s < n_src; s++)
        for (size_t t = s; t < n_src; t++)
            if (block_mode_allows(mode, (uint16_t)s, (uint16_t)t)) total += cnt[s * n_src + t];
    return total;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static double f1(double p, double r)
{
    return p + r > 0 ? 2 * p * r / (p + r) : 0;
}

static dt_eval_pairs pair_figures(uint64_t n_true, uint64_t n_pred, uint64_t n_tp)
{
    dt_eval_pairs f = {n_true, n_pred, n_tp, ratio((double)n_tp, (double)n_pred),
                       ratio((double)n_tp, (double)n_true), 0};
    f.f1 = f1(f.precision, f.recall);
    return f;
}

/* Sums of per-record B-cubed precision and recall, overall and per group. */
typedef struct b3_sums {
    double p, r;
    uint64_t n;
} b3_sums;

static const eval_state *g_cell_st; /* qsort context; eval is single-threaded */

static int same_cell(const eval_state *st, uint32_t a, uint32_t b)
{
    return st->pred[a] == st->pred[b] && st->truth[a] == st->truth[b];
}

static int cmp_cell(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    const eval_state *st = g_cell_st;
    if (st->pred[a] != st->pred[b]) return st->pred[a] < st->pred[b] ? -1 : 1;
    if (st->truth[a] != st->truth[b]) return st->truth[a] < st->truth[b] ? -1 : 1;
    return (a > b) - (a < b);
}

static int cmp_group_name(const void *x, const void *y)
{
    return strcmp(((const dt_eval_group *)x)->name, ((const dt_eval_group *)y)->name);
}

/* Per-group B-cubed: each record's own precision and recall, averaged
 * over the records of its group. Needs per-record cell sizes, so it counts
 * cells with a second sort keyed by (pred, truth) and record. */
static int group_bcubed(const eval_state *st, const uint32_t *pred_size,
                        const uint32_t *truth_size, b3_sums *g, dt_eval_report *r)
{
    size_t n = st->e->table.n_recs, n_groups = st->groups.n_strs;
    uint32_t *order = dt_malloc((n ? n : 1) * sizeof *order);
    r->groups = dt_calloc(n_groups, sizeof *r->groups);
    if (!order || !r->groups) {
        dt_free(order);
        return DT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    g_cell_st = st;
    qsort(order, n, sizeof *order, cmp_cell);
    g_cell_st = NULL;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && same_cell(st, order[i], order[j])) j++;
        double cell = (double)(j - i);
        for (size_t k = i; k < j; k++) {
            uint32_t rec = order[k], grp = st->group[rec];
            if (grp == UINT32_MAX) continue;
            g[grp].p += cell / pred_size[st->pred[rec]];
            g[grp].r += cell / truth_size[st->truth[rec]];
            g[grp].n++;
        }
        i = j;
    }
    dt_free(order);
    for (size_t k = 0; k < n_groups; k++) {
        dt_eval_group *o = &r->groups[k];
        o->name = dt_strdup(util_intern_str(&st->groups, (uint32_t)k));
        if (!o->name) return DT_ENOMEM;
        o->n_records = g[k].n;
        o->bcubed_precision = ratio(g[k].p, (double)g[k].n);
        o->bcubed_recall = ratio(g[k].r, (double)g[k].n);
        o->bcubed_f1 = f1(o->bcubed_precision, o->bcubed_recall);
    }
    r->n_groups = n_groups;
    qsort(r->groups, n_groups, sizeof *r->groups, cmp_group_name);
    return DT_OK;
}

static int bcubed(const eval_state *st, member *m, dt_eval_report *r)
{
    size_t n = st->e->table.n_recs;
    size_t n_groups = st->group ? st->groups.n_strs : 0;
    uint32_t *pred_size = dt_calloc(st->n_pred_ids + 1, sizeof *pred_size);
    uint32_t *truth_size = dt_calloc(st->n_truth_ids + 1, sizeof *truth_size);
    b3_sums *g = dt_calloc(n_groups + 1, sizeof *g);
    if (!pred_size || !truth_size || !g) {
        dt_free(pred_size);
        dt_free(truth_size);
        dt_free(g);
        return DT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        pred_size[st->pred[i]]++;
        truth_size[st->truth[i]]++;
        m[i] = (member){((uint64_t)st->pred[i] << 32) | st->truth[i], 0};
    }
    /* Cell sizes: records sharing both entity and prediction. */
    qsort(m, n, sizeof *m, cmp_member);
    b3_sums all = {0, 0, n};
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && m[j].group == m[i].group) j++;
        double cell = (double)(j - i);
        uint32_t p = (uint32_t)(m[i].group >> 32), t = (uint32_t)m[i].group;
        all.p += cell * cell / pred_size[p];
        all.r += cell * cell / truth_size[t];
        i = j;
    }
    r->bcubed_precision = ratio(all.p, (double)n);
    r->bcubed_recall = ratio(all.r, (double)n);
    r->bcubed_f1 = f1(r->bcubed_precision, r->bcubed_recall);
    int rc = n_groups ? group_bcubed(st, pred_size, truth_size, g, r) : DT_OK;
    dt_free(pred_size);
    dt_free(truth_size);
    dt_free(g);
    return rc;
}

/* Figures per source and per pair of sources from the three count
 * matrices (truth, prediction, both), whatever the mode compares. */
static int source_figures(const eval_state *st, const uint64_t *cnt, dt_eval_report *r)
{
    const dt_config *cfg = st->e->cfg;
    size_t ns = cfg->n_sources, nn = ns * ns, k = 0;
    r->sources = dt_calloc(ns ? ns : 1, sizeof *r->sources);
    r->source_pairs = dt_calloc(ns > 1 ? ns * (ns - 1) / 2 : 1, sizeof *r->source_pairs);
    if (!r->sources || !r->source_pairs) return DT_ENOMEM;
    r->n_sources = ns;
    r->n_source_pairs = ns > 1 ? ns * (ns - 1) / 2 : 0;
    for (size_t s = 0; s < ns; s++)
        for (size_t t = s; t < ns; t++) {
            dt_eval_source_pair *o = s == t ? &r->sources[s] : &r->source_pairs[k++];
            size_t i = s * ns + t;
            o->a = dt_strdup(cfg->sources[s].name);
            o->b = dt_strdup(cfg->sources[t].name);
            if (!o->a || !o->b) return DT_ENOMEM;
            o->is_compared = block_mode_allows(cfg->mode, (uint16_t)s, (uint16_t)t);
            o->pairs = pair_figures(cnt[i], cnt[nn + i], cnt[2 * nn + i]);
        }
    return DT_OK;
}

/* Pairwise figures over entities.csv: the mode's pairs, cross-source
 * pairs, per source and per pair of sources. */
static int pairwise(const eval_state *st, member *m, dt_eval_report *r)
{
    size_t ns = st->e->cfg->n_sources, nn = ns * ns;
    uint64_t *cnt = dt_calloc(3 * nn + 1, sizeof *cnt), *runs = dt_malloc((ns + 1) * sizeof *runs);
    int rc = cnt && runs ? DT_OK : DT_ENOMEM;
    for (int which = 0; which < 3 && rc == DT_OK; which++)
        count_source_pairs(st, m, which, runs, cnt + which * nn);
    if (rc == DT_OK) {
        cfg_mode mode = st->e->cfg->mode;
        dt_eval_pairs all = pair_figures(mode_pairs(cnt, ns, mode), mode_pairs(cnt + nn, ns, mode),
                                         mode_pairs(cnt + 2 * nn, ns, mode));
        dt_eval_pairs x = pair_figures(mode_pairs(cnt, ns, CFG_MODE_LINK),
                                       mode_pairs(cnt + nn, ns, CFG_MODE_LINK),
                                       mode_pairs(cnt + 2 * nn, ns, CFG_MODE_LINK));
        r->n_true_pairs = all.n_true_pairs;
        r->n_predicted_pairs = all.n_predicted_pairs;
        r->n_true_positive = all.n_true_positive;
        r->precision = all.precision;
        r->recall = all.recall;
        r->f1 = all.f1;
        r->cross_precision = x.precision;
        r->cross_recall = x.recall;
        r->cross_f1 = x.f1;
        rc = source_figures(st, cnt, r);
    }
    dt_free(cnt);
    dt_free(runs);
    return rc;
}

/* ---- calibration ---------------------------------------------------- */

/* Pairs scored per round: the probabilities of one round are kept, then
 * binned in pair order, so sums are the same for any thread count and
 * memory does not grow with the candidate pairs. */
enum { CAL_CHUNK = 1 << 20 };

typedef struct cal_job {
    const pl_ctx *e;
    const fs_model *m;
    const block_pair *pairs; /* this round's */
    double *p;               /* OUT: per pair of the round */
} cal_job;

static void cal_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    cal_job *j = ctx;
    for (size_t i = begin; i < end; i++)
        j->p[i] = pl_pair_probability(j->e, j->m, j->pairs[i].a, j->pairs[i].b);
}

/* Bin floor(10 p), p = 1 in the last. */
static void bin_add(dt_eval_bin *bins, double p, int is_match)
{
    int i = (int)(p * DT_EVAL_BINS);
    dt_eval_bin *b = &bins[i < 0 ? 0 : i >= DT_EVAL_BINS ? DT_EVAL_BINS - 1 : i];
    b->n_pairs++;
    b->n_matches += (uint64_t)is_match;
    b->sum_probability += p;
}

/* Fills the bins' means and rates; returns their ECE over n pairs. */
static double bins_finish(dt_eval_bin *bins, uint64_t n)
{
    double ece = 0;
    for (int i = 0; i < DT_EVAL_BINS; i++) {
        dt_eval_bin *b = &bins[i];
        b->mean_probability = ratio(b->sum_probability, (double)b->n_pairs);
        b->observed_rate = ratio((double)b->n_matches, (double)b->n_pairs);
        ece += ratio((double)b->n_pairs, (double)n) * fabs(b->mean_probability - b->observed_rate);
    }
    return ece;
}

static void bin_round(const eval_state *st, const block_pair *pairs, const double *p, size_t n,
                      dt_eval_calibration *c)
{
    for (size_t i = 0; i < n; i++) {
        int is_match = st->truth[pairs[i].a] == st->truth[pairs[i].b];
        bin_add(c->bins, p[i], is_match);
        if (p[i] > 0.01 && p[i] < 0.99) {
            bin_add(c->uncertain_bins, p[i], is_match);
            c->n_uncertain++;
        }
    }
}

/* Scores blocking's candidate pairs with the run's model.json and bins
 * them; no model.json: has_model stays 0 (a note on the log). */
static int calibrate(const eval_state *st, const char *out_dir, dt_eval_calibration *c)
{
    pl_ctx *e = st->e;
    char *path = util_path_join(out_dir, "model.json");
    if (!path) return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    int has_model = access(path, F_OK) == 0;
    if (!has_model)
        pl_log(e, DT_LOG_INFO, "eval: %s is missing: calibration skipped", path);
    dt_free(path);
    if (!has_model) return DT_OK;
    fs_model m;
    DT_TRY(pl_model_load(e, out_dir, &m));
    size_t n = e->blk.n_pairs, n_round = n < CAL_CHUNK ? n : CAL_CHUNK;
    double *p = dt_malloc((n_round ? n_round : 1) * sizeof *p);
    if (!p) {
        fs_model_fini(&m);
        return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    }
    for (size_t at = 0; at < n; at += n_round) {
        size_t k = n - at < n_round ? n - at : n_round;
        cal_job job = {e, &m, e->blk.pairs + at, p};
        util_parallel_for(e->n_threads, k, 4096, cal_range, &job);
        bin_round(st, e->blk.pairs + at, p, k, c);
    }
    dt_free(p);
    fs_model_fini(&m);
    c->has_model = 1;
    c->n_pairs = n;
    c->ece = bins_finish(c->bins, n);
    c->ece_uncertain = bins_finish(c->uncertain_bins, c->n_uncertain);
    return DT_OK;
}

static int measure(eval_state *st, const char *out_dir, dt_eval_report *r)
{
    pl_ctx *e = st->e;
    size_t n = e->table.n_recs;
    member *m = dt_malloc((n ? n : 1) * sizeof *m);
    if (!m) return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    r->n_records = n;
    int rc = pairwise(st, m, r);
    if (rc == DT_OK) rc = bcubed(st, m, r);
    dt_free(m);
    if (rc < 0) return dt_err_set(e->err, rc, "out of memory");
    DT_TRY(pl_keys(e));
    DT_TRY(pl_block(e));
    r->n_candidate_pairs = e->blk.n_pairs;
    for (size_t i = 0; i < e->blk.n_pairs; i++)
        r->n_candidate_true += st->truth[e->blk.pairs[i].a] == st->truth[e->blk.pairs[i].b];
    r->pair_completeness = ratio((double)r->n_candidate_true, (double)r->n_true_pairs);
    uint64_t comparable = pl_comparable_pairs(e);
    r->reduction_ratio = comparable ? 1.0 - (double)r->n_candidate_pairs / (double)comparable : 0;
    pl_free_keys(e); /* the model needs the table, not the keys */
    return calibrate(st, out_dir, &r->calibration);
}

int dt_eval_run(const dt_config *cfg, const char *out_dir, dt_eval_report *report, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!cfg || !out_dir || !report)
        return dt_err_set(err, DT_EINVAL, "dt_eval_run: NULL argument");
    pl_ctx e;
    DT_TRY(pl_init(&e, cfg, err));
    eval_state st = {.e = &e};
    util_intern_init(&st.groups);
    util_intern truth_ids, pred_ids;
    util_intern_init(&truth_ids);
    util_intern_init(&pred_ids);
    dt_eval_report r;
    memset(&r, 0, sizeof r);
    int rc = pl_load(&e);
    if (rc == DT_OK) {
        size_t n = e.table.n_recs ? e.table.n_recs : 1;
        st.truth = dt_malloc(n * sizeof *st.truth);
        st.pred = dt_malloc(n * sizeof *st.pred);
        if (!st.truth || !st.pred) rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    }
    if (rc == DT_OK && record_index(&st) < 0) rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK) rc = load_truth(&st, &truth_ids);
    if (rc == DT_OK) rc = load_pred(&st, out_dir, &pred_ids);
    st.n_truth_ids = truth_ids.n_strs;
    st.n_pred_ids = pred_ids.n_strs;
    if (rc == DT_OK) rc = measure(&st, out_dir, &r);
    if (rc == DT_OK) *report = r;
    else dt_eval_report_fini(&r);
    dt_free(st.truth);
    dt_free(st.pred);
    dt_free(st.group);
    dt_free(st.first_rec);
    dt_free(st.next_rec);
    util_intern_fini(&st.groups);
    util_intern_fini(&truth_ids);
    util_intern_fini(&pred_ids);
    pl_fini(&e);
    return dt_err_ensure(err, rc);
}

void dt_eval_report_fini(dt_eval_report *report)
{
    if (!report) return;
    for (size_t i = 0; i < report->n_groups; i++) dt_free(report->groups[i].name);
    dt_free(report->groups);
    report->groups = NULL;
    report->n_groups = 0;
    for (size_t i = 0; i < report->n_sources; i++) {
        dt_free(report->sources[i].a);
        dt_free(report->sources[i].b);
    }
    for (size_t i = 0; i < report->n_source_pairs; i++) {
        dt_free(report->source_pairs[i].a);
        dt_free(report->source_pairs[i].b);
    }
    dt_free(report->sources);
    dt_free(report->source_pairs);
    report->sources = report->source_pairs = NULL;
    report->n_sources = report->n_source_pairs = 0;
}
