/*
 * dovetail.h — the public API of dovetail, and its manual.
 *
 * dovetail links records about the same people across separate registries
 * (benefit rolls, payments, earnings, health enrollment, death records,
 * voter rolls) with a Fellegi–Sunter model, and clusters the links into
 * entities. This header is the only one a program embedding dovetail
 * includes; anything not declared here is internal and may change.
 *
 * Conventions (they hold for every call below):
 *   - Every fallible call returns int: DT_OK (0) or a negative DT_E* code.
 *     Its last parameter is a dt_error* (may be NULL) that receives the code,
 *     a sentence for people and, when they apply, the file, line, column or
 *     field where the fault was found.
 *   - Out-parameters are written only on success.
 *   - Whoever creates, frees. Every dt_*_free(NULL) is a no-op.
 *   - The library never prints and never exits. Warnings and progress reach
 *     the caller through the callbacks in dt_link_options.
 *   - Objects are not thread-safe unless said; distinct objects may be used
 *     from distinct threads.
 */
#ifndef DOVETAIL_H
#define DOVETAIL_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DT_API __attribute__((visibility("default")))
#else
#define DT_API
#endif

/* ------------------------------------------------------------------ */
/* Version                                                              */
/* ------------------------------------------------------------------ */

#define DT_VERSION_MAJOR 0
#define DT_VERSION_MINOR 1
#define DT_VERSION_PATCH 0
#define DT_VERSION_STRING "0.1.0"

/* The version of the library linked at run time, e.g. "0.1.0". */
DT_API const char *dt_version(void);

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

/* One list yields the enum, dt_errname() and dt_strerror(). Values never
 * change once released. */
#define DT_ERRNO_MAP(X)                                                   \
    X(OK, 0, "success")                                                   \
    X(ENOMEM, -1, "out of memory")                                        \
    X(EINVAL, -2, "invalid argument")                                     \
    X(EIO, -3, "input/output error")                                      \
    X(EINPUT, -4, "malformed input data")                                 \
    X(ECONFIG, -5, "invalid configuration")                               \
    X(ENOTFOUND, -6, "not found")                                         \
    X(EMODEL, -7, "model cannot be trained or loaded")                    \
    X(EINTERNAL, -8, "internal error")                                    \
    X(ELIMIT, -9, "work over a configured or memory limit")                \
    X(EAUTH, -10, "not authenticated")                                     \
    X(EDENIED, -11, "not allowed")                                        \
    X(ESTATE, -12, "not allowed in the current state")                    \
    X(EBUSY, -13, "the store is busy with another writer")

typedef enum dt_errcode {
#define DT_ERRNO_ENUM_(name, value, text) DT_##name = (value),
    DT_ERRNO_MAP(DT_ERRNO_ENUM_)
#undef DT_ERRNO_ENUM_
} dt_errcode;

/* Where an error was found and what it was. Fill-in by the library;
 * zero-initialise before use (or call dt_error_clear). Fields that do not
 * apply are empty strings or 0. */
typedef struct dt_error {
    int code;         /* DT_OK or a DT_E* value */
    char msg[1024];   /* a full sentence, already prefixed with file:line:column
                         when those apply */
    char file[512];   /* input file the fault is in, or "" */
    long line;        /* 1-based line in file, or 0 */
    long column;      /* 1-based column (bytes) in that line, or 0 */
    char field[128];  /* config key or record field concerned, or "" */
} dt_error;

/* Symbolic name of a code, e.g. "DT_EINPUT"; "DT_EUNKNOWN" for others. */
DT_API const char *dt_errname(int code);
/* A short description of a code, e.g. "malformed input data". */
DT_API const char *dt_strerror(int code);
/* Resets *err to "no error". NULL is a no-op. */
DT_API void dt_error_clear(dt_error *err);

/* Copies s into out (cap bytes, always NUL-terminated when cap > 0) with
 * every control character written as \xHH: C0 (below 0x20), DEL, C1
 * (U+0080..U+009F) and any byte that is not valid UTF-8; other text,
 * backslashes included, is copied as it is, so escaping twice changes
 * nothing. A result cut to fit ends on a whole character or escape.
 * Returns the length of the whole result (as snprintf does). Messages in
 * dt_error.msg are already escaped this way; use it for data shown on a
 * terminal (record ids, names). Thread-safe. */
DT_API size_t dt_escape_controls(const char *s, char *out, size_t cap);

/* ------------------------------------------------------------------ */
/* Memory                                                               */
/* ------------------------------------------------------------------ */

/* Frees memory the library returned as a non-const pointer. NULL is a
 * no-op. */
DT_API void dt_free(void *p);
/* Where one of dovetail's data files is (NAME under data/ in the source
 * tree, share/dovetail/ when installed: the nickname table, the review
 * page's files), whether or not it is there; dt_free it. NULL: out of
 * memory. */
DT_API char *dt_data_path(const char *name);

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

/* A linkage configuration: sources, fields, blocking rules, comparisons,
 * model settings, thresholds, truth (for eval). See README.md for the
 * format. Immutable after loading; may be shared between threads. */
typedef struct dt_config dt_config;

/* Loads and validates a YAML configuration. Relative paths inside it are
 * resolved against the directory of `path`. Unknown keys and bad values
 * are DT_ECONFIG with err->file/line/column set.
 * OUT: *out receives a config to release with dt_config_free(). */
DT_API int dt_config_load(const char *path, dt_config **out, dt_error *err);
DT_API void dt_config_free(dt_config *cfg);

/* ------------------------------------------------------------------ */
/* Batch linkage                                                        */
/* ------------------------------------------------------------------ */

typedef enum dt_log_level { DT_LOG_INFO = 0, DT_LOG_WARN = 1 } dt_log_level;

/* Receives one line of information or warning, without trailing newline.
 * Called from the calling thread only. */
typedef void (*dt_log_fn)(void *ctx, dt_log_level level, const char *line);
/* Receives progress of a stage: `done` of `total` units ("records",
 * "pairs"). Called from the calling thread only, at most ~20 times/s. */
typedef void (*dt_progress_fn)(void *ctx, const char *stage, uint64_t done,
                               uint64_t total);

/* Which pair files dt_link_run writes (entities.csv, clusters.csv,
 * weak_links.csv and model.json are always written). A pair file this run
 * does not write is removed from out_dir, so none from an earlier run can
 * pass for this run's. */
