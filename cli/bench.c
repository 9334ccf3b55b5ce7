/* bench.c — `goodhart bench -m MODEL`: prompt processing, generation and
 * batched-decode speed, each compared with the memory-bandwidth limit measured
 * in the same run (weights read per decode step ÷ streaming read bandwidth),
 * and the batched decode also with the compute limit measured in the same run
 * (multiply-adds per token × tokens/s ÷ the threads' f32 FMA peak): a large
 * batch reads the weights once for N tokens, so compute bounds it instead.
 * Timings are medians of --reps runs; the machine is shared and noisy, so
 * each rep runs every batch size in turn and measures both limits again. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "goodhart/model.h"
#include "kernels/kernels.h"

static const char *usage_text =
    "usage: goodhart bench -m MODEL [-t THREADS] [--pp N] [--tg N] [--ctx P] [--batches 1,4,16] [--reps R] [--mmap] [--json]\n"
    "  --pp N        prompt tokens processed in one batch (default 128)\n"
    "  --tg N        tokens generated per sequence (default 32)\n"
    "  --ctx P       tokens of the prompt the decoded sequences share (default 16;\n"
    "                longer prompts make each step's attention longer)\n"
    "  --batches L   sequences decoded together (default 1,4,16)\n"
    "  --reps R      repetitions; medians are reported (default 3)\n"
    "  --bw-mib M    buffer for the bandwidth probe in MiB (default 512)\n"
    "  --mmap        decode from the file mapped in place instead of a copy in\n"
    "                memory with huge pages (the default; see gh_model_params)\n";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Seconds to process `pp` tokens of sequence 0 in one decode call. */
static gh_status time_prompt(gh_model *m, int32_t pp, double *sec) {
    gh_ctx *c;
    gh_ctx_params cp = gh_ctx_default_params();
    cp.n_ctx = pp;
    cp.n_batch = pp;
    gh_status s = gh_ctx_init(m, &cp, &c);
    if (s) return s;
    int32_t *tok = malloc((size_t)pp * sizeof *tok), *seq = calloc((size_t)pp, sizeof *seq);
    const int32_t V = gh_model_get_info(m)->n_vocab;
    for (int32_t i = 0; i < pp; i++) tok[i] = (int32_t)((1 + 7919u * (unsigned)i) % (unsigned)V);
    double t0 = now();
    s = gh_ctx_decode(c, pp, tok, seq, NULL);
    *sec = now() - t0;
    free(tok);
    free(seq);
    gh_ctx_free(c);
    return s;
}

/* Seconds to generate `tg` tokens in each of `n` sequences that share a prompt
 * of P tokens (processed first, untimed), one decode call per step with one
 * token per sequence. */
static gh_status time_decode(gh_model *m, int32_t n, int32_t P, int32_t tg, double *sec) {
    gh_ctx *c;
    gh_ctx_params cp = gh_ctx_default_params();
    cp.n_ctx = P + tg;
    cp.n_seq = n;
    cp.n_batch = P > n ? P : n;
    gh_status s = gh_ctx_init(m, &cp, &c);
    if (s) return s;
    const int32_t V = gh_model_get_info(m)->n_vocab;
    int32_t *tok = malloc((size_t)P * sizeof *tok), *seq0 = calloc((size_t)P, sizeof *seq0);
    if (!tok || !seq0) { free(tok); free(seq0); gh_ctx_free(c); return gh_error(GH_ERR_NOMEM, "bench: prompt of %d tokens", P); }
    for (int32_t i = 0; i < P; i++) tok[i] = (int32_t)((3 + 104729u * (unsigned)i) % (unsigned)V);
    s = gh_ctx_decode(c, P, tok, seq0, NULL);
    free(tok);
    free(seq0);
    if (s) { gh_ctx_free(c); return s; }
    for (int32_t j = 1; j < n; j++) gh_ctx_seq_copy(c, 0, j);
    int32_t *bt = malloc((size_t)n * sizeof *bt), *bs = malloc((size_t)n * sizeof *bs);
    uint8_t *want = malloc((size_t)n);
    for (int32_t j = 0; j < n; j++) { bs[j] = j; want[j] = 1; }
    double t0 = now();
    for (int32_t step = 0; step < tg && !s; step++) {
        for (int32_t j = 0; j < n; j++) bt[j] = (int32_t)((5 + 31u * (unsigned)(step * n + j)) % (unsigned)V);
        s = gh_ctx_decode(c, n, bt, bs, want);
    }
    *sec = now() - t0;
    free(bt);
    free(bs);
    free(want);
    gh_ctx_free(c);
    return s;
}

