/*
 * policy.c — a source's policy (YAML, set by its steward) and the view a
 * purpose has of the store under every source's policy.
 *
 *   retention_days: 2555            # optional
 *   purposes:
 *     payment-integrity:
 *       allowed: true
 *       agreement: CMA-2026-014     # required when allowed
 *       expires: 2027-06-30         # required when allowed; lapses after this day
 *       fields: [surname, dob]      # columns that may be shown, or: all
 *       link_with: [deaths]         # other sources, or: all; none when left out
 *
 * Invariants:
 *   1. Deny by default: a purpose not named, named with allowed: false, or
 *      past its expiry is not allowed; fields and links not listed are not
 *      shown or used.
 *   2. A link between two sources is usable only when both policies allow
 *      it (each lists the other, or says all).
 *   3. Every name a rule lists is real and listed once: fields are columns
 *      of the source, link_with names other sources. A misspelt column
 *      would otherwise hide the real one without a word.
 *   4. Bounded work: at most GV_POLICY_MAX_BYTES and GV_MAX_PURPOSES, and
 *      parsing is linear in the text (every request of a process parses
 *      the policies before it authenticates, so a slow parse is a denial
 *      of service by any steward).
 *   5. 3 and 4 (and an expiry not yet past) are checked when a steward sets
 *      a policy (now != 0). A policy read back from the store was checked
 *      when it was set, perhaps by an older dovetail: it is read without
 *      3, so a store whose policy predates it still serves requests, the
 *      one that replaces it included; one over the limits of 4 allows
 *      nothing (deny by default), and is not parsed when over the size,
 *      so it costs no request its time.
 */
#include <string.h>

#include "govern/govern.h"
#include "io/yaml.h"

enum { MAX_AGREEMENT_DAYS = 915 }; /* 30 months: 18, and one renewal of 12 (552a(o)(2)) */
#define US_PER_DAY (INT64_C(86400) * 1000000)

static void rule_fini(gv_purpose_rule *r)
{
    dt_free(r->purpose);
    dt_free(r->agreement);
    for (size_t i = 0; i < r->n_fields; i++) dt_free(r->fields[i]);
    dt_free(r->fields);
    for (size_t i = 0; i < r->n_link_with; i++) dt_free(r->link_with[i]);
    dt_free(r->link_with);
}

void gv_policy_fini(gv_policy *p)
{
    for (size_t i = 0; p->rules && i < p->n_rules; i++) rule_fini(&p->rules[i]);
    dt_free(p->rules);
    memset(p, 0, sizeof *p);
}

const gv_purpose_rule *gv_policy_rule(const gv_policy *p, const char *purpose)
{
    for (size_t i = 0; i < p->n_rules; i++)
        if (strcmp(p->rules[i].purpose, purpose) == 0) return &p->rules[i];
    return NULL;
}

/* A list of names, or the scalar "all" (*all = 1). */
static int name_list(ycx *y, const yaml_node_t *n, const char *what, int *all, char ***out,
                     size_t *count)
{
    if (n->type == YAML_SCALAR_NODE && strcmp(y_str(n), "all") == 0) {
        *all = 1;
        return DT_OK;
    }
    if (n->type == YAML_SCALAR_NODE)
        return y_err(y, n, "%s must be a list or 'all', found '%s'", what, y_str(n));
    DT_TRY(y_list(y, n, what, sizeof **out, (void **)out, count));
    for (size_t i = 0; i < *count; i++) {
        yaml_node_t *item = y_node(y, n->data.sequence.items.start[i]);
        DT_TRY(y_strdup(y, item, what, &(*out)[i]));
    }
    return DT_OK;
}

static int parse_expiry(ycx *y, const yaml_node_t *n, int64_t now, gv_purpose_rule *r)
{
    DT_TRY(y_expect(y, n, YAML_SCALAR_NODE, "expires"));
    int64_t day = gv_date_parse(y_str(n));
    if (day < 0) return y_err(y, n, "expires must be a date YYYY-MM-DD, found '%s'", y_str(n));
    r->expires = day + US_PER_DAY; /* the permission holds through the day named */
    if (now && r->expires <= now)
        return y_err(y, n, "expires %s has passed: purpose '%s' would be refused from the start "
                     "(give the renewed agreement's expiry, or allowed: false)", y_str(n),
                     r->purpose);
    if (now && r->expires > now + (int64_t)MAX_AGREEMENT_DAYS * US_PER_DAY)
        return y_err(y, n, "expires %s is more than 30 months away: a matching agreement lasts "
                     "at most 18 months, with one renewal of up to 12 (5 U.S.C. 552a(o)(2))",
                     y_str(n));
    return DT_OK;
}

