/*
 * score.c — a saved model applied to table records, as batch link applies
 * it: the model read from a run's out dir with its term frequencies bound
 * to this table, and one pair's probability from its comparison vector.
 * explain and eval read link's model.json through here, so what they show
 * and measure is what link scored.
 */
#include <string.h>

#include "pipeline/pipeline.h"

int pl_model_load(pl_ctx *e, const char *out_dir, fs_model *m)
{
    char *path = util_path_join(out_dir, "model.json");
    if (!path) return dt_err_set(e->err, DT_ENOMEM, "out of memory");
    memset(m, 0, sizeof *m);
    int rc = fs_model_load(m, e->cfg, path, e->err);
    dt_free(path);
    if (rc == DT_OK && fs_tf_bind(m, e->cfg, &e->table) < 0)
        rc = dt_err_set(e->err, DT_ENOMEM, "out of memory binding term frequencies");
    if (rc < 0) fs_model_fini(m);
    return rc;
}

double pl_pair_probability(const pl_ctx *e, const fs_model *m, uint32_t a, uint32_t b)
{
    uint8_t g[FS_MAX_COMPARISONS];
    cmp_vector(&e->table, e->cfg, a, b, g);
    return fs_probability(fs_pair_weight(m, e->cfg, &e->table, g, a, b));
}
