/*
 * merkle.c — RFC 6962 Merkle tree hashes, audit paths and consistency
 * proofs, and their RFC 9162 verifiers (see merkle.h). SHA-256 is
 * libsodium's. Proof generation recurses over subtrees of a leaf array,
 * O(n) hashes per proof: the log is read once per `audit prove`, never on
 * a request's path.
 */
#include <string.h>

#include <sodium.h>

#include "govern/merkle.h"

static void hash2(uint8_t prefix, const void *a, size_t na, const void *b, size_t nb, mk_hash out)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    if (na) crypto_hash_sha256_update(&st, a, na);
    if (nb) crypto_hash_sha256_update(&st, b, nb);
    crypto_hash_sha256_final(&st, out);
}

void mk_leaf_hash(const void *data, size_t n, mk_hash out)
{
    hash2(0x00, data, n, NULL, 0, out);
}

void mk_node_hash(const mk_hash left, const mk_hash right, mk_hash out)
{
    hash2(0x01, left, MK_HASH, right, MK_HASH, out);
}

/* The largest power of two below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    uint64_t k = 1;
    while (k << 1 < n) k <<= 1;
    return k;
}

static void subtree_root(const mk_hash *leaves, uint64_t n, mk_hash out)
{
    if (n == 1) {
        memcpy(out, leaves[0], MK_HASH);
        return;
    }
    uint64_t k = split_point(n);
    mk_hash l, r;
    subtree_root(leaves, k, l);
    subtree_root(leaves + k, n - k, r);
    mk_node_hash(l, r, out);
}

void mk_root(const mk_hash *leaves, uint64_t n, mk_hash out)
{
    if (n == 0) crypto_hash_sha256(out, (const unsigned char *)"", 0);
    else subtree_root(leaves, n, out);
}

/* ---- streaming root ---------------------------------------------------- */

void mk_stream_init(mk_stream *s)
{
    memset(s, 0, sizeof *s);
}

/* Complete subtrees merge like a binary counter's carries; what is left
 * folds right to left into the root, which is RFC 6962's split. */
void mk_stream_push(mk_stream *s, const mk_hash leaf)
{
    memcpy(s->stack[s->depth], leaf, MK_HASH);
    s->height[s->depth++] = 0;
    while (s->depth >= 2 && s->height[s->depth - 1] == s->height[s->depth - 2]) {
        mk_node_hash(s->stack[s->depth - 2], s->stack[s->depth - 1], s->stack[s->depth - 2]);
        s->height[s->depth - 2]++;
        s->depth--;
    }
    s->size++;
}

void mk_stream_root(const mk_stream *s, mk_hash out)
{
    if (s->depth == 0) {
        mk_root(NULL, 0, out);
        return;
    }
    mk_hash r;
    memcpy(r, s->stack[s->depth - 1], MK_HASH);
    for (int i = s->depth - 2; i >= 0; i--) mk_node_hash(s->stack[i], r, r);
    memcpy(out, r, MK_HASH);
}

size_t mk_stream_save(const mk_stream *s, uint8_t *out)
{
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(s->size >> (56 - 8 * i));
    size_t n = 8;
    for (int d = 0; d < s->depth; d++) {
        out[n++] = s->height[d];
        memcpy(out + n, s->stack[d], MK_HASH);
        n += MK_HASH;
    }
    return n;
}

/* The heights must be the set bits of size, largest first: the only
 * shape mk_stream_push leaves. */
int mk_stream_load(mk_stream *s, const uint8_t *in, size_t n)
{
    mk_stream_init(s);
    if (n < 8 || (n - 8) % (1 + MK_HASH) != 0 || (n - 8) / (1 + MK_HASH) > 64) return -1;
    for (int i = 0; i < 8; i++) s->size = s->size << 8 | in[i];
    uint64_t sum = 0;
    for (size_t off = 8; off < n; off += 1 + MK_HASH) {
        uint8_t h = in[off];
        if (h > 63 || (s->depth && h >= s->height[s->depth - 1])) return -1;
        s->height[s->depth] = h;
        memcpy(s->stack[s->depth++], in + off + 1, MK_HASH);
        sum += UINT64_C(1) << h;
    }
    return sum == s->size ? 0 : -1;
}

/* ---- proofs ------------------------------------------------------------ */

static void append(mk_hash *proof, size_t *n, const mk_hash *leaves, uint64_t count)
{
    subtree_root(leaves, count, proof[(*n)++]);
}

