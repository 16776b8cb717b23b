/*
 * routes.c — the route of every governed call (server_int.h, invariant
 * 1) and the handlers that serve them: each parses what the request
 * carries, makes the one public call, and writes its result as JSON.
 * A route without a handler answers 501 and says so: it has a place in
 * the API and is not served yet.
 */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server_int.h"

/* The public header has no DT_TRY: the server sees the public API only. */
#define TRY(expr)                                                                              \
    do {                                                                                       \
        int try_rc_ = (expr);                                                                  \
        if (try_rc_ < 0) return try_rc_;                                                       \
    } while (0)

/* ---- replies --------------------------------------------------------------- */

static int no_memory(dt_error *err)
{
    err->code = DT_ENOMEM;
    snprintf(err->msg, sizeof err->msg, "out of memory");
    return DT_ENOMEM;
}

static int reply_json(srv_reply *out, unsigned status, json_t *o, dt_error *err)
{
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!text) return no_memory(err);
    out->status = status;
    out->body = text; /* jansson's malloc: the server frees it with free() */
    return DT_OK;
}

/* A library-made JSON text (dt_free'd) passed on as the body. */
static int reply_text(srv_reply *out, char *text, dt_error *err)
{
    json_t *o = json_loads(text, 0, NULL);
    dt_free(text);
    return reply_json(out, 200, o, err);
}

static int bad_field(dt_error *err, const char *pointer, const char *what)
{
    dt_error_clear(err);
    err->code = DT_EINVAL;
    snprintf(err->field, sizeof err->field, "%.120s", pointer);
    snprintf(err->msg, sizeof err->msg, "%s: %s", pointer, what);
    return DT_EINVAL;
}

/* The body as a JSON object, or a 400 naming what is wrong. */
static int body_object(const srv_req *r, json_t **out, dt_error *err)
{
    json_error_t je;
    *out = json_loadb(r->body, r->body_len, 0, &je);
    if (!*out) {
        dt_error_clear(err);
        err->code = DT_EINVAL;
        err->field[0] = '\0';
        snprintf(err->msg, sizeof err->msg, "the body is not JSON: %s (line %d, column %d)",
                 je.text, je.line, je.column);
        return DT_EINVAL;
    }
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return bad_field(err, "", "the body must be a JSON object");
    }
    return DT_OK;
}

/* ---- handlers --------------------------------------------------------------- */

static int health(srv_req *r, srv_reply *out, dt_error *err)
{
    (void)r;
    return reply_json(out, 200, json_pack("{s:s}", "status", "ok"), err);
}

/* The resolve reply, the one a busy server sends most, is written as text
 * directly: jansson built and dumped it in 13% of a resolve's instructions
 * (an object per candidate, per level, two reals). What it writes is what
 * jansson wrote: the same keys in the same order, strings escaped as RFC
 * 8259 asks, reals as "%.17g" with a ".0" when that reads as an integer.
 * A byte that starts no valid UTF-8 sequence is written as U+FFFD, where
 * jansson refused the whole reply. */
typedef struct jtext {
    char *s;
    size_t n, cap;
    int is_failed;
} jtext;

static void jt_put(jtext *t, const char *p, size_t n)
{
    if (t->is_failed) return;
    if (t->n + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->n + n + 1) cap *= 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->is_failed = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
    memcpy(t->s + t->n, p, n);
    t->n += n;
    t->s[t->n] = '\0';
}

static void jt_lit(jtext *t, const char *lit)
{
    jt_put(t, lit, strlen(lit));
}

/* Bytes of the valid UTF-8 sequence at s (no overlong form, no surrogate,
 * at most U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80) return 1;
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (!n || (n == 3 && s[0] > 0xef)) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

static void jt_str(jtext *t, const char *v)
{
    const unsigned char *p = (const unsigned char *)v;
    jt_put(t, "\"", 1);
    while (*p) {
        const unsigned char *run = p; /* bytes written as they are */
        size_t k;
        while (*p && *p != '"' && *p != '\\' && *p >= 0x20 && (k = utf8_seq(p))) p += k;
        jt_put(t, (const char *)run, (size_t)(p - run));
        if (!*p) break;
        static const char short_form[] = "btn\0fr"; /* \b \t \n, \f \r: as jansson */
        char esc[8];
        if (*p == '"' || *p == '\\') snprintf(esc, sizeof esc, "\\%c", *p);
        else if (*p >= 8 && *p <= 13 && *p != 11) snprintf(esc, sizeof esc, "\\%c", short_form[*p - 8]);
        else if (*p < 0x20) snprintf(esc, sizeof esc, "\\u%04X", *p);
        else snprintf(esc, sizeof esc, "\\uFFFD");
        jt_lit(t, esc);
        p++;
    }
    jt_put(t, "\"", 1);
}

static void jt_real(jtext *t, double v)
{
    char num[40];
    int n = snprintf(num, sizeof num, "%.17g", v);
    if (!isfinite(v)) n = snprintf(num, sizeof num, "null"); /* never a weight: JSON has none */
    else if (!strpbrk(num, ".eE")) n += snprintf(num + n, sizeof num - (size_t)n, ".0");
    jt_put(t, num, (size_t)n);
}

