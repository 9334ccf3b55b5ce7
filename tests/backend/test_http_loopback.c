/* test_http_loopback.c — the HTTP backend against goodhart's own server on
 * loopback, model stories260K: every operation through HTTP equals the local
 * backend's (same tokens, log-probabilities within 1e-5), and a run whose
 * server is killed (kill -9) while it decodes a request, and restarted,
 * completes with every sample present once and equal to the local one, each
 * request answered once in all as the servers' access logs count. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "backend/http_internal.h"
#include "goodhart/backend.h"
#include "goodhart/convert.h"
#include "goodhart/serve.h"

#include "test_loopback.h"

static void same_samples(const gh_samples *a, const gh_samples *b) {
    assert_int_equal(a->n, b->n);
    for (int32_t i = 0; i < a->n; i++) {
        const gh_sample *x = &a->samples[i], *y = &b->samples[i];
        assert_int_equal(x->index, y->index);
        assert_int_equal(x->n_tokens, y->n_tokens);
        for (int32_t t = 0; t < x->n_tokens; t++) assert_int_equal(x->tokens[t], y->tokens[t]);
        assert_string_equal(x->text, y->text);
        assert_string_equal(x->finish, y->finish);
        assert_true(fabs(x->logprob - y->logprob) < 1e-5 * (1 + fabs(x->logprob)));
    }
}

static void test_caps_from_the_server(void **st) {
    (void)st;
    /* the server lists its model's capabilities; they are the local ones (+ embed) */
    uint32_t lc = gh_backend_caps(local), rc = gh_backend_caps(remote);
    assert_true(rc & GH_CAP_GENERATE);
    assert_true(rc & GH_CAP_LOGPROB);
    assert_true(rc & GH_CAP_HIDDEN);
    assert_int_equal(rc & GH_CAP_REWARD, lc & GH_CAP_REWARD);
    assert_null(gh_backend_model(remote));
    gh_rm_score *r = NULL;
    if (!(rc & GH_CAP_REWARD)) {
        assert_int_equal(gh_backend_score(remote, "a", "b", &r), GH_ERR_UNSUPPORTED);
        assert_contains(gh_last_error(), "reward");
    }
}

static void test_generate_equals_local(void **st) {
    (void)st;
    gh_sampler_params sp = gh_sampler_default_params();
    sp.max_tokens = 24;
    gh_samples *a = NULL, *b = NULL;
    /* greedy */
    sp.temp = 0;
    assert_ok(gh_backend_generate(local, "Once upon a time", &sp, 2, &a));
    assert_ok(gh_backend_generate(remote, "Once upon a time", &sp, 2, &b));
    same_samples(a, b);
    assert_int_equal(a->n_prompt_tokens, b->n_prompt_tokens);
    for (int32_t i = 0; i < a->n_prompt_tokens; i++) assert_int_equal(a->prompt_tokens[i], b->prompt_tokens[i]);
    gh_samples_free(a); gh_samples_free(b);
    /* seeded, 20 samples from index 3 (two requests to the server: 16 + 4) */
    sp.temp = 1.0f;
    sp.top_k = 40;
    sp.seed = 1234;
    sp.first_sample = 3;
    assert_ok(gh_backend_generate(local, "The little dog", &sp, 20, &a));
    assert_ok(gh_backend_generate(remote, "The little dog", &sp, 20, &b));
    same_samples(a, b);
    int differ = 0;
    for (int32_t i = 1; i < 20; i++) differ += strcmp(b->samples[i].text, b->samples[0].text) != 0;
    assert_true(differ > 0); /* really sampled */
    gh_samples_free(a); gh_samples_free(b);
    /* no BOS, go on past end-of-generation, top-p and min-p */
    sp.add_bos = 0;
    sp.stop_at_eog = false;
    sp.top_k = 0;
    sp.top_p = 0.9f;
    sp.min_p = 0.05f;
    sp.first_sample = 0;
    assert_ok(gh_backend_generate(local, "Tom had a ball.", &sp, 3, &a));
    assert_ok(gh_backend_generate(remote, "Tom had a ball.", &sp, 3, &b));
    same_samples(a, b);
    gh_samples_free(a); gh_samples_free(b);
}

