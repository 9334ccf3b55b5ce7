/* Tests of the Best-of-N experiment through its real interfaces: `goodhart bon
 * run` and `goodhart demo` (the binary, $GH_BIN) and gh_bon_analyse on
 * hand-made pools. Checks that log pi_ref equals what `goodhart logprob` prints,
 * that an rm: proxy and --embed-model give what `goodhart reward -m` and
 * `goodhart embed` give, that the analysis picks what the rules say, that
 * runs are reproducible and resume after kill -9 without redoing finished
 * prompts, and that bad input fails with a message naming the record. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "goodhart/bon.h"
#include "goodhart/store.h"


/* s in single quotes for the shell */
static char *shq(const char *s) {
    size_t n = strlen(s);
    char *o = malloc(4 * n + 3), *p = o;
    *p++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') { memcpy(p, "'\\''", 4); p += 4; }
        else *p++ = *s;
    }
    *p++ = '\'';
    *p = 0;
    return o;
}

static const char *prompts_file(int n) {
    static char path[1024];
    static const char *const P[] = {"Once upon a time, there was a little girl named Lily. She",
                                    "Tom had a big red ball. One day", "The sun was shining and",
                                    "Sue found a shiny box. Inside the box", "Ben and his dog went to the park and",
                                    "Mia liked to draw. One day she"};
    snprintf(path, sizeof path, "%s", tu_tmp(n == 6 ? "prompts6.jsonl" : "prompts.jsonl"));
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++) fprintf(f, "{\"id\": \"p%d\", \"prompt\": \"%s\"}\n", i, P[i]);
    fclose(f);
    return path;
}

#define GOLD "'lexicon:happy,fun,play,smile,love,friend;-1*lexicon:sad,cry,scared;-2*repetition:2'"

/* The log pi_ref every KL rule uses is the total `goodhart logprob` prints for
 * the same prompt and text, and the sum of its per-token values. */
static void test_logprob_matches_cli(void **state) {
    (void)state;
    const char *out = tu_tmp("run-lp/nested"); /* parents are created */
    int st;
    char *o = tu_cli(&st, "bon run -m %s --prompts %s --proxy length --gold " GOLD " -N 3 --max-tokens 12 --seed 5 -o %s -t 1",
                  tu_stories_gguf(), prompts_file(2), out);
    if (st) print_message("%s\n", o);
    assert_int_equal(st, 0);
    free(o);
    char pool[1024];
    snprintf(pool, sizeof pool, "%s/pool.jsonl", out);
    gh_bon_file *f = NULL;
    assert_ok(gh_bon_file_read(pool, &f));
    assert_int_equal(gh_bon_file_count(f), 2);
    int checked = 0;
    for (int64_t i = 0; i < gh_bon_file_count(f); i++) {
        const gh_bon_record *r = gh_bon_file_record(f, i);
        assert_int_equal(r->n, 3);
        for (int32_t c = 0; c < r->n; c++) {
            if (!r->text[c][0]) continue;
            char *qp = shq(r->prompt), *qc = shq(r->text[c]);
            char *lp = tu_cli(&st, "logprob -m %s --prompt %s --completion %s --json -t 1", tu_stories_gguf(), qp, qc);
            free(qp);
            free(qc);
            assert_int_equal(st, 0);
            cJSON *j = cJSON_Parse(lp);
            assert_non_null(j);
            double total = cJSON_GetObjectItem(j, "total")->valuedouble, sum = 0;
            const cJSON *t;
            cJSON_ArrayForEach(t, cJSON_GetObjectItem(j, "token_logprobs")) sum += t->valuedouble;
            assert_float_equal(r->logprob[c], total, 1e-6 * (1 + fabs(total)));
            assert_float_equal(r->logprob[c], sum, 1e-5 * (1 + fabs(sum)));
            assert_int_equal(r->n_tokens[c], cJSON_GetArraySize(cJSON_GetObjectItem(j, "tokens")));
            cJSON_Delete(j);
            free(lp);
            checked++;
        }
    }
    assert_true(checked >= 4);
    gh_bon_file_free(f);
}

