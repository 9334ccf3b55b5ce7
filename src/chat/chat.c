/* chat.c — chat templates: from a family name, a template file or a model's
 * tokenizer.chat_template to the family that renders it (render.c).
 *
 * goodhart runs no Jinja. A Jinja template is recognised by marker strings
 * that only its family writes (gh_chat_template_detect); anything else is an
 * error that names where the template came from, so a prompt is never built
 * in a format the model was not trained on without the user saying so.
 */
#include "chat/chat_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "goodhart/tokenizer.h"

#define FAMILY_LIST "chatml (qwen), llama3, llama3.1, llama2, mistral, mistral-v3, gemma, zephyr, phi3, plain"

static const char *const families[] = {"chatml", "llama3", "llama2", "mistral", "gemma", "zephyr", "phi3", "plain"};

/* A family name, with its variant; NULL if not one. */
static const char *family_by_name(const char *name, int *variant) {
    *variant = 0;
    for (size_t i = 0; i < sizeof families / sizeof *families; i++)
        if (!strcmp(name, families[i])) return families[i];
    if (!strcmp(name, "qwen") || !strcmp(name, "qwen2")) return "chatml";
    if (!strcmp(name, "llama3.1")) { *variant = CHAT_LLAMA3_DATED; return "llama3"; }
    if (!strcmp(name, "mistral-v3")) { *variant = CHAT_MISTRAL_V3; return "mistral"; }
    return NULL;
}

static bool has(const char *s, const char *needle) { return strstr(s, needle) != NULL; }

/* A string literal of the template, in either quote style. */
static bool has_lit(const char *s, const char *text) {
    char q[64];
    snprintf(q, sizeof q, "'%s'", text);
    if (has(s, q)) return true;
    snprintf(q, sizeof q, "\"%s\"", text);
    return has(s, q);
}

/* The family of a Jinja template and its variant (chat_internal.h), checked
 * most distinctive first: Phi-3's and Zephyr's role tags look alike and are
 * told apart by how a turn ends (<|end|> against the EOS token). */
static const char *detect(const char *jinja, int *variant, bool *bos) {
    *variant = 0;
    *bos = false;
    if (!jinja) return NULL;
    /* look-alikes of other formats: Phi-4 writes ChatML's tags with
     * <|im_sep|> instead of a newline, ChatGLM uses Zephyr's role tags */
    if (has(jinja, "<|im_sep|>") || has(jinja, "[gMASK]")) return NULL;
    if (has(jinja, "<|im_start|>")) return "chatml";
    if (has(jinja, "<|start_header_id|>") && has(jinja, "<|eot_id|>")) {
        if (has(jinja, "Cutting Knowledge Date")) *variant = CHAT_LLAMA3_DATED;
        /* Meta-Llama-3-8B (the base model) writes the assistant header
         * whether or not a generation prompt is asked for */
        else if (!has(jinja, "add_generation_prompt")) *variant = CHAT_LLAMA3_ALWAYS_GEN;
        return "llama3";
    }
    if (has(jinja, "<start_of_turn>")) return "gemma";
    if (has(jinja, "[INST]")) {
        if (has(jinja, "<<SYS>>")) return "llama2";
        /* Mistral's later formats (Tekken: no spaces; v7: [SYSTEM_PROMPT])
         * are not rendered: better an error than a near miss */
        if (has(jinja, "[SYSTEM_PROMPT]") || has_lit(jinja, "[INST]")) return NULL;
        if (has_lit(jinja, "[/INST]")) *variant = CHAT_MISTRAL_V3;
        else if (has_lit(jinja, " [INST] ")) *variant = CHAT_MISTRAL_V1;
        else if (has(jinja, "eos_token + ' '") || has(jinja, "eos_token + \" \"")) *variant = CHAT_MISTRAL_V1_EOS_SPACE;
        else *variant = CHAT_MISTRAL_V1_TIGHT;
        return "mistral";
    }
    /* Phi-3-small writes every role tag as '<|' + role + '|>' */
    if (has(jinja, "<|end|>") && (has(jinja, "<|user|>") || has(jinja, "'<|' + "))) {
        *bos = has(jinja, "bos_token");
        if (!has(jinja, "add_generation_prompt")) *variant = CHAT_PHI3_LEGACY;
        return "phi3";
    }
    if (has(jinja, "<|user|>") && has(jinja, "<|assistant|>") && (has(jinja, "eos_token") || has(jinja, "</s>"))) {
        /* the newline after each message is template text after the tag */
        if (!has(jinja, "eos_token }}\n")) *variant = CHAT_ZEPHYR_COMPACT;
        return "zephyr";
    }
    return NULL;
}

