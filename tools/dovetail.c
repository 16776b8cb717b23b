/*
 * dovetail.c — the command-line tool. Thin by design: parse arguments,
 * call the public API in dovetail.h, print. Commands are one table; the
 * help text and dispatch both read it, so a command cannot lack --help.
 *
 * Exit status: 0 success, 1 failure (the message names file:line:column
 * where it applies), 2 wrong usage.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int cmd_link(int argc, char **argv);
static int cmd_eval(int argc, char **argv);
static int cmd_explain(int argc, char **argv);
static int cmd_version(int argc, char **argv);
static int cmd_calls(int argc, char **argv);
static int cmd_report(int argc, char **argv);
int open_store(const char *cmd, const cli_opts *o, dt_store **store, dt_request *req)
{
    dt_error err;
    req->token = getenv("DOVETAIL_TOKEN");
    req->purpose = o->purpose;
    if (dt_store_open_keyed(o->store, o->key, store, &err) < 0) return fail(cmd, &err);
    return 0;
}

int show_token(const char *cmd, const cli_opts *o, const char *token)
{
    if (!o->token_out) return printf("%s\n", token) < 0;
    char line[DT_TOKEN_SIZE + 1];
    snprintf(line, sizeof line, "%s\n", token);
    dt_error err;
    return dt_file_write(o->token_out, line, strlen(line), &err) < 0 ? fail(cmd, &err) : 0;
}

static int cmd_init(int argc, char **argv);
static int cmd_ingest(int argc, char **argv);
static int cmd_withdraw(int argc, char **argv);
static int cmd_train(int argc, char **argv);
static int cmd_export(int argc, char **argv);
static int cmd_resolve(int argc, char **argv);
static int cmd_entity(int argc, char **argv);
static int cmd_migrate(int argc, char **argv);

const command commands[] = {
    {"link", "link and deduplicate the sources of a config; write pairs and entities",
     "dovetail link --config FILE --out DIR [--threads N] [--model FILE] [--quiet]\n"
     "       [--rejects FILE] [--max-rejected N] [--pairs none|review|all] [--findings]\n"
     "       [--report FILE.html] [--decisions FILE.csv]\n"
     "\n"
     "Reads every source in the config, standardizes, blocks, compares, trains a\n"
     "Fellegi-Sunter model (or loads one), scores, clusters, and writes to DIR:\n"
     "  review.csv     possible matches (review <= probability < link) for a person,\n"
     "                 with each level (not with --pairs none)\n"
     "  pairs.csv      every pair at or above the review threshold, with each level\n"
     "                 (only with --pairs all: ~125 bytes a pair, GBs at 1M people)\n"
     "  entities.csv   source,record_id,entity_id for every record\n"
     "  clusters.csv   entity_id,size,confidence (weakest link)\n"
     "  model.json     parameters and training diagnostics\n"
     "  rejects.csv    rows rejected (see --rejects), only when there are some\n"
     "  findings.csv   with --findings: one row per finding (rule, state, confidence,\n"
     "                 records, identifier, date, events, amount)\n"
     "  findings.json  with --findings: each finding with its evidence (records, the\n"
     "                 links that tie them and their probabilities, events)\n"
     "\n"
     "A config of two or more sources without mode: runs link_and_dedupe, which\n"
     "also compares records within a source (the log says so); write mode: link\n"
     "to compare records of different sources only.\n"
     "\n"
     "A row is rejected when it is broken (a quote never closed, text after a\n"
     "closing quote, a NUL byte), has the wrong number of fields, an empty or a\n"
     "repeated record id. Each goes to the rejects file, verbatim, with its file,\n"
     "lines and reason (a CSV: file,line,last_line,reason,row; mode 0600). Any\n"
     "rejected row stops the run before linking (exit 1) unless --max-rejected\n"
     "allows it.\n"
     "\n"
     "  -c, --config FILE   linkage configuration (YAML); required\n"
     "  -o, --out DIR       output directory, created if missing; required\n"
     "  -t, --threads N     worker threads for every stage (default: all cores)\n"
     "  -m, --model FILE    use this model.json instead of training\n"
     "  -s, --stats FILE    also write the summary as JSON (with peak memory, and at each\n"
     "                      stage's end) to FILE\n"
     "  -q, --quiet         print warnings and the summary only\n"
     "      --rejects FILE  where rejected rows go (default: DIR/rejects.csv)\n"
     "      --max-rejected N  go on when at most N rows are rejected (default 0)\n"
     "      --pairs WHAT    pair files to write: review (default: review.csv), all\n"
     "                      (review.csv and pairs.csv) or none; a pair file not\n"
     "                      written is removed from DIR. 'dovetail explain' shows\n"
     "                      any one pair without pairs.csv\n"
     "      --findings      then run the config's finding rules (findings:) over the\n"
     "                      entities: payment_after_death, death_contradicted,\n"
     "                      duplicate_enrollment, shared_identifier. Each finding is\n"
     "                      'open' or 'needs-review' (a link under review_below):\n"
     "                      a proposal for a person to verify, never a conclusion\n"
     "      --report FILE   also write the linkage report, one HTML file with its charts\n"
     "                      (the model's m, u and weights, EM per training rule,\n"
     "                      blocking, match probabilities, entity sizes, links by pair\n"
     "                      of sources, weak links); no record's id or value is in it\n"
     "      --decisions FILE  people's decisions on pairs (a CSV: a,b,decision with\n"
     "                      SOURCE:RECORD_ID and same|different): 'same' joins the two\n"
     "                      records' entities (over a rule's conflict), 'different'\n"
     "                      keeps them apart (over any link), as 'review decide' does\n"
     "                      in a store; the 'same' pairs also refit m, as 'train\n"
     "                      --labels' does\n"
     "  -h, --help          this text\n",
     cmd_link},
    {"eval", "score a link run against the config's truth (precision, recall, F1, by source, calibration)",
     "dovetail eval --config FILE --out DIR [--json]\n"
     "\n"
     "Compares DIR/entities.csv with the truth the config names (truth: id_pattern\n"
     "or file) and prints pairwise precision, recall and F1 (over the pairs the\n"
     "mode compares, and over cross-source pairs only), blocking pair completeness\n"
     "and reduction ratio, and B-cubed precision, recall and F1, overall and per\n"
     "group when the truth file has a fourth column `group`.\n"
     "\n"
     "Pairs by source: the pairwise figures within each source (duplicates in one\n"
     "registry) and across each pair of sources, whatever the mode compares; lines\n"
     "the mode never compares are marked so.\n"
     "\n"
     "Calibration (when DIR has model.json): every candidate pair is scored with\n"
     "that model as link scores it, before clustering, and binned by probability\n"
     "into [0,0.1) ... [0.9,1]: pairs, mean probability, observed match rate. ece\n"
     "is sum over bins of (pairs/all) * |mean - observed|; ece uncertain the same\n"
     "over pairs with 0.01 < p < 0.99.\n"
     "\n"
     "  -c, --config FILE   the config the run used; required\n"
     "  -o, --out DIR       the run's output directory; required\n"
     "  -j, --json          print one JSON object instead of text\n"
     "  -h, --help          this text\n",
     cmd_eval},
    {"explain", "show why two records link or not, field by field",
     "dovetail explain --config FILE --out DIR [--json] SOURCE:ID SOURCE:ID\n"
     "       dovetail explain --store FILE --purpose P [--json] SOURCE:ID SOURCE:ID\n"
     "\n"
     "Prints each comparison's values, the level that held, its weight, and the\n"
     "total weight and probability: of a link run's records under DIR/model.json, or\n"
     "of two stored records under the store's model, as the purpose may see them\n"
     "(comparisons over columns its policies withhold are left out, and then the\n"
     "total, probability and blocking rule too: only the band shows).\n"
     "\n"
     "  -c, --config FILE   the config the run used\n"
     "  -o, --out DIR       the run's output directory (for model.json)\n"
     "  -S, --store FILE    a store instead (an analyst's or reviewer's token)\n"
     "  -p, --purpose P     why, with --store; recorded in the audit log\n"
     "  -j, --json          print one JSON object instead of text\n"
     "  -h, --help          this text\n",
     cmd_explain},
    {"init", "create a store for a config",
     "dovetail init --store FILE --config FILE --key FILE [--admin NAME] [--token-out F]\n"
     "\n"
     "Creates an empty store (SQLite) at FILE that keeps the configuration's text;\n"
     "later commands read the config from the store. Fails if FILE exists. Creates\n"
     "the first principal, an admin, and prints its token on standard output, this\n"
     "once (the store keeps only its SHA-256): set DOVETAIL_TOKEN to it.\n"
     "\n"
     "  -S, --store FILE    the store to create; required\n"
     "  -c, --config FILE   linkage configuration (YAML); required\n"
     "  -K, --key FILE      the key file the store's records are encrypted under\n"
     "                      (default: $DOVETAIL_KEY_FILE); created 0600 when absent.\n"
     "                      Keep it apart from the store, and backed up: every later\n"
     "                      command needs it (--key or DOVETAIL_KEY_FILE)\n"
     "  -A, --admin NAME    the first admin's name (default: admin)\n"
     "  -T, --token-out F   write the admin's token to F (created 0600), not stdout\n"
     "  -h, --help          this text\n",
     cmd_init},
    {"ingest", "add a source's CSV to a store (new, changed and repeated rows)",
     "dovetail ingest --store FILE --source NAME --purpose P [--snapshot] [--batch N]\n"
     "       [--bulk | --no-bulk] [--rejects FILE] [--max-rejected N] CSV\n"
     "dovetail ingest --store FILE --purpose P [options] NAME=CSV NAME=CSV...\n"
     "\n"
     "Reads CSV as the config's source NAME and keeps every row twice: raw, as the\n"
     "source sent it, and standardized. A record id seen before with the same row\n"
     "changes nothing; a different row is stored as a new version (the old one is\n"
     "kept). Rows are committed in batches: after a crash, run the same command\n"
     "again to finish. The source's steward's token (DOVETAIL_TOKEN).\n"
     "\n"
     "Once the store has a model, each batch's records are resolved as it commits.\n"
     "A file of at least 20,000 rows and an eighth of the records stored is loaded\n"
     "in bulk instead: one transaction for the whole file (a crash leaves the store\n"
     "as before it), then the batch stages over every stored record, scoring the\n"
     "pairs that hold one of the file's; the same links and entities, in a fraction\n"
     "of the time, with memory for the whole store (as 'link' needs).\n"
     "\n"
     "NAME=CSV for each of several sources (no --source) loads their files as one:\n"
     "in bulk (by the same rule, their rows together), in one transaction resolved\n"
     "once, so a first load of several registries blocks, scores and clusters the\n"
     "store once instead of once per file; otherwise one file after another. One\n"
     "audit entry names every source; the token's steward must steward each. Each\n"
     "file's rejected rows go to its own NAME.rejects.csv (no --rejects).\n"
     "\n"
     "Rejected rows (as for link) go, verbatim with file, lines and reason, to the\n"
     "rejects file, created (mode 0600) only when a row is rejected. Any rejected\n"
     "row makes the command exit 1 unless --max-rejected allows it; the accepted\n"
     "rows are stored either way. A --snapshot with any rejected row withdraws\n"
     "nothing and exits 1. A value that is not valid UTF-8 is read as Latin-1 and\n"
     "kept raw as {\"latin1\": TEXT}, TEXT being the bytes read as Latin-1.\n"
     "\n"
     "NAME may be an event source (findings: events:, e.g. payments): its rows are\n"
     "stored sealed for `dovetail findings run`, by the steward of the source they\n"
     "belong to, and go by that source's policy. Its rejected rows (no id, a repeated\n"
     "id, no date the format reads, an amount that is no number) are counted and\n"
     "the first few named with file and line; --max-rejected as above.\n"
     "\n"
     "  -S, --store FILE    the store; required\n"
     "  -r, --source NAME   the source (or event source) in the store's config; required\n"
     "                      for one CSV\n"
     "  -p, --purpose P     why (recorded in the audit log); required\n"
     "  -n, --snapshot      CSV is the source's full content: withdraw its stored\n"
     "                      records that CSV leaves out\n"
     "  -b, --batch N       rows per transaction (default 10000)\n"
     "      --bulk          load in bulk whatever the file's size\n"
     "      --no-bulk       resolve batch by batch whatever the file's size\n"
     "  -q, --quiet         print warnings and the summary only\n"
     "      --rejects FILE  where rejected rows go (default: the CSV's name without\n"
     "                      .csv, plus .rejects.csv, in the current directory)\n"
     "      --max-rejected N  exit 0 when at most N rows are rejected (default 0)\n"
     "  -h, --help          this text\n",
     cmd_ingest},
    {"withdraw", "withdraw records of a source from a store by id",
     "dovetail withdraw --store FILE --source NAME --purpose P IDS.csv\n"
     "\n"
     "Withdraws the records whose ids IDS.csv lists (a CSV with a header: the column\n"
     "named like the source's id column, else the first). All or nothing: a bad\n"
     "line withdraws none. Withdrawn records stay in the store, marked. The\n"
     "source's steward's token.\n"
     "\n"
     "  -S, --store FILE    the store; required\n"
     "  -r, --source NAME   the source in the store's config; required\n"
     "  -p, --purpose P     why (recorded in the audit log); required\n"
     "  -h, --help          this text\n",
     cmd_withdraw},
    {"train", "give a store a model; resolve every stored record with it",
     "dovetail train --store FILE --purpose P [--model MODEL.json] [--labels] [--threads N]\n"
     "               [--quiet]\n"
     "\n"
     "Fits a model on the stored records (the same stages as 'dovetail link'), or\n"
     "takes the parameters of MODEL.json (written by 'link' on the same config); keeps\n"
     "it as the store's newest model version and resolves every stored record with\n"
     "it into entities. From then on each ingest resolves its records as they arrive.\n"
     "An admin's token; fitting reads only the sources whose policies allow P, and\n"
     "compares only records of sources they let link.\n"
     "\n"
     "  -S, --store FILE    the store; required\n"
     "  -p, --purpose P     why; required\n"
     "  -m, --model FILE    take the parameters from this model.json instead of fitting\n"
     "      --labels        also fit m from reviewers' decisions ('review decide'): each\n"
     "                      'same' pair's levels, EM's m counting as 50 pairs of prior\n"
     "  -t, --threads N     worker threads when fitting (default: all cores)\n"
     "  -q, --quiet         print warnings only\n"
     "  -h, --help          this text\n",
     cmd_train},
    {"report", "write a store's linkage report (one HTML file of charts)",
     "dovetail report --store FILE --purpose P --out REPORT.html\n"
     "\n"
     "Writes the store's linkage report, as 'link --report' does for a batch run: the\n"
     "model (m, u and the weight of every level; EM per training rule), the stored\n"
     "pairs' match probabilities against the thresholds, links by pair of sources,\n"
     "and entity sizes, as far as the purpose may see (entity sizes only under a\n"
     "purpose that sees the whole store). No record's id or value is in it. An\n"
     "analyst's, reviewer's or auditor's token (an admin reads no record's data);\n"
     "the file (0600) is put in place after the audit entry.\n"
     "\n"
     "  -S, --store FILE    the store; required\n"
     "  -p, --purpose P     why; required\n"
     "  -o, --out FILE      where the report goes; required\n"
     "  -h, --help          this text\n",
     cmd_report},
    {"export", "write the store's entities as source,record_id,entity_id",
     "dovetail export --store FILE --out FILE --purpose P\n"
     "\n"
     "Writes every active record the purpose may see with its entity under the\n"
     "purpose, as link's entities.csv. An analyst's or reviewer's token.\n"
     "\n"
     "  -S, --store FILE    the store; required\n"
     "  -p, --purpose P     why; required\n"
     "  -o, --out FILE      the CSV to write; required\n"
     "  -h, --help          this text\n",
     cmd_export},
    {"resolve", "find where one record would go, storing nothing",
     "dovetail resolve --store FILE --source NAME --purpose P < record.json\n"
     "\n"
     "Reads one record from standard input: a JSON object keyed by the source's own\n"
     "column names, as in its CSV (at most 1 MiB). Runs it through the same stages\n"
     "as ingest against the store and prints JSON: the entity it would join (the\n"
     "strongest candidate at or over the link threshold) and every candidate at or\n"
     "over the review threshold with its weight, probability and levels. Stores\n"
     "nothing. Candidates and levels are those the purpose may see (a level over a\n"
     "withheld column reads \"withheld\", and such a candidate shows its band, link\n"
     "or review, in place of its weight and probability). An analyst's or\n"
     "reviewer's token.\n"
     "\n"
     "  -S, --store FILE    the store; required\n"
     "  -p, --purpose P     why; required\n"
     "  -r, --source NAME   the source the record is from; required\n"
     "  -h, --help          this text\n",
     cmd_resolve},
    {"entity", "list the records of an entity, as their sources sent them",
     "dovetail entity --store FILE --purpose P ENTITY_ID\n"
     "\n"
     "Prints source, record id and the raw row (JSON) of each active record of the\n"
     "entity, one per line: the records and columns the purpose may see.\n"
     "\n"
     "  -S, --store FILE    the store; required\n"
     "  -p, --purpose P     why; required\n"
     "  -h, --help          this text\n",
     cmd_entity},
    {"migrate", "copy a store, every table as stored, into a new one (SQLite to PostgreSQL)",
     "dovetail migrate --from FILE --to URL --purpose P [--key FILE] [--quiet]\n"
     "\n"
     "Copies the store at FILE (its key file: --key or DOVETAIL_KEY_FILE) into a new\n"
     "store at URL, a postgresql:// URL of a database (or schema) that holds no store,\n"
     "e.g. postgresql:///registry?host=/run/postgresql; a PostgreSQL store may go the\n"
     "other way, to a file where no file is. Every table is copied row for row, in\n"
     "one transaction, and each table's rows counted in the copy before it commits:\n"
     "a failed or killed migrate leaves no store at URL, so run it again. Nothing is\n"
     "decrypted: records stay sealed under the same key file, with the same ids;\n"
     "principals, policies, the model, links, entities, findings and the audit log\n"
     "are the store's as they were. Stop other writers first: what they write after\n"
     "the migrate starts is not copied. An admin's token (DOVETAIL_TOKEN).\n"
     "\n"
     "The migrate's own audit entry (store.migrate, naming URL without its password)\n"
     "goes into FILE's log with a head signed over it before the copy, so the copy's\n"
     "log ends with it too: 'dovetail audit verify' passes on both and shows the same\n"
     "entries and heads. A migrate that fails adds a second entry to FILE's log,\n"
     "failed. Prints each table, its rows and seconds, on standard error.\n"
     "\n"
     "  -S, --from FILE     the store to copy (a file or a URL); required\n"
     "      --to URL        where the copy goes (a URL, or a file path); required\n"
     "  -p, --purpose P     why (recorded in the audit log); required\n"
     "  -K, --key FILE      the store's key file (default: $DOVETAIL_KEY_FILE)\n"
     "  -q, --quiet         print the summary only\n"
     "  -h, --help          this text\n",
     cmd_migrate},
    {"principal", "add, list, revoke or rotate who may use a store (admin)", PRINCIPAL_USAGE,
     cmd_principal},
    {"policy", "set or show a source's policy (its steward)", POLICY_USAGE, cmd_policy},
    {"audit", "check the audit log, prove entries, export a witness (auditor)", AUDIT_USAGE,
     cmd_audit},
    {"disclosures", "who was shown a person's records, when and why (auditor)",
     DISCLOSURES_USAGE, cmd_disclosures},
    {"purge", "erase what sources' retention periods have passed (admin, steward)", PURGE_USAGE,
     cmd_purge},
    {"serve", "serve a store's governed calls as an HTTP JSON API", SERVE_USAGE, cmd_serve},
    {"findings", "run the finding rules over a store; list, show, decide and export findings",
     FINDINGS_USAGE, cmd_findings},
    {"review", "decide whether two stored records are the same person (reviewer)",
     REVIEW_USAGE, cmd_review},
    {"calls", "list the governed calls: action, roles, what each audit entry records",
     "dovetail calls [--json]\n"
     "\n"
     "Every store command makes one or more governed calls. Each call is one row of\n"
     "one table in the library, which authenticates, authorizes and logs it: its\n"
     "action (as audit entries and disclosures name it), the roles it admits,\n"
     "whether it writes, what its audit entry records, and the command that makes\n"
     "it. Exits 1 if a row names a command this tool lacks.\n"
     "\n"
     "  -j, --json          one JSON object per line\n"
     "  -h, --help          this text\n",
     cmd_calls},
    {"version", "print the version", "dovetail version\n", cmd_version},
};
const size_t n_commands = sizeof commands / sizeof commands[0];

const command *find_command(const char *name)
{
    for (size_t i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

/* The first word of a call's command ("principal add" -> "principal"). */
static int call_is_command(const dt_call_info *call, const char *name)
{
    size_t n = strcspn(call->command, " ");
    return strlen(name) == n && strncmp(call->command, name, n) == 0;
}

