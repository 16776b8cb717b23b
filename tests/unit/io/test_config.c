/* Unit tests for src/io/config.c: a full valid configuration and its
 * defaults, the bundled examples/febrl4.yaml, and schema errors, each with
 * the exact line and column of the offending node and a message naming
 * it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "io/config.h"

static const char VALID[] =
    "mode: link\n"
    "fields:\n"
    "  given: given_name\n"
    "  middle: middle_name\n"
    "  surname: surname\n"
    "  dob: date\n"
    "  ssn: identifier\n"
    "  zip: postcode\n"
    "sources:\n"
    "  - name: voters\n"
    "    path: data/voters.csv\n"
    "    id: voter_id\n"
    "    delimiter: tab\n"
    "    trim: yes\n"
    "    columns:\n"
    "      given: first\n"
    "      surname: last\n"
    "      dob: {column: birth, format: MM/DD/YYYY}\n"
    "      ssn: {column: ssn, min_length: 9, max_length: 9, ssn: true}\n"
    "      zip: {column: zip, length: 5}\n"
    "  - name: deaths\n"
    "    path: /abs/deaths.csv\n"
    "    id: cert\n"
    "    full_name: {column: name, order: 'last, first'}\n"
    "    columns: {dob: born, zip: zip}\n"
    "blocking:\n"
    "  max_block_pairs: 1000\n"
    "  rules:\n"
    "    - [soundex(surname), year(dob)]\n"
    "    - \"substr(given,1,2), surname\"\n"
    "    - ssn\n"
    "comparisons:\n"
    "  - field: given\n"
    "    tf: true\n"
    "    levels: [exact, nickname, {jaro_winkler: 0.92}, initial]\n"
    "  - field: surname\n"
    "    name: family\n"
    "    levels: [exact, {token_overlap: [middle]}, {swapped: given}, "
    "{damerau_levenshtein: 1}]\n"
    "  - field: dob\n"
    "    levels: [exact, swap_day_month, year_off_by, {within_days: 30}, partial_date]\n"
    "model:\n"
    "  seed: 7\n"
    "  training_rules: [1, 3]\n";

/* The smallest valid config; error cases below edit one line of it. */
static const char MINIMAL[] =
    "fields:\n"                                          /* 1 */
    "  given: given_name\n"                              /* 2 */
    "  surname: surname\n"                               /* 3 */
    "  dob: date\n"                                      /* 4 */
    "sources:\n"                                         /* 5 */
    "  - name: a\n"                                      /* 6 */
    "    path: a.csv\n"                                  /* 7 */
    "    id: id\n"                                       /* 8 */
    "    columns: {given: fn, surname: ln, dob: born}\n" /* 9 */
    "blocking:\n"                                        /* 10 */
    "  rules:\n"                                         /* 11 */
    "    - [surname]\n"                                  /* 12 */
    "comparisons:\n"                                     /* 13 */
    "  - field: given\n"                                 /* 14 */
    "    levels: [exact]\n";                             /* 15 */

static dt_config *parse_ok(const char *yaml)
{
    dt_config *cfg = NULL;
    dt_error err;
    dt_error_clear(&err);
    int rc = cfg_parse(yaml, strlen(yaml), "test.yaml", "/base", &cfg, &err);
    if (rc != DT_OK) fprintf(stderr, "unexpected: %s\n", err.msg);
    assert_int_equal(rc, DT_OK);
    assert_non_null(cfg);
    return cfg;
}

/* MINIMAL with line `line` (1-based) replaced by `text` (which may hold
 * several lines, or be "" to delete it), or with text appended when line
 * is 0. */
static const char *edit(int line, const char *text)
{
    static char out[4096];
    const char *p = MINIMAL;
    size_t n = 0;
    out[0] = '\0';
    for (int l = 1; *p; l++) {
        const char *nl = strchr(p, '\n');
        size_t len = (size_t)(nl - p) + 1;
        if (l == line) n += (size_t)snprintf(out + n, sizeof out - n, "%s", text);
        else n += (size_t)snprintf(out + n, sizeof out - n, "%.*s", (int)len, p);
        p += len;
    }
    if (line == 0) snprintf(out + n, sizeof out - n, "%s", text);
    return out;
}

