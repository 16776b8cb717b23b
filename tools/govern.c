/*
 * govern.c — the governance commands of the dovetail tool: principal,
 * policy, audit, disclosures and purge. Each opens the store with the token in
 * DOVETAIL_TOKEN and a --purpose, calls the public API, prints.
 *
 * Exit status as everywhere: 0 success, 1 failure (audit verify: also a
 * log that does not check out), 2 wrong usage.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The subcommand (argv[1]), checked against a list; its options parse
 * from argv + 1. Returns 0 to go on, else the exit status. */
static int begin_sub(const char *name, int argc, char **argv, const char *const *subs,
                     int n_positional, int need, cli_opts *o, const char **sub)
{
    const command *c = find_command(name);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        print_usage(c);
        return -1;
    }
    *sub = argc >= 2 ? argv[1] : "";
    int known = 0;
    for (const char *const *s = subs; *s; s++) known |= strcmp(*s, *sub) == 0;
    if (!known) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s%s%s", *sub[0] ? "unknown subcommand '" : "give a subcommand",
                 *sub, *sub[0] ? "'" : "");
        return usage_error(c, msg);
    }
    int rc = parse_opts(c, argc - 1, argv + 1, o, need | NEED_STORE | NEED_PURPOSE);
    if (rc) return rc;
    if (argc - 1 - optind != n_positional)
        return usage_error(c, n_positional ? "wrong number of arguments" : "unexpected argument");
    return 0;
}

/* The subcommand may follow the options (`--store S --purpose P run`): it
 * is moved first, unless it is the value of an option that takes text. */
static void sub_first(int argc, char **argv, const char *const *subs)
{
    static const char *const takes_text[] = {"--reason", "--state", "--note", NULL};
    for (int i = 2; i < argc && argv[1][0] == '-'; i++) {
        int is_value = 0;
        for (const char *const *t = takes_text; *t; t++) is_value |= !strcmp(argv[i - 1], *t);
        for (const char *const *k = subs; *k && !is_value; k++)
            if (!strcmp(argv[i], *k)) {
                char *sub_arg = argv[i];
                memmove(argv + 2, argv + 1, (size_t)(i - 1) * sizeof *argv);
                argv[1] = sub_arg;
                break;
            }
    }
}

/* ---- principal ------------------------------------------------------------------- */

static int print_principal(void *ctx, const dt_principal_info *p)
{
    (void)ctx;
    printf("%-20s %-9s %-24s created %s%s%s\n", cli_text(p->name), p->role,
           p->sources[0] ? cli_text(p->sources) : "-", p->created,
           p->revoked[0] ? "  revoked " : "", p->revoked);
    return 0;
}

int cmd_principal(int argc, char **argv)
{
    static const char *const subs[] = {"add", "list", "revoke", "rotate", NULL};
    cli_opts o;
    const char *sub;
    int n_pos = argc >= 2 && strcmp(argv[1], "list") == 0 ? 0 : 1;
    int rc = begin_sub("principal", argc, argv, subs, n_pos, 0, &o, &sub);
    if (rc) return begin_status(rc);
    if (!strcmp(sub, "add") && !o.role)
        return usage_error(find_command("principal"), "add needs --role");
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("principal", &o, &store, &req))) return rc;
    const char *name = n_pos ? argv[1 + optind] : NULL;
    dt_error err;
    char token[DT_TOKEN_SIZE];
    if (!strcmp(sub, "add")) rc = dt_principal_add(store, &req, name, o.role, o.source, token, &err);
    else if (!strcmp(sub, "revoke")) rc = dt_principal_revoke(store, &req, name, &err);
    else if (!strcmp(sub, "rotate")) rc = dt_principal_rotate(store, &req, name, token, &err);
    else rc = dt_principal_list(store, &req, print_principal, NULL, &err);
    dt_store_close(store);
    if (rc < 0) return fail("principal", &err);
    if (!strcmp(sub, "add")) {
        fprintf(stderr, "principal '%s' (%s) added; its token is %s, shown this once\n", name,
                o.role, o.token_out ? "in the --token-out file" : "below");
        return show_token("principal", &o, token);
    } else if (!strcmp(sub, "rotate")) {
        fprintf(stderr, "principal '%s' has a new token, %s, shown this once; its old token "
                "no longer works\n", name, o.token_out ? "in the --token-out file" : "below");
        return show_token("principal", &o, token);
    } else if (!strcmp(sub, "revoke")) {
        fprintf(stderr, "principal '%s' revoked: its token no longer works\n", name);
    }
    return 0;
}

