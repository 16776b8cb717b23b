/*
 * audit_int.h — what audit.c (appending) and audit_check.c (verify,
 * proofs, witness, disclosures) share: how a leaf and a head are made.
 * Internal to src/govern.
 */
#ifndef DT_GOVERN_AUDIT_INT_H
#define DT_GOVERN_AUDIT_INT_H

#include "govern/govern.h"

/* The leaf hash of an entry as stored: e->n_subjects is the count its row
 * claims, the digest covers the first n_rows of e->subjects. DT_ENOMEM
 * when it cannot be built. */
int au_leaf(const st_audit_entry *e, size_t n_rows, mk_hash out);
/* 1 when sig is the key's signature of the head (size, time, root). */
int au_head_signed(const uint8_t pk[32], int64_t size, int64_t time, const uint8_t root[32],
                   const uint8_t sig[64]);
/* A key kept in the store's meta as hex, as len bytes. */
int au_read_key(st_store *st, const char *name, uint8_t *out, size_t len, dt_error *err);

#endif
