/* sample.c — the sampling half of the Best-of-N experiment (gh_bon_sample):
 * for each prompt draw N samples from the policy, score them with the proxy and
 * gold rewards, compute log pi_ref and an embedding, and store the prompt's
 * finished pool in the run store, so an interrupted run resumes at the first
 * unfinished prompt. The stored value is the prompt's line of pool.jsonl, in the
 * precomputed-candidates format (goodhart/bon.h), so the analysis reads goodhart's
 * own samples and anyone else's through the same reader. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "bon/jbuf.h"
#include "goodhart/bon.h"
#include "goodhart/store.h"
#include "goodhart/tokenizer.h"

#define NS_POOL "pool"

gh_bon_sample_params gh_bon_sample_default_params(void) {
    gh_bon_sample_params p = {0};
    p.n = 32;
    p.sampler = gh_sampler_default_params();
    p.sampler.max_tokens = 48;
    p.embed_layer = -1;
    return p;
}

/* The SHA-256 of a backend's model file: a local model's, or what a server
 * reports (goodhart serve does, in /v1/models); "-" when a server reports
 * none, whose weights cannot be checked (the reference names them). */
static const char *model_hash(gh_backend *b) {
    const char *h = gh_backend_model_sha256(b);
    return h ? h : "-";
}

/* Everything a prompt's pool depends on besides the prompt itself: the model
 * by its reference and by its SHA-256 (model_hash). */
static char *settings_string(gh_backend *b, gh_reward *proxy, gh_reward *gold, const gh_bon_sample_params *p) {
    const gh_sampler_params *s = &p->sampler;
    gh_strbuf j = {0};
    gh_strbuf_printf(&j, "model=%s sha256=%s n=%d seed=%" PRIu64 " temp=%.9g top_k=%d top_p=%.9g min_p=%.9g epsilon=%.9g "
              "max_tokens=%d stop_at_eog=%d add_bos=%d embed_layer=%d proxy=%s gold=%s",
              gh_backend_ref(b), model_hash(b), p->n, s->seed, (double)s->temp, s->top_k, (double)s->top_p,
              (double)s->min_p, (double)s->epsilon, s->max_tokens, s->stop_at_eog, s->add_bos, p->embed_layer,
              gh_reward_spec(proxy), gold ? gh_reward_spec(gold) : "-");
    if (p->embedder) { /* only then, so runs without one keep their settings */
        gh_strbuf_printf(&j, " embed_model=%s sha256=%s", gh_backend_ref(p->embedder), model_hash(p->embedder));
    }
    return j.oom ? NULL : j.p;
}

/* Embedding of a response: an embedding model's sentence embedding of the
 * response text alone, when one is given; else the hidden state after
 * `layer`, averaged over the response's tokens (the prompt's last token for
 * an empty response). *out holds *cap floats and grows to the embedding's
 * width (an embedding model need not report its width up front). */
static gh_status embed(gh_backend *b, gh_backend *embedder, int32_t layer, const char *prompt, const char *text,
                       float **out, int32_t *cap, int32_t *dim) {
    if (embedder) {
        gh_embedding *e = NULL;
        gh_status s = gh_backend_embed(embedder, text, NULL, &e);
        if (s) return s;
        if (e->dim > *cap) {
            float *o = realloc(*out, (size_t)e->dim * sizeof *o);
            if (!o) { gh_embedding_free(e); return gh_error(GH_ERR_NOMEM, "out of memory"); }
            *out = o;
            *cap = e->dim;
        }
        memcpy(*out, e->data, (size_t)e->dim * sizeof **out);
        *dim = e->dim;
        gh_embedding_free(e);
        return GH_OK;
    }
    gh_head_spec hs = gh_head_default_spec();
    hs.layer = layer;
    *dim = gh_backend_get_dims(b).n_embd; /* known: gh_bon_sample checks it */
    if (*dim > *cap) return gh_error(GH_ERR_LIMIT, "embedding buffer of %d floats for n_embd %d", *cap, *dim);
    return gh_head_features(b, &hs, prompt, text, *out);
}

