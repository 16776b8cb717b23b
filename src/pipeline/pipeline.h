/*
 * pipeline.h — the batch stages' shared state (src/pipeline). One code path serves
 * batch link, eval and explain: each loads the sources through pl_load and
 * blocks through pl_block, so what eval measures and explain describes is
 * what link did.
 *
 * Stage order and what each leaves behind:
 *   pl_load   table filled, records in canonical order, derived data ready
 *   pl_keys   keys[rule][record]
 *   pl_block  blk.pairs / blk.rules
 *   (link.c)   gammas, model, weights, clusters, files
 */
#ifndef DT_PIPELINE_H
#define DT_PIPELINE_H

#include <stdint.h>
#include <stdio.h>

#include "block/block.h"
#include "cluster/cluster.h"
#include "compare/compare.h"
#include "io/config.h"
#include "io/csv.h"
#include "model/model.h"
#include "norm/norm.h"
#include "util/util.h"

typedef struct pl_ctx {
    const dt_config *cfg;
    dt_log_fn on_log;
    dt_progress_fn on_progress;
    void *cb_ctx;
    int n_threads;
    dt_error *err;

    const norm_nicknames *nicks;
    norm_nicknames *own_nicks;  /* what pl_fini frees: NULL when nicks is borrowed */
    cmp_table table;
    uint64_t n_rejected;        /* structurally broken rows + duplicate ids */
    const char *rejects_path;   /* where rejected rows are written (read.c); NULL: counted and
                                   reported only */
    FILE *rejects;              /* that file, opened at the first rejected row */
    uint64_t n_bad_utf8_rows;
    uint64_t *null_per_field;   /* values that failed standardization, per field */
    uint64_t *recs_per_source;
    const uint64_t *linkable;   /* per source, bit j: may pair with j (a purpose's view); NULL: any */
    int hides_values;           /* 1: log lines name no record's value or id (a store's admin,
                                   who reads no record, trains) */

    const fs_model *model;      /* its family context makes cannot-links (pl_records_conflict);
                                   NULL: exclusive comparisons only */
    const fs_scorer *scorer;    /* model's weights over this table, when built; NULL: computed */

    uint64_t **keys;            /* per rule, per record */
    int keys_end_at_block;      /* 1: pl_block frees the keys once its pairs carry which rules
                                   agree (a batch link: training wants no more of them) */
    uint8_t *key_fp;            /* per record, per rule (record-major): 8 bits of its key, 0
                                   when none; equal keys have equal ones, so a pair's rules
                                   are ruled out in a cache line or two (pl_key_fp) */
    block_output blk;
    double last_progress;       /* util_now() of the last progress call */
    uint64_t n_skipped_blocks;  /* over-cap blocks reported so far */
    uint64_t pair_bound;        /* sum of the rules' pair estimates, skipped blocks out */
} pl_ctx;

int pl_init(pl_ctx *e, const dt_config *cfg, dt_error *err);
void pl_fini(pl_ctx *e);

