/* handlers.c — the server's endpoints: routing, the API key, and one handler
 * per endpoint that checks its request (request.c), runs the work (generation
 * through the batching scheduler, everything else as a call on the scheduler
 * thread) and writes the response in the shapes OpenAI and vLLM use, so any
 * OpenAI client reads it. docs/serve.md lists every field. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend_impl.h"
#include "base/rng.h"
#include "base/utf8.h"
#include "serve/serve_internal.h"

#define MAX_LOGPROBS 100     /* top log-probabilities per token (vLLM's default limit is 20) */
#define MAX_HIDDEN_FLOATS (16 << 20)

/* ---- small JSON helpers ---- */

/* A JSON string of s[0..len), invalid UTF-8 replaced (JSON must be UTF-8). */
static cJSON *jstr(const char *s, size_t len) {
    char *u = gh_utf8_sanitize(s ? s : "", s ? len : 0);
    cJSON *j = cJSON_CreateString(u ? u : "");
    free(u);
    return j;
}

static void add_str(cJSON *o, const char *k, const char *s, size_t len) { cJSON_AddItemToObject(o, k, jstr(s, len)); }

static cJSON *int_array(const int32_t *v, int32_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int32_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

/* A float as a JSON number with 9 significant digits: enough to read back the
 * same float exactly, and half the text of a double's 17. */
static cJSON *jfloat(float v) {
    if (!isfinite(v)) return cJSON_CreateNull();
    char b[32];
    snprintf(b, sizeof b, "%.9g", (double)v);
    return cJSON_CreateRaw(b);
}

static cJSON *float_array(const float *v, int64_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; i < n; i++) cJSON_AddItemToArray(a, jfloat(v[i]));
    return a;
}

/* Base64 of n float32 values, little-endian (what OpenAI's encoding_format
 * "base64" carries). */
static cJSON *float_base64(const float *v, int64_t n) {
    static const char tb[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t nb = (size_t)n * 4, no = (nb + 2) / 3 * 4;
    char *o = malloc(no + 1);
    if (!o) return NULL;
    const unsigned char *b = (const unsigned char *)v; /* x86/ARM Linux: little-endian */
    size_t k = 0;
    for (size_t i = 0; i < nb; i += 3) {
        uint32_t x = (uint32_t)b[i] << 16 | (i + 1 < nb ? (uint32_t)b[i + 1] << 8 : 0) | (i + 2 < nb ? b[i + 2] : 0);
        o[k++] = tb[x >> 18 & 63];
        o[k++] = tb[x >> 12 & 63];
        o[k++] = i + 1 < nb ? tb[x >> 6 & 63] : '=';
        o[k++] = i + 2 < nb ? tb[x & 63] : '=';
    }
    o[k] = '\0';
    cJSON *j = cJSON_CreateString(o);
    free(o);
    return j;
}

static cJSON *float_out(const float *v, int64_t n, bool b64) { return b64 ? float_base64(v, n) : float_array(v, n); }

/* ---- replies ---- */

static void reply_err(const srv_err *e, int32_t *status, char **resp) {
    *status = e->status;
    *resp = srv_err_json(e);
}

static void reply_json(cJSON *root, int32_t *status, char **resp) {
    *resp = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (*resp) { *status = 200; return; }
    srv_err e;
    srv_fail(&e, 503, "server_error", "out_of_memory", NULL, "out of memory while writing the response");
    reply_err(&e, status, resp);
}

/* 503 out_of_memory, the one failure every handler can meet while building its reply. */
static int oom(srv_err *e) { return srv_fail(e, 503, "server_error", "out_of_memory", NULL, "out of memory"); }

/* The {"object": "list", "model": ..., "data": [...]} reply of /v1/hidden and
 * /v1/rewards; *data is its array to fill. */
static cJSON *list_reply(srv *s, cJSON **data) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "object", "list");
    cJSON_AddStringToObject(r, "model", s->model_name);
    *data = cJSON_AddArrayToObject(r, "data");
    return r;
}

static cJSON *usage_obj(int64_t prompt, int64_t completion) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)completion);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(prompt + completion));
    return u;
}

/* The id of a response: a prefix and a number unique within this process. */
static void make_id(srv *s, const char *prefix, char *buf, size_t n) {
    uint64_t k = __atomic_add_fetch(&s->req_counter, 1, __ATOMIC_RELAXED);
    snprintf(buf, n, "%s-%llx%06llx", prefix, (unsigned long long)s->created, (unsigned long long)k);
}

static cJSON *response_head(srv *s, const char *prefix, const char *object) {
    char id[64];
    make_id(s, prefix, id, sizeof id);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", id);
    cJSON_AddStringToObject(r, "object", object);
    cJSON_AddNumberToObject(r, "created", (double)time(NULL));
    cJSON_AddStringToObject(r, "model", s->model_name);
    return r;
}

/* ---- shared request pieces ---- */

static int check_model(srv *s, const cJSON *req, srv_err *e) {
    const char *m;
    if (req_str(req, "model", false, &m, e)) return -1;
    if (m && strcmp(m, s->model_name) && strcmp(m, gh_backend_ref(s->b)))
        return srv_fail(e, 404, "invalid_request_error", "model_not_found", "model",
                        "the model '%.200s' does not exist; this server serves '%s'", m, s->model_name);
    return 0;
}

/* Fields OpenAI defines that this server only accepts at their neutral value. */
static int check_neutral(const cJSON *req, srv_err *e) {
    double d;
    bool b;
    if (req_num(req, "presence_penalty", -2, 2, 0, &d, e)) return -1;
    if (d != 0) return srv_bad(e, "unsupported", "presence_penalty", "presence_penalty is not supported (only 0)");
    if (req_num(req, "frequency_penalty", -2, 2, 0, &d, e)) return -1;
    if (d != 0) return srv_bad(e, "unsupported", "frequency_penalty", "frequency_penalty is not supported (only 0)");
    if (req_bool(req, "stream", false, &b, e)) return -1;
    if (b) return srv_bad(e, "unsupported", "stream", "streaming is not supported; send \"stream\": false");
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(req, "logit_bias");
    if (lb && !cJSON_IsNull(lb)) {
        if (!cJSON_IsObject(lb)) return srv_bad(e, "invalid_type", "logit_bias", "'logit_bias' must be an object");
        if (lb->child) return srv_bad(e, "unsupported", "logit_bias", "logit_bias is not supported (only {})");
    }
    const char *u;
    if (req_str(req, "user", false, &u, e)) return -1;
    return 0;
}

/* The sampling fields shared by completions and chat. */
static int parse_sampling(srv *s, const cJSON *req, const char *body, size_t len, gh_sampler_params *sp, int64_t *n, srv_err *e) {
    double d;
    int64_t v;
    bool b;
    *sp = gh_sampler_default_params();
    if (req_num(req, "temperature", 0, 100, 1, &d, e)) return -1;
    sp->temp = (float)d;
    if (req_num(req, "top_p", 0, 1, 1, &d, e)) return -1;
    if (d <= 0) return srv_bad(e, "invalid_value", "top_p", "'top_p' must be in (0, 1], got %g", d);
    sp->top_p = (float)d;
    if (req_num(req, "min_p", 0, 1, 0, &d, e)) return -1;
    sp->min_p = (float)d;
    if (req_int(req, "top_k", -1, 1 << 30, 0, &v, e)) return -1;
    sp->top_k = v < 0 ? 0 : (int32_t)v;
    if (req_int(req, "n", 1, s->p.max_n, 1, n, e)) return -1;
    bool has_seed;
    if (req_seed(body, len, req, &sp->seed, &has_seed, e)) return -1;
    if (!has_seed) { /* OpenAI: no seed, no reproducibility; a fresh one per request */
        gh_rng r;
        gh_rng_seed(&r, (uint64_t)time(NULL), __atomic_add_fetch(&s->req_counter, 1, __ATOMIC_RELAXED));
        sp->seed = gh_rng_next(&r) >> 12;
    }
    if (req_int(req, "first_sample", 0, INT32_MAX - s->p.max_n, 0, &v, e)) return -1;
    sp->first_sample = (int32_t)v;
    if (req_bool(req, "ignore_eos", false, &b, e)) return -1;
    sp->stop_at_eog = !b;
    return 0;
}

