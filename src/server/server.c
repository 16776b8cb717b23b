/*
 * server.c — dt_server_*: a libmicrohttpd daemon (a thread per
 * connection, HTTPS through its GnuTLS support) that routes each request
 * to its governed call (routes.c).
 *
 * Invariants:
 *   1. The server opens o.threads handles on the store before it listens
 *      (opening one loads the model: not a cost for a request to pay), and
 *      a request takes a free one for its call: a dt_store is used by one
 *      request at a time. Their lone audit entries (every read's) go
 *      through one committer, so concurrent requests share a commit. A
 *      connection has a thread of its own, not a share of a pool: in a
 *      pool, connections are dealt to threads as they come, and two on
 *      one thread wait for each other's commit while a handle is free.
 *   2. A body over max_body is refused with 413 before more of it is
 *      read into memory; one that does not end is cut by the idle timeout.
 *   3. Every error reply has one shape: {"error": {"status", "code",
 *      "message", "field"}}, field a JSON pointer into the body, a query
 *      argument's name, or "".
 *   4. dt_server_stop stops accepting, then returns after every request
 *      in flight has been answered (or STOP_WAIT_MS passed): a request a
 *      client was not answered may have been done, but none is cut off
 *      half-sent by a stop.
 *   5. Workers run at nice WORKER_NICE, the committer's thread at the
 *      process's own: under load, commits go first (lower_worker).
 *   6. An error's message names no file of the server's: the store (a
 *      PostgreSQL store's URL too, with or without its password), its key
 *      file and the server's folder are called that (send_dt_error).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "server_int.h"

/* /metrics: per route (slot 0: no route), requests by status and a latency
 * histogram, counted with atomics by every worker. */
static const unsigned k_statuses[] = {200, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 501};
enum { N_STATUS = sizeof k_statuses / sizeof k_statuses[0] + 1 /* other */, MAX_ROUTES = 64 };
enum { WORKER_NICE = 5, STOP_WAIT_MS = 60000 };
static const double k_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5};
enum { N_BUCKET = sizeof k_buckets / sizeof k_buckets[0] };

typedef struct route_metrics {
    uint64_t by_status[N_STATUS];
    uint64_t le[N_BUCKET];     /* requests at or under each bucket's bound */
    uint64_t sum_us, count;
} route_metrics;

/* The rate limit: a token bucket per token, in a table of slots by the
 * token's hash (a collision shares a bucket: it can only slow both). */
enum { RATE_SLOTS = 4096 };
typedef struct rate_slot {
    uint64_t token;          /* hash of the bearer token; 0: free */
    double tokens;
    struct timespec last;
} rate_slot;

struct dt_server {
    route_metrics metrics[MAX_ROUTES + 1];
    rate_slot rate[RATE_SLOTS];
    pthread_mutex_t rate_lock;
    struct MHD_Daemon *d;
    dt_server_options o;
    char *store_path, *key_path;
    char *cert, *key;        /* PEM text for TLS, or NULL */
    char tmp_dir[256];       /* 0700, for bodies a call reads as a file; removed at stop */
    dt_committer *committer; /* every handle's lone audit entries, in groups */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_free;
    dt_store **handles;      /* invariant 1: all of them, opened at start */
    dt_store **free_handles; /* those no request holds */
    size_t n_handles, n_free;
    unsigned long in_flight;  /* requests begun and not yet answered (atomics) */
    uint64_t rows[4];         /* rows ingested: new, changed or restored, unchanged, rejected */
    unsigned port;
};

typedef struct pending_req {
    char *body;
    size_t len, cap;
    int too_big;
    int route;                 /* index in srv_routes, or -1 */
    unsigned status;           /* of the reply queued */
    struct timespec t0;
} pending_req;

/* The request this worker is answering: send_body notes its status. */
static __thread pending_req *t_current;
static __thread int t_lowered;

/* Invariant 5: a worker runs below the committer's thread (and the rest of
 * the process), so the one serial step of every request is never the one
 * the scheduler keeps waiting. Lowering needs no privilege. */
