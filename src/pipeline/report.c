/*
 * report.c — the linkage report: one self-contained HTML file a person
 * reads after `dovetail link --report FILE`. The model (m, u and the match
 * weight of every level; λ; each EM pass and whether it converged), the
 * blocking rules and their pairs, the distribution of match probabilities
 * with the thresholds, cluster sizes, links per pair of sources and the
 * weak links that joined large clusters, each as a chart drawn in inline
 * SVG: no script, no file or font from elsewhere, so it opens anywhere
 * and shows the same.
 *
 * Invariants:
 *   1. No record's id or value is written: counts, parameters and names
 *      from the config only, so a report may go where the data may not.
 *   2. Every text from the config is HTML-escaped (html_text).
 *   3. Every chart is an <svg class="chart"> holding at least one drawn
 *      mark when it has data, and says "no data" in text when it has none.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/report.h"

static void html_text(util_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': util_buf_append(b, "&amp;", 5); break;
        case '<': util_buf_append(b, "&lt;", 4); break;
        case '>': util_buf_append(b, "&gt;", 4); break;
        case '"': util_buf_append(b, "&quot;", 6); break;
        case '\'': util_buf_append(b, "&#39;", 5); break;
        default: util_buf_putc(b, *s);
        }
    }
}

/* A horizontal bar chart: a row per label, bars from 0 (negative ones to
 * the left), the value printed at the bar's end. */
static void bars(util_buf *b, const char *title, const char *const *labels, const double *v,
                 size_t n, int is_weight)
{
    util_buf_printf(b, "<figure><figcaption>");
    html_text(b, title);
    util_buf_printf(b, "</figcaption>");
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
    if (n == 0 || hi - lo <= 0) {
        util_buf_printf(b, "<svg class=\"chart\" width=\"640\" height=\"24\" role=\"img\" "
                        "aria-label=\"no data\"><text x=\"4\" y=\"16\">no data</text></svg>"
                        "</figure>\n");
        return;
    }
    const double left = 230, width = 330, row = 20;
    util_buf_printf(b, "<svg class=\"chart\" width=\"640\" height=\"%.0f\" role=\"img\" "
                    "aria-label=\"", n * row + 8);
    html_text(b, title);
    util_buf_printf(b, "\">");
    double zero = left + (0 - lo) / (hi - lo) * width;
    util_buf_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"0\" y2=\"%.0f\" class=\"axis\"/>", zero,
                    zero, n * row + 4);
    for (size_t i = 0; i < n; i++) {
        double x = left + (v[i] - lo) / (hi - lo) * width, y = (double)i * row + 4;
        util_buf_printf(b, "<text x=\"4\" y=\"%.0f\">", y + 12);
        html_text(b, labels[i]);
        util_buf_printf(b, "</text><rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" "
                        "class=\"%s\"/><text x=\"%.1f\" y=\"%.0f\">", fmin(x, zero), y,
                        fmax(fabs(x - zero), 1.0), row - 6, v[i] < 0 ? "down" : "up",
                        fmax(x, zero) + 4, y + 12);
        if (is_weight) util_buf_printf(b, "%+.2f", v[i]);
        else util_buf_printf(b, "%.0f", v[i]);
        util_buf_printf(b, "</text>");
    }
    util_buf_printf(b, "</svg></figure>\n");
}

/* One EM pass: the largest change of any parameter, iteration by
 * iteration, on a log scale down to the tolerance (dashed). A model read
 * back from a store has no trace: nothing is drawn for it. */
static void convergence(util_buf *b, const pl_report *r, const fs_training *t)
{
    int n = t->iterations < FS_TRACE ? t->iterations : FS_TRACE;
    if (n < 1 || t->change[0] <= 0) return;
    const double tol = r->cfg->em_tolerance > 0 ? r->cfg->em_tolerance : 1e-6;
    double top = log10(fmax(t->change[0], tol * 10)), bottom = log10(tol) - 0.5;
    for (int i = 0; i < n; i++) top = fmax(top, log10(fmax(t->change[i], 1e-300)));
    const double left = 50, width = 560, height = 120;
#define Y(v) (10 + (top - log10(fmax((v), pow(10, bottom)))) / (top - bottom) * height)
    util_buf_printf(b, "<figure><figcaption>EM on ");
    html_text(b, t->rule >= 0 && (size_t)t->rule < r->cfg->n_rules ? r->cfg->rules[t->rule].name
                                                                   : "?");
    util_buf_printf(b, ": the largest change per iteration (%d, %s)</figcaption>"
                    "<svg class=\"chart\" width=\"640\" height=\"160\" role=\"img\" "
                    "aria-label=\"EM convergence\"><polyline class=\"trace\" points=\"",
                    t->iterations, t->converged ? "converged" : "did not converge");
    for (int i = 0; i < n; i++)
        util_buf_printf(b, "%.1f,%.1f ", left + (n > 1 ? i * width / (n - 1) : 0), Y(t->change[i]));
    util_buf_printf(b, "\"/>");
    for (int i = 0; i < n; i++)
        util_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"3\" height=\"3\" class=\"up\"/>",
                        left + (n > 1 ? i * width / (n - 1) : 0) - 1.5, Y(t->change[i]) - 1.5);
    util_buf_printf(b, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>"
                    "<text x=\"4\" y=\"%.1f\">tol</text><text x=\"%.0f\" y=\"155\">1</text>"
                    "<text x=\"%.0f\" y=\"155\">%d</text></svg></figure>\n",
                    left, left + width, Y(tol), Y(tol), Y(tol) + 4, left, left + width - 10, n);