static void candidate_text(jtext *t, const dt_resolution *res, const dt_candidate *c)
{
    jt_lit(t, "{\"source\":");
    jt_str(t, c->source);
    jt_lit(t, ",\"record_id\":");
    jt_str(t, c->record_id);
    jt_lit(t, ",\"entity\":");
    jt_str(t, c->entity);
    jt_lit(t, ",\"band\":");
    jt_str(t, c->band);
    jt_lit(t, c->is_withheld ? ",\"withheld\":true,\"levels\":{" : ",\"withheld\":false,\"levels\":{");
    for (size_t k = 0; k < res->n_comparisons; k++) {
        if (k) jt_put(t, ",", 1);
        jt_str(t, res->comparisons[k]);
        jt_put(t, ":", 1);
        jt_str(t, c->levels[k]);
    }
    jt_put(t, "}", 1);
    if (!c->is_withheld) {
        jt_lit(t, ",\"weight\":");
        jt_real(t, c->weight);
        jt_lit(t, ",\"probability\":");
        jt_real(t, c->probability);
    }
    jt_put(t, "}", 1);
}

/* The body goes to the library as it is: it authenticates first, then
 * says what is wrong with the record (and names the field). */
static int resolve(srv_req *r, srv_reply *out, dt_error *err)
{
    dt_resolution *res = NULL;
    TRY(dt_store_resolve(r->store, &r->auth, r->params[0], r->body, &res, err));
    jtext t = {0};
    jt_lit(&t, "{\"entity\":");
    jt_str(&t, res->entity);
    jt_lit(&t, ",\"candidates\":[");
    for (size_t i = 0; i < res->n_candidates; i++) {
        if (i) jt_put(&t, ",", 1);
        candidate_text(&t, res, &res->candidates[i]);
    }
    jt_lit(&t, "]}");
    dt_resolution_free(res);
    if (t.is_failed) {
        free(t.s);
        return no_memory(err);
    }
    out->status = 200;
    out->body = t.s; /* malloc'd: the server frees it with free() */
    return DT_OK;
}

static int entity(srv_req *r, srv_reply *out, dt_error *err)
{
    dt_entity_record *recs = NULL;
    size_t n = 0;
    TRY(dt_store_entity(r->store, &r->auth, r->params[0], &recs, &n, err));
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *raw = json_loads(recs[i].raw, 0, NULL);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:o*}", "source", recs[i].source,
                                             "record_id", recs[i].record_id, "row", raw));
    }
    dt_entity_records_free(recs, n);
    return reply_json(out, 200, json_pack("{s:s, s:o}", "entity", r->params[0], "records", arr),
                      err);
}

static int explain(srv_req *r, srv_reply *out, dt_error *err)
{
    const char *a = srv_query(r, "a"), *b = srv_query(r, "b");
    if (!a || !b) return bad_field(err, a ? "b" : "a", "give both records: ?a=SOURCE:ID&b=SOURCE:ID");
    dt_explanation *ex = NULL;
    TRY(dt_store_explain(r->store, &r->auth, a, b, &ex, err));
    char *text = dt_explanation_json(ex);
    dt_explanation_free(ex);
    if (!text) return no_memory(err);
    return reply_text(out, text, err);
}

static int add_principal(void *ctx, const dt_principal_info *p)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", p->name, "role", p->role,
                          "sources", p->sources, "created", p->created, "revoked", p->revoked);
    return json_array_append_new(ctx, o) < 0 ? DT_ENOMEM : DT_OK;
}

static int principals(srv_req *r, srv_reply *out, dt_error *err)
{
    json_t *arr = json_array();
    int rc = arr ? dt_principal_list(r->store, &r->auth, add_principal, arr, err) : DT_ENOMEM;
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    return reply_json(out, 200, json_pack("{s:o}", "principals", arr), err);
}

static int policy_get(srv_req *r, srv_reply *out, dt_error *err)
{
    char *text = NULL;
    int64_t version = 0;
    TRY(dt_policy_get(r->store, &r->auth, r->params[0], &text, &version, err));
    json_t *o = json_pack("{s:s, s:I, s:s?}", "source", r->params[0], "version",
                          (json_int_t)version, "policy", text);
    dt_free(text);
    return reply_json(out, 200, o, err);
}

static int audit_head(srv_req *r, srv_reply *out, dt_error *err)
{
    char *json = NULL;
    TRY(dt_audit_head(r->store, &r->auth, &json, err));
    return reply_text(out, json, err);
}

static int audit_prove(srv_req *r, srv_reply *out, dt_error *err)
{
    char *end;
    long long seq = strtoll(r->params[0], &end, 10);
    if (*end || seq < 1) return bad_field(err, "seq", "an entry number from 1");
    char *json = NULL;
    TRY(dt_audit_prove(r->store, &r->auth, seq, &json, err));
    return reply_text(out, json, err);
}

static int findings_list(srv_req *r, srv_reply *out, dt_error *err)
{
    char *json = NULL;
    TRY(dt_store_findings_list(r->store, &r->auth, srv_query(r, "state"), &json, err));
    return reply_text(out, json, err);
}

static int finding_show(srv_req *r, srv_reply *out, dt_error *err)
{
    char *json = NULL;
    TRY(dt_store_finding_show(r->store, &r->auth, r->params[0], &json, err));
    return reply_text(out, json, err);
}

