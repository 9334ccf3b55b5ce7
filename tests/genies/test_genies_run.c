/* test_genies_run.c — running GENIES on stories260K over the real data: every
 * method on two real shifts (one with a target reference) with a few pairs;
 * the run directory in the study's layout, recomputable by `genies metrics`;
 * resume after an interruption redoes no finished (method, shift) result and
 * ends with the same tables as an uninterrupted run; changed settings are
 * refused; 2 or 3 worker threads give the same files as one; the same model
 * served over HTTP gives the same evaluations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/backend.h"
#include "goodhart/genies.h"
#include "goodhart/serve.h"
#include "goodhart/store.h"
#include "testutil.h"

/* Under AddressSanitizer the forward passes run ~30x slower: the CLI test over
 * all 15 GENIES shifts then runs three methods instead of eight. */
#define SANITIZED TU_SANITIZED

static gh_backend *g_b;
static gh_genies_shifts *g_sh;
static const char *g_shifts_path;

static const char k_shifts[] =
    "[{\"source\": \"alpaca_easy\", \"target\": \"alpaca_hard\", \"category\": \"difficulty\"},\n"
    " {\"source\": \"alpaca_short\", \"target\": \"alpaca_long\", \"target_reference\": \"alpaca_mmlu\","
    " \"category\": \"spurious_cues\"}]\n";

static int setup(void **state) {
    (void)state;
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    if (gh_backend_open(tu_stories_gguf(), &bp, &g_b)) return -1;
    g_shifts_path = tu_tmp("two.json");
    if (tu_write_file(g_shifts_path, k_shifts, strlen(k_shifts))) return -1;
    return gh_genies_shifts_load(g_shifts_path, &g_sh) ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    gh_genies_shifts_free(g_sh);
    gh_backend_free(g_b);
    return 0;
}

static gh_genies_run_params params(void) {
    gh_genies_run_params p = gh_genies_default_run_params();
    p.data_dir = tu_shared("genies/distributions");
    p.model_name = "stories260K";
    p.methods = (1u << GH_GENIES_N_METHODS) - 1;
    p.max_examples = 3;
    p.max_tokens = 64;
    p.few_shot_k = 1;
    p.n_boot = 20;
    p.shifts_name = "two";
    return p;
}

static char *csv_of(const char *run, const char *method) {
    char path[512];
    snprintf(path, sizeof path, "%s/generalization_metrics/stories260K/%s/two.csv", run, method);
    return tu_read_file(path, NULL);
}

typedef struct sessions {
    int n;
    int session[64];
} sessions;

static gh_status count_session(void *user, const char *key, const void *val, size_t len) {
    (void)key;
    (void)len;
    sessions *s = user;
    const char *p = strstr(val, "\"session\":");
    if (p && s->n < 64) s->session[s->n++] = atoi(p + 10);
    return GH_OK;
}

static sessions read_sessions(const char *run) {
    char db[512];
    snprintf(db, sizeof db, "%s/run.sqlite", run);
    gh_store *st;
    sessions s = {0};
    assert_ok(gh_store_open(db, &st));
    assert_ok(gh_store_iter(st, "results", count_session, &s));
    gh_store_close(st);
    return s;
}

/* The target-tuned capability of a shift equals the best accuracy among the
 * run's methods (random excluded; ties to the first name, in name order)
 * trained and tested on the shift's target reference, and none of it comes
 * from the target itself when the reference differs. */
static void check_ttc(const char *run, const char *model, const gh_genies_shift *x, const gh_genies_row *r) {
    static const char *const sorted[] = {"ccs", "cra", "few_shot", "lat", "mms", "reward_head", "zero_shot"};
    double best = NAN;
    const char *name = "";
    char path[1024];
    for (size_t k = 0; k < sizeof sorted / sizeof *sorted; k++) {
        snprintf(path, sizeof path, "%s/evaluations/%s/%s-%s/%s.json", run, sorted[k], model, x->target_reference,
                 x->target_reference);
        gh_genies_eval e;
        assert_ok(gh_genies_eval_read(path, &e));
        if (isnan(best) || e.accuracy > best) { best = e.accuracy; name = sorted[k]; }
        gh_genies_eval_free(&e);
        if (strcmp(x->target, x->target_reference)) {
            snprintf(path, sizeof path, "%s/evaluations/%s/%s-%s/%s.json", run, sorted[k], model, x->target, x->target);
            FILE *f = fopen(path, "rb");
            if (f) fclose(f);
            assert_null(f); /* never trained on the target itself */
        }
    }
    assert_true(r->target_tuned_capability == best);
    assert_string_equal(r->ttc_intervention, name);
}

