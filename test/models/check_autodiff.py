#!/usr/bin/python3
"""Gradient rules of --tailor-autodiff checked by finite differences.

Each case is a small tailor-dialect function in float64 whose first result
is a scalar loss built around one rule (or a few). The case is compiled
twice: as is (the forward) and after `tailor-opt --tailor-autodiff` (the
loss plus the gradients). Every gradient element is compared with the
central difference (f(x + h) - f(x - h)) / 2h of the compiled forward, on
seeded random inputs; the check fails beyond --rtol (relative to the
largest gradient magnitude of that argument, default 1e-6).

  check_autodiff.py --bin BUILD/bin --python BUILD/python --work DIR
                    [--only NAME] [--rtol 1e-6]
"""
import argparse
import os
import subprocess
import sys

import numpy as np

T = "tensor<{}xf64>"

# name -> (arguments [(name, shape)], wrt names, body[, rtol, h]). The body
# uses the arguments by name (%name) and defines %loss. Shapes are written
# as MLIR dims ("2x3"); "" is a scalar.
CASES = {
    "add-sub-broadcast": ([("a", "2x3"), ("b", "3"), ("c", "2x1")], ["a", "b", "c"], """
  %s = "tailor.onnx.Add"(%a, %b) : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  %d = "tailor.onnx.Sub"(%s, %c) : (tensor<2x3xf64>, tensor<2x1xf64>) -> tensor<2x3xf64>
  %q = "tailor.onnx.Mul"(%d, %d) : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %loss = "tailor.onnx.ReduceSum"(%q) {keepdims = 0 : i64} : (tensor<2x3xf64>) -> tensor<f64>
"""),
    "mul-div-neg": ([("a", "2x3"), ("b", "2x3")], ["a", "b"], """
  %m = "tailor.onnx.Mul"(%a, %b) : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %e = "tailor.onnx.Exp"(%b) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %d = "tailor.onnx.Div"(%m, %e) : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %n = "tailor.onnx.Neg"(%d) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %i = "tailor.onnx.Identity"(%n) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %loss = "tailor.onnx.ReduceSum"(%i) {keepdims = 0 : i64} : (tensor<2x3xf64>) -> tensor<f64>
"""),
    "unary": ([("a", "2x3")], ["a"], """
  %t = "tailor.onnx.Tanh"(%a) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %s = "tailor.onnx.Sigmoid"(%t) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %r = "tailor.onnx.Relu"(%a) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %x = "tailor.onnx.Mul"(%s, %r) : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %e = "tailor.onnx.Exp"(%x) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %l = "tailor.onnx.Log"(%e) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %q = "tailor.onnx.Sqrt"(%e) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %p = "tailor.onnx.Reciprocal"(%q) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %y = "tailor.onnx.Add"(%l, %p) : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %loss = "tailor.onnx.ReduceSum"(%y) {keepdims = 0 : i64} : (tensor<2x3xf64>) -> tensor<f64>
"""),
    "pow": ([("a", "2x3"), ("p", "")], ["a", "p"], """
  %e = "tailor.onnx.Exp"(%a) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %y = "tailor.onnx.Pow"(%e, %p) : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
  %loss = "tailor.onnx.ReduceSum"(%y) {keepdims = 0 : i64} : (tensor<2x3xf64>) -> tensor<f64>
"""),
    "matmul-batched": ([("a", "2x3x4"), ("b", "4x5")], ["a", "b"], """
  %m = "tailor.onnx.MatMul"(%a, %b) : (tensor<2x3x4xf64>, tensor<4x5xf64>) -> tensor<2x3x5xf64>
  %t = "tailor.onnx.Tanh"(%m) : (tensor<2x3x5xf64>) -> tensor<2x3x5xf64>
  %loss = "tailor.onnx.ReduceSum"(%t) {keepdims = 0 : i64} : (tensor<2x3x5xf64>) -> tensor<f64>
"""),
    "gemm": ([("a", "4x3"), ("b", "5x4"), ("c", "5")], ["a", "b", "c"], """
  %g = "tailor.onnx.Gemm"(%a, %b, %c) {alpha = 0.5 : f32, beta = 2.0 : f32, transA = 1 : i64, transB = 1 : i64} : (tensor<4x3xf64>, tensor<5x4xf64>, tensor<5xf64>) -> tensor<3x5xf64>
  %t = "tailor.onnx.Tanh"(%g) : (tensor<3x5xf64>) -> tensor<3x5xf64>
  %loss = "tailor.onnx.ReduceSum"(%t) {keepdims = 0 : i64} : (tensor<3x5xf64>) -> tensor<f64>
"""),
    "reduce-reshape-transpose": ([("a", "2x3x4")], ["a"], """
  %t = "tailor.onnx.Transpose"(%a) {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf64>) -> tensor<4x2x3xf64>
  %shape = "tailor.onnx.Constant"() {value = dense<[8, 3]> : tensor<2xi64>} : () -> tensor<2xi64>
  %r = "tailor.onnx.Reshape"(%t, %shape) : (tensor<4x2x3xf64>, tensor<2xi64>) -> tensor<8x3xf64>
  %sq = "tailor.onnx.Mul"(%r, %r) : (tensor<8x3xf64>, tensor<8x3xf64>) -> tensor<8x3xf64>
  %axes = "tailor.onnx.Constant"() {value = dense<[1]> : tensor<1xi64>} : () -> tensor<1xi64>
  %s = "tailor.onnx.ReduceSum"(%sq, %axes) {keepdims = 0 : i64} : (tensor<8x3xf64>, tensor<1xi64>) -> tensor<8xf64>
  %m = "tailor.onnx.ReduceMean"(%r) {axes = array<i64: 0>, keepdims = 1 : i64} : (tensor<8x3xf64>) -> tensor<1x3xf64>
  %u = "tailor.onnx.Unsqueeze"(%s, %axes) : (tensor<8xf64>, tensor<1xi64>) -> tensor<8x1xf64>
  %p = "tailor.onnx.Mul"(%u, %m) : (tensor<8x1xf64>, tensor<1x3xf64>) -> tensor<8x3xf64>
  %f = "tailor.onnx.Flatten"(%p) {axis = 0 : i64} : (tensor<8x3xf64>) -> tensor<1x24xf64>
  %z = "tailor.onnx.Squeeze"(%f) : (tensor<1x24xf64>) -> tensor<24xf64>
  %loss = "tailor.onnx.ReduceSum"(%z) {keepdims = 0 : i64} : (tensor<24xf64>) -> tensor<f64>
"""),
    "softmax-logsoftmax": ([("a", "2x5"), ("w", "2x5")], ["a"], """
  %s = "tailor.onnx.Softmax"(%a) {axis = -1 : i64} : (tensor<2x5xf64>) -> tensor<2x5xf64>
  %l = "tailor.onnx.LogSoftmax"(%a) {axis = 0 : i64} : (tensor<2x5xf64>) -> tensor<2x5xf64>
  %x = "tailor.onnx.Mul"(%s, %w) : (tensor<2x5xf64>, tensor<2x5xf64>) -> tensor<2x5xf64>
  %y = "tailor.onnx.Mul"(%l, %w) : (tensor<2x5xf64>, tensor<2x5xf64>) -> tensor<2x5xf64>
  %z = "tailor.onnx.Add"(%x, %y) : (tensor<2x5xf64>, tensor<2x5xf64>) -> tensor<2x5xf64>
  %loss = "tailor.onnx.ReduceSum"(%z) {keepdims = 0 : i64} : (tensor<2x5xf64>) -> tensor<f64>
"""),
    "gather-embedding": ([("table", "5x3")], ["table"], """
  %ids = "tailor.onnx.Constant"() {value = dense<[[1, 4, 1], [0, 1, 3]]> : tensor<2x3xi64>} : () -> tensor<2x3xi64>
  %e = "tailor.onnx.Gather"(%table, %ids) {axis = 0 : i64} : (tensor<5x3xf64>, tensor<2x3xi64>) -> tensor<2x3x3xf64>
  %t = "tailor.onnx.Tanh"(%e) : (tensor<2x3x3xf64>) -> tensor<2x3x3xf64>
  %q = "tailor.onnx.Mul"(%t, %e) : (tensor<2x3x3xf64>, tensor<2x3x3xf64>) -> tensor<2x3x3xf64>
  %loss = "tailor.onnx.ReduceSum"(%q) {keepdims = 0 : i64} : (tensor<2x3x3xf64>) -> tensor<f64>
"""),
    "where": ([("a", "2x3"), ("b", "2x3")], ["a", "b"], """
  %c = "tailor.onnx.Greater"(%a, %b) : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xi1>
  %w = "tailor.onnx.Where"(%c, %a, %b) : (tensor<2x3xi1>, tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %q = "tailor.onnx.Mul"(%w, %a) : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %loss = "tailor.onnx.ReduceSum"(%q) {keepdims = 0 : i64} : (tensor<2x3xf64>) -> tensor<f64>
"""),
    # Through float32: the differences see f32 rounding (h = 1e-3, 1e-4).
    "cast": ([("a", "2x3")], ["a"], """
  %f = "tailor.onnx.Cast"(%a) {to = 1 : i64} : (tensor<2x3xf64>) -> tensor<2x3xf32>
  %s = "tailor.onnx.Mul"(%f, %f) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %g = "tailor.onnx.Cast"(%s) {to = 11 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf64>
  %loss = "tailor.onnx.ReduceSum"(%g) {keepdims = 0 : i64} : (tensor<2x3xf64>) -> tensor<f64>
""", 1e-4, 1e-3),
    "slice-concat-expand": ([("a", "2x6"), ("b", "1x3")], ["a", "b"], """
  %s0 = "tailor.onnx.Constant"() {value = dense<[0]> : tensor<1xi64>} : () -> tensor<1xi64>
  %s3 = "tailor.onnx.Constant"() {value = dense<[3]> : tensor<1xi64>} : () -> tensor<1xi64>
  %big = "tailor.onnx.Constant"() {value = dense<[9223372036854775807]> : tensor<1xi64>} : () -> tensor<1xi64>
  %ax = "tailor.onnx.Constant"() {value = dense<[-1]> : tensor<1xi64>} : () -> tensor<1xi64>
  %lo = "tailor.onnx.Slice"(%a, %s0, %s3, %ax) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<2x6xf64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x3xf64>
  %hi = "tailor.onnx.Slice"(%a, %s3, %big, %ax) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<2x6xf64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x3xf64>
  %n = "tailor.onnx.Neg"(%hi) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %rot = "tailor.onnx.Concat"(%n, %lo) {axis = -1 : i64} : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x6xf64>
  %shape = "tailor.onnx.Constant"() {value = dense<[2, 3]> : tensor<2xi64>} : () -> tensor<2xi64>
  %e = "tailor.onnx.Expand"(%b, %shape) : (tensor<1x3xf64>, tensor<2xi64>) -> tensor<2x3xf64>
  %c = "tailor.onnx.Concat"(%e, %lo) {axis = 0 : i64} : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<4x3xf64>
  %t = "tailor.onnx.Tanh"(%rot) : (tensor<2x6xf64>) -> tensor<2x6xf64>
  %u = "tailor.onnx.Mul"(%t, %a) : (tensor<2x6xf64>, tensor<2x6xf64>) -> tensor<2x6xf64>
  %q = "tailor.onnx.Mul"(%c, %c) : (tensor<4x3xf64>, tensor<4x3xf64>) -> tensor<4x3xf64>
  %l1 = "tailor.onnx.ReduceSum"(%u) {keepdims = 0 : i64} : (tensor<2x6xf64>) -> tensor<f64>
  %l2 = "tailor.onnx.ReduceSum"(%q) {keepdims = 0 : i64} : (tensor<4x3xf64>) -> tensor<f64>
  %loss = "tailor.onnx.Add"(%l1, %l2) : (tensor<f64>, tensor<f64>) -> tensor<f64>
"""),
    "split-erf-sin-cos": ([("a", "2x6")], ["a"], """
  %sp = "tailor.onnx.Constant"() {value = dense<[2, 4]> : tensor<2xi64>} : () -> tensor<2xi64>
  %p:2 = "tailor.onnx.Split"(%a, %sp) {axis = 1 : i64} : (tensor<2x6xf64>, tensor<2xi64>) -> (tensor<2x2xf64>, tensor<2x4xf64>)
  %e = "tailor.onnx.Erf"(%p#1) : (tensor<2x4xf64>) -> tensor<2x4xf64>
  %s = "tailor.onnx.Sin"(%e) : (tensor<2x4xf64>) -> tensor<2x4xf64>
  %c = "tailor.onnx.Cos"(%s) : (tensor<2x4xf64>) -> tensor<2x4xf64>
  %loss = "tailor.onnx.ReduceSum"(%c) {keepdims = 0 : i64} : (tensor<2x4xf64>) -> tensor<f64>
"""),
    "layernorm": ([("x", "3x5"), ("g", "5"), ("bias", "5"), ("w", "3x5")], ["x", "g", "bias"], """
  %y = "tailor.onnx.LayerNormalization"(%x, %g, %bias) {axis = -1 : i64, epsilon = 1.0e-5 : f32, operandSegmentSizes = array<i32: 1, 1, 1>, resultSegmentSizes = array<i32: 1, 0, 0>} : (tensor<3x5xf64>, tensor<5xf64>, tensor<5xf64>) -> tensor<3x5xf64>
  %m = "tailor.onnx.Mul"(%y, %w) : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %t = "tailor.onnx.Tanh"(%m) : (tensor<3x5xf64>) -> tensor<3x5xf64>
  %loss = "tailor.onnx.ReduceSum"(%t) {keepdims = 0 : i64} : (tensor<3x5xf64>) -> tensor<f64>
"""),
    "linear": ([("x", "2x3x4"), ("w", "4x5"), ("bias", "5")], ["x", "w", "bias"], """
  %y = tailor.linear %x, %w, %bias : (tensor<2x3x4xf64>, tensor<4x5xf64>, tensor<5xf64>) -> tensor<2x3x5xf64>
  %t = "tailor.onnx.Tanh"(%y) : (tensor<2x3x5xf64>) -> tensor<2x3x5xf64>
  %loss = "tailor.onnx.ReduceSum"(%t) {keepdims = 0 : i64} : (tensor<2x3x5xf64>) -> tensor<f64>
"""),
    # The LLM ops --tailor-raise makes (their rules recompute what they need).
    "rms-norm": ([("x", "2x3x5"), ("g", "5"), ("w", "2x3x5")], ["x", "g"], """
  %y = tailor.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<2x3x5xf64>, tensor<5xf64>) -> tensor<2x3x5xf64>
  %m = "tailor.onnx.Mul"(%y, %w) : (tensor<2x3x5xf64>, tensor<2x3x5xf64>) -> tensor<2x3x5xf64>
  %t = "tailor.onnx.Tanh"(%m) : (tensor<2x3x5xf64>) -> tensor<2x3x5xf64>
  %loss = "tailor.onnx.ReduceSum"(%t) {keepdims = 0 : i64} : (tensor<2x3x5xf64>) -> tensor<f64>
"""),
    "layer-norm": ([("x", "3x5"), ("g", "5"), ("bias", "5"), ("w", "3x5")], ["x", "g", "bias"], """
  %y = tailor.layer_norm %x, %g, %bias {epsilon = 1.0e-5 : f32} : (tensor<3x5xf64>, tensor<5xf64>, tensor<5xf64>) -> tensor<3x5xf64>
  %m = "tailor.onnx.Mul"(%y, %w) : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %t = "tailor.onnx.Tanh"(%m) : (tensor<3x5xf64>) -> tensor<3x5xf64>
  %loss = "tailor.onnx.ReduceSum"(%t) {keepdims = 0 : i64} : (tensor<3x5xf64>) -> tensor<f64>
"""),
    "rotary": ([("x", "2x2x3x6"), ("cos", "3x6"), ("sin", "3x6"), ("w", "2x2x3x6")], ["x", "cos", "sin"], """
  %y = tailor.rotary %x, %cos, %sin : (tensor<2x2x3x6xf64>, tensor<3x6xf64>, tensor<3x6xf64>) -> tensor<2x2x3x6xf64>
  %z = tailor.rotary %y, %cos, %sin {interleaved = true} : (tensor<2x2x3x6xf64>, tensor<3x6xf64>, tensor<3x6xf64>) -> tensor<2x2x3x6xf64>
  %m = "tailor.onnx.Mul"(%z, %w) : (tensor<2x2x3x6xf64>, tensor<2x2x3x6xf64>) -> tensor<2x2x3x6xf64>
  %t = "tailor.onnx.Tanh"(%m) : (tensor<2x2x3x6xf64>) -> tensor<2x2x3x6xf64>
  %loss = "tailor.onnx.ReduceSum"(%t) {keepdims = 0 : i64} : (tensor<2x2x3x6xf64>) -> tensor<f64>
"""),
    "activations": ([("a", "2x4"), ("u", "2x4")], ["a", "u"], """
  %s = tailor.silu %a : (tensor<2x4xf64>) -> tensor<2x4xf64>
  %g = tailor.gelu %s : (tensor<2x4xf64>) -> tensor<2x4xf64>
  %h = tailor.gelu %g {approximate = "tanh"} : (tensor<2x4xf64>) -> tensor<2x4xf64>
  %y = tailor.swiglu %h, %u : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %m = "tailor.onnx.Mul"(%y, %a) : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %loss = "tailor.onnx.ReduceSum"(%m) {keepdims = 0 : i64} : (tensor<2x4xf64>) -> tensor<f64>
"""),
    "embedding": ([("table", "5x3")], ["table"], """
  %ids = "tailor.onnx.Constant"() {value = dense<[[1, 4, 1], [0, 1, -2]]> : tensor<2x3xi32>} : () -> tensor<2x3xi32>
  %e = tailor.embedding %table, %ids : (tensor<5x3xf64>, tensor<2x3xi32>) -> tensor<2x3x3xf64>
  %t = "tailor.onnx.Tanh"(%e) : (tensor<2x3x3xf64>) -> tensor<2x3x3xf64>
  %q = "tailor.onnx.Mul"(%t, %e) : (tensor<2x3x3xf64>, tensor<2x3x3xf64>) -> tensor<2x3x3xf64>
  %loss = "tailor.onnx.ReduceSum"(%q) {keepdims = 0 : i64} : (tensor<2x3x3xf64>) -> tensor<f64>
"""),
    "attention-causal": ([("q", "2x2x4x3"), ("k", "2x2x4x3"), ("v", "2x2x4x5"), ("w", "2x2x4x5")], ["q", "k", "v"], """
  %o = tailor.attention %q, %k, %v {causal = true} : tensor<2x2x4x3xf64>, tensor<2x2x4x3xf64>, tensor<2x2x4x5xf64> -> tensor<2x2x4x5xf64>
  %m = "tailor.onnx.Mul"(%o, %w) : (tensor<2x2x4x5xf64>, tensor<2x2x4x5xf64>) -> tensor<2x2x4x5xf64>
  %t = "tailor.onnx.Tanh"(%m) : (tensor<2x2x4x5xf64>) -> tensor<2x2x4x5xf64>
  %loss = "tailor.onnx.ReduceSum"(%t) {keepdims = 0 : i64} : (tensor<2x2x4x5xf64>) -> tensor<f64>
"""),
    # Grouped-query heads (4 query heads on 2 kv heads), a float mask (also
    # differentiated), a scale, causal with more keys than queries.
    "attention-gqa-mask": ([("q", "1x4x3x2"), ("k", "1x2x5x2"), ("v", "1x2x5x3"), ("mask", "3x5"), ("w", "1x4x3x3")], ["q", "k", "v", "mask"], """
  %o = tailor.attention %q, %k, %v mask(%mask) {causal = true, scale = 0.7 : f32} : tensor<1x4x3x2xf64>, tensor<1x2x5x2xf64>, tensor<1x2x5x3xf64>, tensor<3x5xf64> -> tensor<1x4x3x3xf64>
  %m = "tailor.onnx.Mul"(%o, %w) : (tensor<1x4x3x3xf64>, tensor<1x4x3x3xf64>) -> tensor<1x4x3x3xf64>
  %t = "tailor.onnx.Tanh"(%m) : (tensor<1x4x3x3xf64>) -> tensor<1x4x3x3xf64>
  %loss = "tailor.onnx.ReduceSum"(%t) {keepdims = 0 : i64} : (tensor<1x4x3x3xf64>) -> tensor<f64>
"""),
    # A KV cache (prefix tuning's learned past keys and values): causal
    # over [past; new], the past differentiated too.
    "attention-past": ([("q", "1x4x3x2"), ("k", "1x2x3x2"), ("v", "1x2x3x3"), ("pk", "1x2x2x2"), ("pv", "1x2x2x3"), ("w", "1x4x3x3")], ["q", "k", "v", "pk", "pv"], """
  %o = tailor.attention %q, %k, %v past(%pk, %pv) {causal = true} : tensor<1x4x3x2xf64>, tensor<1x2x3x2xf64>, tensor<1x2x3x3xf64> past tensor<1x2x2x2xf64>, tensor<1x2x2x3xf64> -> tensor<1x4x3x3xf64>
  %m = "tailor.onnx.Mul"(%o, %w) : (tensor<1x4x3x3xf64>, tensor<1x4x3x3xf64>) -> tensor<1x4x3x3xf64>
  %t = "tailor.onnx.Tanh"(%m) : (tensor<1x4x3x3xf64>) -> tensor<1x4x3x3xf64>
  %loss = "tailor.onnx.ReduceSum"(%t) {keepdims = 0 : i64} : (tensor<1x4x3x3xf64>) -> tensor<f64>
"""),
    "attention-bool-mask": ([("q", "2x2x3x2"), ("k", "2x2x3x2"), ("v", "2x2x3x2"), ("w", "2x2x3x2")], ["q", "k", "v"], """
  %mask = "tailor.onnx.Constant"() {value = dense<[[[[true, false, true]]], [[[true, true, false]]]]> : tensor<2x1x1x3xi1>} : () -> tensor<2x1x1x3xi1>
  %o = tailor.attention %q, %k, %v mask(%mask) : tensor<2x2x3x2xf64>, tensor<2x2x3x2xf64>, tensor<2x2x3x2xf64>, tensor<2x1x1x3xi1> -> tensor<2x2x3x2xf64>
  %m = "tailor.onnx.Mul"(%o, %w) : (tensor<2x2x3x2xf64>, tensor<2x2x3x2xf64>) -> tensor<2x2x3x2xf64>
  %loss = "tailor.onnx.ReduceSum"(%m) {keepdims = 0 : i64} : (tensor<2x2x3x2xf64>) -> tensor<f64>
"""),
    # Quantized frozen weights (QLoRA's base): d x through the dequantized
    # weight, int8 per column and int4 groups of 2 rows with zero points
    # (through float32, as "cast").
    "linear-quantized": ([("x", "2x4")], ["x"], """
  %f = "tailor.onnx.Cast"(%x) {to = 1 : i64} : (tensor<2x4xf64>) -> tensor<2x4xf32>
  %q8 = "tailor.onnx.Constant"() {value = dense<[[12, -7, 100], [-127, 3, 45], [64, 0, -90], [5, 127, -33]]> : tensor<4x3xi8>} : () -> tensor<4x3xi8>
  %w8 = quant.scast %q8 : tensor<4x3xi8> to tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.01,0.02:3,0.005}>>
  %y8 = tailor.linear %f, %w8 : (tensor<2x4xf32>, tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.01,0.02:3,0.005}>>) -> tensor<2x3xf32>
  %q4 = "tailor.onnx.Constant"() {value = dense<[[1, -8, 7], [3, 2, -1], [-5, 6, 0], [4, -3, 2]]> : tensor<4x3xi8>} : () -> tensor<4x3xi8>
  %w4 = quant.scast %q4 : tensor<4x3xi8> to tensor<4x3x!quant.uniform<i8<-8:7>:f32:{0:2, 1:1}, {{0.2:2, 0.1, 0.3}, {0.4, 0.5:-1, 0.25}}>>
  %y4 = tailor.linear %f, %w4 : (tensor<2x4xf32>, tensor<4x3x!quant.uniform<i8<-8:7>:f32:{0:2, 1:1}, {{0.2:2, 0.1, 0.3}, {0.4, 0.5:-1, 0.25}}>>) -> tensor<2x3xf32>
  %m = "tailor.onnx.Mul"(%y8, %y4) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %t = "tailor.onnx.Tanh"(%m) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %g = "tailor.onnx.Cast"(%t) {to = 11 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf64>
  %loss = "tailor.onnx.ReduceSum"(%g) {keepdims = 0 : i64} : (tensor<2x3xf64>) -> tensor<f64>
""", 3e-4, 1e-3),
    "mlp-shared": ([("x", "3x4"), ("w", "4x4")], ["w"], """
  %h = "tailor.onnx.MatMul"(%x, %w) : (tensor<3x4xf64>, tensor<4x4xf64>) -> tensor<3x4xf64>
  %t = "tailor.onnx.Tanh"(%h) : (tensor<3x4xf64>) -> tensor<3x4xf64>
  %h2 = "tailor.onnx.MatMul"(%t, %w) : (tensor<3x4xf64>, tensor<4x4xf64>) -> tensor<3x4xf64>
  %s = "tailor.onnx.Softmax"(%h2) {axis = 1 : i64} : (tensor<3x4xf64>) -> tensor<3x4xf64>
  %l = "tailor.onnx.Log"(%s) : (tensor<3x4xf64>) -> tensor<3x4xf64>
  %loss = "tailor.onnx.ReduceMean"(%l) {keepdims = 0 : i64} : (tensor<3x4xf64>) -> tensor<f64>
"""),
}