void print_usage(const command *c)
{
    printf("usage: %s", c->usage);
    size_t n;
    const dt_call_info *calls = dt_calls(&n);
    for (size_t i = 0; i < n; i++)
        if (call_is_command(&calls[i], c->name))
            printf("%s  %-18s %s (%s); its audit entry records %s\n",
                   i && call_is_command(&calls[i - 1], c->name)
                       ? ""
                       : "\ngoverned calls (dovetail calls lists them all):\n",
                   calls[i].action, calls[i].is_write ? "writes" : "reads", calls[i].roles,
                   calls[i].audit);
}

static void print_main_help(FILE *f)
{
    fprintf(f, "usage: dovetail COMMAND [OPTIONS]\n\n"
               "dovetail links records about the same people across registries.\n"
               "Store commands read the principal's token from DOVETAIL_TOKEN and need\n"
               "--purpose: every use is authorized, and recorded in the audit log.\n"
               "A store's records are encrypted under its key file: give it with --key\n"
               "FILE or DOVETAIL_KEY_FILE.\n\n"
               "commands:\n");
    for (size_t i = 0; i < n_commands; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'dovetail COMMAND --help' for a command's options.\n");
}

int usage_error(const command *c, const char *msg)
{
    fprintf(stderr, "dovetail %s: %s\nusage: %s", c->name, msg, c->usage);
    return 2;
}

const char *cli_text(const char *s)
{
    static char *ring[8];
    static size_t caps[8];
    static unsigned next;
    unsigned k = next++ % 8;
    size_t n = dt_escape_controls(s, ring[k], caps[k]);
    if (n >= caps[k]) {
        char *more = realloc(ring[k], n + 1);
        if (!more) return "";
        ring[k] = more;
        caps[k] = n + 1;
        dt_escape_controls(s, ring[k], caps[k]);
    }
    return ring[k];
}

int fail(const char *cmd, const dt_error *err)
{
    fprintf(stderr, "dovetail %s: error: %s (%s)\n", cmd, cli_text(err->msg),
            dt_errname(err->code));
    return 1;
}

static int check_needs(const command *c, const cli_opts *o, int need)
{
    if ((need & NEED_STORE) && !o->store) return usage_error(c, "--store is required");
    if ((need & NEED_PURPOSE) && !o->purpose)
        return usage_error(c, "--purpose is required: every use of a store names why");
    if ((need & NEED_SOURCE) && !o->source) return usage_error(c, "--source is required");
    if ((need & NEED_CONFIG) && !o->config) return usage_error(c, "--config is required");
    if ((need & NEED_OUT) && !o->out) return usage_error(c, "--out is required");
    return 0;
}

/* Prints the store's notice (a source left out, and why) as a warning. */
static void print_notice(const dt_store *store)
{
    const char *n = dt_store_notice(store);
    if (n && *n) fprintf(stderr, "warning: %s\n", cli_text(n));
}

/* Options with no short form. */
enum { OPT_REJECTS = 1000, OPT_MAX_REJECTED, OPT_PAIRS, OPT_FINDINGS, OPT_REASON, OPT_STATE,
       OPT_LISTEN, OPT_TLS_CERT, OPT_TLS_KEY, OPT_ROUTES, OPT_RATE, OPT_MAX_CONN, OPT_TIMEOUT,
       OPT_NOTE, OPT_LIMIT, OPT_LABELS, OPT_REPORT, OPT_DECISIONS, OPT_BULK, OPT_NO_BULK,
       OPT_TO };

/* 1 when text is a whole number in [lo, hi], put in *out. */
static int long_in(const char *text, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int parse_opts(const command *c, int argc, char **argv, cli_opts *o, int need)
{
    static const struct option longs[] = {
        {"config", required_argument, 0, 'c'}, {"out", required_argument, 0, 'o'},
        {"threads", required_argument, 0, 't'}, {"model", required_argument, 0, 'm'},
        {"quiet", no_argument, 0, 'q'},         {"help", no_argument, 0, 'h'},
        {"stats", required_argument, 0, 's'},   {"json", no_argument, 0, 'j'},
        {"store", required_argument, 0, 'S'},   {"source", required_argument, 0, 'r'},
        {"from", required_argument, 0, 'S'},    {"to", required_argument, 0, OPT_TO},
        {"snapshot", no_argument, 0, 'n'},      {"batch", required_argument, 0, 'b'},
        {"purpose", required_argument, 0, 'p'}, {"admin", required_argument, 0, 'A'},
        {"role", required_argument, 0, 'R'},    {"witness", required_argument, 0, 'w'},
        {"seq", required_argument, 0, 'e'},     {"record", required_argument, 0, 'k'},
        {"entity", required_argument, 0, 'E'},
        {"rejects", required_argument, 0, OPT_REJECTS},
        {"max-rejected", required_argument, 0, OPT_MAX_REJECTED},
        {"pairs", required_argument, 0, OPT_PAIRS},
        {"findings", no_argument, 0, OPT_FINDINGS},
        {"reason", required_argument, 0, OPT_REASON},
        {"note", required_argument, 0, OPT_NOTE},
        {"limit", required_argument, 0, OPT_LIMIT},
        {"labels", no_argument, 0, OPT_LABELS},
        {"bulk", no_argument, 0, OPT_BULK},
        {"no-bulk", no_argument, 0, OPT_NO_BULK},
        {"report", required_argument, 0, OPT_REPORT},
        {"decisions", required_argument, 0, OPT_DECISIONS},
        {"listen", required_argument, 0, OPT_LISTEN},
        {"tls-cert", required_argument, 0, OPT_TLS_CERT},
        {"tls-key", required_argument, 0, OPT_TLS_KEY},
        {"routes", no_argument, 0, OPT_ROUTES},
        {"rate", required_argument, 0, OPT_RATE},
        {"max-connections", required_argument, 0, OPT_MAX_CONN},
        {"timeout", required_argument, 0, OPT_TIMEOUT},
        {"state", required_argument, 0, OPT_STATE},
        {"key", required_argument, 0, 'K'},
        {"token-out", required_argument, 0, 'T'},
        {0, 0, 0, 0},
    };
    memset(o, 0, sizeof *o);
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":c:o:t:m:s:S:r:b:p:A:R:w:e:k:E:K:T:qhjn", longs, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'S': o->store = optarg; break;
        case 'p': o->purpose = optarg; break;
        case 'A': o->admin = optarg; break;
        case 'R': o->role = optarg; break;
        case 'w': o->witness = optarg; break;
        case 'k': o->record = optarg; break;
        case 'E': o->entity = optarg; break;
        case 'K': o->key = optarg; break;
        case 'T': o->token_out = optarg; break;
        case 'e':
            o->seq = strtoll(optarg, &end, 10);
            if (*end || o->seq < 1) return usage_error(c, "--seq takes an entry number from 1");
            break;
        case 'r': o->source = optarg; break;
        case OPT_REJECTS: o->rejects = optarg; break;
        case OPT_MAX_REJECTED:
            o->max_rejected = strtoll(optarg, &end, 10);
            if (*end || !*optarg || o->max_rejected < 0)
                return usage_error(c, "--max-rejected takes a number from 0");
            break;
        case OPT_PAIRS:
            if (!strcmp(optarg, "review")) o->pairs = DT_PAIRS_REVIEW;
            else if (!strcmp(optarg, "all")) o->pairs = DT_PAIRS_ALL;
            else if (!strcmp(optarg, "none")) o->pairs = DT_PAIRS_NONE;
            else return usage_error(c, "--pairs takes none, review or all");
            break;
        case 'n': o->snapshot = 1; break;
        case OPT_FINDINGS: o->findings = 1; break;
        case OPT_REASON: o->reason = optarg; break;
        case OPT_NOTE: o->note = optarg; break;
        case OPT_LABELS: o->labels = 1; break;
        case OPT_BULK: o->bulk = 1; break;
        case OPT_NO_BULK: o->bulk = -1; break;
        case OPT_REPORT: o->report = optarg; break;
        case OPT_DECISIONS: o->decisions = optarg; break;
        case OPT_LISTEN: o->listen = optarg; break;
        case OPT_TLS_CERT: o->tls_cert = optarg; break;
        case OPT_TLS_KEY: o->tls_key = optarg; break;
        case OPT_ROUTES: o->routes = 1; break;
        case OPT_LIMIT:
            if (!long_in(optarg, 1, DT_REVIEW_MAX, &o->limit))
                return usage_error(c, "--limit takes a number of pairs, 1 to 1000");
            break;
        case OPT_RATE:
            if (!long_in(optarg, 1, 10000000, &o->rate))
                return usage_error(c, "--rate takes requests a second, from 1");
            break;
        case OPT_MAX_CONN:
            if (!long_in(optarg, 1, 100000, &o->max_connections))
                return usage_error(c, "--max-connections takes a number from 1 to 100000");
            break;
        case OPT_TIMEOUT:
            if (!long_in(optarg, 1, 86400, &o->timeout))
                return usage_error(c, "--timeout takes seconds, from 1 to 86400");
            break;
        case OPT_STATE: o->state = optarg; break;
        case OPT_TO: o->to = optarg; break;
        case 'b':
            if (!long_in(optarg, 1, 10000000, &o->batch))
                return usage_error(c, "--batch takes a number from 1 to 10000000");
            break;
        case 'c': o->config = optarg; break;
        case 'o': o->out = optarg; break;
        case 'm': o->model = optarg; break;
        case 'q': o->quiet = 1; break;
        case 's': o->stats = optarg; break;
        case 'j': o->json = 1; break;
        case 't':
            o->threads = (int)strtol(optarg, &end, 10);
            if (*end || o->threads < 1 || o->threads > 256)
                return usage_error(c, "--threads takes a number from 1 to 256");
            break;
        case 'h': print_usage(c); return -1;
        case ':': {
            char msg[128];
            snprintf(msg, sizeof msg, "option %s needs a value", argv[optind - 1]);
            return usage_error(c, msg);
        }
        default: {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown option %s", argv[optind - 1]);
            return usage_error(c, msg);
        }
        }
    }
    return check_needs(c, o, need);
}

