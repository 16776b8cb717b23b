/*
 * audit.c — the audit log: entries appended in groups, each group in one
 * transaction with a tree head signed over the whole log (Ed25519,
 * libsodium), and the checks an auditor runs: verify, prove, consistency,
 * and the witness file that catches a truncated and re-signed log.
 *
 * An entry's leaf is the compact JSON array
 *   [seq, time, principal, purpose, action, fields, outcome, n_subjects,
 *    subjects_sha256]
 * where fields is the stored JSON text (as a string) and subjects_sha256
 * the hex SHA-256 of the subjects, each as a 4-byte big-endian length and
 * its bytes. A head signs "dovetail/tree-head/v1", size and time (8 bytes
 * big-endian each) and the root.
 *
 * Signing costs more than the rest of a small commit (Ed25519: 40% of a
 * one-entry commit's instructions), so a log under load (a server's
 * committer, gv_audit_sign_every) is signed at most every few hundred
 * milliseconds, as Certificate Transparency logs sign their tree heads
 * at intervals; each commit in between seals the log's end (log_end:
 * size, Merkle frontier) with HMAC-SHA-512-256 under a subkey of the key
 * file, which no one without the key can forge either. What the MAC does
 * not give is a proof for someone holding only the public key: a head
 * (audit head, prove, consistency, witness) is signed on demand first.
 *
 * Invariants:
 *   1. The log's end is vouched for after every commit: by a signed head
 *      of its size, or by a sealed end of its size. Anything else (an
 *      entry neither covers, a head that does not match its stored
 *      frontier, an end whose MAC fails) means someone wrote to the log
 *      outside dovetail, and gv_audit_open refuses to append to it (fail
 *      closed).
 *   2. verify trusts nothing stored but the public key: it recomputes
 *      every leaf from the entry's columns and every root from the leaves.
 *   3. Other processes append to the same log: a commit, holding the
 *      write lock, first takes up the entries and head they added.
 *   4. The signing key is never stored: its seed is a subkey of the key
 *      file (st_subkey), so a copy of the store cannot re-sign a log. The
 *      store keeps the public key, which must match the derived one.
 */
#include <assert.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "govern/audit_int.h"

#define HEAD_CONTEXT "dovetail/tree-head/v1"
#define END_CONTEXT "dovetail/log-end/v1"

_Static_assert((int)MK_STREAM_BYTES <= (int)ST_FRONTIER_MAX, "a log end holds a Merkle stream");
_Static_assert((int)crypto_auth_BYTES == (int)ST_MAC_BYTES, "a log end's MAC is crypto_auth's");

typedef struct pending {
    int64_t time;
    char *principal, *purpose, *action, *outcome, *fields;
    char **subjects;
    size_t n_subjects;
} pending;

struct gv_audit {
    st_store *st;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t mac_key[crypto_auth_KEYBYTES];
    mk_stream tree;           /* the committed log */
    int64_t head_size;        /* size of the newest head */
    int64_t sign_every_ms;    /* 0: a head at every commit */
    int64_t signed_at_ms;     /* when this process last signed one (monotonic) */
    pending *q;
    size_t n_q, cap_q;
};

/* ---- bytes and hashes -------------------------------------------------- */

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void digest_part(crypto_hash_sha256_state *h, const void *part, size_t len)
{
    uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                     (uint8_t)len};
    crypto_hash_sha256_update(h, be, 4);
    crypto_hash_sha256_update(h, part, len);
}

static void digest_end(crypto_hash_sha256_state *h, char hex[65])
{
    uint8_t d[32];
    crypto_hash_sha256_final(h, d);
    mk_hex(d, hex);
}

void au_digest(const void *const *parts, const size_t *lens, size_t n, char hex[65])
{
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    for (size_t i = 0; i < n; i++) digest_part(&h, parts[i], lens[i]);
    digest_end(&h, hex);
}

static void subjects_digest(const char *const *subjects, size_t n, char hex[65])
{
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    for (size_t i = 0; i < n; i++) digest_part(&h, subjects[i], strlen(subjects[i]));
    digest_end(&h, hex);
}

