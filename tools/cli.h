/*
 * cli.h — what the dovetail command's files share (dovetail.c: the
 * command table, options, the linkage and store commands; govern.c: the
 * governance commands). The tool sees the public API only.
 */
#ifndef DT_TOOLS_CLI_H
#define DT_TOOLS_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "dovetail.h"

typedef struct command {
    const char *name;
    const char *summary;
    const char *usage;   /* full --help text after the "usage:" line */
    int (*run)(int argc, char **argv);
} command;

extern const command commands[];
extern const size_t n_commands;

/* Options shared by the commands. */
typedef struct cli_opts {
    const char *config, *out, *model, *stats, *store, *source;
    const char *purpose, *admin, *role, *witness, *record, *entity;
    const char *key;       /* the store's key file; NULL: DOVETAIL_KEY_FILE */
    const char *token_out; /* write a new token to this file (0600), not stdout */
    int threads, quiet, json, snapshot;
    long batch;
    long long seq;
    const char *rejects;      /* --rejects FILE */
    long long max_rejected;   /* --max-rejected N; 0 unless given */
    dt_pairs_output pairs;    /* --pairs none|review|all; review unless given */
    int findings;             /* --findings */
    const char *reason;       /* --reason TEXT (findings verify, dismiss, contest) */
    const char *note;         /* --note TEXT (review decide) */
    const char *state;        /* --state S (findings list) */
    const char *listen, *tls_cert, *tls_key; /* serve */
    int routes;               /* serve --routes */
    long rate;                /* serve --rate N */
    long limit;               /* review queue --limit N */
    int labels;               /* train --labels */
    int bulk;                 /* ingest --bulk 1, --no-bulk -1, else 0 (by size) */
    const char *report;       /* link --report FILE */
    const char *decisions;    /* link --decisions FILE */
    long max_connections;     /* serve --max-connections N */
    long timeout;             /* serve --timeout S */
    const char *to;           /* migrate --to: where the copy goes (--from sets store) */
} cli_opts;

/* Which options a command requires. */
enum { NEED_CONFIG = 1, NEED_OUT = 2, NEED_STORE = 4, NEED_SOURCE = 8, NEED_PURPOSE = 16 };

const command *find_command(const char *name);
/* Prints "usage: " and c's text, then the governed calls c makes (the
 * library's table of calls: action, roles, what the audit entry records). */
void print_usage(const command *c);
int usage_error(const command *c, const char *msg);
/* Prints "dovetail CMD: error: ..." and returns 1. */
int fail(const char *cmd, const dt_error *err);
int parse_opts(const command *c, int argc, char **argv, cli_opts *o, int need);
/* Parses a store command's options and its positional count. Returns 0
 * to go on, else the exit status (-1: --help was printed). */
int begin_store(const char *name, int argc, char **argv, int n_positional, const char *what,
                int need, cli_opts *o);
int begin_status(int rc);
/* Opens o->store and fills req from DOVETAIL_TOKEN and o->purpose.
 * Returns 0, or the exit status after printing why. */
int open_store(const char *cmd, const cli_opts *o, dt_store **store, dt_request *req);
/* s as JSON: quoted, with '"', '\\', C0, DEL and C1 controls escaped. */
void print_json_string(const char *s);
/* s with every control character written as \xHH (dt_escape_controls),
 * for human-readable output of anything that came from data: record ids,
 * values, names, messages quoting them. Valid until 8 more calls (so one
 * printf may take several); "" when out of memory. */
const char *cli_text(const char *s);
/* Shows a token just made: into o->token_out (0600) when given, else on
 * standard output. Returns 0 or 1 after printing why. */
int show_token(const char *cmd, const cli_opts *o, const char *token);

