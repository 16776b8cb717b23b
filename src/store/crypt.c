/*
 * crypt.c — the store's key file and everything keyed by it: record
 * contents sealed with XChaCha20-Poly1305 (libsodium's
 * crypto_aead_xchacha20poly1305_ietf), blocking-index slots hashed with
 * keyed SipHash (crypto_shorthash), and the subkeys govern asks for (the
 * audit log's Ed25519 seed, the view id key). A copy of the store file
 * without its key file reveals no record's contents, no blocking key
 * (an unkeyed hash of an SSN falls to trying all 10^9), and no secret.
 *
 * The key file holds one 32-byte master key as 64 hex digits (lines
 * starting '#' are comments). It lives outside the store, mode 0600; a key
 * file others may read is refused. Every key in use is derived from it
 * with crypto_kdf_derive_from_key, one id per use (store.h, st_subkey),
 * so no two uses share a key.
 *
 * Invariants:
 *   1. A sealed value is SEAL_FORMAT, a 24-byte nonce, the ciphertext and
 *      its 16-byte tag. Its associated data names what it is (a record's
 *      store id, version and column, or a caller's label), so a sealed
 *      value moved to another row, version or column fails to open.
 *   2. Nonces are a random 16-byte prefix drawn at open and a 64-bit
 *      counter: never repeated under one key (2^-64 across opens), and no
 *      system call per seal. As the prefix is fixed for an open store, the
 *      HChaCha20 step of XChaCha20 is done once there (key_sealing): a
 *      seal is then ChaCha20-Poly1305-IETF under that subkey with nonce
 *      0^4 || counter, which is XChaCha20-Poly1305 to the byte, and
 *      opens with crypto_aead_xchacha20poly1305_ietf_decrypt.
 *   3. meta 'key_check' holds a subkey of its own, so a wrong key file is
 *      named at open, before any record fails to open.
 */
#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store/sqlite_int.h"

enum { SEAL_FORMAT = 1, NONCE_BYTES = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES };
enum { SEAL_OVERHEAD = 1 + NONCE_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES };
_Static_assert(crypto_kdf_KEYBYTES == ST_KEY_BYTES, "a master key is a kdf key");

static const char KDF_CONTEXT[crypto_kdf_CONTEXTBYTES + 1] = "dovetail";

int st_subkey(const st_store *s, enum st_subkey which, uint8_t *out, size_t len)
{
    return crypto_kdf_derive_from_key(out, len, (uint64_t)which, KDF_CONTEXT, s->master) == 0
               ? DT_OK : DT_EINTERNAL;
}

/* ---- the key file ---------------------------------------------------- */

static int key_create(const char *key_path, dt_error *err)
{
    uint8_t key[ST_KEY_BYTES];
    char text[200];
    crypto_kdf_keygen(key);
    int n = snprintf(text, sizeof text, "# dovetail store key: keep it 0600, apart from the "
                     "store, and backed up (without it the store cannot be read)\n");
    sodium_bin2hex(text + n, sizeof text - (size_t)n, key, sizeof key);
    strcat(text, "\n");
    int rc = util_write_file(key_path, text, strlen(text), 1, err);
    sodium_memzero(key, sizeof key);
    sodium_memzero(text, sizeof text);
    return rc;
}

/* The master key from the file's first line that is not a comment. */
static int key_parse(const char *key_path, char *text, uint8_t key[ST_KEY_BYTES], dt_error *err)
{
    char *line = text;
    while (*line == '#') {
        char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : line + strlen(line);
    }
    size_t got = 0;
    const char *end = NULL;
    int bad = sodium_hex2bin(key, ST_KEY_BYTES, line, strlen(line), NULL, &got, &end) != 0 ||
              got != ST_KEY_BYTES || (*end && *end != '\n');
    return bad ? dt_err_at(err, DT_EINVAL, key_path, 0, 0, "not a dovetail key file (it should "
                           "hold 64 hex digits, as 'dovetail init --key' writes)")
               : DT_OK;
}

/* The keys in use, from s->master, and a fresh nonce prefix (invariant 2). */
static int key_derive(st_store *s)
{
    DT_TRY(st_subkey(s, ST_SUBKEY_RECORD, s->key_record, sizeof s->key_record));
    DT_TRY(st_subkey(s, ST_SUBKEY_SLOT, s->key_slot, sizeof s->key_slot));
    randombytes_buf(s->nonce_prefix, sizeof s->nonce_prefix);
    crypto_core_hchacha20(s->key_sealing, s->nonce_prefix, s->key_record, NULL);
    s->has_key = 1;
    return DT_OK;
}