/* Asserts yaml fails with DT_ECONFIG at line:column, a message that starts
 * with "test.yaml:line:column: " and mentions `mention`, and leaves the
 * output untouched. */
static void expect_error(const char *yaml, long line, long column, const char *mention)
{
    dt_config *cfg = (dt_config *)&cfg; /* sentinel: must survive the failure */
    dt_config *const sentinel = cfg;
    dt_error err;
    dt_error_clear(&err);
    int rc = cfg_parse(yaml, strlen(yaml), "test.yaml", "/base", &cfg, &err);
    if (rc != DT_ECONFIG || err.line != line || err.column != column || !strstr(err.msg, mention))
        fprintf(stderr, "got rc %d, %ld:%ld, \"%s\"; wanted %ld:%ld mentioning '%s'\n", rc,
                err.line, err.column, err.msg, line, column, mention);
    assert_int_equal(rc, DT_ECONFIG);
    assert_int_equal(err.code, DT_ECONFIG);
    assert_int_equal(err.line, line);
    assert_int_equal(err.column, column);
    assert_string_equal(err.file, "test.yaml");
    char prefix[64];
    snprintf(prefix, sizeof prefix, "test.yaml:%ld:%ld: ", line, column);
    assert_memory_equal(err.msg, prefix, strlen(prefix));
    assert_non_null(strstr(err.msg, mention));
    assert_ptr_equal(cfg, sentinel);
}

