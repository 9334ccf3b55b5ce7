/* head.c — learned linear reward heads: features from a model's hidden state,
 * Bradley–Terry training from preference pairs (bt.c does the fitting), and the
 * head file (a small GGUF, described in goodhart/reward.h).
 *
 * Features are the residual stream after one layer, pooled over the response's
 * tokens: the prompt is tokenized alone (with the model's BOS) to find where the
 * response starts in the tokenized prompt+response. Features need only the
 * backend interface (hidden states, tokenize, the layer count for layer -1), so
 * they come through HTTP from goodhart serve as from a local model; training
 * and loading a head still record and check the local model's SHA-256. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/gguf.h"
#include "reward/reward_internal.h"

struct gh_head {
    gh_head_spec spec;
    int32_t n_embd;
    float *w;          /* [n_embd] */
    char path[1024];
};

gh_head_spec gh_head_default_spec(void) {
    gh_head_spec s = {.layer = -1, .pool = GH_POOL_MEAN, .span_response = true};
    return s;
}

gh_bt_params gh_bt_default_params(void) {
    gh_bt_params p = {.l2 = 1.0, .max_iter = 100, .tol = 1e-8};
    return p;
}

static char *concat(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (s) { memcpy(s, a, na); memcpy(s + na, b, nb + 1); }
    return s;
}

gh_status gh_head_features(gh_backend *b, const gh_head_spec *spec, const char *prompt,
                           const char *response, float *out) {
    /* any backend with hidden states and a tokenizer: local models, goodhart serve */
    gh_backend_dims D = gh_backend_get_dims(b);
    int32_t layer = spec->layer;
    if (layer < 0 || D.n_layer > 0) {
        if (D.n_layer <= 0)
            return gh_error(GH_ERR_UNSUPPORTED, "%s: the backend does not report its layer count, so the last layer (-1) is unknown; give the layer",
                            gh_backend_ref(b));
        if (layer < 0) layer = D.n_layer;
        if (layer > D.n_layer) return gh_error(GH_ERR_INVALID_ARG, "layer %d: the model has %d layers", layer, D.n_layer);
    }
    if (spec->pool != GH_POOL_MEAN && spec->pool != GH_POOL_LAST)
        return gh_error(GH_ERR_INVALID_ARG, "a head pools with mean or last, not %s", gh_pool_name(spec->pool));
    int32_t begin = 0;
    if (spec->span_response) {
        /* the prompt alone, with the model's BOS, as the whole text starts */
        int32_t *ids = NULL, n = 0;
        gh_status s = gh_backend_tokenize(b, prompt, true, &ids, &n);
        free(ids);
        if (s) return s;
        begin = n;
        /* an empty response (the model stopped at once) has no token of its own:
         * read the state it was decided from, the prompt's last token */
        if (!*response) begin = -1;
    }
    char *text = concat(prompt, response);
    if (!text) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_hidden *h = NULL;
    gh_status s = gh_backend_hidden(b, text, &layer, 1, spec->pool, begin, 0, &h);
    free(text);
    if (s) return s;
    memcpy(out, h->data, (size_t)h->n_embd * sizeof *out);
    gh_hidden_free(h);
    return GH_OK;
}

