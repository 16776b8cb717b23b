/*
 * norm.h — standardization of raw values into comparable ones (src/norm):
 * Unicode folding, person names, nicknames, phonetic keys, dates,
 * identifiers, postcodes, phones, sex, addresses. Depends on util and
 * utf8proc.
 *
 * Invariants:
 *   1. Every function here is pure given its inputs (the nickname table is
 *      read-only after loading), so any thread may call it.
 *   2. Folded output is lowercase, without diacritics, with single ASCII
 *      spaces between tokens and none at the ends. Letters with no
 *      decomposition that utf8proc leaves alone (đ ł ø æ œ ß ı þ ð) are
 *      mapped by our own table; scripts with no Latin form (Cyrillic, Han…)
 *      are kept, case-folded.
 *   3. Invalid UTF-8 never fails folding: each invalid byte is read as the
 *      Latin-1 character of that value (the usual cause is a Latin-1 file).
 *   4. A value that cannot be standardized (impossible date, identifier
 *      breaking its rules) is reported as DT_EINPUT; the caller turns it
 *      into a null and counts it. Nothing here prints.
 */
#ifndef DT_NORM_H
#define DT_NORM_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* ---- UTF-8 -------------------------------------------------------- */

/* Byte offset of the first invalid UTF-8 sequence in s, or -1 if valid. */
long norm_utf8_invalid_at(const char *s, size_t n);

/* Decodes s into code points (invalid bytes read as Latin-1), writing at
 * most cap. Returns the number written. */
size_t norm_utf8_decode(const char *s, size_t n, uint32_t *cps, size_t cap);

/* ---- folding ------------------------------------------------------ */

enum norm_fold_flags {
    NORM_FOLD_TEXT = 0,          /* punctuation becomes a space */
    NORM_FOLD_NAME = 1u << 0,    /* also: apostrophes and similar (' ’ ʻ `) vanish
                                    so O'Brien -> obrien; hyphens, commas, periods
                                    become spaces so García-López -> garcia lopez */
};

/* Appends the folded form of s to out (see invariant 2). Returns DT_OK, or
 * DT_ENOMEM with out as it was. */
int norm_fold(util_buf *out, const char *s, size_t n, unsigned flags);

/* ---- names -------------------------------------------------------- */

/* How a one-column name is laid out. */
typedef enum norm_name_order {
    NORM_NAME_FIRST_LAST = 0, /* "First Middle… Last", e.g. "Juan Carlos de la Cruz" */
    NORM_NAME_LAST_COMMA_FIRST /* "Last, First Middle…", e.g. "de la Cruz, Juan Carlos" */
} norm_name_order;

/* Splits a full name into folded given, middle and surname parts (each
 * appended to its buffer, possibly empty). With FIRST_LAST, surname
 * particles (de, del, de la, van, van der, von, da, dos, di, du, le, la, al,
 * el, bin, ibn, ben, ter, ten, mac…) stay with the surname that follows
 * them: "Juan de la Cruz" -> given "juan", surname "de la cruz". Without a
 * comma, LAST_COMMA_FIRST falls back to FIRST_LAST; with one, either order
 * reads "Last, First Middle…" (unless only a suffix follows the comma).
 * A lone word is a surname; leading titles (Mr, Dr…) and trailing suffixes
 * (Jr, III…) are dropped while another word remains. See name.c for the
 * ambiguous cases ("María García López"). */
int norm_name_split(const char *s, size_t n, norm_name_order order, util_buf *given,
                    util_buf *middle, util_buf *surname);

/* ---- nicknames ---------------------------------------------------- */

typedef struct norm_nicknames norm_nicknames;

/* Loads a nickname table: UTF-8 TSV, one group per line,
 * "<formal name>\t<nick>,<nick>,…"; '#' starts a comment line. Names are
 * folded on load. A name may belong to several groups (al: albert, alfred,
 * alan). Errors name file:line: DT_EIO (unreadable), DT_EINPUT (a line
 * without a tab, an empty formal name, invalid UTF-8), DT_ELIMIT (a file
 * over NORM_NICK_MAX_BYTES), DT_ENOMEM. */
enum { NORM_NICK_MAX_BYTES = 8 << 20 }; /* the bundled table is 14 KB */
int norm_nick_load(const char *path, norm_nicknames **out, dt_error *err);
void norm_nick_free(norm_nicknames *t);
/* 1 if folded names a and b are in one group (or equal), else 0. */
int norm_nick_equal(const norm_nicknames *t, const char *a, const char *b);
/* The name's id in the table (UINT32_MAX: not in it), so a value's is
 * looked up once; then norm_nick_equal is norm_nick_equal_id on the ids,
 * or equal text (two names the table lacks are equal only as text). */
