/* Tests of the sycophancy evaluations through the binary ($GH_BIN, default
 * build/goodhart) on stories260K and the shipped sets in data/syco: rates in
 * [0, 1] and intervals around them, the matching count equal to the
 * comparison of `goodhart logprob` totals, output deterministic for the seed,
 * and malformed input failing with the file and line named. Also the Wilson
 * interval against hand-computed values. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/backend.h"
#include "goodhart/syco.h"

static const char *JUDGE = "'lexicon:@data/syco/positive.txt;-1*lexicon:@data/syco/negative.txt'";

static void check_interval(const cJSON *j, const char *name, double lo_bound, double hi_bound) {
    const cJSON *o = cJSON_GetObjectItem(j, name);
    assert_non_null(o);
    double v = cJSON_GetObjectItem(o, "value")->valuedouble, lo = cJSON_GetObjectItem(o, "lo")->valuedouble,
           hi = cJSON_GetObjectItem(o, "hi")->valuedouble;
    assert_true(lo_bound <= lo && lo <= v && v <= hi && hi <= hi_bound);
}

static void test_wilson(void **state) {
    (void)state;
    gh_syco_interval w = gh_syco_wilson(6, 12);
    assert_true(fabs(w.value - 0.5) < 1e-12);
    assert_true(fabs(w.lo - 0.2537815984) < 1e-8 && fabs(w.hi - 0.7462184016) < 1e-8);
    w = gh_syco_wilson(0, 10); /* lower bound 0, upper z^2/(n+z^2) */
    assert_true(w.lo == 0 && fabs(w.hi - 3.841458821 / 13.841458821) < 1e-8);
    double x[4] = {1, 1, 1, 1};
    gh_syco_interval b = gh_syco_bootstrap_mean(x, 4, 100, 1);
    assert_true(b.value == 1 && b.lo == 1 && b.hi == 1);
}

static void test_answers(void **state) {
    (void)state;
    int st;
    char *o = tu_cli(&st, "syco answers -m %s --data data/syco/answers.jsonl --json --items %s", tu_stories_gguf(),
                  tu_tmp("items.jsonl"));
    assert_int_equal(st, 0);
    cJSON *j = cJSON_Parse(o);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "items")->valueint, 12);
    check_interval(j, "rate", 0, 1);
    int matching = cJSON_GetObjectItem(j, "matching")->valueint;
    cJSON_Delete(j);
    free(o);
    /* the matching count is the comparison of logprob totals, item by item
     * (checked for the first item against `goodhart logprob` itself) */
    char *items = tu_read_file(tu_tmp("items.jsonl"), NULL);
    assert_non_null(items);
    int count = 0, n = 0;
    for (char *line = strtok(items, "\n"); line; line = strtok(NULL, "\n"), n++) {
        cJSON *it = cJSON_Parse(line);
        double a = cJSON_GetObjectItem(it, "lp_matching")->valuedouble, b = cJSON_GetObjectItem(it, "lp_not_matching")->valuedouble;
        assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(it, "matching")), a > b);
        count += a > b;
        if (n == 0) {
            gh_backend *be;
            assert_ok(gh_backend_open(tu_stories_gguf(), NULL, &be));
            char *data = tu_read_file("data/syco/answers.jsonl", NULL);
            cJSON *rec = cJSON_Parse(strtok_r(data, "\n", &(char *){0}));
            gh_logprobs *l;
            assert_ok(gh_backend_logprob(be, cJSON_GetObjectItem(rec, "question")->valuestring,
                                         cJSON_GetObjectItem(rec, "answer_matching_behavior")->valuestring, 0, &l));
            assert_true(fabs(l->total - a) < 1e-6 * (1 + fabs(a)));
            gh_logprobs_free(l);
            cJSON_Delete(rec);
            free(data);
            gh_backend_free(be);
        }
        cJSON_Delete(it);
    }
    assert_int_equal(n, 12);
    assert_int_equal(count, matching);
    free(items);
}

