/*
 * config.c — loads the YAML linkage configuration (libyaml's document API)
 * into struct dt_config, checking the whole schema as it goes. Every error
 * names file:line:column of the offending node; unknown keys are errors, so
 * a misspelt option never silently falls back to a default.
 *
 * The schema is documented for users in README.md ("Configuration
 * reference"); keep both in step.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "io/config.h"
#include "io/yaml.h"

const char *const cfg_type_names[CFG_N_TYPES] = {
    "given_name", "middle_name", "surname", "date",   "identifier",
    "postcode",   "address",     "phone",   "sex",    "text",
};

const char *const cfg_key_fn_names[CFG_N_KEY_FNS] = {
    "value", "soundex", "nysiis", "substr", "year", "month",
    "day",   "first_token", "last_token", "initial", "nickname", "suffix", "date",
};

const char *const cfg_level_names[CFG_N_LEVEL_KINDS] = {
    "exact",        "nickname",        "jaro_winkler",   "jaro",
    "levenshtein",  "damerau_levenshtein", "initial",    "token_overlap",
    "swapped",      "soundex",         "nysiis",         "swap_day_month",
    "year_off_by",  "same_year_month", "same_year",      "within_days",
    "partial_date", "within",          "suffix",
};

static int y_path(ycx *y, const yaml_node_t *n, const char *what, char **out)
{
    char *raw = NULL;
    DT_TRY(y_strdup(y, n, what, &raw));
    char *full = util_path_join(y->base_dir, raw);
    dt_free(raw);
    if (!full) return dt_err_set(y->err, DT_ENOMEM, "out of memory");
    dt_free(*out);
    *out = full;
    return DT_OK;
}

static int y_field_ref(ycx *y, const dt_config *cfg, const yaml_node_t *n, const char *what,
                       int *out)
{
    DT_TRY(y_expect(y, n, YAML_SCALAR_NODE, what));
    int i = cfg_field_index(cfg, y_str(n));
    if (i < 0) return y_err(y, n, "%s names unknown field '%s' (declare it under fields:)", what,
                            y_str(n));
    *out = i;
    return DT_OK;
}

int cfg_levels_forbid_link(const dt_config *cfg, const uint8_t *g)
{
    for (size_t k = 0; k < cfg->n_exclusive; k++) {
        int c = cfg->exclusive[k];
        if (g[c] == cfg->comparisons[c].n_levels + 1) return 1;
    }
    for (size_t k = 0; k < cfg->n_cannot_links; k++) {
        const cfg_cannot_link *r = &cfg->cannot_links[k];
        int holds = 1;
        for (size_t c = 0; holds && c < cfg->n_comparisons && c < 64; c++)
            if ((r->mask >> c) & 1) holds = (r->levels[c] >> g[c]) & 1;
        if (holds) return 1;
    }
    return 0;
}

int cfg_field_index(const dt_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_fields; i++)
        if (strcmp(cfg->fields[i].name, name) == 0) return (int)i;
    return -1;
}

int cfg_source_index(const dt_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_sources; i++)
        if (strcmp(cfg->sources[i].name, name) == 0) return (int)i;
    return -1;
}

/* Column k of s: 0 the id, 1..n_maps the mapped ones, n_maps + 1 the full
 * name (NULL when there is none). */
static const char *source_column(const cfg_source *s, size_t k)
{
    return k == 0 ? s->id_column : k <= s->n_maps ? s->maps[k - 1].column : s->full_name_column;
}

int cfg_column_index(const cfg_source *s, const char *column)
{
    for (size_t k = 0; k < s->n_maps + 2; k++) {
        const char *c = source_column(s, k);
        if (c && strcmp(c, column) == 0) return (int)k;
    }
    return -1;
}

void cfg_columns_text(const cfg_source *s, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t k = 0; k < s->n_maps + 2 && n < cap; k++) {
        const char *c = source_column(s, k);
        if (!c || cfg_column_index(s, c) != (int)k) continue; /* none, or named before */
        int w = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", c);
        if (w > 0) n += (size_t)w;
    }
}

static void set_pos(long *line, long *column, const yaml_node_t *n)
{
    *line = (long)n->start_mark.line + 1;
    *column = (long)n->start_mark.column + 1;
}

/* ---- fields -------------------------------------------------------- */

static int parse_fields(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "fields"));
    size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (count == 0) return y_err(y, n, "fields must declare at least one field");
    cfg->fields = dt_calloc(count, sizeof *cfg->fields);
    if (!cfg->fields) return dt_err_set(y->err, DT_ENOMEM, "out of memory");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = y_node(y, p->key), *v = y_node(y, p->value);
        DT_TRY(y_expect(y, k, YAML_SCALAR_NODE, "a field name"));
        if (cfg_field_index(cfg, y_str(k)) >= 0)
            return y_err(y, k, "field '%s' is declared twice", y_str(k));
        DT_TRY(y_expect(y, v, YAML_SCALAR_NODE, "a field type"));
        int type = -1;
        for (int t = 0; t < CFG_N_TYPES; t++)
            if (strcmp(cfg_type_names[t], y_str(v)) == 0) type = t;
        if (type < 0)
            return y_err(y, v,
                         "unknown field type '%s' (expected given_name, middle_name, surname, "
                         "date, identifier, postcode, address, phone, sex or text)",
                         y_str(v));
        cfg_field *f = &cfg->fields[cfg->n_fields];
        DT_TRY(y_strdup(y, k, "a field name", &f->name));
        f->type = (cfg_field_type)type;
        set_pos(&f->line, &f->column, k);
        cfg->n_fields++;
    }
    return DT_OK;
}

/* ---- sources ------------------------------------------------------- */

static int parse_mapping(ycx *y, dt_config *cfg, cfg_mapping *m, const yaml_node_t *k,
                         const yaml_node_t *v)
{
    static const char *const keys[] = {"column", "format", "min_length", "max_length",
                                       "ssn", "length", "last_digits", NULL};
    DT_TRY(y_field_ref(y, cfg, k, "a column mapping", &m->i_field));
    set_pos(&m->line, &m->col, v);
    if (v->type == YAML_SCALAR_NODE) return y_strdup(y, v, "a column name", &m->column);
    DT_TRY(y_expect(y, v, YAML_MAPPING_NODE, "a column mapping"));
    DT_TRY(y_check_keys(y, v, "a column mapping", keys));
    const yaml_node_t *c = y_get(y, v, "column");
    if (!c) return y_err(y, v, "column mapping for '%s' needs column:", y_str(k));
    DT_TRY(y_strdup(y, c, "column", &m->column));
    cfg_field_type type = cfg->fields[m->i_field].type;
    const yaml_node_t *x;
    if ((x = y_get(y, v, "format"))) {
        if (type != CFG_T_DATE) return y_err(y, x, "format: applies to date fields only");
        DT_TRY(y_strdup(y, x, "format", &m->date_format));
        const char *f = m->date_format;
        if (!strstr(f, "YYYY"))
            return y_err(y, x, "date format '%s' must contain YYYY (e.g. YYYYMMDD, "
                               "MM/DD/YYYY, YYYY-MM-DD, YYYY)", f);
    }
    if ((x = y_get(y, v, "min_length"))) DT_TRY(y_int(y, x, "min_length", 1, 64, &m->min_len));
    if ((x = y_get(y, v, "max_length"))) DT_TRY(y_int(y, x, "max_length", 1, 64, &m->max_len));
    if ((x = y_get(y, v, "ssn"))) DT_TRY(y_bool(y, x, "ssn", &m->ssn));
    if ((x = y_get(y, v, "last_digits")))
        DT_TRY(y_int(y, x, "last_digits", 1, 32, &m->last_digits));
    if ((x = y_get(y, v, "length"))) {
        if (type != CFG_T_POSTCODE) return y_err(y, x, "length: applies to postcode fields only");
        DT_TRY(y_int(y, x, "length", 1, 16, &m->postcode_len));
    }
    if ((m->min_len || m->max_len || m->ssn || m->last_digits) && type != CFG_T_IDENTIFIER)
        return y_err(y, v, "min_length, max_length, ssn and last_digits apply to identifier "
                           "fields only");
    return DT_OK;
}

