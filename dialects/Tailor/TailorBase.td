//===- TailorBase.td - The tailor dialect and its op base classes ---------===//

#ifndef TAILOR_BASE_TD
#define TAILOR_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

def Tailor_Dialect : Dialect {
  let name = "tailor";
  let cppNamespace = "::mlir::tailor";
  let summary = "Tailor: ONNX-level and LLM-level ops for tailoring language models";
  let description = [{
    The `tailor` dialect holds a model at two levels. `tailor.onnx.*` ops are
    ONNX operators, generated from the ONNX library's own schemas: operands,
    attributes, defaults and type constraints match ONNX exactly, and their
    verifiers and result-type inference run ONNX's own shape-inference
    functions. LLM ops (`tailor.linear`, `tailor.attention`, norms, rotary,
    MoE, ...) are what `--tailor-raise` rewrites exported subgraphs into.
  }];
  let hasConstantMaterializer = 1;
  let useDefaultAttributePrinterParser = 0;
}

class Tailor_Op<string mnemonic, list<Trait> traits = []>
    : Op<Tailor_Dialect, mnemonic, traits>;

#endif // TAILOR_BASE_TD