static gh_status sample_prompt(gh_backend *b, const gh_bon_prompt *pr, gh_reward *proxy, gh_reward *gold,
                               const gh_bon_sample_params *p, uint64_t seed, gh_strbuf *out) {
    gh_sampler_params sp = p->sampler;
    sp.seed = seed;
    sp.first_sample = 0;
    gh_samples *S = NULL;
    gh_status s = gh_backend_generate(b, pr->prompt, &sp, p->n, &S);
    if (s) return s;
    int32_t E = p->embedder ? gh_backend_get_dims(p->embedder).n_embd : gh_backend_get_dims(b).n_embd;
    if (E < 1) E = 1;
    float *emb = malloc((size_t)E * sizeof *emb);
    if (!emb) { gh_samples_free(S); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    gh_strbuf_put(out, "{\"id\":");
    jb_str(out, pr->id);
    gh_strbuf_put(out, ",\"prompt\":");
    jb_str(out, pr->prompt);
    if (pr->reference) { gh_strbuf_put(out, ",\"reference\":"); jb_str(out, pr->reference); }
    gh_strbuf_put(out, ",\"candidates\":[");
    for (int32_t i = 0; i < S->n && !s; i++) {
        const gh_sample *c = &S->samples[i];
        /* log pi_ref: the text re-scored after the prompt, as `goodhart logprob` does */
        double lp = 0;
        int32_t nt = 0;
        if (c->text[0]) {
            gh_logprobs *L = NULL;
            if ((s = gh_backend_logprob(b, pr->prompt, c->text, 0, &L))) break;
            lp = L->total;
            nt = L->n;
            gh_logprobs_free(L);
        }
        gh_reward_input in = {.prompt = pr->prompt, .response = c->text, .reference = pr->reference, .n_tokens = nt};
        double rp = 0, rg = NAN;
        if ((s = gh_reward_score(proxy, &in, &rp))) break;
        if (gold && (s = gh_reward_score(gold, &in, &rg))) break;
        int32_t dim = 0;
        if ((s = embed(b, p->embedder, p->embed_layer, pr->prompt, c->text, &emb, &E, &dim))) break;
        gh_strbuf_put(out, i ? ",{\"text\":" : "{\"text\":");
        jb_str(out, c->text);
        gh_strbuf_put(out, ",\"scores\":{\"proxy\":");
        jb_num(out, rp);
        if (gold) { gh_strbuf_put(out, ",\"gold\":"); jb_num(out, rg); }
        gh_strbuf_put(out, "},\"logprob_ref\":");
        jb_num(out, lp);
        gh_strbuf_printf(out, ",\"n_tokens\":%d,\"finish\":\"%s\",\"embedding\":[", nt, c->finish);
        for (int32_t k = 0; k < dim; k++) {
            if (k) gh_strbuf_put(out, ",");
            jb_f32(out, emb[k]);
        }
        gh_strbuf_put(out, "]}");
        if (s) gh_error_prefix("sample %d", i);
    }
    gh_strbuf_put(out, "]}");
    free(emb);
    gh_samples_free(S);
    if (!s && out->oom) s = gh_error(GH_ERR_NOMEM, "out of memory");
    return s;
}

static uint64_t prompt_seed(uint64_t seed, const char *id) {
    char seeds[32], key[65];
    snprintf(seeds, sizeof seeds, "%" PRIu64, seed);
    if (gh_store_key(key, "bon-prompt-seed", seeds, id, NULL)) return seed;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) v = v << 4 | (uint64_t)(key[i] <= '9' ? key[i] - '0' : key[i] - 'a' + 10);
    return v;
}

