/* test_genies_metrics.c — GENIES metrics against the original study: the
 * three GENIES.csv files in ../shared/genies/results are recomputed from the
 * evaluation files there (every column to 1e-9, same columns and row order),
 * through the library and through `goodhart genies metrics` (whose output is
 * byte-identical to the study's files); the Python
 * Mersenne Twister and the RMS formulas on hand-checked values; Python repr;
 * the --full table (both RMS variants named, intervals around their values),
 * bootstrap intervals narrowing with n, and the per-category and GENIES means
 * (--summary) against means of the study's table computed by hand. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/genies.h"
#include "testutil.h"

static const char *const k_methods[3] = {"mms", "zero_shot", "lora_fine_tuning"};

/* Splits a CSV line (no quoted fields in these files) into at most 32 fields. */
static int split(char *line, char **f) {
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p; p++)
        if (*p == ',') { *p = 0; f[n++] = p + 1; }
    return n;
}

/* Compares two CSV texts: same header, same rows in order, string cells equal,
 * number cells within 1e-9 (empty cells only against empty cells). */
static void compare_csv(const char *want_text, const char *got_text, const char *what) {
    char *w = strdup(want_text), *g = strdup(got_text);
    char *ws = NULL, *gs = NULL;
    char *wl = strtok_r(w, "\n", &ws), *gl = strtok_r(g, "\n", &gs);
    int row = 0;
    while (wl || gl) {
        if (!wl || !gl) {
            fprintf(stderr, "%s: row %d present in only one file\n", what, row);
            fail();
        }
        char *wf[32], *gf[32];
        int nw = split(wl, wf), ng = split(gl, gf);
        assert_int_equal(nw, ng);
        for (int k = 0; k < nw; k++) {
            char *e1, *e2;
            double a = strtod(wf[k], &e1), b = strtod(gf[k], &e2);
            bool wnum = *wf[k] && !*e1, gnum = *gf[k] && !*e2;
            if (row > 0 && wnum) {
                if (!gnum || fabs(a - b) > 1e-9) {
                    fprintf(stderr, "%s: row %d column %d: want %s, got %s\n", what, row, k, wf[k], gf[k]);
                    fail();
                }
            } else if (strcmp(wf[k], gf[k])) {
                fprintf(stderr, "%s: row %d column %d: want '%s', got '%s'\n", what, row, k, wf[k], gf[k]);
                fail();
            }
        }
        row++;
        wl = strtok_r(NULL, "\n", &ws);
        gl = strtok_r(NULL, "\n", &gs);
    }
    assert_int_equal(row, 16); /* header + 15 shifts */
    free(w);
    free(g);
}

static void test_conformance_library(void **state) {
    (void)state;
    gh_genies_shifts *sh;
    assert_ok(gh_genies_shifts_load(tu_shared("genies/distribution_shifts/GENIES.json"), &sh));
    assert_int_equal(sh->n, 15);
    for (int m = 0; m < 3; m++) {
        gh_genies_metrics_params p = gh_genies_default_metrics_params();
        p.model = "llama-30b";
        p.method = k_methods[m];
        p.n_boot = 50;
        gh_genies_row rows[15];
        assert_ok(gh_genies_metrics(tu_shared("genies/results"), sh, &p, rows));
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_ok(gh_genies_write_csv(f, rows, sh->n));
        fclose(f);
        char path[256];
        snprintf(path, sizeof path, "genies/results/generalization_metrics/llama-30b/%s/GENIES.csv", k_methods[m]);
        char *want = tu_read_file(tu_shared(path), NULL);
        assert_non_null(want);
        compare_csv(want, buf, k_methods[m]);
        /* the published RMS is recomputed from eval_probabilities, not copied */
        for (int i = 0; i < 15; i++) assert_true(rows[i].n_target > 0);
        free(want);
        free(buf);
    }
    gh_genies_shifts_free(sh);
}

static void test_conformance_cli(void **state) {
    (void)state;
    for (int m = 0; m < 3; m++) {
        int st;
        char *out = tu_cli(&st, "genies metrics --results %s --model llama-30b --method %s --shifts %s 2>/dev/null",
                           tu_shared("genies/results"), k_methods[m], tu_shared("genies/distribution_shifts/GENIES.json"));
        assert_int_equal(st, 0);
        char path[256];
        snprintf(path, sizeof path, "genies/results/generalization_metrics/llama-30b/%s/GENIES.csv", k_methods[m]);
        char *want = tu_read_file(tu_shared(path), NULL);
        compare_csv(want, out, k_methods[m]);
        /* numpy's pairwise summation is reproduced too, so the text is byte for byte the study's */
        assert_string_equal(out, want);
        free(want);
        free(out);
    }
}

