/* test_genies_data.c — GENIES data: the real distributions load (k responses
 * give k-1 pairs), the 6 real records with an empty response are reported
 * with file and index and skipped (or fatal with --strict), every kind of
 * malformed record in GENIES JSON and preference JSON Lines is named, the
 * JSON Lines writer round-trips, and shifts files are counted (all.json
 * repeats some). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/genies.h"
#include "testutil.h"

typedef struct warns {
    int n;
    char text[4096];
} warns;

static void collect(void *user, const char *msg) {
    warns *w = user;
    w->n++;
    size_t l = strlen(w->text);
    snprintf(w->text + l, sizeof w->text - l, "%s\n", msg);
}

static void test_real_distribution(void **state) {
    (void)state;
    gh_genies_set *s;
    assert_ok(gh_genies_load(tu_shared("genies/distributions/alpaca_mmlu/train.json"), NULL, &s));
    assert_int_equal(s->n_records, 600);
    assert_int_equal(s->n_pairs, 1800); /* 4 responses each: 3 pairs */
    assert_int_equal(s->n_skipped, 0);
    /* the first record: the preferred response is the fourth listed, paired with the other three in order */
    for (int k = 0; k < 3; k++) {
        assert_int_equal(s->pairs[k].record, 0);
        assert_string_equal(s->pairs[k].chosen,
                            "Error in spelling: \"carr\" should be \"car\". Correct sentence: \"I love driving my new car.\"");
        assert_ptr_equal(s->pairs[k].prompt, s->pairs[0].prompt);
    }
    assert_contains(s->pairs[0].rejected, "\"driving\" should be \"drivin\"");
    assert_contains(s->pairs[2].rejected, "\"new\" should be \"nu\"");
    assert_contains(s->pairs[0].prompt, "### Instruction:\nSpot the spelling errors");
    assert_int_equal(s->pairs[3].record, 1);
    gh_genies_set_free(s);
}

/* The shared data has 4 + 2 records with an empty response text. */
static void test_real_empty_responses(void **state) {
    (void)state;
    warns w = {0};
    gh_genies_load_params p = gh_genies_default_load_params();
    p.warn = collect;
    p.warn_user = &w;
    gh_genies_set *s;
    const char *hq = tu_shared("genies/distributions/alpaca_high_quality/train.json");
    assert_ok(gh_genies_load(hq, &p, &s));
    assert_int_equal(s->n_records, 1800);
    assert_int_equal(s->n_skipped, 4);
    assert_int_equal(s->n_pairs, 1796);
    assert_int_equal(w.n, 4);
    assert_contains(w.text, "alpaca_high_quality/train.json: record 810: response 0 is empty");
    assert_contains(w.text, "record 1093:");
    assert_contains(w.text, "record 1271:");
    assert_contains(w.text, "record 1563:");
    for (int64_t i = 0; i < s->n_pairs; i++) assert_int_not_equal(s->pairs[i].record, 810);
    gh_genies_set_free(s);
    /* fatal on request, naming the first */
    p.fatal = true;
    assert_int_equal(gh_genies_load(hq, &p, &s), GH_ERR_FORMAT);
    assert_null(s);
    assert_contains(gh_last_error(), "alpaca_high_quality/train.json: record 810: response 0 is empty");
    p.fatal = false;
    w = (warns){0};
    assert_ok(gh_genies_load(tu_shared("genies/distributions/alpaca_low_quality/train.json"), &p, &s));
    assert_int_equal(s->n_skipped, 2);
    assert_contains(w.text, "record 120: response 0 is empty");
    assert_contains(w.text, "record 273: response 0 is empty");
    gh_genies_set_free(s);
}

static const char k_bad_json[] =
    "[\n"
    " {\"prompt\": \"P0\", \"responses\": {\"good\": 1, \"bad\": 0, \"worse\": 0}},\n"
    " {\"prompt\": \"P1\", \"responses\": {\"a\": 0, \"b\": 0}},\n"
    " {\"prompt\": \"P2\", \"responses\": {\"a\": 1, \"b\": 1, \"c\": 0}},\n"
    " {\"prompt\": \"\", \"responses\": {\"a\": 1, \"b\": 0}},\n"
    " {\"prompt\": \"P4\", \"responses\": {\"a\": 1, \"\": 0}},\n"
    " {\"prompt\": \"P5\", \"responses\": {\"a\": 1, \"b\\u00e9 \xff\xfe\": 0}},\n"
    " {\"prompt\": \"P6\", \"responses\": {\"a\": \"1\", \"b\": 0}},\n"
    " [1, 2],\n"
    " {\"prompt\": \"P8\", \"responses\": {\"a\": 1}},\n"
    " {\"prompt\": \"P9\", \"responses\": {\"a\": 1, \"a\": 0}},\n"
    " {\"responses\": {\"a\": 1, \"b\": 0}},\n"
    " {\"prompt\": \"P11 \xc3\", \"responses\": {\"a\": 1, \"b\": 0}},\n"
    " {\"prompt\": \"P12\", \"responses\": {\"x\": 0, \"y\": 1}}\n"
    "]\n";

