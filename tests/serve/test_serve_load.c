/* test_serve_load.c — a short, bounded run of the serve load check
 * (bench/serve_load.c, included here): `goodhart serve` (the CLI binary) on
 * loopback, 8 keep-alive clients for 3 s; every answer must be a 200 with the
 * expected JSON, seeded answers reproducible across clients, and the server's
 * RSS must not grow from mid-run to late-run. The full 64-client, 30 s run is
 * the benchmark bench/serve_load.sh. The memory verdict itself is checked on
 * made-up RSS series (a warm-up rise that stops passes; steady growth fails). */
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#define SERVE_LOAD_NO_MAIN
#include "../../bench/serve_load.c"

/* Under AddressSanitizer freed memory sits in a quarantine of up to 256 MiB
 * before reuse, so a server built with it grows by design: the memory verdict
 * is only asserted for plain builds (TU_SANITIZED, testutil.h). */
static void test_rss_verdict(void **state) {
    (void)state;
    long s[40], mid, late;
    /* warm-up: 10 MiB idle, rising to a 30 MiB plateau within the first quarter */
    for (int i = 0; i < 40; i++) s[i] = i < 8 ? 10000 + 2500 * i : 30000 + (i % 3) * 100;
    assert_int_equal(sl_rss_verdict(s, 40, 2048, 0.05, &mid, &late), 0);
    assert_true(mid >= 30000 && mid <= 30200);
    /* a plateau that keeps creeping up a little (arena fill) stays within the tolerance */
    for (int i = 0; i < 40; i++) s[i] = 30000 + 30 * i;
    assert_int_equal(sl_rss_verdict(s, 40, 2048, 0.05, &mid, &late), 0);
    /* a leak: 200 KiB per sample */
    for (int i = 0; i < 40; i++) s[i] = 30000 + 200 * i;
    assert_int_equal(sl_rss_verdict(s, 40, 2048, 0.05, &mid, &late), 1);
    assert_int_equal(late - mid, 4000);
    /* the relative tolerance: 5 % of a 100 MiB process is more than 2 MiB */
    for (int i = 0; i < 40; i++) s[i] = 100000 + (i >= 30 ? 4000 : 0);
    assert_int_equal(sl_rss_verdict(s, 40, 2048, 0.05, &mid, &late), 0);
    assert_int_equal(sl_rss_verdict(s, 40, 2048, 0.01, &mid, &late), 1);
    /* too few samples, or an unreadable one: no verdict */
    assert_int_equal(sl_rss_verdict(s, 7, 2048, 0.05, &mid, &late), -1);
    s[20] = -1;
    assert_int_equal(sl_rss_verdict(s, 40, 2048, 0.05, &mid, &late), -1);
}

static pid_t spawn_server(const char *port_file) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 1);
        execl(tu_bin(), tu_bin(), "serve", "-m", tu_stories_gguf(), "--port", "0", "--port-file", port_file, "-t", "1", "-q",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits (bounded) for the port file and then for /health to say 200. */
static int wait_ready(const char *port_file) {
    int port = 0;
    for (int i = 0; i < 600 && !port; i++) {
        char *t = tu_read_file(port_file, NULL);
        port = t ? atoi(t) : 0;
        free(t);
        if (!port) usleep(50000);
    }
    if (!port) return 0;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/health", port);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    long st = 0;
    for (int i = 0; i < 600 && st != 200; i++) {
        if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
        if (st != 200) usleep(50000);
    }
    curl_easy_cleanup(h);
    return st == 200 ? port : 0;
}

static void test_smoke_load(void **state) {
    (void)state;
    const char *pf = tu_tmp("load-port.txt");
    pid_t pid = spawn_server(pf);
    assert_true(pid > 0);
    int port = wait_ready(pf);
    assert_true(port > 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    sl_opts o = sl_default_opts();
    o.url = url;
    o.clients = 8;
    o.seconds = 3;
    o.pid = pid;
    o.sample_s = 0.1;
    static sl_result r;
    int rc = sl_run_load(&o, &r);
    char line[4096];
    sl_json(&o, &r, rc, line, sizeof line);
    fprintf(stderr, "serve load smoke: %s", line);
    if (r.errors) fprintf(stderr, "first error: %s\n", r.first_error);
    kill(pid, SIGTERM);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    assert_int_not_equal(rc, 2);
    assert_true(r.requests > 0);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.mismatches, 0);
    assert_true(r.rss_judged); /* 30 samples of a live process */
    if (!TU_SANITIZED) {
        assert_false(r.rss_grew);
        assert_int_equal(rc, 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rss_verdict),
        cmocka_unit_test(test_smoke_load),
    };
    return cmocka_run_group_tests_name("serve/load", tests, NULL, NULL);
}