/* Parses options, checks the positional count, loads the config. Returns
 * 0 to go on (then *cfg is set), or the exit status (-1 means --help was
 * printed: exit 0). */
static int begin(const char *name, int argc, char **argv, int n_positional, const char *what,
                 cli_opts *o, dt_config **cfg)
{
    const command *c = find_command(name);
    int rc = parse_opts(c, argc, argv, o, NEED_CONFIG | NEED_OUT);
    if (rc) return rc;
    if (argc - optind != n_positional) return usage_error(c, what);
    dt_error err;
    if (dt_config_load(o->config, cfg, &err) < 0) return fail(name, &err);
    return 0;
}

int begin_status(int rc)
{
    return rc < 0 ? 0 : rc;
}

/* ---- link ----------------------------------------------------------- */

typedef struct log_ctx {
    int quiet;
    int tty;
    int bar_shown;
} log_ctx;

static void clear_bar(log_ctx *l)
{
    if (l->bar_shown) fprintf(stderr, "\r\033[K");
    l->bar_shown = 0;
}

static void on_log(void *ctx, dt_log_level level, const char *line)
{
    log_ctx *l = ctx;
    if (level == DT_LOG_INFO && l->quiet) return;
    clear_bar(l);
    fprintf(stderr, "%s%s\n", level == DT_LOG_WARN ? "warning: " : "", cli_text(line));
}

