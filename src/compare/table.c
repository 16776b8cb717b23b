/*
 * table.c — the columnar record table: value dictionaries, per-record value
 * ids, and the derived data of each distinct value (code points, phonetic
 * codes, dates, numbers, counts) computed once in cmp_table_finish.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare/compare.h"
#include "compare/strmetric.h"

int cmp_table_init(cmp_table *t, const dt_config *cfg, const norm_nicknames *nicks)
{
    memset(t, 0, sizeof *t);
    t->nicks = nicks;
    util_intern_init(&t->ids);
    t->cols = dt_calloc(cfg->n_fields, sizeof *t->cols);
    if (!t->cols) return DT_ENOMEM;
    t->n_cols = cfg->n_fields;
    for (size_t i = 0; i < t->n_cols; i++) {
        t->cols[i].type = cfg->fields[i].type;
        util_intern_init(&t->cols[i].dict);
    }
    return DT_OK;
}

static void sources_unindex(cmp_table *t)
{
    dt_free(t->src_start);
    dt_free(t->src_of_run);
    t->src_start = NULL;
    t->src_of_run = NULL;
    t->n_src_runs = 0;
}

void cmp_table_fini(cmp_table *t)
{
    for (size_t i = 0; i < t->n_cols; i++) {
        cmp_column *c = &t->cols[i];
        util_intern_fini(&c->dict);
        dt_free(c->vals);
        dt_free(c->info);
        dt_free(c->cps);
    }
    cmp_table_rows_free(t);
    sources_unindex(t);
    dt_free(t->cols);
    dt_free(t->src);
    dt_free(t->rid);
    util_intern_fini(&t->ids);
    memset(t, 0, sizeof *t);
}

static int grow_records(cmp_table *t, size_t need)
{
    if (need <= t->cap_recs) return DT_OK;
    size_t cap = t->cap_recs ? t->cap_recs * 2 : 4096;
    while (cap < need) cap *= 2;
    uint16_t *src = dt_realloc(t->src, cap * sizeof *src);
    if (!src) return DT_ENOMEM;
    t->src = src;
    uint32_t *rid = dt_realloc(t->rid, cap * sizeof *rid);
    if (!rid) return DT_ENOMEM;
    t->rid = rid;
    for (size_t i = 0; i < t->n_cols; i++) {
        uint32_t *v = dt_realloc(t->cols[i].vals, cap * sizeof *v);
        if (!v) return DT_ENOMEM;
        t->cols[i].vals = v;
    }
    t->cap_recs = cap;
    return DT_OK;
}

int cmp_table_reserve(cmp_table *t, size_t n_recs)
{
    return grow_records(t, n_recs);
}


int cmp_table_index_sources(cmp_table *t)
{
    sources_unindex(t);
    size_t runs = 0;
    for (size_t i = 0; i < t->n_recs; i++) {
        if (i && t->src[i] < t->src[i - 1]) return DT_OK; /* not in source order: no index */
        runs += !i || t->src[i] != t->src[i - 1];
    }
    /* many runs would make the scan in cmp_src slower than src[] */
    if (!runs || runs > 16) return DT_OK;
    t->src_start = dt_malloc(runs * sizeof *t->src_start);
    t->src_of_run = dt_malloc(runs * sizeof *t->src_of_run);
    if (!t->src_start || !t->src_of_run) {
        sources_unindex(t);
        return DT_ENOMEM;
    }
    for (size_t i = 0, k = 0; i < t->n_recs; i++)
        if (!i || t->src[i] != t->src[i - 1]) {
            t->src_start[k] = (uint32_t)i;
            t->src_of_run[k++] = t->src[i];
        }
    t->n_src_runs = runs;
    return DT_OK;
}

int cmp_table_add(cmp_table *t, uint16_t src, const char *rid, size_t rid_len, size_t *i_rec)
{
    uint32_t id;
    DT_TRY(util_intern_put(&t->ids, rid, rid_len, &id));
    return cmp_table_add_rid(t, src, id, i_rec);
}

int cmp_table_add_rid(cmp_table *t, uint16_t src, uint32_t rid, size_t *i_rec)
{
    if (t->n_src_runs) sources_unindex(t);
    if (t->n_recs >= UINT32_MAX - 1) return DT_ENOMEM;
    DT_TRY(grow_records(t, t->n_recs + 1));
    size_t i = t->n_recs;
    t->rid[i] = rid;
    t->src[i] = src;
    for (size_t c = 0; c < t->n_cols; c++) t->cols[c].vals[i] = CMP_NULL;
    t->n_recs++;
    *i_rec = i;
    return DT_OK;
}

