#!/usr/bin/python3
"""ONNX backend node tests through Tailor: import -> compile (JIT) -> run.

Generates the node tests with Debian's python3-onnx (the generators it ships),
keeps those whose ops the tailor dialect defines (dialects/Tailor/OnnxOps.list),
and runs each twice with `tailor-run --check`: with its static shapes, and with
every input and output dim made dynamic (a named dim_param), since peers have
shipped silently wrong results on dynamic shapes.

  run_node_tests.py --tailor-run BIN --work DIR [--report docs/conformance.md]
                    [--filter SUBSTR] [--jobs N] [--min-pass N]

Prints pass / fail / unsupported per test and per op; exits 1 when a test that
is expected to pass fails (the expected-failure list below gives reasons), or
when fewer than --min-pass variants pass.
"""
import argparse
import collections
import concurrent.futures
import os
import re
import subprocess
import sys

import numpy as np

import warnings  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for alias, t in (("float", float), ("int", int), ("bool", bool), ("object", object)):
        if not hasattr(np, alias):
            setattr(np, alias, t)  # the 1.12 generators still use these aliases
import onnx  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Tests that are known not to pass, with the reason (documented in the report).
BF16_DATA = ("ONNX 1.12's generator writes the bfloat16 test data as uint16 "
             "tensors, which do not match the model's bfloat16 type")
EXPECTED_FAILURES = {
    "test_cast_BFLOAT16_to_FLOAT": BF16_DATA,
    "test_cast_FLOAT_to_BFLOAT16": BF16_DATA,
    "test_castlike_BFLOAT16_to_FLOAT": BF16_DATA,
    "test_castlike_BFLOAT16_to_FLOAT_expanded": BF16_DATA,
    "test_castlike_FLOAT_to_BFLOAT16": BF16_DATA,
    "test_castlike_FLOAT_to_BFLOAT16_expanded": BF16_DATA,
}

# Runs that are unsupported on purpose, with the reason (the report shows it
# in place of the compiler's message, which follows it).
STRING = "string tensors: Tailor compiles numeric models only"
TRAINING_DROPOUT = ("training-mode Dropout draws random masks; the expected "
                    "outputs come from numpy's generator, which no compiled "
                    "model reproduces (inference-mode Dropout is supported)")
OPTIONAL = "optional and sequence types: not tensors, not compiled"
KNOWN_UNSUPPORTED = {
    **{t: STRING for t in (
        "test_cast_FLOAT_to_STRING", "test_cast_STRING_to_FLOAT",
        "test_castlike_FLOAT_to_STRING", "test_castlike_FLOAT_to_STRING_expanded",
        "test_castlike_STRING_to_FLOAT", "test_castlike_STRING_to_FLOAT_expanded")},
    **{t: TRAINING_DROPOUT for t in (
        "test_training_dropout", "test_training_dropout_default",
        "test_training_dropout_default_mask", "test_training_dropout_mask",
        "test_training_dropout_zero_ratio", "test_training_dropout_zero_ratio_mask")},
    "test_identity_opt": OPTIONAL,
    "test_identity_sequence": OPTIONAL,
}


def generate(work):
    out = os.path.join(work, "onnx-tests")
    node = os.path.join(out, "node")
    if not os.path.isdir(node):
        from onnx.backend.test import cmd_tools
        saved = sys.argv
        sys.argv = ["x", "generate-data", "-o", out]
        try:
            cmd_tools.main()
        finally:
            sys.argv = saved
    return node


def dialect_ops():
    ops = set()
    with open(os.path.join(ROOT, "dialects", "Tailor", "OnnxOps.list")) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line:
                ops.add(line.split()[0])
    return ops


def make_dynamic(src, dst):
    model = onnx.load(src)
    g = model.graph
    inits = {i.name for i in g.initializer}
    for vi in list(g.input) + list(g.output):
        if vi.name in inits or not vi.type.HasField("tensor_type"):
            continue
        shape = vi.type.tensor_type.shape
        for k, d in enumerate(shape.dim):
            d.Clear()
            d.dim_param = "%s_d%d" % (re.sub(r"\W", "_", vi.name), k)
    del g.value_info[:]
    onnx.save(model, dst)


def classify(proc):
    text = proc.stdout + proc.stderr
    if proc.returncode == 0 and "PASS" in proc.stdout:
        return "pass", ""
    for pattern in ("unsupported ONNX op", "has no lowering", "failed to legalize",
                    "cannot be passed to a compiled model", "unsupported data type",
                    "only ranked tensors", "is not a tensor of a supported type",
                    "cannot infer the type of an output"):
        if pattern in text:
            line = next((l for l in text.splitlines() if pattern in l), pattern)
            return "unsupported", line.strip()[-200:]
    if proc.returncode < 0 or proc.returncode > 128:
        return "fail", "crashed (signal %d)" % -proc.returncode
    if "FAIL" in proc.stdout:
        line = next((l for l in proc.stdout.splitlines() if "FAIL" in l), "FAIL")
        return "fail", line.strip()[-200:]
    last = [l for l in text.splitlines() if l.strip()]
    return "fail", (last[-1] if last else "no output")[-200:]


