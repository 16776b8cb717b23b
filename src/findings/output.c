/*
 * output.c — findings.csv (one row per finding: what export gives an
 * analyst) and findings.json (each finding with its evidence: records,
 * the links that tie them with their probabilities, the events it lists,
 * the rule and its version), written whole through util_write_file so a
 * failed run leaves no half-written file.
 *
 * A finding's id is a hash of its rule and its records' sources and ids:
 * the same finding gets the same id in every run that finds it.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "findings/findings.h"
#include "io/csv.h"

static const char *state_of(const fnd_finding *f)
{
    return f->needs_review ? "needs-review" : "open";
}

static int cmp_key(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The hash is of the rule and the sorted "source:record_id" of its records:
 * the same finding gets the same id whatever order its records were
 * loaded in (a file run's, a store's). */
void fnd_finding_id(const pl_ctx *e, const fnd_finding *f, char out[18])
{
    const char *rule = fnd_rule_names[f->rule];
    uint64_t h = util_hash64(rule, strlen(rule), 0x66696e64);
    char **keys = dt_calloc(f->n_recs ? f->n_recs : 1, sizeof *keys);
    size_t n = 0;
    for (size_t i = 0; keys && i < f->n_recs; i++) {
        keys[n] = dt_asprintf("%s%c%s", pl_source_name(e, f->recs[i]), 0x1f,
                              cmp_record_id(&e->table, f->recs[i]));
        n += keys[n] != NULL;
    }
    if (keys) qsort(keys, n, sizeof *keys, cmp_key);
    for (size_t i = 0; i < n; i++) h = util_hash64(keys[i], strlen(keys[i]) + 1, h);
    for (size_t i = 0; i < n; i++) dt_free(keys[i]);
    dt_free(keys);
    snprintf(out, 18, "F%016llx", (unsigned long long)h);
}

static void day_text(int32_t day, char out[11])
{
    norm_date d;
    if (day == FND_NO_DAY || norm_date_from_days(day, &d) < 0) {
        out[0] = '\0';
        return;
    }
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)d.year % 10000u, (unsigned)d.month % 100u,
             (unsigned)d.day % 100u);
}

static void cents_text(int64_t c, char out[32])
{
    int64_t a = c < 0 ? -c : c;
    snprintf(out, 32, "%s%lld.%02lld", c < 0 ? "-" : "", (long long)(a / 100),
             (long long)(a % 100));
}

static const char *event_id(const fnd_events *ev, uint32_t i)
{
    const char *s = util_intern_str(&ev->ids, ev->id[i]);
    const char *us = strchr(s, '\x1f');
    return us ? us + 1 : s;
}

/* What the finding says, in a sentence for the CSV. */
static int detail(const pl_ctx *e, const fnd_events *ev, const fnd_finding *f, util_buf *b)
{
    char d[11], amount[32];
    day_text(f->day, d);
    cents_text(f->cents, amount);
    switch (f->rule) {
    case FND_PAYMENT_AFTER_DEATH:
        return util_buf_printf(b, "%zu payments (%s) after the date of death %s", f->n_events,
                               amount, d);
    case FND_DEATH_CONTRADICTED: {
        char last[11] = "", withheld[32];
        if (f->n_events) day_text(ev->lo[f->events[f->n_events - 1]], last);
        cents_text(f->withheld_cents, withheld);
        DT_TRY(util_buf_printf(b, "%zu records act after the recorded death%s%s", f->n_recs - 1,
                               d[0] ? " of " : "", d));
        if (f->n_events) DT_TRY(util_buf_printf(b, "; %zu events after it, the last %s",
                                                f->n_events, last));
        if (f->n_withheld)
            DT_TRY(util_buf_printf(b, "; %llu payments (%s) after it are not called improper "
                                   "while the death is contradicted",
                                   (unsigned long long)f->n_withheld, withheld));
        return DT_OK;
    }
    case FND_DUPLICATE_ENROLLMENT: {
        int p = e->cfg->findings.enroll_program;
        const char *prog = p >= 0 ? cmp_value(&e->table, (size_t)p, f->recs[0]) : NULL;
        return util_buf_printf(b, "%zu enrollments%s%s at once, from %s", f->n_recs,
                               prog ? " in " : "", prog ? prog : "", d);
    }
    default:
        return util_buf_printf(b, "two entities hold it; without it, their best pair of "
                               "records is one person with probability %.4f", f->p_one_person);
    }
}

