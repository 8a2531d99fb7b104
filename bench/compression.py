#!/usr/bin/python3
"""Compression benchmark (bench/run-compression): quality, size and speed of
compressed variants of the pretrained test model, against its fp32 form and
ONNX Runtime fp32 on the same machine, in one run.

The model: test/models/pretrain.py --size small (a 12.8M-parameter
byte-level LLaMA pretrained on Debian's GNU manuals; cached). For each
variant (tailor-compile options), tailor-eval measures on the held-out
windows: perplexity, mean KL(fp32 || variant) per token, top-1 agreement,
artifact size, prefill (1 x --prompt tokens) and greedy decode tokens/s.
ONNX Runtime runs the fp32 ONNX model (prefill, decode) in the same run.
The W8A8 rows' prefill is also compared with Tailor's own fp32 prefill,
next to this CPU's ceiling for it: the rate of the int8 x int8 instruction
mix the kernel uses (AVX-512 VNNI's vpdpbusd where the CPU has it, else
AVX2's vpmaddwd) over the fp32 FMA rate (bench/peak.c --int8).
--write-docs PATH replaces the results section of docs/compression.md.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import onnx as onnx_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"

# name -> tailor-compile options
VARIANTS = [
    ("fp32", []),
    ("int8 weight-only (RTN, per channel)", ["--quantize=int8"]),
    ("int4 g128 symmetric (RTN; W4A8 kernel)", ["--quantize=int4"]),
    ("int4 g128 asymmetric (RTN; W4A8 kernel)", ["--quantize=int4", "--quantize-asymmetric"]),
    ("int4 g128 symmetric (RTN; f32 activations)", ["--quantize=int4",
                                                   "--int4-activations=f32"]),
    ("int4 g128 symmetric (GPTQ; W4A8 kernel)", ["--quantize=int4", "--quantize-method=gptq",
                                                "--calibration", "{calibration}"]),
    ("int4 g128 symmetric (AWQ; W4A8 kernel)", ["--quantize=int4", "--quantize-method=awq",
                                               "--calibration", "{calibration}"]),
    ("W8A8 per-token (RTN; int8 x int8 kernel)", ["--quantize=w8a8"]),
    ("W8A8 SmoothQuant alpha 0.5 (int8 x int8 kernel)", ["--quantize=w8a8",
                                                        "--quantize-method=smoothquant",
                                                        "--calibration", "{calibration}"]),
    ("--max-kl 1e-3: int4 or int8 per linear (RTN)", ["--max-kl=1e-3", "--kl-tokens",
                                                       "{calib_tokens}", "--plan-out",
                                                       "{plan}"]),
    ("--max-kl 2e-4: int4 (GPTQ) or int8 per linear", ["--max-kl=2e-4", "--kl-tokens",
                                                        "{calib_tokens}", "--plan-out", "{plan}",
                                                        "--quantize-method=gptq",
                                                        "--calibration", "{calibration}"]),
    # Unstructured and N:M pruning keep lm_head dense, as Wanda's paper does
    # (it prunes every linear layer but the output head).
    ("pruned 50% unstructured (magnitude)", ["--prune=unstructured", "--prune-sparsity=0.5",
                                             "--prune-exclude", "lm_head"]),
    ("pruned 50% unstructured (Wanda)", ["--prune=unstructured", "--prune-sparsity=0.5",
                                         "--prune-method=wanda", "--calibration",
                                         "{calibration}", "--prune-exclude", "lm_head"]),
    ("pruned 2:4 (magnitude)", ["--prune=2:4", "--prune-exclude", "lm_head"]),
    ("pruned 2:4 (Wanda)", ["--prune=2:4", "--prune-method=wanda", "--calibration",
                            "{calibration}", "--prune-exclude", "lm_head"]),
    ("pruned 25% FFN channels (magnitude)", ["--prune=ffn-channels", "--prune-sparsity=0.25"]),
    ("pruned 50% of the KV heads (magnitude)", ["--prune=heads", "--prune-sparsity=0.5"]),
]
# tailor-compile --emit=onnx: name -> (options, the variant whose compiled
# artifact ONNX Runtime's run of the export is compared with).
EXPORTS = [
    ("fp32", [], "fp32"),
    ("LoRA r=16 merged", ["--lora-adapter", "{adapter}"], "fp32 + LoRA r=16 merged (PEFT file)"),
    ("pruned 25% FFN channels", ["--prune=ffn-channels", "--prune-sparsity=0.25"],
     "pruned 25% FFN channels (magnitude)"),
    ("int8 weight-only", ["--quantize=int8"], "int8 weight-only (RTN, per channel)"),
    ("int4 g128", ["--quantize=int4"], "int4 g128 symmetric (RTN; f32 activations)"),
    ("int4 g128 as MatMulNBits", ["--quantize=int4", "--onnx-int4=matmulnbits"],
     "int4 g128 symmetric (RTN; f32 activations)"),
    ("W8A8", ["--quantize=w8a8"], "W8A8 per-token (RTN; int8 x int8 kernel)"),
]
BEGIN, END = "<!-- bench:compression:begin -->", "<!-- bench:compression:end -->"


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench: failed: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--work", default=None, help="scratch (default BUILD/bench/compression)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=9,
                    help="tailor-eval --rounds: interleaved timing rounds, the median")
    ap.add_argument("--size", default="small", help="pretrain.py --size")
    ap.add_argument("--write-docs", metavar="PATH")
    args = ap.parse_args()
    work = args.work or os.path.join(args.build, "bench", "compression")
    os.makedirs(work, exist_ok=True)
    bin_dir = os.path.join(args.build, "bin")
    print("== bench: the pretrained model (trained once, then cached)", flush=True)
    model_dir = sh([PY, os.path.join(ROOT, "test", "models", "pretrain.py"), "--size", args.size,
                    "--print-dir"]).strip().splitlines()[-1]
    info = json.load(open(os.path.join(model_dir, "info.json")))
    onnx = os.path.join(model_dir, "model.onnx")
    heldout = os.path.join(model_dir, "heldout.npy")

    # A LoRA adapter (PEFT format, r=16 on every linear) merged at compile
    # time: the merged model must run at the base model's speed.
    adapter = os.path.join(work, "lora-r16")
    sh([PY, os.path.join(ROOT, "test", "models", "peft_adapter.py"), "--for-pretrained",
        model_dir, adapter])
    variants = VARIANTS[:1] + [("fp32 + LoRA r=16 merged (PEFT file)", ["--lora-adapter", adapter])] \
        + VARIANTS[1:]
    # X^T X of every linear's input over the calibration windows (GPTQ, AWQ).
    calibration = os.path.join(work, "calib.safetensors")
    print("== bench: tailor-calibrate --hessian", flush=True)
    sh([os.path.join(bin_dir, "tailor-calibrate"), onnx, "--tokens",
        os.path.join(model_dir, "calib.npy"), "--hessian", "-o", calibration])
    # The CPU's int8 product rates against its fp32 FMA rate (one thread).
    peak_bin = os.path.join(work, "peak")
    sh(["cc", "-O2", "-fopenmp", os.path.join(ROOT, "bench", "peak.c"), "-o", peak_bin])
    mix = dict(kv.split("=") for kv in sh([peak_bin, "--int8"]).split())
    # 2:4 sparsity for decode: a compressed fp32 GEMV against the dense one
    # over a model's worth of weights (bench/sparse24.c).
    sparse_bin = os.path.join(work, "sparse24")
    sh(["cc", "-O2", os.path.join(ROOT, "bench", "sparse24.c"), "-o", sparse_bin, "-lm"])
    sparse = dict(kv.split("=") for kv in sh([sparse_bin]).split())
    artifacts = []
    plans = []  # --max-kl: (variant, plan file)
    for name, options in variants:
        stem = os.path.join(work, re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))
        options = [o.replace("{calibration}", calibration)
                   .replace("{calib_tokens}", os.path.join(model_dir, "calib.npy"))
                   .replace("{plan}", stem + ".plan.json") for o in options]
        if "--plan-out" in options:
            plans.append((name, stem + ".plan.json"))
        so = stem + ".so"
        print(f"== bench: compile {name}", flush=True)
        t0 = time.time()
        sh([os.path.join(bin_dir, "tailor-compile"), onnx, "-o", so, "--quiet"] + options)
        artifacts.append((name, options, so, time.time() - t0))

    # The exports: ONNX Runtime on each exported model against Tailor's
    # compiled variant, the last prompt position's logits (prompt as ort.js
    # makes it), at ORT's default optimization level and at "basic".
    sys.path.insert(0, os.path.join(args.build, "python"))
    import tailor  # noqa: E402 (the build's bindings)
    vocab = 256
    ids = [(i * 7919) % vocab for i in range(args.prompt)]
    by_name = {a[0]: a[2] for a in artifacts}
    export_lines = ["| exported | ONNX MB | nodes | ORT all: max abs diff / max abs logit | ORT basic |",
                    "|---|---|---|---|---|"]
    for name, options, variant in EXPORTS:
        print(f"== bench: export {name}", flush=True)
        out = os.path.join(work, re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".onnx")
        sh([os.path.join(bin_dir, "tailor-compile"), onnx, "--quiet", "--emit=onnx", "-o", out]
           + [o.replace("{adapter}", adapter) for o in options])
        ref = np.array(tailor.load(by_name[variant]).session().prefill(ids))
        cells = [name, f"{os.path.getsize(out) / 1e6:.2f}"]
        cells.append(str(len(onnx_lib.load(out).graph.node)))
        for level in ("all", "basic"):
            got = np.array(json.loads(sh(["node", os.path.join(ROOT, "bench", "ort.js"), "logits",
                                          out, "1", str(args.prompt), str(vocab), level]))["logits"])
            cells.append(f"{np.abs(got - ref).max() / np.abs(ref).max():.1e}")
        export_lines.append("| " + " | ".join(cells) + " |")
    export_table = "\n".join(export_lines)

    # Quality (once) and speed (per thread count) with tailor-eval.
    speed = {}
    quality = None
    for th in args.threads:
        print(f"== bench: tailor-eval, {th} thread(s)", flush=True)
        out_json = os.path.join(work, f"eval-{th}.json")
        cmd = [os.path.join(bin_dir, "tailor-eval")] + [a[2] for a in artifacts] + [
            "--tokens", heldout, "--speed", "--num-threads", str(th),
            "--prompt-length", str(args.prompt), "--decode", str(args.decode_tokens),
            "--rounds", str(args.rounds), "--json", out_json]
        if quality is not None:
            cmd += ["--max-windows", "1"]  # quality measured once
        print(sh(cmd).rstrip())
        results = json.load(open(out_json))["results"]
        if quality is None:
            quality = results
        speed[th] = results
    ort = {}
    for th in args.threads:
        print(f"== bench: ONNX Runtime fp32, {th} thread(s)", flush=True)
        # The median of 3 runs for each figure.
        runs = [json.loads(sh(["node", os.path.join(ROOT, "bench", "ort.js"), "generate", onnx,
                               str(th), str(args.prompt), str(args.decode_tokens), "5",
                               str(256)])) for _ in range(3)]
        ort[th] = {k: sorted(r[k] for r in runs)[1] for k in ("prefill_ms", "decode_ms")}

    ref_bytes = quality[0]["bytes"]
    lines = ["| variant | size MB | x fp32 | perplexity | KL(fp32 ‖ v) nats/token | top-1 agreement | "
             + " | ".join(f"prefill tok/s {t}T (x ORT)" for t in args.threads) + " | "
             + " | ".join(f"decode tok/s {t}T (x ORT)" for t in args.threads) + " |",
             "|---" * (6 + 2 * len(args.threads)) + "|"]
    for i, (name, options, so, secs) in enumerate(artifacts):
        q = quality[i]
        cells = [name, f"{q['bytes'] / 1e6:.2f}", f"{q['bytes'] / ref_bytes:.3f}",
                 f"{q['perplexity']:.4f}", f"{q['kl']:.2e}" if i else "0",
                 f"{100 * q['top1_agreement']:.2f}%"]
        for th in args.threads:
            p = speed[th][i]["prefill_tokens_per_s"]
            cells.append(f"{p:.0f} ({p / (args.prompt * 1000 / ort[th]['prefill_ms']):.2f}x)")
        for th in args.threads:
            d = speed[th][i]["decode_tokens_per_s"]
            cells.append(f"{d:.0f} ({d / (1000 / ort[th]['decode_ms']):.2f}x)")
        lines.append("| " + " | ".join(cells) + " |")
    ort_line = "ONNX Runtime fp32: " + "; ".join(
        f"{t}T prefill {args.prompt * 1000 / ort[t]['prefill_ms']:.0f} tok/s, decode "
        f"{1000 / ort[t]['decode_ms']:.0f} tok/s" for t in args.threads)
    onnx_mb = os.path.getsize(onnx) / 1e6
    table = "\n".join(lines)
    # W8A8 prefill against Tailor's own fp32 (the bar: >= 1.8x), and
    # what the instruction set allows: the GEMMs can gain at most the exact
    # int8 mix's rate over the FMA rate at equal efficiency, and the rest of
    # the prefill (attention, norms, activation quantization) gains nothing.
    fma, madd = float(mix["fp32_fma_gmacs"]), float(mix["int8_vpmaddwd_gmacs"])
    w8_lines = []
    for th in args.threads:
        base = speed[th][0]["prefill_tokens_per_s"]
        cells = [f"{name} {speed[th][i]['prefill_tokens_per_s'] / base:.2f}x"
                 for i, (name, _, _, _) in enumerate(artifacts) if name.startswith("W8A8")]
        w8_lines.append(f"{th}T: " + ", ".join(cells))
    if "int8_vpdpbusd512_gmacs" in mix:
        # AVX-512 VNNI: tailor_q8_matmul's vpdpbusd against the AVX-512 FMAs
        # the fp32 GEMMs use.
        fma512, dp = float(mix["fp32_fma512_gmacs"]), float(mix["int8_vpdpbusd512_gmacs"])
        ceiling = (f"Ceiling on this CPU (bench/peak.c --int8, 1 thread): AVX-512 VNNI, the "
                   f"kernel's u8 x s8 quads (vpdpbusd zmm) {dp:.1f} GMAC/s vs fp32 AVX-512 FMA "
                   f"{fma512:.1f} GMAC/s = {dp / fma512:.2f}x.")
    else:
        ceiling = (f"Ceiling on this CPU (bench/peak.c --int8, 1 thread): exact int8 x int8 "
                   f"products (vpmaddwd + vpaddd) {madd:.1f} GMAC/s vs fp32 FMA {fma:.1f} GMAC/s = "
                   f"{madd / fma:.2f}x; u8 x s8 byte pairs (vpmaddubsw, not exact for full-range "
                   f"int8) {float(mix['u8s8_vpmaddubsw_gmacs']) / fma:.2f}x; with the sign moved "
                   f"(vpsignb) {float(mix['int8_vpsignb_vpmaddubsw_gmacs']) / fma:.2f}x; "
                   f"VNNI: {mix['vnni']}.")
    w8_line = "W8A8 prefill x Tailor fp32 prefill: " + "; ".join(w8_lines) + ". " + ceiling
    # Pruning: Wanda against magnitude at the same sparsity (the issue's
    # bar: a lower perplexity at 50%), and the FFN-channel pruning's prefill
    # against the fp32 model's (>= 1.2x).
    index = {name: i for i, (name, _, _, _) in enumerate(artifacts)}
    prune_cells = []
    for pattern in ("50% unstructured", "2:4"):
        mag = quality[index[f"pruned {pattern} (magnitude)"]]["perplexity"]
        wanda = quality[index[f"pruned {pattern} (Wanda)"]]["perplexity"]
        prune_cells.append(f"{pattern}: Wanda {wanda:.4f} vs magnitude {mag:.4f} "
                           f"({'lower' if wanda < mag else 'NOT lower'})")
    ffn = index["pruned 25% FFN channels (magnitude)"]
    ffn_cells = [f"{th}T {speed[th][ffn]['prefill_tokens_per_s'] / speed[th][0]['prefill_tokens_per_s']:.2f}x"
                 for th in args.threads]
    prune_line = ("Pruning, perplexity (lm_head kept dense): " + "; ".join(prune_cells)
                  + ". 25% FFN channels removed, prefill x Tailor fp32 prefill: "
                  + ", ".join(ffn_cells) + ".")
    # --max-kl: what each plan chose, and its KL on the calibration windows
    # it was measured on (the table's KL is on the held-out windows).
    plan_lines = []
    for name, path in plans:
        plan = json.load(open(path))
        choices = [layer["choice"] for layer in plan["layers"]]
        counts = ", ".join(f"{choices.count(c)} {c}" for c in plan["candidates"] + ["f32"]
                           if choices.count(c))
        plan_lines.append(f"{name}: {counts} of {len(choices)} linears; KL "
                          f"{plan['measured_kl']:.2e} measured on {plan['windows']} calibration "
                          f"windows (budget {plan['max_kl']:g}), linear weights "
                          f"{plan['plan_bytes'] / plan['f32_bytes']:.3f}x f32")
    plan_text = "--max-kl plans (tailor-compile's own report): " + "; ".join(plan_lines) + "."
    sparse_text = (
        "2:4 for decode (bench/sparse24.c, 1 thread, the model's 57 weight matrices, "
        f"{sparse['dense_mb']} MB fp32): a compressed 2:4 fp32 vector-matrix product "
        f"({sparse['sparse24_mb']} MB: two values and their row indices per four rows) "
        f"takes {sparse['sparse24_ms']} ms vs {sparse['dense_ms']} ms dense = "
        f"{sparse['sparse24_speedup']}x; int8 weights ({sparse['int8_mb']} MB, same "
        f"simple kernel) {sparse['int8_speedup']}x.")
    print()
    print(table)
    print(ort_line + f"; the fp32 ONNX file is {onnx_mb:.2f} MB")
    print(w8_line)
    print(prune_line)
    print(plan_text)
    print(sparse_text)
    print()
    print(export_table)

    if args.write_docs:
        cpu = sh(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).strip()
        section = f"""{BEGIN}