typedef enum dt_pairs_output {
    DT_PAIRS_REVIEW = 0, /* review.csv only: the possible matches a person decides (default) */
    DT_PAIRS_NONE = 1,   /* neither file */
    DT_PAIRS_ALL = 2     /* review.csv and pairs.csv, every pair at or above the review
                            threshold (about 100 bytes per linked pair: 1.3 GB at 1M people) */
} dt_pairs_output;

typedef struct dt_link_options {
    int n_threads;            /* worker threads for compare and score; 0: all cores */
    const char *out_dir;      /* directory for the output files (review.csv, entities.csv,
                                 clusters.csv, weak_links.csv, model.json, and pairs.csv
                                 when pairs is DT_PAIRS_ALL); created if missing. Required. */
    const char *model_path;   /* load parameters from this model.json instead of
                                 training; NULL: train */
    dt_log_fn on_log;         /* may be NULL */
    dt_progress_fn on_progress; /* may be NULL */
    void *cb_ctx;             /* passed to both callbacks */
    const char *rejects_path; /* where rejected rows go (see "Rejected rows" below);
                                 NULL: out_dir/rejects.csv (one an earlier run left
                                 there is removed in any case) */
    int64_t max_rejected;     /* rows that may be rejected and the run go on; 0: none
                                 (one rejected row fails the run with DT_EINPUT before
                                 anything is linked); negative: any number */
    dt_pairs_output pairs;    /* which pair files to write; 0 (DT_PAIRS_REVIEW): review.csv */
    const struct dt_label *labels; /* pairs a person labelled, to fit m from (with EM's as a
                                      prior); NULL: none */
    size_t n_labels;
    int use_decisions;        /* dt_store_train: the store's review decisions as labels */
    const char *report_path;  /* dt_link_run: write the linkage report here (one HTML file:
                                 the model, blocking, probabilities, clusters, links by
                                 pair of sources, weak links; no record's id or value);
                                 NULL: none */
} dt_link_options;

/* A pair a person labelled: records a and b ("source:record_id") are the
 * same person (same 1) or not (0). Training refits each comparison's m
 * from the "same" pairs' levels, EM's m counting as DT_LABEL_PRIOR pairs
 * of prior evidence: m[l] = (n_l + DT_LABEL_PRIOR m_em[l]) / (n + DT_LABEL_PRIOR). */
typedef struct dt_label {
    const char *a, *b;
    int same;
} dt_label;
enum { DT_LABEL_PRIOR = 50 };

/* Rejected rows. A row is rejected when it is structurally broken (a quote
 * never closed, text after a closing quote, a NUL byte, over 16 MiB), has
 * the wrong number of fields, an empty record id, or repeats an id an
 * earlier row of its file has. Each rejected row is counted, reported
 * through on_log with its file and every line it took (a quote never
 * closed may take thousands), and written to the rejects file: a CSV
 * created with mode 0600 at the first rejected row (truncating what was
 * there), with the header file,line,last_line,reason,row where `row` is
 * the row's bytes exactly as read (without its final line end, quoted,
 * quotes doubled; NUL bytes too, so a reader may need to allow them). A
 * row over 64 MiB keeps its first 64 MiB there, and the warning says so.
 * When more rows are rejected than max_rejected allows, the call fails
 * with DT_EINPUT naming the rejects file. */

/* The stages of a run, in order: "read" (parse and standardize), "index"
 * (sort records, code each distinct value), "block", "compare", "train",
 * "score", "cluster", "write". */
#define DT_N_STAGES 8
DT_API const char *dt_stage_name(int i_stage);

typedef struct dt_link_summary {
    uint64_t n_records;          /* records kept, all sources */
    uint64_t n_rejected_rows;    /* structurally broken rows, all sources */
    uint64_t n_null_values;      /* values that became null (bad date, bad id...) */
    uint64_t n_candidate_pairs;  /* distinct pairs compared */
    uint64_t n_links;            /* pairs at or above the link threshold kept */
    uint64_t n_review;           /* pairs between the review and link thresholds */
    uint64_t n_entities;         /* clusters, singletons included */
    uint64_t cluster_size_hist[8]; /* entities of size 1,2,3,4,5,6-10,11-100,>100 */
    double stage_seconds[DT_N_STAGES]; /* wall time per stage, dt_stage_names order */
    double total_seconds;
    uint64_t stage_peak_rss[DT_N_STAGES]; /* the process's peak resident bytes at the end of
                                             each stage (0: unknown): where memory peaks */
} dt_link_summary;

/* Runs the whole batch path: read every source, standardize, block,
 * compare, train (or load) the model, score, cluster, write outputs into
 * opts->out_dir. Output is identical for any n_threads and any order of
 * input rows.
 * OUT: *summary (may be NULL). */
DT_API int dt_link_run(const dt_config *cfg, const dt_link_options *opts,
                       dt_link_summary *summary, dt_error *err);

/* ------------------------------------------------------------------ */
/* Findings (README, "Findings")                                         */
/* ------------------------------------------------------------------ */

/* Rules, in this order: payment_after_death, death_contradicted,
 * duplicate_enrollment, shared_identifier. */
#define DT_N_FINDING_RULES 4
/* "payment_after_death", ...; NULL outside 0..DT_N_FINDING_RULES-1. */
DT_API const char *dt_finding_rule_name(int rule);

typedef struct dt_findings_summary {
    uint64_t n_findings;
    uint64_t per_rule[DT_N_FINDING_RULES];
    int ran[DT_N_FINDING_RULES];   /* 0: the config lacks what the rule needs (the log says what) */
    uint64_t n_needs_review;       /* resting on a link under findings: review_below */
    uint64_t n_withheld;           /* payment_after_death not raised: the death is contradicted */
    uint64_t n_identifier_typos;   /* shared_identifier not raised: one record's identifier is a
                                      typo of its own person's (another entity, one keystroke away) */
    uint64_t n_event_rows;         /* rows read from the event sources */
    uint64_t n_events;             /* used: joined to a record, with a date, id not repeated */
    uint64_t n_rejected_events;    /* broken, wrong field count, empty or repeated id, bad amount */
    uint64_t n_orphan_events;      /* their key is no record of their source */
    uint64_t n_undated_events;     /* no date the format reads */
    double seconds;                /* reading events, the rules and writing, after linking */
} dt_findings_summary;

/* dt_link_run, then the config's finding rules (config findings:) over its
 * entities: writes findings.csv and findings.json into opts->out_dir
 * beside the other outputs. Every finding is a proposal for a person to
 * verify: "open", or "needs-review" when a link it rests on is under
 * findings: review_below. DT_ECONFIG when the config has no findings:.
 * OUT: *summary (may be NULL), *findings. */
