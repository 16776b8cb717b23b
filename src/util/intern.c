/*
 * intern.c — string interning: each distinct byte string gets one dense id,
 * so columns hold 4-byte ids and each distinct value is normalized and
 * compared once. Open addressing with linear probing; the table doubles at
 * 50% load. Ids are assigned in first-seen order and never change.
 */
#include <string.h>

#include "util.h"

void util_intern_init(util_intern *t)
{
    memset(t, 0, sizeof *t);
    util_arena_init(&t->arena, 256 * 1024);
}

void util_intern_fini(util_intern *t)
{
    util_arena_fini(&t->arena);
    dt_free(t->strs);
    dt_free(t->lens);
    dt_free(t->slots);
    memset(t, 0, sizeof *t);
}

/* A slot is (tag << 32 | id + 1), 0 when empty; the tag is the hash's high
 * half, and a slot's place is the tag masked, so growing needs no string.
 * A look-up reads one slot for an absent string, and the slot, strs[id]
 * and the string (its length just before it) for a present one: the
 * table's cost is its cache misses, and at millions of record ids the two
 * arrays of slots and hashes and the lengths were two more. */
static uint32_t tag_of(const char *s, size_t n)
{
    return (uint32_t)(util_hash64(s, n, 0) >> 32);
}

static size_t string_len(const char *p)
{
    uint32_t len;
    memcpy(&len, p - sizeof len, sizeof len);
    return len;
}

static size_t probe(const util_intern *t, const char *s, size_t n, uint32_t tag)
{
    size_t mask = t->n_slots - 1;
    size_t i = (size_t)tag & mask;
    for (;;) {
        uint64_t v = t->slots[i];
        if (v == 0) return i;
        if ((uint32_t)(v >> 32) == tag) {
            const char *p = t->strs[(uint32_t)v - 1];
            if (string_len(p) == n && memcmp(p, s, n) == 0) return i;
        }
        i = (i + 1) & mask;
    }
}

static int rehash(util_intern *t, size_t n_slots)
{
    uint64_t *slots = dt_calloc(n_slots, sizeof *slots);
    if (!slots) return DT_ENOMEM;
    for (size_t i = 0; i < t->n_slots; i++) {
        uint64_t v = t->slots[i];
        if (!v) continue;
        size_t j = (size_t)(v >> 32) & (n_slots - 1);
        while (slots[j]) j = (j + 1) & (n_slots - 1);
        slots[j] = v;
    }
    dt_free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
    return DT_OK;
}

uint32_t util_intern_find(const util_intern *t, const char *s, size_t n)
{
    if (t->n_slots == 0) return UINT32_MAX;
    uint64_t v = t->slots[probe(t, s, n, tag_of(s, n))];
    return v ? (uint32_t)v - 1 : UINT32_MAX;
}

/* The string's bytes after its length, NUL-terminated. */
static char *keep(util_arena *a, const char *s, size_t n)
{
    uint32_t len = (uint32_t)n;
    char *d = util_arena_alloc(a, sizeof len + n + 1);
    if (!d) return NULL;
    memcpy(d, &len, sizeof len);
    memcpy(d + sizeof len, s, n);
    d[sizeof len + n] = '\0';
    return d + sizeof len;
}

int util_intern_put(util_intern *t, const char *s, size_t n, uint32_t *id)
{
    /* small first: a request makes a dozen sets of a few strings each, and
     * 1,024 slots (12 KiB, zeroed) apiece were a tenth of its CPU in malloc */
    if ((size_t)t->n_strs * 2 + 2 > t->n_slots)
        DT_TRY(rehash(t, t->n_slots ? t->n_slots * 2 : 16));
    if (n > UINT32_MAX) return DT_ENOMEM;
    uint32_t tag = tag_of(s, n);
    size_t i = probe(t, s, n, tag);
    if (t->slots[i]) {
        *id = (uint32_t)t->slots[i] - 1;
        return DT_OK;
    }
    if (t->n_strs == UINT32_MAX - 1) return DT_ENOMEM;
    size_t cap = t->cap_strs;
    DT_TRY(util_grow((void **)&t->strs, &cap, (size_t)t->n_strs + 1, sizeof *t->strs));
    size_t cap_lens = t->cap_strs;
    DT_TRY(util_grow((void **)&t->lens, &cap_lens, (size_t)t->n_strs + 1, sizeof *t->lens));
    t->cap_strs = cap < cap_lens ? cap : cap_lens;
    char *copy = keep(&t->arena, s, n);
    if (!copy) return DT_ENOMEM;
    t->strs[t->n_strs] = copy;
    t->lens[t->n_strs] = (uint32_t)n;
    t->slots[i] = (uint64_t)tag << 32 | (t->n_strs + 1);
    *id = t->n_strs++;
    return DT_OK;
}
