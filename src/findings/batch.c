/*
 * batch.c — dt_link_findings_run: a batch link run (src/pipeline), then
 * the finding rules over its entities, written beside its other outputs.
 * Batch findings have no states: a store keeps those (findings.h
 * invariant 1), so every one here is needs-review or open.
 */
#include <string.h>

#include "findings/findings.h"

typedef struct batch {
    dt_findings_summary *sum;
} batch;

static void summarize(const fnd_events *ev, const fnd_result *r, dt_findings_summary *s)
{
    for (int k = 0; k < FND_N_RULES; k++) {
        s->per_rule[k] = r->per_rule[k];
        s->ran[k] = r->ran[k];
    }
    s->n_findings = r->n;
    s->n_needs_review = r->n_needs_review;
    s->n_withheld = r->n_withheld;
    s->n_identifier_typos = r->n_typos;
    s->n_event_rows = ev->n_read;
    s->n_events = ev->n_used;
    s->n_rejected_events = ev->n_rejected;
    s->n_orphan_events = ev->n_orphans;
    s->n_undated_events = ev->n_undated;
}

static int after_link(void *ctx, const pl_linked *l)
{
    batch *b = ctx;
    double t0 = util_now();
    fnd_events ev = {0};
    fnd_result r = {0};
    uint8_t *keep = NULL;
    int rc = fnd_keep_records(l, &keep);
    if (rc == DT_OK) rc = fnd_events_read(l->e, keep, &ev);
    dt_free(keep);
    if (rc == DT_OK) rc = fnd_run_rules(l, &ev, &r);
    if (rc == DT_OK) rc = fnd_write(l, &ev, &r);
    if (rc == DT_OK) {
        for (int k = 0; k < FND_N_RULES; k++)
            if (!r.ran[k])
                pl_log(l->e, DT_LOG_WARN, "findings: rule %s did not run: %s",
                       fnd_rule_names[k], r.why_not[k]);
        if (r.n_typos)
            pl_log(l->e, DT_LOG_INFO, "findings: %llu shared identifiers not raised: the one "
                   "record holding it is the person of an entity whose own identifier is one "
                   "keystroke away (a typo)", (unsigned long long)r.n_typos);
        summarize(&ev, &r, b->sum);
        b->sum->seconds = util_now() - t0;
        pl_log(l->e, DT_LOG_INFO, "findings: %zu findings (%llu need review) in %.1f s; "
               "findings.csv and findings.json written", r.n,
               (unsigned long long)r.n_needs_review, b->sum->seconds);
    }
    if (rc == DT_ENOMEM && l->e->err->code == DT_OK)
        dt_err_set(l->e->err, DT_ENOMEM, "out of memory finding");
    fnd_result_fini(&r);
    fnd_events_fini(&ev);
    return rc;
}

const char *dt_finding_rule_name(int rule)
{
    return rule >= 0 && rule < FND_N_RULES ? fnd_rule_names[rule] : NULL;
}

int dt_link_findings_run(const dt_config *cfg, const dt_link_options *opts,
                         dt_link_summary *summary, dt_findings_summary *findings, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!cfg || !opts || !findings)
        return dt_err_set(err, DT_EINVAL, "dt_link_findings_run: config, options and summary "
                                          "are required");
    if (!cfg->findings.is_set)
        return dt_err_at(err, DT_ECONFIG, cfg->path, 0, 0, "the config has no findings: "
                         "section (README, \"Findings\")");
    memset(findings, 0, sizeof *findings);
    batch b = {.sum = findings};
    return pl_link_run_then(cfg, opts, after_link, &b, summary, err);
}