int au_leaf(const st_audit_entry *e, size_t n_rows, mk_hash out)
{
    char digest[65];
    subjects_digest(e->subjects, n_rows, digest);
    json_t *a = json_pack("[I,I,s,s,s,s,s,I,s]", (json_int_t)e->seq, (json_int_t)e->time,
                          e->principal ? e->principal : "", e->purpose ? e->purpose : "",
                          e->action ? e->action : "", e->fields ? e->fields : "",
                          e->outcome ? e->outcome : "", (json_int_t)e->n_subjects, digest);
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (!text) return DT_ENOMEM; /* or text that is not UTF-8: never from dovetail */
    mk_leaf_hash(text, strlen(text), out);
    free(text);
    return DT_OK;
}

static void head_message(int64_t size, int64_t time, const uint8_t root[32], uint8_t *msg)
{
    memcpy(msg, HEAD_CONTEXT, sizeof HEAD_CONTEXT - 1);
    put_be64(msg + sizeof HEAD_CONTEXT - 1, (uint64_t)size);
    put_be64(msg + sizeof HEAD_CONTEXT + 7, (uint64_t)time);
    memcpy(msg + sizeof HEAD_CONTEXT + 15, root, 32);
}
enum { HEAD_MSG = sizeof HEAD_CONTEXT - 1 + 16 + 32 };

int au_head_signed(const uint8_t pk[32], int64_t size, int64_t time, const uint8_t root[32],
                       const uint8_t sig[64])
{
    uint8_t msg[HEAD_MSG];
    head_message(size, time, root, msg);
    return crypto_sign_verify_detached(sig, msg, sizeof msg, pk) == 0;
}

/* The MAC of a log end: END_CONTEXT, the size (8 bytes big-endian) and
 * the frontier's bytes. */
static void end_mac(const uint8_t key[crypto_auth_KEYBYTES], int64_t size,
                    const uint8_t *frontier, size_t len, uint8_t mac[crypto_auth_BYTES])
{
    crypto_auth_hmacsha512256_state h;
    uint8_t be[8];
    put_be64(be, (uint64_t)size);
    crypto_auth_hmacsha512256_init(&h, key, crypto_auth_KEYBYTES);
    crypto_auth_hmacsha512256_update(&h, (const uint8_t *)END_CONTEXT, sizeof END_CONTEXT - 1);
    crypto_auth_hmacsha512256_update(&h, be, sizeof be);
    crypto_auth_hmacsha512256_update(&h, frontier, len);
    crypto_auth_hmacsha512256_final(&h, mac);
}

static int derive_mac_key(st_store *st, uint8_t key[crypto_auth_KEYBYTES], dt_error *err)
{
    return st_subkey(st, ST_SUBKEY_AUDIT_MAC, key, crypto_auth_KEYBYTES) == DT_OK
               ? DT_OK : dt_err_set(err, DT_EINTERNAL, "cannot derive the audit log's MAC key");
}

int au_end_stream(st_store *st, const st_log_end *e, mk_stream *out, dt_error *err)
{
    uint8_t key[crypto_auth_KEYBYTES], mac[crypto_auth_BYTES];
    DT_TRY(derive_mac_key(st, key, err));
    end_mac(key, e->size, e->frontier, e->frontier_len, mac);
    sodium_memzero(key, sizeof key);
    mk_stream_init(out);
    return sodium_memcmp(mac, e->mac, sizeof mac) == 0 &&
           mk_stream_load(out, e->frontier, e->frontier_len) == 0 &&
           (int64_t)out->size == e->size;
}

/* ---- keys ---------------------------------------------------------------- */

/* The key pair the key file's audit subkey seeds. */
static int derive_keys(st_store *st, uint8_t pk[crypto_sign_PUBLICKEYBYTES],
                       uint8_t sk[crypto_sign_SECRETKEYBYTES], dt_error *err)
{
    if (sodium_init() < 0) return dt_err_set(err, DT_EINTERNAL, "libsodium failed to start");
    uint8_t seed[crypto_sign_SEEDBYTES];
    int rc = st_subkey(st, ST_SUBKEY_AUDIT_SIGN, seed, sizeof seed);
    if (rc == DT_OK) crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
    return rc < 0 ? dt_err_set(err, rc, "cannot derive the audit signing key") : DT_OK;
}

int gv_audit_init_key(st_store *st, dt_error *err)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    DT_TRY(derive_keys(st, pk, sk, err));
    sodium_memzero(sk, sizeof sk);
    char pk_hex[2 * sizeof pk + 1];
    sodium_bin2hex(pk_hex, sizeof pk_hex, pk, sizeof pk);
    return st_meta_set(st, "audit_public_key", pk_hex, err);
}

