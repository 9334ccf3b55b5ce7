/* local.c — the backend served by goodhart's own runtime from a GGUF file.
 *
 * generate: the prompt is run once (sequence 0 holds it), then each group of up
 * to n_seq_max samples shares its KV cache (gh_ctx_seq_copy: nothing is
 * copied, sequence 0 is never cleared) and all of them are decoded together,
 * one token per sample per forward pass, so the weights are read once per step
 * for the whole group. Sample i draws from its own random stream (seed, index).
 *
 * logprob: teacher forcing: the logits after token t score token t+1, computed
 * chunk by chunk so memory stays bounded by one batch of logits.
 *
 * embed: encoders (bert) run the text as [CLS] text [SEP] and pool the final
 * hidden states (mean over every token, or the [CLS] token's); decoders pool
 * the final-normed hidden states (mean, or the last token's). Then L2 norm.
 *
 * score: reward models (a decoder with a one-output cls.output head) score the
 * final-normed hidden state of the last token; see gh_backend_score for which
 * text and which token, each reported with the score.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend_impl.h"
#include "base/rng.h"
#include "goodhart/chat.h"
#include "sample/sampler.h"

/* The last hidden-state request and its answer: methods often ask for the
 * same text's hidden states twice in a row (a reward head, then the embedding
 * of the same response), and a repeat costs a copy instead of a forward pass. */
typedef struct hidden_memo {
    pthread_mutex_t mu;
    char *text;
    int32_t *layers, n_layers, span_begin, span_end;
    gh_pool pool;
    gh_hidden *h;
} hidden_memo;

typedef struct local {
    gh_model *m;
    gh_backend_params p;
    hidden_memo memo;
} local;

static void local_free(void *impl) {
    local *l = impl;
    if (!l) return;
    gh_model_free(l->m);
    free(l->memo.text);
    free(l->memo.layers);
    gh_hidden_free(l->memo.h);
    pthread_mutex_destroy(&l->memo.mu);
    free(l);
}

static gh_hidden *hidden_copy(const gh_hidden *h) {
    gh_hidden *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = *h;
    size_t nd = (size_t)h->n_layers * h->n_rows * h->n_embd;
    c->layers = malloc((size_t)h->n_layers * sizeof *c->layers);
    c->tokens = malloc((size_t)(h->n_tokens ? h->n_tokens : 1) * sizeof *c->tokens);
    c->data = malloc(nd * sizeof *c->data);
    if (!c->layers || !c->tokens || !c->data) { gh_hidden_free(c); return NULL; }
    memcpy(c->layers, h->layers, (size_t)h->n_layers * sizeof *c->layers);
    memcpy(c->tokens, h->tokens, (size_t)h->n_tokens * sizeof *c->tokens);
    memcpy(c->data, h->data, nd * sizeof *c->data);
    return c;
}

/* Prompt tokens: optional BOS, then the text; special-token texts are read as
 * those tokens only when asked (prompts a chat template rendered). */
