/*
 * config.h — the linkage configuration as loaded from YAML (src/io). This
 * is the definition behind the public opaque dt_config. The loader checks
 * the schema completely, so later stages may trust every index and enum
 * here; what it cannot check without data (a column missing from a CSV
 * header) is checked by the engine, which names the config line from the
 * `line`/`column` kept beside each item.
 *
 * Invariants:
 *   1. Every i_field indexes fields[]; every rule has 1..CFG_MAX_KEYS keys;
 *      every comparison has 1..CFG_MAX_LEVELS levels, in the order given.
 *   2. Paths are resolved against the directory of the config file.
 *   3. review_threshold <= link_threshold, both in [0, 1].
 *   4. After load the struct is never modified (shared across threads).
 */
#ifndef DT_CONFIG_H
#define DT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define CFG_MAX_KEYS 8
#define CFG_MAX_LEVELS 14   /* plus the implicit null and "else" levels */
#define CFG_MAX_WITH 4

typedef enum cfg_field_type {
    CFG_T_GIVEN_NAME,
    CFG_T_MIDDLE_NAME,
    CFG_T_SURNAME,
    CFG_T_DATE,
    CFG_T_IDENTIFIER,
    CFG_T_POSTCODE,
    CFG_T_ADDRESS,
    CFG_T_PHONE,
    CFG_T_SEX,
    CFG_T_TEXT,
    CFG_N_TYPES
} cfg_field_type;

extern const char *const cfg_type_names[CFG_N_TYPES];

typedef struct cfg_field {
    char *name;
    cfg_field_type type;
    long line, column; /* where it is declared */
} cfg_field;

/* How one field is read from one source's column. */
typedef struct cfg_mapping {
    int i_field;
    char *column;          /* CSV header name */
    char *date_format;     /* dates: "YYYYMMDD"…; NULL: "YYYY-MM-DD" */
    int min_len, max_len;  /* identifiers: digit count bounds (0: none) */
    int ssn;               /* identifiers: apply US SSN structure rules */
    int last_digits;       /* identifiers: keep only the last N digits (0: all) */
    int postcode_len;      /* postcodes: keep this many characters (0: all) */
    long line, col;        /* where the mapping is written */
} cfg_mapping;

typedef enum cfg_name_order { CFG_ORDER_FIRST_LAST = 0, CFG_ORDER_LAST_COMMA_FIRST } cfg_name_order;

typedef struct cfg_source {
    char *name;
    char *path;             /* resolved */
    char *id_column;
    char delimiter;
    int trim;
    cfg_mapping *maps;     /* in priority order: a field mapped by a list of columns
                              takes the first that gives a value */
    size_t n_maps;
    char *full_name_column; /* one-column name feeding given/middle/surname fields, or NULL */
    cfg_name_order full_name_order;
    long line, column;
} cfg_source;

/* Key functions for blocking expressions. */
typedef enum cfg_key_fn {
    CFG_K_VALUE,       /* the normalized value itself */
    CFG_K_SOUNDEX,
    CFG_K_NYSIIS,
    CFG_K_SUBSTR,      /* substr(field, start, length), 1-based, in code points */
    CFG_K_YEAR,
    CFG_K_MONTH,
    CFG_K_DAY,
    CFG_K_FIRST_TOKEN,
    CFG_K_LAST_TOKEN,
    CFG_K_INITIAL,
    CFG_K_NICKNAME,    /* nickname-canonical form of the first token */
    CFG_K_SUFFIX,      /* suffix(field, length): the last characters */
    CFG_K_DATE,        /* a bare date field: the whole date; a partial date has none */
    CFG_N_KEY_FNS
} cfg_key_fn;

extern const char *const cfg_key_fn_names[CFG_N_KEY_FNS];

typedef struct cfg_key {
    cfg_key_fn fn;
    int i_field;
    int arg1, arg2; /* substr start and length; suffix length in arg1 */
} cfg_key;

typedef struct cfg_rule {
    char *name;             /* as written, e.g. "[soundex(surname), year(dob)]" */
    cfg_key keys[CFG_MAX_KEYS];
    int n_keys;
    long line, column;
} cfg_rule;