static int findings_run(srv_req *r, srv_reply *out, dt_error *err)
{
    dt_findings_run_summary s;
    TRY(dt_store_findings_run(r->store, &r->auth, &s, err));
    json_t *rules = json_object();
    for (int k = 0; rules && k < DT_N_FINDING_RULES; k++) {
        json_t *o = json_pack("{s:b, s:I}", "ran", s.found.ran[k], "findings",
                              (json_int_t)s.found.per_rule[k]);
        if (o && !s.found.ran[k]) json_object_set_new(o, "why_not", json_string(s.why_not[k]));
        json_object_set_new(rules, dt_finding_rule_name(k), o);
    }
    return reply_json(out, 200, json_pack("{s:o, s:I, s:I, s:I, s:I}", "rules", rules, "new",
                                          (json_int_t)s.n_new, "found_again", (json_int_t)s.n_kept,
                                          "superseded", (json_int_t)s.n_superseded,
                                          "needs_review", (json_int_t)s.found.n_needs_review),
                      err);
}

/* verify, dismiss, notify, contest: the action is the path's last segment,
 * the reason the body's "reason". */
static int finding_step(srv_req *r, const char *action, srv_reply *out, dt_error *err)
{
    const char *reason = NULL;
    json_t *b = NULL;
    if (r->body_len) {
        TRY(body_object(r, &b, err));
        json_t *v = json_object_get(b, "reason");
        if (v && !json_is_string(v)) {
            json_decref(b);
            return bad_field(err, "/reason", "must be a string");
        }
        reason = json_string_value(v);
    }
    char *state = NULL;
    int rc = dt_store_finding_step(r->store, &r->auth, r->params[0], action, reason, &state, err);
    json_t *o = rc == DT_OK ? json_pack("{s:s, s:s}", "finding_id", r->params[0], "state", state) : NULL;
    dt_free(state);
    json_decref(b);
    if (rc < 0) {
        if (!strcmp(err->field, "reason")) snprintf(err->field, sizeof err->field, "/reason");
        return rc;
    }
    return reply_json(out, 200, o, err);
}

static int verify(srv_req *r, srv_reply *out, dt_error *err)
{
    return finding_step(r, "verify", out, err);
}

static int dismiss(srv_req *r, srv_reply *out, dt_error *err)
{
    return finding_step(r, "dismiss", out, err);
}

static int notify(srv_req *r, srv_reply *out, dt_error *err)
{
    return finding_step(r, "notify", out, err);
}

static int contest(srv_req *r, srv_reply *out, dt_error *err)
{
    return finding_step(r, "contest", out, err);
}

/* ---- bodies a call reads as a file (ingest, withdraw) -------------------------- */

/* One CSV field, quoted when it must be (RFC 4180). */
static void csv_field(FILE *f, const char *v, int last)
{
    if (strpbrk(v, ",\"\r\n")) {
        fputc('"', f);
        for (const char *p = v; *p; p++) {
            if (*p == '"') fputc('"', f);
            fputc(*p, f);
        }
        fputc('"', f);
    } else {
        fputs(v, f);
    }
    fputc(last ? '\n' : ',', f);
}

/* A JSON value of a row as CSV text: strings as they are, numbers as
 * written, null empty; anything else is a 400 at its pointer. */
static int cell_text(json_t *v, char *num, size_t cap, const char **out)
{
    if (!v || json_is_null(v)) return *out = "", DT_OK;
    if (json_is_string(v)) return *out = json_string_value(v), DT_OK;
    if (json_is_integer(v)) return snprintf(num, cap, "%lld", (long long)json_integer_value(v)), *out = num, DT_OK;
    if (json_is_real(v)) return snprintf(num, cap, "%.17g", json_real_value(v)), *out = num, DT_OK;
    return DT_EINVAL;
}

/* A JSON array of objects as CSV: the first object's keys are the header;
 * every row must use only those. */
static int json_rows_to_csv(const srv_req *r, FILE *f, dt_error *err)
{
    json_error_t je;
    json_t *a = json_loadb(r->body, r->body_len, 0, &je);
    char ptr[160];
    if (!json_is_array(a) || !json_array_size(a) || !json_is_object(json_array_get(a, 0))) {
        json_decref(a);
        return bad_field(err, "", "the body must be a JSON array of row objects, or text/csv");
    }
    json_t *first = json_array_get(a, 0), *row, *v;
    const char *key;
    size_t n_keys = json_object_size(first), k = 0, i;
    json_object_foreach(first, key, v) csv_field(f, key, ++k == n_keys);
    int rc = DT_OK;
    json_array_foreach(a, i, row) {
        if (!json_is_object(row)) {
            snprintf(ptr, sizeof ptr, "/%zu", i);
            rc = bad_field(err, ptr, "each row must be a JSON object");
            break;
        }
        json_object_foreach(row, key, v)
            if (!json_object_get(first, key) && rc == DT_OK) {
                snprintf(ptr, sizeof ptr, "/%zu/%.100s", i, key);
                rc = bad_field(err, ptr, "a column the first row does not have");
            }
        k = 0;
        json_object_foreach(first, key, v) {
            char num[64];
            const char *text;
            if (rc == DT_OK && cell_text(json_object_get(row, key), num, sizeof num, &text) < 0) {
                snprintf(ptr, sizeof ptr, "/%zu/%.100s", i, key);
                rc = bad_field(err, ptr, "a value must be a string, a number or null");
            }
            if (rc == DT_OK) csv_field(f, text, ++k == n_keys);
        }
        if (rc < 0) break;
    }
    json_decref(a);
    return rc;
}

