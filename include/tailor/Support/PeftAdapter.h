//===- PeftAdapter.h - Hugging Face PEFT LoRA adapters ----------*- C++ -*-===//
//
// Reads a LoRA adapter as Hugging Face PEFT saves it (`save_pretrained`):
// a directory with
//   adapter_config.json         {"peft_type": "LORA", "r": 8, "lora_alpha": 16,
//                                "use_rslora": false, "fan_in_fan_out": false,
//                                "target_modules": ["q_proj", "v_proj"],
//                                "rank_pattern": {}, "alpha_pattern": {}, ...}
//   adapter_model.safetensors   base_model.model.<module>.lora_A.weight [r, in]
//                               base_model.model.<module>.lora_B.weight [out,
//                               r] (base_model.model.<module>.lora_B.bias [out]
//                                with lora_bias)
// Every module's scale is worked out as PEFT does: lora_alpha / r, or
// lora_alpha / sqrt(r) with use_rslora, with rank_pattern / alpha_pattern
// overriding r / lora_alpha for the modules whose names they match.
// DoRA adapters (use_dora, lora_magnitude_vector [out]), AdaLoRA adapters
// (peft_type ADALORA: lora_A, lora_E, lora_B, resized by rank_pattern) and
// (IA)3 adapters
// (peft_type IA3: <module>.ia3_l, [out, 1] or for feedforward_modules
// [1, in]) are read too.
// Problems (a missing file, bad JSON, an unsupported option, a
// tensor PEFT would not write, rank or shape disagreements) are errors that
// name the file and the module.

#ifndef TAILOR_SUPPORT_PEFTADAPTER_H
#define TAILOR_SUPPORT_PEFTADAPTER_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::tailor::peft {

/// One adapted linear: delta W (PEFT's [out, in] layout) = scale * B.A;
/// with DoRA, then each output row rescaled to its magnitude; an (IA)3
/// module instead scales the weight's rows (outputs) or columns (inputs).
struct LoRAModule {
  /// The module's path in the base model, without PEFT's
  /// "base_model.model." prefix ("model.layers.0.self_attn.q_proj").
  std::string name;
  int64_t rank = 0, in = 0, out = 0;
  double scale = 1.0;
  /// lora_A.weight [rank, in] and lora_B.weight [out, rank], row-major,
  /// converted to f32 from the file's F32 / F16 / BF16 / F64.
  std::vector<float> a, b;
  /// lora_B.bias [out] (adapters trained with lora_bias), else empty.
  std::vector<float> bias;
  /// DoRA: lora_magnitude_vector [out]; W' = m / ||W + scale B.A||_row *
  /// (W + scale B.A) (PEFT's merge). Empty for plain LoRA.
  std::vector<float> magnitude;
  /// (IA)3: ia3_l, [out] (output scaling; the bias too) or with ia3Input
  /// [in] (a feed-forward module's input scaling). Empty for LoRA.
  std::vector<float> ia3;
  bool ia3Input = false;
};

struct Adapter {
  /// The directory (or safetensors file) it was read from.
  std::string path;
  /// "LORA" or "IA3".
  std::string type = "LORA";
  bool useDoRA = false;
  int64_t r = 8;
  double loraAlpha = 8;
  bool useRsLoRA = false;
  bool fanInFanOut = false;
  std::vector<LoRAModule> modules;
};

/// Reads the adapter in `path`: a directory holding adapter_config.json and
/// adapter_model.safetensors, or the .safetensors file itself with
/// adapter_config.json beside it.
llvm::Expected<Adapter> readAdapter(llvm::StringRef path);

/// The module path an ONNX node name denotes, as PyTorch's exporter names
/// nodes after their module scope: "/model/layers.0/self_attn/q_proj/MatMul"
/// -> "model.layers.0.self_attn.q_proj". Empty unless the last component is
/// a MatMul or Gemm node (other nodes are not a module's linear).
std::string modulePathOfNode(llvm::StringRef nodeName);

/// The module path of a weight initializer's name ("lm_head.weight" ->
/// "lm_head"); empty for other names.
std::string modulePathOfWeight(llvm::StringRef initializerName);

} // namespace mlir::tailor::peft

#endif // TAILOR_SUPPORT_PEFTADAPTER_H