DT_API int dt_link_findings_run(const dt_config *cfg, const dt_link_options *opts,
                                dt_link_summary *summary, dt_findings_summary *findings,
                                dt_error *err);

/* ------------------------------------------------------------------ */
/* Evaluation against the configuration's truth                         */
/* ------------------------------------------------------------------ */

/* B-cubed scores of the records of one truth group (e.g. a name culture),
 * from the optional fourth column `group` of a truth file. */
typedef struct dt_eval_group {
    char *name;
    uint64_t n_records;
    double bcubed_precision, bcubed_recall, bcubed_f1;
} dt_eval_group;

/* Pairwise figures over one kind of pair: true pairs share a truth
 * entity, predicted pairs an entity of entities.csv. */
typedef struct dt_eval_pairs {
    uint64_t n_true_pairs, n_predicted_pairs, n_true_positive;
    double precision, recall, f1;
} dt_eval_pairs;

/* The pairs of one record from source a and one from source b (a == b:
 * two records of one source, duplicates within a registry). */
typedef struct dt_eval_source_pair {
    char *a, *b;                  /* source names; freed by dt_eval_report_fini */
    int is_compared;              /* 0: the config's mode never compares these pairs
                                     (within-source in link, cross-source in dedupe),
                                     so what they miss is what the mode left out */
    dt_eval_pairs pairs;
} dt_eval_source_pair;

#define DT_EVAL_BINS 10

/* Candidate pairs whose predicted probability p falls in [i/10, (i+1)/10)
 * (the last bin holds p = 1 too). */
typedef struct dt_eval_bin {
    uint64_t n_pairs;
    uint64_t n_matches;           /* pairs with one truth entity */
    double sum_probability;       /* sum of p over the bin's pairs */
    double mean_probability;      /* sum_probability / n_pairs (0 when empty) */
    double observed_rate;         /* n_matches / n_pairs (0 when empty) */
} dt_eval_bin;

/* Calibration of the pairwise model, before clustering: every candidate
 * pair blocking yields, scored with the run's model.json as link scores it
 * (pairs a cannot-link rule keeps apart count with their model
 * probability). ECE = sum over bins of n_b / N * |mean_b - observed_b|. */
typedef struct dt_eval_calibration {
    int has_model;                /* 0: the out dir has no model.json; nothing below is set */
    uint64_t n_pairs;             /* candidate pairs scored (the bins' sum) */
    dt_eval_bin bins[DT_EVAL_BINS];
    double ece;
    uint64_t n_uncertain;         /* pairs with 0.01 < p < 0.99 */
    dt_eval_bin uncertain_bins[DT_EVAL_BINS]; /* the same binning over those only */
    double ece_uncertain;         /* ECE over the uncertain pairs */
} dt_eval_calibration;

typedef struct dt_eval_report {
    uint64_t n_records;
    uint64_t n_true_pairs;        /* matching pairs in truth (allowed by mode) */
    uint64_t n_predicted_pairs;   /* pairs entities.csv puts in one entity */
    uint64_t n_true_positive;
    double precision, recall, f1; /* pairwise, over entities.csv */
    double cross_precision, cross_recall, cross_f1; /* the same over pairs from two
                                     different sources only */
    uint64_t n_candidate_pairs;   /* pairs blocking produces */
    uint64_t n_candidate_true;    /* true pairs among them */
    double pair_completeness;     /* n_candidate_true / n_true_pairs */
    double reduction_ratio;       /* 1 - candidates / all comparable pairs */
    double bcubed_precision, bcubed_recall, bcubed_f1;
    size_t n_groups;              /* 0 unless the truth file has a group column */
    dt_eval_group *groups;        /* sorted by name; freed by dt_eval_report_fini */
    size_t n_sources;
    dt_eval_source_pair *sources; /* per source in config order, within-source pairs (a == b) */
    size_t n_source_pairs;
    dt_eval_source_pair *source_pairs; /* per unordered pair of sources, a before b in config
                                     order */
    dt_eval_calibration calibration;
} dt_eval_report;

/* Frees what a report owns (groups, sources, source pairs). NULL is a no-op. */
DT_API void dt_eval_report_fini(dt_eval_report *report);

/* Scores out_dir/entities.csv against the config's `truth:` section:
 * pairwise figures over the pairs the mode compares, over cross-source
 * pairs, per source and per pair of sources (whatever the mode); B-cubed.
 * Re-runs blocking to measure pair completeness and, when out_dir holds a
 * model.json, the calibration of the model's probabilities.
 * OUT: *report. */
DT_API int dt_eval_run(const dt_config *cfg, const char *out_dir,
                       dt_eval_report *report, dt_error *err);

/* ------------------------------------------------------------------ */
/* Explanation of one pair                                              */
/* ------------------------------------------------------------------ */

typedef struct dt_explain_row {
    char *comparison;   /* comparison name (usually the field) */
    char *value_a;      /* normalized value(s) on side A, "" if null */
    char *value_b;
    char *level;        /* label of the level that held, e.g. "jaro_winkler>=0.92" */
    double weight;      /* log2 Bayes factor the level adds (TF-adjusted) */
    double m, u;        /* parameters behind it (u is TF-adjusted when applied) */
} dt_explain_row;

typedef struct dt_explanation {
    char *key_a, *key_b;   /* "source:record_id" */
    double prior_weight;   /* log2(lambda / (1 - lambda)) */
    double total_weight;   /* prior + sum of row weights */
    double probability;
    size_t n_rows;
    dt_explain_row *rows;
    int is_candidate;      /* 1 if some blocking rule pairs them */
    char *blocking_rule;   /* first rule that pairs them, "" if none */
    const char *band;      /* "link", "review" or "none" (not paired, or below review):
                              static text, not freed */
    int is_withheld;       /* 1: a purpose's policy withholds a field some comparison reads,
                              so its row is left out and total_weight, probability,
                              is_candidate and blocking_rule are not given (0, 0, 0, ""):
                              they would tell the withheld value; band still says where
                              the pair falls */
} dt_explanation;

/* Compares two records ("source:record_id" each) with the model saved in
 * out_dir/model.json and says why they would or would not link.
 * OUT: *out, released with dt_explanation_free(). */
DT_API int dt_explain_pair(const dt_config *cfg, const char *out_dir, const char *key_a,
                           const char *key_b, dt_explanation **out, dt_error *err);
