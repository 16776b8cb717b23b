/*
 * read.c — the first stages: read every source's CSV, standardize each
 * mapped value, put records in canonical order, code each distinct value.
 *
 * What happens to bad input (DEVELOPERS.md, "Bad input"):
 *   - a structurally broken row (csv error, wrong column count, empty or
 *     duplicate record id) is rejected: counted, and reported with its
 *     file:line (the first REPORT_MAX per source, then a count);
 *   - a bad value in a good row (impossible date, malformed identifier)
 *     becomes null and is counted per field; the row stays; a field read
 *     from a list of columns or formats is counted only when none of them
 *     gives it a value ("1987" failing YYYY-MM-DD but read by YYYY is a
 *     partial date, not a null);
 *   - invalid UTF-8 is counted and reported per row; its bytes are read
 *     as Latin-1 (norm.h, invariant 3).
 * A duplicate record id keeps the row that came first in the file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"
#include "io/csv.h"

enum { REPORT_MAX = 10 };

/* Each distinct raw value of a mapping is standardized once: the cache maps
 * raw text to the value id it became (or RAW_BAD). Identifiers skip it
 * (nearly every one is distinct and cheap to clean); a cache stops growing
 * at RAW_CACHE_MAX entries, so memory stays bounded on any data. */
enum { RAW_CACHE_MAX = 1 << 21 };
#define RAW_BAD (UINT32_MAX - 1)

typedef struct raw_cache {
    util_intern raw;     /* raw text -> dense id */
    uint32_t *value;     /* dense id -> column value id, or RAW_BAD */
    size_t cap;
    int is_used;
} raw_cache;

/* Where each config item reads from in this source's header. */
typedef struct source_plan {
    long i_id;                  /* column index of the record id */
    long *i_col;                /* per mapping: column index */
    long i_full_name;           /* -1 when none */
    int full_targets[3];        /* field for given, middle, surname from full_name; -1 none */
    size_t n_header;
    char **header;              /* column names, kept only when a row hook wants them */
} source_plan;

typedef struct read_state {
    pl_ctx *e;
    const cfg_source *s;
    const char *path;           /* the file read: the source's, or ingest's */
    pl_row_fn on_row;          /* may be NULL */
    void *row_ctx;
    uint16_t i_src;
    source_plan plan;
    util_buf norm, given, middle, surname;
    raw_cache *caches;          /* per mapping of the current source */
    uint64_t n_reported;
    uint64_t *orig_row;         /* per record: (source << 40) | row number, for duplicate ids */
    size_t cap_orig;
} read_state;

static long header_index(const csv_row *h, const char *name)
{
    for (size_t i = 0; i < h->n_fields; i++)
        if (strcmp(h->fields[i], name) == 0) return (long)i;
    return -1;
}

static int missing_column(const read_state *st, const char *col, long line, long column)
{
    return dt_err_at(st->e->err, DT_ECONFIG, st->e->cfg->path, line, column,
                     "source '%s': column '%s' is not in the header of %s", st->s->name, col,
                     st->path);
}

/* Explicit column mappings win over what full_name would fill. */
static int field_is_mapped(const cfg_source *s, int i_field)
{
    for (size_t m = 0; m < s->n_maps; m++)
        if (s->maps[m].i_field == i_field) return 1;
    return 0;
}

static int first_field_of_type(const dt_config *cfg, const cfg_source *s, cfg_field_type t)
{
    for (size_t f = 0; f < cfg->n_fields; f++)
        if (cfg->fields[f].type == t && !field_is_mapped(s, (int)f)) return (int)f;
    return -1;
}

