/* Tests of the error channel: messages, prefixes, thread-locality. */
#include "testutil.h"

#include <pthread.h>
#include <string.h>

static void test_message_and_prefix(void **state) {
    (void)state;
    gh_clear_error();
    assert_string_equal(gh_last_error(), "");
    assert_int_equal(gh_error(GH_ERR_FORMAT, "bad magic %s", "XXXX"), GH_ERR_FORMAT);
    assert_string_equal(gh_last_error(), "bad magic XXXX");
    gh_error_prefix("%s", "model.gguf");
    assert_string_equal(gh_last_error(), "model.gguf: bad magic XXXX");
    assert_string_equal(gh_status_str(GH_ERR_FORMAT), "format error");
}

static void *other_thread(void *arg) {
    (void)arg;
    return (void *)(strcmp(gh_last_error(), "") == 0 ? (void *)1 : NULL);
}

static void test_thread_local(void **state) {
    (void)state;
    gh_error(GH_ERR_IO, "main thread message");
    pthread_t t;
    void *r = NULL;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, &r);
    assert_non_null(r);
    assert_string_equal(gh_last_error(), "main thread message");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_and_prefix),
        cmocka_unit_test(test_thread_local),
    };
    return cmocka_run_group_tests_name("base/error", tests, NULL, NULL);
}