DT_API void dt_explanation_free(dt_explanation *ex);
/* ex as JSON text: a, b, band, blocking_rule, withheld, rows (comparison,
 * a, b, level, weight), and probability unless withheld. dt_free it;
 * NULL: out of memory. */
DT_API char *dt_explanation_json(const dt_explanation *ex);

/* Writes n bytes as the whole file at path: created 0600 (whatever the
 * umask) under an unpredictable temporary name beside path, never
 * following a planted link, then renamed over path. Every file the
 * library writes is made this way; tools use it for theirs. */
DT_API int dt_file_write(const char *path, const void *data, size_t n, dt_error *err);

/* ------------------------------------------------------------------ */
/* The store: records kept between runs                                 */
/* ------------------------------------------------------------------ */

/* Who asks, and why. Every store call that reads or writes takes one:
 * the principal's token (the CLI reads DOVETAIL_TOKEN) and a purpose
 * (e.g. "payment-integrity"; 1 to 64 of a-z, 0-9, '.', '_', '-'). There is
 * no default purpose. Each call is authorized by the principal's role and
 * the sources' policies for that purpose, and appends one entry to the
 * store's audit log, allowed or denied, durable before the call returns.
 * A denial is DT_EDENIED; a bad or revoked token DT_EAUTH. */
typedef struct dt_request {
    const char *token;
    const char *purpose;
} dt_request;

/* A token as shown once: "dt_" and 64 hex digits, and the NUL. */
#define DT_TOKEN_SIZE 68

/* A persistent store (SQLite by default) holding a configuration and every
 * record ingested under it: the raw row as sent, beside its normalized
 * values. One writer at a time; a second gets a clear DT_EIO. */
typedef struct dt_store dt_store;

/* Creates a store at store_path for the configuration at config_path (its
 * text is kept in the store; relative paths in it resolve against its
 * directory), with its first principal, `admin_name` (role admin), whose
 * token is written to admin_token: it is shown this once and stored only
 * as its SHA-256. Fails if a file is already at store_path.
 *
 * Encryption at rest: the store's record contents (raw rows, standardized
 * values, the model's term frequencies) are sealed with XChaCha20-Poly1305
 * and its blocking index holds keyed hashes, under the key file at
 * key_path: 32 random bytes as 64 hex digits, mode 0600, kept apart from
 * the store (and backed up: without it the store cannot be read). The
 * audit log's signing key is derived from it too and never stored. When
 * no file is at key_path, init creates one; an existing one is used (one
 * key file may serve several stores). A key file other users may read is
 * refused. The store file and its -wal and -shm are created 0600.
 * key_path NULL: the environment variable DOVETAIL_KEY_FILE names it;
 * neither is DT_EINVAL. */
DT_API int dt_store_init_keyed(const char *store_path, const char *config_path,
                               const char *key_path, const char *admin_name,
                               char admin_token[DT_TOKEN_SIZE], dt_error *err);
/* dt_store_init_keyed with key_path NULL (DOVETAIL_KEY_FILE). */
DT_API int dt_store_init(const char *store_path, const char *config_path,
                         const char *admin_name, char admin_token[DT_TOKEN_SIZE], dt_error *err);
/* Opens a store with the key file it was made with (key_path; NULL:
 * DOVETAIL_KEY_FILE). A different key file is DT_EAUTH; a store made
 * before encryption at rest (schema 5 or older) is refused (DT_EIO) with
 * what to do: init a new store and ingest its sources again.
 * OUT: *out, released with dt_store_close(). */
DT_API int dt_store_open_keyed(const char *store_path, const char *key_path, dt_store **out,
                               dt_error *err);
/* dt_store_open_keyed with key_path NULL (DOVETAIL_KEY_FILE). */
DT_API int dt_store_open(const char *store_path, dt_store **out, dt_error *err);
DT_API void dt_store_close(dt_store *store);
/* A group committer: the audit entries of the handles that use one become
 * durable together, many requests' entries in one transaction, one fsync
 * and one signed head, where a handle alone pays one each (a server's
 * workers share one). A request's reply still waits for its own entry.
 * An entry that must commit with the write it records (a policy, a
 * principal, a finding's step) commits on the handle's own connection as
 * before. The committer holds its own handle on the store; close it after
 * every handle that uses it. OUT: *out. */
typedef struct dt_committer dt_committer;
DT_API int dt_committer_open(const char *store_path, const char *key_path, dt_committer **out,
                             dt_error *err);
DT_API void dt_committer_close(dt_committer *c);
/* From now on, store's lone entries go through c (NULL: its own commits
 * again). c must be of the same store file (DT_EINVAL). Not to be called
 * while store is in a call. */
DT_API int dt_store_use_committer(dt_store *store, dt_committer *c, dt_error *err);
/* What a committer has done: groups committed, entries in them, groups
 * by size (bucket i: up to 2^i entries; the last: more), the times it
 * reset the WAL to keep it short, and how long those resets stopped the
 * commits (in all, and the longest), in microseconds. */
enum { DT_GROUP_BUCKETS = 8 };
typedef struct dt_group_stats {
    uint64_t commits, entries;
    uint64_t sizes[DT_GROUP_BUCKETS];
    uint64_t wal_resets, reset_pause_us, reset_pause_max_us;
} dt_group_stats;
DT_API void dt_committer_stats(dt_committer *c, dt_group_stats *out);
/* Writes the linkage report of the store (as dt_link_options.report_path
 * does for a batch run) to out_path: the model, the stored pairs' match
 * probabilities, links by pair of sources, entity sizes; what the purpose
 * may see only (entity sizes only under a view of the whole store), and
 * no record's id or value. Put in place after the audit entry. */
DT_API int dt_store_report(dt_store *store, const dt_request *req, const char *out_path,
                           dt_error *err);
/* The configuration kept in the store; owned by the store. */
DT_API const dt_config *dt_store_config(const dt_store *store);