/* Each link is another source, named once (every request matches each
 * pair of sources against these lists). */
static int check_links(ycx *y, const yaml_node_t *n, const dt_config *cfg, size_t i_src,
                       int64_t now, const gv_purpose_rule *r)
{
    uint64_t seen = 0;
    for (size_t i = 0; i < r->n_link_with; i++) {
        yaml_node_t *item = y_node(y, n->data.sequence.items.start[i]);
        int s = cfg_source_index(cfg, r->link_with[i]);
        if (s < 0)
            return y_err(y, item, "link_with: no source '%s' in the configuration",
                         r->link_with[i]);
        if ((size_t)s == i_src)
            return y_err(y, item, "link_with: '%s' is this source; its own records always link",
                         r->link_with[i]);
        if (now && s < GV_MAX_SOURCES && (seen >> s & 1))
            return y_err(y, item, "link_with: '%s' is listed twice", r->link_with[i]);
        if (s < GV_MAX_SOURCES) seen |= UINT64_C(1) << s;
    }
    return DT_OK;
}

/* Each field is a column of source i_src, named once. */
static int check_fields(ycx *y, const yaml_node_t *n, const cfg_source *s,
                        const gv_purpose_rule *r)
{
    unsigned char *seen = dt_calloc(s->n_maps + 2, 1);
    if (!seen) return dt_err_set(y->err, DT_ENOMEM, "out of memory");
    int rc = DT_OK;
    for (size_t i = 0; i < r->n_fields && rc == DT_OK; i++) {
        yaml_node_t *item = y_node(y, n->data.sequence.items.start[i]);
        int k = cfg_column_index(s, r->fields[i]);
        char known[512];
        if (k < 0) {
            cfg_columns_text(s, known, sizeof known);
            rc = y_err(y, item, "fields: '%s' is not a column of source '%s' (its columns: %s)",
                       r->fields[i], s->name, known);
        } else if (seen[k]++) {
            rc = y_err(y, item, "fields: '%s' is listed twice", r->fields[i]);
        }
    }
    dt_free(seen);
    return rc;
}

static int parse_rule(ycx *y, const dt_config *cfg, size_t i_src, const yaml_node_t *k,
                      const yaml_node_t *n, int64_t now, gv_purpose_rule *r)
{
    static const char *const keys[] = {"allowed", "agreement", "expires", "fields",
                                       "link_with", NULL};
    DT_TRY(y_strdup(y, k, "a purpose", &r->purpose));
    if (!gv_name_ok(r->purpose))
        return y_err(y, k, "purpose '%s': use 1 to 64 of a-z, 0-9, '.', '_' and '-'",
                     r->purpose);
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, r->purpose));
    DT_TRY(y_check_keys(y, n, r->purpose, keys));
    yaml_node_t *allowed = y_get(y, n, "allowed");
    if (!allowed) return y_err(y, n, "purpose '%s' needs 'allowed: true' or 'allowed: false'",
                               r->purpose);
    DT_TRY(y_bool(y, allowed, "allowed", &r->allowed));
    if (!r->allowed) return DT_OK; /* nothing else matters: deny */
    static const char *const needed[] = {"agreement", "expires", "fields"};
    for (size_t i = 0; i < 3; i++)
        if (!y_get(y, n, needed[i]))
            return y_err(y, n, "purpose '%s' is allowed, so it needs '%s'", r->purpose,
                         needed[i]);
    DT_TRY(y_strdup(y, y_get(y, n, "agreement"), "agreement", &r->agreement));
    DT_TRY(parse_expiry(y, y_get(y, n, "expires"), now, r));
    yaml_node_t *fields = y_get(y, n, "fields");
    DT_TRY(name_list(y, fields, "fields", &r->all_fields, &r->fields, &r->n_fields));
    if (now && !r->all_fields) DT_TRY(check_fields(y, fields, &cfg->sources[i_src], r));
    yaml_node_t *links = y_get(y, n, "link_with");
    if (!links) return DT_OK;
    DT_TRY(name_list(y, links, "link_with", &r->link_any, &r->link_with, &r->n_link_with));
    return r->link_any ? DT_OK : check_links(y, links, cfg, i_src, now, r);
}

