/*
 * arena.c — bump allocation in chained blocks, freed in one go. Used for
 * per-stage memory (interned strings, normalized values) so hot loops make
 * no malloc per record. Blocks never move: pointers stay valid until fini.
 * Blocks start small and double up to block_bytes, so the many short-lived
 * tables of a read (a few records each) do not each take and give back
 * megabytes, which made every call grow and trim the heap.
 */
#include <string.h>

#include "util.h"

struct util_arena_block {
    util_arena_block *next; /* older block */
    size_t used, size;      /* bytes used / usable in data */
    _Alignas(16) unsigned char data[];
};

void util_arena_init(util_arena *a, size_t block_bytes)
{
    a->head = NULL;
    a->block_bytes = block_bytes ? block_bytes : 64 * 1024;
    a->next_bytes = a->block_bytes < 4096 ? a->block_bytes : 4096;
}

void util_arena_fini(util_arena *a)
{
    util_arena_block *b = a->head;
    while (b) {
        util_arena_block *next = b->next;
        dt_free(b);
        b = next;
    }
    a->head = NULL;
    a->next_bytes = a->block_bytes < 4096 ? a->block_bytes : 4096;
}

void *util_arena_alloc(util_arena *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    util_arena_block *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t size = need > a->next_bytes ? need : a->next_bytes;
        b = dt_malloc(sizeof *b + size);
        if (!b) return NULL;
        if (a->next_bytes < a->block_bytes)
            a->next_bytes = a->next_bytes * 2 < a->block_bytes ? a->next_bytes * 2 : a->block_bytes;
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

char *util_arena_strndup(util_arena *a, const char *s, size_t n)
{
    char *d = util_arena_alloc(a, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