#define PRINCIPAL_USAGE                                                                    \
    "dovetail principal add NAME --role ROLE [--source S[,S...]] --store FILE --purpose P\n" \
    "       dovetail principal list --store FILE --purpose P\n"                             \
    "       dovetail principal revoke NAME --store FILE --purpose P\n"                      \
    "       dovetail principal rotate NAME --store FILE --purpose P\n"                      \
    "\n"                                                                                   \
    "Manages who may use the store (an admin's token in DOVETAIL_TOKEN). 'add' prints\n"   \
    "the new principal's token on standard output, this once: it is stored only as\n"    \
    "its SHA-256. 'rotate' prints a new token for NAME the same way and revokes its\n"   \
    "old one (same role and sources; one audited change). 'revoke' refuses the last\n"   \
    "active admin; a revoked name may be added again, as a new principal. Roles: admin (principals, models; reads no record), steward (of\n"      \
    "the sources given: their policies, ingest, withdraw), analyst and reviewer\n"        \
    "(resolve, entity, export, explain under a purpose), auditor (audit, disclosures).\n" \
    "\n"                                                                                   \
    "  -S, --store FILE    the store; required\n"                                          \
    "  -p, --purpose P     why (recorded in the audit log); required\n"                    \
    "  -R, --role ROLE     admin, steward, analyst, reviewer or auditor (add)\n"           \
    "  -r, --source S,...  the sources a steward stewards (add)\n"                         \
    "  -T, --token-out F   write the new token to F (created 0600), not stdout (add)\n"   \
    "  -K, --key FILE      the store's key file (default: $DOVETAIL_KEY_FILE)\n"          \
    "  -h, --help          this text\n"

#define POLICY_USAGE                                                                       \
    "dovetail policy set --source NAME --store FILE --purpose P POLICY.yaml\n"               \
    "       dovetail policy show --source NAME --store FILE --purpose P\n"                  \
    "\n"                                                                                   \
    "Sets (a new version; earlier ones are kept) or prints a source's policy. Only\n"     \
    "that source's steward sets it. A policy says, per purpose: allowed or not, the\n"    \
    "matching agreement and its expiry (at most 30 months ahead), the columns that\n"     \
    "may be shown, and the other sources it may be linked with:\n"                        \
    "\n"                                                                                   \
    "  retention_days: 2555\n"                                                             \
    "  purposes:\n"                                                                        \
    "    payment-integrity:\n"                                                             \
    "      allowed: true\n"                                                                \
    "      agreement: CMA-2026-014\n"                                                      \
    "      expires: 2027-06-30\n"                                                          \
    "      fields: [surname, dob]      # or: all\n"                                        \
    "      link_with: [deaths]         # or: all; none when left out\n"                    \
    "\n"                                                                                   \
    "  -S, --store FILE    the store; required\n"                                          \
    "  -r, --source NAME   the source; required\n"                                         \
    "  -p, --purpose P     why (recorded in the audit log); required\n"                    \
    "  -h, --help          this text\n"

#define AUDIT_USAGE                                                                        \
    "dovetail audit verify [--witness FILE] --store FILE --purpose P\n"                      \
    "       dovetail audit head --store FILE --purpose P\n"                                 \
    "       dovetail audit prove --seq N --store FILE --purpose P\n"                        \
    "       dovetail audit consistency OLD_HEAD.json --store FILE --purpose P\n"            \
    "       dovetail audit witness --out FILE --store FILE --purpose P\n"                   \
    "\n"                                                                                   \
    "The audit log is a Merkle tree (RFC 6962) with Ed25519-signed heads. 'verify'\n"     \
    "checks every entry and head and names the first bad entry (exit 1 when bad);\n"      \
    "with --witness, also the heads a witness kept elsewhere, which catches a log\n"      \
    "truncated and signed again. 'head' prints the newest signed head; 'prove' an\n"      \
    "inclusion proof of entry N; 'consistency' a proof that the log only grew since\n"    \
    "OLD_HEAD (a file holding what 'head' printed); 'witness' writes every signed\n"      \
    "head to FILE, to keep where the store's administrators cannot write.\n"             \
    "\n"                                                                                   \
    "  -S, --store FILE    the store; required\n"                                          \
    "  -p, --purpose P     why (recorded in the audit log); required\n"                    \
    "  -w, --witness FILE  a witness file to check against (verify)\n"                     \
    "  -e, --seq N         the entry to prove (prove)\n"                                   \
    "  -o, --out FILE      the witness file to write (witness)\n"                          \
    "  -h, --help          this text\n"

