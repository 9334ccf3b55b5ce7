/* Tests of chat templates on models: copies of stories260K whose GGUF carries
 * a tokenizer.chat_template of each family are recognised through
 * gh_chat_render_for_model (with the model's own BOS/EOS texts); a model
 * without a template, or with one goodhart does not know, is an error naming
 * the model file; and gh_backend_chat runs the default model with "plain". */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/backend.h"
#include "goodhart/chat.h"
#include "goodhart/gguf.h"
#include "goodhart/model.h"

static const gh_chat_msg conv[] = {
    {"system", "Be brief."},
    {"user", "Hi"},
    {"assistant", "Hello"},
    {"user", "Tell a story"},
};
#define N_CONV ((int32_t)(sizeof conv / sizeof *conv))

/* Copies every key and tensor of `src` into a new GGUF at `dst`, with
 * tokenizer.chat_template set to `tmpl` (NULL: left out). */
static void copy_gguf(const char *src, const char *dst, const char *tmpl) {
    gh_gguf *g = NULL;
    gh_gguf_writer *w = NULL;
    assert_ok(gh_gguf_open(src, &g));
    assert_ok(gh_gguf_writer_init(&w));
    for (int64_t i = 0; i < gh_gguf_n_kv(g); i++) {
        const char *key = gh_gguf_key(g, i);
        if (!strcmp(key, "tokenizer.chat_template")) continue;
        gh_gguf_type t = gh_gguf_kv_type(g, i);
        int64_t iv;
        uint64_t uv;
        double fv;
        gh_str sv;
        switch (t) {
        case GH_GGUF_UINT8: case GH_GGUF_UINT16: case GH_GGUF_UINT32: case GH_GGUF_UINT64:
            assert_ok(gh_gguf_kv_uint(g, i, &uv));
            if (t == GH_GGUF_UINT8) assert_ok(gh_gguf_set_u8(w, key, (uint8_t)uv));
            else if (t == GH_GGUF_UINT16) assert_ok(gh_gguf_set_u16(w, key, (uint16_t)uv));
            else if (t == GH_GGUF_UINT32) assert_ok(gh_gguf_set_u32(w, key, (uint32_t)uv));
            else assert_ok(gh_gguf_set_u64(w, key, uv));
            break;
        case GH_GGUF_INT8: case GH_GGUF_INT16: case GH_GGUF_INT32: case GH_GGUF_INT64:
            assert_ok(gh_gguf_kv_int(g, i, &iv));
            if (t == GH_GGUF_INT8) assert_ok(gh_gguf_set_i8(w, key, (int8_t)iv));
            else if (t == GH_GGUF_INT16) assert_ok(gh_gguf_set_i16(w, key, (int16_t)iv));
            else if (t == GH_GGUF_INT32) assert_ok(gh_gguf_set_i32(w, key, (int32_t)iv));
            else assert_ok(gh_gguf_set_i64(w, key, iv));
            break;
        case GH_GGUF_BOOL:
            assert_ok(gh_gguf_kv_int(g, i, &iv));
            assert_ok(gh_gguf_set_bool(w, key, iv != 0));
            break;
        case GH_GGUF_FLOAT32: case GH_GGUF_FLOAT64:
            assert_ok(gh_gguf_kv_float(g, i, &fv));
            if (t == GH_GGUF_FLOAT32) assert_ok(gh_gguf_set_f32(w, key, (float)fv));
            else assert_ok(gh_gguf_set_f64(w, key, fv));
            break;
        case GH_GGUF_STRING:
            assert_ok(gh_gguf_kv_str(g, i, &sv));
            assert_ok(gh_gguf_set_strn(w, key, sv.ptr, sv.len));
            break;
        case GH_GGUF_ARRAY: {
            gh_gguf_type et;
            uint64_t n;
            assert_ok(gh_gguf_arr_info(g, i, &et, &n));
            if (et == GH_GGUF_STRING) {
                const char **strs = malloc((n ? n : 1) * sizeof *strs);
                uint64_t *lens = malloc((n ? n : 1) * sizeof *lens);
                assert_non_null(strs);
                assert_non_null(lens);
                for (uint64_t j = 0; j < n; j++) {
                    assert_ok(gh_gguf_arr_str(g, i, j, &sv));
                    strs[j] = sv.ptr;
                    lens[j] = sv.len;
                }
                assert_ok(gh_gguf_set_arr_str(w, key, strs, lens, n));
                free(strs);
                free(lens);
            } else {
                const void *data;
                assert_ok(gh_gguf_arr_data(g, i, &data));
                assert_ok(gh_gguf_set_arr(w, key, et, data, n));
            }
            break;
        }
        default:
            fail_msg("unexpected key type %d of %s", (int)t, key);
        }
    }
    if (tmpl) assert_ok(gh_gguf_set_str(w, "tokenizer.chat_template", tmpl));
    for (int64_t i = 0; i < gh_gguf_n_tensors(g); i++) {
        const gh_tensor_info *ti = gh_gguf_tensor(g, i);
        assert_ok(gh_gguf_add_tensor(w, ti->name, ti->type, ti->n_dims, ti->ne, ti->data));
    }
    assert_ok(gh_gguf_writer_write(w, dst));
    gh_gguf_writer_free(w);
    gh_gguf_free(g);
}