static void test_logprob_equals_local(void **st) {
    (void)st;
    const char *cases[][2] = {{"Once upon a time", " there was a little girl named Lily."},
                              {"The cat", " sat"},
                              {"Lily and Tom went to the park", ". They played with a big red ball and laughed."}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        gh_logprobs *a = NULL, *b = NULL;
        assert_ok(gh_backend_logprob(local, cases[c][0], cases[c][1], 3, &a));
        assert_ok(gh_backend_logprob(remote, cases[c][0], cases[c][1], 3, &b));
        assert_int_equal(a->n_prompt, b->n_prompt);
        assert_int_equal(a->n, b->n);
        for (int32_t i = 0; i < a->n; i++) {
            assert_int_equal(a->tokens[i], b->tokens[i]);
            assert_string_equal(a->token_text[i], b->token_text[i]);
            assert_true(fabsf(a->token_logprobs[i] - b->token_logprobs[i]) < 1e-5f);
            for (int32_t k = 0; k < 3; k++)
                assert_true(fabsf(a->top_logprobs[i * 3 + k] - b->top_logprobs[i * 3 + k]) < 1e-5f);
        }
        assert_true(fabs(a->total - b->total) < 1e-5 * (1 + fabs(a->total)));
        gh_logprobs_free(a); gh_logprobs_free(b);
    }
}

static void test_chat_equals_local(void **st) {
    (void)st;
    /* stories260K has no chat template: the server and the local backend both
     * use the "plain" family */
    gh_serve_params sp0 = gh_serve_default_params();
    gh_server *s2 = NULL;
    assert_ok(gh_server_start(&sp0, &s2));
    gh_backend_params bp = gh_backend_default_params();
    bp.chat_template = "plain";
    bp.n_threads = 1;
    assert_ok(gh_server_load(s2, tu_stories_gguf(), &bp));
    char u2[128];
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/v1", gh_server_port(s2));
    gh_backend *l = NULL, *r = NULL;
    assert_ok(gh_backend_open(tu_stories_gguf(), &bp, &l));
    gh_backend_params hp = gh_backend_default_params();
    assert_ok(gh_backend_open(u2, &hp, &r));
    gh_chat_msg msgs[2] = {{"user", "Tell me a story."}, {"assistant", "Once upon a time"}};
    gh_sampler_params sp = gh_sampler_default_params();
    sp.max_tokens = 16;
    sp.seed = 9;
    gh_samples *a = NULL, *b = NULL;
    for (int32_t nm = 1; nm <= 2; nm++) {
        assert_ok(gh_backend_chat(l, msgs, nm, &sp, 3, &a));
        assert_ok(gh_backend_chat(r, msgs, nm, &sp, 3, &b));
        same_samples(a, b);
        gh_samples_free(a); gh_samples_free(b);
    }
    gh_backend_free(l);
    gh_backend_free(r);
    gh_server_stop(s2);
    /* a template chosen on the client: rendered here, completed there */
    gh_backend_params cp = gh_backend_default_params();
    cp.chat_template = "plain";
    assert_ok(gh_backend_open(url, &cp, &r));
    assert_ok(gh_backend_chat(r, msgs, 1, &sp, 1, &b));
    gh_samples_free(b);
    gh_backend_free(r);
    /* without one, the server's chat endpoint says why */
    assert_int_equal(gh_backend_chat(remote, msgs, 1, &sp, 1, &b), GH_ERR_NETWORK);
    assert_contains(gh_last_error(), "HTTP 400");
    assert_contains(gh_last_error(), "chat template");
}

static void test_embed_and_hidden_equal_local(void **st) {
    (void)st;
    gh_embedding *a = NULL, *b = NULL;
    assert_ok(gh_backend_embed(local, "A happy dog.", NULL, &a));
    assert_ok(gh_backend_embed(remote, "A happy dog.", NULL, &b));
    assert_int_equal(a->dim, b->dim);
    for (int32_t i = 0; i < a->dim; i++) assert_true(fabsf(a->data[i] - b->data[i]) < 1e-5f);
    gh_embedding_free(a); gh_embedding_free(b);
    int32_t layers[2] = {1, 5};
    for (int p = 0; p < 3; p++) {
        gh_hidden *x = NULL, *y = NULL;
        assert_ok(gh_backend_hidden(local, "Tim saw a bird in the tree.", layers, 2, (gh_pool)p, 1, -1, &x));
        assert_ok(gh_backend_hidden(remote, "Tim saw a bird in the tree.", layers, 2, (gh_pool)p, 1, -1, &y));
        assert_int_equal(x->n_rows, y->n_rows);
        assert_int_equal(x->n_embd, y->n_embd);
        assert_int_equal(x->n_tokens, y->n_tokens);
        assert_int_equal(x->span_begin, y->span_begin);
        assert_int_equal(x->span_end, y->span_end);
        for (int32_t t = 0; t < x->n_tokens; t++) assert_int_equal(x->tokens[t], y->tokens[t]);
        for (int64_t i = 0; i < (int64_t)2 * x->n_rows * x->n_embd; i++) assert_true(fabsf(x->data[i] - y->data[i]) < 1e-5f);
        gh_hidden_free(x); gh_hidden_free(y);
    }
}

