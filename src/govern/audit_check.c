/*
 * audit_check.c — what an auditor runs over the log: verify (every entry,
 * every signed head, and a witness's heads), inclusion and consistency
 * proofs, the witness file, and disclosures (reads that showed a record).
 *
 * Invariant: verify trusts only the public key (the store's, and the
 * witness's). Every leaf is recomputed from the entry's columns and every
 * root from those leaves, then compared with what was signed, in seq
 * order, so the first entry that differs is the one named. Only a log
 * that checks out is then held against the tables it binds (principals,
 * policies, records, the disclosures index: audit_bind.c).
 *
 * Witness file: JSON lines, the first {"dovetail_witness": 1,
 * "public_key": HEX}, then one head per line {"size", "time", "root",
 * "signature"} (time in microseconds, as signed).
 */
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "govern/audit_int.h"


typedef struct checkpoint {
    int64_t size, time;
    uint8_t root[32], sig[64];
    int is_witness;
} checkpoint;

typedef struct checkpoints {
    checkpoint *v;
    size_t n, cap;
} checkpoints;

static int add_checkpoint(checkpoints *c, const st_head *h, int is_witness)
{
    DT_TRY(util_grow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v));
    checkpoint *p = &c->v[c->n++];
    p->size = h->size;
    p->time = h->time;
    memcpy(p->root, h->root, 32);
    memcpy(p->sig, h->signature, 64);
    p->is_witness = is_witness;
    return DT_OK;
}

static int on_store_head(void *ctx, const st_head *h)
{
    return add_checkpoint(ctx, h, 0);
}

static int cmp_checkpoint(const void *x, const void *y)
{
    const checkpoint *a = x, *b = y;
    if (a->size != b->size) return a->size < b->size ? -1 : 1;
    return a->is_witness - b->is_witness;
}

/* ---- the witness file ------------------------------------------------------ */

static int hex_field(json_t *o, const char *key, uint8_t *out, size_t len)
{
    const char *hex = json_string_value(json_object_get(o, key));
    size_t got = 0;
    return hex && sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL) == 0 &&
                   got == len
               ? 0
               : -1;
}

static int witness_line(json_t *o, const uint8_t pk[32], st_head *h)
{
    memset(h, 0, sizeof *h);
    json_t *size = json_object_get(o, "size"), *time = json_object_get(o, "time");
    if (!json_is_integer(size) || !json_is_integer(time) || hex_field(o, "root", h->root, 32) ||
        hex_field(o, "signature", h->signature, 64))
        return -1;
    h->size = json_integer_value(size);
    h->time = json_integer_value(time);
    return h->size > 0 && au_head_signed(pk, h->size, h->time, h->root, h->signature) ? 0 : -1;
}

/* Reads a witness file: its key, and each head (every one must be signed
 * by that key, or the file is not a witness). */
static int read_witness(const char *path, uint8_t pk[32], checkpoints *c, int64_t *n,
                        dt_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) return dt_err_at(err, DT_EIO, path, 0, 0, "cannot read the witness file");
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = DT_OK;
    while (rc == DT_OK && getline(&line, &cap, f) >= 0) {
        lineno++;
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        st_head h;
        if (!json_is_object(o))
            rc = dt_err_at(err, DT_EINPUT, path, lineno, 1, "not a JSON object");
        else if (lineno == 1 && hex_field(o, "public_key", pk, 32) != 0)
            rc = dt_err_at(err, DT_EINPUT, path, 1, 1, "the first line must give public_key "
                           "(64 hex digits): is this a witness file?");
        else if (lineno > 1 && witness_line(o, pk, &h) != 0)
            rc = dt_err_at(err, DT_EINPUT, path, lineno, 1, "not a head signed by the "
                           "witness's key (size, time, root, signature)");
        else if (lineno > 1 && add_checkpoint(c, &h, 1) < 0)
            rc = dt_err_set(err, DT_ENOMEM, "out of memory");
        else if (lineno > 1) (*n)++;
        json_decref(o);
    }
    free(line);
    fclose(f);
    if (rc == DT_OK && lineno == 0) rc = dt_err_at(err, DT_EINPUT, path, 1, 1, "empty file");
    return rc;
}