static int parse_full_name(ycx *y, cfg_source *s, const yaml_node_t *n)
{
    static const char *const keys[] = {"column", "order", NULL};
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "full_name"));
    DT_TRY(y_check_keys(y, n, "full_name", keys));
    const yaml_node_t *c = y_get(y, n, "column"), *o = y_get(y, n, "order");
    if (!c) return y_err(y, n, "full_name needs column:");
    DT_TRY(y_strdup(y, c, "full_name column", &s->full_name_column));
    if (o) {
        DT_TRY(y_expect(y, o, YAML_SCALAR_NODE, "order"));
        if (!strcmp(y_str(o), "first last")) s->full_name_order = CFG_ORDER_FIRST_LAST;
        else if (!strcmp(y_str(o), "last, first")) s->full_name_order = CFG_ORDER_LAST_COMMA_FIRST;
        else return y_err(y, o, "order must be 'first last' or 'last, first', found '%s'",
                          y_str(o));
    }
    return DT_OK;
}

/* A CSV delimiter: one character (not a quote or a line end), or "tab". */
static int parse_delimiter(ycx *y, const yaml_node_t *x, char *out)
{
    DT_TRY(y_expect(y, x, YAML_SCALAR_NODE, "delimiter"));
    const char *d = y_str(x);
    if (!strcmp(d, "\\t") || !strcmp(d, "tab")) *out = '\t';
    else if (strlen(d) == 1 && d[0] != '"' && d[0] != '\n' && d[0] != '\r') *out = d[0];
    else return y_err(y, x, "delimiter must be one character (or 'tab'), found '%s'", d);
    return DT_OK;
}

static int parse_source(ycx *y, dt_config *cfg, cfg_source *s, const yaml_node_t *n)
{
    static const char *const keys[] = {"name", "path", "id", "delimiter", "trim",
                                       "columns", "full_name", NULL};
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "a source"));
    DT_TRY(y_check_keys(y, n, "a source", keys));
    set_pos(&s->line, &s->column, n);
    s->delimiter = ',';
    const yaml_node_t *x;
    if (!(x = y_get(y, n, "name"))) return y_err(y, n, "a source needs name:");
    DT_TRY(y_strdup(y, x, "source name", &s->name));
    for (const char *c = s->name; *c; c++)
        if (*c == ':' || *c == ',' || *c == '"' || *c == '\n')
            return y_err(y, x, "source name '%s' must not contain ':', ',', '\"' or a newline",
                         s->name);
    for (size_t i = 0; i < cfg->n_sources; i++)
        if (strcmp(cfg->sources[i].name, s->name) == 0)
            return y_err(y, x, "source name '%s' is used twice", s->name);
    if (!(x = y_get(y, n, "path"))) return y_err(y, n, "source '%s' needs path:", s->name);
    DT_TRY(y_path(y, x, "path", &s->path));
    if (!(x = y_get(y, n, "id"))) return y_err(y, n, "source '%s' needs id: (its id column)",
                                                s->name);
    DT_TRY(y_strdup(y, x, "id", &s->id_column));
    if ((x = y_get(y, n, "delimiter"))) DT_TRY(parse_delimiter(y, x, &s->delimiter));
    if ((x = y_get(y, n, "trim"))) DT_TRY(y_bool(y, x, "trim", &s->trim));
    if ((x = y_get(y, n, "full_name"))) DT_TRY(parse_full_name(y, s, x));
    if (!(x = y_get(y, n, "columns")))
        return y_err(y, n, "source '%s' needs columns: (field: column)", s->name);
    DT_TRY(y_expect(y, x, YAML_MAPPING_NODE, "columns"));
    size_t count = 0;
    for (yaml_node_pair_t *p = x->data.mapping.pairs.start; p < x->data.mapping.pairs.top; p++) {
        yaml_node_t *v = y_node(y, p->value);
        count += v->type == YAML_SEQUENCE_NODE
                     ? (size_t)(v->data.sequence.items.top - v->data.sequence.items.start)
                     : 1;
    }
    s->maps = dt_calloc(count ? count : 1, sizeof *s->maps);
    if (!s->maps) return dt_err_set(y->err, DT_ENOMEM, "out of memory");
    for (yaml_node_pair_t *p = x->data.mapping.pairs.start; p < x->data.mapping.pairs.top; p++) {
        yaml_node_t *k = y_node(y, p->key), *v = y_node(y, p->value);
        size_t first = s->n_maps;
        if (v->type == YAML_SEQUENCE_NODE) { /* fallbacks, in priority order */
            if (v->data.sequence.items.top == v->data.sequence.items.start)
                return y_err(y, v, "a list of columns must not be empty");
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++) {
                s->n_maps++; /* counted first so a failure frees what it holds */
                DT_TRY(parse_mapping(y, cfg, &s->maps[s->n_maps - 1], k, y_node(y, *it)));
            }
        } else {
            s->n_maps++;
            DT_TRY(parse_mapping(y, cfg, &s->maps[s->n_maps - 1], k, v));
        }
        for (size_t j = 0; j < first; j++)
            if (s->maps[j].i_field == s->maps[first].i_field)
                return y_err(y, k, "field '%s' is mapped twice in source '%s' (map it to a list "
                                   "of columns for fallbacks)",
                             cfg->fields[s->maps[first].i_field].name, s->name);
    }
    return DT_OK;
}

static int parse_sources(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    size_t count;
    DT_TRY(y_list(y, n, "sources", sizeof *cfg->sources, (void **)&cfg->sources, &count));
    if (count == 0) return y_err(y, n, "sources must list at least one source");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        int rc = parse_source(y, cfg, &cfg->sources[cfg->n_sources], y_node(y, *it));
        cfg->n_sources++; /* even when it failed: dt_config_free releases what it holds */
        DT_TRY(rc);
    }
    return DT_OK;
}

/* ---- blocking ------------------------------------------------------ */