/* Tokenizes text as local.c does: after the model's BOS when add_bos (and the
 * model adds one); special-token texts are read as tokens only for chat
 * templates (parse_special), as gh_backend_chat does. */
static int tokenize(srv *s, const char *text, bool add_bos, bool parse_special, int32_t **ids, int32_t *n, srv_err *e) {
    int32_t *t = NULL;
    size_t nt = 0;
    gh_status st = gh_tokenize(s->tok, text, strlen(text), false, parse_special, &t, &nt);
    if (st) return srv_fail_status(e, st, "prompt");
    int32_t bos = gh_tokenizer_bos(s->tok);
    int32_t extra = add_bos && gh_tokenizer_add_bos(s->tok) && bos >= 0;
    int32_t *o = malloc((nt + (size_t)extra + 1) * sizeof *o);
    if (!o) { free(t); return oom(e); }
    if (extra) o[0] = bos;
    if (nt) memcpy(o + extra, t, nt * sizeof *o);
    free(t);
    *ids = o;
    *n = (int32_t)nt + extra;
    return 0;
}

/* The piece of token id after prev, malloc'd. */
static char *piece(srv *s, int32_t prev, int32_t id, int32_t *len) { return gh_token_piece_dup(s->tok, prev, id, len); }

/* ---- calls run on the scheduler thread ---- */

/* The library's error message lives in a thread-local buffer, so a call
 * records its own failure for the handler to read. */
typedef struct call_status {
    gh_status st;
    char msg[1024];
} call_status;

static void call_fail(call_status *c, gh_status st) {
    c->st = st;
    snprintf(c->msg, sizeof c->msg, "%s", gh_last_error());
}

static int call_err(const call_status *c, srv_err *e, const char *param) {
    gh_error(c->st, "%s", c->msg);
    return srv_fail_status(e, c->st, param);
}

/* Runs fn(arg) on the scheduler's thread (the only one that touches the
 * model); a failure the call recorded in *cs becomes the error about `param`. */
static int run_call(srv *s, void (*fn)(void *), void *arg, const call_status *cs, const char *param, srv_err *e) {
    sched_job j;
    memset(&j, 0, sizeof j);
    j.fn = fn;
    j.arg = arg;
    if (sched_run(s->sc, &j, e)) return -1;
    return cs->st ? call_err(cs, e, param) : 0;
}

typedef struct prompt_lp_call {
    srv *s;
    gen_group *groups;
    int32_t n_groups, top_k;
    gh_logprobs **out;
    call_status cs;
} prompt_lp_call;

/* Echo: log-probabilities of each prompt's own tokens after its first. */
static void prompt_lp_fn(void *arg) {
    prompt_lp_call *c = arg;
    for (int32_t k = 0; k < c->n_groups && !c->cs.st; k++) {
        const gen_group *g = &c->groups[k];
        gh_status st = gh_backend_logprob_tokens(c->s->b, g->prompt, 1, g->prompt + 1, g->np - 1, c->top_k, &c->out[k]);
        if (st) call_fail(&c->cs, st);
    }
}

/* ---- /v1/models, /health ---- */

static void h_models(srv *s, int32_t *status, char **resp) {
    const gh_model_info *I = gh_model_get_info(s->m);
    cJSON *r = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(r, "data"), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "object", "list");
    cJSON_AddItemToArray(data, m);
    cJSON_AddStringToObject(m, "id", s->model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->created);
    cJSON_AddStringToObject(m, "owned_by", "goodhart");
    add_str(m, "root", gh_backend_ref(s->b), strlen(gh_backend_ref(s->b)));
    cJSON_AddNumberToObject(m, "max_model_len", s->n_ctx);
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    add_str(meta, "arch", I->arch, strlen(I->arch));
    cJSON_AddNumberToObject(meta, "n_vocab", I->n_vocab);
    cJSON_AddNumberToObject(meta, "n_ctx_train", I->n_ctx_train);
    cJSON_AddNumberToObject(meta, "n_ctx", s->n_ctx);
    cJSON_AddNumberToObject(meta, "n_embd", I->n_embd);
    cJSON_AddNumberToObject(meta, "n_layer", I->n_layer);
    cJSON_AddNumberToObject(meta, "n_head", I->n_head);
    cJSON_AddNumberToObject(meta, "n_params", (double)I->n_params);
    /* hashed at attach (read here, never recomputed: handlers run on many
     * threads); "" if the file could not be read */
    if (I->sha256[0]) cJSON_AddStringToObject(meta, "sha256", I->sha256);
    cJSON *caps = cJSON_AddArrayToObject(meta, "capabilities");
    static const struct { uint32_t c; const char *n; } cn[] = {
        {GH_CAP_GENERATE, "generate"}, {GH_CAP_LOGPROB, "logprob"}, {GH_CAP_HIDDEN, "hidden"},
        {GH_CAP_EMBED, "embed"}, {GH_CAP_REWARD, "reward"}, {GH_CAP_TOKENIZE, "tokenize"}, {GH_CAP_CHAT, "chat"}};
    uint32_t c = gh_backend_caps(s->b);
    for (size_t i = 0; i < sizeof cn / sizeof cn[0]; i++)
        if (c & cn[i].c) cJSON_AddItemToArray(caps, cJSON_CreateString(cn[i].n));
    reply_json(r, status, resp);
}

/* ---- chat messages ---- */

typedef struct chat_msgs {
    gh_chat_msg *m;
    char **owned; /* contents joined from parts */
    int32_t n;
} chat_msgs;

static void chat_msgs_free(chat_msgs *c) {
    for (int32_t i = 0; i < c->n; i++) free(c->owned[i]);
    free(c->owned);
    free(c->m);
    memset(c, 0, sizeof *c);
}