/* A reward model served and read back: the score, the pooled token, the text
 * scored and the EOS decision through HTTP equal the local backend's. */
static void test_reward_equals_local(void **st) {
    (void)st;
    const char *rm = tu_tmp("rm.gguf");
    gh_make_model_params mp = gh_make_model_default_params();
    assert_ok(gh_make_model_preset("tiny", &mp));
    mp.cls_head = true;
    assert_ok(gh_make_model(&mp, rm));
    gh_serve_params sp0 = gh_serve_default_params();
    gh_server *s2 = NULL;
    assert_ok(gh_server_start(&sp0, &s2));
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    assert_ok(gh_server_load(s2, rm, &bp));
    char u2[128];
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/v1", gh_server_port(s2));
    gh_backend *l = NULL, *r = NULL;
    assert_ok(gh_backend_open(rm, &bp, &l));
    gh_backend_params hp = gh_backend_default_params();
    assert_ok(gh_backend_open(u2, &hp, &r));
    assert_int_equal(gh_backend_caps(r) & GH_CAP_REWARD, GH_CAP_REWARD);
    static const char *resp[3] = {" The dog was happy.", " It rained all day and nobody came.", ""};
    for (int k = 0; k < 3; k++) {
        gh_rm_score *a = NULL, *b = NULL;
        assert_ok(gh_backend_score(l, "Write a happy story.", resp[k], &a));
        assert_ok(gh_backend_score(r, "Write a happy story.", resp[k], &b));
        assert_true(fabs(a->score - b->score) < 1e-5 * (1 + fabs(a->score)));
        assert_int_equal(a->pooled_token, b->pooled_token);
        assert_string_equal(a->text, b->text);
        /* and the tokens it scored */
        assert_int_equal(a->n_tokens, b->n_tokens);
        assert_int_equal(a->pooled_token_id, b->pooled_token_id);
        assert_int_equal(a->eos_appended, b->eos_appended);
        assert_non_null(b->tokens);
        assert_memory_equal(a->tokens, b->tokens, (size_t)a->n_tokens * sizeof *a->tokens);
        gh_rm_score_free(a);
        gh_rm_score_free(b);
    }
    /* stories260K has no head: the server says so, by name */
    gh_rm_score *c = NULL;
    assert_int_not_equal(gh_backend_score(remote, "a", "b", &c), GH_OK);
    assert_null(c);
    gh_backend_free(l);
    gh_backend_free(r);
    gh_server_stop(s2);
}

/* ---- a server killed part-way through a run ---- */

/* The CLI server on `port` (0: any), its access log (one line per answered
 * request) to `log_file`. */