/* Parses one key expression: field | fn(field) | substr(field, start, len). */
static int parse_key(ycx *y, const dt_config *cfg, const yaml_node_t *n, const char *s,
                     cfg_key *key)
{
    char fn[32] = "", field[128] = "";
    int a1 = 0, a2 = 0, used = 0;
    if (sscanf(s, " %31[a-z_] ( %127[A-Za-z0-9_] , %d , %d ) %n", fn, field, &a1, &a2, &used) >= 4
        && s[used] == '\0') {
        if (strcmp(fn, "substr") != 0)
            return y_err(y, n, "only substr() takes numbers, in '%s'", s);
        if (a1 < 1 || a2 < 1 || a1 > 64 || a2 > 64)
            return y_err(y, n, "substr(field, start, length) needs 1 <= start, length <= 64 "
                               "in '%s'", s);
        key->fn = CFG_K_SUBSTR;
    } else if (used = 0, sscanf(s, " %31[a-z_] ( %127[A-Za-z0-9_] , %d ) %n", fn, field, &a1,
                                &used) == 3 && used && s[used] == '\0') {
        if (strcmp(fn, "suffix") != 0)
            return y_err(y, n, "only suffix(field, length) takes one number, in '%s'", s);
        if (a1 < 1 || a1 > 64)
            return y_err(y, n, "suffix(field, length) needs 1 <= length <= 64 in '%s'", s);
        key->fn = CFG_K_SUFFIX;
    } else if (used = 0, sscanf(s, " %31[a-z_] ( %127[A-Za-z0-9_] ) %n", fn, field, &used) == 2
               && used && s[used] == '\0') {
        int found = -1;
        for (int i = 0; i < CFG_N_KEY_FNS; i++)
            if (strcmp(cfg_key_fn_names[i], fn) == 0) found = i;
        if (found < 0 || found == CFG_K_SUBSTR || found == CFG_K_VALUE || found == CFG_K_SUFFIX ||
            found == CFG_K_DATE)
            return y_err(y, n, "unknown key function '%s' in '%s' (expected soundex, nysiis, "
                               "year, month, day, first_token, last_token, initial, nickname, "
                               "substr(f, start, length) or suffix(f, length))", fn, s);
        key->fn = (cfg_key_fn)found;
    } else if (used = 0, sscanf(s, " %127[A-Za-z0-9_] %n", field, &used) == 1 && s[used] == '\0') {
        key->fn = CFG_K_VALUE;
    } else if (strchr(s, '(') && !strchr(s, ')')) {
        return y_err(y, n, "cannot read blocking key '%s': in a YAML [a, b] list commas split "
                           "items, so quote a key that has commas, e.g. \"substr(given,1,3)\", "
                           "or write the whole rule as one string", s);
    } else {
        return y_err(y, n, "cannot read blocking key '%s' (write field, fn(field) or "
                           "substr(field, start, length))", s);
    }
    key->i_field = cfg_field_index(cfg, field);
    if (key->i_field < 0) return y_err(y, n, "blocking key '%s' names unknown field '%s'", s, field);
    key->arg1 = a1;
    key->arg2 = a2;
    int is_date = cfg->fields[key->i_field].type == CFG_T_DATE;
    int wants_date = key->fn == CFG_K_YEAR || key->fn == CFG_K_MONTH || key->fn == CFG_K_DAY;
    if (wants_date && !is_date) return y_err(y, n, "%s() needs a date field in '%s'", fn, s);
    /* A bare date keys on the whole date: two year-only dates are not the
     * same birthday, and keying them so makes blocks that grow with N. */
    if (key->fn == CFG_K_VALUE && is_date) key->fn = CFG_K_DATE;
    return DT_OK;
}

/* Adds the keys in one scalar, split at commas outside parentheses, so
 * "substr(given,1,3), postcode" is two keys. */
static int parse_key_list(ycx *y, const dt_config *cfg, const yaml_node_t *n, cfg_rule *r)
{
    DT_TRY(y_expect(y, n, YAML_SCALAR_NODE, "a blocking key"));
    const char *s = y_str(n);
    while (*s) {
        size_t len = 0;
        int depth = 0;
        while (s[len] && !(s[len] == ',' && depth == 0)) {
            depth += s[len] == '(' ? 1 : s[len] == ')' ? -1 : 0;
            len++;
        }
        char key[256];
        if (len >= sizeof key) return y_err(y, n, "blocking key too long");
        memcpy(key, s, len);
        key[len] = '\0';
        if (r->n_keys == CFG_MAX_KEYS)
            return y_err(y, n, "a blocking rule has at most %d keys", CFG_MAX_KEYS);
        DT_TRY(parse_key(y, cfg, n, key, &r->keys[r->n_keys++]));
        s += len + (s[len] == ',');
    }
    return DT_OK;
}

static int parse_rule(ycx *y, const dt_config *cfg, cfg_rule *r, const yaml_node_t *n)
{
    set_pos(&r->line, &r->column, n);
    if (n->type == YAML_SCALAR_NODE) {
        DT_TRY(parse_key_list(y, cfg, n, r));
    } else {
        DT_TRY(y_expect(y, n, YAML_SEQUENCE_NODE, "a blocking rule"));
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++)
            DT_TRY(parse_key_list(y, cfg, y_node(y, *it), r));
    }
    if (r->n_keys == 0) return y_err(y, n, "a blocking rule needs at least one key");
    util_buf b = {0};
    int rc = util_buf_putc(&b, '[');
    for (int i = 0; i < r->n_keys && rc == DT_OK; i++) {
        const cfg_key *k = &r->keys[i];
        const char *f = cfg->fields[k->i_field].name;
        if (i) rc = util_buf_append(&b, ", ", 2);
        if (rc) break;
        if (k->fn == CFG_K_VALUE || k->fn == CFG_K_DATE) rc = util_buf_printf(&b, "%s", f);
        else if (k->fn == CFG_K_SUBSTR) rc = util_buf_printf(&b, "substr(%s,%d,%d)", f, k->arg1, k->arg2);
        else if (k->fn == CFG_K_SUFFIX) rc = util_buf_printf(&b, "suffix(%s,%d)", f, k->arg1);
        else rc = util_buf_printf(&b, "%s(%s)", cfg_key_fn_names[k->fn], f);
    }
    if (rc == DT_OK) rc = util_buf_putc(&b, ']');
    if (rc) {
        util_buf_fini(&b);
        return dt_err_set(y->err, DT_ENOMEM, "out of memory");
    }
    r->name = b.data;
    return DT_OK;
}

static int parse_blocking(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    static const char *const keys[] = {"rules", "max_block_pairs", "max_pairs", NULL};
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "blocking"));
    DT_TRY(y_check_keys(y, n, "blocking", keys));
    const yaml_node_t *x;
    if ((x = y_get(y, n, "max_block_pairs"))) {
        long v;
        DT_TRY(y_long(y, x, "max_block_pairs", 1, 2000000000L, &v));
        cfg->max_block_pairs = (uint64_t)v;
    }
    if ((x = y_get(y, n, "max_pairs"))) {
        long v;
        DT_TRY(y_long(y, x, "max_pairs", 1, 4000000000L, &v));
        cfg->max_pairs = (uint64_t)v;
    }
    if (!(x = y_get(y, n, "rules"))) return y_err(y, n, "blocking needs rules:");
    size_t count;
    DT_TRY(y_list(y, x, "rules", sizeof *cfg->rules, (void **)&cfg->rules, &count));
    if (count == 0) return y_err(y, x, "blocking rules must list at least one rule");
    for (yaml_node_item_t *it = x->data.sequence.items.start; it < x->data.sequence.items.top;
         it++) {
        DT_TRY(parse_rule(y, cfg, &cfg->rules[cfg->n_rules], y_node(y, *it)));
        cfg->n_rules++;
    }
    return DT_OK;
}

/* ---- comparisons --------------------------------------------------- */

static int is_name_type(cfg_field_type t)
{
    return t == CFG_T_GIVEN_NAME || t == CFG_T_MIDDLE_NAME || t == CFG_T_SURNAME;
}

/* Which field types a level kind makes sense for; 0 = any. */
static int level_fits(cfg_level_kind kind, cfg_field_type t)
{
    switch (kind) {
    case CFG_L_NICKNAME:
    case CFG_L_SWAPPED: return is_name_type(t);
    case CFG_L_DATE_SWAP_DM:
    case CFG_L_DATE_YEAR_OFF:
    case CFG_L_DATE_SAME_YEAR_MONTH:
    case CFG_L_DATE_SAME_YEAR:
    case CFG_L_DATE_WITHIN_DAYS:
    case CFG_L_DATE_PARTIAL: return t == CFG_T_DATE;
    default: return 1;
    }
}