static int parse_messages(const cJSON *req, chat_msgs *cm, srv_err *e) {
    memset(cm, 0, sizeof *cm);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "messages");
    if (!v || cJSON_IsNull(v)) return srv_bad(e, "missing_field", "messages", "'messages' is required");
    if (!cJSON_IsArray(v)) return srv_bad(e, "invalid_type", "messages", "'messages' must be a list of messages");
    int32_t n = cJSON_GetArraySize(v);
    if (n == 0) return srv_bad(e, "invalid_value", "messages", "'messages' is empty");
    if (n > 4096) return srv_bad(e, "invalid_value", "messages", "'messages' holds %d messages; at most 4096", n);
    cm->m = calloc((size_t)n, sizeof *cm->m);
    cm->owned = calloc((size_t)n, sizeof *cm->owned);
    if (!cm->m || !cm->owned) { chat_msgs_free(cm); return oom(e); }
    cm->n = n;
    static const char *const fields[] = {"role", "content", "name", NULL};
    int32_t i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        char p[48];
        snprintf(p, sizeof p, "messages[%d]", i);
        if (!cJSON_IsObject(c)) { chat_msgs_free(cm); return srv_bad(e, "invalid_type", p, "%s must be an object", p); }
        if (req_fields(c, fields, e)) { chat_msgs_free(cm); return -1; }
        const char *role, *name;
        if (req_str(c, "role", true, &role, e) || req_str(c, "name", false, &name, e)) { chat_msgs_free(cm); return -1; }
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant")) {
            chat_msgs_free(cm);
            return srv_bad(e, "invalid_value", p, "%s has role '%.40s'; roles are system, user and assistant", p, role);
        }
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(c, "content");
        if (cJSON_IsString(ct)) cm->m[i].content = ct->valuestring;
        else if (cJSON_IsArray(ct)) { /* [{"type": "text", "text": "..."}, ...], joined */
            size_t L = 0;
            for (const cJSON *q = ct->child; q; q = q->next) {
                const cJSON *ty = cJSON_GetObjectItemCaseSensitive(q, "type"), *tx = cJSON_GetObjectItemCaseSensitive(q, "text");
                if (!cJSON_IsObject(q) || !cJSON_IsString(ty) || strcmp(ty->valuestring, "text") || !cJSON_IsString(tx) ||
                    cJSON_GetArraySize(q) != 2) {
                    chat_msgs_free(cm);
                    return srv_bad(e, "invalid_value", p, "%s: content parts must be {\"type\": \"text\", \"text\": \"...\"}", p);
                }
                L += strlen(tx->valuestring);
            }
            char *o = malloc(L + 1);
            if (!o) { chat_msgs_free(cm); return oom(e); }
            size_t k = 0;
            for (const cJSON *q = ct->child; q; q = q->next) {
                const char *t = cJSON_GetObjectItemCaseSensitive(q, "text")->valuestring;
                memcpy(o + k, t, strlen(t));
                k += strlen(t);
            }
            o[k] = '\0';
            cm->owned[i] = o;
            cm->m[i].content = o;
        } else {
            chat_msgs_free(cm);
            return srv_bad(e, "invalid_type", p, "%s needs 'content', a string or a list of text parts", p);
        }
        cm->m[i].role = role;
    }
    return 0;
}

/* The chat prompt: the template's text, tokenized without an added BOS (the
 * template writes its own) and with its special-token texts read as tokens,
 * exactly as gh_backend_chat does. */
static int render_chat(srv *s, const chat_msgs *cm, bool add_gen, int32_t **ids, int32_t *n, srv_err *e) {
    char *prompt = NULL;
    gh_status st = gh_chat_render_for_model(s->m, s->b->chat_template, cm->m, cm->n, add_gen, &prompt, NULL);
    if (st) return srv_bad(e, "chat_template_error", "messages", "cannot apply the chat template: %s", gh_last_error());
    int rc = tokenize(s, prompt, false, true, ids, n, e);
    free(prompt);
    return rc;
}

/* ---- /tokenize, /detokenize ---- */

static void h_tokenize(srv *s, const cJSON *req, const char *raw, size_t raw_len, int32_t *status, char **resp) {
    (void)raw; (void)raw_len;
    static const char *const fields[] = {"model", "prompt", "messages", "add_special_tokens", "add_generation_prompt",
                                         "return_token_strs", NULL};
    srv_err e;
    const char *prompt;
    bool chat = cJSON_GetObjectItemCaseSensitive(req, "messages") != NULL, add_special, add_gen, strs;
    int32_t *ids = NULL, n = 0;
    chat_msgs cm = {0};
    if (req_fields(req, fields, &e) || check_model(s, req, &e) ||
        req_bool(req, "add_special_tokens", !chat, &add_special, &e) ||
        req_bool(req, "add_generation_prompt", true, &add_gen, &e) || req_bool(req, "return_token_strs", false, &strs, &e))
        goto fail;
    if (chat) {
        if (cJSON_GetObjectItemCaseSensitive(req, "prompt")) { srv_bad(&e, "invalid_value", "prompt", "send 'prompt' or 'messages', not both"); goto fail; }
        if (parse_messages(req, &cm, &e) || render_chat(s, &cm, add_gen, &ids, &n, &e)) goto fail;
    } else {
        if (req_str(req, "prompt", true, &prompt, &e) || tokenize(s, prompt, add_special, false, &ids, &n, &e)) goto fail;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "count", n);
    cJSON_AddNumberToObject(r, "max_model_len", s->n_ctx);
    cJSON_AddItemToObject(r, "tokens", int_array(ids, n));
    if (strs) {
        cJSON *a = cJSON_AddArrayToObject(r, "token_strs");
        for (int32_t i = 0; i < n; i++) {
            const char *t = gh_tokenizer_token_text(s->tok, ids[i]);
            cJSON_AddItemToArray(a, jstr(t, t ? strlen(t) : 0));
        }
    }
    free(ids);
    chat_msgs_free(&cm);
    reply_json(r, status, resp);
    return;
fail:
    free(ids);
    chat_msgs_free(&cm);
    reply_err(&e, status, resp);
}

static void h_detokenize(srv *s, const cJSON *req, const char *raw, size_t raw_len, int32_t *status, char **resp) {
    (void)raw; (void)raw_len;
    static const char *const fields[] = {"model", "tokens", NULL};
    srv_err e;
    int32_t *ids = NULL, n = 0;
    const gh_model_info *I = gh_model_get_info(s->m);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(req, "tokens");
    if (req_fields(req, fields, &e) || check_model(s, req, &e)) goto fail;
    if (!t) { srv_bad(&e, "missing_field", "tokens", "'tokens' is required"); goto fail; }
    if (req_ids(t, "tokens", I->n_vocab, 1 << 20, &ids, &n, &e)) goto fail;
    char *text = NULL;
    size_t len = 0;
    gh_status st = gh_detokenize(s->tok, ids, (size_t)n, false, &text, &len);
    free(ids);
    if (st) { srv_fail_status(&e, st, "tokens"); goto fail; }
    cJSON *r = cJSON_CreateObject();
    add_str(r, "prompt", text, len);
    free(text);
    reply_json(r, status, resp);
    return;
fail:
    reply_err(&e, status, resp);
}

/* ---- completions and chat ---- */

typedef struct gen_req {
    srv_input *in;
    int32_t n_in;
    int32_t **prompt;      /* [n_in] tokens of each prompt */
    int32_t *np;
    gen_group *groups;     /* [n_in] */
    const char **stops;
    gh_logprobs **plp;     /* echo: prompt log-probabilities */
} gen_req;

static void gen_req_free(gen_req *g) {
    for (int32_t k = 0; k < g->n_in; k++) {
        if (g->prompt) free(g->prompt[k]);
        if (g->groups && g->groups[k].out)
            for (int32_t i = 0; i < g->groups[k].n; i++) gen_out_free(&g->groups[k].out[i]);
        if (g->groups) free(g->groups[k].out);
        if (g->plp) gh_logprobs_free(g->plp[k]);
    }
    free(g->prompt);
    free(g->np);
    free(g->groups);
    free(g->plp);
    free((void *)g->stops);
    req_inputs_free(g->in, g->n_in);
}

/* Sets up group k: prompt tokens, settings, outputs. max_tokens < 0: what is
 * left of the context (capped by the server's limit). */