static int io_error(dt_error *err, const char *what)
{
    dt_error_clear(err);
    err->code = DT_EIO;
    snprintf(err->msg, sizeof err->msg, "%s: %s", what, strerror(errno));
    return DT_EIO;
}

/* What goes in a body file: fill writes it to f. */
typedef int (*body_fill)(const srv_req *r, FILE *f, const void *ctx, dt_error *err);

/* A new 0600 file of the server's private folder, filled; removed again
 * when it could not be written whole. OUT: path. */
static int private_file(const srv_req *r, body_fill fill, const void *ctx, char *path, size_t cap,
                        dt_error *err)
{
    snprintf(path, cap, "%s/body.XXXXXX", r->tmp_dir);
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return io_error(err, "cannot hold the body");
    }
    dt_error_clear(err);
    int rc = fill(r, f, ctx, err);
    if (fclose(f) != 0 && rc == DT_OK) rc = DT_EIO;
    if (rc == DT_EIO && !err->code) io_error(err, "cannot hold the body");
    if (rc < 0) unlink(path);
    return rc;
}

static int fill_raw(const srv_req *r, FILE *f, const void *ctx, dt_error *err)
{
    (void)ctx, (void)err;
    return r->body_len && fwrite(r->body, 1, r->body_len, f) != r->body_len ? DT_EIO : DT_OK;
}

static int fill_rows(const srv_req *r, FILE *f, const void *ctx, dt_error *err)
{
    (void)ctx;
    return json_rows_to_csv(r, f, err);
}

/* The body as CSV in a private file: text/csv as sent, a JSON array of
 * rows converted. OUT: path. */
static int body_file(const srv_req *r, char *path, size_t cap, dt_error *err)
{
    if (!strncmp(r->content_type, "text/csv", 8)) return private_file(r, fill_raw, NULL, path, cap, err);
    if (!strncmp(r->content_type, "application/json", 16))
        return private_file(r, fill_rows, NULL, path, cap, err);
    dt_error_clear(err); /* the server answers 415 for an error at Content-Type */
    err->code = DT_EINVAL;
    snprintf(err->field, sizeof err->field, "Content-Type");
    snprintf(err->msg, sizeof err->msg, "send the rows as text/csv or application/json");
    return DT_EINVAL;
}

/* An error about the body's file names "the body": the caller sent no
 * file, and the server's folder is none of its business. */
static void body_named(dt_error *err, const char *path)
{
    char *at = strstr(err->msg, path);
    if (!at) {
        if (!strcmp(err->file, path)) snprintf(err->file, sizeof err->file, "body");
        return;
    }
    char rest[sizeof err->msg];
    snprintf(rest, sizeof rest, "%s", at + strlen(path));
    snprintf(at, sizeof err->msg - (size_t)(at - err->msg), "the body%s", rest);
    if (!strcmp(err->file, path)) snprintf(err->file, sizeof err->file, "body");
}

static long long query_number(const srv_req *r, const char *name, long long dflt)
{
    const char *v = srv_query(r, name);
    char *end;
    long long n = v ? strtoll(v, &end, 10) : dflt;
    return v && (*end || n < 0) ? -2 : n;
}

static json_t *summary_json(const dt_ingest_summary *s)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rows", (json_int_t)s->n_rows,
                     "new", (json_int_t)s->n_new, "unchanged", (json_int_t)s->n_same, "changed",
                     (json_int_t)s->n_changed, "restored", (json_int_t)s->n_restored, "withdrawn",
                     (json_int_t)s->n_withdrawn, "rejected", (json_int_t)s->n_rejected,
                     "nulled_values", (json_int_t)s->n_null_values);
}

/* ?snapshot=1 (records only) and ?max_rejected=N as for the command. */
static int ingest_rows(srv_req *r, int events, srv_reply *out, dt_error *err)
{
    long long max_rejected = query_number(r, "max_rejected", 0);
    if (max_rejected == -2) return bad_field(err, "max_rejected", "a number from 0");
    const char *snap = srv_query(r, "snapshot");
    if (snap && strcmp(snap, "1") && strcmp(snap, "0")) return bad_field(err, "snapshot", "1 or 0");
    char path[512];
    TRY(body_file(r, path, sizeof path, err));
    dt_ingest_options o = {.source = r->params[0], .path = path, .max_rejected = max_rejected,
                           .is_snapshot = snap && !strcmp(snap, "1")};
    dt_ingest_summary sum;
    memset(&sum, 0, sizeof sum);
    int rc = events ? dt_store_ingest_events(r->store, &r->auth, &o, &sum, err)
                    : dt_store_ingest(r->store, &r->auth, &o, &sum, err);
    unlink(path);
    if (rc < 0) {
        body_named(err, path);
        return rc;
    }
    srv_count_rows(r->server, &sum);
    return reply_json(out, 200, summary_json(&sum), err);
}

static int ingest(srv_req *r, srv_reply *out, dt_error *err)
{
    return ingest_rows(r, 0, out, err);
}

static int ingest_events(srv_req *r, srv_reply *out, dt_error *err)
{
    return ingest_rows(r, 1, out, err);
}

/* The ids of a checked JSON array as CSV: a header, then one a line. */
static int fill_ids(const srv_req *r, FILE *f, const void *ids, dt_error *err)
{
    (void)r, (void)err;
    size_t i;
    json_t *v;
    csv_field(f, "id", 1);
    json_array_foreach((json_t *)ids, i, v) csv_field(f, json_string_value(v), 1);
    return ferror(f) ? DT_EIO : DT_OK;
}

