/*
 * ids.c — a set of 64-bit ids, each given a dense index in first-added
 * order (util_ids). Resolution keeps store record ids in these: which
 * records a batch has loaded, the seeds of a component. Interning the ids
 * as 8-byte strings cost a string hash and a memcmp per probe; here a
 * probe is one multiply and an integer compare.
 *
 * Invariants: ids[k] is the id with index k; slots hold index + 1 (0 is
 * empty); the table doubles at 50% load, so probes stay short.
 */
#include <string.h>

#include "util.h"

void util_ids_fini(util_ids *s)
{
    dt_free(s->ids);
    dt_free(s->slots);
    memset(s, 0, sizeof *s);
}

static size_t ids_probe(const util_ids *s, int64_t id)
{
    size_t mask = s->n_slots - 1, i = (size_t)util_mix64((uint64_t)id) & mask;
    while (s->slots[i] && s->ids[s->slots[i] - 1] != id) i = (i + 1) & mask;
    return i;
}

static int ids_rehash(util_ids *s, size_t n_slots)
{
    uint32_t *old = s->slots;
    s->slots = dt_calloc(n_slots, sizeof *s->slots);
    if (!s->slots) {
        s->slots = old;
        return DT_ENOMEM;
    }
    s->n_slots = n_slots;
    for (uint32_t k = 0; k < s->n; k++) s->slots[ids_probe(s, s->ids[k])] = k + 1;
    dt_free(old);
    return DT_OK;
}

uint32_t util_ids_find(const util_ids *s, int64_t id)
{
    if (!s->n_slots) return UINT32_MAX;
    uint32_t v = s->slots[ids_probe(s, id)];
    return v ? v - 1 : UINT32_MAX;
}

int util_ids_put(util_ids *s, int64_t id, uint32_t *index, int *is_new)
{
    if ((size_t)s->n * 2 + 2 > s->n_slots) DT_TRY(ids_rehash(s, s->n_slots ? s->n_slots * 2 : 16));
    size_t i = ids_probe(s, id);
    *is_new = s->slots[i] == 0;
    if (!*is_new) {
        *index = s->slots[i] - 1;
        return DT_OK;
    }
    if (s->n >= UINT32_MAX - 1) return DT_ENOMEM;
    DT_TRY(util_grow((void **)&s->ids, &s->cap, (size_t)s->n + 1, sizeof *s->ids));
    s->ids[s->n] = id;
    s->slots[i] = ++s->n;
    *index = s->n - 1;
    return DT_OK;
}

int util_ids_add(util_ids *s, int64_t id)
{
    uint32_t index;
    int is_new;
    return util_ids_put(s, id, &index, &is_new);
}