static int parse_level_arg(ycx *y, const dt_config *cfg, cfg_level *lv, const yaml_node_t *v)
{
    const char *what = cfg_level_names[lv->kind];
    switch (lv->kind) {
    case CFG_L_JARO_WINKLER:
    case CFG_L_JARO: return y_double(y, v, what, 0.0, 1.0, &lv->threshold);
    case CFG_L_LEVENSHTEIN:
    case CFG_L_DAMERAU_LEVENSHTEIN: return y_double(y, v, what, 1, 10, &lv->threshold);
    case CFG_L_SUFFIX: return y_double(y, v, what, 0, 10, &lv->threshold);
    case CFG_L_DATE_YEAR_OFF: return y_double(y, v, what, 1, 100, &lv->threshold);
    case CFG_L_DATE_WITHIN_DAYS: return y_double(y, v, what, 1, 36600, &lv->threshold);
    case CFG_L_NUMERIC_WITHIN: return y_double(y, v, what, 0, 1e12, &lv->threshold);
    case CFG_L_SWAPPED:
        lv->n_with = 1;
        return y_field_ref(y, cfg, v, "swapped", &lv->with[0]);
    case CFG_L_TOKEN_OVERLAP:
        if (v->type == YAML_SCALAR_NODE) {
            lv->n_with = 1;
            return y_field_ref(y, cfg, v, "token_overlap", &lv->with[0]);
        }
        DT_TRY(y_expect(y, v, YAML_SEQUENCE_NODE, "token_overlap"));
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            if (lv->n_with == CFG_MAX_WITH)
                return y_err(y, v, "token_overlap takes at most %d fields", CFG_MAX_WITH);
            DT_TRY(y_field_ref(y, cfg, y_node(y, *it), "token_overlap", &lv->with[lv->n_with++]));
        }
        return DT_OK;
    default: return y_err(y, v, "level '%s' takes no value", what);
    }
}

static int needs_arg(cfg_level_kind k)
{
    return k == CFG_L_JARO_WINKLER || k == CFG_L_JARO || k == CFG_L_LEVENSHTEIN ||
           k == CFG_L_DAMERAU_LEVENSHTEIN || k == CFG_L_DATE_WITHIN_DAYS ||
           k == CFG_L_NUMERIC_WITHIN || k == CFG_L_SWAPPED;
}

static int make_label(ycx *y, const dt_config *cfg, cfg_level *lv)
{
    const char *name = cfg_level_names[lv->kind];
    switch (lv->kind) {
    case CFG_L_JARO_WINKLER:
    case CFG_L_JARO: lv->label = dt_asprintf("%s>=%g", name, lv->threshold); break;
    case CFG_L_LEVENSHTEIN:
    case CFG_L_DAMERAU_LEVENSHTEIN:
    case CFG_L_DATE_YEAR_OFF:
    case CFG_L_DATE_WITHIN_DAYS:
    case CFG_L_NUMERIC_WITHIN: lv->label = dt_asprintf("%s<=%g", name, lv->threshold); break;
    case CFG_L_SWAPPED: lv->label = dt_asprintf("swapped:%s", cfg->fields[lv->with[0]].name); break;
    case CFG_L_SUFFIX:
        lv->label = lv->threshold > 0 ? dt_asprintf("suffix<=%g", lv->threshold) : dt_strdup(name);
        break;
    default: lv->label = dt_strdup(name); break;
    }
    return lv->label ? DT_OK : dt_err_set(y->err, DT_ENOMEM, "out of memory");
}

static int parse_level(ycx *y, const dt_config *cfg, const cfg_comparison *c, cfg_level *lv,
                       const yaml_node_t *n)
{
    set_pos(&lv->line, &lv->column, n);
    const yaml_node_t *name = n, *arg = NULL;
    if (n->type == YAML_MAPPING_NODE) {
        if (n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1)
            return y_err(y, n, "a level is a name or a one-key mapping like {jaro_winkler: 0.9}");
        name = y_node(y, n->data.mapping.pairs.start->key);
        arg = y_node(y, n->data.mapping.pairs.start->value);
    }
    DT_TRY(y_expect(y, name, YAML_SCALAR_NODE, "a level"));
    int kind = -1;
    for (int k = 0; k < CFG_N_LEVEL_KINDS; k++)
        if (strcmp(cfg_level_names[k], y_str(name)) == 0) kind = k;
    if (kind < 0) return y_err(y, name, "unknown comparison level '%s'", y_str(name));
    lv->kind = (cfg_level_kind)kind;
    cfg_field_type t = cfg->fields[c->i_field].type;
    if (!level_fits(lv->kind, t))
        return y_err(y, name, "level '%s' does not apply to %s field '%s'", y_str(name),
                     cfg_type_names[t], cfg->fields[c->i_field].name);
    if (lv->kind == CFG_L_DATE_YEAR_OFF) lv->threshold = 1;
    if (arg) DT_TRY(parse_level_arg(y, cfg, lv, arg));
    else if (needs_arg(lv->kind))
        return y_err(y, name, "level '%s' needs a value, e.g. {%s: ...}", y_str(name),
                     y_str(name));
    return make_label(y, cfg, lv);
}

static int parse_comparison(ycx *y, const dt_config *cfg, cfg_comparison *c, const yaml_node_t *n)
{
    static const char *const keys[] = {"field", "name", "tf", "m_by_value", "levels", NULL};
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "a comparison"));
    DT_TRY(y_check_keys(y, n, "a comparison", keys));
    set_pos(&c->line, &c->column, n);
    const yaml_node_t *x;
    if (!(x = y_get(y, n, "field"))) return y_err(y, n, "a comparison needs field:");
    DT_TRY(y_field_ref(y, cfg, x, "field", &c->i_field));
    if ((x = y_get(y, n, "name"))) DT_TRY(y_strdup(y, x, "name", &c->name));
    else if (!(c->name = dt_strdup(cfg->fields[c->i_field].name)))
        return dt_err_set(y->err, DT_ENOMEM, "out of memory");
    if ((x = y_get(y, n, "tf"))) DT_TRY(y_bool(y, x, "tf", &c->tf));
    c->m_by_field = -1;
    if ((x = y_get(y, n, "m_by_value"))) {
        DT_TRY(y_field_ref(y, cfg, x, "m_by_value", &c->m_by_field));
        if (c->m_by_field == c->i_field)
            return y_err(y, x, "m_by_value of '%s' names its own field: name another field "
                               "(e.g. the surname for a given name)", c->name);
    }
    if (!(x = y_get(y, n, "levels"))) return y_err(y, n, "comparison '%s' needs levels:", c->name);
    DT_TRY(y_expect(y, x, YAML_SEQUENCE_NODE, "levels"));
    for (yaml_node_item_t *it = x->data.sequence.items.start; it < x->data.sequence.items.top;
         it++) {
        if (c->n_levels == CFG_MAX_LEVELS)
            return y_err(y, x, "a comparison has at most %d levels", CFG_MAX_LEVELS);
        DT_TRY(parse_level(y, cfg, c, &c->levels[c->n_levels++], y_node(y, *it)));
    }
    if (c->n_levels == 0) return y_err(y, x, "comparison '%s' needs at least one level", c->name);
    if (c->tf && c->levels[0].kind != CFG_L_EXACT)
        return y_err(y, n, "tf: true needs 'exact' as the first level of '%s'", c->name);
    return DT_OK;
}