uint32_t norm_nick_id(const norm_nicknames *t, const char *a);
int norm_nick_equal_id(const norm_nicknames *t, uint32_t ia, uint32_t ib);
/* The formal name that sorts first among a's groups, or a itself. For
 * blocking on nickname-aware keys. Borrowed until norm_nick_free. */
const char *norm_nick_canonical(const norm_nicknames *t, const char *a);

/* ---- phonetic keys ------------------------------------------------ */

/* American Soundex of the first token of a folded name ("robert" -> "r163");
 * out receives 4 characters + NUL, or "" when there is no letter a-z. */
void norm_soundex(const char *s, char out[5]);

/* NYSIIS (Taft 1970) of a folded name, letters a-z only, truncated to 6
 * characters as in the original; out needs at least 7 bytes. "" when there
 * is no letter. */
void norm_nysiis(const char *s, char out[7]);

/* ---- dates -------------------------------------------------------- */

/* A full or partial date: month 0 and/or day 0 mean unknown. */
typedef struct norm_date {
    int16_t year;  /* 1..9999; 0 means null */
    int8_t month;  /* 1..12, or 0 unknown */
    int8_t day;    /* 1..31, or 0 unknown */
} norm_date;

/* Parses s by a format made of YYYY, MM, DD tokens and literal characters
 * ("YYYYMMDD", "MMDDYYYY", "YYYY-MM-DD", "MM/DD/YYYY", "DD.MM.YYYY", "YYYY").
 * Where the format has a separator after MM or DD, 1-digit values are
 * accepted ("1/5/1980"). Zeros in MM or DD ("19800000") give a partial date.
 * Leading and trailing spaces are ignored. Returns DT_EINPUT for text that
 * does not fit the format or an impossible date (Feb 30, month 13), and
 * DT_EINVAL for a format without YYYY. */
int norm_date_parse(const char *s, size_t n, const char *format, norm_date *out);

/* The first and last day d may be (days since 1970-01-01): one day for a
 * full date, its month or year for a partial one. DT_EINVAL for null. */
int norm_date_days(const norm_date *d, int32_t *lo, int32_t *hi);

/* The date of a day count (days since 1970-01-01); DT_EINVAL outside
 * years 1..9999. */
int norm_date_from_days(int32_t days, norm_date *out);

/* 1 if the format string is one norm_date_parse accepts. */
int norm_date_format_ok(const char *format);

/* ---- identifiers, postcodes, phones, sex -------------------------- */

typedef struct norm_ident_rules {
    int min_len, max_len;   /* digits after cleaning; 0 = no bound */
    int ssn;                /* US SSN structure: area not 000 or 666, group not 00,
                               serial not 0000 (areas 900-999 allowed: synthetic
                               data lives there) */
    int reject_repeated;    /* all digits the same (000000000, 111111111) */
} norm_ident_rules;

/* Keeps digits only ("123-45-6789" -> "123456789") and applies rules.
 * DT_EINPUT when a rule fails or no digit is left (out then unspecified). */
int norm_ident(util_buf *out, const char *s, size_t n, const norm_ident_rules *rules);

/* Uppercase letters and digits only, truncated to max_len when > 0, so US
 * ZIP+4 "02139-4307" with max_len 5 -> "02139". DT_EINPUT if empty. */
int norm_postcode(util_buf *out, const char *s, size_t n, int max_len);

/* Digits only; more than 10 digits keeps the last 10 (drops a country
 * code). Digits after a letter that follows a digit ("x12", "ext. 12") are
 * an extension and ignored. DT_EINPUT with fewer than 7 digits. */
int norm_phone(util_buf *out, const char *s, size_t n);

/* "m"/"male"/"man"/"h"/"hombre"/"masculino" -> "m"; "f"/"female"/"woman"/
 * "w"/"mujer"/"femenino" -> "f"; "u"/"x"/others -> DT_EINPUT (null). */
int norm_sex(util_buf *out, const char *s, size_t n);

/* Folded address with common street words abbreviated one way (street ->
 * st, road -> rd, avenue -> ave, crescent -> cres, place -> pl, drive ->
 * dr, court -> ct, lane -> ln, north -> n…). */
int norm_address(util_buf *out, const char *s, size_t n);

#endif /* DT_NORM_H */