def mlir_type(shape):
    return T.format(shape) if shape else "tensor<f64>"


def module_text(args, body):
    params = ", ".join(f'%{n}: {mlir_type(s)} {{onnx.name = "{n}"}}' for n, s in args)
    return (f"func.func @main_graph({params}) -> (tensor<f64> {{onnx.name = \"loss\"}}) {{"
            f"{body}  return %loss : tensor<f64>\n}}\n")


SFT_MODEL = """func.func @main_graph(%x: tensor<2x4x3xf64> {onnx.name = "x"}, %w: tensor<3x5xf64> {onnx.name = "w"}) -> (tensor<2x4x5xf64> {onnx.name = "logits"}) {
  %l = "tailor.onnx.MatMul"(%x, %w) : (tensor<2x4x3xf64>, tensor<3x5xf64>) -> tensor<2x4x5xf64>
  return %l : tensor<2x4x5xf64>
}
"""


def check_sft(args, tailor):
    """--tailor-loss kind=sft then --tailor-autodiff: the loss and d loss / d w
    against PyTorch (F.cross_entropy on the shifted labels, ignore_index
    -100, autograd), in float64."""
    import torch
    import torch.nn.functional as F
    src = os.path.join(args.work, "sft.mlir")
    with open(src, "w") as f:
        f.write(SFT_MODEL)
    outs = {}
    for tag, passes in (("loss", "--tailor-loss"), ("grad", "--tailor-loss")):
        out = os.path.join(args.work, f"sft.{tag}.mlir")
        cmd = [os.path.join(args.bin, "tailor-opt"), src, passes, "-o", out]
        if tag == "grad":
            cmd.insert(3, "--tailor-autodiff=wrt=w")
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL sft-loss: {' '.join(cmd)}\n{r.stderr}")
            return 1
        outs[tag] = tailor.load(tailor.compile(out, out[:-5] + ".so"))
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 4, 3))
    w = rng.normal(size=(3, 5))
    labels = np.array([[-100, -100, 3, 1], [2, 0, -100, 4]], dtype=np.int64)
    got = outs["grad"].run({"x": x, "w": w, "labels": labels})
    plain = outs["loss"].run({"x": x, "w": w, "labels": labels})
    wt = torch.tensor(w, requires_grad=True)
    logits = torch.tensor(x) @ wt
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, 5), torch.tensor(labels)[:, 1:].reshape(-1),
                          ignore_index=-100)
    ref.backward()
    failures = 0
    loss_err = max(abs(float(got["loss"]) - ref.item()), abs(float(plain["loss"]) - ref.item()))
    grad_err = np.abs(np.asarray(got["grad.w"]) - wt.grad.numpy()).max() / np.abs(wt.grad.numpy()).max()
    if not loss_err <= 1e-12 * max(1.0, abs(ref.item())):
        print(f"FAIL sft-loss: loss {float(got['loss'])} vs PyTorch {ref.item()}")
        failures += 1
    if not grad_err <= 1e-9:
        print(f"FAIL sft-loss: d loss / d w differs from PyTorch autograd by {grad_err:.2e}")
        failures += 1
    if not failures:
        print(f"ok   sft-loss: loss {ref.item():.6f} (abs error {loss_err:.1e}), "
              f"d/dw vs PyTorch autograd {grad_err:.1e}")
    return failures


