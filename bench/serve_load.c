/* serve_load.c — load test of `goodhart serve`: C concurrent clients (default
 * 64) send requests for S seconds (default 30) over loopback, each on its own
 * keep-alive connection, and the server's resident memory is sampled every
 * half second from /proc/PID/status.
 *
 * The mix, per client in turn: seeded completions (n = 1 or 2, 16 tokens,
 * temperature 0.8), echo scoring of a sentence (max_tokens 0, logprobs 1),
 * tokenize. Every answer must be a 200 with a JSON body; anything else is an
 * error. Seeded completions are also checked for reproducibility: the same
 * (prompt, seed) sent again by any client must give the same text.
 *
 * Output: one JSON line {clients, seconds, requests, errors, mismatches,
 * req_per_s, completion_tokens_per_s, p50_ms, p99_ms, max_ms, rss_kib: {first,
 * q2, q4 (means over the second and last quarter of the run), max, every_5s}}
 * and a short summary on stderr. Exit status 1 if any error.
 *
 * Build (bench/serve_load.sh does it):
 *   cc -std=c11 -D_GNU_SOURCE -O2 bench/serve_load.c -o build/serve_load -lcurl -lcjson -lpthread -lm
 * Run:  serve_load --url http://127.0.0.1:PORT [--clients 64] [--seconds 30] [--pid SERVER_PID]
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *g_url = "http://127.0.0.1:8080";
static int g_clients = 64, g_pid = 0;
static double g_seconds = 30, g_t0, g_end;

static const char *prompts[] = {"Once upon a time", "The little dog", "Lily went to the park", "Tom had a red ball",
                                "One day, a bird", "The sun was hot and"};
#define N_PROMPTS 6
#define N_SEEDS 16
/* the first text seen for (prompt, seed): later answers must equal it */
static char *g_seen[N_PROMPTS][N_SEEDS];
static pthread_mutex_t g_seen_mu = PTHREAD_MUTEX_INITIALIZER;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct buf { char *p; size_t n; } buf;

static size_t on_data(char *d, size_t sz, size_t nm, void *u) {
    buf *b = u;
    char *np = realloc(b->p, b->n + sz * nm + 1);
    if (!np) return 0;
    b->p = np;
    memcpy(b->p + b->n, d, sz * nm);
    b->n += sz * nm;
    b->p[b->n] = '\0';
    return sz * nm;
}

typedef struct client {
    int id;
    double *lat;
    size_t n_lat, cap_lat;
    long errors, mismatches, completion_tokens;
    char first_error[256];
} client;

static void *client_main(void *arg) {
    client *c = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    char url[256], body[512];
    for (unsigned long k = 0; now() < g_end; k++) {
        int kind = (int)((k + (unsigned long)c->id) % 7); /* 0-4 completions, 5 echo, 6 tokenize */
        int pi = (int)((k * 7 + (unsigned long)c->id) % N_PROMPTS), seed = (int)((k * 3 + (unsigned long)c->id * 5) % N_SEEDS);
        const char *path;
        if (kind <= 4) {
            path = "/v1/completions";
            snprintf(body, sizeof body, "{\"prompt\":\"%s\",\"max_tokens\":16,\"temperature\":0.8,\"n\":%d,\"seed\":%d}",
                     prompts[pi], 1 + (seed & 1), seed);
        } else if (kind == 5) {
            path = "/v1/completions";
            snprintf(body, sizeof body, "{\"prompt\":\"%s, and they were happy.\",\"max_tokens\":0,\"echo\":true,\"logprobs\":1}", prompts[pi]);
        } else {
            path = "/tokenize";
            snprintf(body, sizeof body, "{\"prompt\":\"%s\"}", prompts[pi]);
        }
        snprintf(url, sizeof url, "%s%s", g_url, path);
        buf b = {NULL, 0};
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
        double t = now();
        CURLcode rc = curl_easy_perform(h);
        double dt = now() - t;
        long st = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
        cJSON *j = rc == CURLE_OK && b.p ? cJSON_Parse(b.p) : NULL;
        if (rc != CURLE_OK || st != 200 || !j) {
            if (!c->errors)
                snprintf(c->first_error, sizeof c->first_error, "%s %ld %s %.150s", path, st, curl_easy_strerror(rc), b.p ? b.p : "");
            c->errors++;
        } else {
            if (c->n_lat == c->cap_lat) {
                c->cap_lat = c->cap_lat ? c->cap_lat * 2 : 1024;
                c->lat = realloc(c->lat, c->cap_lat * sizeof *c->lat);
            }
            c->lat[c->n_lat++] = dt;
            if (kind <= 4) {
                c->completion_tokens += cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens")->valueint;
                const char *text = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "text")->valuestring;
                pthread_mutex_lock(&g_seen_mu);
                if (!g_seen[pi][seed]) g_seen[pi][seed] = strdup(text);
                else if (strcmp(g_seen[pi][seed], text)) c->mismatches++;
                pthread_mutex_unlock(&g_seen_mu);
            }
        }
        cJSON_Delete(j);
        free(b.p);
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

static long rss_kib(void) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", g_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) v = atol(line + 6);
    fclose(f);
    return v;
}