static void test_malformed_json(void **state) {
    (void)state;
    const char *path = tu_tmp("bad.json");
    assert_int_equal(tu_write_file(path, k_bad_json, strlen(k_bad_json)), 0);
    warns w = {0};
    gh_genies_load_params p = gh_genies_default_load_params();
    p.warn = collect;
    p.warn_user = &w;
    gh_genies_set *s;
    assert_ok(gh_genies_load(path, &p, &s));
    assert_int_equal(s->n_records, 13);
    assert_int_equal(s->n_skipped, 11);
    assert_int_equal(s->n_pairs, 3); /* record 0: 2 pairs; record 12: 1 */
    assert_string_equal(s->pairs[2].chosen, "y");
    assert_int_equal(s->pairs[2].record, 12);
    const char *want[] = {
        "bad.json: record 1: no preferred response",
        "bad.json: record 2: 2 preferred responses",
        "bad.json: record 3: prompt is empty",
        "bad.json: record 4: response 1 is empty",
        "bad.json: record 5: response 1 is not UTF-8 (byte 4)",
        "bad.json: record 6: response 0: score is not a number",
        "bad.json: record 7: not a JSON object",
        "bad.json: record 8: 1 response(s); a pair needs 2",
        "bad.json: record 9: response 1 repeats an earlier response's text",
        "bad.json: record 10: field \"prompt\" is missing",
        "bad.json: record 11: prompt is not UTF-8 (byte 4)",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) assert_contains(w.text, want[i]);
    gh_genies_set_free(s);
    p.fatal = true;
    assert_int_equal(gh_genies_load(path, &p, &s), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "bad.json: record 1: no preferred response");
    /* not JSON at all / not an array */
    assert_int_equal(tu_write_file(path, "[{\"prompt\": ", 12), 0);
    assert_int_equal(gh_genies_load(path, NULL, &s), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "bad.json: not valid JSON");
    assert_int_equal(tu_write_file(path, "{}", 2), 0);
    assert_int_equal(gh_genies_load(path, NULL, &s), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "not a JSON array");
    assert_int_equal(gh_genies_load(tu_tmp("missing.json"), NULL, &s), GH_ERR_IO);
    assert_contains(gh_last_error(), "missing.json");
}

static void test_jsonl_roundtrip_and_errors(void **state) {
    (void)state;
    gh_genies_set *a, *b;
    assert_ok(gh_genies_load(tu_shared("genies/distributions/spanish_output/test.json"), NULL, &a));
    const char *out = tu_tmp("spanish.jsonl");
    assert_ok(gh_genies_write_jsonl(a, out));
    assert_ok(gh_genies_load(out, NULL, &b));
    assert_int_equal(a->n_pairs, b->n_pairs);
    for (int64_t i = 0; i < a->n_pairs; i++) {
        assert_string_equal(a->pairs[i].prompt, b->pairs[i].prompt);
        assert_string_equal(a->pairs[i].chosen, b->pairs[i].chosen);
        assert_string_equal(a->pairs[i].rejected, b->pairs[i].rejected);
        assert_int_equal(b->pairs[i].record, i + 1); /* the line */
    }
    gh_genies_set_free(a);
    gh_genies_set_free(b);

    const char *bad = tu_tmp("bad.jsonl");
    const char text[] =
        "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
        "{\"prompt\":\"p\",\"chosen\":\"c\"}\n"
        "\n"
        "{\"prompt\":\"p\",\"chosen\":\"\",\"rejected\":\"r\"}\n"
        "{\"prompt\":\"p\",\"chosen\":\"same\",\"rejected\":\"same\"}\n"
        "{\"prompt\":\"p\xe2\x82\",\"chosen\":\"c\",\"rejected\":\"r\"}\n"
        "{\"prompt\":\"p2\",\"chosen\":\"c2\",\"rejected\":\"r2\"}\n";
    assert_int_equal(tu_write_file(bad, text, strlen(text)), 0);
    warns w = {0};
    gh_genies_load_params p = gh_genies_default_load_params();
    p.warn = collect;
    p.warn_user = &w;
    assert_ok(gh_genies_load(bad, &p, &a));
    assert_int_equal(a->n_pairs, 2);
    assert_int_equal(a->n_skipped, 4);
    assert_contains(w.text, "bad.jsonl: line 2: field \"rejected\" is missing");
    assert_contains(w.text, "bad.jsonl: line 4: chosen is empty");
    assert_contains(w.text, "bad.jsonl: line 5: chosen and rejected are the same text");
    assert_contains(w.text, "bad.jsonl: line 6: prompt is not UTF-8 (byte 1)");
    assert_int_equal(a->pairs[1].record, 7);
    gh_genies_set_free(a);
    p.fatal = true;
    assert_int_equal(gh_genies_load(bad, &p, &a), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "bad.jsonl: line 2:");
}

