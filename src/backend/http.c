/* http.c — the backend served by an OpenAI-compatible HTTP server: vLLM,
 * llama.cpp's server, hosted APIs, or goodhart's own (`goodhart serve`).
 *
 * A reference http(s)://HOST:PORT/v1[#MODEL] names the API base; the model is
 * MODEL or the one /v1/models lists. On opening, GET /v1/models says which
 * model and which kind of server ("owned_by": goodhart, vllm, llamacpp, or
 * anything else = generic OpenAI), and that decides which extensions the
 * requests may carry: a generic server gets only documented OpenAI fields, so
 * that a hosted API never refuses an unknown one.
 *
 * Reproducible sampling. The local contract is that sample i is drawn from the
 * stream (seed, first_sample + i) alone. goodhart's server keeps it itself, so
 * it gets n, seed and first_sample (in requests of at most 16 samples, sent
 * side by side). Any other server gets one request per sample, n = 1, with a
 * seed derived from (seed, index): sample i then depends on nothing but its
 * index and the server's own seeding. Greedy decoding (temperature 0) is one
 * request whose answer every sample shares.
 *
 * Log-probabilities of a given continuation come from the legacy completions
 * endpoint with echo + logprobs (max_tokens 0 for goodhart, 1 elsewhere), or,
 * where the server refuses that, from vLLM's prompt_logprobs; the first that
 * works is remembered. The prompt/continuation boundary is the local
 * backend's: the continuation starts at the first token where the prompt's
 * own tokenization (POST /tokenize) stops agreeing with the whole text's;
 * without /tokenize, at the first token that ends past the prompt's text
 * (text_offset).
 *
 * Every request goes through http_client.c (bounded concurrency, retries,
 * timeouts, the response cache); every error names the URL, the HTTP status
 * and the server's own message. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#include <cjson/cJSON.h>

#include "backend/backend_impl.h"
#include "backend/http_internal.h"
#include "base/rng.h"
#include "goodhart/chat.h"

typedef enum { FL_GENERIC = 0, FL_VLLM, FL_LLAMACPP, FL_GOODHART } flavour;
static const char *flavour_name[] = {"OpenAI-compatible", "vLLM", "llama.cpp", "goodhart"};

typedef enum { LP_UNKNOWN = 0, LP_ECHO, LP_PROMPT, LP_NONE } lp_method;
typedef enum { RW_UNKNOWN = 0, RW_REWARDS, RW_POOLING, RW_CLASSIFY, RW_NONE } rw_method;

#define GOODHART_CHUNK 16 /* samples per request to goodhart's server */

typedef struct http_be {
    char *ref;           /* as given, for messages */
    char *base;          /* ".../v1" */
    char *root;          /* the server root (base without "/v1") */
    char *model;
    char *chat_template; /* override: render locally, then /v1/completions */
    flavour fl;
    gh_http_client *cl;
    int32_t n_vocab, n_ctx, n_embd, n_layer; /* from /v1/models where given (0: unknown) */
    char sha256[65];                         /* meta.sha256 from /v1/models ("": not reported) */
    pthread_mutex_t mu;  /* guards the remembered choices below */
    lp_method lpm;
    char *lp_why;        /* why neither log-probability route works */
    rw_method rwm;
    int tokenize;        /* -1 unknown, 0 absent, 1 works */
    bool caps_listed;    /* the server listed its model's capabilities (goodhart's meta) */
    uint32_t caps;
} http_be;

/* ---- small helpers ---- */

static char *dupfmt(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s) { memcpy(s, a, strlen(a)); memcpy(s + strlen(a), b, strlen(b) + 1); }
    return s;
}

/* The shortest decimal text that reads back as the same float, so that 0.7f
 * goes out as 0.7 (and the server's float is the local one). */
static cJSON *json_float(float f) {
    char buf[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return cJSON_CreateRaw(buf);
}

static cJSON *json_u64(uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateRaw(buf);
}

static bool jnum(const cJSON *o, const char *k, double *v) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(j)) return false;
    *v = j->valuedouble;
    return true;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

static cJSON *jget(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

/* "token_id:123" (vLLM's return_tokens_as_token_ids) -> 123, else -1. */
static int32_t token_id_of(const char *s) {
    if (!s || strncmp(s, "token_id:", 9) != 0) return -1;
    char *end;
    long v = strtol(s + 9, &end, 10);
    return (*end || v < 0 || v > INT32_MAX) ? -1 : (int32_t)v;
}

static gh_status parse_answer(const gh_http_req *r, cJSON **out) {
    *out = cJSON_ParseWithLength(r->resp, r->resp_len);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        char msg[128];
        size_t n = r->resp_len < 80 ? r->resp_len : 80;
        memcpy(msg, r->resp ? r->resp : "", r->resp ? n : 0);
        msg[r->resp ? n : 0] = '\0';
        return gh_error(GH_ERR_FORMAT, "%s %s: the answer is not a JSON object (starts '%s')", r->method, r->url, msg);
    }
    return GH_OK;
}

/* One POST of a JSON body to `url`; the parsed answer in *out. On failure the
 * request's status stays in *status (0 if none) for callers that fall back. */
static gh_status post1(http_be *H, const char *url, cJSON *body, cJSON **out, long *status, char **errmsg) {
    *out = NULL;
    if (status) *status = 0;
    if (errmsg) *errmsg = NULL;
    char *txt = cJSON_PrintUnformatted(body);
    if (!txt) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_http_req r = {.method = "POST", .url = url, .body = txt};
    gh_status s = gh_http_run(H->cl, &r, 1);
    if (status) *status = r.status;
    if (!s) s = parse_answer(&r, out);
    else if (errmsg && r.resp) {
        char m[512];
        gh_http_error_message(r.resp, m, sizeof m);
        *errmsg = strdup(m);
    }
    gh_http_req_clear(&r);
    free(txt);
    return s;
}

static char *url_of(const char *prefix, const char *path) { return dupfmt(prefix, path); }

/* The request body's common head: {"model": ...}. */
static cJSON *body_new(http_be *H) {
    cJSON *b = cJSON_CreateObject();
    if (b) cJSON_AddStringToObject(b, "model", H->model);
    return b;
}

/* ---- sampling settings ---- */

static gh_status add_sampling(http_be *H, cJSON *b, const gh_sampler_params *sp, bool chat) {
    cJSON_AddItemToObject(b, "max_tokens", cJSON_CreateNumber(sp->max_tokens));
    cJSON_AddItemToObject(b, "temperature", json_float(sp->temp));
    if (sp->top_p != 1.0f) cJSON_AddItemToObject(b, "top_p", json_float(sp->top_p));
    const bool ext = H->fl == FL_GOODHART || H->fl == FL_VLLM || H->fl == FL_LLAMACPP;
    if (sp->top_k > 0) {
        if (!ext) return gh_error(GH_ERR_UNSUPPORTED, "%s: top-k sampling is not part of the OpenAI API this %s server speaks", H->ref, flavour_name[H->fl]);
        cJSON_AddNumberToObject(b, "top_k", sp->top_k);
    }
    if (sp->min_p > 0) {
        if (!ext) return gh_error(GH_ERR_UNSUPPORTED, "%s: min-p sampling is not part of the OpenAI API this %s server speaks", H->ref, flavour_name[H->fl]);
        cJSON_AddItemToObject(b, "min_p", json_float(sp->min_p));
    }
    if (sp->epsilon > 0)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: epsilon sampling is not offered by HTTP servers; use top_p or min_p", H->ref);
    if (!sp->stop_at_eog) {
        if (H->fl != FL_GOODHART && H->fl != FL_VLLM)
            return gh_error(GH_ERR_UNSUPPORTED, "%s: a %s server cannot be asked to go on past end-of-generation tokens", H->ref, flavour_name[H->fl]);
        cJSON_AddBoolToObject(b, "ignore_eos", 1);
    }
    if (!chat && sp->add_bos >= 0) {
        if (H->fl != FL_GOODHART && H->fl != FL_VLLM) {
            if (sp->add_bos == 0)
                return gh_error(GH_ERR_UNSUPPORTED, "%s: a %s server cannot be told to leave out the BOS token", H->ref, flavour_name[H->fl]);
        } else {
            cJSON_AddBoolToObject(b, "add_special_tokens", sp->add_bos != 0);
        }
    }
    return GH_OK;
}