/* The ids as a CSV body (a header, then one id a line), or JSON
 * {"ids": [...]}. */
static int withdraw(srv_req *r, srv_reply *out, dt_error *err)
{
    char path[512];
    if (!strncmp(r->content_type, "application/json", 16)) {
        json_t *b;
        TRY(body_object(r, &b, err));
        json_t *ids = json_object_get(b, "ids"), *v;
        size_t i;
        int rc = json_is_array(ids) ? DT_OK : bad_field(err, "/ids", "an array of record ids");
        json_array_foreach(ids, i, v) if (rc == DT_OK && !json_is_string(v)) {
            char ptr[32];
            snprintf(ptr, sizeof ptr, "/ids/%zu", i);
            rc = bad_field(err, ptr, "a record id is a string");
        }
        if (rc == DT_OK) rc = private_file(r, fill_ids, ids, path, sizeof path, err);
        json_decref(b);
        if (rc < 0) return rc;
    } else {
        TRY(body_file(r, path, sizeof path, err));
    }
    uint64_t n = 0, unknown = 0;
    int rc = dt_store_withdraw(r->store, &r->auth, r->params[0], path, &n, &unknown, err);
    unlink(path);
    if (rc < 0) {
        body_named(err, path);
        return rc;
    }
    return reply_json(out, 200, json_pack("{s:I, s:I}", "withdrawn", (json_int_t)n, "unknown",
                                          (json_int_t)unknown), err);
}

/* ---- calls that read or write a file of their own ------------------------------- */

/* A file the call wrote, as the reply: opened, then unlinked (the open
 * descriptor keeps it until the server has sent it and closed it). */
static int file_reply(const char *path, const char *content_type, srv_reply *out, dt_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        unlink(path);
        return io_error(err, "cannot read what the call wrote");
    }
    unlink(path);
    out->fd = fd;
    out->size = (uint64_t)st.st_size;
    out->content_type = content_type;
    return DT_OK;
}

/* A private folder for a call that writes files there. */
static int private_dir(const srv_req *r, char *dir, size_t cap, dt_error *err)
{
    snprintf(dir, cap, "%s/out.XXXXXX", r->tmp_dir);
    return mkdtemp(dir) ? DT_OK : io_error(err, "cannot make a folder for the reply");
}

/* A call that writes one file (name, in a private folder): the file, as
 * the reply. */
typedef int (*file_call)(srv_req *r, const char *path, dt_error *err);
static int call_to_file(srv_req *r, const char *name, const char *content_type, file_call call,
                        srv_reply *out, dt_error *err)
{
    char dir[512], path[600];
    TRY(private_dir(r, dir, sizeof dir, err));
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = call(r, path, err);
    if (rc == DT_OK) rc = file_reply(path, content_type, out, err);
    unlink(path);
    rmdir(dir);
    if (rc < 0) body_named(err, path);
    return rc;
}

static int write_entities(srv_req *r, const char *path, dt_error *err)
{
    uint64_t n = 0;
    return dt_store_export(r->store, &r->auth, path, &n, err);
}

static int export_entities(srv_req *r, srv_reply *out, dt_error *err)
{
    return call_to_file(r, "entities.csv", "text/csv", write_entities, out, err);
}

static int write_report(srv_req *r, const char *path, dt_error *err)
{
    return dt_store_report(r->store, &r->auth, path, err);
}

/* GET /v1/report: the store's linkage report, one HTML file. */
static int store_report(srv_req *r, srv_reply *out, dt_error *err)
{
    return call_to_file(r, "report.html", "text/html; charset=utf-8", write_report, out, err);
}

/* findings.json, or findings.csv for a client that accepts text/csv. */
static int export_findings(srv_req *r, srv_reply *out, dt_error *err)
{
    const char *accept = srv_header(r, "Accept");
    int csv = accept && strstr(accept, "text/csv") != NULL;
    char dir[512], json_path[600], csv_path[600];
    TRY(private_dir(r, dir, sizeof dir, err));
    snprintf(json_path, sizeof json_path, "%s/findings.json", dir);
    snprintf(csv_path, sizeof csv_path, "%s/findings.csv", dir);
    uint64_t n = 0;
    int rc = dt_store_findings_export(r->store, &r->auth, dir, &n, err);
    if (rc == DT_OK)
        rc = file_reply(csv ? csv_path : json_path, csv ? "text/csv" : "application/json", out, err);
    unlink(json_path);
    unlink(csv_path);
    rmdir(dir);
    if (rc < 0) body_named(err, dir);
    return rc;
}

static int write_witness(srv_req *r, const char *path, dt_error *err)
{
    int64_t n = 0;
    return dt_audit_witness(r->store, &r->auth, path, &n, err);
}

static int audit_witness(srv_req *r, srv_reply *out, dt_error *err)
{
    return call_to_file(r, "witness.jsonl", "application/jsonl", write_witness, out, err);
}

/* A body that is a file the call reads: model.json, a policy, a witness. */
static int with_body_file(srv_req *r, char *path, size_t cap, dt_error *err)
{
    if (!r->body_len) return bad_field(err, "", "the body is empty");
    return private_file(r, fill_raw, NULL, path, cap, err);
}