REWARD_MODEL = """func.func @main_graph(%x: tensor<4x3xf64> {onnx.name = "x"}, %w: tensor<3x1xf64> {onnx.name = "w"}) -> (tensor<4x1xf64> {onnx.name = "scores"}) {
  %l = "tailor.onnx.MatMul"(%x, %w) : (tensor<4x3xf64>, tensor<3x1xf64>) -> tensor<4x1xf64>
  return %l : tensor<4x1xf64>
}
"""

# tailor-loss options per case, as TRL / the reference define the formulas.
LOSS_CASES = {
    "dpo": "kind=dpo beta=0.5",
    "dpo-smoothed": "kind=dpo beta=0.3 label-smoothing=0.1",
    "robust": "kind=robust beta=0.4 label-smoothing=0.2",
    "hinge": "kind=hinge beta=0.7",
    "ipo": "kind=ipo beta=0.2",
    "simpo": "kind=simpo beta=2.0 simpo-gamma=0.5 label-smoothing=0.1",
    "orpo": "kind=orpo beta=0.3",
    "kto": "kind=kto beta=0.5 desirable-weight=1.5 undesirable-weight=0.8",
    "reward": "kind=reward center-rewards=0.01",
    "kd-forward": "kind=kd temperature=2.0",
    "kd-reverse": "kind=kd temperature=0.5 kd-direction=reverse",
}