/* A seed for sample `index` of a run seeded `seed`, for servers that seed a
 * request as a whole (31 bits: every server takes it). */
static uint64_t derived_seed(uint64_t seed, uint64_t index) {
    gh_rng r;
    gh_rng_seed(&r, seed, index);
    return gh_rng_next(&r) & 0x7fffffffu;
}

/* ---- reading generations ---- */

static const char *finish_of(const char *f) { return (f && !strcmp(f, "length")) ? "length" : "stop"; }

/* Fills one sample from a choice of /v1/completions or /v1/chat/completions. */
static gh_status read_choice(const cJSON *ch, bool chat, gh_sample *smp, const char *url) {
    const char *text = NULL;
    if (chat) {
        const cJSON *msg = jget(ch, "message");
        text = jstr(msg, "content");
        if (!text && cJSON_IsObject(msg) && cJSON_IsNull(jget(msg, "content"))) text = "";
    } else {
        text = jstr(ch, "text");
    }
    if (!text) return gh_error(GH_ERR_FORMAT, "%s: a choice has no %s", url, chat ? "message.content" : "\"text\"");
    smp->text = strdup(text);
    if (!smp->text) return gh_error(GH_ERR_NOMEM, "out of memory");
    smp->finish = finish_of(jstr(ch, "finish_reason"));
    /* token ids: vLLM's "token_ids", else the logprobs' "token_id:N" strings */
    const cJSON *lp = jget(ch, "logprobs");
    const cJSON *ids = jget(ch, "token_ids");
    const cJSON *toks = NULL, *tlp = NULL;
    if (chat) toks = cJSON_IsObject(lp) ? jget(lp, "content") : NULL;
    else if (cJSON_IsObject(lp)) { toks = jget(lp, "tokens"); tlp = jget(lp, "token_logprobs"); }
    int32_t n = cJSON_IsArray(ids) ? cJSON_GetArraySize(ids) : cJSON_IsArray(toks) ? cJSON_GetArraySize(toks) : 0;
    smp->n_tokens = n;
    smp->tokens = malloc(((size_t)n + 1) * sizeof *smp->tokens);
    if (!smp->tokens) return gh_error(GH_ERR_NOMEM, "out of memory");
    /* walked by pointer: cJSON_GetArrayItem(i) is a linear search */
    const cJSON *x = n ? (cJSON_IsArray(ids) ? ids->child : toks->child) : NULL;
    for (int32_t i = 0; i < n; i++, x = x->next) {
        int32_t id = -1;
        if (cJSON_IsArray(ids)) {
            if (cJSON_IsNumber(x)) id = (int32_t)x->valuedouble;
        } else {
            id = token_id_of(chat ? jstr(x, "token") : (cJSON_IsString(x) ? x->valuestring : NULL));
        }
        smp->tokens[i] = id;
    }
    smp->logprob = 0;
    if (chat && cJSON_IsArray(toks)) {
        const cJSON *t;
        cJSON_ArrayForEach(t, toks) { double v; if (jnum(t, "logprob", &v)) smp->logprob += v; }
    } else if (cJSON_IsArray(tlp)) {
        const cJSON *t;
        cJSON_ArrayForEach(t, tlp) if (cJSON_IsNumber(t)) smp->logprob += t->valuedouble;
    } else {
        smp->logprob = NAN; /* the server gave none */
    }
    return GH_OK;
}

/* Sends the planned requests and fills out->samples[first..]. `bodies` hold
 * one request each; request j answers samples [lo[j], lo[j] + cnt[j]). */
static gh_status run_generation(http_be *H, const char *url, bool chat, char **bodies, const int32_t *lo,
                                const int32_t *cnt, int32_t nreq, bool replicate, gh_samples *res) {
    gh_http_req *rq = calloc((size_t)nreq, sizeof *rq);
    if (!rq) return gh_error(GH_ERR_NOMEM, "out of memory");
    for (int32_t j = 0; j < nreq; j++) { rq[j].method = "POST"; rq[j].url = url; rq[j].body = bodies[j]; }
    gh_status s = gh_http_run(H->cl, rq, nreq);
    for (int32_t j = 0; j < nreq && !s; j++) {
        cJSON *a = NULL;
        if ((s = parse_answer(&rq[j], &a))) break;
        const cJSON *chs = jget(a, "choices");
        int32_t nch = cJSON_IsArray(chs) ? cJSON_GetArraySize(chs) : 0;
        int32_t want = replicate ? 1 : cnt[j];
        if (nch != want) {
            s = gh_error(GH_ERR_FORMAT, "%s: asked for %d choices, the answer has %d", url, want, nch);
            cJSON_Delete(a);
            break;
        }
        const cJSON *usage = jget(a, "usage");
        double pt;
        if (res->n_prompt_tokens == 0 && jnum(usage, "prompt_tokens", &pt)) res->n_prompt_tokens = (int32_t)pt;
        for (int32_t k = 0; k < nch && !s; k++) {
            const cJSON *ch = cJSON_GetArrayItem(chs, k);
            double idx = k;
            jnum(ch, "index", &idx); /* choices may come in any order */
            if (idx < 0 || idx >= want) { s = gh_error(GH_ERR_FORMAT, "%s: choice index %g out of range", url, idx); break; }
            int32_t si = lo[j] + (int32_t)idx;
            if (res->samples[si].text) { s = gh_error(GH_ERR_FORMAT, "%s: choice index %g appears twice", url, idx); break; }
            if ((s = read_choice(ch, chat, &res->samples[si], url))) break;
            const cJSON *pids = jget(ch, "prompt_token_ids");
            if (!res->prompt_tokens && cJSON_IsArray(pids)) {
                int32_t np = cJSON_GetArraySize(pids);
                res->prompt_tokens = malloc(((size_t)np + 1) * sizeof *res->prompt_tokens);
                if (!res->prompt_tokens) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
                const cJSON *x = pids->child;
                for (int32_t q = 0; q < np; q++, x = x->next)
                    res->prompt_tokens[q] = cJSON_IsNumber(x) ? (int32_t)x->valuedouble : -1;
                res->n_prompt_tokens = np;
            }
        }
        cJSON_Delete(a);
        if (!s && replicate) {
            const gh_sample *src = &res->samples[lo[j]];
            for (int32_t k = 1; k < cnt[j] && !s; k++) {
                gh_sample *d = &res->samples[lo[j] + k];
                d->text = strdup(src->text);
                d->tokens = malloc(((size_t)src->n_tokens + 1) * sizeof *d->tokens);
                if (!d->text || !d->tokens) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
                memcpy(d->tokens, src->tokens, (size_t)src->n_tokens * sizeof *d->tokens);
                d->n_tokens = src->n_tokens;
                d->logprob = src->logprob;
                d->finish = src->finish;
            }
        }
    }
    for (int32_t j = 0; j < nreq; j++) gh_http_req_clear(&rq[j]);
    free(rq);
    return s;
}

