/* Tests of precomputed candidate files (src/bon/candfile.c) and of the command
 * that selects over them, `goodhart bon select` (through the binary, $GH_BIN,
 * default build/goodhart): good files read as written; every kind of bad input
 * is an error naming the file, the line, the record and the field; the
 * command's JSON output contract and exit codes. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "goodhart/bon.h"

/* Writes `text` to a fresh temporary file and returns its path. */
static const char *write_tmp(const char *name, const char *text) {
    const char *p = tu_tmp(name);
    assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
    return p;
}

/* Line 1: record "p1", three candidates with every field (embeddings e0 = (1,0),
 * e1 = (0,1), e2 = (1,1)); line 2 blank; line 3: record 7 (a number id), one
 * candidate with only a proxy score and an extra score name; CRLF line end. */
static const char *GOOD =
    "{\"id\": \"p1\", \"prompt\": \"Once\", \"candidates\": ["
    "{\"text\": \"a\", \"scores\": {\"proxy\": 1.0, \"gold\": 0.5}, \"logprob_ref\": -3, \"n_tokens\": 2, \"embedding\": [1, 0]},"
    "{\"text\": \"b\\u00e9\", \"scores\": {\"proxy\": 2.0, \"gold\": 0.1}, \"logprob_ref\": -10, \"n_tokens\": 5, \"embedding\": [0, 1]},"
    "{\"text\": \"c\", \"scores\": {\"gold\": 0.9, \"proxy\": 1.5}, \"logprob_ref\": -4, \"n_tokens\": 3, \"embedding\": [1, 1]}]}\n"
    "   \n"
    "{\"id\": 7, \"candidates\": [{\"scores\": {\"proxy\": -0.25, \"len\": 3}}], \"extra\": true}\r\n";

static void test_read_good(void **state) {
    (void)state;
    const char *path = write_tmp("good.jsonl", GOOD);
    gh_bon_file *f;
    assert_ok(gh_bon_file_read(path, &f));
    assert_int_equal(gh_bon_file_count(f), 2);
    const gh_bon_record *r = gh_bon_file_record(f, 0);
    assert_string_equal(r->id, "p1");
    assert_false(r->id_number);
    assert_string_equal(r->prompt, "Once");
    assert_int_equal(r->n, 3);
    assert_int_equal(r->line, 1);
    assert_string_equal(r->text[1], "b\xc3\xa9");
    assert_int_equal(r->n_scores, 2);
    assert_string_equal(r->score_names[0], "proxy");
    assert_string_equal(r->score_names[1], "gold");
    int32_t kp = gh_bon_record_score(r, "proxy"), kg = gh_bon_record_score(r, "gold");
    assert_int_equal(kp, 0);
    assert_int_equal(kg, 1);
    assert_int_equal(gh_bon_record_score(r, "nope"), -1);
    /* candidate 2 lists gold first: values land in the right columns */
    assert_true(r->scores[2 * 2 + kp] == 1.5 && r->scores[2 * 2 + kg] == 0.9);
    assert_true(r->logprob[1] == -10.0);
    assert_int_equal(r->n_tokens[2], 3);
    assert_int_equal(r->dim, 2);
    assert_true(r->embedding[2 * 2] == 1.0f && r->embedding[2 * 2 + 1] == 1.0f);

    r = gh_bon_file_record(f, 1);
    assert_string_equal(r->id, "7");
    assert_true(r->id_number);
    assert_null(r->prompt);
    assert_int_equal(r->line, 3);
    assert_int_equal(r->n, 1);
    assert_null(r->text[0]);
    assert_true(isnan(r->logprob[0]));
    assert_int_equal(r->n_tokens[0], -1);
    assert_int_equal(r->dim, 0);
    assert_null(r->embedding);
    assert_true(r->scores[gh_bon_record_score(r, "proxy")] == -0.25);
    assert_null(gh_bon_file_record(f, 2));

    /* what rules need: bon has all it needs, rbon-kl lacks logprob_ref in record 7 */
    assert_ok(gh_bon_file_check(f, GH_BON_BON, "proxy", "gold"));
    assert_int_equal(gh_bon_file_check(f, GH_BON_MBR, "proxy", "gold"), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "record \"7\": the candidates lack \"embedding\", which rule mbr needs");
    assert_int_equal(gh_bon_file_check(f, GH_BON_RBON_KL, "proxy", "gold"), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), path);
    assert_contains(gh_last_error(), ":3: record \"7\": candidate 0 lacks \"logprob_ref\", which rule rbon-kl needs");
    assert_int_equal(gh_bon_file_check(f, GH_BON_LENGTH, "proxy", "gold"), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), "candidate 0 lacks \"n_tokens\"");
    assert_int_equal(gh_bon_file_check(f, GH_BON_ORACLE, "proxy", "gold"), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), ":3: record \"7\": candidate 0 lacks score \"gold\"");
    assert_int_equal(gh_bon_file_check(f, GH_BON_BON, "len", "gold"), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), ":1: record \"p1\": candidate 0 lacks score \"len\" (the reward)");
    gh_bon_file_free(f);

    /* a byte order mark and no final newline */
    path = write_tmp("bom.jsonl", "\xEF\xBB\xBF{\"id\": \"x\", \"candidates\": [{}]}");
    assert_ok(gh_bon_file_read(path, &f));
    assert_int_equal(gh_bon_file_count(f), 1);
    assert_int_equal(gh_bon_record_score(gh_bon_file_record(f, 0), "proxy"), -1);
    gh_bon_file_free(f);
    /* an empty file has no records */
    path = write_tmp("empty.jsonl", "\n\n");
    assert_ok(gh_bon_file_read(path, &f));
    assert_int_equal(gh_bon_file_count(f), 0);
    gh_bon_file_free(f);
}

