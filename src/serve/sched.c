/* sched.c — the server's batching scheduler: one thread owns the model's KV
 * cache (n_slots sequences) and merges the samples of every running request
 * into shared decode steps, so the weights are read once per step for all of
 * them (continuous batching, as local.c does within one request).
 *
 * A request is a list of groups (one per prompt, n samples each). A group
 * first takes a "prompt slot" and feeds its prompt there, in chunks that share
 * steps with other requests' decoding; the logits after its last token are
 * kept. Each sample then gets a slot sharing the prompt's KV cache
 * (gh_ctx_seq_copy; the last sample takes the prompt slot itself, and when it
 * ends first another sample takes over its slab), draws its first token from
 * the kept logits and one more token per step until it stops. Sample i draws
 * from the random stream (seed, first_sample + i) with the same sampler and
 * the same token/text bookkeeping as local.c, and the model's results do not
 * depend on how tokens are batched, so every sample equals the local backend's.
 *
 * Other model work (log-probabilities, hidden states, embeddings, reward
 * scores) runs on this thread too, one call between two steps, so only one
 * forward pass uses the CPU cores at a time.
 *
 * Slots: at most half of them are prompt slots, so there is always a slot that
 * is free or will be freed by a finishing sample (no deadlock). That needs at
 * least 2 slots (gh_server_start refuses fewer): with one, a group holding it
 * for its prompt could never start a sample other than the last.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sample/sampler.h"
#include "serve/serve_internal.h"

enum { SLOT_FREE = 0, SLOT_PROMPT = 1, SLOT_SAMPLE = 2 };
#define PREFILL_BUDGET 256 /* prompt tokens fed per step at most (all groups) */

typedef struct slot {
    int32_t kind;
    gen_group *g;
    int32_t i;       /* sample index within the group */
    gh_rng rng;
    int32_t pending; /* token sampled, to be fed in the next step */
} slot;

struct sched {
    const gh_tokenizer *tok;
    int32_t V, n_slots, max_queued;
    gh_ctx *ctx;
    gh_sampler_work work;
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    sched_job *in_head, *in_tail;     /* generation jobs not yet taken */
    sched_job *call_head, *call_tail; /* calls not yet run */
    int64_t queued;                   /* samples of unfinished generation jobs */
    /* scheduler thread only */
    gen_group **groups;               /* running groups, oldest first */
    int32_t n_groups, cap_groups;
    slot *slots;
    int32_t *btok, *bseq, *bslot;     /* batch: token, sequence, slot (or -1 - group index) */
    uint8_t *bwant;
    int32_t bcap;
    sched_stats st;                   /* guarded by mu */
};

void gen_out_free(gen_out *o) {
    if (!o) return;
    free(o->tokens);
    free(o->text);
    free(o->offsets);
    free(o->lp);
    free(o->top_ids);
    free(o->top_lp);
    memset(o, 0, sizeof *o);
}

static int out_init(gen_out *o, const gen_group *g) {
    size_t nt = (size_t)g->sp.max_tokens + 1;
    o->finish = "length";
    o->tokens = malloc(nt * sizeof *o->tokens);
    o->offsets = malloc(nt * sizeof *o->offsets);
    o->lp = malloc(nt * sizeof *o->lp);
    o->text = malloc(64);
    o->text_cap = 64;
    if (g->top_k > 0) {
        o->top_ids = malloc(nt * (size_t)g->top_k * sizeof *o->top_ids);
        o->top_lp = malloc(nt * (size_t)g->top_k * sizeof *o->top_lp);
    }
    if (!o->tokens || !o->offsets || !o->lp || !o->text || (g->top_k > 0 && (!o->top_ids || !o->top_lp))) return -1;
    o->text[0] = '\0';
    return 0;
}

/* Earliest match of any stop string that ends after byte `from`; -1 if none. */
static long find_stop(const gen_group *g, const gen_out *o, size_t from) {
    long best = -1;
    for (int32_t k = 0; k < g->n_stops; k++) {
        size_t L = strlen(g->stops[k]);
        if (L > o->text_len) continue;
        size_t start = from + 1 > L ? from + 1 - L : 0;
        for (size_t p = start; p + L <= o->text_len; p++)
            if (!memcmp(o->text + p, g->stops[k], L)) {
                if (best < 0 || (long)p < best) best = (long)p;
                break;
            }
    }
    return best;
}

/* One sampling step of sample i of g from its logits. Returns 1 if the sample
 * goes on (token in *next), 0 if it finished, -1 out of memory. */