static void on_progress(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
    log_ctx *l = ctx;
    if (!l->tty) return;
    if (total) {
        int width = 30, filled = (int)(width * (double)done / (double)total);
        fprintf(stderr, "\r\033[K%-8s [%.*s%*s] %llu/%llu", stage, filled,
                "##############################", width - filled, "",
                (unsigned long long)done, (unsigned long long)total);
    } else {
        fprintf(stderr, "\r\033[K%-8s %llu", stage, (unsigned long long)done);
    }
    l->bar_shown = 1;
}

static void print_summary(const dt_link_summary *s)
{
    static const char *const buckets[8] = {"1", "2", "3", "4", "5", "6-10", "11-100", ">100"};
    fprintf(stderr,
            "summary:\n"
            "  records          %llu\n"
            "  rejected rows    %llu\n"
            "  nulled values    %llu\n"
            "  candidate pairs  %llu\n"
            "  links            %llu\n"
            "  for review       %llu\n"
            "  entities         %llu\n"
            "  cluster sizes   ",
            (unsigned long long)s->n_records, (unsigned long long)s->n_rejected_rows,
            (unsigned long long)s->n_null_values, (unsigned long long)s->n_candidate_pairs,
            (unsigned long long)s->n_links, (unsigned long long)s->n_review,
            (unsigned long long)s->n_entities);
    for (int i = 0; i < 8; i++)
        if (s->cluster_size_hist[i])
            fprintf(stderr, " %s:%llu", buckets[i], (unsigned long long)s->cluster_size_hist[i]);
    fprintf(stderr, "\n  seconds         ");
    for (int i = 0; i < DT_N_STAGES; i++)
        fprintf(stderr, " %s %.2f", dt_stage_name(i), s->stage_seconds[i]);
    fprintf(stderr, " | total %.2f\n", s->total_seconds);
}

/* Peak resident memory of this process, in bytes (getrusage). */
static unsigned long long peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (unsigned long long)ru.ru_maxrss * 1024ULL; /* Linux reports KiB */
}

static void print_findings(const dt_findings_summary *f)
{
    fprintf(stderr, "findings:        ");
    for (int k = 0; k < DT_N_FINDING_RULES; k++) {
        if (f->ran[k]) fprintf(stderr, " %s %llu", dt_finding_rule_name(k),
                               (unsigned long long)f->per_rule[k]);
        else fprintf(stderr, " %s not run", dt_finding_rule_name(k));
    }
    fprintf(stderr, "\n  needs review %llu, withheld (death contradicted) %llu; event rows %llu: "
            "used %llu, rejected %llu, orphans %llu, undated %llu; %.2f s\n",
            (unsigned long long)f->n_needs_review, (unsigned long long)f->n_withheld,
            (unsigned long long)f->n_event_rows, (unsigned long long)f->n_events,
            (unsigned long long)f->n_rejected_events, (unsigned long long)f->n_orphan_events,
            (unsigned long long)f->n_undated_events, f->seconds);
}

static void stats_findings(FILE *f, const dt_findings_summary *s)
{
    fprintf(f, ", \"findings\": {\"seconds\": %.3f, \"needs_review\": %llu, \"withheld\": %llu, "
               "\"event_rows\": %llu, \"events\": %llu, \"rejected_events\": %llu",
            s->seconds, (unsigned long long)s->n_needs_review,
            (unsigned long long)s->n_withheld, (unsigned long long)s->n_event_rows,
            (unsigned long long)s->n_events, (unsigned long long)s->n_rejected_events);
    for (int k = 0; k < DT_N_FINDING_RULES; k++)
        if (s->ran[k]) fprintf(f, ", \"%s\": %llu", dt_finding_rule_name(k),
                               (unsigned long long)s->per_rule[k]);
    fputc('}', f);
}

