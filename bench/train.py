#!/usr/bin/python3
"""LoRA training step: tailor-train's compiled step against PyTorch (Debian's
python3-torch) on the same model, in one run.

Model: the pretrained byte-level LLaMA of test/models/pretrain.py (tiny:
0.46M parameters; small: 12.8M), LoRA r 8 / alpha 16 on every linear
(the projections, the MLP and lm_head), AdamW (lr 1e-4), clipping at 1.0,
batches of --batch rows of --seq random tokens (every token predicted).
PyTorch: the same architecture (generate.Llama), frozen weights, the LoRA
branches as PEFT computes them (x A^T B^T * alpha / r), F.cross_entropy,
backward, clip_grad_norm_, AdamW.step; torch.set_num_threads(T), OpenBLAS
limited to T threads, OMP_WAIT_POLICY=PASSIVE.
Tailor: tailor-train --num-threads T on a JSONL of the same shape; the
step time is the median of the per-step wall-clock differences in its
loss.csv (the first --warmup steps left out; compilation is not counted
for either side). Both report the median over --steps steps. Tailor runs
twice: without and with --recompute sqrt (gradient checkpointing), each
with the peak memory of the step's buffers that tailor-train reports.

  bench/run-train [--size tiny small] [--threads 1 2] [--write-docs docs/performance.md]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

# PyTorch's OpenMP threads (libgomp) otherwise spin while OpenBLAS's own
# threads multiply: its 2-thread step measured 2.6 s spinning, 0.7 s
# passive (small model). Read when torch loads, so set before; tailor-train
# runs without it (its LLVM OpenMP runtime is faster spinning: 1.09 s vs
# 1.33 s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "models"))

BEGIN, END = "<!-- bench:train:begin -->", "<!-- bench:train:end -->"


def model_dir(size):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "test", "models", "pretrain.py"),
                        "--size", size, "--print-dir"], capture_output=True, text=True, check=True)
    return r.stdout.strip().splitlines()[-1]


def set_blas_threads(threads):
    """torch.set_num_threads does not reach OpenBLAS's own thread pool
    (Debian's torch calls libblas.so.3 = OpenBLAS, which starts one thread
    per core): without this, a "1-thread" PyTorch step multiplies its
    matrices on every core, and a 2-thread one oversubscribes them."""
    import ctypes
    libs = sorted({line.split()[-1] for line in open("/proc/self/maps")
                   if "blas" in line.lower() and line.split()[-1].startswith("/")})
    for path in libs:
        lib = ctypes.CDLL(path)
        if hasattr(lib, "openblas_set_num_threads"):
            lib.openblas_set_num_threads(threads)
            return path
    return None


def machine_peak(threads):
    """GFLOP/s of independent fp32 FMA chains on `threads` threads with the
    widest vector ISA the CPU reports (bench/peak.c): the cores' ceiling,
    which OpenBLAS's sgemm need not reach."""
    exe = os.path.join("/tmp", "tailor-bench-peak")
    subprocess.run(["cc", "-O2", "-fopenmp", os.path.join(ROOT, "bench", "peak.c"), "-o", exe],
                   check=True)
    out = subprocess.run([exe, str(threads)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = dict(kv.split("=") for kv in line.split())
        if int(fields["threads"]) == threads:
            return float(fields["fp32_peak_gflops"])
    return float("nan")


def sgemm_peak(threads, n=2048):
    """GFLOP/s of PyTorch's (OpenBLAS's) n x n float32 matrix product with
    `threads` threads: what this machine's cores do at best."""
    import torch
    torch.set_num_threads(threads)
    set_blas_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    t = time.perf_counter()
    for _ in range(5):
        a @ b
    return 2 * n ** 3 / ((time.perf_counter() - t) / 5) / 1e9


def step_flops(size, batch, seq, r=8):
    """Floating-point operations of one LoRA step (the matrix products:
    linears forward and input-gradient backward, the LoRA branches forward
    and backward, attention scores and values forward and backward)."""
    import pretrain
    c = pretrain.SIZES[size]["model"]
    d, f, h, kv = c["d_model"], c["ffn"], c["heads"], c["kv_heads"]
    hd = d // h
    linears = [(d, d), (d, kv * hd), (d, kv * hd), (d, d), (d, f), (d, f), (f, d)]
    n = batch * seq
    per_layer = sum(2 * n * i * o * 2 + 2 * n * r * (i + o) * 4 for i, o in linears)
    attention = 2 * 2 * batch * h * seq * seq * hd * 3
    head = 2 * n * d * 256 * 2 + 2 * n * r * (d + 256) * 4
    return c["layers"] * (per_layer + attention) + head


def pytorch_step(size, threads, batch, seq, steps, warmup):
    import torch
    import torch.nn.functional as F
    import generate
    import pretrain
    torch.set_num_threads(threads)
    set_blas_threads(threads)
    torch.manual_seed(0)
    c = generate.Config(vocab=256, **pretrain.SIZES[size]["model"])
    model = generate.Llama(c)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    r, alpha = 8, 16.0
    params = []
    for _, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            a = torch.nn.Parameter(torch.randn(r, mod.in_features) / mod.in_features ** 0.5)
            b = torch.nn.Parameter(torch.zeros(mod.out_features, r))
            params += [a, b]
            mod.register_forward_hook(
                lambda mod, i, o, a=a, b=b: o + (alpha / r) * (i[0] @ a.T @ b.T))
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 256, (batch, seq), generator=gen)
    times = []
    for _ in range(warmup + steps):
        t = time.perf_counter()
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, 256), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        times.append(time.perf_counter() - t)
    times = sorted(times[warmup:])
    return times[len(times) // 2], sum(p.numel() for p in params)


def tailor_step(build, size, threads, batch, seq, steps, warmup, work, recompute="none"):
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data.jsonl")
    rng = random.Random(1)
    with open(data, "w") as f:
        for _ in range(batch * (warmup + steps)):
            f.write(json.dumps({"input_ids": [rng.randrange(256) for _ in range(seq)]}) + "\n")
    out = os.path.join(work, f"{size}-{threads}")
    subprocess.run(["rm", "-rf", out], check=True)
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    r = subprocess.run([os.path.join(build, "bin", "tailor-train"),
                        os.path.join(model_dir(size), "model.onnx"), "--data", data,
                        "--method", "lora", "--lora-r", "8", "--lora-alpha", "16",
                        "--lr", "1e-4", "--max-grad-norm", "1.0", "--batch-size", str(batch),
                        "--steps", str(warmup + steps), "--num-threads", str(threads),
                        "--save-every", "0", "--recompute", recompute, "-o", out],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    compile_s = sum(float(line.split(" in ")[1].split(" s")[0]) for line in r.stderr.splitlines()
                    if "compiled the training step in" in line)
    seconds = [0.0]
    with open(os.path.join(out, "loss.csv")) as f:
        next(f)
        for line in f:
            cols = line.split(",")
            if cols[0] != "0":
                seconds.append(float(cols[6]))
    diffs = sorted(b - a for a, b in zip(seconds[warmup:-1], seconds[warmup + 1:]))
    peak = [int(line.split("(")[1].split(" bytes")[0]) for line in r.stderr.splitlines()
            if "peak buffer memory of the step" in line]
    return diffs[len(diffs) // 2], compile_s, peak[0] if peak else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--size", nargs="+", default=["tiny", "small"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--work", default="/tmp/tailor-bench-train")
    ap.add_argument("--write-docs", metavar="PATH")
    args = ap.parse_args()
    rows = []
    peaks = {t: sgemm_peak(t) for t in args.threads}
    machine = {t: machine_peak(t) for t in args.threads}
    print(f"LoRA r 8 on every linear, batch {args.batch} x {args.seq} tokens, AdamW, clip 1.0; "
          + ", ".join(f"{t}-thread sgemm peak {p:.0f} GFLOP/s (FMA peak {machine[t]:.0f})"
                      for t, p in peaks.items()))
    print(f"{'model':8} {'threads':>7} {'PyTorch ms':>11} {'Tailor ms':>10} {'speed-up':>9} "
          f"{'compile s':>10} {'peak MB':>8} {'sqrt ms':>8} {'sqrt MB':>8} {'saved':>6}")
    for size in args.size:
        for t in args.threads:
            pt, nparams = pytorch_step(size, t, args.batch, args.seq, args.steps, args.warmup)
            tl, compile_s, peak = tailor_step(args.build, size, t, args.batch, args.seq,
                                              args.steps, args.warmup, args.work)
            rc, _, rc_peak = tailor_step(args.build, size, t, args.batch, args.seq, args.steps,
                                         args.warmup, args.work, recompute="sqrt")
            saved = 1 - rc_peak / peak
            # The 2x target in GFLOP/s, against the sgemm peak.
            gflop = step_flops(size, args.batch, args.seq) / 1e9
            need = gflop / (pt / 2)
            rows.append((size, t, pt * 1e3, tl * 1e3, pt / tl, compile_s, nparams,
                         peak / 1e6, rc * 1e3, rc_peak / 1e6, saved, gflop, gflop / pt,
                         gflop / tl, need, need / peaks[t], need / machine[t]))
            print(f"{size:8} {t:7} {pt * 1e3:11.1f} {tl * 1e3:10.1f} {pt / tl:8.2f}x "
                  f"{compile_s:10.1f} {peak / 1e6:8.1f} {rc * 1e3:8.1f} {rc_peak / 1e6:8.1f} "
                  f"{100 * saved:5.0f}%   ({gflop:.1f} GFLOP: PyTorch {gflop / pt:.0f}, Tailor "
                  f"{gflop / tl:.0f} GFLOP/s; 2x needs {need:.0f} = {100 * need / peaks[t]:.0f}% "
                  f"of the sgemm peak, {100 * need / machine[t]:.0f}% of the FMA peak)",
                  flush=True)
    if args.write_docs:
        table = "\n".join(f"| {s} | {t} | {p:.1f} | {q:.1f} | {x:.2f}x | {c:.1f} | {m:.1f} | "
                          f"{r:.1f} | {rm:.1f} | {100 * sv:.0f}% |"
                          for s, t, p, q, x, c, _, m, r, rm, sv, *_ in rows)
        flops = "\n".join(f"| {s} | {t} | {g:.2f} | {gp:.0f} | {gt:.0f} | {nd:.0f} | "
                          f"{peaks[t]:.0f} | {100 * fr:.0f}% | {machine[t]:.0f} | {100 * fm:.0f}% |"
                          for s, t, *_, g, gp, gt, nd, fr, fm in rows)
        section = f"""{BEGIN}
Measured by `bench/run-train --write-docs docs/performance.md` on
{time.strftime('%Y-%m-%d')} (this machine; LoRA r 8 on every linear, {rows[0][6]} adapter
parameters on the tiny model; batch {args.batch} x {args.seq} random tokens; AdamW,
clipping 1.0; median of {args.steps} steps after {args.warmup}):

| model | threads | PyTorch ms/step | Tailor ms/step | Tailor speed-up | Tailor compile s | Tailor peak MB | `--recompute sqrt` ms/step | `--recompute sqrt` peak MB | peak saved |
|---|---|---|---|---|---|---|---|---|---|
{table}

Peak MB: the most the step's buffers (activations, gradients,
temporaries, results; not the weights) held at once, counted by the
allocation functions the JIT binds (tailor-train prints it). `--recompute
sqrt` is gradient checkpointing at every ceil(sqrt(n))-th of the forward's n
cut points; its gradients are bit-identical (ctest models-train checks the
parameters and AdamW state after 3 steps).

The issue's target is a 2x speed-up over PyTorch with the same threads.
PyTorch's thread count covers OpenBLAS's own pool too (the harness calls
`openblas_set_num_threads`: `torch.set_num_threads` alone leaves Debian's
OpenBLAS on every core, which made earlier "1-thread" PyTorch rows use
both cores), and PyTorch runs with `OMP_WAIT_POLICY=PASSIVE` (spinning
OpenMP threads fought OpenBLAS's for the cores: its 2-thread step took
2.6 s instead of 0.7 s on the small model; earlier tables here showed
that slow step). Each side runs its faster configuration. What the 2x target
asks, in arithmetic (the step's matrix products, counted by
`step_flops`), against the float32 matrix-product peak of the same
threads measured in the same run (OpenBLAS, 2048 x 2048) and against
the cores' fp32 FMA peak (`bench/peak.c`, the widest vector ISA):

| model | threads | GFLOP per step | PyTorch GFLOP/s | Tailor GFLOP/s | 2x needs GFLOP/s | sgemm peak GFLOP/s | 2x needs, of the sgemm peak | FMA peak GFLOP/s | 2x needs, of the FMA peak |
|---|---|---|---|---|---|---|---|---|---|
{flops}

Where "2x needs" is above 100% of the sgemm peak, the target cannot be
met by code that multiplies matrices no faster than OpenBLAS; the FMA
peak is the cores' ceiling (on AVX-512 machines Debian's OpenBLAS stays
far below it, and Tailor's products pass it). The training step is
differentiated after raising to the LLM ops (tailor-train `--raise`, the
default: fused attention, norms and rotary in the forward, their gradient
rules in the backward) and compiled for the batch shape (`--shapes
static`, tailor-specialize-inputs). Every kernel runs on the threads: the
products' cache tiles (tailor-tile-contractions) and the other generics'
outer loops (tailor-parallelize-generics). Three changes of 2026-12-02
took the tiny model's step from 66 / 44 ms to about 30 / 24 ms (1 / 2
threads) and the small model's from 766 / 450 ms (bench of 2026-12-01) to
the table's: the JIT now optimizes with the host's target machine (before,
LLVM's vectorizers saw a target without vector registers and left every
elementwise map and reduction scalar: the attention backward's softmax
recomputation and SwiGLU's sigmoid were 21% of the samples),
tailor-lower-reductions keeps a reduction's accumulator in a register,
and tailor-fold-fill-copies turns the copies of shared zero-filled
product inits into fills (834 copies per step of the small model -> 36).
The sgemm peak and PyTorch's step vary between runs on this VM
(another run the same day: 72 / 177 GFLOP/s peak, PyTorch 61.5 / 72.4 ms
on the tiny model): compare the ratios of one run.
{END}"""
        with open(args.write_docs) as f:
            text = f.read()
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
        else:
            text = text.rstrip() + "\n\n## Training step (LoRA) vs PyTorch\n\n" + section + "\n"
        with open(args.write_docs + ".tmp", "w") as f:
            f.write(text)
        os.replace(args.write_docs + ".tmp", args.write_docs)


if __name__ == "__main__":
    main()
