#!/usr/bin/python3
"""Writes LoRA adapters in Hugging Face PEFT's format for generate.py's
llama-opset17 model, and PyTorch's outputs of the model with them merged.

  peft_adapter.py OUT_DIR
  peft_adapter.py --for-pretrained MODEL_DIR OUT_DIR
      (a random r=16 adapter on every linear of a pretrain.py model, for
      bench/run-compression's merged-speed row)
  peft_adapter.py --write DIR CONFIG_JSON TENSORS_JSON [--truncate BYTES]
      (lit tests: a small adapter from JSON; TENSORS_JSON maps names to
      [shape, fill value, dtype F32 or BF16]; --truncate cuts the
      safetensors file to its first BYTES bytes)

OUT_DIR/ours/        adapter_config.json + adapter_model.safetensors, F32:
                     r 8, lora_alpha 16, lora_bias, target_modules q, v,
                     module names as the exported model has them
                     (blocks.0.q, ...)
OUT_DIR/hf-names/    BF16, use_rslora, r 4 with rank_pattern down_proj: 2 and
                     alpha_pattern o_proj: 4, module names as a Hugging Face
                     LLaMA has them (model.layers.0.mlp.gate_proj, ...):
                     merging needs a module map
OUT_DIR/merged.data/ PyTorch's outputs with both merged, weights 1 and 0.5
                     (prefill, the ONNX backend-test layout of generate.py)

PEFT is not a Debian package, so this script writes what PEFT's
save_pretrained writes: tensors named base_model.model.<module>.lora_A.weight
[r, in] / lora_B.weight [out, r] (/ lora_B.bias [out]) in a safetensors file
(an 8-byte little-endian header length, the JSON header, the raw data), and
merges as PEFT's merge_and_unload does: W += scale * B @ A (f32 on CPU) with
scale = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora.
"""
import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402

WEIGHTS = (1.0, 0.5)