int au_read_key(st_store *st, const char *name, uint8_t *out, size_t len, dt_error *err)
{
    char *hex = NULL;
    DT_TRY(st_meta_get(st, name, &hex, err));
    size_t got = 0;
    int bad = !hex || sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL) != 0 ||
              got != len;
    if (hex) sodium_memzero(hex, strlen(hex));
    dt_free(hex);
    return bad ? dt_err_at(err, DT_EIO, st_path(st), 0, 0, "the store has no valid audit "
                           "signing key (%s)", name)
               : DT_OK;
}

/* ---- open and append ------------------------------------------------------- */

#ifdef DT_TEST_HOOKS
void (*gv_test_between_log_reads)(void);
#endif

/* The log's last entry, newest head and sealed end, read in one
 * snapshot: read apart, another handle's commit between them looked like
 * entries nothing vouches for, and a server's first request on a handle
 * failed with it. */
static int read_end(gv_audit *a, int64_t *last, st_head *h, int *found, st_log_end *end,
                    int *has_end, dt_error *err)
{
    int started;
    DT_TRY(st_snapshot_begin(a->st, &started, err));
    int rc = st_audit_last(a->st, last, err);
#ifdef DT_TEST_HOOKS
    if (gv_test_between_log_reads) gv_test_between_log_reads();
#endif
    if (rc == DT_OK) rc = st_head_latest(a->st, h, found, err);
    if (rc == DT_OK) {
        rc = st_log_end_get(a->st, end, has_end, err);
        if (rc < 0 && *found) dt_free(h->frontier);
    }
    st_snapshot_end(a->st, started);
    return rc;
}

/* The tree as the newest head left it; 0 when that head is not genuine. */
static int tree_from_head(gv_audit *a, const st_head *h)
{
    mk_hash root;
    int ok = mk_stream_load(&a->tree, h->frontier, h->frontier_len) == 0 &&
             (int64_t)a->tree.size == h->size &&
             au_head_signed(a->pk, h->size, h->time, h->root, h->signature);
    if (ok) mk_stream_root(&a->tree, root);
    return ok && memcmp(root, h->root, 32) == 0;
}

/* Invariant 1: the log's end, vouched for by the newest head or the
 * sealed end. */
static int load_tree(gv_audit *a, dt_error *err)
{
    st_head h;
    st_log_end *end = dt_malloc(sizeof *end);
    if (!end) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int found, has_end, ok = 1;
    int64_t last;
    mk_stream_init(&a->tree);
    a->head_size = 0;
    int rc = read_end(a, &last, &h, &found, end, &has_end, err);
    if (rc < 0) {
        dt_free(end);
        return rc;
    }
    if (found) {
        ok = tree_from_head(a, &h);
        a->head_size = h.size;
        dt_free(h.frontier);
    }
    if (ok && last > a->head_size && has_end && end->size == last) {
        dt_error ignored;
        ok = au_end_stream(a->st, end, &a->tree, &ignored) == 1;
    }
    dt_free(end);
    if (ok && last == (int64_t)a->tree.size) return DT_OK;
    mk_stream_init(&a->tree);
    return dt_err_at(err, DT_EIO, st_path(a->st), 0, 0, "the audit log was written outside "
                     "dovetail (%s), so nothing more is appended to it: an auditor should run "
                     "'dovetail audit verify'",
                     !ok ? (last > a->head_size ? "its sealed end does not match"
                                                : "its newest signed head does not match")
                         : "it has entries no signed head or sealed end covers");
}

int gv_audit_open(st_store *st, gv_audit **out, dt_error *err)
{
    *out = NULL;
    if (sodium_init() < 0) return dt_err_set(err, DT_EINTERNAL, "libsodium failed to start");
    gv_audit *a = dt_calloc(1, sizeof *a);
    if (!a) return dt_err_set(err, DT_ENOMEM, "out of memory");
    a->st = st;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    int rc = au_read_key(st, "audit_public_key", a->pk, sizeof a->pk, err);
    if (rc == DT_OK) rc = derive_keys(st, pk, a->sk, err);
    if (rc == DT_OK) rc = derive_mac_key(st, a->mac_key, err);
    if (rc == DT_OK && sodium_memcmp(pk, a->pk, sizeof pk) != 0)
        rc = dt_err_at(err, DT_EIO, st_path(st), 0, 0, "the audit log's public key is not the "
                       "key file's: the store's audit key was replaced");
    if (rc == DT_OK) rc = load_tree(a, err);
    if (rc < 0) {
        gv_audit_close(a);
        return rc;
    }
    *out = a;
    return DT_OK;
}

