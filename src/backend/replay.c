/* replay.c — the scripted chat agent: a backend that answers every chat call
 * with the next assistant message of a JSON Lines file, in order.
 *
 * Reference: replay:FILE, each non-blank line {"content": "..."} (other fields
 * are ignored). It is how the ICRL environments are tested deterministically
 * and how published transcripts are re-scored: the conversation it is sent is
 * not looked at, only the order of the calls matters. The whole file is read
 * and checked when the backend is opened, so a malformed line is reported
 * before any work ("FILE:LINE: ..."); a call after the last message fails with
 * a message naming the file and how many messages it held. Calls are
 * serialised by a mutex, so a replay backend shared by threads still hands out
 * each message exactly once (in the order the calls arrive). */
#include "backend/backend_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonl.h"

/* Largest script read (a transcript of many long rollouts). */
#define REPLAY_MAX_BYTES ((size_t)256 << 20)

typedef struct replay {
    char *path;
    char **msgs;      /* [n] assistant messages */
    int64_t *lines;   /* [n] their line numbers */
    int64_t n, cap;
    int64_t next;     /* index of the next message to play */
    pthread_mutex_t mu;
} replay;

static void replay_free(void *impl) {
    replay *r = impl;
    if (!r) return;
    for (int64_t i = 0; i < r->n; i++) free(r->msgs[i]);
    free(r->msgs);
    free(r->lines);
    free(r->path);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static gh_status replay_line(void *user, const char *path, int64_t line, const cJSON *obj) {
    replay *r = user;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, "content");
    if (!c) return gh_error(GH_ERR_FORMAT, "%s:%lld: no \"content\" field (each line must be {\"content\": \"...\"})", path, (long long)line);
    if (!cJSON_IsString(c))
        return gh_error(GH_ERR_FORMAT, "%s:%lld: \"content\" is not a string", path, (long long)line);
    if (r->n == r->cap) {
        int64_t cap = r->cap ? r->cap * 2 : 64;
        char **m = realloc(r->msgs, (size_t)cap * sizeof *m);
        if (!m) return gh_error(GH_ERR_NOMEM, "out of memory");
        r->msgs = m;
        int64_t *l = realloc(r->lines, (size_t)cap * sizeof *l);
        if (!l) return gh_error(GH_ERR_NOMEM, "out of memory");
        r->lines = l;
        r->cap = cap;
    }
    char *s = strdup(c->valuestring);
    if (!s) return gh_error(GH_ERR_NOMEM, "out of memory");
    r->msgs[r->n] = s;
    r->lines[r->n] = line;
    r->n++;
    return GH_OK;
}

static gh_status replay_chat(void *impl, const gh_chat_msg *msgs, int32_t n_msgs, const gh_sampler_params *sp,
                             int32_t n, gh_samples **out) {
    (void)msgs; (void)n_msgs;
    replay *r = impl;
    *out = NULL;
    gh_samples *s = calloc(1, sizeof *s);
    if (!s) return gh_error(GH_ERR_NOMEM, "out of memory");
    s->samples = calloc((size_t)n, sizeof *s->samples);
    if (!s->samples) { free(s); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    pthread_mutex_lock(&r->mu);
    gh_status st = GH_OK;
    if (r->next + n > r->n) {
        st = gh_error(GH_ERR_LIMIT, "%s: the replay script ran out: it holds %lld assistant message%s and message %lld was asked for",
                      r->path, (long long)r->n, r->n == 1 ? "" : "s", (long long)(r->n + 1));
    } else {
        for (int32_t i = 0; i < n && !st; i++) {
            gh_sample *x = &s->samples[i];
            x->index = (sp ? sp->first_sample : 0) + i;
            x->text = strdup(r->msgs[r->next + i]);
            x->finish = "stop";
            if (!x->text) st = gh_error(GH_ERR_NOMEM, "out of memory");
            s->n = i + 1;
        }
        if (!st) r->next += n;
    }
    pthread_mutex_unlock(&r->mu);
    if (st) { gh_samples_free(s); return st; }
    *out = s;
    return GH_OK;
}

gh_status gh_backend_open_replay(const char *path, const gh_backend_params *p, gh_backend *b) {
    (void)p;
    if (!*path) return gh_error(GH_ERR_INVALID_ARG, "replay: no file named (use replay:FILE)");
    replay *r = calloc(1, sizeof *r);
    if (!r) return gh_error(GH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    r->path = strdup(path);
    if (!r->path) { replay_free(r); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    gh_status s = gh_jsonl_each(path, REPLAY_MAX_BYTES, replay_line, r, NULL);
    if (!s && r->n == 0) s = gh_error(GH_ERR_FORMAT, "%s: the replay script holds no assistant messages", path);
    if (s) { replay_free(r); return s; }
    static const gh_backend_ops ops = {.kind = "replay", .free = replay_free, .chat = replay_chat};
    b->ops = &ops;
    b->impl = r;
    b->caps = GH_CAP_CHAT;
    return GH_OK;
}
