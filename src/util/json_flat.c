/*
 * json_flat.c — a reader for one shape of JSON only: an object whose
 * values are strings or null, as the store keeps a record's standardized
 * values. Written here, not taken from jansson, for speed: a resolve reads
 * a few such objects per candidate, and jansson's objects (a hash table,
 * a malloc per value, a free each) were a tenth of its instructions. Any
 * other JSON is refused, not read.
 *
 * Invariants:
 *   1. It accepts exactly the texts that are such an object (whitespace
 *      as JSON allows), and then reports each member in order, keys and
 *      values unescaped (\uXXXX, surrogate pairs as one code point, into
 *      UTF-8), a null as a NULL value; a repeated key is reported each
 *      time (for a caller that overwrites, the last wins, as in jansson).
 *   2. It refuses: any other value type, a bad escape or lone surrogate,
 *      \u0000 (jansson refuses it too), a raw control character in a
 *      string, anything after the object. UTF-8 is not checked: the text
 *      is what the library wrote.
 *   3. It reads no byte past the text's NUL and allocates only in the two
 *      scratch buffers.
 */
#include <string.h>

#include "util.h"

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (d == 16) return -1; /* a NUL ends the text here too */
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static void put_utf8(util_buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) u[0] = (char)cp, n = 1;
    else if (cp < 0x800) u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3f)),
        u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    else
        u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3f)),
        u[2] = (char)(0x80 | (cp >> 6 & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    util_buf_append(b, u, n);
}

/* \uXXXX at p (past the backslash and the u), a pair's second half too. */
static const char *unicode_escape(const char *p, util_buf *b)
{
    unsigned cp, lo;
    if (hex4(p, &cp) < 0 || cp == 0) return NULL;
    p += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff) return NULL; /* a second half alone */
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
            return NULL;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        p += 6;
    }
    put_utf8(b, cp);
    return p;
}

/* The string at p (its opening quote) into b; the byte after it, or NULL. */
static const char *read_string(const char *p, util_buf *b)
{
    util_buf_clear(b);
    p++;
    for (;;) {
        const char *run = p;
        while (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
        util_buf_append(b, run, (size_t)(p - run));
        if (*p == '"') break;
        if (*p != '\\') return NULL; /* a control character, or the text ended */
        p++;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = *p ? strchr(from, *p) : NULL;
        if (k) {
            util_buf_putc(b, to[k - from]);
            p++;
        } else if (*p == 'u') {
            if (!(p = unicode_escape(p + 1, b))) return NULL;
        } else {
            return NULL;
        }
    }
    util_buf_putc(b, '\0'); /* data is NUL-terminated even when empty */
    b->len--;
    return b->is_failed ? NULL : p + 1;
}

int util_json_flat_each(const char *text, util_buf *key, util_buf *value, util_flat_fn fn,
                        void *ctx)
{
    const char *p = skip_ws(text);
    if (*p++ != '{') return 1;
    p = skip_ws(p);
    if (*p == '}') return *skip_ws(p + 1) ? 1 : 0;
    for (;;) {
        if (*p != '"' || !(p = read_string(p, key))) return 1;
        p = skip_ws(p);
        if (*p++ != ':') return 1;
        p = skip_ws(p);
        if (*p == '"') {
            if (!(p = read_string(p, value))) return 1;
            int rc = fn(ctx, key->data, key->len, value->data, value->len);
            if (rc) return rc;
        } else if (!strncmp(p, "null", 4)) {
            p += 4;
            int rc = fn(ctx, key->data, key->len, NULL, 0);
            if (rc) return rc;
        } else {
            return 1;
        }
        p = skip_ws(p);
        if (*p == '}') return *skip_ws(p + 1) ? 1 : 0;
        if (*p++ != ',') return 1;
        p = skip_ws(p);
    }
}