int sq_key_load(st_store *s, const char *key_path, int may_create, dt_error *err)
{
    if (sodium_init() < 0) return dt_err_set(err, DT_EINTERNAL, "libsodium failed to start");
    if (!key_path || !*key_path)
        return dt_err_at(err, DT_EINVAL, s->path, 0, 0, "no key file given: the store's "
                         "records are encrypted under the key file 'dovetail init --key' made "
                         "(give it with --key FILE or DOVETAIL_KEY_FILE)");
    struct stat sb;
    if (may_create && lstat(key_path, &sb) != 0 && errno == ENOENT)
        DT_TRY(key_create(key_path, err));
    if (stat(key_path, &sb) != 0)
        return dt_err_at(err, DT_EIO, key_path, 0, 0, "cannot read the key file: %s",
                         strerror(errno));
    if (sb.st_mode & 077)
        return dt_err_at(err, DT_EINVAL, key_path, 0, 0, "the key file may be read by other "
                         "users (mode %o): make it 0600 (chmod 600)", (unsigned)(sb.st_mode & 0777));
    char *text = NULL;
    size_t n = 0;
    DT_TRY(util_read_file(key_path, &text, &n, err));
    int rc = key_parse(key_path, text, s->master, err);
    sodium_memzero(text, n);
    dt_free(text);
    if (rc == DT_OK) rc = key_derive(s);
    return rc < 0 ? dt_err_at(err, rc, key_path, 0, 0, "cannot use the key file") : DT_OK;
}

void sq_key_like(st_store *s, const st_store *like)
{
    assert(like->has_key);
    memcpy(s->master, like->master, sizeof s->master);
    int rc = key_derive(s);
    assert(rc == DT_OK); /* like derived the same keys from the same master */
    (void)rc;
}

void sq_key_forget(st_store *s)
{
    sodium_memzero(s->master, sizeof s->master);
    sodium_memzero(s->key_record, sizeof s->key_record);
    sodium_memzero(s->key_slot, sizeof s->key_slot);
    sodium_memzero(s->key_sealing, sizeof s->key_sealing);
    util_buf_fini(&s->scratch[0]);
    util_buf_fini(&s->scratch[1]);
}

int sq_key_check(st_store *s, const char *key_path, dt_error *err)
{
    uint8_t check[16];
    char hex[2 * sizeof check + 1];
    DT_TRY(st_subkey(s, ST_SUBKEY_CHECK, check, sizeof check));
    sodium_bin2hex(hex, sizeof hex, check, sizeof check);
    if (s->is_created) return st_meta_set(s, "key_check", hex, err);
    char *have = NULL;
    DT_TRY(st_meta_get(s, "key_check", &have, err));
    int same = have && strcmp(have, hex) == 0;
    dt_free(have);
    return same ? DT_OK
                : dt_err_at(err, DT_EAUTH, s->path, 0, 0, "the key file %s does not open this "
                            "store (it was made with another key): give the key file 'dovetail "
                            "init' made for it (--key FILE or DOVETAIL_KEY_FILE)", key_path);
}

/* ---- sealing --------------------------------------------------------- */

_Static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12, "an IETF nonce is 96 bits");
_Static_assert(crypto_core_hchacha20_INPUTBYTES == 16, "the prefix is HChaCha20's input");

/* The next nonce, as stored (prefix || counter), and the IETF nonce
 * (0^4 || counter) it means under key_sealing (invariant 2). */
static void next_nonce(st_store *s, uint8_t nonce[NONCE_BYTES], uint8_t ietf[12])
{
    memcpy(nonce, s->nonce_prefix, sizeof s->nonce_prefix);
    memset(ietf, 0, 4);
    uint64_t c = ++s->nonce_count;
    for (int i = 0; i < 8; i++)
        nonce[sizeof s->nonce_prefix + (size_t)i] = ietf[4 + i] = (uint8_t)(c >> 8 * i);
}

/* Seals n bytes of plain, bound to ad, into out (replacing what it held). */
static int seal(st_store *s, const uint8_t *ad, size_t n_ad, const void *plain, size_t n,
                util_buf *out)
{
    util_buf_clear(out);
    if (util_buf_reserve(out, n + SEAL_OVERHEAD) < 0) return DT_ENOMEM;
    uint8_t *p = (uint8_t *)out->data;
    p[0] = SEAL_FORMAT;
    uint8_t ietf[12];
    next_nonce(s, p + 1, ietf);
    unsigned long long n_ct = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(p + 1 + NONCE_BYTES, &n_ct, plain, n, ad, n_ad, NULL,
                                              ietf, s->key_sealing);
    out->len = 1 + NONCE_BYTES + (size_t)n_ct;
    return DT_OK;
}