static int setup_group(srv *s, gen_req *G, int32_t k, const gh_sampler_params *sp, int64_t n, int64_t max_tokens,
                       int32_t n_stops, int32_t top_k, srv_err *e) {
    gen_group *g = &G->groups[k];
    int32_t np = G->np[k];
    const int32_t limit = s->p.max_tokens > 0 && s->p.max_tokens < s->n_ctx ? s->p.max_tokens : s->n_ctx;
    if (np == 0) return srv_bad(e, "invalid_value", "prompt", "prompt %d is empty and the model adds no BOS: nothing to condition on", k);
    if (np > s->n_ctx)
        return srv_bad(e, "context_length_exceeded", "prompt", "prompt %d has %d tokens; this model's maximum context length is %d tokens", k, np, s->n_ctx);
    if (max_tokens < 0) {
        max_tokens = s->n_ctx - np;
        if (max_tokens > limit) max_tokens = limit;
    } else if (max_tokens > limit) {
        return srv_bad(e, "invalid_value", "max_tokens", "max_tokens %lld exceeds this server's limit of %d", (long long)max_tokens, limit);
    }
    if (np + max_tokens > s->n_ctx)
        return srv_bad(e, "context_length_exceeded", "max_tokens",
                       "this model's maximum context length is %d tokens; the request asks for %lld (%d in prompt %d, %lld to generate)",
                       s->n_ctx, (long long)(np + max_tokens), np, k, (long long)max_tokens);
    g->prompt = G->prompt[k];
    g->np = np;
    g->sp = *sp;
    g->sp.max_tokens = (int32_t)max_tokens;
    g->n = (int32_t)n;
    g->stops = G->stops;
    g->n_stops = n_stops;
    g->top_k = top_k;
    g->out = calloc((size_t)n, sizeof *g->out);
    if (!g->out) return oom(e);
    return 0;
}

static int gen_alloc(gen_req *G, int32_t n_in, srv_err *e) {
    G->n_in = n_in;
    G->prompt = calloc((size_t)n_in, sizeof *G->prompt);
    G->np = calloc((size_t)n_in, sizeof *G->np);
    G->groups = calloc((size_t)n_in, sizeof *G->groups);
    G->plp = calloc((size_t)n_in, sizeof *G->plp);
    if (!G->prompt || !G->np || !G->groups || !G->plp) return oom(e);
    return 0;
}

static int can_generate(srv *s, srv_err *e) {
    if (gh_backend_caps(s->b) & GH_CAP_GENERATE) return 0;
    return srv_bad(e, "unsupported", NULL, "the model '%s' cannot generate text (an embedding or reward model); "
                   "use /v1/embeddings or /v1/rewards", s->model_name);
}

static int run_generation(srv *s, gen_req *G, srv_err *e) {
    sched_job j;
    memset(&j, 0, sizeof j);
    j.groups = G->groups;
    j.n_groups = G->n_in;
    return sched_run(s->sc, &j, e);
}

/* Top log-probabilities as the legacy object's {piece: logprob}. */
static cJSON *top_dict(srv *s, int32_t prev, const int32_t *ids, const float *lp, int32_t k) {
    cJSON *d = cJSON_CreateObject();
    for (int32_t q = 0; q < k; q++) {
        if (ids[q] < 0) continue;
        int32_t L;
        char *p = piece(s, prev, ids[q], &L);
        char *u = p ? gh_utf8_sanitize(p, (size_t)L) : NULL;
        if (u && !cJSON_GetObjectItemCaseSensitive(d, u)) cJSON_AddItemToObject(d, u, jfloat(lp[q]));
        free(u);
        free(p);
    }
    return d;
}

/* The legacy completions logprobs object: {tokens, token_logprobs,
 * top_logprobs, text_offset}; with echo the prompt's tokens come first (the
 * first has no log-probability: null). */
static cJSON *legacy_logprobs(srv *s, const gen_group *g, const gen_out *o, const gh_logprobs *plp, int32_t top_k,
                              bool echo, size_t prompt_text_len) {
    cJSON *r = cJSON_CreateObject();
    cJSON *tokens = cJSON_AddArrayToObject(r, "tokens"), *tlp = cJSON_AddArrayToObject(r, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(r, "top_logprobs"), *offs = cJSON_AddArrayToObject(r, "text_offset");
    if (echo) {
        size_t off = 0;
        for (int32_t i = 0; i < g->np; i++) {
            int32_t L;
            char *p = piece(s, i ? g->prompt[i - 1] : -1, g->prompt[i], &L);
            cJSON_AddItemToArray(tokens, jstr(p, p ? (size_t)L : 0));
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
            off += p ? (size_t)L : 0;
            free(p);
            if (i == 0 || !plp) {
                cJSON_AddItemToArray(tlp, cJSON_CreateNull());
                cJSON_AddItemToArray(tops, cJSON_CreateNull());
            } else {
                cJSON_AddItemToArray(tlp, jfloat(plp->token_logprobs[i - 1]));
                cJSON_AddItemToArray(tops, top_dict(s, g->prompt[i - 1], plp->top_ids + (size_t)(i - 1) * top_k,
                                                    plp->top_logprobs + (size_t)(i - 1) * top_k, top_k));
            }
        }
    }
    for (int32_t j = 0; j < o->n_tokens; j++) {
        int32_t prev = j ? o->tokens[j - 1] : g->prompt[g->np - 1], L;
        char *p = piece(s, prev, o->tokens[j], &L);
        cJSON_AddItemToArray(tokens, jstr(p, p ? (size_t)L : 0));
        free(p);
        cJSON_AddItemToArray(tlp, jfloat(o->lp[j]));
        cJSON_AddItemToArray(tops, top_dict(s, prev, o->top_ids + (size_t)j * top_k, o->top_lp + (size_t)j * top_k, top_k));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(o->offsets[j] + (echo ? prompt_text_len : 0))));
    }
    return r;
}

