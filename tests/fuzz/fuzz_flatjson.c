/*
 * fuzz_flatjson.c — libFuzzer target for util_json_flat_each (the reader
 * of a stored record's standardized values), checked against jansson:
 *   1. it never reads past the text (ASan) and never leaks;
 *   2. when it accepts a text, jansson reads the same text as an object,
 *      and what it reported, the last of a repeated key winning, are
 *      jansson's string members, with nothing but null besides;
 *   3. when jansson reads an object of strings and nulls without \u0000
 *      and without a repeated key (where jansson keeps only the last
 *      value, of any type), it accepts the text too.
 * Replayed without libFuzzer by regression_driver.c (make fuzz-replay).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                            \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "fuzz_flatjson: %s failed (line %d)\n", #c, __LINE__);           \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* What the reader reported, as a jansson object (the last value wins). */
static int collect(void *ctx, const char *key, size_t key_len, const char *v, size_t n)
{
    CHECK(strlen(key) == key_len && (!v || strlen(v) == n));
    if (v) json_object_set_new(ctx, key, json_stringn(v, n));
    else json_object_del(ctx, key); /* a null after a string: jansson keeps the null */
    return 0;
}

/* jansson's object of strings and nulls, as the reader would report it:
 * its string members only; NULL when it is not such an object. */
static json_t *strings_of(json_t *o)
{
    if (!json_is_object(o)) return NULL;
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (json_is_string(v)) json_object_set_new(out, k, json_copy(v));
        else if (!json_is_null(v)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    CHECK(text);
    memcpy(text, data, size);
    text[size] = '\0'; /* an inner NUL ends the text early, for both readers */
    json_t *mine = json_object();
    util_buf key = {0}, value = {0};
    int rc = util_json_flat_each(text, &key, &value, collect, mine);
    CHECK(rc == 0 || rc == 1);
    util_buf_fini(&key);
    util_buf_fini(&value);
    json_error_t je;
    json_t *theirs_all = json_loads(text, JSON_DECODE_ANY, &je);
    json_t *theirs = strings_of(theirs_all);
    if (rc == 0 && theirs) CHECK(json_equal(mine, theirs)); /* 2 (jansson may refuse bad UTF-8) */
    if (rc == 0 && theirs_all) CHECK(theirs != NULL);
    json_t *unique = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (theirs && unique && !strstr(text, "\\u0000")) CHECK(rc == 0); /* 3 */
    json_decref(unique);
    json_decref(theirs);
    json_decref(theirs_all);
    json_decref(mine);
    free(text);
    return 0;
}
