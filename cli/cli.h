/* cli.h — what the subcommands share: option parsing helpers, opening a model
 * reference, printing library errors. One file per subcommand implements
 * `int cmd_NAME(int argc, char **argv)` (argv[0] is the subcommand name) and
 * returns the process exit status. */
#ifndef GH_CLI_H
#define GH_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "goodhart/backend.h"

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_logprob(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_make_model(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bon(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_reward(int argc, char **argv);
int cmd_bon_run(int argc, char **argv);
int cmd_bon_select(int argc, char **argv);
int cmd_bon_bench(int argc, char **argv);
int cmd_acts(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_probe_lambda(int argc, char **argv);
int cmd_syco(int argc, char **argv);
int cmd_genies(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_icrl(int argc, char **argv);
int cmd_embed(int argc, char **argv);

/* Prints "goodhart NAME: " + gh_last_error() to stderr; returns 1. */
int cli_fail(const char *cmd);
/* Prints "goodhart NAME: message" to stderr; returns 2 (usage errors). */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Option matching: `cli_opt(argv, &i, argc, "-m", "--model", &val)` is true when
 * argv[i] is the option; it then takes the value (next argument or after '=')
 * and advances i. A missing value sets *missing. */
bool cli_opt(char **argv, int *i, int argc, const char *short_name, const char *long_name,
             const char **val, bool *missing);
bool cli_flag(const char *arg, const char *short_name, const char *long_name);

/* Strict number parsing: the whole string must be a number in range. */
bool cli_parse_int(const char *s, long long lo, long long hi, long long *out);
bool cli_parse_float(const char *s, double lo, double hi, double *out);

/* Reads all of stdin, byte for byte. */
char *cli_read_stdin(size_t *len);

/* Opens a model reference with the given thread count (0: all cores). */
/* Options every model-opening command accepts, parsed by cli_backend_opt:
 * 1 if argv[*i] was one (consumed), 0 if not, -1 after printing a usage error. */
#define CLI_BACKEND_USAGE \
    "  --chat-template NAME|FILE   chat template (default: the model's own; see chat.h)\n" \
    "  --api-key-env NAME  HTTP models: environment variable holding the API key\n" \
    "  --cache FILE        HTTP models: SQLite response cache (repeats cost nothing)\n" \
    "  --max-inflight N, --timeout S, --retries N   HTTP models: concurrency, per-request limit, retries\n"
int cli_backend_opt(const char *cmd, char **argv, int *i, int argc);
int cli_open_backend(const char *cmd, const char *ref, int32_t n_threads, gh_backend **out);

/* A gh_bon_progress_fn for the terminal (user: a prefix string or NULL). */
void cli_progress(void *user, const char *stage, int64_t done, int64_t total);
/* Parses "a,b,c" into a malloc'd array of numbers in [lo, hi]. */
bool cli_parse_doubles(const char *s, double lo, double hi, double **out, int32_t *n);

/* Writes s to f as a JSON string (escaped, invalid UTF-8 replaced). */
void cli_json_string(FILE *f, const char *s, size_t len);

#endif
