/* reward.c — rewards as weighted sums of terms, parsed from a spec string (the
 * grammar is in goodhart/reward.h). Rule terms are computed here; learned heads
 * live in head.c. Proxy and gold rewards of every experiment come through here,
 * so a spec error names the term and what is wrong with it. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "goodhart/probe.h"
#include "goodhart/tokenizer.h"
#include "reward/reward_internal.h"

typedef enum { T_LENGTH, T_REGEX, T_LEXICON, T_REPETITION, T_DISTINCT, T_EXACT, T_CONTAINS, T_HEAD, T_PROBE, T_RM } term_kind;
typedef enum { U_WORDS, U_CHARS, U_TOKENS } length_unit;

typedef struct term {
    term_kind kind;
    double weight;
    char *text;           /* the term as written, for messages */
    int32_t order;        /* n-gram order */
    length_unit unit;
    pcre2_code *re;
    char **lex;           /* lower-cased words, sorted */
    size_t n_lex;
    gh_head *head;
    gh_probe *probe;      /* probe:FILE — its logit on the mean hidden state of the response */
    char *probe_path;
    gh_backend *pb;       /* the backend the probe reads (the policy's or an rm: term's) */
    gh_backend *rm;       /* rm:FILE — a reward model of its own, scoring (prompt, response) */
} term;

struct gh_reward {
    char *name;
    char *spec;
    term *t;
    int32_t n;
    gh_backend *b;
    uint32_t caps;
};

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static gh_status lex_add(term *t, const char *w, size_t len, size_t *cap) {
    while (len && isspace((unsigned char)*w)) { w++; len--; }
    while (len && isspace((unsigned char)w[len - 1])) len--;
    if (!len) return GH_OK;
    if (t->n_lex == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        char **nl = realloc(t->lex, nc * sizeof *nl);
        if (!nl) return gh_error(GH_ERR_NOMEM, "out of memory");
        t->lex = nl;
        *cap = nc;
    }
    char *c = dupn(w, len);
    if (!c) return gh_error(GH_ERR_NOMEM, "out of memory");
    for (char *p = c; *p; p++) *p = (char)tolower((unsigned char)*p);
    gh_word ww = {c, len};
    if (gh_words_split(c, NULL, 0) != 1 || gh_words_split(c, &ww, 1) != 1 || ww.len != len) {
        gh_status s = gh_error(GH_ERR_INVALID_ARG, "lexicon entry '%s' is not a single word", c);
        free(c);
        return s;
    }
    t->lex[t->n_lex++] = c;
    return GH_OK;
}

static gh_status parse_lexicon(term *t, const char *arg) {
    size_t cap = 0;
    gh_status s = GH_OK;
    if (arg[0] == '@') {
        char *data = NULL;
        size_t len = 0;
        if ((s = gh_read_file(arg + 1, (size_t)64 << 20, &data, &len))) return s;
        const char *p = data, *end = data + len;
        int64_t line = 0;
        while (p < end && !s) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *e = nl ? nl : end;
            line++;
            const char *q = p;
            while (q < e && isspace((unsigned char)*q)) q++;
            if (q < e && *q != '#') {
                s = lex_add(t, p, (size_t)(e - p), &cap);
                if (s) gh_error_prefix("%s:%lld", arg + 1, (long long)line);
            }
            p = e + 1;
        }
        free(data);
    } else {
        const char *p = arg;
        while (*p && !s) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            s = lex_add(t, p, n, &cap);
            p += n + (c ? 1 : 0);
        }
    }
    if (s) return s;
    if (!t->n_lex) return gh_error(GH_ERR_INVALID_ARG, "the lexicon is empty");
    qsort(t->lex, t->n_lex, sizeof *t->lex, cmp_str);
    return GH_OK;
}

static gh_status parse_int_arg(const char *arg, int32_t def, int32_t lo, int32_t hi, int32_t *out) {
    if (!arg) { *out = def; return GH_OK; }
    char *e;
    long v = strtol(arg, &e, 10);
    if (!*arg || *e || v < lo || v > hi)
        return gh_error(GH_ERR_INVALID_ARG, "'%s' is not an integer in [%d, %d]", arg, lo, hi);
    *out = (int32_t)v;
    return GH_OK;
}

/* A probe term reads the hidden state of the layer the probe was trained on,
 * mean-pooled over the response's tokens (gh_head_features), of the model the
 * probe was trained on: the probe file records that model's SHA-256, and if an
 * rm: term of the same reward opened that very model (the paper's setting:
 * the penalty reads the reward model's own hidden states), the probe reads
 * that reward model; otherwise it reads the policy's backend `b`, and a probe
 * from another model is refused. The probe must also have the model's width.
 * A remote backend (goodhart serve over HTTP) has no weights to hash, so there
 * the probe's model cannot be verified: only its width (n_embd) and layer are
 * checked, against what the server reports. */
