#!/usr/bin/python3
"""Pretrains a small LLaMA-style byte-level language model with PyTorch on
English text that Debian ships, exports it to ONNX and writes token files:
the model the compression passes are measured on (quantization and pruning
quality needs a model that has learned something; random weights don't).

  pretrain.py [--size tiny|small] [--cache DIR] [--print-dir] [--steps N]

Corpus: the GNU manuals of Debian 12's essential packages (coreutils,
findutils, diffutils, sed, grep, gzip: /usr/share/info) and the licence
texts of base-files (/usr/share/common-licenses) - present on every Debian
machine. Tokens are bytes (vocabulary 256, uniform perplexity 256). The last
10% of every document is held out; calibration tokens come from the
training part.

The result is cached outside the source tree, in
$TAILOR_CACHE (default ~/.cache/tailor)/pretrained/<size>-<hash>/, keyed
by this script, the model code, the configuration and the corpus; a second
run prints the cached directory at once. It holds:
  model.onnx       the KV-cache export (input_ids, past_key/value.N ->
                   logits, present_key/value.N), opset 17
  calib.npy        int64 [128, 129] calibration windows (training text)
  heldout.npy      int64 [256, 129] held-out windows, spread over the
                   held-out text: tokens 1..128 of each are predicted
  info.json        configuration, parameters, training time, and PyTorch's
                   own held-out loss / perplexity over heldout.npy, against which tailor-eval's fp32 numbers are
                   checked
Sizes: tiny (0.4M parameters, ~30 s on 2 cores; the tests) and small (12.8M
parameters, about 2.1 passes over the corpus, ~45 min on 2 cores; the
compression benchmark). The small model trains that long because pruning
and quantization criteria are measured on it: after 400 steps (0.8M
tokens) its input channels were still near-uniform, and calibration-aware
pruning (Wanda) could not be told from magnitude pruning.
"""
import argparse
import glob
import gzip
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate  # noqa: E402

SIZES = {
    # d_model, layers, heads, kv_heads, ffn, max_pos; training: steps, batch, seq, lr
    "tiny": dict(model=dict(d_model=128, layers=2, heads=4, kv_heads=2, ffn=384, max_pos=256),
                 steps=300, batch=16, seq=128, lr=3e-3),
    "small": dict(model=dict(d_model=384, layers=8, heads=6, kv_heads=2, ffn=1024, max_pos=512),
                  steps=2000, batch=16, seq=128, lr=1.5e-3),
}
EVAL_WINDOW = 128   # tokens predicted per window
EVAL_WINDOWS = 256  # held-out windows (32768 predicted tokens)
CALIB_WINDOWS = 128

CORPUS = ["/usr/share/info/coreutils.info.gz", "/usr/share/info/find.info*.gz",
          "/usr/share/info/diffutils.info.gz", "/usr/share/info/sed.info.gz",
          "/usr/share/info/grep.info.gz", "/usr/share/info/gzip.info.gz",
          "/usr/share/common-licenses/*"]


def corpus():
    """[(path, bytes)] in a fixed order; symlinks (GPL -> GPL-3) once."""
    docs, seen = [], set()
    for pattern in CORPUS:
        for path in sorted(glob.glob(pattern)):
            real = os.path.realpath(path)
            if real in seen or not os.path.isfile(real):
                continue
            seen.add(real)
            data = open(real, "rb").read()
            if real.endswith(".gz"):
                data = gzip.decompress(data)
            docs.append((path, data))
    return docs


def split(docs):
    train, held = [], []
    for _, data in docs:
        cut = int(len(data) * 0.9)
        train.append(data[:cut])
        held.append(data[cut:])
    return (np.frombuffer(b"".join(train), dtype=np.uint8).astype(np.int64),
            np.frombuffer(b"".join(held), dtype=np.uint8).astype(np.int64))


def key(size, docs):
    h = hashlib.sha256()
    for path in (os.path.abspath(__file__), os.path.join(HERE, "generate.py")):
        h.update(open(path, "rb").read())
    h.update(json.dumps(SIZES[size], sort_keys=True).encode())
    h.update(torch.__version__.encode())
    for path, data in docs:
        h.update(path.encode())
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()[:12]


def windows(tokens, count, window):
    """[count, window + 1] windows spread evenly over `tokens`."""
    starts = np.linspace(0, len(tokens) - window - 1, count).astype(np.int64)
    return np.stack([tokens[s:s + window + 1] for s in starts])


