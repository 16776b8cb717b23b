/*
 * name.c — splitting a one-column person name into given, middle and
 * surname parts, each folded (fold.c). Used when a source has a single
 * "name" field and the model compares the parts separately.
 *
 * A name is first cut into words at whitespace only, so a hyphenated or
 * apostrophised word ("García-López", "O'Brien") stays one word even though
 * folding turns its hyphen into a space. Then:
 *
 *   "Last, First Middle…"  (a comma, in either order): everything before
 *       the comma is the surname; after it, the first word is the given
 *       name and the rest the middle names. A comma followed only by a
 *       suffix ("John Smith, Jr.") is not read this way.
 *   "First Middle… Last"   (no comma): the first word is the given name,
 *       the last word is the surname together with the particles right
 *       before it ("Juan de la Cruz" -> "de la cruz"), and the words
 *       between are middle names.
 *
 * Decisions, with why:
 *   1. A lone word is a surname: registries rarely omit the surname, and a
 *      mononym compares best against surnames.
 *   2. Double surnames without a hyphen are ambiguous: "María García López"
 *      gives middle "garcia", surname "lopez", exactly as "Mary Ann Smith"
 *      gives middle "ann". Nothing in the text tells them apart; the engine
 *      compares name tokens across the three fields to recover.
 *   3. Leading titles (Mr, Dr, Sra…) and trailing generational or degree
 *      suffixes (Jr, III, PhD…) are dropped as long as another word remains;
 *      they say little about identity across registries.
 *   4. Particles never swallow the given name: "Van Morrison" has given
 *      "van", surname "morrison".
 *   5. A lone "van" right before the last word is not a particle when the
 *      first or last word is a common Vietnamese family name ("An Van
 *      Nguyen": middle "van"); "van der Berg" is unaffected.
 */
#include <string.h>

#include <utf8proc.h>

#include "norm.h"

/* Words of a name, folded: one growable buffer with offsets, so splitting a
 * name costs one or two allocations that the caller's buffers amortise. */
enum { MAX_WORDS = 64 };
typedef struct words {
    util_buf text;              /* folded words, each NUL-terminated */
    size_t off[MAX_WORDS];      /* start of word i in text */
    int n;
} words;

/* Surname particles, folded. "de la", "van der", "von dem" are runs of
 * them. Words that are mostly given names ("santa") are left out, as they
 * would glue a middle name to the surname; "ben" and "al" stay for Hebrew
 * and Arabic names although they are also short given names. The first
 * word is never a particle (decision 4). */
static const char *const PARTICLES[] = {
    "ap", "al", "bin", "bint", "ben", "ibn", "abu", "da", "das", "de", "degli", "dei", "del",
    "della", "dello", "dem", "der", "den", "des", "di", "do", "dos", "du", "el", "la", "las", "le",
    "lo", "los", "mac", "mc", "ni", "nic", "o", "san", "st", "ten", "ter", "van", "vande",
    "vanden", "vander", "vom", "von", "zu",
};

/* Common Vietnamese family names, folded. "Văn" is one of the most common
 * Vietnamese middle names, so "An Van Nguyen" must not read as a Dutch
 * "van Nguyen" (decision 5). */
static const char *const VIET_SURNAMES[] = {
    "bui", "dang", "dinh", "do", "duong", "ho", "hoang", "huynh", "le", "luong", "ly",
    "mai", "ngo", "nguyen", "pham", "phan", "tran", "trinh", "truong", "vo", "vu",
};

static const char *const TITLES[] = {
    "dame", "dr", "miss", "mlle", "mme", "mr", "mrs", "ms", "mx", "prof", "rev", "sir",
    "sr", "sra", "srta",
};

static const char *const SUFFIXES[] = {
    "esq", "ii", "iii", "iv", "jnr", "jr", "md", "phd", "snr", "sr",
};

static int in_list(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w, list[i]) == 0) return 1;
    return 0;
}

#define IN_LIST(w, list) in_list((w), (list), DT_ARRAY_LEN(list))

static const char *word(const words *w, int i)
{
    return w->text.data + w->off[i];
}

/* Reads the code point at p (n > 0 bytes left) and returns its length.
 * OUT: *is_space, 1 if it separates words: ASCII space or control, or a
 * Unicode space. Invalid bytes are Latin-1 as everywhere (0xA0 is NBSP). */
static size_t space_at(const unsigned char *p, size_t n, int *is_space)
{
    utf8proc_int32_t c = p[0];
    utf8proc_ssize_t got = 1;
    if (p[0] >= 0x80) {
        got = utf8proc_iterate(p, (utf8proc_ssize_t)n, &c);
        if (got <= 0) {
            c = p[0];
            got = 1;
        }
    }
    utf8proc_category_t cat = utf8proc_category(c);
    *is_space = c <= ' ' || cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
                cat == UTF8PROC_CATEGORY_ZP;
    return (size_t)got;
}

