/* probe_lambda.c — `goodhart probe lambda`: the weight λ of a probe penalty
 * R − λ·S, chosen as Papadatos & Freedman do so that λ·S spreads as much as R
 * over a calibration set (sd(λ·S) = sd(R), gh_probe_penalty_lambda).
 *
 * Two ways in: scores already computed (`--reward-scores`, `--probe-scores`:
 * one number per line, as `probe apply` and `reward score` print them, or .npy),
 * or computed here from a model, a reward spec, a probe and a calibration file
 * of {"prompt", "response"} records. The answer includes the combined reward
 * spec, so "BoN against R − λS" is the next command. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/jsonl.h"
#include "cli.h"
#include "goodhart/npy.h"
#include "goodhart/probe.h"
#include "goodhart/reward.h"

static const char *usage_text =
    "usage: goodhart probe lambda --reward-scores R.txt|R.npy --probe-scores S.txt|S.npy [--json]\n"
    "       goodhart probe lambda [-m MODEL] --reward SPEC --probe PROBE.gguf --data CALIB.jsonl [--json]\n"
    "  λ such that sd(λ·S) = sd(R) over the calibration set (Papadatos & Freedman);\n"
    "  the penalised reward is R − λ·S, written as the spec 'SPEC;-λ*probe:PROBE.gguf'.\n"
    "  S reads the hidden states of the model the probe was trained on: an rm: term's\n"
    "  model in SPEC if one is that model, else MODEL (which then must be).\n"
    "  Score files: one number per line (as `probe apply` prints), or a .npy vector.\n"
    "  CALIB.jsonl: one {\"prompt\": ..., \"response\": ...} object per line.\n"
    "  -t N   threads\n" CLI_BACKEND_USAGE;

typedef struct nums {
    double *v;
    int64_t n, cap;
} nums;

static gh_status nums_push(nums *a, double x) {
    if (a->n == a->cap) {
        int64_t c = a->cap ? 2 * a->cap : 64;
        double *v = realloc(a->v, (size_t)c * sizeof *v);
        if (!v) return gh_error(GH_ERR_NOMEM, "out of memory");
        a->v = v;
        a->cap = c;
    }
    a->v[a->n++] = x;
    return GH_OK;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* One number per line (blank lines skipped), or a .npy vector / n×1 array. */
static gh_status read_scores(const char *path, nums *out) {
    memset(out, 0, sizeof *out);
    if (ends_with(path, ".npy")) {
        float *x = NULL;
        int64_t r, c;
        gh_status s = gh_npy_read_f32(path, &x, &r, &c);
        if (s) return s;
        if (c != 1) { free(x); return gh_error(GH_ERR_FORMAT, "%s: expected a vector of scores, got %lld x %lld", path, (long long)r, (long long)c); }
        for (int64_t i = 0; i < r && !s; i++) s = nums_push(out, x[i]);
        free(x);
        return s;
    }
    char *text = NULL;
    size_t len = 0;
    gh_status s = gh_read_file(path, 1u << 30, &text, &len);
    if (s) return s;
    int64_t line = 0;
    for (char *p = text, *nl; p && *p && !s; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl) *nl = 0;
        line++;
        char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (!*q) continue;
        errno = 0;
        char *end;
        double v = strtod(q, &end);
        while (*end == ' ' || *end == '\t' || *end == '\r') end++;
        if (errno || *end || !isfinite(v)) s = gh_error(GH_ERR_FORMAT, "%s:%lld: not a finite number: '%.40s'", path, (long long)line, q);
        else s = nums_push(out, v);
    }
    free(text);
    return s;
}

/* R and S from one reward, "SPEC;probe:PROBE": R is the sum of all terms but
 * the last (added as gh_reward_score adds them), S the last term's value, so
 * the probe is bound as in the penalised reward itself (an rm: term's model
 * when the probe was trained on it; see goodhart/reward.h). */
typedef struct calib {
    gh_reward *RS;
    nums r, s;
} calib;

static gh_status calib_record(void *user, const char *path, int64_t line, const cJSON *obj) {
    calib *c = user;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, "prompt");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(obj, "response");
    if (!cJSON_IsString(p)) return gh_error(GH_ERR_FORMAT, "%s:%lld: field \"prompt\" missing or not a string", path, (long long)line);
    if (!cJSON_IsString(r)) return gh_error(GH_ERR_FORMAT, "%s:%lld: field \"response\" missing or not a string", path, (long long)line);
    gh_reward_input in = {.prompt = p->valuestring, .response = r->valuestring, .n_tokens = -1};
    const int32_t n = gh_reward_n_terms(c->RS);
    double vr = 0, vs = 0, v;
    gh_status s = GH_OK;
    for (int32_t i = 0; i < n - 1 && !s; i++)
        if (!(s = gh_reward_term_value(c->RS, i, &in, &v))) vr += gh_reward_term_weight(c->RS, i) * v;
    if (!s) s = gh_reward_term_value(c->RS, n - 1, &in, &vs);
    if (s) { gh_error_prefix("%s:%lld", path, (long long)line); return s; }
    if ((s = nums_push(&c->r, vr))) return s;
    return nums_push(&c->s, vs);
}

