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
    dt_free(t->slot_hash);
    memset(t, 0, sizeof *t);
}

static size_t probe(const util_intern *t, const char *s, size_t n, uint64_t h)
{
    size_t mask = t->n_slots - 1;
    size_t i = (size_t)h & mask;
    for (;;) {
        uint32_t v = t->slots[i];
        if (v == 0) return i;
        if (t->slot_hash[i] == h && t->lens[v - 1] == n && memcmp(t->strs[v - 1], s, n) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

static int rehash(util_intern *t, size_t n_slots)
{
    uint32_t *slots = dt_calloc(n_slots, sizeof *slots);
    uint64_t *hashes = dt_malloc(n_slots * sizeof *hashes);
    if (!slots || !hashes) {
        dt_free(slots);
        dt_free(hashes);
        return DT_ENOMEM;
    }
    for (size_t i = 0; i < t->n_slots; i++) {
        uint32_t v = t->slots[i];
        if (!v) continue;
        size_t j = (size_t)t->slot_hash[i] & (n_slots - 1);
        while (slots[j]) j = (j + 1) & (n_slots - 1);
        slots[j] = v;
        hashes[j] = t->slot_hash[i];
    }
    dt_free(t->slots);
    dt_free(t->slot_hash);
    t->slots = slots;
    t->slot_hash = hashes;
    t->n_slots = n_slots;
    return DT_OK;
}

uint32_t util_intern_find(const util_intern *t, const char *s, size_t n)
{
    if (t->n_slots == 0) return UINT32_MAX;
    uint64_t h = util_hash64(s, n, 0);
    size_t i = probe(t, s, n, h);
    return t->slots[i] ? t->slots[i] - 1 : UINT32_MAX;
}

int util_intern_put(util_intern *t, const char *s, size_t n, uint32_t *id)
{
    /* small first: a request makes a dozen sets of a few strings each, and
     * 1,024 slots (12 KiB, zeroed) apiece were a tenth of its CPU in malloc */
    if ((size_t)t->n_strs * 2 + 2 > t->n_slots)
        DT_TRY(rehash(t, t->n_slots ? t->n_slots * 2 : 16));
    uint64_t h = util_hash64(s, n, 0);
    size_t i = probe(t, s, n, h);
    if (t->slots[i]) {
        *id = t->slots[i] - 1;
        return DT_OK;
    }
    if (t->n_strs == UINT32_MAX - 1) return DT_ENOMEM;
    size_t cap = t->cap_strs;
    DT_TRY(util_grow((void **)&t->strs, &cap, (size_t)t->n_strs + 1, sizeof *t->strs));
    size_t cap_lens = t->cap_strs;
    DT_TRY(util_grow((void **)&t->lens, &cap_lens, (size_t)t->n_strs + 1, sizeof *t->lens));
    t->cap_strs = cap < cap_lens ? cap : cap_lens;
    char *copy = util_arena_strndup(&t->arena, s, n);
    if (!copy) return DT_ENOMEM;
    t->strs[t->n_strs] = copy;
    t->lens[t->n_strs] = (uint32_t)n;
    t->slots[i] = t->n_strs + 1;
    t->slot_hash[i] = h;
    *id = t->n_strs++;
    return DT_OK;
}
