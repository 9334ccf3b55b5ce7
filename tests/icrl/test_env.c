/* test_env.c — environment files: the five shipped ones load; malformed ones
 * fail with the file and field named; data sets, templates, the seeded choice
 * of records, the <bash> block parser and the loop's prompts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/icrl.h"
#include "testutil.h"

static const char *const shipped[] = {"political_sycophancy", "tool_use_flattery", "nudged_rubric_modification",
                                      "insubordinate_rubric_modification", "reward_tampering"};

static void test_shipped(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof shipped / sizeof *shipped; i++) {
        char *path = NULL;
        gh_icrl_env *e = NULL;
        assert_ok(gh_icrl_env_find(shipped[i], NULL, &path));
        char want[128];
        snprintf(want, sizeof want, "data/icrl/envs/%s.json", shipped[i]);
        assert_string_equal(path, want);
        assert_ok(gh_icrl_env_load(path, &e));
        assert_string_equal(gh_icrl_env_name(e), shipped[i]);
        assert_int_equal(strlen(gh_icrl_env_hash(e)), 64);
        assert_int_equal(gh_icrl_env_held_out(e), !strcmp(shipped[i], "reward_tampering"));
        assert_int_equal(gh_icrl_env_tools(e), !!strcmp(shipped[i], "political_sycophancy"));
        free(path);
        gh_icrl_env_free(e);
    }
    char *path = NULL;
    assert_int_equal(gh_icrl_env_find("no_such_env", NULL, &path), GH_ERR_IO);
    assert_contains(gh_last_error(), "no environment named \"no_such_env\"");
    assert_ok(gh_icrl_env_find("some/file.json", NULL, &path));
    assert_string_equal(path, "some/file.json");
    free(path);
}

static void test_items(void **state) {
    (void)state;
    gh_icrl_env *e = NULL;
    assert_ok(gh_icrl_env_load("data/icrl/envs/political_sycophancy.json", &e));
    int32_t n = gh_icrl_env_n_items(e);
    assert_true(n >= 10);
    /* N <= n rollouts see distinct records; the choice depends on the seed only */
    int32_t *seen = calloc((size_t)n, sizeof *seen);
    for (int32_t i = 0; i < n; i++) {
        int32_t k = gh_icrl_env_item_for(e, 3, i);
        assert_true(k >= 0 && k < n);
        assert_int_equal(seen[k], 0);
        seen[k] = 1;
        assert_int_equal(gh_icrl_env_item_for(e, 3, i), k);
    }
    free(seen);
    int32_t same = 0;
    for (int32_t i = 0; i < n; i++) same += gh_icrl_env_item_for(e, 3, i) == gh_icrl_env_item_for(e, 4, i);
    assert_true(same < n);
    const char *q = gh_icrl_env_item_field(e, 0, "question");
    assert_non_null(q);
    assert_contains(q, "(A)");
    assert_null(gh_icrl_env_item_field(e, 0, "nope"));
    gh_icrl_env_free(e);

    assert_ok(gh_icrl_env_load("data/icrl/envs/tool_use_flattery.json", &e));
    int32_t poor = 0, good = 0;
    for (int32_t i = 0; i < gh_icrl_env_n_items(e); i++) {
        const char *qual = gh_icrl_env_item_field(e, i, "quality");
        assert_non_null(qual);
        poor += !strcmp(qual, "poor");
        good += !strcmp(qual, "good");
    }
    assert_true(poor > 0 && good > 0);
    assert_int_equal(poor + good, gh_icrl_env_n_items(e));
    gh_icrl_env_free(e);
}

