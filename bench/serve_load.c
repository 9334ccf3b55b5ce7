/* serve_load.c — load check of `goodhart serve`: C concurrent clients (default
 * 64) send requests for S seconds (default 30) over loopback, each on its own
 * keep-alive connection, and the server's resident memory is sampled every
 * --sample seconds (default 0.5) from /proc/PID/status.
 *
 * The mix, per client in turn: seeded completions (n = 1 or 2, 16 tokens,
 * temperature 0.8), echo scoring of a sentence (max_tokens 0, logprobs 1),
 * tokenize. Every answer must be a 200 with a JSON body; anything else is an
 * error. Seeded completions are also checked for reproducibility: the same
 * (prompt, seed) sent again by any client must give the same text.
 *
 * Memory verdict (sl_rss_verdict): the mean RSS of the last quarter of the
 * samples ("late") must not exceed the mean of the second quarter ("mid") by
 * more than max(--rss-tol-kib, --rss-tol-frac × mid) (defaults 2048 KiB and
 * 5 %). The first quarter is left out: the allocator's per-thread arenas fill
 * then, a rise that stops. A leak of L bytes per request grows RSS by
 * L × req/s × (half the run) between the two windows.
 *
 * The check fails (exit status 1) on any error, any reproducibility mismatch,
 * RSS growth beyond the tolerance, or too few RSS samples to judge (< 8).
 *
 * Output: one JSON line {clients, seconds, requests, errors, mismatches,
 * req_per_s, completion_tokens_per_s, p50_ms, p99_ms, max_ms, rss_kib: {first,
 * mid, late, max, samples, grew, every_5s}, ok} and a short summary on stderr.
 *
 * tests/serve/test_serve_load.c includes this file with SERVE_LOAD_NO_MAIN for
 * a short smoke run; bench/serve_load.sh builds it alone:
 *   cc -std=c11 -D_GNU_SOURCE -O2 bench/serve_load.c -o build/serve_load -lcurl -lcjson -lpthread -lm
 * Run:  serve_load --url http://127.0.0.1:PORT [--clients 64] [--seconds 30] [--pid SERVER_PID]
 *                  [--sample S] [--rss-tol-kib K] [--rss-tol-frac F]
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct sl_opts {
    const char *url;      /* "http://127.0.0.1:PORT" */
    int clients;
    double seconds;
    int pid;              /* the server's pid, for RSS (0: no memory check) */
    double sample_s;      /* RSS sampling period */
    long rss_tol_kib;     /* allowed late-minus-mid growth, absolute ... */
    double rss_tol_frac;  /* ... or relative to mid, whichever is larger */
} sl_opts;

#define SL_MAX_RSS 8192

typedef struct sl_result {
    double wall;
    size_t requests;
    long errors, mismatches, completion_tokens;
    double p50, p99, max; /* seconds */
    long rss[SL_MAX_RSS]; /* KiB */
    int n_rss;
    long rss_mid, rss_late, rss_max;
    bool rss_grew, rss_judged;
    char first_error[256];
} sl_result;

static sl_opts sl_default_opts(void) {
    return (sl_opts){.url = "http://127.0.0.1:8080", .clients = 64, .seconds = 30, .sample_s = 0.5,
                     .rss_tol_kib = 2048, .rss_tol_frac = 0.05};
}

static const char *sl_prompts[] = {"Once upon a time", "The little dog", "Lily went to the park", "Tom had a red ball",
                                   "One day, a bird", "The sun was hot and"};
#define SL_N_PROMPTS 6
#define SL_N_SEEDS 16

typedef struct sl_run {
    const sl_opts *o;
    double end;
    /* the first text seen for (prompt, seed): later answers must equal it */
    char *seen[SL_N_PROMPTS][SL_N_SEEDS];
    pthread_mutex_t mu;
    sl_result *res;
} sl_run;

static double sl_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct sl_buf { char *p; size_t n; } sl_buf;

static size_t sl_on_data(char *d, size_t sz, size_t nm, void *u) {
    sl_buf *b = u;
    char *np = realloc(b->p, b->n + sz * nm + 1);
    if (!np) return 0;
    b->p = np;
    memcpy(b->p + b->n, d, sz * nm);
    b->n += sz * nm;
    b->p[b->n] = '\0';
    return sz * nm;
}

