#!/usr/bin/python3
"""gguf_ref.py — independent float64 NumPy references for tests/model/test_bert.c
and tests/backend/test_embed_score.c: a minimal GGUF reader (F32/F16 tensors)
and the forward passes written from the published definitions, not from
goodhart's C code.

  gguf_ref.py bert  MODEL.gguf IDS [TYPES]   final hidden states, one token per line
  gguf_ref.py llama MODEL.gguf IDS           final-normed hidden state of every token,
                                             one per line, then a line "score S" if the
                                             model has cls.output.weight (head on the last)
IDS and TYPES are comma-separated integers.
"""
import math
import struct
import sys

import numpy as np

SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, path):
        self.b = open(path, "rb").read()
        self.o = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.o)[0]
        self.o += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.b[self.o:self.o + n].decode("utf-8")
        self.o += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        return self.take(SCALARS[t])


def load(path):
    r = Reader(path)
    assert r.b[:4] == b"GGUF", "not a GGUF file"
    r.o = 4
    r.take("<I")  # version
    n_t, n_kv = r.take("<Q"), r.take("<Q")
    kv = {}
    for _ in range(n_kv):
        k = r.string()
        kv[k] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_t):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        t, off = r.take("<I"), r.take("<Q")
        infos.append((name, ne, t, off))
    align = kv.get("general.alignment", 32)
    base = (r.o + align - 1) // align * align
    tensors = {}
    for name, ne, t, off in infos:
        n = int(np.prod(ne))
        dt = {0: np.float32, 1: np.float16}[t]
        a = np.frombuffer(r.b, dtype=dt, count=n, offset=base + off).astype(np.float64)
        tensors[name] = a.reshape(list(reversed(ne))) if len(ne) > 1 else a  # [rows][ne0]
    return kv, tensors


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def softmax(s):
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(-1, keepdims=True)


def bert(kv, T, ids, types):
    eps = kv["bert.attention.layer_norm_epsilon"]
    H = kv["bert.attention.head_count"]
    n = len(ids)
    x = T["token_embd.weight"][ids] + T["position_embd.weight"][:n] + T["token_types.weight"][types]
    x = layer_norm(x, T["token_embd_norm.weight"], T["token_embd_norm.bias"], eps)
    E = x.shape[1]
    d = E // H
    lin = lambda x, p: x @ T[p + ".weight"].T + T[p + ".bias"]
    for l in range(kv["bert.block_count"]):
        p = "blk.%d." % l
        q, k, v = lin(x, p + "attn_q"), lin(x, p + "attn_k"), lin(x, p + "attn_v")
        att = np.zeros_like(x)
        for h in range(H):
            sl = slice(h * d, (h + 1) * d)
            att[:, sl] = softmax(q[:, sl] @ k[:, sl].T / math.sqrt(d)) @ v[:, sl]
        x = layer_norm(x + lin(att, p + "attn_output"), T[p + "attn_output_norm.weight"], T[p + "attn_output_norm.bias"], eps)
        y = lin(gelu(lin(x, p + "ffn_up")), p + "ffn_down")
        x = layer_norm(x + y, T[p + "layer_output_norm.weight"], T[p + "layer_output_norm.bias"], eps)
    return x


def rope(x, pos, base, neox):
    # x [n][d] of one head; pairs (2i, 2i+1), or (i, i + d/2) for NeoX
    d = x.shape[1]
    out = x.copy()
    for i in range(d // 2):
        ang = pos * base ** (-2.0 * i / d)
        c, s = np.cos(ang), np.sin(ang)
        a, b = (i, i + d // 2) if neox else (2 * i, 2 * i + 1)
        out[:, a] = x[:, a] * c - x[:, b] * s
        out[:, b] = x[:, a] * s + x[:, b] * c
    return out


def llama(kv, T, ids):
    arch = kv["general.architecture"]
    eps = kv.get(arch + ".attention.layer_norm_rms_epsilon", 1e-5)
    H = kv[arch + ".attention.head_count"]
    Hk = kv.get(arch + ".attention.head_count_kv", H)
    base = kv.get(arch + ".rope.freq_base", 10000.0)
    neox = arch == "qwen2"
    rms = lambda x, w: x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w
    x = T["token_embd.weight"][ids]
    n, E = x.shape
    d = E // H
    pos = np.arange(n, dtype=np.float64)
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for l in range(kv[arch + ".block_count"]):
        p = "blk.%d." % l
        h = rms(x, T[p + "attn_norm.weight"])
        lin = lambda x, name: x @ T[p + name + ".weight"].T + (T[p + name + ".bias"] if p + name + ".bias" in T else 0)
        q, k, v = lin(h, "attn_q"), lin(h, "attn_k"), lin(h, "attn_v")
        att = np.zeros((n, H * d))
        for hh in range(H):
            kh = hh // (H // Hk)
            qh = rope(q[:, hh * d:(hh + 1) * d], pos, base, neox)
            kk = rope(k[:, kh * d:(kh + 1) * d], pos, base, neox)
            att[:, hh * d:(hh + 1) * d] = softmax(qh @ kk.T / math.sqrt(d) + mask) @ v[:, kh * d:(kh + 1) * d]
        x = x + att @ T[p + "attn_output.weight"].T
        h = rms(x, T[p + "ffn_norm.weight"])
        g = h @ T[p + "ffn_gate.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ T[p + "ffn_up.weight"].T)) @ T[p + "ffn_down.weight"].T
    return rms(x, T["output_norm.weight"])


def main():
    kind, path, ids = sys.argv[1], sys.argv[2], [int(t) for t in sys.argv[3].split(",")]
    kv, T = load(path)
    if kind == "bert":
        types = [int(t) for t in sys.argv[4].split(",")] if len(sys.argv) > 4 else [0] * len(ids)
        h = bert(kv, T, ids, types)
    else:
        h = llama(kv, T, ids)
    for row in h:
        print(" ".join("%.10g" % v for v in row))
    if kind != "bert" and "cls.output.weight" in T:
        w = T["cls.output.weight"].reshape(-1)
        b = T["cls.output.bias"].reshape(-1)[0] if "cls.output.bias" in T else 0.0
        print("score %.12g" % (float(h[-1] @ w) + b))


if __name__ == "__main__":
    main()