/* ---- policy -------------------------------------------------------------------------- */

int cmd_policy(int argc, char **argv)
{
    static const char *const subs[] = {"set", "show", NULL};
    cli_opts o;
    const char *sub;
    int is_set = argc >= 2 && strcmp(argv[1], "set") == 0;
    int rc = begin_sub("policy", argc, argv, subs, is_set, NEED_SOURCE, &o, &sub);
    if (rc) return begin_status(rc);
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("policy", &o, &store, &req))) return rc;
    dt_error err;
    int64_t version = 0;
    char *text = NULL;
    rc = is_set ? dt_policy_set(store, &req, o.source, argv[1 + optind], &version, &err)
                : dt_policy_get(store, &req, o.source, &text, &version, &err);
    dt_store_close(store);
    if (rc < 0) return fail("policy", &err);
    if (is_set)
        fprintf(stderr, "policy of %s: version %lld set\n", o.source, (long long)version);
    else if (text)
        printf("# policy of %s, version %lld\n%s", o.source, (long long)version, text);
    else
        fprintf(stderr, "source %s has no policy: no purpose may use it\n", o.source);
    dt_free(text);
    return 0;
}

/* ---- audit ---------------------------------------------------------------------------- */

static int audit_verify(dt_store *store, const dt_request *req, const cli_opts *o)
{
    dt_error err;
    dt_audit_verdict v;
    if (dt_audit_verify(store, req, o->witness, &v, &err) < 0) return fail("audit", &err);
    if (dt_store_notice(store)[0])
        fprintf(stderr, "dovetail audit: warning: %s\n", dt_store_notice(store));
    printf("entries         %lld\nsigned heads    %lld\n", (long long)v.n_entries,
           (long long)v.n_heads);
    if (o->witness) printf("witness heads   %lld\n", (long long)v.n_witness_heads);
    if (v.n_unsigned) /* a server's newest commits: it signs them within SVC_SIGN_MS */
        printf("sealed, unsigned %lld (the newest; a head over them is signed shortly)\n",
               (long long)v.n_unsigned);
    if (v.ok) {
        printf("verdict         ok: every entry and head checks out\n");
        return 0;
    }
    printf("verdict         BAD\n");
    if (v.first_bad) printf("first bad entry %lld\n", (long long)v.first_bad);
    printf("why             %s\n", cli_text(v.why));
    return 1;
}