static gh_status check_probe_backend(const gh_probe *pr, const char *path, gh_backend *b) {
    gh_backend_dims D = gh_backend_get_dims(b);
    if (D.n_embd < 1 || D.n_layer < 1)
        return gh_error(GH_ERR_UNSUPPORTED, "%s: the backend does not report its %s, which a probe penalty (%s) needs to be checked",
                        gh_backend_ref(b), D.n_embd < 1 ? "embedding width (n_embd)" : "layer count", path);
    if (pr->d != D.n_embd)
        return gh_error(GH_ERR_MISMATCH, "%s: the probe has %d features; model %s has n_embd %d", path, pr->d, gh_backend_ref(b), D.n_embd);
    if (pr->layer < 0 || pr->layer > D.n_layer)
        return gh_error(GH_ERR_MISMATCH, "%s: the probe's layer (%d) is unknown or beyond the model's %d layers (train it with --layer)",
                        path, pr->layer, D.n_layer);
    if (pr->pool[0] && strcmp(pr->pool, "mean"))
        return gh_error(GH_ERR_MISMATCH, "%s: the probe was trained on '%s'-pooled states; a probe penalty pools with mean", path, pr->pool);
    return gh_backend_require(b, GH_CAP_HIDDEN | GH_CAP_TOKENIZE, "a probe penalty");
}

/* Binds each probe term to its backend (see above), once all terms are parsed,
 * so that "probe:P;rm:M" and "rm:M;probe:P" mean the same. */
static gh_status bind_probe(gh_reward *r, term *t, int32_t n_rm) {
    const char *path = t->probe_path;
    if (!n_rm && !r->b)
        return gh_error(GH_ERR_INVALID_ARG, "a probe needs a model to read hidden states from: a policy model, or an rm: term in "
                        "the same reward with the model the probe was trained on");
    /* with no rm: term the policy is the only candidate: what it lacks is said
     * before the file is read */
    gh_status s = GH_OK;
    if (!n_rm && (s = gh_backend_require(r->b, GH_CAP_HIDDEN | GH_CAP_TOKENIZE, "a probe penalty"))) return s;
    if ((s = gh_probe_load(path, &t->probe))) return s;
    /* the model the probe was trained on, by its file's hash: local models
     * hash their file, servers report it in /v1/models (goodhart serve) */
    const char *sha = t->probe->model_sha256;
    for (int32_t k = 0; k < r->n && !t->pb; k++) {
        const char *h = r->t[k].rm && sha[0] ? gh_backend_model_sha256(r->t[k].rm) : NULL;
        if (h && !strcmp(h, sha)) t->pb = r->t[k].rm;
    }
    if (!t->pb) {
        if (!r->b)
            return gh_error(GH_ERR_INVALID_ARG, "%s: a probe needs a model to read hidden states from, and no rm: term of this reward "
                            "is the model it was trained on (SHA-256 %s); give the policy model", path, sha[0] ? sha : "not recorded");
        const char *h = sha[0] ? gh_backend_model_sha256(r->b) : NULL;
        if (sha[0] && !h)
            return gh_error(GH_ERR_UNSUPPORTED, "%s: the probe was trained on the model with SHA-256 %s, and %s does not report its "
                            "model's SHA-256 to check it against (goodhart serve does, in /v1/models)", path, sha, gh_backend_ref(r->b));
        if (h && strcmp(h, sha))
            return gh_error(GH_ERR_MISMATCH, "%s: the probe was trained on the model with SHA-256 %s, which is neither the policy "
                            "model %s (%s) nor %s", path, sha, gh_backend_ref(r->b), h,
                            n_rm ? "the model of an rm: term of this reward" : "a reward model of an rm: term (this reward has none)");
        t->pb = r->b;
        r->caps |= GH_CAP_HIDDEN;
    }
    return check_probe_backend(t->probe, path, t->pb);
}

static gh_status bind_probes(gh_reward *r) {
    int32_t n_rm = 0;
    for (int32_t k = 0; k < r->n; k++) n_rm += r->t[k].rm != NULL;
    for (int32_t i = 0; i < r->n; i++) {
        if (r->t[i].kind != T_PROBE) continue;
        gh_status s = bind_probe(r, &r->t[i], n_rm);
        if (s) { gh_error_prefix("reward '%s', term '%s'", r->spec, r->t[i].text); return s; }
    }
    return GH_OK;
}

