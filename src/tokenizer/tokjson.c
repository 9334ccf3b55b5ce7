/* tokjson.c — builds a tokenizer from a Hugging Face tokenizer.json (cJSON).
 *
 * Understood: model.type "BPE" (vocab, merges as "a b" strings or [a, b]
 * pairs, byte_fallback, ignore_merges, unk_token) and "WordPiece" (vocab,
 * unk_token, continuing_subword_prefix, max_input_chars_per_word);
 * added_tokens (special -> control, else user-defined); normalizers NFC, NFD,
 * NFKC, NFKD, Prepend/Replace (SentencePiece-style space escaping), Lowercase
 * and BertNormalizer, alone or in a Sequence; pre-tokenizers Split (Regex or
 * String pattern, Isolated), ByteLevel, Metaspace, BertPreTokenizer and
 * Whitespace(Split), alone or in a Sequence; post_processor TemplateProcessing /
 * BertProcessing / RobertaProcessing for BOS/EOS. If a tokenizer_config.json lies
 * next to the file, its bos_token / eos_token / add_bos_token / add_eos_token
 * are read too (Hugging Face's own loader does the same).
 *
 * The model family is inferred: WordPiece -> "bert"; BPE with a ByteLevel
 * pre-tokenizer or decoder -> "gpt2" (byte-level); other BPE -> "llama"
 * (SentencePiece-style: "▁" for spaces, byte fallback), merged by rank.
 * Every error names the file and the JSON field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/file.h"
#include "tokenizer/tok_internal.h"

#define JSON_MAX_BYTES (1u << 30)

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jbool(const cJSON *o, const char *key, bool def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return def;
}

/* Options gathered from normalizer / pre_tokenizer / decoder before building. */
typedef struct json_opts {
    bool byte_level, metaspace, prefix, bert_pre, bert_norm, lowercase, strip_accents, strip_set;
    tok_norm norm;
    const char *regex[TOK_MAX_REGEX];
    char *owned[TOK_MAX_REGEX];
    int n_regex;
} json_opts;

/* A regex that matches `s` literally. */
static char *regex_quote(const char *s) {
    size_t n = strlen(s);
    char *q = malloc(n * 2 + 1), *o = q;
    if (!q) return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 128 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ' '))
            *o++ = '\\';
        *o++ = (char)c;
    }
    *o = 0;
    return q;
}

static gh_status parse_normalizer(const char *path, const cJSON *n, json_opts *o, const char *field) {
    if (!n || cJSON_IsNull(n)) return GH_OK;
    const char *type = jstr(n, "type");
    if (!type) return gh_error(GH_ERR_FORMAT, "%s: %s: missing \"type\"", path, field);
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(arr)) return gh_error(GH_ERR_FORMAT, "%s: %s.normalizers: not an array", path, field);
        const cJSON *it;
        cJSON_ArrayForEach(it, arr) {
            gh_status s = parse_normalizer(path, it, o, field);
            if (s) return s;
        }
        return GH_OK;
    }
    if (!strcmp(type, "NFC")) o->norm = TOK_NORM_NFC;
    else if (!strcmp(type, "NFD")) o->norm = TOK_NORM_NFD;
    else if (!strcmp(type, "NFKC")) o->norm = TOK_NORM_NFKC;
    else if (!strcmp(type, "NFKD")) o->norm = TOK_NORM_NFKD;
    else if (!strcmp(type, "Lowercase")) o->lowercase = true;
    else if (!strcmp(type, "Prepend")) {
        const char *p = jstr(n, "prepend");
        if (!p || strcmp(p, "\xe2\x96\x81"))
            return gh_error(GH_ERR_UNSUPPORTED, "%s: %s.prepend: only \"\xe2\x96\x81\" is supported", path, field);
        o->prefix = true;
        o->metaspace = true;
    } else if (!strcmp(type, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *from = pat ? jstr(pat, "String") : NULL, *to = jstr(n, "content");
        if (!from || !to || strcmp(from, " ") || strcmp(to, "\xe2\x96\x81"))
            return gh_error(GH_ERR_UNSUPPORTED, "%s: %s: only Replace \" \" -> \"\xe2\x96\x81\" is supported", path, field);
        o->metaspace = true;
    } else if (!strcmp(type, "BertNormalizer")) {
        o->bert_norm = true;
        o->lowercase = jbool(n, "lowercase", true);
        const cJSON *sa = cJSON_GetObjectItemCaseSensitive(n, "strip_accents");
        if (cJSON_IsBool(sa)) { o->strip_accents = cJSON_IsTrue(sa); o->strip_set = true; }
    } else if (!strcmp(type, "Strip")) {
        /* leading/trailing whitespace removal is not done; harmless for the models we read */
    } else {
        return gh_error(GH_ERR_UNSUPPORTED, "%s: %s.type: normalizer \"%s\" is not supported", path, field, type);
    }
    return GH_OK;
}