static gh_model *load(const char *path) {
    gh_model_params p = gh_model_default_params();
    p.n_threads = 1;
    gh_model *m = NULL;
    assert_ok(gh_model_load(path, &p, &m));
    return m;
}

/* Jinja templates of each family, written for this test with the markers the
 * published ones carry. */
static const struct {
    const char *name, *jinja, *family, *prefix;
} fams[] = {
    {"chatml", "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n'}}"
               "{% endfor %}", "chatml", "<|im_start|>system\nBe brief.<|im_end|>\n"},
    {"llama3", "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + "
               "'<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}",
     "llama3", "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"},
    {"llama2", "{% for m in messages %}{% if loop.first %}{% set c = '<<SYS>>\\n' + sys + '\\n<</SYS>>\\n\\n' %}"
               "{% endif %}{{ bos_token + '[INST] ' + m['content'] + ' [/INST]' }}{% endfor %}",
     "llama2", "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Tell a story [/INST]"},
    {"mistral", "{{- bos_token }}{% for m in messages %}{{- ' [INST] ' + m['content'] + ' [/INST]' }}{% endfor %}",
     "mistral", "<s> [INST] Be brief.\n\nHi [/INST] Hello</s> [INST] Tell a story [/INST]"},
    {"gemma", "{{ bos_token }}{% for m in messages %}{{ '<start_of_turn>' + m['role'] + '\\n' + m['content'] | trim "
              "+ '<end_of_turn>\\n' }}{% endfor %}", "gemma", "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"},
    {"zephyr", "{% for m in messages %}\n{{ '<|' + m['role'] + '|>\\n' + m['content'] + eos_token }}\n{% endfor %}"
               "{# <|user|> <|assistant|> #}", "zephyr", "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n"},
    {"phi3", "{% for m in messages %}{{'<|' + m['role'] + '|>\\n' + m['content'] + '<|end|>\\n'}}{% endfor %}"
             "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}",
     "phi3", "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n"},
};

static void test_detect_from_gguf(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof fams / sizeof *fams; k++) {
        char name[64];
        snprintf(name, sizeof name, "stories_%s.gguf", fams[k].name);
        const char *path = tu_tmp(name);
        copy_gguf(tu_stories_gguf(), path, fams[k].jinja);
        gh_model *m = load(path);
        char *out = NULL;
        const char *fam = NULL;
        assert_ok(gh_chat_render_for_model(m, NULL, conv, N_CONV, true, &out, &fam));
        assert_non_null(fam);
        assert_string_equal(fam, fams[k].family);
        if (strncmp(out, fams[k].prefix, strlen(fams[k].prefix)) != 0)
            print_error("%s: got [%s]\nwant prefix [%s]\n", fams[k].name, out, fams[k].prefix);
        assert_memory_equal(out, fams[k].prefix, strlen(fams[k].prefix));
        free(out);
        /* an override wins over the model's own template */
        assert_ok(gh_chat_render_for_model(m, "plain", conv, N_CONV, true, &out, &fam));
        assert_string_equal(fam, "plain");
        free(out);
        gh_model_free(m);
    }
}