static void test_every_method(void **state) {
    (void)state;
    const char *run = tu_tmp("run_full");
    gh_genies_run_params p = params();
    gh_genies_run_stats st;
    assert_ok(gh_genies_run(g_b, g_sh, &p, run, &st));
    assert_int_equal(st.computed, 16);
    assert_int_equal(st.skipped, 0);
    assert_int_equal(st.remaining, 0);
    for (int m = 0; m < GH_GENIES_N_METHODS; m++) {
        const char *mn = gh_genies_method_name((gh_genies_method)m);
        /* each method's wall and CPU time are reported (bench/genies.sh prints them) */
        assert_true(st.seconds[m] > 0);
        assert_true(st.cpu_seconds[m] > 0);
        char *csv = csv_of(run, mn);
        assert_non_null(csv);
        assert_contains(csv, "source,target,target_reference,generalization_accuracy,baseline_accuracy");
        assert_contains(csv, "alpaca_short,alpaca_long,alpaca_mmlu,");
        /* `genies metrics` on the run directory gives the same table */
        int rc;
        char *out = tu_cli(&rc, "genies metrics --results %s --model stories260K --method %s --shifts %s --bootstrap 0 2>&1",
                           run, mn, g_shifts_path);
        assert_int_equal(rc, 0);
        assert_string_equal(out, csv);
        free(out);
        free(csv);
        /* every evaluation: accuracy in [0, 1], probabilities present */
        gh_genies_metrics_params mp = gh_genies_default_metrics_params();
        mp.model = "stories260K";
        mp.method = mn;
        mp.n_boot = 0;
        gh_genies_row rows[2];
        assert_ok(gh_genies_metrics(run, g_sh, &mp, rows));
        assert_string_equal(g_sh->shifts[1].target_reference, "alpaca_mmlu"); /* the TTC check below uses it */
        for (int i = 0; i < 2; i++) {
            assert_int_equal(rows[i].n_target, 3);
            assert_true(rows[i].generalization_accuracy >= 0 && rows[i].generalization_accuracy <= 1);
            assert_true(rows[i].source_id_accuracy >= 0 && rows[i].source_id_accuracy <= 1);
            /* with 3 pairs every method may miss all of them: TTC 0, elicitation undefined */
            assert_true(rows[i].target_tuned_capability >= 0 && rows[i].target_tuned_capability <= 1);
            if (rows[i].target_tuned_capability > 0) assert_true(isfinite(rows[i].differential_elicitation));
            assert_true(isnan(rows[i].rms_published)); /* fewer than 20 pairs in every bin */
            assert_true(rows[i].rms_corrected >= 0 && rows[i].rms_corrected <= 1);
            check_ttc(run, "stories260K", &g_sh->shifts[i], &rows[i]);
            if (m == GH_GENIES_ZERO_SHOT) assert_true(rows[i].generalization_accuracy == rows[i].baseline_accuracy);
            if (m == GH_GENIES_RANDOM) {
                assert_true(rows[i].generalization_accuracy == 0.5);
                assert_true(fabs(rows[i].brier - 0.25) < 1e-15);
            }
        }
    }
    char path[512];
    snprintf(path, sizeof path, "%s/evaluations/cra/stories260K-alpaca_mmlu/alpaca_mmlu.json", run);
    char *ev = tu_read_file(path, NULL);
    assert_non_null(ev);
    assert_contains(ev, "\"eval_probabilities\"");
    assert_contains(ev, "\"n\": 3");
    free(ev);
    snprintf(path, sizeof path, "%s/report.html", run);
    char *html = tu_read_file(path, NULL);
    assert_non_null(html);
    assert_contains(html, "Differential elicitation");
    assert_contains(html, "<svg");
    assert_contains(html, "reward_head: elicitation");
    free(html);
    /* a second call finds everything finished */
    assert_ok(gh_genies_run(g_b, g_sh, &p, run, &st));
    assert_int_equal(st.computed, 0);
    assert_int_equal(st.skipped, 16);
    sessions s = read_sessions(run);
    assert_int_equal(s.n, 16);
    for (int i = 0; i < s.n; i++) assert_int_equal(s.session[i], 1);
    /* other settings in the same directory are refused */
    p.max_examples = 4;
    assert_int_equal(gh_genies_run(g_b, g_sh, &p, run, &st), GH_ERR_MISMATCH);
    assert_contains(gh_last_error(), "max_examples=3");
}