static int take_token(sched *S, gen_group *g, int32_t i, gh_rng *rng, const float *lg, int32_t *next) {
    gen_out *o = &g->out[i];
    int32_t t = gh_sample_token(lg, &g->sp, rng, &S->work);
    if (g->sp.stop_at_eog && gh_tokenizer_is_eog(S->tok, t)) { o->finish = "stop"; return 0; }
    double lse = gh_logsumexp(lg, S->V);
    double lp = (double)lg[t] - lse;
    int32_t prev = o->n_tokens > 0 ? o->tokens[o->n_tokens - 1] : g->prompt[g->np - 1];
    size_t before = o->text_len;
    if (gh_token_piece_append(S->tok, prev, t, &o->text, &o->text_len, &o->text_cap)) return -1;
    int32_t j = o->n_tokens;
    o->offsets[j] = (int32_t)before;
    o->lp[j] = (float)lp;
    o->logprob += lp;
    if (g->top_k > 0)
        gh_top_logprobs(lg, S->V, lse, g->top_k, o->top_ids + (size_t)j * g->top_k, o->top_lp + (size_t)j * g->top_k);
    o->tokens[o->n_tokens++] = t;
    if (g->n_stops > 0) {
        long cut = find_stop(g, o, before);
        if (cut >= 0) {
            /* the text ends before the stop string; tokens that only added
             * text from there on are dropped with it */
            o->text_len = (size_t)cut;
            o->text[cut] = '\0';
            while (o->n_tokens > 0 && o->offsets[o->n_tokens - 1] >= cut) o->n_tokens--;
            o->logprob = 0;
            for (int32_t q = 0; q < o->n_tokens; q++) o->logprob += o->lp[q];
            o->finish = "stop";
            return 0;
        }
    }
    if (o->n_tokens >= g->sp.max_tokens) return 0;
    *next = t;
    return 1;
}

/* ---- completion and failure (called with S->mu NOT held) ---- */

static int32_t count_free(const sched *S) {
    int32_t nf = 0;
    for (int32_t k = 0; k < (S->slots ? S->n_slots : 0); k++) nf += S->slots[k].kind == SLOT_FREE;
    return nf;
}

/* Called on the scheduler thread: the stats are brought up to date before the
 * client is woken, so a /health it sends next sees the slots freed. */
static void job_complete(sched *S, sched_job *j) {
    int32_t nf = count_free(S);
    pthread_mutex_lock(&S->mu);
    S->st.free_slots = nf;
    if (j->groups) {
        int64_t n = 0;
        for (int32_t k = 0; k < j->n_groups; k++) n += j->groups[k].n;
        S->queued -= n;
    }
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&S->mu);
}

static void slot_release(sched *S, int32_t k) {
    gh_ctx_seq_clear(S->ctx, k);
    S->slots[k].kind = SLOT_FREE;
    S->slots[k].g = NULL;
}

/* Removes every group of j from the running list and frees their slots. */
static void job_drop(sched *S, sched_job *j) {
    for (int32_t k = 0; k < S->n_slots; k++)
        if (S->slots[k].kind != SLOT_FREE && S->slots[k].g->job == j) slot_release(S, k);
    int32_t w = 0;
    for (int32_t k = 0; k < S->n_groups; k++) {
        gen_group *g = S->groups[k];
        if (g->job != j) { S->groups[w++] = g; continue; }
        free(g->prompt_logits);
        g->prompt_logits = NULL;
        g->prompt_slot = -1;
    }
    S->n_groups = w;
}

static void job_fail(sched *S, sched_job *j, int32_t status, const char *type, const char *code, const char *msg) {
    job_drop(S, j);
    j->failed = true;
    srv_fail(&j->err, status, type, code, NULL, "%s", msg);
    job_complete(S, j);
}

/* Fails every running job (after a decode error, or at shutdown). */
static void fail_running(sched *S, int32_t status, const char *type, const char *code, const char *msg) {
    while (S->n_groups > 0) job_fail(S, S->groups[0]->job, status, type, code, msg);
}

static void sample_done(gen_group *g) { g->n_done++; }

/* Removes finished groups; completes jobs whose groups have all finished. */
static void sweep(sched *S) {
    int32_t w = 0;
    for (int32_t k = 0; k < S->n_groups; k++) {
        gen_group *g = S->groups[k];
        if (g->n_done < g->n) { S->groups[w++] = g; continue; }
        if (g->prompt_slot >= 0) slot_release(S, g->prompt_slot); /* never held by a finished group; be sure */
        g->prompt_slot = -1;
        free(g->prompt_logits);
        g->prompt_logits = NULL;
        if (++g->job->n_groups_done == g->job->n_groups) job_complete(S, g->job);
    }
    S->n_groups = w;
}