const char *gh_chat_template_detect(const char *jinja) {
    int variant;
    bool bos;
    return detect(jinja, &variant, &bos);
}

/* Qwen's ChatML templates open with a default system message when the
 * conversation has none: '<|im_start|>system\nYou are ...<|im_end|>\n' as a
 * string literal. *out: that text (Jinja escapes undone), or NULL if none. */
static gh_status chatml_default_system(const char *jinja, char **out) {
    *out = NULL;
    static const char *const opens[] = {"<|im_start|>system\\n", "<|im_start|>system\n"};
    for (int k = 0; k < 2; k++) {
        for (const char *p = strstr(jinja, opens[k]); p; p = strstr(p + 1, opens[k])) {
            const char *t = p + strlen(opens[k]);
            const char *e = strstr(t, "<|im_end|>");
            /* a literal only: no quote, no expression between the tags */
            if (!e || e == t || memchr(t, '\'', (size_t)(e - t)) || memchr(t, '"', (size_t)(e - t)) ||
                memchr(t, '{', (size_t)(e - t)) || memchr(t, '+', (size_t)(e - t)))
                continue;
            char *o = malloc((size_t)(e - t) + 1);
            if (!o) return gh_error(GH_ERR_NOMEM, "out of memory");
            size_t n = 0;
            for (const char *q = t; q < e; q++) {
                if (*q == '\\' && q + 1 < e) {
                    q++;
                    o[n++] = *q == 'n' ? '\n' : *q == 't' ? '\t' : *q;
                } else {
                    o[n++] = *q;
                }
            }
            o[n] = '\0';
            *out = o;
            return GH_OK;
        }
    }
    return GH_OK;
}