static void test_valid(void **state)
{
    (void)state;
    dt_config *cfg = parse_ok(VALID);
    assert_int_equal(cfg->mode, CFG_MODE_LINK);
    assert_string_equal(cfg->path, "test.yaml");
    assert_string_equal(cfg->dir, "/base");

    assert_int_equal(cfg->n_fields, 6);
    assert_string_equal(cfg->fields[0].name, "given");
    assert_int_equal(cfg->fields[0].type, CFG_T_GIVEN_NAME);
    assert_int_equal(cfg->fields[1].type, CFG_T_MIDDLE_NAME);
    assert_int_equal(cfg->fields[3].type, CFG_T_DATE);
    assert_int_equal(cfg->fields[5].type, CFG_T_POSTCODE);
    assert_int_equal(cfg->fields[3].line, 6);
    assert_int_equal(cfg->fields[3].column, 3);
    assert_int_equal(cfg_field_index(cfg, "zip"), 5);
    assert_int_equal(cfg_field_index(cfg, "nope"), -1);

    assert_int_equal(cfg->n_sources, 2);
    const cfg_source *s = &cfg->sources[0];
    assert_string_equal(s->name, "voters");
    assert_string_equal(s->path, "/base/data/voters.csv"); /* relative to the config */
    assert_string_equal(s->id_column, "voter_id");
    assert_int_equal(s->delimiter, '\t');
    assert_int_equal(s->trim, 1);
    assert_null(s->full_name_column);
    assert_int_equal(s->n_maps, 5);
    assert_int_equal(s->maps[0].i_field, 0);
    assert_string_equal(s->maps[0].column, "first");
    assert_null(s->maps[0].date_format);
    assert_int_equal(s->maps[2].i_field, 3);
    assert_string_equal(s->maps[2].column, "birth");
    assert_string_equal(s->maps[2].date_format, "MM/DD/YYYY");
    assert_int_equal(s->maps[3].min_len, 9);
    assert_int_equal(s->maps[3].max_len, 9);
    assert_int_equal(s->maps[3].ssn, 1);
    assert_int_equal(s->maps[4].postcode_len, 5);
    s = &cfg->sources[1];
    assert_string_equal(s->path, "/abs/deaths.csv"); /* absolute stays */
    assert_int_equal(s->delimiter, ',');
    assert_int_equal(s->trim, 0);
    assert_string_equal(s->full_name_column, "name");
    assert_int_equal(s->full_name_order, CFG_ORDER_LAST_COMMA_FIRST);
    assert_int_equal(s->line, 21);
    assert_int_equal(s->column, 5);

    assert_int_equal(cfg->max_block_pairs, 1000);
    assert_int_equal(cfg->n_rules, 3);
    const cfg_rule *r = &cfg->rules[0];
    assert_int_equal(r->n_keys, 2);
    assert_int_equal(r->keys[0].fn, CFG_K_SOUNDEX);
    assert_int_equal(r->keys[0].i_field, 2);
    assert_int_equal(r->keys[1].fn, CFG_K_YEAR);
    assert_int_equal(r->keys[1].i_field, 3);
    assert_string_equal(r->name, "[soundex(surname), year(dob)]");
    r = &cfg->rules[1]; /* one string, two keys: the comma inside () does not split */
    assert_int_equal(r->n_keys, 2);
    assert_int_equal(r->keys[0].fn, CFG_K_SUBSTR);
    assert_int_equal(r->keys[0].i_field, 0);
    assert_int_equal(r->keys[0].arg1, 1);
    assert_int_equal(r->keys[0].arg2, 2);
    assert_int_equal(r->keys[1].fn, CFG_K_VALUE);
    assert_int_equal(r->keys[1].i_field, 2);
    assert_string_equal(r->name, "[substr(given,1,2), surname]");
    assert_int_equal(r->line, 30);
    assert_int_equal(cfg->rules[2].n_keys, 1);
    assert_string_equal(cfg->rules[2].name, "[ssn]");

    assert_int_equal(cfg->n_comparisons, 3);
    const cfg_comparison *c = &cfg->comparisons[0];
    assert_string_equal(c->name, "given"); /* defaults to the field */
    assert_int_equal(c->tf, 1);
    assert_int_equal(c->n_levels, 4);
    assert_int_equal(c->levels[0].kind, CFG_L_EXACT);
    assert_int_equal(c->levels[1].kind, CFG_L_NICKNAME);
    assert_int_equal(c->levels[2].kind, CFG_L_JARO_WINKLER);
    assert_true(c->levels[2].threshold == 0.92);
    assert_string_equal(c->levels[2].label, "jaro_winkler>=0.92");
    assert_int_equal(c->levels[3].kind, CFG_L_INITIAL);
    assert_string_equal(c->levels[3].label, "initial");
    c = &cfg->comparisons[1];
    assert_string_equal(c->name, "family");
    assert_int_equal(c->i_field, 2);
    assert_int_equal(c->tf, 0);
    assert_int_equal(c->levels[1].kind, CFG_L_TOKEN_OVERLAP);
    assert_int_equal(c->levels[1].n_with, 1);
    assert_int_equal(c->levels[1].with[0], 1);
    assert_int_equal(c->levels[2].kind, CFG_L_SWAPPED);
    assert_int_equal(c->levels[2].with[0], 0);
    assert_string_equal(c->levels[2].label, "swapped:given");
    assert_string_equal(c->levels[3].label, "damerau_levenshtein<=1");
    c = &cfg->comparisons[2];
    assert_int_equal(c->n_levels, 5);
    assert_int_equal(c->levels[2].kind, CFG_L_DATE_YEAR_OFF);
    assert_true(c->levels[2].threshold == 1); /* default */
    assert_string_equal(c->levels[2].label, "year_off_by<=1");
    assert_true(c->levels[3].threshold == 30);
    assert_int_equal(c->levels[4].kind, CFG_L_DATE_PARTIAL);

    assert_int_equal(cfg->seed, 7);
    assert_int_equal(cfg->n_training_rules, 2);
    assert_int_equal(cfg->training_rules[0], 0); /* 1-based in YAML */
    assert_int_equal(cfg->training_rules[1], 2);
    /* Defaults. */
    assert_int_equal(cfg->u_sample_pairs, 1000000);
    assert_int_equal(cfg->em_sample_pairs, 0); /* every candidate */
    assert_int_equal(cfg->em_max_iterations, 50);
    assert_true(cfg->link_threshold == 0.5);
    assert_true(cfg->review_threshold == 0.1);
    assert_int_equal(cfg->one_to_one, 0);
    assert_true(cfg->weak_link == 0.9);
    assert_int_equal(cfg->weak_join_size, 3);
    assert_non_null(strstr(cfg->nicknames_path, "nicknames.tsv"));
    assert_null(cfg->truth_pattern);
    assert_null(cfg->truth_file);
    dt_config_free(cfg);

    /* Two sources and no mode: link_and_dedupe, marked as the default (the
     * run says so on its log); a mode written is not. */
    assert_non_null(strstr(VALID, "mode: link\n"));
    dt_config *two = parse_ok(VALID + strlen("mode: link\n"));
    assert_int_equal(two->n_sources, 2);
    assert_int_equal(two->mode, CFG_MODE_LINK_AND_DEDUPE);
    assert_int_equal(two->is_mode_default, 1);
    dt_config_free(two);
    two = parse_ok(VALID);
    assert_int_equal(two->mode, CFG_MODE_LINK);
    assert_int_equal(two->is_mode_default, 0);
    dt_config_free(two);

    /* One source: dedupe by default. The hash follows the bytes. */
    dt_config *a = parse_ok(MINIMAL);
    assert_int_equal(a->mode, CFG_MODE_DEDUPE);
    assert_int_equal(a->is_mode_default, 1);
    assert_int_equal(a->max_block_pairs, 5000000);
    assert_int_equal(a->seed, 42);
    dt_config *b = parse_ok(edit(15, "    levels: [exact]  # same config, other bytes\n"));
    assert_true(a->hash != b->hash);
    dt_config_free(b);
    b = parse_ok(MINIMAL);
    assert_true(a->hash == b->hash);
    dt_config_free(b);
    dt_config_free(a);

    dt_config_free(NULL); /* no-op */
}

