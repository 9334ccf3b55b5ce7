/* Tests of the goodhart command's stable contract, through the binary itself
 * ($GH_BIN, default build/goodhart): output formats scripts depend on, stdin
 * handling, exit codes and error messages; and valgrind over the main paths. */
#include "testutil.h"
#include "kernels/amx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void test_generate_json(void **state) {
    (void)state;
    int st;
    char *out = tu_cli(&st, "generate -m %s -p 'The little dog' -n 12 --samples 3 --temp 0.8 --seed 7 --json -t 2", tu_stories_gguf());
    assert_int_equal(st, 0);
    int lines = 0;
    for (char *p = out; (p = strchr(p, '\n')); p++) lines++;
    assert_int_equal(lines, 3);
    assert_contains(out, "{\"sample\":0,");
    assert_contains(out, "{\"sample\":2,");
    assert_contains(out, "\"text\":\"");
    assert_contains(out, "\"tokens\":[");
    /* the same sample from a run that draws only it */
    char *one = tu_cli(&st, "generate -m %s -p 'The little dog' -n 12 --first-sample 2 --temp 0.8 --seed 7 --json -t 1", tu_stories_gguf());
    assert_int_equal(st, 0);
    char *line2 = strstr(out, "{\"sample\":2,");
    assert_non_null(line2);
    assert_int_equal(strncmp(line2, one, strlen(one)), 0);
    free(one);
    free(out);
    out = tu_cli(&st, "generate -m %s -p 'The little dog' -n 20 --temp 0", tu_stories_gguf());
    assert_int_equal(st, 0);
    assert_contains(out, " was a little girl named Lily.");
    free(out);
}

static void test_tokenize_stdin_bytes(void **state) {
    (void)state;
    int st;
    char cmd[4096];
    /* a trailing newline on stdin is part of the text */
    snprintf(cmd, sizeof cmd, "printf 'The little dog\\n' | %s tokenize -m %s --ids", tu_bin(), tu_stories_gguf());
    char *a = tu_run(cmd, &st);
    assert_int_equal(st, 0);
    snprintf(cmd, sizeof cmd, "printf 'The little dog' | %s tokenize -m %s --ids", tu_bin(), tu_stories_gguf());
    char *b = tu_run(cmd, &st);
    assert_int_equal(st, 0);
    assert_string_equal(b, "1 291 376 400 428\n");
    assert_true(strlen(a) > strlen(b)); /* the newline became a token */
    free(a); free(b);
    a = tu_cli(&st, "tokenize -m %s --ids --no-bos 'The little dog'", tu_stories_gguf());
    assert_string_equal(a, "291 376 400 428\n");
    free(a);
    a = tu_cli(&st, "tokenize -m %s 'dog'", tu_stories_gguf());
    assert_contains(a, "1\t\"<s>\"\n");
    free(a);
    /* after --, a text may start with '-'; without it that is an unknown option */
    a = tu_cli(&st, "tokenize -m %s --ids --no-bos -- '-dog'", tu_stories_gguf());
    assert_int_equal(st, 0);
    snprintf(cmd, sizeof cmd, "printf '%%s' '-dog' | %s tokenize -m %s --ids --no-bos", tu_bin(), tu_stories_gguf());
    b = tu_run(cmd, &st);
    assert_int_equal(st, 0);
    assert_true(strlen(b) > 1);
    assert_string_equal(a, b); /* the same ids as the text read from stdin */
    free(a); free(b);
    a = tu_cli(&st, "tokenize -m %s --ids '-dog'", tu_stories_gguf());
    assert_int_equal(st, 2);
    assert_contains(a, "unknown option '-dog'");
    free(a);
    a = tu_cli(&st, "tokenize -m %s -- a b", tu_stories_gguf());
    assert_int_equal(st, 2);
    assert_contains(a, "exactly one text");
    free(a);
}

static void test_logprob_json(void **state) {
    (void)state;
    int st;
    char *out = tu_cli(&st, "logprob -m %s --prompt 'The little dog' --completion ' was a little girl' --json --top-k 2", tu_stories_gguf());
    assert_int_equal(st, 0);
    assert_contains(out, "\"tokens\":[");
    assert_contains(out, "\"token_logprobs\":[");
    assert_contains(out, "\"total\":");
    assert_contains(out, "\"top_logprobs\":[[{\"id\":");
    free(out);
}

