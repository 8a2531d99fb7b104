//===- FoldFillCopies.cpp - A copy of a filled buffer becomes a fill ------===//
//
// CSE merges the identical zero-filled init tensors of a model's products
// into one; bufferization must then give each product that accumulates
// into it a private copy (and a reshaped view of it a copy of the copy): a
// training step of the 12.8M test model copied about 480 MB per step this
// way. On buffers, a `memref.copy` whose source buffer (through full-size
// reshapes) is written only by one fill before the copy, and is otherwise
// only read by copies up to the copy, becomes a `linalg.fill` of the
// target with the same value; a fill whose buffer is then read by nothing is erased. A fill is a
// `linalg.fill` or a call of an outlined kernel (tailor-outline-kernels)
// whose only writes are fills of its scalar argument into its buffer
// argument or subviews of it (a fill tiled for the threads: the tiles
// cover the buffer).

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORFOLDFILLCOPIES
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
/// Views of a whole buffer (same elements, no offset).
bool isFullView(Operation *op) {
  return isa<memref::ExpandShapeOp, memref::CollapseShapeOp, memref::CastOp>(
      op);
}

/// Whether `callee` is an outlined fill (tailor-outline-kernels), possibly
/// tiled for the threads (an scf.forall of fills of subviews, perhaps
/// behind tailor-parallelize-generics' run-time check: the tiles cover the
/// buffer): its only writes are linalg.fill of argument 0 into views of
/// argument 1.
bool isFillKernel(func::FuncOp callee) {
  if (callee.isExternal() || !callee->hasAttr("tailor.kernel") ||
      callee.getNumArguments() != 2 || callee.getNumResults() != 0 ||
      !callee.getBody().hasOneBlock())
    return false;
  Block &body = callee.getBody().front();
  bool fills = false, other = false;
  body.walk([&](Operation *inner) {
    if (auto fill = dyn_cast<linalg::FillOp>(inner)) {
      Value out = fill.getOutputs()[0];
      while (auto view = out.getDefiningOp<memref::SubViewOp>())
        out = view.getSource();
      if (fill.hasPureBufferSemantics() &&
          fill.getInputs()[0] == body.getArgument(0) &&
          out == body.getArgument(1))
        fills = true;
      else
        other = true;
      return;
    }
    if (!isa<memref::SubViewOp, scf::ForallOp, scf::InParallelOp, scf::ForOp,
             scf::IfOp, scf::YieldOp, func::ReturnOp>(inner) &&
        !isMemoryEffectFree(inner))
      other = true;
  });
  return fills && !other;
}

/// The names of the module's fill kernels (computed once, before any
/// function is changed).
using FillKernels = llvm::DenseSet<StringAttr>;

/// The value a fill writes and the buffer it fills, if `op` is a fill.
std::optional<std::pair<Value, Value>> asFill(Operation *op,
                                              const FillKernels &kernels) {
  if (auto fill = dyn_cast<linalg::FillOp>(op)) {
    if (!fill.hasPureBufferSemantics())
      return std::nullopt;
    return std::make_pair(fill.getInputs()[0], fill.getOutputs()[0]);
  }
  auto call = dyn_cast<func::CallOp>(op);
  if (!call || call.getNumOperands() != 2 || call.getNumResults() != 0 ||
      !kernels.contains(call.getCalleeAttr().getAttr()))
    return std::nullopt;
  return std::make_pair(call.getOperand(0), call.getOperand(1));
}

/// The users of a buffer (an alloc and its full-size views, which are
/// looked through).
SmallVector<OpOperand *> usesOf(Value alloc) {
  SmallVector<OpOperand *> uses;
  SmallVector<Value> worklist{alloc};
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    for (OpOperand &use : v.getUses()) {
      if (isFullView(use.getOwner()))
        worklist.push_back(use.getOwner()->getResult(0));
      else
        uses.push_back(&use);
    }
  }
  return uses;
}

/// Whether `use` only reads the buffer: a copy from it or its dealloc.
bool onlyReads(OpOperand *use) {
  Operation *user = use->getOwner();
  if (isa<memref::DeallocOp>(user))
    return true;
  auto copy = dyn_cast<memref::CopyOp>(user);
  return copy && use->getOperandNumber() == 0;
}

/// Whether `use` is a fill of the whole buffer.
bool isFillOf(OpOperand *use, const FillKernels &kernels) {
  auto fill = asFill(use->getOwner(), kernels);
  return fill && fill->second == use->get();
}

struct FoldFillCopiesPass
    : mlir::tailor::impl::TailorFoldFillCopiesBase<FoldFillCopiesPass> {
  void runOnOperation() override {
    FillKernels kernels;
    getOperation().walk([&](func::FuncOp f) {
      if (isFillKernel(f))
        kernels.insert(f.getSymNameAttr());
    });
    getOperation().walk([&](func::FuncOp f) { runOn(f, kernels); });
  }

  void runOn(func::FuncOp func, const FillKernels &kernels) {
    // Until nothing changes: a copy of a copy of a fill folds once the
    // inner copy has become a fill.
    for (bool changed = true; changed;) {
      changed = false;
      SmallVector<memref::CopyOp> copies;
      func.walk([&](memref::CopyOp copy) { copies.push_back(copy); });
      for (memref::CopyOp copy : copies)
        if (fold(copy, kernels)) {
          ++numFolded;
          changed = true;
        }
    }
    // Fills of buffers that nothing reads any more.
    SmallVector<memref::AllocOp> allocs;
    func.walk([&](memref::AllocOp alloc) { allocs.push_back(alloc); });
    for (memref::AllocOp alloc : allocs) {
      SmallVector<OpOperand *> uses = usesOf(alloc);
      SmallVector<Operation *> fills;
      bool read = false;
      for (OpOperand *use : uses) {
        if (isFillOf(use, kernels))
          fills.push_back(use->getOwner());
        else if (!isa<memref::DeallocOp>(use->getOwner()))
          read = true;
      }
      if (read)
        continue;
      for (Operation *fill : fills) {
        fill->erase();
        ++numErased;
      }
    }
  }

  /// Replaces `copy` by a fill when its source holds one fill's value: the
  /// source buffer's users before the copy (in its block) are that fill and
  /// reads; users after it do not matter.
  bool fold(memref::CopyOp copy, const FillKernels &kernels) {
    Value base = copy.getSource();
    while (Operation *def = base.getDefiningOp()) {
      if (!isFullView(def))
        break;
      base = def->getOperand(0);
    }
    auto alloc = base.getDefiningOp<memref::AllocOp>();
    // A buffer allocated in the copy's block: each run of the block has a
    // fresh one, which no use after the copy can feed back to a write
    // before it (a loop's iter_args).
    Block *block = copy->getBlock();
    if (!alloc || alloc->getBlock() != block)
      return false;
    Operation *fill = nullptr;
    for (OpOperand *use : usesOf(alloc)) {
      if (use->getOwner() == copy.getOperation())
        continue;
      Operation *at = block->findAncestorOpInBlock(*use->getOwner());
      if (!at)
        return false; // in another block: unknown order
      if (copy->isBeforeInBlock(at))
        continue;
      if (isFillOf(use, kernels)) {
        if (fill)
          return false;
        fill = use->getOwner();
        continue;
      }
      if (!onlyReads(use))
        return false;
    }
    if (!fill || fill->getBlock() != block)
      return false;
    OpBuilder b(copy);
    linalg::FillOp::create(b, copy.getLoc(),
                           ValueRange{asFill(fill, kernels)->first},
                           ValueRange{copy.getTarget()});
    copy.erase();
    return true;
  }
};
} // namespace