/* Why a finding needs review, after what it says. */
static int review_reason(const fnd_finding *f, double review_below, util_buf *b)
{
    if (f->review_why == FND_WHY_DISAGREES)
        DT_TRY(util_buf_printf(b, "; needs review: its records disagree on a given name or a "
                                  "date (twins? a parent and child?)"));
    if (f->review_why == FND_WHY_ONE_RECORD)
        DT_TRY(util_buf_printf(b, "; needs review: one holder has it on one record only, and "
                                  "a typo of the other's identifier would look the same"));
    if (f->confidence < review_below)
        DT_TRY(util_buf_printf(b, "; needs review: a link it rests on has probability %.3f",
                               f->confidence));
    return DT_OK;
}

static int field(util_buf *b, const char *s, int last)
{
    DT_TRY(csv_write_field(b, s, strlen(s), ','));
    return util_buf_putc(b, last ? '\n' : ',');
}

static int csv_row_of(const pl_ctx *e, const fnd_events *ev, const fnd_finding *f, util_buf *b,
                      util_buf *tmp)
{
    char id[18], ent[18], ent_b[18] = "", d[11], amount[32], conf[32], ver[16];
    fnd_finding_id(e, f, id);
    pl_entity_id(e, f->entity, ent);
    if (f->entity_b != UINT32_MAX) pl_entity_id(e, f->entity_b, ent_b);
    day_text(f->day, d);
    cents_text(f->cents, amount);
    snprintf(conf, sizeof conf, "%.6f", f->confidence);
    snprintf(ver, sizeof ver, "%d", fnd_rule_versions[f->rule]);
    util_buf_clear(tmp);
    for (size_t i = 0; i < f->n_recs; i++)
        DT_TRY(util_buf_printf(tmp, "%s%s:%s", i ? ";" : "", pl_source_name(e, f->recs[i]),
                               cmp_record_id(&e->table, f->recs[i])));
    DT_TRY(field(b, id, 0));
    DT_TRY(field(b, fnd_rule_names[f->rule], 0));
    DT_TRY(field(b, ver, 0));
    DT_TRY(field(b, state_of(f), 0));
    DT_TRY(field(b, conf, 0));
    DT_TRY(field(b, ent, 0));
    DT_TRY(field(b, ent_b, 0));
    DT_TRY(field(b, tmp->len ? tmp->data : "", 0));
    const char *ident = f->value != CMP_NULL
                            ? util_intern_str(&e->table.cols[e->cfg->findings.identifier_field].dict,
                                              f->value)
                            : "";
    DT_TRY(field(b, ident, 0));
    DT_TRY(field(b, d, 0));
    char n_ev[24];
    snprintf(n_ev, sizeof n_ev, "%zu", f->n_events);
    DT_TRY(field(b, n_ev, 0));
    DT_TRY(field(b, f->n_events ? amount : "", 0));
    util_buf_clear(tmp);
    DT_TRY(detail(e, ev, f, tmp));
    DT_TRY(review_reason(f, e->cfg->findings.review_below, tmp));
    return field(b, tmp->len ? tmp->data : "", 1);
}

