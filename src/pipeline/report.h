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

enum { PL_REPORT_BINS = 20, PL_REPORT_SOURCES = 16 };

/* What the report shows, counted by its caller: a batch run from its
 * arrays (link.c), a store from its tables (store_read.c). */
typedef struct pl_report {
    const dt_config *cfg;
    const fs_model *model;
    uint64_t n_records, n_candidate_pairs, n_links, n_review, n_entities;
    double seconds;                      /* the run's; 0: not a run */
    const block_rule_stats *blocking;    /* per rule; NULL: not known (a store) */
    const uint64_t *true_found;          /* per rule: true pairs it added; NULL: no truth */
    uint64_t n_true_pairs;               /* true pairs the mode compares */
    uint64_t prob_bins[PL_REPORT_BINS];  /* pairs by match probability, 5% each */
    const char *pairs_counted;           /* which pairs the bins hold, for people */
    uint64_t sp_links[PL_REPORT_SOURCES][PL_REPORT_SOURCES]; /* links by source pair, a <= b */
    uint64_t size_hist[8];               /* entities of 1,2,3,4,5,6-10,11-100,>100 */
    int has_sizes;                       /* 0: not shown (a narrower view) */
    int has_weak;                        /* 0: not known (a store) */
    const pl_weak_join *weak;
    size_t n_weak;
} pl_report;

/* The 5% bin of probability p. */
static inline int pl_report_bin(double p)
{
    int k = (int)(p * PL_REPORT_BINS);
    return k < 0 ? 0 : k >= PL_REPORT_BINS ? PL_REPORT_BINS - 1 : k;
}

/* The report as HTML text into *out (util_buf_fini it); DT_ENOMEM. */
int pl_report_html(const pl_report *r, util_buf *out);
/* Writes the report to path (dt_file_write: 0600, in place when whole). */
int pl_report_write(const pl_report *r, const char *path, dt_error *err);

#endif
