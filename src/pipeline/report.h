/*
 * report.h — the linkage report (report.c): what a batch run hands it.
 * Internal to src/pipeline.
 */
#ifndef DT_PIPELINE_REPORT_H
#define DT_PIPELINE_REPORT_H

#include "pipeline/pipeline.h"

/* A link under weak_link that joined two clusters of weak_join_size
 * records or more (cluster.h, clu_weak_fn). */
typedef struct pl_weak_join {
    uint32_t a, b;
    double p;
    uint32_t size_a, size_b;
} pl_weak_join;

typedef struct pl_report {
    const dt_config *cfg;
    const fs_model *model;
    const dt_link_summary *sum;
    const block_output *blk;    /* the candidate pairs, their rules' counts */
    const double *weights;      /* per candidate pair */
    const uint16_t *src;        /* per record: its source */
    const pl_weak_join *weak;
    size_t n_weak;
} pl_report;

/* Writes the report to path (dt_file_write: 0600, in place when whole). */
int pl_report_write(const pl_report *r, const char *path, dt_error *err);

#endif
