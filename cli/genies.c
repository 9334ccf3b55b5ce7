/* genies.c — `goodhart genies run|metrics|report|check|convert`: the GENIES
 * benchmark (include/goodhart/genies.h). run trains and evaluates methods over
 * distribution shifts into a resumable run directory; metrics recomputes the
 * study's GENIES.csv from evaluation files (the study's or goodhart's); report
 * writes the HTML table and chart; check validates distributions; convert
 * writes preference JSON Lines. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "goodhart/genies.h"

static const char *usage_text =
    "usage: goodhart genies run -m MODEL --shifts SHIFTS.json --data DIR -o RUNDIR [options]\n"
    "  Trains each method on every shift's source (train split) and tests it on the target\n"
    "  (test split); resumable: finished (method, shift) results are kept in RUNDIR/run.sqlite.\n"
    "  --methods LIST     comma-separated: zero_shot,few_shot,reward_head,mms,lat,ccs,cra,random\n"
    "                     or 'all' (default zero_shot; zero_shot always runs as the baseline)\n"
    "  --max-examples K   at most K pairs per split (default: all)\n"
    "  --max-tokens N     cut prompts from the front so that texts have at most N tokens\n"
    "                     (default and at most: the model's context)\n"
    "  --layer L          hidden states after layer L (default: half the layers)\n"
    "  --few-shot-k K     in-context examples for few_shot (default 3)\n"
    "  --seed S  --bootstrap B (default 1000)  --model-name NAME  --limit-units N\n"
    "  --strict           a malformed record is fatal (default: reported and skipped)\n"
    "  --force            reuse a run directory started with other settings\n"
    "  -t N               threads: N pairs processed at once, one thread each (default: the CPUs;\n"
    "                     results do not depend on N)\n"
    "  -q, --quiet        no progress lines\n"
    CLI_BACKEND_USAGE
    "       goodhart genies metrics --results DIR --model NAME --method METHOD --shifts SHIFTS.json\n"
    "                               [--baseline zero_shot] [--full|--summary] [--bootstrap B] [--seed S] [-o OUT.csv]\n"
    "  The study's GENIES.csv (same columns and row order) from DIR/evaluations/METHOD/NAME-SOURCE/TARGET.json\n"
    "  and DIR/target_tuned_capability/NAME/TARGET.json; --full adds intervals, both RMS calibration\n"
    "  errors and the Brier score; --summary gives the means per category and the GENIES mean instead.\n"
    "       goodhart genies report --results DIR --model NAME --methods LIST --shifts SHIFTS.json -o OUT.html\n"
    "       goodhart genies check [--strict] [--shifts SHIFTS.json] FILE|DIR...\n"
    "  Loads distributions (a folder of NAME/{train,test}.json, or files) and reports malformed records.\n"
    "       goodhart genies convert IN.json|IN.jsonl -o OUT.jsonl [--strict]\n"
    "  Writes the pairs as Hugging Face preference JSON Lines (prompt, chosen, rejected).\n";

static void warn_stderr(void *user, const char *msg) {
    (void)user;
    fprintf(stderr, "goodhart genies: warning: %s\n", msg);
}

static void progress(void *user, const gh_genies_progress *p) {
    (void)user;
    fprintf(stderr, "[%d/%d] %-11s %s -> %s%s\n", p->done, p->total, p->method, p->source, p->target,
            p->skipped ? " (finished earlier)" : "");
}

/* Parses a method list into a bit set. */
static bool parse_methods(const char *list, uint32_t *out) {
    *out = 0;
    if (!strcmp(list, "all")) { *out = (1u << GH_GENIES_N_METHODS) - 1; return true; }
    char *dup = strdup(list), *save = NULL;
    if (!dup) return false;
    bool ok = true;
    for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        gh_genies_method m;
        if (!gh_genies_method_from_name(t, &m)) {
            fprintf(stderr, "goodhart genies: unknown method '%s' (zero_shot, few_shot, reward_head, mms, lat, ccs, cra, random)\n", t);
            ok = false;
            break;
        }
        *out |= 1u << m;
    }
    free(dup);
    return ok && *out;
}