#undef Y
}

static void model_section(util_buf *b, const pl_report *r)
{
    const dt_config *cfg = r->cfg;
    const fs_model *m = r->model;
    util_buf_printf(b, "<h2>The model</h2><p>λ (a random comparable pair is a match): %.3g. "
                    "A level's weight is log2(m/u): what agreeing there adds.</p>\n", m->lambda);
    for (size_t c = 0; c < m->n_comp; c++) {
        const cfg_comparison *cc = &cfg->comparisons[c];
        const fs_comp *fc = &m->comps[c];
        const char *labels[FS_MAX_CODES];
        double w[FS_MAX_CODES];
        size_t n = 0;
        util_buf_printf(b, "<h3>");
        html_text(b, cc->name);
        util_buf_printf(b, "</h3><table><tr><th>level</th><th>m</th><th>u</th><th>weight</th>"
                        "</tr>");
        for (int l = 1; l < fc->n_codes; l++) {
            labels[n] = cmp_level_label(cc, l);
            w[n] = fs_level_weight(m, c, l);
            util_buf_printf(b, "<tr><td>");
            html_text(b, labels[n]);
            util_buf_printf(b, "</td><td>%.4g</td><td>%.4g</td><td>%+.2f</td></tr>", fc->m[l],
                            fc->u[l], w[n]);
            n++;
        }
        util_buf_printf(b, "</table>\n");
        char title[200];
        snprintf(title, sizeof title, "Match weight by level of %s", cc->name);
        bars(b, title, labels, w, n, 1);
    }
    util_buf_printf(b, "<h3>Training (EM), one pass per training rule</h3><table><tr>"
                    "<th>rule</th><th>pairs</th><th>patterns</th><th>iterations</th>"
                    "<th>converged</th><th>λ in the rule's pairs</th></tr>");
    for (size_t k = 0; k < m->n_train; k++) {
        const fs_training *t = &m->train[k];
        util_buf_printf(b, "<tr><td>");
        html_text(b, t->rule >= 0 && (size_t)t->rule < cfg->n_rules ? cfg->rules[t->rule].name : "?");
        util_buf_printf(b, "</td><td>%llu</td><td>%llu</td><td>%d</td><td>%s</td><td>%.3g</td>"
                        "</tr>", (unsigned long long)t->n_pairs,
                        (unsigned long long)t->n_patterns, t->iterations,
                        t->converged ? "yes" : "no", t->lambda);
    }
    util_buf_printf(b, "</table>\n");
    for (size_t k = 0; k < m->n_train; k++) convergence(b, r, &m->train[k]);
}