/* Reads `text` (as line 2, after a good line 1) and expects an error whose
 * message contains the file name, ":2:" and every needle. */
static void expect_bad(const char *text, ...) {
    static int k;
    char name[64], *buf;
    snprintf(name, sizeof name, "bad%d.jsonl", k++);
    const char *first = "{\"id\": \"ok\", \"candidates\": [{\"scores\": {\"proxy\": 1}}]}\n";
    buf = malloc(strlen(first) + strlen(text) + 2);
    sprintf(buf, "%s%s\n", first, text);
    const char *path = tu_tmp(name);
    assert_int_equal(tu_write_file(path, buf, strlen(buf)), 0);
    free(buf);
    gh_bon_file *f = (gh_bon_file *)1;
    gh_status s = gh_bon_file_read(path, &f);
    if (s == GH_OK) fail_msg("expected an error reading: %s", text);
    assert_null(f);
    char where[4200];
    snprintf(where, sizeof where, "%s:2: ", path);
    assert_contains(gh_last_error(), where);
    va_list ap;
    va_start(ap, text);
    for (const char *n; (n = va_arg(ap, const char *));) assert_contains(gh_last_error(), n);
    va_end(ap);
}

#define C1 "{\"id\": \"r\", \"candidates\": ["
static void test_bad_inputs(void **state) {
    (void)state;
    /* structure */
    expect_bad("{\"id\": \"r\", \"prompt\": \"p\"}", "record \"r\"", "\"candidates\" is missing", NULL);
    expect_bad(C1 "]}", "record \"r\"", "\"candidates\" is empty (N = 0)", NULL);
    expect_bad("{\"id\": \"r\", \"candidates\": {}}", "record \"r\"", "\"candidates\" is an object (must be an array)", NULL);
    expect_bad(C1 "{}, 3]}", "record \"r\"", "candidate 1 is a number (must be an object)", NULL);
    expect_bad("{\"candidates\": [{}]}", "the record has no \"id\"", NULL);
    expect_bad("{\"id\": true, \"candidates\": [{}]}", "\"id\" is a boolean", NULL);
    expect_bad("{\"id\": \"\", \"candidates\": [{}]}", "\"id\" is empty", NULL);
    expect_bad("{\"id\": \"ok\", \"candidates\": [{}]}", "record \"ok\"", "\"id\" repeats the id of line 1", NULL);
    expect_bad("{\"id\": \"r\", \"id\": \"s\", \"candidates\": [{}]}", "key \"id\" appears twice", NULL);
    /* JSON itself */
    expect_bad("{\"id\": \"r\", \"candidates\": [{}]", "malformed JSON", NULL);
    expect_bad("{\"id\": \"r\", \"candidates\": [{\"scores\": {\"proxy\": NaN}}]}", "malformed JSON near column", NULL);
    expect_bad("{\"id\": \"r\", \"candidates\": [{}]} trailing", "malformed JSON", NULL);
    expect_bad("[1, 2]", "the line is an array (must be a JSON object)", NULL);
    /* scores */
    expect_bad(C1 "{\"scores\": {\"proxy\": 1}}, {\"scores\": {\"proxy\": null}}]}", "record \"r\"",
               "candidate 1: score \"proxy\" is null (must be a finite number)", NULL);
    expect_bad(C1 "{\"scores\": {\"proxy\": \"high\"}}]}", "candidate 0: score \"proxy\" is a string", NULL);
    expect_bad(C1 "{\"scores\": {\"gold\": 1e999}}]}", "candidate 0: score \"gold\" is inf", NULL);
    expect_bad(C1 "{\"scores\": [1, 2]}]}", "candidate 0: \"scores\" is an array (must be an object)", NULL);
    expect_bad(C1 "{\"scores\": {\"a\": 1, \"a\": 2}}]}", "candidate 0: \"scores\": key \"a\" appears twice", NULL);
    /* text and strings: raw invalid UTF-8 bytes */
    expect_bad(C1 "{\"text\": \"ok\"}, {\"text\": \"ab\xff\"}]}", "record \"r\"",
               "candidate 1: \"text\" is not valid UTF-8 (byte 2)", NULL);
    expect_bad(C1 "{\"text\": \"\xc0\xaf\"}]}", "\"text\" is not valid UTF-8 (byte 0)", NULL); /* overlong '/' */
    expect_bad(C1 "{\"text\": \"\xed\xa0\x80\"}]}", "\"text\" is not valid UTF-8", NULL);        /* a surrogate */
    expect_bad(C1 "{\"text\": 5}]}", "candidate 0: \"text\" is a number (must be a string)", NULL);
    expect_bad("{\"id\": \"r\", \"prompt\": \"\xfe\", \"candidates\": [{}]}", "\"prompt\" is not valid UTF-8", NULL);
    expect_bad("{\"id\": \"r\xff\", \"candidates\": [{}]}", "\"id\" is not valid UTF-8", NULL);
    /* logprob_ref, n_tokens */
    expect_bad(C1 "{\"logprob_ref\": null}]}", "candidate 0: \"logprob_ref\" is null (must be a number)", NULL);
    expect_bad(C1 "{\"logprob_ref\": \"-3\"}]}", "\"logprob_ref\" is a string", NULL);
    expect_bad(C1 "{\"logprob_ref\": 0.5}]}", "\"logprob_ref\" is 0.5 (a log-probability is <= 0)", NULL);
    expect_bad(C1 "{\"n_tokens\": 2.5}]}", "candidate 0: \"n_tokens\" is 2.5 (must be an integer >= 0)", NULL);
    expect_bad(C1 "{\"n_tokens\": -1}]}", "\"n_tokens\" is -1", NULL);
    expect_bad(C1 "{\"n_tokens\": 1e12}]}", "\"n_tokens\" is 1e+12", NULL);
    /* embeddings */
    expect_bad(C1 "{\"embedding\": [1, 2]}, {\"embedding\": [1, 2, 3]}]}", "record \"r\"",
               "candidate 1: \"embedding\" has 3 values, candidate 0 has 2", NULL);
    expect_bad(C1 "{\"embedding\": [1, 2]}, {\"embedding\": [1]}]}", "candidate 1: \"embedding\" has 1 values", NULL);
    expect_bad(C1 "{\"embedding\": [1, 2]}, {}]}", "candidate 1: \"embedding\" is missing", NULL);
    expect_bad(C1 "{}, {\"embedding\": [1, 2]}]}", "candidate 1: has an \"embedding\" but candidate 0 has none", NULL);
    expect_bad(C1 "{\"embedding\": [1, \"x\"]}]}", "candidate 0: \"embedding\"[1] is a string", NULL);
    expect_bad(C1 "{\"embedding\": [1, 1e300]}]}", "candidate 0: \"embedding\"[1] is 1e+300 (must be finite as a float)", NULL);
    expect_bad(C1 "{\"embedding\": []}]}", "candidate 0: \"embedding\" is empty", NULL);
    expect_bad(C1 "{\"embedding\": 3}]}", "candidate 0: \"embedding\" is a number", NULL);
}