/* ---- verify ------------------------------------------------------------------ */

typedef struct verifier {
    const uint8_t *pk;
    gv_verdict *v;
    checkpoints *c;
    size_t next;             /* next checkpoint to check */
    int64_t good[2];         /* the largest store head, witness head, that matched */
    int64_t expected;        /* the next seq */
    mk_stream tree;
    au_bindings bind;        /* what the checked entries bind */
} verifier;

static int bad(verifier *w, int64_t first, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(verifier *w, int64_t first, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->v->why, sizeof w->v->why, fmt, ap);
    va_end(ap);
    w->v->ok = 0;
    w->v->first_bad = first;
    return AU_WALK_STOP;
}

static int check_point(verifier *w, const checkpoint *p)
{
    mk_hash root;
    mk_stream_root(&w->tree, root);
    /* a head vouches for the entries after the last one of its own kind that
     * matched: a re-signed store head may match where the witness does not */
    long long from = (long long)w->good[p->is_witness] + 1, size = (long long)p->size;
    if (!p->is_witness && !au_head_signed(w->pk, p->size, p->time, p->root, p->sig))
        return bad(w, from, "the head signed at size %lld has a bad signature: it was written "
                   "outside dovetail; the first entry it covers that may differ is %lld", size,
                   from);
    if (memcmp(root, p->root, 32) != 0)
        return bad(w, from, "entries %lld to %lld do not match the %s signed at size %lld: one "
                   "of them was changed, inserted or reordered; the first entry it covers that "
                   "may differ is %lld", from, size, p->is_witness ? "witness's head" : "head",
                   size, from);
    w->good[p->is_witness] = p->size;
    return DT_OK;
}

static int verify_entry(void *ctx, const st_audit_entry *e)
{
    verifier *w = ctx;
    long long seq = (long long)e->seq, want = (long long)w->expected;
    if (e->seq != w->expected)
        return bad(w, w->expected, "entry %lld is missing: the log goes from %lld to %lld "
                   "(removed, or renumbered)", want, want - 1, seq);
    mk_hash leaf;
    if (au_leaf(e, e->n_subject_rows, leaf) < 0)
        return bad(w, e->seq, "entry %lld cannot be read back as an entry (changed)", seq);
    if (e->n_subject_rows != e->n_subjects)
        return bad(w, e->seq, "entry %lld: its subjects were changed (%zu stored, the entry "
                   "says %zu)", seq, e->n_subject_rows, e->n_subjects);
    if (e->leaf_hash_len != MK_HASH || memcmp(leaf, e->leaf_hash, MK_HASH) != 0)
        return bad(w, e->seq, "entry %lld was changed after it was written: its columns do "
                   "not hash to its stored leaf", seq);
    if (au_bind_note(&w->bind, e) < 0) return DT_ENOMEM;
    mk_stream_push(&w->tree, leaf);
    w->expected++;
    w->v->n_entries++;
    while (w->next < w->c->n && w->c->v[w->next].size <= e->seq) {
        const checkpoint *p = &w->c->v[w->next++];
        if (p->size == e->seq) DT_TRY(check_point(w, p));
    }
    return DT_OK;
}

/* Entries past the newest head: vouched for only when the sealed end
 * is the key file's, of the log's size, and of the walk's root. */
static int check_sealed_end(verifier *w, st_store *st, int64_t from, int64_t n, dt_error *err)
{
    st_log_end *end = dt_malloc(sizeof *end);
    if (!end) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int found, ok = 0;
    mk_stream sealed;
    int rc = st_log_end_get(st, end, &found, err);
    if (rc == DT_OK && found && end->size == n) {
        rc = au_end_stream(st, end, &sealed, err);
        ok = rc == 1;
    }
    dt_free(end);
    if (rc < 0) return rc;
    mk_hash a, b;
    mk_stream_root(&w->tree, a);
    if (ok) mk_stream_root(&sealed, b);
    if (ok && memcmp(a, b, sizeof a) == 0) {
        w->v->n_unsigned = n - from + 1;
        return DT_OK;
    }
    bad(w, from, "entries %lld to %lld are covered by no signed head and no sealed end: they "
        "were added outside dovetail", (long long)from, (long long)n);
    return DT_OK;
}