int cmp_table_set(cmp_table *t, size_t i_rec, size_t i_col, const char *v, size_t n)
{
    cmp_column *c = &t->cols[i_col];
    if (n == 0) {
        c->vals[i_rec] = CMP_NULL;
        return DT_OK;
    }
    return util_intern_put(&c->dict, v, n, &c->vals[i_rec]);
}

typedef struct permute_job {
    cmp_table *t;
    const uint32_t *perm;
    size_t n;
    uint32_t **tmp;             /* per worker: n entries */
} permute_job;

/* Column c (c == n_cols: the record ids) in the new order, through the
 * worker's scratch. */
static void permute_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    permute_job *j = ctx;
    uint32_t *tmp = j->tmp[i_worker];
    for (size_t c = begin; c < end; c++) {
        uint32_t *vals = c < j->t->n_cols ? j->t->cols[c].vals : j->t->rid;
        for (size_t i = 0; i < j->n; i++) tmp[i] = vals[j->perm[i]];
        memcpy(vals, tmp, j->n * sizeof *tmp);
    }
}

int cmp_table_permute(cmp_table *t, const uint32_t *perm, size_t n_new)
{
    return cmp_table_permute_on(t, perm, n_new, 1);
}

int cmp_table_permute_on(cmp_table *t, const uint32_t *perm, size_t n_new, int n_threads)
{
    enum { MAX_WORKERS = 16 };
    cmp_table_rows_free(t); /* they would name records by their old places */
    sources_unindex(t);
    size_t n = n_new;
    if (!n) { /* an empty table's arrays may be NULL, which memcpy may not take */
        t->n_recs = 0;
        return DT_OK;
    }
    if (n_threads < 1) n_threads = 1;
    if (n_threads > MAX_WORKERS) n_threads = MAX_WORKERS;
    uint32_t *tmp[MAX_WORKERS] = {0};
    uint16_t *tmp16 = dt_malloc(n * sizeof *tmp16);
    int rc = tmp16 ? DT_OK : DT_ENOMEM;
    for (int w = 0; w < n_threads && rc == DT_OK; w++)
        if (!(tmp[w] = dt_malloc(n * sizeof *tmp[w]))) rc = DT_ENOMEM;
    if (rc == DT_OK) {
        for (size_t i = 0; i < n; i++) tmp16[i] = t->src[perm[i]];
        memcpy(t->src, tmp16, n * sizeof *tmp16);
        permute_job j = {t, perm, n, tmp};
        rc = util_parallel_for(n_threads, t->n_cols + 1, 1, permute_range, &j);
    }
    for (int w = 0; w < n_threads; w++) dt_free(tmp[w]);
    dt_free(tmp16);
    if (rc == DT_OK) t->n_recs = n_new;
    return rc;
}

static double parse_number(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    return (end != s && *end == '\0' && isfinite(v)) ? v : NAN;
}

/* Dates are kept normalized as "YYYYMMDD" with 00 for unknown parts. */
static norm_date parse_norm_date(const char *s)
{
    norm_date d = {0, 0, 0};
    if (strlen(s) != 8) return d;
    int y = 0, m = 0, day = 0;
    for (int i = 0; i < 4; i++) y = y * 10 + (s[i] - '0');
    m = (s[4] - '0') * 10 + (s[5] - '0');
    day = (s[6] - '0') * 10 + (s[7] - '0');
    d.year = (int16_t)y;
    d.month = (int8_t)m;
    d.day = (int8_t)day;
    return d;
}

/* Columns whose values are looked up in the nickname table once each. */
static int is_name(cfg_field_type type)
{
    return type == CFG_T_GIVEN_NAME || type == CFG_T_MIDDLE_NAME || type == CFG_T_SURNAME ||
           type == CFG_T_TEXT;
}