static void test_bad_bytes(void **state) {
    (void)state;
    /* a NUL byte inside a line (the helper above works on C strings) */
    const char text[] = "{\"id\": \"a\", \"candidates\": [{}]}\n{\"id\": \"b\",\0 \"candidates\": [{}]}\n";
    const char *path = tu_tmp("nul.jsonl");
    assert_int_equal(tu_write_file(path, text, sizeof text - 1), 0);
    gh_bon_file *f;
    assert_int_equal(gh_bon_file_read(path, &f), GH_ERR_FORMAT);
    assert_contains(gh_last_error(), ":2: the line contains a NUL byte");
    /* a missing file */
    assert_int_equal(gh_bon_file_read(tu_tmp("no-such.jsonl"), &f), GH_ERR_IO);
    assert_contains(gh_last_error(), "no-such.jsonl");
}

/* ---- goodhart bon select ---- */

static void test_cli_select(void **state) {
    (void)state;
    const char *path = write_tmp("cli.jsonl", GOOD);
    int st;
    /* bon: R = 1, 2, 1.5 -> 1; record 7 keeps its number id */
    char *out = tu_cli(&st, "bon select --in %s --rule bon", path);
    assert_int_equal(st, 0);
    assert_contains(out, "{\"id\":\"p1\",\"rule\":\"bon\",\"beta\":0,\"n\":3,\"index\":1,\"objective\":2,\"reward\":2,\"gold\":0.10000000000000001}\n");
    assert_contains(out, "{\"id\":7,\"rule\":\"bon\",\"beta\":0,\"n\":1,\"index\":0,\"objective\":-0.25,\"reward\":-0.25}\n");
    free(out);
    /* --reward picks another score: gold 0.5, 0.1, 0.9 -> 2 (record 7 has no gold: error) */
    out = tu_cli(&st, "bon select --in %s --rule bon --reward gold", path);
    assert_int_equal(st, 1);
    assert_contains(out, ":3: record \"7\": candidate 0 lacks score \"gold\"");
    assert_true(strstr(out, "{\"id\"") == NULL); /* nothing on stdout */
    free(out);
    /* --n 2 over record p1 alone (a file of its first line): bon among {0, 1} -> 1;
     * mbr on embeddings (1,0), (0,1), (1,1): the middle one, 2 */
    char *line1 = strdup(GOOD);
    *strchr(line1, '\n') = '\0';
    const char *p1 = write_tmp("p1.jsonl", line1);
    free(line1);
    out = tu_cli(&st, "bon select --in %s --rule mbr", p1);
    assert_int_equal(st, 0);
    assert_contains(out, "\"rule\":\"mbr\"");
    assert_contains(out, "\"index\":2,");
    free(out);
    out = tu_cli(&st, "bon select --in %s --rule bon --n 2 --reward gold", p1);
    assert_int_equal(st, 0);
    assert_contains(out, "\"n\":2,\"index\":0,"); /* gold 0.5, 0.1 */
    free(out);
    /* rbon-kl, beta 0.5: R + 0.5 logp = -0.5, -3, -0.5 -> 0 (tie: lowest) */
    out = tu_cli(&st, "bon select --in %s --rule rbon-kl --beta 0.5", p1);
    assert_int_equal(st, 0);
    assert_contains(out, "\"index\":0,\"objective\":-0.5,");
    free(out);

    /* srbon-kl: probabilities, expectations; the pick is the library's pick for
     * u = uniform(seed, stream = record index) */
    out = tu_cli(&st, "bon select --in %s --rule srbon-kl --beta 2 --seed 5", p1);
    assert_int_equal(st, 0);
    assert_contains(out, "\"objective\":null,");
    assert_contains(out, "\"probabilities\":[");
    assert_contains(out, "\"expected_reward\":");
    assert_contains(out, "\"expected_gold\":");
    const double R[3] = {1.0, 2.0, 1.5}, G[3] = {0.5, 0.1, 0.9}, L[3] = {-3, -10, -4};
    gh_bon_pool pool = {.n = 3, .reward = R, .gold = G, .logprob = L};
    const int32_t idx[3] = {0, 1, 2};
    gh_rng rng;
    gh_rng_seed(&rng, 5, 0);
    gh_bon_pick pk;
    double prob[3];
    assert_ok(gh_bon_select(&pool, idx, 3, GH_BON_SRBON_KL, 2.0, gh_rng_uniform(&rng), &pk, prob));
    char want[512];
    snprintf(want, sizeof want, "\"index\":%d,\"objective\":null,\"reward\":%.17g,\"gold\":%.17g,\"probabilities\":[%.17g,%.17g,%.17g],\"expected_reward\":%.17g,\"expected_gold\":%.17g}",
             pk.index, pk.reward, pk.gold, prob[0], prob[1], prob[2], pk.expected_reward, pk.expected_gold);
    assert_contains(out, want);
    /* the same seed gives the same output */
    char *again = tu_cli(&st, "bon select --in %s --rule srbon-kl --beta 2 --seed 5", p1);
    assert_string_equal(out, again);
    free(again);
    free(out);
    /* seeds differ across records: 64 one-candidate-pair records, random rule, both picks occur */
    FILE *f = fopen(tu_tmp("many.jsonl"), "w");
    assert_non_null(f);
    for (int i = 0; i < 64; i++)
        fprintf(f, "{\"id\": %d, \"candidates\": [{\"scores\": {\"proxy\": 0}}, {\"scores\": {\"proxy\": 0}}]}\n", i);
    fclose(f);
    out = tu_cli(&st, "bon select --in %s --rule random --seed 1", tu_tmp("many.jsonl"));
    assert_int_equal(st, 0);
    assert_contains(out, "\"index\":0,");
    assert_contains(out, "\"index\":1,");
    assert_contains(out, "\"probabilities\":[0.5,0.5]");
    free(out);
}

