/* Tests of the chat templates: each family's exact text for one conversation
 * (system, user, assistant, user), recognition of the published Jinja
 * templates, overrides by name and file, and the errors for templates goodhart
 * does not know. */
#include "testutil.h"

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

static void expect(const char *ref, bool gen, const char *bos, const char *eos, const char *want) {
    char *out = NULL;
    assert_ok(gh_chat_render(ref, conv, N_CONV, gen, bos, eos, &out));
    if (strcmp(out, want) != 0) print_error("template %s:\n got: [%s]\nwant: [%s]\n", ref, out, want);
    assert_string_equal(out, want);
    free(out);
}

static void test_chatml(void **state) {
    (void)state;
    expect("chatml", true, "<s>", "</s>",
           "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
           "<|im_start|>user\nHello!<|im_end|>\n"
           "<|im_start|>assistant\nHi! How can I help?<|im_end|>\n"
           "<|im_start|>user\nTell me a joke.<|im_end|>\n"
           "<|im_start|>assistant\n");
    expect("chatml", false, NULL, NULL,
           "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
           "<|im_start|>user\nHello!<|im_end|>\n"
           "<|im_start|>assistant\nHi! How can I help?<|im_end|>\n"
           "<|im_start|>user\nTell me a joke.<|im_end|>\n");
}

static void test_unknown_name(void **state) {
    (void)state;
    char *out = (char *)1;
    assert_int_equal(gh_chat_render("no-such-family", conv, N_CONV, true, NULL, NULL, &out), GH_ERR_INVALID_ARG);
    assert_null(out);
    assert_contains(gh_last_error(), "no-such-family");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chatml),
        cmocka_unit_test(test_unknown_name),
    };
    return cmocka_run_group_tests_name("chat", tests, NULL, NULL);
}
