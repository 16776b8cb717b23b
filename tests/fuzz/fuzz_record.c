/*
 * fuzz_record.c — libFuzzer target for resolve's record.json (the JSON
 * API's record parser and everything behind it: field mapping,
 * standardization, keys, scoring). The first call builds a small store in
 * a temporary directory: a config, a CSV of 12 people, a model trained by
 * link, the store with that model and those records. Each input is then
 * resolved as a record of source "a", aborting on any failure of:
 *   1. an error is DT_EINPUT (or DT_EINVAL for an unknown source, never
 *      here) with a message, and nothing is returned;
 *   2. a success returns candidates strongest first with probabilities in
 *      [review threshold, 1], and an entity that is "" or its strongest
 *      candidate's.
 * Replayed without libFuzzer by regression_driver.c (make fuzz-replay).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dovetail.h"

#include "fuzz_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_store) setup();
    char *json = malloc(size + 1);
    CHECK(json);
    memcpy(json, data, size);
    json[size] = '\0'; /* an inner NUL ends the text early, as it would for a C caller */
    dt_error err;
    dt_resolution *r = NULL;
    dt_request as_analyst = {g_analyst, "fuzz"};
    int rc = dt_store_resolve(g_store, &as_analyst, "a", json, &r, &err);
    if (rc != DT_OK) {
        CHECK(rc == DT_EINPUT && err.code == rc && err.msg[0] && r == NULL);
    } else {
        CHECK(r && r->entity && r->n_comparisons == 4);
        for (size_t i = 0; i < r->n_candidates; i++) {
            const dt_candidate *c = &r->candidates[i];
            CHECK(c->probability >= 0.1 && c->probability <= 1.0);
            CHECK(i == 0 || c->probability <= r->candidates[i - 1].probability);
            for (size_t k = 0; k < r->n_comparisons; k++) CHECK(c->levels[k] && c->levels[k][0]);
        }
        CHECK(!r->entity[0] || (r->n_candidates && !strcmp(r->entity, r->candidates[0].entity)));
    }
    dt_resolution_free(r);
    free(json);
    return 0;
}