static int32_t free_slot(sched *S) {
    for (int32_t k = 0; k < S->n_slots; k++)
        if (S->slots[k].kind == SLOT_FREE) return k;
    return -1;
}

static int batch_room(sched *S, int32_t need) {
    if (need <= S->bcap) return 0;
    int32_t nc = need + need / 2 + 16;
    int32_t *a = realloc(S->btok, (size_t)nc * sizeof *a);
    if (a) S->btok = a;
    int32_t *b = realloc(S->bseq, (size_t)nc * sizeof *b);
    if (b) S->bseq = b;
    int32_t *c = realloc(S->bslot, (size_t)nc * sizeof *c);
    if (c) S->bslot = c;
    uint8_t *d = realloc(S->bwant, (size_t)nc);
    if (d) S->bwant = d;
    if (!a || !b || !c || !d) return -1;
    S->bcap = nc;
    return 0;
}

/* Gives free slots to waiting groups (oldest first) and starts samples whose
 * prompt is ready. Returns -1 on out of memory. */
static int admit(sched *S) {
    int32_t n_prompt = 0;
    for (int32_t k = 0; k < S->n_slots; k++) n_prompt += S->slots[k].kind == SLOT_PROMPT;
    const int32_t max_prompt = S->n_slots / 2 > 0 ? S->n_slots / 2 : 1;
    for (int32_t gi = 0; gi < S->n_groups; gi++) {
        gen_group *g = S->groups[gi];
        if (g->next_sample == g->n) continue; /* every sample started (or none to draw) */
        if (!g->ready) {
            if (g->prompt_slot < 0 && n_prompt < max_prompt) {
                int32_t k = free_slot(S);
                if (k < 0) continue;
                S->slots[k].kind = SLOT_PROMPT;
                S->slots[k].g = g;
                g->prompt_slot = k;
                g->fed = 0;
                n_prompt++;
            }
            continue;
        }
        while (g->next_sample < g->n) {
            int32_t i = g->next_sample, k;
            if (i == g->n - 1) { /* the last sample keeps the prompt's own slot */
                k = g->prompt_slot;
                g->prompt_slot = -1;
                n_prompt--;
            } else {
                if ((k = free_slot(S)) < 0) break;
                if (gh_ctx_seq_copy(S->ctx, g->prompt_slot, k)) return -1;
            }
            g->next_sample++;
            slot *sl = &S->slots[k];
            sl->kind = SLOT_SAMPLE;
            sl->g = g;
            sl->i = i;
            gh_rng_seed(&sl->rng, g->sp.seed, (uint64_t)(g->sp.first_sample + i));
            if (out_init(&g->out[i], g)) return -1;
            int r = take_token(S, g, i, &sl->rng, g->prompt_logits, &sl->pending);
            if (r < 0) return -1;
            if (r == 0) { slot_release(S, k); sample_done(g); }
        }
    }
    return 0;
}

