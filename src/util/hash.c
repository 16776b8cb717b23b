/*
 * hash.c — a fast non-cryptographic 64-bit hash for hash tables and
 * stable ids, and the seeded PRNG behind u sampling. Neither is for
 * security. Written here because libc has neither and both are a few lines.
 */
#include <string.h>

#include "util.h"

uint64_t util_mix64(uint64_t x)
{
    /* splitmix64 finaliser (Steele, Lea & Flood 2014). */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t util_hash64(const void *data, size_t n, uint64_t seed)
{
    /* Eight bytes at a time, each word mixed in multiplicatively, then a
     * full avalanche at the end; the length is folded in so prefixes of
     * zeros differ. */
    const unsigned char *p = data;
    uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (n + 1));
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ util_mix64(w)) * 0x9e3779b97f4a7c15ULL;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ util_mix64(w ^ n)) * 0x9e3779b97f4a7c15ULL;
    return util_mix64(h);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void util_rng_seed(util_rng *r, uint64_t seed)
{
    uint64_t z = seed;
    for (int i = 0; i < 4; i++) {
        z += 0x9e3779b97f4a7c15ULL;
        r->s[i] = util_mix64(z);
    }
}

uint64_t util_rng_next(util_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t util_rng_below(util_rng *r, uint64_t bound)
{
    /* Rejection keeps the result unbiased. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do x = util_rng_next(r);
    while (x >= limit);
    return x % bound;
}
