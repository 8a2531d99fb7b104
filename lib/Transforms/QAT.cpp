//===- QAT.cpp - Fake quantization for quantization-aware training --------===//
//
// tailor-quantize qat=true: the trainable weights that tailor-peft
// method=full made arguments are read through tailor.fake_quant, the
// round-to-nearest quantization tailor-quantize applies to constants, in
// float; tailor-autodiff passes the gradient straight through it. After
// training, tailor-quantize (RTN, same mode) on the trained weights gives
// the integer model whose outputs the training forward already computed.

#include "QuantizedWeights.h"

#include "tailor/Dialect/Tailor.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/Regex.h"

using namespace mlir;
using namespace mlir::tailor;

LogicalResult mlir::tailor::insertFakeQuant(Operation *op, int64_t bits,
                                            int64_t groupSize, bool symmetric,
                                            ArrayRef<std::string> exclude,
                                            int64_t &inserted) {
  auto fn = cast<func::FuncOp>(op);
  std::vector<llvm::Regex> excluded;
  for (const std::string &p : exclude) {
    llvm::Regex re(p);
    std::string why;
    if (!re.isValid(why))
      return fn.emitError("tailor-quantize: bad exclude regex '")
             << p << "': " << why;
    excluded.push_back(std::move(re));
  }
  DenseMap<Value, Value> quantized; // argument -> its fake_quant
  SmallVector<OnnxMatMulOp> sites;
  fn.walk([&](OnnxMatMulOp mm) {
    auto arg = dyn_cast<BlockArgument>(mm.getB());
    if (arg && arg.getOwner() == &fn.getBody().front() &&
        fn.getArgAttr(arg.getArgNumber(), "tailor.trainable"))
      sites.push_back(mm);
  });
  for (OnnxMatMulOp mm : sites) {
    auto arg = cast<BlockArgument>(mm.getB());
    auto name =
        fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "onnx.name");
    StringRef weight = name ? name.getValue() : "<unnamed>";
    if (llvm::any_of(excluded,
                     [&](const llvm::Regex &re) { return re.match(weight); }))
      continue;
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (!type || type.getRank() != 2 || !type.getElementType().isF32() ||
        type.isDynamicDim(0))
      return mm.emitError("tailor-quantize: qat needs a static [K, N] f32 "
                          "weight, not ")
             << arg.getType() << " ('" << weight << "')";
    if (bits == 4 && type.getDimSize(0) % groupSize != 0)
      return mm.emitError("tailor-quantize: group-size ")
             << groupSize << " does not divide K = " << type.getDimSize(0)
             << " of '" << weight << "'";
    Value &fq = quantized[arg];
    if (!fq) {
      OpBuilder b(fn.getBody());
      fq = FakeQuantOp::create(b, arg.getLoc(), type, arg,
                               b.getI64IntegerAttr(bits),
                               b.getI64IntegerAttr(bits == 8 ? 0 : groupSize),
                               b.getBoolAttr(bits == 8 ? true : symmetric));
      ++inserted;
    }
    mm.getBMutable().assign(fq);
  }
  if (!inserted)
    return fn.emitError("tailor-quantize: qat=true found no trainable MatMul "
                        "weight (make the weights trainable first: "
                        "tailor-peft method=full)");
  return success();
}
