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
 * Invariants:
 *   1. The log is signed up to its end after every commit; an entry no
 *      head covers, or a newest head that does not match its stored
 *      frontier, means someone wrote to the log outside dovetail, and
 *      gv_audit_open refuses to append to it (fail closed).
 *   2. verify trusts nothing stored but the public key: it recomputes
 *      every leaf from the entry's columns and every root from the leaves.
 *   3. Other processes append to the same log: a commit, holding the
 *      write lock, first takes up the entries and head they added.
 *   4. The signing key is never stored: its seed is a subkey of the key
 *      file (st_subkey), so a copy of the store cannot re-sign a log. The
 *      store keeps the public key, which must match the derived one.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "govern/audit_int.h"

#define HEAD_CONTEXT "dovetail/tree-head/v1"

typedef struct pending {
    int64_t time;
    char *principal, *purpose, *action, *outcome, *fields;
    char **subjects;
    size_t n_subjects;
} pending;

struct gv_audit {
    st_store *st;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    mk_stream tree;           /* the committed log */
    int64_t head_size;        /* size of the newest head */
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

/* The log's last entry and newest head, read in one snapshot: read apart,
 * another handle's commit between them looked like entries no head
 * covers, and a server's first request on a handle failed with it. */
static int read_end(gv_audit *a, int64_t *last, st_head *h, int *found, dt_error *err)
{
    int started;
    DT_TRY(st_snapshot_begin(a->st, &started, err));
    int rc = st_audit_last(a->st, last, err);
#ifdef DT_TEST_HOOKS
    if (gv_test_between_log_reads) gv_test_between_log_reads();
#endif
    if (rc == DT_OK) rc = st_head_latest(a->st, h, found, err);
    st_snapshot_end(a->st, started);
    return rc;
}

static int load_tree(gv_audit *a, dt_error *err)
{
    st_head h;
    int found;
    int64_t last;
    mk_stream_init(&a->tree);
    DT_TRY(read_end(a, &last, &h, &found, err));
    int ok = 1;
    if (found) {
        mk_hash root;
        ok = mk_stream_load(&a->tree, h.frontier, h.frontier_len) == 0 &&
             (int64_t)a->tree.size == h.size && au_head_signed(a->pk, h.size, h.time, h.root,
                                                            h.signature);
        if (ok) mk_stream_root(&a->tree, root);
        ok = ok && memcmp(root, h.root, 32) == 0;
        a->head_size = h.size;
        dt_free(h.frontier);
    }
    if (ok && last == a->head_size) return DT_OK;
    return dt_err_at(err, DT_EIO, st_path(a->st), 0, 0, "the audit log was written outside "
                     "dovetail (%s), so nothing more is appended to it: an auditor should run "
                     "'dovetail audit verify'",
                     ok ? "it has entries no signed head covers"
                        : "its newest signed head does not match");
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

/* Writes the queue and a head over it in the caller's transaction; the
 * tree moves on only when all of it was written. */
static int write_queue(gv_audit *a, dt_error *err)
{
    mk_stream tree = a->tree;
    for (size_t i = 0; i < a->n_q; i++) DT_TRY(put_pending(a, &a->q[i], &tree, err));
    DT_TRY(sign_head(a, &tree, err));
    a->tree = tree;
    a->head_size = (int64_t)tree.size;
    return DT_OK;
}

/* Takes up what other processes appended since this one last did: their
 * newest head, checked as at open (the write lock is held: no one appends
 * meanwhile). */
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
        int rc = st_begin(a->st, err);
        if (rc == DT_OK) rc = catch_up(a, err);
        if (rc == DT_OK && work) rc = work(ctx, err);
        if (rc == DT_OK && a->n_q) rc = write_queue(a, err);
        if (rc == DT_OK) rc = st_commit(a->st, err);
        if (rc < 0) {
            st_rollback(a->st);
            a->tree = before;
            a->head_size = head_before;
            return rc; /* the queue stays: the caller may try again */
        }
        drop_queue(a);
    }
    if (seq) *seq = (int64_t)a->tree.size;
    return DT_OK;
}

int gv_audit_commit(gv_audit *a, int64_t *seq, dt_error *err)
{
    return gv_audit_commit_with(a, NULL, NULL, seq, err);
}