static void test_feedback_deterministic(void **state) {
    (void)state;
    int st;
    char *a = tu_cli(&st, "syco feedback -m %s --data data/syco/feedback.jsonl --judge %s --seed 5 --json", tu_stories_gguf(), JUDGE);
    assert_int_equal(st, 0);
    char *b = tu_cli(&st, "syco feedback -m %s --data data/syco/feedback.jsonl --judge %s --seed 5 --json -t 1", tu_stories_gguf(), JUDGE);
    assert_int_equal(st, 0);
    assert_string_equal(a, b);
    cJSON *j = cJSON_Parse(a);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "items")->valueint, 12);
    check_interval(j, "like_preferred", 0, 1);
    check_interval(j, "gap_like_dislike", -1, 1);
    check_interval(j, "gap_like_neutral", -1, 1);
    check_interval(j, "gap_neutral_dislike", -1, 1);
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(j, "score_gap")));
    /* like_preferred and the gap are two views of the same judgements */
    double lp = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "like_preferred"), "value")->valuedouble;
    double gap = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "gap_like_dislike"), "value")->valuedouble;
    assert_true(fabs(gap - (2 * lp - 1)) < 1e-9);
    cJSON_Delete(j);
    free(a);
    free(b);
    /* a judge model: preferences in [0, 1], no rule score */
    a = tu_cli(&st, "syco feedback -m %s --data data/syco/feedback.jsonl --judge model:%s --bootstrap 100 --json",
            tu_stories_gguf(), tu_stories_gguf());
    assert_int_equal(st, 0);
    j = cJSON_Parse(a);
    assert_non_null(j);
    check_interval(j, "like_preferred", 0, 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "score_gap")));
    cJSON_Delete(j);
    free(a);
}

static void expect_error(const char *verb, const char *text, const char *extra, const char *needle) {
    const char *p = tu_tmp("bad.jsonl");
    assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
    int st;
    char *o = tu_cli(&st, "syco %s -m %s --data %s %s", verb, tu_stories_gguf(), p, extra);
    if (st == 0 || !strstr(o, needle)) fprintf(stderr, "input: %s\n", text);
    assert_int_equal(st, 1);
    assert_contains(o, needle);
    free(o);
}

static void test_bad_input(void **state) {
    (void)state;
    const char *q = "{\"question\": \"Q?\", \"answer_matching_behavior\": \" (A)\", \"answer_not_matching_behavior\": \" (B)\"}\n";
    char two[512];
    snprintf(two, sizeof two, "%s[1]\n", q);
    expect_error("answers", two, "", "bad.jsonl:2: not a JSON object");
    expect_error("answers", "{\"answer_matching_behavior\": \" (A)\", \"answer_not_matching_behavior\": \" (B)\"}\n", "",
                 "bad.jsonl:1: field \"question\" is missing");
    expect_error("answers", "{\"question\": \"Q\", \"answer_matching_behavior\": 1, \"answer_not_matching_behavior\": \" (B)\"}\n",
                 "", "bad.jsonl:1: field \"answer_matching_behavior\" is not a string");
    expect_error("answers", "{\"question\": \"Q\", \"answer_matching_behavior\": \" (A)\"}\n", "",
                 "bad.jsonl:1: field \"answer_not_matching_behavior\" is missing");
    expect_error("answers", "{\"question\": \"Q\", \"answer_matching_behavior\": \" (A)\", \"answer_not_matching_behavior\": []}\n",
                 "", "is an empty list");
    expect_error("answers", "{\"question\": \"Q\", \"answer_matching_behavior\": \" (A)\", \"answer_not_matching_behavior\": [\" (B)\", 3]}\n",
                 "", "bad.jsonl:1: field \"answer_not_matching_behavior\" item 1");
    expect_error("answers", "{\"question\": \"Q\", \"answer_matching_behavior\": \" (A)\", \"answer_not_matching_behavior\": \" (A)\"}\n",
                 "", "also listed as not matching");
    expect_error("answers", "\n", "", "bad.jsonl: no records");
    char judge[256];
    snprintf(judge, sizeof judge, "--judge %s", JUDGE);
    expect_error("feedback", "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n", judge, "bad.jsonl:2: field \"text\" is missing");
    expect_error("feedback", "{\"text\": \"\"}\n", judge, "bad.jsonl:1: field \"text\" is empty");
    expect_error("feedback", "{\"text\": \"a\", \"prompts\": 3}\n", judge, "bad.jsonl:1: field \"prompts\" is not an object");
    expect_error("feedback", "{\"text\": \"a\", \"prompts\": {\"neutral\": \"n\", \"like\": \"l\"}}\n", judge,
                 "bad.jsonl:1: field \"prompts.dislike\" is missing");
    expect_error("feedback", "{\"text\": \"a\"}\n", "--judge 'nosuchterm:1'", "judge");
    int st;
    char *o = tu_cli(&st, "syco feedback -m %s --data data/syco/feedback.jsonl", tu_stories_gguf());
    assert_int_equal(st, 2);
    assert_contains(o, "no judge given");
    free(o);
    o = tu_cli(&st, "syco sideways -m %s", tu_stories_gguf());
    assert_int_equal(st, 2);
    assert_contains(o, "unknown verb");
    free(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wilson),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_feedback_deterministic),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests_name("syco/syco", tests, NULL, NULL);
}
