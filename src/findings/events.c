/*
 * events.c — reads the config's event sources (findings: events:): rows
 * about something that happened to a record of a person source, a payment
 * of an enrollment or a tax filing of an earner, joined to that record by
 * its id.
 *
 * Invariants:
 *   1. No row is dropped unsaid: each is kept, or counted as rejected
 *      (broken, wrong number of fields, empty or repeated id, an amount that
 *      is no number), orphaned (its key is no record of the parent source),
 *      or undated (no date the format reads); the counts go to the log and
 *      the first few rejected rows are named by file and line.
 *   2. After reading, one record's events are contiguous (first[]) and in
 *      date order, ties in file order: the same files give the same order.
 *   3. Every accepted row updates its record's last payment (last_pay[]);
 *      only rows of records in keep[] are kept whole. The rules read whole
 *      events only around a death, and a duplicate enrollment needs each
 *      enrollment's last payment alone: at 1M people, 11M rows read and
 *      about a tenth kept.
 *   4. A repeated id is found by a set of 64-bit hashes of (event source,
 *      id) over every row, kept or not: the second row is rejected, as a
 *      person source's would be.
 */
#include <stdlib.h>
#include <string.h>

#include "findings/findings.h"
#include "io/csv.h"
#include "norm/norm.h"

enum { EV_LOG_MAX = 5 }; /* rejected rows named on the log, per event source */

static int find_column(const cfg_event *ev, const char *path, const csv_row *h,
                       const char *name, int *out, dt_error *err)
{
    for (size_t i = 0; i < h->n_fields; i++)
        if (strcmp(h->fields[i], name) == 0) {
            *out = (int)i;
            return DT_OK;
        }
    return dt_err_at(err, DT_EINPUT, path, 1, 0, "event source '%s' has no column '%s'",
                     ev->name, name);
}

int fnd_event_columns(const cfg_event *ev, const char *path, csv_reader *r, fnd_cols *c,
                      dt_error *err)
{
    csv_row h;
    int rc = csv_next(r, &h, err);
    if (rc == 0) return dt_err_at(err, DT_EINPUT, path, 1, 0, "the file is empty");
    DT_TRY(rc);
    DT_TRY(find_column(ev, path, &h, ev->id_column, &c->id, err));
    DT_TRY(find_column(ev, path, &h, ev->key_column, &c->key, err));
    DT_TRY(find_column(ev, path, &h, ev->date_column, &c->date, err));
    c->amount = -1;
    if (ev->amount_column) DT_TRY(find_column(ev, path, &h, ev->amount_column, &c->amount, err));
    c->n_fields = h.n_fields;
    return DT_OK;
}

int fnd_event_days(const cfg_event *ev, const char *s, size_t n, int32_t *lo, int32_t *hi)
{
    norm_date d;
    if (norm_date_parse(s, n, ev->date_format ? ev->date_format : "YYYY-MM-DD", &d) < 0)
        return DT_EINPUT;
    return norm_date_days(&d, lo, hi) < 0 ? DT_EINPUT : DT_OK;
}

/* Amount text as cents: optional sign, digits, optional '.' and up to two
 * decimals (an export's "1234.5" or "-12.00"). 0 when empty. */
int fnd_parse_cents(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    *out = 0;
    if (n == 0) return DT_OK;
    if (s[0] == '-' || s[0] == '+') neg = s[i++] == '-';
    int64_t whole = 0, frac = 0;
    int n_whole = 0, n_frac = -1;
    for (; i < n; i++) {
        if (s[i] == '.' && n_frac < 0) {
            n_frac = 0;
        } else if (s[i] >= '0' && s[i] <= '9') {
            if (n_frac >= 0) {
                if (++n_frac > 2) return DT_EINPUT;
                frac = frac * 10 + (s[i] - '0');
            } else {
                if (++n_whole > 15) return DT_EINPUT;
                whole = whole * 10 + (s[i] - '0');
            }
        } else {
            return DT_EINPUT;
        }
    }
    if (n_whole == 0 && n_frac <= 0) return DT_EINPUT;
    if (n_frac == 1) frac *= 10;
    *out = (whole * 100 + frac) * (neg ? -1 : 1);
    return DT_OK;
}

