//===- LowerLibraryCalls.cpp - Micro-kernel generics become calls ---------===//
//
// The lowering emits a product that a micro-kernel computes as a
// linalg.generic with `library_call = "tailor_..."` (its body the exact
// semantics), so that tiling and bufferization treat it like any other
// linalg op. On buffers, this pass replaces it by the call, with upstream's
// LinalgToStandard pattern, after checking the operands against the
// kernel's C signature (lib/Runtime/UKernels.c).

#include "mlir/Conversion/LinalgToStandard/LinalgToStandard.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORLOWERLIBRARYCALLS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
/// An operand of a kernel: its rank and element type ('i': i8, 'f': f32).
struct Arg {
  int64_t rank;
  char type;
};

/// The kernels of lib/Runtime/UKernels.c and their operands, in order.
std::optional<SmallVector<Arg>> signatureOf(StringRef name) {
  if (name == "tailor_q4_matmul")
    return SmallVector<Arg>{{4, 'i'}, {2, 'f'}, {4, 'i'}, {3, 'f'}, {3, 'f'}};
  if (name == "tailor_q4z_matmul")
    return SmallVector<Arg>{{4, 'i'}, {2, 'f'}, {4, 'i'},
                            {3, 'f'}, {3, 'i'}, {3, 'f'}};
  if (name == "tailor_q8_matmul")
    return SmallVector<Arg>{{3, 'i'}, {2, 'f'}, {4, 'i'}, {2, 'f'}, {3, 'f'}};
  return std::nullopt;
}

struct LowerLibraryCallsPass
    : mlir::tailor::impl::TailorLowerLibraryCallsBase<LowerLibraryCallsPass> {
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> calls;
    bool ok = true;
    getOperation().walk([&](linalg::GenericOp op) {
      std::optional<StringRef> name = op.getLibraryCall();
      if (!name || !name->starts_with("tailor_"))
        return;
      if (failed(check(op, *name)))
        ok = false;
      else
        calls.push_back(op);
    });
    if (!ok)
      return signalPassFailure();
    PatternRewriter rewriter(&getContext());
    linalg::LinalgOpToLibraryCallRewrite toCall(&getContext());
    for (linalg::GenericOp op : calls) {
      // One declaration serves every call: operands as fully dynamic
      // memrefs (sizes and strides are in the descriptor anyway).
      rewriter.setInsertionPoint(op);
      for (OpOperand &operand : op->getOpOperands()) {
        auto type = cast<MemRefType>(operand.get().getType());
        SmallVector<int64_t> sizes(type.getRank(), ShapedType::kDynamic);
        auto dynamic = MemRefType::get(
            sizes, type.getElementType(),
            StridedLayoutAttr::get(&getContext(), ShapedType::kDynamic,
                                   sizes),
            type.getMemorySpace());
        if (dynamic != type)
          rewriter.modifyOpInPlace(op, [&] {
            operand.set(memref::CastOp::create(rewriter, op.getLoc(), dynamic,
                                               operand.get()));
          });
      }
      if (failed(toCall.matchAndRewrite(op, rewriter))) {
        op.emitOpError("could not be turned into a call of ")
            << *op.getLibraryCall();
        return signalPassFailure();
      }
      ++numCalls;
    }
  }

  LogicalResult check(linalg::GenericOp op, StringRef name) {
    std::optional<SmallVector<Arg>> signature = signatureOf(name);
    if (!signature)
      return op.emitOpError("names an unknown micro-kernel '") << name << "'";
    if (!op.hasPureBufferSemantics())
      return op.emitOpError("calls ")
             << name << " on tensors: bufferize first";
    if (op->getNumOperands() != signature->size())
      return op.emitOpError() << name << " takes " << signature->size()
                              << " operands, not " << op->getNumOperands();
    for (auto [i, operand, arg] :
         llvm::enumerate(op->getOperands(), *signature)) {
      auto type = dyn_cast<MemRefType>(operand.getType());
      Type elt = type ? type.getElementType() : Type();
      bool typeOk =
          elt && (arg.type == 'i' ? elt.isInteger(8) : elt.isF32());
      if (!type || type.getRank() != arg.rank || !typeOk)
        return op.emitOpError("operand ")
               << i << " of " << name << " must be a rank-" << arg.rank << " "
               << (arg.type == 'i' ? "i8" : "f32")
               << " memref, not " << operand.getType();
    }
    return success();
  }
};
} // namespace