/* The base name of a shifts file without .json ("GENIES"). */
static char *shifts_name(const char *path) {
    const char *b = strrchr(path, '/');
    char *n = strdup(b ? b + 1 : path);
    if (n) {
        char *d = strrchr(n, '.');
        if (d && d != n) *d = 0;
    }
    return n;
}

static int genies_run(int argc, char **argv) {
    gh_genies_run_params p = gh_genies_default_run_params();
    const char *model = NULL, *shifts = NULL, *out = NULL, *v;
    long long ll, threads = 0;
    bool missing = false, quiet = false;
    for (int i = 2; i < argc; i++) {
        int brc;
        const char *a = argv[i];
        if (cli_flag(a, "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if ((brc = cli_backend_opt("genies", argv, &i, argc))) { if (brc < 0) return 2; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &v, &missing)) model = v;
        else if (cli_opt(argv, &i, argc, NULL, "--shifts", &v, &missing)) shifts = v;
        else if (cli_opt(argv, &i, argc, NULL, "--data", &v, &missing)) p.data_dir = v;
        else if (cli_opt(argv, &i, argc, "-o", "--out", &v, &missing)) out = v;
        else if (cli_opt(argv, &i, argc, NULL, "--model-name", &v, &missing)) p.model_name = v;
        else if (cli_opt(argv, &i, argc, NULL, "--methods", &v, &missing)) {
            if (!missing && !parse_methods(v, &p.methods)) return 2;
        } else if (cli_opt(argv, &i, argc, NULL, "--max-examples", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, INT64_MAX, &ll)) return cli_usage_error("genies", "--max-examples needs an integer >= 1, got '%s'", v);
            p.max_examples = ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--max-tokens", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 16, 1 << 24, &ll)) return cli_usage_error("genies", "--max-tokens needs an integer >= 16, got '%s'", v);
            p.max_tokens = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--layer", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, 100000, &ll)) return cli_usage_error("genies", "--layer needs an integer >= 0, got '%s'", v);
            p.layer = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--few-shot-k", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, 64, &ll)) return cli_usage_error("genies", "--few-shot-k needs an integer in [0, 64], got '%s'", v);
            p.few_shot_k = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--seed", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, INT64_MAX, &ll)) return cli_usage_error("genies", "--seed needs an integer >= 0, got '%s'", v);
            p.seed = (uint64_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--bootstrap", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, 1000000, &ll)) return cli_usage_error("genies", "--bootstrap needs an integer in [0, 1000000], got '%s'", v);
            p.n_boot = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--limit-units", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1000000, &ll)) return cli_usage_error("genies", "--limit-units needs an integer >= 1, got '%s'", v);
            p.limit_units = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error("genies", "-t needs a thread count >= 1, got '%s'", v);
        } else if (cli_flag(a, NULL, "--strict")) p.load.fatal = true;
        else if (cli_flag(a, NULL, "--force")) p.force = true;
        else if (cli_flag(a, "-q", "--quiet")) quiet = true;
        else return cli_usage_error("genies", "unknown option '%s' for genies run", a);
        if (missing) return cli_usage_error("genies", "option '%s' needs a value", a);
    }
    if (!model) return cli_usage_error("genies", "no model given (-m MODEL)");
    if (!shifts) return cli_usage_error("genies", "no shifts given (--shifts SHIFTS.json)");
    if (!p.data_dir) return cli_usage_error("genies", "no data given (--data DIR)");
    if (!out) return cli_usage_error("genies", "no run directory given (-o RUNDIR)");
    gh_genies_shifts *sh;
    if (gh_genies_shifts_load(shifts, &sh)) return cli_fail("genies");
    gh_backend *b;
    if (cli_open_backend("genies", model, (int32_t)threads, &b)) { gh_genies_shifts_free(sh); return 1; }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    p.n_workers = threads > 0 ? (int32_t)threads : ncpu > 0 ? (int32_t)(ncpu < 64 ? ncpu : 64) : 1;
    p.load.warn = warn_stderr;
    if (!quiet) p.progress = progress;
    char *sn = shifts_name(shifts);
    p.shifts_name = sn;
    gh_genies_run_stats st;
    gh_status s = gh_genies_run(b, sh, &p, out, &st);
    free(sn);
    gh_backend_free(b);
    gh_genies_shifts_free(sh);
    if (s) return cli_fail("genies");
    printf("computed %d  finished earlier %d  left %d  prompts cut to fit %lld  pairs too long even so %lld\n",
           st.computed, st.skipped, st.remaining, (long long)st.n_cut, (long long)st.n_too_long);
    for (int m = 0; m < GH_GENIES_N_METHODS; m++)
        if (st.seconds[m] > 0)
            printf("time %-11s %.3f s (cpu %.3f s)\n", gh_genies_method_name((gh_genies_method)m), st.seconds[m],
                   st.cpu_seconds[m]);
    if (st.remaining) printf("stopped after %d units (--limit-units); run again to continue\n", st.computed);
    else printf("wrote %s/report.html\n", out);
    return 0;
}

static int cmd_metrics_or_report(int argc, char **argv, bool report) {
    gh_genies_metrics_params mp = gh_genies_default_metrics_params();
    const char *dir = NULL, *shifts = NULL, *out = NULL, *methods = NULL, *title = NULL, *v;
    bool missing = false, full = false, summary = false;
    long long ll;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (cli_flag(a, "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if (cli_opt(argv, &i, argc, NULL, "--results", &v, &missing)) dir = v;
        else if (cli_opt(argv, &i, argc, NULL, "--model", &v, &missing)) mp.model = v;
        else if (!report && cli_opt(argv, &i, argc, NULL, "--method", &v, &missing)) mp.method = v;
        else if (report && cli_opt(argv, &i, argc, NULL, "--methods", &v, &missing)) methods = v;
        else if (report && cli_opt(argv, &i, argc, NULL, "--title", &v, &missing)) title = v;
        else if (cli_opt(argv, &i, argc, NULL, "--shifts", &v, &missing)) shifts = v;
        else if (cli_opt(argv, &i, argc, NULL, "--baseline", &v, &missing)) mp.baseline = v;
        else if (cli_opt(argv, &i, argc, "-o", "--out", &v, &missing)) out = v;
        else if (cli_opt(argv, &i, argc, NULL, "--bootstrap", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, 1000000, &ll)) return cli_usage_error("genies", "--bootstrap needs an integer in [0, 1000000], got '%s'", v);
            mp.n_boot = (int32_t)ll;
        } else if (cli_opt(argv, &i, argc, NULL, "--seed", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 0, INT64_MAX, &ll)) return cli_usage_error("genies", "--seed needs an integer >= 0, got '%s'", v);
            mp.seed = (uint64_t)ll;
        } else if (!report && cli_flag(a, NULL, "--full")) full = true;
        else if (!report && cli_flag(a, NULL, "--summary")) summary = true;
        else return cli_usage_error("genies", "unknown option '%s' for genies %s", a, argv[1]);
        if (missing) return cli_usage_error("genies", "option '%s' needs a value", a);
    }
    if (full && summary) return cli_usage_error("genies", "--full and --summary are two different tables: give one");
    if (!dir) return cli_usage_error("genies", "no results given (--results DIR)");
    if (!mp.model) return cli_usage_error("genies", "no model name given (--model NAME, as in DIR/evaluations/METHOD/NAME-SOURCE)");
    if (!report && !mp.method) return cli_usage_error("genies", "no method given (--method METHOD)");
    if (report && !methods) return cli_usage_error("genies", "no methods given (--methods a,b,c)");
    if (report && !out) return cli_usage_error("genies", "no output given (-o OUT.html)");
    if (!shifts) return cli_usage_error("genies", "no shifts given (--shifts SHIFTS.json)");
    gh_genies_shifts *sh;
    if (gh_genies_shifts_load(shifts, &sh)) return cli_fail("genies");
    mp.warn = warn_stderr;
    gh_status s = GH_OK;
    int rc = 0;
    if (!report) {
        gh_genies_row *rows = calloc((size_t)(sh->n ? sh->n : 1), sizeof *rows);
        if (!rows) s = gh_error(GH_ERR_NOMEM, "out of memory");
        if (!s) s = gh_genies_metrics(dir, sh, &mp, rows);
        FILE *f = stdout;
        if (!s && out && !(f = fopen(out, "w"))) s = gh_error(GH_ERR_IO, "%s: cannot write", out);
        if (!s && summary) s = gh_genies_write_summary_csv(f, sh, 1, &mp.method, &rows);
        else if (!s) s = full ? gh_genies_write_csv_full(f, mp.method, rows, sh->n) : gh_genies_write_csv(f, rows, sh->n);
        if (f && f != stdout && fclose(f) != 0 && !s) s = gh_error(GH_ERR_IO, "%s: cannot write", out);
        free(rows);
    } else {
        char *dup = strdup(methods), *save = NULL;
        const char *names[64];
        gh_genies_row *rows[64] = {0};
        int32_t n = 0;
        for (char *t = dup ? strtok_r(dup, ",", &save) : NULL; t && !s; t = strtok_r(NULL, ",", &save)) {
            if (n == 64) { s = gh_error(GH_ERR_LIMIT, "at most 64 methods in one report"); break; }
            names[n] = t;
            if (!(rows[n] = calloc((size_t)(sh->n ? sh->n : 1), sizeof **rows))) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
            mp.method = t;
            s = gh_genies_metrics(dir, sh, &mp, rows[n]);
            n++;
        }
        if (!dup) s = gh_error(GH_ERR_NOMEM, "out of memory");
        if (!s) {
            char tb[300];
            snprintf(tb, sizeof tb, "GENIES on %.200s", mp.model);
            s = gh_genies_report(out, title ? title : tb, sh, n, names, rows);
        }
        if (!s) printf("wrote %s\n", out);
        for (int32_t m = 0; m < n; m++) free(rows[m]);
        free(dup);
    }
    gh_genies_shifts_free(sh);
    if (s) rc = cli_fail("genies");
    return rc;
}

static int check_file(const char *path, const gh_genies_load_params *lp, bool *any_bad) {
    gh_genies_set *set;
    if (gh_genies_load(path, lp, &set)) { *any_bad = true; return cli_fail("genies"); }
    printf("%s: %lld records, %lld pairs, %lld malformed skipped\n", path, (long long)set->n_records,
           (long long)set->n_pairs, (long long)set->n_skipped);
    if (set->n_skipped) *any_bad = true;
    gh_genies_set_free(set);
    return 0;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int genies_check_dir(const char *dir, const gh_genies_load_params *lp, bool *any_bad) {
    DIR *d = opendir(dir);
    if (!d) { fprintf(stderr, "goodhart genies: %s: cannot open the folder\n", dir); return 1; }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        if ((names[n] = strdup(e->d_name))) n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_name);
    int rc = 0, found = 0;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            size_t l = strlen(dir) + strlen(names[i]) + 16;
            char *path = malloc(l);
            if (!path) continue;
            snprintf(path, l, "%s/%s/%s.json", dir, names[i], k ? "test" : "train");
            FILE *f = fopen(path, "rb");
            if (f) {
                fclose(f);
                found++;
                if (check_file(path, lp, any_bad)) rc = 1;
            }
            free(path);
        }
        free(names[i]);
    }
    free(names);
    if (!found) { fprintf(stderr, "goodhart genies: %s: no NAME/train.json or NAME/test.json inside\n", dir); rc = 1; }
    else printf("%s: %d files\n", dir, found);
    return rc;
}