/* One decode step over every running sample and a chunk of waiting prompts. */
static void step(sched *S) {
    if (admit(S)) { fail_running(S, 503, "server_error", "out_of_memory", "out of memory"); return; }
    int32_t nb = 0;
    if (batch_room(S, S->n_slots + PREFILL_BUDGET)) { fail_running(S, 503, "server_error", "out_of_memory", "out of memory"); return; }
    for (int32_t k = 0; k < S->n_slots; k++) {
        if (S->slots[k].kind != SLOT_SAMPLE) continue;
        S->btok[nb] = S->slots[k].pending;
        S->bseq[nb] = k;
        S->bslot[nb] = k;
        S->bwant[nb] = 1;
        nb++;
    }
    int32_t budget = PREFILL_BUDGET;
    for (int32_t gi = 0; gi < S->n_groups && budget > 0; gi++) {
        gen_group *g = S->groups[gi];
        if (g->ready || g->prompt_slot < 0) continue;
        int32_t take = g->np - g->fed < budget ? g->np - g->fed : budget;
        for (int32_t t = 0; t < take; t++) {
            S->btok[nb] = g->prompt[g->fed + t];
            S->bseq[nb] = g->prompt_slot;
            S->bslot[nb] = -1;
            S->bwant[nb] = 0;
            nb++;
        }
        g->fed += take;
        budget -= take;
        if (g->fed == g->np) { S->bwant[nb - 1] = 1; S->bslot[nb - 1] = -2 - gi; }
    }
    if (nb == 0) return;
    if (gh_ctx_decode(S->ctx, nb, S->btok, S->bseq, S->bwant)) {
        fail_running(S, 500, "server_error", "decode_failed", gh_last_error());
        return;
    }
    /* statistics: sequences and distinct requests sharing this step */
    int32_t n_seq = 0, n_jobs = 0;
    const sched_job *seen[64];
    for (int32_t q = 0; q < nb; q++) {
        const gen_group *g = S->bslot[q] >= 0 ? S->slots[S->bslot[q]].g : S->bslot[q] <= -2 ? S->groups[-2 - S->bslot[q]] : NULL;
        if (!g) continue;
        n_seq++;
        bool dup = false;
        for (int32_t u = 0; u < n_jobs && !dup; u++) dup = seen[u] == g->job;
        if (!dup && n_jobs < 64) seen[n_jobs++] = g->job;
    }
    pthread_mutex_lock(&S->mu);
    S->st.steps++;
    S->st.tokens += nb;
    if (n_seq > S->st.max_seqs_step) S->st.max_seqs_step = n_seq;
    if (n_jobs > S->st.max_jobs_step) S->st.max_jobs_step = n_jobs;
    pthread_mutex_unlock(&S->mu);
    for (int32_t q = 0; q < nb; q++) {
        if (!S->bwant[q]) continue;
        const float *lg = gh_ctx_logits(S->ctx, q);
        if (S->bslot[q] >= 0) {
            slot *sl = &S->slots[S->bslot[q]];
            gen_group *g = sl->g;
            int r = take_token(S, g, sl->i, &sl->rng, lg, &sl->pending);
            if (r < 0) { fail_running(S, 503, "server_error", "out_of_memory", "out of memory"); return; }
            if (r == 0) { slot_release(S, S->bslot[q]); sample_done(g); }
        } else {
            gen_group *g = S->groups[-2 - S->bslot[q]];
            g->prompt_logits = malloc((size_t)S->V * sizeof(float));
            if (!g->prompt_logits) { fail_running(S, 503, "server_error", "out_of_memory", "out of memory"); return; }
            memcpy(g->prompt_logits, lg, (size_t)S->V * sizeof(float));
            g->ready = true;
        }
    }
}

/* Takes new jobs into the running list; groups with nothing to generate
 * finish at once. Called with S->mu held. */
static void take_new(sched *S) {
    while (S->in_head) {
        sched_job *j = S->in_head;
        int32_t need = S->n_groups + j->n_groups;
        if (need > S->cap_groups) {
            int32_t nc = need * 2 + 8;
            gen_group **ng = realloc(S->groups, (size_t)nc * sizeof *ng);
            if (!ng) return; /* try again next round */
            S->groups = ng;
            S->cap_groups = nc;
        }
        S->in_head = j->next;
        if (!S->in_head) S->in_tail = NULL;
        for (int32_t k = 0; k < j->n_groups; k++) {
            gen_group *g = &j->groups[k];
            g->job = j;
            g->prompt_slot = -1;
            g->fed = g->next_sample = g->n_done = 0;
            g->ready = false;
            g->prompt_logits = NULL;
            S->groups[S->n_groups++] = g;
        }
    }
}

/* Groups with max_tokens 0 are finished before they take a slot. */
static void finish_empty(sched *S) {
    for (int32_t gi = 0; gi < S->n_groups; gi++) {
        gen_group *g = S->groups[gi];
        if (g->sp.max_tokens > 0 || g->n_done == g->n) continue;
        for (int32_t i = 0; i < g->n; i++) {
            if (out_init(&g->out[i], g)) { fail_running(S, 503, "server_error", "out_of_memory", "out of memory"); return; }
        }
        g->next_sample = g->n_done = g->n;
    }
}

static void *sched_main(void *arg) {
    sched *S = arg;
    pthread_mutex_lock(&S->mu);
    for (;;) {
        if (S->stop) break;
        take_new(S);
        sched_job *call = S->call_head;
        if (call) {
            S->call_head = call->next;
            if (!S->call_head) S->call_tail = NULL;
        }
        if (!call && S->n_groups == 0) { pthread_cond_wait(&S->cv, &S->mu); continue; }
        pthread_mutex_unlock(&S->mu);
        if (call) {
            call->fn(call->arg);
            job_complete(S, call);
        }
        if (S->n_groups > 0) {
            finish_empty(S);
            step(S);
            sweep(S);
        }
        int32_t nf = count_free(S);
        pthread_mutex_lock(&S->mu);
        S->st.free_slots = nf;
    }
    /* shutting down: everything still waiting gets a 503 */
    take_new(S);
    sched_job *calls = S->call_head;
    S->call_head = S->call_tail = NULL;
    pthread_mutex_unlock(&S->mu);
    fail_running(S, 503, "server_error", "shutting_down", "the server is shutting down");
    while (calls) {
        sched_job *n = calls->next;
        calls->failed = true;
        srv_fail(&calls->err, 503, "server_error", "shutting_down", NULL, "the server is shutting down");
        job_complete(S, calls);
        calls = n;
    }
    return NULL;
}