/* The rules, in order; a repeated purpose is found through a hash of the
 * names seen, so the check stays linear. */
static int parse_rules(ycx *y, const dt_config *cfg, size_t i_src, const yaml_node_t *n,
                       int64_t now, gv_policy *p, util_intern *seen)
{
    for (size_t i = 0; i < p->n_rules; i++) {
        yaml_node_pair_t *pair = &n->data.mapping.pairs.start[i];
        yaml_node_t *k = y_node(y, pair->key);
        DT_TRY(parse_rule(y, cfg, i_src, k, y_node(y, pair->value), now, &p->rules[i]));
        uint32_t before = seen->n_strs, id;
        if (util_intern_put(seen, p->rules[i].purpose, strlen(p->rules[i].purpose), &id) < 0)
            return dt_err_set(y->err, DT_ENOMEM, "out of memory");
        if (id < before) return y_err(y, k, "purpose '%s' appears twice", p->rules[i].purpose);
    }
    return DT_OK;
}

static int parse_purposes(ycx *y, const dt_config *cfg, size_t i_src, const yaml_node_t *n,
                          int64_t now, gv_policy *p)
{
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "purposes"));
    size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (now && count > GV_MAX_PURPOSES)
        return y_err(y, n, "a policy names at most %d purposes; this one names %zu",
                     GV_MAX_PURPOSES, count);
    p->rules = dt_calloc(count ? count : 1, sizeof *p->rules);
    if (!p->rules) return dt_err_set(y->err, DT_ENOMEM, "out of memory");
    p->n_rules = count; /* zeroed rules: fini frees what parsing filled */
    util_intern seen;
    util_intern_init(&seen);
    int rc = parse_rules(y, cfg, i_src, n, now, p, &seen);
    util_intern_fini(&seen);
    return rc;
}

static int parse_root(ycx *y, const dt_config *cfg, size_t i_src, const yaml_node_t *root,
                      int64_t now, gv_policy *p)
{
    static const char *const keys[] = {"retention_days", "purposes", NULL};
    DT_TRY(y_expect(y, root, YAML_MAPPING_NODE, "a policy"));
    DT_TRY(y_check_keys(y, root, "a policy", keys));
    yaml_node_t *n = y_get(y, root, "retention_days");
    if (n) DT_TRY(y_long(y, n, "retention_days", 1, 365L * 200, &p->retention_days));
    n = y_get(y, root, "purposes");
    if (!n) return y_err(y, root, "a policy needs 'purposes' (a mapping of purpose names)");
    return parse_purposes(y, cfg, i_src, n, now, p);
}

int gv_policy_parse(const char *text, size_t n, const char *name, const dt_config *cfg,
                    size_t i_src, int64_t now, gv_policy *out, dt_error *err)
{
    memset(out, 0, sizeof *out);
    if (now && n > GV_POLICY_MAX_BYTES)
        return dt_err_at(err, DT_ECONFIG, name, 0, 0, "the policy is %zu bytes; the limit is %d",
                         n, GV_POLICY_MAX_BYTES);
    yaml_document_t doc;
    DT_TRY(y_load(text, n, name, &doc, err));
    ycx y = {.doc = &doc, .name = name, .err = err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = root ? parse_root(&y, cfg, i_src, root, now, out)
                  : dt_err_at(err, DT_ECONFIG, name, 1, 1, "the policy is empty");
    yaml_document_delete(&doc);
    if (rc < 0) gv_policy_fini(out);
    return rc;
}

/* ---- the policy set and views -------------------------------------------- */

void gv_policies_fini(gv_policy_set *set)
{
    for (size_t i = 0; set->p && i < set->n; i++) gv_policy_fini(&set->p[i]);
    dt_free(set->p);
    memset(set, 0, sizeof *set);
    set->stamp = -1;
}

static int load_policy(st_store *st, const dt_config *cfg, size_t i, gv_policy *p,
                       dt_error *err)
{
    int64_t src, version;
    char *text = NULL;
    DT_TRY(st_source_id(st, cfg->sources[i].name, &src, err));
    DT_TRY(st_policy_latest(st, src, &text, &version, err));
    if (!text) return DT_OK;
    char name[160];
    snprintf(name, sizeof name, "policy of %s (version %lld)", cfg->sources[i].name,
             (long long)version);
    int is_over = strlen(text) > GV_POLICY_MAX_BYTES;
    int rc = is_over ? DT_OK : gv_policy_parse(text, strlen(text), name, cfg, i, 0, p, err);
    if (rc == DT_OK && p->n_rules > GV_MAX_PURPOSES) is_over = 1;
    if (is_over) gv_policy_fini(p);
    p->version = version;
    p->is_over_limits = is_over;
    dt_free(text);
    return rc;
}

int gv_policies_refresh(st_store *st, const dt_config *cfg, gv_policy_set *set, dt_error *err)
{
    int64_t stamp;
    DT_TRY(st_policy_count(st, &stamp, err));
    if (set->p && stamp == set->stamp) return DT_OK;
    gv_policies_fini(set);
    set->p = dt_calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof *set->p);
    if (!set->p) return dt_err_set(err, DT_ENOMEM, "out of memory");
    set->n = cfg->n_sources;
    for (size_t i = 0; i < cfg->n_sources; i++) {
        int rc = load_policy(st, cfg, i, &set->p[i], err);
        if (rc < 0) {
            gv_policies_fini(set);
            return rc;
        }
    }
    set->stamp = stamp;
    return DT_OK;
}

