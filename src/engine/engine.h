/*
 * engine.h — the pipeline's shared state (src/engine). One code path serves
 * batch link, eval and explain: each loads the sources through eng_load and
 * blocks through eng_block, so what eval measures and explain describes is
 * what link did.
 *
 * Stage order and what each leaves behind:
 *   eng_load   table filled, records in canonical order, derived data ready
 *   eng_keys   keys[rule][record]
 *   eng_block  blk.pairs / blk.rules
 *   (link.c)   gammas, model, weights, clusters, files
 */
#ifndef DT_ENGINE_H
#define DT_ENGINE_H

#include <stdint.h>

#include "block/block.h"
#include "cluster/cluster.h"
#include "compare/compare.h"
#include "govern/govern.h"
#include "io/config.h"
#include "io/csv.h"
#include "model/model.h"
#include "norm/norm.h"
#include "util/util.h"

typedef struct eng_ctx {
    const dt_config *cfg;
    dt_log_fn on_log;
    dt_progress_fn on_progress;
    void *cb_ctx;
    int n_threads;
    dt_error *err;

    const norm_nicknames *nicks;
    norm_nicknames *own_nicks;  /* what eng_fini frees: NULL when nicks is borrowed */
    cmp_table table;
    uint64_t n_rejected;        /* structurally broken rows + duplicate ids */
    uint64_t n_bad_utf8_rows;
    uint64_t *null_per_field;   /* values that failed standardization, per field */
    uint64_t *recs_per_source;
    const uint64_t *linkable;   /* per source, bit j: may pair with j (a purpose's view); NULL: any */

    uint64_t **keys;            /* per rule, per record */
    block_output blk;
    double last_progress;       /* util_now() of the last progress call */
    uint64_t n_skipped_blocks;  /* over-cap blocks reported so far */
    uint64_t pair_bound;        /* sum of the rules' pair estimates, skipped blocks out */
} eng_ctx;

int eng_init(eng_ctx *e, const dt_config *cfg, dt_error *err);
void eng_fini(eng_ctx *e);

