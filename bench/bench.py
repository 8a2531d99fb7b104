#!/usr/bin/python3
"""Tailor vs ONNX Runtime CPU, in one run on this machine (bench/run).

Measures, each with both engines in the same minutes:
  - the machine's ceilings: fp32 FMA peak and DRAM read bandwidth
    (bench/peak.c), per thread count;
  - fp32 MatMul 1024^3 (GFLOPS, % of peak);
  - a LLaMA-style model of ~125M parameters (d_model 768, 12 layers, 12
    heads / 4 KV heads, SwiGLU 2048, vocab 32000; test/models/generate.py):
    prefill of 1 x 128 tokens (median of --prefill-runs warm runs after a
    warm-up, both engines), greedy decode from context 128 to 256
    (tokens/s, % of the DRAM bound: weights read per token / bandwidth);
  - compile time of that model (Tailor's JIT; ONNX Runtime's session load).
Prints every figure and the ratios; --write-docs PATH writes the table.

Both engines run each thread count (Tailor: tailor-run --num-threads N, OpenMP).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"


def sh(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def matmul_model(path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    if os.path.exists(path):
        return
    w = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32), "W")
    g = helper.make_graph(
        [helper.make_node("MatMul", ["A", "W"], ["Y"], name="mm")], "mm",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [1024, 1024])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1024, 1024])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--work", default=None, help="models and scratch (default BUILD/bench)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--prefill-runs", type=int, default=5,
                    help="prefill: median of N warm runs after one warm-up, both engines")
    ap.add_argument("--skip-model", action="store_true", help="MatMul only")
    ap.add_argument("--write-docs", metavar="PATH")
    args = ap.parse_args()
    work = args.work or os.path.join(args.build, "bench")
    os.makedirs(work, exist_ok=True)
    run = os.path.join(args.build, "bin", "tailor-run")
    bench_dir = os.path.join(ROOT, "bench")

    # Ceilings.
    peak_bin = os.path.join(work, "peak")
    sh(["cc", "-O2", "-fopenmp", os.path.join(bench_dir, "peak.c"), "-o", peak_bin])
    ceil = {}
    isa = "unknown"
    for line in sh([peak_bin, str(max(args.threads))]).splitlines():
        m = re.match(r"threads=(\d+) fp32_peak_gflops=([\d.]+) dram_read_gbs=([\d.]+) isa=(\w+)", line)
        if m:
            ceil[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
            isa = m.group(4)
    rows = []  # (metric, threads, tailor, ort, ratio text, note)

    # MatMul 1024^3.
    mm = os.path.join(work, "matmul1024.onnx")
    matmul_model(mm)
    flops = 2 * 1024 ** 3
    for th in args.threads:
        out = sh([run, mm, "--bench", "30", "--num-threads", str(th)])
        t_ms = float(re.search(r"latency: ([\d.]+) ms", out).group(1))
        o = json.loads(sh(["node", os.path.join(bench_dir, "ort.js"), "matmul", mm, str(th), "30"]))
        peak = ceil[th][0]
        t_gf, o_gf = flops / t_ms / 1e6, flops / o["ms"] / 1e6
        note = f"peak {peak:.0f} GFLOPS: Tailor {100 * t_gf / peak:.0f}%, ORT {100 * o_gf / peak:.0f}%"
        rows.append(("MatMul 1024^3 fp32 (GFLOPS)", th, t_gf, o_gf, t_gf / o_gf, note))

    if not args.skip_model:
        name = "llama-100m-kvcache-opset17"
        model = os.path.join(work, name + ".onnx")
        if not os.path.exists(model):
            sh([PY, os.path.join(ROOT, "test", "models", "generate.py"), work, "--only", name])
        with open(os.path.join(work, "manifest.json")) as f:
            info = json.load(f)[name]
        params = info["parameters"]
        embed = info["vocab"] * info["d_model"]
        bytes_per_token = (params - embed) * 4  # the embedding table is gathered
        for th in args.threads:
            t0 = time.time()
            out = sh([run, model, "--generate", str(args.decode_tokens),
                      "--prompt-length", str(args.prompt), "--num-threads", str(th),
                      "--prefill-runs", str(args.prefill_runs)])
            wall = time.time() - t0
            compile_ms = float(re.search(r"compiled in ([\d.]+) ms", out).group(1))
            t_prefill = float(re.search(r"prefill: ([\d.]+) ms", out).group(1))
            t_decode = float(re.search(r"decode: ([\d.]+) ms/token", out).group(1))
            o = json.loads(sh(["node", os.path.join(bench_dir, "ort.js"), "generate", model,
                               str(th), str(args.prompt), str(args.decode_tokens),
                               str(args.prefill_runs)]))
            bw = ceil[th][1]
            bound = bw * 1e9 / bytes_per_token
            # FLOPs of the prefill: every weight product (the embedding is
            # gathered) plus the attention products (Q.K^T and P.V over the
            # whole S x S square, as both engines compute them).
            pf = 2 * (params - embed) * args.prompt + \
                4 * info["layers"] * info["d_model"] * args.prompt ** 2
            peak = ceil[th][0] * 1e9
            t_frac = pf / (t_prefill / 1000) / peak
            o_frac = pf / (o["prefill_ms"] / 1000) / peak
            rows.append((f"prefill 1x{args.prompt} (tokens/s)", th,
                         args.prompt * 1000 / t_prefill, args.prompt * 1000 / o["prefill_ms"],
                         o["prefill_ms"] / t_prefill,
                         f"{pf / 1e9:.1f} GFLOP: Tailor {100 * t_frac:.0f}% of the fp32 peak, "
                         f"ORT {100 * o_frac:.0f}%; 1.1x / 1.3x ORT needs "
                         f"{110 * o_frac:.0f}% / {130 * o_frac:.0f}%"))
            t_tps, o_tps = 1000 / t_decode, 1000 / o["decode_ms"]
            rows.append((f"decode {args.prompt}->{args.prompt + args.decode_tokens} (tokens/s)",
                         th, t_tps, o_tps, t_tps / o_tps,
                         f"DRAM bound {bound:.1f} tok/s ({bw:.1f} GB/s, "
                         f"{bytes_per_token / 1e6:.0f} MB/token): Tailor {100 * t_tps / bound:.0f}%, "
                         f"ORT {100 * o_tps / bound:.0f}%"))
            if th == args.threads[0]:
                rows.append(("compile / load (s)", th, compile_ms / 1000, o["load_ms"] / 1000,
                             o["load_ms"] / compile_ms,
                             f"Tailor: JIT compile of {params / 1e6:.0f}M params (the whole "
                             f"tailor-run, import to last token: {wall:.0f} s); ORT: session "
                             f"create; ratio = ORT/Tailor"))

    header = "| metric | threads | Tailor | ONNX Runtime | Tailor / ORT | notes |"
    lines = [header, "|---|---|---|---|---|---|"]
    for metric, th, t, o, ratio, note in rows:
        lines.append(f"| {metric} | {th} | {t:.1f} | {o:.1f} | {ratio:.2f}x | {note} |")
    table = "\n".join(lines)
    print(table)
    if args.write_docs:
        cpu = sh(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).strip()
        # Sections other benches write (bench/run-train's "## ..." after
        # this one) are kept.
        rest = ""
        if os.path.exists(args.write_docs):
            old = open(args.write_docs).read()
            at = old.find("\n## ")
            if at >= 0:
                rest = old[at:]
        with open(args.write_docs + ".tmp", "w") as f:
            f.write(f"""# Performance

Measured by `bench/run --write-docs docs/performance.md` on {time.strftime('%Y-%m-%d')}
({cpu}, {os.cpu_count()} cores), Tailor and ONNX Runtime 1.30 CPU (npm
`onnxruntime-node`) in the same run. Ratios > 1 favour Tailor (for compile /
load time: ONNX Runtime's time over Tailor's). Figures on this shared
machine move by 20-40% between runs; compare only within one table.
Prefill is the median of {args.prefill_runs} warm runs after one warm-up, for
both engines; decode is the mean over {args.decode_tokens} greedy steps after
that prefill (Tailor: the C runtime's session, KV cache kept between steps;
ONNX Runtime: the presents fed back as pasts).

Machine ceilings (bench/peak.c, {isa} vectors): {', '.join(f'{t} thread(s): fp32 peak {p:.0f} GFLOPS, DRAM read {b:.1f} GB/s' for t, (p, b) in sorted(ceil.items()))}.

{table}

What the figures say and what is next is in docs/status.md.
""" + rest)
        os.replace(args.write_docs + ".tmp", args.write_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