/* After the walk: heads past the end, and entries past the last head. */
static int check_end(verifier *w, st_store *st, int64_t last_store_head,
                     const uint8_t *witness_pk, dt_error *err)
{
    long long n = (long long)w->expected - 1;
    for (size_t i = w->next; w->v->ok && i < w->c->n; i++)
        if (w->c->v[i].size > n)
            bad(w, n + 1, "the log ends at entry %lld, but a %s was signed at size %lld: "
                "entries %lld to %lld were removed", n,
                w->c->v[i].is_witness ? "witness's head" : "head", (long long)w->c->v[i].size,
                n + 1, (long long)w->c->v[i].size);
    if (w->v->ok && last_store_head < n)
        DT_TRY(check_sealed_end(w, st, last_store_head + 1, n, err));
    if (w->v->ok && witness_pk && memcmp(witness_pk, w->pk, 32) != 0)
        bad(w, 0, "the store's signing key is not the witness's: the log was signed again "
            "with a new key");
    return DT_OK;
}

static int gather_checkpoints(st_store *st, const char *witness_path, uint8_t wpk[32],
                              checkpoints *c, gv_verdict *v, int64_t *last_store_head,
                              dt_error *err)
{
    DT_TRY(st_heads_each(st, on_store_head, c, err));
    v->n_heads = (int64_t)c->n;
    *last_store_head = c->n ? c->v[c->n - 1].size : 0;
    if (witness_path) DT_TRY(read_witness(witness_path, wpk, c, &v->n_witness_heads, err));
    if (c->n) qsort(c->v, c->n, sizeof *c->v, cmp_checkpoint); /* c->v is NULL when empty */
    return DT_OK;
}

/* The walk, in one snapshot: a server's commits meanwhile would look
 * like entries past the heads read. */
static int verify_walk(st_store *st, const char *witness_path, const uint8_t pk[32],
                       gv_verdict *out, dt_error *err)
{
    uint8_t wpk[32];
    checkpoints c = {0};
    int64_t last_head = 0;
    int rc = gather_checkpoints(st, witness_path, wpk, &c, out, &last_head, err);
    verifier w = {.pk = pk, .v = out, .c = &c, .expected = 1};
    mk_stream_init(&w.tree);
    if (rc == DT_OK) rc = st_audit_each(st, 1, verify_entry, &w, err);
    if (rc == AU_WALK_STOP) rc = DT_OK;
    if (rc == DT_ENOMEM) rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc == DT_OK && out->ok) rc = check_end(&w, st, last_head, witness_path ? wpk : NULL, err);
    if (rc == DT_OK && out->ok) rc = au_bind_check(st, &w.bind, out->n_entries, out, err);
    au_bind_fini(&w.bind);
    dt_free(c.v);
    return rc;
}

int gv_audit_verify(st_store *st, const char *witness_path, gv_verdict *out, dt_error *err)
{
    memset(out, 0, sizeof *out);
    out->ok = 1;
    if (sodium_init() < 0) return dt_err_set(err, DT_EINTERNAL, "libsodium failed to start");
    uint8_t pk[32];
    DT_TRY(au_read_key(st, "audit_public_key", pk, sizeof pk, err));
    int started;
    DT_TRY(st_snapshot_begin(st, &started, err));
    int rc = verify_walk(st, witness_path, pk, out, err);
    st_snapshot_end(st, started);
    return rc;
}

/* ---- heads, witness, proofs ------------------------------------------------ */

static int latest_head(st_store *st, st_head *h, dt_error *err)
{
    int found;
    DT_TRY(st_head_latest(st, h, &found, err));
    if (found) return DT_OK;
    return dt_err_set(err, DT_ENOTFOUND, "the audit log has no signed head yet");
}