static int model_import(srv_req *r, srv_reply *out, dt_error *err)
{
    char path[512];
    TRY(with_body_file(r, path, sizeof path, err));
    int64_t version = 0;
    int rc = dt_store_import_model(r->store, &r->auth, path, &version, err);
    unlink(path);
    if (rc < 0) return body_named(err, path), rc;
    return reply_json(out, 200, json_pack("{s:I}", "model_version", (json_int_t)version), err);
}

static int model_train(srv_req *r, srv_reply *out, dt_error *err)
{
    long long threads = query_number(r, "threads", 0);
    if (threads < 0 || threads > 256) return bad_field(err, "threads", "a number from 0 to 256");
    dt_link_options o = {.n_threads = (int)threads};
    int64_t version = 0;
    TRY(dt_store_train(r->store, &r->auth, &o, &version, err));
    return reply_json(out, 200, json_pack("{s:I}", "model_version", (json_int_t)version), err);
}

static int policy_set(srv_req *r, srv_reply *out, dt_error *err)
{
    char path[512];
    TRY(with_body_file(r, path, sizeof path, err));
    int64_t version = 0;
    int rc = dt_policy_set(r->store, &r->auth, r->params[0], path, &version, err);
    unlink(path);
    if (rc < 0) return body_named(err, path), rc;
    return reply_json(out, 200, json_pack("{s:s, s:I}", "source", r->params[0], "version",
                                          (json_int_t)version), err);
}

/* The body, when there is one, is a witness file (JSON lines). */
static int audit_verify(srv_req *r, srv_reply *out, dt_error *err)
{
    char path[512];
    int has_witness = r->body_len > 0;
    if (has_witness) TRY(private_file(r, fill_raw, NULL, path, sizeof path, err));
    dt_audit_verdict v;
    int rc = dt_audit_verify(r->store, &r->auth, has_witness ? path : NULL, &v, err);
    if (has_witness) unlink(path);
    if (rc < 0) return has_witness ? (body_named(err, path), rc) : rc;
    json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:s}", "ok", v.ok, "entries",
                          (json_int_t)v.n_entries, "heads", (json_int_t)v.n_heads,
                          "witness_heads", (json_int_t)v.n_witness_heads, "first_bad",
                          (json_int_t)v.first_bad, "unsigned", (json_int_t)v.n_unsigned,
                          "why", v.why);
    return reply_json(out, 200, o, err);
}

static int audit_consistency(srv_req *r, srv_reply *out, dt_error *err)
{
    json_t *b;
    TRY(body_object(r, &b, err)); /* the earlier head, as GET /v1/audit/head gave it */
    json_decref(b);
    char *json = NULL;
    TRY(dt_audit_consistency(r->store, &r->auth, r->body, &json, err));
    return reply_text(out, json, err);
}

static int add_disclosure(void *ctx, const dt_disclosure *d)
{
    json_t *fields = json_loads(d->fields, 0, NULL);
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o*}", "seq", (json_int_t)d->seq,
                          "time", d->time, "principal", d->principal, "purpose", d->purpose,
                          "action", d->action, "subject", d->subject, "fields", fields);
    return json_array_append_new(ctx, o) < 0 ? DT_ENOMEM : DT_OK;
}

/* ?record=SOURCE:ID or ?entity=ID, one of the two. */
static int disclosures(srv_req *r, srv_reply *out, dt_error *err)
{
    const char *rec = srv_query(r, "record"), *ent = srv_query(r, "entity");
    if (!rec == !ent) return bad_field(err, rec ? "entity" : "record", "give ?record=SOURCE:ID or ?entity=ID, one of the two");
    json_t *arr = json_array();
    int rc = arr ? dt_disclosures(r->store, &r->auth, rec, ent, add_disclosure, arr, err) : DT_ENOMEM;
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    return reply_json(out, 200, json_pack("{s:o}", "disclosures", arr), err);
}

static int purge(srv_req *r, srv_reply *out, dt_error *err)
{
    dt_purge_report rep;
    TRY(dt_store_purge(r->store, &r->auth, &rep, err));
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < rep.n_sources; i++) {
        const dt_purge_count *c = &rep.sources[i];
        json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:I}", "source", c->source,
                                             "retention_days", (json_int_t)c->retention_days,
                                             "records", (json_int_t)c->records, "versions",
                                             (json_int_t)c->versions, "events",
                                             (json_int_t)c->events));
    }
    dt_purge_report_free(&rep);
    return reply_json(out, 200, json_pack("{s:o}", "sources", arr), err);
}

/* ---- principals ------------------------------------------------------------------ */

static int principal_add(srv_req *r, srv_reply *out, dt_error *err)
{
    json_t *b;
    TRY(body_object(r, &b, err));
    json_t *name = json_object_get(b, "name"), *role = json_object_get(b, "role"),
           *sources = json_object_get(b, "sources");
    int rc = DT_OK;
    if (!json_is_string(name)) rc = bad_field(err, "/name", "a principal's name is required (a string)");
    else if (!json_is_string(role)) rc = bad_field(err, "/role", "a role is required: admin, steward, analyst, reviewer or auditor");
    else if (sources && !json_is_string(sources) && !json_is_null(sources))
        rc = bad_field(err, "/sources", "a steward's sources, comma-separated (a string)");
    char token[DT_TOKEN_SIZE];
    if (rc == DT_OK)
        rc = dt_principal_add(r->store, &r->auth, json_string_value(name), json_string_value(role),
                              json_string_value(sources), token, err);
    json_t *o = rc == DT_OK ? json_pack("{s:s, s:s, s:s}", "name", json_string_value(name), "role",
                                        json_string_value(role), "token", token)
                            : NULL;
    memset(token, 0, sizeof token);
    json_decref(b);
    if (rc < 0) {
        json_decref(o);
        if (!strcmp(err->field, "role") || !strcmp(err->field, "name") || !strcmp(err->field, "sources")) {
            char ptr[sizeof err->field];
            snprintf(ptr, sizeof ptr, "/%.60s", err->field);
            snprintf(err->field, sizeof err->field, "%s", ptr);
        }
        return rc;
    }
    return reply_json(out, 201, o, err);
}

