/* convert.c — `goodhart convert hf DIR -o OUT.gguf [--type T] [--name NAME]` (a
 * Hugging Face model folder) and `goodhart convert llama2c MODEL.bin
 * TOKENIZER.bin -o OUT.gguf [--type T]` (a llama2.c checkpoint). */
#include <string.h>

#include "cli.h"
#include "goodhart/convert.h"

static const char *usage_text =
    "usage: goodhart convert hf DIR -o OUT.gguf [--type f16|bf16|f32|q8_0|q4_0|q4_K|q6_K] [--name NAME]\n"
    "       goodhart convert llama2c MODEL.bin TOKENIZER.bin -o OUT.gguf [--type T]\n"
    "hf: a Hugging Face folder (config.json, model.safetensors or its sharded index,\n"
    "tokenizer.json, tokenizer_config.json) of LlamaForCausalLM, MistralForCausalLM,\n"
    "Qwen2ForCausalLM, their *ForSequenceClassification reward models (one label), or\n"
    "BertModel. Without --type each matrix keeps its stored type (lossless); quantized\n"
    "types fall back to q8_0/f16 for matrices their block does not fit. No Python needed.\n"
    "llama2c: a llama2.c checkpoint and its tokenizer (default type f32: exact).\n";

int cmd_convert(int argc, char **argv) {
    const char *pos[3] = {0}, *out = NULL, *name = NULL, *v;
    int npos = 0;
    gh_type type = GH_TYPE_COUNT;
    bool missing = false;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv[i], "-h", "--help")) { fputs(usage_text, stdout); return 0; }
        else if (cli_opt(argv, &i, argc, "-o", "--output", &v, &missing)) out = v;
        else if (cli_opt(argv, &i, argc, NULL, "--name", &v, &missing)) name = v;
        else if (cli_opt(argv, &i, argc, NULL, "--type", &v, &missing)) {
            if (!missing && !gh_type_from_name(v, &type)) return cli_usage_error("convert", "unknown weight type '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("convert", "unknown option '%s'", argv[i]);
        else if (npos < 3) pos[npos++] = argv[i];
        else return cli_usage_error("convert", "too many arguments");
        if (missing) return cli_usage_error("convert", "option '%s' needs a value", argv[i]);
    }
    if (npos < 1) return cli_usage_error("convert", "which format? (hf or llama2c)");
    if (!strcmp(pos[0], "hf")) {
        if (npos != 2) return cli_usage_error("convert", "hf needs one model folder");
        if (!out) return cli_usage_error("convert", "no output file (-o OUT.gguf)");
        gh_convert_hf_params p = gh_convert_hf_default_params();
        p.wtype = type;
        p.name = name;
        gh_convert_hf_result r;
        if (gh_convert_hf(pos[1], out, &p, &r) != GH_OK) return cli_fail("convert");
        fprintf(stderr, "wrote %s: %s (%s), %lld tensors, %lld parameters, %d tokens%s%s\n", out, r.arch, r.hf_arch,
                (long long)r.n_tensors, (long long)r.n_params, r.n_vocab, r.cls_head ? ", reward head (last token)" : "",
                r.chat_template ? ", chat template" : "");
        if (r.n_pad_tokens)
            fprintf(stderr, "note: %d padding tokens [PADn] fill the vocabulary up to the embedding's rows\n", r.n_pad_tokens);
        if (r.n_fallback)
            fprintf(stderr, "note: %lld matrices have rows the %s block does not divide; written as q8_0 or f16\n",
                    (long long)r.n_fallback, gh_type_name(type));
        if (r.sliding_window)
            fprintf(stderr, "note: the model was trained with a sliding window of %d tokens; the runtime attends to "
                    "the whole context, which matches only for texts up to that length\n", r.sliding_window);
        return 0;
    }
    if (name) return cli_usage_error("convert", "--name is for hf");
    if (strcmp(pos[0], "llama2c")) return cli_usage_error("convert", "unknown source format '%s' (hf or llama2c)", pos[0]);
    if (npos != 3) return cli_usage_error("convert", "llama2c needs MODEL.bin and TOKENIZER.bin");
    if (!out) return cli_usage_error("convert", "no output file (-o OUT.gguf)");
    if (type == GH_TYPE_COUNT) type = GH_TYPE_F32;
    if (gh_convert_llama2c(pos[1], pos[2], out, type) != GH_OK) return cli_fail("convert");
    fprintf(stderr, "wrote %s\n", out);
    return 0;
}