/* Generation through /v1/completions (prompt) or /v1/chat/completions (msgs). */
static gh_status http_sample(http_be *H, const char *prompt, const gh_chat_msg *msgs, int32_t n_msgs,
                             const gh_sampler_params *sp, int32_t n, gh_samples **out) {
    const bool chat = msgs != NULL;
    gh_samples *res = calloc(1, sizeof *res);
    if (!res) return gh_error(GH_ERR_NOMEM, "out of memory");
    res->samples = calloc((size_t)n, sizeof *res->samples);
    if (!res->samples) { free(res); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    res->n = n;
    for (int32_t i = 0; i < n; i++) { res->samples[i].index = sp->first_sample + i; res->samples[i].finish = "stop"; }

    cJSON *proto = body_new(H);
    gh_status s = proto ? GH_OK : gh_error(GH_ERR_NOMEM, "out of memory");
    if (!s && chat) {
        cJSON *arr = cJSON_AddArrayToObject(proto, "messages");
        for (int32_t i = 0; i < n_msgs && arr; i++) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", msgs[i].role);
            cJSON_AddStringToObject(m, "content", msgs[i].content);
            cJSON_AddItemToArray(arr, m);
        }
    } else if (!s) {
        cJSON_AddStringToObject(proto, "prompt", prompt);
    }
    if (!s) s = add_sampling(H, proto, sp, chat);
    if (!s) {
        /* the samples' log-probabilities (and, where the server can, token ids) */
        if (chat) cJSON_AddBoolToObject(proto, "logprobs", 1);
        else cJSON_AddNumberToObject(proto, "logprobs", 1);
        if (H->fl == FL_VLLM) cJSON_AddBoolToObject(proto, "return_tokens_as_token_ids", 1);
        if (H->fl == FL_VLLM || H->fl == FL_GOODHART) cJSON_AddBoolToObject(proto, "return_token_ids", 1);
    }
    /* plan the requests */
    const bool greedy = sp->temp == 0.0f;
    const bool own = H->fl == FL_GOODHART;
    int32_t nreq = own ? (n + GOODHART_CHUNK - 1) / GOODHART_CHUNK : greedy ? 1 : n;
    char **bodies = calloc((size_t)nreq, sizeof *bodies);
    int32_t *lo = calloc((size_t)nreq, sizeof *lo), *cnt = calloc((size_t)nreq, sizeof *cnt);
    if (!s && (!bodies || !lo || !cnt)) s = gh_error(GH_ERR_NOMEM, "out of memory");
    for (int32_t j = 0; j < nreq && !s; j++) {
        cJSON *b = cJSON_Duplicate(proto, 1);
        if (!b) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
        if (own) {
            lo[j] = j * GOODHART_CHUNK;
            cnt[j] = n - lo[j] < GOODHART_CHUNK ? n - lo[j] : GOODHART_CHUNK;
            cJSON_AddNumberToObject(b, "n", cnt[j]);
            cJSON_AddItemToObject(b, "seed", json_u64(sp->seed));
            if (sp->first_sample + lo[j] != 0) cJSON_AddNumberToObject(b, "first_sample", sp->first_sample + lo[j]);
        } else if (greedy) {
            lo[j] = 0;
            cnt[j] = n;
            cJSON_AddNumberToObject(b, "n", 1);
        } else {
            lo[j] = j;
            cnt[j] = 1;
            cJSON_AddNumberToObject(b, "n", 1);
            cJSON_AddItemToObject(b, "seed", json_u64(derived_seed(sp->seed, (uint64_t)(sp->first_sample + j))));
        }
        bodies[j] = cJSON_PrintUnformatted(b);
        cJSON_Delete(b);
        if (!bodies[j]) s = gh_error(GH_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(proto);
    char *url = url_of(H->base, chat ? "/chat/completions" : "/completions");
    if (!s && !url) s = gh_error(GH_ERR_NOMEM, "out of memory");
    if (!s) s = run_generation(H, url, chat, bodies, lo, cnt, nreq, !own && greedy, res);
    for (int32_t j = 0; bodies && j < nreq; j++) free(bodies[j]);
    free(bodies); free(lo); free(cnt); free(url);
    if (s) { gh_samples_free(res); return s; }
    *out = res;
    return GH_OK;
}

static gh_status http_generate(void *impl, const char *prompt, const gh_sampler_params *sp, int32_t n, gh_samples **out) {
    return http_sample(impl, prompt, NULL, 0, sp, n, out);
}

static gh_status http_chat(void *impl, const gh_chat_msg *msgs, int32_t n_msgs, const gh_sampler_params *sp,
                           int32_t n, gh_samples **out) {
    http_be *H = impl;
    if (!H->chat_template) return http_sample(H, NULL, msgs, n_msgs, sp, n, out);
    /* a template chosen here: render it and complete the text. The server's
     * special-token texts are unknown here, so the template writes none; the
     * server adds its BOS token as for any prompt. */
    char *prompt = NULL;
    gh_status s = gh_chat_render(H->chat_template, msgs, n_msgs, true, NULL, NULL, &prompt);
    if (s) return s;
    s = http_sample(H, prompt, NULL, 0, sp, n, out);
    free(prompt);
    return s;
}

/* ---- tokenization ---- */

/* A token id as JSON gives it: a whole number in [0, 2^31). */
static bool is_token_id(double v) { return v >= 0 && v < 2147483648.0 && v == floor(v); }

/* The server's tokens of `text` (with its special tokens, as the completions
 * endpoint would add them, when add_special). GH_ERR_UNSUPPORTED if it has no
 * /tokenize. */
static gh_status tokenize(http_be *H, const char *text, bool add_special, int32_t **ids, int32_t *n) {
    *ids = NULL;
    *n = 0;
    pthread_mutex_lock(&H->mu);
    int known = H->tokenize;
    pthread_mutex_unlock(&H->mu);
    if (known == 0 || H->fl == FL_GENERIC) return gh_error(GH_ERR_UNSUPPORTED, "%s: the server has no /tokenize", H->ref);
    cJSON *b = H->fl == FL_LLAMACPP ? cJSON_CreateObject() : body_new(H);
    if (!b) return gh_error(GH_ERR_NOMEM, "out of memory");
    if (H->fl == FL_LLAMACPP) {
        cJSON_AddStringToObject(b, "content", text);
        cJSON_AddBoolToObject(b, "add_special", add_special);
    } else {
        cJSON_AddStringToObject(b, "prompt", text);
        cJSON_AddBoolToObject(b, "add_special_tokens", add_special);
    }
    char *url = url_of(H->root, "/tokenize");
    cJSON *a = NULL;
    long st = 0;
    gh_status s = url ? post1(H, url, b, &a, &st, NULL) : gh_error(GH_ERR_NOMEM, "out of memory");
    cJSON_Delete(b);
    if (s && (st == 404 || st == 405)) {
        pthread_mutex_lock(&H->mu);
        H->tokenize = 0;
        pthread_mutex_unlock(&H->mu);
        free(url);
        return gh_error(GH_ERR_UNSUPPORTED, "%s: the server has no /tokenize", H->ref);
    }
    const cJSON *t = a ? jget(a, "tokens") : NULL;
    if (!s && !cJSON_IsArray(t)) s = gh_error(GH_ERR_FORMAT, "%s: the answer has no \"tokens\" array", url);
    if (!s) {
        *n = cJSON_GetArraySize(t);
        *ids = malloc(((size_t)*n + 1) * sizeof **ids);
        if (!*ids) s = gh_error(GH_ERR_NOMEM, "out of memory");
        const cJSON *it = t->child;
        for (int32_t i = 0; i < *n && !s; i++, it = it->next) {
            const cJSON *x = cJSON_IsObject(it) ? jget(it, "id") : it; /* llama.cpp with_pieces */
            /* checked as reward_tokens checks ids: a hostile or broken
             * server's 1e300 or -1 must not reach an int conversion */
            if (!cJSON_IsNumber(x) || !is_token_id(x->valuedouble))
                s = gh_error(GH_ERR_FORMAT, "%s: \"tokens\"[%d] is not a token id", url, i);
            else (*ids)[i] = (int32_t)x->valuedouble;
        }
        if (s) { free(*ids); *ids = NULL; *n = 0; }
        else { pthread_mutex_lock(&H->mu); H->tokenize = 1; pthread_mutex_unlock(&H->mu); }
    }
    cJSON_Delete(a);
    free(url);
    return s;
}

/* gh_backend_tokenize: goodhart's /tokenize reads no special-token texts and
 * adds BOS only where the model adds one, as the local backend does. */
static gh_status http_tokenize(void *impl, const char *text, bool add_bos, int32_t **ids, int32_t *n) {
    return tokenize(impl, text, add_bos, ids, n);
}

/* gh_backend_get_dims: what /v1/models reported (0: not reported). */
static gh_backend_dims http_dims(void *impl) {
    const http_be *H = impl;
    gh_backend_dims d = {.n_vocab = H->n_vocab, .n_ctx = H->n_ctx, .n_embd = H->n_embd, .n_layer = H->n_layer};
    return d;
}

/* gh_backend_model_sha256: what /v1/models reported (NULL: nothing). */
static const char *http_model_sha256(void *impl) {
    const http_be *H = impl;
    return H->sha256[0] ? H->sha256 : NULL;
}

/* ---- log-probabilities of a continuation ---- */

/* The result for tokens k.. of a text of n_all tokens (k < 1 is taken as 1:
 * the first token has nothing before it to be scored on); NULL when out of memory. */
static gh_logprobs *lp_alloc(int32_t n_all, int32_t k, int32_t top_k) {
    if (k < 1) k = 1;
    int32_t n = n_all - k;
    gh_logprobs *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->n = n;
    r->n_prompt = k;
    r->top_k = top_k;
    r->tokens = malloc(((size_t)n + 1) * sizeof *r->tokens);
    r->token_text = calloc((size_t)n + 1, sizeof *r->token_text);
    r->token_logprobs = malloc(((size_t)n + 1) * sizeof *r->token_logprobs);
    if (top_k) {
        r->top_ids = malloc((size_t)n * top_k * sizeof *r->top_ids + 1);
        r->top_logprobs = malloc((size_t)n * top_k * sizeof *r->top_logprobs + 1);
    }
    if (!r->tokens || !r->token_text || !r->token_logprobs || (top_k && (!r->top_ids || !r->top_logprobs))) {
        gh_logprobs_free(r);
        return NULL;
    }
    for (int64_t i = 0; i < (int64_t)n * top_k; i++) { r->top_ids[i] = -1; r->top_logprobs[i] = -INFINITY; }
    return r;
}

/* Scored token i of r: its id, text and log-probability. */
static gh_status lp_put(gh_logprobs *r, int32_t i, int32_t id, const char *text, double v) {
    r->tokens[i] = id;
    r->token_text[i] = strdup(text);
    if (!r->token_text[i]) return gh_error(GH_ERR_NOMEM, "out of memory");
    r->token_logprobs[i] = (float)v;
    r->total += v;
    return GH_OK;
}

/* Hands r out with its mean when s is GH_OK; frees it otherwise. */
static gh_status lp_done(gh_logprobs *r, gh_status s, gh_logprobs **out) {
    if (s) { gh_logprobs_free(r); return s; }
    r->mean = r->n ? r->total / r->n : 0;
    *out = r;
    return GH_OK;
}

/* Sorts position i's top entries by log-probability, descending (servers give
 * them as JSON objects, whose order is not a promise). */
static void sort_top(gh_logprobs *r, int32_t i, int32_t m) {
    int32_t *id = r->top_ids + (size_t)i * r->top_k;
    float *lp = r->top_logprobs + (size_t)i * r->top_k;
    for (int32_t a = 1; a < m; a++)
        for (int32_t b = a; b > 0 && (lp[b] > lp[b - 1] || (lp[b] == lp[b - 1] && id[b] >= 0 && id[b] < id[b - 1])); b--) {
            float t = lp[b]; lp[b] = lp[b - 1]; lp[b - 1] = t;
            int32_t u = id[b]; id[b] = id[b - 1]; id[b - 1] = u;
        }
}

/* Legacy echo: choices[0].logprobs = {tokens, token_logprobs, top_logprobs,
 * text_offset} over the prompt (and, with max_tokens 1, one generated token
 * after it, which is cut off by count). */
static gh_status lp_from_echo(http_be *H, const cJSON *a, const char *url, size_t lp_len, size_t full_len,
                              const int32_t *full_ids, int32_t n_full, int32_t k_split, int32_t top_k,
                              gh_logprobs **out) {
    const cJSON *ch = cJSON_GetArrayItem(jget(a, "choices"), 0);
    const cJSON *L = jget(ch, "logprobs");
    const cJSON *toks = jget(L, "tokens"), *tlp = jget(L, "token_logprobs"), *top = jget(L, "top_logprobs"),
                *off = jget(L, "text_offset");
    if (!cJSON_IsArray(toks) || !cJSON_IsArray(tlp))
        return gh_error(GH_ERR_UNSUPPORTED, "%s: the answer to echo + logprobs has no logprobs.tokens/token_logprobs", url);
    int32_t nt = cJSON_GetArraySize(toks);
    if (cJSON_GetArraySize(tlp) != nt)
        return gh_error(GH_ERR_FORMAT, "%s: %d tokens but %d token_logprobs", url, nt, cJSON_GetArraySize(tlp));
    /* how many of the echoed tokens are the text's own */
    int32_t n_text = nt;
    if (full_ids) n_text = n_full;
    else {
        double pt;
        if (jnum(jget(a, "usage"), "prompt_tokens", &pt)) n_text = (int32_t)pt;
        else if (cJSON_IsArray(off)) { /* tokens starting at or past the text's end were generated */
            n_text = 0;
            while (n_text < nt && cJSON_GetArrayItem(off, n_text)->valuedouble < (double)full_len) n_text++;
        }
    }
    if (n_text > nt || n_text < 1)
        return gh_error(GH_ERR_FORMAT, "%s: the echo holds %d tokens; the text has %d", url, nt, n_text);
    int32_t k = k_split;
    if (k < 0) { /* no tokenizer: the first token that ends past the prompt's text */
        if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) < n_text)
            return gh_error(GH_ERR_UNSUPPORTED, "%s: the server gives neither /tokenize nor text_offset, so the continuation's tokens cannot be told from the prompt's", H->ref);
        k = 0;
        while (k < n_text) {
            double end = k + 1 < nt ? cJSON_GetArrayItem(off, k + 1)->valuedouble : (double)full_len;
            if (k + 1 >= n_text) end = (double)full_len;
            if (end > (double)lp_len) break;
            k++;
        }
    }
    gh_logprobs *r = lp_alloc(n_text, k, top_k);
    if (!r) return gh_error(GH_ERR_NOMEM, "out of memory");
    k = r->n_prompt;
    gh_status s = GH_OK;
    /* walked by pointer from position k: cJSON_GetArrayItem(p) is a linear search */
    const cJSON *t = cJSON_GetArrayItem(toks, k), *v = cJSON_GetArrayItem(tlp, k);
    const cJSON *tp = top_k && cJSON_IsArray(top) ? cJSON_GetArrayItem(top, k) : NULL;
    for (int32_t i = 0; i < r->n && !s; i++, t = t->next, v = v->next, tp = tp ? tp->next : NULL) {
        int32_t p = k + i;
        const char *ts = cJSON_IsString(t) ? t->valuestring : "";
        if (!cJSON_IsNumber(v)) { s = gh_error(GH_ERR_FORMAT, "%s: token %d of the echo has no log-probability", url, p); break; }
        if ((s = lp_put(r, i, full_ids ? full_ids[p] : token_id_of(ts), ts, v->valuedouble))) break;
        if (top_k && cJSON_IsArray(top)) {
            const cJSON *e;
            int32_t m = 0;
            cJSON_ArrayForEach(e, tp) {
                if (m >= top_k || !cJSON_IsNumber(e)) continue;
                r->top_ids[(size_t)i * top_k + m] = token_id_of(e->string);
                r->top_logprobs[(size_t)i * top_k + m] = (float)e->valuedouble;
                m++;
            }
            sort_top(r, i, m);
        }
    }
    return lp_done(r, s, out);
}