/* printf-style line to on_log. */
void pl_log(pl_ctx *e, dt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Progress, rate-limited; force = 1 for the final call of a stage. */
void pl_progress(pl_ctx *e, const char *stage, uint64_t done, uint64_t total, int force);

/* Reads and standardizes every source (read.c). */
int pl_load(pl_ctx *e);
/* Called for each accepted row, after its values are standardized into
 * e->table at i_rec (ingest keeps the raw row beside them). A negative
 * return stops the read with that code. */
typedef int (*pl_row_fn)(void *ctx, size_t i_rec, const char *const *header, const csv_row *row);
/* Reads one source from path (ingest): rows in file order, no canonical
 * order and no derived data; bad rows counted and reported as in pl_load. */
int pl_load_file(pl_ctx *e, size_t i_src, const char *path, pl_row_fn on_row, void *ctx);
/* Closes the rejects file, if a row was rejected: DT_EIO when its last
 * writes failed. pl_fini closes it too, unchecked. */
int pl_rejects_close(pl_ctx *e);
/* DT_EINPUT, naming the rejects file and ending with `outcome`, when more
 * rows were rejected than max_rejected allows (negative: any); else a
 * warning naming it, when rows were rejected. */
int pl_rejects_check(pl_ctx *e, int64_t max_rejected, const char *outcome);
/* The canonical order's key of a record: its source, then a 48-bit hash of
 * its id; equal keys are settled by the id text. */
uint64_t pl_canonical_key(uint16_t src, const char *id, size_t len);
/* After records were added to e->table by other means (a store): puts
 * them in canonical order and codes their values, as pl_load does. */
int pl_finish_load(pl_ctx *e);
/* As pl_finish_load; OUT: *perm, the index each record had before
 * (dt_free it), for the caller's arrays beside the table. */
int pl_finish_load_perm(pl_ctx *e, uint32_t **perm);
/* Runs the batch stages up to training over records a loader puts in the
 * table (link.c), and returns the model as text (dt_free it). */
typedef int (*pl_loader)(pl_ctx *e, void *ctx);
int pl_train_from(const dt_config *cfg, const dt_link_options *opts, pl_loader load, void *ctx,
                   char **model_text, dt_error *err);
/* What a batch link run hands the part above it (findings) once its
 * outputs are written: the records, model and entities, and the links that
 * joined each entity (one tree per entity). */
typedef struct pl_linked {
    pl_ctx *e;
    const clu_result *clu;
    const char *out_dir;
} pl_linked;
typedef int (*pl_after_fn)(void *ctx, const pl_linked *l);
/* dt_link_run, then after(ctx, ...) before the run's state is freed; its
 * error is the run's. */
int pl_link_run_then(const dt_config *cfg, const dt_link_options *opts, pl_after_fn after,
                     void *ctx, dt_link_summary *summary, dt_error *err);
/* Reads one row given with its header (resolve's JSON record), as a row of
 * source i_src's CSV; `name` labels messages. */
int pl_load_row(pl_ctx *e, size_t i_src, const csv_row *header, const csv_row *row,
                 const char *name);
/* Reports a block over max_block_pairs, skipped: a warning naming the
 * rule, the key (record rec's values) and the counts, for the first few;
 * the rest are counted in n_skipped_blocks. The store's ingest says the
 * same as batch link. */
void pl_skipped_block(pl_ctx *e, int rule, uint32_t rec, uint64_t n_recs, uint64_t n_pairs);
/* The 8 bits of a blocking key that key_fp keeps: never 0 for a key. */
static inline uint8_t pl_key_fp(uint64_t key)
{
    uint8_t f = (uint8_t)(key >> 56);
    return f || !key ? f : 1;
}
/* 1 when records a and b have the same key under rule r. */
static inline int pl_same_key(const pl_ctx *e, size_t r, uint32_t a, uint32_t b)
{
    return block_same_key(e->keys, e->key_fp, e->cfg->n_rules, r, a, b);
}
/* Computes blocking keys per rule per record, and the candidate pairs. */
int pl_keys(pl_ctx *e);
/* key_fp from the keys (pl_block makes them when its blocks are counted). */
int pl_key_fps(pl_ctx *e);
int pl_block(pl_ctx *e);
/* Refuses (DT_ELIMIT) when the candidate pairs, at bytes_per_pair more
 * each, would not fit in the memory the machine has left. */
int pl_check_pair_memory(pl_ctx *e, uint64_t bytes_per_pair);
/* Cannot-link: 1 if an exclusive comparison ends in "else" for the pair,
 * a cannot_link rule holds, or a context calls them two people. g: the
 * pair's levels (cmp_vector, a to b) when the caller has them, else NULL. */
int pl_records_conflict(const pl_ctx *e, uint32_t a, uint32_t b, const uint8_t *g);
/* 1 when pl_records_conflict can ever say yes: clustering must ask it. */
int pl_has_conflicts(const pl_ctx *e);

/* People's decisions on pairs of e's records (a store's review decisions,
 * a batch run's labels), as clustering takes them: a pair decided "not
 * the same" never shares an entity; one decided "the same" is exempt from
 * the config's rule conflicts (a person looked; a rule only guessed). */
typedef struct pl_decided {
    const pl_ctx *e;
    int has_rules;              /* pl_has_conflicts(e) */
    util_ids apart, together;   /* pairs as (smaller << 32 | larger) */
} pl_decided;
void pl_decided_init(pl_decided *d, const pl_ctx *e);
int pl_decided_add(pl_decided *d, uint32_t a, uint32_t b, int same);
void pl_decided_fini(pl_decided *d);
/* A clu_conflict_fn over a pl_decided (ctx). */
int pl_decided_conflict(void *ctx, uint32_t a, uint32_t b, const uint8_t *g);
/* 1 when clustering must ask pl_decided_conflict. */
static inline int pl_decided_any(const pl_decided *d)
{
    return d->has_rules || d->apart.n;
}
/* Loads the config's nickname table once (pl_load does it too). */
int pl_load_nicknames(pl_ctx *e);
/* Uses t (read-only, outliving e) instead of loading a table: a store
 * loads its table once, not on every call. NULL: load as usual. */
void pl_borrow_nicknames(pl_ctx *e, const norm_nicknames *t);

/* Fills ex's rows, weights and blocking rule for table records a and b
 * under model m (explain.c): what dt_explain_pair shows. */
/* rows_global: every row's weight under the global model, not the pair's
 * context (model.h, invariant 4), whose choice depends on every field; the
 * total and probability stay the pair's own. For a view that withholds a
 * field: the rows shown must not tell what the hidden ones hold. */
int pl_explain_records(pl_ctx *e, fs_model *m, uint32_t a, uint32_t b, int rows_global,
                       dt_explanation *ex);
/* Reads out_dir/model.json for e's config and binds its term frequencies
 * to e's table (score.c). OUT: *m, fs_model_fini it; on error nothing to
 * free. */
int pl_model_load(pl_ctx *e, const char *out_dir, fs_model *m);
/* Match probability of table records a and b under m: the same comparison
 * vector and weight link's score stage computes for a candidate pair.
 * Thread-safe over a shared e and m. */
double pl_pair_probability(const pl_ctx *e, const fs_model *m, uint32_t a, uint32_t b);

/* "link", "review" or "none": where probability p falls among cfg's
 * thresholds (static text). */
const char *pl_band(const dt_config *cfg, double p);

/* Drops the keys (8 bytes per record per rule) once nothing needs them. */
void pl_free_keys(pl_ctx *e);

/* All record pairs the mode allows; those between sources a and b. */
uint64_t pl_comparable_pairs(const pl_ctx *e);
uint64_t pl_comparable_pairs_of(const pl_ctx *e, uint16_t a, uint16_t b);

/* Finds a record by "source:record_id". Returns its index or -1. */
long pl_find_record(const pl_ctx *e, const char *key);
/* The truth entity of each of e's records (eval.c; the config's truth:
 * section), as dense ids; a record no truth names is its own. OUT: *out,
 * dt_free it. */
int pl_truth_of(pl_ctx *e, uint32_t **out);

/* Name of the source of a record. */
static inline const char *pl_source_name(const pl_ctx *e, uint32_t rec)
{
    return e->cfg->sources[e->table.src[rec]].name;
}

/* Writes x with n_decimals digits after the point into out: the bytes
 * printf's "%.*f" writes (exact value, ties to even), without printf's
 * cost on the output's hot path (link.c). Returns the length, without the
 * terminating NUL. OUT: out (PL_FIXED_SIZE bytes). */
#define PL_FIXED_MAX_DECIMALS 9
#define PL_FIXED_SIZE 352 /* "-" + 309 digits of DBL_MAX + "." + 9 decimals + NUL, rounded up */
size_t pl_fixed(char *out, double x, int n_decimals);

/* Entity id text for the entity named by record rec: "E" + 16 hex digits of
 * a hash of its source and record id. OUT: buf (at least 18 bytes). */
void pl_entity_id(const pl_ctx *e, uint32_t rec, char buf[18]);
/* The hash that id is written from, and the id from the hash (a batch
 * link hashes each entity once, not once per member). */
uint64_t pl_entity_hash(const pl_ctx *e, uint32_t rec);
void pl_entity_id_of(uint64_t h, char buf[18]);

#endif /* DT_PIPELINE_H */
