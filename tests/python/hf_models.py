#!/usr/bin/python3
"""hf_models.py OUTDIR — small random-weight models in Hugging Face layout, and
their outputs from a reference forward pass written here against PyTorch, for
tests/convert/test_hf.c.

Independent of goodhart: the safetensors files, the tokenizers (trained here by
plain BPE on a small corpus), the forward passes (written from the Hugging
Face model definitions: rotate-half RoPE, RMSNorm, SwiGLU, grouped-query
attention; BERT post-norm with erf GELU) and a GGUF file (written from the GGUF
specification, with its own renaming and Q/K permutation) all come from this
script. The forward passes run in float64 on the stored weights.

Written under OUTDIR:
  NAME/               config.json, model.safetensors (or shards + index),
                      tokenizer.json, tokenizer_config.json (+ modules.json)
  NAME.ref.json       {"ids": [...], "logits": [[...]...]} or {"score": x}
                      or {"mean": [...], "cls": [...]} (L2-normalised)
  llama_indep.gguf    the llama model as GGUF, written by this script
  texts.json          texts the test tokenizes with both tokenizers

hf_models.py --forward REQUESTS.json RESULTS.json — the same forward passes on
token ids the test got from goodhart's command line (`goodhart reward --json`,
`goodhart embed --json`), reading the weights back from the folders written
above: REQUESTS is a list of {"dir", "kind": "score"|"embed", "ids",
"token_types"?}; RESULTS the list of {"score": x} or {"mean": [...], "cls": [...]}.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.manual_seed(0)
OUT = sys.argv[-1]
CORPUS = ("the quick brown fox jumps over the lazy dog. the dog sleeps; the fox runs away! "
          "a reward model scores the response to the prompt, and the policy learns to please it. "
          "hello world, hello there. numbers 12345 and 678 are here. it's what we'll see, isn't it? "
          "the model the model the model reward reward hacking hacking measure measure\n") * 3
TEXTS = ["the quick brown fox", "Hello World! it's 2024.", "reward hacking, measured  twice\n\nok",
         "héllo wörld ☃ 日本", "  leading spaces", "the model scores the response", "zzz qqq"]

# ---------------------------------------------------------------- safetensors

DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
      torch.float64: "F64"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: the raw 16 bits
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """The tensors of a safetensors file (F32, F16, BF16, I64) as torch tensors."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        b, e = h["data_offsets"]
        raw = data[b:e]
        if h["dtype"] == "BF16":  # the high half of a float32
            a = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, dtype={"F32": np.float32, "F16": np.float16, "I64": np.int64}[h["dtype"]])
        out[name] = torch.from_numpy(a.copy().reshape(h["shape"]))
    return out


def read_folder(d):
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    w = {}
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            for fn in sorted(set(json.load(f)["weight_map"].values())):
                w.update(read_safetensors(os.path.join(d, fn)))
    else:
        w = read_safetensors(os.path.join(d, "model.safetensors"))
    return c, w


def forward_requests(req_path, out_path):
    with open(req_path) as f:
        reqs = json.load(f)
    res = []
    for r in reqs:
        c, w = read_folder(r["dir"])
        if r["kind"] == "score":
            hn, _ = llama_forward(c, w, r["ids"])
            res.append({"score": float(hn[-1] @ w["score.weight"].double()[0])})
        else:
            mean, cls = bert_forward(c, w, r["ids"], r.get("token_types"))
            res.append({"mean": mean.tolist(), "cls": cls.tolist()})
    with open(out_path, "w") as f:
        json.dump(res, f)


def write_sharded(d, tensors, n_shards):
    names = list(tensors)
    per = math.ceil(len(names) / n_shards)
    wm = {}
    for s in range(n_shards):
        fn = "model-%05d-of-%05d.safetensors" % (s + 1, n_shards)
        part = {n: tensors[n] for n in names[s * per:(s + 1) * per]}
        write_safetensors(os.path.join(d, fn), part, {"format": "pt"})
        for n in part:
            wm[n] = fn
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f, indent=1)

# ---------------------------------------------------------------- tokenizers


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def train_bpe(words, n_merges):
    """Plain BPE: words are lists of symbols; returns the merges in order."""
    words = [list(w) for w in words]
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        best = max(counts, key=lambda p: (counts[p], p))
        if counts[best] < 2:
            break
        merges.append(best)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if (w[i], w[i + 1]) == best:
                    w[i:i + 2] = [w[i] + w[i + 1]]
                i += 1
    return merges


QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
            r"\s*[\r\n]+|\s+(?!\S)|\s+")
# Meta's published Llama 3 Instruct template (tokenizer_config.json of Meta-Llama-3-8B-Instruct)
LLAMA3_TEMPLATE = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
                   "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
                   "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
                   "{{ content }}{% endfor %}{% if add_generation_prompt %}"
                   "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def added(i, content):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
             r"\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_level_tokenizer(llama3=False):
    """Qwen2-style: byte-level BPE with Qwen2's split pattern, ChatML specials;
    or Llama-3-style: Llama 3's pattern, ignore_merges, <|begin_of_text|> added."""
    b2u = bytes_to_unicode()
    words = []
    for i, w in enumerate(CORPUS.split(" ")):
        s = (" " if i else "") + w
        words.append([b2u[b] for b in s.encode()])
    merges = train_bpe(words, 120)
    vocab = {}
    for b in range(256):
        vocab[b2u[b]] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"] \
        if llama3 else \
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    n = len(vocab)
    tj = {"version": "1.0", "truncation": None, "padding": None,
          "added_tokens": [added(n + i, s) for i, s in enumerate(specials)],
          "normalizer": {"type": "NFC"},
          "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"Regex": LLAMA3_RE if llama3 else QWEN2_RE}, "behavior": "Isolated",
               "invert": False},
              {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
          "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
          "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
          "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                    "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": llama3,
                    "vocab": vocab, "merges": [a + " " + b for a, b in merges]}}
    cfg = {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "chat_template": CHATML,
           "add_bos_token": False}
    if llama3:
        tj["post_processor"] = {"type": "TemplateProcessing",
                                "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                                           {"Sequence": {"id": "A", "type_id": 0}}], "pair": [],
                                "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [n],
                                                                         "tokens": ["<|begin_of_text|>"]}}}
        cfg = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
               "chat_template": [{"name": "default", "template": LLAMA3_TEMPLATE},
                                 {"name": "tool_use", "template": "{{ tools }}"}]}
    return tj, cfg, n + len(specials)


