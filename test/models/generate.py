#!/usr/bin/python3
"""Exports small, seeded decoder models to ONNX with PyTorch: the models every
Tailor test and the demo use. Nothing is downloaded: weights are random
(seeded), architectures follow GPT-2, LLaMA and Mixtral.

  generate.py OUT_DIR [--only NAME ...] [--list]

Writes OUT_DIR/<name>.onnx for each variant and OUT_DIR/manifest.json with
what each model contains (layers, heads, MoE blocks, opset, ...), which tests
compare Tailor's findings against.
"""
import argparse
import json
import math
import os
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")


class Config:
    def __init__(self, **kw):
        self.vocab = 256
        self.d_model = 64
        self.layers = 2
        self.heads = 4
        self.kv_heads = 4
        self.ffn = 128
        self.max_pos = 128
        self.experts = 0
        self.top_k = 2
        self.lora_rank = 0
        self.__dict__.update(kw)

    @property
    def head_dim(self):
        return self.d_model // self.heads


# ---------------------------------------------------------------- GPT-2 style
class GPT2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.ln1 = nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.ln2 = nn.LayerNorm(c.d_model)
        self.fc = nn.Linear(c.d_model, c.ffn)
        self.out = nn.Linear(c.ffn, c.d_model)

    def forward(self, x, mask, past_k=None, past_v=None):
        c = self.c
        b, s, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c.d_model, dim=-1)
        q = q.view(b, s, c.heads, c.head_dim).transpose(1, 2)
        k = k.view(b, s, c.heads, c.head_dim).transpose(1, 2)
        v = v.view(b, s, c.heads, c.head_dim).transpose(1, 2)
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        t = k.shape[2]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c.head_dim)
        att = att.masked_fill(mask[:, :, t - s:t, :t] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, s, c.d_model)
        x = x + self.proj(y)
        x = x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x, (k, v)