static int parse_comparisons(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    size_t count;
    DT_TRY(y_list(y, n, "comparisons", sizeof *cfg->comparisons, (void **)&cfg->comparisons,
                  &count));
    if (count == 0) return y_err(y, n, "comparisons must list at least one comparison");
    if (count > 64) return y_err(y, n, "at most 64 comparisons");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        int rc = parse_comparison(y, cfg, &cfg->comparisons[cfg->n_comparisons], y_node(y, *it));
        cfg->n_comparisons++; /* even when it failed: dt_config_free releases what it holds */
        DT_TRY(rc);
    }
    return DT_OK;
}

/* ---- model, thresholds, cluster, truth ----------------------------- */

static int parse_training_rules(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    size_t count;
    DT_TRY(y_list(y, n, "training_rules", sizeof *cfg->training_rules,
                  (void **)&cfg->training_rules, &count));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        int i;
        DT_TRY(y_int(y, y_node(y, *it), "training_rules entry (1-based rule number)", 1,
                     (long)cfg->n_rules, &i));
        cfg->training_rules[cfg->n_training_rules++] = i - 1;
    }
    return DT_OK;
}

/* A level of cc by its label ("else" too) into *bits: that level alone, or
 * with and_stronger every level above it as well. */
static int level_bits(ycx *y, const cfg_comparison *cc, const yaml_node_t *level,
                      int and_stronger, uint32_t *bits)
{
    DT_TRY(y_expect(y, level, YAML_SCALAR_NODE, "a level of the comparison"));
    int found = strcmp(y_str(level), "else") == 0 ? cc->n_levels + 1 : 0;
    for (int l = 1; l <= cc->n_levels && !found; l++)
        if (strcmp(cc->levels[l - 1].label, y_str(level)) == 0) found = l;
    if (!found)
        return y_err(y, level, "comparison '%s' has no level '%s'", cc->name, y_str(level));
    for (int k = and_stronger ? 1 : found; k <= found; k++) *bits |= 1u << k;
    return DT_OK;
}

/* A level or a list of levels of cc: a list takes each level alone; a
 * single level takes the stronger ones too when and_stronger. */
static int level_set(ycx *y, const cfg_comparison *cc, const yaml_node_t *n, int and_stronger,
                     uint32_t *bits)
{
    *bits = 0;
    if (n->type != YAML_SEQUENCE_NODE) return level_bits(y, cc, n, and_stronger, bits);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++)
        DT_TRY(level_bits(y, cc, y_node(y, *it), 0, bits));
    return *bits ? DT_OK : y_err(y, n, "'%s': the list names no level", cc->name);
}

/* The index of the comparison a node names, among the first 64. */
static int comparison_index(ycx *y, const dt_config *cfg, const yaml_node_t *name,
                            const char *what, int *out)
{
    DT_TRY(y_expect(y, name, YAML_SCALAR_NODE, "a comparison name"));
    for (size_t c = 0; c < cfg->n_comparisons && c < 64; c++)
        if (strcmp(cfg->comparisons[c].name, y_str(name)) == 0) {
            *out = (int)c;
            return DT_OK;
        }
    return y_err(y, name, "%s names unknown comparison '%s' (only the first 64 may be named)",
                 what, y_str(name));
}

/* model: contexts: where the global model is wrong because random pairs
 * never go there. Each is {name, when: {comparison: level or [levels]},
 * require: [comparisons]}: a level takes the stronger ones too; a list
 * takes each alone. Within a context every comparison gets its own m and u
 * (model.h, invariant 4). */
static int context_when(ycx *y, dt_config *cfg, cfg_context *x, const yaml_node_t *n)
{
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "when: {comparison: level, ...}"));
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        int c;
        DT_TRY(comparison_index(y, cfg, y_node(y, p->key), "when", &c));
        const cfg_comparison *cc = &cfg->comparisons[c];
        const yaml_node_t *level = y_node(y, p->value);
        DT_TRY(level_set(y, cc, level, 1, &x->levels[c]));
        if ((x->levels[c] >> (cc->n_levels + 1)) & 1)
            return y_err(y, level, "a context may not take in '%s' at 'else'", cc->name);
        x->mask |= 1ULL << c;
    }
    uint64_t all = cfg->n_comparisons >= 64 ? ~0ULL : (1ULL << cfg->n_comparisons) - 1;
    if (!x->mask || x->mask == all)
        return y_err(y, n, "when: must name at least one comparison and leave at least one out");
    return DT_OK;
}

static int context_require(ycx *y, dt_config *cfg, cfg_context *x, const yaml_node_t *n)
{
    DT_TRY(y_expect(y, n, YAML_SEQUENCE_NODE, "require: [comparisons]"));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        int c;
        DT_TRY(comparison_index(y, cfg, y_node(y, *it), "require", &c));
        x->require |= 1ULL << c;
    }
    return DT_OK;
}

static int parse_context(ycx *y, dt_config *cfg, const yaml_node_t *n, size_t i)
{
    static const char *const keys[] = {"name", "when", "require", NULL};
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "a context {name, when, require}"));
    DT_TRY(y_check_keys(y, n, "context", keys));
    cfg_context *x = &cfg->contexts[i];
    x->line = (long)n->start_mark.line + 1;
    x->column = (long)n->start_mark.column + 1;
    const yaml_node_t *v = y_get(y, n, "name");
    if (v) DT_TRY(y_strdup(y, v, "name", &x->name));
    else if (!(x->name = dt_asprintf("context %zu", i + 1)))
        return dt_err_set(y->err, DT_ENOMEM, "out of memory");
    for (size_t k = 0; k < i; k++)
        if (strcmp(cfg->contexts[k].name, x->name) == 0)
            return y_err(y, v ? v : n, "context '%s' is named twice", x->name);
    if (!(v = y_get(y, n, "when"))) return y_err(y, n, "a context needs when:");
    DT_TRY(context_when(y, cfg, x, v));
    if ((v = y_get(y, n, "require"))) DT_TRY(context_require(y, cfg, x, v));
    return DT_OK;
}

static int parse_contexts(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    DT_TRY(y_expect(y, n, YAML_SEQUENCE_NODE, "model: contexts (a list)"));
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > CFG_MAX_CONTEXTS)
        return y_err(y, n, "model: contexts: at most %d", CFG_MAX_CONTEXTS);
    for (size_t i = 0; i < count; i++) {
        cfg->n_contexts = i + 1; /* first, so dt_config_free frees a half-parsed one */
        DT_TRY(parse_context(y, cfg, y_node(y, n->data.sequence.items.start[i]), i));
    }
    return DT_OK;
}