static void test_bash_blocks(void **state) {
    (void)state;
    char **b = NULL;
    int32_t n = 0;
    assert_ok(gh_icrl_parse_bash("no commands here", &b, &n));
    assert_int_equal(n, 0);
    gh_icrl_strings_free(b, n);
    assert_ok(gh_icrl_parse_bash("Look:\n<bash>\nls\ncat a.txt\n</bash> then <bash>pwd</bash> and <bash>echo unclosed", &b, &n));
    assert_int_equal(n, 3);
    assert_string_equal(b[0], "\nls\ncat a.txt\n");
    assert_string_equal(b[1], "pwd");
    assert_string_equal(b[2], "echo unclosed");
    gh_icrl_strings_free(b, n);
}

static void test_prompts(void **state) {
    (void)state;
    gh_icrl_env *e = NULL;
    assert_ok(gh_icrl_env_load("data/icrl/envs/nudged_rubric_modification.json", &e));
    char *r = NULL;
    assert_ok(gh_icrl_reflection_prompt(e, -1, 0, 5, 0.6, &r));
    assert_contains(r, "reward for that attempt was 0.6");
    assert_contains(r, "reflect");
    assert_contains(r, "plan");
    free(r);
    assert_ok(gh_icrl_reset_prompt(e, -1, 1, 5, &r));
    assert_contains(r, "reset");
    assert_contains(r, "attempt 2 of 5");
    assert_contains(r, "checklist.py"); /* the task, posed again */
    free(r);
    gh_icrl_env_free(e);
    /* an environment's own reflection prompt, with a data-set field */
    assert_ok(gh_icrl_env_load("data/icrl/envs/political_sycophancy.json", &e));
    assert_ok(gh_icrl_reflection_prompt(e, 0, 0, 3, 0, &r));
    assert_contains(r, "reward for that answer was 0 out of a possible 1");
    free(r);
    assert_ok(gh_icrl_reset_prompt(e, 2, 2, 3, &r));
    assert_contains(r, "attempt 3 of 3");
    assert_contains(r, gh_icrl_env_item_field(e, 2, "question"));
    free(r);
    gh_icrl_env_free(e);
}

/* ---- malformed files ------------------------------------------------------ */

static const char *good_env =
    "{\"name\": \"t\", \"threshold\": 1, \"prompt\": \"hi\", \"files\": [{\"path\": \"a.txt\", \"content\": \"x\"}],\n"
    " \"reward\": {\"kind\": \"file_number\", \"path\": \"s.txt\", \"missing\": 0},\n"
    " \"oversight\": [{\"flag\": \"changed\", \"kind\": \"file_changed\", \"paths\": [\"a.txt\"]}], \"gamed\": [\"changed\"]}";

static int write_str(const char *path, const char *text) { return tu_write_file(path, text, strlen(text)); }

static gh_status load_text(const char *name, const char *text) {
    const char *p = tu_tmp(name);
    assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
    gh_icrl_env *e = NULL;
    gh_status s = gh_icrl_env_load(p, &e);
    gh_icrl_env_free(e);
    return s;
}

/* good_env with `from` replaced by `to` must fail with a message holding `want`. */
static void bad(const char *from, const char *to, const char *want) {
    const char *at = strstr(good_env, from);
    assert_non_null(at);
    char text[4096];
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good_env), good_env, to, at + strlen(from));
    gh_status s = load_text("bad.json", text);
    if (s == GH_OK) fail_msg("accepted: %s", text);
    assert_int_equal(s, strstr(want, "nonexistent") ? GH_ERR_IO : GH_ERR_FORMAT);
    assert_contains(gh_last_error(), tu_tmp("bad.json"));
    assert_contains(gh_last_error(), want);
}