static void test_shifts(void **state) {
    (void)state;
    gh_genies_shifts *sh;
    assert_ok(gh_genies_shifts_load(tu_shared("genies/distribution_shifts/GENIES.json"), &sh));
    assert_int_equal(sh->n, 15);
    assert_int_equal(sh->n_unique, 15);
    assert_string_equal(sh->shifts[0].source, "us_history_textbook");
    assert_string_equal(sh->shifts[0].target_reference, "us_history_fiction"); /* defaults to the target */
    assert_string_equal(sh->shifts[9].target_reference, "alpaca_mmlu");
    assert_string_equal(sh->shifts[12].target_reference, "quote_attribution");
    assert_string_equal(sh->shifts[14].category, "unwanted_personas");
    gh_genies_shifts_free(sh);
    assert_ok(gh_genies_shifts_load(tu_shared("genies/distribution_shifts/all.json"), &sh));
    assert_int_equal(sh->n, 69);
    assert_int_equal(sh->n_unique, 56);
    gh_genies_shifts_free(sh);
    const char *p = tu_tmp("shifts.json");
    assert_int_equal(tu_write_file(p, "[{\"source\": \"a\"}]", 17), 0);
    assert_int_equal(gh_genies_shifts_load(p, &sh), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "shift 0: \"target\" is missing");
    assert_int_equal(tu_write_file(p, "[{\"source\": \"a\", \"target\": \"../x\"}]", 35), 0);
    assert_int_equal(gh_genies_shifts_load(p, &sh), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "may not contain '/'");
}

static void test_cli(void **state) {
    (void)state;
    int st;
    char *out = tu_cli(&st, "genies check --shifts %s %s 2>&1", tu_shared("genies/distribution_shifts/all.json"),
                       tu_shared("genies/distributions/alpaca_low_quality/train.json"));
    assert_int_equal(st, 0);
    assert_contains(out, "69 shifts, 56 unique");
    assert_contains(out, "warning: ");
    assert_contains(out, "record 120: response 0 is empty");
    assert_contains(out, "1800 records, 1798 pairs, 2 malformed skipped");
    free(out);
    out = tu_cli(&st, "genies check --strict %s 2>&1", tu_shared("genies/distributions/alpaca_low_quality/train.json"));
    assert_int_not_equal(st, 0);
    assert_contains(out, "record 120: response 0 is empty");
    free(out);
    const char *o = tu_tmp("wrong_arc.jsonl");
    out = tu_cli(&st, "genies convert %s -o %s 2>&1", tu_shared("genies/distributions/wrong_arc/test.json"), o);
    assert_int_equal(st, 0);
    assert_contains(out, "wrote 250 pairs from 250 records");
    free(out);
    gh_genies_set *s;
    assert_ok(gh_genies_load(o, NULL, &s));
    assert_int_equal(s->n_pairs, 250);
    gh_genies_set_free(s);
    out = tu_cli(&st, "genies run --methods mms,bogus -m x --shifts y --data z -o w 2>&1");
    assert_int_equal(st, 2);
    assert_contains(out, "unknown method 'bogus'");
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_distribution),
        cmocka_unit_test(test_real_empty_responses),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_jsonl_roundtrip_and_errors),
        cmocka_unit_test(test_shifts),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests_name("genies_data", tests, NULL, NULL);
}