/* A recognised Jinja template as a spec; `origin` names it in errors. */
static gh_status spec_from_jinja(const char *jinja, const char *origin, const char *where, chat_spec *sp) {
    const char *f = detect(jinja, &sp->variant, &sp->bos);
    if (!f) {
        char head[61];
        size_t n = 0;
        for (const char *p = jinja; *p && n < 60; p++) head[n++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
        /* whole UTF-8 characters only */
        size_t k = n;
        while (k > 0 && ((unsigned char)head[k - 1] & 0xC0) == 0x80) k--;
        if (k > 0 && (unsigned char)head[k - 1] >= 0xC0) {
            unsigned char lead = (unsigned char)head[k - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            if (n - (k - 1) < need) n = k - 1;
        }
        head[n] = '\0';
        return gh_error(GH_ERR_UNSUPPORTED,
                        "%s: chat template%s%s not recognised (it begins \"%s%s\"); goodhart knows the families "
                        FAMILY_LIST " — pass --chat-template NAME, or a JSON template file (docs/chat.md)",
                        origin, where ? " in " : "", where ? where : "", head, strlen(jinja) > 60 ? "..." : "");
    }
    sp->family = f;
    sp->origin = origin;
    if (!strcmp(f, "chatml")) return chatml_default_system(jinja, &sp->default_system);
    return GH_OK;
}

static const char *const part_key[CHAT_N_PARTS] = {"bos", "system", "user", "assistant", "generation"};

/* A JSON template file: either goodhart's own object (chat.h) or a Hugging
 * Face tokenizer_config.json, whose "chat_template" is Jinja. */
static gh_status spec_from_json(const char *text, const char *path, chat_spec *sp) {
    const char *ep = NULL;
    cJSON *j = cJSON_ParseWithOpts(text, &ep, 1);
    if (!j) {
        int line = 1;
        for (const char *p = text; ep && p < ep; p++) line += *p == '\n';
        return gh_error(GH_ERR_FORMAT, "%s: malformed JSON chat template (near line %d)", path, line);
    }
    gh_status s = GH_OK;
    if (!cJSON_IsObject(j)) {
        s = gh_error(GH_ERR_FORMAT, "%s: a JSON chat template must be an object", path);
        goto done;
    }
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(j, "chat_template");
    if (ct) {
        /* tokenizer_config.json: a string, or a list of {name, template} */
        const char *jinja = cJSON_IsString(ct) ? ct->valuestring : NULL;
        if (cJSON_IsArray(ct)) {
            const cJSON *e;
            cJSON_ArrayForEach(e, ct) {
                const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
                const cJSON *tp = cJSON_GetObjectItemCaseSensitive(e, "template");
                if (cJSON_IsString(nm) && !strcmp(nm->valuestring, "default") && cJSON_IsString(tp))
                    jinja = tp->valuestring;
            }
        }
        if (!jinja) {
            s = gh_error(GH_ERR_FORMAT, "%s: \"chat_template\" is neither a string nor a list holding a \"default\" "
                         "template", path);
            goto done;
        }
        s = spec_from_jinja(jinja, path, "\"chat_template\"", sp);
        goto done;
    }
    if (cJSON_GetObjectItemCaseSensitive(j, "tokenizer_class") ||
        cJSON_GetObjectItemCaseSensitive(j, "added_tokens_decoder")) {
        s = gh_error(GH_ERR_UNSUPPORTED, "%s: a tokenizer config with no \"chat_template\"", path);
        goto done;
    }
    sp->family = "json";
    sp->origin = path;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        int k = 0;
        while (k < CHAT_N_PARTS && strcmp(e->string, part_key[k]) != 0) k++;
        if (k == CHAT_N_PARTS) {
            s = gh_error(GH_ERR_FORMAT, "%s: unknown key \"%s\" in a JSON chat template (bos, system, user, "
                         "assistant, generation)", path, e->string);
            goto done;
        }
        if (!cJSON_IsString(e)) {
            s = gh_error(GH_ERR_FORMAT, "%s: \"%s\" must be a string", path, e->string);
            goto done;
        }
        if (k >= CHAT_PART_SYSTEM && k <= CHAT_PART_ASSISTANT && !strstr(e->valuestring, "{content}")) {
            s = gh_error(GH_ERR_FORMAT, "%s: \"%s\" has no {content}", path, e->string);
            goto done;
        }
        free(sp->part[k]);
        if (!(sp->part[k] = strdup(e->valuestring))) { s = gh_error(GH_ERR_NOMEM, "out of memory"); goto done; }
    }
    if (!sp->part[CHAT_PART_USER] || !sp->part[CHAT_PART_ASSISTANT])
        s = gh_error(GH_ERR_FORMAT, "%s: a JSON chat template needs at least \"user\" and \"assistant\"", path);
done:
    cJSON_Delete(j);
    return s;
}

/* Does a file's text hold a JSON object (rather than Jinja, which also may
 * start with '{' but then '{', '%' or '#')? */
static bool looks_like_json(const char *text) {
    const char *p = text;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (*p != '{') return false;
    p++;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return *p == '"' || *p == '}';
}

/* A family name or a template file. */
static gh_status spec_from_ref(const char *ref, chat_spec *sp) {
    memset(sp, 0, sizeof *sp);
    if (!ref || !*ref) return gh_error(GH_ERR_INVALID_ARG, "no chat template named");
    const char *f = family_by_name(ref, &sp->variant);
    if (f) {
        sp->family = f;
        sp->origin = f;
        return GH_OK;
    }
    struct stat st;
    if (stat(ref, &st) != 0 || !S_ISREG(st.st_mode))
        return gh_error(GH_ERR_INVALID_ARG, "unknown chat template \"%s\": not a family (" FAMILY_LIST
                        ") and not a template file", ref);
    char *text = NULL;
    size_t len = 0;
    gh_status s = gh_read_file(ref, (size_t)16 << 20, &text, &len);
    if (s) return s;
    if (strlen(text) != len) s = gh_error(GH_ERR_FORMAT, "%s: a chat template file holds a NUL byte", ref);
    else if (looks_like_json(text)) s = spec_from_json(text, ref, sp);
    else s = spec_from_jinja(text, ref, NULL, sp);
    free(text);
    if (s) chat_spec_free(sp);
    return s;
}

gh_status gh_chat_render(const char *template_ref, const gh_chat_msg *msgs, int32_t n_msgs,
                         bool add_generation_prompt, const char *bos, const char *eos, char **out) {
    *out = NULL;
    chat_spec sp;
    gh_status s = spec_from_ref(template_ref, &sp);
    if (s) return s;
    s = chat_render_spec(&sp, msgs, n_msgs, add_generation_prompt, bos, eos, out);
    chat_spec_free(&sp);
    return s;
}

/* The text of a special token of the model's vocabulary, or NULL. */
static const char *token_text(const gh_tokenizer *t, int32_t id) {
    return (t && id >= 0) ? gh_tokenizer_token_text(t, id) : NULL;
}

gh_status gh_chat_render_for_model(const gh_model *m, const char *override, const gh_chat_msg *msgs,
                                   int32_t n_msgs, bool add_generation_prompt, char **out,
                                   const char **family) {
    *out = NULL;
    if (family) *family = NULL;
    if (!m) return gh_error(GH_ERR_INVALID_ARG, "no model for the chat template");
    const gh_gguf *g = gh_model_gguf(m);
    const char *path = g ? gh_gguf_path(g) : "model";
    chat_spec sp;
    gh_status s;
    if (override) {
        s = spec_from_ref(override, &sp);
        if (s) return s;
    } else {
        memset(&sp, 0, sizeof sp);
        int64_t k = g ? gh_gguf_find_key(g, "tokenizer.chat_template") : -1;
        if (k < 0)
            return gh_error(GH_ERR_UNSUPPORTED, "%s: the model has no chat template (tokenizer.chat_template); "
                            "pass --chat-template NAME|FILE (" FAMILY_LIST ")", path);
        gh_str v;
        if (gh_gguf_kv_str(g, k, &v))
            return gh_error(GH_ERR_FORMAT, "%s: tokenizer.chat_template is not a string", path);
        char *jinja = malloc(v.len + 1);
        if (!jinja) return gh_error(GH_ERR_NOMEM, "out of memory");
        memcpy(jinja, v.ptr, v.len);
        jinja[v.len] = '\0';
        s = spec_from_jinja(jinja, path, "tokenizer.chat_template", &sp);
        free(jinja);
        if (s) { chat_spec_free(&sp); return s; }
    }
    const gh_tokenizer *t = gh_model_tokenizer(m);
    const char *bos = t ? token_text(t, gh_tokenizer_bos(t)) : NULL;
    const char *eos = t ? token_text(t, gh_tokenizer_eos(t)) : NULL;
    /* plain stands for ordinary prompting: BOS only where the model adds one */
    if (!strcmp(sp.family, "plain") && !(t && gh_tokenizer_add_bos(t))) bos = NULL;
    s = chat_render_spec(&sp, msgs, n_msgs, add_generation_prompt, bos, eos, out);
    if (!s && family) *family = sp.family;
    chat_spec_free(&sp);
    return s;
}