static int write_stats(const char *path, const dt_link_summary *s, const dt_findings_summary *fs)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n); /* then written 0600, whole, by the library */
    if (!f) {
        perror(path);
        return 1;
    }
    fprintf(f, "{\"records\": %llu, \"rejected_rows\": %llu, \"nulled_values\": %llu, "
               "\"candidate_pairs\": %llu, \"links\": %llu, \"review\": %llu, "
               "\"entities\": %llu, \"seconds\": {",
            (unsigned long long)s->n_records, (unsigned long long)s->n_rejected_rows,
            (unsigned long long)s->n_null_values, (unsigned long long)s->n_candidate_pairs,
            (unsigned long long)s->n_links, (unsigned long long)s->n_review,
            (unsigned long long)s->n_entities);
    for (int i = 0; i < DT_N_STAGES; i++)
        fprintf(f, "\"%s\": %.3f, ", dt_stage_name(i), s->stage_seconds[i]);
    fprintf(f, "\"total\": %.3f}, \"peak_rss_bytes\": %llu", s->total_seconds,
            peak_rss_bytes());
    fputs(", \"peak_rss_bytes_by_stage\": {", f);
    for (int i = 0; i < DT_N_STAGES; i++)
        fprintf(f, "%s\"%s\": %llu", i ? ", " : "", dt_stage_name(i),
                (unsigned long long)s->stage_peak_rss[i]);
    fputs("}", f);
    if (fs) stats_findings(f, fs);
    fputs("}\n", f);
    dt_error err;
    int rc = fclose(f) == 0 ? 0 : 1;
    if (rc == 0 && dt_file_write(path, text, n, &err) < 0) rc = fail("link", &err);
    free(text);
    return rc;
}

/* --decisions FILE: a CSV with the header a,b,decision and a row per pair
 * ("source:record_id", "source:record_id", same|different). Fields are
 * plain (no quotes): a record key holding a comma cannot be written here. */
typedef struct decision_file {
    dt_label *v;
    size_t n, cap;
    char *text;
} decision_file;

static void decision_file_free(decision_file *d)
{
    free(d->v);
    free(d->text);
}

static int decision_error(const char *path, long line, const char *why)
{
    fprintf(stderr, "dovetail link: error: %s:%ld: %s\n", cli_text(path), line, why);
    return 1;
}

static int read_decisions(const char *path, decision_file *d)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "dovetail link: error: %s: %s\n", cli_text(path), strerror(errno));
        return 1;
    }
    size_t cap = 0;
    ssize_t got = getdelim(&d->text, &cap, '\0', f);
    fclose(f);
    if (got < 0) return decision_error(path, 1, "empty: the header a,b,decision is required");
    long line = 1;
    char *save = NULL;
    for (char *l = strtok_r(d->text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), line++) {
        l[strcspn(l, "\r")] = '\0';
        if (line == 1) {
            if (strcmp(l, "a,b,decision")) return decision_error(path, 1, "the header is not a,b,decision");
            continue;
        }
        char *b = strchr(l, ','), *v = b ? strchr(b + 1, ',') : NULL;
        if (!b || !v || strchr(v + 1, ','))
            return decision_error(path, line, "not three fields: a,b,decision");
        *b++ = '\0';
        *v++ = '\0';
        int same = !strcmp(v, "same");
        if (!same && strcmp(v, "different"))
            return decision_error(path, line, "the decision is 'same' or 'different'");
        if (!strchr(l, ':') || !strchr(b, ':'))
            return decision_error(path, line, "a record is written SOURCE:RECORD_ID");
        if (d->n == d->cap) {
            d->cap = d->cap ? 2 * d->cap : 64;
            dt_label *nv = realloc(d->v, d->cap * sizeof *nv);
            if (!nv) return decision_error(path, line, "out of memory");
            d->v = nv;
        }
        d->v[d->n++] = (dt_label){l, b, same};
    }
    return 0;
}

static int cmd_link(int argc, char **argv)
{
    cli_opts o;
    dt_config *cfg = NULL;
    int rc = begin("link", argc, argv, 0, "unexpected argument", &o, &cfg);
    if (rc) return begin_status(rc);
    dt_error err;
    log_ctx l = {.quiet = o.quiet, .tty = isatty(2)};
    dt_link_options opts = {.n_threads = o.threads, .out_dir = o.out, .model_path = o.model,
                            .on_log = on_log, .on_progress = on_progress, .cb_ctx = &l,
                            .rejects_path = o.rejects, .max_rejected = o.max_rejected,
                            .pairs = o.pairs, .report_path = o.report};
    decision_file dec = {0};
    if (o.decisions && read_decisions(o.decisions, &dec)) {
        decision_file_free(&dec);
        dt_config_free(cfg);
        return 1;
    }
    opts.labels = dec.v;
    opts.n_labels = dec.n;
    dt_link_summary s;
    dt_findings_summary fs;
    rc = o.findings ? dt_link_findings_run(cfg, &opts, &s, &fs, &err)
                    : dt_link_run(cfg, &opts, &s, &err);
    clear_bar(&l);
    decision_file_free(&dec);
    dt_config_free(cfg);
    if (rc < 0) return fail("link", &err);
    print_summary(&s);
    if (o.findings) print_findings(&fs);
    return o.stats ? write_stats(o.stats, &s, o.findings ? &fs : NULL) : 0;
}

/* ---- eval ----------------------------------------------------------- */

static void print_source_pair_text(const dt_eval_source_pair *p)
{
    char name[256]; /* longer source names are cut: the line stays readable */
    if (!strcmp(p->a, p->b)) snprintf(name, sizeof name, "%s", cli_text(p->a));
    else snprintf(name, sizeof name, "%s~%s", cli_text(p->a), cli_text(p->b));
    printf("  %-22s %10llu %10llu %9.4f %9.4f %9.4f%s\n", name,
           (unsigned long long)p->pairs.n_true_pairs,
           (unsigned long long)p->pairs.n_predicted_pairs, p->pairs.precision, p->pairs.recall,
           p->pairs.f1, p->is_compared ? "" : "  not compared by the mode");
}

/* Pairs within each source, then across each pair of sources, whatever
 * the mode compares: a link run shows the duplicates it left inside one
 * registry. */
static void print_source_pairs_text(const dt_eval_report *r)
{
    printf("pairs by source         true pairs  predicted precision    recall        f1\n");
    for (size_t i = 0; i < r->n_sources; i++) print_source_pair_text(&r->sources[i]);
    for (size_t i = 0; i < r->n_source_pairs; i++) print_source_pair_text(&r->source_pairs[i]);
}

static void print_calibration_text(const dt_eval_calibration *c)
{
    if (!c->has_model) {
        printf("calibration         skipped: the out dir has no model.json\n");
        return;
    }
    printf("calibration of the pairwise model over %llu candidate pairs (before clustering;\n"
           "uncertain: 0.01 < p < 0.99)\n"
           "  probability        pairs   mean p  observed\n",
           (unsigned long long)c->n_pairs);
    for (int i = 0; i < DT_EVAL_BINS; i++) {
        const dt_eval_bin *b = &c->bins[i];
        printf("  [%.1f, %.1f%c %12llu %8.4f %9.4f\n", i / 10.0, (i + 1) / 10.0,
               i == DT_EVAL_BINS - 1 ? ']' : ')', (unsigned long long)b->n_pairs,
               b->mean_probability, b->observed_rate);
    }
    printf("ece                 %.4f\n"
           "uncertain pairs     %llu\n"
           "ece uncertain       %.4f\n",
           c->ece, (unsigned long long)c->n_uncertain, c->ece_uncertain);
}

static void print_eval_text(const dt_eval_report *r)
{
    printf("records             %llu\n"
           "true pairs          %llu\n"
           "predicted pairs     %llu\n"
           "true positives      %llu\n"
           "precision           %.4f\n"
           "recall              %.4f\n"
           "f1                  %.4f\n"
           "cross-source f1     %.4f\n"
           "candidate pairs     %llu\n"
           "pair completeness   %.4f\n"
           "reduction ratio     %.6f\n"
           "bcubed precision    %.4f\n"
           "bcubed recall       %.4f\n"
           "bcubed f1           %.4f\n",
           (unsigned long long)r->n_records, (unsigned long long)r->n_true_pairs,
           (unsigned long long)r->n_predicted_pairs, (unsigned long long)r->n_true_positive,
           r->precision, r->recall, r->f1, r->cross_f1, (unsigned long long)r->n_candidate_pairs,
           r->pair_completeness, r->reduction_ratio, r->bcubed_precision, r->bcubed_recall,
           r->bcubed_f1);
    for (size_t i = 0; i < r->n_groups; i++)
        printf("bcubed f1 %-9s %.4f  (%llu records)\n", cli_text(r->groups[i].name),
               r->groups[i].bcubed_f1,
               (unsigned long long)r->groups[i].n_records);
    print_source_pairs_text(r);
    print_calibration_text(&r->calibration);
}

/* Group names come from the truth file: print them as JSON strings. C1
 * controls (U+0080..U+009F, UTF-8 C2 80..C2 9F) are escaped too: a
 * terminal may act on them as on ESC. */