static int parse_model(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    static const char *const keys[] = {"seed",           "u_sample_pairs", "em_max_iterations",
                                       "em_tolerance",   "tf_min_u",       "training_rules",
                                       "contexts",       "context_cannot_link", "prior_by_source_pair",
                                       "em_sample_pairs", NULL};
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "model"));
    DT_TRY(y_check_keys(y, n, "model", keys));
    const yaml_node_t *x;
    long v;
    if ((x = y_get(y, n, "seed"))) {
        DT_TRY(y_long(y, x, "seed", 0, 0x7fffffffffffffffL, &v));
        cfg->seed = (uint64_t)v;
    }
    if ((x = y_get(y, n, "u_sample_pairs"))) {
        DT_TRY(y_long(y, x, "u_sample_pairs", 1000, 1000000000L, &v));
        cfg->u_sample_pairs = (uint64_t)v;
    }
    if ((x = y_get(y, n, "em_sample_pairs"))) {
        DT_TRY(y_long(y, x, "em_sample_pairs", 1000, 1000000000000L, &v));
        cfg->em_sample_pairs = (uint64_t)v;
    }
    if ((x = y_get(y, n, "em_max_iterations")))
        DT_TRY(y_int(y, x, "em_max_iterations", 1, 10000, &cfg->em_max_iterations));
    if ((x = y_get(y, n, "em_tolerance")))
        DT_TRY(y_double(y, x, "em_tolerance", 1e-12, 0.1, &cfg->em_tolerance));
    if ((x = y_get(y, n, "tf_min_u"))) DT_TRY(y_double(y, x, "tf_min_u", 0, 1, &cfg->tf_min_u));
    if ((x = y_get(y, n, "training_rules"))) DT_TRY(parse_training_rules(y, cfg, x));
    if ((x = y_get(y, n, "contexts"))) DT_TRY(parse_contexts(y, cfg, x));
    if ((x = y_get(y, n, "context_cannot_link")))
        DT_TRY(y_double(y, x, "context_cannot_link", 0, 1, &cfg->context_cannot_link));
    if ((x = y_get(y, n, "prior_by_source_pair")))
        DT_TRY(y_bool(y, x, "prior_by_source_pair", &cfg->prior_by_source_pair));
    return DT_OK;
}

static int parse_thresholds(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    static const char *const keys[] = {"link", "review", NULL};
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "thresholds"));
    DT_TRY(y_check_keys(y, n, "thresholds", keys));
    const yaml_node_t *x;
    if ((x = y_get(y, n, "link"))) DT_TRY(y_double(y, x, "link", 0, 1, &cfg->link_threshold));
    if ((x = y_get(y, n, "review"))) DT_TRY(y_double(y, x, "review", 0, 1, &cfg->review_threshold));
    const yaml_node_t *at = y_get(y, n, "review");
    if (cfg->review_threshold > cfg->link_threshold)
        return y_err(y, at ? at : n, "thresholds: review (%g) must not exceed link (%g)",
                     cfg->review_threshold, cfg->link_threshold);
    return DT_OK;
}

/* cluster: exclusive: [comparison names] */
static int parse_exclusive(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    size_t count;
    DT_TRY(y_list(y, n, "exclusive", sizeof *cfg->exclusive, (void **)&cfg->exclusive, &count));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const yaml_node_t *v = y_node(y, *it);
        DT_TRY(y_expect(y, v, YAML_SCALAR_NODE, "an exclusive comparison"));
        int found = -1;
        for (size_t c = 0; c < cfg->n_comparisons; c++)
            if (strcmp(cfg->comparisons[c].name, y_str(v)) == 0) found = (int)c;
        if (found < 0)
            return y_err(y, v, "exclusive names unknown comparison '%s'", y_str(v));
        cfg->exclusive[cfg->n_exclusive++] = found;
    }
    return DT_OK;
}

/* cluster: cannot_link: [{comparison: level or [levels], ...}, ...] */
static int parse_cannot_link(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    size_t count;
    DT_TRY(y_list(y, n, "cannot_link", sizeof *cfg->cannot_links, (void **)&cfg->cannot_links,
                  &count));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const yaml_node_t *r = y_node(y, *it);
        DT_TRY(y_expect(y, r, YAML_MAPPING_NODE, "a cannot_link rule (comparison: levels)"));
        cfg_cannot_link *cl = &cfg->cannot_links[cfg->n_cannot_links++];
        cl->line = (long)r->start_mark.line + 1;
        cl->column = (long)r->start_mark.column + 1;
        for (yaml_node_pair_t *p = r->data.mapping.pairs.start; p < r->data.mapping.pairs.top;
             p++) {
            int c;
            DT_TRY(comparison_index(y, cfg, y_node(y, p->key), "cannot_link", &c));
            DT_TRY(level_set(y, &cfg->comparisons[c], y_node(y, p->value), 0, &cl->levels[c]));
            cl->mask |= 1ULL << c;
        }
        if (!cl->mask) return y_err(y, r, "a cannot_link rule needs at least one comparison");
    }
    return DT_OK;
}

static int parse_cluster(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    static const char *const keys[] = {"one_to_one", "weak_link", "weak_join_size", "exclusive",
                                       "cannot_link", NULL};
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "cluster"));
    DT_TRY(y_check_keys(y, n, "cluster", keys));
    const yaml_node_t *x;
    if ((x = y_get(y, n, "one_to_one"))) DT_TRY(y_bool(y, x, "one_to_one", &cfg->one_to_one));
    if ((x = y_get(y, n, "weak_link"))) DT_TRY(y_double(y, x, "weak_link", 0, 1, &cfg->weak_link));
    if ((x = y_get(y, n, "weak_join_size")))
        DT_TRY(y_int(y, x, "weak_join_size", 2, 1000000, &cfg->weak_join_size));
    if ((x = y_get(y, n, "exclusive"))) DT_TRY(parse_exclusive(y, cfg, x));
    if ((x = y_get(y, n, "cannot_link"))) DT_TRY(parse_cannot_link(y, cfg, x));
    return DT_OK;
}

static int parse_truth(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    static const char *const keys[] = {"id_pattern", "file", NULL};
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "truth"));
    DT_TRY(y_check_keys(y, n, "truth", keys));
    const yaml_node_t *p = y_get(y, n, "id_pattern"), *f = y_get(y, n, "file");
    if (!p == !f) return y_err(y, n, "truth needs exactly one of id_pattern: or file:");
    if (p) return y_strdup(y, p, "id_pattern", &cfg->truth_pattern);
    return y_path(y, f, "file", &cfg->truth_file);
}

/* ---- findings ------------------------------------------------------ */

static int y_source_ref(ycx *y, const dt_config *cfg, const yaml_node_t *n, const char *what,
                        int *out)
{
    DT_TRY(y_expect(y, n, YAML_SCALAR_NODE, what));
    int i = cfg_source_index(cfg, y_str(n));
    if (i < 0) return y_err(y, n, "%s names unknown source '%s'", what, y_str(n));
    *out = i;
    return DT_OK;
}

/* A field the rules read as a date, or as any value when type < 0. */
static int y_typed_field(ycx *y, const dt_config *cfg, const yaml_node_t *map, const char *key,
                         const char *where, int want_date, int *out)
{
    const yaml_node_t *x = y_get(y, map, key);
    if (!x) return y_err(y, map, "%s needs %s:", where, key);
    DT_TRY(y_field_ref(y, cfg, x, key, out));
    if (want_date && cfg->fields[*out].type != CFG_T_DATE)
        return y_err(y, x, "%s: field '%s' must be of type date", key, cfg->fields[*out].name);
    return DT_OK;
}

/* {source: S, <date_key>: F, ...}: a person source and a date field of it. */
static int parse_source_date(ycx *y, const dt_config *cfg, const yaml_node_t *n, const char *where,
                             const char *const *keys, const char *date_key, int *src, int *field)
{
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, where));
    DT_TRY(y_check_keys(y, n, where, keys));
    const yaml_node_t *x = y_get(y, n, "source");
    if (!x) return y_err(y, n, "%s needs source:", where);
    DT_TRY(y_source_ref(y, cfg, x, "source", src));
    return y_typed_field(y, cfg, n, date_key, where, 1, field);
}