static void blocking_section(util_buf *b, const pl_report *r)
{
    const dt_config *cfg = r->cfg;
    if (!r->blocking) {
        util_buf_printf(b, "<h2>Blocking</h2><p>A store keeps no blocking counts: see the "
                        "report of a batch run (<code>dovetail link --report</code>).</p>\n");
        return;
    }
    const char *labels[64];
    double v[64];
    size_t n = cfg->n_rules < 64 ? cfg->n_rules : 64;
    util_buf_printf(b, "<h2>Blocking</h2>");
    if (r->true_found) {
        uint64_t found = 0;
        for (size_t k = 0; k < n; k++) found += r->true_found[k];
        util_buf_printf(b, "<p>Pair completeness (the truth's pairs the blocking rules found, "
                        "of those the mode compares): %.4f (%llu of %llu).</p>",
                        r->n_true_pairs ? (double)found / (double)r->n_true_pairs : 1.0,
                        (unsigned long long)found, (unsigned long long)r->n_true_pairs);
    }
    util_buf_printf(b, "<table><tr><th>rule</th><th>blocks</th>"
                    "<th>pairs it added</th>%s<th>largest block</th><th>blocks over the cap"
                    "</th></tr>", r->true_found ? "<th>true pairs it added</th>" : "");
    for (size_t k = 0; k < n; k++) {
        const block_rule_stats *s = &r->blocking[k];
        labels[k] = cfg->rules[k].name;
        v[k] = (double)s->n_pairs;
        util_buf_printf(b, "<tr><td>");
        html_text(b, labels[k]);
        util_buf_printf(b, "</td><td>%llu</td><td>%llu</td>", (unsigned long long)s->n_blocks,
                        (unsigned long long)s->n_pairs);
        if (r->true_found)
            util_buf_printf(b, "<td>%llu</td>", (unsigned long long)r->true_found[k]);
        util_buf_printf(b, "<td>%llu</td><td>%llu</td></tr>",
                        (unsigned long long)s->largest_block,
                        (unsigned long long)s->n_skipped_blocks);
    }
    util_buf_printf(b, "</table>\n");
    bars(b, "Candidate pairs each blocking rule added", labels, v, n, 0);
}

enum { N_BINS = PL_REPORT_BINS };

static void probability_section(util_buf *b, const pl_report *r)
{
    const uint64_t *bin = r->prob_bins;
    const dt_config *cfg = r->cfg;
    util_buf_printf(b, "<h2>Match probabilities</h2><p>");
    html_text(b, r->pairs_counted);
    util_buf_printf(b, ", in bins of 5%% (a log scale of pairs). Dashed: the review threshold "
                    "(%.2f) and the link threshold (%.2f).</p>\n", cfg->review_threshold,
                    cfg->link_threshold);
    double top = 0;
    for (int k = 0; k < N_BINS; k++) top = fmax(top, log10(1.0 + (double)bin[k]));
    const double left = 40, width = 560, height = 160;
    util_buf_printf(b, "<figure><figcaption>Pairs by match probability</figcaption>"
                    "<svg class=\"chart\" width=\"640\" height=\"200\" role=\"img\" "
                    "aria-label=\"Pairs by match probability\">");
    for (int k = 0; k < N_BINS && top > 0; k++) {
        double h = log10(1.0 + (double)bin[k]) / top * height;
        util_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                        "class=\"%s\"><title>%d-%d%%: %llu pairs</title></rect>",
                        left + k * width / N_BINS + 1, 10 + height - h, width / N_BINS - 2,
                        fmax(h, 0.5), (k + 1) * 100 / N_BINS <= cfg->link_threshold * 100 ? "down"
                                                                                        : "up",
                        k * 100 / N_BINS, (k + 1) * 100 / N_BINS, (unsigned long long)bin[k]);
    }
    const double thr[2] = {cfg->review_threshold, cfg->link_threshold};
    for (int t = 0; t < 2; t++)
        util_buf_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"5\" y2=\"%.0f\" class=\"axis\"/>",
                        left + thr[t] * width, left + thr[t] * width, 10 + height);
    util_buf_printf(b, "<text x=\"%.0f\" y=\"195\">0</text><text x=\"%.0f\" y=\"195\">0.5</text>"
                    "<text x=\"%.0f\" y=\"195\">1</text>", left, left + width / 2 - 8,
                    left + width - 8);
    if (top <= 0) util_buf_printf(b, "<text x=\"4\" y=\"16\">no data</text>");
    util_buf_printf(b, "</svg></figure>\n");
}

static void cluster_section(util_buf *b, const pl_report *r)
{
    static const char *const sizes[8] = {"1", "2", "3", "4", "5", "6-10", "11-100", ">100"};
    double v[8];
    for (int i = 0; i < 8; i++) v[i] = (double)r->size_hist[i];
    util_buf_printf(b, "<h2>Entities</h2><p>%llu records; %llu links, %llu pairs for review",
                    (unsigned long long)r->n_records, (unsigned long long)r->n_links,
                    (unsigned long long)r->n_review);
    if (!r->has_sizes) {
        util_buf_printf(b, ". Entity sizes are not shown under a purpose that sees part of "
                        "the store.</p>\n");
        return;
    }
    util_buf_printf(b, "; %llu entities.</p>\n", (unsigned long long)r->n_entities);
    bars(b, "Entities by size (records)", sizes, v, 8, 0);
}