static void test_info_convert_make_model(void **state) {
    (void)state;
    int st;
    char *out = tu_cli(&st, "info -m %s --json", tu_stories_gguf());
    assert_int_equal(st, 0);
    assert_contains(out, "\"architecture\":\"llama\"");
    assert_contains(out, "\"n_layer\":5");
    assert_contains(out, "\"name\":\"blk.4.ffn_down.weight\"");
    free(out);
    out = tu_cli(&st, "convert llama2c %s %s -o %s --type f16", tu_shared("models/stories260K.bin"),
              tu_shared("models/tok512.bin"), tu_tmp("f16.gguf"));
    assert_int_equal(st, 0);
    free(out);
    out = tu_cli(&st, "make-model --preset tiny --type q4_0 -o %s", tu_tmp("tiny-q4.gguf"));
    assert_int_equal(st, 0);
    free(out);
    out = tu_cli(&st, "info -m %s", tu_tmp("tiny-q4.gguf"));
    assert_contains(out, "mostly q4_0");
    free(out);
    out = tu_cli(&st, "bench -m %s --pp 16 --tg 4 --batches 1,2 --reps 2 --bw-mib 16 --json -t 1", tu_tmp("tiny-q4.gguf"));
    assert_int_equal(st, 0);
    assert_contains(out, "\"bandwidth_gbs\":");
    assert_contains(out, "\"reps\":2,");
    assert_contains(out, "{\"n\":2,");
    assert_contains(out, "\"decode\":[{\"n\":1,");
    assert_contains(out, "\"speedup_vs_1\":");
    assert_contains(out, "\"fma_peak_gmacs\":");
    assert_contains(out, "\"gmac_s\":");
    assert_contains(out, "\"fma_fraction\":");
    assert_contains(out, "\"ctx_tokens\":16,");
    assert_contains(out, "\"weights\":\"copy\",");
    /* with AMX the copy's Q4_0 matrices are regrouped for it (kernels/repack.c) */
    if (gh_kernels_use_amx()) assert_null(strstr(out, "\"regrouped\":0,"));
    else assert_contains(out, "\"regrouped\":0,");
    free(out);
    out = tu_cli(&st, "bench -m %s --pp 8 --tg 2 --batches 1 --reps 1 --bw-mib 16 --mmap --json -t 1", tu_tmp("tiny-q4.gguf"));
    assert_int_equal(st, 0);
    assert_contains(out, "\"weights\":\"mmap\",\"regrouped\":0,");
    free(out);
    /* decode after a longer shared prompt; one that fills the context is refused */
    out = tu_cli(&st, "bench -m %s --pp 8 --tg 2 --ctx 40 --batches 2 --reps 1 --bw-mib 16 -t 1", tu_tmp("tiny-q4.gguf"));
    assert_int_equal(st, 0);
    assert_contains(out, "decode       2 tokens per sequence after a shared prompt of 40 tokens");
    assert_contains(out, "decode N=2 ");
    free(out);
    out = tu_cli(&st, "bench -m %s --ctx 100000 --reps 1 --bw-mib 16 -t 1", tu_tmp("tiny-q4.gguf"));
    assert_int_equal(st, 2);
    assert_contains(out, "--ctx 100000 leaves no room to decode: the model's context is");
    free(out);
    out = tu_cli(&st, "bench -m %s --ctx 0", tu_tmp("tiny-q4.gguf"));
    assert_int_equal(st, 2);
    assert_contains(out, "--ctx needs a token count >= 1, got '0'");
    free(out);
}

static void test_errors(void **state) {
    (void)state;
    int st;
    char *out = tu_cli(&st, "generate -m %s -p hi", tu_tmp("missing.gguf"));
    assert_int_equal(st, 1);
    assert_contains(out, "goodhart generate: ");
    assert_contains(out, "missing.gguf");
    free(out);
    out = tu_cli(&st, "generate -m %s --temp abc", tu_stories_gguf());
    assert_int_equal(st, 2);
    assert_contains(out, "--temp needs a number >= 0, got 'abc'");
    free(out);
    out = tu_cli(&st, "generate -m %s --top-p", tu_stories_gguf());
    assert_int_equal(st, 2);
    assert_contains(out, "option '--top-p' needs a value");
    free(out);
    out = tu_cli(&st, "frobnicate");
    assert_int_equal(st, 2);
    assert_contains(out, "unknown command 'frobnicate'");
    free(out);
    out = tu_cli(&st, "logprob -m %s --prompt x", tu_stories_gguf());
    assert_int_equal(st, 2);
    assert_contains(out, "no completion given");
    free(out);
    out = tu_cli(&st, "info -m %s", tu_shared("models/tok512.bin"));
    assert_int_equal(st, 1);
    assert_contains(out, "tok512.bin");
    free(out);
    /* no server on the discard port: the error names the URL (no retries here) */
    out = tu_cli(&st, "generate -m http://127.0.0.1:9/v1 --retries 0 -p hi");
    assert_int_equal(st, 1);
    assert_contains(out, "http://127.0.0.1:9/v1/models");
    free(out);
    out = tu_cli(&st, "convert llama2c a.bin");
    assert_int_equal(st, 2);
    assert_contains(out, "llama2c needs MODEL.bin and TOKENIZER.bin");
    free(out);
}

