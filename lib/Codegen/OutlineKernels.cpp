//===- OutlineKernels.cpp - One function per distinct linalg kernel -------===//
//
// A decoder repeats the same layer N times: the same matrix products, norms
// and activations with the same shapes, only the weights differ. Each
// linalg op becomes a call to a private kernel function whose
// body is that op; structurally identical kernels share one function. The
// code the later passes and LLVM see shrinks by about the layer count, and
// no function grows so large that LLVM's optimizer slows down on it.
// A contraction's output fill goes into the contraction's kernel.

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

/// The linalg.fill that initializes `op`'s output when `op` is a contraction
/// the strategy tiles (not a micro-kernel call): the fill moves into the
/// contraction's kernel, where tailor-tile-contractions fuses it into the
/// tiles and the accumulators start at the fill value (no separate pass
/// that fills the whole output, no re-reading of it).
/// An output reshaped from a fill (tailor-pack-weights views a product's
/// output as column panels) gets a fill of the reshaped init instead.
linalg::FillOp absorbedFill(linalg::LinalgOp op) {
  if (op->hasAttr("library_call") || op.getNumDpsInits() != 1 ||
      !op.hasPureTensorSemantics() || !linalg::isaContractionOpInterface(op))
    return {};
  OpOperand &init = op.getDpsInitsMutable()[0];
  Operation *reshape = init.get().getDefiningOp();
  if (reshape && isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(reshape)) {
    auto fill = reshape->getOperand(0).getDefiningOp<linalg::FillOp>();
    if (!fill || !fill.hasPureTensorSemantics())
      return {};
    OpBuilder b(op);
    IRMapping map;
    map.map(fill.getResult(0), fill.getDpsInits()[0]);
    Value view = b.clone(*reshape, map)->getResult(0);
    auto moved = linalg::FillOp::create(b, fill.getLoc(),
                                        fill.getDpsInputs()[0], view);
    init.set(moved.getResult(0));
    if (reshape->use_empty())
      reshape->erase();
    return moved;
  }
  auto fill = init.get().getDefiningOp<linalg::FillOp>();
  if (!fill || !fill.hasPureTensorSemantics())
    return {};
  return fill;
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
    // Fills absorbed by their contraction; a fill shared by several (CSE
    // merges equal zero inits) is cloned per contraction first.
    llvm::DenseMap<Operation *, linalg::FillOp> fillOf;
    llvm::SmallPtrSet<Operation *, 16> absorbed;
    for (linalg::LinalgOp op : ops) {
      linalg::FillOp fill = absorbedFill(op);
      if (!fill)
        continue;
      if (!fill->hasOneUse()) {
        OpBuilder b(op);
        fill = cast<linalg::FillOp>(b.clone(*fill));
        op.getDpsInitsMutable()[0].set(fill.getResult(0));
      }
      fillOf[op] = fill;
      absorbed.insert(fill);
    }
    llvm::erase_if(ops, [&](linalg::LinalgOp op) {
      if (absorbed.contains(op))
        return true;
      if (isa<linalg::FillOp>(op) && op->use_empty()) {
        op->erase();
        return true;
      }
      return false;
    });
    unsigned counter = 0;
    for (linalg::LinalgOp op : ops) {
      auto parentFn = op->getParentOfType<func::FuncOp>();
      linalg::FillOp fill = fillOf.lookup(op);
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
      SmallVector<Value> cloned;
      for (OpOperand &operand : op->getOpOperands()) {
        if (fill && operand.get() == fill.getResult(0)) {
          for (Value v : fill->getOperands()) {
            SmallVector<Value> &list = cloneIntoKernel(v) ? cloned : args;
            if (!llvm::is_contained(list, v))
              list.push_back(v);
          }
          continue;
        }
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
      for (Value v : captured) {
        if (cloneIntoKernel(v)) {
          if (!llvm::is_contained(cloned, v))
            cloned.push_back(v);
        }
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
      if (fill)
        b.clone(*fill, map);
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
      if (fill)
        fill->erase();
      for (tensor::ExtractSliceOp slice : slices)
        if (slice->use_empty())
          slice->erase();
      ++numCalls;
    }
  }
};
} // namespace
