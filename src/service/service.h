/*
 * service.h — what parts above the service (findings, and the benchmark
 * that prices enforcement) may use of it. The governed calls themselves
 * are public (include/dovetail.h) and listed in one table (calls.c); this
 * header adds nothing that skips that table's checks except the
 * benchmark's timing ways, which write nothing and show nothing the
 * caller did not send.
 */
#ifndef DT_SERVICE_H
#define DT_SERVICE_H

#include "dovetail.h"

/* How much of the request path svc_bench_resolve runs:
 *   SVC_WAY_CORE      the resolution alone, under a view that allows every
 *                     source and link (no token, no entry);
 *   SVC_WAY_ENFORCED  plus authentication, the purpose's view and its
 *                     filtering, with the audit entry left out;
 *   SVC_WAY_GOVERNED  dt_store_resolve itself. */
typedef enum svc_way { SVC_WAY_CORE, SVC_WAY_ENFORCED, SVC_WAY_GOVERNED } svc_way;

/* Resolves record_json of `source` the given way (bench/resolve.c).
 * OUT: *out (dt_resolution_free). */
int svc_bench_resolve(dt_store *s, const dt_request *req, svc_way way, const char *source,
                      const char *record_json, dt_resolution **out, dt_error *err);

#endif
