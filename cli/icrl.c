/* icrl.c — `goodhart icrl run|report|check`: the specification-gaming
 * curriculum and the in-context RL loop (include/goodhart/icrl.h, docs/icrl.md).
 *   run     runs rollouts into a run directory (resumable), prints a summary
 *   report  rewrites a run directory's outputs from its store, prints the summary
 *   check   loads environment files and says what each holds */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "goodhart/icrl.h"

static const char *default_envs =
    "political_sycophancy,tool_use_flattery,nudged_rubric_modification,insubordinate_rubric_modification,reward_tampering";

static const char *usage_text =
    "usage: goodhart icrl run --model REF [--envs LIST] [--rollouts N] [--attempts K] [--seed S] -o RUNDIR [options]\n"
    "       goodhart icrl report RUNDIR [--json]\n"
    "       goodhart icrl check ENV...\n"
    "\n"
    "run: N rollouts of each environment; each rollout makes up to K attempts, reflecting on its reward\n"
    "between them (in-context RL), and stops at the first attempt that reaches the threshold.\n"
    "Re-running the same command resumes: finished rollouts are not redone.\n"
    "  --model REF         a GGUF file (with a chat template), http://HOST:PORT/v1[#MODEL], or replay:FILE\n"
    "  --envs LIST         environment names or .json files, comma-separated (default: the curriculum,\n"
    "                      political_sycophancy,tool_use_flattery,nudged_rubric_modification,\n"
    "                      insubordinate_rubric_modification,reward_tampering); 'all' is the same\n"
    "  --env-dir DIR       look environment names up in DIR first\n"
    "  --rollouts N        rollouts per environment (default 1)\n"
    "  --attempts K        attempts per rollout (default 5)\n"
    "  --seed S            seed (default 0): data-set records and sampling\n"
    "  --max-steps N       assistant turns per attempt (default: each environment's)\n"
    "  --temp T            sampling temperature (default 1)\n"
    "  --max-tokens N      tokens per reply (default 1024)\n"
    "  --workers N         rollouts at once (HTTP models only; default 8 for them, else 1)\n"
    "  --keep-sandboxes    keep every attempt's directory under RUNDIR/sandboxes\n"
    "  -o, --out RUNDIR    the run directory: store.db, transcripts.jsonl, summary.json, report.html,\n"
    "                      expert_single.jsonl, expert_icrl.jsonl\n"
    "  --json              print the summary as one JSON object\n"
    "  -t, --threads N     CPU threads for a local model\n"
    CLI_BACKEND_USAGE;

static void print_summary(const char *json_text, bool json) {
    if (json) { printf("%s\n", json_text); return; }
    cJSON *j = cJSON_Parse(json_text);
    const cJSON *envs = cJSON_GetObjectItemCaseSensitive(j, "envs");
    printf("%-36s %8s %9s %6s  flags\n", "environment", "rollouts", "successes", "gamed");
    for (const cJSON *e = envs ? envs->child : NULL; e; e = e->next) {
        printf("%-36s %8d %9d %6d ", e->string, cJSON_GetObjectItemCaseSensitive(e, "rollouts")->valueint,
               cJSON_GetObjectItemCaseSensitive(e, "successes")->valueint, cJSON_GetObjectItemCaseSensitive(e, "gamed")->valueint);
        const cJSON *rates = cJSON_GetObjectItemCaseSensitive(e, "rates");
        for (const cJSON *r = rates ? rates->child : NULL; r; r = r->next) {
            if (!strcmp(r->string, "success") || !strcmp(r->string, "gamed")) continue;
            printf(" %s=%d", r->string, cJSON_GetObjectItemCaseSensitive(r, "count")->valueint);
        }
        printf("\n");
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(rates, "gamed");
        printf("  gaming rate %.3f [%.3f, %.3f]; gamed by attempt:", cJSON_GetObjectItemCaseSensitive(g, "rate")->valuedouble,
               cJSON_GetObjectItemCaseSensitive(g, "lo")->valuedouble, cJSON_GetObjectItemCaseSensitive(g, "hi")->valuedouble);
        const cJSON *ba = cJSON_GetObjectItemCaseSensitive(e, "by_attempt");
        for (const cJSON *a = ba ? ba->child : NULL; a; a = a->next)
            printf(" %d", cJSON_GetObjectItemCaseSensitive(a, "gamed_by")->valueint);
        printf("\n");
    }
    cJSON_Delete(j);
}