static int make_plan(read_state *st, const csv_row *h)
{
    pl_ctx *e = st->e;
    const cfg_source *s = st->s;
    source_plan *p = &st->plan;
    p->n_header = h->n_fields;
    if (st->on_row) {
        p->header = dt_calloc(h->n_fields ? h->n_fields : 1, sizeof *p->header);
        if (!p->header) return dt_err_set(e->err, DT_ENOMEM, "out of memory");
        for (size_t i = 0; i < h->n_fields; i++)
            if (!(p->header[i] = dt_strndup(h->fields[i], h->lens[i])))
                return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    }
    p->i_id = header_index(h, s->id_column);
    if (p->i_id < 0) return missing_column(st, s->id_column, s->line, s->column);
    p->i_col = dt_calloc(s->n_maps ? s->n_maps : 1, sizeof *p->i_col);
    if (!p->i_col) return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    for (size_t m = 0; m < s->n_maps; m++) {
        p->i_col[m] = header_index(h, s->maps[m].column);
        if (p->i_col[m] < 0)
            return missing_column(st, s->maps[m].column, s->maps[m].line, s->maps[m].col);
    }
    p->i_full_name = -1;
    if (s->full_name_column) {
        p->i_full_name = header_index(h, s->full_name_column);
        if (p->i_full_name < 0) return missing_column(st, s->full_name_column, s->line, s->column);
        p->full_targets[0] = first_field_of_type(e->cfg, s, CFG_T_GIVEN_NAME);
        p->full_targets[1] = first_field_of_type(e->cfg, s, CFG_T_MIDDLE_NAME);
        p->full_targets[2] = first_field_of_type(e->cfg, s, CFG_T_SURNAME);
    }
    return DT_OK;
}

/* Standardizes one raw value of a field into st->norm. DT_EINPUT: bad value. */
static int standardize(read_state *st, const cfg_mapping *m, const char *raw, size_t n)
{
    util_buf *out = &st->norm;
    util_buf_clear(out);
    switch (st->e->cfg->fields[m->i_field].type) {
    case CFG_T_GIVEN_NAME:
    case CFG_T_MIDDLE_NAME:
    case CFG_T_SURNAME: return norm_fold(out, raw, n, NORM_FOLD_NAME);
    case CFG_T_DATE: {
        norm_date d;
        DT_TRY(norm_date_parse(raw, n, m->date_format ? m->date_format : "YYYY-MM-DD", &d));
        return util_buf_printf(out, "%04d%02d%02d", d.year, d.month, d.day);
    }
    case CFG_T_IDENTIFIER: {
        norm_ident_rules r = {m->min_len, m->max_len, m->ssn, 1};
        DT_TRY(norm_ident(out, raw, n, &r));
        if (m->last_digits && out->len > (size_t)m->last_digits) {
            size_t drop = out->len - (size_t)m->last_digits;
            memmove(out->data, out->data + drop, (size_t)m->last_digits + 1);
            out->len = (size_t)m->last_digits;
        }
        return DT_OK;
    }
    case CFG_T_POSTCODE: return norm_postcode(out, raw, n, m->postcode_len);
    case CFG_T_ADDRESS: return norm_address(out, raw, n);
    case CFG_T_PHONE: return norm_phone(out, raw, n);
    case CFG_T_SEX: return norm_sex(out, raw, n);
    default: return norm_fold(out, raw, n, NORM_FOLD_TEXT);
    }
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t') return 0;
    return 1;
}

static int set_value(read_state *st, size_t i_rec, int i_field, const char *v, size_t n)
{
    if (i_field < 0) return DT_OK;
    return cmp_table_set(&st->e->table, i_rec, (size_t)i_field, v, n);
}

static int put_full_name(read_state *st, size_t i_rec, const char *raw, size_t n)
{
    util_buf_clear(&st->given);
    util_buf_clear(&st->middle);
    util_buf_clear(&st->surname);
    norm_name_order order = st->s->full_name_order == CFG_ORDER_LAST_COMMA_FIRST
                                ? NORM_NAME_LAST_COMMA_FIRST
                                : NORM_NAME_FIRST_LAST;
    DT_TRY(norm_name_split(raw, n, order, &st->given, &st->middle, &st->surname));
    const int *t = st->plan.full_targets;
    DT_TRY(set_value(st, i_rec, t[0], st->given.data ? st->given.data : "", st->given.len));
    DT_TRY(set_value(st, i_rec, t[1], st->middle.data ? st->middle.data : "", st->middle.len));
    return set_value(st, i_rec, t[2], st->surname.data ? st->surname.data : "", st->surname.len);
}