/* Reads a small text file whole (an old head). */
static char *read_small(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *buf = malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

static int audit_json_out(dt_store *store, const dt_request *req, const char *sub,
                          const cli_opts *o, const char *arg)
{
    dt_error err;
    char *json = NULL;
    int rc;
    if (!strcmp(sub, "head")) {
        rc = dt_audit_head(store, req, &json, &err);
    } else if (!strcmp(sub, "prove")) {
        rc = dt_audit_prove(store, req, o->seq, &json, &err);
    } else {
        char *old = read_small(arg);
        if (!old) {
            fprintf(stderr, "dovetail audit: error: cannot read %s\n", arg);
            return 1;
        }
        rc = dt_audit_consistency(store, req, old, &json, &err);
        free(old);
    }
    if (rc < 0) {
        if (json) printf("%s\n", json);
        dt_free(json);
        return fail("audit", &err);
    }
    printf("%s\n", json);
    dt_free(json);
    return 0;
}

int cmd_audit(int argc, char **argv)
{
    static const char *const subs[] = {"verify", "head", "prove", "consistency", "witness", NULL};
    cli_opts o;
    const char *sub;
    int n_pos = argc >= 2 && strcmp(argv[1], "consistency") == 0;
    int rc = begin_sub("audit", argc, argv, subs, n_pos, 0, &o, &sub);
    if (rc) return begin_status(rc);
    const command *c = find_command("audit");
    if (!strcmp(sub, "prove") && !o.seq) return usage_error(c, "prove needs --seq N");
    if (!strcmp(sub, "witness") && !o.out) return usage_error(c, "witness needs --out FILE");
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("audit", &o, &store, &req))) return rc;
    if (!strcmp(sub, "verify")) {
        rc = audit_verify(store, &req, &o);
    } else if (!strcmp(sub, "witness")) {
        dt_error err;
        int64_t n = 0;
        rc = dt_audit_witness(store, &req, o.out, &n, &err) < 0 ? fail("audit", &err) : 0;
        if (!rc) fprintf(stderr, "wrote %lld signed heads to %s\n", (long long)n, o.out);
    } else {
        rc = audit_json_out(store, &req, sub, &o, n_pos ? argv[1 + optind] : NULL);
    }
    dt_store_close(store);
    return rc;
}

/* ---- disclosures ------------------------------------------------------------------------ */

static int print_disclosure(void *ctx, const dt_disclosure *d)
{
    (void)ctx;
    printf("{\"seq\": %lld, \"time\": ", (long long)d->seq);
    print_json_string(d->time);
    printf(", \"principal\": ");
    print_json_string(d->principal);
    printf(", \"purpose\": ");
    print_json_string(d->purpose);
    printf(", \"action\": ");
    print_json_string(d->action);
    printf(", \"record\": ");
    print_json_string(d->subject);
    printf(", \"fields\": %s}\n", d->fields);
    return 0;
}

int cmd_disclosures(int argc, char **argv)
{
    cli_opts o;
    const command *c = find_command("disclosures");
    int rc = begin_store("disclosures", argc, argv, 0, "unexpected argument",
                         NEED_STORE | NEED_PURPOSE, &o);
    if (rc) return begin_status(rc);
    if (!o.record == !o.entity) return usage_error(c, "give --record SOURCE:ID or --entity ID");
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("disclosures", &o, &store, &req))) return rc;
    dt_error err;
    rc = dt_disclosures(store, &req, o.record, o.entity, print_disclosure, NULL, &err);
    dt_store_close(store);
    return rc < 0 ? fail("disclosures", &err) : 0;
}

/* ---- purge ------------------------------------------------------------------------------ */

static void print_purge(const dt_purge_count *c, int json)
{
    if (json) {
        printf("{\"source\": ");
        print_json_string(c->source);
        printf(", \"retention_days\": %ld, \"records\": %llu, \"versions\": %llu, "
               "\"events\": %llu}\n", c->retention_days, (unsigned long long)c->records,
               (unsigned long long)c->versions, (unsigned long long)c->events);
    } else if (!c->retention_days) {
        printf("%-16s keeps all (no retention period)\n", c->source);
    } else {
        printf("%-16s retention %ld days: %llu records erased, %llu earlier versions, "
               "%llu event rows\n", c->source, c->retention_days,
               (unsigned long long)c->records, (unsigned long long)c->versions,
               (unsigned long long)c->events);
    }
}

int cmd_purge(int argc, char **argv)
{
    cli_opts o;
    int rc = begin_store("purge", argc, argv, 0, "unexpected argument",
                         NEED_STORE | NEED_PURPOSE, &o);
    if (rc) return begin_status(rc);
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("purge", &o, &store, &req))) return rc;
    dt_error err;
    dt_purge_report rep;
    rc = dt_store_purge(store, &req, &rep, &err);
    for (size_t i = 0; rc == DT_OK && i < rep.n_sources; i++) print_purge(&rep.sources[i], o.json);
    dt_purge_report_free(&rep);
    dt_store_close(store);
    return rc < 0 ? fail("purge", &err) : 0;
}

