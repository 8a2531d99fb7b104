//===- OutlineKernels.cpp - One function per distinct linalg kernel -------===//
//
// A decoder repeats the same layer N times: the same matrix products, norms
// and activations with the same shapes, only the weights differ. Each
// linalg op becomes a call to a private kernel function whose
// body is that op; structurally identical kernels share one function. The
// code the later passes and LLVM see shrinks by about the layer count, and
// no function grows so large that LLVM's optimizer slows down on it.

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"
#include "tailor/Transforms/Passes.h"

#include "llvm/ADT/StringMap.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILOROUTLINEKERNELS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
/// Small constants used inside a kernel are cloned into it (they shape the
/// code); anything else it captures becomes an argument.
bool cloneIntoKernel(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def || !def->hasTrait<OpTrait::ConstantLike>())
    return false;
  auto shaped = dyn_cast<ShapedType>(v.getType());
  return !shaped || (shaped.hasStaticShape() && shaped.getNumElements() <= 16);
}

struct OutlineKernelsPass
    : mlir::tailor::impl::TailorOutlineKernelsBase<OutlineKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::StringMap<func::FuncOp> byBody;
    SmallVector<linalg::LinalgOp> ops;
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal() || fn->hasAttr("tailor.kernel"))
        continue;
      fn.walk([&](linalg::LinalgOp op) {
        if (!op->getParentOfType<linalg::LinalgOp>())
          ops.push_back(op);
      });
    }
    unsigned counter = 0;
    for (linalg::LinalgOp op : ops) {
      auto parentFn = op->getParentOfType<func::FuncOp>();
      // Arguments: the op's operands, then what its body captures. An input
      // that is a slice of a larger tensor is sliced inside the kernel
      // instead: the whole tensor is passed (a strided view at the call
      // would be copied to fit the kernel's identity-layout argument; a
      // decode step's attention reads the valid prefix of the KV cache
      // this way). Micro-kernel calls (library_call) take their operands
      // as they are.
      SmallVector<tensor::ExtractSliceOp> slices;
      SmallVector<Value> args;
      bool library = op->hasAttr("library_call");
      for (OpOperand &operand : op->getOpOperands()) {
        auto slice = operand.get().getDefiningOp<tensor::ExtractSliceOp>();
        bool onlyInput =
            slice && !library && op.isDpsInput(&operand) &&
            llvm::none_of(op.getDpsInitsMutable(), [&](OpOperand &init) {
              return init.get() == operand.get();
            });
        if (!onlyInput) {
          if (!llvm::is_contained(args, operand.get()))
            args.push_back(operand.get());
          continue;
        }
        if (llvm::is_contained(slices, slice))
          continue;
        slices.push_back(slice);
        for (Value v : slice->getOperands())
          if (!llvm::is_contained(args, v))
            args.push_back(v);
      }
      llvm::SetVector<Value> captured;
      getUsedValuesDefinedAbove(op->getRegions(), captured);
      SmallVector<Value> cloned;
      for (Value v : captured) {
        if (cloneIntoKernel(v))
          cloned.push_back(v);
        else if (!llvm::is_contained(args, v))
          args.push_back(v);
      }
      OpBuilder b(module.getContext());
      b.setInsertionPoint(parentFn);
      auto type = b.getFunctionType(ValueRange(args).getTypes(),
                                    op->getResultTypes());
      std::string name =
          (parentFn.getName() + "_kernel_" + Twine(counter++)).str();
      while (module.lookupSymbol(name))
        name += "_";
      auto kernel = func::FuncOp::create(b, op.getLoc(), name, type);
      kernel.setPrivate();
      kernel->setAttr("tailor.kernel", b.getUnitAttr());
      Block *body = kernel.addEntryBlock();
      IRMapping map;
      for (auto [from, to] : llvm::zip(args, body->getArguments()))
        map.map(from, to);
      b.setInsertionPointToStart(body);
      for (Value v : cloned)
        map.map(v, b.clone(*v.getDefiningOp())->getResult(0));
      for (tensor::ExtractSliceOp slice : slices)
        b.clone(*slice, map);
      Operation *copy = b.clone(*op, map);
      func::ReturnOp::create(b, op.getLoc(), copy->getResults());

      // The body, printed without names or locations, is the dedup key.
      std::string key;
      {
        llvm::raw_string_ostream os(key);
        os << type;
        kernel.getBody().front().walk([&](Operation *inner) {
          if (inner->getParentOp() == kernel)
            inner->print(os, OpPrintingFlags()
                                 .printGenericOpForm()
                                 .useLocalScope());
        });
      }
      func::FuncOp target = kernel;
      auto [it, inserted] = byBody.try_emplace(key, kernel);
      if (!inserted) {
        kernel.erase();
        --counter;
        target = it->second;
      } else {
        ++numKernels;
      }
      OpBuilder callBuilder(op);
      auto call = func::CallOp::create(callBuilder, op.getLoc(), target, args);
      op->replaceAllUsesWith(call.getResults());
      op->erase();
      for (tensor::ExtractSliceOp slice : slices)
        if (slice->use_empty())
          slice->erase();
      ++numCalls;
    }
  }
};
} // namespace
