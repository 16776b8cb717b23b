/*
 * fold.c — UTF-8 decoding and Unicode folding (norm.h invariants 2 and 3).
 * Every text field passes through norm_fold once per distinct value before
 * it is compared, blocked or phonetically coded, so this file decides what
 * "the same spelling" means for the whole library.
 *
 * How a value is folded, in three passes over a code-point buffer:
 *   1. Decode. Each byte that does not start a valid UTF-8 sequence is read
 *      as the Latin-1 character of that value (invariant 3).
 *   2. Map each code point: apostrophes (NAME) vanish; utf8proc applies
 *      compatibility decomposition and case folding (NFKD + casefold);
 *      diacritic marks are dropped; letters utf8proc cannot reduce (đ ł ø æ
 *      œ ß ı þ ð ħ ŧ) go through our own table.
 *   3. Recompose what is left (kana voicing marks, Hangul jamo, Indic
 *      nukta) and write UTF-8: letters, digits and kept marks are copied,
 *      every run of anything else becomes one space, none at the ends.
 *
 * Invariants:
 *   1. Output is deterministic, lowercase for cased scripts, and has no
 *      leading, trailing or double spaces.
 *   2. Only diacritics are dropped (the combining-mark blocks listed in
 *      is_diacritic): vowel signs of Indic scripts are spelling, not
 *      accents, and are kept, which utf8proc's STRIPMARK would not do.
 *   3. ASCII never reaches utf8proc, so the common case costs one table
 *      look-up per byte.
 */
#include <string.h>

#include <utf8proc.h>

#include "norm.h"

/* ---- UTF-8 -------------------------------------------------------- */

/* Reads one code point at s (n > 0 bytes left). OUT: *cp. Returns the bytes
 * consumed, at least 1; an invalid sequence yields its first byte as
 * Latin-1. */
static size_t next_cp(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    utf8proc_int32_t c;
    utf8proc_ssize_t got = utf8proc_iterate(s, (utf8proc_ssize_t)n, &c);
    if (got <= 0) {
        *cp = s[0];
        return 1;
    }
    *cp = (uint32_t)c;
    return (size_t)got;
}

long norm_utf8_invalid_at(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        utf8proc_int32_t c;
        utf8proc_ssize_t got = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &c);
        if (got <= 0) return (long)i;
        i += (size_t)got;
    }
    return -1;
}

size_t norm_utf8_decode(const char *s, size_t n, uint32_t *cps, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n_cps = 0;
    while (i < n && n_cps < cap) i += next_cp(p + i, n - i, &cps[n_cps++]);
    return n_cps;
}

/* ---- code-point buffer -------------------------------------------- */

/* Starts on the stack; moves to the heap only for long values, so folding a
 * typical name allocates nothing besides growing `out`. */
enum { CPS_STACK = 256 };
typedef struct cpvec {
    utf8proc_int32_t *a;
    size_t n, cap;
    utf8proc_int32_t stack[CPS_STACK];
} cpvec;

static void cpvec_init(cpvec *v)
{
    v->a = v->stack;
    v->n = 0;
    v->cap = CPS_STACK;
}

static void cpvec_fini(cpvec *v)
{
    if (v->a != v->stack) dt_free(v->a);
}

static int cpvec_reserve(cpvec *v, size_t extra)
{
    if (v->n + extra <= v->cap) return DT_OK;
    size_t cap = v->cap;
    while (cap < v->n + extra) cap *= 2;
    utf8proc_int32_t *a = dt_malloc(cap * sizeof *a);
    if (!a) return DT_ENOMEM;
    memcpy(a, v->a, v->n * sizeof *a);
    cpvec_fini(v);
    v->a = a;
    v->cap = cap;
    return DT_OK;
}

static int cpvec_push(cpvec *v, utf8proc_int32_t c)
{
    DT_TRY(cpvec_reserve(v, 1));
    v->a[v->n++] = c;
    return DT_OK;
}

