/* chat_internal.h — what the chat template front end (chat.c: names, files,
 * detection, models) hands to the renderers (render.c: one function per
 * family). Internal to src/chat/. */
#ifndef GH_CHAT_INTERNAL_H
#define GH_CHAT_INTERNAL_H

#include "goodhart/chat.h"

/* The parts of a JSON template file, in this order. */
enum { CHAT_PART_BOS, CHAT_PART_SYSTEM, CHAT_PART_USER, CHAT_PART_ASSISTANT, CHAT_PART_GENERATION,
       CHAT_N_PARTS };

/* Variants within a family: the published templates of one family differ in
 * details (spaces, where the system message goes) between model versions. */
enum {
    CHAT_LLAMA3_DATED = 1,        /* Llama 3.1+: a system header with the knowledge and today dates */
    CHAT_LLAMA3_ALWAYS_GEN = 2,   /* base Llama 3's template: the assistant header always ends the text */
    CHAT_MISTRAL_V1 = 0,          /* v0.1/v0.2/Mixtral as published now: "<s> [INST] u [/INST] a</s>" */
    CHAT_MISTRAL_V1_EOS_SPACE = 1, /* v0.1 as first published: "<s>[INST] u [/INST]a</s> " */
    CHAT_MISTRAL_V1_TIGHT = 2,    /* v0.2/Mixtral as first published: "<s>[INST] u [/INST]a</s>" */
    CHAT_MISTRAL_V3 = 3,          /* v0.3: "<s>[INST] u[/INST] a</s>", system in the last user turn */
    CHAT_ZEPHYR_COMPACT = 1,      /* Zephyr's tags without the newline after each message */
    CHAT_PHI3_LEGACY = 1,         /* first Phi-3-mini: every user turn followed by <|assistant|>\n */
};

typedef struct chat_spec {
    const char *family;       /* static family name; "json" for a JSON template file */
    int variant;              /* one of the variants above for the family (0: the usual one) */
    bool bos;                 /* phi3: the template writes BOS first */
    const char *origin;       /* where the template came from, for messages (file, model or name) */
    char *default_system;     /* chatml: the system message Qwen's templates add when none is given */
    char *part[CHAT_N_PARTS]; /* json: each part's text (NULL: absent) */
} chat_spec;

void chat_spec_free(chat_spec *sp);

/* Renders msgs with a resolved template; *out malloc'd. Errors name sp->origin. */
gh_status chat_render_spec(const chat_spec *sp, const gh_chat_msg *msgs, int32_t n_msgs,
                           bool add_generation_prompt, const char *bos, const char *eos, char **out);

#endif
