/*
 * read.c — the first stages: read every source's CSV, standardize each
 * mapped value, put records in canonical order, code each distinct value.
 *
 * What happens to bad input (DEVELOPERS.md, "Bad input"):
 *   - a structurally broken row (csv error, wrong column count, empty or
 *     duplicate record id) is rejected: counted, reported with its
 *     file:line (the first REPORT_MAX per source, then a count), and
 *     written verbatim with its file, lines and reason to the rejects file
 *     (e->rejects_path, created 0600 at the first reject). A broken quote
 *     may consume many lines: the report names them all;
 *   - a bad value in a good row (impossible date, malformed identifier)
 *     becomes null and is counted per field; the row stays; a field read
 *     from a list of columns or formats is counted only when none of them
 *     gives it a value ("1987" failing YYYY-MM-DD but read by YYYY is a
 *     partial date, not a null);
 *   - invalid UTF-8 is counted and reported per row; its bytes are read
 *     as Latin-1 (norm.h, invariant 3).
 * A duplicate record id keeps the row that came first in the file: the
 * later row is rejected as it is read, so every source's ids are unique in
 * the table.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/pipeline.h"
#include "io/csv.h"

enum { REPORT_MAX = 10 };

/* Each distinct raw value of a mapping is standardized once: the cache maps
 * raw text to the value id it became (or RAW_BAD). Identifiers skip it
 * (nearly every one is distinct and cheap to clean); a cache stops growing
 * at RAW_CACHE_MAX entries, so memory stays bounded on any data. */
enum { RAW_CACHE_MAX = 1 << 21 };
#define RAW_BAD (UINT32_MAX - 1)

/* A raw value of up to RAW_SHORT bytes is kept in its slot, zero-padded,
 * so a look-up reads one slot, not a slot, an id and a string elsewhere:
 * names, dates, ZIP codes and sexes are short, and this cache is most of
 * a read's memory traffic. Longer ones go through an intern table. */
enum { RAW_SHORT = 16 };

typedef struct raw_slot {
    uint64_t k[2];       /* the bytes, zero-padded */
    uint32_t len;        /* 0: empty (blank values never reach the cache) */
    uint32_t value;      /* column value id, or RAW_BAD */
} raw_slot;

typedef struct raw_cache {
    raw_slot *slots;     /* open addressing, power of two, at most half full */
    size_t n_slots, n;
    util_intern raw;     /* raw text over RAW_SHORT bytes -> dense id */
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
    size_t full_group;          /* one of them (a batch's field groups hold them together) */
    size_t n_header;
    char **header;              /* column names, kept only when a row hook wants them */
} source_plan;

/* The buffers one thread standardizes a row's values in. */
typedef struct row_scratch {
    util_buf norm, given, middle, surname;
} row_scratch;

static void row_scratch_fini(row_scratch *s)
{
    util_buf_fini(&s->norm);
    util_buf_fini(&s->given);
    util_buf_fini(&s->middle);
    util_buf_fini(&s->surname);
}