static void pending_fini(pending *p)
{
    dt_free(p->principal);
    dt_free(p->purpose);
    dt_free(p->action);
    dt_free(p->outcome);
    dt_free(p->fields);
    for (size_t i = 0; i < p->n_subjects; i++) dt_free(p->subjects[i]);
    dt_free(p->subjects);
}

static void drop_queue(gv_audit *a)
{
    for (size_t i = 0; i < a->n_q; i++) pending_fini(&a->q[i]);
    a->n_q = 0;
}

void gv_audit_close(gv_audit *a)
{
    if (!a) return;
    drop_queue(a);
    dt_free(a->q);
    sodium_memzero(a->sk, sizeof a->sk);
    sodium_memzero(a->mac_key, sizeof a->mac_key);
    dt_free(a);
}

void gv_audit_drop(gv_audit *a)
{
    drop_queue(a);
}

size_t gv_audit_pending(const gv_audit *a)
{
    return a->n_q;
}

/* The fields shown, as a JSON array text. */
static char *fields_text(const char *const *fields, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, json_string(fields[i])) < 0) {
            json_decref(arr);
            return NULL;
        }
    char *t = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    char *copy = t ? dt_strdup(t) : NULL;
    free(t);
    return copy;
}

static int copy_entry(pending *p, const gv_entry *e)
{
    p->time = gv_now();
    p->principal = dt_strdup(e->principal ? e->principal : "");
    p->purpose = dt_strdup(e->purpose ? e->purpose : "");
    p->action = dt_strdup(e->action);
    p->outcome = dt_strdup(e->outcome);
    p->fields = fields_text(e->fields, e->n_fields);
    p->subjects = dt_calloc(e->n_subjects ? e->n_subjects : 1, sizeof *p->subjects);
    if (!p->principal || !p->purpose || !p->action || !p->outcome || !p->fields || !p->subjects)
        return DT_ENOMEM;
    for (size_t i = 0; i < e->n_subjects; i++, p->n_subjects++)
        if (!(p->subjects[i] = dt_strdup(e->subjects[i]))) return DT_ENOMEM;
    return DT_OK;
}

int gv_audit_add(gv_audit *a, const gv_entry *e, dt_error *err)
{
    if (util_grow((void **)&a->q, &a->cap_q, a->n_q + 1, sizeof *a->q) < 0)
        return dt_err_set(err, DT_ENOMEM, "out of memory");
    pending *p = &a->q[a->n_q];
    memset(p, 0, sizeof *p);
    if (copy_entry(p, e) < 0) {
        pending_fini(p);
        return dt_err_set(err, DT_ENOMEM, "out of memory (or an audit text not UTF-8)");
    }
    a->n_q++;
    return DT_OK;
}

static int put_pending(gv_audit *a, const pending *p, mk_stream *tree, dt_error *err)
{
    st_audit_entry e = {
        .seq = (int64_t)tree->size + 1, .time = p->time, .principal = p->principal,
        .purpose = p->purpose, .action = p->action, .fields = p->fields, .outcome = p->outcome,
        .subjects = (const char *const *)p->subjects, .n_subjects = p->n_subjects,
    };
    mk_hash leaf;
    if (au_leaf(&e, p->n_subjects, leaf) < 0) return dt_err_set(err, DT_ENOMEM, "out of memory");
    e.leaf_hash = leaf;
    e.leaf_hash_len = MK_HASH;
    DT_TRY(st_audit_put(a->st, &e, err));
    mk_stream_push(tree, leaf);
    return DT_OK;
}