/* Interrupted after 5 results, then resumed: the 5 are not recomputed (they
 * keep the first session's mark) and the tables equal the uninterrupted run's. */
static void test_resume(void **state) {
    (void)state;
    const char *run = tu_tmp("run_resumed");
    gh_genies_run_params p = params();
    p.limit_units = 5;
    gh_genies_run_stats st;
    assert_ok(gh_genies_run(g_b, g_sh, &p, run, &st));
    assert_int_equal(st.computed, 5);
    assert_int_equal(st.remaining, 11);
    p.limit_units = 0;
    assert_ok(gh_genies_run(g_b, g_sh, &p, run, &st));
    assert_int_equal(st.skipped, 5);
    assert_int_equal(st.computed, 11);
    sessions s = read_sessions(run);
    assert_int_equal(s.n, 16);
    for (int i = 0; i < s.n; i++) assert_int_equal(s.session[i], i < 5 ? 1 : 2);
    for (int m = 0; m < GH_GENIES_N_METHODS; m++) {
        const char *mn = gh_genies_method_name((gh_genies_method)m);
        char *a = csv_of(tu_tmp("run_full"), mn), *b = csv_of(run, mn);
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
}

/* Pairs processed by 2 or 3 threads at once: every file the run writes (the
 * evaluations, the tables, the report) equals the one-thread run's byte for byte. */
static void test_workers_same(void **state) {
    (void)state;
    const char *runs[2] = {tu_tmp("run_w2"), tu_tmp("run_w3")};
    for (int k = 0; k < 2; k++) {
        gh_genies_run_params p = params();
        p.n_workers = 2 + k;
        gh_genies_run_stats st;
        assert_ok(gh_genies_run(g_b, g_sh, &p, runs[k], &st));
        assert_int_equal(st.computed, 16);
        char cmd[1536];
        snprintf(cmd, sizeof cmd, "diff -r --exclude=run.sqlite %s %s", tu_tmp("run_full"), runs[k]);
        assert_int_equal(system(cmd), 0);
    }
    /* the model's own thread count is given back */
    assert_int_equal(gh_model_n_threads(gh_backend_model(g_b)), 1);
}

/* The same model behind goodhart's own server on loopback (HTTP backend: its
 * sizes from /v1/models, its tokens from /tokenize, log-probabilities and
 * hidden states over HTTP): zero_shot, few_shot and mms give the local run's
 * pairs and probabilities (to 1e-5: numbers cross JSON) and the same accuracies. */
static void test_http_same(void **state) {
    (void)state;
    gh_serve_params sp = gh_serve_default_params();
    sp.port = 0;
    gh_server *srv;
    assert_ok(gh_server_start(&sp, &srv));
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    assert_ok(gh_server_load(srv, tu_stories_gguf(), &bp));
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", gh_server_port(srv));
    gh_backend_params hp = gh_backend_default_params();
    hp.timeout_s = 60;
    gh_backend *remote;
    assert_ok(gh_backend_open(url, &hp, &remote));
    assert_null(gh_backend_model(remote));
    const char *run = tu_tmp("run_http");
    gh_genies_run_params p = params();
    p.methods = (1u << GH_GENIES_ZERO_SHOT) | (1u << GH_GENIES_FEW_SHOT) | (1u << GH_GENIES_MMS);
    p.n_workers = 2;
    gh_genies_run_stats st;
    gh_status s = gh_genies_run(remote, g_sh, &p, run, &st);
    if (s) fprintf(stderr, "%s\n", gh_last_error());
    assert_ok(s);
    assert_int_equal(st.computed, 6);
    /* the run is keyed by the model file's hash, which the server reports */
    {
        char db[4096], *set = NULL, want[128];
        snprintf(db, sizeof db, "%s/run.sqlite", run);
        gh_store *sto = NULL;
        assert_ok(gh_store_open(db, &sto));
        assert_ok(gh_store_meta_get(sto, "genies.settings", &set));
        assert_non_null(set);
        snprintf(want, sizeof want, "model_sha256=%s ", gh_backend_model_sha256(remote));
        assert_int_equal(strlen(gh_backend_model_sha256(remote)), 64);
        assert_non_null(strstr(set, want));
        free(set);
        gh_store_close(sto);
    }
    const char *methods[3] = {"zero_shot", "few_shot", "mms"};
    const char *files[4] = {"alpaca_easy/alpaca_hard", "alpaca_easy/alpaca_easy", "alpaca_short/alpaca_long",
                            "alpaca_mmlu/alpaca_mmlu"};
    for (int m = 0; m < 3; m++)
        for (int k = 0; k < 4; k++) {
            char a[1024], b[1024], tr[64];
            snprintf(tr, sizeof tr, "%s", files[k]);
            char *slash = strchr(tr, '/');
            *slash = 0;
            snprintf(a, sizeof a, "%s/evaluations/%s/stories260K-%s/%s.json", tu_tmp("run_full"), methods[m], tr, slash + 1);
            snprintf(b, sizeof b, "%s/evaluations/%s/stories260K-%s/%s.json", run, methods[m], tr, slash + 1);
            gh_genies_eval ea, eb;
            assert_ok(gh_genies_eval_read(a, &ea));
            assert_ok(gh_genies_eval_read(b, &eb));
            assert_int_equal(ea.n, 3);
            assert_int_equal(eb.n, ea.n);
            for (int64_t i = 0; i < ea.n; i++) {
                if (fabs(ea.p[i] - eb.p[i]) > 1e-5) fprintf(stderr, "%s %s pair %lld: local %.9g, http %.9g\n", methods[m], files[k], (long long)i, ea.p[i], eb.p[i]);
                assert_true(fabs(ea.p[i] - eb.p[i]) <= 1e-5);
            }
            assert_true(ea.accuracy == eb.accuracy);
            gh_genies_eval_free(&ea);
            gh_genies_eval_free(&eb);
        }
    gh_backend_free(remote);
    gh_server_stop(srv);
}

/* No method may favour the side the preferred response is shown on: a target
 * whose pairs come twice, as (A, B) and as (B, A), gets p and 1 − p for the
 * two, so accuracy exactly ½, from every method. (CCS normalises each side by
 * its own training mean; its raw score carried an offset that counted as
 * accuracy until pair scores were made antisymmetric.) */
static void test_mirror_pairs(void **state) {
    (void)state;
    gh_genies_set *hard;
    assert_ok(gh_genies_load_json(tu_shared("genies/distributions/alpaca_hard/test.json"), NULL, &hard));
    gh_genies_pair pairs[16];
    for (int i = 0; i < 8; i++) {
        pairs[2 * i] = hard->pairs[i];
        pairs[2 * i + 1] = hard->pairs[i];
        pairs[2 * i + 1].chosen = hard->pairs[i].rejected;
        pairs[2 * i + 1].rejected = hard->pairs[i].chosen;
    }
    gh_genies_set mirror = {.path = "mirror", .n_records = 16, .n_pairs = 16, .pairs = pairs};
    const char *data = tu_tmp("mirror_data");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/mirror %s/alpaca_easy", data, data);
    assert_int_equal(system(cmd), 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/mirror/test.jsonl", data);
    assert_ok(gh_genies_write_jsonl(&mirror, path));
    gh_genies_set_free(hard);
    for (int sp = 0; sp < 2; sp++) {
        const char *split = sp ? "test" : "train";
        gh_genies_set *src;
        snprintf(path, sizeof path, "genies/distributions/alpaca_easy/%s.json", split);
        assert_ok(gh_genies_load_json(tu_shared(path), NULL, &src));
        snprintf(path, sizeof path, "%s/alpaca_easy/%s.jsonl", data, split);
        assert_ok(gh_genies_write_jsonl(src, path));
        gh_genies_set_free(src);
    }
    const char *shifts = tu_tmp("mirror.json");
    const char *js = "[{\"source\": \"alpaca_easy\", \"target\": \"mirror\", \"target_reference\": \"alpaca_easy\"}]";
    assert_int_equal(tu_write_file(shifts, js, strlen(js)), 0);
    gh_genies_shifts *sh;
    assert_ok(gh_genies_shifts_load(shifts, &sh));
    gh_genies_run_params p = params();
    p.data_dir = data;
    p.max_examples = 16;
    p.max_tokens = 256;
    p.shifts_name = "mirror";
    const char *run = tu_tmp("run_mirror");
    assert_ok(gh_genies_run(g_b, sh, &p, run, NULL));
    for (int m = 0; m < GH_GENIES_N_METHODS; m++) {
        snprintf(path, sizeof path, "%s/evaluations/%s/stories260K-alpaca_easy/mirror.json", run,
                 gh_genies_method_name((gh_genies_method)m));
        gh_genies_eval e;
        assert_ok(gh_genies_eval_read(path, &e));
        /* a pair and its mirror fit the context alike: kept or passed over together */
        assert_true(e.n >= 4 && e.n % 2 == 0);
        for (int64_t i = 0; i < e.n; i += 2) {
            if (fabs(e.p[i] + e.p[i + 1] - 1) > 1e-9)
                fprintf(stderr, "%s pair %lld: p %.9g and mirrored %.9g\n", gh_genies_method_name((gh_genies_method)m),
                        (long long)i, e.p[i], e.p[i + 1]);
            assert_true(fabs(e.p[i] + e.p[i + 1] - 1) <= 1e-9);
        }
        assert_true(e.accuracy == 0.5);
        gh_genies_eval_free(&e);
    }
    gh_genies_shifts_free(sh);
}

static void test_cli_run(void **state) {
    (void)state;
    int rc;
    const char *run = tu_tmp("run_cli");
    char *out = tu_cli(&rc, "genies run -m %s --shifts %s --data %s --methods mms,random --max-examples 2 --max-tokens 64 "
                            "--model-name s -o %s -q -t 1 --limit-units 1 2>&1",
                       tu_stories_gguf(), g_shifts_path, tu_shared("genies/distributions"), run);
    assert_int_equal(rc, 0);
    assert_contains(out, "computed 1  finished earlier 0  left 5");
    assert_contains(out, "run again to continue");
    free(out);
    out = tu_cli(&rc, "genies run -m %s --shifts %s --data %s --methods mms,random --max-examples 2 --max-tokens 64 "
                      "--model-name s -o %s -t 1 2>&1",
                 tu_stories_gguf(), g_shifts_path, tu_shared("genies/distributions"), run);
    assert_int_equal(rc, 0);
    assert_contains(out, "zero_shot   alpaca_easy -> alpaca_hard (finished earlier)");
    assert_contains(out, "computed 5  finished earlier 1  left 0");
    free(out);
    out = tu_cli(&rc, "genies report --results %s --model s --methods zero_shot,mms,random --shifts %s -o %s/r.html 2>&1",
                 run, g_shifts_path, run);
    assert_int_equal(rc, 0);
    free(out);
    /* a backend without hidden states cannot run probes: refused before any work */
    out = tu_cli(&rc, "genies run -m %s --shifts %s --data %s --methods mms --layer 99 -o %s/x 2>&1", tu_stories_gguf(),
                 g_shifts_path, tu_shared("genies/distributions"), run);
    assert_int_equal(rc, 1);
    assert_contains(out, "layer 99: the model has 5 layers");
    free(out);
}

/* The CLI over the real GENIES.json (15 shifts) with every method and two
 * pairs per split: 15 rows per method in the study's order, values in range,
 * elicitation = (A - A0) / TTC from the row's own cells, the summary table. */
static void test_cli_genies_all(void **state) {
    (void)state;
    int rc;
    const char *run = tu_tmp("run_genies_all");
    const char *shifts = tu_shared("genies/distribution_shifts/GENIES.json");
    const uint32_t all = (1u << GH_GENIES_N_METHODS) - 1;
    const uint32_t methods = SANITIZED ? (1u << GH_GENIES_ZERO_SHOT) | (1u << GH_GENIES_MMS) | (1u << GH_GENIES_RANDOM) : all;
    const int n_methods = __builtin_popcount(methods);
    char *out = tu_cli(&rc, "genies run -m %s --shifts %s --data %s --methods %s --max-examples 2 --max-tokens 256 "
                            "--few-shot-k 1 --bootstrap 50 --model-name s -o %s -q -t 2 2>&1",
                       tu_stories_gguf(), shifts, tu_shared("genies/distributions"),
                       methods == all ? "all" : "zero_shot,mms,random", run);
    if (rc) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    char want[64];
    snprintf(want, sizeof want, "computed %d  finished earlier 0  left 0", 15 * n_methods);
    assert_contains(out, want);
    free(out);
    gh_genies_shifts *sh;
    assert_ok(gh_genies_shifts_load(shifts, &sh));
    assert_int_equal(sh->n, 15);
    for (int m = 0; m < GH_GENIES_N_METHODS; m++) {
        if (!(methods & (1u << m))) continue;
        const char *mn = gh_genies_method_name((gh_genies_method)m);
        char path[1024];
        snprintf(path, sizeof path, "%s/generalization_metrics/s/%s/GENIES.csv", run, mn);
        char *csv = tu_read_file(path, NULL), *save = NULL;
        assert_non_null(csv);
        int row = -1;
        for (char *l = strtok_r(csv, "\n", &save); l; l = strtok_r(NULL, "\n", &save), row++) {
            if (row < 0) {
                assert_string_equal(l, "source,target,target_reference,generalization_accuracy,baseline_accuracy,"
                                       "baseline_intervention,target_tuned_capability,"
                                       "target_tuned_capability_intervention,source_ID_accuracy,"
                                       "RMS_calibration_error,differential_elicitation");
                continue;
            }
            assert_true(row < 15);
            const gh_genies_shift *x = &sh->shifts[row];
            char *f[16];
            int nf = 0;
            f[nf++] = l;
            for (char *c = l; *c && nf < 16; c++)
                if (*c == ',') { *c = 0; f[nf++] = c + 1; }
            assert_int_equal(nf, 11);
            assert_string_equal(f[0], x->source);
            assert_string_equal(f[1], x->target);
            assert_string_equal(f[2], x->target_reference);
            assert_string_equal(f[5], "zero_shot");
            double a = atof(f[3]), a0 = atof(f[4]), ttc = atof(f[6]), sid = atof(f[8]);
            assert_true(*f[3] && *f[4] && *f[6] && *f[8]);
            /* two pairs: every accuracy is a multiple of 1/4 in [0, 1] */
            const double v[4] = {a, a0, ttc, sid};
            for (int k = 0; k < 4; k++) assert_true(v[k] >= 0 && v[k] <= 1 && v[k] * 4 == floor(v[k] * 4));
            assert_true(*f[7] && strcmp(f[7], "random"));
            assert_string_equal(f[9], ""); /* the published RMS needs 20 pairs in a bin */
            if (ttc > 0) assert_true(fabs(atof(f[10]) - (a - a0) / ttc) < 1e-12);
            if (m == GH_GENIES_ZERO_SHOT) assert_true(a == a0);
            if (m == GH_GENIES_RANDOM) assert_true(a == 0.5 && sid == 0.5);
            gh_genies_row r = {.target_tuned_capability = ttc};
            snprintf(r.ttc_intervention, sizeof r.ttc_intervention, "%s", f[7]);
            if (m == 0 && methods == all) check_ttc(run, "s", x, &r);
        }
        assert_int_equal(row, 15);
        free(csv);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/generalization_metrics/s/GENIES.summary.csv", run);
    char *sum = tu_read_file(path, NULL), *save = NULL;
    assert_non_null(sum);
    int lines = 0, all_rows = 0;
    for (char *l = strtok_r(sum, "\n", &save); l; l = strtok_r(NULL, "\n", &save), lines++)
        if (strstr(l, ",all,,15,")) all_rows++;
    assert_int_equal(lines, 1 + n_methods * 9); /* 8 categories and the GENIES mean per method */
    assert_int_equal(all_rows, n_methods);
    free(sum);
    snprintf(path, sizeof path, "%s/report.html", run);
    char *html = tu_read_file(path, NULL);
    assert_non_null(html);
    assert_contains(html, "GENIES mean");
    free(html);
    gh_genies_shifts_free(sh);
}

/* --strict: the shared alpaca_low_quality/train.json has two records with an
 * empty response (120 and 273): without it they are reported and skipped,
 * with it the run stops naming the file and the first record. */
static void test_cli_strict(void **state) {
    (void)state;
    const char *shifts = tu_tmp("lq.json");
    const char *js = "[{\"source\": \"alpaca_low_quality\", \"target\": \"alpaca_easy\"}]";
    assert_int_equal(tu_write_file(shifts, js, strlen(js)), 0);
    int rc;
    const char *run = tu_tmp("run_strict");
    char *out = tu_cli(&rc, "genies run -m %s --shifts %s --data %s --methods mms --max-examples 2 --max-tokens 256 "
                            "--bootstrap 0 -q -t 1 --strict -o %s 2>&1",
                       tu_stories_gguf(), shifts, tu_shared("genies/distributions"), run);
    assert_int_equal(rc, 1);
    assert_contains(out, "alpaca_low_quality/train.json: record 120: response 0 is empty");
    assert_null(strstr(out, "record 273"));
    free(out);
    char path[1024];
    snprintf(path, sizeof path, "%s/generalization_metrics", run);
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    assert_null(f); /* no tables from a stopped run */
    out = tu_cli(&rc, "genies run -m %s --shifts %s --data %s --methods mms --max-examples 2 --max-tokens 256 "
                      "--bootstrap 0 -q -t 1 -o %s_lenient 2>&1",
                 tu_stories_gguf(), shifts, tu_shared("genies/distributions"), run);
    assert_int_equal(rc, 0);
    assert_contains(out, "warning: ");
    assert_contains(out, "alpaca_low_quality/train.json: record 120: response 0 is empty");
    assert_contains(out, "alpaca_low_quality/train.json: record 273: response 0 is empty");
    assert_contains(out, "computed 2  finished earlier 0  left 0");
    free(out);
}

/* A data folder of Hugging Face preference JSON Lines (NAME/{train,test}.jsonl,
 * written by `genies convert` from the shared JSON) gives the JSON folder's
 * run: every evaluation, table and the report byte for byte. */
static void test_cli_jsonl_folder(void **state) {
    (void)state;
    const char *names[3] = {"alpaca_easy", "alpaca_hard", "alpaca_mmlu"};
    const char *data = tu_tmp("jsonl_data");
    int rc;
    for (int k = 0; k < 3; k++)
        for (int sp = 0; sp < 2; sp++) {
            const char *split = sp ? "test" : "train";
            char src[1024], cmd[1200];
            snprintf(src, sizeof src, "genies/distributions/%s/%s.json", names[k], split);
            snprintf(cmd, sizeof cmd, "mkdir -p %s/%s", data, names[k]);
            assert_int_equal(system(cmd), 0);
            char *out = tu_cli(&rc, "genies convert %s -o %s/%s/%s.jsonl 2>&1", tu_shared(src), data, names[k], split);
            assert_int_equal(rc, 0);
            free(out);
        }
    const char *shifts = tu_tmp("jl.json");
    const char *js = "[{\"source\": \"alpaca_easy\", \"target\": \"alpaca_hard\", \"target_reference\": \"alpaca_mmlu\"}]";
    assert_int_equal(tu_write_file(shifts, js, strlen(js)), 0);
    const char *runs[2] = {tu_tmp("run_json_data"), tu_tmp("run_jsonl_data")};
    for (int k = 0; k < 2; k++) {
        char *out = tu_cli(&rc, "genies run -m %s --shifts %s --data %s --methods zero_shot,mms --max-examples 3 "
                                "--max-tokens 128 --bootstrap 20 --model-name s -q -t 1 -o %s 2>&1",
                           tu_stories_gguf(), shifts, k ? data : tu_shared("genies/distributions"), runs[k]);
        if (rc) fprintf(stderr, "%s\n", out);
        assert_int_equal(rc, 0);
        assert_contains(out, "computed 2  finished earlier 0  left 0");
        free(out);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/evaluations/mms/s-alpaca_easy/alpaca_hard.json", runs[1]);
    char *ev = tu_read_file(path, NULL);
    assert_non_null(ev);
    assert_contains(ev, "\"n\": 3");
    free(ev);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "diff -r --exclude=run.sqlite %s %s", runs[0], runs[1]);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_method),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_workers_same),
        cmocka_unit_test(test_http_same),
        cmocka_unit_test(test_mirror_pairs),
        cmocka_unit_test(test_cli_run),
        cmocka_unit_test(test_cli_genies_all),
        cmocka_unit_test(test_cli_strict),
        cmocka_unit_test(test_cli_jsonl_folder),
    };
    return cmocka_run_group_tests_name("genies_run", tests, setup, teardown);
}