class GPT2(nn.Module):
    def __init__(self, c, kv_cache=False):
        super().__init__()
        self.c = c
        self.kv_cache = kv_cache
        self.wte = nn.Embedding(c.vocab, c.d_model)
        self.wpe = nn.Embedding(c.max_pos, c.d_model)
        self.blocks = nn.ModuleList(GPT2Block(c) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(c.d_model)
        self.register_buffer(
            "mask", torch.tril(torch.ones(c.max_pos, c.max_pos)).view(1, 1, c.max_pos, c.max_pos))

    def forward(self, input_ids, *past):
        s = input_ids.shape[1]
        start = past[0].shape[2] if past else 0
        pos = torch.arange(start, start + s, dtype=torch.long).unsqueeze(0)
        x = self.wte(input_ids) + self.wpe(pos)
        presents = []
        for i, blk in enumerate(self.blocks):
            pk, pv = (past[2 * i], past[2 * i + 1]) if past else (None, None)
            x, present = blk(x, self.mask, pk, pv)
            presents.extend(present)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return (logits, *presents) if self.kv_cache else logits


# ---------------------------------------------------------------- LLaMA style
class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(1.0 + 0.1 * torch.randn(d))

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class LoRALinear(nn.Module):
    """y = x W^T + (x A^T) B^T * (alpha / r), as Hugging Face PEFT builds it."""

    def __init__(self, d_in, d_out, r, alpha=16):
        super().__init__()
        self.base = nn.Linear(d_in, d_out, bias=False)
        self.lora_A = nn.Linear(d_in, r, bias=False)
        self.lora_B = nn.Linear(r, d_out, bias=False)
        nn.init.normal_(self.lora_B.weight, std=0.02)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


def linear(c, d_in, d_out, lora=False):
    if lora and c.lora_rank:
        return LoRALinear(d_in, d_out, c.lora_rank)
    return nn.Linear(d_in, d_out, bias=False)


class SwiGLU(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate = nn.Linear(c.d_model, c.ffn, bias=False)
        self.up = nn.Linear(c.d_model, c.ffn, bias=False)
        self.down = nn.Linear(c.ffn, c.d_model, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class MoE(nn.Module):
    """Mixtral-style: softmax router, top-k, renormalised weights; experts are
    evaluated densely and combined (the static form an ONNX export takes)."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.router = nn.Linear(c.d_model, c.experts, bias=False)
        self.experts = nn.ModuleList(SwiGLU(c) for _ in range(c.experts))

    def forward(self, x):
        probs = F.softmax(self.router(x), dim=-1)
        top_w, top_i = torch.topk(probs, self.c.top_k, dim=-1)
        top_w = top_w / top_w.sum(dim=-1, keepdim=True)
        weights = torch.zeros_like(probs).scatter(-1, top_i, top_w)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            out = out + weights[..., e:e + 1] * expert(x)
        return out


class LlamaBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.norm1 = RMSNorm(c.d_model)
        self.q = linear(c, c.d_model, c.heads * c.head_dim, lora=True)
        self.k = linear(c, c.d_model, c.kv_heads * c.head_dim)
        self.v = linear(c, c.d_model, c.kv_heads * c.head_dim, lora=True)
        self.o = linear(c, c.heads * c.head_dim, c.d_model)
        self.norm2 = RMSNorm(c.d_model)
        self.mlp = MoE(c) if c.experts else SwiGLU(c)

    def forward(self, x, cos, sin, past_k=None, past_v=None):
        c = self.c
        b, s, _ = x.shape
        h = self.norm1(x)
        q = self.q(h).view(b, s, c.heads, c.head_dim).transpose(1, 2)
        k = self.k(h).view(b, s, c.kv_heads, c.head_dim).transpose(1, 2)
        v = self.v(h).view(b, s, c.kv_heads, c.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        present = (k, v)
        t = k.shape[2]
        rep = c.heads // c.kv_heads
        if rep > 1:  # Hugging Face's repeat_kv
            k = k[:, :, None].expand(b, c.kv_heads, rep, t, c.head_dim).reshape(b, c.heads, t, c.head_dim)
            v = v[:, :, None].expand(b, c.kv_heads, rep, t, c.head_dim).reshape(b, c.heads, t, c.head_dim)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c.head_dim)
        causal = torch.ones(s, t, dtype=torch.bool).tril(diagonal=t - s)
        att = att.masked_fill(~causal, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, s, c.d_model)
        x = x + self.o(y)
        x = x + self.mlp(self.norm2(x))
        return x, present


class Llama(nn.Module):
    def __init__(self, c, kv_cache=False):
        super().__init__()
        self.c = c
        self.kv_cache = kv_cache
        self.embed = nn.Embedding(c.vocab, c.d_model)
        self.blocks = nn.ModuleList(LlamaBlock(c) for _ in range(c.layers))
        self.norm = RMSNorm(c.d_model)
        self.lm_head = nn.Linear(c.d_model, c.vocab, bias=False)
        inv = 1.0 / (10000 ** (torch.arange(0, c.head_dim, 2).float() / c.head_dim))
        freqs = torch.outer(torch.arange(c.max_pos).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", emb.cos())
        self.register_buffer("sin_cached", emb.sin())

    def forward(self, input_ids, *past):
        s = input_ids.shape[1]
        start = past[0].shape[2] if past else 0
        cos = self.cos_cached[start:start + s]
        sin = self.sin_cached[start:start + s]
        x = self.embed(input_ids)
        presents = []
        for i, blk in enumerate(self.blocks):
            pk, pv = (past[2 * i], past[2 * i + 1]) if past else (None, None)
            x, present = blk(x, cos, sin, pk, pv)
            presents.extend(present)
        logits = self.lm_head(self.norm(x))
        return (logits, *presents) if self.kv_cache else logits


# ---------------------------------------------------------------- variants
def variants():
    gpt2 = Config(kv_heads=4)
    llama = Config(heads=4, kv_heads=2)
    moe = Config(heads=4, kv_heads=2, experts=4, top_k=2, ffn=96)
    lora = Config(heads=4, kv_heads=2, lora_rank=8)
    out = {}
    for opset in (14, 17):
        out[f"gpt2-opset{opset}"] = ("gpt2", gpt2, opset, False)
        out[f"llama-opset{opset}"] = ("llama", llama, opset, False)
        out[f"moe-opset{opset}"] = ("moe", moe, opset, False)
    out["llama-lora-opset17"] = ("llama", lora, 17, False)
    out["gpt2-kvcache-opset17"] = ("gpt2", gpt2, 17, True)
    out["llama-kvcache-opset17"] = ("llama", llama, 17, True)
    out["moe-kvcache-opset17"] = ("moe", moe, 17, True)
    return out


def large_variants():
    """Benchmark models: exported only when named with --only (bench/)."""
    # The issue's ~100M LLaMA-style model: d_model 768, 12 layers, 12 heads
    # with 4 KV heads, SwiGLU 2048, vocab 32000.
    bench = Config(vocab=32000, d_model=768, layers=12, heads=12, kv_heads=4,
                   ffn=2048, max_pos=512)
    return {"llama-100m-kvcache-opset17": ("llama", bench, 17, True)}


def export(name, family, c, opset, kv_cache, out_dir):
    torch.manual_seed(0)
    model = GPT2(c, kv_cache=kv_cache) if family == "gpt2" else Llama(c, kv_cache=kv_cache)
    model.eval()
    export_model(model, c, os.path.join(out_dir, name + ".onnx"), opset, kv_cache)
    params = sum(p.numel() for p in model.parameters())
    info = {
        "file": name + ".onnx", "family": family, "opset": opset,
        "layers": c.layers, "heads": c.heads, "kv_heads": c.kv_heads,
        "d_model": c.d_model, "vocab": c.vocab, "experts": c.experts,
        "top_k": c.top_k if c.experts else 0, "lora_rank": c.lora_rank,
        "kv_cache": kv_cache, "parameters": params,
        "moe_blocks": c.layers if c.experts else 0,
        "norm": "layer_norm" if family == "gpt2" else "rms_norm",
    }
    return info, model


def export_model(model, c, path, opset, kv_cache):
    """torch.onnx.export with dynamic batch/sequence (and past) axes, written
    to a temporary name and renamed."""
    batch, seq, past_len = 2, 8, 5
    ids = torch.randint(0, c.vocab, (batch, seq))
    inputs = [ids]
    input_names = ["input_ids"]
    output_names = ["logits"]
    dynamic = {"input_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    if kv_cache:
        for i in range(c.layers):
            for kind in ("key", "value"):
                inputs.append(torch.randn(batch, c.kv_heads, past_len, c.head_dim))
                input_names.append(f"past_{kind}.{i}")
                output_names.append(f"present_{kind}.{i}")
                dynamic[f"past_{kind}.{i}"] = {0: "batch", 2: "past_sequence"}
                dynamic[f"present_{kind}.{i}"] = {0: "batch", 2: "total_sequence"}
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, tuple(inputs), tmp, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic,
                          opset_version=opset, do_constant_folding=True)
    os.replace(tmp, path)


def write_tensors(folder, prefix, tensors, names):
    from onnx import numpy_helper
    for i, (t, n) in enumerate(zip(tensors, names)):
        proto = numpy_helper.from_array(t.detach().numpy(), n)
        with open(os.path.join(folder, f"{prefix}_{i}.pb"), "wb") as f:
            f.write(proto.SerializeToString())


def write_reference(name, model, c, kv_cache, out_dir, steps):
    """PyTorch's own outputs, in the ONNX backend-test layout
    (input_N.pb / output_N.pb), for `tailor-run --check`:
      <name>.data/prefill       batch 2 x 11 prompt tokens (past of length 0)
      <name>.data/decode_NN     greedy decode step NN: one token per sequence,
                                the past PyTorch itself produced (KV-cache
                                models only)."""
    torch.manual_seed(1)
    root = os.path.join(out_dir, name + ".data")
    ids = torch.randint(0, c.vocab, (2, 11))
    in_names = ["input_ids"]
    out_names = ["logits"]
    past = []
    if kv_cache:
        for i in range(c.layers):
            for kind in ("key", "value"):
                past.append(torch.zeros(2, c.kv_heads, 0, c.head_dim))
                in_names.append(f"past_{kind}.{i}")
                out_names.append(f"present_{kind}.{i}")
    cases = []
    with torch.no_grad():
        for step in range(steps + 1 if kv_cache else 1):
            outs = model(ids, *past)
            outs = outs if isinstance(outs, tuple) else (outs,)
            cases.append(("prefill" if step == 0 else f"decode_{step - 1:02d}",
                          [ids, *past], list(outs)))
            ids = outs[0][:, -1:, :].argmax(-1)
            past = list(outs[1:])
    if kv_cache:
        # Greedy generation for one sequence, for tailor-run --generate.
        prompt = cases[0][1][0][0].tolist()
        seq = torch.tensor([prompt])
        with torch.no_grad():
            past = [torch.zeros(1, c.kv_heads, 0, c.head_dim) for _ in range(2 * c.layers)]
            tokens = []
            for _ in range(steps):
                outs = model(seq, *past)
                nxt = int(outs[0][0, -1].argmax())
                tokens.append(nxt)
                seq = torch.tensor([[nxt]])
                past = list(outs[1:])
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "greedy.json"), "w") as f:
            json.dump({"prompt": prompt, "tokens": tokens}, f)
    for case, inputs, outputs in cases:
        folder = os.path.join(root, case)
        os.makedirs(folder, exist_ok=True)
        write_tensors(folder, "input", inputs, in_names)
        write_tensors(folder, "output", outputs, out_names)
    return [c for c, _, _ in cases]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--only", nargs="*", help="variant names to export (default: all)")
    ap.add_argument("--list", action="store_true", help="list the variants and exit")
    ap.add_argument("--reference", type=int, metavar="STEPS", default=None,
                    help="also write PyTorch reference outputs (<name>.data/: prefill and, "
                         "for KV-cache models, STEPS greedy decode steps)")
    args = ap.parse_args()
    default_variants = variants()
    all_variants = {**default_variants, **large_variants()}
    if args.list:
        print("\n".join(all_variants))
        return 0
    names = args.only or list(default_variants)
    unknown = [n for n in names if n not in all_variants]
    if unknown:
        print(f"generate.py: unknown variant(s) {unknown}; see --list", file=sys.stderr)
        return 2
    os.makedirs(args.out_dir, exist_ok=True)
    manifest = {}
    for n in names:
        manifest[n], model = export(n, *all_variants[n], args.out_dir)
        msg = f"exported {n}: {manifest[n]['parameters']} parameters"
        if args.reference is not None:
            family, c, _, kv_cache = all_variants[n]
            cases = write_reference(n, model, c, kv_cache, args.out_dir, args.reference)
            manifest[n]["reference"] = cases
            msg += f", {len(cases)} reference case(s)"
        print(msg, flush=True)
    with open(os.path.join(args.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
