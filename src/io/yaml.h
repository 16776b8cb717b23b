/*
 * yaml.h — reading YAML documents (libyaml's document API) with errors
 * that name file:line:column of the offending node. Shared by the linkage
 * configuration (config.c) and source policies (src/govern/policy.c).
 */
#ifndef DT_IO_YAML_H
#define DT_IO_YAML_H

#include <yaml.h>

#include "util/util.h"

/* Parsing context: the document, where errors go, and how to resolve paths. */
typedef struct ycx {
    yaml_document_t *doc;
    const char *name;
    const char *base_dir;
    dt_error *err;
} ycx;

/* Lists and mappings nest at most this deep. */
enum { Y_MAX_DEPTH = 64 };

/* Parses text into *doc (yaml_document_delete it); a syntax error, or
 * nesting deeper than Y_MAX_DEPTH, is DT_ECONFIG naming name:line:column. */
int y_load(const char *text, size_t n, const char *name, yaml_document_t *doc, dt_error *err);
/* A DT_ECONFIG error at node (NULL: no position). */
int y_err(ycx *y, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
yaml_node_t *y_node(ycx *y, int index);
const char *y_kind(const yaml_node_t *n);
int y_expect(ycx *y, const yaml_node_t *n, yaml_node_type_t type, const char *what);
/* A list node, and a zeroed array for its items (one element if empty,
 * so the pointer is never NULL). OUT: *items, *count. */
int y_list(ycx *y, const yaml_node_t *n, const char *what, size_t size, void **items,
           size_t *count);
/* A scalar's text; "" for other nodes. */
const char *y_str(const yaml_node_t *n);
/* The value node under key in a mapping, or NULL. */
yaml_node_t *y_get(ycx *y, const yaml_node_t *map, const char *key);
/* Fails on the first key not in allowed (NULL-terminated) or repeated. */
int y_check_keys(ycx *y, const yaml_node_t *map, const char *where, const char *const *allowed);
/* A non-empty scalar, copied into *out (replacing what it held). */
int y_strdup(ycx *y, const yaml_node_t *n, const char *what, char **out);
int y_double(ycx *y, const yaml_node_t *n, const char *what, double lo, double hi, double *out);
int y_long(ycx *y, const yaml_node_t *n, const char *what, long lo, long hi, long *out);
int y_int(ycx *y, const yaml_node_t *n, const char *what, long lo, long hi, int *out);
int y_bool(ycx *y, const yaml_node_t *n, const char *what, int *out);

#endif
