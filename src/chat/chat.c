/* chat.c — chat template families (placeholder: being written). */
#include "goodhart/chat.h"

#include <stddef.h>

const char *gh_chat_template_detect(const char *jinja) { (void)jinja; return NULL; }

gh_status gh_chat_render(const char *template_ref, const gh_chat_msg *msgs, int32_t n_msgs,
                         bool add_generation_prompt, const char *bos, const char *eos, char **out) {
    (void)template_ref; (void)msgs; (void)n_msgs; (void)add_generation_prompt; (void)bos; (void)eos;
    *out = NULL;
    return gh_error(GH_ERR_UNSUPPORTED, "chat templates are not built yet");
}

gh_status gh_chat_render_for_model(const gh_model *m, const char *override, const gh_chat_msg *msgs,
                                   int32_t n_msgs, bool add_generation_prompt, char **out,
                                   const char **family) {
    (void)m; (void)override; (void)msgs; (void)n_msgs; (void)add_generation_prompt; (void)family;
    *out = NULL;
    return gh_error(GH_ERR_UNSUPPORTED, "chat templates are not built yet");
}