/* vLLM's prompt_logprobs: choices[0].prompt_logprobs = [null, {"ID": {"logprob",
 * "rank", "decoded_token"}, ...}, ...], one entry per prompt token, holding
 * the token itself and the top-k. The ids come from the answer's
 * prompt_token_ids or /tokenize. */
static gh_status lp_from_prompt(const cJSON *a, const char *url, const int32_t *full_ids, int32_t n_full,
                                int32_t k, int32_t top_k, gh_logprobs **out) {
    const cJSON *ch = cJSON_GetArrayItem(jget(a, "choices"), 0);
    const cJSON *P = jget(ch, "prompt_logprobs");
    if (!cJSON_IsArray(P)) P = jget(a, "prompt_logprobs");
    if (!cJSON_IsArray(P)) return gh_error(GH_ERR_UNSUPPORTED, "%s: the answer has no prompt_logprobs", url);
    int32_t np = cJSON_GetArraySize(P);
    if (np != n_full)
        return gh_error(GH_ERR_FORMAT, "%s: prompt_logprobs has %d entries; the text has %d tokens", url, np, n_full);
    gh_logprobs *r = lp_alloc(n_full, k, top_k);
    if (!r) return gh_error(GH_ERR_NOMEM, "out of memory");
    k = r->n_prompt;
    gh_status s = GH_OK;
    const cJSON *d = cJSON_GetArrayItem(P, k); /* walked by pointer, as in lp_from_echo */
    for (int32_t i = 0; i < r->n && !s; i++, d = d->next) {
        int32_t p = k + i;
        char key[16];
        snprintf(key, sizeof key, "%d", full_ids[p]);
        const cJSON *me = jget(d, key);
        double v;
        if (!me || !jnum(me, "logprob", &v)) { s = gh_error(GH_ERR_FORMAT, "%s: prompt_logprobs[%d] lacks token %d", url, p, full_ids[p]); break; }
        const char *dt = jstr(me, "decoded_token");
        if ((s = lp_put(r, i, full_ids[p], dt ? dt : "", v))) break;
        if (top_k) {
            const cJSON *e;
            int32_t m = 0;
            cJSON_ArrayForEach(e, d) {
                double rank = 0, lv;
                if (!jnum(e, "logprob", &lv)) continue;
                if (jnum(e, "rank", &rank) && rank > top_k) continue; /* the token itself, outside the top-k */
                if (m >= top_k) continue;
                r->top_ids[(size_t)i * top_k + m] = (int32_t)strtol(e->string, NULL, 10);
                r->top_logprobs[(size_t)i * top_k + m] = (float)lv;
                m++;
            }
            sort_top(r, i, m);
        }
    }
    return lp_done(r, s, out);
}

