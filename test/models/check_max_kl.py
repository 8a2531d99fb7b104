#!/usr/bin/env python3
"""tailor-compile --max-kl on the pretrained tiny model: with a budget between
all-int8 and all-int4 quality, the plan must mix int4 and int8 linears, its
KL measured by tailor-eval on the same windows must be within the budget,
its artifact must be smaller than all-int8, a tighter budget must not give a
smaller model, and --quantize-plan must rebuild the same model from the
plan file. Held-out figures are printed."""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from checks import run, tiny_model_check  # noqa: E402


def main():
    args, model_dir = tiny_model_check(__doc__)
    onnx_path = os.path.join(model_dir, "model.onnx")
    calib = os.path.join(args.work, "calib16.npy")
    np.save(calib, np.load(os.path.join(model_dir, "calib.npy"))[:16])
    compile_ = os.path.join(args.bin, "tailor-compile")
    evaluate = os.path.join(args.bin, "tailor-eval")

    def so(name, *extra):
        path = os.path.join(args.work, name + ".so")
        run([compile_, onnx_path, "-o", path, "--quiet"] + list(extra))
        return path

    def evaluate_on(tokens, *models):
        out = os.path.join(args.work, "eval.json")
        print(run([evaluate] + list(models) + ["--tokens", tokens, "--json", out]).rstrip())
        return json.load(open(out))["results"]

    fp32, int8, int4 = so("fp32"), so("int8", "--quantize=int8"), so("int4", "--quantize=int4")
    r = evaluate_on(calib, fp32, int8, int4)
    kl8, kl4 = r[1]["kl"], r[2]["kl"]
    budget = 2e-3
    if not kl8 < budget < kl4:
        print(f"FAIL: the test's budget {budget} is not between all-int8 ({kl8:.3e}) "
              f"and all-int4 ({kl4:.3e}): nothing to choose")
        return 1

    plans = {}
    for b in (budget, budget / 4):
        plan_json = os.path.join(args.work, f"plan-{b:g}.json")
        path = so(f"plan-{b:g}", f"--max-kl={b}", "--kl-tokens", calib, "--plan-out", plan_json)
        plans[b] = (path, json.load(open(plan_json)))
    path, plan = plans[budget]
    choices = [layer["choice"] for layer in plan["layers"]]
    print(f"budget {budget}: {choices.count('int4')} int4, {choices.count('int8')} int8, "
          f"{choices.count('f32')} f32 linears; measured {plan['measured_kl']:.3e}")
    if not ("int4" in choices and "int8" in choices):
        print("FAIL: a budget between all-int8 and all-int4 must mix int4 and int8")
        return 1
    if not plan["measured_kl"] <= budget:
        print("FAIL: the plan's measured KL is over the budget")
        return 1
    rebuilt = so("rebuilt", "--quantize-plan", os.path.join(args.work, f"plan-{budget:g}.json"))
    tight = plans[budget / 4][0]
    r = evaluate_on(calib, fp32, path, tight, int8, rebuilt)
    kl_plan, kl_tight = r[1]["kl"], r[2]["kl"]
    if not kl_plan <= budget * 1.0001 or not kl_tight <= budget / 4 * 1.0001:
        print(f"FAIL: tailor-eval on the same windows: {kl_plan:.3e} (budget {budget}), "
              f"{kl_tight:.3e} (budget {budget / 4})")
        return 1
    if abs(kl_plan - plan["measured_kl"]) > 1e-3 * budget:
        print(f"FAIL: tailor-eval's KL {kl_plan:.3e} differs from the plan's measurement "
              f"{plan['measured_kl']:.3e}")
        return 1
    if not r[1]["bytes"] < r[3]["bytes"] or not r[1]["bytes"] <= r[2]["bytes"]:
        print("FAIL: the plan must be smaller than all-int8 and not larger than the "
              "tighter budget's")
        return 1
    if r[4]["kl"] != kl_plan or r[4]["bytes"] != r[1]["bytes"]:
        print("FAIL: --quantize-plan did not rebuild the same model")
        return 1
    print("held-out windows:")
    evaluate_on(os.path.join(model_dir, "heldout.npy"), fp32, path, tight, int8, int4)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