/* Opens a sealed value bound to ad into out as NUL-terminated text. */
static int unseal(const st_store *s, const uint8_t *ad, size_t n_ad, const void *sealed,
                  size_t n, util_buf *out)
{
    const uint8_t *p = sealed;
    util_buf_clear(out);
    if (n < SEAL_OVERHEAD || p[0] != SEAL_FORMAT) return DT_EIO;
    if (util_buf_reserve(out, n - SEAL_OVERHEAD + 1) < 0) return DT_ENOMEM;
    unsigned long long n_plain = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)out->data, &n_plain, NULL,
                                                   p + 1 + NONCE_BYTES, n - 1 - NONCE_BYTES, ad,
                                                   n_ad, p + 1, s->key_record) != 0)
        return DT_EIO;
    out->len = (size_t)n_plain;
    out->data[out->len] = '\0';
    return DT_OK;
}

enum { RECORD_AD = 25 };

/* "record" associated data: store id, version (little-endian) and column. */
static void record_ad(int64_t id, int64_t version, char column, uint8_t ad[RECORD_AD])
{
    memcpy(ad, "dtrecord", 8);
    for (int i = 0; i < 8; i++) {
        ad[8 + i] = (uint8_t)((uint64_t)id >> 8 * i);
        ad[16 + i] = (uint8_t)((uint64_t)version >> 8 * i);
    }
    ad[24] = (uint8_t)column;
}

int sq_seal_column(st_store *s, int64_t id, int64_t version, char column, const char *text,
                   util_buf *out, dt_error *err)
{
    uint8_t ad[RECORD_AD];
    record_ad(id, version, column, ad);
    return seal(s, ad, sizeof ad, text, strlen(text), out) == DT_OK
               ? DT_OK : dt_err_set(err, DT_ENOMEM, "out of memory");
}

int sq_open_column(st_store *s, int64_t id, int64_t version, char column,
                   sqlite3_stmt *st, int i_col, util_buf *out, dt_error *err)
{
    return sq_open_blob(s, id, version, column, sqlite3_column_blob(st, i_col),
                        (size_t)sqlite3_column_bytes(st, i_col), out, err);
}

int sq_open_blob(st_store *s, int64_t id, int64_t version, char column, const void *blob,
                 size_t n, util_buf *out, dt_error *err)
{
    uint8_t ad[RECORD_AD];
    record_ad(id, version, column, ad);
    int rc = unseal(s, ad, sizeof ad, blob, n, out);
    if (rc == DT_ENOMEM) return dt_err_set(err, rc, "out of memory");
    if (rc < 0)
        return dt_err_at(err, DT_EIO, s->path, 0, 0, "record %lld (version %lld) does not open "
                         "with the store's key: the store was altered or damaged",
                         (long long)id, (long long)version);
    return DT_OK;
}

int st_seal_text(st_store *s, const char *label, const char *plain, char **out, dt_error *err)
{
    *out = NULL;
    util_buf b = {0};
    size_t n_b64 = 0;
    int rc = seal(s, (const uint8_t *)label, strlen(label), plain, strlen(plain), &b);
    if (rc == DT_OK) {
        n_b64 = sodium_base64_ENCODED_LEN(b.len, sodium_base64_VARIANT_ORIGINAL);
        *out = dt_malloc(n_b64);
    }
    if (*out) sodium_bin2base64(*out, n_b64, (const uint8_t *)b.data, b.len,
                                sodium_base64_VARIANT_ORIGINAL);
    util_buf_fini(&b);
    return *out ? DT_OK : dt_err_set(err, DT_ENOMEM, "out of memory");
}

int st_open_text(st_store *s, const char *label, const char *sealed, char **out, dt_error *err)
{
    *out = NULL;
    size_t n = strlen(sealed), n_bin = 0;
    uint8_t *bin = dt_malloc(n + 1);
    util_buf b = {0};
    if (!bin) return dt_err_set(err, DT_ENOMEM, "out of memory");
    int rc = sodium_base642bin(bin, n + 1, sealed, n, NULL, &n_bin, NULL,
                               sodium_base64_VARIANT_ORIGINAL) == 0
                 ? unseal(s, (const uint8_t *)label, strlen(label), bin, n_bin, &b)
                 : DT_EIO;
    dt_free(bin);
    if (rc == DT_OK) *out = b.data; /* ownership passes on */
    else util_buf_fini(&b);
    if (rc == DT_ENOMEM) return dt_err_set(err, rc, "out of memory");
    return rc < 0 ? dt_err_at(err, DT_EIO, s->path, 0, 0, "the store's %s does not open with "
                              "its key: the store was altered or damaged", label)
                  : DT_OK;
}

/* ---- blocking-index slots --------------------------------------------- */

uint64_t sq_slot_hash(const st_store *s, size_t rule, uint64_t key)
{
    uint8_t in[16], out[crypto_shorthash_BYTES];
    for (int i = 0; i < 8; i++) {
        in[i] = (uint8_t)((uint64_t)rule >> 8 * i);
        in[8 + i] = (uint8_t)(key >> 8 * i);
    }
    crypto_shorthash(out, in, sizeof in, s->key_slot);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++) h |= (uint64_t)out[i] << 8 * i;
    return h;
}