static void set_hex(json_t *o, const char *key, const uint8_t *b, size_t n)
{
    char hex[2 * 64 + 1];
    sodium_bin2hex(hex, sizeof hex, b, n);
    json_object_set_new(o, key, json_string(hex));
}

static json_t *head_object(const st_head *h)
{
    json_t *o = json_object();
    char when[32];
    gv_time_text(h->time, when);
    json_object_set_new(o, "size", json_integer(h->size));
    json_object_set_new(o, "time", json_integer(h->time));
    json_object_set_new(o, "time_text", json_string(when));
    set_hex(o, "root", h->root, 32);
    set_hex(o, "signature", h->signature, 64);
    return o;
}

/* Dumps o (taking it) as a dt_malloc'd string. */
static int dump(json_t *o, char **out, dt_error *err)
{
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    *out = t ? dt_strdup(t) : NULL;
    free(t);
    return *out ? DT_OK : dt_err_set(err, DT_ENOMEM, "out of memory");
}

int gv_audit_head_json(st_store *st, char **out, dt_error *err)
{
    st_head h;
    uint8_t pk[32];
    DT_TRY(au_read_key(st, "audit_public_key", pk, sizeof pk, err));
    DT_TRY(latest_head(st, &h, err));
    dt_free(h.frontier);
    json_t *o = head_object(&h);
    set_hex(o, "public_key", pk, 32);
    return dump(o, out, err);
}

typedef struct witness_writer {
    FILE *f;
    int64_t n;
} witness_writer;

static int write_head_line(void *ctx, const st_head *h)
{
    witness_writer *w = ctx;
    json_t *o = head_object(h);
    json_object_del(o, "time_text");
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    int ok = t && fprintf(w->f, "%s\n", t) > 0;
    free(t);
    w->n++;
    return ok ? DT_OK : DT_EIO;
}

int gv_audit_write_witness(st_store *st, util_out *out, int64_t *n_heads, dt_error *err)
{
    uint8_t pk[32];
    char pk_hex[65];
    DT_TRY(au_read_key(st, "audit_public_key", pk, sizeof pk, err));
    sodium_bin2hex(pk_hex, sizeof pk_hex, pk, 32);
    witness_writer w = {.f = out->f};
    int rc = fprintf(out->f, "{\"dovetail_witness\":1,\"public_key\":\"%s\"}\n", pk_hex) > 0
                 ? DT_OK : DT_EIO;
    if (rc == DT_OK) rc = st_heads_each(st, write_head_line, &w, err);
    if (rc == DT_EIO && !err->msg[0]) dt_err_at(err, DT_EIO, out->path, 0, 0, "write failed");
    *n_heads = w.n;
    return rc;
}

/* The stored leaf hashes of the first n entries. */
static int read_leaves(st_store *st, int64_t n, mk_hash **out, dt_error *err)
{
    *out = dt_malloc((size_t)(n ? n : 1) * MK_HASH);
    if (!*out) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int64_t found;
    int rc = st_audit_leaves(st, n, (uint8_t *)*out, &found, err);
    if (rc == DT_OK && found != n)
        rc = dt_err_at(err, DT_EIO, st_path(st), 0, 0, "the audit log has %lld entries where its "
                       "head says %lld: run 'dovetail audit verify'", (long long)found,
                       (long long)n);
    if (rc < 0) {
        dt_free(*out);
        *out = NULL;
    }
    return rc;
}

static json_t *proof_array(const mk_hash *proof, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        mk_hex(proof[i], hex);
        json_array_append_new(a, json_string(hex));
    }
    return a;
}