/* random.seed(42); [random.choice([0,1]) for _ in range(750)] has 374 ones and
 * the first 250 have 108 (the zero_shot rows' RMS 0.49866.. and 0.432 are these
 * means: every probability is 0 or 1). The first 16 values checked with CPython. */
static void test_python_choice(void **state) {
    (void)state;
    uint8_t v[750];
    gh_genies_py_choice01(42, 750, v);
    int s750 = 0, s250 = 0;
    for (int i = 0; i < 750; i++) { s750 += v[i]; if (i < 250) s250 += v[i]; }
    assert_int_equal(s750, 374);
    assert_int_equal(s250, 108);
    const uint8_t first[16] = {0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(v, first, 16);
}

static void test_rms_and_brier(void **state) {
    (void)state;
    /* hard 0/1 predictions: only bin 1 (q = 0) survives, RMS = the label mean */
    double p[250];
    for (int i = 0; i < 250; i++) p[i] = i % 3 ? 1.0 : 0.0;
    assert_true(fabs(gh_genies_rms_published(p, 250) - 0.432) < 1e-12);
    /* fewer than 20 items: no bin survives */
    assert_true(isnan(gh_genies_rms_published(p, 10)));
    /* perfectly calibrated in the corrected sense: p = 0.5 everywhere */
    double h[40];
    for (int i = 0; i < 40; i++) h[i] = 0.5;
    assert_true(fabs(gh_genies_rms_corrected(h, 40)) < 1e-15);
    assert_true(fabs(gh_genies_accuracy(h, 40) - 0.5) < 1e-15);
    /* always right with p = 1: corrected error 0, Brier 0; with p = 0.9: bins [.8,1] and [0,.2) */
    double one[4] = {1, 1, 1, 1}, nine[4] = {0.9, 0.9, 0.9, 0.9};
    assert_true(gh_genies_rms_corrected(one, 4) < 1e-15);
    assert_true(gh_genies_brier(one, 4) == 0);
    assert_true(fabs(gh_genies_rms_corrected(nine, 4) - 0.1) < 1e-12);
    assert_true(fabs(gh_genies_brier(nine, 4) - 0.01) < 1e-12);
}

static void test_pyrepr(void **state) {
    (void)state;
    const struct { double v; const char *s; } c[] = {
        {0.24999999999999997, "0.24999999999999997"}, {0.0, "0.0"}, {1.0, "1.0"}, {0.1, "0.1"},
        {-0.09038737446197988, "-0.09038737446197988"}, {1e-05, "1e-05"}, {0.0001, "0.0001"},
        {1e16, "1e+16"}, {123456789012345.0, "123456789012345.0"}, {2.5e-300, "2.5e-300"}, {-0.0, "-0.0"},
        {0.964, "0.964"}, {1.5, "1.5"}, {100.0, "100.0"},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        char b[40];
        gh_genies_pyrepr(c[i].v, b, sizeof b);
        if (strcmp(b, c[i].s)) fprintf(stderr, "pyrepr(%.17g) = %s, want %s\n", c[i].v, b, c[i].s);
        assert_string_equal(b, c[i].s);
    }
}

/* Missing evaluation files leave empty cells and are reported, not invented. */
static void test_missing_files(void **state) {
    (void)state;
    gh_genies_shifts *sh;
    assert_ok(gh_genies_shifts_load(tu_shared("genies/distribution_shifts/GENIES.json"), &sh));
    gh_genies_metrics_params p = gh_genies_default_metrics_params();
    p.model = "no-such-model";
    p.method = "mms";
    p.n_boot = 0;
    gh_genies_row rows[15];
    assert_ok(gh_genies_metrics(tu_shared("genies/results"), sh, &p, rows));
    for (int i = 0; i < 15; i++) {
        assert_true(isnan(rows[i].generalization_accuracy));
        assert_true(isnan(rows[i].differential_elicitation));
    }
    gh_genies_shifts_free(sh);
}

/* `genies metrics --full`: both RMS calibration variants are named in the
 * header; every row's accuracy interval holds the accuracy, and its
 * elicitation interval the elicitation. */
static void test_full_csv(void **state) {
    (void)state;
    int st;
    char *out = tu_cli(&st, "genies metrics --results %s --model llama-30b --method mms --shifts %s --full --bootstrap 200 2>/dev/null",
                       tu_shared("genies/results"), tu_shared("genies/distribution_shifts/GENIES.json"));
    assert_int_equal(st, 0);
    const char *header = "method,source,target,target_reference,category,n_target,generalization_accuracy,accuracy_lo,"
                         "accuracy_hi,baseline_accuracy,target_tuned_capability,target_tuned_capability_intervention,"
                         "differential_elicitation,elicitation_lo,elicitation_hi,source_ID_accuracy,"
                         "rms_calibration_error_published,rms_calibration_error_corrected,brier_score\n";
    assert_true(!strncmp(out, header, strlen(header)));
    char *save = NULL;
    int rows = 0;
    for (char *l = strtok_r(out + strlen(header), "\n", &save); l; l = strtok_r(NULL, "\n", &save), rows++) {
        char *f[32];
        assert_int_equal(split(l, f), 19);
        assert_string_equal(f[0], "mms");
        double a = atof(f[6]), alo = atof(f[7]), ahi = atof(f[8]);
        double de = atof(f[12]), dlo = atof(f[13]), dhi = atof(f[14]);
        assert_true(*f[7] && *f[8] && *f[13] && *f[14]);
        assert_true(alo <= a && a <= ahi && alo < ahi);
        assert_true(dlo <= de && de <= dhi && dlo < dhi);
        /* both calibration errors present and in [0, 1]; Brier too */
        for (int k = 16; k < 19; k++) assert_true(*f[k] && atof(f[k]) >= 0 && atof(f[k]) <= 1);
    }
    assert_int_equal(rows, 15);
    free(out);
    out = tu_cli(&st, "genies metrics --results %s --model llama-30b --method mms --shifts %s --full --summary 2>&1",
                 tu_shared("genies/results"), tu_shared("genies/distribution_shifts/GENIES.json"));
    assert_int_equal(st, 2);
    assert_contains(out, "--full and --summary");
    free(out);
}

/* Writes an evaluation file with n pairs, the first n * acc right (p = 0.8), the rest wrong (p = 0.3). */
static void write_eval(const char *dir, const char *method, const char *train, const char *eval, int n, double acc) {
    char path[1024];
    snprintf(path, sizeof path, "mkdir -p %s/evaluations/%s/m-%s", dir, method, train);
    assert_int_equal(system(path), 0);
    snprintf(path, sizeof path, "%s/evaluations/%s/m-%s/%s.json", dir, method, train, eval);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"eval_probabilities\": [", f);
    int right = (int)(n * acc + 0.5);
    for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? ", " : "", i < right ? "0.8" : "0.3");
    fputs("]}\n", f);
    fclose(f);
}