static int principal_revoke(srv_req *r, srv_reply *out, dt_error *err)
{
    TRY(dt_principal_revoke(r->store, &r->auth, r->params[0], err));
    return reply_json(out, 200, json_pack("{s:s, s:b}", "name", r->params[0], "revoked", 1), err);
}

static int principal_rotate(srv_req *r, srv_reply *out, dt_error *err)
{
    char token[DT_TOKEN_SIZE];
    TRY(dt_principal_rotate(r->store, &r->auth, r->params[0], token, err));
    json_t *o = json_pack("{s:s, s:s}", "name", r->params[0], "token", token);
    memset(token, 0, sizeof token);
    return reply_json(out, 200, o, err);
}

/* POST /v1/review/decisions {"a": "SOURCE:ID", "b": "SOURCE:ID", "same": bool, "note"}. */
static int review_decide(srv_req *r, srv_reply *out, dt_error *err)
{
    json_t *b;
    TRY(body_object(r, &b, err));
    json_t *ka = json_object_get(b, "a"), *kb = json_object_get(b, "b"),
           *same = json_object_get(b, "same"), *note = json_object_get(b, "note");
    int rc = DT_OK;
    if (!json_is_string(ka)) rc = bad_field(err, "/a", "a record is required: \"SOURCE:ID\"");
    else if (!json_is_string(kb)) rc = bad_field(err, "/b", "a record is required: \"SOURCE:ID\"");
    else if (!json_is_boolean(same))
        rc = bad_field(err, "/same", "true (the same person) or false (not the same person)");
    else if (note && !json_is_string(note) && !json_is_null(note))
        rc = bad_field(err, "/note", "why, for the next reviewer (a string)");
    dt_decision_result d;
    if (rc == DT_OK)
        rc = dt_review_decide(r->store, &r->auth, json_string_value(ka), json_string_value(kb),
                              json_is_true(same), json_string_value(note), &d, err);
    json_t *o = rc == DT_OK ? json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:b}", "a", "record",
                                        json_string_value(ka), "entity", d.entity_a, "b",
                                        "record", json_string_value(kb), "entity", d.entity_b,
                                        "same", json_is_true(same))
                            : NULL;
    json_decref(b);
    if (rc < 0) return rc;
    return reply_json(out, 200, o, err);
}

static int add_review_pair(void *ctx, const dt_review_pair *pair)
{
    json_t *o = json_pack("{s:s, s:s, s:o, s:s?, s:s?}", "a", pair->a, "b", pair->b, "p",
                          isnan(pair->p) ? json_null() : json_real(pair->p), "entity_a",
                          pair->entity_a, "entity_b", pair->entity_b);
    return json_array_append_new(ctx, o) < 0 ? DT_ENOMEM : DT_OK;
}

/* GET /v1/review/queue?limit=N (default 50). */
static int review_queue(srv_req *r, srv_reply *out, dt_error *err)
{
    long long limit = query_number(r, "limit", 50);
    if (limit < 1 || limit > DT_REVIEW_MAX)
        return bad_field(err, "limit", "a number of pairs, 1 to 1000");
    json_t *arr = json_array();
    int rc = arr ? dt_review_queue(r->store, &r->auth, (size_t)limit, add_review_pair, arr, err)
                 : no_memory(err);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    return reply_json(out, 200, json_pack("{s:o}", "pairs", arr), err);
}

/* ---- the review page (data/web): static files, no governed call --------------- */

/* Only these names are served: a path never reaches another file. */
static const struct {
    const char *name, *type;
} k_web_files[] = {
    {"index.html", "text/html; charset=utf-8"},
    {"app.js", "text/javascript; charset=utf-8"},
    {"app.css", "text/css; charset=utf-8"},
};

static int page_not_found(dt_error *err, const char *what)
{
    dt_error_clear(err);
    err->code = DT_ENOTFOUND;
    snprintf(err->msg, sizeof err->msg, "%s", what);
    return DT_ENOTFOUND;
}

static int web_file(const char *name, srv_reply *out, dt_error *err)
{
    const char *type = NULL;
    for (size_t i = 0; i < sizeof k_web_files / sizeof *k_web_files; i++)
        if (!strcmp(name, k_web_files[i].name)) type = k_web_files[i].type;
    if (!type) return page_not_found(err, "no such file of the review page");
    char rel[64];
    snprintf(rel, sizeof rel, "web/%s", name);
    char *path = dt_data_path(rel);
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    dt_free(path);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0) close(fd);
        return page_not_found(err, "the review page is not installed (data/web)");
    }
    out->fd = fd;
    out->size = (uint64_t)st.st_size;
    out->content_type = type;
    return DT_OK;
}

static int web_index(srv_req *r, srv_reply *out, dt_error *err)
{
    (void)r;
    return web_file("index.html", out, err);
}