void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s, next = (unsigned char)s[1];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f) printf("\\u%04x", c);
        else if (c == 0xc2 && next >= 0x80 && next <= 0x9f) printf("\\u%04x", *++s & 0xff);
        else putchar(c);
    }
    putchar('"');
}

/* The members of a source pair's object, without the braces around. */
static void print_pairs_json(const dt_eval_source_pair *p)
{
    const dt_eval_pairs *f = &p->pairs;
    printf("\"compared\": %s, \"true_pairs\": %llu, \"predicted_pairs\": %llu, "
           "\"true_positives\": %llu, \"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f",
           p->is_compared ? "true" : "false", (unsigned long long)f->n_true_pairs,
           (unsigned long long)f->n_predicted_pairs, (unsigned long long)f->n_true_positive,
           f->precision, f->recall, f->f1);
}

static void print_bins_json(const dt_eval_bin *bins)
{
    printf("[");
    for (int i = 0; i < DT_EVAL_BINS; i++)
        printf("%s{\"low\": %.1f, \"high\": %.1f, \"pairs\": %llu, \"matches\": %llu, "
               "\"mean_probability\": %.8f, \"observed_rate\": %.8f}",
               i ? ", " : "", i / 10.0, (i + 1) / 10.0, (unsigned long long)bins[i].n_pairs,
               (unsigned long long)bins[i].n_matches, bins[i].mean_probability,
               bins[i].observed_rate);
    printf("]");
}

static void print_calibration_json(const dt_eval_calibration *c)
{
    if (!c->has_model) {
        printf("{\"skipped\": \"the out dir has no model.json\"}");
        return;
    }
    printf("{\"pairs\": %llu, \"bins\": ", (unsigned long long)c->n_pairs);
    print_bins_json(c->bins);
    printf(", \"ece\": %.8f, \"uncertain_pairs\": %llu, \"uncertain_bins\": ", c->ece,
           (unsigned long long)c->n_uncertain);
    print_bins_json(c->uncertain_bins);
    printf(", \"ece_uncertain\": %.8f}", c->ece_uncertain);
}

static void print_eval_json(const dt_eval_report *r)
{
    printf("{\"records\": %llu, \"true_pairs\": %llu, \"predicted_pairs\": %llu, "
           "\"true_positives\": %llu, \"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, "
           "\"cross_precision\": %.6f, \"cross_recall\": %.6f, \"cross_f1\": %.6f, "
           "\"candidate_pairs\": %llu, \"pair_completeness\": %.6f, "
           "\"reduction_ratio\": %.8f, \"bcubed_precision\": %.6f, \"bcubed_recall\": %.6f, "
           "\"bcubed_f1\": %.6f, \"groups\": {",
           (unsigned long long)r->n_records, (unsigned long long)r->n_true_pairs,
           (unsigned long long)r->n_predicted_pairs, (unsigned long long)r->n_true_positive,
           r->precision, r->recall, r->f1, r->cross_precision, r->cross_recall, r->cross_f1,
           (unsigned long long)r->n_candidate_pairs, r->pair_completeness, r->reduction_ratio,
           r->bcubed_precision, r->bcubed_recall, r->bcubed_f1);
    for (size_t i = 0; i < r->n_groups; i++) {
        const dt_eval_group *g = &r->groups[i];
        printf("%s", i ? ", " : "");
        print_json_string(g->name);
        printf(": {\"records\": %llu, \"bcubed_precision\": %.6f, \"bcubed_recall\": %.6f, "
               "\"bcubed_f1\": %.6f}",
               (unsigned long long)g->n_records, g->bcubed_precision, g->bcubed_recall,
               g->bcubed_f1);
    }
    printf("}, \"sources\": {");
    for (size_t i = 0; i < r->n_sources; i++) {
        printf("%s", i ? ", " : "");
        print_json_string(r->sources[i].a);
        printf(": {");
        print_pairs_json(&r->sources[i]);
        printf("}");
    }
    printf("}, \"source_pairs\": [");
    for (size_t i = 0; i < r->n_source_pairs; i++) {
        printf("%s{\"a\": ", i ? ", " : "");
        print_json_string(r->source_pairs[i].a);
        printf(", \"b\": ");
        print_json_string(r->source_pairs[i].b);
        printf(", ");
        print_pairs_json(&r->source_pairs[i]);
        printf("}");
    }
    printf("], \"calibration\": ");
    print_calibration_json(&r->calibration);
    printf("}\n");
}

static int cmd_eval(int argc, char **argv)
{
    cli_opts o;
    dt_config *cfg = NULL;
    int rc = begin("eval", argc, argv, 0, "unexpected argument", &o, &cfg);
    if (rc) return begin_status(rc);
    dt_error err;
    dt_eval_report r;
    rc = dt_eval_run(cfg, o.out, &r, &err);
    dt_config_free(cfg);
    if (rc < 0) return fail("eval", &err);
    if (o.json) print_eval_json(&r);
    else print_eval_text(&r);
    dt_eval_report_fini(&r);
    return 0;
}

/* ---- explain -------------------------------------------------------- */

static void print_explain_json(const dt_explanation *ex)
{
    printf("{\"a\": ");
    print_json_string(ex->key_a);
    printf(", \"b\": ");
    print_json_string(ex->key_b);
    printf(", \"prior_weight\": %.6f, \"comparisons\": [", ex->prior_weight);
    for (size_t i = 0; i < ex->n_rows; i++) {
        const dt_explain_row *r = &ex->rows[i];
        printf("%s{\"comparison\": ", i ? ", " : "");
        print_json_string(r->comparison);
        printf(", \"a\": ");
        print_json_string(r->value_a);
        printf(", \"b\": ");
        print_json_string(r->value_b);
        printf(", \"level\": ");
        print_json_string(r->level);
        printf(", \"weight\": %.6f, \"m\": %.9g, \"u\": %.9g}", r->weight, r->m, r->u);
    }
    printf("], \"total_weight\": %.6f, \"probability\": %.6f, \"blocking_rule\": ",
           ex->total_weight, ex->probability);
    if (ex->is_candidate) print_json_string(ex->blocking_rule);
    else printf("null");
    printf("}\n");
}

static int cmd_explain(int argc, char **argv)
{
    cli_opts o;
    const command *c = find_command("explain");
    int rc = parse_opts(c, argc, argv, &o, 0);
    if (rc) return begin_status(rc);
    if (argc - optind != 2) return usage_error(c, "give two records as SOURCE:ID SOURCE:ID");
    dt_error err;
    dt_explanation *ex = NULL;
    if (o.store) {
        if (!o.purpose) return usage_error(c, "--purpose is required with --store");
        dt_store *store = NULL;
        dt_request req;
        if ((rc = open_store("explain", &o, &store, &req))) return rc;
        rc = dt_store_explain(store, &req, argv[optind], argv[optind + 1], &ex, &err);
        print_notice(store);
        dt_store_close(store);
    } else {
        if (!o.config || !o.out)
            return usage_error(c, "give --config and --out (a link run), or --store and --purpose");
        dt_config *cfg = NULL;
        if (dt_config_load(o.config, &cfg, &err) < 0) return fail("explain", &err);
        rc = dt_explain_pair(cfg, o.out, argv[optind], argv[optind + 1], &ex, &err);
        dt_config_free(cfg);
    }
    if (rc < 0) return fail("explain", &err);
    if (o.json) {
        print_explain_json(ex);
        dt_explanation_free(ex);
        return 0;
    }
    printf("A: %s\nB: %s\n\n", cli_text(ex->key_a), cli_text(ex->key_b));
    printf("%-16s %-24s %-24s %-26s %9s\n", "comparison", "A", "B", "level", "weight");
    printf("%-16s %-24s %-24s %-26s %+9.3f\n", "(prior)", "", "", "", ex->prior_weight);
    for (size_t i = 0; i < ex->n_rows; i++) {
        const dt_explain_row *r = &ex->rows[i];
        printf("%-16s %-24s %-24s %-26s %+9.3f\n", cli_text(r->comparison),
               cli_text(r->value_a), cli_text(r->value_b), cli_text(r->level), r->weight);
    }
    if (ex->is_withheld) { /* the total, probability and rule would tell the withheld values */
        printf("\nband %s\nwithheld fields were used: the purpose's policies withhold fields "
               "some comparisons read, so no total, probability or blocking rule is shown\n",
               ex->band);
        dt_explanation_free(ex);
        return 0;
    }
    printf("%-16s %-24s %-24s %-26s %+9.3f\n", "total", "", "", "", ex->total_weight);
    printf("\nprobability %.6f\n", ex->probability);
    if (ex->is_candidate) printf("blocking: paired by rule %s\n", cli_text(ex->blocking_rule));
    else printf("blocking: no rule pairs these records, so link never compares them\n");
    dt_explanation_free(ex);
    return 0;
}

/* ---- the store ------------------------------------------------------ */

/* Parses a store command's options and its positional count. Returns 0
 * to go on, else the exit status (-1: --help was printed). */