static void report(read_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(read_state *st, const char *fmt, ...)
{
    if (++st->n_reported > REPORT_MAX) return;
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pl_log(st->e, DT_LOG_WARN, "%s", line);
}

static int remember_row(read_state *st, size_t i_rec, long line)
{
    DT_TRY(util_grow((void **)&st->orig_row, &st->cap_orig, i_rec + 1, sizeof *st->orig_row));
    st->orig_row[i_rec] = ((uint64_t)st->i_src << 40) | (uint64_t)line;
    return DT_OK;
}

/* Standardizes raw into the record's field, through the mapping's cache.
 * A value that cannot be standardized leaves the field as it was and
 * returns DT_EINPUT (the caller decides whether it became null). */
static int put_value(read_state *st, raw_cache *rc, const cfg_mapping *m, size_t i_rec,
                     const char *raw, size_t n)
{
    pl_ctx *e = st->e;
    uint32_t *vals = e->table.cols[m->i_field].vals;
    uint32_t hit = rc->is_used ? util_intern_find(&rc->raw, raw, n) : UINT32_MAX;
    if (hit != UINT32_MAX) {
        if (rc->value[hit] == RAW_BAD) return DT_EINPUT;
        vals[i_rec] = rc->value[hit];
        return DT_OK;
    }
    int r = standardize(st, m, raw, n);
    if (r != DT_OK && r != DT_EINPUT) return r;
    uint32_t v = RAW_BAD;
    if (r == DT_OK) {
        DT_TRY(cmp_table_set(&e->table, i_rec, (size_t)m->i_field, st->norm.data, st->norm.len));
        v = vals[i_rec];
    }
    if (rc->is_used && rc->raw.n_strs < RAW_CACHE_MAX) {
        uint32_t id;
        DT_TRY(util_intern_put(&rc->raw, raw, n, &id));
        DT_TRY(util_grow((void **)&rc->value, &rc->cap, (size_t)id + 1, sizeof *rc->value));
        rc->value[id] = v;
    }
    return r;
}

/* Does a later mapping of mapping m's field have a value in this row? Then
 * a bad value at m is not a null yet: the later one (say a "YYYY" format
 * after "YYYY-MM-DD") may still give the field a value, and is the one
 * counted if it cannot. */
static int has_fallback(const read_state *st, const csv_row *row, size_t m)
{
    const cfg_source *s = st->s;
    for (size_t k = m + 1; k < s->n_maps; k++) {
        size_t c = (size_t)st->plan.i_col[k];
        if (s->maps[k].i_field == s->maps[m].i_field && !is_blank(row->fields[c], row->lens[c]))
            return 1;
    }
    return 0;
}

static int add_row(read_state *st, const csv_row *row)
{
    pl_ctx *e = st->e;
    const cfg_source *s = st->s;
    if (row->n_fields != st->plan.n_header) {
        e->n_rejected++;
        report(st, "%s:%ld: row has %zu fields, the header has %zu: row rejected", st->path,
               row->line, row->n_fields, st->plan.n_header);
        return DT_OK;
    }
    const char *id = row->fields[st->plan.i_id];
    size_t id_len = row->lens[st->plan.i_id];
    if (id_len == 0 || is_blank(id, id_len)) {
        e->n_rejected++;
        report(st, "%s:%ld: empty record id in column '%s': row rejected", st->path, row->line,
               s->id_column);
        return DT_OK;
    }
    if (row->bad_utf8_column) {
        e->n_bad_utf8_rows++;
        report(st, "%s:%ld:%ld: invalid UTF-8 (read as Latin-1)", st->path, row->line,
               row->bad_utf8_column);
    }
    size_t i_rec;
    DT_TRY(cmp_table_add(&e->table, st->i_src, id, id_len, &i_rec));
    DT_TRY(remember_row(st, i_rec, row->line));
    if (st->plan.i_full_name >= 0) {
        size_t c = (size_t)st->plan.i_full_name;
        DT_TRY(put_full_name(st, i_rec, row->fields[c], row->lens[c]));
    }
    for (size_t m = 0; m < s->n_maps; m++) {
        size_t c = (size_t)st->plan.i_col[m];
        if (is_blank(row->fields[c], row->lens[c])) continue; /* missing: null, not an error */
        if (e->table.cols[s->maps[m].i_field].vals[i_rec] != CMP_NULL) continue; /* a fallback */
        int r = put_value(st, &st->caches[m], &s->maps[m], i_rec, row->fields[c], row->lens[c]);
        if (r == DT_EINPUT && !has_fallback(st, row, m)) e->null_per_field[s->maps[m].i_field]++;
        else if (r != DT_EINPUT) DT_TRY(r);
    }
    if (!st->on_row) return DT_OK;
    return st->on_row(st->row_ctx, i_rec, (const char *const *)st->plan.header, row);
}

static int read_source(read_state *st)
{
    pl_ctx *e = st->e;
    const cfg_source *s = st->s;
    csv_options opt = {.delimiter = s->delimiter, .trim = s->trim};
    csv_reader *r = NULL;
    DT_TRY(csv_open(st->path, &opt, &r, e->err));
    csv_row row;
    st->caches = dt_calloc(s->n_maps ? s->n_maps : 1, sizeof *st->caches);
    if (!st->caches) {
        csv_close(r);
        return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    }
    for (size_t m = 0; m < s->n_maps; m++) {
        util_intern_init(&st->caches[m].raw);
        st->caches[m].is_used = e->cfg->fields[s->maps[m].i_field].type != CFG_T_IDENTIFIER;
    }
    int rc = csv_next(r, &row, e->err);
    if (rc == 0) rc = dt_err_at(e->err, DT_EINPUT, st->path, 1, 1, "no header row: the file is empty");
    if (rc == 1) rc = make_plan(st, &row);
    uint64_t n_before = e->table.n_recs;
    while (rc >= 0) {
        rc = csv_next(r, &row, e->err);
        if (rc == 0) break;
        if (rc == DT_EINPUT) { /* broken row: count, report, go on */
            e->n_rejected++;
            report(st, "%s: row rejected", e->err->msg);
            dt_error_clear(e->err);
            rc = DT_OK;
            continue;
        }
        if (rc < 0) break;
        rc = add_row(st, &row);
        if ((e->table.n_recs & 0xffff) == 0) pl_progress(e, "read", csv_offset(r), 0, 0);
    }
    csv_close(r);
    for (size_t m = 0; m < s->n_maps; m++) {
        util_intern_fini(&st->caches[m].raw);
        dt_free(st->caches[m].value);
    }
    dt_free(st->caches);
    st->caches = NULL;
    dt_free(st->plan.i_col);
    st->plan.i_col = NULL;
    for (size_t i = 0; st->plan.header && i < st->plan.n_header; i++) dt_free(st->plan.header[i]);
    dt_free(st->plan.header);
    st->plan.header = NULL;
    if (st->n_reported > REPORT_MAX)
        pl_log(e, DT_LOG_WARN, "%s: %llu more problems not shown", st->path,
                (unsigned long long)(st->n_reported - REPORT_MAX));
    e->recs_per_source[st->i_src] = e->table.n_recs - n_before;
    return rc < 0 ? rc : DT_OK;
}

/* ---- canonical order ------------------------------------------------ */

/* Canonical order is by source, then by a 48-bit hash of the record id,
 * then by the id text: it depends on the ids alone, never on row order,
 * and sorts in linear time. Equal keys (a repeated id, or a hash collision)
 * are settled by the id text, and a repeated id by its row in the file. */
static const pl_ctx *g_sort_eng;
static const uint64_t *g_sort_rows;

static int cmp_same_key(const void *x, const void *y)
{
    uint32_t a = ((const util_kv *)x)->val, b = ((const util_kv *)y)->val;
    const cmp_table *t = &g_sort_eng->table;
    if (t->rid[a] != t->rid[b]) {
        int c = strcmp(cmp_record_id(t, a), cmp_record_id(t, b));
        if (c) return c;
    }
    if (!g_sort_rows) return 0; /* records from a store: ids are unique there */
    return (g_sort_rows[a] > g_sort_rows[b]) - (g_sort_rows[a] < g_sort_rows[b]);
}

uint64_t pl_canonical_key(uint16_t src, const char *id, size_t len)
{
    return ((uint64_t)src << 48) | (util_hash64(id, len, 0x6964) >> 16);
}

static int sort_records(pl_ctx *e, const uint64_t *orig_row, util_kv *kv)
{
    cmp_table *t = &e->table;
    size_t n = t->n_recs;
    for (size_t i = 0; i < n; i++)
        kv[i] = (util_kv){pl_canonical_key(t->src[i], cmp_record_id(t, (uint32_t)i),
                                            t->ids.lens[t->rid[i]]),
                          (uint32_t)i};
    DT_TRY(util_sort_kv(kv, n));
    g_sort_eng = e; /* qsort has no context; loading is single-threaded */
    g_sort_rows = orig_row;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && kv[j].key == kv[i].key) j++;
        if (j - i > 1) qsort(kv + i, j - i, sizeof *kv, cmp_same_key);
        i = j;
    }
    return DT_OK;
}