/* printf-style line to on_log. */
void eng_log(eng_ctx *e, dt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Progress, rate-limited; force = 1 for the final call of a stage. */
void eng_progress(eng_ctx *e, const char *stage, uint64_t done, uint64_t total, int force);

/* Reads and standardizes every source (read.c). */
int eng_load(eng_ctx *e);
/* Called for each accepted row, after its values are standardized into
 * e->table at i_rec (ingest keeps the raw row beside them). A negative
 * return stops the read with that code. */
typedef int (*eng_row_fn)(void *ctx, size_t i_rec, const char *const *header, const csv_row *row);
/* Reads one source from path (ingest): rows in file order, no canonical
 * order and no derived data; bad rows counted and reported as in eng_load. */
int eng_load_file(eng_ctx *e, size_t i_src, const char *path, eng_row_fn on_row, void *ctx);
/* The canonical order's key of a record: its source, then a 48-bit hash of
 * its id; equal keys are settled by the id text. */
uint64_t eng_canonical_key(uint16_t src, const char *id, size_t len);
/* After records were added to e->table by other means (a store): puts
 * them in canonical order and codes their values, as eng_load does. */
int eng_finish_load(eng_ctx *e);
/* Adds a stored record's normalized values to e->table (resolve.c); a
 * loader then calls eng_finish_load. */
struct st_record;
int eng_add_stored(eng_ctx *e, const struct st_record *r);
/* Runs the batch stages up to training over records a loader puts in the
 * table (link.c), and returns the model as text (dt_free it). */
typedef int (*eng_loader)(eng_ctx *e, void *ctx);
int eng_train_from(const dt_config *cfg, const dt_link_options *opts, eng_loader load, void *ctx,
                   char **model_text, dt_error *err);
/* Reads one row given with its header (resolve's JSON record), as a row of
 * source i_src's CSV; `name` labels messages. */
int eng_load_row(eng_ctx *e, size_t i_src, const csv_row *header, const csv_row *row,
                 const char *name);
/* Computes blocking keys per rule per record, and the candidate pairs. */
int eng_keys(eng_ctx *e);
int eng_block(eng_ctx *e);
/* Refuses (DT_ELIMIT) when the candidate pairs, at bytes_per_pair more
 * each, would not fit in the memory the machine has left. */
int eng_check_pair_memory(eng_ctx *e, uint64_t bytes_per_pair);
/* Cannot-link: 1 if an exclusive comparison ends in "else" for the pair. */
int eng_records_conflict(const eng_ctx *e, uint32_t a, uint32_t b);
/* Loads the config's nickname table once (eng_load does it too). */
int eng_load_nicknames(eng_ctx *e);
/* Uses t (read-only, outliving e) instead of loading a table: a store
 * loads its table once, not on every call. NULL: load as usual. */
void eng_borrow_nicknames(eng_ctx *e, const norm_nicknames *t);

/* What eng_resolve is to resolve: recs (new or changed, active) and gone
 * (withdrawn), as store ids. The caller may say which recs it stored for
 * the first time in this transaction (is_new: they hold no links, keys or
 * entity yet) and hand over their standardized values (recs[i] is row
 * rows[i] of values), so they are not read back; either may be NULL. */
typedef struct eng_batch {
    const int64_t *recs;
    size_t n;
    const uint8_t *is_new;
    const cmp_table *values;
    const uint32_t *rows;
    const int64_t *gone;
    size_t n_gone;
    const char *cause;         /* recorded with each merge or split */
    const norm_nicknames *nicks; /* the store's table, borrowed; NULL loads one */
} eng_batch;

/* Resolves store records against the store (resolve.c), inside the
 * caller's transaction: the batch's recs are scored with the frozen model
 * m against the blocking index, its gone records lose their keys, links
 * and entity, and every entity they touch is clustered again. */
struct st_store;
int eng_resolve(struct st_store *st, const dt_config *cfg, fs_model *m, const eng_batch *batch,
                dt_error *err);

/* Store source ids to config source indexes. */
typedef struct eng_sources {
    int *index;            /* by store source id; -1 for none */
    size_t n;
} eng_sources;

/* Maps each config source's store id (sources are created at init). */
int eng_sources_load(struct st_store *st, const dt_config *cfg, eng_sources *out, dt_error *err);
void eng_sources_fini(eng_sources *m);
static inline int eng_source_index(const eng_sources *m, int64_t store_source)
{
    return store_source >= 0 && (size_t)store_source < m->n ? m->index[store_source] : -1;
}

/* The records of the entity store record sid is in under a restricted
 * view: the cluster, as batch clusters, of its component among the links
 * the view allows. DT_ENOTFOUND (no message) when the record is absent,
 * withdrawn or of a source the view hides. nicks: the store's nickname
 * table, borrowed. OUT: members (store ids). */
int eng_view_entity(struct st_store *st, const dt_config *cfg, const norm_nicknames *nicks,
                    const gv_view *v, const eng_sources *map, int64_t sid, util_ids *members,
                    dt_error *err);

/* A stored record a query record would link to. */
typedef struct eng_candidate {
    int64_t sid;
    int i_source;
    char *record_id, *entity;     /* entity "" when none */
    double weight, p;
    uint8_t levels[FS_MAX_COMPARISONS];
} eng_candidate;

/* Runs one record (a row of source i_src, with its header) through the
 * stages against the store, writing nothing: the candidates at or over the
 * review threshold, strongest first. nicks: as for eng_view_entity.
 * OUT: *out (dt_free each record_id and entity, then the array), *n. */
int eng_resolve_one(struct st_store *st, const dt_config *cfg, const norm_nicknames *nicks,
                    fs_model *m, size_t i_src, const csv_row *header, const csv_row *row,
                    eng_candidate **out, size_t *n, dt_error *err);

/* Fills ex's rows, weights and blocking rule for table records a and b
 * under model m (explain.c): what dt_explain_pair shows. */
int eng_explain_records(eng_ctx *e, fs_model *m, uint32_t a, uint32_t b, dt_explanation *ex);

/* Drops the keys (8 bytes per record per rule) once nothing needs them. */
void eng_free_keys(eng_ctx *e);

/* All record pairs the mode allows. */
uint64_t eng_comparable_pairs(const eng_ctx *e);

/* Finds a record by "source:record_id". Returns its index or -1. */
long eng_find_record(const eng_ctx *e, const char *key);

/* Name of the source of a record. */
static inline const char *eng_source_name(const eng_ctx *e, uint32_t rec)
{
    return e->cfg->sources[e->table.src[rec]].name;
}

/* Entity id text for the entity named by record rec: "E" + 16 hex digits of
 * a hash of its source and record id. OUT: buf (at least 18 bytes). */
void eng_entity_id(const eng_ctx *e, uint32_t rec, char buf[18]);

#endif /* DT_ENGINE_H */