/* Moving a store: dt_store_migrate copies every table of the store, row
 * for row, into a new store at `to`: a postgresql:// (or postgres://) URL
 * of a database or schema holding no store, or a file path where no file
 * is (so PostgreSQL to SQLite, and SQLite to another file, work too). An
 * admin's call. Nothing is opened or sealed again: record contents stay
 * the ciphertext they were, under the same ids, so the key file that
 * opened `store` opens the copy; the principals (tokens as their hashes),
 * policies, model, links, entities, decisions, events, findings, blocking
 * index and settings are the store's as they were.
 *
 * The audit log: the call's entry (store.migrate, naming the copy by its
 * URL without a password) is appended to `store`'s log and a head signed
 * over it before the copy starts, so the copy's log is the source's to
 * that entry, head for head: `dovetail audit verify` passes on both and
 * shows the same heads. A copy that fails then appends a second entry to
 * `store`'s log, "failed".
 *
 * The source is read in one snapshot; writes made to it meanwhile are not
 * in the copy (stop other writers first). The copy is written in one
 * transaction, in which its tables are made, so a failed or killed
 * migration leaves no store: nothing in PostgreSQL; for a file, a failed
 * one removes it and a killed one leaves an empty file, which a second
 * migration to that path refuses (remove it). Before the commit each
 * table of the copy is counted against the source's.
 *
 * Errors: a store already at `to` is DT_EIO ("a dovetail store is already
 * there", or "a file is already there"), as is a database that cannot be
 * reached; `to` with a scheme other than postgresql:// is DT_EINVAL; a
 * principal other than an admin DT_EDENIED (logged). Messages name the
 * copy without its password. opts may be NULL; store serves no other call
 * meanwhile (a server's handles cannot: its route answers 501). OUT: *out
 * (written on success only). */
typedef struct dt_migrate_options {
    dt_log_fn on_log;           /* a line a table copied (name, rows, seconds), and one for the
                                   keys and indexes made at the end; may be NULL */
    dt_progress_fn on_progress; /* stage: the table being copied; may be NULL */
    void *cb_ctx;
} dt_migrate_options;
typedef struct dt_migrate_summary {
    uint64_t n_tables, n_rows;  /* copied */
    uint64_t n_entries;         /* the copy's audit log: entries (this call's included) */
    uint64_t n_heads;           /* and signed heads */
    double seconds;
    char from[512], to[512];    /* the store and its copy as messages name them: a URL
                                   without its password */
} dt_migrate_summary;
DT_API int dt_store_migrate(dt_store *store, const dt_request *req, const char *to,
                            const dt_migrate_options *opts, dt_migrate_summary *out,
                            dt_error *err);

typedef struct dt_ingest_options {
    const char *source;         /* the config's name for the source; required */
    const char *path;           /* the CSV file to read; required */
    int is_snapshot;            /* 1: the file is the source's full content, so its stored
                                   records missing from the file are withdrawn */
    size_t batch_rows;          /* rows per transaction; 0: 10,000 */
    dt_log_fn on_log;           /* may be NULL */
    dt_progress_fn on_progress; /* may be NULL */
    void *cb_ctx;
    const char *rejects_path;   /* where rejected rows go ("Rejected rows" above); NULL:
                                   nowhere, they are counted and reported only */
    int64_t max_rejected;       /* rows that may be rejected and the call succeed; 0: none;
                                   negative: any. The accepted rows are stored either way */
    int bulk;                   /* 1: load in bulk (one transaction, then the batch stages
                                   over the store); -1: batch by batch; 0: in bulk when the
                                   file has DT_BULK_MIN_ROWS rows or more and at least an
                                   eighth of the records stored. Only a store with a model
                                   resolves, so only there does it matter */
} dt_ingest_options;

enum { DT_BULK_MIN_ROWS = 20000 };

typedef struct dt_ingest_summary {
    uint64_t n_rows;        /* rows accepted from the file */
    uint64_t n_new;         /* record ids seen for the first time */
    uint64_t n_same;        /* rows identical to what the store holds */
    uint64_t n_changed;     /* rows that differ: stored as a new version */
    uint64_t n_restored;    /* withdrawn records sent again */
    uint64_t n_withdrawn;   /* records a snapshot left out */
    uint64_t n_rejected;    /* rows rejected (broken, empty or repeated id) */
    uint64_t n_null_values; /* values that could not be standardized */
    double seconds;
} dt_ingest_summary;

/* Reads a CSV of one source into the store, one transaction per batch:
 * a killed ingest keeps whole batches only, and running it again finishes
 * the job (rows already stored count as n_same). Rejected rows are
 * handled as for link ("Rejected rows"): more than opts->max_rejected is
 * DT_EINPUT after the accepted rows are stored. A snapshot with any
 * rejected row withdraws nothing (the rejected rows' records would look
 * absent) and is DT_EINPUT whatever max_rejected says; fix the rows and
 * ingest the file again. A value that is not valid UTF-8 is standardized
 * as Latin-1, and its raw value is kept as {"latin1": TEXT}: TEXT encoded
 * as Latin-1 gives the bytes the source sent. OUT: *summary (may be
 * NULL). */
DT_API int dt_store_ingest(dt_store *store, const dt_request *req, const dt_ingest_options *opts,
                           dt_ingest_summary *summary, dt_error *err);

/* Reads n CSVs, opts[k] naming file k's source (each a person source, no
 * two the same), as one load. In bulk (opts[0].bulk, or by default when
 * their rows together are DT_BULK_MIN_ROWS or more and at least an eighth
 * of the records stored, in a store with a model): one transaction for
 * every file, resolved once, so a first load of several registries blocks,
 * scores and clusters the store once, not once per file; a crash leaves
 * the store as before. Otherwise the files one after another, as
 * dt_store_ingest each. One audit entry names every source; a steward must
 * steward each. opts[0] decides bulk; the other options are each file's.
 * OUT: summaries[k] for file k. */
DT_API int dt_store_ingest_many(dt_store *store, const dt_request *req,
                                const dt_ingest_options *opts, size_t n,
                                dt_ingest_summary *summaries, dt_error *err);

/* Withdraws the records of `source` whose ids are listed in ids_path (a CSV
 * with a header; the column named like the source's id column, else the
 * first). OUT: *n_withdrawn, *n_unknown (ids not stored or already out). */
DT_API int dt_store_withdraw(dt_store *store, const dt_request *req, const char *source, const char *ids_path,
                             uint64_t *n_withdrawn, uint64_t *n_unknown, dt_error *err);

/* What a purge erased from one source. */
typedef struct dt_purge_count {
    char *source;
    long retention_days;    /* its policy's retention period; 0: it keeps all */
    uint64_t records;       /* records erased whole (their newest version was due) */
    uint64_t versions;      /* earlier versions erased of records kept */
    uint64_t events;        /* rows of its event sources (findings: events:) erased */
} dt_purge_count;

typedef struct dt_purge_report {
    dt_purge_count *sources; /* one per config source the caller may see */
    size_t n_sources;
} dt_purge_report;