/* Folds one raw word and appends it (if not empty) as a word. */
static int add_word(words *w, const char *s, size_t n)
{
    if (w->n == MAX_WORDS) return DT_OK; /* absurdly long names lose their tail */
    size_t start = w->text.len;
    DT_TRY(norm_fold(&w->text, s, n, NORM_FOLD_NAME));
    if (w->text.len == start) return DT_OK;
    w->off[w->n++] = start;
    return util_buf_putc(&w->text, '\0');
}

/* Cuts s at whitespace and folds each piece. */
static int split_words(words *w, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int is_space;
        size_t got = space_at(p + i, n - i, &is_space);
        if (is_space) {
            i += got;
            continue;
        }
        size_t begin = i;
        while (i < n) {
            got = space_at(p + i, n - i, &is_space);
            if (is_space) break;
            i += got;
        }
        DT_TRY(add_word(w, s + begin, i - begin));
    }
    return DT_OK;
}

/* Drops titles in front and suffixes at the back while another word
 * remains (decision 3). IN/OUT: *first, *end delimit the words kept. */
static void trim_titles(const words *w, int *first, int *end)
{
    while (*end - *first >= 2 && IN_LIST(word(w, *first), TITLES)) (*first)++;
    while (*end - *first >= 2 && IN_LIST(word(w, *end - 1), SUFFIXES)) (*end)--;
}

/* Appends words [from, to) to out, separated by single spaces. */
static int put_words(util_buf *out, const words *w, int from, int to)
{
    for (int i = from; i < to; i++) {
        if (i > from) DT_TRY(util_buf_putc(out, ' '));
        const char *x = word(w, i);
        DT_TRY(util_buf_append(out, x, strlen(x)));
    }
    return DT_OK;
}

/* "First Middle… Last" over words [first, end). */
static int split_first_last(const words *w, int first, int end, util_buf *given,
                            util_buf *middle, util_buf *surname)
{
    if (end - first <= 0) return DT_OK;
    if (end - first == 1) return put_words(surname, w, first, end); /* decision 1 */
    int sur = end - 1;
    int is_viet = IN_LIST(word(w, first), VIET_SURNAMES) || IN_LIST(word(w, sur), VIET_SURNAMES);
    while (sur - 1 > first && IN_LIST(word(w, sur - 1), PARTICLES) &&
           !(is_viet && sur == end - 1 && strcmp(word(w, sur - 1), "van") == 0))
        sur--;
    DT_TRY(put_words(given, w, first, first + 1));
    DT_TRY(put_words(middle, w, first + 1, sur));
    return put_words(surname, w, sur, end);
}

static int split(words *w, const char *s, size_t n, util_buf *given, util_buf *middle,
                 util_buf *surname)
{
    const char *comma = memchr(s, ',', n);
    if (comma) {
        DT_TRY(split_words(w, s, (size_t)(comma - s)));
        int n_before = w->n;
        DT_TRY(split_words(w, comma + 1, n - (size_t)(comma - s) - 1));
        int first = n_before, end = w->n;
        while (end > first && IN_LIST(word(w, end - 1), SUFFIXES)) end--;
        if (end > first) { /* a real "Last, First…" */
            int sur_first = 0, sur_end = n_before;
            trim_titles(w, &sur_first, &sur_end);
            trim_titles(w, &first, &end);
            DT_TRY(put_words(surname, w, sur_first, sur_end));
            DT_TRY(put_words(given, w, first, first + 1));
            return put_words(middle, w, first + 1, end);
        }
        w->n = n_before; /* only a suffix after the comma: ignore it */
    } else {
        DT_TRY(split_words(w, s, n));
    }
    int first = 0, end = w->n;
    trim_titles(w, &first, &end);
    return split_first_last(w, first, end, given, middle, surname);
}

int norm_name_split(const char *s, size_t n, norm_name_order order, util_buf *given,
                    util_buf *middle, util_buf *surname)
{
    /* Both orders read a comma as "Last, First" and its absence as
     * "First Last" (norm.h): the order only documents what the source
     * promises, the text decides. */
    (void)order;
    words w;
    memset(&w, 0, sizeof w);
    size_t g0 = given->len, m0 = middle->len, s0 = surname->len;
    int rc = split(&w, s, n, given, middle, surname);
    util_buf_fini(&w.text);
    if (rc < 0) { /* out of memory: leave the buffers as they were */
        util_buf *bufs[3] = {given, middle, surname};
        size_t lens[3] = {g0, m0, s0};
        for (int i = 0; i < 3; i++)
            if (bufs[i]->cap) bufs[i]->data[bufs[i]->len = lens[i]] = '\0';
    }
    return rc;
}