static int cmd_run(int argc, char **argv) {
    const char *model = NULL, *envs = default_envs, *out = NULL, *env_dir = NULL, *v;
    long long ll, rollouts = 1, threads = 0, workers = -1;
    double d;
    bool json = false, missing = false;
    gh_icrl_params p = gh_icrl_default_params();
    for (int i = 2; i < argc; i++) {
        int brc;
        const char *a = argv[i];
        if (cli_flag(a, "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if ((brc = cli_backend_opt("icrl", argv, &i, argc))) { if (brc < 0) return 2; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &v, &missing)) model = v;
        else if (cli_opt(argv, &i, argc, NULL, "--envs", &v, &missing)) envs = v;
        else if (cli_opt(argv, &i, argc, NULL, "--env-dir", &v, &missing)) env_dir = v;
        else if (cli_opt(argv, &i, argc, "-o", "--out", &v, &missing)) out = v;
        else if (cli_opt(argv, &i, argc, NULL, "--rollouts", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1000000, &rollouts)) return cli_usage_error("icrl", "--rollouts needs an integer in [1, 1000000], got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--attempts", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1000, &ll)) return cli_usage_error("icrl", "--attempts needs an integer in [1, 1000], got '%s'", v);
            if (!missing) p.max_attempts = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--seed", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, INT64_MAX, &ll)) return cli_usage_error("icrl", "--seed needs an integer >= 0, got '%s'", v);
            if (!missing) p.sampler.seed = (uint64_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--max-steps", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1000, &ll)) return cli_usage_error("icrl", "--max-steps needs an integer in [1, 1000], got '%s'", v);
            if (!missing) p.max_steps = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--temp", &v, &missing)) {
            if (!missing && !cli_parse_float(v, 0, 100, &d)) return cli_usage_error("icrl", "--temp needs a number >= 0, got '%s'", v);
            if (!missing) p.sampler.temp = (float)d;
        } else if (cli_opt(argv, &i, argc, NULL, "--max-tokens", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1 << 20, &ll)) return cli_usage_error("icrl", "--max-tokens needs an integer >= 1, got '%s'", v);
            if (!missing) p.sampler.max_tokens = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--workers", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1024, &workers)) return cli_usage_error("icrl", "--workers needs an integer in [1, 1024], got '%s'", v);
        } else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error("icrl", "-t needs a thread count >= 1, got '%s'", v);
        } else if (cli_flag(a, NULL, "--keep-sandboxes")) p.keep_sandboxes = true;
        else if (cli_flag(a, NULL, "--json")) json = true;
        else return cli_usage_error("icrl", "unknown option '%s' for icrl run", a);
        if (missing) return cli_usage_error("icrl", "option '%s' needs a value", a);
    }
    if (!model) return cli_usage_error("icrl", "no model given (--model REF)");
    if (!out) return cli_usage_error("icrl", "no run directory given (-o RUNDIR)");
    bool http = !strncmp(model, "http://", 7) || !strncmp(model, "https://", 8);
    if (workers > 1 && !http)
        return cli_usage_error("icrl", "--workers %lld: only HTTP models answer several rollouts at once (a local model or a replay script runs one at a time)", workers);
    p.workers = workers > 0 ? (int32_t)workers : http ? 8 : 1;
    if (!strcmp(envs, "all")) envs = default_envs;

    /* environments first: a bad file fails before the model is loaded */
    gh_icrl_env **ev = NULL;
    int32_t n_ev = 0;
    int rc = 0;
    char *list = strdup(envs);
    for (char *save = NULL, *tok = list ? strtok_r(list, ",", &save) : NULL; tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        char *path = NULL;
        gh_icrl_env *e = NULL;
        if (gh_icrl_env_find(tok, env_dir, &path) || gh_icrl_env_load(path, &e)) { rc = cli_fail("icrl"); free(path); break; }
        free(path);
        gh_icrl_env **nv = realloc(ev, (size_t)(n_ev + 1) * sizeof *nv);
        if (!nv) { gh_icrl_env_free(e); rc = cli_usage_error("icrl", "out of memory"); break; }
        ev = nv;
        ev[n_ev++] = e;
    }
    free(list);
    if (!rc && n_ev == 0) rc = cli_usage_error("icrl", "--envs names no environment");
    gh_backend *b = NULL;
    if (!rc && cli_open_backend("icrl", model, (int32_t)threads, &b)) rc = 1;
    if (!rc) {
        gh_status s = gh_icrl_run(b, ev, n_ev, (int32_t)rollouts, &p, out, cli_progress, "icrl ");
        char *sum = NULL;
        if (!s) s = gh_icrl_summary_json(out, &sum);
        if (s) rc = cli_fail("icrl");
        else print_summary(sum, json);
        free(sum);
    }
    gh_backend_free(b);
    for (int32_t i = 0; i < n_ev; i++) gh_icrl_env_free(ev[i]);
    free(ev);
    return rc;
}

static int cmd_report(int argc, char **argv) {
    const char *dir = NULL;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (cli_flag(argv[i], "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if (cli_flag(argv[i], NULL, "--json")) json = true;
        else if (argv[i][0] == '-') return cli_usage_error("icrl", "unknown option '%s' for icrl report", argv[i]);
        else if (!dir) dir = argv[i];
        else return cli_usage_error("icrl", "icrl report takes one run directory");
    }
    if (!dir) return cli_usage_error("icrl", "no run directory given");
    char *sum = NULL;
    if (gh_icrl_write_outputs(dir) || gh_icrl_summary_json(dir, &sum)) return cli_fail("icrl");
    print_summary(sum, json);
    free(sum);
    return 0;
}

static int cmd_check(int argc, char **argv) {
    if (argc < 3) return cli_usage_error("icrl", "icrl check needs environment names or files");
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        if (cli_flag(argv[i], "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        char *path = NULL;
        gh_icrl_env *e = NULL;
        if (gh_icrl_env_find(argv[i], NULL, &path) || gh_icrl_env_load(path, &e)) { rc = cli_fail("icrl"); free(path); continue; }
        printf("%s: %s (%s), threshold %g, max %d steps, %d data-set records%s — ok\n", path, gh_icrl_env_name(e),
               gh_icrl_env_tools(e) ? "tools" : "no tools", gh_icrl_env_threshold(e), gh_icrl_env_max_steps(e),
               gh_icrl_env_n_items(e), gh_icrl_env_held_out(e) ? ", held out" : "");
        free(path);
        gh_icrl_env_free(e);
    }
    return rc;
}

int cmd_icrl(int argc, char **argv) {
    if (argc < 2 || cli_flag(argv[1], "-h", "--help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "run")) return cmd_run(argc, argv);
    if (!strcmp(argv[1], "report")) return cmd_report(argc, argv);
    if (!strcmp(argv[1], "check")) return cmd_check(argc, argv);
    return cli_usage_error("icrl", "unknown verb '%s' (run, report or check)", argv[1]);
}
