#!/usr/bin/python3
"""tailor-train end to end on the pretrained tiny byte-level LLaMA
(pretrain.py --size tiny) and a small supervised task (make_task.py: repeat
a made-up word in a fixed template; training and held-out words disjoint).

1. LoRA SFT (every linear, r 8, AdamW, linear schedule, clipping) for 40
   steps: the training loss comes down (mean of the last 5 steps below the
   first 5) and the held-out loss ends below the base model's.
2. The same run killed (SIGKILL) once a checkpoint past step 10 exists and
   restarted with --resume writes the same loss.csv (every column but the
   wall-clock seconds) as the uninterrupted run.
3. The adapter it wrote (PEFT's format) merges with tailor-compile
   --lora-adapter; the merged model's loss on the held-out set, computed
   here from its logits, equals tailor-train's last held-out loss.
   3b. --shapes=static (the default: the step compiled for batches padded
   to the longest example) and --shapes=dynamic train with the same losses
   (8 steps, within 1e-4 relative).
   3c. --recompute=sqrt: parameters and AdamW state after 3 steps
   bit-identical to --recompute=none, and a lower peak buffer memory of the
   step (more than 10% lower on this 2-layer model).
   3d. --method full --qat int4: tailor-compile --weights model.safetensors
   --quantize int4 (same groups) gives a model whose held-out loss is the
   QAT run's (1e-5), unlike the float model with the same weights.
   3e. --method ia3, adapter (serial; parallel with GELU), prefix and
   prompt, 20 steps each: the held-out loss falls by more than 0.3 and the
   adapter directory holds the tensors under PEFT's names.
   3e'. The (IA)3 adapter and a DoRA adapter (10 steps) merged by
   tailor-compile --lora-adapter: the merged model's held-out loss equals
   tailor-train's last one (1e-5).
   3f. --optimizer mezo (zeroth-order, two forward passes a step), 100
   steps: the held-out loss falls and the step's peak buffer memory is
   below the backpropagation step's.
   3g. --quantize-base int4 and nf4 (QLoRA's form): the held-out loss
   starts at the quantized model's (nf4: tailor-compile --quantize nf4's),
   not the float one's, and falls by more than 0.5.
   3h. --loss kd --teacher: the teacher is run 1's adapter merged into an
   ONNX model (tailor-compile --lora-adapter --emit=onnx); the student's
   held-out KL divergence falls below a fifth of its start in 30 steps.
   3i. --tokenizer sentencepiece: tailor-train's ids (--dump-tokens) equal
   the Python sentencepiece module's for every row of a model trained on
   the task's text, and 10 steps on them lower the training loss.
   3j. --method adalora: the held-out loss falls; the adapter (PEFT's
   ADALORA) keeps exactly the target rank budget, merges to tailor-train's
   held-out loss and is reproduced by a run resumed from a checkpoint.
4. DPO (LoRA, beta 0.1) on make_task.py's preference pairs (chosen: the
   word twice, rejected: once), against the initial model's log-probs
   computed before training: the held-out loss starts at ln 2 (policy =
   reference) and the held-out reward margin (chosen - rejected) rises
   above 0.1, with more than half of the pairs ranked right.
4b. KTO (LoRA, beta 0.1) on the pairs as unpaired desirable / undesirable
   examples: the held-out loss starts at 0.5 and falls below 0.45.
5. Bad input: a truncated checkpoint, a row with an id outside the
   vocabulary, --resume with other options, an AdaLoRA schedule without a
   budgeting phase or a target rank above the initial one, a bad --shapes
   or --pad-id:
   clear errors, exit 1.

  check_train.py --bin BUILD/bin --python BUILD/python --work DIR
"""
import csv
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np

from checks import read_safetensors, run, tiny_model_check

HERE = os.path.dirname(os.path.abspath(__file__))


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def trajectory(path):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows(path)]


