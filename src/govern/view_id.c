/*
 * view_id.c — entity ids under a restricted view. Such an entity is named
 * by its smallest store record id, enciphered with a subkey of the store's
 * key file (never kept in the store), so the id can be turned back into its record (to list the
 * entity) but says nothing of how many records the store holds: store
 * ids are assigned across every source, hidden ones included, so a plain
 * id would let gaps count hidden records.
 *
 * The cipher is a 4-round Feistel network over 64 bits with keyed
 * BLAKE2b (libsodium's crypto_generichash) as its round function, a
 * pseudorandom permutation by Luby–Rackoff. Written here because
 * libsodium has no 64-bit block cipher, and ids must stay 16 hex digits
 * like every other entity id.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "govern/govern.h"

enum { ROUNDS = 4 };

static uint32_t round_fn(const uint8_t key[GV_VIEW_KEY], int round, uint32_t half)
{
    uint8_t in[5] = {(uint8_t)round, (uint8_t)(half >> 24), (uint8_t)(half >> 16),
                     (uint8_t)(half >> 8), (uint8_t)half};
    uint8_t out[4];
    crypto_generichash(out, sizeof out, in, sizeof in, key, GV_VIEW_KEY);
    return (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
}

void gv_view_id(const uint8_t key[GV_VIEW_KEY], int64_t sid, char out[18])
{
    uint32_t l = (uint32_t)((uint64_t)sid >> 32), r = (uint32_t)sid;
    for (int i = 0; i < ROUNDS; i++) {
        uint32_t next = l ^ round_fn(key, i, r);
        l = r;
        r = next;
    }
    snprintf(out, 18, "E%08x%08x", l, r);
}

int gv_view_id_parse(const uint8_t key[GV_VIEW_KEY], const char *id, int64_t *sid)
{
    unsigned long long v;
    int used = 0;
    if (!id || strlen(id) != 17 || id[0] != 'E' || sscanf(id + 1, "%16llx%n", &v, &used) != 1 ||
        used != 16)
        return -1;
    uint32_t l = (uint32_t)(v >> 32), r = (uint32_t)v;
    for (int i = ROUNDS - 1; i >= 0; i--) {
        uint32_t prev = r ^ round_fn(key, i, l);
        r = l;
        l = prev;
    }
    int64_t s = (int64_t)((uint64_t)l << 32 | r);
    if (s <= 0) return -1;
    *sid = s;
    return 0;
}

int gv_view_key_read(st_store *st, uint8_t key[GV_VIEW_KEY], dt_error *err)
{
    return st_subkey(st, ST_SUBKEY_VIEW_ID, key, GV_VIEW_KEY) == DT_OK
               ? DT_OK : dt_err_set(err, DT_EINTERNAL, "cannot derive the view id key");
}