#define DISCLOSURES_USAGE                                                                  \
    "dovetail disclosures (--record SOURCE:ID | --entity ID) --store FILE --purpose P\n"     \
    "\n"                                                                                   \
    "Lists, from the audit log, every request that was shown the record (or any\n"        \
    "record of the entity): when, who, for what purpose, the action and the fields\n"     \
    "shown, one JSON object per line. An auditor's token.\n"                              \
    "\n"                                                                                   \
    "  -S, --store FILE    the store; required\n"                                          \
    "  -p, --purpose P     why (recorded in the audit log); required\n"                    \
    "  -k, --record S:ID   the record\n"                                                   \
    "  -E, --entity ID     an entity: each of its records\n"                              \
    "  -h, --help          this text\n"

#define PURGE_USAGE                                                                        \
    "dovetail purge --store FILE --purpose P [--json]\n"                                     \
    "\n"                                                                                   \
    "Erases every record version whose source's retention period (the policy's\n"        \
    "retention_days, counted from when the version arrived; a row sent again\n"          \
    "unchanged renews it) has passed, and prints what it erased per source. The\n"      \
    "erasure and an audit entry naming each record touched commit together; the\n"     \
    "log itself is never erased. Every request does this first by itself, so\n"        \
    "running it (say nightly) only chooses when the work is done and the write\n"      \
    "lock held. An admin's or steward's token.\n"                                       \
    "\n"                                                                                   \
    "  -S, --store FILE    the store; required\n"                                          \
    "  -p, --purpose P     why (recorded in the audit log); required\n"                    \
    "  -j, --json          print JSON lines\n"                                             \
    "  -h, --help          this text\n"

#define FINDINGS_USAGE                                                                     \
    "dovetail findings run --store FILE --purpose P\n"                                       \
    "       dovetail findings list [--state S] --store FILE --purpose P\n"                   \
    "       dovetail findings show ID --store FILE --purpose P\n"                            \
    "       dovetail findings verify|dismiss ID --reason TEXT --store FILE --purpose P\n"    \
    "       dovetail findings notify ID --store FILE --purpose P\n"                          \
    "       dovetail findings contest ID --reason TEXT --store FILE --purpose P\n"           \
    "       dovetail findings export --out DIR --store FILE --purpose P\n"                   \
    "\n"                                                                                   \
    "'run' (an analyst) runs the config's finding rules over the store's records and\n"   \
    "entities as the purpose may see them, and stores each finding as needs-review or\n"  \
    "open; a finding it no longer finds is superseded, with the reason. A rule that\n"    \
    "needs a source or column the purpose may not see does not run, and says so.\n"      \
    "Event sources (payments, filings) are stored with 'dovetail ingest --source'.\n"    \
    "'list' prints the purpose's findings (JSON); 'show' one, with its records as the\n" \
    "policies show them, why each link was made, and its history. A reviewer\n"          \
    "verifies or dismisses a finding only after 'show' showed it to them (the audit\n"   \
    "log is the proof); 'notify' records the notice to the person, who may 'contest'\n" \
    "it within findings: contest_days (30); after that it is final. 'export' writes\n"  \
    "DIR/findings.csv and DIR/findings.json. Nothing is ever deleted.\n"                \
    "\n"                                                                                   \
    "  -S, --store FILE    the store; required\n"                                          \
    "  -p, --purpose P     why (recorded in the audit log); required\n"                    \
    "      --state S       list only findings in state S (list)\n"                        \
    "      --reason TEXT   why (verify, dismiss, contest)\n"                              \
    "  -o, --out DIR       where export writes (export)\n"                                \
    "  -K, --key FILE      the store's key file (default: $DOVETAIL_KEY_FILE)\n"          \
    "  -h, --help          this text\n"

