/* Unit tests for src/govern/merkle: RFC 6962 roots, audit paths and
 * consistency proofs against the test vectors of the Certificate
 * Transparency reference code (also recomputed by an independent Python
 * implementation of RFC 6962 §2.1), and exhaustive generate-then-verify
 * checks with every kind of tampering a verifier must refuse. A proof
 * does not pin the tree size by itself (a leaf hash and a node hash look
 * alike), which is why signed tree heads carry the size with the root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "govern/merkle.h"

static const char *const LEAVES[8] = {"", "00", "10", "2021", "3031", "40414243",
                                      "5051525354555657", "606162636465666768696a6b6c6d6e6f"};
static const char *const ROOTS[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void vector_leaves(mk_hash *out)
{
    for (int i = 0; i < 8; i++) {
        unsigned char bin[16];
        size_t n = 0;
        assert_int_equal(sodium_hex2bin(bin, sizeof bin, LEAVES[i], strlen(LEAVES[i]), NULL, &n, NULL), 0);
        mk_leaf_hash(bin, n, out[i]);
    }
}

static void assert_hex(const mk_hash h, const char *hex)
{
    char got[2 * MK_HASH + 1];
    mk_hex(h, got);
    assert_string_equal(got, hex);
}

static void test_roots(void **state)
{
    (void)state;
    mk_hash leaves[8], root;
    vector_leaves(leaves);
    mk_stream s;
    mk_stream_init(&s);
    for (int n = 1; n <= 8; n++) {
        mk_root(leaves, (uint64_t)n, root);
        assert_hex(root, ROOTS[n - 1]);
        mk_stream_push(&s, leaves[n - 1]);
        mk_stream_root(&s, root);
        assert_hex(root, ROOTS[n - 1]);
    }
    mk_root(leaves, 0, root); /* the empty tree: SHA-256 of nothing */
    assert_hex(root, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_vector_proofs(void **state)
{
    (void)state;
    mk_hash leaves[8], proof[MK_MAX_PROOF];
    size_t n;
    vector_leaves(leaves);
    assert_int_equal(mk_inclusion_proof(leaves, 8, 5, proof, &n), 0);
    assert_int_equal(n, 3);
    assert_hex(proof[0], "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b");
    assert_hex(proof[1], "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0");
    assert_hex(proof[2], "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7");
    assert_int_equal(mk_consistency_proof(leaves, 8, 6, proof, &n), 0);
    assert_int_equal(n, 3);
    assert_hex(proof[0], "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a");
    assert_hex(proof[1], "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0");
    assert_hex(proof[2], "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7");
    assert_int_equal(mk_consistency_proof(leaves, 5, 2, proof, &n), 0);
    assert_int_equal(n, 2);
    assert_hex(proof[0], "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e");
    assert_hex(proof[1], "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b");
    assert_int_equal(mk_inclusion_proof(leaves, 8, 8, proof, &n), -1);
    assert_int_equal(mk_consistency_proof(leaves, 8, 0, proof, &n), -1);
    assert_int_equal(mk_consistency_proof(leaves, 8, 9, proof, &n), -1);
}

enum { N_MAX = 40 };

static void make_leaves(mk_hash *leaves, int n)
{
    for (int i = 0; i < n; i++) {
        char data[16];
        int len = snprintf(data, sizeof data, "entry %d", i);
        mk_leaf_hash(data, (size_t)len, leaves[i]);
    }
}

/* Every leaf of every tree up to N_MAX: the proof verifies, and any
 * flipped bit, wrong index or leaf, dropped or extra hash fails. */
static void test_inclusion_exhaustive(void **state)
{
    (void)state;
    mk_hash leaves[N_MAX], root, proof[MK_MAX_PROOF + 1];
    make_leaves(leaves, N_MAX);
    for (uint64_t n = 1; n <= N_MAX; n++) {
        mk_root(leaves, n, root);
        for (uint64_t m = 0; m < n; m++) {
            size_t k;
            assert_int_equal(mk_inclusion_proof(leaves, n, m, proof, &k), 0);
            assert_true(mk_verify_inclusion(m, n, leaves[m], proof, k, root));
            assert_false(mk_verify_inclusion(m, n, leaves[(m + 1) % n], proof, k, root) && n > 1);
            if (n > 1) assert_false(mk_verify_inclusion((m + 1) % n, n, leaves[m], proof, k, root));
            assert_false(mk_verify_inclusion(m, n, leaves[m], proof, k + 1, root));
            if (k) assert_false(mk_verify_inclusion(m, n, leaves[m], proof, k - 1, root));
            for (size_t j = 0; j < k; j++) {
                proof[j][j % MK_HASH] ^= 0x01;
                assert_false(mk_verify_inclusion(m, n, leaves[m], proof, k, root));
                proof[j][j % MK_HASH] ^= 0x01;
            }
        }
    }
}

static void test_consistency_exhaustive(void **state)
{
    (void)state;
    mk_hash leaves[N_MAX], rm, rn, proof[MK_MAX_PROOF];
    make_leaves(leaves, N_MAX);
    for (uint64_t n = 1; n <= N_MAX; n++) {
        mk_root(leaves, n, rn);
        for (uint64_t m = 1; m <= n; m++) {
            size_t k;
            mk_root(leaves, m, rm);
            assert_int_equal(mk_consistency_proof(leaves, n, m, proof, &k), 0);
            assert_true(mk_verify_consistency(m, n, rm, rn, proof, k));
            assert_false(mk_verify_consistency(m, n, rn, rm, proof, k) && m != n);
            if (m < n) assert_false(mk_verify_consistency(m + 1, n, rm, rn, proof, k));
            for (size_t j = 0; j < k; j++) {
                proof[j][0] ^= 0x80;
                assert_false(mk_verify_consistency(m, n, rm, rn, proof, k));
                proof[j][0] ^= 0x80;
            }
            if (k) assert_false(mk_verify_consistency(m, n, rm, rn, proof, k - 1));
            /* a log rewritten below m is not an extension of the old one */
            if (m < n) {
                mk_hash saved;
                memcpy(saved, leaves[m - 1], MK_HASH);
                leaves[m - 1][5] ^= 0x10;
                mk_hash forged;
                mk_root(leaves, n, forged);
                size_t k2;
                mk_hash p2[MK_MAX_PROOF];
                assert_int_equal(mk_consistency_proof(leaves, n, m, p2, &k2), 0);
                assert_false(mk_verify_consistency(m, n, rm, forged, p2, k2));
                memcpy(leaves[m - 1], saved, MK_HASH);
            }
        }
    }
}

static void test_hex(void **state)
{
    (void)state;
    mk_hash h, back;
    mk_leaf_hash("x", 1, h);
    char hex[2 * MK_HASH + 1];
    mk_hex(h, hex);
    assert_int_equal(mk_from_hex(hex, back), 0);
    assert_memory_equal(h, back, MK_HASH);
    assert_int_equal(mk_from_hex("abc", back), -1);
    hex[10] = 'g';
    assert_int_equal(mk_from_hex(hex, back), -1);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roots),
        cmocka_unit_test(test_vector_proofs),
        cmocka_unit_test(test_inclusion_exhaustive),
        cmocka_unit_test(test_consistency_exhaustive),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