/* Erases every record version whose source's retention period (policy
 * retention_days, counted from the version's arrival) has passed, in one
 * transaction with an audit entry that names each record touched. Every
 * request does the same first by itself (as principal
 * "dovetail:retention"), so this only chooses when the work is done.
 * Admins and stewards. The audit log is never erased. OUT: *out
 * (dt_purge_report_free it): a row per config source for an admin; for a
 * steward, rows of the sources it stewards only. */
DT_API int dt_store_purge(dt_store *store, const dt_request *req, dt_purge_report *out,
                          dt_error *err);
DT_API void dt_purge_report_free(dt_purge_report *r);

/* Stores the parameters of a model.json (trained by `link` on the same
 * config) as the store's newest model version, then resolves every stored
 * record with it. Later ingests resolve their records as they arrive.
 * OUT: *version. */
DT_API int dt_store_import_model(dt_store *store, const dt_request *req, const char *model_path, int64_t *version,
                                 dt_error *err);
/* Fits a model on the store's active records through the batch stages
 * (read from the store, block, compare, EM: the same path as link), keeps
 * it as the newest version, and resolves every record with it. opts gives
 * threads and callbacks (out_dir is ignored; may be NULL); with its
 * model_path set, this is dt_store_import_model with opts's callbacks;
 * its log lines name no record's value (an over-cap block is counted, its
 * key not shown). OUT: *version. */
DT_API int dt_store_train(dt_store *store, const dt_request *req, const dt_link_options *opts, int64_t *version,
                          dt_error *err);
/* Writes source,record_id,entity_id for every active record, as link's
 * entities.csv (rows in source, record id order). The file is put in place
 * only after the audit entry is durable; a file that cannot be written is
 * logged "failed". OUT: *n_rows (may be NULL). */
DT_API int dt_store_export(dt_store *store, const dt_request *req, const char *out_path, uint64_t *n_rows,
                           dt_error *err);

/* A stored record that a resolved record would link to. */
typedef struct dt_candidate {
    char *source, *record_id;
    char *entity;          /* its entity, "" if none */
    double weight, probability;
    char **levels;         /* per comparison (dt_resolution.comparisons): the level that held */
    const char *band;      /* "link" or "review": static text, not freed */
    int is_withheld;       /* 1: the purpose's policy for the candidate's source withholds a
                              field some comparison reads, so weight and probability are not
                              given (0) and that comparison's level reads "withheld": they
                              would tell the withheld value; band still says where it falls */
} dt_candidate;

typedef struct dt_resolution {
    char *entity;          /* the entity of the strongest candidate at or over the link
                              threshold, "" if none: where the record would go */
    size_t n_comparisons;
    char **comparisons;    /* comparison names */
    size_t n_candidates;
    dt_candidate *candidates; /* probability >= the review threshold, strongest first; when
                                 some candidate is_withheld, link band before review, each by
                                 source and record id, so the order tells no weight either */
} dt_resolution;

#define DT_RECORD_JSON_MAX (1u << 20) /* bytes of one record.json */

/* Resolves one record without storing it (a read): record_json is a JSON
 * object keyed by the source's own column names, as in its CSV, values
 * strings (numbers are taken as their text, null as empty). Errors name
 * the field. Under a purpose, a candidate's source's withheld fields show
 * in nothing but its band and the entity chosen (see is_withheld), and
 * only records of sources the purpose lets the record link to are read:
 * the time taken does not grow with the records it hides.
 * OUT: *out, released with dt_resolution_free(). */
DT_API int dt_store_resolve(dt_store *store, const dt_request *req, const char *source, const char *record_json,
                            dt_resolution **out, dt_error *err);
DT_API void dt_resolution_free(dt_resolution *r);

typedef struct dt_entity_record {
    char *source, *record_id;
    char *raw;             /* the row as its source sent it (JSON object of column
                              name and value; a value that was not valid UTF-8 is
                              {"latin1": TEXT}, see dt_store_ingest) */
} dt_entity_record;

/* The active records of an entity, in (source, record id) order.
 * DT_ENOTFOUND if it has none. OUT: *out, *n; free with dt_entity_records_free. */
DT_API int dt_store_entity(dt_store *store, const dt_request *req, const char *entity_id, dt_entity_record **out,
                           size_t *n, dt_error *err);
DT_API void dt_entity_records_free(dt_entity_record *records, size_t n);

/* Explains, as dt_explain_pair does, two stored records
 * ("source:record_id" each) under the store's model. Both must be visible
 * to the purpose and their sources allowed to link; a row whose columns
 * the purpose may not see is left out, and then the explanation is_withheld:
 * no number or text in it depends on a withheld value but the band.
 * OUT: *out (dt_explanation_free). */
DT_API int dt_store_explain(dt_store *store, const dt_request *req, const char *key_a,
                            const char *key_b, dt_explanation **out, dt_error *err);

/* ---- review: people decide uncertain links ---------------------------------- */

enum { DT_NOTE_MAX = 4096 }; /* bytes of a reviewer's note */

typedef struct dt_decision_result {
    char entity_a[64], entity_b[64]; /* each record's entity after the decision */
} dt_decision_result;

/* A reviewer's decision (reviewer role only) on two stored records
 * ("source:record_id" each): the same person (same 1) or not (0). It is
 * kept, replacing an earlier one on the pair, and clustering honours it
 * from then on, here and in every later ingest and train: "same" joins the
 * two records' entities (over a rule's conflict: a person looked), "not
 * the same" keeps them in different entities (over any link). Both
 * entities are clustered again at once, in the transaction that keeps the
 * decision and its audit entry, which names both records. Both must be
 * visible to the purpose, and their sources allowed to link. note (may
 * be NULL, at most DT_NOTE_MAX bytes) is kept sealed under the store's
 * key. OUT: *out, the records' entities after ("" under a purpose whose
 * view is narrower than the store: a store id would tell what a hidden
 * record joined). */
DT_API int dt_review_decide(dt_store *store, const dt_request *req, const char *key_a,
                            const char *key_b, int same, const char *note,
                            dt_decision_result *out, dt_error *err);

enum { DT_REVIEW_MAX = 1000 }; /* pairs in one queue */

/* A pair the model is unsure of: a link between the review and the link
 * thresholds that no reviewer has decided. */