static void lower_worker(void)
{
    if (t_lowered) return;
    t_lowered = 1;
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE);
}

unsigned srv_status_of(int code)
{
    switch (code) {
    case DT_EAUTH: return 401;
    case DT_EDENIED: return 403;
    case DT_ENOTFOUND: return 404;
    case DT_ESTATE:
    case DT_EBUSY: return 409;
    case DT_ELIMIT: return 413;
    case DT_EMODEL: return 422; /* understood, but no model can be made or loaded from it */
    case DT_EINVAL:
    case DT_EINPUT:
    case DT_ECONFIG: return 400;
    default: return 500;
    }
}

const char *srv_query(const srv_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *srv_header(const srv_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned status, char *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (t_current) t_current->status = status;
    MHD_add_response_header(resp, "Content-Type", body[0] == '{' ? "application/json"
                                                                 : "text/plain; version=0.0.4");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* A file a call wrote, streamed from its descriptor: never whole in memory. */
static enum MHD_Result send_file(struct MHD_Connection *c, const srv_reply *out)
{
    struct MHD_Response *resp = MHD_create_response_from_fd64(out->size, out->fd);
    if (!resp) {
        close(out->fd);
        return MHD_NO;
    }
    if (t_current) t_current->status = 200;
    MHD_add_response_header(resp, "Content-Type", out->content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (!strncmp(out->content_type, "text/html", 9)) { /* the review page: its own files only */
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; connect-src 'self'; frame-ancestors "
                                "'none'; base-uri 'none'; form-action 'none'");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    }
    enum MHD_Result ok = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* Invariant 3. */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code,
                                  const char *message, const char *field)
{
    json_t *o = json_pack("{s:{s:i, s:s, s:s, s:s}}", "error", "status", (int)status, "code", code,
                          "message", message, "field", field ? field : "");
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text ? send_body(c, status, text) : MHD_NO;
}

/* Every occurrence of path in msg (cap bytes) as name. */
static void replace_all(char *msg, size_t cap, const char *path, const char *name)
{
    size_t n = path ? strlen(path) : 0, k = strlen(name);
    char *from = msg, *at;
    while (n && (at = strstr(from, path))) { /* on after the name: it may hold path */
        char rest[sizeof ((dt_error *)0)->msg];
        snprintf(rest, sizeof rest, "%s", at + n);
        snprintf(at, cap - (size_t)(at - msg), "%s%s", name, rest);
        from = at + k < msg + cap ? at + k : msg + cap - 1;
    }
}

static int is_url(const char *path)
{
    return !strncmp(path, "postgresql://", 13) || !strncmp(path, "postgres://", 11);
}

/* Invariant 6: a client is told what went wrong, not where the server
 * keeps its files. */
static enum MHD_Result send_dt_error(dt_server *s, struct MHD_Connection *c, dt_error *err)
{
    unsigned status = srv_status_of(err->code);
    if (status == 400 && !strcmp(err->field, "Content-Type")) status = 415;
    replace_all(err->msg, sizeof err->msg, s->tmp_dir, "the server's folder");
    replace_all(err->msg, sizeof err->msg, s->key_path, "the key file");
    replace_all(err->msg, sizeof err->msg, s->store_path, "the store");
    /* a PostgreSQL store is named by its URL without the password: not the
     * URL the server was given, when that has one */
    if (is_url(s->store_path) && is_url(err->file))
        replace_all(err->msg, sizeof err->msg, err->file, "the store");
    return send_error(c, status, dt_errname(err->code),
                      err->msg[0] ? err->msg : dt_strerror(err->code), err->field);
}

/* ---- routing ------------------------------------------------------------- */

/* 1 when path matches the route's pattern, segment by segment; its {}
 * segments go to params (pointers into buf, a copy of path cut at each
 * '/'). */
static int match(const char *pattern, const char *path, char *buf, size_t cap, const char **params)
{
    size_t n = strlen(path);
    if (n + 1 > cap || path[0] != '/') return 0;
    memcpy(buf, path, n + 1);
    int k = 0;
    const char *p = pattern + 1;
    char *s = buf + 1;
    for (;;) {
        const char *pend = strchr(p, '/');
        char *send = strchr(s, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        size_t slen = send ? (size_t)(send - s) : strlen(s);
        if (plen == 2 && p[0] == '{' && p[1] == '}') {
            if (!slen || k >= SRV_MAX_PARAMS) return 0;
            params[k++] = s;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return 0;
        }
        if (!pend && !send) return 1;
        if (!pend || !send) return 0;
        *send = '\0';
        p = pend + 1;
        s = send + 1;
    }
}

static const srv_route *find_route(const char *method, const char *path, char *buf, size_t cap,
                                   const char **params, int *path_known)
{
    *path_known = 0;
    for (size_t k = 0; k < srv_n_routes; k++) {
        if (!match(srv_routes[k].path, path, buf, cap, params)) continue;
        *path_known = 1;
        if (!strcmp(srv_routes[k].method, method)) return &srv_routes[k];
    }
    return NULL;
}

/* Invariant 1: there are as many handles as workers, so a wait is short. */
static dt_store *take_handle(dt_server *s)
{
    pthread_mutex_lock(&s->pool_lock);
    while (!s->n_free) pthread_cond_wait(&s->pool_free, &s->pool_lock);
    dt_store *st = s->free_handles[--s->n_free];
    pthread_mutex_unlock(&s->pool_lock);
    return st;
}

static void give_back(dt_server *s, dt_store *st)
{
    pthread_mutex_lock(&s->pool_lock);
    s->free_handles[s->n_free++] = st;
    pthread_cond_signal(&s->pool_free);
    pthread_mutex_unlock(&s->pool_lock);
}

static int open_handles(dt_server *s, dt_error *err)
{
    s->handles = calloc(s->o.threads, sizeof *s->handles);
    s->free_handles = calloc(s->o.threads, sizeof *s->free_handles);
    if (!s->handles || !s->free_handles) {
        err->code = DT_ENOMEM;
        return DT_ENOMEM;
    }
    for (; s->n_handles < s->o.threads; s->n_handles++) {
        dt_store **h = &s->handles[s->n_handles];
        if (dt_store_open_keyed(s->store_path, s->key_path, h, err) < 0) return err->code;
        if (dt_store_use_committer(*h, s->committer, err) < 0) {
            dt_store_close(*h);
            return err->code;
        }
        s->free_handles[s->n_free++] = *h;
    }
    return DT_OK;
}

static uint64_t token_hash(const char *t)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: spread, not secrecy (the slot is in memory) */
    for (; *t; t++) h = (h ^ (unsigned char)*t) * 1099511628211ull;
    return h ? h : 1;
}

/* 1 when the token may make one more request now. */
static int rate_ok(dt_server *s, const char *token)
{
    uint64_t h = token_hash(token);
    rate_slot *b = &s->rate[h % RATE_SLOTS];
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double rate = s->o.rate_per_s, burst = 2.0 * rate;
    pthread_mutex_lock(&s->rate_lock);
    if (b->token != h) *b = (rate_slot){h, burst, now};
    double dt = (double)(now.tv_sec - b->last.tv_sec) + (double)(now.tv_nsec - b->last.tv_nsec) / 1e9;
    b->tokens = b->tokens + dt * rate > burst ? burst : b->tokens + dt * rate;
    b->last = now;
    int ok = b->tokens >= 1.0;
    if (ok) b->tokens -= 1.0;
    pthread_mutex_unlock(&s->rate_lock);
    return ok;
}

static const char *bearer(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return h && !strncmp(h, "Bearer ", 7) ? h + 7 : NULL;
}

void srv_count_rows(dt_server *s, const dt_ingest_summary *sum)
{
    __atomic_add_fetch(&s->rows[0], sum->n_new, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->rows[1], sum->n_changed + sum->n_restored, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->rows[2], sum->n_same, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->rows[3], sum->n_rejected, __ATOMIC_RELAXED);
}

static void count_request(dt_server *s, const pending_req *p)
{
    int slot = p->route >= 0 && p->route < MAX_ROUTES ? p->route + 1 : 0;
    route_metrics *m = &s->metrics[slot];
    size_t k = 0;
    while (k < N_STATUS - 1 && k_statuses[k] != p->status) k++;
    __atomic_add_fetch(&m->by_status[k], 1, __ATOMIC_RELAXED);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - p->t0.tv_sec) + (double)(t1.tv_nsec - p->t0.tv_nsec) / 1e9;
    for (size_t b = 0; b < N_BUCKET; b++)
        if (secs <= k_buckets[b]) __atomic_add_fetch(&m->le[b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&m->sum_us, (uint64_t)(secs * 1e6), __ATOMIC_RELAXED);
    __atomic_add_fetch(&m->count, 1, __ATOMIC_RELAXED);
}

/* Prometheus text format (0.0.4). */
static enum MHD_Result send_metrics(dt_server *s, struct MHD_Connection *c)
{
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    if (!out) return MHD_NO;
#define EMIT(...)                                                                              \
    do {                                                                                       \
        int w_ = snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__);                        \
        if (w_ > 0) n += (size_t)w_;                                                           \
    } while (0)
    EMIT("# HELP dovetail_http_requests_total Requests answered, by route and status.\n"
         "# TYPE dovetail_http_requests_total counter\n");
    for (size_t r = 0; r <= srv_n_routes && r <= MAX_ROUTES; r++) {
        const route_metrics *m = &s->metrics[r];
        const char *meth = r ? srv_routes[r - 1].method : "", *path = r ? srv_routes[r - 1].path : "none";
        for (size_t k = 0; k < N_STATUS; k++) {
            uint64_t v = __atomic_load_n(&m->by_status[k], __ATOMIC_RELAXED);
            if (!v) continue;
            char st[8];
            if (k < N_STATUS - 1) snprintf(st, sizeof st, "%u", k_statuses[k]);
            else snprintf(st, sizeof st, "other");
            EMIT("dovetail_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
                 meth, path, st, (unsigned long long)v);
        }
    }
    EMIT("# HELP dovetail_http_request_duration_seconds Time from the request's headers to its "
         "reply, by route.\n# TYPE dovetail_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= srv_n_routes && r <= MAX_ROUTES; r++) {
        const route_metrics *m = &s->metrics[r];
        uint64_t count = __atomic_load_n(&m->count, __ATOMIC_RELAXED);
        if (!count) continue;
        const char *meth = r ? srv_routes[r - 1].method : "", *path = r ? srv_routes[r - 1].path : "none";
        for (size_t b = 0; b < N_BUCKET; b++)
            EMIT("dovetail_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} "
                 "%llu\n", meth, path, k_buckets[b],
                 (unsigned long long)__atomic_load_n(&m->le[b], __ATOMIC_RELAXED));
        EMIT("dovetail_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} "
             "%llu\n", meth, path, (unsigned long long)count);
        EMIT("dovetail_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n", meth,
             path, (double)__atomic_load_n(&m->sum_us, __ATOMIC_RELAXED) / 1e6);
        EMIT("dovetail_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
             meth, path, (unsigned long long)count);
    }
    uint64_t denied[2] = {0, 0}; /* 401, 403 over every route */
    for (size_t r = 0; r <= srv_n_routes && r <= MAX_ROUTES; r++)
        for (size_t k = 0; k < N_STATUS - 1; k++)
            if (k_statuses[k] == 401 || k_statuses[k] == 403)
                denied[k_statuses[k] == 403] += __atomic_load_n(&s->metrics[r].by_status[k], __ATOMIC_RELAXED);
    EMIT("# HELP dovetail_denials_total Requests refused: no valid token (401), or not allowed "
         "(403, audited).\n# TYPE dovetail_denials_total counter\n"
         "dovetail_denials_total{status=\"401\"} %llu\ndovetail_denials_total{status=\"403\"} %llu\n",
         (unsigned long long)denied[0], (unsigned long long)denied[1]);
    static const char *const row_kinds[4] = {"new", "changed", "unchanged", "rejected"};
    EMIT("# HELP dovetail_ingest_rows_total Rows ingested over HTTP, by what became of them.\n"
         "# TYPE dovetail_ingest_rows_total counter\n");
    for (int k = 0; k < 4; k++)
        EMIT("dovetail_ingest_rows_total{result=\"%s\"} %llu\n", row_kinds[k],
             (unsigned long long)__atomic_load_n(&s->rows[k], __ATOMIC_RELAXED));
    dt_group_stats g;
    dt_committer_stats(s->committer, &g);
    EMIT("# HELP dovetail_audit_group_size Audit entries made durable together, by group "
         "commit.\n# TYPE dovetail_audit_group_size histogram\n");
    uint64_t below = 0;
    for (int b = 0; b < DT_GROUP_BUCKETS - 1; b++) {
        below += g.sizes[b];
        EMIT("dovetail_audit_group_size_bucket{le=\"%d\"} %llu\n", 1 << b,
             (unsigned long long)below);
    }
    EMIT("dovetail_audit_group_size_bucket{le=\"+Inf\"} %llu\n"
         "dovetail_audit_group_size_sum %llu\ndovetail_audit_group_size_count %llu\n",
         (unsigned long long)g.commits, (unsigned long long)g.entries,
         (unsigned long long)g.commits);
    EMIT("# HELP dovetail_wal_resets_total Times the committer reset the store's WAL, which "
         "keeps it short under load.\n# TYPE dovetail_wal_resets_total counter\n"
         "dovetail_wal_resets_total %llu\n", (unsigned long long)g.wal_resets);
    EMIT("# HELP dovetail_wal_reset_pause_seconds_total Time WAL resets stopped the commits.\n"
         "# TYPE dovetail_wal_reset_pause_seconds_total counter\n"
         "dovetail_wal_reset_pause_seconds_total %.6f\n"
         "# HELP dovetail_wal_reset_pause_seconds_max The longest a WAL reset stopped them.\n"
         "# TYPE dovetail_wal_reset_pause_seconds_max gauge\n"
         "dovetail_wal_reset_pause_seconds_max %.6f\n", (double)g.reset_pause_us / 1e6,
         (double)g.reset_pause_max_us / 1e6);
#undef EMIT
    if (n >= cap) n = cap - 1; /* cut, never overrun: 64 KiB holds every route */
    out[n] = '\0';
    return send_body(c, 200, out);
}

static enum MHD_Result serve(dt_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, pending_req *p)
{
    char buf[2048];
    const char *params[SRV_MAX_PARAMS] = {0};
    int path_known;
    const srv_route *rt = find_route(method, url, buf, sizeof buf, params, &path_known);
    p->route = rt ? (int)(rt - srv_routes) : -1;
    if (rt && !strcmp(rt->path, "/metrics")) return send_metrics(s, c);
    if (!rt && path_known)
        return send_error(c, 405, "method_not_allowed", "this path takes another method", "");
    if (!rt) return send_error(c, 404, "not_found", "no such route", "");
    if (!rt->handler)
        return send_error(c, 501, "not_implemented", "this governed call has its route but is "
                          "not served over HTTP yet; use the dovetail command", "");
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (rt->needs_json && (!ctype || strncmp(ctype, "application/json", 16)))
        return send_error(c, 415, "unsupported_media_type", "the body must be application/json",
                          "");
    dt_error err;
    dt_error_clear(&err);
    srv_req r = {.body = p->body ? p->body : "", .body_len = p->len,
                 .content_type = ctype ? ctype : "", .conn = c, .tmp_dir = s->tmp_dir,
                 .server = s};
    r.auth.token = bearer(c);
    r.auth.purpose = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Dovetail-Purpose");
    memcpy(r.params, params, sizeof params);
    if (rt->action && !r.auth.token)
        return send_error(c, 401, "DT_EAUTH", "no token: send Authorization: Bearer TOKEN", "");
    if (rt->action && !rate_ok(s, r.auth.token))
        return send_error(c, 429, "rate_limited", "over this token's requests a second: try "
                          "again in a second", "");
    if (rt->action) r.store = take_handle(s);
    srv_reply out = {0};
    int rc = rt->handler(&r, &out, &err);
    if (r.store) give_back(s, r.store);
    if (rc < 0) return send_dt_error(s, c, &err);
    if (out.fd > 0) return send_file(c, &out);
    return send_body(c, out.status ? out.status : 200, out.body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    dt_server *s = cls;
    pending_req *p = *con_cls;
    if (!p) { /* the headers: refuse an announced body over the limit at once */
        if (!(p = calloc(1, sizeof *p))) return MHD_NO;
        *con_cls = p;
        __atomic_add_fetch(&s->in_flight, 1, __ATOMIC_RELAXED);
        p->route = -1;
        clock_gettime(CLOCK_MONOTONIC, &p->t0);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->o.max_body) p->too_big = 1;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (!p->too_big && p->len + *upload_size > s->o.max_body) p->too_big = 1;
        if (!p->too_big) {
            if (p->len + *upload_size + 1 > p->cap) {
                size_t cap = (p->len + *upload_size + 1) * 2;
                char *nb = realloc(p->body, cap);
                if (!nb) return MHD_NO;
                p->body = nb;
                p->cap = cap;
            }
            memcpy(p->body + p->len, upload, *upload_size);
            p->len += *upload_size;
            p->body[p->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    lower_worker();
    t_current = p;
    if (p->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is over %zu bytes", s->o.max_body);
        return send_error(c, 413, "DT_ELIMIT", msg, "");
    }
    enum MHD_Result ok = serve(s, c, url, method, p);
    t_current = NULL;
    return ok;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode why)
{
    (void)c, (void)why;
    pending_req *p = *con_cls;
    if (p && p->status) count_request(cls, p);
    if (p) __atomic_sub_fetch(&((dt_server *)cls)->in_flight, 1, __ATOMIC_RELAXED);
    if (p) free(p->body);
    free(p);
    *con_cls = NULL;
}

/* ---- start and stop ------------------------------------------------------ */

static char *read_pem(const char *path, dt_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err->code = DT_EIO;
        snprintf(err->msg, sizeof err->msg, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

static int parse_listen(const char *listen, char *host, size_t cap, unsigned *port, dt_error *err)
{
    const char *colon = strrchr(listen, ':');
    char *end;
    unsigned long p = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || *end || p > 65535 || (size_t)(colon - listen) >= cap) {
        err->code = DT_EINVAL;
        snprintf(err->field, sizeof err->field, "listen");
        snprintf(err->msg, sizeof err->msg, "--listen '%s': write HOST:PORT (127.0.0.1:8080)",
                 listen);
        return DT_EINVAL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    *port = (unsigned)p;
    return DT_OK;
}

static void free_server(dt_server *s)
{
    if (!s) return;
    if (s->tmp_dir[0]) rmdir(s->tmp_dir); /* each body file is removed after its call */
    free(s->store_path);
    free(s->key_path);
    free(s->cert);
    free(s->key);
    for (size_t i = 0; i < s->n_handles; i++) dt_store_close(s->handles[i]);
    dt_committer_close(s->committer); /* after every handle that uses it */
    free(s->handles);
    free(s->free_handles);
    pthread_cond_destroy(&s->pool_free);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_mutex_destroy(&s->rate_lock);
    free(s);
}

int dt_server_start(const dt_server_options *opts, dt_server **out, dt_error *err)
{
    dt_error_clear(err);
    *out = NULL;
    if (!opts || !opts->store_path) {
        err->code = DT_EINVAL;
        snprintf(err->msg, sizeof err->msg, "dt_server_start: a store is required");
        return DT_EINVAL;
    }
    if (srv_routes_check(err) < 0) return err->code;
    if (!opts->tls_cert != !opts->tls_key) {
        err->code = DT_EINVAL;
        snprintf(err->msg, sizeof err->msg, "TLS needs both a certificate and its key");
        return DT_EINVAL;
    }
    dt_committer *committer = NULL; /* opening it checks the store and key before listening */
    if (dt_committer_open(opts->store_path, opts->key_path, &committer, err) < 0) return err->code;
    dt_server *s = calloc(1, sizeof *s);
    if (!s) {
        dt_committer_close(committer);
        err->code = DT_ENOMEM;
        return DT_ENOMEM;
    }
    s->committer = committer;
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_cond_init(&s->pool_free, NULL);
    s->o = *opts;
    pthread_mutex_init(&s->rate_lock, NULL);
    if (!s->o.rate_per_s) s->o.rate_per_s = 10000;
    const char *tmp = getenv("TMPDIR");
    snprintf(s->tmp_dir, sizeof s->tmp_dir, "%s/dovetail-serve.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s->tmp_dir)) { /* mkdtemp makes it 0700 */
        err->code = DT_EIO;
        snprintf(err->msg, sizeof err->msg, "cannot make a private folder in %s: %s",
                 tmp && *tmp ? tmp : "/tmp", strerror(errno));
        s->tmp_dir[0] = '\0';
        free_server(s);
        return DT_EIO;
    }
    if (!s->o.threads) { /* a request waits for its group's commit: more handles than cores, */
        long cores = sysconf(_SC_NPROCESSORS_ONLN); /* but each holds a model (~32 MB at 1M) */
        s->o.threads = cores > 0 && cores < 8 ? 8 * (unsigned)cores : 64;
    }
    if (!s->o.max_body) s->o.max_body = 16u << 20;
    if (!s->o.max_connections) s->o.max_connections = 256;
    if (!s->o.timeout_s) s->o.timeout_s = 30;
    s->store_path = strdup(opts->store_path);
    s->key_path = opts->key_path ? strdup(opts->key_path) : NULL;
    char host[256];
    unsigned port;
    int rc = parse_listen(opts->listen ? opts->listen : "127.0.0.1:8080", host, sizeof host, &port,
                          err);
    if (rc == DT_OK && opts->tls_cert) {
        s->cert = read_pem(opts->tls_cert, err);
        s->key = s->cert ? read_pem(opts->tls_key, err) : NULL;
        if (!s->key) rc = err->code ? err->code : DT_ENOMEM;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (rc == DT_OK && inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        err->code = rc = DT_EINVAL;
        snprintf(err->field, sizeof err->field, "listen");
        snprintf(err->msg, sizeof err->msg, "--listen: '%s' is not an IPv4 address", host);
    }
    if (rc == DT_OK) rc = open_handles(s, err);
    if (rc < 0) {
        free_server(s);
        return rc;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG |
                     MHD_USE_ITC; /* MHD_quiesce_daemon needs it */
    if (s->cert) flags |= MHD_USE_TLS;
    /* options as an array: TLS's are there only when used */
    struct MHD_OptionItem ops[8];
    size_t k = 0;
    if (s->cert) {
        ops[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert};
        ops[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->key};
    }
    ops[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
                            s->o.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, s->o.timeout_s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, s, MHD_OPTION_ARRAY, ops,
                            MHD_OPTION_END);
    if (!s->d) {
        err->code = DT_EIO;
        snprintf(err->msg, sizeof err->msg, "cannot listen on %s:%u (in use, or not an address "
                 "of this machine)", host, port);
        free_server(s);
        return DT_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    *out = s;
    return DT_OK;
}

unsigned dt_server_port(const dt_server *s)
{
    return s ? s->port : 0;
}

void dt_server_stop(dt_server *s)
{
    if (!s) return;
    /* invariant 4: no new connection; every request begun is answered
     * (idle keep-alive connections are not waited for) */
    MHD_socket listener = MHD_quiesce_daemon(s->d);
    for (int waited_ms = 0; waited_ms < STOP_WAIT_MS; waited_ms += 10) {
        if (!__atomic_load_n(&s->in_flight, __ATOMIC_RELAXED)) break;
        struct timespec ten = {0, 10 * 1000000L};
        nanosleep(&ten, NULL);
    }
    MHD_stop_daemon(s->d); /* joins the workers: no request holds a handle */
    if (listener != MHD_INVALID_SOCKET) close(listener);
    free_server(s);
}