def torch_loss(name, options, torch, F, logits, labels, ref, teacher):
    """The same loss written with PyTorch (TRL's formulas)."""
    opts = dict(o.split("=") for o in options.split())
    beta = float(opts.get("beta", 0.1))
    eps = float(opts.get("label-smoothing", 0.0))
    if name == "reward":
        s = logits.reshape(-1)
        rc, rr = s[:2], s[2:]
        return (-F.logsigmoid(rc - rr).mean()
                + float(opts["center-rewards"]) * ((rc + rr) ** 2).mean())
    lab = labels[:, 1:]
    mask = lab != -100
    if name.startswith("kd"):
        t = float(opts["temperature"])
        ls = (logits[:, :-1] / t).log_softmax(-1)
        lt = (teacher[:, :-1] / t).log_softmax(-1)
        if opts.get("kd-direction", "forward") == "forward":
            kl = F.kl_div(ls, lt, reduction="none", log_target=True).sum(-1)   # KL(t || s)
        else:
            kl = F.kl_div(lt, ls, reduction="none", log_target=True).sum(-1)   # KL(s || t)
        return (kl * mask).sum() / mask.sum()   # TRL: batchmean with labels
    lp = logits[:, :-1].log_softmax(-1)
    tok = torch.gather(lp, 2, lab.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
    logps, counts = tok.sum(-1), mask.sum(-1).clamp(min=1)
    if name == "simpo":
        a = logps / counts
        z = beta * ((a[:2] - a[2:]) - float(opts["simpo-gamma"]) / beta)
        return (-(1 - eps) * F.logsigmoid(z) - eps * F.logsigmoid(-z)).mean()
    if name == "orpo":
        a = logps / counts
        log_odds = (a[:2] - a[2:]) - (torch.log1p(-torch.exp(a[:2])) - torch.log1p(-torch.exp(a[2:])))
        nll = -logps[:2].sum() / mask[:2].sum()
        return nll - beta * F.logsigmoid(log_odds).mean()
    rho = logps - ref
    if name == "kto":
        main, kl_rows = rho[:2], rho[2:]
        kl = kl_rows.mean().clamp(min=0).detach()
        desirable = torch.tensor([True, False])
        good = float(opts["desirable-weight"]) * (1 - torch.sigmoid(beta * (main - kl)))
        bad = float(opts["undesirable-weight"]) * (1 - torch.sigmoid(beta * (kl - main)))
        return torch.where(desirable, good, bad).mean()
    if name == "ipo":
        r = rho / counts
        return (((r[:2] - r[2:]) - 1 / (2 * beta)) ** 2).mean()
    d = beta * (rho[:2] - rho[2:])
    if name == "hinge":
        return torch.relu(1 - d).mean()
    if name == "robust":
        return ((-(1 - eps) * F.logsigmoid(d) + eps * F.logsigmoid(-d)) / (1 - 2 * eps)).mean()
    return (-(1 - eps) * F.logsigmoid(d) - eps * F.logsigmoid(-d)).mean()


def check_losses(args, tailor):
    """Every tailor-loss kind (then --tailor-autodiff) against the same
    formula written with PyTorch, and its gradient against autograd, in
    float64: 2 chosen + 2 rejected rows (prompt positions -100), reference
    log-probabilities, teacher logits."""
    import torch
    import torch.nn.functional as F
    failures = 0
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 5, 3))
    xr = rng.normal(size=(4, 3))
    labels = rng.integers(0, 5, size=(4, 5))
    labels[:, :2] = -100
    labels[1, 4] = -100        # padding
    ref = rng.normal(size=4) - 4.0
    teacher = rng.normal(size=(4, 5, 5))
    for name, options in LOSS_CASES.items():
        if args.only and args.only != name:
            continue
        reward = name == "reward"
        src = os.path.join(args.work, f"loss-{name}.mlir")
        with open(src, "w") as f:
            f.write(REWARD_MODEL if reward else SFT_MODEL.replace("2x4", "4x5"))
        out = os.path.join(args.work, f"loss-{name}.grad.mlir")
        cmd = [os.path.join(args.bin, "tailor-opt"), src, f"--tailor-loss={options}",
               "--tailor-autodiff=wrt=w", "-o", out]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL loss {name}: {' '.join(cmd)}\n{r.stderr}")
            failures += 1
            continue
        model = tailor.load(tailor.compile(out, out[:-5] + ".so"))
        w = rng.normal(size=(3, 1) if reward else (3, 5))
        case_ref = ref.copy()
        if name == "kto":
            case_ref[2:] -= 6.0   # a positive KL estimate (else clamped to 0)
        feeds = {"x": xr if reward else x, "w": w}
        names = {i["name"] for i in model.inputs}
        for key, value in (("labels", labels.astype(np.int64)), ("ref_logps", case_ref),
                           ("teacher_logits", teacher), ("desirable", np.array([True, False]))):
            if key in names:
                feeds[key] = value
        got = model.run(feeds)
        wt = torch.tensor(w, requires_grad=True)
        logits = torch.tensor(feeds["x"]) @ wt
        ref_loss = torch_loss(name, options, torch, F, logits, torch.tensor(labels),
                              torch.tensor(case_ref), torch.tensor(teacher))
        ref_loss.backward()
        loss = float(np.asarray(got["loss"]))
        loss_err = abs(loss - ref_loss.item()) / max(1e-12, abs(ref_loss.item()))
        g = np.asarray(got["grad.w"])
        grad_err = np.abs(g - wt.grad.numpy()).max() / max(np.abs(wt.grad.numpy()).max(), 1e-30)
        if name == "kto" and not float(np.asarray(got["kl"])) > 0.5:
            print(f"FAIL loss kto: the KL estimate {float(np.asarray(got['kl']))} does not test "
                  "the stop-gradient path")
            failures += 1
        if not (loss_err <= 1e-9 and grad_err <= 1e-9):
            print(f"FAIL loss {name} ({options}): loss {loss} vs PyTorch {ref_loss.item()} "
                  f"(relative {loss_err:.1e}), gradient {grad_err:.1e}")
            failures += 1
        else:
            extra = f" (KL estimate {float(np.asarray(got['kl'])):.3f})" if name == "kto" else ""
            print(f"ok   loss {name} ({options}){extra}: {loss:.6f}, relative error "
                  f"{loss_err:.1e}, d/dw vs autograd {grad_err:.1e}")
    return failures