def spm_tokenizer():
    """Llama-2-style: SentencePiece BPE with byte fallback, '▁' for spaces."""
    text = "▁" + CORPUS.replace(" ", "▁")
    words = []
    for w in text.split("▁"):
        if w:
            words.append(list("▁" + w))
    merges = train_bpe(words, 120)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for ch in sorted(set("".join(c for w in words for c in w))):
        if ch not in vocab:
            vocab[ch] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    tj = {"version": "1.0", "truncation": None, "padding": None,
          "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
          "normalizer": {"type": "Sequence", "normalizers": [
              {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
          "pre_tokenizer": None,
          "post_processor": {"type": "TemplateProcessing",
                             "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                             "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
          "decoder": {"type": "Sequence", "decoders": [
              {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
              {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
          "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                    "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                    "vocab": vocab, "merges": [a + " " + b for a, b in merges]}}
    cfg = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
           "add_eos_token": False,
           "chat_template": "{% for m in messages %}{{ '[INST] ' + m['content'] + ' [/INST]' }}{% endfor %}"}
    return tj, cfg, len(vocab), merges, vocab


def wordpiece_tokenizer():
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {s: i for i, s in enumerate(specials)}
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789.,!?;'":
        vocab[ch] = len(vocab)
        if ch.isalnum():
            vocab["##" + ch] = len(vocab)
    for w in ["the", "quick", "fox", "dog", "reward", "model", "hello", "world", "hack", "##ing", "##s", "score",
              "##ed", "measure", "response", "prompt"]:
        if w not in vocab:  # "##s" is already there: one id per token, none skipped
            vocab[w] = len(vocab)
    assert sorted(vocab.values()) == list(range(len(vocab)))
    tj = {"version": "1.0", "truncation": None, "padding": None,
          "added_tokens": [added(i, s) for i, s in enumerate(specials)],
          "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                         "strip_accents": None, "lowercase": True},
          "pre_tokenizer": {"type": "BertPreTokenizer"},
          "post_processor": {"type": "TemplateProcessing",
                             "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                        {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                             "pair": [], "special_tokens": {
                                 "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                                 "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
          "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
          "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                    "max_input_chars_per_word": 100, "vocab": vocab}}
    cfg = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
           "mask_token": "[MASK]", "do_lower_case": True}
    return tj, cfg, len(vocab), vocab

# ---------------------------------------------------------------- models


def rnd(*shape, std=0.15):
    return torch.randn(*shape) * std


def llama_weights(c, cls=False, bias=False):
    E, F, L, H, KV = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["num_attention_heads"], \
        c["num_key_value_heads"]
    hd = E // H
    w = {"model.embed_tokens.weight": rnd(c["vocab_size"], E, std=0.5)}
    for l in range(L):
        p = "model.layers.%d." % l
        w[p + "input_layernorm.weight"] = 1 + rnd(E, std=0.1)
        w[p + "self_attn.q_proj.weight"] = rnd(H * hd, E)
        w[p + "self_attn.k_proj.weight"] = rnd(KV * hd, E)
        w[p + "self_attn.v_proj.weight"] = rnd(KV * hd, E)
        if bias:
            w[p + "self_attn.q_proj.bias"] = rnd(H * hd, std=0.3)
            w[p + "self_attn.k_proj.bias"] = rnd(KV * hd, std=0.3)
            w[p + "self_attn.v_proj.bias"] = rnd(KV * hd, std=0.3)
        w[p + "self_attn.o_proj.weight"] = rnd(E, H * hd)
        w[p + "post_attention_layernorm.weight"] = 1 + rnd(E, std=0.1)
        w[p + "mlp.gate_proj.weight"] = rnd(F, E)
        w[p + "mlp.up_proj.weight"] = rnd(F, E)
        w[p + "mlp.down_proj.weight"] = rnd(E, F)
    w["model.norm.weight"] = 1 + rnd(E, std=0.1)
    if cls:
        w["score.weight"] = rnd(1, E, std=0.3)
    elif not c.get("tie_word_embeddings", False):
        w["lm_head.weight"] = rnd(c["vocab_size"], E, std=0.3)
    return w


def rope_half(x, pos, theta):
    # x: [T, heads, hd]; Hugging Face's rotate_half convention
    hd = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    f = pos[:, None].double() * inv[None, :]
    emb = torch.cat([f, f], dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
    rot = torch.cat([-x2, x1], dim=-1)
    return x * cos + rot * sin


def rmsnorm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def llama_forward(c, w, ids):
    """Returns (final hidden states after the norm [T, E], logits [T, V] or None)."""
    W = {k: v.double() for k, v in w.items()}
    E, L, H, KV = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"], c["num_key_value_heads"]
    hd, eps, theta = E // H, c["rms_norm_eps"], c.get("rope_theta", 10000.0)
    T = len(ids)
    pos = torch.arange(T)
    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for l in range(L):
        p = "model.layers.%d." % l
        h = rmsnorm(x, W[p + "input_layernorm.weight"], eps)
        q = h @ W[p + "self_attn.q_proj.weight"].T
        k = h @ W[p + "self_attn.k_proj.weight"].T
        v = h @ W[p + "self_attn.v_proj.weight"].T
        if p + "self_attn.q_proj.bias" in W:
            q = q + W[p + "self_attn.q_proj.bias"]
            k = k + W[p + "self_attn.k_proj.bias"]
            v = v + W[p + "self_attn.v_proj.bias"]
        q = rope_half(q.view(T, H, hd), pos, theta)
        k = rope_half(k.view(T, KV, hd), pos, theta)
        v = v.view(T, KV, hd)
        rep = H // KV
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + mask
        att = torch.softmax(att, dim=-1)
        o = torch.einsum("hts,shd->thd", att, v).reshape(T, H * hd)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ W[p + "mlp.down_proj.weight"].T
    hn = rmsnorm(x, W["model.norm.weight"], eps)
    if "score.weight" in W:
        return hn, None
    out = W["lm_head.weight"] if "lm_head.weight" in W else W["model.embed_tokens.weight"]
    return hn, hn @ out.T


def bert_weights(c):
    E, F, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    w = {"embeddings.word_embeddings.weight": rnd(c["vocab_size"], E, std=0.5),
         "embeddings.position_embeddings.weight": rnd(c["max_position_embeddings"], E, std=0.3),
         "embeddings.token_type_embeddings.weight": rnd(c["type_vocab_size"], E, std=0.3),
         "embeddings.LayerNorm.weight": 1 + rnd(E, std=0.1), "embeddings.LayerNorm.bias": rnd(E, std=0.1),
         "embeddings.position_ids": torch.arange(c["max_position_embeddings"], dtype=torch.int64)[None, :]}
    for l in range(L):
        p = "encoder.layer.%d." % l
        for n, (r, k) in {"attention.self.query": (E, E), "attention.self.key": (E, E), "attention.self.value": (E, E),
                          "attention.output.dense": (E, E), "intermediate.dense": (F, E),
                          "output.dense": (E, F)}.items():
            w[p + n + ".weight"] = rnd(r, k)
            w[p + n + ".bias"] = rnd(r, std=0.1)
        for n in ["attention.output.LayerNorm", "output.LayerNorm"]:
            w[p + n + ".weight"] = 1 + rnd(E, std=0.1)
            w[p + n + ".bias"] = rnd(E, std=0.1)
    w["pooler.dense.weight"] = rnd(E, E)
    w["pooler.dense.bias"] = rnd(E)
    return w


def bert_forward(c, w, ids, token_types=None):
    W = {k: v.double() for k, v in w.items() if v.is_floating_point()}
    E, L, H, eps = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"], c["layer_norm_eps"]
    hd, T = E // H, len(ids)
    ln = torch.nn.functional.layer_norm
    tt = torch.tensor(token_types if token_types is not None else [0] * T)
    x = W["embeddings.word_embeddings.weight"][torch.tensor(ids)] + W["embeddings.position_embeddings.weight"][:T] + \
        W["embeddings.token_type_embeddings.weight"][tt]
    x = ln(x, (E,), W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    for l in range(L):
        p = "encoder.layer.%d." % l

        def lin(n, h):
            return h @ W[p + n + ".weight"].T + W[p + n + ".bias"]
        q = lin("attention.self.query", x).view(T, H, hd)
        k = lin("attention.self.key", x).view(T, H, hd)
        v = lin("attention.self.value", x).view(T, H, hd)
        att = torch.softmax(torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd), dim=-1)
        o = torch.einsum("hts,shd->thd", att, v).reshape(T, E)
        a = ln(x + lin("attention.output.dense", o), (E,), W[p + "attention.output.LayerNorm.weight"],
               W[p + "attention.output.LayerNorm.bias"], eps)
        h = torch.nn.functional.gelu(lin("intermediate.dense", a))
        x = ln(a + lin("output.dense", h), (E,), W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)
    mean = x.mean(0)
    cls = x[0]
    return mean / mean.norm(), cls / cls.norm()

# ---------------------------------------------------------------- GGUF (independent writer)


def gguf_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf_kv(key, val):
    out = gguf_str(key)
    if isinstance(val, bool):
        return out + struct.pack("<IB", 7, int(val))
    if isinstance(val, int):
        return out + struct.pack("<II", 4, val)
    if isinstance(val, float):
        return out + struct.pack("<If", 6, val)
    if isinstance(val, str):
        return out + struct.pack("<I", 8) + gguf_str(val)
    kind, items = val  # ("str"|"f32"|"i32", [...])
    if kind == "str":
        return out + struct.pack("<IIQ", 9, 8, len(items)) + b"".join(gguf_str(x) for x in items)
    code, fmt = {"f32": (6, "f"), "i32": (5, "i")}[kind]
    return out + struct.pack("<IIQ", 9, code, len(items)) + struct.pack("<%d%s" % (len(items), fmt), *items)


def write_gguf(path, kvs, tensors):
    """GGUF v3, alignment 32; tensors: list of (name, float32 numpy array, shape outermost first)."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(gguf_kv(k, v) for k, v in kvs)
    infos, data, off = b"", b"", 0
    for name, arr in tensors:
        ne = list(reversed(arr.shape))
        infos += gguf_str(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne) + \
            struct.pack("<IQ", 0, off)
        b = arr.astype(np.float32).tobytes()
        b += b"\0" * ((32 - len(b) % 32) % 32)
        data += b
        off += len(b)
    blob = head + infos
    blob += b"\0" * ((32 - len(blob) % 32) % 32)
    with open(path, "wb") as f:
        f.write(blob + data)


def permute_rows(w, heads):
    # Hugging Face's rotate-half rows -> GGUF llama's interleaved pairs
    r = w.shape[0]
    return w.reshape(heads, 2, r // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def indep_gguf(path, c, w, vocab, merges):
    E, L = c["hidden_size"], c["num_hidden_layers"]
    kvs = [("general.architecture", "llama"), ("general.name", "indep"),
           ("llama.context_length", c["max_position_embeddings"]), ("llama.embedding_length", E),
           ("llama.feed_forward_length", c["intermediate_size"]), ("llama.block_count", L),
           ("llama.attention.head_count", c["num_attention_heads"]),
           ("llama.attention.head_count_kv", c["num_key_value_heads"]),
           ("llama.rope.freq_base", float(c["rope_theta"])),
           ("llama.attention.layer_norm_rms_epsilon", float(c["rms_norm_eps"])),
           ("tokenizer.ggml.model", "llama")]
    toks = sorted(vocab, key=lambda t: vocab[t])
    rank = {}
    for i, (a, b) in enumerate(merges):
        rank.setdefault(a + b, i)
    scores = [-float(rank.get(t, len(merges) + 1)) for t in toks]
    types = [3 if t in ("<s>", "</s>") else 2 if t == "<unk>" else 6 if t.startswith("<0x") else 1 for t in toks]
    kvs += [("tokenizer.ggml.tokens", ("str", toks)), ("tokenizer.ggml.scores", ("f32", scores)),
            ("tokenizer.ggml.token_type", ("i32", types)), ("tokenizer.ggml.bos_token_id", 1),
            ("tokenizer.ggml.eos_token_id", 2), ("tokenizer.ggml.unknown_token_id", 0)]
    n = lambda k: w[k].numpy()
    ts = [("token_embd.weight", n("model.embed_tokens.weight"))]
    for l in range(L):
        p = "model.layers.%d." % l
        ts += [("blk.%d.attn_norm.weight" % l, n(p + "input_layernorm.weight")),
               ("blk.%d.attn_q.weight" % l, permute_rows(n(p + "self_attn.q_proj.weight"), c["num_attention_heads"])),
               ("blk.%d.attn_k.weight" % l, permute_rows(n(p + "self_attn.k_proj.weight"), c["num_key_value_heads"])),
               ("blk.%d.attn_v.weight" % l, n(p + "self_attn.v_proj.weight")),
               ("blk.%d.attn_output.weight" % l, n(p + "self_attn.o_proj.weight")),
               ("blk.%d.ffn_norm.weight" % l, n(p + "post_attention_layernorm.weight")),
               ("blk.%d.ffn_gate.weight" % l, n(p + "mlp.gate_proj.weight")),
               ("blk.%d.ffn_up.weight" % l, n(p + "mlp.up_proj.weight")),
               ("blk.%d.ffn_down.weight" % l, n(p + "mlp.down_proj.weight"))]
    ts += [("output_norm.weight", n("model.norm.weight")), ("output.weight", n("lm_head.weight"))]
    write_gguf(path, kvs, ts)

# ---------------------------------------------------------------- main


def save_dir(name, config, weights, tj, tcfg, shards=0, extra=None):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tj, f, ensure_ascii=False)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, ensure_ascii=False)
    if shards:
        write_sharded(d, weights, shards)
    else:
        write_safetensors(os.path.join(d, "model.safetensors"), weights, {"format": "pt"})
    for fn, obj in (extra or {}).items():
        os.makedirs(os.path.dirname(os.path.join(d, fn)), exist_ok=True)
        with open(os.path.join(d, fn), "w") as f:
            json.dump(obj, f)


def ref(name, obj):
    with open(os.path.join(OUT, name + ".ref.json"), "w") as f:
        json.dump(obj, f)


def lm_ref(name, c, w, ids):
    _, logits = llama_forward(c, w, ids)
    ref(name, {"ids": ids, "logits": logits.tolist()})


def rounded(w, dtype):
    return {k: v.to(dtype) for k, v in w.items()}


def main():
    os.makedirs(OUT, exist_ok=True)
    spm_tj, spm_cfg, spm_n, spm_merges, spm_vocab = spm_tokenizer()
    bl_tj, bl_cfg, bl_n = byte_level_tokenizer()
    l3_tj, l3_cfg, l3_n = byte_level_tokenizer(llama3=True)
    wp_tj, wp_cfg, wp_n, _ = wordpiece_tokenizer()
    ids_spm = [1, 5, 300, spm_n - 1, 40, 41, 200, 7, 3, 260, 290, 100]
    ids_bl = [bl_n - 2, 10, 300, 65, 256, bl_n - 1, 32, 99, 120, 7, 260, 1]

    # llama: F32, GQA, untied; also sharded (same weights), BF16-stored, and an independent GGUF
    c = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": spm_n, "hidden_size": 64,
         "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
         "tie_word_embeddings": False, "torch_dtype": "float32", "bos_token_id": 1, "eos_token_id": 2}
    w = llama_weights(c)
    save_dir("llama", c, w, spm_tj, spm_cfg)
    lm_ref("llama", c, w, ids_spm)
    save_dir("llama_sharded", c, w, spm_tj, spm_cfg, shards=3)
    indep_gguf(os.path.join(OUT, "llama_indep.gguf"), c, w, spm_vocab, spm_merges)
    wb = rounded(w, torch.bfloat16)
    save_dir("llama_bf16", dict(c, torch_dtype="bfloat16"), wb, spm_tj, spm_cfg)
    lm_ref("llama_bf16", c, wb, ids_spm)

    # mistral: F16-stored, wider (rows of 256: q4_K fits), 8 heads over 2 kv heads
    c = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "vocab_size": spm_n, "hidden_size": 256,
         "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2,
         "max_position_embeddings": 4096, "sliding_window": 64, "rms_norm_eps": 1e-5, "rope_theta": 1000000.0,
         "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "float16"}
    w = rounded(llama_weights(c), torch.float16)
    save_dir("mistral", c, w, spm_tj, spm_cfg, shards=2)
    lm_ref("mistral", c, w, ids_spm)

    # qwen2: q/k/v biases, tied embeddings, byte-level tokenizer, padded vocabulary
    c = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": bl_n + 13, "hidden_size": 64,
         "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "hidden_act": "silu",
         "tie_word_embeddings": True, "use_sliding_window": False, "sliding_window": 32, "torch_dtype": "float32"}
    w = llama_weights(c, bias=True)
    save_dir("qwen2", c, w, bl_tj, bl_cfg)
    lm_ref("qwen2", c, w, ids_bl)

    # reward models: one label, score on the final-norm hidden state of the last token
    for name, base, tj, tc, ids, bias in (("qwen2_rm", "Qwen2", bl_tj, bl_cfg, ids_bl, True),
                                         ("llama_rm", "Llama", l3_tj, l3_cfg, ids_bl, False)):
        c = {"architectures": [base + "ForSequenceClassification"], "model_type": base.lower(),
             "vocab_size": bl_n if base == "Qwen2" else l3_n,
             "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 1, "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
             "hidden_act": "silu", "tie_word_embeddings": False, "id2label": {"0": "LABEL_0"},
             "label2id": {"LABEL_0": 0}, "pad_token_id": 0, "torch_dtype": "float32"}
        w = llama_weights(c, cls=True, bias=bias)
        save_dir(name, c, w, tj, tc)
        hn, _ = llama_forward(c, w, ids)
        score = float(hn[-1] @ w["score.weight"].double()[0])
        ref(name, {"ids": ids, "score": score})
    # two labels: not a reward head (refused)
    w["score.weight"] = rnd(2, c["hidden_size"])
    save_dir("rm_2labels", dict(c, id2label={"0": "A", "1": "B"}, label2id={"A": 0, "B": 1}), w, l3_tj, l3_cfg)

    # bert: WordPiece, mean pooling recorded by sentence-transformers' modules.json
    c = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": wp_n, "hidden_size": 64,
         "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 64,
         "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "position_embedding_type": "absolute",
         "torch_dtype": "float32"}
    w = bert_weights(c)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    pool = {"word_embedding_dimension": 64, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}
    save_dir("bert", c, w, wp_tj, wp_cfg, extra={"modules.json": modules, "1_Pooling/config.json": pool})
    ids = [2, 60, 61, 70, 9, 25, 3, 62, 3]
    tt = [0, 0, 0, 0, 0, 0, 0, 1, 1]  # a sentence pair: the second segment has token type 1
    mean, cls = bert_forward(c, w, ids)
    mean_tt, cls_tt = bert_forward(c, w, ids, tt)
    ref("bert", {"ids": ids, "mean": mean.tolist(), "cls": cls.tolist(), "token_types": tt,
                 "mean_tt": mean_tt.tolist(), "cls_tt": cls_tt.tolist()})
    # the same model pooled by [CLS], as bge's 1_Pooling/config.json says
    save_dir("bert_cls", c, w, wp_tj, wp_cfg, extra={"modules.json": modules, "1_Pooling/config.json": dict(
        pool, pooling_mode_cls_token=True, pooling_mode_mean_tokens=False, pooling_mode_max_tokens=False,
        pooling_mode_mean_sqrt_len_tokens=False)})

    with open(os.path.join(OUT, "texts.json"), "w") as f:
        json.dump(TEXTS, f, ensure_ascii=False)


if sys.argv[1] == "--forward":
    forward_requests(sys.argv[2], sys.argv[3])
else:
    main()