gh_status gh_head_load(const char *path, gh_backend *b, gh_head **out) {
    *out = NULL;
    gh_gguf *g = NULL;
    gh_status s = gh_gguf_open(path, &g);
    if (s) return s;
    gh_head *h = calloc(1, sizeof *h);
    if (!h) { gh_gguf_free(g); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    snprintf(h->path, sizeof h->path, "%s", path);
    gh_str kind = {0}, pool = {0}, span = {0}, sha = {0};
    uint32_t layer = 0;
    int64_t ti = gh_gguf_find_tensor(g, "head.weight");
    if ((s = gh_gguf_get_str(g, "goodhart.head.kind", &kind)) || (s = gh_gguf_get_u32(g, "goodhart.head.layer", &layer)) ||
        (s = gh_gguf_get_str(g, "goodhart.head.pool", &pool)) || (s = gh_gguf_get_str(g, "goodhart.head.span", &span)) ||
        (s = gh_gguf_get_str(g, "goodhart.head.model_sha256", &sha)))
        goto fail;
    if (kind.len != 13 || memcmp(kind.ptr, "bradley-terry", 13)) { s = gh_error(GH_ERR_UNSUPPORTED, "head kind '%.*s' is not bradley-terry", (int)kind.len, kind.ptr); goto fail; }
    h->spec.layer = (int32_t)layer;
    if (pool.len == 4 && !memcmp(pool.ptr, "mean", 4)) h->spec.pool = GH_POOL_MEAN;
    else if (pool.len == 4 && !memcmp(pool.ptr, "last", 4)) h->spec.pool = GH_POOL_LAST;
    else { s = gh_error(GH_ERR_FORMAT, "goodhart.head.pool '%.*s' is not mean or last", (int)pool.len, pool.ptr); goto fail; }
    if (span.len == 8 && !memcmp(span.ptr, "response", 8)) h->spec.span_response = true;
    else if (span.len == 4 && !memcmp(span.ptr, "text", 4)) h->spec.span_response = false;
    else { s = gh_error(GH_ERR_FORMAT, "goodhart.head.span '%.*s' is not response or text", (int)span.len, span.ptr); goto fail; }
    if (ti < 0) { s = gh_error(GH_ERR_FORMAT, "no tensor head.weight"); goto fail; }
    const gh_tensor_info *T = gh_gguf_tensor(g, ti);
    if (T->type != GH_TYPE_F32 || T->n_dims != 1 || T->ne[0] < 1 || T->ne[0] > (1 << 20)) {
        s = gh_error(GH_ERR_FORMAT, "head.weight must be a 1-D f32 vector");
        goto fail;
    }
    h->n_embd = (int32_t)T->ne[0];
    h->w = malloc((size_t)h->n_embd * sizeof *h->w);
    if (!h->w) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto fail; }
    memcpy(h->w, T->data, (size_t)h->n_embd * sizeof *h->w);
    for (int32_t i = 0; i < h->n_embd; i++)
        if (!isfinite(h->w[i])) { s = gh_error(GH_ERR_FORMAT, "head.weight[%d] is not finite", i); goto fail; }
    /* the model it will read: local, or a server that reports its sizes and
     * its file's hash in /v1/models (goodhart serve does) */
    if (b) {
        const gh_backend_dims D = gh_backend_get_dims(b);
        if (D.n_embd > 0 && D.n_embd != h->n_embd) {
            s = gh_error(GH_ERR_MISMATCH, "the head has %d features; model %s has n_embd %d", h->n_embd, gh_backend_ref(b), D.n_embd);
            goto fail;
        }
        if (D.n_layer > 0 && (int32_t)layer > D.n_layer) {
            s = gh_error(GH_ERR_MISMATCH, "the head reads layer %u; the model has %d", layer, D.n_layer);
            goto fail;
        }
        const char *msha = gh_backend_model_sha256(b);
        if (!msha) {
            s = gh_error(GH_ERR_UNSUPPORTED, "the head was trained on the model with SHA-256 %.*s, and %s does not report its "
                         "model's SHA-256 to check it against (goodhart serve does, in /v1/models)", (int)sha.len, sha.ptr,
                         gh_backend_ref(b));
            goto fail;
        }
        if (sha.len != 64 || memcmp(sha.ptr, msha, 64)) {
            s = gh_error(GH_ERR_MISMATCH, "the head was trained on the model with SHA-256 %.*s, not on %s (%s)",
                         (int)sha.len, sha.ptr, gh_backend_ref(b), msha);
            goto fail;
        }
    }
    gh_gguf_free(g);
    *out = h;
    return GH_OK;
fail:
    gh_error_prefix("%s", path);
    gh_gguf_free(g);
    gh_head_free(h);
    return s;
}