static void test_options(void **state)
{
    (void)state;
    dt_config *cfg = parse_ok(edit(0, "thresholds: {link: 0.9, review: 0.9}\n"
                                      "cluster: {one_to_one: true, weak_link: 0.8, "
                                      "weak_join_size: 5}\n"
                                      "truth: {id_pattern: '^rec-([0-9]+)'}\n"
                                      "nicknames: nick.tsv\n"
                                      "model: {em_tolerance: 0.001, tf_min_u: 0.01, "
                                      "em_sample_pairs: 5000000}\n"));
    assert_true(cfg->link_threshold == 0.9);
    assert_true(cfg->review_threshold == 0.9); /* equal is allowed */
    assert_int_equal(cfg->one_to_one, 1);
    assert_true(cfg->weak_link == 0.8);
    assert_int_equal(cfg->weak_join_size, 5);
    assert_string_equal(cfg->truth_pattern, "^rec-([0-9]+)");
    assert_string_equal(cfg->nicknames_path, "/base/nick.tsv");
    assert_true(cfg->em_tolerance == 0.001);
    assert_int_equal(cfg->em_sample_pairs, 5000000);
    assert_true(cfg->tf_min_u == 0.01);
    dt_config_free(cfg);
}

/* A field may be mapped to a list of columns (fallbacks, in order), and
 * identifiers may keep only their last digits. */
static void test_fallback_columns(void **state)
{
    (void)state;
    static const char yaml[] =
        "fields: {dob: date, ssn: identifier}\n"
        "sources:\n"
        "  - name: v\n"
        "    path: v.csv\n"
        "    id: id\n"
        "    columns:\n"
        "      dob: [{column: bd, format: YYYY-MM-DD}, {column: by, format: YYYY}]\n"
        "      ssn: {column: s, last_digits: 4}\n"
        "blocking: {rules: [\"suffix(ssn,4), year(dob)\"]}\n"
        "comparisons: [{field: ssn, levels: [exact, suffix]}]\n"
        "cluster: {exclusive: [ssn]}\n";
    dt_config *cfg = NULL;
    dt_error err;
    assert_int_equal(cfg_parse(yaml, strlen(yaml), "test.yaml", "/base", &cfg, &err), DT_OK);
    const cfg_source *s = &cfg->sources[0];
    assert_int_equal(s->n_maps, 3);
    assert_string_equal(s->maps[0].column, "bd");
    assert_string_equal(s->maps[1].column, "by");
    assert_string_equal(s->maps[1].date_format, "YYYY");
    assert_int_equal(s->maps[0].i_field, s->maps[1].i_field);
    assert_int_equal(s->maps[2].last_digits, 4);
    assert_int_equal(cfg->rules[0].keys[0].fn, CFG_K_SUFFIX);
    assert_int_equal(cfg->rules[0].keys[0].arg1, 4);
    assert_string_equal(cfg->rules[0].name, "[suffix(ssn,4), year(dob)]");
    assert_int_equal(cfg->comparisons[0].levels[1].kind, CFG_L_SUFFIX);
    assert_int_equal(cfg->n_exclusive, 1);
    assert_int_equal(cfg->exclusive[0], 0);
    dt_config_free(cfg);
}