static gh_status http_logprob(void *impl, const char *prompt, const char *cont, int32_t top_k, gh_logprobs **out) {
    http_be *H = impl;
    size_t lp_len = strlen(prompt), lc = strlen(cont);
    char *full = malloc(lp_len + lc + 1);
    if (!full) return gh_error(GH_ERR_NOMEM, "out of memory");
    memcpy(full, prompt, lp_len);
    memcpy(full + lp_len, cont, lc + 1);
    /* the split, as the local backend makes it, where the server tokenizes */
    int32_t *fid = NULL, *pid = NULL, nf = 0, npr = 0, k = -1;
    gh_status s = tokenize(H, full, true, &fid, &nf);
    if (!s) s = tokenize(H, prompt, true, &pid, &npr);
    if (s == GH_ERR_UNSUPPORTED) { s = GH_OK; free(fid); fid = NULL; nf = 0; }
    else if (!s) {
        k = 0;
        while (k < npr && k < nf && fid[k] == pid[k]) k++;
        if (k == 0) s = gh_error(GH_ERR_INVALID_ARG, "%s: nothing to condition on: the model adds no BOS and the prompt is empty", H->ref);
    }
    free(pid);
    char *url = url_of(H->base, "/completions");
    if (!s && !url) s = gh_error(GH_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&H->mu);
    lp_method m = H->lpm;
    pthread_mutex_unlock(&H->mu);
    char *echo_why = NULL, *pl_why = NULL;
    long st = 0;
    if (!s && (m == LP_UNKNOWN || m == LP_ECHO)) {
        cJSON *b = body_new(H);
        cJSON_AddStringToObject(b, "prompt", full);
        cJSON_AddNumberToObject(b, "max_tokens", H->fl == FL_GOODHART ? 0 : 1);
        cJSON_AddNumberToObject(b, "temperature", 0);
        cJSON_AddBoolToObject(b, "echo", 1);
        cJSON_AddNumberToObject(b, "logprobs", top_k > 0 ? top_k : 1);
        if (H->fl == FL_VLLM) cJSON_AddBoolToObject(b, "return_tokens_as_token_ids", 1);
        cJSON *a = NULL;
        s = post1(H, url, b, &a, &st, &echo_why);
        cJSON_Delete(b);
        if (!s) s = lp_from_echo(H, a, url, lp_len, lp_len + lc, fid, nf, k, top_k, out);
        cJSON_Delete(a);
        if (!s) m = LP_ECHO;
        else if (m == LP_UNKNOWN && ((st >= 400 && st < 500 && st != 408 && st != 429) || s == GH_ERR_UNSUPPORTED)) {
            if (!echo_why) echo_why = strdup(gh_last_error());
            s = GH_OK; /* try the next route */
        }
    }
    if (!s && m != LP_ECHO && m != LP_NONE) {
        if (!fid) {
            s = gh_error(GH_ERR_UNSUPPORTED, "%s: the server refuses echo + logprobs (%s), and prompt_logprobs needs its /tokenize, which it lacks",
                         H->ref, echo_why ? echo_why : "?");
            m = LP_NONE;
        } else {
            cJSON *b = body_new(H);
            cJSON_AddStringToObject(b, "prompt", full);
            cJSON_AddNumberToObject(b, "max_tokens", 1);
            cJSON_AddNumberToObject(b, "temperature", 0);
            cJSON_AddNumberToObject(b, "prompt_logprobs", top_k);
            cJSON *a = NULL;
            s = post1(H, url, b, &a, &st, &pl_why);
            cJSON_Delete(b);
            if (!s) s = lp_from_prompt(a, url, fid, nf, k, top_k, out);
            cJSON_Delete(a);
            if (!s) m = LP_PROMPT;
            else if (m == LP_UNKNOWN && ((st >= 400 && st < 500 && st != 408 && st != 429) || s == GH_ERR_UNSUPPORTED)) {
                if (!pl_why) pl_why = strdup(gh_last_error());
                m = LP_NONE;
            }
        }
        if (m == LP_NONE) {
            char msg[1200];
            snprintf(msg, sizeof msg,
                     "%s: this %s server gives no log-probabilities of a given text: /v1/completions with echo + logprobs answered '%s'; with prompt_logprobs '%s'",
                     H->ref, flavour_name[H->fl], echo_why ? echo_why : "?", pl_why ? pl_why : "not tried");
            pthread_mutex_lock(&H->mu);
            if (!H->lp_why) H->lp_why = strdup(msg);
            pthread_mutex_unlock(&H->mu);
            s = gh_error(GH_ERR_UNSUPPORTED, "%s", msg);
        }
    }
    if (!s && m == LP_NONE) {
        pthread_mutex_lock(&H->mu);
        s = gh_error(GH_ERR_UNSUPPORTED, "%s", H->lp_why ? H->lp_why : "no log-probabilities");
        pthread_mutex_unlock(&H->mu);
    }
    if (m == LP_ECHO || m == LP_PROMPT || m == LP_NONE) {
        pthread_mutex_lock(&H->mu);
        if (H->lpm == LP_UNKNOWN) H->lpm = m;
        pthread_mutex_unlock(&H->mu);
    }
    free(echo_why); free(pl_why); free(fid); free(full); free(url);
    return s;
}

/* ---- embeddings ---- */