static int grow_array(void **p, size_t n, size_t elem)
{
    void *q = dt_realloc(*p, n * elem);
    if (q) *p = q;
    return q ? DT_OK : DT_ENOMEM;
}

static int grow(fnd_events *ev)
{
    if (ev->n < ev->cap) return DT_OK;
    size_t c = ev->cap ? ev->cap * 2 : 4096;
    DT_TRY(grow_array((void **)&ev->rec, c, sizeof *ev->rec));
    DT_TRY(grow_array((void **)&ev->lo, c, sizeof *ev->lo));
    DT_TRY(grow_array((void **)&ev->hi, c, sizeof *ev->hi));
    DT_TRY(grow_array((void **)&ev->cents, c, sizeof *ev->cents));
    DT_TRY(grow_array((void **)&ev->id, c, sizeof *ev->id));
    DT_TRY(grow_array((void **)&ev->src, c, sizeof *ev->src));
    ev->cap = c;
    return DT_OK;
}

/* Per id in the table's id dictionary: the record of source `of` with that
 * id, or UINT32_MAX. */
uint32_t *fnd_records_by_id(const pl_ctx *e, int of)
{
    const cmp_table *t = &e->table;
    size_t n = t->ids.n_strs ? t->ids.n_strs : 1;
    uint32_t *by = dt_malloc(n * sizeof *by);
    if (!by) return NULL;
    for (size_t i = 0; i < n; i++) by[i] = UINT32_MAX;
    for (uint32_t r = 0; r < t->n_recs; r++)
        if (t->src[r] == of) by[t->rid[r]] = r;
    return by;
}

static void reject(pl_ctx *e, const cfg_event *ev, fnd_events *out, uint64_t *n_logged,
                   long line, const char *why)
{
    out->n_rejected++;
    if ((*n_logged)++ < EV_LOG_MAX)
        pl_log(e, DT_LOG_WARN, "findings: %s:%ld: row rejected: %s", ev->path, line, why);
}

/* The set of id hashes (invariant 4): open addressing, 0 marks a free
 * slot, at most half full. */
static int idset_grow(fnd_events *ev)
{
    size_t cap = ev->idset_cap ? ev->idset_cap * 2 : 1u << 16;
    uint64_t *slots = dt_calloc(cap, sizeof *slots);
    if (!slots) return DT_ENOMEM;
    for (size_t i = 0; i < ev->idset_cap; i++) {
        uint64_t h = ev->idset[i];
        if (!h) continue;
        size_t j = (size_t)h & (cap - 1);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = h;
    }
    dt_free(ev->idset);
    ev->idset = slots;
    ev->idset_cap = cap;
    return DT_OK;
}

/* 1 when h was in the set already; else adds it and returns 0. */
int fnd_idset_seen(fnd_events *ev, uint64_t h, int *seen)
{
    if (2 * (ev->idset_n + 1) > ev->idset_cap) DT_TRY(idset_grow(ev));
    h = h ? h : 1;
    size_t j = (size_t)h & (ev->idset_cap - 1);
    for (; ev->idset[j]; j = (j + 1) & (ev->idset_cap - 1))
        if (ev->idset[j] == h) return *seen = 1, DT_OK;
    ev->idset[j] = h;
    ev->idset_n++;
    return *seen = 0, DT_OK;
}