gh_status gh_bon_sample(gh_backend *b, const gh_bon_prompt *prompts, int64_t n_prompts,
                        gh_reward *proxy, gh_reward *gold, const char *out_dir,
                        const gh_bon_sample_params *p, int64_t *n_resumed) {
    if (n_resumed) *n_resumed = 0;
    if (p->n < 1) return gh_error(GH_ERR_INVALID_ARG, "N must be at least 1 (got %d)", p->n);
    if (n_prompts < 1) return gh_error(GH_ERR_INVALID_ARG, "no prompts");
    /* any backend that can: a local model, or goodhart serve over HTTP */
    gh_status s = gh_backend_require(b, GH_CAP_GENERATE | GH_CAP_LOGPROB, "the Best-of-N experiment");
    if (s) return s;
    if (p->embedder) {
        if ((s = gh_backend_require(p->embedder, GH_CAP_EMBED, "the Best-of-N embeddings (--embed-model)"))) return s;
    } else {
        /* embeddings from the policy's hidden states: their width up front, and
         * the prompt's tokens for the response's span */
        if ((s = gh_backend_require(b, GH_CAP_HIDDEN | GH_CAP_TOKENIZE, "the Best-of-N embeddings (hidden states)"))) return s;
        if (gh_backend_get_dims(b).n_embd < 1)
            return gh_error(GH_ERR_UNSUPPORTED, "%s: the backend does not report its embedding width (n_embd), which the Best-of-N embeddings need; give an embedding model (--embed-model)",
                            gh_backend_ref(b));
    }
    for (int64_t i = 0; i < n_prompts; i++)
        for (int64_t j = 0; j < i; j++)
            if (!strcmp(prompts[i].id, prompts[j].id))
                return gh_error(GH_ERR_INVALID_ARG, "prompt id \"%s\" appears twice (records %lld and %lld)", prompts[i].id, (long long)j + 1, (long long)i + 1);
    if ((s = gh_mkdir_p(out_dir))) return s;
    size_t dl = strlen(out_dir) + 32;
    char *db = malloc(dl), *pool = malloc(dl);
    char *settings = settings_string(b, proxy, gold, p);
    gh_store *st = NULL;
    if (!db || !pool || !settings) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    snprintf(db, dl, "%s/run.sqlite", out_dir);
    snprintf(pool, dl, "%s/pool.jsonl", out_dir);
    if (p->force) {
        static const char *const sfx[] = {"", "-wal", "-shm"};
        for (int k = 0; k < 3; k++) {
            char f[4096];
            snprintf(f, sizeof f, "%s%s", db, sfx[k]);
            unlink(f);
        }
    }
    if ((s = gh_store_open(db, &st))) goto done;
    if ((s = gh_store_check_meta(st, "bon.settings", settings))) goto done;
    char skey[65];
    if ((s = gh_store_key(skey, settings, NULL))) goto done;
    /* units are keyed by the settings and the prompt, so a prompt set extended
     * or reordered between runs reuses every finished prompt */
    int64_t resumed = 0;
    for (int64_t i = 0; i < n_prompts && !s; i++) {
        const gh_bon_prompt *pr = &prompts[i];
        char key[65];
        if ((s = gh_store_key(key, skey, pr->id, pr->prompt, pr->reference ? pr->reference : "", NULL))) break;
        bool have = false;
        if ((s = gh_store_has(st, "unit", key, &have))) break;
        if (have) {
            resumed++;
        } else {
            gh_strbuf j = {0};
            s = sample_prompt(b, pr, proxy, gold, p, prompt_seed(p->sampler.seed, pr->id), &j);
            if (s) gh_error_prefix("prompt \"%s\"", pr->id);
            else s = gh_store_put(st, "unit", key, j.p, j.len);
            gh_strbuf_free(&j);
        }
        if (p->progress) p->progress(p->progress_user, "sampling", i + 1, n_prompts);
    }
    if (s) goto done;
    /* pool.jsonl: the prompts' units in the order given */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", pool);
    FILE *f = fopen(tmp, "wb");
    if (!f) { s = gh_error(GH_ERR_IO, "%s: %s", tmp, strerror(errno)); goto done; }
    for (int64_t i = 0; i < n_prompts && !s; i++) {
        const gh_bon_prompt *pr = &prompts[i];
        char key[65];
        void *val = NULL;
        size_t len = 0;
        if ((s = gh_store_key(key, skey, pr->id, pr->prompt, pr->reference ? pr->reference : "", NULL))) break;
        if ((s = gh_store_get(st, "unit", key, &val, &len))) break;
        if (!val) { s = gh_error(GH_ERR_IO, "%s: prompt \"%s\" vanished from the store", db, pr->id); break; }
        if (fwrite(val, 1, len, f) != len || fputc('\n', f) == EOF) s = gh_error(GH_ERR_IO, "%s: write failed", tmp);
        free(val);
    }
    if (fclose(f) && !s) s = gh_error(GH_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (!s && rename(tmp, pool)) s = gh_error(GH_ERR_IO, "%s: %s", pool, strerror(errno));
    if (s) unlink(tmp);
    if (n_resumed) *n_resumed = resumed;
done:
    gh_store_close(st);
    free(db);
    free(pool);
    free(settings);
    return s;
}