static int finish_column(cmp_table *t, cmp_column *c)
{
    uint32_t n_vals = c->dict.n_strs;
    c->info = dt_calloc(n_vals ? n_vals : 1, sizeof *c->info);
    if (!c->info) return DT_ENOMEM;
    size_t total = 0;
    for (uint32_t v = 0; v < n_vals; v++) total += c->dict.lens[v];
    c->cps = dt_malloc((total ? total : 1) * sizeof *c->cps);
    if (!c->cps) return DT_ENOMEM;
    c->n_cps = 0;
    for (uint32_t v = 0; v < n_vals; v++) {
        cmp_value_info *in = &c->info[v];
        const char *s = c->dict.strs[v];
        size_t len = c->dict.lens[v];
        in->cp_off = (uint32_t)c->n_cps;
        in->cp_len = (uint32_t)norm_utf8_decode(s, len, c->cps + c->n_cps, total - c->n_cps);
        c->n_cps += in->cp_len;
        norm_soundex(s, in->soundex);
        norm_nysiis(s, in->nysiis);
        in->num = parse_number(s);
        if (c->type == CFG_T_DATE) in->date = parse_norm_date(s);
        in->cp_mask = cmp_cp_mask(c->cps + in->cp_off, in->cp_len);
        in->nick = is_name(c->type) ? norm_nick_id(t->nicks, s) : UINT32_MAX;
    }
    c->nicks = is_name(c->type) ? t->nicks : NULL;
    c->n_nonnull = 0;
    for (size_t i = 0; i < t->n_recs; i++) {
        if (c->vals[i] == CMP_NULL) continue;
        c->info[c->vals[i]].count++;
        c->n_nonnull++;
    }
    return DT_OK;
}

int cmp_table_finish(cmp_table *t)
{
    return cmp_table_finish_on(t, 1);
}

typedef struct finish_job {
    cmp_table *t;
    int *rc;
} finish_job;

static void finish_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    finish_job *j = ctx;
    for (size_t c = begin; c < end; c++) j->rc[c] = finish_column(j->t, &j->t->cols[c]);
}

int cmp_table_finish_on(cmp_table *t, int n_threads)
{
    int *rc = dt_calloc(t->n_cols ? t->n_cols : 1, sizeof *rc);
    if (!rc) return DT_ENOMEM;
    finish_job j = {t, rc};
    int r = util_parallel_for(n_threads, t->n_cols, 1, finish_range, &j);
    for (size_t c = 0; c < t->n_cols && r == DT_OK; c++) r = rc[c];
    dt_free(rc);
    return r;
}

/* ---- rows ----------------------------------------------------------- */

void cmp_table_rows_free(cmp_table *t)
{
    dt_free(t->rows_mem);
    dt_free(t->row_slot);
    t->rows = NULL;
    t->rows_mem = NULL;
    t->row_slot = NULL;
    t->row_width = 0;
}

static void mark(int *slot, size_t n_cols, int i_field, size_t *width)
{
    if (i_field >= 0 && (size_t)i_field < n_cols && slot[i_field] < 0)
        slot[i_field] = (int)(*width)++;
}

typedef struct rows_job {
    cmp_table *t;
} rows_job;

static void rows_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    cmp_table *t = ((rows_job *)ctx)->t;
    for (size_t i = begin; i < end; i++) {
        uint32_t *row = t->rows + i * t->row_width;
        for (size_t c = 0; c < t->n_cols; c++)
            if (t->row_slot[c] >= 0) row[t->row_slot[c]] = t->cols[c].vals[i];
    }
}

int cmp_table_rows(cmp_table *t, const dt_config *cfg, int n_threads)
{
    cmp_table_rows_free(t);
    if (!(t->row_slot = dt_malloc((t->n_cols ? t->n_cols : 1) * sizeof *t->row_slot)))
        return DT_ENOMEM;
    for (size_t c = 0; c < t->n_cols; c++) t->row_slot[c] = -1;
    size_t width = 0;
    for (size_t k = 0; k < cfg->n_comparisons; k++) {
        const cfg_comparison *cc = &cfg->comparisons[k];
        mark(t->row_slot, t->n_cols, cc->i_field, &width);
        for (int l = 0; l < cc->n_levels; l++)
            for (int w = 0; w < cc->levels[l].n_with; w++)
                mark(t->row_slot, t->n_cols, cc->levels[l].with[w], &width);
    }
    /* a power of two up to a cache line, so a row never straddles two */
    size_t w = 1;
    while (w < width) w *= 2;
    t->row_width = w;
    enum { LINE = 64 };
    size_t n = t->n_recs ? t->n_recs : 1;
    if (!width || !(t->rows_mem = dt_malloc(n * w * sizeof *t->rows + LINE))) {
        int rc = width ? DT_ENOMEM : DT_OK;
        cmp_table_rows_free(t);
        return rc;
    }
    t->rows = (uint32_t *)(((uintptr_t)t->rows_mem + LINE - 1) & ~(uintptr_t)(LINE - 1));
    rows_job j = {t};
    return util_parallel_for(n_threads, t->n_recs, 1 << 16, rows_range, &j);
}
