/* chat_internal.h — what the chat template front end (chat.c: names, files,
 * detection, models) hands to the renderers (render.c: one function per
 * family). Internal to src/chat/. */
#ifndef GH_CHAT_INTERNAL_H
#define GH_CHAT_INTERNAL_H

#include "goodhart/chat.h"

/* The parts of a JSON template file, in this order. */
enum { CHAT_PART_BOS, CHAT_PART_SYSTEM, CHAT_PART_USER, CHAT_PART_ASSISTANT, CHAT_PART_GENERATION,
       CHAT_N_PARTS };

typedef struct chat_spec {
    const char *family;       /* static family name; "json" for a JSON template file */
    const char *origin;       /* where the template came from, for messages (file, model or name) */
    char *default_system;     /* chatml: the system message Qwen's templates add when none is given */
    char *part[CHAT_N_PARTS]; /* json: each part's text (NULL: absent) */
} chat_spec;

void chat_spec_free(chat_spec *sp);

/* Renders msgs with a resolved template; *out malloc'd. Errors name sp->origin. */
gh_status chat_render_spec(const chat_spec *sp, const gh_chat_msg *msgs, int32_t n_msgs,
                           bool add_generation_prompt, const char *bos, const char *eos, char **out);

#endif