void gh_head_free(gh_head *h) {
    if (!h) return;
    free(h->w);
    free(h);
}

gh_status gh_head_score(gh_head *h, gh_backend *b, const char *prompt, const char *response, double *out) {
    float *x = malloc((size_t)h->n_embd * sizeof *x);
    if (!x) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_status s = gh_head_features(b, &h->spec, prompt, response, x);
    if (!s) {
        double acc = 0;
        for (int32_t i = 0; i < h->n_embd; i++) acc += (double)h->w[i] * x[i];
        *out = acc;
    }
    free(x);
    return s;
}

gh_status gh_head_train(gh_backend *b, const gh_head_spec *spec, const gh_pref_pair *pairs,
                        int64_t n, const gh_bt_params *p, const char *path, gh_bt_stats *stats) {
    gh_model *m = gh_backend_model(b);
    if (!m) return gh_error(GH_ERR_UNSUPPORTED, "training a head needs a local model (hidden states)");
    if (n < 1) return gh_error(GH_ERR_INVALID_ARG, "no preference pairs to train on");
    const gh_model_info *I = gh_model_get_info(m);
    const int32_t d = I->n_embd;
    gh_head_spec sp = *spec;
    if (sp.layer < 0) sp.layer = I->n_layer;
    float *diff = malloc((size_t)n * d * sizeof *diff);
    float *xr = malloc((size_t)d * sizeof *xr);
    double *w = malloc((size_t)d * sizeof *w);
    float *wf = malloc((size_t)d * sizeof *wf);
    gh_status s = GH_OK;
    if (!diff || !xr || !w || !wf) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    for (int64_t k = 0; k < n && !s; k++) {
        float *xc = diff + (size_t)k * d;
        if ((s = gh_head_features(b, &sp, pairs[k].prompt, pairs[k].chosen, xc)) ||
            (s = gh_head_features(b, &sp, pairs[k].prompt, pairs[k].rejected, xr))) {
            gh_error_prefix("preference pair %lld", (long long)k);
            break;
        }
        for (int32_t j = 0; j < d; j++) xc[j] -= xr[j];
    }
    if (s) goto done;
    gh_bt_stats st;
    if ((s = gh_bt_fit(diff, n, d, p, w, &st))) goto done;
    if (stats) *stats = st;
    for (int32_t j = 0; j < d; j++) wf[j] = (float)w[j];
    gh_gguf_writer *gw = NULL;
    if ((s = gh_gguf_writer_init(&gw))) goto done;
    const char *sha = gh_model_sha256(m);
    int64_t ne[1] = {d};
    if (!(s = gh_gguf_set_str(gw, "general.architecture", "goodhart.head")) &&
        !(s = gh_gguf_set_str(gw, "goodhart.head.kind", "bradley-terry")) &&
        !(s = gh_gguf_set_u32(gw, "goodhart.head.layer", (uint32_t)sp.layer)) &&
        !(s = gh_gguf_set_str(gw, "goodhart.head.pool", sp.pool == GH_POOL_LAST ? "last" : "mean")) &&
        !(s = gh_gguf_set_str(gw, "goodhart.head.span", sp.span_response ? "response" : "text")) &&
        !(s = gh_gguf_set_str(gw, "goodhart.head.model_sha256", sha ? sha : "")) &&
        !(s = gh_gguf_set_u64(gw, "goodhart.head.n_pairs", (uint64_t)n)) &&
        !(s = gh_gguf_set_f64(gw, "goodhart.head.l2", p->l2)) &&
        !(s = gh_gguf_set_f64(gw, "goodhart.head.train_accuracy", st.accuracy)) &&
        !(s = gh_gguf_add_tensor(gw, "head.weight", GH_TYPE_F32, 1, ne, wf)))
        s = gh_gguf_writer_write(gw, path);
    gh_gguf_writer_free(gw);
done:
    free(diff);
    free(xr);
    free(w);
    free(wf);
    return s;
}