/* Bootstrap intervals hold the value and shrink as the pairs grow: the same
 * accuracies on 40 and on 640 pairs, the interval about 4x narrower. */
static void test_bootstrap_width(void **state) {
    (void)state;
    const char *shifts = tu_tmp("ci_shifts.json");
    const char *js = "[{\"source\": \"s\", \"target\": \"t\", \"category\": \"c\"}]";
    assert_int_equal(tu_write_file(shifts, js, strlen(js)), 0);
    gh_genies_shifts *sh;
    assert_ok(gh_genies_shifts_load(shifts, &sh));
    double wa[2], wd[2];
    for (int k = 0; k < 2; k++) {
        int n = k ? 640 : 40;
        const char *dir = tu_tmp(k ? "ci_640" : "ci_40");
        write_eval(dir, "mms", "s", "t", n, 0.75);
        write_eval(dir, "mms", "s", "s", n, 0.9);
        write_eval(dir, "zero_shot", "s", "t", n, 0.5);
        write_eval(dir, "mms", "t", "t", n, 0.95);
        gh_genies_metrics_params p = gh_genies_default_metrics_params();
        p.model = "m";
        p.method = "mms";
        p.n_boot = 1000;
        gh_genies_row r;
        assert_ok(gh_genies_metrics(dir, sh, &p, &r));
        assert_true(fabs(r.generalization_accuracy - 0.75) < 1e-12);
        assert_true(fabs(r.target_tuned_capability - 0.95) < 1e-12);
        assert_string_equal(r.ttc_intervention, "mms");
        assert_true(fabs(r.differential_elicitation - 0.25 / 0.95) < 1e-12);
        assert_true(r.acc_ci.lo <= r.generalization_accuracy && r.generalization_accuracy <= r.acc_ci.hi);
        assert_true(r.de_ci.lo <= r.differential_elicitation && r.differential_elicitation <= r.de_ci.hi);
        wa[k] = r.acc_ci.hi - r.acc_ci.lo;
        wd[k] = r.de_ci.hi - r.de_ci.lo;
        assert_true(wa[k] > 0 && wd[k] > 0);
    }
    /* the standard error goes as 1/sqrt(n): 16x the pairs, about a quarter of the width */
    assert_true(wa[1] < 0.4 * wa[0] && wa[1] > 0.15 * wa[0]);
    assert_true(wd[1] < 0.4 * wd[0] && wd[1] > 0.15 * wd[0]);
    gh_genies_shifts_free(sh);
}