static gh_status http_embed(void *impl, const char *text, const char *pool, gh_embedding **out) {
    http_be *H = impl;
    if (pool && H->fl != FL_GOODHART)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: a %s server pools embeddings its own way; it cannot be asked for '%s' pooling", H->ref, flavour_name[H->fl], pool);
    cJSON *b = body_new(H);
    if (!b) return gh_error(GH_ERR_NOMEM, "out of memory");
    cJSON_AddStringToObject(b, "input", text);
    cJSON_AddStringToObject(b, "encoding_format", "float");
    if (pool) cJSON_AddStringToObject(b, "pooling", pool);
    char *url = url_of(H->base, "/embeddings");
    cJSON *a = NULL;
    gh_status s = url ? post1(H, url, b, &a, NULL, NULL) : gh_error(GH_ERR_NOMEM, "out of memory");
    cJSON_Delete(b);
    const cJSON *emb = NULL;
    if (!s) {
        emb = jget(cJSON_GetArrayItem(jget(a, "data"), 0), "embedding");
        if (!cJSON_IsArray(emb) || cJSON_GetArraySize(emb) == 0)
            s = gh_error(GH_ERR_FORMAT, "%s: the answer has no data[0].embedding array", url);
    }
    gh_embedding *e = NULL;
    if (!s) {
        e = calloc(1, sizeof *e);
        int32_t d = cJSON_GetArraySize(emb);
        if (e) e->data = malloc((size_t)d * sizeof *e->data);
        if (!e || !e->data) s = gh_error(GH_ERR_NOMEM, "out of memory");
        else {
            e->dim = d;
            double ss = 0;
            const cJSON *x = emb->child;
            for (int32_t i = 0; i < d && !s; i++, x = x->next) {
                if (!cJSON_IsNumber(x)) s = gh_error(GH_ERR_FORMAT, "%s: embedding element %d is not a number", url, i);
                else { e->data[i] = (float)x->valuedouble; ss += x->valuedouble * x->valuedouble; }
            }
            /* the contract is an L2-normalised vector, whatever the server did */
            if (!s && ss > 0) {
                double inv = 1.0 / sqrt(ss);
                if (fabs(ss - 1.0) > 1e-6)
                    for (int32_t i = 0; i < d; i++) e->data[i] = (float)(e->data[i] * inv);
            }
            double pt;
            if (jnum(jget(a, "usage"), "prompt_tokens", &pt)) e->n_tokens = (int32_t)pt;
        }
    }
    cJSON_Delete(a);
    free(url);
    if (s) { gh_embedding_free(e); return s; }
    *out = e;
    return GH_OK;
}

/* ---- hidden states (goodhart's /v1/hidden_states extension) ---- */

static gh_status http_hidden(void *impl, const char *text, const int32_t *layers, int32_t n_layers, gh_pool pool,
                             int32_t span_begin, int32_t span_end, gh_hidden **out) {
    http_be *H = impl;
    cJSON *b = body_new(H);
    if (!b) return gh_error(GH_ERR_NOMEM, "out of memory");
    cJSON_AddStringToObject(b, "input", text);
    cJSON *ls = cJSON_AddArrayToObject(b, "layers");
    for (int32_t i = 0; i < n_layers; i++) cJSON_AddItemToArray(ls, cJSON_CreateNumber(layers[i]));
    cJSON_AddStringToObject(b, "pooling", gh_pool_name(pool));
    cJSON_AddNumberToObject(b, "span_begin", span_begin);
    cJSON_AddNumberToObject(b, "span_end", span_end);
    char *url = url_of(H->base, "/hidden_states"); /* goodhart's extension */
    cJSON *a = NULL;
    gh_status s = url ? post1(H, url, b, &a, NULL, NULL) : gh_error(GH_ERR_NOMEM, "out of memory");
    cJSON_Delete(b);
    gh_hidden *h = NULL;
    if (!s) {
        const cJSON *d0 = cJSON_GetArrayItem(jget(a, "data"), 0);
        if (!d0) d0 = a;
        const cJSON *toks = jget(d0, "tokens"), *hs = jget(d0, "hidden");
        if (!hs) hs = jget(d0, "hidden_states");
        double sb = 0, se = 0;
        if (!cJSON_IsArray(hs) || cJSON_GetArraySize(hs) != n_layers)
            s = gh_error(GH_ERR_FORMAT, "%s: the answer has no \"hidden\" array of %d layers", url, n_layers);
        h = calloc(1, sizeof *h);
        if (!s && !h) s = gh_error(GH_ERR_NOMEM, "out of memory");
        if (!s) {
            h->n_layers = n_layers;
            h->layers = malloc((size_t)n_layers * sizeof *h->layers);
            if (!h->layers) s = gh_error(GH_ERR_NOMEM, "out of memory");
            else memcpy(h->layers, layers, (size_t)n_layers * sizeof *layers);
            if (cJSON_IsArray(toks)) {
                h->n_tokens = cJSON_GetArraySize(toks);
                h->tokens = malloc(((size_t)h->n_tokens + 1) * sizeof *h->tokens);
                const cJSON *x = toks->child;
                for (int32_t i = 0; h->tokens && i < h->n_tokens; i++, x = x->next)
                    h->tokens[i] = cJSON_IsNumber(x) ? (int32_t)x->valuedouble : -1;
            }
            const cJSON *span = jget(d0, "span");
            if (cJSON_IsArray(span) && cJSON_GetArraySize(span) == 2) {
                sb = cJSON_GetArrayItem(span, 0)->valuedouble;
                se = cJSON_GetArrayItem(span, 1)->valuedouble;
            } else {
                jnum(d0, "span_begin", &sb);
                jnum(d0, "span_end", &se);
            }
            h->span_begin = (int32_t)sb;
            h->span_end = (int32_t)se;
        }
        /* each layer: [rows][n_embd] (goodhart), or a bare [n_embd] row */
        for (int32_t l = 0; l < n_layers && !s; l++) {
            const cJSON *L = cJSON_GetArrayItem(hs, l);
            if (cJSON_IsObject(L)) L = jget(L, "data");
            const cJSON *first = cJSON_GetArrayItem(L, 0);
            bool rows = cJSON_IsArray(first);
            int32_t nr = rows ? cJSON_GetArraySize(L) : 1, E = rows ? cJSON_GetArraySize(first) : cJSON_GetArraySize(L);
            if (!cJSON_IsArray(L) || E <= 0) { s = gh_error(GH_ERR_FORMAT, "%s: hidden_states[%d] is not an array of numbers", url, l); break; }
            if (l == 0) {
                h->n_rows = nr;
                h->n_embd = E;
                h->data = malloc((size_t)n_layers * nr * E * sizeof *h->data);
                if (!h->data) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
            } else if (nr != h->n_rows || E != h->n_embd) {
                s = gh_error(GH_ERR_FORMAT, "%s: hidden_states[%d] is %dx%d, layer 0 was %dx%d", url, l, nr, E, h->n_rows, h->n_embd);
                break;
            }
            for (int32_t r = 0; r < nr && !s; r++) {
                const cJSON *row = rows ? cJSON_GetArrayItem(L, r) : L;
                if (cJSON_GetArraySize(row) != E) { s = gh_error(GH_ERR_FORMAT, "%s: hidden_states[%d] row %d has a different length", url, l, r); break; }
                int32_t i = 0;
                const cJSON *x;
                cJSON_ArrayForEach(x, row) {
                    if (!cJSON_IsNumber(x)) { s = gh_error(GH_ERR_FORMAT, "%s: hidden_states[%d] row %d holds a non-number", url, l, r); break; }
                    h->data[((size_t)l * nr + r) * E + i++] = (float)x->valuedouble;
                }
            }
        }
    }
    cJSON_Delete(a);
    free(url);
    if (s) { gh_hidden_free(h); return s; }
    *out = h;
    return GH_OK;
}

/* ---- reward scores ---- */

/* The score in a /pooling answer: data[0].data is a number, [score] (a
 * sequence head) or [[score], ...] per token (a reward head: the last token's). */
static bool pooled_score(const cJSON *d, double *v, int32_t *tok) {
    if (cJSON_IsNumber(d)) { *v = d->valuedouble; return true; }
    if (!cJSON_IsArray(d) || cJSON_GetArraySize(d) == 0) return false;
    const cJSON *last = cJSON_GetArrayItem(d, cJSON_GetArraySize(d) - 1);
    if (cJSON_IsNumber(last) && cJSON_GetArraySize(d) == 1) { *v = last->valuedouble; return true; }
    if (cJSON_IsArray(last) && cJSON_GetArraySize(last) >= 1 && cJSON_IsNumber(cJSON_GetArrayItem(last, 0))) {
        *v = cJSON_GetArrayItem(last, 0)->valuedouble;
        *tok = cJSON_GetArraySize(d) - 1;
        return true;
    }
    return false;
}