/* ---- findings ------------------------------------------------------------------- */

static void print_run(const dt_findings_run_summary *s)
{
    for (int k = 0; k < DT_N_FINDING_RULES; k++) {
        if (s->found.ran[k])
            fprintf(stderr, "  %-22s %llu\n", dt_finding_rule_name(k),
                    (unsigned long long)s->found.per_rule[k]);
        else
            fprintf(stderr, "  %-22s did not run: %s\n", dt_finding_rule_name(k),
                    cli_text(s->why_not[k]));
    }
    fprintf(stderr,
            "  findings            %llu (%llu need review)\n"
            "  new                 %llu\n"
            "  found again         %llu\n"
            "  superseded          %llu\n"
            "  event rows          %llu (%llu used, %llu name no record held)\n"
            "  seconds             %.2f\n",
            (unsigned long long)s->found.n_findings, (unsigned long long)s->found.n_needs_review,
            (unsigned long long)s->n_new, (unsigned long long)s->n_kept,
            (unsigned long long)s->n_superseded, (unsigned long long)s->found.n_event_rows,
            (unsigned long long)s->found.n_events, (unsigned long long)s->found.n_orphan_events,
            s->found.seconds);
}

static int findings_call(const char *sub, const char *id, const cli_opts *o, dt_store *store,
                         const dt_request *req, dt_error *err)
{
    char *text = NULL;
    int rc;
    if (!strcmp(sub, "run")) {
        dt_findings_run_summary s;
        rc = dt_store_findings_run(store, req, &s, err);
        if (rc == DT_OK) print_run(&s);
        return rc;
    }
    if (!strcmp(sub, "export")) {
        uint64_t n = 0;
        rc = dt_store_findings_export(store, req, o->out, &n, err);
        if (rc == DT_OK)
            fprintf(stderr, "%llu findings written to %s/findings.csv and findings.json\n",
                    (unsigned long long)n, cli_text(o->out));
        return rc;
    }
    if (!strcmp(sub, "list")) rc = dt_store_findings_list(store, req, o->state, &text, err);
    else if (!strcmp(sub, "show")) rc = dt_store_finding_show(store, req, id, &text, err);
    else {
        rc = dt_store_finding_step(store, req, id, sub, o->reason, &text, err);
        if (rc == DT_OK) fprintf(stderr, "finding %s is now %s\n", cli_text(id), text);
        dt_free(text);
        return rc;
    }
    if (rc == DT_OK) printf("%s\n", text);
    dt_free(text);
    return rc;
}

int cmd_findings(int argc, char **argv)
{
    static const char *const subs[] = {"run",    "list",    "show",    "verify", "dismiss",
                                       "notify", "contest", "export",  NULL};
    sub_first(argc, argv, subs);
    const char *first = argc >= 2 ? argv[1] : "";
    int n_pos = !strcmp(first, "run") || !strcmp(first, "list") || !strcmp(first, "export") ? 0 : 1;
    cli_opts o;
    const char *sub;
    int rc = begin_sub("findings", argc, argv, subs, n_pos, 0, &o, &sub);
    if (rc) return begin_status(rc);
    if (!strcmp(sub, "export") && !o.out)
        return usage_error(find_command("findings"), "export needs --out DIR");
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("findings", &o, &store, &req))) return rc;
    dt_error err;
    rc = findings_call(sub, n_pos ? argv[1 + optind] : NULL, &o, store, &req, &err);
    dt_store_close(store);
    return rc < 0 ? fail("findings", &err) : 0;
}

/* ---- review ----------------------------------------------------------------------- */

static int print_pair(void *ctx, const dt_review_pair *pair)
{
    int *n = ctx;
    printf("%s\n    {\"a\": ", (*n)++ ? "," : "");
    print_json_string(pair->a);
    printf(", \"b\": ");
    print_json_string(pair->b);
    if (isnan(pair->p)) printf(", \"p\": null");
    else printf(", \"p\": %.6g", pair->p);
    if (pair->entity_a && pair->entity_b) {
        printf(", \"entity_a\": ");
        print_json_string(pair->entity_a);
        printf(", \"entity_b\": ");
        print_json_string(pair->entity_b);
    }
    printf("}");
    return 0;
}