typedef struct read_state {
    pl_ctx *e;
    const cfg_source *s;
    const char *path;           /* the file read: the source's, or ingest's */
    pl_row_fn on_row;          /* may be NULL */
    void *row_ctx;
    uint16_t i_src;
    source_plan plan;
    row_scratch scr;            /* add_row's; a batch's field groups have their own */
    raw_cache *caches;          /* per mapping of the current source */
    uint64_t n_reported;
    uint64_t *id_line;          /* per interned record id: ((source + 1) << 40) | the line of
                                   its first row in that source, for repeated ids */
    size_t cap_id_line;
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

/* Standardizes one raw value of a field into out. DT_EINPUT: bad value. */
static int standardize(const dt_config *cfg, util_buf *out, const cfg_mapping *m, const char *raw,
                       size_t n)
{
    util_buf_clear(out);
    switch (cfg->fields[m->i_field].type) {
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

static int put_full_name(read_state *st, row_scratch *scr, size_t i_rec, const char *raw,
                         size_t n)
{
    util_buf_clear(&scr->given);
    util_buf_clear(&scr->middle);
    util_buf_clear(&scr->surname);
    norm_name_order order = st->s->full_name_order == CFG_ORDER_LAST_COMMA_FIRST
                                ? NORM_NAME_LAST_COMMA_FIRST
                                : NORM_NAME_FIRST_LAST;
    DT_TRY(norm_name_split(raw, n, order, &scr->given, &scr->middle, &scr->surname));
    const int *t = st->plan.full_targets;
    DT_TRY(set_value(st, i_rec, t[0], scr->given.data ? scr->given.data : "", scr->given.len));
    DT_TRY(set_value(st, i_rec, t[1], scr->middle.data ? scr->middle.data : "", scr->middle.len));
    return set_value(st, i_rec, t[2], scr->surname.data ? scr->surname.data : "",
                     scr->surname.len);
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

/* ---- rejected rows ------------------------------------------------- */

/* Opens the rejects file at the first rejected row: 0600, for it holds
 * people's data as the source sent it. */
static int rejects_open(pl_ctx *e)
{
    int fd = open(e->rejects_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0 && fchmod(fd, 0600) == 0) e->rejects = fdopen(fd, "w");
    if (!e->rejects) {
        if (fd >= 0) close(fd);
        return dt_err_at(e->err, DT_EIO, e->rejects_path, 0, 0, "cannot write the rejects "
                         "file: %s", strerror(errno));
    }
    if (fputs("file,line,last_line,reason,row\n", e->rejects) < 0)
        return dt_err_at(e->err, DT_EIO, e->rejects_path, 0, 0, "write failed: %s",
                         strerror(errno));
    return DT_OK;
}

/* Appends one entry to the rejects file: the row's bytes verbatim, quoted. */
static int keep_reject(read_state *st, const csv_span *sp, const char *reason)
{
    pl_ctx *e = st->e;
    if (!e->rejects_path) return DT_OK;
    if (!e->rejects) DT_TRY(rejects_open(e));
    util_buf b = {0};
    csv_write_field(&b, st->path, strlen(st->path), ',');
    util_buf_printf(&b, ",%ld,%ld,", sp->first_line, sp->last_line);
    csv_write_quoted(&b, reason, strlen(reason));
    util_buf_putc(&b, ',');
    csv_write_quoted(&b, sp->raw ? sp->raw : "", sp->raw_len);
    util_buf_putc(&b, '\n');
    int rc = b.is_failed ? dt_err_set(e->err, DT_ENOMEM, "out of memory") : DT_OK;
    if (rc == DT_OK && fwrite(b.data, 1, b.len, e->rejects) != b.len)
        rc = dt_err_at(e->err, DT_EIO, e->rejects_path, 0, 0, "write failed: %s",
                       strerror(errno));
    util_buf_fini(&b);
    return rc;
}

/* Counts a rejected row, warns about it with every line it took, and keeps
 * it. line and column place the fault (column 0: none). */
static int reject(read_state *st, const csv_span *sp, long line, long column,
                  const char *reason)
{
    st->e->n_rejected++;
    char where[48] = "";
    if (column > 0) snprintf(where, sizeof where, ":%ld", column);
    long n_lines = sp->last_line - sp->first_line + 1;
    if (n_lines > 1)
        report(st, "%s:%ld%s: %s; the row took lines %ld-%ld (%ld lines): all rejected%s",
               st->path, line, where, reason, sp->first_line, sp->last_line, n_lines,
               sp->is_raw_cut ? " (the rejects file keeps its first 64 MiB)" : "");
    else
        report(st, "%s:%ld%s: %s: row rejected", st->path, line, where, reason);
    return keep_reject(st, sp, reason);
}

/* A broken row the reader returned: err says why. */
static int reject_broken(read_state *st, csv_reader *r, const dt_error *err)
{
    csv_span sp;
    DT_TRY(csv_last_span(r, &sp, st->e->err));
    return reject(st, &sp, err->line, err->column, dt_err_text(err));
}

/* A row the reader read, rejected here (fmt gives the reason). */
static int reject_row(read_state *st, csv_reader *r, const csv_row *row, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reject_row(read_state *st, csv_reader *r, const csv_row *row, const char *fmt, ...)
{
    csv_span sp = {.first_line = row->line, .last_line = row->line};
    if (r) DT_TRY(csv_last_span(r, &sp, st->e->err));
    char reason[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return reject(st, &sp, row->line, 0, reason);
}

int pl_rejects_close(pl_ctx *e)
{
    if (!e->rejects) return DT_OK;
    int bad = fclose(e->rejects) != 0;
    e->rejects = NULL;
    return bad ? dt_err_at(e->err, DT_EIO, e->rejects_path, 0, 0, "write failed: %s",
                           strerror(errno))
               : DT_OK;
}

int pl_rejects_check(pl_ctx *e, int64_t max_rejected, const char *outcome)
{
    if (!e->n_rejected) return DT_OK;
    const char *path = e->rejects_path;
    char kept[sizeof ((dt_error *)0)->file + 64];
    snprintf(kept, sizeof kept, "%s%s%s", path ? "each is in " : "no rejects file was given, "
             "so only the warnings name them", path ? path : "",
             path ? " with its file, lines and reason" : "");
    if (max_rejected >= 0 && e->n_rejected > (uint64_t)max_rejected)
        return dt_err_set(e->err, DT_EINPUT, "%llu rows rejected, more than the %lld allowed "
                          "(max_rejected); %s; %s", (unsigned long long)e->n_rejected,
                          (long long)max_rejected, kept, outcome);
    pl_log(e, DT_LOG_WARN, "%llu rows rejected (allowed: %lld); %s",
           (unsigned long long)e->n_rejected, (long long)max_rejected, kept);
    return DT_OK;
}

/* 1 when this source already had a row with this id (rid: its intern id,
 * UINT32_MAX when new); OUT: *first_line, that row's line. */
static int is_repeat(const read_state *st, uint32_t rid, uint64_t *first_line)
{
    if (rid == UINT32_MAX || rid >= st->cap_id_line) return 0;
    uint64_t v = st->id_line[rid];
    *first_line = v & 0xffffffffffULL;
    return v >> 40 == (uint64_t)st->i_src + 1;
}

static int remember_id(read_state *st, size_t i_rec, long line)
{
    uint32_t rid = st->e->table.rid[i_rec];
    size_t before = st->cap_id_line;
    DT_TRY(util_grow((void **)&st->id_line, &st->cap_id_line, (size_t)rid + 1,
                     sizeof *st->id_line));
    memset(st->id_line + before, 0, (st->cap_id_line - before) * sizeof *st->id_line);
    st->id_line[rid] = (((uint64_t)st->i_src + 1) << 40) | (uint64_t)line;
    return DT_OK;
}

static size_t raw_home(const raw_cache *rc, const uint64_t k[2], size_t n)
{
    return (size_t)util_mix64(k[0] ^ util_mix64(k[1] ^ n)) & (rc->n_slots - 1);
}

/* The slot of a short raw value: where it is, or the empty one its run ends at. */
static raw_slot *raw_slot_of(const raw_cache *rc, const uint64_t k[2], size_t n)
{
    size_t i = raw_home(rc, k, n);
    for (;; i = (i + 1) & (rc->n_slots - 1)) {
        raw_slot *sl = &rc->slots[i];
        if (!sl->len || (sl->len == n && sl->k[0] == k[0] && sl->k[1] == k[1])) return sl;
    }
}

static int raw_grow(raw_cache *rc)
{
    size_t n_slots = rc->n_slots ? rc->n_slots * 2 : 1024;
    raw_slot *old = rc->slots;
    size_t n_old = rc->n_slots;
    if (!(rc->slots = dt_calloc(n_slots, sizeof *rc->slots))) {
        rc->slots = old;
        return DT_ENOMEM;
    }
    rc->n_slots = n_slots;
    for (size_t i = 0; i < n_old; i++)
        if (old[i].len) *raw_slot_of(rc, old[i].k, old[i].len) = old[i];
    dt_free(old);
    return DT_OK;
}

/* The cached value id of raw (RAW_BAD: it failed), or UINT32_MAX. */
static uint32_t raw_find(const raw_cache *rc, const char *raw, size_t n)
{
    if (n > RAW_SHORT) {
        uint32_t id = util_intern_find(&rc->raw, raw, n);
        return id == UINT32_MAX ? id : rc->value[id];
    }
    if (!rc->n_slots) return UINT32_MAX;
    uint64_t k[2] = {0, 0};
    memcpy(k, raw, n);
    const raw_slot *sl = raw_slot_of(rc, k, n);
    return sl->len ? sl->value : UINT32_MAX;
}

static int raw_put(raw_cache *rc, const char *raw, size_t n, uint32_t v)
{
    if (rc->n + rc->raw.n_strs >= RAW_CACHE_MAX) return DT_OK;
    if (n > RAW_SHORT) {
        uint32_t id;
        DT_TRY(util_intern_put(&rc->raw, raw, n, &id));
        DT_TRY(util_grow((void **)&rc->value, &rc->cap, (size_t)id + 1, sizeof *rc->value));
        rc->value[id] = v;
        return DT_OK;
    }
    if (2 * (rc->n + 1) > rc->n_slots) DT_TRY(raw_grow(rc));
    uint64_t k[2] = {0, 0};
    memcpy(k, raw, n);
    raw_slot *sl = raw_slot_of(rc, k, n);
    if (!sl->len) rc->n++;
    *sl = (raw_slot){{k[0], k[1]}, (uint32_t)n, v};
    return DT_OK;
}

static void raw_cache_fini(raw_cache *rc)
{
    util_intern_fini(&rc->raw);
    dt_free(rc->value);
    dt_free(rc->slots);
}

/* Standardizes raw into the record's field, through the mapping's cache.
 * A value that cannot be standardized leaves the field as it was and
 * returns DT_EINPUT (the caller decides whether it became null). */
static int put_value(read_state *st, row_scratch *scr, raw_cache *rc, const cfg_mapping *m,
                     size_t i_rec, const char *raw, size_t n)
{
    pl_ctx *e = st->e;
    uint32_t *vals = e->table.cols[m->i_field].vals;
    uint32_t hit = rc->is_used ? raw_find(rc, raw, n) : UINT32_MAX;
    if (hit != UINT32_MAX) {
        if (hit == RAW_BAD) return DT_EINPUT;
        vals[i_rec] = hit;
        return DT_OK;
    }
    int r = standardize(e->cfg, &scr->norm, m, raw, n);
    if (r != DT_OK && r != DT_EINPUT) return r;
    uint32_t v = RAW_BAD;
    if (r == DT_OK) {
        DT_TRY(cmp_table_set(&e->table, i_rec, (size_t)m->i_field, scr->norm.data, scr->norm.len));
        v = vals[i_rec];
    }
    if (rc->is_used) DT_TRY(raw_put(rc, raw, n, v));
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

/* The structural checks of a row, then its record: OUT *i_rec, or
 * SIZE_MAX when the row was rejected (counted, reported, kept). r (NULL
 * for a single row) gives the bytes of a row rejected here. Record ids are
 * checked here, one row at a time in file order, so the first row with an
 * id keeps it whatever the batches or threads. */
static int add_record(read_state *st, csv_reader *r, const csv_row *row, size_t *i_rec)
{
    pl_ctx *e = st->e;
    const cfg_source *s = st->s;
    *i_rec = SIZE_MAX;
    if (row->n_fields != st->plan.n_header)
        return reject_row(st, r, row, "row has %zu fields, the header has %zu", row->n_fields,
                          st->plan.n_header);
    const char *id = row->fields[st->plan.i_id];
    size_t id_len = row->lens[st->plan.i_id];
    if (id_len == 0 || is_blank(id, id_len))
        return reject_row(st, r, row, "empty record id in column '%s'", s->id_column);
    /* put, not find: the id is new far more often than not, and a
     * repeat's put changes nothing */
    uint32_t rid;
    uint64_t first_line;
    DT_TRY(util_intern_put(&e->table.ids, id, id_len, &rid));
    if (is_repeat(st, rid, &first_line))
        return reject_row(st, r, row, "record id '%s' repeats line %llu", id,
                          (unsigned long long)first_line);
    if (row->bad_utf8_column) {
        e->n_bad_utf8_rows++;
        report(st, "%s:%ld:%ld: invalid UTF-8 (read as Latin-1)", st->path, row->line,
               row->bad_utf8_column);
    }
    DT_TRY(cmp_table_add_rid(&e->table, st->i_src, rid, i_rec));
    return remember_id(st, *i_rec, row->line);
}

/* Standardizes a record's values from its row: of every field when
 * is_mine is NULL, else of the fields is_mine marks. Each field's
 * dictionary, raw caches and null count are touched only here, so calls
 * for disjoint sets of fields may run at once (a batch's field groups). */
static int put_values(read_state *st, row_scratch *scr, const csv_row *row, size_t i_rec,
                      const uint8_t *is_mine)
{
    pl_ctx *e = st->e;
    const cfg_source *s = st->s;
    if (st->plan.i_full_name >= 0 && (!is_mine || is_mine[st->plan.full_group])) {
        size_t c = (size_t)st->plan.i_full_name;
        DT_TRY(put_full_name(st, scr, i_rec, row->fields[c], row->lens[c]));
    }
    for (size_t m = 0; m < s->n_maps; m++) {
        int f = s->maps[m].i_field;
        if (is_mine && !is_mine[f]) continue;
        size_t c = (size_t)st->plan.i_col[m];
        if (is_blank(row->fields[c], row->lens[c])) continue; /* missing: null, not an error */
        if (e->table.cols[f].vals[i_rec] != CMP_NULL) continue; /* a fallback */
        int put = put_value(st, scr, &st->caches[m], &s->maps[m], i_rec, row->fields[c],
                            row->lens[c]);
        if (put == DT_EINPUT && !has_fallback(st, row, m)) e->null_per_field[f]++;
        else if (put != DT_EINPUT) DT_TRY(put);
    }
    return DT_OK;
}

/* Reads one row into the table; r (NULL for a single row) gives the
 * bytes of a row rejected here. */
static int add_row(read_state *st, csv_reader *r, const csv_row *row)
{
    size_t i_rec;
    DT_TRY(add_record(st, r, row, &i_rec));
    if (i_rec == SIZE_MAX) return DT_OK;
    DT_TRY(put_values(st, &st->scr, row, i_rec, NULL));
    if (!st->on_row) return DT_OK;
    return st->on_row(st->row_ctx, i_rec, (const char *const *)st->plan.header, row);
}

/* ---- reading a file in batches -------------------------------------- */

/* A file is read BATCH_ROWS rows at a time: one thread parses the rows,
 * checks them and adds their records (add_record, in file order); then the
 * batch's values are standardized by field group on every thread. A
 * group is one field, or every field a full name fills (one split feeds
 * them); each group walks the batch in row order, so each field's
 * dictionary gets its values in the order one thread would give them, and
 * the table is the same for any number of threads. */
enum { BATCH_ROWS = 16384, BATCH_BYTES = 16 << 20 };

typedef struct read_batch {
    size_t n_rows, cap_rows;
    csv_row *rows;              /* fields and lens point into the slabs below */
    size_t *i_rec;              /* per row: its record */
    util_buf text;              /* every field's bytes, each NUL-terminated */
    size_t *off, *lens;         /* per row, per header column */
    const char **fields;
    size_t cap_cells, cap_fields;
} read_batch;

typedef struct field_group {
    uint8_t *is_mine;           /* per field: 1 when this group sets it */
    row_scratch scr;
    int rc;
} field_group;

typedef struct batch_job {
    read_state *st;
    read_batch *b;              /* the batch whose values are put */
    field_group *groups;
    size_t n_groups;
    csv_reader *r;              /* not NULL: item 0 reads the next batch meanwhile */
    read_batch *next;
    int *is_end;
    int read_rc;
} batch_job;

static void read_batch_fini(read_batch *b)
{
    dt_free(b->rows);
    dt_free(b->i_rec);
    util_buf_fini(&b->text);
    dt_free(b->off);
    dt_free(b->lens);
    dt_free(b->fields);
    memset(b, 0, sizeof *b);
}

/* Keeps a copy of an accepted row: the reader reuses its buffers. */
static int batch_keep(read_batch *b, const csv_row *row, size_t i_rec)
{
    size_t nf = row->n_fields, cells = (b->n_rows + 1) * nf;
    size_t cap_rows = b->cap_rows, cap_cells = b->cap_cells;
    DT_TRY(util_grow((void **)&b->rows, &b->cap_rows, b->n_rows + 1, sizeof *b->rows));
    DT_TRY(util_grow((void **)&b->i_rec, &cap_rows, b->n_rows + 1, sizeof *b->i_rec));
    DT_TRY(util_grow((void **)&b->off, &b->cap_cells, cells, sizeof *b->off));
    DT_TRY(util_grow((void **)&b->lens, &cap_cells, cells, sizeof *b->lens));
    size_t *off = b->off + b->n_rows * nf, *lens = b->lens + b->n_rows * nf;
    for (size_t c = 0; c < nf; c++) {
        off[c] = b->text.len;
        lens[c] = row->lens[c];
        DT_TRY(util_buf_append(&b->text, row->fields[c], row->lens[c] + 1)); /* and its NUL */
    }
    b->rows[b->n_rows] = *row;
    b->i_rec[b->n_rows++] = i_rec;
    return b->text.is_failed ? DT_ENOMEM : DT_OK;
}

/* Points the kept rows at their copies, once the text no longer moves. */
static int batch_seal(read_batch *b, size_t nf)
{
    size_t cells = b->n_rows * nf;
    DT_TRY(util_grow((void **)&b->fields, &b->cap_fields, cells ? cells : 1, sizeof *b->fields));
    for (size_t k = 0; k < cells; k++) b->fields[k] = b->text.data + b->off[k];
    for (size_t r = 0; r < b->n_rows; r++) {
        b->rows[r].fields = b->fields + r * nf;
        b->rows[r].lens = b->lens + r * nf;
    }
    return DT_OK;
}

/* Parses up to a batch of rows into b, adding their records (at most
 * BATCH_ROWS); *is_end at the end of the file. */
static int batch_read(read_state *st, csv_reader *r, read_batch *b, int *is_end)
{
    pl_ctx *e = st->e;
    b->n_rows = 0;
    util_buf_clear(&b->text);
    while (b->n_rows < BATCH_ROWS && b->text.len < BATCH_BYTES) {
        csv_row row;
        int rc = csv_next(r, &row, e->err);
        if (rc == 0) {
            *is_end = 1;
            return DT_OK;
        }
        if (rc == DT_EINPUT) { /* broken row: count, report, keep, go on */
            dt_error broken = *e->err;
            dt_error_clear(e->err);
            DT_TRY(reject_broken(st, r, &broken));
            continue;
        }
        if (rc < 0) return rc;
        size_t i_rec;
        DT_TRY(add_record(st, r, &row, &i_rec));
        if (i_rec != SIZE_MAX) DT_TRY(batch_keep(b, &row, i_rec));
        if ((e->table.n_recs & 0xffff) == 0) pl_progress(e, "read", csv_offset(r), 0, 0);
    }
    return DT_OK;
}

static void batch_range(void *ctx, size_t begin, size_t end, int i_worker)
{
    (void)i_worker;
    batch_job *j = ctx;
    for (size_t k = begin; k < end; k++) {
        if (j->r && k == 0) {
            j->read_rc = batch_read(j->st, j->r, j->next, j->is_end);
            continue;
        }
        /* A local copy: groups are adjacent, and each row's stores to one
         * group's scratch and rc would pull the line its neighbour's
         * worker is writing. */
        field_group fg = j->groups[k - (j->r != NULL)];
        for (size_t r = 0; r < j->b->n_rows && fg.rc == DT_OK; r++)
            fg.rc = put_values(j->st, &fg.scr, &j->b->rows[r], j->b->i_rec[r], fg.is_mine);
        j->groups[k - (j->r != NULL)] = fg;
    }
}

/* The batch's values on every thread, then each row to the row hook in
 * file order. When job->r is set, one thread reads the next batch
 * meanwhile: it only adds records (the table has room for them, so no
 * column moves) and touches no dictionary. */
static int batch_values(batch_job *job)
{
    read_state *st = job->st;
    read_batch *b = job->b;
    DT_TRY(batch_seal(b, st->plan.n_header));
    if (job->r) {
        int rc = cmp_table_reserve(&st->e->table, st->e->table.n_recs + BATCH_ROWS);
        if (rc < 0) return rc;
    }
    int n_threads = st->e->n_threads < 1 ? 1 : st->e->n_threads;
    DT_TRY(util_parallel_for(n_threads, job->n_groups + (job->r != NULL), 1, batch_range, job));
    DT_TRY(job->read_rc);
    for (size_t g = 0; g < job->n_groups; g++) DT_TRY(job->groups[g].rc);
    for (size_t r = 0; st->on_row && r < b->n_rows; r++)
        DT_TRY(st->on_row(st->row_ctx, b->i_rec[r], (const char *const *)st->plan.header,
                          &b->rows[r]));
    return DT_OK;
}

/* The source's field groups (see above): the full name's targets one
 * group, each other mapped field its own. The full name's group goes
 * first: it is the most work, and workers take groups in order. */
static int make_groups(read_state *st, field_group **out, size_t *n_out)
{
    const dt_config *cfg = st->e->cfg;
    const cfg_source *s = st->s;
    size_t nf = cfg->n_fields;
    int *group_of = dt_malloc((nf ? nf : 1) * sizeof *group_of);
    field_group *g = dt_calloc(nf + 1, sizeof *g);
    int rc = group_of && g ? DT_OK : DT_ENOMEM;
    size_t n = 0;
    for (size_t f = 0; rc == DT_OK && f < nf; f++) group_of[f] = -1;
    if (rc == DT_OK && st->plan.i_full_name >= 0) {
        g[n].is_mine = dt_calloc(nf, 1);
        if (!g[n].is_mine) rc = DT_ENOMEM;
        for (int k = 0; k < 3 && rc == DT_OK; k++) {
            int f = st->plan.full_targets[k];
            if (f < 0) continue;
            g[n].is_mine[f] = 1;
            group_of[f] = (int)n;
            st->plan.full_group = (size_t)f;
        }
        n++;
    }
    for (size_t m = 0; m < s->n_maps && rc == DT_OK; m++) {
        int f = s->maps[m].i_field;
        if (group_of[f] >= 0) continue;
        if (!(g[n].is_mine = dt_calloc(nf, 1))) {
            rc = DT_ENOMEM;
            break;
        }
        g[n].is_mine[f] = 1;
        group_of[f] = (int)n++;
    }
    dt_free(group_of);
    *out = g;
    *n_out = n;
    return rc;
}

static void free_groups(field_group *g, size_t n)
{
    for (size_t k = 0; g && k < n; k++) {
        dt_free(g[k].is_mine);
        row_scratch_fini(&g[k].scr);
    }
    dt_free(g);
}

/* The rows after the header, a batch at a time. Without a row hook, the
 * next batch is read while this one's values are put (two buffers); with
 * one, each batch is read after the hook saw the last, as one row at a
 * time would be (ingest resolves from the hook). */
static int read_rows(read_state *st, csv_reader *r)
{
    batch_job job = {.st = st};
    read_batch b[2];
    memset(b, 0, sizeof b);
    int is_end = 0, cur = 0;
    int rc = make_groups(st, &job.groups, &job.n_groups);
    if (rc >= 0) rc = batch_read(st, r, &b[0], &is_end);
    while (rc >= 0) {
        int ahead = !is_end && !st->on_row;
        job.b = &b[cur];
        job.r = ahead ? r : NULL;
        job.next = &b[cur ^ 1];
        job.is_end = &is_end;
        job.read_rc = DT_OK;
        rc = batch_values(&job);
        if (rc < 0 || (is_end && !ahead)) break;
        if (!ahead) rc = batch_read(st, r, &b[cur], &is_end);
        else cur ^= 1;
    }
    read_batch_fini(&b[0]);
    read_batch_fini(&b[1]);
    free_groups(job.groups, job.n_groups);
    return rc;
}

static int read_source(read_state *st)
{
    pl_ctx *e = st->e;
    const cfg_source *s = st->s;
    csv_options opt = {.delimiter = s->delimiter, .trim = s->trim, .keep_raw = 1};
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
    if (rc >= 0) rc = read_rows(st, r);
    csv_close(r);
    for (size_t m = 0; m < s->n_maps; m++) {
        raw_cache_fini(&st->caches[m]);
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

/* Threads for the steps after reading: a request's few records take one. */
static int load_threads(const pl_ctx *e)
{
    return e->table.n_recs < (1 << 16) ? 1 : e->n_threads;
}

/* ---- canonical order ------------------------------------------------ */

/* Canonical order is by source, then by a 48-bit hash of the record id,
 * then by the id text: it depends on the ids alone, never on row order,
 * and sorts in linear time. Equal keys (a hash collision) are settled by
 * the id text: a source's ids are unique in the table (repeats were
 * rejected as read; a store keeps one record per id). */
static const pl_ctx *g_sort_eng;

static int cmp_same_key(const void *x, const void *y)
{
    uint32_t a = ((const util_kv *)x)->val, b = ((const util_kv *)y)->val;
    const cmp_table *t = &g_sort_eng->table;
    return strcmp(cmp_record_id(t, a), cmp_record_id(t, b));
}

uint64_t pl_canonical_key(uint16_t src, const char *id, size_t len)
{
    return ((uint64_t)src << 48) | (util_hash64(id, len, 0x6964) >> 16);
}

static int sort_records(pl_ctx *e, util_kv *kv)
{
    cmp_table *t = &e->table;
    size_t n = t->n_recs;
    for (size_t i = 0; i < n; i++)
        kv[i] = (util_kv){pl_canonical_key(t->src[i], cmp_record_id(t, (uint32_t)i),
                                            t->ids.lens[t->rid[i]]),
                          (uint32_t)i};
    DT_TRY(util_sort_kv(kv, n));
    g_sort_eng = e; /* qsort has no context; loading is single-threaded */
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && kv[j].key == kv[i].key) j++;
        if (j - i > 1) qsort(kv + i, j - i, sizeof *kv, cmp_same_key);
        i = j;
    }
    return DT_OK;
}

/* Puts records in canonical order; *perm_out (when not NULL) gets each
 * record's index before (dt_free it). */
static int canonical_order(pl_ctx *e, uint32_t **perm_out)
{
    cmp_table *t = &e->table;
    size_t n = t->n_recs;
    util_kv *kv = dt_malloc((n ? n : 1) * sizeof *kv);
    uint32_t *perm = dt_malloc((n ? n : 1) * sizeof *perm);
    int rc = kv && perm ? sort_records(e, kv) : DT_ENOMEM;
    for (size_t i = 0; i < n && rc == DT_OK; i++) perm[i] = kv[i].val;
    if (rc == DT_OK) rc = cmp_table_permute_on(t, perm, n, load_threads(e));
    if (rc == DT_OK) rc = cmp_table_index_sources(t);
    dt_free(kv);
    if (rc == DT_OK && perm_out) *perm_out = perm;
    else dt_free(perm);
    return rc < 0 ? dt_err_set(e->err, rc, "out of memory ordering records") : DT_OK;
}

static void read_state_fini(read_state *st)
{
    row_scratch_fini(&st->scr);
    dt_free(st->id_line);
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
    if (rc >= 0) rc = canonical_order(e, NULL);
    read_state_fini(&st);
    if (rc < 0) return rc;
    rc = cmp_table_finish_on(&e->table, load_threads(e));
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
    return pl_finish_load_perm(e, NULL);
}

int pl_finish_load_perm(pl_ctx *e, uint32_t **perm)
{
    DT_TRY(pl_load_nicknames(e));
    DT_TRY(canonical_order(e, perm));
    int rc = cmp_table_finish_on(&e->table, load_threads(e));
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
    if (rc == DT_OK) rc = add_row(&st, NULL, row);
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
