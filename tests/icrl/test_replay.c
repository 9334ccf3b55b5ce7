/* test_replay.c — the replay backend: scripted assistant messages played in
 * order, one per chat call; malformed scripts and a script that runs out give
 * errors naming the file (and line). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/backend.h"
#include "testutil.h"

static gh_backend *open_script(const char *name, const char *text, gh_status *st) {
    const char *p = tu_tmp(name);
    assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
    char ref[4200];
    snprintf(ref, sizeof ref, "replay:%s", p);
    gh_backend *b = NULL;
    *st = gh_backend_open(ref, NULL, &b);
    return b;
}

static char *reply(gh_backend *b, gh_status *st) {
    gh_chat_msg m = {"user", "hello"};
    gh_samples *s = NULL;
    *st = gh_backend_chat(b, &m, 1, NULL, 1, &s);
    if (*st) return NULL;
    char *t = strdup(s->samples[0].text);
    gh_samples_free(s);
    return t;
}

static void test_in_order(void **state) {
    (void)state;
    gh_status st;
    gh_backend *b = open_script("a.jsonl", "{\"content\": \"first\"}\n\n{\"content\": \"second <bash>ls</bash>\", \"note\": 1}\n{\"content\": \"\"}\n", &st);
    assert_ok(st);
    assert_true(gh_backend_caps(b) & GH_CAP_CHAT);
    assert_false(gh_backend_caps(b) & GH_CAP_GENERATE);
    char *r = reply(b, &st);
    assert_ok(st);
    assert_string_equal(r, "first");
    free(r);
    r = reply(b, &st);
    assert_string_equal(r, "second <bash>ls</bash>");
    free(r);
    r = reply(b, &st);
    assert_string_equal(r, "");
    free(r);
    /* the script is spent: the next call names the file and the count */
    r = reply(b, &st);
    assert_null(r);
    assert_int_equal(st, GH_ERR_LIMIT);
    assert_contains(gh_last_error(), tu_tmp("a.jsonl"));
    assert_contains(gh_last_error(), "ran out");
    assert_contains(gh_last_error(), "3 assistant messages");
    /* a replay script cannot generate from a prompt */
    gh_samples *s = NULL;
    assert_int_equal(gh_backend_generate(b, "x", NULL, 1, &s), GH_ERR_UNSUPPORTED);
    gh_backend_free(b);
}

static void test_many_per_call(void **state) {
    (void)state;
    gh_status st;
    gh_backend *b = open_script("m.jsonl", "{\"content\": \"a\"}\n{\"content\": \"b\"}\n{\"content\": \"c\"}\n", &st);
    assert_ok(st);
    gh_chat_msg m = {"user", "hi"};
    gh_samples *s = NULL;
    assert_ok(gh_backend_chat(b, &m, 1, NULL, 2, &s));
    assert_int_equal(s->n, 2);
    assert_string_equal(s->samples[0].text, "a");
    assert_string_equal(s->samples[1].text, "b");
    gh_samples_free(s);
    /* two more than are left: nothing is consumed */
    assert_int_equal(gh_backend_chat(b, &m, 1, NULL, 2, &s), GH_ERR_LIMIT);
    assert_ok(gh_backend_chat(b, &m, 1, NULL, 1, &s));
    assert_string_equal(s->samples[0].text, "c");
    gh_samples_free(s);
    gh_backend_free(b);
}

static void test_malformed(void **state) {
    (void)state;
    gh_status st;
    gh_backend *b = open_script("bad1.jsonl", "{\"content\": \"ok\"}\n{\"content\": \"oops\"\n", &st);
    assert_null(b);
    assert_int_equal(st, GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "bad1.jsonl:2:");

    b = open_script("bad2.jsonl", "{\"content\": \"ok\"}\n\n{\"text\": \"no content\"}\n", &st);
    assert_null(b);
    assert_int_equal(st, GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "bad2.jsonl:3:");
    assert_contains(gh_last_error(), "content");

    b = open_script("bad3.jsonl", "{\"content\": 42}\n", &st);
    assert_null(b);
    assert_contains(gh_last_error(), "bad3.jsonl:1:");
    assert_contains(gh_last_error(), "not a string");

    b = open_script("bad4.jsonl", "[\"content\"]\n", &st);
    assert_null(b);
    assert_contains(gh_last_error(), "bad4.jsonl:1: not a JSON object");

    b = open_script("empty.jsonl", "\n\n", &st);
    assert_null(b);
    assert_contains(gh_last_error(), "no assistant messages");

    assert_int_equal(gh_backend_open("replay:/nonexistent/x.jsonl", NULL, &b), GH_ERR_IO);
    assert_contains(gh_last_error(), "/nonexistent/x.jsonl");
    assert_int_equal(gh_backend_open("replay:", NULL, &b), GH_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_many_per_call),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests_name("icrl_replay", tests, NULL, NULL);
}