static gh_status add_regex_opt(const char *path, json_opts *o, const char *re, char *owned, const char *field) {
    if (o->n_regex >= TOK_MAX_REGEX) {
        free(owned);
        return gh_error(GH_ERR_UNSUPPORTED, "%s: %s: more than %d splits", path, field, TOK_MAX_REGEX);
    }
    o->owned[o->n_regex] = owned;
    o->regex[o->n_regex++] = re;
    return GH_OK;
}

static gh_status parse_pre(const char *path, const cJSON *p, json_opts *o, const char *field) {
    if (!p || cJSON_IsNull(p)) return GH_OK;
    const char *type = jstr(p, "type");
    if (!type) return gh_error(GH_ERR_FORMAT, "%s: %s: missing \"type\"", path, field);
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(arr)) return gh_error(GH_ERR_FORMAT, "%s: %s.pretokenizers: not an array", path, field);
        const cJSON *it;
        cJSON_ArrayForEach(it, arr) {
            gh_status s = parse_pre(path, it, o, field);
            if (s) return s;
        }
        return GH_OK;
    }
    if (!strcmp(type, "Split")) {
        const char *beh = jstr(p, "behavior");
        if (beh && strcmp(beh, "Isolated"))
            return gh_error(GH_ERR_UNSUPPORTED, "%s: %s.behavior: \"%s\" is not supported (only \"Isolated\")", path,
                            field, beh);
        if (jbool(p, "invert", false))
            return gh_error(GH_ERR_UNSUPPORTED, "%s: %s.invert: true is not supported", path, field);
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const char *re = pat ? jstr(pat, "Regex") : NULL;
        if (re) return add_regex_opt(path, o, re, NULL, field);
        const char *lit = pat ? jstr(pat, "String") : NULL;
        if (!lit) return gh_error(GH_ERR_FORMAT, "%s: %s.pattern: needs \"Regex\" or \"String\"", path, field);
        char *q = regex_quote(lit);
        if (!q) return gh_error(GH_ERR_NOMEM, "%s: out of memory", path);
        return add_regex_opt(path, o, q, q, field);
    }
    if (!strcmp(type, "ByteLevel")) {
        o->byte_level = true;
        if (jbool(p, "add_prefix_space", false)) o->prefix = true;
        if (jbool(p, "use_regex", true)) return add_regex_opt(path, o, NULL, NULL, field); /* NULL = GPT-2's */
        return GH_OK;
    }
    if (!strcmp(type, "Metaspace")) {
        o->metaspace = true;
        /* split (the default): every space starts a new piece, so merges never
         * cross words; the pattern runs before spaces become "▁" */
        if (jbool(p, "split", true)) {
            gh_status s = add_regex_opt(path, o, " [^ ]*|[^ ]+", NULL, field);
            if (s) return s;
        }
        const char *scheme = jstr(p, "prepend_scheme");
        if (scheme ? strcmp(scheme, "never") != 0 : jbool(p, "add_prefix_space", true)) o->prefix = true;
        return GH_OK;
    }
    if (!strcmp(type, "BertPreTokenizer") || !strcmp(type, "Whitespace") || !strcmp(type, "WhitespaceSplit")) {
        o->bert_pre = true;
        return GH_OK;
    }
    return gh_error(GH_ERR_UNSUPPORTED, "%s: %s.type: pre-tokenizer \"%s\" is not supported", path, field, type);
}

/* Special token text -> id through the built vocabulary. */
static int32_t special_id(const gh_tokenizer *t, const cJSON *v) {
    const char *s = NULL;
    if (cJSON_IsString(v)) s = v->valuestring;
    else if (cJSON_IsObject(v)) s = jstr(v, "content");
    return s ? gh_tokenizer_find(t, s) : -1;
}