static gh_status probe_value(term *t, gh_backend *b, const char *prompt, const char *resp, double *v) {
    gh_head_spec hs = {.layer = t->probe->layer, .pool = GH_POOL_MEAN, .span_response = true};
    float *x = malloc((size_t)t->probe->d * sizeof *x);
    if (!x) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_status s = gh_head_features(b, &hs, prompt, resp, x);
    gh_probe_data one = {.x = x, .n = 1, .d = t->probe->d};
    if (!s) s = gh_probe_score(t->probe, &one, v);
    free(x);
    return s;
}

static gh_status parse_term(gh_reward *r, term *t, char *s) {
    /* s: "[W*]KIND[:ARG]", already unescaped */
    char *p = s;
    while (isspace((unsigned char)*p)) p++;
    t->weight = 1.0;
    char *star = strchr(p, '*');
    char *colon = strchr(p, ':');
    if (star && (!colon || star < colon)) {
        char *e;
        double w = strtod(p, &e);
        while (isspace((unsigned char)*e)) e++;
        if (e != star || !isfinite(w)) return gh_error(GH_ERR_INVALID_ARG, "bad weight before '*'");
        t->weight = w;
        p = star + 1;
        while (isspace((unsigned char)*p)) p++;
    }
    char *arg = NULL;
    colon = strchr(p, ':');
    if (colon) { *colon = 0; arg = colon + 1; }
    size_t kl = strlen(p);
    while (kl && isspace((unsigned char)p[kl - 1])) p[--kl] = 0;
    if (!strcmp(p, "length")) {
        t->kind = T_LENGTH;
        if (!arg || !strcmp(arg, "words")) t->unit = U_WORDS;
        else if (!strcmp(arg, "chars")) t->unit = U_CHARS;
        else if (!strcmp(arg, "tokens")) t->unit = U_TOKENS;
        else return gh_error(GH_ERR_INVALID_ARG, "length unit '%s' is not words, chars or tokens", arg);
    } else if (!strcmp(p, "regex")) {
        t->kind = T_REGEX;
        if (!arg || !*arg) return gh_error(GH_ERR_INVALID_ARG, "regex needs a pattern (regex:PATTERN)");
        int err;
        PCRE2_SIZE off;
        t->re = pcre2_compile((PCRE2_SPTR)arg, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err, &off, NULL);
        if (!t->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            return gh_error(GH_ERR_INVALID_ARG, "regex '%s': %s at offset %zu", arg, (char *)msg, (size_t)off);
        }
    } else if (!strcmp(p, "lexicon")) {
        t->kind = T_LEXICON;
        if (!arg || !*arg) return gh_error(GH_ERR_INVALID_ARG, "lexicon needs words (lexicon:w1,w2 or lexicon:@FILE)");
        return parse_lexicon(t, arg);
    } else if (!strcmp(p, "repetition") || !strcmp(p, "distinct")) {
        t->kind = p[0] == 'r' ? T_REPETITION : T_DISTINCT;
        return parse_int_arg(arg, t->kind == T_REPETITION ? 3 : 1, 1, 16, &t->order);
    } else if (!strcmp(p, "exact") || !strcmp(p, "contains")) {
        t->kind = p[0] == 'e' ? T_EXACT : T_CONTAINS;
        if (arg) return gh_error(GH_ERR_INVALID_ARG, "%s takes no argument (the reference comes from the record)", p);
    } else if (!strcmp(p, "head")) {
        t->kind = T_HEAD;
        if (!arg || !*arg) return gh_error(GH_ERR_INVALID_ARG, "head needs a file (head:FILE.gguf)");
        if (!r->b) return gh_error(GH_ERR_INVALID_ARG, "a head needs a model to read hidden states from");
        gh_status st = gh_backend_require(r->b, GH_CAP_HIDDEN, "a learned reward head");
        if (st) return st;
        r->caps |= GH_CAP_HIDDEN;
        return gh_head_load(arg, r->b, &t->head);
    } else if (!strcmp(p, "probe")) {
        t->kind = T_PROBE;
        if (!arg || !*arg) return gh_error(GH_ERR_INVALID_ARG, "probe needs a file (probe:FILE.gguf)");
        if (!(t->probe_path = strdup(arg))) return gh_error(GH_ERR_NOMEM, "out of memory");
        return GH_OK; /* loaded and bound to its model by bind_probes, after all terms */
    } else if (!strcmp(p, "rm")) {
        /* a reward model (cls.output head) opened here, independent of the
         * policy's backend: its own tokenizer, chat template and threads */
        t->kind = T_RM;
        if (!arg || !*arg) return gh_error(GH_ERR_INVALID_ARG, "rm needs a reward model (rm:MODEL.gguf)");
        gh_status st = gh_backend_open(arg, NULL, &t->rm);
        if (st) return st;
        gh_model *m = gh_backend_model(t->rm);
        if (m && gh_model_get_info(m)->n_cls_out == 0)
            return gh_error(GH_ERR_INVALID_ARG, "%s is not a reward model: it has no classifier head (tensor 'cls.output.weight')", arg);
        return gh_backend_require(t->rm, GH_CAP_REWARD, "an rm: reward term");
    } else {
        return gh_error(GH_ERR_INVALID_ARG, "unknown reward kind '%s' (length, regex, lexicon, repetition, "
                        "distinct, exact, contains, head, probe, rm)", p);
    }
    return GH_OK;
}