static void path(const mk_hash *leaves, uint64_t n, uint64_t m, mk_hash *proof, size_t *k)
{
    if (n == 1) return;
    uint64_t s = split_point(n);
    if (m < s) {
        path(leaves, s, m, proof, k);
        append(proof, k, leaves + s, n - s);
    } else {
        path(leaves + s, n - s, m - s, proof, k);
        append(proof, k, leaves, s);
    }
}

int mk_inclusion_proof(const mk_hash *leaves, uint64_t n, uint64_t m, mk_hash *proof,
                       size_t *n_proof)
{
    *n_proof = 0;
    if (m >= n) return -1;
    path(leaves, n, m, proof, n_proof);
    return 0;
}

/* SUBPROOF(m, D[n], b) of RFC 6962 §2.1.2. */
static void subproof(const mk_hash *leaves, uint64_t n, uint64_t m, int whole, mk_hash *proof,
                     size_t *k)
{
    if (m == n) {
        if (!whole) append(proof, k, leaves, n);
        return;
    }
    uint64_t s = split_point(n);
    if (m <= s) {
        subproof(leaves, s, m, whole, proof, k);
        append(proof, k, leaves + s, n - s);
    } else {
        subproof(leaves + s, n - s, m - s, 0, proof, k);
        append(proof, k, leaves, s);
    }
}

int mk_consistency_proof(const mk_hash *leaves, uint64_t n, uint64_t m, mk_hash *proof,
                         size_t *n_proof)
{
    *n_proof = 0;
    if (m == 0 || m > n) return -1;
    subproof(leaves, n, m, 1, proof, n_proof);
    return 0;
}

/* ---- verifiers (RFC 9162) ----------------------------------------------- */

static int same(const mk_hash a, const mk_hash b)
{
    return sodium_memcmp(a, b, MK_HASH) == 0;
}

/* Shifts fn and sn right together until fn's low bit is set or fn is 0. */
static void shift_to_odd(uint64_t *fn, uint64_t *sn)
{
    while (!(*fn & 1) && *fn != 0) {
        *fn >>= 1;
        *sn >>= 1;
    }
}

int mk_verify_inclusion(uint64_t m, uint64_t n, const mk_hash leaf, const mk_hash *proof,
                        size_t n_proof, const mk_hash root)
{
    if (m >= n) return 0;
    uint64_t fn = m, sn = n - 1;
    mk_hash r;
    memcpy(r, leaf, MK_HASH);
    for (size_t i = 0; i < n_proof; i++) {
        if (sn == 0) return 0;
        if ((fn & 1) || fn == sn) {
            mk_node_hash(proof[i], r, r);
            shift_to_odd(&fn, &sn);
        } else {
            mk_node_hash(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && same(r, root);
}

int mk_verify_consistency(uint64_t m, uint64_t n, const mk_hash root_m, const mk_hash root_n,
                          const mk_hash *proof, size_t n_proof)
{
    if (m == 0 || m > n) return 0;
    if (m == n) return n_proof == 0 && same(root_m, root_n);
    if (n_proof == 0 || n_proof > MK_MAX_PROOF) return 0;
    mk_hash c[MK_MAX_PROOF + 1];
    size_t n_c = 0;
    if ((m & (m - 1)) == 0) memcpy(c[n_c++], root_m, MK_HASH); /* m is a power of two */
    memcpy(c + n_c, proof, n_proof * MK_HASH);
    n_c += n_proof;
    uint64_t fn = m - 1, sn = n - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    mk_hash fr, sr;
    memcpy(fr, c[0], MK_HASH);
    memcpy(sr, c[0], MK_HASH);
    for (size_t i = 1; i < n_c; i++) {
        if (sn == 0) return 0;
        if ((fn & 1) || fn == sn) {
            mk_node_hash(c[i], fr, fr);
            mk_node_hash(c[i], sr, sr);
            shift_to_odd(&fn, &sn);
        } else {
            mk_node_hash(sr, c[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && same(fr, root_m) && same(sr, root_n);
}

/* ---- hex ------------------------------------------------------------- */

void mk_hex(const mk_hash h, char out[2 * MK_HASH + 1])
{
    sodium_bin2hex(out, 2 * MK_HASH + 1, h, MK_HASH);
}

int mk_from_hex(const char *hex, mk_hash out)
{
    size_t n = 0;
    const char *end = NULL;
    if (strlen(hex) != 2 * MK_HASH) return -1;
    if (sodium_hex2bin(out, MK_HASH, hex, 2 * MK_HASH, NULL, &n, &end) != 0) return -1;
    return n == MK_HASH && *end == '\0' ? 0 : -1;
}