gh_status sched_init(gh_backend *b, int32_t n_slots, int32_t n_ctx, int32_t max_queued, sched **out) {
    *out = NULL;
    sched *S = calloc(1, sizeof *S);
    if (!S) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_model *m = gh_backend_model(b);
    S->n_slots = n_slots;
    S->max_queued = max_queued;
    pthread_mutex_init(&S->mu, NULL);
    pthread_cond_init(&S->cv, NULL);
    gh_status st = GH_OK;
    if (m && (gh_backend_caps(b) & GH_CAP_GENERATE)) { /* other calls need only the backend */
        S->tok = gh_model_tokenizer(m);
        S->V = gh_model_get_info(m)->n_vocab;
        gh_ctx_params cp = gh_ctx_default_params();
        cp.n_ctx = n_ctx;
        cp.n_seq = n_slots;
        cp.n_batch = 256;
        if ((st = gh_ctx_init(m, &cp, &S->ctx))) goto fail;
        S->slots = calloc((size_t)n_slots, sizeof *S->slots);
        if (!S->slots || gh_sampler_work_init(&S->work, S->V)) { st = gh_error(GH_ERR_NOMEM, "out of memory"); goto fail; }
    }
    S->st.free_slots = S->slots ? n_slots : 0;
    if (pthread_create(&S->th, NULL, sched_main, S)) { st = gh_error(GH_ERR_NOMEM, "cannot start the scheduler thread"); goto fail; }
    S->started = true;
    *out = S;
    return GH_OK;
fail:
    sched_free(S);
    return st;
}

void sched_stop(sched *S) {
    if (!S || !S->started) return;
    pthread_mutex_lock(&S->mu);
    S->stop = true;
    pthread_cond_signal(&S->cv);
    pthread_mutex_unlock(&S->mu);
    pthread_join(S->th, NULL);
    S->started = false;
}

void sched_free(sched *S) {
    if (!S) return;
    sched_stop(S);
    gh_ctx_free(S->ctx);
    gh_sampler_work_free(&S->work);
    free(S->slots);
    free(S->groups);
    free(S->btok); free(S->bseq); free(S->bslot); free(S->bwant);
    pthread_cond_destroy(&S->cv);
    pthread_mutex_destroy(&S->mu);
    free(S);
}

void sched_get_stats(sched *S, sched_stats *out) {
    pthread_mutex_lock(&S->mu);
    *out = S->st;
    out->queued = S->queued;
    pthread_mutex_unlock(&S->mu);
}

int sched_run(sched *S, sched_job *j, srv_err *e) {
    j->done = false;
    j->failed = false;
    j->n_groups_done = 0;
    j->next = NULL;
    pthread_cond_init(&j->cv, NULL);
    pthread_mutex_lock(&S->mu);
    int rc = 0;
    if (S->stop) {
        rc = srv_fail(e, 503, "server_error", "shutting_down", NULL, "the server is shutting down");
    } else if (j->fn) {
        if (S->call_tail) S->call_tail->next = j;
        else S->call_head = j;
        S->call_tail = j;
    } else {
        if (!S->ctx) {
            rc = srv_bad(e, "unsupported", NULL, "this backend cannot generate through the server");
        } else {
            int64_t n = 0;
            for (int32_t k = 0; k < j->n_groups; k++) n += j->groups[k].n;
            if (S->queued + n > S->max_queued)
                rc = srv_fail(e, 429, "rate_limit_error", "server_busy", NULL,
                              "the server has %lld samples queued (limit %d); retry later", (long long)S->queued, S->max_queued);
            else {
                S->queued += n;
                if (S->in_tail) S->in_tail->next = j;
                else S->in_head = j;
                S->in_tail = j;
            }
        }
    }
    if (rc == 0) {
        pthread_cond_signal(&S->cv);
        while (!j->done) pthread_cond_wait(&j->cv, &S->mu);
    }
    pthread_mutex_unlock(&S->mu);
    pthread_cond_destroy(&j->cv);
    if (rc == 0 && j->failed) { *e = j->err; rc = -1; }
    return rc;
}