static int sign_head(gv_audit *a, const mk_stream *tree, dt_error *err)
{
    st_head h = {.size = (int64_t)tree->size, .time = gv_now()};
    mk_stream_root(tree, h.root);
    uint8_t msg[HEAD_MSG], frontier[MK_STREAM_BYTES];
    head_message(h.size, h.time, h.root, msg);
    crypto_sign_detached(h.signature, NULL, msg, sizeof msg, a->sk);
    h.frontier = frontier;
    h.frontier_len = mk_stream_save(tree, frontier);
    return st_head_put(a->st, &h, err);
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Invariant 1 without a signature: the end's size and frontier, MAC'd. */
static int seal_end(gv_audit *a, const mk_stream *tree, dt_error *err)
{
    st_log_end e = {.size = (int64_t)tree->size};
    e.frontier_len = mk_stream_save(tree, e.frontier);
    end_mac(a->mac_key, e.size, e.frontier, e.frontier_len, e.mac);
    return st_log_end_put(a->st, &e, err);
}

static int sign_due(const gv_audit *a)
{
    return a->sign_every_ms == 0 || mono_ms() - a->signed_at_ms >= a->sign_every_ms;
}

/* Writes the queue, and a head over it or a sealed end, in the caller's
 * transaction; the tree moves on only when all of it was written.
 * OUT: *is_signed. */
static int write_queue(gv_audit *a, int *is_signed, dt_error *err)
{
    mk_stream tree = a->tree;
    for (size_t i = 0; i < a->n_q; i++) DT_TRY(put_pending(a, &a->q[i], &tree, err));
    *is_signed = sign_due(a);
    DT_TRY(*is_signed ? sign_head(a, &tree, err) : seal_end(a, &tree, err));
    a->tree = tree;
    if (*is_signed) a->head_size = (int64_t)tree.size;
    return DT_OK;
}

/* Takes up what other processes appended since this one last did: their
 * newest head or sealed end, checked as at open (the write lock is held:
 * no one appends meanwhile). */
static int catch_up(gv_audit *a, dt_error *err)
{
    int64_t last;
    DT_TRY(st_audit_last(a->st, &last, err));
    return last == (int64_t)a->tree.size ? DT_OK : load_tree(a, err);
}

int gv_audit_commit_with(gv_audit *a, gv_work_fn work, void *ctx, int64_t *seq, dt_error *err)
{
    if (a->n_q > 0 || work) {
        mk_stream before = a->tree;
        int64_t head_before = a->head_size;
        int is_signed = 0;
        int rc = st_begin(a->st, err);
        if (rc == DT_OK) rc = catch_up(a, err);
        if (rc == DT_OK && work) rc = work(ctx, err);
        if (rc == DT_OK && a->n_q) rc = write_queue(a, &is_signed, err);
        if (rc == DT_OK) rc = st_commit(a->st, err);
        if (rc < 0) {
            st_rollback(a->st);
            a->tree = before;
            a->head_size = head_before;
            return rc; /* the queue stays: the caller may try again */
        }
        if (is_signed) a->signed_at_ms = mono_ms();
        drop_queue(a);
    }
    if (seq) *seq = (int64_t)a->tree.size;
    return DT_OK;
}

void gv_audit_sign_every(gv_audit *a, int64_t ms)
{
    a->sign_every_ms = ms;
    a->signed_at_ms = mono_ms();
}

int gv_audit_is_signed(const gv_audit *a)
{
    return a->head_size == (int64_t)a->tree.size;
}

static int newest_head_size(gv_audit *a, dt_error *err)
{
    st_head h;
    int found;
    DT_TRY(st_head_latest(a->st, &h, &found, err));
    if (found) {
        if (h.size > a->head_size) a->head_size = h.size;
        dt_free(h.frontier);
    }
    return DT_OK;
}

int gv_audit_sign(gv_audit *a, int may_wait, dt_error *err)
{
    assert(a->n_q == 0); /* a request's entries go with its own commit */
    mk_stream before = a->tree;
    int64_t head_before = a->head_size;
    int rc = may_wait ? st_begin(a->st, err) : st_begin_now(a->st, err);
    if (rc == DT_OK) rc = catch_up(a, err);
    if (rc == DT_OK) rc = newest_head_size(a, err); /* another process may have signed */
    int is_due = rc == DT_OK && a->head_size < (int64_t)a->tree.size;
    if (is_due) rc = sign_head(a, &a->tree, err);
    if (rc == DT_OK) rc = st_commit(a->st, err);
    if (rc < 0) {
        st_rollback(a->st);
        a->tree = before;
        a->head_size = head_before;
        return rc;
    }
    if (is_due) {
        a->head_size = (int64_t)a->tree.size;
        a->signed_at_ms = mono_ms();
    }
    return DT_OK;
}

int gv_audit_commit(gv_audit *a, int64_t *seq, dt_error *err)
{
    return gv_audit_commit_with(a, NULL, NULL, seq, err);
}