/* ---- character classes -------------------------------------------- */

/* Marks that are accents on a base letter rather than part of its
 * spelling: the general combining blocks, Cyrillic titlo, Hebrew points
 * and Arabic harakat. Dropping them is what makes "José" equal "Jose". */
static int is_diacritic(uint32_t c)
{
    return (c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) ||
           (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x20D0 && c <= 0x20FF) ||
           (c >= 0xFE20 && c <= 0xFE2F) || (c >= 0x0483 && c <= 0x0489) ||
           (c >= 0x0591 && c <= 0x05C7) || (c >= 0x0610 && c <= 0x061A) ||
           (c >= 0x064B && c <= 0x065F) || c == 0x0670 || (c >= 0x06D6 && c <= 0x06ED);
}

/* Characters written inside a name where an apostrophe belongs (O'Brien,
 * D’Angelo, Hawaiʻi): ' ‘ ’ ʼ ʻ ` ´ ′, and the Catalan middle dot (l·l),
 * and the Arabic tatweel, which only stretches a word. NAME folding drops
 * them so the parts join; TEXT folding treats them as punctuation. */
static int is_apostrophe(uint32_t c)
{
    switch (c) {
    case 0x0027: case 0x0060: case 0x00B4: case 0x2018: case 0x2019:
    case 0x02BC: case 0x02BB: case 0x2032: case 0x00B7: case 0x0640:
        return 1;
    default:
        return 0;
    }
}

/* Letters with no Unicode decomposition to a Latin base, spelled the way
 * registries transliterate them. Lowercase only: case folding runs first.
 * Returns the ASCII replacement or NULL. */
static const char *latin_extra(uint32_t c)
{
    switch (c) {
    case 0x0111: return "d";  /* đ Croatian, Vietnamese */
    case 0x00F0: return "d";  /* ð Icelandic eth */
    case 0x0142: return "l";  /* ł Polish */
    case 0x00F8: return "o";  /* ø Danish, Norwegian */
    case 0x00E6: return "ae"; /* æ */
    case 0x0153: return "oe"; /* œ */
    case 0x00DF: return "ss"; /* ß (case folding already gives ss) */
    case 0x0131: return "i";  /* ı Turkish dotless i */
    case 0x00FE: return "th"; /* þ Icelandic thorn */
    case 0x0127: return "h";  /* ħ Maltese */
    case 0x0167: return "t";  /* ŧ Sami */
    default: return NULL;
    }
}

/* ASCII folding: lowercase letters and digits are kept, any other byte
 * separates tokens (a space stands for "separator" in the buffer). */
static utf8proc_int32_t fold_ascii(uint32_t c)
{
    if (c >= 'A' && c <= 'Z') return (utf8proc_int32_t)(c + ('a' - 'A'));
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return (utf8proc_int32_t)c;
    return ' ';
}

/* ---- pass 2: map one code point ----------------------------------- */

/* Upper bound on one character's NFKD + casefold expansion (U+FDFA gives
 * 18 code points). */
enum { DECOMP_MAX = 32 };

/* Pushes the folded form of c. Hangul syllables pass through whole (they
 * have no case or accents). IN/OUT: *has_marks is set when something that
 * composes is pushed (a kept combining mark, a Hangul jamo), so the
 * recomposition pass can be skipped for the usual Latin text. */