static void h_completions(srv *s, const cJSON *req, const char *body, size_t len, int32_t *status, char **resp) {
    static const char *const fields[] = {
        "model", "prompt", "suffix", "max_tokens", "temperature", "top_p", "n", "stream", "logprobs", "echo", "stop",
        "presence_penalty", "frequency_penalty", "best_of", "logit_bias", "user", "seed", "top_k", "min_p",
        "first_sample", "add_special_tokens", "return_token_ids", "ignore_eos", NULL};
    const gh_model_info *I = gh_model_get_info(s->m);
    srv_err e;
    gen_req G;
    memset(&G, 0, sizeof G);
    gh_sampler_params sp;
    int64_t n, max_tokens, logprobs = -1, best_of;
    int32_t n_stops = 0, n_in = 0;
    bool echo, add_special, ret_ids;
    const char *suffix;
    char **echo_text = NULL;
    if (req_fields(req, fields, &e) || check_model(s, req, &e) || can_generate(s, &e) || check_neutral(req, &e) ||
        parse_sampling(s, req, body, len, &sp, &n, &e) || req_int(req, "max_tokens", 0, INT32_MAX, 16, &max_tokens, &e) ||
        req_bool(req, "echo", false, &echo, &e) || req_bool(req, "add_special_tokens", true, &add_special, &e) ||
        req_bool(req, "return_token_ids", false, &ret_ids, &e) || req_str(req, "suffix", false, &suffix, &e) ||
        req_int(req, "best_of", 1, s->p.max_n, n, &best_of, &e) || req_stop(req, &G.stops, &n_stops, &e))
        goto fail;
    if (suffix) { srv_bad(&e, "unsupported", "suffix", "'suffix' (insertion) is not supported"); goto fail; }
    if (best_of != n) { srv_bad(&e, "unsupported", "best_of", "best_of must equal n (no server-side selection)"); goto fail; }
    if (cJSON_GetObjectItemCaseSensitive(req, "logprobs") && !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(req, "logprobs")) &&
        req_int(req, "logprobs", 0, MAX_LOGPROBS, 0, &logprobs, &e))
        goto fail;
    if (req_inputs(cJSON_GetObjectItemCaseSensitive(req, "prompt"), "prompt", I->n_vocab, s->p.max_inputs, s->n_ctx,
                   &G.in, &n_in, &e))
        goto fail;
    G.n_in = n_in;
    if (n_in * n > s->p.max_queued) {
        srv_bad(&e, "invalid_value", "n", "%d prompts × n = %lld samples is more than this server's limit of %d",
                n_in, (long long)n, s->p.max_queued);
        goto fail;
    }
    if (gen_alloc(&G, n_in, &e)) goto fail;
    const int32_t top_k = logprobs > 0 ? (int32_t)logprobs : 0;
    for (int32_t k = 0; k < n_in; k++) {
        if (G.in[k].text) {
            if (tokenize(s, G.in[k].text, add_special, false, &G.prompt[k], &G.np[k], &e)) goto fail;
        } else {
            G.prompt[k] = G.in[k].ids;
            G.np[k] = G.in[k].n_ids;
            G.in[k].ids = NULL;
        }
        if (setup_group(s, &G, k, &sp, n, max_tokens, n_stops, top_k, &e)) goto fail;
    }
    if (run_generation(s, &G, &e)) goto fail;
    if (echo && logprobs >= 0) {
        prompt_lp_call c = {.s = s, .groups = G.groups, .n_groups = n_in, .top_k = top_k, .out = G.plp};
        if (run_call(s, prompt_lp_fn, &c, &c.cs, "prompt", &e)) goto fail;
    }
    /* the echoed prompt text: as sent, or the token ids' text */
    echo_text = calloc((size_t)n_in, sizeof *echo_text);
    if (!echo_text) { oom(&e); goto fail; }
    for (int32_t k = 0; k < n_in && echo; k++) {
        size_t L;
        if (G.in[k].text) echo_text[k] = strdup(G.in[k].text);
        else if (gh_detokenize(s->tok, G.prompt[k], (size_t)G.np[k], false, &echo_text[k], &L)) echo_text[k] = NULL;
        if (!echo_text[k]) { oom(&e); goto fail; }
    }
    cJSON *r = response_head(s, "cmpl", "text_completion"), *choices = cJSON_AddArrayToObject(r, "choices");
    int64_t n_prompt = 0, n_gen = 0;
    for (int32_t k = 0; k < n_in; k++) {
        const gen_group *g = &G.groups[k];
        n_prompt += g->np;
        for (int32_t i = 0; i < g->n; i++) {
            const gen_out *o = &g->out[i];
            n_gen += o->n_tokens;
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "index", (double)k * g->n + i);
            if (echo) {
                size_t lp = strlen(echo_text[k]);
                char *t = malloc(lp + o->text_len + 1);
                if (t) {
                    memcpy(t, echo_text[k], lp);
                    memcpy(t + lp, o->text, o->text_len + 1);
                    add_str(c, "text", t, lp + o->text_len);
                }
                free(t);
            } else add_str(c, "text", o->text, o->text_len);
            if (logprobs >= 0) cJSON_AddItemToObject(c, "logprobs", legacy_logprobs(s, g, o, G.plp[k], top_k, echo, echo ? strlen(echo_text[k]) : 0));
            else cJSON_AddNullToObject(c, "logprobs");
            cJSON_AddStringToObject(c, "finish_reason", o->finish);
            if (ret_ids) {
                cJSON_AddItemToObject(c, "prompt_token_ids", int_array(g->prompt, g->np));
                cJSON_AddItemToObject(c, "token_ids", int_array(o->tokens, o->n_tokens));
            }
            cJSON_AddItemToArray(choices, c);
        }
    }
    cJSON_AddItemToObject(r, "usage", usage_obj(n_prompt, n_gen));
    for (int32_t k = 0; k < n_in; k++) free(echo_text[k]);
    free(echo_text);
    gen_req_free(&G);
    reply_json(r, status, resp);
    return;
fail:
    if (echo_text)
        for (int32_t k = 0; k < n_in; k++) free(echo_text[k]);
    free(echo_text);
    gen_req_free(&G);
    reply_err(&e, status, resp);
}

/* A chat logprobs entry: {token, logprob, bytes, top_logprobs}. */
static cJSON *chat_lp_entry(srv *s, int32_t prev, int32_t id, float lp) {
    int32_t L;
    char *p = piece(s, prev, id, &L);
    cJSON *o = cJSON_CreateObject();
    add_str(o, "token", p, p ? (size_t)L : 0);
    cJSON_AddItemToObject(o, "logprob", jfloat(lp));
    cJSON *b = cJSON_AddArrayToObject(o, "bytes");
    for (int32_t i = 0; p && i < L; i++) cJSON_AddItemToArray(b, cJSON_CreateNumber((unsigned char)p[i]));
    free(p);
    return o;
}

static void h_chat(srv *s, const cJSON *req, const char *body, size_t len, int32_t *status, char **resp) {
    static const char *const fields[] = {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stream", "logprobs",
        "top_logprobs", "stop", "presence_penalty", "frequency_penalty", "logit_bias", "user", "seed", "top_k",
        "min_p", "first_sample", "return_token_ids", "ignore_eos", NULL};
    srv_err e;
    gen_req G;
    memset(&G, 0, sizeof G);
    chat_msgs cm = {0};
    gh_sampler_params sp;
    int64_t n, max_tokens, mct, top_lp;
    int32_t n_stops = 0;
    bool want_lp, ret_ids;
    if (req_fields(req, fields, &e) || check_model(s, req, &e) || can_generate(s, &e) || check_neutral(req, &e) ||
        parse_sampling(s, req, body, len, &sp, &n, &e) || req_int(req, "max_tokens", 0, INT32_MAX, -1, &max_tokens, &e) ||
        req_int(req, "max_completion_tokens", 0, INT32_MAX, -1, &mct, &e) || req_bool(req, "logprobs", false, &want_lp, &e) ||
        req_int(req, "top_logprobs", 0, MAX_LOGPROBS, 0, &top_lp, &e) || req_bool(req, "return_token_ids", false, &ret_ids, &e) ||
        req_stop(req, &G.stops, &n_stops, &e) || parse_messages(req, &cm, &e))
        goto fail;
    if (mct >= 0) max_tokens = mct;
    if (top_lp > 0 && !want_lp) { srv_bad(&e, "invalid_value", "top_logprobs", "top_logprobs needs \"logprobs\": true"); goto fail; }
    if (gen_alloc(&G, 1, &e) || render_chat(s, &cm, true, &G.prompt[0], &G.np[0], &e)) goto fail;
    if (setup_group(s, &G, 0, &sp, n, max_tokens, n_stops, want_lp ? (int32_t)top_lp : 0, &e) || run_generation(s, &G, &e)) goto fail;
    cJSON *r = response_head(s, "chatcmpl", "chat.completion"), *choices = cJSON_AddArrayToObject(r, "choices");
    const gen_group *g = &G.groups[0];
    int64_t n_gen = 0;
    for (int32_t i = 0; i < g->n; i++) {
        const gen_out *o = &g->out[i];
        n_gen += o->n_tokens;
        cJSON *c = cJSON_CreateObject(), *m = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", i);
        cJSON_AddStringToObject(m, "role", "assistant");
        add_str(m, "content", o->text, o->text_len);
        cJSON_AddItemToObject(c, "message", m);
        if (want_lp) {
            cJSON *l = cJSON_CreateObject(), *content = cJSON_AddArrayToObject(l, "content");
            for (int32_t j = 0; j < o->n_tokens; j++) {
                int32_t prev = j ? o->tokens[j - 1] : g->prompt[g->np - 1];
                cJSON *en = chat_lp_entry(s, prev, o->tokens[j], o->lp[j]);
                cJSON *tl = cJSON_AddArrayToObject(en, "top_logprobs");
                for (int32_t q = 0; q < g->top_k; q++) {
                    int32_t id = o->top_ids[(size_t)j * g->top_k + q];
                    if (id >= 0) cJSON_AddItemToArray(tl, chat_lp_entry(s, prev, id, o->top_lp[(size_t)j * g->top_k + q]));
                }
                cJSON_AddItemToArray(content, en);
            }
            cJSON_AddNullToObject(l, "refusal");
            cJSON_AddItemToObject(c, "logprobs", l);
        } else cJSON_AddNullToObject(c, "logprobs");
        cJSON_AddStringToObject(c, "finish_reason", o->finish);
        if (ret_ids) {
            cJSON_AddItemToObject(c, "prompt_token_ids", int_array(g->prompt, g->np));
            cJSON_AddItemToObject(c, "token_ids", int_array(o->tokens, o->n_tokens));
        }
        cJSON_AddItemToArray(choices, c);
    }
    cJSON_AddItemToObject(r, "usage", usage_obj(g->np, n_gen));
    chat_msgs_free(&cm);
    gen_req_free(&G);
    reply_json(r, status, resp);
    return;
fail:
    chat_msgs_free(&cm);
    gen_req_free(&G);
    reply_err(&e, status, resp);
}

