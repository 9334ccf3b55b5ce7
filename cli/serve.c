/* serve.c — `goodhart serve -m MODEL.gguf [--host H] [--port P] ...`: an
 * OpenAI-compatible HTTP server over the local runtime (goodhart/serve.h does
 * the work). It listens first, so /health answers 503 while the model loads,
 * then serves until SIGINT or SIGTERM and shuts down cleanly: requests still
 * running get a 503, every thread is joined, the model is freed. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "goodhart/serve.h"

static const char *usage_text =
    "usage: goodhart serve -m MODEL.gguf [options]\n"
    "  --host ADDR          address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)\n"
    "  --port N             port (default 8080; 0 picks a free one, printed on stderr)\n"
    "  --port-file FILE     write the port bound to FILE once listening\n"
    "  --api-key-env NAME   clients must send \"Authorization: Bearer $NAME\" (the key is read from\n"
    "                       the environment variable NAME, never from the command line)\n"
    "  --model-name NAME    the model's id in /v1/models (default: file name without .gguf)\n"
    "  --slots N            sequences decoded together by the batching scheduler (2 to 4096, default 32)\n"
    "  --ctx N              positions per sequence (default: min(model context, 4096))\n"
    "  --max-body BYTES     request body limit (default 1048576)\n"
    "  --max-tokens N       max_tokens limit per sample (default: the context)\n"
    "  --max-n N            samples per prompt (default 64)\n"
    "  --max-inputs N       prompts or inputs per request (default 64)\n"
    "  --max-connections N  connections served at once; more wait until one closes (default 256)\n"
    "  --max-queued N       samples queued before requests get 429 (default 4096)\n"
    "  --timeout S          idle connection timeout in seconds (default 600)\n"
    "  --chat-template NAME|FILE   chat template (default: the model's own)\n"
    "  -t, --threads N      CPU threads for the model (default: all)\n"
    "  -q, --quiet          no access log on stderr\n";

static void log_line(void *user, const char *line) {
    (void)user;
    fprintf(stderr, "goodhart serve: %s\n", line);
}

int cmd_serve(int argc, char **argv) {
    gh_serve_params p = gh_serve_default_params();
    gh_backend_params bp = gh_backend_default_params();
    const char *model = NULL, *key_env = NULL, *port_file = NULL, *v;
    long long ll;
    bool quiet = false, missing = false;
    struct { const char *name; long long lo, hi; int32_t *dst; } ints[] = {
        {"--port", 0, 65535, &p.port},           {"--slots", 2, 4096, &p.n_slots},
        {"--ctx", 1, 1 << 24, &p.n_ctx},         {"--max-tokens", 1, 1 << 24, &p.max_tokens},
        {"--max-n", 1, 1 << 20, &p.max_n},       {"--max-inputs", 1, 1 << 20, &p.max_inputs},
        {"--max-connections", 1, 1 << 16, &p.max_connections},
        {"--max-queued", 1, 1 << 24, &p.max_queued}, {"--timeout", 1, 1 << 24, &p.timeout_s},
        {"--threads", 1, 1024, &bp.n_threads},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool done = false;
        if (cli_flag(a, "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !done; k++) {
            const char *shortn = ints[k].dst == &bp.n_threads ? "-t" : NULL;
            if (!cli_opt(argv, &i, argc, shortn, ints[k].name, &v, &missing)) continue;
            done = true;
            if (missing) return cli_usage_error("serve", "option '%s' needs a value", a);
            if (!cli_parse_int(v, ints[k].lo, ints[k].hi, &ll))
                return cli_usage_error("serve", "%s needs an integer in [%lld, %lld], got '%s'", ints[k].name, ints[k].lo, ints[k].hi, v);
            *ints[k].dst = (int32_t)ll;
        }
        if (done) continue;
        if (cli_opt(argv, &i, argc, "-m", "--model", &v, &missing)) model = v;
        else if (cli_opt(argv, &i, argc, NULL, "--host", &v, &missing)) p.host = v;
        else if (cli_opt(argv, &i, argc, NULL, "--port-file", &v, &missing)) port_file = v;
        else if (cli_opt(argv, &i, argc, NULL, "--api-key-env", &v, &missing)) key_env = v;
        else if (cli_opt(argv, &i, argc, NULL, "--model-name", &v, &missing)) p.model_name = v;
        else if (cli_opt(argv, &i, argc, NULL, "--chat-template", &v, &missing)) bp.chat_template = v;
        else if (cli_opt(argv, &i, argc, NULL, "--max-body", &v, &missing)) {
            if (!missing && !cli_parse_int(v, 1, 1LL << 32, &ll)) return cli_usage_error("serve", "--max-body needs a byte count >= 1, got '%s'", v);
            if (!missing) p.max_body_bytes = ll;
        } else if (cli_flag(a, "-q", "--quiet")) quiet = true;
        else return cli_usage_error("serve", "unknown option '%s'", a);
        if (missing) return cli_usage_error("serve", "option '%s' needs a value", a);
    }
    if (!model) return cli_usage_error("serve", "no model given (-m MODEL.gguf)");
    if (key_env) {
        p.api_key = getenv(key_env);
        if (!p.api_key || !p.api_key[0])
            return cli_usage_error("serve", "--api-key-env %s: the environment variable is unset or empty", key_env);
    }
    if (!quiet) p.log = log_line;

    /* Signals are taken by sigwait in this thread only: block them before any
     * server thread exists, so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    gh_server *s;
    if (gh_server_start(&p, &s) != GH_OK) return cli_fail("serve");
    fprintf(stderr, "goodhart serve: listening on http://%s:%d (loading %s)\n", p.host, gh_server_port(s), model);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (!f || fprintf(f, "%d\n", gh_server_port(s)) < 0 || fclose(f)) {
            fprintf(stderr, "goodhart serve: cannot write the port to %s\n", port_file);
            gh_server_stop(s);
            return 1;
        }
    }
    if (gh_server_load(s, model, &bp) != GH_OK) {
        int rc = cli_fail("serve");
        gh_server_stop(s);
        return rc;
    }
    fprintf(stderr, "goodhart serve: ready\n");
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "goodhart serve: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    gh_server_stop(s);
    return 0;
}