/* A hand-made pool where the proxy is anti-correlated with gold at the top:
 * the analysis must report exactly what each rule picks at n = N. */
static void test_analyse_hand_pool(void **state) {
    (void)state;
    const char *path = tu_tmp("hand.jsonl");
    FILE *f = fopen(path, "w");
    /* per prompt 4 candidates; proxy 1,2,3,4 ; gold 1,3,2,0 (the proxy's best is the worst) */
    for (int p = 0; p < 4; p++)
        fprintf(f, "{\"id\":\"h%d\",\"prompt\":\"x\",\"candidates\":["
                   "{\"text\":\"a\",\"scores\":{\"proxy\":1,\"gold\":1},\"logprob_ref\":-1,\"n_tokens\":1},"
                   "{\"text\":\"b\",\"scores\":{\"proxy\":2,\"gold\":3},\"logprob_ref\":-2,\"n_tokens\":2},"
                   "{\"text\":\"c\",\"scores\":{\"proxy\":3,\"gold\":2},\"logprob_ref\":-3,\"n_tokens\":3},"
                   "{\"text\":\"d\",\"scores\":{\"proxy\":4,\"gold\":0},\"logprob_ref\":-9,\"n_tokens\":4}]}\n", p);
    fclose(f);
    gh_bon_file *bf = NULL;
    assert_ok(gh_bon_file_read(path, &bf));
    gh_bon_analysis_params ap = gh_bon_analysis_default_params();
    const double betas[] = {0, 1};
    ap.betas = betas;
    ap.n_betas = 2;
    ap.n_orders = 3;
    gh_bon_summary s;
    assert_ok(gh_bon_analyse(bf, tu_tmp("hand-out"), &ap, &s));
    assert_int_equal(s.n_max, 4);
    assert_int_equal(s.n_dev + s.n_test, 4);
    for (int32_t r = 0; r < s.n_rules; r++) {
        const gh_bon_rule_result *rr = &s.rules[r];
        switch (rr->rule) {
        case GH_BON_BON: assert_float_equal(rr->test_gold, 0, 0); assert_float_equal(rr->test_reward, 4, 0); break;
        case GH_BON_ORACLE: assert_float_equal(rr->test_gold, 3, 0); break;
        /* rbon-kl at beta 1: R + logp = 0, 0, 0, -5 -> tie among a, b, c; the
         * lowest position of the ordering wins, so its gold is an average;
         * at beta 0 it is bon (gold 0). Tuning on dev must choose beta 1. */
        case GH_BON_RBON_KL: assert_float_equal(rr->beta, 1, 0); assert_true(rr->test_gold > 0); break;
        case GH_BON_MBR: case GH_BON_RBON_WD: case GH_BON_SRBON_WD: fail_msg("no embeddings: %s must be skipped", gh_bon_rule_name(rr->rule)); break;
        default: break;
        }
    }
    gh_bon_file_free(bf);
    char p2[1024];
    snprintf(p2, sizeof p2, "%s/report.html", tu_tmp("hand-out"));
    size_t len;
    char *html = tu_read_file(p2, &len);
    assert_non_null(html);
    assert_contains(html, "Rules not run");
    assert_contains(html, "rbon-wd");
    assert_contains(html, "<svg");
    free(html);
    snprintf(p2, sizeof p2, "%s/summary.csv", tu_tmp("hand-out"));
    char *csv = tu_read_file(p2, &len);
    assert_contains(csv, "\nbon,0,0,0,0,4,0,");
    assert_contains(csv, "\noracle,0,3,3,0,");
    free(csv);
}