static void source_pairs_section(util_buf *b, const pl_report *r)
{
    const dt_config *cfg = r->cfg;
    size_t ns = cfg->n_sources < PL_REPORT_SOURCES ? cfg->n_sources : PL_REPORT_SOURCES;
    char names[136][80];
    const char *labels[136];
    double v[136];
    size_t n = 0;
    for (size_t i = 0; i < ns; i++)
        for (size_t j = i; j < ns; j++) {
            snprintf(names[n], sizeof names[n], "%s ~ %s", cfg->sources[i].name,
                     cfg->sources[j].name);
            labels[n] = names[n];
            v[n++] = (double)r->sp_links[i][j];
        }
    util_buf_printf(b, "<h2>Links by source and by pair of sources</h2>\n");
    const char *src_labels[PL_REPORT_SOURCES];
    double per_source[PL_REPORT_SOURCES] = {0};
    for (size_t i = 0; i < ns; i++) {
        src_labels[i] = cfg->sources[i].name;
        for (size_t j = 0; j < ns; j++) /* a link counts for each of its sources */
            per_source[i] += (double)(i <= j ? r->sp_links[i][j] : r->sp_links[j][i]);
    }
    bars(b, "Links at or over the link threshold, by source", src_labels, per_source, ns, 0);
    bars(b, "Links at or over the link threshold, by pair of sources", labels, v, n, 0);
}

static void weak_section(util_buf *b, const pl_report *r)
{
    if (!r->has_weak) {
        util_buf_printf(b, "<h2>Weak links that joined large clusters</h2><p>A store keeps "
                        "none: see the report of a batch run.</p>\n");
        return;
    }
    util_buf_printf(b, "<h2>Weak links that joined large clusters</h2><p>A link under "
                    "weak_link (%.2f) that joined two clusters of %zu records or more each: "
                    "where chaining would show first.</p>", r->cfg->weak_link,
                    (size_t)r->cfg->weak_join_size);
    if (!r->n_weak) {
        util_buf_printf(b, "<p>None.</p>\n");
        return;
    }
    util_buf_printf(b, "<table><tr><th>probability</th><th>cluster sizes joined</th></tr>");
    for (size_t i = 0; i < r->n_weak && i < 50; i++)
        util_buf_printf(b, "<tr><td>%.3f</td><td>%u + %u</td></tr>", r->weak[i].p,
                        r->weak[i].size_a, r->weak[i].size_b);
    util_buf_printf(b, "</table>%s\n", r->n_weak > 50 ? "<p>(the first 50)</p>" : "");
}

static const char k_style[] =
    "body{font-family:system-ui,sans-serif;color:#1b1f24;max-width:60rem;margin:1rem auto;"
    "padding:0 1rem}table{border-collapse:collapse;margin:.5rem 0}th,td{border-bottom:1px solid "
    "#c9ced6;padding:.2rem .5rem;text-align:left}svg text{font-size:12px;fill:#1b1f24}"
    ".up{fill:#1d7a3a}.down{fill:#b3261e}.axis{stroke:#4a5260;stroke-dasharray:3 3}"
    ".trace{fill:none;stroke:#0b5cad;stroke-width:2}"
    "figcaption{color:#4a5260}";

int pl_report_html(const pl_report *r, util_buf *out)
{
    util_buf b = {0};
    util_buf_printf(&b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<title>dovetail linkage report</title><style>%s</style></head><body>\n"
                    "<h1>Linkage report</h1><p>Config: ", k_style);
    html_text(&b, r->cfg->path ? r->cfg->path : "");
    util_buf_printf(&b, ". %llu records", (unsigned long long)r->n_records);
    if (r->seconds > 0)
        util_buf_printf(&b, ", %llu candidate pairs compared, in %.1f s",
                        (unsigned long long)r->n_candidate_pairs, r->seconds);
    util_buf_printf(&b, ". No record's id or value is in this report.</p>\n");
    model_section(&b, r);
    blocking_section(&b, r);
    probability_section(&b, r);
    cluster_section(&b, r);
    source_pairs_section(&b, r);
    weak_section(&b, r);
    util_buf_printf(&b, "</body></html>\n");
    if (b.is_failed) {
        util_buf_fini(&b);
        return DT_ENOMEM;
    }
    *out = b;
    return DT_OK;
}

int pl_report_write(const pl_report *r, const char *path, dt_error *err)
{
    util_buf b = {0};
    if (pl_report_html(r, &b) < 0) return dt_err_set(err, DT_ENOMEM, "out of memory writing the report");
    int rc = dt_file_write(path, b.data, b.len, err);
    util_buf_fini(&b);
    return rc;
}
