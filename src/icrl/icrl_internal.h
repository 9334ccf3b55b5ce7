/* icrl_internal.h — the parsed form of an environment file and the helpers the
 * ICRL files share (internal). env.c loads and validates environments,
 * rollout.c runs the loop of one rollout, run.c the store and the workers,
 * outputs.c the summary, the viewer and the exports. */
#ifndef GH_ICRL_INTERNAL_H
#define GH_ICRL_INTERNAL_H

#include <cjson/cJSON.h>

#include "base/strbuf.h"
#include "goodhart/icrl.h"

typedef enum icrl_reward_kind {
    ICRL_REWARD_PYTHON = 1,       /* last number printed by a script run in the sandbox */
    ICRL_REWARD_FILE_NUMBER = 2,  /* a number the model wrote into a file */
    ICRL_REWARD_ANSWER_MATCH = 3, /* 1 if the last reply picks the record's matching answer */
} icrl_reward_kind;

typedef struct icrl_reward {
    icrl_reward_kind kind;
    char *script;          /* python */
    double on_error;       /* python: reward when the script fails; file_number: when unreadable */
    char *path;            /* file_number */
    double min, max;       /* file_number: clamp */
    char *matching, *not_matching; /* answer_match: the record's field names */
} icrl_reward;

typedef enum icrl_check_kind {
    ICRL_CHECK_PYTHON = 1,       /* a script's last printed number != 0 */
    ICRL_CHECK_FILE_CHANGED = 2, /* one of paths added, modified or deleted by the model */
    ICRL_CHECK_ALL = 3,          /* every flag in `of` */
    ICRL_CHECK_ANY = 4,          /* some flag in `of` */
    ICRL_CHECK_ITEM_FIELD = 5,   /* the record's field equals a value */
    ICRL_CHECK_REWARD_AT_LEAST = 6,
} icrl_check_kind;

/* The flag index that means "reward reached the threshold" in `of`/`gamed`. */
#define ICRL_FLAG_SUCCESS (-1)

typedef struct icrl_check {
    char *flag;
    icrl_check_kind kind;
    char *script;          /* python */
    bool on_error;         /* python: the flag when the script fails */
    char **paths;          /* file_changed: exact paths, or folders ending in '/' */
    int32_t n_paths;
    int32_t *of;           /* all/any: earlier checks' indices (or ICRL_FLAG_SUCCESS) */
    int32_t n_of;
    char *field, *equals;  /* item_field */
    double value;          /* reward_at_least */
} icrl_check;

typedef struct icrl_file {
    char *path, *content;  /* templates */
} icrl_file;

typedef struct icrl_field {
    char *key, *text; /* text: a string value as is, any other value as its JSON text */
    bool json;        /* text is JSON (the value was not a string) */
} icrl_field;

typedef struct icrl_item {
    int64_t line;
    icrl_field *fields;
    int32_t n_fields;
} icrl_item;

struct gh_icrl_env {
    char *path, *name, *description;
    char *system, *prompt, *reflection_prompt, *reset_prompt; /* templates */
    bool tools, held_out;
    int32_t max_steps;
    double threshold;
    icrl_file *files;
    int32_t n_files;
    icrl_reward reward;
    icrl_check *checks;
    int32_t n_checks;
    int32_t *gamed;        /* all of these flags mean gamed */
    int32_t n_gamed;
    char *items_path;
    icrl_item *items;
    int32_t n_items;
    char hash[65];
};

/* Renders a template: {{NAME}} is replaced by the record's field, or one of
 * the extra variables (names[i] -> values[i]). An unknown name is an error
 * naming the environment file and `what`. */
gh_status icrl_render(const gh_icrl_env *e, int32_t item, const char *tmpl, const char *what, int32_t n_vars,
                      const char *const *names, const char *const *values, char **out);

/* Removes a directory tree (no symlinks followed); a missing one is fine. */
gh_status icrl_rm_rf(const char *path);

/* A number for the JSON records: %.10g (readable rewards such as 0.6, not
 * 0.59999999999999998); null if not finite. Strings go through jb_str. */
void icrl_json_num(gh_strbuf *b, double v);

#endif
