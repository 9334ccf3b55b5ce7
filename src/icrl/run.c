/* run.c — a run of many rollouts: the run store that makes it resumable, the
 * settings guard, and the workers that run rollouts concurrently where the
 * backend allows (HTTP models; a local model or a replay script runs one at a
 * time). Each finished rollout is one store entry, "rollouts"/"ENV/INDEX",
 * holding its JSON record; the outputs are made from the store alone
 * (outputs.c), so a resumed run ends with the same files as an uninterrupted
 * one. */
#include "icrl/icrl_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "goodhart/store.h"

typedef struct job {
    const gh_icrl_env *env;
    int32_t index;
} job;

typedef struct runner {
    gh_backend *b;
    const gh_icrl_params *p;
    gh_store *store;
    const char *run_dir;
    job *jobs;
    int64_t n_jobs, next, done;
    pthread_mutex_t mu;
    gh_status status;       /* the first failure */
    char message[1024];     /* its message (errors are per thread) */
    gh_icrl_progress_fn progress;
    void *user;
} runner;

static gh_status one(runner *R, const job *j) {
    char key[160], *dir = NULL, *json = NULL;
    snprintf(key, sizeof key, "%s/%06d", j->env->name, j->index);
    size_t n = strlen(R->run_dir) + strlen(j->env->name) + 48;
    if (!(dir = malloc(n))) return gh_error(GH_ERR_NOMEM, "out of memory");
    snprintf(dir, n, "%s/sandboxes/%s/%06d", R->run_dir, j->env->name, j->index);
    gh_status s = gh_icrl_rollout(R->b, j->env, j->index, dir, R->p, &json);
    if (!s) s = gh_store_put(R->store, "rollouts", key, json, strlen(json));
    if (!s && !R->p->keep_sandboxes) s = icrl_rm_rf(dir);
    free(dir);
    free(json);
    return s;
}

static void *worker(void *arg) {
    runner *R = arg;
    for (;;) {
        pthread_mutex_lock(&R->mu);
        if (R->status || R->next >= R->n_jobs) { pthread_mutex_unlock(&R->mu); break; }
        job j = R->jobs[R->next++];
        pthread_mutex_unlock(&R->mu);
        gh_status s = one(R, &j);
        pthread_mutex_lock(&R->mu);
        if (s && !R->status) {
            R->status = s;
            snprintf(R->message, sizeof R->message, "%s", gh_last_error());
        }
        if (!s) {
            R->done++;
            if (R->progress) R->progress(R->user, "rollouts", R->done, R->n_jobs);
        }
        pthread_mutex_unlock(&R->mu);
    }
    return NULL;
}

/* The run's settings: a resumed run must use the same ones. The list of
 * environments grows when a resumed run names new ones. */