static int parse_event(ycx *y, const dt_config *cfg, cfg_event *ev, const yaml_node_t *n)
{
    static const char *const keys[] = {"name", "path", "id", "of", "key", "date", "amount",
                                       "payment", "delimiter", NULL};
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "an event source"));
    DT_TRY(y_check_keys(y, n, "an event source", keys));
    set_pos(&ev->line, &ev->column, n);
    ev->delimiter = ',';
    static const char *const needed[] = {"name", "path", "id", "of", "key", "date", NULL};
    for (const char *const *k = needed; *k; k++)
        if (!y_get(y, n, *k)) return y_err(y, n, "an event source needs %s:", *k);
    DT_TRY(y_strdup(y, y_get(y, n, "name"), "name", &ev->name));
    if (cfg_source_index(cfg, ev->name) >= 0)
        return y_err(y, y_get(y, n, "name"), "event source '%s' has a person source's name",
                     ev->name);
    DT_TRY(y_path(y, y_get(y, n, "path"), "path", &ev->path));
    DT_TRY(y_strdup(y, y_get(y, n, "id"), "id", &ev->id_column));
    DT_TRY(y_source_ref(y, cfg, y_get(y, n, "of"), "of", &ev->of));
    DT_TRY(y_strdup(y, y_get(y, n, "key"), "key", &ev->key_column));
    const yaml_node_t *d = y_get(y, n, "date"), *x;
    if (d->type == YAML_SCALAR_NODE) {
        DT_TRY(y_strdup(y, d, "date", &ev->date_column));
    } else {
        static const char *const dkeys[] = {"column", "format", NULL};
        DT_TRY(y_expect(y, d, YAML_MAPPING_NODE, "date"));
        DT_TRY(y_check_keys(y, d, "date", dkeys));
        if (!(x = y_get(y, d, "column"))) return y_err(y, d, "date needs column:");
        DT_TRY(y_strdup(y, x, "column", &ev->date_column));
        if ((x = y_get(y, d, "format"))) {
            DT_TRY(y_strdup(y, x, "format", &ev->date_format));
            if (!strstr(ev->date_format, "YYYY"))
                return y_err(y, x, "date format '%s' must contain YYYY (e.g. YYYYMMDD, "
                                   "MM/DD/YYYY, YYYY-MM-DD, YYYY)", ev->date_format);
        }
    }
    if ((x = y_get(y, n, "amount"))) DT_TRY(y_strdup(y, x, "amount", &ev->amount_column));
    if ((x = y_get(y, n, "payment"))) DT_TRY(y_bool(y, x, "payment", &ev->is_payment));
    if ((x = y_get(y, n, "delimiter"))) DT_TRY(parse_delimiter(y, x, &ev->delimiter));
    return DT_OK;
}

static int parse_events(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    cfg_findings *f = &cfg->findings;
    size_t count;
    DT_TRY(y_list(y, n, "events", sizeof *f->events, (void **)&f->events, &count));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        cfg_event *ev = &f->events[f->n_events++]; /* counted first: freed on failure */
        ev->of = -1;
        DT_TRY(parse_event(y, cfg, ev, y_node(y, *it)));
        for (size_t j = 0; j + 1 < f->n_events; j++)
            if (!strcmp(f->events[j].name, ev->name))
                return y_err(y, y_node(y, *it), "event source name '%s' is used twice", ev->name);
    }
    return DT_OK;
}

static int parse_activity(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    static const char *const keys[] = {"source", "date", NULL};
    cfg_findings *f = &cfg->findings;
    DT_TRY(y_expect(y, n, YAML_SEQUENCE_NODE, "activity"));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        if (f->n_activity == CFG_MAX_ACTIVITY)
            return y_err(y, n, "activity: at most %d entries", CFG_MAX_ACTIVITY);
        DT_TRY(parse_source_date(y, cfg, y_node(y, *it), "an activity entry", keys, "date",
                                 &f->activity_source[f->n_activity],
                                 &f->activity_field[f->n_activity]));
        f->n_activity++;
    }
    return DT_OK;
}

static int parse_enrollment(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    static const char *const keys[] = {"source", "start", "program", NULL};
    cfg_findings *f = &cfg->findings;
    DT_TRY(parse_source_date(y, cfg, n, "enrollment", keys, "start", &f->enroll_source,
                             &f->enroll_start));
    if (y_get(y, n, "program"))
        DT_TRY(y_typed_field(y, cfg, n, "program", "enrollment", 0, &f->enroll_program));
    return DT_OK;
}

static int parse_identifier(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    static const char *const keys[] = {"field", "min_length", NULL};
    cfg_findings *f = &cfg->findings;
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "identifier"));
    DT_TRY(y_check_keys(y, n, "identifier", keys));
    DT_TRY(y_typed_field(y, cfg, n, "field", "identifier", 0, &f->identifier_field));
    if (cfg->fields[f->identifier_field].type != CFG_T_IDENTIFIER)
        return y_err(y, y_get(y, n, "field"), "field: '%s' must be of type identifier",
                     cfg->fields[f->identifier_field].name);
    const yaml_node_t *x = y_get(y, n, "min_length");
    return x ? y_int(y, x, "min_length", 1, 64, &f->identifier_min_length) : DT_OK;
}

static int parse_findings(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    static const char *const keys[] = {"death", "enrollment", "activity", "identifier",
                                       "review_below", "contest_days", "events", NULL};
    static const char *const death_keys[] = {"source", "date", NULL};
    cfg_findings *f = &cfg->findings;
    DT_TRY(y_expect(y, n, YAML_MAPPING_NODE, "findings"));
    DT_TRY(y_check_keys(y, n, "findings", keys));
    f->is_set = 1;
    const yaml_node_t *x;
    if ((x = y_get(y, n, "death")))
        DT_TRY(parse_source_date(y, cfg, x, "death", death_keys, "date", &f->death_source,
                                 &f->death_field));
    if ((x = y_get(y, n, "enrollment"))) DT_TRY(parse_enrollment(y, cfg, x));
    if ((x = y_get(y, n, "activity"))) DT_TRY(parse_activity(y, cfg, x));
    if ((x = y_get(y, n, "identifier"))) DT_TRY(parse_identifier(y, cfg, x));
    if ((x = y_get(y, n, "review_below")))
        DT_TRY(y_double(y, x, "review_below", 0, 1, &f->review_below));
    if ((x = y_get(y, n, "contest_days")))
        DT_TRY(y_int(y, x, "contest_days", 0, 3650, &f->contest_days));
    if ((x = y_get(y, n, "events"))) DT_TRY(parse_events(y, cfg, x));
    return DT_OK;
}

static int parse_mode(ycx *y, dt_config *cfg, const yaml_node_t *n)
{
    DT_TRY(y_expect(y, n, YAML_SCALAR_NODE, "mode"));
    const char *s = y_str(n);
    if (!strcmp(s, "link")) cfg->mode = CFG_MODE_LINK;
    else if (!strcmp(s, "dedupe")) cfg->mode = CFG_MODE_DEDUPE;
    else if (!strcmp(s, "link_and_dedupe")) cfg->mode = CFG_MODE_LINK_AND_DEDUPE;
    else return y_err(y, n, "mode must be link, dedupe or link_and_dedupe, found '%s'", s);
    return DT_OK;
}

/* Checks that need the whole document: sources map every field they must,
 * names fields exist for full_name. */