def heldout_loss(m, task):
    """The mean completion-token loss of a compiled model (tailor.load) on
    make_task.py's held-out set, from its logits."""
    total, count = 0.0, 0
    for line in open(os.path.join(task, "eval.jsonl")):
        row = json.loads(line)
        prompt = list(row["prompt"].encode())
        ids = np.array([prompt + list(row["completion"].encode())], dtype=np.int64)
        feeds = {"input_ids": ids}
        for info in m.inputs:
            if info["name"].startswith("past"):
                shape = list(info["shape"])
                shape[0], shape[2] = 1, 0
                feeds[info["name"]] = np.zeros(shape, np.float32)
        logits = np.asarray(m.run(feeds)["logits"], dtype=np.float64)[0]
        logp = logits - logits.max(-1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
        for t in range(len(prompt), ids.shape[1]):
            total -= logp[t - 1, ids[0, t]]
            count += 1
    return total / count


def peak_of(stderr):
    """The peak buffer memory of the step that tailor-train reports (bytes;
    0 when it reports none)."""
    peak = [l for l in stderr.splitlines() if "peak buffer memory of the step" in l]
    return int(peak[0].split("(")[1].split(" bytes")[0]) if peak else 0


def main():
    args, model_dir = tiny_model_check(__doc__, ["--python"])
    sys.path.insert(0, args.python)
    import tailor  # noqa: E402 (the build's bindings)
    model = os.path.join(model_dir, "model.onnx")
    task = os.path.join(args.work, "task")
    run([sys.executable, os.path.join(HERE, "make_task.py"), task])
    train = [os.path.join(args.bin, "tailor-train"), model,
             "--data", os.path.join(task, "train.jsonl"),
             "--eval-data", os.path.join(task, "eval.jsonl"),
             "--tokenizer", "bytes", "--method", "lora", "--lora-r", "8",
             "--lr", "3e-3", "--steps", "40", "--batch-size", "16",
             "--eval-every", "20", "--save-every", "5", "--num-threads", "2"]
    failures = 0
    for d in ("a", "b", "c", "e"):
        shutil.rmtree(os.path.join(args.work, d), ignore_errors=True)

    # 1. The uninterrupted run.
    a = os.path.join(args.work, "a")
    t = time.time()
    print(run(train + ["-o", a]).rstrip())
    log = rows(os.path.join(a, "loss.csv"))
    base = float(log[0]["eval_loss"])
    steps = [r for r in log if r["step"] != "0"]
    first = np.mean([float(r["loss"]) for r in steps[:5]])
    last = np.mean([float(r["loss"]) for r in steps[-5:]])
    final_eval = float(steps[-1]["eval_loss"])
    print(f"LoRA SFT, 40 steps in {time.time() - t:.0f} s: training loss {first:.4f} "
          f"(steps 1-5) -> {last:.4f} (36-40); held-out {base:.4f} -> {final_eval:.4f}")
    if not (last < first and final_eval < base):
        print("FAIL: training did not bring the training and held-out losses down")
        failures += 1

    # 2. Killed and resumed.
    b = os.path.join(args.work, "b")
    proc = subprocess.Popen(train + ["-o", b], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    killed_after = None
    while proc.poll() is None:
        done = [f for f in os.listdir(b)] if os.path.isdir(b) else []
        ckpts = [int(f[11:-12]) for f in done
                 if f.startswith("checkpoint-") and f.endswith(".safetensors")]
        if ckpts and max(ckpts) >= 10:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed_after = max(ckpts)
            break
        time.sleep(0.05)
    if killed_after is None or killed_after >= 40:
        print("FAIL: the run ended before it could be killed")
        failures += 1
    else:
        r = subprocess.run(train + ["-o", b, "--resume"], capture_output=True, text=True)
        resumed = [l for l in r.stderr.splitlines() if "resuming" in l]
        if r.returncode != 0 or not resumed:
            print(f"FAIL: --resume: {r.stderr[-500:]}")
            failures += 1
        elif trajectory(os.path.join(a, "loss.csv")) != trajectory(os.path.join(b, "loss.csv")):
            print("FAIL: the resumed run's loss.csv differs from the uninterrupted run's")
            failures += 1
        else:
            print(f"SIGKILL once checkpoint-{killed_after} existed, then "
                  f"{resumed[0].split(': ', 1)[1]}: "
                  f"the same {len(steps)} losses, learning rates, gradient norms and "
                  f"held-out losses as the uninterrupted run")

    # 3. The adapter, merged.
    merged = os.path.join(args.work, "merged.so")
    run([os.path.join(args.bin, "tailor-compile"), model, "--lora-adapter",
         os.path.join(a, "adapter"), "-o", merged, "--quiet"])
    merged_loss = heldout_loss(tailor.load(merged), task)
    print(f"merged adapter (tailor-compile --lora-adapter): held-out loss {merged_loss:.6f}, "
          f"tailor-train's {final_eval:.6f}")
    if abs(merged_loss - final_eval) > 1e-4 * final_eval:
        print("FAIL: the merged model's held-out loss differs")
        failures += 1

    # 3b. Static shapes (the default: every batch padded to the longest
    # example, a step with static kernels) against dynamic ones (each batch
    # padded to its own longest row): the same losses.
    losses = {}
    for mode in ("static", "dynamic"):
        out = os.path.join(args.work, mode)
        shutil.rmtree(out, ignore_errors=True)
        run([os.path.join(args.bin, "tailor-train"), model,
             "--data", os.path.join(task, "train.jsonl"), "--tokenizer", "bytes",
             "--lora-r", "8", "--lr", "3e-3", "--steps", "8", "--batch-size", "16",
             "--save-every", "0", "--num-threads", "2", "--shapes", mode, "-o", out])
        losses[mode] = [float(r["loss"]) for r in rows(os.path.join(out, "loss.csv"))
                        if r["step"] != "0"]
    worst = max(abs(x - y) / abs(x) for x, y in zip(losses["static"], losses["dynamic"]))
    print(f"--shapes=static vs dynamic, 8 steps: losses within {worst:.1e} (relative)")
    if len(losses["dynamic"]) != 8 or worst > 1e-4:
        print("FAIL: static and dynamic shapes train differently")
        failures += 1

    # 3c. Activation recomputation (sqrt policy) against none: the same
    # parameters and optimizer state after 3 steps, bit for bit (so the same
    # gradients), and a lower peak of the step's buffers.
    peaks, states = {}, {}
    for policy in ("none", "sqrt"):
        out = os.path.join(args.work, "recompute-" + policy)
        shutil.rmtree(out, ignore_errors=True)
        r = subprocess.run([os.path.join(args.bin, "tailor-train"), model,
                            "--data", os.path.join(task, "train.jsonl"), "--tokenizer", "bytes",
                            "--lora-r", "8", "--lr", "3e-3", "--steps", "3", "--batch-size", "16",
                            "--save-every", "3", "--num-threads", "2", "--recompute", policy,
                            "-o", out], capture_output=True, text=True)
        peaks[policy] = peak_of(r.stderr) if r.returncode == 0 else 0
        if not peaks[policy]:
            print(f"FAIL: --recompute {policy}: {r.stderr[-500:]}")
            return 1
        states[policy], _ = read_safetensors(os.path.join(out, "checkpoint-3.safetensors"))
    same = sorted(states["none"]) == sorted(states["sqrt"]) and all(
        np.array_equal(states["none"][k], states["sqrt"][k]) for k in states["none"])
    print(f"--recompute sqrt: {len(states['sqrt'])} parameters and optimizer-state tensors "
          f"after 3 steps {'bit-identical' if same else 'DIFFERENT'}; peak buffer memory of "
          f"the step {peaks['none'] / 1e6:.2f} MB -> {peaks['sqrt'] / 1e6:.2f} MB "
          f"({100 * (1 - peaks['sqrt'] / peaks['none']):.0f}% less; 2 layers)")
    if not same or not peaks["sqrt"] < 0.9 * peaks["none"]:
        print("FAIL: recomputation changed the training or saved no memory")
        failures += 1

    # 3d. Quantization-aware training: full fine-tuning through int4 fake
    # quantization; tailor-compile --weights (the trained model.safetensors)
    # --quantize int4 makes the integer model, whose held-out loss is the
    # one training reported (the float model with the same weights differs).
    q = os.path.join(args.work, "qat")
    shutil.rmtree(q, ignore_errors=True)
    run([os.path.join(args.bin, "tailor-train"), model,
         "--data", os.path.join(task, "train.jsonl"),
         "--eval-data", os.path.join(task, "eval.jsonl"), "--tokenizer", "bytes",
         "--method", "full", "--qat", "int4", "--qat-group-size", "32", "--lr", "1e-3",
         "--steps", "10", "--batch-size", "16", "--eval-every", "10", "--save-every", "0",
         "--num-threads", "2", "-o", q])
    log = rows(os.path.join(q, "loss.csv"))
    qat_before, qat_after = float(log[0]["eval_loss"]), float(log[-1]["eval_loss"])
    losses = {}
    for name, extra in (("int4", ["--quantize", "int4", "--quantize-embeddings=false", "--quantize-group-size", "32",
                                  "--int4-activations", "f32"]), ("float", [])):
        so = os.path.join(args.work, f"qat-{name}.so")
        run([os.path.join(args.bin, "tailor-compile"), model, "--weights",
             os.path.join(q, "model.safetensors"), "-o", so, "--quiet"] + extra)
        losses[name] = heldout_loss(tailor.load(so), task)
    print(f"QAT int4 (group 32), 10 steps: held-out {qat_before:.6f} -> {qat_after:.6f}; "
          f"tailor-compile --weights --quantize int4: {losses['int4']:.6f} (the float model "
          f"with the trained weights: {losses['float']:.6f})")
    if not (qat_after < qat_before and abs(losses["int4"] - qat_after) < 1e-5 * qat_after
            and abs(losses["float"] - qat_after) > 1e-4 * qat_after):
        print("FAIL: the converted int4 model does not compute what QAT trained")
        failures += 1

    # 3e. The other PEFT methods train: (IA)3 and serial / parallel
    # bottleneck adapters, 20 steps each, lower the held-out loss; the
    # adapter directory holds the vectors / weights under PEFT-style names.
    for tag, extra, suffixes, kind in (
            ("ia3", ["--method", "ia3", "--lr", "3e-2"], [".ia3_l"], "IA3"),
            ("adapter-serial", ["--method", "adapter", "--adapter-size", "16", "--lr", "3e-3"],
             [".adapter.down.weight", ".adapter.up.bias"], "BOTTLENECK"),
            ("adapter-parallel", ["--method", "adapter", "--adapter-size", "16",
                                  "--adapter-placement", "parallel", "--adapter-activation",
                                  "gelu", "--lr", "3e-3"],
             [".adapter.down.weight", ".adapter.up.bias"], "BOTTLENECK"),
            ("prefix", ["--method", "prefix", "--virtual-tokens", "8", "--lr", "1e-1"],
             None, "PREFIX_TUNING"),
            ("prompt", ["--method", "prompt", "--virtual-tokens", "8", "--lr", "3e-1"],
             None, "PROMPT_TUNING")):
        o = os.path.join(args.work, tag)
        shutil.rmtree(o, ignore_errors=True)
        run([os.path.join(args.bin, "tailor-train"), model,
             "--data", os.path.join(task, "train.jsonl"),
             "--eval-data", os.path.join(task, "eval.jsonl"), "--tokenizer", "bytes",
             "--steps", "20", "--batch-size", "16", "--eval-every", "20", "--save-every", "0",
             "--num-threads", "2", "-o", o] + extra)
        log = rows(os.path.join(o, "loss.csv"))
        before, after = float(log[0]["eval_loss"]), float(log[-1]["eval_loss"])
        cfg = json.load(open(os.path.join(o, "adapter", "adapter_config.json")))
        names, _ = read_safetensors(os.path.join(o, "adapter", "adapter_model.safetensors"))
        if suffixes:
            expected = {f"base_model.model.{m}{s}" for m in cfg["target_modules"]
                        for s in suffixes}
        else:
            # PEFT's one prompt_embeddings tensor: [P, token_dim] (prompt),
            # [P, layers * 2 * token_dim] (prefix).
            expected = {"prompt_embeddings"}
            width = cfg["token_dim"] * (2 * cfg["num_layers"] if tag == "prefix" else 1)
            if names.get("prompt_embeddings", np.zeros(0)).shape != (8, width):
                expected.add(f"prompt_embeddings of shape (8, {width})")
        print(f"--method {' '.join(extra[1:-2])}: held-out {before:.4f} -> {after:.4f} in 20 "
              f"steps; adapter: {cfg['peft_type']}, {len(names)} tensors")
        if not (after < before - 0.3 and cfg["peft_type"] == kind and expected <= set(names)):
            print(f"FAIL: --method {tag}: missing {sorted(expected - set(names))[:3]}")
            failures += 1

    # 3e'. Merging the adapters that can merge: (IA)3 (3e's run) and DoRA
    # (10 steps here) through tailor-compile --lora-adapter; the merged
    # model's held-out loss, from its logits, is tailor-train's last one.
    dora = os.path.join(args.work, "dora")
    shutil.rmtree(dora, ignore_errors=True)
    run(train[:train.index("--steps")] + ["--steps", "10", "--batch-size", "16",
                                          "--eval-every", "10", "--save-every", "0",
                                          "--num-threads", "2", "--dora", "-o", dora])
    for tag in ("ia3", "dora"):
        o = os.path.join(args.work, tag)
        trained = float(rows(os.path.join(o, "loss.csv"))[-1]["eval_loss"])
        so = os.path.join(args.work, f"{tag}-merged.so")
        run([os.path.join(args.bin, "tailor-compile"), model, "--lora-adapter",
             os.path.join(o, "adapter"), "-o", so, "--quiet"])
        merged = heldout_loss(tailor.load(so), task)
        print(f"merged {tag} adapter (tailor-compile --lora-adapter): held-out loss "
              f"{merged:.6f}, tailor-train's {trained:.6f}")
        if not abs(merged - trained) <= 1e-5 * trained:
            print(f"FAIL: the merged {tag} adapter computes another model")
            failures += 1

    # 3j. AdaLoRA (init_r 8 -> target_r 4, tinit 2, tfinal 5: the pattern
    # is fixed at step 15 of 20): the held-out loss falls; the adapter is
    # PEFT's ADALORA with a rank_pattern that keeps exactly the target
    # budget and tensors cut to it; merged by tailor-compile it gives
    # tailor-train's held-out loss; resumed from step 10's checkpoint
    # (importance EMAs, rank pattern) it writes the same losses and adapter.
    ada = os.path.join(args.work, "adalora")
    ada_resumed = os.path.join(args.work, "adalora-resumed")
    for d in (ada, ada_resumed):
        shutil.rmtree(d, ignore_errors=True)
    ada_train = [os.path.join(args.bin, "tailor-train"), model,
                 "--data", os.path.join(task, "train.jsonl"),
                 "--eval-data", os.path.join(task, "eval.jsonl"), "--tokenizer", "bytes",
                 "--method", "adalora", "--adalora-init-r", "8", "--adalora-target-r", "4",
                 "--adalora-tinit", "2", "--adalora-tfinal", "5", "--adalora-delta-t", "2",
                 "--lora-alpha", "16", "--lr", "1e-2", "--steps", "20", "--batch-size", "16",
                 "--eval-every", "20", "--save-every", "10", "--keep-checkpoints", "5",
                 "--num-threads", "2"]
    run(ada_train + ["-o", ada])
    log = rows(os.path.join(ada, "loss.csv"))
    before, after = float(log[0]["eval_loss"]), float(log[-1]["eval_loss"])
    cfg = json.load(open(os.path.join(ada, "adapter", "adapter_config.json")))
    tensors, _ = read_safetensors(os.path.join(ada, "adapter", "adapter_model.safetensors"))
    pattern = cfg.get("rank_pattern") or {}
    kept = sum(sum(v) for v in pattern.values())
    target = 4 * len(cfg["target_modules"])
    shapes_ok = all(
        tensors[f"base_model.model.{m}.lora_A"].shape[0] == sum(pattern[m + ".lora_E"])
        and tensors[f"base_model.model.{m}.lora_B"].shape[1] == sum(pattern[m + ".lora_E"])
        for m in cfg["target_modules"])
    ranks = sorted(sum(v) for v in pattern.values())
    print(f"--method adalora: held-out {before:.4f} -> {after:.4f} in 20 steps; adapter "
          f"{cfg['peft_type']}, {kept} of {8 * len(cfg['target_modules'])} rank slots kept "
          f"(per module {ranks[0]}..{ranks[-1]})")
    if not (after < before - 0.3 and cfg["peft_type"] == "ADALORA" and kept == target
            and shapes_ok):
        print(f"FAIL: --method adalora: kept {kept} (target {target}), tensors cut to the "
              f"pattern: {shapes_ok}")
        failures += 1
    so = os.path.join(args.work, "adalora-merged.so")
    run([os.path.join(args.bin, "tailor-compile"), model, "--lora-adapter",
         os.path.join(ada, "adapter"), "-o", so, "--quiet"])
    merged = heldout_loss(tailor.load(so), task)
    print(f"merged AdaLoRA adapter: held-out loss {merged:.6f}, tailor-train's {after:.6f}")
    if not abs(merged - after) <= 1e-5 * after:
        print("FAIL: the merged AdaLoRA adapter computes another model")
        failures += 1
    os.makedirs(ada_resumed)
    shutil.copy(os.path.join(ada, "checkpoint-10.safetensors"), ada_resumed)
    run(ada_train + ["-o", ada_resumed, "--resume"])
    again, _ = read_safetensors(os.path.join(ada_resumed, "adapter", "adapter_model.safetensors"))
    same = (trajectory(os.path.join(ada, "loss.csv"))
            == trajectory(os.path.join(ada_resumed, "loss.csv"))
            and set(again) == set(tensors)
            and all(np.array_equal(again[k], tensors[k]) for k in tensors))
    print(f"AdaLoRA resumed from checkpoint-10: {'the same' if same else 'other'} losses and adapter")
    if not same:
        print("FAIL: the resumed AdaLoRA run differs from the uninterrupted one")
        failures += 1

    # 3f. MeZO: forward passes only (two per step, no gradient buffers):
    # the held-out loss falls, and the step's peak buffer memory is below
    # the backpropagation step's (3c's run of the same model and batch).
    z = os.path.join(args.work, "mezo")
    shutil.rmtree(z, ignore_errors=True)
    r = subprocess.run([os.path.join(args.bin, "tailor-train"), model,
                        "--data", os.path.join(task, "train.jsonl"),
                        "--eval-data", os.path.join(task, "eval.jsonl"), "--tokenizer", "bytes",
                        "--optimizer", "mezo", "--zo-eps", "1e-3", "--lr", "1e-3",
                        "--steps", "100", "--batch-size", "16", "--eval-every", "100",
                        "--save-every", "0", "--num-threads", "2", "-o", z],
                       capture_output=True, text=True)
    log = rows(os.path.join(z, "loss.csv")) if r.returncode == 0 else []
    zo_peak = peak_of(r.stderr) if r.returncode == 0 else 0
    if not log:
        print(f"FAIL: --optimizer mezo: {r.stderr[-500:]}")
        failures += 1
    else:
        before, after = float(log[0]["eval_loss"]), float(log[-1]["eval_loss"])
        print(f"MeZO (LoRA, lr 1e-3, eps 1e-3), 100 steps: held-out {before:.4f} -> {after:.4f}; "
              f"peak buffer memory {zo_peak / 1e6:.2f} MB (backpropagation: "
              f"{peaks['none'] / 1e6:.2f} MB)")
        if not (after < before - 0.02 and 0 < zo_peak < peaks["none"]):
            print("FAIL: MeZO did not lower the loss or used no less memory")
            failures += 1

    # 3g. QLoRA's form: LoRA over the base quantized to int4 or NF4
    # (groups / blocks of 32 rows; lm_head in float): the held-out loss
    # before training is the quantized model's (not the float model's; for
    # NF4 equal to tailor-compile --quantize nf4's model) and falls like
    # LoRA's.
    for qmode in ("int4", "nf4"):
        ql = os.path.join(args.work, "qlora-" + qmode)
        shutil.rmtree(ql, ignore_errors=True)
        r = subprocess.run(train[:train.index("--steps")] + [
            "--steps", "20", "--batch-size", "16", "--eval-every", "20", "--save-every", "0",
            "--num-threads", "2", "--quantize-base", qmode, "--base-group-size", "32",
            "-o", ql], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL: --quantize-base {qmode}: {r.stderr[-800:]}")
            failures += 1
            continue
        log = rows(os.path.join(ql, "loss.csv"))
        before, after = float(log[0]["eval_loss"]), float(log[-1]["eval_loss"])
        peak = peak_of(r.stderr)
        print(f"QLoRA ({qmode} base, groups of 32), 20 steps: held-out {before:.4f} (the float "
              f"base: {base:.4f}) -> {after:.4f}; peak buffer memory of the step "
              f"{peak / 1e6:.2f} MB")
        ok = abs(before - base) > 1e-3 and after < before - 0.5
        if qmode == "nf4":
            so = os.path.join(args.work, "nf4.so")
            run([os.path.join(args.bin, "tailor-compile"), model, "--quantize", "nf4",
                 "--quantize-group-size", "32", "--quantize-exclude", "lm_head", "-o", so,
                 "--quiet"])
            compiled_nf4 = heldout_loss(tailor.load(so), task)
            print(f"  the NF4 model compiled by tailor-compile --quantize nf4: held-out "
                  f"{compiled_nf4:.6f}")
            ok = ok and abs(compiled_nf4 - before) <= 1e-5 * before
        if not ok:
            print(f"FAIL: --quantize-base {qmode} did not train over the quantized base")
            failures += 1

    # 3h. Distillation (--loss kd) from a live teacher: the model with run
    # 1's adapter merged and exported to ONNX (tailor-compile --lora-adapter
    # --emit=onnx); the student (the base model + LoRA) moves its held-out
    # KL divergence to the teacher below a fifth of the start.
    teacher = os.path.join(args.work, "teacher.onnx")
    run([os.path.join(args.bin, "tailor-compile"), model, "--lora-adapter",
         os.path.join(a, "adapter"), "--emit=onnx", "--quiet", "-o", teacher])
    kd = os.path.join(args.work, "kd")
    shutil.rmtree(kd, ignore_errors=True)
    run(train[:train.index("--steps")] + ["--steps", "30", "--batch-size", "16",
                                          "--eval-every", "30", "--save-every", "0",
                                          "--num-threads", "2", "--loss", "kd", "--teacher",
                                          teacher, "--temperature", "2", "-o", kd])
    log = rows(os.path.join(kd, "loss.csv"))
    before, after = float(log[0]["eval_loss"]), float(log[-1]["eval_loss"])
    print(f"KD from the merged teacher (temperature 2), 30 steps: held-out KL {before:.4f} -> "
          f"{after:.4f}")
    if not (before > 0.1 and after < 0.2 * before):
        print("FAIL: --loss kd did not move the student to the teacher")
        failures += 1

    # 3i. Text through a SentencePiece model (--tokenizer sentencepiece,
    # Debian's libsentencepiece): a unigram model trained here on the task's
    # text (the Python module); tailor-train's ids (--dump-tokens) equal
    # the Python module's encoding of every prompt and completion, and 10
    # steps on them lower the training loss.
    import sentencepiece
    texts = os.path.join(args.work, "spm-text.txt")
    examples = [json.loads(line) for line in open(os.path.join(task, "train.jsonl"))]
    with open(texts, "w") as f:
        for e in examples:
            f.write(e["prompt"] + e["completion"] + "\n")
    spm_prefix = os.path.join(args.work, "spm")
    sentencepiece.SentencePieceTrainer.train(
        input=texts, model_prefix=spm_prefix, vocab_size=120, model_type="unigram",
        character_coverage=1.0, minloglevel=2)
    sp = sentencepiece.SentencePieceProcessor(model_file=spm_prefix + ".model")
    dumped = os.path.join(args.work, "spm-tokens.jsonl")
    spm_train = train[:train.index("--tokenizer")] + [
        "--tokenizer", "sentencepiece", "--spm-model", spm_prefix + ".model"]
    spm_train = [a for a in spm_train if a != "--eval-data" and not a.endswith("eval.jsonl")]
    run(spm_train + ["--dump-tokens", dumped, "-o", os.path.join(args.work, "spm-unused")])
    got = [json.loads(line) for line in open(dumped)]
    differ = 0
    for e, g in zip(examples, got):
        p, c = sp.encode(e["prompt"]), sp.encode(e["completion"])
        differ += g["input_ids"] != p + c or g["labels"] != [-100] * len(p) + c
    so = os.path.join(args.work, "spm-run")
    shutil.rmtree(so, ignore_errors=True)
    run(spm_train + ["--lora-r", "8", "--lr", "3e-3", "--steps", "10", "--batch-size", "16",
                     "--save-every", "0", "--num-threads", "2", "-o", so])
    log = [r for r in rows(os.path.join(so, "loss.csv")) if r["step"] != "0"]
    first, last = float(log[0]["loss"]), float(log[-1]["loss"])
    print(f"SentencePiece (unigram, 120 pieces): {len(got)} rows tokenized as the Python "
          f"module does ({differ} differ); 10 steps: loss {first:.4f} -> {last:.4f}")
    if differ or len(got) != len(examples) or not last < first:
        print("FAIL: --tokenizer sentencepiece")
        failures += 1

    # 4. DPO.
    d = os.path.join(args.work, "dpo")
    shutil.rmtree(d, ignore_errors=True)
    run([os.path.join(args.bin, "tailor-train"), model,
         "--data", os.path.join(task, "pairs-train.jsonl"),
         "--eval-data", os.path.join(task, "pairs-eval.jsonl"), "--tokenizer", "bytes",
         "--loss", "dpo", "--beta", "0.1", "--lora-r", "8", "--lr", "1e-3", "--steps", "30",
         "--batch-size", "8", "--eval-every", "10", "--num-threads", "2", "-o", d])
    log = rows(os.path.join(d, "loss.csv"))
    base = float(log[0]["eval_loss"])
    evals = [(int(r["step"]), float(r["eval_margin"]), float(r["eval_accuracy"]))
             for r in log if r["eval_margin"]]
    print(f"DPO, 30 steps: held-out loss {base:.6f} before (ln 2 = {np.log(2):.6f}); reward margin "
          + ", ".join(f"{m:.4f} (accuracy {a:.2f}) after step {s}" for s, m, a in evals))
    if abs(base - np.log(2)) > 1e-5 or not (evals[-1][1] > 0.1 and evals[-1][2] > 0.5):
        print("FAIL: DPO did not raise the held-out chosen-over-rejected margin")
        failures += 1

    # 4b. KTO: make_task.py's pairs as unpaired examples (chosen: desirable,
    # rejected: not), the KL rows as TRL builds them; against the initial
    # model's log-probabilities the held-out loss starts at 0.5 (rho = 0)
    # and falls below 0.45.
    for split in ("train", "eval"):
        with open(os.path.join(task, f"kto-{split}.jsonl"), "w") as f:
            for line in open(os.path.join(task, f"pairs-{split}.jsonl")):
                o = json.loads(line)
                for key, label in (("chosen", True), ("rejected", False)):
                    f.write(json.dumps({"prompt": o["prompt"], "completion": o[key],
                                        "label": label}) + "\n")
    kto = os.path.join(args.work, "kto")
    shutil.rmtree(kto, ignore_errors=True)
    run([os.path.join(args.bin, "tailor-train"), model,
         "--data", os.path.join(task, "kto-train.jsonl"),
         "--eval-data", os.path.join(task, "kto-eval.jsonl"), "--tokenizer", "bytes",
         "--loss", "kto", "--beta", "0.1", "--lr", "3e-3", "--steps", "20", "--batch-size", "16",
         "--eval-every", "20", "--save-every", "0", "--num-threads", "2", "-o", kto])
    log = rows(os.path.join(kto, "loss.csv"))
    before, after = float(log[0]["eval_loss"]), float(log[-1]["eval_loss"])
    print(f"KTO, 20 steps: held-out loss {before:.6f} before -> {after:.4f}")
    if not (abs(before - 0.5) < 1e-6 and after < 0.45):
        print("FAIL: --loss kto")
        failures += 1

    # 5. Errors.
    def expect_error(cmd, text):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 1 or text not in r.stderr:
            print(f"FAIL: {' '.join(cmd[1:])}: expected exit 1 and '{text}', got "
                  f"{r.returncode}: {r.stderr.strip()[-300:]}")
            return 1
        print(f"error as expected: {r.stderr.strip().splitlines()[-1]}")
        return 0
    c = os.path.join(args.work, "c")
    os.makedirs(c, exist_ok=True)
    ckpt = sorted(f for f in os.listdir(a) if f.startswith("checkpoint-"))[-1]
    data = open(os.path.join(a, ckpt), "rb").read()
    open(os.path.join(c, "checkpoint-40.safetensors"), "wb").write(data[:len(data) // 2])
    failures += expect_error(train + ["-o", c, "--resume"], "checkpoint-40.safetensors")
    bad = os.path.join(args.work, "bad.jsonl")
    with open(bad, "w") as f:
        f.write('{"input_ids": [1, 2, 3]}\n{"input_ids": [5, 300]}\n')
    e = os.path.join(args.work, "e")
    failures += expect_error([os.path.join(args.bin, "tailor-train"), model, "--data", bad,
                              "-o", e], "bad.jsonl:2: \"input_ids\" holds 300, outside the vocabulary [0, 256)")
    failures += expect_error(train[:-1] + ["1", "-o", b, "--resume", "--lr", "1e-3"],
                             "--lr was 0.003, now 0.001;")
    failures += expect_error(train + ["-o", a], "holds checkpoints of an earlier run")
    failures += expect_error(train + ["-o", e, "--qat", "int8"],
                             "--qat trains the weights themselves: use it with --method full")
    failures += expect_error(train + ["-o", e, "--method", "adalora", "--adalora-tinit", "45"],
                             "--method adalora: AdaLoRA: the schedule leaves no budgeting phase "
                             "(tinit 45 >= total_step 40 - tfinal 0)")
    failures += expect_error(train + ["-o", e, "--method", "adalora", "--adalora-target-r", "20"],
                             "the target rank in [0, the initial rank] (got 12 and 20)")
    bad_weights = os.path.join(args.work, "bad.safetensors")
    header = json.dumps({"nope.weight": {"dtype": "F32", "shape": [2],
                                         "data_offsets": [0, 8]}}).encode()
    with open(bad_weights, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + bytes(8))
    failures += expect_error([os.path.join(args.bin, "tailor-compile"), model, "--weights",
                              bad_weights, "-o", os.path.join(args.work, "bad.so")],
                             "no weight of the model is named 'nope.weight'")
    failures += expect_error(train + ["-o", e, "--shapes", "fixed"],
                             "--shapes must be static or dynamic, not 'fixed'")
    failures += expect_error(train + ["-o", e, "--pad-id", "256"],
                             "--pad-id 256 is outside the vocabulary [0, 256)")
    failures += expect_error(spm_train[:spm_train.index("--spm-model") + 1] + [bad, "-o", e],
                             "bad.jsonl: not a SentencePiece model")
    no_label = os.path.join(args.work, "no-label.jsonl")
    with open(no_label, "w") as f:
        f.write('{"prompt": "a", "completion": "b"}\n')
    failures += expect_error([os.path.join(args.bin, "tailor-train"), model, "--data", no_label,
                              "--tokenizer", "bytes", "--loss", "kto", "-o", e],
                             "no-label.jsonl:1: expected a KTO example")
    failures += expect_error(train + ["-o", e, "--loss", "kd", "--teacher", bad],
                             "bad.jsonl")
    print("PASS" if not failures else f"FAIL ({failures})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