/* Puts records in canonical order; drops later rows repeating an id. */
static int canonical_order(pl_ctx *e, const uint64_t *orig_row)
{
    cmp_table *t = &e->table;
    size_t n = t->n_recs;
    util_kv *kv = dt_malloc((n ? n : 1) * sizeof *kv);
    uint32_t *perm = dt_malloc((n ? n : 1) * sizeof *perm);
    int rc = kv && perm ? sort_records(e, orig_row, kv) : DT_ENOMEM;
    size_t kept = 0;
    for (size_t i = 0; i < n && rc == DT_OK; i++) {
        uint32_t r = kv[i].val;
        if (kept && orig_row && t->src[perm[kept - 1]] == t->src[r] &&
            t->rid[perm[kept - 1]] == t->rid[r]) {
            const cfg_source *s = &e->cfg->sources[t->src[r]];
            e->n_rejected++;
            e->recs_per_source[t->src[r]]--;
            pl_log(e, DT_LOG_WARN, "%s:%llu: record id '%s' repeats line %llu: row rejected",
                    s->path, (unsigned long long)(orig_row[r] & 0xffffffffffULL),
                    cmp_record_id(t, r),
                    (unsigned long long)(orig_row[perm[kept - 1]] & 0xffffffffffULL));
            continue;
        }
        perm[kept++] = r;
    }
    if (rc == DT_OK) rc = cmp_table_permute(t, perm, kept);
    dt_free(kv);
    dt_free(perm);
    return rc < 0 ? dt_err_set(e->err, rc, "out of memory ordering records") : DT_OK;
}