#define REVIEW_USAGE                                                                       \
    "dovetail review queue [--limit N] --store FILE --purpose P\n"                          \
    "       dovetail review decide SOURCE:ID SOURCE:ID same|different [--note TEXT]\n"      \
    "                              --store FILE --purpose P\n"                              \
    "\n"                                                                                   \
    "'queue' prints (JSON) the pairs the model is unsure of: links between the review\n" \
    "and the link thresholds that no reviewer has decided, the most doubtful first\n"    \
    "(probability nearest 0.5), between records the purpose may see and link; where\n"  \
    "its view hides a column a comparison reads, no probability is shown (null) and\n"  \
    "the pairs come in store order. 'decide':\n"                                         \
    "A reviewer's decision on two stored records: the same person, or not. It is\n"      \
    "kept, replacing an earlier one on the pair, and clustering honours it from then\n"  \
    "on, here and in every later ingest and train: 'same' joins the two records'\n"     \
    "entities (over a rule's conflict, such as two SSNs: a person looked), 'different'\n"\
    "keeps them in different entities (over any link). Both entities are clustered\n"   \
    "again at once; the decision, the change and the audit entry, which names both\n"   \
    "records, commit together. Both records must be visible to the purpose and their\n" \
    "sources allowed to link. Prints each record's entity after. A reviewer's token.\n" \
    "\n"                                                                                   \
    "  -S, --store FILE    the store; required\n"                                          \
    "  -p, --purpose P     why (recorded in the audit log); required\n"                    \
    "      --note TEXT     why, for the next reviewer (kept sealed; at most 4,096 bytes)\n" \
    "      --limit N       pairs in the queue (default 50, at most 1,000)\n"              \
    "  -K, --key FILE      the store's key file (default: $DOVETAIL_KEY_FILE)\n"          \
    "  -h, --help          this text\n"

#define SERVE_USAGE                                                                        \
    "dovetail serve --store FILE [--key FILE] [--listen HOST:PORT] [--threads N]\n"          \
    "       [--rate N] [--max-connections N] [--timeout S]\n"                             \
    "       [--tls-cert CERT.pem --tls-key KEY.pem]\n"                                       \
    "\n"                                                                                   \
    "Serves the store's governed calls as a JSON API over HTTP (HTTPS with a\n"          \
    "certificate): each request carries \"Authorization: Bearer TOKEN\" and\n"             \
    "\"Dovetail-Purpose: P\", and takes the path the command would (authorization,\n"     \
    "one audit entry, durable before the reply). Routes (README, \"The server\"):\n"       \
    "every governed call has one (serve --routes lists them; docs/openapi.yaml\n"      \
    "describes them). Concurrent requests' audit entries are made durable together,\n" \
    "one fsync for many (group commit).\n"                                              \
    "Runs until SIGTERM or SIGINT, then finishes the requests in flight and exits 0.\n" \
    "\n"                                                                                   \
    "  -S, --store FILE      the store; required\n"                                       \
    "  -K, --key FILE        the store's key file (default: $DOVETAIL_KEY_FILE)\n"        \
    "      --listen H:P      address and port (default 127.0.0.1:8080; port 0: any)\n"   \
    "  -t, --threads N       requests worked on at once, each on a handle of its own\n"  \
    "                        on the store (default 8 per core, at most 64: a request\n" \
    "                        waiting for its group's commit keeps its handle); each\n"   \
    "                        connection has a thread of its own\n"                      \
    "      --tls-cert FILE   serve HTTPS with this PEM certificate ...\n"                 \
    "      --tls-key FILE    ... and its PEM key\n"                                       \
    "      --rate N          requests a second per token, bursts of 2N (default\n"     \
    "                        10000); over it: 429\n"                                    \
    "      --max-connections N  connections open at once (default 256); more are\n"   \
    "                        closed at once\n"                                          \
    "      --timeout S       a connection idle (or sending slower than this) for S\n"  \
    "                        seconds is closed (default 30)\n"                          \
    "      --routes          print the routes (method, path, governed call) and exit\n" \
    "  -h, --help            this text\n"

int cmd_serve(int argc, char **argv);
int cmd_findings(int argc, char **argv);
int cmd_review(int argc, char **argv);
int cmd_principal(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_disclosures(int argc, char **argv);
int cmd_purge(int argc, char **argv);

#endif
