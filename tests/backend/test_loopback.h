/* test_loopback.h — the fixture the loopback tests share: goodhart's own
 * server on a free port serving stories260K, the same model opened locally,
 * and an HTTP backend on the server, so that each test can hold a result
 * over HTTP against the local one. Included by the test programs only
 * (static functions and state, as test_http_mock.h). */
#ifndef GH_TEST_LOOPBACK_H
#define GH_TEST_LOOPBACK_H

#include <stdio.h>

#include "testutil.h"
#include "goodhart/backend.h"
#include "goodhart/serve.h"

static gh_server *srv;
static gh_backend *local, *remote;
static char url[128];

static int setup(void **st) {
    (void)st;
    gh_serve_params sp = gh_serve_default_params();
    sp.port = 0;
    if (gh_server_start(&sp, &srv)) return -1;
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    if (gh_server_load(srv, tu_stories_gguf(), &bp)) { fprintf(stderr, "%s\n", gh_last_error()); return -1; }
    if (gh_backend_open(tu_stories_gguf(), &bp, &local)) return -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", gh_server_port(srv));
    gh_backend_params hp = gh_backend_default_params();
    hp.timeout_s = 60;
    if (gh_backend_open(url, &hp, &remote)) { fprintf(stderr, "%s\n", gh_last_error()); return -1; }
    return 0;
}

static int teardown(void **st) {
    (void)st;
    gh_backend_free(remote);
    gh_server_stop(srv);
    gh_backend_free(local);
    return 0;
}

#endif