static gh_status tokenize_prompt_special(const gh_tokenizer *tok, const char *text, int add_bos, bool parse_special,
                                         int32_t **ids, int32_t *n) {
    int32_t *t = NULL;
    size_t nt = 0;
    gh_status s = gh_tokenize(tok, text, strlen(text), false, parse_special, &t, &nt);
    if (s) return s;
    int32_t bos = gh_tokenizer_bos(tok);
    bool want = add_bos < 0 ? gh_tokenizer_add_bos(tok) : add_bos > 0;
    if (want && bos < 0) { free(t); return gh_error(GH_ERR_INVALID_ARG, "BOS requested but the model has no BOS token"); }
    int32_t extra = want ? 1 : 0;
    int32_t *o = malloc((nt + (size_t)extra + 1) * sizeof *o);
    if (!o) { free(t); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    if (want) o[0] = bos;
    if (nt) memcpy(o + extra, t, nt * sizeof *o);
    free(t);
    *ids = o;
    *n = (int32_t)nt + extra;
    return GH_OK;
}

static gh_status tokenize_prompt(const gh_tokenizer *tok, const char *text, int add_bos, int32_t **ids, int32_t *n) {
    return tokenize_prompt_special(tok, text, add_bos, false, ids, n);
}

static gh_status local_generate(void *impl, const char *prompt, const gh_sampler_params *sp, int32_t n,
                                gh_samples **out) {
    local *L = impl;
    const gh_tokenizer *tok = gh_model_tokenizer(L->m);
    const gh_model_info *I = gh_model_get_info(L->m);
    gh_samples *res = calloc(1, sizeof *res);
    gh_ctx *ctx = NULL;
    float *prompt_logits = NULL;
    gh_sampler_work work = {0};
    int32_t *lidx = NULL, *toks = NULL, *active = NULL;
    gh_rng *rng = NULL;
    size_t *cap = NULL, *tlen = NULL;
    gh_status s = GH_OK;
    if (!res) return gh_error(GH_ERR_NOMEM, "out of memory");
    if ((s = tokenize_prompt_special(tok, prompt, sp->add_bos, sp->parse_special, &res->prompt_tokens, &res->n_prompt_tokens)))
        goto done;
    const int32_t np = res->n_prompt_tokens;
    if (np == 0) { s = gh_error(GH_ERR_INVALID_ARG, "empty prompt and no BOS token: nothing to condition on"); goto done; }
    int32_t n_ctx = L->p.n_ctx > 0 ? L->p.n_ctx : np + sp->max_tokens;
    if (n_ctx > I->n_ctx_train) n_ctx = I->n_ctx_train;
    if (np >= n_ctx && sp->max_tokens > 0) {
        s = gh_error(GH_ERR_CONTEXT, "the prompt has %d tokens; the context holds %d", np, n_ctx);
        goto done;
    }
    if (n_ctx < np) n_ctx = np;
    int32_t G = L->p.n_seq_max > 0 ? L->p.n_seq_max : 16;
    if (G > n) G = n;
    gh_ctx_params cp = gh_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_seq = G + 1; /* sequence 0 keeps the prompt */
    if ((s = gh_ctx_init(L->m, &cp, &ctx))) goto done;
    res->samples = calloc((size_t)n, sizeof *res->samples);
    prompt_logits = malloc((size_t)I->n_vocab * sizeof *prompt_logits);
    lidx = malloc((size_t)G * sizeof *lidx);
    toks = malloc((size_t)G * sizeof *toks);
    active = malloc((size_t)G * sizeof *active);
    rng = malloc((size_t)G * sizeof *rng);
    cap = calloc((size_t)G, sizeof *cap);
    tlen = calloc((size_t)G, sizeof *tlen);
    if (!res->samples || !prompt_logits || !lidx || !toks || !active || !rng || !cap || !tlen ||
        gh_sampler_work_init(&work, I->n_vocab)) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    res->n = n;
    {
        int32_t *zeros = calloc((size_t)np, sizeof *zeros);
        if (!zeros) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
        s = gh_ctx_decode(ctx, np, res->prompt_tokens, zeros, NULL);
        free(zeros);
        if (s) goto done;
        memcpy(prompt_logits, gh_ctx_logits(ctx, np - 1), (size_t)I->n_vocab * sizeof(float));
    }
    const int32_t max_new = sp->max_tokens < n_ctx - np ? sp->max_tokens : n_ctx - np;
    for (int32_t g0 = 0; g0 < n; g0 += G) {
        const int32_t gn = n - g0 < G ? n - g0 : G;
        for (int32_t j = 0; j < gn; j++) {
            gh_sample *smp = &res->samples[g0 + j];
            smp->index = sp->first_sample + g0 + j;
            smp->finish = "length";
            smp->tokens = malloc(((size_t)max_new + 1) * sizeof *smp->tokens);
            cap[j] = 64;
            tlen[j] = 0;
            smp->text = malloc(cap[j]);
            if (!smp->tokens || !smp->text) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
            smp->text[0] = '\0';
            gh_rng_seed(&rng[j], sp->seed, (uint64_t)smp->index);
            if ((s = gh_ctx_seq_copy(ctx, 0, j + 1))) goto done;
            active[j] = 1;
        }
        for (int32_t step = 0; step < max_new; step++) {
            int32_t nb = 0;
            for (int32_t j = 0; j < gn; j++) {
                if (!active[j]) continue;
                gh_sample *smp = &res->samples[g0 + j];
                /* the batch of the previous step put this sample's logits at index k */
                const float *lg = step == 0 ? prompt_logits : gh_ctx_logits(ctx, lidx[j]);
                int32_t t = gh_sample_token(lg, sp, &rng[j], &work);
                int32_t prev = smp->n_tokens > 0 ? smp->tokens[smp->n_tokens - 1] : res->prompt_tokens[np - 1];
                if (sp->stop_at_eog && gh_tokenizer_is_eog(tok, t)) {
                    smp->finish = "stop";
                    active[j] = 0;
                    continue;
                }
                smp->logprob += gh_logsoftmax_at(lg, I->n_vocab, t);
                if (gh_token_piece_append(tok, prev, t, &smp->text, &tlen[j], &cap[j])) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
                smp->tokens[smp->n_tokens++] = t;
                if (smp->n_tokens >= max_new) { active[j] = 0; continue; }
                toks[nb] = t;
                lidx[j] = nb++; /* where this sample's next logits will be */
            }
            if (nb == 0) break;
            int32_t *sq = malloc((size_t)nb * sizeof *sq);
            uint8_t *want = malloc((size_t)nb);
            if (!sq || !want) { free(sq); free(want); s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
            for (int32_t j = 0, k = 0; j < gn; j++)
                if (active[j]) { sq[k] = j + 1; want[k] = 1; k++; }
            s = gh_ctx_decode(ctx, nb, toks, sq, want);
            free(sq);
            free(want);
            if (s) goto done;
        }
    }
done:
    gh_sampler_work_free(&work);
    free(prompt_logits); free(lidx); free(toks); free(active); free(rng); free(cap); free(tlen);
    gh_ctx_free(ctx);
    if (s) { gh_samples_free(res); return s; }
    *out = res;
    return GH_OK;
}

static gh_status local_logprob_tokens(void *impl, const int32_t *cids, int32_t nc, const int32_t *cont,
                                      int32_t nn, int32_t top_k, gh_logprobs **out) {
    local *L = impl;
    const gh_model_info *I = gh_model_get_info(L->m);
    const gh_tokenizer *tok = gh_model_tokenizer(L->m);
    const int32_t total = nc + nn;
    if (total > I->n_ctx_train)
        return gh_error(GH_ERR_LIMIT, "%d tokens exceed the model's context of %d", total, I->n_ctx_train);
    for (int32_t i = 0; i < total; i++) {
        int32_t t = i < nc ? cids[i] : cont[i - nc];
        if (t < 0 || t >= I->n_vocab) return gh_error(GH_ERR_INVALID_ARG, "token id %d at position %d is outside the vocabulary of %d", t, i, I->n_vocab);
    }
    gh_logprobs *r = calloc(1, sizeof *r);
    if (!r) return gh_error(GH_ERR_NOMEM, "out of memory");
    r->n_prompt = nc;
    r->n = nn;
    r->top_k = top_k;
    r->tokens = malloc(((size_t)nn + 1) * sizeof *r->tokens);
    r->token_text = calloc((size_t)nn + 1, sizeof *r->token_text);
    r->token_logprobs = malloc(((size_t)nn + 1) * sizeof *r->token_logprobs);
    if (top_k) {
        r->top_ids = malloc((size_t)nn * top_k * sizeof *r->top_ids + 1);
        r->top_logprobs = malloc((size_t)nn * top_k * sizeof *r->top_logprobs + 1);
    }
    int32_t *all = malloc(((size_t)total + 1) * sizeof *all), *sq = NULL;
    uint8_t *want = NULL;
    gh_ctx *ctx = NULL;
    gh_status s = GH_OK;
    if (!r->tokens || !r->token_text || !r->token_logprobs || !all || (top_k && (!r->top_ids || !r->top_logprobs))) {
        s = gh_error(GH_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(all, cids, (size_t)nc * sizeof *all);
    if (nn) memcpy(all + nc, cont, (size_t)nn * sizeof *all);
    for (int32_t i = 0; i < nn; i++) {
        r->tokens[i] = cont[i];
        r->token_text[i] = gh_token_piece_dup(tok, nc + i > 0 ? all[nc + i - 1] : -1, cont[i], NULL);
        if (!r->token_text[i]) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    }
    if (nn > 0) {
        gh_ctx_params cp = gh_ctx_default_params();
        cp.n_ctx = total;
        if ((s = gh_ctx_init(L->m, &cp, &ctx))) goto done;
        const int32_t B = 128;
        sq = calloc((size_t)B, sizeof *sq);
        want = malloc((size_t)B);
        if (!sq || !want) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
        /* feed tokens 0..total-2; the logits after token t score token t+1 */
        for (int32_t b0 = 0; b0 < total - 1; b0 += B) {
            int32_t T = total - 1 - b0 < B ? total - 1 - b0 : B;
            for (int32_t t = 0; t < T; t++) want[t] = b0 + t + 1 >= nc;
            if ((s = gh_ctx_decode(ctx, T, all + b0, sq, want))) goto done;
            for (int32_t t = 0; t < T; t++) {
                if (!want[t]) continue;
                int32_t i = b0 + t + 1 - nc; /* continuation index scored */
                const float *lg = gh_ctx_logits(ctx, t);
                double lse = gh_logsumexp(lg, I->n_vocab);
                r->token_logprobs[i] = (float)((double)lg[cont[i]] - lse);
                r->total += (double)lg[cont[i]] - lse;
                if (top_k) {
                    gh_top_logprobs(lg, I->n_vocab, lse, top_k, r->top_ids + (size_t)i * top_k,
                                    r->top_logprobs + (size_t)i * top_k);
                }
            }
        }
        r->mean = r->total / nn;
    }
done:
    free(all); free(sq); free(want);
    gh_ctx_free(ctx);
    if (s) { gh_logprobs_free(r); return s; }
    *out = r;
    return GH_OK;
}

static gh_status local_logprob(void *impl, const char *prompt, const char *continuation, int32_t top_k,
                               gh_logprobs **out) {
    local *L = impl;
    const gh_tokenizer *tok = gh_model_tokenizer(L->m);
    size_t lp = strlen(prompt), lc = strlen(continuation);
    char *full = malloc(lp + lc + 1);
    if (!full) return gh_error(GH_ERR_NOMEM, "out of memory");
    memcpy(full, prompt, lp);
    memcpy(full + lp, continuation, lc + 1);
    int32_t *a = NULL, *c = NULL, na = 0, ncx = 0;
    gh_status s = tokenize_prompt(tok, full, -1, &a, &na);
    if (!s) s = tokenize_prompt(tok, prompt, -1, &c, &ncx);
    free(full);
    if (!s) {
        /* the continuation starts where the prompt's own tokenization stops
         * agreeing with the whole text's (normally: right after the prompt) */
        int32_t k = 0;
        while (k < ncx && k < na && a[k] == c[k]) k++;
        if (k == 0) s = gh_error(GH_ERR_INVALID_ARG, "nothing to condition on: the model adds no BOS and the prompt is empty");
        else s = local_logprob_tokens(impl, a, k, a + k, na - k, top_k, out);
    }
    free(a);
    free(c);
    return s;
}

static gh_status local_hidden_compute(void *impl, const char *text, const int32_t *layers, int32_t n_layers,
                              gh_pool pool, int32_t span_begin, int32_t span_end, gh_hidden **out) {
    local *L = impl;
    const gh_model_info *I = gh_model_get_info(L->m);
    gh_hidden *h = calloc(1, sizeof *h);
    gh_ctx *ctx = NULL;
    int32_t *sq = NULL;
    gh_status s;
    if (!h) return gh_error(GH_ERR_NOMEM, "out of memory");
    if ((s = tokenize_prompt(gh_model_tokenizer(L->m), text, -1, &h->tokens, &h->n_tokens))) goto done;
    const int32_t n = h->n_tokens;
    if (n == 0) { s = gh_error(GH_ERR_INVALID_ARG, "empty text: no token to read hidden states from"); goto done; }
    if (n > I->n_ctx_train) { s = gh_error(GH_ERR_LIMIT, "the text has %d tokens; the model's context is %d", n, I->n_ctx_train); goto done; }
    int32_t b = span_begin < 0 ? n + span_begin : span_begin;
    int32_t e = span_end <= 0 ? n + span_end : span_end;
    if (b < 0 || e > n || b >= e) {
        s = gh_error(GH_ERR_INVALID_ARG, "token span [%d, %d) is empty or outside the text's %d tokens", span_begin, span_end, n);
        goto done;
    }
    h->span_begin = b;
    h->span_end = e;
    h->n_layers = n_layers;
    h->n_embd = I->n_embd;
    h->n_rows = pool == GH_POOL_ALL ? e - b : 1;
    h->layers = malloc((size_t)n_layers * sizeof *h->layers);
    h->data = calloc((size_t)n_layers * h->n_rows * I->n_embd, sizeof *h->data);
    sq = calloc((size_t)e, sizeof *sq);
    if (!h->layers || !h->data || !sq) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    memcpy(h->layers, layers, (size_t)n_layers * sizeof *layers);
    gh_ctx_params cp = gh_ctx_default_params();
    cp.n_ctx = e;
    cp.hidden_only = true; /* no layer past the deepest asked for, no logits */
    if ((s = gh_ctx_init(L->m, &cp, &ctx))) goto done;
    if ((s = gh_ctx_set_capture(ctx, layers, n_layers))) goto done;
    /* positions after the span cannot influence it (causal): run up to e */
    const int32_t B = 256;
    uint8_t *want = calloc((size_t)B, 1);
    if (!want) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    const int64_t E = I->n_embd;
    for (int32_t b0 = 0; b0 < e && !s; b0 += B) {
        int32_t T = e - b0 < B ? e - b0 : B;
        if ((s = gh_ctx_decode(ctx, T, h->tokens + b0, sq, want))) break;
        for (int32_t t = 0; t < T; t++) {
            int32_t p = b0 + t;
            if (p < b || p >= e) continue;
            for (int32_t k = 0; k < n_layers; k++) {
                const float *src = gh_ctx_hidden(ctx, k, t);
                float *dst = h->data + (size_t)k * h->n_rows * E;
                if (pool == GH_POOL_ALL) memcpy(dst + (size_t)(p - b) * E, src, (size_t)E * sizeof(float));
                else if (pool == GH_POOL_LAST) { if (p == e - 1) memcpy(dst, src, (size_t)E * sizeof(float)); }
                else for (int64_t j = 0; j < E; j++) dst[j] += src[j];
            }
        }
    }
    free(want);
    if (!s && pool == GH_POOL_MEAN)
        for (int64_t j = 0; j < (int64_t)n_layers * E; j++) h->data[j] /= (float)(e - b);
done:
    free(sq);
    gh_ctx_free(ctx);
    if (s) { gh_hidden_free(h); return s; }
    *out = h;
    return GH_OK;
}

static bool memo_hit(const hidden_memo *mm, const char *text, const int32_t *layers, int32_t n_layers,
                     gh_pool pool, int32_t span_begin, int32_t span_end) {
    return mm->h && mm->pool == pool && mm->n_layers == n_layers && mm->span_begin == span_begin &&
           mm->span_end == span_end && !memcmp(mm->layers, layers, (size_t)n_layers * sizeof *layers) &&
           !strcmp(mm->text, text);
}

static gh_status local_hidden(void *impl, const char *text, const int32_t *layers, int32_t n_layers,
                              gh_pool pool, int32_t span_begin, int32_t span_end, gh_hidden **out) {
    local *L = impl;
    hidden_memo *mm = &L->memo;
    pthread_mutex_lock(&mm->mu);
    if (memo_hit(mm, text, layers, n_layers, pool, span_begin, span_end)) {
        gh_hidden *c = hidden_copy(mm->h);
        pthread_mutex_unlock(&mm->mu);
        if (!c) return gh_error(GH_ERR_NOMEM, "out of memory");
        *out = c;
        return GH_OK;
    }
    pthread_mutex_unlock(&mm->mu);
    gh_status s = local_hidden_compute(impl, text, layers, n_layers, pool, span_begin, span_end, out);
    if (s) return s;
    gh_hidden *c = hidden_copy(*out);
    char *t = strdup(text);
    int32_t *ly = malloc((size_t)n_layers * sizeof *ly);
    if (!c || !t || !ly) { gh_hidden_free(c); free(t); free(ly); return GH_OK; } /* no memo, no harm */
    memcpy(ly, layers, (size_t)n_layers * sizeof *ly);
    pthread_mutex_lock(&mm->mu);
    gh_hidden_free(mm->h);
    free(mm->text);
    free(mm->layers);
    mm->h = c;
    mm->text = t;
    mm->layers = ly;
    mm->n_layers = n_layers;
    mm->pool = pool;
    mm->span_begin = span_begin;
    mm->span_end = span_end;
    pthread_mutex_unlock(&mm->mu);
    return GH_OK;
}

/* ---- embeddings and reward scores ---- */

/* Final-normed hidden states of tokens [0, n) of a decoder: out [n][n_embd]
 * (out NULL: only row n-1, into last). */
static gh_status decoder_final(local *L, const int32_t *tokens, int32_t n, float *out, float *last) {
    const gh_model_info *I = gh_model_get_info(L->m);
    if (n > I->n_ctx_train) return gh_error(GH_ERR_LIMIT, "the text has %d tokens; the model's context is %d", n, I->n_ctx_train);
    gh_ctx_params cp = gh_ctx_default_params();
    cp.n_ctx = n;
    cp.hidden_only = true;
    gh_ctx *ctx = NULL;
    int32_t *sq = calloc((size_t)n, sizeof *sq);
    uint8_t *want = calloc((size_t)n, 1); /* no logits: only the captured states */
    int32_t layer = I->n_layer;
    gh_status s = !sq || !want ? gh_error(GH_ERR_NOMEM, "out of memory") : GH_OK;
    if (!s) s = gh_ctx_init(L->m, &cp, &ctx);
    if (!s) s = gh_ctx_set_capture(ctx, &layer, 1);
    const int32_t B = 256;
    const size_t E = (size_t)I->n_embd;
    for (int32_t b0 = 0; b0 < n && !s; b0 += B) {
        int32_t T = n - b0 < B ? n - b0 : B;
        if ((s = gh_ctx_decode(ctx, T, tokens + b0, sq, want))) break;
        for (int32_t t = 0; t < T; t++) {
            if (out) gh_model_final_norm(L->m, gh_ctx_hidden(ctx, 0, t), out + (size_t)(b0 + t) * E);
            else if (b0 + t == n - 1) gh_model_final_norm(L->m, gh_ctx_hidden(ctx, 0, t), last);
        }
    }
    gh_ctx_free(ctx);
    free(sq);
    free(want);
    return s;
}

static gh_status local_embed(void *impl, const char *text, const char *pool, gh_embedding **out) {
    local *L = impl;
    const gh_model_info *I = gh_model_get_info(L->m);
    const gh_tokenizer *tok = gh_model_tokenizer(L->m);
    /* the pooling: asked for, else the model's own, else mean */
    int32_t pl = I->pooling == GH_POOLING_CLS || I->pooling == GH_POOLING_LAST ? I->pooling : GH_POOLING_MEAN;
    if (pool) {
        if (!strcmp(pool, "mean")) pl = GH_POOLING_MEAN;
        else if (!strcmp(pool, "cls")) pl = GH_POOLING_CLS;
        else if (!strcmp(pool, "last")) pl = GH_POOLING_LAST;
        else return gh_error(GH_ERR_INVALID_ARG, "unknown pooling '%s' (mean, cls, last)", pool);
    }
    if (pl == GH_POOLING_CLS && !I->encoder)
        return gh_error(GH_ERR_INVALID_ARG, "%s: CLS pooling needs an encoder (bert); this %s decoder has no [CLS] token "
                        "(use mean or last)", gh_gguf_path(gh_model_gguf(L->m)), I->arch);
    gh_embedding *e = calloc(1, sizeof *e);
    if (!e) return gh_error(GH_ERR_NOMEM, "out of memory");
    float *h = NULL;
    gh_status s;
    if (I->encoder) {
        size_t nt = 0;
        if ((s = gh_tokenize(tok, text, strlen(text), true, false, &e->tokens, &nt))) goto done;
        e->n_tokens = (int32_t)nt;
        /* longer than the position table: keep the first tokens and the final
         * [SEP], as sentence-transformers' truncation does (visible in tokens) */
        if (e->n_tokens > I->n_ctx_train) {
            e->tokens[I->n_ctx_train - 1] = e->tokens[e->n_tokens - 1];
            e->n_tokens = I->n_ctx_train;
        }
    } else if ((s = tokenize_prompt(tok, text, -1, &e->tokens, &e->n_tokens))) goto done;
    const int32_t n = e->n_tokens;
    if (n == 0) { s = gh_error(GH_ERR_INVALID_ARG, "empty text and no BOS token: nothing to embed"); goto done; }
    const size_t E = (size_t)I->n_embd;
    h = malloc((size_t)n * E * sizeof *h);
    e->data = calloc(E, sizeof *e->data);
    e->dim = I->n_embd;
    if (!h || !e->data) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    if (I->encoder) s = gh_model_encode(L->m, e->tokens, NULL, n, h);
    else s = decoder_final(L, e->tokens, n, h, NULL);
    if (s) goto done;
    double norm = 0;
    for (size_t j = 0; j < E; j++) {
        double v = 0;
        if (pl == GH_POOLING_CLS) v = h[j];
        else if (pl == GH_POOLING_LAST) v = h[(size_t)(n - 1) * E + j];
        else {
            for (int32_t t = 0; t < n; t++) v += h[(size_t)t * E + j];
            v /= n;
        }
        e->data[j] = (float)v;
        norm += v * v;
    }
    norm = sqrt(norm);
    /* a zero vector stays zero (sentence-transformers divides by max(norm, 1e-12)) */
    if (norm > 1e-12) for (size_t j = 0; j < E; j++) e->data[j] = (float)(e->data[j] / norm);
done:
    free(h);
    if (s) { gh_embedding_free(e); return s; }
    *out = e;
    return GH_OK;
}

static char *cat2(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *r = malloc(la + lb + 1);
    if (!r) return NULL;
    memcpy(r, a, la);
    memcpy(r + la, b, lb + 1);
    return r;
}

static gh_status local_score(void *impl, const char *prompt, const char *response, gh_rm_score **out) {
    local *L = impl;
    const gh_model_info *I = gh_model_get_info(L->m);
    const gh_tokenizer *tok = gh_model_tokenizer(L->m);
    const gh_gguf *g = gh_model_gguf(L->m);
    if (I->n_cls_out != 1)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: %s", gh_gguf_path(g), I->n_cls_out == 0
                        ? "not a reward model: it has no classifier head (tensor 'cls.output.weight')"
                        : "the classifier head has several outputs; a reward model has one");
    gh_rm_score *r = calloc(1, sizeof *r);
    if (!r) return gh_error(GH_ERR_NOMEM, "out of memory");
    r->pooled_token = r->pooled_token_id = r->n_tokens = -1;
    int32_t *ids = NULL, n = 0;
    float *h = NULL;
    gh_status s = GH_OK;
    bool templ = L->p.chat_template != NULL || gh_gguf_find_key(g, "tokenizer.chat_template") >= 0;
    if (templ) {
        /* the conversation as the model saw it in training; the template writes
         * its own BOS and turn markers, which are special tokens */
        gh_chat_msg msgs[2] = {{"user", prompt}, {"assistant", response}};
        const char *family = NULL;
        if ((s = gh_chat_render_for_model(L->m, L->p.chat_template, msgs, 2, false, &r->text, &family))) goto done;
        r->chat_template = strdup(family ? family : (L->p.chat_template ? L->p.chat_template : "?"));
        if (!r->chat_template) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
        size_t nt = 0;
        if ((s = gh_tokenize(tok, r->text, strlen(r->text), false, true, &ids, &nt))) goto done;
        n = (int32_t)nt;
    } else {
        if (!(r->text = cat2(prompt, response))) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
        if ((s = tokenize_prompt(tok, r->text, -1, &ids, &n))) goto done;
    }
    const int32_t eos = gh_tokenizer_eos(tok);
    bool want_eos = L->p.rm_eos > 0 || (L->p.rm_eos == 0 && gh_tokenizer_add_eos(tok));
    if (want_eos && eos < 0) { s = gh_error(GH_ERR_INVALID_ARG, "%s: EOS requested but the model has no EOS token", gh_gguf_path(g)); goto done; }
    if (want_eos && (n == 0 || ids[n - 1] != eos)) {
        int32_t *ni = realloc(ids, ((size_t)n + 1) * sizeof *ids);
        if (!ni) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
        ids = ni;
        ids[n++] = eos;
        r->eos_appended = true;
    }
    r->n_tokens = n;
    /* the pooled token: the last that is not padding (as transformers does) */
    int64_t pk = gh_gguf_find_key(g, "tokenizer.ggml.padding_token_id"), pad = -1;
    if (pk >= 0 && gh_gguf_kv_int(g, pk, &pad)) pad = -1;
    int32_t p = n - 1;
    while (p >= 0 && ids[p] == pad) p--;
    if (p < 0) { s = gh_error(GH_ERR_INVALID_ARG, "nothing to score: the text has no tokens%s", n ? " but padding" : ""); goto done; }
    r->pooled_token = p;
    r->pooled_token_id = ids[p];
    h = malloc((size_t)I->n_embd * sizeof *h);
    if (!h) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    /* causal: tokens after the pooled one cannot change its state */
    if ((s = decoder_final(L, ids, p + 1, NULL, h))) goto done;
    float v;
    if ((s = gh_model_classify(L->m, h, &v))) goto done;
    r->score = v;
    r->tokens = ids; /* the sequence scored, for the caller to check */
    ids = NULL;
done:
    free(ids);
    free(h);
    if (s) { gh_rm_score_free(r); return s; }
    *out = r;
    return GH_OK;
}

/* gh_backend_tokenize: as a text prompt is tokenized by default (add_bos -1). */
static gh_status local_tokenize(void *impl, const char *text, bool add_bos, int32_t **ids, int32_t *n) {
    local *L = impl;
    return tokenize_prompt(gh_model_tokenizer(L->m), text, add_bos ? -1 : 0, ids, n);
}

static const gh_backend_ops local_ops = {
    .kind = "local",
    .free = local_free,
    .generate = local_generate,
    .logprob = local_logprob,
    .logprob_tokens = local_logprob_tokens,
    .hidden = local_hidden,
    .embed = local_embed,
    .score = local_score,
    .tokenize = local_tokenize,
};

gh_status gh_backend_open_local(const char *path, const gh_backend_params *p, gh_backend *b) {
    local *l = calloc(1, sizeof *l);
    if (!l) return gh_error(GH_ERR_NOMEM, "out of memory");
    l->p = *p;
    pthread_mutex_init(&l->memo.mu, NULL);
    gh_model_params mp = gh_model_default_params();
    if (p->n_threads > 0) mp.n_threads = p->n_threads;
    gh_status s = gh_model_load(path, &mp, &l->m);
    if (s) { pthread_mutex_destroy(&l->memo.mu); free(l); return s; }
    b->ops = &local_ops;
    b->impl = l;
    b->model = l->m;
    const gh_model_info *I = gh_model_get_info(l->m);
    if (I->encoder) b->caps = GH_CAP_EMBED | GH_CAP_TOKENIZE;
    else {
        b->caps = GH_CAP_HIDDEN | GH_CAP_TOKENIZE | GH_CAP_EMBED;
        /* a reward model stored without an LM head cannot generate */
        if (I->lm_head) b->caps |= GH_CAP_GENERATE | GH_CAP_LOGPROB | GH_CAP_CHAT;
        if (I->n_cls_out == 1) b->caps |= GH_CAP_REWARD;
    }
    return GH_OK;
}