/* Bad prompt files and candidate files fail with the record named. */
static void test_bad_input(void **state) {
    (void)state;
    int st;
    const char *bad = tu_tmp("bad-prompts.jsonl");
    const char *bad_txt = "{\"id\":\"a\",\"prompt\":\"x\"}\n{\"id\":\"b\"}\n";
    tu_write_file(bad, bad_txt, strlen(bad_txt));
    char *o = tu_cli(&st, "bon run -m %s --prompts %s --proxy length --gold length -o %s", tu_stories_gguf(), bad, tu_tmp("r-bad"));
    assert_int_equal(st, 1);
    assert_contains(o, "bad-prompts.jsonl:2: record \"b\": field \"prompt\" is missing");
    free(o);
    const char *nan = tu_tmp("nan.jsonl");
    const char *txt = "{\"id\":\"q1\",\"candidates\":[{\"text\":\"a\",\"scores\":{\"proxy\":NaN,\"gold\":1}}]}\n";
    tu_write_file(nan, txt, strlen(txt));
    o = tu_cli(&st, "bon run --in %s -o %s", nan, tu_tmp("r-nan"));
    assert_int_equal(st, 1);
    assert_contains(o, "nan.jsonl:1");
    free(o);
    const char *empty = tu_tmp("empty.jsonl");
    txt = "{\"id\":\"q1\",\"candidates\":[]}\n";
    tu_write_file(empty, txt, strlen(txt));
    o = tu_cli(&st, "bon run --in %s -o %s", empty, tu_tmp("r-empty"));
    assert_int_equal(st, 1);
    assert_contains(o, "record \"q1\"");
    free(o);
    const char *nogold = tu_tmp("nogold.jsonl");
    txt = "{\"id\":\"q1\",\"candidates\":[{\"text\":\"a\",\"scores\":{\"proxy\":1}}]}\n";
    tu_write_file(nogold, txt, strlen(txt));
    o = tu_cli(&st, "bon run --in %s -o %s", nogold, tu_tmp("r-nogold"));
    assert_int_equal(st, 1);
    assert_contains(o, "gold");
    assert_contains(o, "q1");
    free(o);
    o = tu_cli(&st, "bon run -m %s --prompts %s --proxy bogus --gold length -o %s", tu_stories_gguf(), prompts_file(2), tu_tmp("r-spec"));
    assert_int_equal(st, 1);
    assert_contains(o, "unknown reward kind 'bogus'");
    free(o);
    o = tu_cli(&st, "bon run -m %s --prompts %s --proxy length --gold length -N 0 -o %s", tu_stories_gguf(), prompts_file(2), tu_tmp("r-n0"));
    assert_int_equal(st, 2);
    assert_contains(o, "N must be");
    free(o);
}

static int64_t count_units(const char *dir) {
    char db[1024];
    snprintf(db, sizeof db, "%s/run.sqlite", dir);
    if (access(db, R_OK)) return 0;
    gh_store *s = NULL;
    if (gh_store_open(db, &s)) return 0;
    int64_t n = 0;
    gh_store_count(s, "unit", &n);
    gh_store_close(s);
    return n;
}

/* kill -9 in the middle of a run, then the same command again: finished
 * prompts are not redone and the result equals an uninterrupted run's. */