typedef struct sl_client {
    sl_run *R;
    int id;
    double *lat;
    size_t n_lat, cap_lat;
    long errors, mismatches, completion_tokens;
    char first_error[256];
} sl_client;

static void sl_error(sl_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sl_error(sl_client *c, const char *fmt, ...) {
    if (!c->errors++) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->first_error, sizeof c->first_error, fmt, ap);
        va_end(ap);
    }
}

/* The answer of a completion: usage.completion_tokens and choices[0].text, or false. */
static bool sl_completion(const cJSON *j, long *tokens, const char **text) {
    const cJSON *u = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens");
    const cJSON *t = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "text");
    if (!cJSON_IsNumber(u) || !cJSON_IsString(t)) return false;
    *tokens = u->valueint;
    *text = t->valuestring;
    return true;
}

static void *sl_client_main(void *arg) {
    sl_client *c = arg;
    sl_run *R = c->R;
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    char url[256], body[512];
    for (unsigned long k = 0; sl_now() < R->end; k++) {
        int kind = (int)((k + (unsigned long)c->id) % 7); /* 0-4 completions, 5 echo, 6 tokenize */
        int pi = (int)((k * 7 + (unsigned long)c->id) % SL_N_PROMPTS);
        int seed = (int)((k * 3 + (unsigned long)c->id * 5) % SL_N_SEEDS);
        const char *path;
        if (kind <= 4) {
            path = "/v1/completions";
            snprintf(body, sizeof body, "{\"prompt\":\"%s\",\"max_tokens\":16,\"temperature\":0.8,\"n\":%d,\"seed\":%d}",
                     sl_prompts[pi], 1 + (seed & 1), seed);
        } else if (kind == 5) {
            path = "/v1/completions";
            snprintf(body, sizeof body, "{\"prompt\":\"%s, and they were happy.\",\"max_tokens\":0,\"echo\":true,\"logprobs\":1}",
                     sl_prompts[pi]);
        } else {
            path = "/tokenize";
            snprintf(body, sizeof body, "{\"prompt\":\"%s\"}", sl_prompts[pi]);
        }
        snprintf(url, sizeof url, "%s%s", R->o->url, path);
        sl_buf b = {NULL, 0};
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sl_on_data);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
        double t = sl_now();
        CURLcode rc = curl_easy_perform(h);
        double dt = sl_now() - t;
        long st = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
        cJSON *j = rc == CURLE_OK && b.p ? cJSON_Parse(b.p) : NULL;
        long toks = 0;
        const char *text = NULL;
        if (rc != CURLE_OK || st != 200 || !j) {
            sl_error(c, "%s %ld %s %.150s", path, st, curl_easy_strerror(rc), b.p ? b.p : "");
        } else if (kind <= 4 && !sl_completion(j, &toks, &text)) {
            sl_error(c, "%s: no usage.completion_tokens or choices[0].text in %.150s", path, b.p);
        } else {
            if (c->n_lat == c->cap_lat) {
                size_t cap = c->cap_lat ? c->cap_lat * 2 : 1024;
                double *nl = realloc(c->lat, cap * sizeof *nl);
                if (!nl) { sl_error(c, "out of memory"); break; }
                c->lat = nl;
                c->cap_lat = cap;
            }
            c->lat[c->n_lat++] = dt;
            if (kind <= 4) {
                c->completion_tokens += toks;
                pthread_mutex_lock(&R->mu);
                if (!R->seen[pi][seed]) R->seen[pi][seed] = strdup(text);
                else if (strcmp(R->seen[pi][seed], text)) c->mismatches++;
                pthread_mutex_unlock(&R->mu);
            }
        }
        cJSON_Delete(j);
        free(b.p);
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

static long sl_rss_kib(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) v = atol(line + 6);
    fclose(f);
    return v;
}

