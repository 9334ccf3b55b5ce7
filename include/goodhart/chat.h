/* goodhart/chat.h — chat templates: turning a conversation into the prompt
 * text a chat model was trained on.
 *
 * GGUF files carry the template as Jinja source (tokenizer.chat_template).
 * goodhart does not run Jinja: it recognises the common families from marker
 * strings in that source and renders them with its own code, so a model whose
 * template is not recognised gets a clear error naming it, never a silent
 * fallback to some other format. Families: "chatml" (ChatML, Qwen), "llama3",
 * "llama2", "mistral", "gemma", "zephyr", "phi3", and "plain" (never detected,
 * only chosen explicitly: "User: ...\nAssistant: ..." lines, for base models
 * such as the default stories260K that have no template).
 *
 * An override (--chat-template NAME|FILE) is a family name or the path of a
 * template file: either a Jinja file (recognised like a GGUF's) or a JSON
 * object {"bos": "...", "system": "...{content}...", "user": "...{content}...",
 * "assistant": "...{content}...", "generation": "..."} giving each message's
 * text around its content, for formats goodhart does not know.
 */
#ifndef GOODHART_CHAT_H
#define GOODHART_CHAT_H

#include "goodhart/common.h"
#include "goodhart/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gh_chat_msg {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
} gh_chat_msg;

/* The family a Jinja template belongs to, or NULL if not recognised. */
const char *gh_chat_template_detect(const char *jinja);

/* Renders a conversation with `template_ref` (a family name or a template
 * file, as above). add_generation_prompt appends the assistant turn's opening
 * so that the model's reply follows. bos/eos: the model's special token texts
 * (NULL: none), for families that write them. *out is malloc'd. */
gh_status gh_chat_render(const char *template_ref, const gh_chat_msg *msgs, int32_t n_msgs,
                         bool add_generation_prompt, const char *bos, const char *eos, char **out);

/* The same for a model: override if non-NULL, else the model's own template
 * (an error naming the model file if it has none or it is not recognised).
 * *family (if non-NULL) receives the family name used (static storage). */
gh_status gh_chat_render_for_model(const gh_model *m, const char *override, const gh_chat_msg *msgs,
                                   int32_t n_msgs, bool add_generation_prompt, char **out,
                                   const char **family);

#ifdef __cplusplus
}
#endif
#endif