int begin_store(const char *name, int argc, char **argv, int n_positional, const char *what,
                int need, cli_opts *o)
{
    const command *c = find_command(name);
    int rc = parse_opts(c, argc, argv, o, need);
    if (rc) return rc;
    return argc - optind != n_positional ? usage_error(c, what) : 0;
}

static int cmd_init(int argc, char **argv)
{
    cli_opts o;
    int rc = begin_store("init", argc, argv, 0, "unexpected argument", NEED_STORE | NEED_CONFIG, &o);
    if (rc) return begin_status(rc);
    dt_error err;
    char token[DT_TOKEN_SIZE];
    const char *admin = o.admin ? o.admin : "admin";
    const char *key = o.key ? o.key : getenv("DOVETAIL_KEY_FILE");
    if (!key)
        return usage_error(find_command("init"), "--key FILE is required (or DOVETAIL_KEY_FILE): "
                           "the key file the store's records are encrypted under");
    int is_new_key = access(key, F_OK) != 0;
    if (dt_store_init_keyed(o.store, o.config, key, admin, token, &err) < 0)
        return fail("init", &err);
    fprintf(stderr, "created store %s for %s, encrypted under %s key file %s: keep it apart "
                    "from the store, and backed up\n"
                    "principal '%s' (admin) can use it with the token %s: it is shown this "
                    "once, and the store keeps only its hash. Set DOVETAIL_TOKEN to it.\n",
            o.store, o.config, is_new_key ? "the new" : "the", key, admin,
            o.token_out ? "in the --token-out file" : "below");
    return show_token("init", &o, token);
}

/* ingest's rejects file when none is named: like SQL*Loader's bad file,
 * the data file's name in the current directory (the data's own directory
 * may be read-only): a.csv gives a.rejects.csv. */
static char *default_rejects(const char *csv)
{
    const char *base = strrchr(csv, '/') ? strrchr(csv, '/') + 1 : csv;
    size_t n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".csv") == 0) n -= 4;
    char *out = malloc(n + sizeof ".rejects.csv");
    if (out) sprintf(out, "%.*s.rejects.csv", (int)n, base);
    return out;
}

static void print_ingest_summary(const char *path, const char *source, const dt_ingest_summary *s)
{
    fprintf(stderr,
            "ingest %s into %s:\n"
            "  rows             %llu\n"
            "  new              %llu\n"
            "  unchanged        %llu\n"
            "  changed          %llu\n"
            "  restored         %llu\n"
            "  withdrawn        %llu\n"
            "  rejected rows    %llu\n"
            "  nulled values    %llu\n"
            "  seconds          %.2f (%.0f rows/s)\n",
            path, source, (unsigned long long)s->n_rows, (unsigned long long)s->n_new,
            (unsigned long long)s->n_same, (unsigned long long)s->n_changed,
            (unsigned long long)s->n_restored, (unsigned long long)s->n_withdrawn,
            (unsigned long long)s->n_rejected, (unsigned long long)s->n_null_values, s->seconds,
            s->seconds > 0 ? (double)s->n_rows / s->seconds : 0.0);
}

/* The options of `ingest NAME=CSV...`, one per file (names[k] its source). */
static int many_opts(const cli_opts *o, int n, char **args, log_ctx *l, dt_ingest_options *opts,
                     char **names)
{
    for (int k = 0; k < n; k++) {
        char *eq = strchr(args[k], '=');
        if (!eq || eq == args[k] || !eq[1])
            return usage_error(find_command("ingest"), "with several files, give each as "
                               "NAME=CSV (or one CSV with --source NAME)");
        if (!(names[k] = strndup(args[k], (size_t)(eq - args[k])))) return -1;
        opts[k] = (dt_ingest_options){.source = names[k], .path = eq + 1,
                                      .is_snapshot = o->snapshot, .batch_rows = (size_t)o->batch,
                                      .on_log = on_log, .on_progress = on_progress, .cb_ctx = l,
                                      .max_rejected = o->max_rejected, .bulk = o->bulk};
        if (!(opts[k].rejects_path = default_rejects(eq + 1))) return -1;
    }
    return 0;
}

/* ingest NAME=CSV...: several sources' files as one load. */
static int ingest_many(const cli_opts *o, int n, char **args)
{
    if (o->rejects)
        return usage_error(find_command("ingest"), "--rejects names one file: with several, "
                           "each file's rejected rows go beside it (NAME.rejects.csv)");
    dt_ingest_options *opts = calloc((size_t)n, sizeof *opts);
    dt_ingest_summary *sums = calloc((size_t)n, sizeof *sums);
    char **names = calloc((size_t)n, sizeof *names);
    log_ctx l = {.quiet = o->quiet, .tty = isatty(2)};
    int rc = opts && sums && names ? many_opts(o, n, args, &l, opts, names) : -1;
    if (rc < 0) fprintf(stderr, "dovetail ingest: error: out of memory\n");
    dt_store *store = NULL;
    dt_request req;
    if (rc == 0) rc = open_store("ingest", o, &store, &req);
    dt_error err;
    if (rc == 0 && dt_store_ingest_many(store, &req, opts, (size_t)n, sums, &err) < 0)
        rc = fail("ingest", &err);
    clear_bar(&l);
    dt_store_close(store);
    for (int k = 0; k < n && rc == 0; k++) print_ingest_summary(opts[k].path, names[k], &sums[k]);
    for (int k = 0; opts && names && k < n; k++) {
        free(names[k]);
        free((char *)opts[k].rejects_path);
    }
    free(opts);
    free(sums);
    free(names);
    return rc < 0 ? 1 : rc;
}

static int cmd_ingest(int argc, char **argv)
{
    const command *c = find_command("ingest");
    cli_opts o;
    int rc = parse_opts(c, argc, argv, &o, NEED_STORE | NEED_PURPOSE);
    if (rc) return begin_status(rc);
    if (!o.source)
        return argc > optind && strchr(argv[optind], '=')
                   ? ingest_many(&o, argc - optind, argv + optind)
                   : begin_status(usage_error(c, "--source is required (or NAME=CSV for each "
                                                 "of several sources)"));
    if (argc - optind != 1) return begin_status(usage_error(c, "give one CSV file"));
    dt_error err;
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("ingest", &o, &store, &req))) return rc;
    log_ctx l = {.quiet = o.quiet, .tty = isatty(2)};
    char *rejects = o.rejects ? strdup(o.rejects) : default_rejects(argv[optind]);
    if (!rejects) {
        dt_store_close(store);
        fprintf(stderr, "dovetail ingest: error: out of memory\n");
        return 1;
    }
    dt_ingest_options opts = {.source = o.source, .path = argv[optind], .is_snapshot = o.snapshot,
                              .batch_rows = (size_t)o.batch, .on_log = on_log,
                              .on_progress = on_progress, .cb_ctx = &l, .rejects_path = rejects,
                              .max_rejected = o.max_rejected, .bulk = o.bulk};
    dt_ingest_summary s;
    int is_events = dt_config_is_event_source(dt_store_config(store), o.source);
    if (is_events && o.snapshot) {
        dt_store_close(store);
        free(rejects);
        return usage_error(find_command("ingest"), "--snapshot is for a person source, not "
                           "an event source");
    }
    rc = is_events ? dt_store_ingest_events(store, &req, &opts, &s, &err)
                   : dt_store_ingest(store, &req, &opts, &s, &err);
    clear_bar(&l);
    dt_store_close(store);
    free(rejects);
    if (rc < 0) return fail("ingest", &err);
    print_ingest_summary(argv[optind], o.source, &s);
    return 0;
}

static int cmd_withdraw(int argc, char **argv)
{
    cli_opts o;
    int rc = begin_store("withdraw", argc, argv, 1, "give one CSV file of ids",
                         NEED_STORE | NEED_SOURCE | NEED_PURPOSE, &o);
    if (rc) return begin_status(rc);
    dt_error err;
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("withdraw", &o, &store, &req))) return rc;
    uint64_t n_out = 0, n_unknown = 0;
    rc = dt_store_withdraw(store, &req, o.source, argv[optind], &n_out, &n_unknown, &err);
    dt_store_close(store);
    if (rc < 0) return fail("withdraw", &err);
    fprintf(stderr, "withdrew %llu records of %s; %llu ids were not stored or already out\n",
            (unsigned long long)n_out, o.source, (unsigned long long)n_unknown);
    return 0;
}

static int cmd_train(int argc, char **argv)
{
    cli_opts o;
    int rc = begin_store("train", argc, argv, 0, "unexpected argument",
                         NEED_STORE | NEED_PURPOSE, &o);
    if (rc) return begin_status(rc);
    dt_error err;
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("train", &o, &store, &req))) return rc;
    int64_t version = 0;
    log_ctx l = {.quiet = o.quiet, .tty = isatty(2)};
    dt_link_options lo = {.n_threads = o.threads, .on_log = on_log, .on_progress = on_progress,
                          .cb_ctx = &l, .use_decisions = o.labels, .model_path = o.model};
    rc = dt_store_train(store, &req, &lo, &version, &err);
    print_notice(store);
    clear_bar(&l);
    dt_store_close(store);
    if (rc < 0) return fail("train", &err);
    fprintf(stderr, "model version %lld stored; every record resolved with it\n",
            (long long)version);
    return 0;
}