typedef struct dt_review_pair {
    const char *a, *b;         /* "source:record_id" */
    double p;                  /* the match probability; NAN when the purpose's view hides a
                                  column a comparison reads (the pair is then listed in
                                  store order, not by doubt) */
    const char *entity_a, *entity_b; /* each record's entity now, so a reviewer sees what a
                                        decision merges or splits; NULL under a purpose whose
                                        view is narrower than the store (its entities are
                                        clustered again per view, dt_store_entity) */
} dt_review_pair;
typedef int (*dt_review_pair_fn)(void *ctx, const dt_review_pair *pair);
/* The review queue (reviewer only): up to limit (1 to DT_REVIEW_MAX)
 * undecided pairs in the review band, the most doubtful first (p nearest
 * 0.5), between active records the purpose may see and link. Its audit
 * entry names every record listed. */
DT_API int dt_review_queue(dt_store *store, const dt_request *req, size_t limit,
                           dt_review_pair_fn fn, void *ctx, dt_error *err);

/* A notice about the store's last call, for people (say, a source that
 * took no part because its agreement expired); "" when none. Owned by the
 * store, valid until its next call. */
DT_API const char *dt_store_notice(const dt_store *store);

/* Findings in a store. Each call is governed like every store call (a
 * token, a purpose, a row of dt_calls, an audit entry). A finding belongs
 * to the purpose whose run made it: listed, shown and moved on under that
 * purpose only, and only while its policies still show every source it
 * rests on. States: needs-review | open -> verified | dismissed (a
 * reviewer, a reason, after `findings show` showed them the evidence: the
 * audit log proves it) -> notified -> final (read as final once the
 * contest window, findings: contest_days, has passed) or contested ->
 * verified | dismissed; superseded when a run no longer finds it, with the
 * reason. Nothing is deleted. */

/* 1 when name is one of the config's event sources (findings: events:). */
DT_API int dt_config_is_event_source(const dt_config *cfg, const char *name);

/* Stores the rows of event source opts->source from opts->path (its
 * columns as the config names them), batch_rows per transaction: new,
 * unchanged (same id, same row) and changed rows as for dt_store_ingest.
 * The steward of the source the events belong to ingests them, and they
 * are governed by that source's policy. A row with no id, a repeated id,
 * the wrong number of fields, no date the format reads or an amount that
 * is no number is rejected and counted (the first few named on the log by
 * file and line); more than opts->max_rejected is DT_EINPUT after the rest
 * is stored. Rows whose key names no record yet are kept: the record may
 * come later. */
DT_API int dt_store_ingest_events(dt_store *store, const dt_request *req,
                                  const dt_ingest_options *opts, dt_ingest_summary *summary,
                                  dt_error *err);

typedef struct dt_findings_run_summary {
    dt_findings_summary found;   /* what the rules found, as dt_link_findings_run counts it */
    uint64_t n_new;              /* findings stored for the first time */
    uint64_t n_kept;             /* found again: state kept, evidence brought up to date */
    uint64_t n_superseded;       /* no longer found: superseded, with the reason */
    char why_not[DT_N_FINDING_RULES][160]; /* for a rule that did not run */
} dt_findings_run_summary;

/* Runs every rule over the store's records and entities as the purpose's
 * view has them (an analyst's token), and stores what it finds with one
 * audit entry naming each finding made or superseded. A rule that needs a
 * source or column the purpose may not see does not run, and says so. */
DT_API int dt_store_findings_run(dt_store *store, const dt_request *req,
                                 dt_findings_run_summary *out, dt_error *err);
/* The purpose's findings as JSON text ({"findings": [...]}), of one state
 * when state is not NULL. dt_free *json. */
DT_API int dt_store_findings_list(dt_store *store, const dt_request *req, const char *state,
                                  char **json, dt_error *err);
/* One finding as JSON text: its evidence with the records as the view
 * shows them, each link with its probability and why the model made it,
 * the events, and every step. DT_ENOTFOUND for a finding that is absent or
 * not the purpose's. dt_free *json. */
DT_API int dt_store_finding_show(dt_store *store, const dt_request *req, const char *id,
                                 char **json, dt_error *err);
/* Moves a finding on: action "verify", "dismiss" (a reviewer, after
 * showing it), "notify" or "contest"; reason required but for notify.
 * DT_ESTATE when its state does not allow the action (the message names
 * what it allows) or the contest window rules it out. OUT: *state (may be
 * NULL), the state it is now in; dt_free it. */
DT_API int dt_store_finding_step(dt_store *store, const dt_request *req, const char *id,
                                 const char *action, const char *reason, char **state,
                                 dt_error *err);
/* Writes the purpose's findings to out_dir/findings.csv and
 * out_dir/findings.json (state as of now: final only after the contest
 * window). OUT: *n (may be NULL). */
DT_API int dt_store_findings_export(dt_store *store, const dt_request *req, const char *out_dir,
                                    uint64_t *n, dt_error *err);

/* ------------------------------------------------------------------ */
/* The HTTP API server (README, "The server")                           */
/* ------------------------------------------------------------------ */

/* The store's governed calls as a JSON API over HTTP (libmicrohttpd):
 * every route is a row of dt_calls, authenticated by "Authorization:
 * Bearer TOKEN" and named by "Dovetail-Purpose: P", and takes the same
 * path as the call itself (authorization, audit entry before the reply).
 * Each connection has a thread of its own; a request takes one of the
 * server's handles on the store for its call. */
typedef struct dt_server dt_server;

typedef struct dt_server_options {
    const char *store_path;     /* required */
    const char *key_path;       /* NULL: DOVETAIL_KEY_FILE */
    const char *listen;         /* "HOST:PORT" (port 0: any free one); NULL: 127.0.0.1:8080 */
    const char *tls_cert, *tls_key; /* PEM files; both or neither (then plain HTTP) */
    unsigned threads;           /* requests worked on at once, each on a handle of its own
                                   on the store; 0: 8 per core, at most 64 */
    size_t max_body;            /* bytes of a request body; 0: 16 MiB (413 over it) */
    unsigned max_connections;   /* 0: 256 */
    unsigned timeout_s;         /* idle connection timeout; 0: 30 */
    unsigned rate_per_s;        /* requests a second one token may make (a burst of twice
                                   that), 429 over it; 0: 10,000 */
    dt_log_fn on_log;           /* may be NULL */
    void *cb_ctx;
} dt_server_options;

/* The routes the server has, in the order it matches them: method, path
 * ("{}" for a segment it takes as a parameter), and the governed call's
 * action (NULL for /healthz and /metrics). Static; OUT: *n. */
typedef struct dt_route_info {
    const char *method, *path, *action;
    int is_served;              /* 0: the route answers 501 for now */
} dt_route_info;
DT_API const dt_route_info *dt_server_routes(size_t *n);

