/* render.c — the chat template families, each written out by hand to give
 * byte for byte what the family's published Jinja template gives under
 * Hugging Face's apply_chat_template (trim_blocks and lstrip_blocks on).
 * docs/chat.md shows every family's output for one conversation; the golden
 * tests in tests/chat/ hold the same strings.
 *
 * "trim" below is Jinja's `| trim` / Python's str.strip(): leading and trailing
 * whitespace removed. Only ASCII whitespace here: a message that starts or
 * ends with a Unicode space (U+00A0, U+3000, ...) keeps it, where Python would
 * strip it too.
 *
 * Families without a system role (Llama 2 folds it itself; Mistral and Gemma
 * are folded here the way their later templates do) take the system message
 * only as the first message, and like their templates require user and
 * assistant turns to alternate after it, starting with the user.
 */
#include "chat/chat_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

typedef enum role { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT } role;

static const char *const role_name[] = {"system", "user", "assistant"};

void chat_spec_free(chat_spec *sp) {
    if (!sp) return;
    free(sp->default_system);
    for (int i = 0; i < CHAT_N_PARTS; i++) free(sp->part[i]);
    memset(sp, 0, sizeof *sp);
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Appends s without its leading and trailing whitespace. */
static void put_trim(gh_strbuf *b, const char *s) {
    size_t n = strlen(s);
    while (n && is_space(*s)) s++, n--;
    while (n && is_space(s[n - 1])) n--;
    gh_strbuf_putn(b, s, n);
}

static void put_opt(gh_strbuf *b, const char *s) {
    if (s) gh_strbuf_put(b, s);
}

/* Roles of every message; unknown roles are an error. */
static gh_status read_roles(const chat_spec *sp, const gh_chat_msg *m, int32_t n, role *r) {
    for (int32_t i = 0; i < n; i++) {
        if (!m[i].role || !m[i].content)
            return gh_error(GH_ERR_INVALID_ARG, "chat message %d has no role or no content", (int)i);
        int k = 0;
        while (k < 3 && strcmp(m[i].role, role_name[k]) != 0) k++;
        if (k == 3)
            return gh_error(GH_ERR_INVALID_ARG,
                            "chat message %d: unknown role \"%s\" (system, user or assistant) for template %s",
                            (int)i, m[i].role, sp->origin);
        r[i] = (role)k;
    }
    return GH_OK;
}

/* For families without a free system role: an optional system message first,
 * then user, assistant, user, ... Returns the index of the first turn. */
static gh_status check_alternating(const chat_spec *sp, const role *r, int32_t n, int32_t *first) {
    int32_t f = (n > 0 && r[0] == ROLE_SYSTEM) ? 1 : 0;
    for (int32_t i = f; i < n; i++) {
        role want = ((i - f) % 2 == 0) ? ROLE_USER : ROLE_ASSISTANT;
        if (r[i] == ROLE_SYSTEM)
            return gh_error(GH_ERR_INVALID_ARG,
                            "chat message %d: template %s (%s) takes a system message only as the first message",
                            (int)i, sp->origin, sp->family);
        if (r[i] != want)
            return gh_error(GH_ERR_INVALID_ARG,
                            "chat message %d is \"%s\": template %s (%s) needs user and assistant turns to "
                            "alternate, starting with the user", (int)i, role_name[r[i]], sp->origin, sp->family);
    }
    if (f == 1 && n == 1)
        return gh_error(GH_ERR_INVALID_ARG, "template %s (%s) folds the system message into a user message, and "
                        "the conversation has none", sp->origin, sp->family);
    *first = f;
    return GH_OK;
}

/* <|im_start|>ROLE\nCONTENT<|im_end|>\n per message; Qwen's templates put a
 * default system message first when the conversation has none. */
static void render_chatml(gh_strbuf *b, const chat_spec *sp, const gh_chat_msg *m, const role *r, int32_t n,
                          bool gen) {
    if (sp->default_system && (n == 0 || r[0] != ROLE_SYSTEM))
        gh_strbuf_printf(b, "<|im_start|>system\n%s<|im_end|>\n", sp->default_system);
    for (int32_t i = 0; i < n; i++)
        gh_strbuf_printf(b, "<|im_start|>%s\n%s<|im_end|>\n", role_name[r[i]], m[i].content);
    if (gen) gh_strbuf_put(b, "<|im_start|>assistant\n");
}

/* BOS, then <|start_header_id|>ROLE<|end_header_id|>\n\nTRIMMED<|eot_id|>.
 * Llama 3.1 and later always open with a system turn that states the
 * knowledge cut-off and today's date; goodhart writes the templates' own
 * default date (26 Jul 2024), not the clock, so a prompt is reproducible.
 * The base Llama 3's template ends every text with the assistant header, even
 * without a generation prompt (CHAT_LLAMA3_ALWAYS_GEN), and so does this. */
static void render_llama3(gh_strbuf *b, const chat_spec *sp, const gh_chat_msg *m, const role *r, int32_t n,
                          bool gen, const char *bos) {
    int32_t i = 0;
    put_opt(b, bos);
    if (sp->variant == CHAT_LLAMA3_DATED) {
        gh_strbuf_put(b, "<|start_header_id|>system<|end_header_id|>\n\n"
                         "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
        if (n > 0 && r[0] == ROLE_SYSTEM) put_trim(b, m[i++].content);
        gh_strbuf_put(b, "<|eot_id|>");
    }
    for (; i < n; i++) {
        gh_strbuf_printf(b, "<|start_header_id|>%s<|end_header_id|>\n\n", role_name[r[i]]);
        put_trim(b, m[i].content);
        gh_strbuf_put(b, "<|eot_id|>");
    }
    if (gen || sp->variant == CHAT_LLAMA3_ALWAYS_GEN) gh_strbuf_put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* Each user turn is BOS[INST] ... [/INST], each reply " REPLY EOS"; the system
 * message goes into the first [INST] between <<SYS>> and <</SYS>>. The
 * prompt already ends where the reply starts: no generation prompt. */
static void render_llama2(gh_strbuf *b, const gh_chat_msg *m, const role *r, int32_t n, int32_t first,
                          const char *bos, const char *eos) {
    gh_strbuf tmp = {0};
    for (int32_t i = first; i < n; i++) {
        if (r[i] == ROLE_USER) {
            tmp.len = 0;
            if (i == first && first == 1)
                gh_strbuf_printf(&tmp, "<<SYS>>\n%s\n<</SYS>>\n\n", m[0].content);
            gh_strbuf_put(&tmp, m[i].content);
            put_opt(b, bos);
            gh_strbuf_put(b, "[INST] ");
            if (tmp.oom) b->oom = true;
            else put_trim(b, tmp.p);
            gh_strbuf_put(b, " [/INST]");
        } else {
            gh_strbuf_put(b, " ");
            put_trim(b, m[i].content);
            gh_strbuf_put(b, " ");
            put_opt(b, eos);
        }
    }
    gh_strbuf_free(&tmp);
}

/* Mistral Instruct: BOS once, then [INST] USER [/INST] and the reply with EOS;
 * the spaces around them differ between versions (chat_internal.h). No
 * system role: v1 templates put the system message and a blank line before
 * the first user message; v3 puts them before the last user message (also
 * when the conversation ends with a reply, where v0.3's template drops it). */
static void render_mistral(gh_strbuf *b, const chat_spec *sp, const gh_chat_msg *m, const role *r, int32_t n,
                           int32_t first, const char *bos, const char *eos) {
    int v = sp->variant;
    int32_t sys_at = first;
    if (v == CHAT_MISTRAL_V3)
        for (int32_t i = first; i < n; i++)
            if (r[i] == ROLE_USER) sys_at = i;
    put_opt(b, bos);
    for (int32_t i = first; i < n; i++) {
        if (r[i] == ROLE_USER) {
            gh_strbuf_put(b, v == CHAT_MISTRAL_V1 ? " [INST] " : "[INST] ");
            if (first == 1 && i == sys_at) {
                gh_strbuf_put(b, m[0].content);
                gh_strbuf_put(b, "\n\n");
            }
            gh_strbuf_put(b, m[i].content);
            gh_strbuf_put(b, v == CHAT_MISTRAL_V3 ? "[/INST]" : " [/INST]");
        } else {
            if (v == CHAT_MISTRAL_V1 || v == CHAT_MISTRAL_V3) gh_strbuf_put(b, " ");
            if (v == CHAT_MISTRAL_V3) put_trim(b, m[i].content);
            else gh_strbuf_put(b, m[i].content);
            put_opt(b, eos);
            if (v == CHAT_MISTRAL_V1_EOS_SPACE) gh_strbuf_put(b, " ");
        }
    }
}

/* BOS, then <start_of_turn>user|model\nTRIMMED<end_of_turn>\n. No system role:
 * the system message and a blank line start the first user turn (as Gemma 3's
 * template does; Gemma 1 and 2 refuse a system message). */
static void render_gemma(gh_strbuf *b, const gh_chat_msg *m, const role *r, int32_t n, int32_t first, bool gen,
                         const char *bos) {
    put_opt(b, bos);
    for (int32_t i = first; i < n; i++) {
        gh_strbuf_printf(b, "<start_of_turn>%s\n", r[i] == ROLE_USER ? "user" : "model");
        if (i == first && first == 1) {
            gh_strbuf_put(b, m[0].content);
            gh_strbuf_put(b, "\n\n");
        }
        put_trim(b, m[i].content);
        gh_strbuf_put(b, "<end_of_turn>\n");
    }
    if (gen) gh_strbuf_put(b, "<start_of_turn>model\n");
}

/* Zephyr: <|ROLE|>\nCONTENT EOS, each message on its own line (the newline
 * is template text between the tags; compact copies of the template have
 * none, and then the generation prompt has none either). */
static void render_zephyr(gh_strbuf *b, const chat_spec *sp, const gh_chat_msg *m, const role *r, int32_t n,
                          bool gen, const char *eos) {
    const char *nl = sp->variant == CHAT_ZEPHYR_COMPACT ? "" : "\n";
    for (int32_t i = 0; i < n; i++) {
        gh_strbuf_printf(b, "<|%s|>\n%s", role_name[r[i]], m[i].content);
        put_opt(b, eos);
        gh_strbuf_put(b, nl);
    }
    if (gen) gh_strbuf_printf(b, "<|assistant|>%s", nl);
}

/* Phi-3: <|ROLE|>\nCONTENT<|end|>\n; after the last message the generation
 * prompt, or EOS when there is none (Phi-3.5 and the updated Phi-3-mini). The
 * first Phi-3-mini template opens the assistant's turn after every user turn
 * itself and has no generation prompt; some versions start with BOS. */
static void render_phi3(gh_strbuf *b, const chat_spec *sp, const gh_chat_msg *m, const role *r, int32_t n,
                        bool gen, const char *bos, const char *eos) {
    bool legacy = sp->variant == CHAT_PHI3_LEGACY;
    if (sp->bos) put_opt(b, bos);
    for (int32_t i = 0; i < n; i++) {
        if (legacy && r[i] == ROLE_ASSISTANT) {
            gh_strbuf_printf(b, "%s<|end|>\n", m[i].content);
            continue;
        }
        gh_strbuf_printf(b, "<|%s|>\n%s<|end|>\n", role_name[r[i]], m[i].content);
        if (legacy && r[i] == ROLE_USER) gh_strbuf_put(b, "<|assistant|>\n");
    }
    if (legacy) return;
    if (gen) gh_strbuf_put(b, "<|assistant|>\n");
    else put_opt(b, eos);
}

/* For base models: "User: ...\n" lines, the reply after "Assistant:". */
static void render_plain(gh_strbuf *b, const gh_chat_msg *m, const role *r, int32_t n, bool gen,
                         const char *bos) {
    static const char *const label[] = {"System", "User", "Assistant"};
    put_opt(b, bos);
    for (int32_t i = 0; i < n; i++) gh_strbuf_printf(b, "%s: %s\n", label[r[i]], m[i].content);
    if (gen) gh_strbuf_put(b, "Assistant:");
}

/* A JSON template's part with {content}, {bos} and {eos} replaced. */
static void put_part(gh_strbuf *b, const char *part, const char *content, const char *bos, const char *eos) {
    const char *p = part;
    while (*p) {
        const char *q = strchr(p, '{');
        if (!q) { gh_strbuf_put(b, p); return; }
        gh_strbuf_putn(b, p, (size_t)(q - p));
        if (content && strncmp(q, "{content}", 9) == 0) { gh_strbuf_put(b, content); p = q + 9; }
        else if (strncmp(q, "{bos}", 5) == 0) { put_opt(b, bos); p = q + 5; }
        else if (strncmp(q, "{eos}", 5) == 0) { put_opt(b, eos); p = q + 5; }
        else { gh_strbuf_putn(b, q, 1); p = q + 1; }
    }
}

static gh_status render_json(gh_strbuf *b, const chat_spec *sp, const gh_chat_msg *m, const role *r, int32_t n,
                             bool gen, const char *bos, const char *eos) {
    static const int part_of[] = {CHAT_PART_SYSTEM, CHAT_PART_USER, CHAT_PART_ASSISTANT};
    if (sp->part[CHAT_PART_BOS]) put_part(b, sp->part[CHAT_PART_BOS], NULL, bos, eos);
    for (int32_t i = 0; i < n; i++) {
        const char *part = sp->part[part_of[r[i]]];
        if (!part)
            return gh_error(GH_ERR_INVALID_ARG, "chat message %d is a %s message but template %s has no \"%s\"",
                            (int)i, role_name[r[i]], sp->origin, role_name[r[i]]);
        put_part(b, part, m[i].content, bos, eos);
    }
    if (gen && sp->part[CHAT_PART_GENERATION]) put_part(b, sp->part[CHAT_PART_GENERATION], NULL, bos, eos);
    return GH_OK;
}

gh_status chat_render_spec(const chat_spec *sp, const gh_chat_msg *msgs, int32_t n_msgs,
                           bool add_generation_prompt, const char *bos, const char *eos, char **out) {
    *out = NULL;
    if (n_msgs <= 0) return gh_error(GH_ERR_INVALID_ARG, "an empty conversation (template %s)", sp->origin);
    if (!msgs) return gh_error(GH_ERR_INVALID_ARG, "no messages (template %s)", sp->origin);
    role *r = malloc((size_t)n_msgs * sizeof *r);
    if (!r) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_status s = read_roles(sp, msgs, n_msgs, r);
    const char *f = sp->family;
    bool strict = !strcmp(f, "llama2") || !strcmp(f, "mistral") || !strcmp(f, "gemma");
    int32_t first = 0;
    if (!s && strict) s = check_alternating(sp, r, n_msgs, &first);
    gh_strbuf b = {0};
    bool gen = add_generation_prompt;
    if (!s) {
        if (!strcmp(f, "chatml")) render_chatml(&b, sp, msgs, r, n_msgs, gen);
        else if (!strcmp(f, "llama3")) render_llama3(&b, sp, msgs, r, n_msgs, gen, bos);
        else if (!strcmp(f, "llama2")) render_llama2(&b, msgs, r, n_msgs, first, bos, eos);
        else if (!strcmp(f, "mistral")) render_mistral(&b, sp, msgs, r, n_msgs, first, bos, eos);
        else if (!strcmp(f, "gemma")) render_gemma(&b, msgs, r, n_msgs, first, gen, bos);
        else if (!strcmp(f, "zephyr")) render_zephyr(&b, sp, msgs, r, n_msgs, gen, eos);
        else if (!strcmp(f, "phi3")) render_phi3(&b, sp, msgs, r, n_msgs, gen, bos, eos);
        else if (!strcmp(f, "plain")) render_plain(&b, msgs, r, n_msgs, gen, bos);
        else if (!strcmp(f, "json")) s = render_json(&b, sp, msgs, r, n_msgs, gen, bos, eos);
        else s = gh_error(GH_ERR_INVALID_ARG, "unknown chat template family \"%s\"", f);
    }
    free(r);
    if (!s && b.oom) s = gh_error(GH_ERR_NOMEM, "out of memory rendering a chat (template %s)", sp->origin);
    if (!s && !b.p) gh_strbuf_put(&b, "");
    if (!s && b.oom) s = gh_error(GH_ERR_NOMEM, "out of memory");
    if (s) { gh_strbuf_free(&b); return s; }
    *out = b.p;
    return GH_OK;
}