/* Comparison level kinds. Each holds for a pair of non-null values. */
typedef enum cfg_level_kind {
    CFG_L_EXACT,
    CFG_L_NICKNAME,          /* same nickname group */
    CFG_L_JARO_WINKLER,      /* similarity >= threshold */
    CFG_L_JARO,
    CFG_L_LEVENSHTEIN,       /* distance <= threshold */
    CFG_L_DAMERAU_LEVENSHTEIN,
    CFG_L_INITIAL,           /* one side is a single letter equal to the other's first */
    CFG_L_TOKEN_OVERLAP,     /* a token of one side is among the other's (with `with` fields) */
    CFG_L_SWAPPED,           /* this field agrees with the other side's `with[0]` field and vice
                                versa (exact, token, nickname, Jaro-Winkler >= 0.92, or an
                                initial on one side; levels.c) */
    CFG_L_SOUNDEX,           /* same Soundex code */
    CFG_L_NYSIIS,
    CFG_L_DATE_SWAP_DM,      /* day and month swapped */
    CFG_L_DATE_YEAR_OFF,     /* same day/month, years differ by <= threshold (default 1) */
    CFG_L_DATE_SAME_YEAR_MONTH,
    CFG_L_DATE_SAME_YEAR,
    CFG_L_DATE_WITHIN_DAYS,  /* |a - b| <= threshold days */
    CFG_L_DATE_PARTIAL,      /* a partial date agrees with the other on what it has */
    CFG_L_NUMERIC_WITHIN,    /* |a - b| <= threshold, numbers */
    CFG_L_SUFFIX,            /* the shorter value ends the longer (last-4 of an SSN) */
    CFG_N_LEVEL_KINDS
} cfg_level_kind;

extern const char *const cfg_level_names[CFG_N_LEVEL_KINDS];

typedef struct cfg_level {
    cfg_level_kind kind;
    double threshold;
    int with[CFG_MAX_WITH]; /* field indexes for token_overlap / swapped */
    int n_with;
    char *label;            /* e.g. "jaro_winkler>=0.92" */
    long line, column;
} cfg_level;

typedef struct cfg_comparison {
    char *name;             /* defaults to the field name */
    int i_field;
    cfg_level levels[CFG_MAX_LEVELS];
    int n_levels;
    int tf;                 /* term-frequency adjust the exact level */
    int m_by_field;         /* m_by_value: m learned per value of this field when both
                               records share it (model.h invariant 6); -1: none */
    long line, column;
} cfg_comparison;

/* model: contexts: one context. A pair is in it when each comparison in
 * mask is at one of its levels (bit l of levels[c]: level code l) and, with
 * require, one comparison of require has values on both sides. */
#define CFG_MAX_CONTEXTS 4
typedef struct cfg_context {
    char *name;
    uint64_t mask;
    uint32_t levels[64];
    uint64_t require;
    long line, column;
} cfg_context;

/* cluster: cannot_link: one rule. A pair whose level of every comparison in
 * mask is among levels[c] (bit l: level code l; n_levels + 1 is "else")
 * never shares an entity, directly or through a chain of links. */
typedef struct cfg_cannot_link {
    uint64_t mask;
    uint32_t levels[64];
    long line, column;
} cfg_cannot_link;

typedef enum cfg_mode { CFG_MODE_LINK, CFG_MODE_DEDUPE, CFG_MODE_LINK_AND_DEDUPE } cfg_mode;

/* findings: events: rows about something that happened to a record of a
 * person source (a payment of an enrollment, a tax filing of an earner),
 * joined to it by its record id. */
typedef struct cfg_event {
    char *name;
    char *path;             /* resolved */
    char *id_column;        /* the row's own id */
    int of;                 /* source index the rows belong to */
    char *key_column;       /* holds that source's record id */
    char *date_column;
    char *date_format;      /* norm_date_parse format; NULL: YYYY-MM-DD */
    char *amount_column;    /* NULL: no amount */
    int is_payment;         /* a payment to the person (not their own act) */
    char delimiter;
    long line, column;
} cfg_event;