/* What a /v1/rewards answer says of the tokens it scored (goodhart serve
 * gives them all; other servers may give none): n_tokens, the ids, the
 * pooled token's id and whether EOS was appended. A field that is there but
 * malformed is an error naming it, not a guess. */
static gh_status reward_tokens(const cJSON *o, const char *url, gh_rm_score *r) {
    double v;
    const cJSON *ids = jget(o, "tokens"), *eos = jget(o, "eos_appended");
    /* -1: unknown, as gh_rm_score says it */
    if (jnum(o, "n_tokens", &v) && v != -1) {
        if (!(v >= 0 && v <= (1 << 24) && v == floor(v)))
            return gh_error(GH_ERR_FORMAT, "%s: \"n_tokens\" is %g, not a token count", url, v);
        r->n_tokens = (int32_t)v;
    }
    if (jnum(o, "pooled_token_id", &v) && v != -1) {
        if (!is_token_id(v)) return gh_error(GH_ERR_FORMAT, "%s: \"pooled_token_id\" is %g, not a token id", url, v);
        r->pooled_token_id = (int32_t)v;
    }
    if (eos && !cJSON_IsBool(eos)) return gh_error(GH_ERR_FORMAT, "%s: \"eos_appended\" is not true or false", url);
    if (eos) r->eos_appended = cJSON_IsTrue(eos);
    if (!ids) return GH_OK;
    const int32_t n = cJSON_IsArray(ids) ? cJSON_GetArraySize(ids) : -1;
    if (n < 0 || (r->n_tokens >= 0 && n != r->n_tokens))
        return gh_error(GH_ERR_FORMAT, "%s: \"tokens\" is not an array of n_tokens (%d) ids", url, r->n_tokens);
    r->tokens = malloc(((size_t)n + 1) * sizeof *r->tokens);
    if (!r->tokens) return gh_error(GH_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(ids, i);
        if (!cJSON_IsNumber(e) || !is_token_id(e->valuedouble))
            return gh_error(GH_ERR_FORMAT, "%s: \"tokens\"[%d] is not a token id", url, i);
        r->tokens[i] = (int32_t)e->valuedouble;
    }
    r->n_tokens = n;
    return GH_OK;
}