static void test_cli_errors(void **state) {
    (void)state;
    const char *path = write_tmp("clie.jsonl", GOOD);
    int st;
    /* a field the rule needs is missing: exit 1, file, line, record and field named */
    char *out = tu_cli(&st, "bon select --in %s --rule rbon-kl --beta 1", path);
    assert_int_equal(st, 1);
    assert_contains(out, path);
    assert_contains(out, ":3: record \"7\": candidate 0 lacks \"logprob_ref\"");
    free(out);
    /* a value only the selection rejects (n_tokens 0 for length) in record 2:
     * exit 1 and no partial output for record 1 */
    const char *bad = write_tmp("clie2.jsonl",
                                "{\"id\": \"a\", \"candidates\": [{\"scores\": {\"proxy\": 1}, \"n_tokens\": 3}]}\n"
                                "{\"id\": \"b\", \"candidates\": [{\"scores\": {\"proxy\": 1}, \"n_tokens\": 0}]}\n");
    out = tu_cli(&st, "bon select --in %s --rule length --beta 1", bad);
    assert_int_equal(st, 1);
    assert_contains(out, ":2: record \"b\": rule length: n_tokens of candidate 0 is 0");
    assert_true(strstr(out, "{\"id\"") == NULL);
    free(out);
    /* NaN-like score, non-UTF-8 text, empty candidate list: exit 1 with the reader's message */
    bad = write_tmp("clie3.jsonl", "{\"id\": \"z\", \"candidates\": [{\"scores\": {\"proxy\": null}}]}\n");
    out = tu_cli(&st, "bon select --in %s --rule bon", bad);
    assert_int_equal(st, 1);
    assert_contains(out, ":1: record \"z\": candidate 0: score \"proxy\" is null");
    free(out);
    bad = write_tmp("clie4.jsonl", "{\"id\": \"z\", \"candidates\": [{\"text\": \"\xff\"}]}\n");
    out = tu_cli(&st, "bon select --in %s --rule random", bad);
    assert_int_equal(st, 1);
    assert_contains(out, "\"text\" is not valid UTF-8");
    free(out);
    bad = write_tmp("clie5.jsonl", "{\"id\": \"z\", \"candidates\": []}\n");
    out = tu_cli(&st, "bon select --in %s --rule random", bad);
    assert_int_equal(st, 1);
    assert_contains(out, "empty (N = 0)");
    free(out);
    /* usage errors: exit 2 */
    out = tu_cli(&st, "bon select --in %s --rule best", path);
    assert_int_equal(st, 2);
    assert_contains(out, "unknown rule 'best'");
    free(out);
    out = tu_cli(&st, "bon select --in %s --rule srbon-wd", path);
    assert_int_equal(st, 2);
    assert_contains(out, "needs --beta");
    free(out);
    out = tu_cli(&st, "bon select --in %s --rule bon --beta -1", path);
    assert_int_equal(st, 2);
    free(out);
    out = tu_cli(&st, "bon select --rule bon");
    assert_int_equal(st, 2);
    free(out);
    out = tu_cli(&st, "bon select --in %s --rule bon --n 0", path);
    assert_int_equal(st, 2);
    free(out);
    out = tu_cli(&st, "bon select --in /nonexistent/x.jsonl --rule bon");
    assert_int_equal(st, 1);
    assert_contains(out, "/nonexistent/x.jsonl");
    free(out);
    out = tu_cli(&st, "bon select --help");
    assert_int_equal(st, 0);
    assert_contains(out, "probabilities");
    assert_contains(out, "--seed");
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_good),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_bad_bytes),
        cmocka_unit_test(test_cli_select),
        cmocka_unit_test(test_cli_errors),
    };
    return cmocka_run_group_tests_name("bon/candfile", tests, NULL, NULL);
}