/* One row: kept, or counted as it says (invariant 1). */
static int take_row(pl_ctx *e, size_t k, const fnd_cols *c, const csv_row *row,
                    const uint32_t *by_id, const uint8_t *keep, fnd_events *out,
                    uint64_t *n_logged)
{
    const cfg_event *ev = &e->cfg->findings.events[k];
    if (row->n_fields != c->n_fields) {
        reject(e, ev, out, n_logged, row->line, "wrong number of fields");
        return DT_OK;
    }
    const char *rid = row->fields[c->id];
    size_t rid_len = row->lens[c->id];
    if (rid_len == 0) {
        reject(e, ev, out, n_logged, row->line, "empty id");
        return DT_OK;
    }
    int64_t cents = 0;
    if (c->amount >= 0 && fnd_parse_cents(row->fields[c->amount], row->lens[c->amount], &cents) < 0) {
        reject(e, ev, out, n_logged, row->line, "the amount is not a number");
        return DT_OK;
    }
    uint32_t key = util_intern_find(&e->table.ids, row->fields[c->key], row->lens[c->key]);
    uint32_t rec = key == UINT32_MAX ? UINT32_MAX : by_id[key];
    if (rec == UINT32_MAX) {
        out->n_orphans++;
        return DT_OK;
    }
    int32_t lo, hi;
    if (fnd_event_days(ev, row->fields[c->date], row->lens[c->date], &lo, &hi) < 0) {
        out->n_undated++;
        return DT_OK;
    }
    /* ids are kept as "source\x1fid", so two event sources may share an id */
    char buf[512];
    size_t nn = strlen(ev->name);
    if (nn + 1 + rid_len > sizeof buf) {
        reject(e, ev, out, n_logged, row->line, "id over 500 bytes");
        return DT_OK;
    }
    memcpy(buf, ev->name, nn);
    buf[nn] = '\x1f';
    memcpy(buf + nn + 1, rid, rid_len);
    int seen;
    DT_TRY(fnd_idset_seen(out, util_hash64(buf, nn + 1 + rid_len, 0x65766964), &seen));
    if (seen) {
        reject(e, ev, out, n_logged, row->line, "repeats an earlier row's id");
        return DT_OK;
    }
    fnd_event ve = {.k = k, .rec = rec, .lo = lo, .hi = hi, .cents = cents};
    return fnd_event_put(e, out, keep, &ve, buf, nn + 1 + rid_len);
}

int fnd_event_put(const pl_ctx *e, fnd_events *out, const uint8_t *keep, const fnd_event *ve,
                  const char *key, size_t key_len)
{
    const cfg_event *ev = &e->cfg->findings.events[ve->k];
    out->n_used++;
    if (ev->is_payment && ve->hi > out->last_pay[ve->rec]) out->last_pay[ve->rec] = ve->hi;
    if (keep && !keep[ve->rec]) return DT_OK;
    uint32_t id;
    DT_TRY(util_intern_put(&out->ids, key, key_len, &id));
    DT_TRY(grow(out));
    size_t i = out->n++;
    out->rec[i] = ve->rec;
    out->lo[i] = ve->lo;
    out->hi[i] = ve->hi;
    out->cents[i] = ve->cents;
    out->id[i] = id;
    out->src[i] = (uint8_t)ve->k;
    return DT_OK;
}

static int read_one(pl_ctx *e, size_t k, const uint8_t *keep, fnd_events *out)
{
    const cfg_event *ev = &e->cfg->findings.events[k];
    uint32_t *by_id = fnd_records_by_id(e, ev->of);
    if (!by_id) return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    csv_options opt = {.delimiter = ev->delimiter};
    csv_reader *r = NULL;
    fnd_cols c;
    uint64_t n_logged = 0, read_before = out->n_read;
    int rc = csv_open(ev->path, &opt, &r, e->err);
    if (rc == DT_OK) rc = fnd_event_columns(ev, ev->path, r, &c, e->err);
    while (rc == DT_OK) {
        csv_row row;
        int got = csv_next(r, &row, e->err);
        if (got == 0) break;
        out->n_read++;
        if (got == DT_EINPUT) { /* a broken row: the reader goes on at the next line */
            reject(e, ev, out, &n_logged, e->err->line, e->err->msg);
            dt_error_clear(e->err);
            continue;
        }
        rc = got < 0 ? got : take_row(e, k, &c, &row, by_id, keep, out, &n_logged);
    }
    if (rc == DT_OK)
        pl_log(e, DT_LOG_INFO, "findings: read %llu rows of event source '%s'",
               (unsigned long long)(out->n_read - read_before), ev->name);
    csv_close(r);
    dt_free(by_id);
    return rc;
}

static int event_before(const fnd_events *ev, uint32_t a, uint32_t b)
{
    if (ev->lo[a] != ev->lo[b]) return ev->lo[a] < ev->lo[b];
    if (ev->hi[a] != ev->hi[b]) return ev->hi[a] < ev->hi[b];
    return a < b;
}

/* Counting sort by record, then each record's few events by date
 * (invariant 2): the arrays are permuted through `order`. */