int gv_audit_prove(st_store *st, int64_t seq, char **out, dt_error *err)
{
    st_head h;
    DT_TRY(latest_head(st, &h, err));
    dt_free(h.frontier);
    if (seq < 1 || seq > h.size)
        return dt_err_set(err, DT_ENOTFOUND, "no entry %lld: the signed log has entries 1 to "
                          "%lld", (long long)seq, (long long)h.size);
    mk_hash *leaves;
    DT_TRY(read_leaves(st, h.size, &leaves, err));
    mk_hash proof[MK_MAX_PROOF];
    size_t n_proof = 0;
    mk_inclusion_proof(leaves, (uint64_t)h.size, (uint64_t)seq - 1, proof, &n_proof);
    int ok = mk_verify_inclusion((uint64_t)seq - 1, (uint64_t)h.size, leaves[seq - 1], proof,
                                 n_proof, h.root);
    json_t *o = head_object(&h);
    json_object_set_new(o, "seq", json_integer(seq));
    set_hex(o, "leaf_hash", leaves[seq - 1], 32);
    json_object_set_new(o, "proof", proof_array(proof, n_proof));
    json_object_set_new(o, "verified", json_boolean(ok));
    dt_free(leaves);
    DT_TRY(dump(o, out, err));
    if (ok) return DT_OK;
    return dt_err_set(err, DT_EINPUT, "entry %lld's proof does not lead to the signed root: "
                      "run 'dovetail audit verify'", (long long)seq);
}

static int read_old_head(const char *text, st_head *old, dt_error *err)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    memset(old, 0, sizeof *old);
    json_t *size = json_object_get(o, "size");
    int ok = json_is_integer(size) && hex_field(o, "root", old->root, 32) == 0;
    if (ok) old->size = json_integer_value(size);
    json_decref(o);
    if (ok && old->size > 0) return DT_OK;
    return dt_err_set(err, DT_EINPUT, "the old head must be a JSON object with size (> 0) and "
                      "root (64 hex digits), as 'dovetail audit head' prints");
}

int gv_audit_consistency(st_store *st, const char *old_head_json, char **out, dt_error *err)
{
    st_head old, h;
    DT_TRY(read_old_head(old_head_json, &old, err));
    DT_TRY(latest_head(st, &h, err));
    dt_free(h.frontier);
    if (old.size > h.size)
        return dt_err_set(err, DT_EINPUT, "the old head has %lld entries and the log now has "
                          "%lld: the log was truncated", (long long)old.size, (long long)h.size);
    mk_hash *leaves, root_m, proof[MK_MAX_PROOF];
    DT_TRY(read_leaves(st, h.size, &leaves, err));
    mk_root(leaves, (uint64_t)old.size, root_m);
    size_t n_proof = 0;
    mk_consistency_proof(leaves, (uint64_t)h.size, (uint64_t)old.size, proof, &n_proof);
    dt_free(leaves);
    int prefix = memcmp(root_m, old.root, 32) == 0;
    int ok = prefix && mk_verify_consistency((uint64_t)old.size, (uint64_t)h.size, old.root,
                                             h.root, proof, n_proof);
    if (!prefix)
        return dt_err_set(err, DT_EINPUT, "the log's first %lld entries do not hash to the old "
                          "head's root: the log was rewritten since", (long long)old.size);
    json_t *o = json_object();
    json_object_set_new(o, "old_size", json_integer(old.size));
    set_hex(o, "old_root", old.root, 32);
    json_object_set_new(o, "new_head", head_object(&h));
    json_object_set_new(o, "proof", proof_array(proof, n_proof));
    json_object_set_new(o, "consistent", json_boolean(ok));
    return dump(o, out, err);
}

/* ---- disclosures -------------------------------------------------------------- */

typedef struct disclosure_walk {
    gv_disclosure_fn fn;
    void *ctx;
    const char *subject;
} disclosure_walk;

static int on_disclosure(void *ctx, const st_audit_entry *e)
{
    disclosure_walk *w = ctx;
    if (strcmp(e->outcome, "allowed") != 0) return DT_OK; /* a denial showed nothing */
    return w->fn(w->ctx, e, w->subject);
}

int gv_disclosures(st_store *st, const char *const *subjects, size_t n, gv_disclosure_fn fn,
                   void *ctx, dt_error *err)
{
    for (size_t i = 0; i < n; i++) {
        disclosure_walk w = {fn, ctx, subjects[i]};
        DT_TRY(st_audit_of_subject(st, subjects[i], on_disclosure, &w, err));
    }
    return DT_OK;
}