static int web_asset(srv_req *r, srv_reply *out, dt_error *err)
{
    return web_file(r->params[0], out, err);
}

/* ---- the table --------------------------------------------------------------- */

/* Literal paths come before a "{}" at the same place: the first match wins. */
const srv_route srv_routes[] = {
    {NULL, "GET", "/", web_index, 0},
    {NULL, "GET", "/web/{}", web_asset, 0},
    {NULL, "GET", "/healthz", health, 0},
    {NULL, "GET", "/metrics", NULL, 0}, /* server.c answers it: the counts are the server's */
    {"store.ingest", "POST", "/v1/sources/{}/records", ingest, 0},
    {"store.withdraw", "POST", "/v1/sources/{}/withdraw", withdraw, 0},
    {"store.purge", "POST", "/v1/purge", purge, 0},
    {"model.import", "PUT", "/v1/model", model_import, 1},
    {"model.train", "POST", "/v1/model/train", model_train, 0},
    {"entity.export", "GET", "/v1/entities", export_entities, 0},
    {"record.resolve", "POST", "/v1/sources/{}/resolve", resolve, 1},
    {"entity.get", "GET", "/v1/entities/{}", entity, 0},
    {"pair.explain", "GET", "/v1/explain", explain, 0},
    {"principal.add", "POST", "/v1/principals", principal_add, 1},
    {"principal.revoke", "POST", "/v1/principals/{}/revoke", principal_revoke, 0},
    {"principal.rotate", "POST", "/v1/principals/{}/rotate", principal_rotate, 0},
    {"principal.list", "GET", "/v1/principals", principals, 0},
    {"policy.set", "PUT", "/v1/sources/{}/policy", policy_set, 0},
    {"policy.get", "GET", "/v1/sources/{}/policy", policy_get, 0},
    {"audit.verify", "POST", "/v1/audit/verify", audit_verify, 0},
    {"audit.head", "GET", "/v1/audit/head", audit_head, 0},
    {"audit.prove", "GET", "/v1/audit/proofs/{}", audit_prove, 0},
    {"audit.consistency", "POST", "/v1/audit/consistency", audit_consistency, 1},
    {"audit.witness", "GET", "/v1/audit/witness", audit_witness, 0},
    {"audit.disclosures", "GET", "/v1/disclosures", disclosures, 0},
    {"event.ingest", "POST", "/v1/events/{}/rows", ingest_events, 0},
    {"finding.run", "POST", "/v1/findings/run", findings_run, 0},
    {"finding.export", "GET", "/v1/findings/export", export_findings, 0},
    {"finding.list", "GET", "/v1/findings", findings_list, 0},
    {"finding.show", "GET", "/v1/findings/{}", finding_show, 0},
    {"finding.verify", "POST", "/v1/findings/{}/verify", verify, 0},
    {"finding.dismiss", "POST", "/v1/findings/{}/dismiss", dismiss, 0},
    {"finding.notify", "POST", "/v1/findings/{}/notify", notify, 0},
    {"finding.contest", "POST", "/v1/findings/{}/contest", contest, 0},
    {"review.decide", "POST", "/v1/review/decisions", review_decide, 1},
    {"review.queue", "GET", "/v1/review/queue", review_queue, 0},
    {"store.report", "GET", "/v1/report", store_report, 0},
    /* a server does not copy the store it serves: `dovetail migrate`, with the server stopped */
    {"store.migrate", "POST", "/v1/migrate", NULL, 0},
};
const size_t srv_n_routes = sizeof srv_routes / sizeof srv_routes[0];

static dt_route_info g_infos[64];
static pthread_once_t g_infos_once = PTHREAD_ONCE_INIT;

static void fill_infos(void)
{
    for (size_t k = 0; k < srv_n_routes && k < 64; k++)
        g_infos[k] = (dt_route_info){srv_routes[k].method, srv_routes[k].path,
                                     srv_routes[k].action,
                                     srv_routes[k].handler != NULL ||
                                         !strcmp(srv_routes[k].path, "/metrics")};
}

const dt_route_info *dt_server_routes(size_t *n)
{
    pthread_once(&g_infos_once, fill_infos);
    if (n) *n = srv_n_routes < 64 ? srv_n_routes : 64;
    return g_infos;
}

int srv_routes_check(dt_error *err)
{
    size_t n_calls;
    const dt_call_info *calls = dt_calls(&n_calls);
    for (size_t i = 0; i < n_calls; i++) {
        size_t n = 0;
        for (size_t k = 0; k < srv_n_routes; k++)
            n += srv_routes[k].action && !strcmp(srv_routes[k].action, calls[i].action);
        if (n != 1) {
            err->code = DT_EINTERNAL;
            snprintf(err->msg, sizeof err->msg, "the governed call %s has %zu routes, not one",
                     calls[i].action, n);
            return -1;
        }
    }
    for (size_t k = 0; k < srv_n_routes; k++) {
        int known = srv_routes[k].action == NULL;
        for (size_t i = 0; i < n_calls && !known; i++)
            known = !strcmp(srv_routes[k].action, calls[i].action);
        if (!known) {
            err->code = DT_EINTERNAL;
            snprintf(err->msg, sizeof err->msg, "route %s %s names no governed call (%s)",
                     srv_routes[k].method, srv_routes[k].path, srv_routes[k].action);
            return -1;
        }
    }
    return 0;
}