def write_safetensors(path, tensors):
    """tensors: {name: torch tensor (f32 or bf16)}."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.bfloat16:
            data, dtype = t.view(torch.int16).numpy().tobytes(), "BF16"
        else:
            data, dtype = t.to(torch.float32).numpy().tobytes(), "F32"
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors pads the header to 8 bytes
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def pattern_value(patterns, name, default):
    import re
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", name):
            return value
    return default


def make_adapter(out_dir, config, modules, dtype, gen):
    """modules: {peft module name: (graph module, in, out)}; returns the
    merge terms [(module, scale, A, B, bias)] with the values as stored."""
    os.makedirs(out_dir, exist_ok=True)
    tensors, terms = {}, []
    for name, (module, d_in, d_out) in modules.items():
        r = pattern_value(config["rank_pattern"], name, config["r"])
        alpha = pattern_value(config["alpha_pattern"], name, config["lora_alpha"])
        scale = alpha / math.sqrt(r) if config["use_rslora"] else alpha / r
        a = (torch.randn(r, d_in, generator=gen) / math.sqrt(d_in)).to(dtype)
        b = (0.05 * torch.randn(d_out, r, generator=gen)).to(dtype)
        key = f"base_model.model.{name}"
        tensors[f"{key}.lora_A.weight"] = a
        tensors[f"{key}.lora_B.weight"] = b
        bias = None
        if config.get("lora_bias"):
            bias = (0.05 * torch.randn(d_out, generator=gen)).to(dtype)
            tensors[f"{key}.lora_B.bias"] = bias
        terms.append((module, scale, a.float(), b.float(),
                      None if bias is None else bias.float()))
    write_safetensors(os.path.join(out_dir, "adapter_model.safetensors"), tensors)
    with open(os.path.join(out_dir, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return terms


def peft_config(**kw):
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 8, "lora_alpha": 8,
              "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False,
              "use_rslora": False, "use_dora": False, "lora_bias": False,
              "rank_pattern": {}, "alpha_pattern": {}, "target_modules": [],
              "base_model_name_or_path": "llama-opset17", "inference_mode": True}
    config.update(kw)
    return config


def write_small(args):
    out, config, tensors = args[0], json.loads(args[1]), json.loads(args[2])
    os.makedirs(out, exist_ok=True)
    dtypes = {"F32": torch.float32, "BF16": torch.bfloat16}
    write_safetensors(os.path.join(out, "adapter_model.safetensors"),
                      {k: torch.full(shape, float(fill)).to(dtypes[dtype])
                       for k, (shape, fill, dtype) in tensors.items()})
    if "--truncate" in args:
        path = os.path.join(out, "adapter_model.safetensors")
        data = open(path, "rb").read()[:int(args[args.index("--truncate") + 1])]
        open(path, "wb").write(data)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(peft_config(**config), f)
    return 0


def for_pretrained(model_dir, out):
    info = json.load(open(os.path.join(model_dir, "info.json")))
    c = generate.Config(vocab=256, **info["config"]["model"])
    d, kvd = c.d_model, c.kv_heads * c.head_dim
    modules = {}
    for i in range(c.layers):
        for name, d_in, d_out in (("q", d, d), ("k", d, kvd), ("v", d, kvd), ("o", d, d),
                                  ("mlp.gate", d, c.ffn), ("mlp.up", d, c.ffn),
                                  ("mlp.down", c.ffn, d)):
            modules[f"blocks.{i}.{name}"] = (None, d_in, d_out)
    make_adapter(out, peft_config(r=16, lora_alpha=32,
                                  target_modules=["q", "k", "v", "o", "gate", "up", "down"]),
                 modules, torch.float32, torch.Generator().manual_seed(3))
    print(f"wrote a {len(modules)}-module adapter for {model_dir} to {out}")
    return 0


def main():
    if sys.argv[1] == "--write":
        return write_small(sys.argv[2:])
    if sys.argv[1] == "--for-pretrained":
        return for_pretrained(sys.argv[2], sys.argv[3])
    out = sys.argv[1]
    name = "llama-opset17"
    family, c, opset, kv_cache = generate.variants()[name]
    torch.manual_seed(0)  # the weights generate.py exported
    model = generate.Llama(c)
    model.eval()
    gen = torch.Generator().manual_seed(42)
    d, kvd = c.d_model, c.kv_heads * c.head_dim
    ours, hf = {}, {}
    for i in range(c.layers):
        blk = model.blocks[i]
        ours[f"blocks.{i}.q"] = (blk.q, d, d)
        ours[f"blocks.{i}.v"] = (blk.v, d, kvd)
        hf[f"model.layers.{i}.self_attn.o_proj"] = (blk.o, d, d)
        hf[f"model.layers.{i}.mlp.gate_proj"] = (blk.mlp.gate, d, c.ffn)
        hf[f"model.layers.{i}.mlp.up_proj"] = (blk.mlp.up, d, c.ffn)
        hf[f"model.layers.{i}.mlp.down_proj"] = (blk.mlp.down, c.ffn, d)
    terms = [
        make_adapter(os.path.join(out, "ours"),
                     peft_config(r=8, lora_alpha=16, lora_bias=True, target_modules=["q", "v"]),
                     ours, torch.float32, gen),
        make_adapter(os.path.join(out, "hf-names"),
                     peft_config(r=4, lora_alpha=8, use_rslora=True,
                                 rank_pattern={"down_proj": 2}, alpha_pattern={"o_proj": 4},
                                 target_modules=["o_proj", "gate_proj", "up_proj", "down_proj"]),
                     hf, torch.bfloat16, gen),
    ]
    # The unmerged adapted model (LoRA branches beside the linears), then the
    # merge PEFT's merge_and_unload performs; both must agree.
    torch.manual_seed(1)
    ids = torch.randint(0, c.vocab, (2, 11))
    hooks = []
    for weight, adapter in zip(WEIGHTS, terms):
        for module, scale, a, b, bias in adapter:
            def hook(mod, inp, outp, a=a, b=b, bias=bias, s=scale * weight):
                y = (inp[0] @ a.t()) @ b.t()
                return outp + s * (y if bias is None else y + bias)
            hooks.append(module.register_forward_hook(hook))
    with torch.no_grad():
        unmerged = model(ids)
    for h in hooks:
        h.remove()
    with torch.no_grad():
        for weight, adapter in zip(WEIGHTS, terms):
            for module, scale, a, b, bias in adapter:
                module.weight += weight * scale * (b @ a)
                if bias is not None:
                    if module.bias is None:
                        module.bias = torch.nn.Parameter(torch.zeros(module.out_features))
                    module.bias += weight * scale * bias
        merged = model(ids)
    diff = float((merged - unmerged).abs().max())
    if diff > 1e-4:
        print(f"peft_adapter.py: merged and unmerged PyTorch outputs differ by {diff}")
        return 1
    generate.write_reference("merged", model, c, False, out, 0)
    modules = sum(len(t) for t in terms)
    print(f"wrote 2 PEFT adapters ({modules} modules) and PyTorch's merged outputs to {out} "
          f"(merged vs unmerged in PyTorch: max abs {diff:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
