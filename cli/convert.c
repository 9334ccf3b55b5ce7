/* convert.c — `goodhart convert llama2c MODEL.bin TOKENIZER.bin -o OUT.gguf [--type T]`. */
#include <string.h>

#include "cli.h"
#include "goodhart/convert.h"

static const char *usage_text =
    "usage: goodhart convert llama2c MODEL.bin TOKENIZER.bin -o OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_K|q6_K]\n"
    "Converts a llama2.c checkpoint and its tokenizer to a GGUF file (default type f32,\n"
    "which keeps the weights exact).\n";

int cmd_convert(int argc, char **argv) {
    const char *pos[3] = {0}, *out = NULL, *v;
    int npos = 0;
    gh_type type = GH_TYPE_F32;
    bool missing = false;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv[i], "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if (cli_opt(argv, &i, argc, "-o", "--output", &v, &missing)) out = v;
        else if (cli_opt(argv, &i, argc, NULL, "--type", &v, &missing)) {
            if (!missing && !gh_type_from_name(v, &type)) return cli_usage_error("convert", "unknown weight type '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("convert", "unknown option '%s'", argv[i]);
        else if (npos < 3) pos[npos++] = argv[i];
        else return cli_usage_error("convert", "too many arguments");
        if (missing) return cli_usage_error("convert", "option '%s' needs a value", argv[i]);
    }
    if (npos < 1) return cli_usage_error("convert", "which format? (llama2c)");
    if (strcmp(pos[0], "llama2c")) return cli_usage_error("convert", "unknown source format '%s' (llama2c)", pos[0]);
    if (npos != 3) return cli_usage_error("convert", "llama2c needs MODEL.bin and TOKENIZER.bin");
    if (!out) return cli_usage_error("convert", "no output file (-o OUT.gguf)");
    if (gh_convert_llama2c(pos[1], pos[2], out, type) != GH_OK) return cli_fail("convert");
    fprintf(stderr, "wrote %s\n", out);
    return 0;
}