gh_status gh_reward_parse(const char *spec, const char *name, gh_backend *b, gh_reward **out) {
    *out = NULL;
    if (!spec || !*spec) return gh_error(GH_ERR_INVALID_ARG, "empty reward spec");
    gh_reward *r = calloc(1, sizeof *r);
    if (!r) return gh_error(GH_ERR_NOMEM, "out of memory");
    r->b = b;
    r->spec = strdup(spec);
    r->name = strdup(name ? name : spec);
    size_t len = strlen(spec);
    char *buf = malloc(len + 1);
    r->t = calloc(len / 2 + 2, sizeof *r->t); /* at most one term per two bytes */
    gh_status s = GH_OK;
    if (!r->spec || !r->name || !buf || !r->t) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i <= len && !s;) {
        /* one term: up to an unescaped ';' */
        size_t o = 0, start = i;
        while (i < len && spec[i] != ';') {
            if (spec[i] == '\\' && i + 1 < len && spec[i + 1] == ';') { buf[o++] = ';'; i += 2; }
            else buf[o++] = spec[i++];
        }
        buf[o] = 0;
        i++;
        term *t = &r->t[r->n];
        t->text = dupn(spec + start, (i - 1 > len ? len : i - 1) - start);
        if (!t->text) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
        r->n++;
        if ((s = parse_term(r, t, buf))) gh_error_prefix("reward '%s', term '%s'", spec, t->text);
    }
    if (!s) s = bind_probes(r);
done:
    free(buf);
    if (s) { gh_reward_free(r); return s; }
    *out = r;
    return GH_OK;
}

void gh_reward_free(gh_reward *r) {
    if (!r) return;
    for (int32_t i = 0; i < r->n; i++) {
        term *t = &r->t[i];
        free(t->text);
        if (t->re) pcre2_code_free(t->re);
        for (size_t j = 0; j < t->n_lex; j++) free(t->lex[j]);
        free(t->lex);
        gh_head_free(t->head);
        gh_probe_free(t->probe);
        free(t->probe_path);
        gh_backend_free(t->rm);
    }
    free(r->t);
    free(r->name);
    free(r->spec);
    free(r);
}

const char *gh_reward_name(const gh_reward *r) { return r->name; }
const char *gh_reward_spec(const gh_reward *r) { return r->spec; }
uint32_t gh_reward_caps(const gh_reward *r) { return r->caps; }
int32_t gh_reward_n_terms(const gh_reward *r) { return r->n; }
double gh_reward_term_weight(const gh_reward *r, int32_t i) { return i >= 0 && i < r->n ? r->t[i].weight : 0.0; }

static bool lex_has(const term *t, const gh_word *w) {
    char buf[128];
    if (w->len >= sizeof buf) return false;
    for (size_t i = 0; i < w->len; i++) buf[i] = (char)tolower((unsigned char)w->ptr[i]);
    buf[w->len] = 0;
    const char *key = buf;
    return bsearch(&key, t->lex, t->n_lex, sizeof *t->lex, cmp_str) != NULL;
}

static void trim(const char *s, const char **b, size_t *n) {
    size_t len = strlen(s);
    while (len && isspace((unsigned char)*s)) { s++; len--; }
    while (len && isspace((unsigned char)s[len - 1])) len--;
    *b = s;
    *n = len;
}