def run_one(args, test_dir, dynamic, work):
    model = os.path.join(test_dir, "model.onnx")
    if dynamic:
        dyn_dir = os.path.join(work, "dynamic", os.path.basename(test_dir))
        os.makedirs(dyn_dir, exist_ok=True)
        model_dyn = os.path.join(dyn_dir, "model.onnx")
        try:
            make_dynamic(model, model_dyn)
        except Exception as e:  # noqa: BLE001
            return "fail", "cannot make dynamic: %s" % e
        model = model_dyn
    try:
        proc = subprocess.run([args.tailor_run, model, "--check", test_dir],
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "fail", "timed out"
    return classify(proc)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tailor-run", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--report")
    parser.add_argument("--filter", default="")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--min-pass", type=int, default=0)
    args = parser.parse_args()

    node = generate(args.work)
    ops = dialect_ops()
    tests = []
    for name in sorted(os.listdir(node)):
        d = os.path.join(node, name)
        try:
            model = onnx.load(os.path.join(d, "model.onnx"))
        except Exception:  # noqa: BLE001
            continue
        used = {n.op_type for n in model.graph.node if n.domain in ("", "ai.onnx")}
        if any(n.domain not in ("", "ai.onnx") for n in model.graph.node):
            continue
        if not used or not used <= ops or args.filter not in name:
            continue
        # The op a test is about: the first node of a plain test; for an
        # `_expanded` one, the dialect op its name starts with (longest).
        if "_expanded" in name:
            key = name[5:].replace("_expanded", "").replace("_", "").lower()
            match = max((o for o in ops if key.startswith(o.lower())), key=len,
                        default=None)
            op = "%s (expanded)" % (match or sorted(used)[0])
        else:
            op = model.graph.node[0].op_type
        tests.append((name, d, op))

    jobs = [(t, dyn) for t in tests for dyn in (False, True)]
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_one, args, t[1], dyn, args.work): (t, dyn)
                   for t, dyn in jobs}
        for f in concurrent.futures.as_completed(futures):
            t, dyn = futures[f]
            results[(t[0], dyn)] = f.result()

    counts = collections.Counter()
    per_op = collections.defaultdict(collections.Counter)
    unexpected = []
    for name, _, op in tests:
        for dyn in (False, True):
            status, why = results[(name, dyn)]
            counts[status] += 1
            per_op[op][status] += 1
            variant = "dynamic" if dyn else "static"
            print("%-60s %-8s %-11s %s" % (name, variant, status, why))
            if status == "fail" and name not in EXPECTED_FAILURES:
                unexpected.append((name, variant, why))
    total = sum(counts.values())
    print("\n%d tests x 2 variants: %d pass, %d fail, %d unsupported" %
          (len(tests), counts["pass"], counts["fail"], counts["unsupported"]))

    if args.report:
        lines = [
            "# ONNX backend node tests",
            "",
            "Generated by `test/conformance/run_node_tests.py` (ctest `conformance`),",
            "from the node tests that Debian's python3-onnx %s generates, limited to" % onnx.__version__,
            "tests whose ops the tailor dialect defines. Each test runs twice through",
            "import -> CPU JIT -> run (`tailor-run --check`, rtol 1e-3, atol 1e-4):",
            "with its static shapes, and with every input/output dim made dynamic.",
            "",
            "**%d tests x 2 variants = %d runs: %d pass, %d fail, %d unsupported.**" %
            (len(tests), total, counts["pass"], counts["fail"], counts["unsupported"]),
            "",
            "| op | pass | fail | unsupported |",
            "|---|---|---|---|",
        ]
        for op in sorted(per_op):
            c = per_op[op]
            lines.append("| %s | %d | %d | %d |" % (op, c["pass"], c["fail"], c["unsupported"]))
        lines += ["", "## Runs that do not pass", "",
                  "| test | variant | status | detail |", "|---|---|---|---|"]
        for name, _, op in tests:
            for dyn in (False, True):
                status, why = results[(name, dyn)]
                if status != "pass":
                    known = EXPECTED_FAILURES.get(name) or (
                        KNOWN_UNSUPPORTED.get(name) if status == "unsupported" else None)
                    if known:
                        why = known + ": " + why
                    why = why.replace("|", "\\|")
                    lines.append("| %s | %s | %s | %s |" %
                                 (name, "dynamic" if dyn else "static", status, why))
        tmp = args.report + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, args.report)

    if unexpected:
        print("FAIL: %d runs fail that are not expected to:" % len(unexpected))
        for name, variant, why in unexpected:
            print("  %s (%s): %s" % (name, variant, why))
        return 1
    if counts["pass"] < args.min_pass:
        print("FAIL: %d runs pass, at least %d expected" % (counts["pass"], args.min_pass))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