/* ---- embeddings, hidden states, rewards: calls on the scheduler thread ---- */

typedef struct embed_call {
    srv *s;
    srv_input *in;
    int32_t n_in;
    const char *pool;
    gh_embedding **out;
    call_status cs;
} embed_call;

/* A sentence embedding: the backend's own (embedding models), else the mean
 * over all tokens of the last block's output, L2-normalised (decoder models). */
static void embed_fn(void *arg) {
    embed_call *c = arg;
    gh_backend *b = c->s->b;
    for (int32_t k = 0; k < c->n_in && !c->cs.st; k++) {
        gh_status st;
        if (gh_backend_caps(b) & GH_CAP_EMBED) {
            st = gh_backend_embed(b, c->in[k].text, c->pool, &c->out[k]);
        } else {
            int32_t layer = gh_model_get_info(c->s->m)->n_layer;
            gh_hidden *h = NULL;
            st = gh_backend_hidden(b, c->in[k].text, &layer, 1, GH_POOL_MEAN, 0, 0, &h);
            if (!st) {
                gh_embedding *em = calloc(1, sizeof *em);
                if (!em) { gh_hidden_free(h); st = gh_error(GH_ERR_NOMEM, "out of memory"); }
                else {
                    em->dim = h->n_embd;
                    em->data = h->data; /* [1][1][n_embd] */
                    em->tokens = h->tokens;
                    em->n_tokens = h->n_tokens;
                    h->data = NULL;
                    h->tokens = NULL;
                    gh_hidden_free(h);
                    double ss = 0;
                    for (int32_t j = 0; j < em->dim; j++) ss += (double)em->data[j] * em->data[j];
                    if (ss > 0)
                        for (int32_t j = 0; j < em->dim; j++) em->data[j] = (float)(em->data[j] / sqrt(ss));
                    c->out[k] = em;
                }
            }
        }
        if (st) call_fail(&c->cs, st);
    }
}

static int text_inputs(srv *s, const cJSON *req, srv_input **in, int32_t *n, srv_err *e) {
    if (req_inputs(cJSON_GetObjectItemCaseSensitive(req, "input"), "input", gh_model_get_info(s->m)->n_vocab,
                   s->p.max_inputs, s->n_ctx, in, n, e))
        return -1;
    for (int32_t k = 0; k < *n; k++)
        if (!(*in)[k].text) {
            req_inputs_free(*in, *n);
            *in = NULL;
            return srv_bad(e, "unsupported", "input", "token-id inputs are not supported here; send text");
        }
    return 0;
}

static int encoding(const cJSON *req, bool *b64, srv_err *e) {
    const char *f;
    if (req_str(req, "encoding_format", false, &f, e)) return -1;
    *b64 = f && !strcmp(f, "base64");
    if (f && !*b64 && strcmp(f, "float"))
        return srv_bad(e, "invalid_value", "encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
    return 0;
}

static void h_embeddings(srv *s, const cJSON *req, const char *raw, size_t raw_len, int32_t *status, char **resp) {
    (void)raw; (void)raw_len;
    static const char *const fields[] = {"model", "input", "encoding_format", "dimensions", "user", "pooling", NULL};
    srv_err e;
    embed_call c = {.s = s};
    bool b64;
    int64_t dims;
    const char *user;
    if (req_fields(req, fields, &e) || check_model(s, req, &e) || encoding(req, &b64, &e) ||
        req_int(req, "dimensions", 1, 1 << 20, 0, &dims, &e) || req_str(req, "user", false, &user, &e) ||
        req_str(req, "pooling", false, &c.pool, &e) || text_inputs(s, req, &c.in, &c.n_in, &e))
        goto fail;
    if (c.pool && !(gh_backend_caps(s->b) & GH_CAP_EMBED) && strcmp(c.pool, "mean")) {
        srv_bad(&e, "unsupported", "pooling", "this backend embeds by mean pooling of hidden states only");
        goto fail;
    }
    if (!(gh_backend_caps(s->b) & (GH_CAP_EMBED | GH_CAP_HIDDEN))) {
        srv_bad(&e, "unsupported", NULL, "this model gives neither embeddings nor hidden states");
        goto fail;
    }
    c.out = calloc((size_t)c.n_in, sizeof *c.out);
    if (!c.out) { oom(&e); goto fail; }
    if (run_call(s, embed_fn, &c, &c.cs, "input", &e)) goto fail;
    if (dims && dims != c.out[0]->dim) {
        srv_bad(&e, "unsupported", "dimensions", "this model's embeddings have %d dimensions; 'dimensions' %lld is not supported",
                c.out[0]->dim, (long long)dims);
        goto fail;
    }
    cJSON *r = cJSON_CreateObject(), *data;
    cJSON_AddStringToObject(r, "object", "list");
    data = cJSON_AddArrayToObject(r, "data");
    int64_t nt = 0;
    for (int32_t k = 0; k < c.n_in; k++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "object", "embedding");
        cJSON_AddNumberToObject(d, "index", k);
        cJSON_AddItemToObject(d, "embedding", float_out(c.out[k]->data, c.out[k]->dim, b64));
        cJSON_AddItemToArray(data, d);
        nt += c.out[k]->n_tokens;
    }
    cJSON_AddStringToObject(r, "model", s->model_name);
    cJSON *u = cJSON_AddObjectToObject(r, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)nt);
    cJSON_AddNumberToObject(u, "total_tokens", (double)nt);
    for (int32_t k = 0; k < c.n_in; k++) gh_embedding_free(c.out[k]);
    free(c.out);
    req_inputs_free(c.in, c.n_in);
    reply_json(r, status, resp);
    return;
