/*
 * escape.c — text that is safe to show on a terminal: control characters
 * written as \xHH. Values from data (record ids, names, file names) reach
 * error messages and the CLI's output; a raw ESC or CSI in them would let
 * a record rewrite the screen of whoever reads it.
 *
 * Invariants:
 *   1. The output holds no byte below 0x20, no DEL (0x7f) and no C1
 *      control (U+0080..U+009F, or a lone byte 0x80..0x9f): each is
 *      written as \xHH, byte by byte.
 *   2. Every other valid UTF-8 sequence is copied unchanged; a byte that
 *      starts no valid sequence is escaped, so no terminal reads it as C1.
 *   3. Escaping is idempotent: the output escapes to itself (a backslash
 *      is left as it is), so text escaped by the library may be escaped
 *      again by the CLI.
 *   4. A truncated result never ends inside an escape or a UTF-8 sequence.
 */
#include <string.h>

#include "util.h"

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms,
 * no surrogates), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!n) return 0;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c == 0xe0) lo = 0xa0;
    else if (c == 0xed) hi = 0x9f;
    else if (c == 0xf0) lo = 0x90;
    else if (c == 0xf4) hi = 0x8f;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return n;
}

size_t dt_escape_controls(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0, used = 0; /* the whole result's length; what out holds */
    while (*p) {
        char unit[16];
        size_t k = 0, len = *p < 0x80 ? 1 : utf8_len(p);
        int is_c1 = len == 2 && p[0] == 0xc2 && p[1] <= 0x9f;
        if (len == 0) len = 1; /* not UTF-8: escape the byte */
        if ((len == 1 && (*p < 0x20 || *p >= 0x7f)) || is_c1) {
            for (size_t i = 0; i < len; i++) {
                unit[k++] = '\\';
                unit[k++] = 'x';
                unit[k++] = hex[p[i] >> 4];
                unit[k++] = hex[p[i] & 15];
            }
        } else {
            memcpy(unit, p, len);
            k = len;
        }
        if (used == n && n + k < cap) {
            memcpy(out + used, unit, k);
            used += k;
        }
        n += k;
        p += len;
    }
    if (cap) out[used] = '\0';
    return n;
}