/* Checks that every governed call has a route, opens the store once to
 * check it (and the key), and starts listening. OUT: *out. */
DT_API int dt_server_start(const dt_server_options *opts, dt_server **out, dt_error *err);
/* The port it listens on (the one chosen, for port 0). */
DT_API unsigned dt_server_port(const dt_server *s);
/* Stops accepting, lets the requests in flight finish (each one's audit
 * entry is durable before its reply), closes every handle, frees s. */
DT_API void dt_server_stop(dt_server *s);

/* ------------------------------------------------------------------ */
/* Governance: principals, source policies, the audit log, disclosures  */
/* ------------------------------------------------------------------ */

/* Roles: "admin" manages principals and models and reads no record;
 * "steward" (of the sources named) sets their policies, ingests and
 * withdraws; "analyst" and "reviewer" read (resolve, entity, export,
 * explain) under a purpose; "auditor" checks the audit log and lists
 * disclosures. Names: 1 to 64 of a-z, 0-9, '.', '_', '-'. */

/* The governed calls: every store call above and below is one row of one
 * table, which sets up, authorizes and logs each request; the CLI and the
 * HTTP server are checked against it. Rows are in a fixed order. */
typedef struct dt_call_info {
    const char *action;   /* its audit entries' action, object.verb: "store.ingest" */
    const char *roles;    /* roles admitted, comma-separated: "analyst,reviewer" */
    int is_write;         /* 1: changes the store */
    int names_source;     /* 1: names a source (a steward must steward it) */
    const char *audit;    /* what its audit entry records, for people */
    const char *command;  /* the dovetail command that makes it: "principal add" */
} dt_call_info;

/* The table (static, never freed; safe from any thread). OUT: *n rows
 * (may be NULL). */
DT_API const dt_call_info *dt_calls(size_t *n);

/* Adds a principal (admin only). sources: a steward's, comma-separated
 * (NULL otherwise). Its token is written to token, shown this once. */
DT_API int dt_principal_add(dt_store *store, const dt_request *req, const char *name,
                            const char *role, const char *sources, char token[DT_TOKEN_SIZE],
                            dt_error *err);
/* Revokes a principal's token (admin only); DT_ENOTFOUND if no active one,
 * DT_EDENIED if it is the last active admin (the store would have no one
 * left to administer it). A revoked name may be added again, as a new
 * principal with a token of its own. */
DT_API int dt_principal_revoke(dt_store *store, const dt_request *req, const char *name,
                               dt_error *err);
/* Gives the active principal `name` a new token and revokes its old one
 * (admin only), in one transaction with one audit entry: the same name,
 * role and sources; the new token is written into token (shown once,
 * stored only as its hash). DT_ENOTFOUND if no active one. */
DT_API int dt_principal_rotate(dt_store *store, const dt_request *req, const char *name,
                               char token[DT_TOKEN_SIZE], dt_error *err);
typedef struct dt_principal_info {
    const char *name, *role, *sources;
    const char *created, *revoked;   /* ISO 8601 UTC; revoked "" when active */
} dt_principal_info;
typedef int (*dt_principal_fn)(void *ctx, const dt_principal_info *p);
/* Calls fn for each principal, by name (admin only). */
DT_API int dt_principal_list(dt_store *store, const dt_request *req, dt_principal_fn fn,
                             void *ctx, dt_error *err);

/* Sets a source's policy from a YAML file (its steward only): a new
 * version; every earlier one is kept. Errors name the file, line and
 * column. OUT: *version. */
DT_API int dt_policy_set(dt_store *store, const dt_request *req, const char *source,
                         const char *policy_path, int64_t *version, dt_error *err);
/* The newest policy text of a source (its steward, an admin or an
 * auditor); *text NULL and *version 0 when none is set (dt_free text). */
DT_API int dt_policy_get(dt_store *store, const dt_request *req, const char *source,
                         char **text, int64_t *version, dt_error *err);

typedef struct dt_audit_verdict {
    int ok;                    /* 1: every entry and head checks out */
    int64_t n_entries, n_heads, n_witness_heads;
    int64_t first_bad;         /* seq of the first bad entry; 0 when none or not one entry */
    int64_t n_unsigned;        /* the newest entries, not yet under a signed head: a server
                                  signs at most every 250 ms, sealing each commit's end with
                                  a MAC under the key file meanwhile, which verify checks */
    char why[512];
} dt_audit_verdict;

/* Checks the whole audit log (auditor only): seq order, every entry
 * against its leaf hash, every signed head; with witness_path (may be
 * NULL), the heads a witness kept too, which catches a truncated and
 * re-signed log. A damaged log is a verdict (ok 0), not an error. */
DT_API int dt_audit_verify(dt_store *store, const dt_request *req, const char *witness_path,
                           dt_audit_verdict *out, dt_error *err);
/* JSON texts (dt_free them), auditor only: the newest signed head; the
 * inclusion proof of entry seq; the consistency proof from an earlier
 * head (its JSON, as dt_audit_head gave it) to the newest. */
DT_API int dt_audit_head(dt_store *store, const dt_request *req, char **json, dt_error *err);
DT_API int dt_audit_prove(dt_store *store, const dt_request *req, int64_t seq, char **json,
                          dt_error *err);
DT_API int dt_audit_consistency(dt_store *store, const dt_request *req,
                                const char *old_head_json, char **json, dt_error *err);
/* Writes every signed head, and the public key, to a witness file to keep
 * elsewhere (auditor only): written aside first, so the entry says whether
 * it was ("failed" when not), and put in place after. OUT: *n_heads. */
DT_API int dt_audit_witness(dt_store *store, const dt_request *req, const char *path,
                            int64_t *n_heads, dt_error *err);

typedef struct dt_disclosure {
    int64_t seq;               /* the audit entry */
    const char *time, *principal, *purpose, *action;
    const char *subject;       /* the record shown, "source:record_id" */
    const char *fields;        /* JSON array of "source.column" shown by that request */
} dt_disclosure;
typedef int (*dt_disclosure_fn)(void *ctx, const dt_disclosure *d);
/* Who was shown a person's data, when, why and which fields (auditor
 * only), read from the audit log: for one record ("source:record_id") or
 * for each record of an entity (entity_id; key NULL). */
DT_API int dt_disclosures(dt_store *store, const dt_request *req, const char *record_key,
                          const char *entity_id, dt_disclosure_fn fn, void *ctx, dt_error *err);

#ifdef __cplusplus
}
#endif
#endif /* DOVETAIL_H */