static int write_csv(const pl_linked *l, const fnd_events *ev, const fnd_result *r)
{
    util_buf b = {0}, tmp = {0};
    int rc = util_buf_printf(&b, "finding_id,rule,rule_version,state,confidence,entity_id,"
                                 "other_entity_id,records,identifier,date,events,amount,detail\n");
    for (size_t i = 0; i < r->n && rc == DT_OK; i++)
        rc = csv_row_of(l->e, ev, &r->items[i], &b, &tmp);
    char *path = rc == DT_OK ? util_path_join(l->out_dir, "findings.csv") : NULL;
    if (rc == DT_OK && !path) rc = DT_ENOMEM;
    if (rc == DT_OK) rc = util_write_file(path, b.data ? b.data : "", b.len, 0, l->e->err);
    dt_free(path);
    util_buf_fini(&b);
    util_buf_fini(&tmp);
    return rc;
}

/* ---- JSON ------------------------------------------------------------ */

static json_t *record_json(const pl_ctx *e, uint32_t r)
{
    return json_pack("{s:s, s:s}", "source", pl_source_name(e, r), "record_id",
                     cmp_record_id(&e->table, r));
}

json_t *fnd_finding_json(const pl_ctx *e, const fnd_events *ev, const fnd_finding *f)
{
    char id[18], ent[18], ent_b[18], d[11];
    fnd_finding_id(e, f, id);
    pl_entity_id(e, f->entity, ent);
    day_text(f->day, d);
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:f, s:s}", "finding_id", id, "rule",
                          fnd_rule_names[f->rule], "rule_version", fnd_rule_versions[f->rule],
                          "state", state_of(f), "confidence", f->confidence, "entity_id", ent);
    json_t *recs = json_array(), *links = json_array(), *events = json_array();
    if (!o || !recs || !links || !events) goto fail;
    for (size_t i = 0; i < f->n_recs; i++)
        if (json_array_append_new(recs, record_json(e, f->recs[i]))) goto fail;
    for (size_t i = 0; i < f->n_links; i++) {
        json_t *lk = json_pack("{s:o, s:o, s:f}", "a", record_json(e, f->links[i].a), "b",
                               record_json(e, f->links[i].b), "probability", f->links[i].p);
        if (json_array_append_new(links, lk)) goto fail;
    }
    for (size_t i = 0; i < f->n_events; i++) {
        uint32_t k = f->events[i];
        char ed[11], am[32];
        day_text(ev->lo[k] == ev->hi[k] ? ev->lo[k] : FND_NO_DAY, ed);
        if (!ed[0]) { /* a partial date: its first and last day */
            char a[11], b[11];
            day_text(ev->lo[k], a);
            day_text(ev->hi[k], b);
            snprintf(ed, sizeof ed, "%.4s", a);
            if (strncmp(a, b, 7) == 0) snprintf(ed, sizeof ed, "%.7s", a);
        }
        cents_text(ev->cents[k], am);
        json_t *je = json_pack("{s:s, s:s, s:s, s:o, s:s}", "source",
                               e->cfg->findings.events[ev->src[k]].name, "id", event_id(ev, k),
                               "date", ed, "record", record_json(e, ev->rec[k]), "amount", am);
        if (json_array_append_new(events, je)) goto fail;
    }
    if (json_object_set_new(o, "records", recs) || json_object_set_new(o, "links", links) ||
        json_object_set_new(o, "events", events))
        goto fail_o;
    if (d[0] && json_object_set_new(o, "date", json_string(d))) goto fail_o;
    if (f->n_events) {
        char am[32];
        cents_text(f->cents, am);
        if (json_object_set_new(o, "amount", json_string(am))) goto fail_o;
    }
    if (f->entity_b != UINT32_MAX) {
        pl_entity_id(e, f->entity_b, ent_b);
        if (json_object_set_new(o, "other_entity_id", json_string(ent_b))) goto fail_o;
    }
    if (f->value != CMP_NULL) {
        const char *v =
            util_intern_str(&e->table.cols[e->cfg->findings.identifier_field].dict, f->value);
        if (json_object_set_new(o, "identifier", json_string(v)) ||
            json_object_set_new(o, "p_one_person", json_real(f->p_one_person)))
            goto fail_o;
    }
    util_buf why = {0};
    int wrc = detail(e, ev, f, &why);
    if (wrc == DT_OK) wrc = review_reason(f, e->cfg->findings.review_below, &why);
    if (wrc == DT_OK && json_object_set_new(o, "detail", json_string(why.data ? why.data : "")))
        wrc = DT_ENOMEM;
    util_buf_fini(&why);
    if (wrc < 0) goto fail_o;
    if (f->rule == FND_DEATH_CONTRADICTED) {
        char am[32];
        cents_text(f->withheld_cents, am);
        json_t *w = json_pack("{s:I, s:s}", "payments", (json_int_t)f->n_withheld, "amount", am);
        if (json_object_set_new(o, "withheld_payment_after_death", w)) goto fail_o;
    }
    return o;