/* valgrind over the CLI's main paths (when valgrind is installed and the binary
 * is not built with sanitizers, which valgrind cannot run). */
static void test_valgrind_clean(void **state) {
    (void)state;
    int st;
    char *v = tu_run("command -v valgrind", &st);
    free(v);
    if (st != 0 || getenv("GH_NO_VALGRIND")) { printf("# valgrind not available or binary built with sanitizers: skipped\n"); skip(); }
    /* small random models for the embedding and reward-model paths */
    char bert[1024], rm[1024], f16[1024], icrl_out[1024], demo_out[1024];
    snprintf(bert, sizeof bert, "%s", tu_tmp("vg-bert.gguf"));
    snprintf(f16, sizeof f16, "%s", tu_tmp("vg-f16.gguf"));
    snprintf(rm, sizeof rm, "%s", tu_tmp("vg-rm.gguf"));
    snprintf(icrl_out, sizeof icrl_out, "%s", tu_tmp("valgrind-icrl"));
    snprintf(demo_out, sizeof demo_out, "%s", tu_tmp("valgrind-demo"));
    char *mk = tu_cli(&st, "make-model --arch bert -o %s && %s make-model --preset tiny --reward-head -o %s && "
                      "%s make-model --preset tiny --type f16 -o %s", bert, tu_bin(), rm, tu_bin(), f16);
    assert_int_equal(st, 0);
    free(mk);
    const char *g = tu_stories_gguf();
    /* each command with its two %s arguments */
    const struct { const char *fmt, *a, *b; } cmds[] = {
        {"generate -m %s -p 'The little dog' -n 8 --samples 2 --temp 0.7 --json -t 2%s", g, ""},
        /* 16 samples of 16-bit weights: the batch path that widens rows to f32 */
        {"generate -m %s -p 'The little dog' -n 3 --samples 16 --temp 1 -t 2%s", f16, ""},
        {"logprob -m %s --prompt 'The little dog' --completion ' was' --top-k 2%s", g, ""},
        {"tokenize -m %s --ids 'Once upon a time'%s", g, ""},
        {"info -m %s%s", g, ""},
        /* the main job, small: sampling, a trained head, every rule, the report */
        {"demo -m %s -N 4 --prompts 2 --pairs 4 -t 2 -o %s", g, demo_out},
        /* the later methods' paths: GENIES tables from the study's files, an
         * ICRL rollout through the sandbox, embeddings, a reward model */
        {"genies metrics --results ../shared/genies/results --model llama-30b --method mms "
         "--shifts ../shared/genies/distribution_shifts/GENIES.json%s%s", "", ""},
        {"icrl run --model replay:tests/icrl/agents/tool_use_flattery_gaming.jsonl --envs tool_use_flattery "
         "--rollouts 1 --attempts 1 --json%s -o %s", "", icrl_out},
        {"embed -m %s --json 'A happy dog.'%s", bert, ""},
        {"reward -m %s --prompt Hi --response ' there' --json%s", rm, ""},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[2048], cmd[4096];
        snprintf(args, sizeof args, cmds[i].fmt, cmds[i].a, cmds[i].b);
        snprintf(cmd, sizeof cmd, "valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite %s %s >/dev/null", tu_bin(), args);
        char *out = tu_run(cmd, &st);
        if (st != 0) fprintf(stderr, "%s\n%s\n", cmd, out);
        assert_int_equal(st, 0);
        free(out);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_json),
        cmocka_unit_test(test_tokenize_stdin_bytes),
        cmocka_unit_test(test_logprob_json),
        cmocka_unit_test(test_info_convert_make_model),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_valgrind_clean),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