static long g_rss[4096];
static int g_n_rss;

static void *rss_main(void *arg) {
    (void)arg;
    while (now() < g_end && g_n_rss < 4096) {
        g_rss[g_n_rss++] = rss_kib();
        usleep(500000);
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static long mean_rss(int from, int to) {
    double s = 0;
    int n = 0;
    for (int i = from; i < to; i++) if (g_rss[i] > 0) { s += (double)g_rss[i]; n++; }
    return n ? (long)(s / n) : -1;
}

int main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url")) g_url = argv[i + 1];
        else if (!strcmp(argv[i], "--clients")) g_clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) g_seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--pid")) g_pid = atoi(argv[i + 1]);
        else { fprintf(stderr, "serve_load: unknown option %s\n", argv[i]); return 2; }
    }
    if (g_clients < 1 || g_clients > 4096 || !(g_seconds > 0)) { fprintf(stderr, "serve_load: bad --clients or --seconds\n"); return 2; }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_t0 = now();
    g_end = g_t0 + g_seconds;
    client *cl = calloc((size_t)g_clients, sizeof *cl);
    pthread_t *th = calloc((size_t)g_clients, sizeof *th), rt;
    if (g_pid) pthread_create(&rt, NULL, rss_main, NULL);
    for (int i = 0; i < g_clients; i++) {
        cl[i].id = i;
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    for (int i = 0; i < g_clients; i++) pthread_join(th[i], NULL);
    if (g_pid) pthread_join(rt, NULL);
    double wall = now() - g_t0;
    size_t n = 0;
    long errors = 0, mism = 0, toks = 0;
    for (int i = 0; i < g_clients; i++) { n += cl[i].n_lat; errors += cl[i].errors; mism += cl[i].mismatches; toks += cl[i].completion_tokens; }
    double *all = malloc((n ? n : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < g_clients; i++) { memcpy(all + k, cl[i].lat, cl[i].n_lat * sizeof *all); k += cl[i].n_lat; }
    qsort(all, n, sizeof *all, cmp_d);
    double p50 = n ? all[n / 2] : 0, p99 = n ? all[(size_t)((double)(n - 1) * 0.99)] : 0, mx = n ? all[n - 1] : 0;
    long rmax = 0;
    for (int i = 0; i < g_n_rss; i++) if (g_rss[i] > rmax) rmax = g_rss[i];
    int q = g_n_rss / 4;
    char trace[4096] = "";
    for (int i = 0, k2 = 0; i < g_n_rss && k2 < 4000; i += 10)
        k2 += snprintf(trace + k2, sizeof trace - (size_t)k2, "%s%ld", i ? "," : "", g_rss[i]);
    printf("{\"clients\":%d,\"seconds\":%.1f,\"requests\":%zu,\"errors\":%ld,\"mismatches\":%ld,\"req_per_s\":%.1f,"
           "\"completion_tokens_per_s\":%.1f,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,"
           "\"rss_kib\":{\"first\":%ld,\"q2\":%ld,\"q4\":%ld,\"max\":%ld,\"samples\":%d,\"every_5s\":[%s]}}\n",
           g_clients, wall, n, errors, mism, (double)n / wall, (double)toks / wall, p50 * 1e3, p99 * 1e3, mx * 1e3,
           g_n_rss ? g_rss[0] : -1, mean_rss(q, 2 * q), mean_rss(3 * q, g_n_rss), rmax, g_n_rss, trace);
    fprintf(stderr, "serve_load: %zu requests in %.1f s from %d clients: %.1f req/s, %.1f completion tok/s, p50 %.1f ms, "
                    "p99 %.1f ms; %ld errors, %ld reproducibility mismatches\n",
            n, wall, g_clients, (double)n / wall, (double)toks / wall, p50 * 1e3, p99 * 1e3, errors, mism);
    for (int i = 0; i < g_clients; i++)
        if (cl[i].errors) { fprintf(stderr, "serve_load: first error of client %d: %s\n", i, cl[i].first_error); break; }
    for (int i = 0; i < g_clients; i++) free(cl[i].lat);
    for (int a = 0; a < N_PROMPTS; a++) for (int b = 0; b < N_SEEDS; b++) free(g_seen[a][b]);
    free(cl); free(th); free(all);
    curl_global_cleanup();
    return errors || mism ? 1 : 0;
}