static int genies_check(int argc, char **argv) {
    gh_genies_load_params lp = gh_genies_default_load_params();
    lp.warn = warn_stderr;
    const char *shifts = NULL, *v;
    bool missing = false, any_bad = false;
    int n_paths = 0, rc = 0;
    for (int i = 2; i < argc; i++) {
        if (cli_flag(argv[i], "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if (cli_flag(argv[i], NULL, "--strict")) lp.fatal = true;
        else if (cli_opt(argv, &i, argc, NULL, "--shifts", &v, &missing)) shifts = v;
        else if (argv[i][0] == '-') return cli_usage_error("genies", "unknown option '%s' for genies check", argv[i]);
        if (missing) return cli_usage_error("genies", "option '%s' needs a value", argv[i]);
    }
    if (shifts) {
        gh_genies_shifts *sh;
        if (gh_genies_shifts_load(shifts, &sh)) return cli_fail("genies");
        printf("%s: %d shifts, %d unique\n", shifts, sh->n, sh->n_unique);
        for (int32_t i = 0; i < sh->n; i++)
            if (sh->shifts[i].duplicate)
                printf("  repeat: %s -> %s (reference %s)\n", sh->shifts[i].source, sh->shifts[i].target,
                       sh->shifts[i].target_reference);
        gh_genies_shifts_free(sh);
    }
    for (int i = 2; i < argc; i++) {
        if (argv[i][0] == '-') {
            if (!strcmp(argv[i], "--shifts")) i++;
            continue;
        }
        n_paths++;
        const char *path = argv[i];
        size_t l = strlen(path);
        if ((l > 5 && !strcmp(path + l - 5, ".json")) || (l > 6 && !strcmp(path + l - 6, ".jsonl"))) {
            if (check_file(path, &lp, &any_bad)) rc = 1;
            continue;
        }
        /* a folder of distributions: every NAME/{train,test}.json, in name order */
        if (genies_check_dir(path, &lp, &any_bad)) rc = 1;
    }
    if (!n_paths && !shifts) return cli_usage_error("genies", "check: give distribution files or folders");
    if (!rc && any_bad) printf("malformed records were found (see the warnings above)\n");
    return rc;
}

static int genies_convert(int argc, char **argv) {
    gh_genies_load_params lp = gh_genies_default_load_params();
    lp.warn = warn_stderr;
    const char *in = NULL, *out = NULL, *v;
    bool missing = false;
    for (int i = 2; i < argc; i++) {
        if (cli_flag(argv[i], "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if (cli_flag(argv[i], NULL, "--strict")) lp.fatal = true;
        else if (cli_opt(argv, &i, argc, "-o", "--out", &v, &missing)) out = v;
        else if (argv[i][0] == '-') return cli_usage_error("genies", "unknown option '%s' for genies convert", argv[i]);
        else if (!in) in = argv[i];
        else return cli_usage_error("genies", "convert takes one input file");
        if (missing) return cli_usage_error("genies", "option '%s' needs a value", argv[i]);
    }
    if (!in || !out) return cli_usage_error("genies", "usage: genies convert IN.json -o OUT.jsonl");
    gh_genies_set *set;
    if (gh_genies_load(in, &lp, &set)) return cli_fail("genies");
    gh_status s = gh_genies_write_jsonl(set, out);
    if (!s) printf("wrote %lld pairs from %lld records to %s (%lld malformed skipped)\n", (long long)set->n_pairs,
                   (long long)set->n_records, out, (long long)set->n_skipped);
    gh_genies_set_free(set);
    return s ? cli_fail("genies") : 0;
}

int cmd_genies(int argc, char **argv) {
    if (argc < 2 || cli_flag(argv[1], "-h", "--help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "run")) return genies_run(argc, argv);
    if (!strcmp(verb, "metrics")) return cmd_metrics_or_report(argc, argv, false);
    if (!strcmp(verb, "report")) return cmd_metrics_or_report(argc, argv, true);
    if (!strcmp(verb, "check")) return genies_check(argc, argv);
    if (!strcmp(verb, "convert")) return genies_convert(argc, argv);
    return cli_usage_error("genies", "unknown verb '%s' (run, metrics, report, check, convert)", verb);
}