static pid_t spawn_server(int port, const char *port_file, const char *log_file) {
    pid_t pid = fork();
    if (pid == 0) {
        char ps[16];
        snprintf(ps, sizeof ps, "%d", port);
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 1);
        int lf = open(log_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (lf >= 0) dup2(lf, 2);
        execl(tu_bin(), tu_bin(), "serve", "-m", tu_stories_gguf(), "--port", ps, "--port-file", port_file, "-t", "1",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* The run: 12 prompts, 4 samples of 20 tokens each (one request each), but
 * prompt LONG_K asks for 16 samples of 240 tokens past end-of-generation (one
 * request, about half a second of the server's time, some seconds under
 * AddressSanitizer): the server is killed while it decodes that one. */
#define N_PROMPTS 12
#define LONG_K 4

typedef struct run_state {
    const char *url, *cache;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done_prompts;
    gh_samples *res[N_PROMPTS];
    gh_status st;
    char err[512];
} run_state;

static const char *prompt_of(int k) {
    static const char *p[] = {"Once upon a time", "The dog", "Lily wanted", "Tom and Sue", "The sun was", "A little bird",
                              "One day", "The big tree", "Ben liked", "The cat said", "Mom gave", "They went"};
    return p[k];
}

static void run_params(int k, gh_sampler_params *sp, int32_t *n) {
    *sp = gh_sampler_default_params();
    sp->max_tokens = 20;
    sp->seed = 77;
    *n = 4;
    if (k == LONG_K) {
        sp->max_tokens = 240;
        sp->stop_at_eog = false;
        *n = 16;
    }
}

static void *run_thread(void *arg) {
    run_state *R = arg;
    gh_backend_params p = gh_backend_default_params();
    p.cache_path = R->cache;
    p.max_retries = 10;
    p.timeout_s = 60;
    gh_backend *b = NULL;
    R->st = gh_backend_open(R->url, &p, &b);
    for (int k = 0; k < N_PROMPTS && !R->st; k++) {
        gh_sampler_params sp;
        int32_t n;
        run_params(k, &sp, &n);
        R->st = gh_backend_generate(b, prompt_of(k), &sp, n, &R->res[k]);
        pthread_mutex_lock(&R->mu);
        R->done_prompts = k + 1;
        pthread_cond_broadcast(&R->cv);
        pthread_mutex_unlock(&R->mu);
    }
    if (R->st) snprintf(R->err, sizeof R->err, "%s", gh_last_error());
    gh_backend_free(b);
    return NULL;
}

static int read_port(const char *file) {
    for (int i = 0; i < 400; i++) {
        char *t = tu_read_file(file, NULL);
        int port = t ? atoi(t) : 0;
        free(t);
        if (port > 0) return port;
        usleep(25000);
    }
    return 0;
}

static size_t on_body(char *d, size_t sz, size_t nm, void *u) {
    char *b = u;
    size_t have = strlen(b), n = sz * nm;
    if (have + n < 1024) { memcpy(b + have, d, n); b[have + n] = '\0'; }
    return n;
}

/* Whether the server at `port` has samples of unfinished requests (its /health). */
static bool server_busy(int port) {
    char u[128], body[1024] = "";
    snprintf(u, sizeof u, "http://127.0.0.1:%d/health", port);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, (void *)body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    bool ok = curl_easy_perform(h) == CURLE_OK;
    curl_easy_cleanup(h);
    return ok && strstr(body, "\"queued_samples\":") && !strstr(body, "\"queued_samples\":0,");
}

/* Lines of the server's access log that contain `what` (e.g. "POST
 * /v1/completions 200"), in the whole log or (upto) before the first line
 * containing `upto`. */
static int log_count_upto(const char *log_file, const char *what, const char *upto) {
    char *t = tu_read_file(log_file, NULL);
    assert_non_null(t);
    char *end = upto ? strstr(t, upto) : NULL;
    if (end) *end = '\0';
    int n = 0;
    for (const char *p = t; (p = strstr(p, what)); p += strlen(what)) n++;
    free(t);
    return n;
}
static int log_count(const char *log_file, const char *what) {
    return log_count_upto(log_file, what, NULL);
}

static void test_server_killed_mid_run(void **st) {
    (void)st;
    const char *pf = tu_tmp("serve-port.txt"), *log1 = tu_tmp("serve-1.log"), *log2 = tu_tmp("serve-2.log");
    pid_t pid = spawn_server(0, pf, log1);
    assert_true(pid > 0);
    int port = read_port(pf);
    assert_true(port > 0);
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/v1", port);
    run_state R = {.url = u, .cache = tu_tmp("killed-run-cache.db")};
    pthread_mutex_init(&R.mu, NULL);
    pthread_cond_init(&R.cv, NULL);
    pthread_t th;
    pthread_create(&th, NULL, run_thread, &R);
    /* the short prompts before the long one are answered ... */
    pthread_mutex_lock(&R.mu);
    while (R.done_prompts < LONG_K && !R.st) pthread_cond_wait(&R.cv, &R.mu);
    pthread_mutex_unlock(&R.mu);
    assert_int_equal(R.st, GH_OK);
    /* ... then the long one is sent: kill -9 the server while it decodes it */
    bool busy = false;
    for (int i = 0; i < 5000 && !busy; i++) {
        busy = server_busy(port);
        if (!busy) usleep(2000);
    }
    assert_true(busy);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    usleep(400000); /* the run goes on against a dead port meanwhile: refused, retried */
    unlink(pf);
    pid = spawn_server(port, pf, log2);
    assert_true(read_port(pf) == port);
    pthread_join(th, NULL);
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (R.st) fprintf(stderr, "run failed: %s\n", R.err);
    assert_int_equal(R.st, GH_OK);
    assert_int_equal(R.done_prompts, N_PROMPTS);
    /* nothing lost: every sample is there once, equal to the local backend's */
    for (int k = 0; k < N_PROMPTS; k++) {
        gh_sampler_params sp;
        int32_t n;
        run_params(k, &sp, &n);
        gh_samples *a = NULL;
        assert_ok(gh_backend_generate(local, prompt_of(k), &sp, n, &a));
        assert_int_equal(R.res[k]->n, n);
        same_samples(a, R.res[k]);
        gh_samples_free(a);
        gh_samples_free(R.res[k]);
    }
    /* nothing duplicated, counted by the servers: the first answered the model
     * list and the short prompts before the long one, and was killed before it
     * answered the long request; the second answered the long request and the
     * rest. 1 + 4 + 1 + 7 answers for the 1 + 12 requests the run needed. */
    int ans1 = log_count(log1, "POST /v1/completions 200"), ans2 = log_count(log2, "POST /v1/completions 200");
    if (ans1 != LONG_K || ans2 != N_PROMPTS - LONG_K) {
        char *t1 = tu_read_file(log1, NULL), *t2 = tu_read_file(log2, NULL);
        fprintf(stderr, "first server's log:\n%s\nsecond server's log:\n%s\n", t1, t2);
        free(t1); free(t2);
    }
    assert_int_equal(ans1, LONG_K);
    assert_int_equal(ans2, N_PROMPTS - LONG_K);
    assert_int_equal(log_count(log1, "GET /v1/models 200"), 1);
    assert_int_equal(log_count(log2, "GET /v1/models"), 0);
    /* no refused or failed ones either, except what the second server may
     * answer while its model loads: it listens (and writes the port file)
     * first and answers 503 model_loading meanwhile, the documented signal to
     * retry, which the run does. Such answers come before its "serving" line
     * and are 503s; none after. */
    const int loading = log_count_upto(log2, "POST /v1/completions 503", "serving ");
    assert_int_equal(log_count(log2, " 503 "), loading);
    assert_int_equal(log_count(log1, "POST") + log_count(log2, "POST") - loading, N_PROMPTS);
    /* and the cache holds each answer once: /v1/models + 12 */
    gh_http_cache *c = NULL;
    assert_ok(gh_http_cache_open(R.cache, &c));
    int64_t n = 0;
    assert_ok(gh_http_cache_count(c, &n));
    assert_int_equal(n, 1 + N_PROMPTS);
    gh_http_cache_close(c);
    pthread_mutex_destroy(&R.mu);
    pthread_cond_destroy(&R.cv);
}

/* ---- the CLI against a live `goodhart serve` ---- */

/* The JSON lines of a command's output (other lines, e.g. notes on stderr, skipped). */
static int json_lines(const char *out, cJSON **v, int cap) {
    int n = 0;
    for (const char *p = out; *p && n < cap;) {
        const char *e = strchr(p, '\n');
        size_t L = e ? (size_t)(e - p) : strlen(p);
        if (L && *p == '{') {
            char *line = strndup(p, L);
            v[n] = cJSON_Parse(line);
            free(line);
            assert_non_null(v[n]);
            n++;
        }
        p += L + (e != NULL);
    }
    return n;
}

/* Runs `goodhart VERB -m MODEL ARGS`, which must succeed; its JSON lines. */
static int cli_json(const char *verb, const char *model, const char *args, cJSON **v, int cap) {
    int status;
    char *o = tu_cli(&status, "%s -m %s %s", verb, model, args);
    if (status) fprintf(stderr, "%s\n", o);
    assert_int_equal(status, 0);
    int n = json_lines(o, v, cap);
    free(o);
    return n;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *x = cJSON_GetObjectItem(o, k);
    assert_true(cJSON_IsNumber(x));
    return x->valuedouble;
}

static void same_json_array(const cJSON *a, const cJSON *b, double tol) {
    assert_int_equal(cJSON_GetArraySize(a), cJSON_GetArraySize(b));
    for (const cJSON *x = a ? a->child : NULL, *y = b ? b->child : NULL; x; x = x->next, y = y->next) {
        if (tol == 0) assert_true(x->valueint == y->valueint);
        else assert_true(fabs(x->valuedouble - y->valuedouble) < tol * (1 + fabs(x->valuedouble)));
    }
}

static void test_cli_against_live_server(void **st) {
    (void)st;
    const char *pf = tu_tmp("cli-port.txt"), *lf = tu_tmp("cli-serve.log");
    unlink(pf);
    pid_t pid = spawn_server(0, pf, lf);
    assert_true(pid > 0);
    int port = read_port(pf);
    assert_true(port > 0);
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/v1", port);
    const char *m[2] = {tu_stories_gguf(), u};
    int status;
    /* greedy, plain text: the same bytes */
    char *g[2];
    for (int k = 0; k < 2; k++) {
        g[k] = tu_cli(&status, "generate -m %s -p 'Once upon a time' -n 24 --temp 0 -t 1", m[k]);
        if (status) fprintf(stderr, "%s\n", g[k]);
        assert_int_equal(status, 0);
    }
    assert_string_equal(g[0], g[1]);
    assert_contains(g[0], ", there was a");
    free(g[0]); free(g[1]);
    /* seeded, 3 samples from index 2 with top-k: same samples, log-probabilities within 1e-5 */
    cJSON *a[8], *b[8];
    const char *gen = "-p 'The little dog' -n 20 --samples 3 --first-sample 2 --seed 31 --temp 0.9 --top-k 40 --json -t 1";
    int na = cli_json("generate", m[0], gen, a, 8), nb = cli_json("generate", m[1], gen, b, 8);
    assert_int_equal(na, 3);
    assert_int_equal(nb, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal((int)num(a[i], "sample"), 2 + i);
        assert_int_equal((int)num(a[i], "sample"), (int)num(b[i], "sample"));
        assert_string_equal(cJSON_GetObjectItem(a[i], "text")->valuestring, cJSON_GetObjectItem(b[i], "text")->valuestring);
        same_json_array(cJSON_GetObjectItem(a[i], "tokens"), cJSON_GetObjectItem(b[i], "tokens"), 0);
        assert_string_equal(cJSON_GetObjectItem(a[i], "finish_reason")->valuestring,
                            cJSON_GetObjectItem(b[i], "finish_reason")->valuestring);
        assert_true(fabs(num(a[i], "logprob") - num(b[i], "logprob")) < 1e-5 * (1 + fabs(num(a[i], "logprob"))));
        cJSON_Delete(a[i]); cJSON_Delete(b[i]);
    }
    /* logprob with top-2: same tokens, log-probabilities within 1e-5 (over
     * HTTP the top entries come as text pieces, so only their values compare) */
    const char *lp = "--prompt 'Once upon a time' --completion ' there was a girl named Lily.' --json --top-k 2 -t 1";
    na = cli_json("logprob", m[0], lp, a, 8);
    nb = cli_json("logprob", m[1], lp, b, 8);
    assert_int_equal(na, 1);
    assert_int_equal(nb, 1);
    assert_int_equal((int)num(a[0], "n_prompt_tokens"), (int)num(b[0], "n_prompt_tokens"));
    same_json_array(cJSON_GetObjectItem(a[0], "tokens"), cJSON_GetObjectItem(b[0], "tokens"), 0);
    same_json_array(cJSON_GetObjectItem(a[0], "token_logprobs"), cJSON_GetObjectItem(b[0], "token_logprobs"), 1e-5);
    const cJSON *ta = cJSON_GetObjectItem(a[0], "top_logprobs"), *tb = cJSON_GetObjectItem(b[0], "top_logprobs");
    assert_int_equal(cJSON_GetArraySize(ta), cJSON_GetArraySize(tb));
    assert_true(cJSON_GetArraySize(ta) > 5);
    for (const cJSON *x = ta->child, *y = tb->child; x; x = x->next, y = y->next) {
        assert_int_equal(cJSON_GetArraySize(x), 2);
        assert_int_equal(cJSON_GetArraySize(y), 2);
        for (int r = 0; r < 2; r++) {
            double la = num(cJSON_GetArrayItem(x, r), "logprob"), lb = num(cJSON_GetArrayItem(y, r), "logprob");
            assert_true(fabs(la - lb) < 1e-5 * (1 + fabs(la)));
        }
    }
    cJSON_Delete(a[0]); cJSON_Delete(b[0]);
    kill(pid, SIGTERM);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps_from_the_server),
        cmocka_unit_test(test_generate_equals_local),
        cmocka_unit_test(test_logprob_equals_local),
        cmocka_unit_test(test_chat_equals_local),
        cmocka_unit_test(test_embed_and_hidden_equal_local),
        cmocka_unit_test(test_reward_equals_local),
        cmocka_unit_test(test_server_killed_mid_run),
        cmocka_unit_test(test_cli_against_live_server),
    };
    return cmocka_run_group_tests_name("backend/http_loopback", tests, setup, teardown);
}