static int review_queue(dt_store *store, const dt_request *req, const cli_opts *o, dt_error *err)
{
    int n = 0;
    printf("{\"pairs\": [");
    int rc = dt_review_queue(store, req, o->limit ? (size_t)o->limit : 50, print_pair, &n, err);
    printf("%s]}\n", n ? "\n  " : "");
    return rc;
}

static int review_decide(dt_store *store, const dt_request *req, const cli_opts *o,
                         char **args, dt_error *err)
{
    int same = !strcmp(args[2], "same");
    dt_decision_result r;
    int rc = dt_review_decide(store, req, args[0], args[1], same, o->note, &r, err);
    if (rc == DT_OK)
        printf("%s\t%s\n%s\t%s\n", cli_text(args[0]), cli_text(r.entity_a), cli_text(args[1]),
               cli_text(r.entity_b));
    return rc;
}

int cmd_review(int argc, char **argv)
{
    static const char *const subs[] = {"queue", "decide", NULL};
    sub_first(argc, argv, subs);
    int is_decide = argc >= 2 && !strcmp(argv[1], "decide");
    cli_opts o;
    const char *sub;
    int rc = begin_sub("review", argc, argv, subs, is_decide ? 3 : 0, 0, &o, &sub);
    if (rc) return begin_status(rc);
    char **args = argv + 1 + optind;
    if (is_decide && strcmp(args[2], "same") && strcmp(args[2], "different"))
        return usage_error(find_command("review"), "the third argument is 'same' or 'different'");
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("review", &o, &store, &req))) return rc;
    dt_error err;
    rc = is_decide ? review_decide(store, &req, &o, args, &err) : review_queue(store, &req, &o, &err);
    if (dt_store_notice(store)[0])
        fprintf(stderr, "dovetail review: warning: %s\n", cli_text(dt_store_notice(store)));
    dt_store_close(store);
    return rc < 0 ? fail("review", &err) : 0;
}

/* ---- serve ------------------------------------------------------------------------ */

int cmd_serve(int argc, char **argv)
{
    const command *c = find_command("serve");
    cli_opts o;
    int rc = parse_opts(c, argc, argv, &o, 0);
    if (rc) return begin_status(rc);
    if (argc != optind) return usage_error(c, "unexpected argument");
    if (o.routes) { /* docs/openapi.yaml is checked against this list */
        size_t n;
        const dt_route_info *r = dt_server_routes(&n);
        for (size_t i = 0; i < n; i++)
            printf("%s %s %s%s\n", r[i].method, r[i].path, r[i].action ? r[i].action : "-",
                   r[i].is_served ? "" : " (501)");
        return 0;
    }
    if (!o.store) return usage_error(c, "--store is required");
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* the workers inherit it: sigwait below takes them */
    dt_server_options so = {.store_path = o.store, .key_path = o.key, .listen = o.listen,
                            .tls_cert = o.tls_cert, .tls_key = o.tls_key,
                            .threads = o.threads > 0 ? (unsigned)o.threads : 0,
                            .rate_per_s = o.rate > 0 ? (unsigned)o.rate : 0,
                            .max_connections = (unsigned)o.max_connections,
                            .timeout_s = (unsigned)o.timeout};
    dt_server *srv = NULL;
    dt_error err;
    if (dt_server_start(&so, &srv, &err) < 0) return fail("serve", &err);
    fprintf(stderr, "dovetail serve: listening on %s://%s (port %u)\n", o.tls_cert ? "https" : "http",
            o.listen ? o.listen : "127.0.0.1:8080", dt_server_port(srv));
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "dovetail serve: %s: finishing the requests in flight\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    dt_server_stop(srv);
    fprintf(stderr, "dovetail serve: stopped\n");
    return 0;
}
