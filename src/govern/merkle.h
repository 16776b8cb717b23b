/*
 * merkle.h — the audit log's Merkle tree, as RFC 6962 §2.1 defines it and
 * RFC 9162 §2.1 verifies it: SHA-256, a leaf hashed as H(0x00 || data), a
 * node as H(0x01 || left || right), and a tree of n leaves split at the
 * largest power of two below n. Pure functions over arrays of leaf hashes;
 * the log's storage and signatures live in audit.c.
 *
 * Invariants:
 *   1. The root of leaves [0, n) never depends on a leaf at or after n,
 *      so a head signed at size n stays checkable as the log grows.
 *   2. Every proof these functions produce is accepted by the matching
 *      verifier, and a proof with any hash or size changed is refused.
 */
#ifndef DT_GOVERN_MERKLE_H
#define DT_GOVERN_MERKLE_H

#include <stddef.h>
#include <stdint.h>

enum { MK_HASH = 32, MK_MAX_PROOF = 64 }; /* a proof has at most 2 log2(n) hashes */

typedef uint8_t mk_hash[MK_HASH];

/* H(0x00 || data): the leaf hash of an entry's canonical bytes. */
void mk_leaf_hash(const void *data, size_t n, mk_hash out);
/* H(0x01 || left || right). */
void mk_node_hash(const mk_hash left, const mk_hash right, mk_hash out);

/* The root of leaves[0..n); the hash of the empty string when n is 0. */
void mk_root(const mk_hash *leaves, uint64_t n, mk_hash out);

/* Builds a root as leaves arrive, in O(log n) memory: push each leaf hash
 * in order; mk_stream_root gives the root of those pushed so far. */
typedef struct mk_stream {
    mk_hash stack[64];     /* roots of complete subtrees, largest first */
    uint8_t height[64];
    int depth;
    uint64_t size;
} mk_stream;

void mk_stream_init(mk_stream *s);
void mk_stream_push(mk_stream *s, const mk_hash leaf);
void mk_stream_root(const mk_stream *s, mk_hash out);
/* A stream's state as bytes (at most MK_STREAM_BYTES), so a log can go on
 * from its newest head without reading every leaf again; and back (0, or
 * -1 when the bytes are not a state a stream can be in). */
enum { MK_STREAM_BYTES = 8 + 64 * (1 + MK_HASH) };
size_t mk_stream_save(const mk_stream *s, uint8_t *out);
int mk_stream_load(mk_stream *s, const uint8_t *in, size_t n);

/* The audit path of leaf m in the tree of leaves[0..n) (RFC 6962 PATH).
 * OUT: proof[0..*n_proof). Returns 0, or -1 when m >= n. */
int mk_inclusion_proof(const mk_hash *leaves, uint64_t n, uint64_t m, mk_hash *proof,
                       size_t *n_proof);
/* 1 when proof shows leaf `leaf` at index m of a tree of size n with this
 * root (RFC 9162 §2.1.3.2), else 0. */
int mk_verify_inclusion(uint64_t m, uint64_t n, const mk_hash leaf, const mk_hash *proof,
                        size_t n_proof, const mk_hash root);

/* The proof that the tree of size m is a prefix of the tree of size n
 * (RFC 6962 PROOF), 0 < m <= n. Returns 0, or -1 when m or n is out of range. */
int mk_consistency_proof(const mk_hash *leaves, uint64_t n, uint64_t m, mk_hash *proof,
                         size_t *n_proof);
/* 1 when proof shows root_m (size m) is a prefix of root_n (size n)
 * (RFC 9162 §2.1.4.2), else 0. */
int mk_verify_consistency(uint64_t m, uint64_t n, const mk_hash root_m, const mk_hash root_n,
                          const mk_hash *proof, size_t n_proof);

/* Lower-case hex of a hash (65 bytes with the NUL); and back (0, or -1 on
 * anything but 64 hex digits). */
void mk_hex(const mk_hash h, char out[2 * MK_HASH + 1]);
int mk_from_hex(const char *hex, mk_hash out);

#endif