/* Both limits, measured now: read bandwidth (bytes/s) and FMA peak
 * (multiply-adds/s) of nt threads. */
static void measure_limits(int nt, long long bw_mib, double *bw, double *fp) {
    *bw = gh_measure_read_bandwidth(nt, (size_t)bw_mib << 20, 5) * 1e9;
    *fp = gh_measure_fma_peak(nt, 3) * 1e9;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *v, *batches = "1,4,16";
    long long threads = 0, pp = 128, tg = 32, ctx = 16, reps = 3, bw_mib = 512;
    bool json = false, missing = false, use_mmap = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_flag(a, "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &v, &missing)) model = v;
        else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error("bench", "-t needs a thread count, got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--pp", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1 << 16, &pp)) return cli_usage_error("bench", "--pp needs a token count, got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--tg", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1 << 16, &tg)) return cli_usage_error("bench", "--tg needs a token count, got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--ctx", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1 << 20, &ctx)) return cli_usage_error("bench", "--ctx needs a token count >= 1, got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--reps", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 100, &reps)) return cli_usage_error("bench", "--reps needs a count in [1, 100], got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--bw-mib", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 16, 1 << 16, &bw_mib)) return cli_usage_error("bench", "--bw-mib needs a size in MiB >= 16, got '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--batches", &v, &missing)) batches = v;
        else if (cli_flag(a, NULL, "--json")) json = true;
        else if (cli_flag(a, NULL, "--mmap")) use_mmap = true;
        else return cli_usage_error("bench", "unknown option '%s'", a);
        if (missing) return cli_usage_error("bench", "option '%s' needs a value", a);
    }
    if (!model) return cli_usage_error("bench", "no model given (-m MODEL)");
    int32_t bl[16], nb = 0;
    {
        char *copy = strdup(batches), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            long long x;
            if (nb == 16 || !cli_parse_int(t, 1, 4096, &x)) { free(copy); return cli_usage_error("bench", "--batches needs up to 16 counts like 1,4,16, got '%s'", batches); }
            bl[nb++] = (int32_t)x;
        }
        free(copy);
        if (nb == 0) return cli_usage_error("bench", "--batches is empty");
    }
    gh_model_params mp = gh_model_default_params();
    if (threads > 0) mp.n_threads = (int32_t)threads;
    mp.use_mmap = use_mmap;
    gh_model *m;
    if (gh_model_load(model, &mp, &m) != GH_OK) return cli_fail("bench");
    const gh_model_info *I = gh_model_get_info(m);
    if (pp > I->n_ctx_train) pp = I->n_ctx_train;
    if (ctx >= I->n_ctx_train) {
        const int n_ctx_train = (int)I->n_ctx_train; /* I is the model's: read it before the free */
        gh_model_free(m);
        return cli_usage_error("bench", "--ctx %lld leaves no room to decode: the model's context is %d tokens", ctx,
                               n_ctx_train);
    }
    if (tg + ctx > I->n_ctx_train) tg = I->n_ctx_train - ctx;
    const int nt = gh_model_n_threads(m);
    /* The machine is shared: its bandwidth and speed drift while the
     * bench runs. So each rep times every batch size in turn and measures
     * the bandwidth again, and each figure is the median over the reps: the
     * N = 16 / batch 1 ratio and the fractions of the limit then compare
     * runs made under the same conditions. */
    double *t = malloc((size_t)reps * sizeof *t), *td = malloc((size_t)(reps * nb) * sizeof *td),
           *bws = malloc((size_t)(reps + 1) * sizeof *bws), *fps = malloc((size_t)(reps + 1) * sizeof *fps), tmp;
    if (!t || !td || !bws || !fps) {
        free(t); free(td); free(bws); free(fps); gh_model_free(m);
        gh_error(GH_ERR_NOMEM, "out of memory");
        return cli_fail("bench");
    }
    measure_limits(nt, bw_mib, &bws[0], &fps[0]);
    gh_status s = time_prompt(m, 8, &tmp); /* warm-up: page in the weights */
    double pp_sec = 0, tg_rate[16] = {0};
    for (long long r = 0; r < reps && !s; r++) s = time_prompt(m, (int32_t)pp, &t[r]);
    if (!s) pp_sec = median(t, (int)reps);
    for (long long r = 0; r < reps && !s; r++) {
        for (int b = 0; b < nb && !s; b++) s = time_decode(m, bl[b], (int32_t)ctx, (int32_t)tg, &td[b * reps + r]);
        measure_limits(nt, bw_mib, &bws[r + 1], &fps[r + 1]);
    }
    for (int b = 0; b < nb && !s; b++) tg_rate[b] = (double)bl[b] * (double)tg / median(td + b * reps, (int)reps);
    const double bw = median(bws, (int)reps + 1), fp = median(fps, (int)reps + 1);
    free(t);
    free(td);
    free(bws);
    free(fps);
    if (s) { gh_model_free(m); return cli_fail("bench"); }
    const double pp_rate = (double)pp / pp_sec;
    double single = 0;
    for (int b = 0; b < nb; b++) if (bl[b] == 1) single = tg_rate[b];
    const double step_bytes = (double)I->step_bytes, macs = (double)I->step_macs;
    if (json) {
        printf("{\"model\":");
        cli_json_string(stdout, model, strlen(model));
        printf(",\"weight_type\":\"%s\",\"n_params\":%lld,\"step_bytes\":%.0f,\"threads\":%d,\"simd\":\"%s\","
               "\"bandwidth_gbs\":%.3f,\"fma_peak_gmacs\":%.3f,\"step_macs\":%.0f,\"pp_tokens\":%lld,\"pp_tok_s\":%.3f,\"tg_tokens\":%lld,\"ctx_tokens\":%lld,"
               "\"weights\":\"%s\",\"regrouped\":%d,\"reps\":%lld,\"decode\":[",
               gh_type_name(I->wtype), (long long)I->n_params, step_bytes, nt, gh_kernels_simd_name(),
               bw / 1e9, fp / 1e9, macs, pp, pp_rate, tg, ctx, I->mapped ? "mmap" : "copy", I->n_regrouped, reps);
        for (int b = 0; b < nb; b++) {
            double steps = tg_rate[b] / bl[b];
            printf("%s{\"n\":%d,\"tok_s\":%.3f,\"steps_s\":%.3f,\"bw_fraction\":%.4f%s", b ? "," : "", bl[b], tg_rate[b],
                   steps, steps * step_bytes / bw, "");
            if (single > 0) printf(",\"speedup_vs_1\":%.3f", tg_rate[b] / single);
            if (macs > 0 && fp > 0) printf(",\"gmac_s\":%.3f,\"fma_fraction\":%.4f", tg_rate[b] * macs / 1e9, tg_rate[b] * macs / fp);
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("model        %s (%s, %lld parameters, %.1f MiB read per decode step)\n", model,
               gh_type_name(I->wtype), (long long)I->n_params, step_bytes / (1 << 20));
        printf("threads      %d, kernels %s, weights %s", nt, gh_kernels_simd_name(),
               I->mapped ? "mapped from the file" : "copied into memory (huge pages advised)");
        if (I->n_regrouped) printf(", %d matrices regrouped for the kernels", I->n_regrouped);
        printf("\n");
        printf("bandwidth    %.2f GB/s (streaming read, measured now)\n", bw / 1e9);
        printf("limit        %.2f tokens/s at batch 1 (bandwidth / bytes per step)\n", bw / step_bytes);
        printf("compute      %.1f GMAC/s (f32 FMA peak of the threads, measured now)", fp / 1e9);
        if (macs > 0 && fp > 0)
            printf(": at most %.2f tokens/s at any batch (%.2f GMAC per token)", fp / macs, macs / 1e9);
        printf("\n");
        printf("prompt       %lld tokens: %.2f tokens/s\n", pp, pp_rate);
        printf("decode       %lld tokens per sequence after a shared prompt of %lld tokens\n", tg, ctx);
        for (int b = 0; b < nb; b++) {
            double steps = tg_rate[b] / bl[b];
            printf("decode N=%-3d %.2f tokens/s (%.2f steps/s, %.2f of the bandwidth limit per step",
                   bl[b], tg_rate[b], steps, steps * step_bytes / bw);
            if (single > 0 && bl[b] != 1) printf(", %.2fx batch 1", tg_rate[b] / single);
            if (macs > 0 && fp > 0) printf(", %.2f of the compute limit", tg_rate[b] * macs / fp);
            printf(")\n");
        }
    }
    gh_model_free(m);
    return 0;
}