static void *sl_rss_main(void *arg) {
    sl_run *R = arg;
    sl_result *res = R->res;
    while (sl_now() < R->end && res->n_rss < SL_MAX_RSS) {
        res->rss[res->n_rss++] = sl_rss_kib(R->o->pid);
        usleep((useconds_t)(R->o->sample_s * 1e6));
    }
    return NULL;
}

static int sl_cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static long sl_mean(const long *v, int from, int to) {
    double s = 0;
    int n = 0;
    for (int i = from; i < to; i++)
        if (v[i] > 0) { s += (double)v[i]; n++; }
    return n ? (long)(s / n) : -1;
}

/* The memory verdict over n RSS samples: *mid = mean of the second quarter,
 * *late = mean of the last; returns 1 if late exceeds mid by more than
 * max(tol_kib, tol_frac × mid), 0 if not, -1 if there are too few samples
 * (< 8) or some could not be read. */
static int sl_rss_verdict(const long *rss, int n, long tol_kib, double tol_frac, long *mid, long *late) {
    *mid = *late = -1;
    if (n < 8) return -1;
    for (int i = 0; i < n; i++)
        if (rss[i] <= 0) return -1;
    int q = n / 4;
    *mid = sl_mean(rss, q, 2 * q);
    *late = sl_mean(rss, n - q, n);
    double tol = fmax((double)tol_kib, tol_frac * (double)*mid);
    return (double)(*late - *mid) > tol ? 1 : 0;
}

/* Runs the load; fills *res. Returns 0 if the check passed, 1 if not (errors,
 * mismatches, memory growth or no memory verdict when o->pid is set), 2 if
 * the run could not be set up. */