static gh_status http_score(void *impl, const char *prompt, const char *response, gh_rm_score **out) {
    http_be *H = impl;
    gh_rm_score *r = calloc(1, sizeof *r);
    if (!r) return gh_error(GH_ERR_NOMEM, "out of memory");
    r->pooled_token = r->pooled_token_id = r->n_tokens = -1; /* unknown unless the server says */
    gh_status s = GH_OK;
    /* the text scored: a chat template chosen here renders the exchange;
     * otherwise the prompt and the response as they are */
    if (H->chat_template) {
        gh_chat_msg msgs[2] = {{"user", prompt}, {"assistant", response}};
        s = gh_chat_render(H->chat_template, msgs, 2, false, NULL, NULL, &r->text);
        if (!s && !(r->chat_template = strdup(H->chat_template))) s = gh_error(GH_ERR_NOMEM, "out of memory");
    } else {
        r->text = dupfmt(prompt, response);
        if (!r->text) s = gh_error(GH_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_lock(&H->mu);
    rw_method m = H->rwm;
    pthread_mutex_unlock(&H->mu);
    char why[3][512] = {"not tried", "not tried", "not tried"};
    const rw_method order[3] = {RW_REWARDS, RW_POOLING, RW_CLASSIFY};
    bool done = false;
    for (int32_t oi = 0; oi < 3 && !s && !done; oi++) {
        rw_method w = order[oi];
        if (m != RW_UNKNOWN && m != w) continue;
        if (m == RW_UNKNOWN && w == RW_REWARDS && H->fl == FL_VLLM) continue; /* vLLM: /pooling, /classify */
        if (w != RW_REWARDS && H->fl == FL_GOODHART) continue;              /* goodhart: /v1/rewards only */
        cJSON *b = body_new(H);
        char *url = NULL;
        if (w == RW_REWARDS) {
            /* the server renders the pair itself and says what it scored */
            url = url_of(H->base, "/rewards");
            cJSON_AddStringToObject(b, "prompt", prompt);
            cJSON_AddStringToObject(b, "response", response);
        } else {
            url = url_of(H->root, w == RW_POOLING ? "/pooling" : "/classify");
            cJSON_AddStringToObject(b, "input", r->text);
        }
        cJSON *a = NULL;
        long st = 0;
        char *em = NULL;
        s = url ? post1(H, url, b, &a, &st, &em) : gh_error(GH_ERR_NOMEM, "out of memory");
        cJSON_Delete(b);
        if (s && m == RW_UNKNOWN && (st == 404 || st == 405 || st == 400 || st == 501)) {
            snprintf(why[oi], sizeof why[oi], "HTTP %ld: %s", st, em ? em : "");
            s = GH_OK;
        } else if (!s) {
            const cJSON *d0 = cJSON_GetArrayItem(jget(a, "data"), 0);
            double v = NAN, pt = -1;
            if (w == RW_REWARDS) {
                const cJSON *o = d0 ? d0 : a;
                if (!jnum(o, "score", &v)) s = gh_error(GH_ERR_FORMAT, "%s: the answer has no \"score\" number", url);
                if (jnum(o, "pooled_token_index", &pt) || jnum(o, "pooled_token", &pt)) r->pooled_token = (int32_t)pt;
                if (!s) s = reward_tokens(o, url, r);
                const char *tx = jstr(o, "text");
                if (!s && tx && strcmp(tx, r->text) != 0) {
                    char *c = strdup(tx);
                    if (c) { free(r->text); r->text = c; }
                }
                const char *tpl = jstr(o, "chat_template");
                free(r->chat_template); /* what the server applied, not what was asked here */
                r->chat_template = tpl ? strdup(tpl) : NULL;
            } else if (w == RW_POOLING) {
                int32_t tok = -1;
                if (!pooled_score(jget(d0, "data"), &v, &tok))
                    s = gh_error(GH_ERR_FORMAT, "%s: data[0].data is neither a score, [score] nor per-token [[score], ...]", url);
                r->pooled_token = tok;
            } else {
                const cJSON *probs = jget(d0, "probs");
                if (!cJSON_IsArray(probs) || cJSON_GetArraySize(probs) != 1 || !cJSON_IsNumber(cJSON_GetArrayItem(probs, 0)))
                    s = gh_error(GH_ERR_UNSUPPORTED, "%s: /classify answers class probabilities (%d classes), not one reward; serve the model for /pooling", url,
                                 cJSON_IsArray(probs) ? cJSON_GetArraySize(probs) : 0);
                else {
                    /* vLLM passes a single-label head through a sigmoid: undo it */
                    double p = cJSON_GetArrayItem(probs, 0)->valuedouble;
                    if (!(p > 0 && p < 1))
                        s = gh_error(GH_ERR_UNSUPPORTED, "%s: /classify gives the probability %g, from which no raw score can be recovered; use /pooling", url, p);
                    else v = log(p / (1 - p));
                }
            }
            if (!s) { r->score = v; done = true; m = w; }
        }
        cJSON_Delete(a);
        free(em);
        free(url);
    }
    if (!s && !done)
        s = gh_error(GH_ERR_UNSUPPORTED, "%s: this %s server gives no reward scores: /v1/rewards answered '%s'; /pooling '%s'; /classify '%s'",
                     H->ref, flavour_name[H->fl], why[0], why[1], why[2]);
    if (!s) {
        pthread_mutex_lock(&H->mu);
        H->rwm = m;
        pthread_mutex_unlock(&H->mu);
    }
    if (s) { gh_rm_score_free(r); return s; }
    *out = r;
    return GH_OK;
}

/* ---- opening ---- */

static void http_free(void *impl) {
    http_be *H = impl;
    if (!H) return;
    gh_http_client_free(H->cl);
    pthread_mutex_destroy(&H->mu);
    free(H->ref); free(H->base); free(H->root); free(H->model); free(H->chat_template); free(H->lp_why);
    free(H);
}

static const gh_backend_ops http_ops = {
    .kind = "http",
    .free = http_free,
    .generate = http_generate,
    .logprob = http_logprob,
    .logprob_tokens = NULL,
    .hidden = http_hidden,
    .chat = http_chat,
    .embed = http_embed,
    .score = http_score,
    .dims = http_dims,
    .model_sha256 = http_model_sha256,
    .tokenize = http_tokenize,
};

/* GET /v1/models: the model to use and the kind of server. */
static gh_status probe_models(http_be *H, const char *want) {
    char *url = url_of(H->base, "/models");
    if (!url) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_http_req r = {.method = "GET", .url = url};
    gh_status s = gh_http_run(H->cl, &r, 1);
    cJSON *a = NULL;
    if (s) {
        if (want && (r.status == 404 || r.status == 405)) { /* no model list: take the name given */
            s = GH_OK;
            H->model = strdup(want);
            if (!H->model) s = gh_error(GH_ERR_NOMEM, "out of memory");
        }
        goto done;
    }
    if ((s = parse_answer(&r, &a))) goto done;
    const cJSON *data = jget(a, "data"), *pick = NULL, *e;
    int32_t nm = cJSON_IsArray(data) ? cJSON_GetArraySize(data) : 0;
    if (nm == 0 && !want) { s = gh_error(GH_ERR_FORMAT, "%s: the server lists no model", url); goto done; }
    char names[512] = "";
    cJSON_ArrayForEach(e, data) {
        const char *id = jstr(e, "id");
        if (!id) continue;
        if (strlen(names) + strlen(id) + 3 < sizeof names) { if (names[0]) strcat(names, ", "); strcat(names, id); }
        if (want ? !strcmp(id, want) : !pick) pick = e;
    }
    if (!want && nm > 1) {
        s = gh_error(GH_ERR_INVALID_ARG, "%s serves %d models (%s): name one as %s#MODEL", H->base, nm, names, H->base);
        goto done;
    }
    if (want && !pick && nm > 0) {
        s = gh_error(GH_ERR_INVALID_ARG, "%s does not serve a model '%s' (it serves: %s)", H->base, want, names);
        goto done;
    }
    H->model = strdup(want ? want : jstr(pick, "id"));
    if (!H->model) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    const char *owner = pick ? jstr(pick, "owned_by") : NULL;
    if (owner && !strcmp(owner, "goodhart")) H->fl = FL_GOODHART;
    else if (owner && !strcmp(owner, "vllm")) H->fl = FL_VLLM;
    else if (owner && (!strcmp(owner, "llamacpp") || !strcmp(owner, "llama.cpp"))) H->fl = FL_LLAMACPP;
    double v;
    const cJSON *meta = pick ? jget(pick, "meta") : NULL;
    const cJSON *src[2] = {pick, cJSON_IsObject(meta) ? meta : NULL};
    for (int i = 0; i < 2; i++) {
        if (!src[i]) continue;
        if (jnum(src[i], "n_vocab", &v) || jnum(src[i], "vocab_size", &v)) H->n_vocab = (int32_t)v;
        if (jnum(src[i], "n_ctx", &v) || jnum(src[i], "max_model_len", &v) || jnum(src[i], "n_ctx_train", &v)) H->n_ctx = (int32_t)v;
        if (jnum(src[i], "n_embd", &v) || jnum(src[i], "embedding_size", &v)) H->n_embd = (int32_t)v;
        if (jnum(src[i], "n_layer", &v) || jnum(src[i], "n_layers", &v)) H->n_layer = (int32_t)v;
    }
    /* the model file's hash (goodhart serve): taken only as 64 lowercase hex digits */
    const char *sha = cJSON_IsObject(meta) ? jstr(meta, "sha256") : NULL;
    if (sha && strlen(sha) == 64 && strspn(sha, "0123456789abcdef") == 64) memcpy(H->sha256, sha, 65);
    const cJSON *cl = cJSON_IsObject(meta) ? jget(meta, "capabilities") : NULL;
    if (cJSON_IsArray(cl)) {
        static const struct { uint32_t c; const char *n; } names[] = {
            {GH_CAP_GENERATE, "generate"}, {GH_CAP_LOGPROB, "logprob"}, {GH_CAP_HIDDEN, "hidden"}, {GH_CAP_EMBED, "embed"},
            {GH_CAP_REWARD, "reward"}, {GH_CAP_TOKENIZE, "tokenize"}, {GH_CAP_CHAT, "chat"}};
        H->caps_listed = true;
        cJSON_ArrayForEach(e, cl)
            for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                if (cJSON_IsString(e) && !strcmp(e->valuestring, names[i].n)) H->caps |= names[i].c;
        /* goodhart's /v1/embeddings mean-pools hidden states for models that are not embedding models */
        if (H->caps & GH_CAP_HIDDEN) H->caps |= GH_CAP_EMBED;
    }
done:
    cJSON_Delete(a);
    gh_http_req_clear(&r);
    free(url);
    return s;
}

gh_status gh_backend_open_http(const char *url, const gh_backend_params *p, gh_backend *b) {
    http_be *H = calloc(1, sizeof *H);
    if (!H) return gh_error(GH_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&H->mu, NULL);
    H->tokenize = -1;
    gh_status s = GH_OK;
    H->ref = strdup(url);
    const char *hash = strchr(url, '#');
    size_t bl = hash ? (size_t)(hash - url) : strlen(url);
    while (bl > 0 && url[bl - 1] == '/') bl--;
    H->base = strndup(url, bl);
    char *want = hash && hash[1] ? strdup(hash + 1) : NULL;
    if (!H->ref || !H->base || (hash && hash[1] && !want)) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto fail; }
    if (hash && !hash[1]) { s = gh_error(GH_ERR_INVALID_ARG, "%s: empty model name after '#'", url); goto fail; }
    const char *hostpart = strstr(H->base, "://") + 3;
    if (!*hostpart || *hostpart == '/') { s = gh_error(GH_ERR_INVALID_ARG, "%s: no host in the URL", url); goto fail; }
    {
        size_t rl = bl;
        if (rl >= 3 && !strcmp(H->base + rl - 3, "/v1")) rl -= 3;
        H->root = strndup(H->base, rl);
        if (!H->root) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto fail; }
    }
    if (p->chat_template && !(H->chat_template = strdup(p->chat_template))) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto fail; }
    gh_http_opts o = gh_http_default_opts();
    if (p->api_key_env && *p->api_key_env) {
        const char *key = getenv(p->api_key_env);
        if (!key || !*key) {
            s = gh_error(GH_ERR_INVALID_ARG, "%s: the API key's environment variable %s is not set (or empty)", url, p->api_key_env);
            goto fail;
        }
        o.api_key = key;
    }
    o.cache_path = p->cache_path;
    if (p->max_inflight > 0) o.max_inflight = p->max_inflight;
    if (p->timeout_s > 0) o.timeout_s = p->timeout_s;
    if (p->max_retries >= 0) o.max_retries = p->max_retries;
    if ((s = gh_http_client_init(&o, &H->cl))) goto fail;
    if ((s = probe_models(H, want))) goto fail;
    free(want);
    want = NULL;
    b->ops = &http_ops;
    b->impl = H;
    if (H->caps_listed) {
        /* the server said what its model can do: a method that needs more fails before any work */
        b->caps = H->caps;
    } else {
        /* other servers do not say: every OpenAI operation is assumed, and a
         * missing one fails on first use with the server's own answer */
        b->caps = GH_CAP_GENERATE | GH_CAP_CHAT | GH_CAP_LOGPROB | GH_CAP_EMBED | GH_CAP_REWARD;
        if (H->fl != FL_GENERIC) b->caps |= GH_CAP_TOKENIZE;
        if (H->fl == FL_GOODHART) b->caps |= GH_CAP_HIDDEN;
    }
    return GH_OK;
fail:
    free(want);
    http_free(H);
    return s;
}