static void test_resume_after_kill(void **state) {
    (void)state;
    const char *prom = prompts_file(6);
    const char *full = tu_tmp("r-full"), *cut = tu_tmp("r-cut");
    int st;
    char args[4096];
    snprintf(args, sizeof args, "-m %s --prompts %s --proxy length --gold " GOLD " -N 24 --max-tokens 60 --seed 3 -t 1",
             tu_stories_gguf(), prom);
    char *o = tu_cli(&st, "bon run %s -o %s", args, full);
    assert_int_equal(st, 0);
    free(o);
    pid_t pid = fork();
    if (pid == 0) {
        char cmd[9000];
        snprintf(cmd, sizeof cmd, "exec %s bon run %s -o %s >/dev/null 2>&1", tu_bin(), args, cut);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* wait until at least one prompt is committed, then kill -9 */
    int64_t done = 0;
    int status = 0;
    bool exited = false;
    for (int i = 0; i < 20000 && done < 1; i++) {
        usleep(2000);
        done = count_units(cut);
        if (waitpid(pid, &status, WNOHANG) == pid) { exited = true; break; }
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    done = count_units(cut);
    assert_true(done >= 1);
    print_message("killed after %lld of 6 prompts\n", (long long)done);
    o = tu_cli(&st, "bon run %s -o %s", args, cut);
    assert_int_equal(st, 0);
    if (done < 6) {
        char want[128];
        snprintf(want, sizeof want, "resumed: %lld of 6 prompts", (long long)done);
        assert_contains(o, want);
    }
    free(o);
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/pool.jsonl", full);
    snprintf(b, sizeof b, "%s/pool.jsonl", cut);
    size_t la, lb;
    char *pa = tu_read_file(a, &la), *pb = tu_read_file(b, &lb);
    assert_non_null(pa);
    assert_non_null(pb);
    assert_int_equal(la, lb);
    assert_memory_equal(pa, pb, la);
    free(pa);
    free(pb);
    snprintf(a, sizeof a, "%s/summary.csv", full);
    snprintf(b, sizeof b, "%s/summary.csv", cut);
    pa = tu_read_file(a, &la);
    pb = tu_read_file(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(pa, pb, la);
    free(pa);
    free(pb);
    /* other settings in the same directory are refused */
    o = tu_cli(&st, "bon run %s --temp 0.5 -o %s", args, cut);
    assert_int_equal(st, 1);
    assert_contains(o, "this run was started with");
    free(o);
}

/* One line of `goodhart ARGS` (stdout only) per JSON object. */
static cJSON *cli_json_line(const char *what, char *out, int st) {
    if (st) print_message("goodhart %s -> %d:\n%s\n", what, st, out);
    assert_int_equal(st, 0);
    cJSON *j = cJSON_Parse(out);
    if (!j) print_message("goodhart %s: not JSON: %s\n", what, out);
    assert_non_null(j);
    free(out);
    return j;
}

/* curves.csv's mean proxy and gold of `rule` at beta, n and split */
static bool curve_row(const char *csv, const char *rule, double beta, int n, const char *split, double *proxy, double *gold) {
    const char *p = strchr(csv, '\n');
    size_t rl = strlen(rule), sl = strlen(split);
    for (; p && p[1]; p = strchr(p + 1, '\n')) {
        const char *l = p + 1;
        if (strncmp(l, rule, rl) || l[rl] != ',') continue;
        char *e;
        double b = strtod(l + rl + 1, &e);
        if (b != beta || *e != ',') continue;
        long nn = strtol(e + 1, &e, 10);
        if (nn != n || *e != ',' || strncmp(e + 1, split, sl) || e[1 + sl] != ',') continue;
        e += 2 + sl;
        strtol(e, &e, 10);                 /* prompts */
        *proxy = strtod(e + 1, &e);        /* proxy_mean */
        strtod(e + 1, &e);                 /* proxy_ci95 */
        *gold = strtod(e + 1, &e);         /* gold_mean */
        return true;
    }
    return false;
}

/* `bon run` with a reward model as the proxy (rm:) and an embedding model
 * (--embed-model), through the binary, every model written by `goodhart
 * make-model`:
 *   - each candidate's proxy score is what `goodhart reward -m RM --json`
 *     gives for its (prompt, response);
 *   - each stored embedding is `goodhart embed -m EMB --json` of the response:
 *     the embedding model's width (48, not the policy's 64), unit norm;
 *   - rbon-wd (at every beta of the grid) and mbr at n = N pick what their
 *     objectives say with the cosine costs of those `goodhart embed` vectors,
 *     and the same run without --embed-model (same samples: the embedder does
 *     not touch sampling) reports other picks, so the check would fail if the
 *     flag were ignored;
 *   - a run directory started with --embed-model is not resumed without it. */
static void test_rm_proxy_and_embed_model(void **state) {
    (void)state;
    enum { NC = 4, NP = 4, EDIM = 48 };
    static const double betas[] = {0, 1, 100, 1000, 10000, 100000};
    enum { NB = sizeof betas / sizeof betas[0] };
    const char *rm = tu_tmp("bon-rm.gguf"), *emb = tu_tmp("bon-emb.gguf");
    int st;
    char *o = tu_cli(&st, "make-model -o %s --arch llama --vocab 300 --embd 64 --ff 128 --layers 2 --heads 4 --kv-heads 2 "
                          "--ctx 256 --reward-head --seed 11", rm);
    assert_int_equal(st, 0);
    free(o);
    o = tu_cli(&st, "make-model -o %s --arch bert --vocab 200 --embd %d --ff 96 --layers 2 --heads 4 --ctx 128 --seed 12", emb, EDIM);
    assert_int_equal(st, 0);
    free(o);
    char args[8192];
    snprintf(args, sizeof args, "-m %s --prompts %s --proxy rm:%s --gold length -N %d --max-tokens 12 --seed 5 "
             "--betas 0,1,100,1000,10000,100000 --orders 2 -t 1", tu_stories_gguf(), prompts_file(NP), rm, NC);
    const char *run = tu_tmp("r-rm-emb"), *plain = tu_tmp("r-rm-plain");
    o = tu_cli(&st, "bon run %s --embed-model %s -o %s", args, emb, run);
    if (st) print_message("%s\n", o);
    assert_int_equal(st, 0);
    free(o);
    o = tu_cli(&st, "bon run %s -o %s", args, plain);
    if (st) print_message("%s\n", o);
    assert_int_equal(st, 0);
    free(o);

    char path[4096];
    snprintf(path, sizeof path, "%s/pool.jsonl", run);
    gh_bon_file *f = NULL, *fp = NULL;
    assert_ok(gh_bon_file_read(path, &f));
    snprintf(path, sizeof path, "%s/pool.jsonl", plain);
    assert_ok(gh_bon_file_read(path, &fp));
    assert_int_equal(gh_bon_file_count(f), NP);
    snprintf(path, sizeof path, "%s/candidates.jsonl", run);
    size_t len;
    char *cands = tu_read_file(path, &len);
    assert_non_null(cands);

    /* per prompt: split, and proxy/gold of the pick of each (rule, beta) from
     * the CLI's embeddings */
    double pick_r[NB + 1][NP], pick_g[NB + 1][NP]; /* row NB: mbr */
    bool is_test[NP];
    int n_dev = 0, n_test = 0;
    const char *line = cands;
    for (int64_t p = 0; p < NP; p++) {
        const gh_bon_record *r = gh_bon_file_record(f, p), *rp = gh_bon_file_record(fp, p);
        assert_int_equal(r->n, NC);
        assert_int_equal(r->dim, EDIM);
        assert_int_equal(rp->dim, 64); /* stories260K's hidden states */
        int32_t ip = gh_bon_record_score(r, "proxy"), ig = gh_bon_record_score(r, "gold");
        assert_true(ip >= 0 && ig >= 0);
        /* one `goodhart embed` for the prompt's candidates */
        gh_strbuf cmd = {0};
        gh_strbuf_printf(&cmd, "embed -m %s --json -t 1 --", emb);
        for (int32_t c = 0; c < NC; c++) {
            assert_string_equal(r->text[c], rp->text[c]); /* the same samples */
            char *q = shq(r->text[c]);
            gh_strbuf_printf(&cmd, " %s", q);
            free(q);
        }
        char *eo = tu_cli(&st, "%s 2>/dev/null", cmd.p);
        gh_strbuf_free(&cmd);
        assert_int_equal(st, 0);
        double unit[NC][EDIM];
        char *el = eo;
        for (int32_t c = 0; c < NC; c++) {
            char *nl = strchr(el, '\n');
            assert_non_null(nl);
            *nl = 0;
            cJSON *j = cJSON_Parse(el);
            assert_non_null(j);
            el = nl + 1;
            assert_string_equal(cJSON_GetObjectItem(j, "text")->valuestring, r->text[c]);
            const cJSON *ev = cJSON_GetObjectItem(j, "embedding");
            assert_int_equal(cJSON_GetArraySize(ev), EDIM);
            double n2 = 0, n2s = 0;
            for (int k = 0; k < EDIM; k++) {
                double v = cJSON_GetArrayItem(ev, k)->valuedouble, s = r->embedding[(size_t)c * EDIM + k];
                assert_float_equal(s, v, 1e-6);
                unit[c][k] = v;
                n2 += v * v;
                n2s += s * s;
            }
            assert_float_equal(n2s, 1, 1e-5); /* stored L2-normalised */
            for (int k = 0; k < EDIM; k++) unit[c][k] /= sqrt(n2);
            cJSON_Delete(j);
            /* the proxy is the reward model's score of (prompt, response) */
            char *qp = shq(r->prompt), *qr = shq(r->text[c]);
            char what[64];
            snprintf(what, sizeof what, "reward (%s, %d)", r->id, c);
            cJSON *rj = cli_json_line(what, tu_cli(&st, "reward -m %s --prompt %s --response %s --json -t 1 2>/dev/null", rm, qp, qr), st);
            free(qp);
            free(qr);
            double want = cJSON_GetObjectItem(rj, "score")->valuedouble, got = r->scores[(size_t)c * r->n_scores + ip];
            assert_float_equal(got, want, 1e-6 * (1 + fabs(want)));
            cJSON_Delete(rj);
            /* candidates.jsonl says the same, and gives the split */
            assert_non_null(line);
            cJSON *cl = cJSON_Parse(line);
            assert_non_null(cl);
            assert_string_equal(cJSON_GetObjectItem(cl, "id")->valuestring, r->id);
            assert_int_equal(cJSON_GetObjectItem(cl, "index")->valueint, c);
            assert_float_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(cl, "scores"), "proxy")->valuedouble, want, 1e-6 * (1 + fabs(want)));
            if (c == 0) is_test[p] = !strcmp(cJSON_GetObjectItem(cl, "split")->valuestring, "test");
            cJSON_Delete(cl);
            line = strchr(line, '\n');
            if (line) line++;
        }
        free(eo);
        if (is_test[p]) n_test++; else n_dev++;
        /* mean cosine cost of each candidate to the pool (itself included) */
        double mc[NC];
        for (int32_t a = 0; a < NC; a++) {
            mc[a] = 0;
            for (int32_t b2 = 0; b2 < NC; b2++) {
                double d = 0;
                for (int k = 0; k < EDIM; k++) d += unit[a][k] * unit[b2][k];
                mc[a] += (1 - d) / NC;
            }
        }
        for (int bi = 0; bi <= NB; bi++) {
            int best = 0;
            double bo = -INFINITY;
            for (int32_t c = 0; c < NC; c++) {
                double R = r->scores[(size_t)c * r->n_scores + ip];
                double ob = bi < NB ? R - betas[bi] * mc[c] : -mc[c];
                if (ob > bo) { bo = ob; best = c; }
            }
            pick_r[bi][p] = r->scores[(size_t)best * r->n_scores + ip];
            pick_g[bi][p] = r->scores[(size_t)best * r->n_scores + ig];
        }
    }
    assert_true(n_dev >= 1 && n_test >= 1);

    /* the analysis' picks at n = N are those; the run without the embedding
     * model reports something else somewhere on the grid */
    char *curves = NULL, *curves_plain = NULL;
    snprintf(path, sizeof path, "%s/curves.csv", run);
    curves = tu_read_file(path, &len);
    snprintf(path, sizeof path, "%s/curves.csv", plain);
    curves_plain = tu_read_file(path, &len);
    assert_non_null(curves);
    assert_non_null(curves_plain);
    int differ = 0;
    for (int bi = 0; bi <= NB; bi++)
        for (int sp = 0; sp < 2; sp++) {
            const char *rule = bi < NB ? "rbon-wd" : "mbr", *split = sp ? "test" : "dev";
            double beta = bi < NB ? betas[bi] : 0, want_r = 0, want_g = 0, got_r, got_g, pl_r, pl_g;
            for (int p = 0; p < NP; p++)
                if (is_test[p] == (sp == 1)) { want_r += pick_r[bi][p]; want_g += pick_g[bi][p]; }
            want_r /= sp ? n_test : n_dev;
            want_g /= sp ? n_test : n_dev;
            assert_true(curve_row(curves, rule, beta, NC, split, &got_r, &got_g));
            assert_true(curve_row(curves_plain, rule, beta, NC, split, &pl_r, &pl_g));
            if (fabs(got_r - want_r) > 1e-9 || fabs(got_g - want_g) > 1e-9)
                print_message("%s beta %g %s: curves.csv proxy %.17g gold %.17g, from `goodhart embed` %.17g %.17g\n", rule, beta,
                              split, got_r, got_g, want_r, want_g);
            assert_float_equal(got_r, want_r, 1e-9);
            assert_float_equal(got_g, want_g, 1e-9);
            if (pl_r != got_r || pl_g != got_g) differ++;
        }
    print_message("rbon-wd/mbr rows (of %d) where the policy's hidden states pick otherwise: %d\n", 2 * (NB + 1), differ);
    assert_true(differ >= 1);
    free(curves);
    free(curves_plain);
    free(cands);
    gh_bon_file_free(f);
    gh_bon_file_free(fp);

    /* the embedding model is part of the run's settings */
    o = tu_cli(&st, "bon run %s -o %s", args, run);
    assert_int_equal(st, 1);
    assert_contains(o, "this run was started with");
    free(o);
}

/* The main job: produces the report, and the same seed gives the same numbers
 * whatever the thread count. */
static void test_demo(void **state) {
    (void)state;
    int st;
    char *o = tu_cli(&st, "demo -m %s -N 8 --prompts 6 --pairs 12 --seed 2 -t 1 -o %s", tu_stories_gguf(), tu_tmp("demo1"));
    if (st) print_message("%s\n", o);
    assert_int_equal(st, 0);
    assert_contains(o, "report: ");
    assert_contains(o, "oracle");
    free(o);
    o = tu_cli(&st, "demo -m %s -N 8 --prompts 6 --pairs 12 --seed 2 -t 2 -o %s", tu_stories_gguf(), tu_tmp("demo2"));
    assert_int_equal(st, 0);
    free(o);
    static const char *const files[] = {"summary.csv", "curves.csv", "candidates.jsonl"};
    for (int k = 0; k < 3; k++) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", tu_tmp("demo1"), files[k]);
        snprintf(b, sizeof b, "%s/%s", tu_tmp("demo2"), files[k]);
        size_t la, lb;
        char *pa = tu_read_file(a, &la), *pb = tu_read_file(b, &lb);
        assert_non_null(pa);
        assert_non_null(pb);
        assert_int_equal(la, lb);
        assert_memory_equal(pa, pb, la);
        free(pa);
        free(pb);
    }
    char r[1024];
    snprintf(r, sizeof r, "%s/report.html", tu_tmp("demo1"));
    size_t len;
    char *html = tu_read_file(r, &len);
    assert_non_null(html);
    assert_contains(html, "Gold reward of the pick against n");
    assert_contains(html, "β sweep");
    assert_contains(html, "Spearman");
    assert_contains(html, "How to read this report");
    free(html);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logprob_matches_cli),
        cmocka_unit_test(test_analyse_hand_pool),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_rm_proxy_and_embed_model),
        cmocka_unit_test(test_resume_after_kill),
        cmocka_unit_test(test_demo),
    };
    return cmocka_run_group_tests_name("bon experiment", tests, NULL, NULL);
}