MOE_MODEL = """func.func @main_graph(%x: tensor<2x4x3xf64> {onnx.name = "x"}, %w: tensor<3x5xf64> {onnx.name = "w"}, %wr: tensor<3x4xf64> {onnx.name = "wr"}) -> (tensor<2x4x5xf64> {onnx.name = "logits"}, tensor<2x4x4xf64> {onnx.name = "router_logits.0"}, tensor<8x4xf64> {onnx.name = "router_logits.1"}) {
  %l = "tailor.onnx.MatMul"(%x, %w) : (tensor<2x4x3xf64>, tensor<3x5xf64>) -> tensor<2x4x5xf64>
  %r0 = "tailor.onnx.MatMul"(%x, %wr) : (tensor<2x4x3xf64>, tensor<3x4xf64>) -> tensor<2x4x4xf64>
  %t = "tailor.onnx.Tanh"(%r0) : (tensor<2x4x4xf64>) -> tensor<2x4x4xf64>
  %shape = "tailor.onnx.Constant"() {value = dense<[8, 4]> : tensor<2xi64>} : () -> tensor<2xi64>
  %r1 = "tailor.onnx.Reshape"(%t, %shape) : (tensor<2x4x4xf64>, tensor<2xi64>) -> tensor<8x4xf64>
  return %l, %r0, %r1 : tensor<2x4x5xf64>, tensor<2x4x4xf64>, tensor<8x4xf64>
}
"""