static void parse_post(gh_tokenizer *t, const cJSON *pp) {
    if (!pp || cJSON_IsNull(pp)) return;
    const char *type = jstr(pp, "type");
    if (!type) return;
    if (!strcmp(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pp, "processors")) parse_post(t, it);
        return;
    }
    if (!strcmp(type, "TemplateProcessing")) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single"), *it;
        bool seen_seq = false;
        cJSON_ArrayForEach(it, single) {
            if (cJSON_GetObjectItemCaseSensitive(it, "Sequence")) { seen_seq = true; continue; }
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
            int32_t id = sp ? gh_tokenizer_find(t, jstr(sp, "id")) : -1;
            if (id < 0) continue;
            if (!seen_seq) { t->bos = id; t->add_bos = true; }
            else { t->eos = id; t->add_eos = true; }
        }
        return;
    }
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(pp, "cls"), *sep = cJSON_GetObjectItemCaseSensitive(pp, "sep");
        int32_t c = cJSON_IsArray(cls) ? special_id(t, cJSON_GetArrayItem(cls, 0)) : -1;
        int32_t s = cJSON_IsArray(sep) ? special_id(t, cJSON_GetArrayItem(sep, 0)) : -1;
        if (c >= 0) { t->cls = t->bos = c; t->add_bos = true; }
        if (s >= 0) { t->sep = t->eos = s; t->add_eos = true; }
    }
}

/* tokenizer_config.json next to the file, if any. */
static void parse_config(gh_tokenizer *t, const char *path) {
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path + 1) : 0;
    char cpath[4096];
    if (dl + 32 > sizeof cpath) return;
    memcpy(cpath, path, dl);
    strcpy(cpath + dl, "tokenizer_config.json");
    char *buf = NULL;
    size_t len = 0;
    if (gh_read_file(cpath, JSON_MAX_BYTES, &buf, &len)) { gh_clear_error(); return; }
    cJSON *c = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!c) return; /* a broken config is not ours to judge: tokenizer.json decides */
    int32_t id;
    if ((id = special_id(t, cJSON_GetObjectItemCaseSensitive(c, "bos_token"))) >= 0) t->bos = id;
    if ((id = special_id(t, cJSON_GetObjectItemCaseSensitive(c, "eos_token"))) >= 0) t->eos = id;
    if ((id = special_id(t, cJSON_GetObjectItemCaseSensitive(c, "pad_token"))) >= 0) t->pad = id;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "add_bos_token");
    if (cJSON_IsBool(v)) t->add_bos = cJSON_IsTrue(v) && t->bos >= 0;
    v = cJSON_GetObjectItemCaseSensitive(c, "add_eos_token");
    if (cJSON_IsBool(v)) t->add_eos = cJSON_IsTrue(v) && t->eos >= 0;
    cJSON_Delete(c);
}

static gh_status set_vocab_entry(gh_tokenizer *t, const char *path, const cJSON *item, const char *field,
                                 int32_t *max_id) {
    if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble > INT32_MAX - 1 ||
        item->valuedouble != (double)(int32_t)item->valuedouble)
        return gh_error(GH_ERR_FORMAT, "%s: %s[\"%s\"]: id is not a non-negative integer", path, field,
                        item->string ? item->string : "?");
    int32_t id = (int32_t)item->valuedouble;
    if (max_id) { if (id > *max_id) *max_id = id; return GH_OK; }
    return tok_set_token(t, id, item->string, strlen(item->string), GH_TOKEN_NORMAL, 0.0f);
}