fail:
    if (c.out)
        for (int32_t k = 0; k < c.n_in; k++) gh_embedding_free(c.out[k]);
    free(c.out);
    req_inputs_free(c.in, c.n_in);
    reply_err(&e, status, resp);
}

typedef struct hidden_call {
    srv *s;
    srv_input *in;
    int32_t n_in;
    int32_t *layers, n_layers;
    gh_pool pool;
    int32_t span_begin, span_end;
    gh_hidden **out;
    call_status cs;
} hidden_call;

static void hidden_fn(void *arg) {
    hidden_call *c = arg;
    for (int32_t k = 0; k < c->n_in && !c->cs.st; k++) {
        gh_status st = gh_backend_hidden(c->s->b, c->in[k].text, c->layers, c->n_layers, c->pool, c->span_begin,
                                         c->span_end, &c->out[k]);
        if (!st && (int64_t)c->out[k]->n_layers * c->out[k]->n_rows * c->out[k]->n_embd > MAX_HIDDEN_FLOATS)
            st = gh_error(GH_ERR_LIMIT, "input %d: %d layers × %d rows × %d is more than the %d floats one response may hold",
                          k, c->out[k]->n_layers, c->out[k]->n_rows, c->out[k]->n_embd, MAX_HIDDEN_FLOATS);
        if (st) call_fail(&c->cs, st);
    }
}

static void h_hidden(srv *s, const cJSON *req, const char *raw, size_t raw_len, int32_t *status, char **resp) {
    (void)raw; (void)raw_len;
    static const char *const fields[] = {"model", "input", "layers", "pooling", "span_begin", "span_end", "encoding_format", NULL};
    const gh_model_info *I = gh_model_get_info(s->m);
    srv_err e;
    hidden_call c = {.s = s};
    bool b64;
    const char *pool;
    int64_t sb, se;
    if (req_fields(req, fields, &e) || check_model(s, req, &e) || encoding(req, &b64, &e) ||
        req_str(req, "pooling", false, &pool, &e) || req_int(req, "span_begin", -(1 << 24), 1 << 24, 0, &sb, &e) ||
        req_int(req, "span_end", -(1 << 24), 0 + (1 << 24), 0, &se, &e) || text_inputs(s, req, &c.in, &c.n_in, &e))
        goto fail;
    c.pool = GH_POOL_MEAN;
    if (pool && !gh_pool_from_name(pool, &c.pool)) { srv_bad(&e, "invalid_value", "pooling", "'pooling' must be \"last\", \"mean\" or \"all\""); goto fail; }
    c.span_begin = (int32_t)sb;
    c.span_end = (int32_t)se;
    const cJSON *ly = cJSON_GetObjectItemCaseSensitive(req, "layers");
    if (ly && !cJSON_IsNull(ly)) {
        if (!cJSON_IsArray(ly) || !ly->child) { srv_bad(&e, "invalid_type", "layers", "'layers' must be a non-empty list of layer numbers"); goto fail; }
        if (req_ids(ly, "layers", I->n_layer + 1, I->n_layer + 1, &c.layers, &c.n_layers, &e)) goto fail;
    } else {
        c.layers = malloc(sizeof *c.layers);
        if (!c.layers) { oom(&e); goto fail; }
        c.layers[0] = I->n_layer;
        c.n_layers = 1;
    }
    if (!(gh_backend_caps(s->b) & GH_CAP_HIDDEN)) { srv_bad(&e, "unsupported", NULL, "this backend gives no hidden states"); goto fail; }
    c.out = calloc((size_t)c.n_in, sizeof *c.out);
    if (!c.out) { oom(&e); goto fail; }
    if (run_call(s, hidden_fn, &c, &c.cs, "input", &e)) goto fail;
    cJSON *data, *r = list_reply(s, &data);
    for (int32_t k = 0; k < c.n_in; k++) {
        const gh_hidden *h = c.out[k];
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "object", "hidden_states");
        cJSON_AddNumberToObject(d, "index", k);
        cJSON_AddItemToObject(d, "layers", int_array(h->layers, h->n_layers));
        cJSON_AddStringToObject(d, "pooling", gh_pool_name(c.pool));
        cJSON_AddNumberToObject(d, "n_embd", h->n_embd);
        cJSON_AddItemToObject(d, "tokens", int_array(h->tokens, h->n_tokens));
        int32_t span[2] = {h->span_begin, h->span_end};
        cJSON_AddItemToObject(d, "span", int_array(span, 2));
        cJSON_AddNumberToObject(d, "rows", h->n_rows);
        if (b64) cJSON_AddItemToObject(d, "hidden", float_base64(h->data, (int64_t)h->n_layers * h->n_rows * h->n_embd));
        else {
            cJSON *hl = cJSON_AddArrayToObject(d, "hidden"); /* [layer][row][n_embd] */
            for (int32_t l = 0; l < h->n_layers; l++) {
                cJSON *rows = cJSON_CreateArray();
                for (int32_t q = 0; q < h->n_rows; q++)
                    cJSON_AddItemToArray(rows, float_array(h->data + ((size_t)l * h->n_rows + q) * h->n_embd, h->n_embd));
                cJSON_AddItemToArray(hl, rows);
            }
        }
        cJSON_AddItemToArray(data, d);
    }
    for (int32_t k = 0; k < c.n_in; k++) gh_hidden_free(c.out[k]);
    free(c.out);
    free(c.layers);
    req_inputs_free(c.in, c.n_in);
    reply_json(r, status, resp);
    return;
fail:
    if (c.out)
        for (int32_t k = 0; k < c.n_in; k++) gh_hidden_free(c.out[k]);
    free(c.out);
    free(c.layers);
    req_inputs_free(c.in, c.n_in);
    reply_err(&e, status, resp);
}

typedef struct reward_call {
    srv *s;
    const char **prompt, **response;
    int32_t n;
    gh_rm_score **out;
    call_status cs;
} reward_call;

static void reward_fn(void *arg) {
    reward_call *c = arg;
    for (int32_t k = 0; k < c->n && !c->cs.st; k++) {
        gh_status st = gh_backend_score(c->s->b, c->prompt[k], c->response[k], &c->out[k]);
        if (st) call_fail(&c->cs, st);
    }
}