fail:
    json_decref(recs);
    json_decref(links);
    json_decref(events);
fail_o:
    json_decref(o);
    return NULL;
}

static json_t *rules_json(const fnd_result *r)
{
    json_t *a = json_array();
    for (int k = 0; a && k < FND_N_RULES; k++) {
        json_t *o = json_pack("{s:s, s:i, s:b, s:I}", "rule", fnd_rule_names[k], "version",
                              fnd_rule_versions[k], "ran", r->ran[k], "findings",
                              (json_int_t)r->per_rule[k]);
        if (o && !r->ran[k]) json_object_set_new(o, "why_not", json_string(r->why_not[k]));
        if (json_array_append_new(a, o)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The model's version in a file run: a hash of its parameters as
 * model.json holds them, so a finding names the model that made it. */
static int model_version(const pl_ctx *e, char out[18])
{
    if (!e->model) return snprintf(out, 18, "none"), DT_OK;
    char *text = fs_model_to_text(e->model, e->cfg);
    if (!text) return DT_ENOMEM;
    snprintf(out, 18, "M%016llx", (unsigned long long)util_hash64(text, strlen(text), 0x6d6f64));
    dt_free(text);
    return DT_OK;
}

static int write_json(const pl_linked *l, const fnd_events *ev, const fnd_result *r)
{
    json_t *root = json_object(), *arr = json_array(), *rules = rules_json(r);
    char model[18];
    int rc = root && arr && rules ? model_version(l->e, model) : DT_ENOMEM;
    for (size_t i = 0; i < r->n && rc == DT_OK; i++) {
        json_t *f = fnd_finding_json(l->e, ev, &r->items[i]);
        if (!f || json_object_set_new(f, "model_version", json_string(model))) {
            json_decref(f);
            rc = DT_ENOMEM;
        } else if (json_array_append_new(arr, f)) {
            rc = DT_ENOMEM;
        }
    }
    if (rc == DT_OK && (json_object_set_new(root, "model_version", json_string(model)) ||
                        json_object_set_new(root, "rules", rules) ||
                        json_object_set_new(root, "findings", arr)))
        rc = DT_ENOMEM;
    else if (rc != DT_OK) {
        json_decref(rules);
        json_decref(arr);
    }
    char *text = rc == DT_OK ? json_dumps(root, JSON_INDENT(1)) : NULL;
    char *path = text ? util_path_join(l->out_dir, "findings.json") : NULL;
    if (rc == DT_OK && (!text || !path)) rc = DT_ENOMEM;
    if (rc == DT_OK) rc = util_write_file(path, text, strlen(text), 0, l->e->err);
    free(text); /* jansson's allocator */
    dt_free(path);
    json_decref(root);
    return rc;
}

int fnd_write(const pl_linked *l, const fnd_events *ev, const fnd_result *r)
{
    int rc = write_csv(l, ev, r);
    if (rc == DT_OK) rc = write_json(l, ev, r);
    if (rc == DT_ENOMEM && l->e->err->code == DT_OK)
        dt_err_set(l->e->err, DT_ENOMEM, "out of memory writing findings");
    return rc;
}