static gh_status build(gh_tokenizer *t, const char *path, const cJSON *root) {
    gh_status s;
    if (!cJSON_IsObject(root)) return gh_error(GH_ERR_FORMAT, "%s: the top level is not a JSON object", path);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return gh_error(GH_ERR_FORMAT, "%s: model: missing or not an object", path);
    const char *mtype = jstr(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!mtype) mtype = merges ? "BPE" : "WordPiece";
    bool wpm = !strcmp(mtype, "WordPiece");
    if (!wpm && strcmp(mtype, "BPE"))
        return gh_error(GH_ERR_UNSUPPORTED, "%s: model.type: \"%s\" is not supported (BPE or WordPiece)", path, mtype);
    if (!cJSON_IsObject(vocab)) return gh_error(GH_ERR_FORMAT, "%s: model.vocab: missing or not an object", path);
    if (!wpm && !cJSON_IsArray(merges)) return gh_error(GH_ERR_FORMAT, "%s: model.merges: missing or not an array", path);
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return gh_error(GH_ERR_FORMAT, "%s: added_tokens: not an array", path);

    /* vocabulary size: the largest id of vocab and added_tokens */
    int32_t max_id = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) if ((s = set_vocab_entry(t, path, it, "model.vocab", &max_id))) return s;
    cJSON_ArrayForEach(it, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > INT32_MAX - 1 || !jstr(it, "content"))
            return gh_error(GH_ERR_FORMAT, "%s: added_tokens: an entry lacks a valid \"id\" or \"content\"", path);
        if ((int32_t)id->valuedouble > max_id) max_id = (int32_t)id->valuedouble;
    }
    if ((s = tok_reserve(t, max_id + 1))) return s;
    cJSON_ArrayForEach(it, vocab) if ((s = set_vocab_entry(t, path, it, "model.vocab", NULL))) return s;
    cJSON_ArrayForEach(it, added) {
        int32_t id = (int32_t)cJSON_GetObjectItemCaseSensitive(it, "id")->valuedouble;
        const char *c = jstr(it, "content");
        if ((s = tok_set_token(t, id, c, strlen(c), jbool(it, "special", false) ? GH_TOKEN_CONTROL : GH_TOKEN_USER_DEFINED,
                               0.0f)))
            return s;
    }
    for (int32_t i = 0; i < t->n_vocab; i++) /* ids no entry names (holes) */
        if (!t->tok[i].text && (s = tok_set_token(t, i, "", 0, GH_TOKEN_UNUSED, 0.0f))) return s;
    if ((s = tok_build_hash(t))) return s;

    json_opts o = {0};
    if ((s = parse_normalizer(path, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), &o, "normalizer"))) goto out;
    if ((s = parse_pre(path, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), &o, "pre_tokenizer"))) goto out;
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    const char *dtype = dec ? jstr(dec, "type") : NULL;
    if (dtype && !strcmp(dtype, "ByteLevel")) o.byte_level = true;

    const char *unk = jstr(model, "unk_token");
    if (unk) t->unk = gh_tokenizer_find(t, unk);
    if (wpm) {
        t->kind = GH_TOK_WPM;
        t->algo = TOK_ALGO_WPM;
        tok_set_model_name(t, "bert");
        snprintf(t->pre_name, sizeof t->pre_name, "bert");
        const char *pfx = jstr(model, "continuing_subword_prefix");
        if (pfx && strcmp(pfx, "##"))
            { s = gh_error(GH_ERR_UNSUPPORTED, "%s: model.continuing_subword_prefix: only \"##\" is supported", path); goto out; }
        const cJSON *mc = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
        if (cJSON_IsNumber(mc) && mc->valuedouble >= 1 && mc->valuedouble < 1e9) t->wpm_max_chars = (int32_t)mc->valuedouble;
        t->lowercase = o.lowercase;
        t->strip_accents = o.strip_set ? o.strip_accents : o.lowercase;
        t->cls = gh_tokenizer_find(t, "[CLS]");
        t->sep = gh_tokenizer_find(t, "[SEP]");
        t->pad = gh_tokenizer_find(t, "[PAD]");
        t->add_bos = t->add_eos = true;
        if (o.norm != TOK_NORM_NONE) t->norm = o.norm;
    } else {
        t->algo = TOK_ALGO_BPE;
        t->byte_fallback = jbool(model, "byte_fallback", false);
        t->ignore_merges = jbool(model, "ignore_merges", false);
        t->norm = o.norm;
        if (o.byte_level) {
            t->kind = GH_TOK_BPE;
            t->byte_level = true;
            tok_set_model_name(t, "gpt2");
        } else {
            t->kind = GH_TOK_SPM;
            tok_set_model_name(t, "llama");
        }
        t->add_space_prefix = o.prefix;
        if (t->byte_fallback)
            for (int32_t i = 0; i < t->n_vocab; i++) {
                tok_entry *e = &t->tok[i];
                if (e->type == GH_TOKEN_NORMAL && e->len == 6 && !memcmp(e->text, "<0x", 3) && e->text[5] == '>')
                    e->type = GH_TOKEN_BYTE;
            }
        if (t->unk >= 0 && t->tok[t->unk].type == GH_TOKEN_NORMAL) t->tok[t->unk].type = GH_TOKEN_UNKNOWN;
        for (int i = 0; i < o.n_regex; i++) {
            const char *re = o.regex[i] ? o.regex[i] : NULL;
            if (!re) {
                const char *pats[TOK_MAX_REGEX];
                int n;
                bool im;
                tok_pre_regexes("gpt-2", pats, &n, &im);
                re = pats[0];
            }
            if ((s = tok_add_regex(t, re, "pre_tokenizer"))) goto out;
        }
        /* name the pre-tokenizer after the published pattern it uses, if any */
        snprintf(t->pre_name, sizeof t->pre_name, "%s", o.n_regex ? "custom" : "none");
        static const char *known[] = {"gpt-2", "llama3", "qwen2"};
        for (int k = 0; k < 3; k++) {
            const char *pats[TOK_MAX_REGEX];
            int n;
            bool im;
            tok_pre_regexes(known[k], pats, &n, &im);
            if (o.n_regex == 1 && (o.regex[0] ? !strcmp(o.regex[0], pats[0]) : k == 0))
                snprintf(t->pre_name, sizeof t->pre_name, "%s", known[k]);
        }
        /* merges */
        if ((s = tok_reserve_merges(t, cJSON_GetArraySize(merges)))) goto out;
        int idx = 0;
        cJSON_ArrayForEach(it, merges) {
            const char *l = NULL, *r = NULL;
            size_t ll = 0, rl = 0;
            if (cJSON_IsString(it)) {
                const char *sp = strchr(it->valuestring, ' ');
                if (sp && !strchr(sp + 1, ' ')) { l = it->valuestring; ll = (size_t)(sp - l); r = sp + 1; rl = strlen(r); }
            } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                       cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
                l = cJSON_GetArrayItem(it, 0)->valuestring;
                r = cJSON_GetArrayItem(it, 1)->valuestring;
                ll = strlen(l);
                rl = strlen(r);
            }
            if (!l || ll == 0 || rl == 0) {
                s = gh_error(GH_ERR_FORMAT, "%s: model.merges[%d]: not \"a b\" or [\"a\", \"b\"]", path, idx);
                goto out;
            }
            if ((s = tok_add_merge(t, l, ll, r, rl, "model.merges"))) goto out;
            idx++;
        }
    }
    parse_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"));
    parse_config(t, path);
    /* end of turn, by the names chat models use */
    static const char *eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>"};
    for (size_t k = 0; k < sizeof eot_names / sizeof eot_names[0] && t->eot < 0; k++) {
        int32_t id = gh_tokenizer_find(t, eot_names[k]);
        if (id >= 0 && t->tok[id].type == GH_TOKEN_CONTROL && id != t->eos) t->eot = id;
    }
    if (t->eos < 0) {
        static const char *eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", "[SEP]"};
        for (size_t k = 0; k < sizeof eos_names / sizeof eos_names[0] && t->eos < 0; k++)
            t->eos = gh_tokenizer_find(t, eos_names[k]);
    }
    s = tok_finish(t);
out:
    for (int i = 0; i < o.n_regex; i++) free(o.owned[i]);
    return s;
}

gh_status gh_tokenizer_from_json(const char *path, gh_tokenizer **out) {
    if (!path || !out) return gh_error(GH_ERR_INVALID_ARG, "gh_tokenizer_from_json: NULL argument");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    gh_status s = gh_read_file(path, JSON_MAX_BYTES, &buf, &len);
    if (s) return s;
    cJSON *root = cJSON_ParseWithLength(buf, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= buf && at <= buf + len ? (size_t)(at - buf) : 0;
        free(buf);
        return gh_error(GH_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", path, off);
    }
    free(buf);
    gh_tokenizer *t = NULL;
    s = tok_alloc(&t, path);
    if (!s) s = build(t, path, root);
    cJSON_Delete(root);
    if (s) { gh_tokenizer_free(t); return s; }
    *out = t;
    return GH_OK;
}
