/* goodhart/convert.h — writing GGUF files from other formats, and synthetic
 * models for tests and benchmarks. */
#ifndef GOODHART_CONVERT_H
#define GOODHART_CONVERT_H

#include "goodhart/common.h"
#include "goodhart/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Converts a llama2.c checkpoint (float32 "legacy" format: 7 int32 header, then
 * the weights) and its tokenizer file (tokenizer.bin: max length, then per
 * token a float score, an int32 length and the bytes) to a GGUF file of
 * architecture "llama" with a SentencePiece-style ("llama") tokenizer. Weights
 * are written as `wtype` (F32 keeps them exact; norms stay F32 always). */
gh_status gh_convert_llama2c(const char *model_path, const char *tokenizer_path,
                             const char *out_path, gh_type wtype);

/* Converts a Hugging Face model folder to GGUF: config.json, model.safetensors
 * or model.safetensors.index.json and its shards (F32, F16, BF16),
 * tokenizer.json, and tokenizer_config.json (chat template, special tokens).
 * Architectures (config.json "architectures"): LlamaForCausalLM,
 * MistralForCausalLM (written as "llama", as llama.cpp does),
 * Qwen2ForCausalLM, their *ForSequenceClassification with one label (the
 * `score` head as cls.output.weight, {arch}.pooling_type = 3, last token),
 * and BertModel / BertForMaskedLM (the encoder; heads dropped). Names and
 * metadata keys follow llama.cpp's conversion; see docs/convert.md. */
typedef struct gh_convert_hf_params {
    /* Type of the 2-D weight matrices. GH_TYPE_COUNT (the default) keeps each
     * as stored (F32, F16 or BF16: lossless). Quantized types whose block does
     * not divide a matrix's rows fall back to q8_0, then f16 (counted in the
     * result). Norms, biases, position/type embeddings and the classifier
     * head stay F32. */
    gh_type wtype;
    const char *name;      /* general.name; NULL: the folder's name */
} gh_convert_hf_params;

typedef struct gh_convert_hf_result {
    char arch[32];         /* GGUF general.architecture written */
    char hf_arch[96];      /* config.json architectures[0] */
    int64_t n_tensors;
    int64_t n_params;
    int64_t n_fallback;    /* matrices written in a fallback type */
    int32_t n_vocab;       /* tokens written (padded to the embedding's rows) */
    int32_t n_pad_tokens;  /* "[PADn]" entries added to reach config vocab_size */
    int32_t sliding_window;/* Mistral's window (0: none); the runtime attends to everything */
    bool cls_head;         /* a reward head was written */
    bool chat_template;    /* tokenizer.chat_template was written */
} gh_convert_hf_result;

gh_convert_hf_params gh_convert_hf_default_params(void);
/* `res` may be NULL. Every error names the file and the key or tensor. */
gh_status gh_convert_hf(const char *dir, const char *out_path, const gh_convert_hf_params *p,
                        gh_convert_hf_result *res);

/* Shape of a synthetic Llama-family model. */
typedef struct gh_make_model_params {
    const char *arch;      /* "llama" (default), "mistral" or "qwen2" */
    int32_t n_vocab;       /* a byte-level vocabulary is generated when >= 259 */
    int32_t n_embd;
    int32_t n_ff;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t n_ctx;
    float rope_base;
    bool tied_output;      /* no output.weight: reuse token_embd */
    gh_type wtype;         /* type of the 2-D weight matrices */
    uint64_t seed;
    /* embedding and reward models (arch "bert": a BERT encoder with a small
     * generated WordPiece vocabulary; n_head_kv is ignored) */
    int32_t pooling;       /* {arch}.pooling_type (GH_POOLING_* of model.h); -1: not written */
    bool cls_head;         /* decoders: a reward head cls.output.weight [n_embd] and cls.output.bias,
                              and no output.weight (as a *ForSequenceClassification model stores it) */
    bool add_eos;          /* tokenizer.ggml.add_eos_token = true */
    int32_t pad_id;        /* tokenizer.ggml.padding_token_id; -1: none */
} gh_make_model_params;

gh_make_model_params gh_make_model_default_params(void);
/* Named shapes: "tiny" (~1M), "100m", "300m", "1b" (TinyLlama-1.1B's shape). */
gh_status gh_make_model_preset(const char *name, gh_make_model_params *p);
/* Writes a random-weight model (weights ~ N(0, 0.02), norms 1) with a tiny
 * byte-level SentencePiece tokenizer, so it can be loaded and run like any other. */
gh_status gh_make_model(const gh_make_model_params *p, const char *out_path);

#ifdef __cplusplus
}
#endif
#endif
