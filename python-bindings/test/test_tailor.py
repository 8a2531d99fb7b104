"""The Python bindings against the generated test models and PyTorch's
reference data (run by ctest with PYTHONPATH=build/python,
TAILOR_TEST_MODELS=<generated models>, TAILOR_TEST_WORK=<scratch dir>)."""
import glob
import json
import os
import unittest

import numpy as np
from onnx import numpy_helper, TensorProto

import tailor

MODELS = os.environ.get("TAILOR_TEST_MODELS", "")
WORK = os.environ.get("TAILOR_TEST_WORK", "/tmp/tailor-python-test")
LM = "llama-kvcache-opset17"


def read_pb(path):
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


class TailorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(WORK, exist_ok=True)
        cls.so = tailor.compile(os.path.join(MODELS, LM + ".onnx"),
                                os.path.join(WORK, LM + ".so"),
                                header=os.path.join(WORK, LM + ".h"))
        cls.model = tailor.load(cls.so)

    def test_signature(self):
        ins = self.model.inputs
        self.assertEqual(ins[0]["name"], "input_ids")
        self.assertEqual(ins[0]["dtype"], "int64")
        self.assertEqual(len(ins[0]["shape"]), 2)
        self.assertIsNone(ins[0]["shape"][1])  # dynamic sequence length
        self.assertEqual(len(self.model.outputs), len(ins))
        self.assertIn("tailor.compile", self.model.producer)
        self.assertTrue(os.path.exists(os.path.join(WORK, LM + ".h")))

    def test_run_matches_pytorch(self):
        data = os.path.join(MODELS, LM + ".data")
        cases = sorted(glob.glob(os.path.join(data, "*", "output_0.pb")))
        self.assertGreater(len(cases), 0)
        names = [i["name"] for i in self.model.inputs]
        outs = [o["name"] for o in self.model.outputs]
        worst = 0.0
        for case in cases:
            d = os.path.dirname(case)
            feeds = {n: read_pb(os.path.join(d, f"input_{i}.pb")) for i, n in enumerate(names)}
            got = self.model.run(feeds)
            for i, n in enumerate(outs):
                want = read_pb(os.path.join(d, f"output_{i}.pb"))
                self.assertEqual(got[n].shape, want.shape)
                worst = max(worst, float(np.max(np.abs(got[n] - want))))
        print(f"\n{len(cases)} data sets, max abs diff vs PyTorch {worst:.3g}")
        self.assertLessEqual(worst, 1e-4)

    def test_positional_and_strided_inputs(self):
        ids = np.array([[5, 9, 2, 7]], dtype=np.int64)
        empty = [np.zeros([1 if s is None and k == 0 else (0 if s is None else s)
                           for k, s in enumerate(i["shape"])], dtype=np.float32)
                 for i in self.model.inputs[1:]]
        a = self.model.run([ids] + empty)
        wide = np.zeros((1, 8), dtype=np.int64)
        wide[0, ::2] = ids[0]
        b = self.model.run([wide[:, ::2]] + empty)  # a strided view
        name = self.model.outputs[0]["name"]
        np.testing.assert_array_equal(a[name], b[name])

    def test_generate_matches_pytorch(self):
        with open(os.path.join(MODELS, LM + ".data", "greedy.json")) as f:
            want = json.load(f)
        got = self.model.generate(want["prompt"], max_new_tokens=len(want["tokens"]))
        self.assertEqual(got, want["tokens"])
        s = self.model.session()
        logits = s.prefill(want["prompt"])
        self.assertEqual(int(np.argmax(logits)), want["tokens"][0])
        s.decode_step(want["tokens"][0])
        self.assertEqual(len(s), len(want["prompt"]) + 1)
        a = self.model.generate(want["prompt"], 8, temperature=0.8, top_p=0.9, seed=3)
        b = self.model.generate(want["prompt"], 8, temperature=0.8, top_p=0.9, seed=3)
        self.assertEqual(a, b)

    def test_errors(self):
        ids = np.array([[1, 2]], dtype=np.int64)
        with self.assertRaises(tailor.TailorError) as e:
            self.model.run({"input_ids": ids})  # the cache inputs are missing
        self.assertEqual(e.exception.status, "invalid_argument")
        with self.assertRaises(tailor.TailorError) as e:
            self.model.run({"no_such_input": ids})
        self.assertEqual(e.exception.status, "not_found")
        empty = [np.zeros([1, 2, 0, 16], dtype=np.float32)] * (len(self.model.inputs) - 1)
        with self.assertRaises(tailor.TailorError) as e:
            self.model.run([ids.astype(np.int32)] + empty)
        self.assertEqual(e.exception.status, "dtype_mismatch")
        with self.assertRaises(tailor.TailorError) as e:
            self.model.run([ids[0]] + empty)
        self.assertEqual(e.exception.status, "shape_mismatch")
        with self.assertRaises(tailor.TailorError) as e:
            self.model.generate([1, 2], 4, top_p=0.0)
        self.assertEqual(e.exception.status, "invalid_argument")
        with self.assertRaises(tailor.TailorError) as e:
            self.model.num_threads = -1
        bad = os.path.join(WORK, "corrupt.so")
        with open(bad, "wb") as f:
            f.write(b"\x7fELF garbage")
        with self.assertRaises(tailor.TailorError) as e:
            tailor.load(bad)
        self.assertEqual(e.exception.status, "invalid_model")
        plain = tailor.compile(os.path.join(MODELS, "gpt2-opset17.onnx"),
                               os.path.join(WORK, "plain.so"))
        with self.assertRaises(tailor.TailorError) as e:
            tailor.load(plain).session()
        self.assertEqual(e.exception.status, "unsupported")

    def test_compile_errors(self):
        bad = os.path.join(WORK, "malformed.onnx")
        with open(bad, "wb") as f:
            f.write(b"this is not a protobuf")
        with self.assertRaises(tailor.TailorError) as e:
            tailor.compile(bad, os.path.join(WORK, "malformed.so"))
        self.assertEqual(e.exception.status, "compile_error")
        self.assertIn("malformed.onnx", str(e.exception))
        self.assertFalse(os.path.exists(os.path.join(WORK, "malformed.so")))
        with self.assertRaises(tailor.TailorError):
            tailor.compile(os.path.join(MODELS, LM + ".onnx"), os.path.join(WORK, "x.so"),
                           target_cpu="no-such-cpu")
        with self.assertRaises(tailor.TailorError):
            tailor.compile(os.path.join(MODELS, LM + ".onnx"), os.path.join(WORK, "x.so"),
                           opt_level=7)

    def test_rank_allocator_errors(self):
        with self.assertRaises(tailor.TailorError) as e:
            tailor.RankAllocator([("q", 4, 4)], init_r=2, target_r=1, total_step=0)
        self.assertIn("total_step must be > 0", str(e.exception))
        self.assertEqual(e.exception.status, "invalid_argument")
        a = tailor.RankAllocator([("q", 4, 4)], init_r=2, target_r=1, total_step=4)
        self.assertIsNone(a.rank_pattern)
        self.assertEqual(a.schedule(0), (2, False))
        params = {"q.lora_A": np.zeros((2, 4), np.float32),
                  "q.lora_E": np.ones((2, 1), np.float32),
                  "q.lora_B": np.zeros((4, 2), np.float32)}
        grads = {k: np.ones_like(v) for k, v in params.items()}
        with self.assertRaises(tailor.TailorError) as e:
            a.update(0, {k: v for k, v in params.items() if k != "q.lora_E"}, grads)
        self.assertIn("no array 'q.lora_E'", str(e.exception))
        with self.assertRaises(tailor.TailorError) as e:
            a.update(0, dict(params, **{"q.lora_A": np.zeros((2, 4))}), grads)
        self.assertIn("C-contiguous float32 array of 8 elements", str(e.exception))
        # From step 1 the budget is 1 of 2 slots; the two slots score the
        # same, and PEFT masks every slot at or below the threshold: both.
        for step in range(4):
            a.update(step, params, grads)
        self.assertEqual(sum(a.rank_pattern["q.lora_E"]), 0)


if __name__ == "__main__":
    unittest.main()