int cmd_probe_lambda(int argc, char **argv) {
    const char *cmd = "probe lambda", *rs = NULL, *ps = NULL, *model = NULL, *spec = NULL, *probe = NULL, *dpath = NULL, *v;
    bool json = false, miss = false;
    long long threads = 0;
    for (int i = 1; i < argc; i++) {
        int brc;
        if (cli_flag(argv[i], "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if ((brc = cli_backend_opt(cmd, argv, &i, argc))) { if (brc < 0) return 2; }
        else if (cli_opt(argv, &i, argc, NULL, "--reward-scores", &rs, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--probe-scores", &ps, &miss)) {}
        else if (cli_opt(argv, &i, argc, "-m", "--model", &model, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--reward", &spec, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--probe", &probe, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--data", &dpath, &miss)) {}
        else if (cli_flag(argv[i], NULL, "--json")) json = true;
        else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 1, 4096, &threads)) return cli_usage_error(cmd, "-t needs a thread count >= 1, got '%s'", v);
        } else return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        if (miss) return cli_usage_error(cmd, "option '%s' needs a value", argv[i]);
    }
    const bool from_files = rs || ps, from_model = model || spec || probe || dpath;
    if (from_files == from_model)
        return cli_usage_error(cmd, "give either --reward-scores and --probe-scores, or -m, --reward, --probe and --data");
    if (from_files && (!rs || !ps)) return cli_usage_error(cmd, "needs both --reward-scores and --probe-scores");
    if (from_model && (!spec || !probe || !dpath))
        return cli_usage_error(cmd, "needs --reward SPEC, --probe PROBE.gguf and --data CALIB.jsonl (and -m MODEL unless an rm: term "
                               "of SPEC is the model the probe was trained on)");
    int rc = 0;
    nums R = {0}, S = {0};
    char probe_esc[4096] = ""; /* the path with ';' written '\;', as a spec needs */
    for (size_t i = 0, o = 0; probe && probe[i]; i++) {
        if (o + 3 >= sizeof probe_esc) return cli_usage_error(cmd, "--probe path too long");
        if (probe[i] == ';') probe_esc[o++] = '\\';
        probe_esc[o++] = probe[i];
        probe_esc[o] = 0;
    }
    gh_backend *b = NULL;
    calib c = {0};
    if (from_files) {
        if (read_scores(rs, &R) || read_scores(ps, &S)) { rc = cli_fail(cmd); goto done; }
        if (R.n != S.n) {
            gh_error(GH_ERR_INVALID_ARG, "%s has %lld scores but %s has %lld: they must be the same calibration set, in the same order",
                     rs, (long long)R.n, ps, (long long)S.n);
            rc = cli_fail(cmd);
            goto done;
        }
    } else {
        if (model && (rc = cli_open_backend(cmd, model, (int32_t)threads, &b))) goto done;
        char pspec[8192];
        if ((size_t)snprintf(pspec, sizeof pspec, "%s;probe:%s", spec, probe_esc) >= sizeof pspec) {
            rc = cli_usage_error(cmd, "--reward and --probe too long");
            goto done;
        }
        if (gh_reward_parse(pspec, NULL, b, &c.RS) || gh_jsonl_each(dpath, (size_t)1 << 30, calib_record, &c, NULL)) {
            rc = cli_fail(cmd);
            goto done;
        }
        R = c.r;
        S = c.s;
        c.r.v = c.s.v = NULL;
    }
    double lambda;
    if (gh_probe_penalty_lambda(R.v, S.v, R.n, &lambda)) { rc = cli_fail(cmd); goto done; }
    if (json) {
        printf("{\"lambda\":%.17g,\"n\":%lld", lambda, (long long)R.n);
        if (from_model) {
            char buf[8192];
            snprintf(buf, sizeof buf, "%s;-%.6g*probe:%s", spec, lambda, probe_esc);
            printf(",\"reward\":");
            cli_json_string(stdout, buf, strlen(buf));
        }
        printf("}\n");
    } else {
        printf("lambda %.9g  (calibration set of %lld; sd(lambda*S) = sd(R))\n", lambda, (long long)R.n);
        if (from_model) printf("penalised reward: '%s;-%.6g*probe:%s'\n", spec, lambda, probe_esc);
    }
done:
    free(R.v);
    free(S.v);
    free(c.r.v);
    free(c.s.v);
    gh_reward_free(c.RS);
    gh_backend_free(b);
    return rc;
}