static void h_rewards(srv *s, const cJSON *req, const char *raw, size_t raw_len, int32_t *status, char **resp) {
    (void)raw; (void)raw_len;
    static const char *const fields[] = {"model", "prompt", "response", "input", NULL};
    static const char *const pair_fields[] = {"prompt", "response", NULL};
    srv_err e;
    reward_call c = {.s = s};
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
    if (req_fields(req, fields, &e) || check_model(s, req, &e)) goto fail;
    if (in && !cJSON_IsNull(in)) {
        if (cJSON_GetObjectItemCaseSensitive(req, "prompt") || cJSON_GetObjectItemCaseSensitive(req, "response")) {
            srv_bad(&e, "invalid_value", "input", "send 'input' or 'prompt' and 'response', not both");
            goto fail;
        }
        if (!cJSON_IsArray(in) || !in->child) { srv_bad(&e, "invalid_type", "input", "'input' must be a non-empty list of {\"prompt\", \"response\"}"); goto fail; }
        c.n = cJSON_GetArraySize(in);
        if (c.n > s->p.max_inputs) { srv_bad(&e, "invalid_value", "input", "'input' holds %d pairs; at most %d", c.n, s->p.max_inputs); goto fail; }
    } else c.n = 1;
    c.prompt = calloc((size_t)c.n, sizeof *c.prompt);
    c.response = calloc((size_t)c.n, sizeof *c.response);
    c.out = calloc((size_t)c.n, sizeof *c.out);
    if (!c.prompt || !c.response || !c.out) { oom(&e); goto fail; }
    if (in && !cJSON_IsNull(in)) {
        int32_t k = 0;
        for (const cJSON *p = in->child; p; p = p->next, k++) {
            if (!cJSON_IsObject(p)) { srv_bad(&e, "invalid_type", "input", "input[%d] must be an object {\"prompt\", \"response\"}", k); goto fail; }
            if (req_fields(p, pair_fields, &e) || req_str(p, "prompt", true, &c.prompt[k], &e) ||
                req_str(p, "response", true, &c.response[k], &e))
                goto fail;
        }
    } else if (req_str(req, "prompt", true, &c.prompt[0], &e) || req_str(req, "response", true, &c.response[0], &e))
        goto fail;
    if (!(gh_backend_caps(s->b) & GH_CAP_REWARD)) {
        srv_bad(&e, "no_reward_head", NULL, "the model '%s' has no reward head, so it gives no reward scores; serve a reward model",
                s->model_name);
        goto fail;
    }
    if (run_call(s, reward_fn, &c, &c.cs, "input", &e)) goto fail;
    cJSON *data, *r = list_reply(s, &data);
    for (int32_t k = 0; k < c.n; k++) {
        const gh_rm_score *sc = c.out[k];
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "object", "reward");
        cJSON_AddNumberToObject(d, "index", k);
        cJSON_AddNumberToObject(d, "score", sc->score);
        cJSON_AddNumberToObject(d, "pooled_token_index", sc->pooled_token);
        cJSON_AddNumberToObject(d, "pooled_token_id", sc->pooled_token_id);
        cJSON_AddNumberToObject(d, "n_tokens", sc->n_tokens);
        if (sc->tokens) cJSON_AddItemToObject(d, "tokens", cJSON_CreateIntArray(sc->tokens, sc->n_tokens));
        cJSON_AddBoolToObject(d, "eos_appended", sc->eos_appended);
        add_str(d, "text", sc->text, sc->text ? strlen(sc->text) : 0);
        if (sc->chat_template) add_str(d, "chat_template", sc->chat_template, strlen(sc->chat_template));
        else cJSON_AddNullToObject(d, "chat_template");
        cJSON_AddItemToArray(data, d);
    }
    for (int32_t k = 0; k < c.n; k++) gh_rm_score_free(c.out[k]);
    free(c.out); free(c.prompt); free(c.response);
    reply_json(r, status, resp);
    return;
fail:
    if (c.out)
        for (int32_t k = 0; k < c.n; k++) gh_rm_score_free(c.out[k]);
    free(c.out); free(c.prompt); free(c.response);
    reply_err(&e, status, resp);
}

/* ---- routing ---- */

/* Constant-time comparison, so the key cannot be guessed byte by byte. */
static bool key_ok(const char *want, const char *auth) {
    if (!auth || strncmp(auth, "Bearer ", 7)) return false;
    const char *got = auth + 7;
    size_t lw = strlen(want), lg = strlen(got);
    unsigned char d = lw != lg;
    for (size_t i = 0; i < lw; i++) d |= (unsigned char)want[i] ^ (unsigned char)(i < lg ? got[i] : 0);
    return d == 0;
}

typedef void (*handler_fn)(srv *s, const cJSON *req, const char *body, size_t len, int32_t *status, char **resp);

void srv_dispatch(srv *s, const char *method, const char *path, const char *auth, const char *body, size_t len,
                  int32_t *status, char **resp) {
    srv_err e;
    char p[128];
    size_t pl = strcspn(path, "?");
    if (pl >= sizeof p) pl = sizeof p - 1;
    memcpy(p, path, pl);
    p[pl] = '\0';
    while (pl > 1 && p[pl - 1] == '/') p[--pl] = '\0';
    pthread_mutex_lock(&s->mu);
    bool ready = s->ready;
    pthread_mutex_unlock(&s->mu);
    if (!strcmp(p, "/health")) {
        if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
            srv_fail(&e, 405, "invalid_request_error", "method_not_allowed", NULL, "%s /health: use GET", method);
            reply_err(&e, status, resp);
        } else if (!ready) {
            srv_fail(&e, 503, "server_error", "model_loading", NULL, "the model is loading");
            reply_err(&e, status, resp);
        } else { /* ok, with the scheduler's counters */
            sched_stats st;
            sched_get_stats(s->sc, &st);
            cJSON *r = cJSON_CreateObject(), *o;
            cJSON_AddStringToObject(r, "status", "ok");
            o = cJSON_AddObjectToObject(r, "stats");
            cJSON_AddNumberToObject(o, "slots", s->p.n_slots);
            cJSON_AddNumberToObject(o, "steps", (double)st.steps);
            cJSON_AddNumberToObject(o, "tokens", (double)st.tokens);
            cJSON_AddNumberToObject(o, "max_seqs_per_step", st.max_seqs_step);
            cJSON_AddNumberToObject(o, "max_requests_per_step", st.max_jobs_step);
            cJSON_AddNumberToObject(o, "queued_samples", (double)st.queued);
            cJSON_AddNumberToObject(o, "free_slots", st.free_slots);
            reply_json(r, status, resp);
        }
        return;
    }
    static const struct { const char *path, *method; handler_fn fn; } routes[] = {
        {"/v1/models", "GET", NULL},
        {"/tokenize", "POST", h_tokenize},
        {"/detokenize", "POST", h_detokenize},
        {"/v1/completions", "POST", h_completions},
        {"/v1/chat/completions", "POST", h_chat},
        {"/v1/embeddings", "POST", h_embeddings},
        {"/v1/hidden_states", "POST", h_hidden},
        {"/v1/rewards", "POST", h_rewards},
    };
    int r = -1;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0] && r < 0; i++)
        if (!strcmp(p, routes[i].path)) r = (int)i;
    if (r < 0) {
        srv_fail(&e, 404, "invalid_request_error", "not_found", NULL, "no endpoint %.100s (see /v1/models, /v1/completions, ...)", p);
        reply_err(&e, status, resp);
        return;
    }
    if (s->p.api_key && s->p.api_key[0] && !key_ok(s->p.api_key, auth)) {
        srv_fail(&e, 401, "authentication_error", "invalid_api_key", NULL,
                 "a valid API key is required: send \"Authorization: Bearer KEY\"");
        reply_err(&e, status, resp);
        return;
    }
    if (strcmp(method, routes[r].method)) {
        srv_fail(&e, 405, "invalid_request_error", "method_not_allowed", NULL, "%.10s %s: use %s", method, p, routes[r].method);
        reply_err(&e, status, resp);
        return;
    }
    if (!ready) {
        srv_fail(&e, 503, "server_error", "model_loading", NULL, "the model is loading; retry when /health says ok");
        reply_err(&e, status, resp);
        return;
    }
    if (!routes[r].fn) { h_models(s, status, resp); return; }
    if ((int64_t)len > s->p.max_body_bytes) {
        srv_fail(&e, 413, "invalid_request_error", "request_too_large", NULL, "the request body has %zu bytes; the limit is %lld",
                 len, (long long)s->p.max_body_bytes);
        reply_err(&e, status, resp);
        return;
    }
    cJSON *req;
    if (req_parse(body, len, &req, &e)) { reply_err(&e, status, resp); return; }
    routes[r].fn(s, req, body, len, status, resp);
    cJSON_Delete(req);
}