static int map_cp(cpvec *v, uint32_t c, unsigned flags, int *has_marks)
{
    if (c < 0x80 && c != '\'' && c != '`') return cpvec_push(v, fold_ascii(c));
    if (is_apostrophe(c)) return (flags & NORM_FOLD_NAME) ? DT_OK : cpvec_push(v, ' ');
    if (c > 0x10FFFF) return cpvec_push(v, ' ');
    if (c >= 0xAC00 && c <= 0xD7A3) return cpvec_push(v, (utf8proc_int32_t)c); /* Hangul */

    utf8proc_int32_t d[DECOMP_MAX];
    int boundclass = 0;
    utf8proc_ssize_t n_d = utf8proc_decompose_char(
        (utf8proc_int32_t)c, d, DECOMP_MAX,
        UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE, &boundclass);
    if (n_d < 0 || n_d > DECOMP_MAX) return cpvec_push(v, ' ');
    for (utf8proc_ssize_t i = 0; i < n_d; i++) {
        uint32_t e = (uint32_t)d[i];
        const char *extra = latin_extra(e);
        if (extra) {
            for (; *extra; extra++) DT_TRY(cpvec_push(v, *extra));
        } else if (e < 0x80) {
            DT_TRY(cpvec_push(v, fold_ascii(e)));
        } else if (!is_diacritic(e)) {
            if (utf8proc_get_property(d[i])->combining_class || (e >= 0x1100 && e <= 0x11FF))
                *has_marks = 1; /* a kept mark, or Hangul jamo: recompose */
            DT_TRY(cpvec_push(v, d[i]));
        }
    }
    return DT_OK;
}

/* ---- pass 3: recompose and write ---------------------------------- */

/* Canonical ordering (Unicode §3.11) of the kept marks, which composition
 * requires; a stable insertion sort, as runs of marks are short. */
static void canonical_order(utf8proc_int32_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        int ccc = utf8proc_get_property(a[i])->combining_class;
        if (ccc == 0) continue;
        for (size_t j = i; j > 0; j--) {
            int prev = utf8proc_get_property(a[j - 1])->combining_class;
            if (prev <= ccc) break;
            utf8proc_int32_t t = a[j - 1];
            a[j - 1] = a[j];
            a[j] = t;
        }
    }
}

/* Letters, digits and kept marks are token characters; everything else
 * (punctuation, symbols, spaces, controls, unassigned) separates tokens. */
static int is_token_cp(utf8proc_int32_t c)
{
    if (c < 0x80) return c != ' ';
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

static int emit(util_buf *out, const utf8proc_int32_t *a, size_t n)
{
    int has_token = 0, pending_space = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_token_cp(a[i])) {
            pending_space = has_token;
            continue;
        }
        if (pending_space) DT_TRY(util_buf_putc(out, ' '));
        pending_space = 0;
        has_token = 1;
        if (a[i] < 0x80) {
            DT_TRY(util_buf_putc(out, (char)a[i]));
        } else {
            utf8proc_uint8_t enc[4];
            utf8proc_ssize_t len = utf8proc_encode_char(a[i], enc);
            DT_TRY(util_buf_append(out, enc, (size_t)len));
        }
    }
    return DT_OK;
}

static int fold_into(cpvec *v, util_buf *out, const char *s, size_t n, unsigned flags)
{
    const unsigned char *p = (const unsigned char *)s;
    int has_marks = 0;
    DT_TRY(cpvec_reserve(v, n)); /* most characters map to one code point */
    for (size_t i = 0; i < n;) {
        uint32_t c;
        i += next_cp(p + i, n - i, &c);
        DT_TRY(map_cp(v, c, flags, &has_marks));
    }
    if (has_marks) {
        canonical_order(v->a, v->n);
        utf8proc_ssize_t len =
            utf8proc_normalize_utf32(v->a, (utf8proc_ssize_t)v->n, UTF8PROC_COMPOSE);
        if (len >= 0) v->n = (size_t)len;
    }
    DT_TRY(util_buf_reserve(out, v->n));
    return emit(out, v->a, v->n);
}

int norm_fold(util_buf *out, const char *s, size_t n, unsigned flags)
{
    size_t len0 = out->len;
    cpvec v;
    cpvec_init(&v);
    int rc = fold_into(&v, out, s, n, flags);
    cpvec_fini(&v);
    if (rc < 0 && out->cap) { /* leave out as it was */
        out->len = len0;
        out->data[len0] = '\0';
    }
    return rc;
}
