/* main.c — the goodhart command: dispatches to one subcommand per file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "goodhart/common.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command commands[] = {
    {"demo", cmd_demo, "the main job: Best-of-N vs regularized Best-of-N on the default model, with a report"},
    {"info", cmd_info, "describe a model: architecture, sizes, tokenizer, tensors"},
    {"tokenize", cmd_tokenize, "text to token ids"},
    {"generate", cmd_generate, "sample continuations of a prompt"},
    {"logprob", cmd_logprob, "log-probabilities of a completion given a prompt"},
    {"convert", cmd_convert, "convert a Hugging Face model folder or a llama2.c checkpoint to GGUF"},
    {"make-model", cmd_make_model, "write a random-weight GGUF model of a given shape and type"},
    {"bon", cmd_bon, "Best-of-N and regularized Best-of-N: run the experiment, select, benchmark"},
    {"reward", cmd_reward, "train a Bradley-Terry reward head from preference pairs; score with any reward"},
    {"acts", cmd_acts, "extract hidden states of JSON Lines records into NumPy .npy files"},
    {"probe", cmd_probe, "linear probes on activations: train (5 methods, CV, OOD), apply, eval with bootstrap CIs"},
    {"syco", cmd_syco, "sycophancy evaluations: answer matching by log-probability, feedback positivity"},
    {"genies", cmd_genies, "GENIES: how reward models and probes generalize across 15 distribution shifts"},
    {"icrl", cmd_icrl, "gameable environments and in-context RL: run agents, measure specification gaming"},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server for a local model"},
    {"embed", cmd_embed, "sentence embeddings from an embedding model (BERT family)"},
    {"bench", cmd_bench, "measure prompt, generation and batched-decode speed against memory bandwidth"},
};

static void usage(FILE *f) {
    fprintf(f, "goodhart %s — measuring and mitigating reward hacking in language models\n\n"
               "usage: goodhart COMMAND [options]   (goodhart COMMAND --help for its options)\n\n"
               "commands:\n", GH_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    if (!strcmp(argv[1], "--version")) { printf("goodhart %s\n", GH_VERSION); return 0; }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "goodhart: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
