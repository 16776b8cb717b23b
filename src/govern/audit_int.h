/*
 * audit_int.h — what audit.c (appending) and audit_check.c (verify,
 * proofs, witness, disclosures) share: how a leaf and a head are made.
 * Internal to src/govern.
 */
#ifndef DT_GOVERN_AUDIT_INT_H
#define DT_GOVERN_AUDIT_INT_H

#include "govern/govern.h"

enum { AU_WALK_STOP = -1000 }; /* a verdict is in: stop walking */

/* The hex SHA-256 of parts, each as a 4-byte big-endian length and its
 * bytes, so no two lists of parts hash alike. */
void au_digest(const void *const *parts, const size_t *lens, size_t n, char hex[65]);

/* The leaf hash of an entry as stored: e->n_subjects is the count its row
 * claims, the digest covers the first n_rows of e->subjects. DT_ENOMEM
 * when it cannot be built. */
int au_leaf(const st_audit_entry *e, size_t n_rows, mk_hash out);
/* 1 when sig is the key's signature of the head (size, time, root). */
int au_head_signed(const uint8_t pk[32], int64_t size, int64_t time, const uint8_t root[32],
                   const uint8_t sig[64]);
/* 1 when the sealed end's MAC is the key file's and its frontier is a
 * stream of its size (loaded into *out), else 0; or an error. */
int au_end_stream(st_store *st, const st_log_end *e, mk_stream *out, dt_error *err);
/* A key kept in the store's meta as hex, as len bytes. */
int au_read_key(st_store *st, const char *name, uint8_t *out, size_t len, dt_error *err);

/* What the log binds of the tables that decide access (audit_bind.c). */
typedef struct au_logged {
    char *subject;           /* a row subject as logged */
    size_t key;              /* the length of its key */
    int64_t seq;             /* the entry that logged it */
} au_logged;

typedef struct au_bindings {
    au_logged *rows;
    size_t n_rows, cap_rows;
    uint8_t *seen;           /* per row, after replay: a current row answered it */
    char **sources;          /* sources an allowed entry named ("source:NAME") */
    size_t n_sources, cap_sources;
    int64_t late_baseline;   /* seq of a baseline after rows were bound; 0: none */
} au_bindings;

/* Notes what an entry (checked, in seq order) binds. DT_ENOMEM. */
int au_bind_note(au_bindings *b, const st_audit_entry *e);
/* After a clean walk of n_entries: the tables against what the log bound.
 * A mismatch sets *v (ok 0, first_bad untouched, why naming the row). */
int au_bind_check(st_store *st, au_bindings *b, int64_t n_entries, gv_verdict *v,
                  dt_error *err);
void au_bind_fini(au_bindings *b);

#endif