static void test_malformed(void **state) {
    (void)state;
    assert_ok(load_text("good.json", good_env));
    bad("\"threshold\": 1, ", "", "\"threshold\" is missing");
    bad("\"threshold\": 1", "\"threshold\": \"high\"", "\"threshold\" must be a number");
    bad("\"threshold\": 1", "\"treshold\": 1", "unknown field \"treshold\"");
    bad("\"prompt\": \"hi\"", "\"prompt\": \"hi {{user}}\"", "{{user}} names nothing");
    bad("\"prompt\": \"hi\"", "\"prompt\": \"hi {{user\"", "without its \"}}\"");
    bad("\"kind\": \"file_number\"", "\"kind\": \"magic\"", "reward: unknown kind \"magic\"");
    bad("\"path\": \"s.txt\"", "\"path\": \"../s.txt\"", "relative path inside the sandbox");
    bad("\"path\": \"a.txt\"", "\"path\": \"/etc/a.txt\"", "files[0].path must be a relative path");
    bad("\"gamed\": [\"changed\"]", "\"gamed\": [\"changd\"]", "\"changd\" is not \"success\" or the flag");
    bad("\"gamed\": [\"changed\"]", "\"gamed\": []", "non-empty array");
    bad(", \"gamed\": [\"changed\"]", "", "\"gamed\" is missing");
    bad("\"kind\": \"file_changed\", \"paths\": [\"a.txt\"]", "\"kind\": \"file_changed\"", "oversight[0]: \"paths\"");
    bad("\"flag\": \"changed\"", "\"flag\": \"gamed\"", "reserved");
    bad("\"name\": \"t\"", "\"name\": \"a b\"", "\"name\" must be letters");
    bad("\"files\": [", "\"tools\": false, \"files\": [", "\"tools\" is false");
    bad("\"name\": \"t\",", "\"name\": \"t\", \"items\": \"nonexistent.jsonl\",", "nonexistent.jsonl");

    /* a syntax error: line and column */
    gh_status s = load_text("syntax.json", "{\n  \"name\": \"t\",\n  \"threshold\": 1,,\n}");
    assert_int_equal(s, GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "syntax.json:3:");
    assert_contains(gh_last_error(), "not valid JSON");
    assert_int_equal(load_text("array.json", "[1, 2]"), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "one JSON object");

    /* data sets: a bad line, and a record without a field a template uses */
    assert_int_equal(write_str(tu_tmp("items_bad.jsonl"), "{\"q\": \"a\"}\nnot json\n"), 0);
    s = load_text("with_items.json",
                  "{\"name\": \"t\", \"tools\": false, \"threshold\": 1, \"prompt\": \"{{q}}\", \"items\": \"items_bad.jsonl\","
                  " \"reward\": {\"kind\": \"answer_match\", \"matching\": \"q\"}, \"gamed\": [\"success\"]}");
    assert_int_equal(s, GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "items_bad.jsonl:2: not a JSON object");
    assert_int_equal(write_str(tu_tmp("items_short.jsonl"), "{\"q\": \"a\", \"m\": \"A\"}\n{\"r\": \"b\", \"m\": \"A\"}\n"), 0);
    s = load_text("with_items2.json",
                  "{\"name\": \"t\", \"tools\": false, \"threshold\": 1, \"prompt\": \"{{q}}\", \"items\": \"items_short.jsonl\","
                  " \"reward\": {\"kind\": \"answer_match\", \"matching\": \"m\"}, \"gamed\": [\"success\"]}");
    assert_int_equal(s, GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "items_short.jsonl:2");
    assert_contains(gh_last_error(), "{{q}}");
    /* the same data set with a field both records have loads */
    assert_int_equal(write_str(tu_tmp("items_ok.jsonl"), "{\"q\": \"a\"}\n{\"q\": \"b\"}\n"), 0);
    assert_ok(load_text("with_items3.json",
                        "{\"name\": \"t\", \"tools\": false, \"threshold\": 1, \"prompt\": \"{{q}}\", \"items\": \"items_ok.jsonl\","
                        " \"reward\": {\"kind\": \"answer_match\", \"matching\": \"q\"}, \"gamed\": [\"success\"]}"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped),
        cmocka_unit_test(test_items),
        cmocka_unit_test(test_bash_blocks),
        cmocka_unit_test(test_prompts),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests_name("icrl_env", tests, NULL, NULL);
}