static gh_status guard(gh_store *st, gh_backend *b, gh_icrl_env *const *envs, int32_t n_envs, const gh_icrl_params *p) {
    char v[64];
    gh_status s = gh_store_check_meta(st, "kind", "icrl");
    if (!s) s = gh_store_check_meta(st, "model", gh_backend_ref(b));
    snprintf(v, sizeof v, "%llu", (unsigned long long)p->sampler.seed);
    if (!s) s = gh_store_check_meta(st, "seed", v);
    snprintf(v, sizeof v, "%d", p->max_attempts);
    if (!s) s = gh_store_check_meta(st, "attempts", v);
    snprintf(v, sizeof v, "%d", p->max_steps);
    if (!s) s = gh_store_check_meta(st, "max_steps", v);
    snprintf(v, sizeof v, "%.9g", p->sampler.temp);
    if (!s) s = gh_store_check_meta(st, "temp", v);
    snprintf(v, sizeof v, "%d", p->sampler.max_tokens);
    if (!s) s = gh_store_check_meta(st, "max_tokens", v);
    for (int32_t i = 0; i < n_envs && !s; i++) {
        char key[128];
        snprintf(key, sizeof key, "env:%s", envs[i]->name);
        s = gh_store_check_meta(st, key, envs[i]->hash);
    }
    if (s) return s;
    char *list = NULL;
    if ((s = gh_store_meta_get(st, "envs", &list))) return s;
    gh_strbuf nl = {0};
    gh_strbuf_put(&nl, list ? list : "");
    for (int32_t i = 0; i < n_envs; i++) {
        bool have = false;
        if (list) {
            for (char *q = list; q && *q && !have;) {
                char *c = strchr(q, ',');
                size_t n = c ? (size_t)(c - q) : strlen(q);
                have = n == strlen(envs[i]->name) && !strncmp(q, envs[i]->name, n);
                q = c ? c + 1 : NULL;
            }
        }
        for (int32_t k = 0; k < i && !have; k++) have = !strcmp(envs[k]->name, envs[i]->name);
        if (!have) {
            if (nl.len) gh_strbuf_put(&nl, ",");
            gh_strbuf_put(&nl, envs[i]->name);
        }
    }
    free(list);
    if (nl.oom) { gh_strbuf_free(&nl); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    s = gh_store_meta_put(st, "envs", nl.p ? nl.p : "");
    gh_strbuf_free(&nl);
    return s;
}

gh_status gh_icrl_run(gh_backend *b, gh_icrl_env *const *envs, int32_t n_envs, int32_t n_rollouts,
                      const gh_icrl_params *p, const char *run_dir, gh_icrl_progress_fn progress, void *user) {
    if (n_envs < 1) return gh_error(GH_ERR_INVALID_ARG, "no environments to run");
    if (n_rollouts < 1) return gh_error(GH_ERR_INVALID_ARG, "the number of rollouts must be at least 1, got %d", n_rollouts);
    if (p->max_attempts < 1 || p->max_attempts > 1000)
        return gh_error(GH_ERR_INVALID_ARG, "the number of attempts must be in [1, 1000], got %d", p->max_attempts);
    for (int32_t i = 0; i < n_envs; i++)
        for (int32_t k = 0; k < i; k++)
            if (!strcmp(envs[i]->name, envs[k]->name))
                return gh_error(GH_ERR_INVALID_ARG, "environment \"%s\" is named twice (%s and %s)", envs[i]->name,
                                envs[k]->path, envs[i]->path);
    gh_status s = gh_backend_require(b, GH_CAP_CHAT, "an ICRL agent");
    if (s) return s;
    if ((s = gh_mkdir_p(run_dir))) return s;
    size_t n = strlen(run_dir) + 32;
    char *path = malloc(n);
    if (!path) return gh_error(GH_ERR_NOMEM, "out of memory");
    snprintf(path, n, "%s/store.db", run_dir);
    gh_store *st = NULL;
    s = gh_store_open(path, &st);
    if (!s) s = guard(st, b, envs, n_envs, p);
    if (!s) {
        char v[32];
        char *old = NULL;
        s = gh_store_meta_get(st, "rollouts", &old);
        if (!s && (!old || atoll(old) < n_rollouts)) {
            snprintf(v, sizeof v, "%d", n_rollouts);
            s = gh_store_meta_put(st, "rollouts", v);
        }
        free(old);
    }
    runner R = {.b = b, .p = p, .store = st, .run_dir = run_dir, .progress = progress, .user = user};
    if (!s && !(R.jobs = malloc((size_t)n_envs * (size_t)n_rollouts * sizeof *R.jobs))) s = gh_error(GH_ERR_NOMEM, "out of memory");
    /* environment by environment, in index order: the order a replay script is played in */
    for (int32_t e = 0; e < n_envs && !s; e++)
        for (int32_t i = 0; i < n_rollouts && !s; i++) {
            char key[160];
            bool found = false;
            snprintf(key, sizeof key, "%s/%06d", envs[e]->name, i);
            if (!(s = gh_store_has(st, "rollouts", key, &found)) && !found) R.jobs[R.n_jobs++] = (job){envs[e], i};
        }
    if (!s && R.n_jobs) {
        pthread_mutex_init(&R.mu, NULL);
        int32_t nw = p->workers < 1 ? 1 : p->workers;
        if (nw > R.n_jobs) nw = (int32_t)R.n_jobs;
        if (progress) progress(user, "rollouts", 0, R.n_jobs);
        if (nw == 1) {
            worker(&R);
        } else {
            pthread_t *t = malloc((size_t)nw * sizeof *t);
            int32_t started = 0;
            if (t)
                for (; started < nw; started++)
                    if (pthread_create(&t[started], NULL, worker, &R)) break;
            if (started == 0) worker(&R); /* no threads to be had: run here */
            for (int32_t i = 0; i < started; i++) pthread_join(t[i], NULL);
            free(t);
        }
        pthread_mutex_destroy(&R.mu);
        if (R.status) s = gh_error(R.status, "%s", R.message);
    }
    free(R.jobs);
    gh_store_close(st);
    if (!s) s = gh_icrl_write_outputs(run_dir);
    if (!s && !p->keep_sandboxes) {
        snprintf(path, n, "%s/sandboxes", run_dir);
        s = icrl_rm_rf(path);
    }
    free(path);
    return s;
}