Measured by `bench/run-compression --write-docs docs/compression.md` on
{time.strftime('%Y-%m-%d')} ({cpu}, {os.cpu_count()} cores). Model:
`pretrain.py --size {info['size']}`, {info['parameters'] / 1e6:.1f}M parameters (byte-level LLaMA,
{info['config']['model']['layers']} layers, d_model {info['config']['model']['d_model']}),
held-out perplexity {info['heldout_perplexity']:.3f} in PyTorch (uniform: 256);
{quality[0]['tokens']} held-out tokens. Sizes are the compiled `.so` files (code,
weights, runtime). Speeds: tailor-eval `--speed` (prefill 1 x {args.prompt} and a
greedy decode of {args.decode_tokens} tokens after it, the median of {args.rounds} rounds;
each round times every variant once, so a slow spell of the machine falls on all of
them) and ONNX Runtime 1.30 CPU (npm `onnxruntime-node`: the prefill the median of 5 warm
runs; each figure the median of 3 processes) on the fp32 ONNX model in the same
run; ratios > 1 favour Tailor.
This shared 2-core machine moves figures by 10-30% between runs.

{table}

{ort_line}; the fp32 ONNX file is {onnx_mb:.2f} MB.

{w8_line}

{prune_line}

{plan_text}

{sparse_text}

ONNX export (`tailor-compile --emit=onnx`, opset 17): ONNX Runtime runs each
exported model on a {args.prompt}-token prompt; its last-position logits against
those of the variant Tailor compiled (the int4 export dequantizes in ONNX ops,
so its reference is the f32-activation int4 artifact):

{export_table}
{END}"""
        text = open(args.write_docs).read() if os.path.exists(args.write_docs) else ""
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
        else:
            text += "\n## Results\n\n" + section + "\n"
        tmp = args.write_docs + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.write_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