static int group_by_record(const pl_ctx *e, fnd_events *ev)
{
    size_t n_recs = e->table.n_recs;
    ev->first = dt_calloc(n_recs + 1, sizeof *ev->first);
    uint32_t *order = dt_malloc((ev->n ? ev->n : 1) * sizeof *order);
    if (!ev->first || !order) {
        dt_free(order);
        return DT_ENOMEM;
    }
    for (size_t i = 0; i < ev->n; i++) ev->first[ev->rec[i] + 1]++;
    for (size_t r = 0; r < n_recs; r++) ev->first[r + 1] += ev->first[r];
    for (size_t i = 0; i < ev->n; i++) order[ev->first[ev->rec[i]]++] = (uint32_t)i;
    for (size_t r = n_recs; r > 0; r--) ev->first[r] = ev->first[r - 1];
    ev->first[0] = 0;
    for (size_t r = 0; r < n_recs; r++) /* insertion sort: a record has a few dozen at most */
        for (uint32_t i = ev->first[r] + 1; i < ev->first[r + 1]; i++)
            for (uint32_t j = i; j > ev->first[r] && event_before(ev, order[j], order[j - 1]); j--) {
                uint32_t t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
    int rc = DT_OK;
#define PERMUTE(arr, type)                                                                     \
    do {                                                                                       \
        type *next = dt_malloc((ev->n ? ev->n : 1) * sizeof *next);                            \
        if (!next) {                                                                           \
            rc = DT_ENOMEM;                                                                    \
            break;                                                                             \
        }                                                                                      \
        for (size_t i = 0; i < ev->n; i++) next[i] = ev->arr[order[i]];                        \
        dt_free(ev->arr);                                                                      \
        ev->arr = next;                                                                        \
    } while (0)
    PERMUTE(rec, uint32_t);
    if (rc == DT_OK) PERMUTE(lo, int32_t);
    if (rc == DT_OK) PERMUTE(hi, int32_t);
    if (rc == DT_OK) PERMUTE(cents, int64_t);
    if (rc == DT_OK) PERMUTE(id, uint32_t);
    if (rc == DT_OK) PERMUTE(src, uint8_t);
#undef PERMUTE
    dt_free(order);
    return rc;
}

int fnd_events_begin(const pl_ctx *e, fnd_events *ev)
{
    memset(ev, 0, sizeof *ev);
    util_intern_init(&ev->ids);
    size_t n = e->table.n_recs;
    if (!(ev->last_pay = dt_malloc((n ? n : 1) * sizeof *ev->last_pay))) return DT_ENOMEM;
    for (size_t r = 0; r < n; r++) ev->last_pay[r] = FND_NO_DAY;
    return DT_OK;
}

int fnd_events_read(pl_ctx *e, const uint8_t *keep, fnd_events *ev)
{
    int rc = fnd_events_begin(e, ev);
    for (size_t k = 0; k < e->cfg->findings.n_events && rc == DT_OK; k++)
        rc = read_one(e, k, keep, ev);
    return fnd_events_end(e, ev, rc);
}

int fnd_events_end(pl_ctx *e, fnd_events *ev, int rc)
{
    dt_free(ev->idset); /* its work is done */
    ev->idset = NULL;
    if (rc == DT_OK && group_by_record(e, ev) < 0) rc = DT_ENOMEM;
    if (rc == DT_ENOMEM && e->err->code == DT_OK)
        dt_err_set(e->err, DT_ENOMEM, "out of memory reading event sources");
    if (rc == DT_OK && (ev->n_rejected || ev->n_orphans || ev->n_undated))
        pl_log(e, DT_LOG_WARN, "findings: of %llu event rows, %llu rejected, %llu name no "
               "record of their source (orphans), %llu have no date; none of them is used",
               (unsigned long long)ev->n_read, (unsigned long long)ev->n_rejected,
               (unsigned long long)ev->n_orphans, (unsigned long long)ev->n_undated);
    return rc;
}

void fnd_events_fini(fnd_events *ev)
{
    dt_free(ev->rec);
    dt_free(ev->lo);
    dt_free(ev->hi);
    dt_free(ev->cents);
    dt_free(ev->id);
    dt_free(ev->src);
    dt_free(ev->first);
    dt_free(ev->last_pay);
    dt_free(ev->idset);
    util_intern_fini(&ev->ids);
    memset(ev, 0, sizeof *ev);
}