/* `genies metrics --summary` on the study's mms evaluations: each category's
 * mean and the GENIES mean equal the means of the published GENIES.csv's
 * differential_elicitation column computed here by hand. */
static void test_summary(void **state) {
    (void)state;
    gh_genies_shifts *sh;
    assert_ok(gh_genies_shifts_load(tu_shared("genies/distribution_shifts/GENIES.json"), &sh));
    char *csv = tu_read_file(tu_shared("genies/results/generalization_metrics/llama-30b/mms/GENIES.csv"), NULL);
    assert_non_null(csv);
    double de[15];
    char *save = NULL;
    int i = -1;
    for (char *l = strtok_r(csv, "\n", &save); l; l = strtok_r(NULL, "\n", &save), i++) {
        if (i < 0) continue; /* header */
        char *f[32];
        assert_int_equal(split(l, f), 11);
        assert_string_equal(f[1], sh->shifts[i].target);
        de[i] = atof(f[10]);
    }
    assert_int_equal(i, 15);
    int st;
    char *out = tu_cli(&st, "genies metrics --results %s --model llama-30b --method mms --shifts %s --summary 2>/dev/null",
                       tu_shared("genies/results"), tu_shared("genies/distribution_shifts/GENIES.json"));
    assert_int_equal(st, 0);
    const char *header = "method,scope,category,n_shifts,n_elicitation,mean_generalization_accuracy,"
                         "mean_differential_elicitation\n";
    assert_true(!strncmp(out, header, strlen(header)));
    int lines = 0, cats = 0;
    save = NULL;
    for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save), lines++) {
        if (!lines) continue;
        char *f[32];
        assert_int_equal(split(l, f), 7);
        assert_string_equal(f[0], "mms");
        bool all = !strcmp(f[1], "all");
        double sum = 0;
        int n = 0;
        for (int k = 0; k < 15; k++)
            if (all || !strcmp(sh->shifts[k].category, f[2])) { sum += de[k]; n++; }
        assert_true(n > 0);
        assert_int_equal(atoi(f[3]), n);
        assert_int_equal(atoi(f[4]), n);
        if (fabs(atof(f[6]) - sum / n) > 1e-12) fprintf(stderr, "%s %s: %s, by hand %.17g\n", f[1], f[2], f[6], sum / n);
        assert_true(fabs(atof(f[6]) - sum / n) < 1e-12);
        if (!all) cats++;
        else assert_string_equal(f[2], "");
    }
    /* context, encoding, skill, difficulty, pretraining_similarity, quality, spurious_cues, unwanted_personas */
    assert_int_equal(cats, 8);
    assert_int_equal(lines, 10);
    free(out);
    free(csv);
    gh_genies_shifts_free(sh);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_choice),
        cmocka_unit_test(test_rms_and_brier),
        cmocka_unit_test(test_pyrepr),
        cmocka_unit_test(test_conformance_library),
        cmocka_unit_test(test_conformance_cli),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_full_csv),
        cmocka_unit_test(test_bootstrap_width),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests_name("genies_metrics", tests, NULL, NULL);
}
