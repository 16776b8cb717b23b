/*
 * fuzz_config.c — libFuzzer target for the YAML config loader
 * (src/io/config.c). Parses the input with cfg_parse and checks, aborting
 * on any failure:
 *   1. a failure returns DT_ECONFIG (or DT_ENOMEM) with that code and a
 *      message in err, naming "fuzz.yaml" with a line and column when it
 *      gives one, and leaves the output untouched;
 *   2. a success holds config.h's invariants: every field index is in
 *      range, every rule has 1..CFG_MAX_KEYS keys, every comparison
 *      1..CFG_MAX_LEVELS levels with labels, review <= link, paths resolved
 *      against the base directory; findings: names existing sources and
 *      fields of the right types, and event sources what the reader needs.
 * ASan's leak check covers the error paths. Replayed without libFuzzer by
 * regression_driver.c (make fuzz-replay).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"

#define CHECK(cond)              \
    do {                         \
        if (!(cond)) abort();    \
    } while (0)

static int field_ok(const dt_config *cfg, int i)
{
    return i >= 0 && (size_t)i < cfg->n_fields;
}

static int source_ok(const dt_config *cfg, int i)
{
    return i >= 0 && (size_t)i < cfg->n_sources;
}

/* findings: each source and field it names exists, date fields are
 * dates, events have what the reader needs. */
static void check_findings(const dt_config *cfg)
{
    const cfg_findings *f = &cfg->findings;
    CHECK((f->death_source < 0) == (f->death_field < 0));
    if (f->death_source >= 0)
        CHECK(source_ok(cfg, f->death_source) && field_ok(cfg, f->death_field) &&
              cfg->fields[f->death_field].type == CFG_T_DATE);
    CHECK((f->enroll_source < 0) == (f->enroll_start < 0));
    if (f->enroll_source >= 0)
        CHECK(source_ok(cfg, f->enroll_source) && field_ok(cfg, f->enroll_start) &&
              cfg->fields[f->enroll_start].type == CFG_T_DATE);
    CHECK(f->enroll_program < 0 || field_ok(cfg, f->enroll_program));
    CHECK(f->n_activity <= CFG_MAX_ACTIVITY);
    for (size_t i = 0; i < f->n_activity; i++)
        CHECK(source_ok(cfg, f->activity_source[i]) && field_ok(cfg, f->activity_field[i]) &&
              cfg->fields[f->activity_field[i]].type == CFG_T_DATE);
    CHECK(f->identifier_field < 0 ||
          cfg->fields[f->identifier_field].type == CFG_T_IDENTIFIER);
    CHECK(f->review_below >= 0 && f->review_below <= 1 && f->contest_days >= 0);
    for (size_t i = 0; i < f->n_events; i++) {
        const cfg_event *e = &f->events[i];
        CHECK(e->name && e->path && e->path[0] == '/' && e->id_column && e->key_column &&
              e->date_column && source_ok(cfg, e->of));
        CHECK(cfg_source_index(cfg, e->name) < 0);
    }
}

static void check_config(const dt_config *cfg)
{
    CHECK(cfg->n_fields >= 1 && cfg->n_sources >= 1 && cfg->n_rules >= 1 &&
          cfg->n_comparisons >= 1);
    for (size_t i = 0; i < cfg->n_fields; i++) {
        CHECK(cfg->fields[i].name && cfg->fields[i].name[0]);
        CHECK(cfg->fields[i].type < CFG_N_TYPES);
    }
    for (size_t i = 0; i < cfg->n_sources; i++) {
        const cfg_source *s = &cfg->sources[i];
        CHECK(s->name && s->path && s->id_column);
        CHECK(s->path[0] == '/'); /* base dir is absolute */
        for (size_t j = 0; j < s->n_maps; j++) {
            CHECK(field_ok(cfg, s->maps[j].i_field) && s->maps[j].column);
            /* a field maps once, or to one list of fallback columns in a row */
            for (size_t k = 0; k < j; k++)
                if (s->maps[k].i_field == s->maps[j].i_field)
                    CHECK(s->maps[j - 1].i_field == s->maps[j].i_field);
        }
    }
    if (cfg->mode == CFG_MODE_LINK) CHECK(cfg->n_sources >= 2);
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const cfg_rule *r = &cfg->rules[i];
        CHECK(r->n_keys >= 1 && r->n_keys <= CFG_MAX_KEYS && r->name);
        for (int k = 0; k < r->n_keys; k++) {
            CHECK(field_ok(cfg, r->keys[k].i_field) && r->keys[k].fn < CFG_N_KEY_FNS);
            if (r->keys[k].fn == CFG_K_SUBSTR) CHECK(r->keys[k].arg1 >= 1 && r->keys[k].arg2 >= 1);
        }
    }
    for (size_t i = 0; i < cfg->n_comparisons; i++) {
        const cfg_comparison *c = &cfg->comparisons[i];
        CHECK(c->name && field_ok(cfg, c->i_field));
        CHECK(c->n_levels >= 1 && c->n_levels <= CFG_MAX_LEVELS);
        for (int l = 0; l < c->n_levels; l++) {
            const cfg_level *lv = &c->levels[l];
            CHECK(lv->kind < CFG_N_LEVEL_KINDS && lv->label);
            CHECK(lv->n_with >= 0 && lv->n_with <= CFG_MAX_WITH);
            for (int w = 0; w < lv->n_with; w++) CHECK(field_ok(cfg, lv->with[w]));
            if (lv->kind == CFG_L_SWAPPED) CHECK(lv->n_with == 1);
        }
    }
    for (size_t i = 0; i < cfg->n_training_rules; i++)
        CHECK(cfg->training_rules[i] >= 0 && (size_t)cfg->training_rules[i] < cfg->n_rules);
    CHECK(cfg->review_threshold >= 0 && cfg->review_threshold <= cfg->link_threshold &&
          cfg->link_threshold <= 1);
    CHECK(cfg->nicknames_path);
    check_findings(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dt_config *cfg = (dt_config *)&cfg; /* sentinel: must survive a failure */
    dt_error err;
    dt_error_clear(&err);
    int rc = cfg_parse((const char *)data, size, "fuzz.yaml", "/tmp", &cfg, &err);
    if (rc == DT_OK) {
        CHECK(cfg != (dt_config *)&cfg && err.code == DT_OK);
        check_config(cfg);
        dt_config_free(cfg);
        return 0;
    }
    CHECK(rc == DT_ECONFIG || rc == DT_ENOMEM);
    CHECK(err.code == rc && err.msg[0] != '\0');
    CHECK(cfg == (dt_config *)&cfg);
    if (rc == DT_ECONFIG && err.line > 0) {
        CHECK(strcmp(err.file, "fuzz.yaml") == 0);
        CHECK(strncmp(err.msg, "fuzz.yaml:", 10) == 0);
        CHECK(err.column > 0);
    }
    return 0;
}