def evaluate(model, rows):
    """Mean next-token loss (nats) over windows [N, W + 1]: tokens 1..W of
    each predicted from the tokens before them in the same window."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(rows), 32):
            batch = torch.from_numpy(rows[start:start + 32])
            x, y = batch[:, :-1], batch[:, 1:]
            logits = model(x)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                           reduction="sum"))
            count += y.numel()
    model.train()
    return total / count


def train(size, steps, out):
    spec = SIZES[size]
    c = generate.Config(vocab=256, **spec["model"])
    docs = corpus()
    total = sum(len(d) for _, d in docs)
    if total < 500_000:
        sys.exit(f"pretrain.py: the corpus has only {total} bytes; expected the GNU info "
                 f"manuals and licences of a Debian system ({CORPUS})")
    train_tokens, held = split(docs)
    torch.manual_seed(0)
    # One PyTorch thread, OpenBLAS's own threads for the GEMMs: both
    # threaded fight (half the time in the kernel). 12.8M model, 16x128
    # step: 3.1 s (2 + 2 threads), 2.4 s (2 + 1), 1.8 s (1 + 2).
    torch.set_num_threads(1)
    model = generate.Llama(c)
    params = sum(p.numel() for p in model.parameters())
    print(f"pretrain.py: {size}: {params / 1e6:.2f}M parameters, {len(train_tokens)} training "
          f"bytes from {len(docs)} documents, {steps} steps of {spec['batch']}x{spec['seq']}",
          flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    other = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": other, "weight_decay": 0.0}],
                            lr=spec["lr"], betas=(0.9, 0.95))
    warmup = max(1, steps // 20)
    gen = np.random.default_rng(0)
    seq, batch = spec["seq"], spec["batch"]
    start = time.time()
    for step in range(steps):
        lr = spec["lr"] * (step + 1) / warmup if step < warmup else \
            spec["lr"] * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup))))
        for g in opt.param_groups:
            g["lr"] = lr
        at = gen.integers(0, len(train_tokens) - seq - 1, batch)
        x = torch.from_numpy(np.stack([train_tokens[a:a + seq] for a in at]))
        y = torch.from_numpy(np.stack([train_tokens[a + 1:a + seq + 1] for a in at]))
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, 256), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            elapsed = time.time() - start
            eta = elapsed / (step + 1) * (steps - step - 1)
            print(f"  step {step:5d}/{steps}  loss {float(loss):.3f}  lr {lr:.2e}  "
                  f"{elapsed:6.0f} s  eta {eta:5.0f} s", flush=True)
    seconds = time.time() - start
    held_eval = windows(held, EVAL_WINDOWS, EVAL_WINDOW)
    held_loss = evaluate(model, held_eval)
    print(f"pretrain.py: held-out loss {held_loss:.4f} nats/byte, perplexity "
          f"{math.exp(held_loss):.2f} (uniform: 256)", flush=True)

    tmp = out + ".tmp"
    os.makedirs(tmp, exist_ok=True)
    model.eval()
    kv_model = generate.Llama(c, kv_cache=True)
    kv_model.load_state_dict(model.state_dict())
    kv_model.eval()
    generate.export_model(kv_model, c, os.path.join(tmp, "model.onnx"), 17, True)
    np.save(os.path.join(tmp, "calib.npy"), windows(train_tokens, CALIB_WINDOWS, EVAL_WINDOW))
    np.save(os.path.join(tmp, "heldout.npy"), held_eval)
    info = {"size": size, "parameters": params, "config": spec, "steps": steps,
            "train_seconds": round(seconds, 1), "final_train_loss": float(loss),
            "eval_window": EVAL_WINDOW, "heldout_windows": EVAL_WINDOWS,
            "heldout_loss": held_loss, "heldout_perplexity": math.exp(held_loss),
            "corpus": [p for p, _ in docs], "corpus_bytes": total,
            "layers": c.layers, "kv_heads": c.kv_heads, "head_dim": c.head_dim}
    with open(os.path.join(tmp, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
    if os.path.exists(out):
        import shutil
        shutil.rmtree(out)
    os.replace(tmp, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--cache", default=os.environ.get(
        "TAILOR_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "tailor")))
    ap.add_argument("--steps", type=int, help="training steps (default: the size's)")
    ap.add_argument("--print-dir", action="store_true",
                    help="print only the model's directory on standard output")
    args = ap.parse_args()
    docs = corpus()
    steps = args.steps or SIZES[args.size]["steps"]
    out = os.path.join(args.cache, "pretrained", f"{args.size}-{key(args.size, docs)}-s{steps}")
    if not os.path.exists(os.path.join(out, "info.json")):
        stdout = sys.stdout
        if args.print_dir:
            sys.stdout = sys.stderr  # progress on stderr, the path on stdout
        train(args.size, steps, out)
        sys.stdout = stdout
    elif not args.print_dir:
        print(f"pretrain.py: cached {out}")
    if args.print_dir:
        print(out)
    else:
        info = json.load(open(os.path.join(out, "info.json")))
        print(f"{out}: {info['parameters'] / 1e6:.2f}M parameters, held-out perplexity "
              f"{info['heldout_perplexity']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