static int check_sources(ycx *y, const dt_config *cfg, const yaml_node_t *root)
{
    if (cfg->mode == CFG_MODE_LINK && cfg->n_sources < 2)
        return y_err(y, root, "mode link needs at least two sources (use dedupe for one)");
    for (size_t i = 0; i < cfg->n_sources; i++) {
        const cfg_source *s = &cfg->sources[i];
        if (!s->full_name_column) continue;
        int has_name_field = 0;
        for (size_t f = 0; f < cfg->n_fields; f++) has_name_field |= is_name_type(cfg->fields[f].type);
        if (!has_name_field)
            return dt_err_at(y->err, DT_ECONFIG, y->name, s->line, s->column,
                             "source '%s' has full_name but no given_name/middle_name/surname "
                             "field is declared", s->name);
    }
    return DT_OK;
}

static void set_defaults(dt_config *cfg)
{
    cfg->max_block_pairs = 5000000;
    cfg->seed = 42;
    cfg->u_sample_pairs = 1000000;
    cfg->em_max_iterations = 50;
    cfg->em_tolerance = 1e-5;
    cfg->tf_min_u = 0;
    cfg->context_cannot_link = 0.5;
    cfg->prior_by_source_pair = 1;
    cfg->link_threshold = 0.5;
    cfg->review_threshold = 0.1;
    cfg->weak_link = 0.9;
    cfg->weak_join_size = 3;
    cfg_findings *f = &cfg->findings;
    f->death_source = f->death_field = -1;
    f->enroll_source = f->enroll_start = f->enroll_program = -1;
    f->identifier_field = -1;
    f->review_below = 0.9;
    f->contest_days = 30;
}

static int parse_root(ycx *y, dt_config *cfg, const yaml_node_t *root)
{
    static const char *const keys[] = {"mode", "fields", "sources", "blocking", "comparisons",
                                       "model", "thresholds", "cluster", "truth", "nicknames",
                                       "findings", NULL};
    DT_TRY(y_expect(y, root, YAML_MAPPING_NODE, "the configuration"));
    DT_TRY(y_check_keys(y, root, "the configuration", keys));
    const yaml_node_t *x;
    if (!(x = y_get(y, root, "fields"))) return y_err(y, root, "the configuration needs fields:");
    DT_TRY(parse_fields(y, cfg, x));
    if (!(x = y_get(y, root, "sources"))) return y_err(y, root, "the configuration needs sources:");
    DT_TRY(parse_sources(y, cfg, x));
    /* Without a mode, compare everything: registries hold duplicates of their
     * own, and link alone never looks for them (F1 0.807 against 0.991 on
     * five registries with duplicates inside them). */
    cfg->mode = cfg->n_sources > 1 ? CFG_MODE_LINK_AND_DEDUPE : CFG_MODE_DEDUPE;
    cfg->is_mode_default = 1;
    if ((x = y_get(y, root, "mode"))) {
        cfg->is_mode_default = 0;
        DT_TRY(parse_mode(y, cfg, x));
    }
    if (!(x = y_get(y, root, "blocking"))) return y_err(y, root, "the configuration needs blocking:");
    DT_TRY(parse_blocking(y, cfg, x));
    if (!(x = y_get(y, root, "comparisons")))
        return y_err(y, root, "the configuration needs comparisons:");
    DT_TRY(parse_comparisons(y, cfg, x));
    if ((x = y_get(y, root, "model"))) DT_TRY(parse_model(y, cfg, x));
    if ((x = y_get(y, root, "thresholds"))) DT_TRY(parse_thresholds(y, cfg, x));
    if ((x = y_get(y, root, "cluster"))) DT_TRY(parse_cluster(y, cfg, x));
    if ((x = y_get(y, root, "truth"))) DT_TRY(parse_truth(y, cfg, x));
    if ((x = y_get(y, root, "findings"))) DT_TRY(parse_findings(y, cfg, x));
    if ((x = y_get(y, root, "nicknames"))) DT_TRY(y_path(y, x, "nicknames", &cfg->nicknames_path));
    else if (!(cfg->nicknames_path = util_data_path("nicknames.tsv")))
        return dt_err_set(y->err, DT_ENOMEM, "out of memory");
    return check_sources(y, cfg, root);
}

int cfg_parse(const char *text, size_t n, const char *name, const char *base_dir,
              dt_config **out, dt_error *err)
{
    yaml_document_t doc;
    DT_TRY(y_load(text, n, name, &doc, err));

    dt_config *cfg = dt_calloc(1, sizeof *cfg);
    int rc = DT_OK;
    if (!cfg) {
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
        goto done;
    }
    set_defaults(cfg);
    cfg->hash = util_hash64(text, n, 0x646f7665);
    cfg->path = dt_strdup(name);
    cfg->dir = dt_strdup(base_dir);
    if (!cfg->path || !cfg->dir) {
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
        goto done;
    }
    ycx y = {.doc = &doc, .name = name, .base_dir = base_dir, .err = err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = dt_err_at(err, DT_ECONFIG, name, 1, 1, "the configuration is empty");
        goto done;
    }
    rc = parse_root(&y, cfg, root);
done:
    yaml_document_delete(&doc);
    if (rc < 0) {
        dt_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return DT_OK;
}

int dt_config_load(const char *path, dt_config **out, dt_error *err)
{
    DT_ERR_INIT(err);
    if (!path || !out) return dt_err_set(err, DT_EINVAL, "dt_config_load: NULL argument");
    char *text = NULL;
    size_t n = 0;
    DT_TRY(util_read_file(path, &text, &n, err));
    char *dir = util_dirname(path);
    int rc = dir ? cfg_parse(text, n, path, dir, out, err) : dt_err_set(err, DT_ENOMEM, "out of memory");
    dt_free(dir);
    dt_free(text);
    return dt_err_ensure(err, rc);
}

void dt_config_free(dt_config *cfg)
{
    if (!cfg) return;
    for (size_t i = 0; i < cfg->n_fields; i++) dt_free(cfg->fields[i].name);
    for (size_t i = 0; i < cfg->n_sources; i++) {
        cfg_source *s = &cfg->sources[i];
        for (size_t j = 0; j < s->n_maps; j++) {
            dt_free(s->maps[j].column);
            dt_free(s->maps[j].date_format);
        }
        dt_free(s->maps);
        dt_free(s->name);
        dt_free(s->path);
        dt_free(s->id_column);
        dt_free(s->full_name_column);
    }
    for (size_t i = 0; i < cfg->n_rules; i++) dt_free(cfg->rules[i].name);
    for (size_t i = 0; i < cfg->n_comparisons; i++) {
        for (int l = 0; l < cfg->comparisons[i].n_levels; l++)
            dt_free(cfg->comparisons[i].levels[l].label);
        dt_free(cfg->comparisons[i].name);
    }
    dt_free(cfg->fields);
    dt_free(cfg->sources);
    dt_free(cfg->rules);
    dt_free(cfg->comparisons);
    dt_free(cfg->training_rules);
    dt_free(cfg->exclusive);
    dt_free(cfg->cannot_links);
    for (size_t i = 0; i < cfg->n_contexts; i++) dt_free(cfg->contexts[i].name);
    dt_free(cfg->nicknames_path);
    for (size_t i = 0; i < cfg->findings.n_events; i++) {
        cfg_event *ev = &cfg->findings.events[i];
        dt_free(ev->name);
        dt_free(ev->path);
        dt_free(ev->id_column);
        dt_free(ev->key_column);
        dt_free(ev->date_column);
        dt_free(ev->date_format);
        dt_free(ev->amount_column);
    }
    dt_free(cfg->findings.events);
    dt_free(cfg->truth_pattern);
    dt_free(cfg->truth_file);
    dt_free(cfg->path);
    dt_free(cfg->dir);
    dt_free(cfg);
}
