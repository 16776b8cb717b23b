/*
 * compare.h — the record table in columns, and comparison levels
 * (src/compare). Records are held column by column: each field is a
 * dictionary of distinct normalized values plus one 4-byte value id per
 * record, so each distinct value is decoded, coded (Soundex, NYSIIS,
 * dates) and counted once, however many records share it.
 *
 * A comparison vector holds one level code per comparison:
 *   0            null: either side has no value (weight 0, as in Splink)
 *   1..n_levels  the first configured level that holds, in config order
 *   n_levels + 1 "else": no level holds
 *
 * Invariants:
 *   1. After cmp_table_finish the table is read-only; cmp_eval may run on
 *      any number of threads at once.
 *   2. Record indexes are dense 0..n_recs-1 and, after the engine sorts
 *      them, canonical: by source (config order), then record id bytes.
 */
#ifndef DT_COMPARE_H
#define DT_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "io/config.h"
#include "norm/norm.h"
#include "util/util.h"

#define CMP_NULL UINT32_MAX

/* What we know about one distinct value, computed once. */
typedef struct cmp_value_info {
    uint32_t cp_off, cp_len; /* code points in the column's pool */
    uint32_t count;          /* records holding this value (term frequency) */
    uint32_t nick;           /* its id in the nickname table (norm_nick_id), when the
                                column's nicks is the table's */
    uint64_t cp_mask;        /* bit (hash of code point) for each of its first CMP_MAX_LEN:
                                bounds Jaro-Winkler before it is computed */
    double num;              /* numeric value when the text is a number, else NAN */
    char soundex[5];
    char nysiis[7];
    norm_date date;          /* date fields only */
} cmp_value_info;            /* 48 bytes: a million values are 48 MB */

typedef struct cmp_column {
    cfg_field_type type;
    util_intern dict;        /* normalized values; id = value id */
    uint32_t *vals;          /* per record: value id or CMP_NULL */
    cmp_value_info *info;    /* per value id, after finish */
    uint32_t *cps;           /* code point pool */
    size_t n_cps;
    uint64_t n_nonnull;      /* records with a value */
    const norm_nicknames *nicks; /* the table info[].nick was looked up in; NULL: none */
} cmp_column;

typedef struct cmp_table {
    size_t n_recs;
    size_t cap_recs;
    uint16_t *src;           /* per record: source index */
    uint32_t *rid;           /* per record: id into ids (record id text) */
    util_intern ids;
    size_t n_cols;
    cmp_column *cols;        /* one per config field */
    const norm_nicknames *nicks; /* borrowed */
    uint32_t *rows;          /* NULL, or per record the value ids of the fields comparisons
                                read, row_width apiece (cmp_table_rows): a pair's levels
                                then read two cache lines, not two per column */
    void *rows_mem;          /* what rows points into (aligned to a row) */
    uint32_t *src_start;     /* when src never decreases (canonical order): where each run of
                                one source starts, n_src_runs of them (cmp_table_index_sources),
                                so a record's source needs no look at src[] */
    uint16_t *src_of_run;
    size_t n_src_runs;       /* 0: look at src[] */
    int *row_slot;           /* per column: its place in a row, -1 when not there */
    size_t row_width;
} cmp_table;

int cmp_table_init(cmp_table *t, const dt_config *cfg, const norm_nicknames *nicks);
void cmp_table_fini(cmp_table *t);
/* Makes room for n_recs records: until then cmp_table_add moves no
 * column, so other threads may set values of records already added. */
int cmp_table_reserve(cmp_table *t, size_t n_recs);
/* Appends a record with all fields null. OUT: *i_rec. */
int cmp_table_add(cmp_table *t, uint16_t src, const char *rid, size_t rid_len, size_t *i_rec);
/* The same for an id already in t->ids (its intern id). */
int cmp_table_add_rid(cmp_table *t, uint16_t src, uint32_t rid, size_t *i_rec);
/* Sets a field of a record to a normalized value (empty string = null). */
int cmp_table_set(cmp_table *t, size_t i_rec, size_t i_col, const char *v, size_t n);
/* Reorders records by perm: new index i holds old record perm[i], for
 * i < n_new; records not in perm are dropped. */
int cmp_table_permute(cmp_table *t, const uint32_t *perm, size_t n_new);
/* The same, a column per thread on n_threads. */
int cmp_table_permute_on(cmp_table *t, const uint32_t *perm, size_t n_new, int n_threads);
/* Computes derived data for every distinct value; then the table is
 * read-only. */
int cmp_table_finish(cmp_table *t);
/* The same, a column per thread on n_threads (each column is its own). */
int cmp_table_finish_on(cmp_table *t, int n_threads);
/* After finish: copies the value ids cfg's comparisons read into one row
 * per record, on n_threads; cmp_table_permute and cmp_table_fini drop
 * them. DT_ENOMEM. */
int cmp_table_rows(cmp_table *t, const dt_config *cfg, int n_threads);
void cmp_table_rows_free(cmp_table *t);

/* Indexes the runs of src when records are in source order (else none):
 * DT_OK or DT_ENOMEM. cmp_table_add and cmp_table_permute drop it. */
int cmp_table_index_sources(cmp_table *t);

/* A record's source. */
static inline uint16_t cmp_src(const cmp_table *t, uint32_t i_rec)
{
    if (!t->n_src_runs) return t->src[i_rec];
    size_t k = 0;
    while (k + 1 < t->n_src_runs && i_rec >= t->src_start[k + 1]) k++;
    return t->src_of_run[k];
}

/* A record's value id of a column (CMP_NULL: none). */
static inline uint32_t cmp_val(const cmp_table *t, size_t i_col, uint32_t i_rec)
{
    int slot = t->rows ? t->row_slot[i_col] : -1;
    return slot >= 0 ? t->rows[(size_t)i_rec * t->row_width + (size_t)slot]
                     : t->cols[i_col].vals[i_rec];
}

static inline const char *cmp_value(const cmp_table *t, size_t i_col, uint32_t i_rec)
{
    uint32_t v = cmp_val(t, i_col, i_rec);
    return v == CMP_NULL ? NULL : util_intern_str(&t->cols[i_col].dict, v);
}

static inline const char *cmp_record_id(const cmp_table *t, uint32_t i_rec)
{
    return util_intern_str(&t->ids, t->rid[i_rec]);
}

/* Level code (see above) of comparison c for records a and b. */
int cmp_eval(const cmp_table *t, const cfg_comparison *c, uint32_t a, uint32_t b);

/* Fills gammas[i_comp] for every comparison of cfg. */
void cmp_vector(const cmp_table *t, const dt_config *cfg, uint32_t a, uint32_t b,
                uint8_t *gammas);

/* Label of a level code: "null", the level's label, or "else". */
const char *cmp_level_label(const cfg_comparison *c, int level);

#endif /* DT_COMPARE_H */
