/*
 * fuzz_http.c — libFuzzer target for the HTTP API (src/server): the real
 * server on a loopback port over the store of fuzz_store.h, sent one
 * request per input. The input is "METHOD PATH\n" then header lines up to
 * an empty line, then the body; the request carries the analyst's token
 * and purpose "fuzz" before the fuzzed headers, so the routes and their
 * handlers are reached. Aborts unless:
 *   1. the reply is HTTP/1.1 with a status other than 5xx (but 505, the
 *      HTTP version): whatever the input, the server says what is wrong
 *      with it, never "internal error";
 *   2. a JSON reply of ours (Content-Type application/json, not a file a
 *      call streams: CSV, JSON lines) is a JSON object, and an error one
 *      has the one shape {"error": {"status", "code", "message", "field"}}
 *      with the status it was sent with.
 * Replayed without libFuzzer by regression_driver.c (make fuzz-replay).
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "fuzz_store.h"

static dt_server *g_server;

static void stop_server(void)
{
    dt_server_stop(g_server);
}

static void start_server(void)
{
    setup();
    char store[128], key[128];
    snprintf(store, sizeof store, "%s/s.db", g_dir);
    snprintf(key, sizeof key, "%s/s.key", g_dir);
    dt_server_options o = {.store_path = store, .key_path = key, .listen = "127.0.0.1:0",
                           .threads = 1, .max_body = 1 << 16, .timeout_s = 2};
    dt_error err;
    must(dt_server_start(&o, &g_server, &err), &err);
    atexit(stop_server);
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)dt_server_port(g_server))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

/* The request for an input (see the top): malloc'd, *n bytes. */
static char *build(const uint8_t *data, size_t size, size_t *n)
{
    const char *in = (const char *)data, *end = in + size;
    const char *nl = memchr(in, '\n', size);
    size_t first = nl ? (size_t)(nl - in) : size;
    const char *hdr = nl ? nl + 1 : end, *body = end;
    for (const char *p = hdr; p < end; p++)
        if (*p == '\n' && (p + 1 == end || p[1] == '\n')) {
            body = p + 1 < end ? p + 2 : end;
            break;
        }
    size_t hdr_len = (size_t)((body > hdr ? body : hdr) - hdr), body_len = (size_t)(end - body);
    if (body > end) body = end, body_len = 0;
    char *req = malloc(size + 512 + DT_TOKEN_SIZE);
    CHECK(req);
    int k = snprintf(req, 512 + DT_TOKEN_SIZE, "%.*s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
                     "close\r\nAuthorization: Bearer %s\r\nDovetail-Purpose: fuzz\r\n",
                     (int)first, in, g_analyst);
    size_t len = (size_t)k;
    memcpy(req + len, hdr, hdr_len); /* the fuzzed headers, one per line */
    len += hdr_len;
    len += (size_t)sprintf(req + len, "Content-Length: %zu\r\n\r\n", body_len);
    memcpy(req + len, body, body_len);
    *n = len + body_len;
    return req;
}

static void check_reply(const char *r, size_t n)
{
    if (n == 0) return; /* the server may close on a request it cannot parse */
    CHECK(n >= 12 && !memcmp(r, "HTTP/1.", 7));
    int status = atoi(r + 9);
    CHECK(status >= 100 && status < 600 && (status < 500 || status == 505));
    const char *body = strstr(r, "\r\n\r\n");
    /* libmicrohttpd's own replies, and files, are not ours to check */
    if (!body || !strcasestr(r, "Content-Type: application/json\r\n")) return;
    json_t *o = json_loads(body + 4, 0, NULL);
    CHECK(json_is_object(o));
    json_t *e = json_object_get(o, "error");
    if (status >= 400) {
        CHECK(json_is_object(e));
        CHECK(json_integer_value(json_object_get(e, "status")) == status);
        CHECK(json_is_string(json_object_get(e, "code")));
        CHECK(json_is_string(json_object_get(e, "message")));
        CHECK(json_is_string(json_object_get(e, "field")));
    }
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_server) start_server();
    size_t n;
    char *req = build(data, size, &n);
    int fd = connect_server();
    size_t sent = 0;
    while (sent < n) {
        ssize_t w = send(fd, req + sent, n - sent, MSG_NOSIGNAL);
        if (w <= 0) break; /* the server may close early (413) */
        sent += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    char *reply = malloc(1 << 20);
    CHECK(reply);
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, reply + got, (1 << 20) - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    reply[got] = '\0';
    close(fd);
    check_reply(reply, got);
    free(reply);
    free(req);
    return 0;
}