static int lists(const gv_purpose_rule *r, const char *source)
{
    if (r->link_any) return 1;
    for (size_t i = 0; i < r->n_link_with; i++)
        if (strcmp(r->link_with[i], source) == 0) return 1;
    return 0;
}

void gv_lapsed_text(const dt_config *cfg, size_t i_src, const gv_purpose_rule *r, char *out,
                    size_t cap)
{
    char day[32];
    gv_time_text(r->expires - US_PER_DAY, day);
    day[10] = '\0';
    snprintf(out, cap, "source '%s': agreement %s for purpose '%s' expired after %s, so it "
             "takes no part until its steward renews it", cfg->sources[i_src].name, r->agreement,
             r->purpose, day);
}

int gv_view_make(const gv_policy_set *set, const dt_config *cfg, const char *purpose,
                 int64_t now, gv_view *out, dt_error *err)
{
    memset(out, 0, sizeof *out);
    if (cfg->n_sources > GV_MAX_SOURCES || set->n != cfg->n_sources)
        return dt_err_set(err, DT_ELIMIT, "governance handles up to %d sources",
                          GV_MAX_SOURCES);
    out->n_sources = cfg->n_sources;
    for (size_t i = 0; i < cfg->n_sources; i++) {
        if (set->p[i].is_over_limits && !out->lapsed[0])
            snprintf(out->lapsed, sizeof out->lapsed, "source '%s': its policy (version %lld) "
                     "is over %d bytes or %d purposes, so it allows nothing until its steward "
                     "sets one within them", cfg->sources[i].name,
                     (long long)set->p[i].version, GV_POLICY_MAX_BYTES, GV_MAX_PURPOSES);
        const gv_purpose_rule *r = gv_policy_rule(&set->p[i], purpose);
        if (!r || !r->allowed) continue;
        if (now >= r->expires) {
            if (!out->lapsed[0]) gv_lapsed_text(cfg, i, r, out->lapsed, sizeof out->lapsed);
            continue;
        }
        out->sources |= UINT64_C(1) << i;
        out->rule[i] = r;
    }
    int full = out->sources == (cfg->n_sources == 64 ? UINT64_MAX
                                                      : (UINT64_C(1) << cfg->n_sources) - 1);
    for (size_t i = 0; i < cfg->n_sources; i++) {
        if (!gv_view_has(out, i)) continue;
        out->linkable[i] |= UINT64_C(1) << i;
        for (size_t j = 0; j < cfg->n_sources; j++) {
            if (j == i || !gv_view_has(out, j)) continue;
            if (lists(out->rule[i], cfg->sources[j].name) &&
                lists(out->rule[j], cfg->sources[i].name))
                out->linkable[i] |= UINT64_C(1) << j;
            else full = 0;
        }
    }
    out->is_full = full;
    return DT_OK;
}

int gv_view_shows(const gv_view *v, const dt_config *cfg, size_t i_src, const char *column)
{
    if (!gv_view_has(v, i_src)) return 0;
    if (strcmp(cfg->sources[i_src].id_column, column) == 0) return 1;
    const gv_purpose_rule *r = v->rule[i_src];
    if (r->all_fields) return 1;
    for (size_t i = 0; i < r->n_fields; i++)
        if (strcmp(r->fields[i], column) == 0) return 1;
    return 0;
}