static void test_model_errors(void **state) {
    (void)state;
    gh_model *m = load(tu_stories_gguf());
    char *out = (char *)1;
    const char *fam = "x";
    /* stories260K has no template: an error naming the file, no fallback */
    assert_int_equal(gh_chat_render_for_model(m, NULL, conv, N_CONV, true, &out, &fam), GH_ERR_UNSUPPORTED);
    assert_null(out);
    assert_null(fam);
    assert_contains(gh_last_error(), tu_stories_gguf());
    assert_contains(gh_last_error(), "no chat template");
    assert_contains(gh_last_error(), "--chat-template");
    assert_int_equal(gh_chat_render_for_model(m, "nonesuch", conv, N_CONV, true, &out, NULL), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "nonesuch");
    /* plain: the model's BOS text first, as the model adds BOS by default */
    assert_ok(gh_chat_render_for_model(m, "plain", conv, N_CONV, true, &out, &fam));
    assert_string_equal(fam, "plain");
    const gh_tokenizer *t = gh_model_tokenizer(m);
    char want[256];
    snprintf(want, sizeof want, "%sSystem: Be brief.\nUser: Hi\nAssistant: Hello\nUser: Tell a story\nAssistant:",
             gh_tokenizer_add_bos(t) ? gh_tokenizer_token_text(t, gh_tokenizer_bos(t)) : "");
    assert_string_equal(out, want);
    free(out);
    gh_model_free(m);

    /* a template goodhart does not recognise: an error naming the model */
    const char *path = tu_tmp("stories_unknown.gguf");
    copy_gguf(tu_stories_gguf(), path, "{% for m in messages %}### {{ m.role }}: {{ m.content }}\n{% endfor %}");
    m = load(path);
    assert_int_equal(gh_chat_render_for_model(m, NULL, conv, N_CONV, true, &out, NULL), GH_ERR_UNSUPPORTED);
    assert_contains(gh_last_error(), path);
    assert_contains(gh_last_error(), "not recognised");
    assert_contains(gh_last_error(), "### {{ m.role }}");
    gh_model_free(m);
}

/* The default model through the backend's chat with "plain". */
static void test_backend_chat_plain(void **state) {
    (void)state;
    gh_backend_params p = gh_backend_default_params();
    p.n_threads = 1;
    p.chat_template = "plain";
    gh_backend *b = NULL;
    assert_ok(gh_backend_open(tu_stories_gguf(), &p, &b));
    gh_sampler_params sp = gh_sampler_default_params();
    sp.temp = 0.0f;
    sp.max_tokens = 8;
    gh_samples *s = NULL;
    const gh_chat_msg one[] = {{"user", "Once upon a time"}};
    assert_ok(gh_backend_chat(b, one, 1, &sp, 2, &s));
    assert_int_equal(s->n, 2);
    assert_true(s->samples[0].n_tokens > 0);
    assert_string_equal(s->samples[0].text, s->samples[1].text); /* greedy */
    /* the prompt is the rendered conversation, its special-token texts read as
     * tokens: the same tokens as generating from it with parse_special */
    char *prompt = NULL;
    assert_ok(gh_chat_render_for_model(gh_backend_model(b), "plain", one, 1, true, &prompt, NULL));
    assert_contains(prompt, "User: Once upon a time\nAssistant:");
    gh_samples *g = NULL;
    gh_sampler_params gp = sp;
    gp.add_bos = 0;
    gp.parse_special = true;
    assert_ok(gh_backend_generate(b, prompt, &gp, 1, &g));
    assert_int_equal(g->n_prompt_tokens, s->n_prompt_tokens);
    assert_memory_equal(g->prompt_tokens, s->prompt_tokens, (size_t)s->n_prompt_tokens * sizeof(int32_t));
    assert_string_equal(g->samples[0].text, s->samples[0].text);
    gh_samples_free(g);
    free(prompt);
    gh_samples_free(s);
    gh_backend_free(b);

    /* without a template or an override: the model's error, no fallback */
    p.chat_template = NULL;
    assert_ok(gh_backend_open(tu_stories_gguf(), &p, &b));
    assert_int_not_equal(gh_backend_chat(b, one, 1, &sp, 1, &s), GH_OK);
    assert_null(s);
    assert_contains(gh_last_error(), "no chat template");
    gh_backend_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_from_gguf),
        cmocka_unit_test(test_model_errors),
        cmocka_unit_test(test_backend_chat_plain),
    };
    return cmocka_run_group_tests_name("chat_model", tests, NULL, NULL);
}
