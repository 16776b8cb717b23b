/*
 * principal.c — roles, names and tokens. A token is 256 random bits from
 * libsodium, shown once as "dt_" and 64 hex digits; the store keeps only
 * its SHA-256. A fast hash is right here: a token has full entropy, so
 * there is nothing for a slow hash to protect against guessing.
 */
#include <sodium.h>
#include <string.h>

#include "govern/govern.h"

static const char *const ROLE_NAMES[GV_N_ROLES] = {
    [GV_ADMIN] = "admin", [GV_STEWARD] = "steward", [GV_ANALYST] = "analyst",
    [GV_REVIEWER] = "reviewer", [GV_AUDITOR] = "auditor",
};

const char *gv_role_name(gv_role r)
{
    return r >= 0 && r < GV_N_ROLES ? ROLE_NAMES[r] : "?";
}

int gv_role_parse(const char *name, gv_role *out)
{
    for (int r = 0; r < GV_N_ROLES; r++)
        if (name && strcmp(name, ROLE_NAMES[r]) == 0) {
            *out = (gv_role)r;
            return 0;
        }
    return -1;
}

int gv_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return 0;
    }
    return 1;
}

void gv_principal_fini(gv_principal *p)
{
    dt_free(p->name);
    dt_free(p->sources);
    memset(p, 0, sizeof *p);
}

int gv_stewards(const gv_principal *p, const char *source)
{
    if (p->role != GV_STEWARD || !p->sources) return 0;
    size_t n = strlen(source);
    for (const char *s = p->sources; *s;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == n && memcmp(s, source, n) == 0) return 1;
        if (!comma) break;
        s = comma + 1;
    }
    return 0;
}

static void token_hash(const char *token, uint8_t out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)token, strlen(token));
}

/* A new token into token, its hash into hash. */
static void token_new(char token[GV_TOKEN_LEN + 1], uint8_t hash[32])
{
    uint8_t secret[32];
    randombytes_buf(secret, sizeof secret);
    memcpy(token, "dt_", 3);
    sodium_bin2hex(token + 3, 65, secret, sizeof secret);
    sodium_memzero(secret, sizeof secret);
    token_hash(token, hash);
}

/* Adds the row with a new token; *bind is its subject for the log. */
static int add_row(st_store *st, const char *name, const char *role, const char *sources,
                   char token[GV_TOKEN_LEN + 1], char **bind, dt_error *err)
{
    if (sodium_init() < 0) return dt_err_set(err, DT_EINTERNAL, "libsodium failed to start");
    st_principal p = {.name = (char *)name, .role = (char *)role,
                      .sources = (char *)(sources ? sources : ""), .created = gv_now()};
    token_new(token, p.token_hash);
    int rc = st_principal_add(st, &p, err);
    if (rc == DT_OK && gv_bind_principal(&p, bind) < 0)
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    if (rc < 0) sodium_memzero(token, GV_TOKEN_LEN + 1);
    return rc;
}

int gv_principal_add(st_store *st, const char *name, gv_role role, const char *sources,
                     char token[GV_TOKEN_LEN + 1], char **bind, dt_error *err)
{
    *bind = NULL;
    if (!gv_name_ok(name))
        return dt_err_set(err, DT_EINVAL, "principal name '%s': use 1 to 64 of a-z, 0-9, '.', "
                          "'_' and '-', starting with a letter or digit", name ? name : "");
    if ((role == GV_STEWARD) != (sources && *sources))
        return dt_err_set(err, DT_EINVAL, role == GV_STEWARD
                              ? "a steward needs the sources it stewards (--source)"
                              : "only a steward has sources");
    return add_row(st, name, gv_role_name(role), sources, token, bind, err);
}

/* Revokes the active principal `name`; *row is the row as revoked. */
static int revoke_row(st_store *st, const char *name, st_principal *row, dt_error *err)
{
    int rc = st_principal_revoke(st, name, gv_now(), row, err);
    if (rc == DT_ENOTFOUND) return dt_err_set(err, DT_ENOTFOUND, "no active principal '%s'", name);
    return rc;
}

int gv_principal_revoke(st_store *st, const char *name, char **bind, dt_error *err)
{
    *bind = NULL;
    st_principal row;
    DT_TRY(revoke_row(st, name, &row, err));
    int64_t n_admins = 1;
    int rc = strcmp(row.role, gv_role_name(GV_ADMIN)) == 0
                 ? st_principal_count_active(st, row.role, &n_admins, err)
                 : DT_OK;
    if (rc == DT_OK && n_admins == 0)
        rc = dt_err_set(err, DT_EDENIED, "'%s' is the last active admin: revoking it would leave "
                        "no one to administer the store (add another admin first, or rotate "
                        "its token with 'dovetail principal rotate')", name);
    if (rc == DT_OK && gv_bind_principal(&row, bind) < 0)
        rc = dt_err_set(err, DT_ENOMEM, "out of memory");
    st_principal_fini(&row);
    return rc; /* on failure the caller rolls the revocation back */
}

int gv_principal_rotate(st_store *st, const char *name, char token[GV_TOKEN_LEN + 1],
                        char **bind_old, char **bind_new, dt_error *err)
{
    *bind_old = *bind_new = NULL;
    st_principal row;
    DT_TRY(revoke_row(st, name, &row, err));
    int rc = gv_bind_principal(&row, bind_old) < 0 ? dt_err_set(err, DT_ENOMEM, "out of memory")
                                                  : DT_OK;
    if (rc == DT_OK) rc = add_row(st, row.name, row.role, row.sources, token, bind_new, err);
    st_principal_fini(&row);
    return rc;
}

int gv_authenticate(st_store *st, const char *token, gv_principal *out, dt_error *err)
{
    memset(out, 0, sizeof *out);
    static const char why[] = "the token is not valid (unknown, malformed or revoked): set "
                              "DOVETAIL_TOKEN to a token 'dovetail principal add' printed";
    if (!token || !*token)
        return dt_err_set(err, DT_EAUTH, "no token: set DOVETAIL_TOKEN to the token 'dovetail "
                          "init' or 'dovetail principal add' printed");
    if (sodium_init() < 0) return dt_err_set(err, DT_EINTERNAL, "libsodium failed to start");
    uint8_t hash[32];
    token_hash(token, hash);
    st_principal p;
    int rc = st_principal_by_token(st, hash, &p, err);
    if (rc == DT_ENOTFOUND) return dt_err_set(err, DT_EAUTH, "%s", why);
    if (rc < 0) return rc;
    gv_role role = GV_ANALYST;
    int bad = p.revoked || gv_role_parse(p.role, &role) < 0;
    if (!bad) {
        out->name = p.name;
        out->sources = p.sources;
        out->role = role;
        p.name = p.sources = NULL;
    }
    st_principal_fini(&p);
    return bad ? dt_err_set(err, DT_EAUTH, "%s", why) : DT_OK;
}
