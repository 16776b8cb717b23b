/*
 * yaml.c — the YAML helpers yaml.h declares. Every error is DT_ECONFIG
 * with the node's 1-based line and column.
 *
 * Nesting is capped (Y_MAX_DEPTH) before a document is built: libyaml's
 * scanner does work in proportion to the open levels for every token, so
 * "[[[[…" 100,000 deep took 45 s to reject; no configuration or policy
 * nests more than a few levels.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/yaml.h"

static int syntax_error(const yaml_parser_t *parser, const char *name, dt_error *err)
{
    return dt_err_at(err, DT_ECONFIG, name, (long)parser->problem_mark.line + 1,
                     (long)parser->problem_mark.column + 1, "YAML syntax: %s%s%s",
                     parser->problem ? parser->problem : "error", parser->context ? " " : "",
                     parser->context ? parser->context : "");
}

/* Walks the events of text, refusing a list or mapping nested deeper than
 * Y_MAX_DEPTH at the one that opens the level too many. */
static int check_depth(const char *text, size_t n, const char *name, dt_error *err)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return dt_err_set(err, DT_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, n);
    int rc = DT_OK, depth = 0;
    for (int is_end = 0; !is_end && rc == DT_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = syntax_error(&parser, name, err);
            break;
        }
        is_end = ev.type == YAML_STREAM_END_EVENT;
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) depth++;
        if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) depth--;
        if (depth > Y_MAX_DEPTH)
            rc = dt_err_at(err, DT_ECONFIG, name, (long)ev.start_mark.line + 1,
                           (long)ev.start_mark.column + 1, "nested more than %d levels deep",
                           Y_MAX_DEPTH);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

int y_load(const char *text, size_t n, const char *name, yaml_document_t *doc, dt_error *err)
{
    DT_TRY(check_depth(text, n, name, err));
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return dt_err_set(err, DT_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, n);
    int rc = yaml_parser_load(&parser, doc) ? DT_OK : syntax_error(&parser, name, err);
    yaml_parser_delete(&parser);
    return rc;
}

int y_err(ycx *y, const yaml_node_t *node, const char *fmt, ...)
{
    char text[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    long line = node ? (long)node->start_mark.line + 1 : 0;
    long col = node ? (long)node->start_mark.column + 1 : 0;
    return dt_err_at(y->err, DT_ECONFIG, y->name, line, col, "%s", text);
}

yaml_node_t *y_node(ycx *y, int index)
{
    return yaml_document_get_node(y->doc, index);
}

const char *y_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

int y_expect(ycx *y, const yaml_node_t *n, yaml_node_type_t type, const char *what)
{
    if (n->type == type) return DT_OK;
    const char *want = type == YAML_SCALAR_NODE     ? "a scalar"
                       : type == YAML_SEQUENCE_NODE ? "a list"
                                                    : "a mapping";
    return y_err(y, n, "%s must be %s, found %s", what, want, y_kind(n));
}

/* A list node, and a zeroed array for its items (one element if empty,
 * so the pointer is never NULL). OUT: *items, *count. */
int y_list(ycx *y, const yaml_node_t *n, const char *what, size_t size, void **items,
                  size_t *count)
{
    DT_TRY(y_expect(y, n, YAML_SEQUENCE_NODE, what));
    *count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    *items = dt_calloc(*count ? *count : 1, size);
    return *items ? DT_OK : dt_err_set(y->err, DT_ENOMEM, "out of memory");
}

const char *y_str(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : "";
}

/* The value node under key in a mapping, or NULL. */
yaml_node_t *y_get(ycx *y, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = y_node(y, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp(y_str(k), key) == 0)
            return y_node(y, p->value);
    }
    return NULL;
}

/* Fails on the first key not in allowed (NULL-terminated) or repeated. */
int y_check_keys(ycx *y, const yaml_node_t *map, const char *where,
                        const char *const *allowed)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = y_node(y, p->key);
        DT_TRY(y_expect(y, k, YAML_SCALAR_NODE, "a key"));
        int known = 0;
        for (const char *const *a = allowed; *a; a++) known |= strcmp(*a, y_str(k)) == 0;
        if (!known) {
            char list[512] = "";
            for (const char *const *a = allowed; *a; a++) {
                if (*list) strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, *a, sizeof list - strlen(list) - 1);
            }
            return y_err(y, k, "unknown key '%s' in %s (expected one of: %s)", y_str(k), where,
                         list);
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (strcmp(y_str(y_node(y, q->key)), y_str(k)) == 0)
                return y_err(y, k, "key '%s' appears twice in %s", y_str(k), where);
    }
    return DT_OK;
}

int y_strdup(ycx *y, const yaml_node_t *n, const char *what, char **out)
{
    DT_TRY(y_expect(y, n, YAML_SCALAR_NODE, what));
    if (n->data.scalar.length == 0) return y_err(y, n, "%s must not be empty", what);
    char *s = dt_strndup(y_str(n), n->data.scalar.length);
    if (!s) return dt_err_set(y->err, DT_ENOMEM, "out of memory");
    dt_free(*out);
    *out = s;
    return DT_OK;
}

int y_double(ycx *y, const yaml_node_t *n, const char *what, double lo, double hi,
                    double *out)
{
    DT_TRY(y_expect(y, n, YAML_SCALAR_NODE, what));
    char *end;
    errno = 0;
    double v = strtod(y_str(n), &end);
    if (end == y_str(n) || *end || errno || !isfinite(v))
        return y_err(y, n, "%s must be a number, found '%s'", what, y_str(n));
    if (v < lo || v > hi) return y_err(y, n, "%s must be in [%g, %g], found %g", what, lo, hi, v);
    *out = v;
    return DT_OK;
}

int y_long(ycx *y, const yaml_node_t *n, const char *what, long lo, long hi, long *out)
{
    DT_TRY(y_expect(y, n, YAML_SCALAR_NODE, what));
    char *end;
    errno = 0;
    long long v = strtoll(y_str(n), &end, 10);
    if (end == y_str(n) || *end || errno)
        return y_err(y, n, "%s must be a whole number, found '%s'", what, y_str(n));
    if (v < lo || v > hi)
        return y_err(y, n, "%s must be between %ld and %ld, found %lld", what, lo, hi, v);
    *out = (long)v;
    return DT_OK;
}

int y_int(ycx *y, const yaml_node_t *n, const char *what, long lo, long hi, int *out)
{
    long v;
    DT_TRY(y_long(y, n, what, lo, hi, &v));
    *out = (int)v;
    return DT_OK;
}

int y_bool(ycx *y, const yaml_node_t *n, const char *what, int *out)
{
    DT_TRY(y_expect(y, n, YAML_SCALAR_NODE, what));
    const char *s = y_str(n);
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) *out = 0;
    else return y_err(y, n, "%s must be true or false, found '%s'", what, s);
    return DT_OK;
}