static void read_state_fini(read_state *st)
{
    util_buf_fini(&st->norm);
    util_buf_fini(&st->given);
    util_buf_fini(&st->middle);
    util_buf_fini(&st->surname);
    dt_free(st->orig_row);
}

int pl_load_nicknames(pl_ctx *e)
{
    if (e->nicks) return DT_OK;
    DT_TRY(norm_nick_load(e->cfg->nicknames_path, &e->own_nicks, e->err));
    e->nicks = e->table.nicks = e->own_nicks;
    return DT_OK;
}

void pl_borrow_nicknames(pl_ctx *e, const norm_nicknames *t)
{
    if (!t || e->nicks) return;
    e->nicks = e->table.nicks = t;
}

int pl_load(pl_ctx *e)
{
    int rc = pl_load_nicknames(e);
    read_state st;
    memset(&st, 0, sizeof st);
    st.e = e;
    for (size_t i = 0; i < e->cfg->n_sources && rc >= 0; i++) {
        st.s = &e->cfg->sources[i];
        st.path = st.s->path;
        st.i_src = (uint16_t)i;
        st.n_reported = 0;
        rc = read_source(&st);
    }
    if (rc >= 0) rc = canonical_order(e, st.orig_row);
    read_state_fini(&st);
    if (rc < 0) return rc;
    rc = cmp_table_finish(&e->table);
    return rc < 0 ? dt_err_set(e->err, rc, "out of memory coding values") : DT_OK;
}

/* A read of one source from `path` (a file, or a label for messages). */
static void read_state_begin(read_state *st, pl_ctx *e, size_t i_src, const char *path)
{
    memset(st, 0, sizeof *st);
    st->e = e;
    st->s = &e->cfg->sources[i_src];
    st->path = path;
    st->i_src = (uint16_t)i_src;
}

int pl_finish_load(pl_ctx *e)
{
    DT_TRY(pl_load_nicknames(e));
    DT_TRY(canonical_order(e, NULL));
    int rc = cmp_table_finish(&e->table);
    return rc < 0 ? dt_err_set(e->err, rc, "out of memory coding values") : DT_OK;
}

int pl_load_row(pl_ctx *e, size_t i_src, const csv_row *header, const csv_row *row,
                 const char *name)
{
    DT_TRY(pl_load_nicknames(e));
    read_state st;
    read_state_begin(&st, e, i_src, name);
    st.caches = dt_calloc(st.s->n_maps ? st.s->n_maps : 1, sizeof *st.caches);
    int rc = st.caches ? make_plan(&st, header) : dt_err_set(e->err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK) rc = add_row(&st, row);
    dt_free(st.caches); /* unused: is_used stays 0, so nothing was cached */
    dt_free(st.plan.i_col);
    read_state_fini(&st);
    return rc;
}

int pl_load_file(pl_ctx *e, size_t i_src, const char *path, pl_row_fn on_row, void *ctx)
{
    DT_TRY(pl_load_nicknames(e));
    read_state st;
    read_state_begin(&st, e, i_src, path);
    st.on_row = on_row;
    st.row_ctx = ctx;
    int rc = read_source(&st);
    read_state_fini(&st);
    return rc;
}
