/*
 * server_int.h — what the server's files share (server.c: the daemon,
 * requests, replies; routes.c: the route of each governed call and its
 * handler). The server sees the public API only (ARCHITECTURE.md).
 *
 * Invariants:
 *   1. Every row of dt_calls has exactly one route, and every route but
 *      the unauthenticated /healthz names a row (srv_routes_check, run at
 *      start): the CLI and the API cannot drift apart.
 *   2. A handler reaches the store only through the public dt_store_*
 *      calls with the request's token and purpose, so it cannot skip
 *      authorization or the audit entry.
 */
#ifndef DT_SERVER_INT_H
#define DT_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dovetail.h"

enum { SRV_MAX_PARAMS = 2 };

/* One request as a handler sees it. */
typedef struct srv_req {
    dt_store *store;           /* this worker's handle */
    dt_request auth;           /* token and purpose from the headers */
    const char *params[SRV_MAX_PARAMS]; /* the path's {} segments, decoded */
    const char *body;          /* NUL-terminated; "" when none */
    size_t body_len;
    const char *content_type;  /* "" when none */
    void *conn;                /* for query arguments (srv_query) */
    const char *tmp_dir;       /* the server's own 0700 folder, for bodies a call reads as a file */
    dt_server *server;         /* for srv_count_rows */
} srv_req;

/* What a handler answers: a status and a JSON body (malloc'd, freed by
 * the server), or a file streamed from fd (size bytes, content_type; the
 * server closes it; the file is already unlinked), or an error (err set,
 * the server writes its JSON). */
typedef struct srv_reply {
    unsigned status;
    char *body;
    int fd;                    /* > 0: stream this file instead of body */
    uint64_t size;
    const char *content_type;
} srv_reply;

typedef int (*srv_handler)(srv_req *r, srv_reply *out, dt_error *err);

typedef struct srv_route {
    const char *action;        /* the dt_calls row; NULL: not a governed call */
    const char *method;
    const char *path;          /* segments; "{}" matches one */
    srv_handler handler;       /* NULL: not served yet (501) */
    int needs_json;            /* 1: a body of application/json is required */
} srv_route;

extern const srv_route srv_routes[];
extern const size_t srv_n_routes;

/* 0 when invariant 1 holds; else -1 and err names the action at fault. */
int srv_routes_check(dt_error *err);
/* The query argument `name`, or NULL; the header `name`, or NULL. */
const char *srv_query(const srv_req *r, const char *name);
const char *srv_header(const srv_req *r, const char *name);
/* Counts an ingest's rows for /metrics. */
void srv_count_rows(dt_server *s, const dt_ingest_summary *sum);
/* A dt_error's HTTP status. */
unsigned srv_status_of(int code);

#endif
