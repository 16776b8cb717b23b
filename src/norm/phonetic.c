/*
 * phonetic.c — phonetic keys of folded names, for blocking (names that
 * sound alike land in one block) and as a cheap agreement level.
 *
 *   Soundex: American Soundex as used by the US Census (National Archives,
 *     "The Soundex Indexing System", 2007): first letter, then digits for
 *     consonant classes; vowels (and y) separate equal codes, h and w do
 *     not, so "Ashcraft" is A261 like "Ashcroft".
 *   NYSIIS: R. L. Taft, "Name Search Techniques", New York State
 *     Identification and Intelligence System, 1970; the original rules,
 *     key truncated to 6 characters.
 *
 * Invariants: input is folded (lowercase); anything other than a-z is
 * skipped; keys are lowercase ASCII; no allocation.
 */
#include <string.h>

#include "norm.h"

/* ---- Soundex ------------------------------------------------------ */

/* Digit class of a letter: '0' for vowels and y (they separate equal
 * codes), 0 for h and w (transparent), else '1'..'6'. */
static char soundex_code(char c)
{
    static const char codes[26] = {
        /* a    b    c    d    e    f    g    h  i    j    k    l    m */
        '0', '1', '2', '3', '0', '1', '2', 0, '0', '2', '2', '4', '5',
        /* n    o    p    q    r    s    t    u    v    w  x    y    z */
        '5', '0', '1', '2', '6', '2', '3', '0', '1', 0, '2', '0', '2',
    };
    return codes[c - 'a'];
}

static int is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

void norm_soundex(const char *s, char out[5])
{
    out[0] = '\0';
    while (*s == ' ') s++;
    while (*s && *s != ' ' && !is_lower(*s)) s++;
    if (!is_lower(*s)) return;
    int n = 0;
    out[n++] = *s;
    char last = soundex_code(*s);
    for (s++; *s && *s != ' ' && n < 4; s++) {
        if (!is_lower(*s)) continue;
        char code = soundex_code(*s);
        if (code == 0) continue; /* h, w: the codes around them merge */
        if (code != '0' && code != last) out[n++] = code;
        last = code;
    }
    while (n < 4) out[n++] = '0';
    out[4] = '\0';
}

/* ---- NYSIIS ------------------------------------------------------- */

/* Letters beyond this are ignored: the 6-character key is decided long
 * before, except by the suffix rules, which then see a cut name. */
enum { NYSIIS_MAX_IN = 64 };

static int is_vowel(char c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

static int starts(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(s, prefix, k) == 0;
}

static int ends(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Rules 1 and 2: the first and last letters. IN/OUT: name, *n. */
static void nysiis_ends(char *name, size_t *n)
{
    if (starts(name, *n, "mac")) memcpy(name, "mcc", 3);
    else if (starts(name, *n, "kn")) memcpy(name, "nn", 2);
    else if (starts(name, *n, "k")) name[0] = 'c';
    else if (starts(name, *n, "ph") || starts(name, *n, "pf")) memcpy(name, "ff", 2);
    else if (starts(name, *n, "sch")) memcpy(name, "sss", 3);

    if (*n < 3) return; /* the first letter is never rewritten by rule 2 */
    if (ends(name, *n, "ee") || ends(name, *n, "ie")) {
        name[*n - 2] = 'y';
        (*n)--;
    } else if (ends(name, *n, "dt") || ends(name, *n, "rt") || ends(name, *n, "rd") ||
               ends(name, *n, "nt") || ends(name, *n, "nd")) {
        name[*n - 2] = 'd';
        (*n)--;
    }
}

/* Rule 4 at position i (i >= 1): rewrites name[i..] in place and returns
 * how many letters it consumed. Later rules see the rewritten letters, so
 * "previous" below is the previous letter as translated. */
static size_t nysiis_step(char *name, size_t n, size_t i)
{
    char c = name[i], next = i + 1 < n ? name[i + 1] : '\0', prev = name[i - 1];
    if (c == 'e' && next == 'v') {
        name[i] = 'a';
        name[i + 1] = 'f';
        return 2;
    }
    if (is_vowel(c)) name[i] = 'a';
    else if (c == 'q') name[i] = 'g';
    else if (c == 'z') name[i] = 's';
    else if (c == 'm') name[i] = 'n';
    else if (c == 'k') name[i] = next == 'n' ? 'n' : 'c';
    else if (c == 's' && next == 'c' && i + 2 < n && name[i + 2] == 'h') {
        memcpy(name + i, "sss", 3);
        return 3;
    } else if (c == 'p' && next == 'h') {
        memcpy(name + i, "ff", 2);
        return 2;
    } else if (c == 'h' && (!is_vowel(prev) || !is_vowel(next))) {
        name[i] = prev;
    } else if (c == 'w' && is_vowel(prev)) {
        name[i] = prev;
    }
    return 1;
}

void norm_nysiis(const char *s, char out[7])
{
    char name[NYSIIS_MAX_IN];
    size_t n = 0;
    for (; *s && n < NYSIIS_MAX_IN; s++)
        if (is_lower(*s)) name[n++] = *s;
    out[0] = '\0';
    if (n == 0) return;

    nysiis_ends(name, &n);
    char key[NYSIIS_MAX_IN + 1];
    size_t k = 0;
    key[k++] = name[0];
    for (size_t i = 1; i < n;) {
        size_t used = nysiis_step(name, n, i);
        for (size_t j = i; j < i + used; j++)
            if (name[j] != key[k - 1]) key[k++] = name[j];
        i += used;
    }
    /* Rules 5-7 on the letters after the first, which always stays. */
    if (k > 1 && key[k - 1] == 's') k--;
    if (k > 2 && key[k - 2] == 'a' && key[k - 1] == 'y') key[--k - 1] = 'y';
    if (k > 1 && key[k - 1] == 'a') k--;
    if (k > 6) k = 6;
    memcpy(out, key, k);
    out[k] = '\0';
}