static gh_status term_value(gh_reward *r, term *t, const gh_reward_input *in, double *v) {
    const char *resp = in->response;
    switch (t->kind) {
    case T_LENGTH:
        if (t->unit == U_CHARS) {
            /* characters, not bytes: count UTF-8 lead bytes */
            int64_t n = 0;
            for (const unsigned char *p = (const unsigned char *)resp; *p; p++) n += (*p & 0xC0) != 0x80;
            *v = (double)n;
        } else if (t->unit == U_WORDS) {
            *v = (double)gh_words_split(resp, NULL, 0);
        } else if (in->n_tokens >= 0) {
            *v = in->n_tokens;
        } else {
            gh_model *m = r->b ? gh_backend_model(r->b) : NULL;
            if (!m) return gh_error(GH_ERR_INVALID_ARG, "the response's token count is unknown and no local tokenizer was given");
            int32_t *ids = NULL;
            size_t n = 0;
            gh_status s = gh_tokenize(gh_model_tokenizer(m), resp, strlen(resp), false, false, &ids, &n);
            free(ids);
            if (s) return s;
            *v = (double)n;
        }
        return GH_OK;
    case T_REGEX: {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re, NULL);
        if (!md) return gh_error(GH_ERR_NOMEM, "out of memory");
        size_t len = strlen(resp), off = 0;
        int64_t n = 0;
        while (off <= len) {
            int rc = pcre2_match(t->re, (PCRE2_SPTR)resp, len, off, 0, md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                pcre2_match_data_free(md);
                return gh_error(GH_ERR_INVALID_ARG, "regex match failed: %s", (char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            n++;
            off = ov[1] > ov[0] ? ov[1] : ov[0] + 1; /* an empty match advances one byte */
        }
        pcre2_match_data_free(md);
        *v = (double)n;
        return GH_OK;
    }
    case T_LEXICON:
    case T_REPETITION:
    case T_DISTINCT: {
        int64_t n = gh_words_split(resp, NULL, 0);
        gh_word *w = malloc((size_t)(n ? n : 1) * sizeof *w);
        if (!w) return gh_error(GH_ERR_NOMEM, "out of memory");
        gh_words_split(resp, w, n);
        if (t->kind == T_LEXICON) {
            int64_t c = 0;
            for (int64_t i = 0; i < n; i++) c += lex_has(t, &w[i]);
            *v = (double)c;
        } else {
            int64_t total, distinct;
            gh_ngram_stats(w, n, t->order, &total, &distinct);
            if (t->kind == T_REPETITION) *v = total ? (double)(total - distinct) / (double)total : 0.0;
            else *v = total ? (double)distinct / (double)total : 0.0;
        }
        free(w);
        return GH_OK;
    }
    case T_EXACT:
    case T_CONTAINS: {
        if (!in->reference) return gh_error(GH_ERR_INVALID_ARG, "the record has no reference to compare with");
        const char *a, *b;
        size_t na, nb;
        trim(resp, &a, &na);
        trim(in->reference, &b, &nb);
        if (t->kind == T_EXACT) *v = na == nb && !memcmp(a, b, na);
        else *v = nb == 0 || (nb <= na && memmem(a, na, b, nb) != NULL);
        return GH_OK;
    }
    case T_HEAD:
        return gh_head_score(t->head, r->b, in->prompt ? in->prompt : "", resp, v);
    case T_PROBE:
        return probe_value(t, t->pb, in->prompt ? in->prompt : "", resp, v);
    case T_RM: {
        gh_rm_score *sc = NULL;
        gh_status s = gh_backend_score(t->rm, in->prompt ? in->prompt : "", resp, &sc);
        if (s) return s;
        *v = sc->score;
        gh_rm_score_free(sc);
        return GH_OK;
    }
    }
    return gh_error(GH_ERR_INVALID_ARG, "unknown term");
}

gh_status gh_reward_term_value(gh_reward *r, int32_t i, const gh_reward_input *in, double *v) {
    if (i < 0 || i >= r->n) return gh_error(GH_ERR_INVALID_ARG, "reward '%s' has %d terms, no term %d", r->name, r->n, i);
    if (!in || !in->response) return gh_error(GH_ERR_INVALID_ARG, "reward '%s': no response to score", r->name);
    gh_status s = term_value(r, &r->t[i], in, v);
    if (s) gh_error_prefix("reward '%s', term '%s'", r->name, r->t[i].text);
    return s;
}

gh_status gh_reward_score(gh_reward *r, const gh_reward_input *in, double *out) {
    if (!in || !in->response) return gh_error(GH_ERR_INVALID_ARG, "reward '%s': no response to score", r->name);
    double sum = 0;
    for (int32_t i = 0; i < r->n; i++) {
        double v = 0;
        gh_status s = term_value(r, &r->t[i], in, &v);
        if (s) { gh_error_prefix("reward '%s', term '%s'", r->name, r->t[i].text); return s; }
        sum += r->t[i].weight * v;
    }
    if (!isfinite(sum)) return gh_error(GH_ERR_INVALID_ARG, "reward '%s' is not finite (%g)", r->name, sum);
    *out = sum;
    return GH_OK;
}