#define CFG_MAX_ACTIVITY 16
/* findings: which sources and fields the rules read (findings.h). A source
 * or field index of -1: not declared, and the rules that need it cannot run. */
typedef struct cfg_findings {
    int is_set;
    int death_source, death_field;                    /* date of death */
    int enroll_source, enroll_start, enroll_program;  /* program: -1 = one program */
    int activity_source[CFG_MAX_ACTIVITY], activity_field[CFG_MAX_ACTIVITY];
    size_t n_activity;
    int identifier_field, identifier_min_length;
    double review_below;    /* a finding whose weakest link is under this: needs-review */
    int contest_days;
    cfg_event *events;
    size_t n_events;
} cfg_findings;

struct dt_config {
    char *path;             /* as given */
    char *dir;              /* its directory, for relative paths */
    uint64_t hash;          /* of the file's bytes, saved in model.json */
    cfg_mode mode;
    int is_mode_default;    /* 1: no `mode:` given; mode is dedupe for one source,
                               link_and_dedupe for two or more */
    cfg_field *fields;
    size_t n_fields;
    cfg_source *sources;
    size_t n_sources;
    cfg_rule *rules;
    size_t n_rules;
    uint64_t max_block_pairs; /* blocks producing more pairs are skipped */
    uint64_t max_pairs;       /* refuse to generate more candidate pairs; 0: from memory */
    cfg_comparison *comparisons;
    size_t n_comparisons;
    /* model */
    uint64_t seed;
    uint64_t u_sample_pairs;  /* random pairs for u */
    uint64_t em_sample_pairs; /* candidate pairs EM and lambda read at most; 0: all */
    int em_max_iterations;
    double em_tolerance;      /* stop when no m moves more than this */
    double tf_min_u;          /* floor for term-frequency u */
    int *training_rules;      /* rule indexes for EM passes; all when n == 0 */
    size_t n_training_rules;
    cfg_context contexts[CFG_MAX_CONTEXTS]; /* model: contexts (model.h, invariant 4) */
    size_t n_contexts;
    double context_cannot_link; /* pairs in a context under this probability never share
                                   an entity */
    int prior_by_source_pair; /* λ per pair of sources (model.h invariant 5) */
    /* decisions */
    double link_threshold;    /* probability */
    double review_threshold;
    /* clusters */
    int one_to_one;           /* link mode: each record links at most one per other source */
    double weak_link;         /* links below this probability joining two clusters ... */
    int weak_join_size;       /* ... of at least this many records each are reported */
    int *exclusive;           /* comparison indexes: records whose level is "else" on one
                                 of these never share an entity (cannot-link) */
    size_t n_exclusive;
    cfg_cannot_link *cannot_links; /* pairs at all these levels never share an entity */
    size_t n_cannot_links;
    /* files */
    char *nicknames_path;
    cfg_findings findings;    /* findings: (src/findings) */
    /* truth for eval */
    char *truth_pattern;      /* POSIX ERE on record ids; group 1 is the entity */
    char *truth_file;         /* or CSV source,record_id,entity */
};

/* Parses YAML text (name labels errors; base_dir resolves paths).
 * OUT: *out. */
int cfg_parse(const char *text, size_t n, const char *name, const char *base_dir,
              dt_config **out, dt_error *err);

/* Index of the field named `name`, or -1. */
int cfg_field_index(const dt_config *cfg, const char *name);
/* 1 when a pair at levels g (one code per comparison) may never share an
 * entity: an exclusive comparison at "else", or every level of a
 * cannot_link rule. Clustering refuses such pairs; EM counts them as
 * non-matches. */
int cfg_levels_forbid_link(const dt_config *cfg, const uint8_t *g);
/* Index of the source named `name`, or -1. */
int cfg_source_index(const dt_config *cfg, const char *name);

/* The index of `column` among the source's columns (its id column, each
 * mapped column, its full-name column; a column mapped twice has the index
 * it first has), below s->n_maps + 2; -1 when it is not one of them. */
int cfg_column_index(const cfg_source *s, const char *column);
/* The source's columns, each once, as "a, b, c" (cut to cap bytes). */
void cfg_columns_text(const cfg_source *s, char *out, size_t cap);

#endif /* DT_CONFIG_H */