static int sl_run_load(const sl_opts *o, sl_result *res) {
    memset(res, 0, sizeof *res);
    if (o->clients < 1 || o->clients > 4096 || !(o->seconds > 0) || !(o->sample_s > 0)) return 2;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 2;
    sl_run R = {.o = o, .res = res};
    pthread_mutex_init(&R.mu, NULL);
    double t0 = sl_now();
    R.end = t0 + o->seconds;
    sl_client *cl = calloc((size_t)o->clients, sizeof *cl);
    pthread_t *th = calloc((size_t)o->clients, sizeof *th), rt;
    if (!cl || !th) { free(cl); free(th); return 2; }
    if (o->pid && pthread_create(&rt, NULL, sl_rss_main, &R)) { free(cl); free(th); return 2; }
    int started = 0;
    for (int i = 0; i < o->clients; i++) {
        cl[i] = (sl_client){.R = &R, .id = i};
        if (pthread_create(&th[i], NULL, sl_client_main, &cl[i])) {
            cl[i].errors = 1;
            snprintf(cl[i].first_error, sizeof cl[i].first_error, "cannot start client thread %d", i);
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    if (o->pid) pthread_join(rt, NULL);
    res->wall = sl_now() - t0;
    size_t n = 0;
    for (int i = 0; i < o->clients; i++) {
        n += cl[i].n_lat;
        if (cl[i].errors && !res->errors) snprintf(res->first_error, sizeof res->first_error, "client %d: %.200s", i, cl[i].first_error);
        res->errors += cl[i].errors;
        res->mismatches += cl[i].mismatches;
        res->completion_tokens += cl[i].completion_tokens;
    }
    double *all = malloc((n ? n : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < o->clients; i++) {
        if (all) memcpy(all + k, cl[i].lat, cl[i].n_lat * sizeof *all);
        k += cl[i].n_lat;
        free(cl[i].lat);
    }
    if (all && n) {
        qsort(all, n, sizeof *all, sl_cmp_d);
        res->p50 = all[n / 2];
        res->p99 = all[(size_t)((double)(n - 1) * 0.99)];
        res->max = all[n - 1];
    }
    res->requests = n;
    for (int i = 0; i < res->n_rss; i++)
        if (res->rss[i] > res->rss_max) res->rss_max = res->rss[i];
    int v = o->pid ? sl_rss_verdict(res->rss, res->n_rss, o->rss_tol_kib, o->rss_tol_frac, &res->rss_mid, &res->rss_late) : 0;
    res->rss_judged = o->pid && v >= 0;
    res->rss_grew = v == 1;
    for (int a = 0; a < SL_N_PROMPTS; a++)
        for (int b = 0; b < SL_N_SEEDS; b++) free(R.seen[a][b]);
    pthread_mutex_destroy(&R.mu);
    free(cl);
    free(th);
    free(all);
    curl_global_cleanup();
    return res->errors || res->mismatches || res->rss_grew || (o->pid && !res->rss_judged) ? 1 : 0;
}

/* The result as one JSON line (with a newline) into buf. */
static void sl_json(const sl_opts *o, const sl_result *r, int rc, char *buf, size_t cap) {
    char trace[2048] = "";
    int every = (int)lround(5.0 / o->sample_s);
    if (every < 1) every = 1;
    for (int i = 0, k = 0; i < r->n_rss && k < (int)sizeof trace - 32; i += every)
        k += snprintf(trace + k, sizeof trace - (size_t)k, "%s%ld", i ? "," : "", r->rss[i]);
    snprintf(buf, cap,
             "{\"clients\":%d,\"seconds\":%.1f,\"requests\":%zu,\"errors\":%ld,\"mismatches\":%ld,\"req_per_s\":%.1f,"
             "\"completion_tokens_per_s\":%.1f,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,"
             "\"rss_kib\":{\"first\":%ld,\"mid\":%ld,\"late\":%ld,\"max\":%ld,\"samples\":%d,\"grew\":%s,\"every_5s\":[%s]},"
             "\"ok\":%s}\n",
             o->clients, r->wall, r->requests, r->errors, r->mismatches, (double)r->requests / r->wall,
             (double)r->completion_tokens / r->wall, r->p50 * 1e3, r->p99 * 1e3, r->max * 1e3, r->n_rss ? r->rss[0] : -1,
             r->rss_mid, r->rss_late, r->rss_max, r->n_rss, r->rss_grew ? "true" : "false", trace, rc ? "false" : "true");
}

#ifndef SERVE_LOAD_NO_MAIN
int main(int argc, char **argv) {
    sl_opts o = sl_default_opts();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { fprintf(stderr, "serve_load: option %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--url")) o.url = v;
        else if (!strcmp(a, "--clients")) o.clients = atoi(v);
        else if (!strcmp(a, "--seconds")) o.seconds = atof(v);
        else if (!strcmp(a, "--pid")) o.pid = atoi(v);
        else if (!strcmp(a, "--sample")) o.sample_s = atof(v);
        else if (!strcmp(a, "--rss-tol-kib")) o.rss_tol_kib = atol(v);
        else if (!strcmp(a, "--rss-tol-frac")) o.rss_tol_frac = atof(v);
        else { fprintf(stderr, "serve_load: unknown option %s\n", a); return 2; }
    }
    static sl_result r;
    int rc = sl_run_load(&o, &r);
    if (rc == 2) { fprintf(stderr, "serve_load: bad options (--clients 1..4096, --seconds > 0, --sample > 0) or setup failed\n"); return 2; }
    char line[4096];
    sl_json(&o, &r, rc, line, sizeof line);
    fputs(line, stdout);
    fprintf(stderr, "serve_load: %zu requests in %.1f s from %d clients: %.1f req/s, %.1f completion tok/s, p50 %.1f ms, "
                    "p99 %.1f ms; %ld errors, %ld reproducibility mismatches\n",
            r.requests, r.wall, o.clients, (double)r.requests / r.wall, (double)r.completion_tokens / r.wall, r.p50 * 1e3,
            r.p99 * 1e3, r.errors, r.mismatches);
    if (o.pid)
        fprintf(stderr, "serve_load: server RSS %ld KiB at start, mid-run mean %ld, late-run mean %ld, max %ld (%d samples): %s\n",
                r.n_rss ? r.rss[0] : -1, r.rss_mid, r.rss_late, r.rss_max, r.n_rss,
                !r.rss_judged ? "NO VERDICT (too few samples or unreadable)" : r.rss_grew ? "GREW beyond the tolerance" : "no growth");
    if (r.errors) fprintf(stderr, "serve_load: first error: %s\n", r.first_error);
    fprintf(stderr, "serve_load: %s\n", rc ? "FAILED" : "passed");
    return rc;
}
#endif