def check_router_aux(args, tailor):
    """kind=sft with router-aux-coef: the SFT loss plus Hugging Face's
    load_balancing_loss_func over two layers' router logits (top-2 of 4
    experts), and d loss / d (w, router weights), against PyTorch in
    float64."""
    import torch
    import torch.nn.functional as F
    src = os.path.join(args.work, "moe-aux.mlir")
    with open(src, "w") as f:
        f.write(MOE_MODEL)
    out = os.path.join(args.work, "moe-aux.grad.mlir")
    cmd = [os.path.join(args.bin, "tailor-opt"), src,
           "--tailor-loss=router-aux-coef=0.02 router-top-k=2",
           "--tailor-autodiff=wrt=w,wr", "-o", out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL moe-aux: {' '.join(cmd)}\n{r.stderr}")
        return 1
    model = tailor.load(tailor.compile(out, out[:-5] + ".so"))
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 4, 3))
    w = rng.normal(size=(3, 5))
    wr = rng.normal(size=(3, 4))
    labels = rng.integers(0, 5, size=(2, 4))
    labels[0, 0] = -100
    got = model.run({"x": x, "w": w, "wr": wr, "labels": labels.astype(np.int64)})
    wt = torch.tensor(w, requires_grad=True)
    wrt = torch.tensor(wr, requires_grad=True)
    xt = torch.tensor(x)
    logits = xt @ wt
    r0 = xt @ wrt
    r1 = torch.tanh(r0).reshape(8, 4)
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, 5), torch.tensor(labels)[:, 1:].reshape(-1),
                         ignore_index=-100)
    # transformers' load_balancing_loss_func (no attention mask)
    gate = torch.cat([r0.reshape(-1, 4), r1], dim=0)
    routing = F.softmax(gate, dim=-1)
    _, selected = torch.topk(routing, 2, dim=-1)
    expert_mask = F.one_hot(selected, 4)
    tokens_per_expert = torch.mean(expert_mask.double(), dim=0)
    router_prob = torch.mean(routing, dim=0)
    aux = torch.sum(tokens_per_expert * router_prob.unsqueeze(0)) * 4
    ref = ce + 0.02 * aux
    ref.backward()
    loss = float(np.asarray(got["loss"]))
    loss_err = abs(loss - ref.item()) / abs(ref.item())
    grad_err = max(np.abs(np.asarray(got["grad." + n]) - t.grad.numpy()).max()
                   / np.abs(t.grad.numpy()).max() for n, t in (("w", wt), ("wr", wrt)))
    if not (loss_err <= 1e-9 and grad_err <= 1e-9):
        print(f"FAIL moe-aux: loss {loss} vs PyTorch {ref.item()} ({loss_err:.1e}), "
              f"gradients {grad_err:.1e}")
        return 1
    print(f"ok   moe-aux (sft + 0.02 x load balancing, aux {aux.item():.6f}): loss "
          f"relative error {loss_err:.1e}, d/dw, d/dwr vs autograd {grad_err:.1e}")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--python", required=True, help="the build's python folder (tailor bindings)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--only")
    ap.add_argument("--rtol", type=float, default=1e-6)
    args = ap.parse_args()
    sys.path.insert(0, args.python)
    import tailor  # noqa: E402 (the build's bindings)
    os.makedirs(args.work, exist_ok=True)
    failures = 0
    for name, case in CASES.items():
        if args.only and name != args.only:
            continue
        arguments, wrt, body = case[:3]
        rtol, h = (case[3], case[4]) if len(case) > 3 else (args.rtol, 1e-6)
        fwd = os.path.join(args.work, name + ".mlir")
        grad = os.path.join(args.work, name + ".grad.mlir")
        with open(fwd, "w") as f:
            f.write(module_text(arguments, body))
        r = subprocess.run([os.path.join(args.bin, "tailor-opt"), fwd,
                            "--tailor-autodiff=wrt=" + ",".join(wrt), "-o", grad],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {name}: tailor-opt --tailor-autodiff\n{r.stderr}")
            failures += 1
            continue
        try:
            f_model = tailor.load(tailor.compile(fwd, fwd[:-5] + ".so"))
            g_model = tailor.load(tailor.compile(grad, grad[:-5] + ".so"))
        except tailor.TailorError as e:
            print(f"FAIL {name}: compile: {e}")
            failures += 1
            continue
        rng = np.random.default_rng(7)
        feeds = {}
        for n, s in arguments:
            shape = tuple(int(d) for d in s.split("x")) if s else ()
            feeds[n] = rng.uniform(0.3, 1.3, size=shape) * rng.choice([-1.0, 1.0], size=shape) \
                if n not in ("p",) else np.array(rng.uniform(1.5, 2.5))
        out = g_model.run(feeds)
        loss = float(np.asarray(f_model.run(feeds)["loss"]))
        if abs(float(np.asarray(out["loss"])) - loss) > 1e-12 * max(1.0, abs(loss)):
            print(f"FAIL {name}: the gradient function's loss {float(out['loss'])} != {loss}")
            failures += 1
        worst = 0.0
        before = failures
        for n in wrt:
            g = np.asarray(out["grad." + n])
            x = feeds[n]
            fd = np.zeros_like(x)
            for idx in np.ndindex(*x.shape) if x.shape else [()]:
                plus = {**feeds, n: x.copy()}
                minus = {**feeds, n: x.copy()}
                plus[n][idx] += h
                minus[n][idx] -= h
                fd[idx] = (float(np.asarray(f_model.run(plus)["loss"]))
                           - float(np.asarray(f_model.run(minus)["loss"]))) / (2 * h)
            scale = max(np.abs(fd).max(), 1e-12)
            err = np.abs(g - fd).max() / scale
            worst = max(worst, err)
            if not (err <= rtol) or g.shape != x.shape:
                print(f"FAIL {name}: d loss / d {n}: max error {err:.2e} of the largest "
                      f"{scale:.3e} (shape {g.shape} vs {x.shape})")
                failures += 1
        if failures == before:
            print(f"ok   {name}: {', '.join(wrt)} (max relative error {worst:.1e})")
    if not args.only or args.only == "sft-loss":
        failures += check_sft(args, tailor)
    failures += check_losses(args, tailor)
    if not args.only or args.only == "moe-aux":
        failures += check_router_aux(args, tailor)
    print("PASS" if not failures else f"FAIL ({failures})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