/* model: context (a list, a map to a level and the stronger ones, or to a
 * list of levels) and cluster: cannot_link, whose levels may name "else". */
static void test_context_and_cannot_link(void **state)
{
    (void)state;
    static const char base[] =
        "fields: {given: given_name, surname: surname, ssn: identifier}\n"
        "sources: [{name: a, path: a.csv, id: id, columns: {given: g, surname: s, ssn: n}}]\n"
        "blocking: {rules: [[surname]]}\n"
        "comparisons:\n"
        "  - {field: given, levels: [exact, nickname, {jaro_winkler: 0.8}]}\n"
        "  - {field: surname, levels: [exact, {jaro_winkler: 0.9}]}\n"
        "  - {field: ssn, levels: [exact, {damerau_levenshtein: 1}]}\n";
    char *yaml = dt_asprintf("%smodel: {contexts: [{name: near, when: {surname: "
                             "'jaro_winkler>=0.9', ssn: ['damerau_levenshtein<=1']}, require: "
                             "[ssn]}, {when: {surname: exact}}]}\ncluster: {cannot_link: [{ssn: "
                             "'damerau_levenshtein<=1', given: [else, 'jaro_winkler>=0.8']}]}\n",
                             base);
    dt_config *cfg = NULL;
    dt_error err;
    assert_int_equal(cfg_parse(yaml, strlen(yaml), "test.yaml", "/base", &cfg, &err), DT_OK);
    assert_int_equal(cfg->n_contexts, 2);
    assert_string_equal(cfg->contexts[0].name, "near");
    assert_string_equal(cfg->contexts[1].name, "context 2");
    assert_int_equal(cfg->contexts[0].mask, 0x6);
    assert_int_equal(cfg->contexts[0].require, 0x4);
    assert_int_equal(cfg->contexts[0].levels[1], (1u << 1) | (1u << 2));
    assert_int_equal(cfg->contexts[0].levels[2], 1u << 2);
    assert_int_equal(cfg->contexts[1].levels[1], 1u << 1);
    assert_int_equal(cfg->n_cannot_links, 1);
    assert_int_equal(cfg->cannot_links[0].mask, 0x5);
    assert_int_equal(cfg->cannot_links[0].levels[0], (1u << 4) | (1u << 3)); /* else is 4 */
    assert_int_equal(cfg->cannot_links[0].levels[2], 1u << 2);
    dt_config_free(cfg);
    dt_free(yaml);

    static const struct { const char *tail, *mention; } bad[] = {
        {"model: {contexts: [{when: {nobody: exact}}]}\n", "unknown comparison 'nobody'"},
        {"model: {contexts: [{when: {ssn: fuzzy}}]}\n", "no level 'fuzzy'"},
        {"model: {contexts: [{when: {ssn: else}}]}\n", "may not take in 'ssn' at 'else'"},
        {"model: {contexts: [{when: {given: exact, surname: exact, ssn: exact}}]}\n",
         "leave at least one out"},
        {"model: {contexts: [{name: a, when: {ssn: exact}}, {name: a, when: {ssn: exact}}]}\n",
         "named twice"},
        {"model: {contexts: [{require: [ssn]}]}\n", "needs when:"},
        {"model: {contexts: [{when: {ssn: exact}, require: [nobody]}]}\n", "'nobody'"},
        {"cluster: {cannot_link: [{ssn: [fuzzy]}]}\n", "no level 'fuzzy'"},
        {"cluster: {cannot_link: [{}]}\n", "at least one comparison"},
        {"cluster: {cannot_link: [ssn]}\n", "cannot_link rule"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        yaml = dt_asprintf("%s%s", base, bad[i].tail);
        dt_error_clear(&err);
        cfg = NULL;
        assert_int_equal(cfg_parse(yaml, strlen(yaml), "test.yaml", "/base", &cfg, &err),
                         DT_ECONFIG);
        if (!strstr(err.msg, bad[i].mention)) fprintf(stderr, "%s\n", err.msg);
        assert_non_null(strstr(err.msg, bad[i].mention));
        assert_int_equal(err.line, 8);
        dt_free(yaml);
    }
}

static void test_load_example(void **state)
{
    (void)state;
    dt_config *cfg = NULL;
    dt_error err;
    int rc = dt_config_load(DT_SRC_ROOT "/examples/febrl4.yaml", &cfg, &err);
    if (rc != DT_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, DT_OK);
    assert_int_equal(cfg->mode, CFG_MODE_LINK);
    assert_int_equal(cfg->n_sources, 2);
    assert_string_equal(cfg->sources[0].path,
                        DT_SRC_ROOT "/examples/../../shared/data/febrl/dataset4a.csv");
    assert_int_equal(cfg->sources[1].n_maps, 10); /* the YAML alias *febrl_columns */
    assert_int_equal(cfg->n_rules, 6);
    assert_string_equal(cfg->rules[4].name, "[substr(given,1,2), substr(surname,1,2)]");
    assert_int_equal(cfg->n_comparisons, 10);
    assert_int_equal(cfg->one_to_one, 1);
    assert_string_equal(cfg->truth_pattern, "^rec-([0-9]+)-");
    dt_config_free(cfg);

    cfg = (dt_config *)&cfg;
    assert_int_equal(dt_config_load("/nonexistent/dt.yaml", &cfg, &err), DT_EIO);
    assert_ptr_equal(cfg, (dt_config *)&cfg);
    assert_int_equal(dt_config_load(NULL, &cfg, &err), DT_EINVAL);
}

static void test_error_unknown_keys(void **state)
{
    (void)state;
    expect_error(edit(0, "colour: red\n"), 16, 1, "'colour'");
    /* The message lists what is allowed. */
    expect_error(edit(0, "colour: red\n"), 16, 1, "comparisons");
    expect_error(edit(8, "    id: id\n    delimter: ';'\n"), 9, 5, "'delimter'");
    expect_error(edit(14, "  - field: given\n    weight: 2\n"), 15, 5, "'weight'");
    expect_error(edit(9, "    columns: {given: fn, surname: {column: ln, fmt: x}}\n"), 9, 48,
                 "'fmt'");
    expect_error(edit(0, "model: {seed: 1, seed: 2}\n"), 16, 18, "'seed' appears twice");
    expect_error(edit(0, "model: {em_sample_pairs: 10}\n"), 16, 26, "em_sample_pairs");
}

static void test_error_fields(void **state)
{
    (void)state;
    expect_error(edit(4, "  dob: datum\n"), 4, 8, "'datum'");
    expect_error(edit(3, "  given: surname\n"), 3, 3, "'given' is declared twice");
    /* A column mapping for a field that is not declared. */
    expect_error(edit(9, "    columns: {given: fn, surnam: ln}\n"), 9, 26, "'surnam'");
    /* The same field mapped twice in one source. */
    expect_error(edit(9, "    columns: {given: fn, surname: ln, given: other}\n"), 9, 39,
                 "'given' is mapped twice");
    expect_error(edit(9, "    columns: {given: fn, dob: {column: born, format: DDMMYY}}\n"),
                 9, 54, "must contain YYYY");
    expect_error(edit(9, "    columns: {given: {column: fn, format: YYYY}}\n"), 9, 43,
                 "format: applies to date fields only");
}

static void test_error_levels(void **state)
{
    (void)state;
    expect_error(edit(15, "    levels: [exact, fuzzy]\n"), 15, 21, "'fuzzy'");
    expect_error(edit(15, "    levels: [exact, swap_day_month]\n"), 15, 21,
                 "'swap_day_month' does not apply to given_name field 'given'");
    expect_error(edit(15, "    levels: [exact, jaro_winkler]\n"), 15, 21,
                 "'jaro_winkler' needs a value");
    expect_error(edit(15, "    levels: [exact, {jaro_winkler: 1.5}]\n"), 15, 36, "jaro_winkler");
    expect_error(edit(15, "    levels: [exact, {jaro_winkler: high}]\n"), 15, 36, "'high'");
    expect_error(edit(15, "    levels: [{exact: 1}]\n"), 15, 22, "'exact' takes no value");
    expect_error(edit(15, "    levels: [exact, {swapped: nobody}]\n"), 15, 31, "'nobody'");
    expect_error(edit(15, "    levels: []\n"), 15, 13, "at least one level");
    expect_error(edit(15, "    tf: true\n    levels: [{jaro_winkler: 0.9}, exact]\n"), 14, 5,
                 "tf: true needs 'exact'");
    expect_error(edit(15, "    m_by_value: given\n    levels: [exact]\n"), 15, 17,
                 "names its own field");
    expect_error(edit(15, "    m_by_value: surnam\n    levels: [exact]\n"), 15, 17, "'surnam'");
    /* m conditioned on the surname; without the key, on nothing */
    dt_config *cfg = parse_ok(edit(15, "    m_by_value: surname\n    levels: [exact]\n"));
    assert_int_equal(cfg->comparisons[0].m_by_field, cfg_field_index(cfg, "surname"));
    dt_config_free(cfg);
    cfg = parse_ok(MINIMAL);
    assert_int_equal(cfg->comparisons[0].m_by_field, -1);
    dt_config_free(cfg);
}

/* findings: (README, "Findings"): what the rules read, named by source
 * and field, each checked where it is written. */
static void test_findings_section(void **state)
{
    (void)state;
    dt_config *cfg = parse_ok(edit(0, "findings:\n"
                                      "  death: {source: a, date: dob}\n"
                                      "  review_below: 0.8\n"
                                      "  events:\n"
                                      "    - {name: pay, path: p.csv, id: pid, of: a, key: aid,\n"
                                      "       date: {column: on, format: YYYYMMDD}, amount: amt,\n"
                                      "       payment: true}\n"));
    const cfg_findings *f = &cfg->findings;
    assert_true(f->is_set);
    assert_int_equal(f->death_source, 0);
    assert_int_equal(f->death_field, cfg_field_index(cfg, "dob"));
    assert_int_equal(f->enroll_source, -1);
    assert_int_equal(f->contest_days, 30);
    assert_true(f->review_below == 0.8);
    assert_int_equal(f->n_events, 1);
    assert_string_equal(f->events[0].path, "/base/p.csv");
    assert_string_equal(f->events[0].date_format, "YYYYMMDD");
    assert_true(f->events[0].is_payment);
    dt_config_free(cfg);
    cfg = parse_ok(MINIMAL);
    assert_false(cfg->findings.is_set);
    assert_int_equal(cfg->findings.death_source, -1);
    dt_config_free(cfg);
    expect_error(edit(0, "findings:\n  death: {source: b, date: dob}\n"), 17, 19,
                 "unknown source 'b'");
    expect_error(edit(0, "findings:\n  death: {source: a, date: given}\n"), 17, 28,
                 "must be of type date");
    expect_error(edit(0, "findings:\n  identifier: {field: dob}\n"), 17, 23,
                 "must be of type identifier");
    expect_error(edit(0, "findings:\n  review_below: 2\n"), 17, 17, "review_below");
    expect_error(edit(0, "findings:\n  events:\n    - {name: p, path: p.csv, id: i, of: a}\n"),
                 18, 7, "needs key:");
    expect_error(edit(0, "findings:\n  events:\n    - {name: a, path: p.csv, id: i, of: a, "
                         "key: k, date: d}\n"),
                 18, 14, "a person source's name");
    expect_error(edit(0, "findings:\n  deaths: {source: a, date: dob}\n"), 17, 3, "deaths");
}

static void test_error_blocking(void **state)
{
    (void)state;
    expect_error(edit(12, "    - [surnam]\n"), 12, 8, "'surnam'");
    expect_error(edit(12, "    - \"substr(given,1,2), surnme\"\n"), 12, 7, "'surnme'");
    expect_error(edit(12, "    - [year(given)]\n"), 12, 8, "needs a date field");
    expect_error(edit(12, "    - [metaphone(given)]\n"), 12, 8, "'metaphone'");
    expect_error(edit(12, "    - [substr(given,0,2)]\n"), 12, 8, "substr");
    /* Unquoted in a flow list, the commas split the key: a hint says so. */
    expect_error(edit(12, "    - [substr(given, 1, 2)]\n"), 12, 8, "quote");
    expect_error(edit(12, "    - []\n"), 12, 7, "at least one key");
}

static void test_error_thresholds(void **state)
{
    (void)state;
    /* Reported at the review value. */
    expect_error(edit(0, "thresholds:\n  link: 0.4\n  review: 0.6\n"), 18, 11,
                 "review (0.6) must not exceed link (0.4)");
    expect_error(edit(0, "thresholds: {review: 0.7}\n"), 16, 22, "must not exceed link (0.5)");
    expect_error(edit(0, "thresholds: {link: 2}\n"), 16, 20, "link must be in [0, 1]");
    expect_error(edit(0, "cluster: {exclusive: [nope]}\n"), 16, 23, "unknown comparison 'nope'");
    expect_error(edit(0, "model: {training_rules: [2]}\n"), 16, 26, "training_rules");
}

static void test_error_structure(void **state)
{
    (void)state;
    /* YAML syntax: a flow list never closed. */
    expect_error(edit(15, "    levels: [exact\n"), 16, 1, "YAML syntax");
    /* Bad indentation. */
    expect_error(edit(3, "   surname: surname\n"), 3, 11, "YAML syntax");
    /* mode link needs two sources: reported at the document's root. */
    expect_error(edit(0, "mode: link\n"), 1, 1, "mode link needs at least two sources");
    expect_error(edit(0, "mode: merge\n"), 16, 7, "'merge'");
    expect_error(edit(13, "compares:\n"), 13, 1, "'compares'");
    expect_error("", 1, 1, "empty");
    expect_error("- a\n- b\n", 1, 1, "must be a mapping");
    expect_error(edit(6, "  - name: a\n    trim: maybe\n"), 7, 11, "'maybe'");
    expect_error(edit(6, "  - name: 'a:b'\n"), 6, 11, "must not contain");
    expect_error(edit(9, "    columns: {given: fn}\n  - name: a\n    path: b.csv\n    id: id\n"
                         "    columns: {given: fn}\n"),
                 10, 11, "'a' is used twice");
    expect_error(edit(8, ""), 6, 5, "needs id:");
}

/* "x: " and a value nested `depth` lists deep, appended to MINIMAL. */
static const char *nested(int depth)
{
    static char text[1 << 18];
    size_t n = (size_t)snprintf(text, sizeof text, "%sx: ", MINIMAL);
    assert_true(n + 2 * (size_t)depth + 2 < sizeof text);
    memset(text + n, '[', (size_t)depth);
    memset(text + n + (size_t)depth, ']', (size_t)depth);
    text[n + 2 * (size_t)depth] = '\n';
    text[n + 2 * (size_t)depth + 1] = '\0';
    return text;
}

/* Nesting is refused where it passes the cap, before the document is
 * built: 100,000 levels took 45 s to reject. With the root mapping, 63
 * lists are 64 levels (then 'x' is an unknown key); 64 lists are one too
 * many, refused at the 64th '['. */
static void test_error_nesting(void **state)
{
    (void)state;
    expect_error(nested(63), 16, 1, "unknown key 'x'");
    expect_error(nested(64), 16, 4 + 63, "nested more than 64 levels deep");
    expect_error(nested(100000), 16, 4 + 63, "nested more than 64 levels deep");
    /* block style, key under key: the same count */
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "%s", MINIMAL);
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%*sk%d:\n", i, "", i);
    snprintf(text + n, sizeof text - n, "%*sv\n", 70, "");
    expect_error(text, 16 + 64, 65, "nested more than 64 levels deep"); /* at k64 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_fallback_columns),
        cmocka_unit_test(test_load_example),
        cmocka_unit_test(test_context_and_cannot_link),
        cmocka_unit_test(test_error_unknown_keys),
        cmocka_unit_test(test_error_fields),
        cmocka_unit_test(test_error_levels),
        cmocka_unit_test(test_findings_section),
        cmocka_unit_test(test_error_blocking),
        cmocka_unit_test(test_error_thresholds),
        cmocka_unit_test(test_error_structure),
        cmocka_unit_test(test_error_nesting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