static int cmd_export(int argc, char **argv)
{
    cli_opts o;
    int rc = begin_store("export", argc, argv, 0, "unexpected argument",
                         NEED_STORE | NEED_OUT | NEED_PURPOSE, &o);
    if (rc) return begin_status(rc);
    dt_error err;
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("export", &o, &store, &req))) return rc;
    uint64_t n = 0;
    rc = dt_store_export(store, &req, o.out, &n, &err);
    print_notice(store);
    dt_store_close(store);
    if (rc < 0) return fail("export", &err);
    fprintf(stderr, "wrote %llu records to %s\n", (unsigned long long)n, o.out);
    return 0;
}

/* Reads all of standard input, refusing more than max bytes.
 * OUT: *n_read, its length (a NUL inside makes it longer than strlen). */
static char *read_stdin(size_t max, int *too_big, size_t *n_read)
{
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap + 1);
    *too_big = 0;
    while (buf) {
        if (n == cap) {
            if (cap > max) break;
            char *more = realloc(buf, cap * 2 + 1);
            if (!more) break;
            buf = more;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) {
            buf[n] = '\0';
            *n_read = n;
            if (n <= max) return buf;
            break;
        }
    }
    *too_big = buf != NULL;
    free(buf);
    return NULL;
}

static void print_candidate(const dt_resolution *r, const dt_candidate *c)
{
    printf("    {\"source\": ");
    print_json_string(c->source);
    printf(", \"record_id\": ");
    print_json_string(c->record_id);
    printf(", \"entity\": ");
    print_json_string(c->entity);
    if (c->is_withheld) /* weight and probability would tell the withheld values */
        printf(", \"band\": \"%s\", \"withheld_fields_used\": true, \"levels\": {", c->band);
    else
        printf(", \"weight\": %.4f, \"probability\": %.6f, \"levels\": {", c->weight,
               c->probability);
    for (size_t k = 0; k < r->n_comparisons; k++) {
        printf("%s", k ? ", " : "");
        print_json_string(r->comparisons[k]);
        printf(": ");
        print_json_string(c->levels[k]);
    }
    printf("}}");
}

static int cmd_resolve(int argc, char **argv)
{
    cli_opts o;
    int rc = begin_store("resolve", argc, argv, 0, "the record comes on standard input",
                         NEED_STORE | NEED_SOURCE | NEED_PURPOSE, &o);
    if (rc) return begin_status(rc);
    int too_big;
    size_t n_json = 0;
    char *json = read_stdin(DT_RECORD_JSON_MAX, &too_big, &n_json);
    if (!json || strlen(json) != n_json) { /* the library would stop at the NUL */
        fprintf(stderr, "dovetail resolve: error: %s\n",
                !json ? (too_big ? "the record is over 1 MiB" : "cannot read standard input")
                      : "the record holds a NUL byte (text after it would be ignored)");
        free(json);
        return 1;
    }
    dt_error err;
    dt_store *store = NULL;
    dt_resolution *r = NULL;
    dt_request req;
    if ((rc = open_store("resolve", &o, &store, &req))) {
        free(json);
        return rc;
    }
    rc = dt_store_resolve(store, &req, o.source, json, &r, &err);
    print_notice(store);
    dt_store_close(store);
    free(json);
    if (rc < 0) return fail("resolve", &err);
    printf("{\"entity\": ");
    print_json_string(r->entity);
    printf(", \"candidates\": [");
    for (size_t i = 0; i < r->n_candidates; i++) {
        printf("%s\n", i ? "," : "");
        print_candidate(r, &r->candidates[i]);
    }
    printf("%s]}\n", r->n_candidates ? "\n  " : "");
    dt_resolution_free(r);
    return 0;
}

static int cmd_entity(int argc, char **argv)
{
    cli_opts o;
    int rc = begin_store("entity", argc, argv, 1, "give one entity id",
                         NEED_STORE | NEED_PURPOSE, &o);
    if (rc) return begin_status(rc);
    dt_error err;
    dt_store *store = NULL;
    dt_entity_record *recs = NULL;
    size_t n = 0;
    dt_request req;
    if ((rc = open_store("entity", &o, &store, &req))) return rc;
    rc = dt_store_entity(store, &req, argv[optind], &recs, &n, &err);
    print_notice(store);
    dt_store_close(store);
    if (rc < 0) return fail("entity", &err);
    for (size_t i = 0; i < n; i++)
        printf("%s:%s\t%s\n", cli_text(recs[i].source), cli_text(recs[i].record_id),
               cli_text(recs[i].raw));
    dt_entity_records_free(recs, n);
    return 0;
}

static int cmd_report(int argc, char **argv)
{
    cli_opts o;
    int rc = begin_store("report", argc, argv, 0, "unexpected argument",
                         NEED_STORE | NEED_PURPOSE, &o);
    if (rc) return begin_status(rc);
    if (!o.out) return usage_error(find_command("report"), "--out is required");
    dt_error err;
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("report", &o, &store, &req))) return rc;
    rc = dt_store_report(store, &req, o.out, &err);
    print_notice(store);
    dt_store_close(store);
    if (rc < 0) return fail("report", &err);
    fprintf(stderr, "report written to %s\n", cli_text(o.out));
    return 0;
}

static int cmd_migrate(int argc, char **argv)
{
    cli_opts o;
    const command *c = find_command("migrate");
    int rc = begin_store("migrate", argc, argv, 0, "unexpected argument", NEED_PURPOSE, &o);
    if (rc) return begin_status(rc);
    if (!o.store) return usage_error(c, "--from is required: the store to copy");
    if (!o.to) return usage_error(c, "--to is required: where the copy goes (a postgresql:// URL)");
    dt_error err;
    dt_store *store = NULL;
    dt_request req;
    if ((rc = open_store("migrate", &o, &store, &req))) return rc;
    log_ctx l = {.quiet = o.quiet, .tty = isatty(2)};
    dt_migrate_options mo = {.on_log = on_log, .on_progress = on_progress, .cb_ctx = &l};
    dt_migrate_summary s;
    rc = dt_store_migrate(store, &req, o.to, &mo, &s, &err);
    clear_bar(&l);
    dt_store_close(store);
    if (rc < 0) return fail("migrate", &err);
    fprintf(stderr, "migrated %s to %s: %llu tables, %llu rows in %.2f s; its audit log: %llu "
            "entries (this migrate's among them), %llu signed heads\n", cli_text(s.from),
            cli_text(s.to), (unsigned long long)s.n_tables, (unsigned long long)s.n_rows,
            s.seconds, (unsigned long long)s.n_entries, (unsigned long long)s.n_heads);
    return 0;
}

static int cmd_calls(int argc, char **argv)
{
    const command *c = find_command("calls");
    cli_opts o;
    int rc = parse_opts(c, argc, argv, &o, 0);
    if (rc) return begin_status(rc);
    if (argc - optind != 0) return usage_error(c, "takes no arguments");
    size_t n;
    const dt_call_info *calls = dt_calls(&n);
    int status = 0;
    for (size_t i = 0; i < n; i++) {
        const dt_call_info *k = &calls[i];
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(k->command, " "), k->command);
        if (!find_command(name)) {
            fprintf(stderr, "dovetail calls: error: %s is made by '%s', which is no command\n",
                    k->action, name);
            status = 1;
        }
        if (!o.json) {
            printf("%-18s %-6s %-22s %-18s %s\n", k->action, k->is_write ? "write" : "read",
                   k->roles, k->command, k->audit);
            continue;
        }
        printf("{\"action\": ");
        print_json_string(k->action);
        printf(", \"write\": %s, \"names_source\": %s, \"roles\": ", k->is_write ? "true" : "false",
               k->names_source ? "true" : "false");
        print_json_string(k->roles);
        printf(", \"command\": ");
        print_json_string(k->command);
        printf(", \"audit\": ");
        print_json_string(k->audit);
        printf("}\n");
    }
    return status;
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        print_usage(find_command("version"));
        return 0;
    }
    if (argc > 1) return usage_error(find_command("version"), "takes no arguments");
    printf("dovetail %s\n", dt_version());
    return 0;
}

int main(int argc, char **argv)
{
    /* A fixed threshold: glibc raises its own as large blocks are freed,
     * after which blocks of up to 32 MiB come from the heap, where freed
     * ones stay resident and grown ones are copied. Linking frees and
     * grows arrays of that size all through; fixed, they are mapped and
     * unmapped, and the peak at 1M people is 0.90 GiB, not 0.96-1.02.
     * Not lower: the reader's per-batch buffers stay on the heap. */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    if (argc < 2) {
        print_main_help(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        if (argc > 2 && find_command(argv[2])) {
            print_usage(find_command(argv[2]));
            return 0;
        }
        print_main_help(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(0, NULL);
    const command *c = find_command(argv[1]);
    if (!c) {
        fprintf(stderr, "dovetail: unknown command '%s'\n\n", argv[1]);
        print_main_help(stderr);
        return 2;
    }
    return c->run(argc - 1, argv + 1);
}
