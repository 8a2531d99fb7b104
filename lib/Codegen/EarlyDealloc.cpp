//===- EarlyDealloc.cpp - Free owned buffers after their last use ---------===//
//
// MLIR's ownership-based buffer deallocation frees every buffer at the end
// of the block that allocated it, guarded by a runtime ownership flag. In a
// model's entry function (one block, one call per kernel) that keeps every
// intermediate tensor alive until the function returns: peak memory is the
// sum of all of them, and every buffer is fresh memory the OS must fault in
// and zero (a 512-token prefill spent more time in page faults than in
// kernels). A buffer allocated in the function's block that provably does
// not alias anything the function returns is always owned: its guarded
// dealloc (or, where the ownership is known statically, its unconditional
// dealloc at the end of the block) becomes an unconditional one right after
// the last use of the buffer or any view of it.

#include "mlir/Analysis/AliasAnalysis.h"
#include "mlir/Dialect/Bufferization/Transforms/BufferViewFlowAnalysis.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Interfaces/CallInterfaces.h"
#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILOREARLYDEALLOC
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
struct EarlyDeallocPass
    : mlir::tailor::impl::TailorEarlyDeallocBase<EarlyDeallocPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal() || !func.getBody().hasOneBlock())
      return;
    Block &block = func.getBody().front();
    BufferViewFlowAnalysis views(func);
    // Each dealloc with the op that holds it: its scf.if guard, or itself
    // when the ownership is static (the simplification then leaves an
    // unconditional dealloc at the end of the block).
    SmallVector<std::pair<memref::DeallocOp, Operation *>> deallocs;
    for (Operation &op : block) {
      if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
        deallocs.push_back({dealloc, dealloc});
        continue;
      }
      auto ifOp = dyn_cast<scf::IfOp>(op);
      if (!ifOp)
        continue;
      Block *then = ifOp.thenBlock();
      if (ifOp.getNumResults() || ifOp.elseBlock() ||
          then->getOperations().size() != 2)
        continue;
      if (auto dealloc = dyn_cast<memref::DeallocOp>(then->front()))
        deallocs.push_back({dealloc, ifOp});
    }
    for (auto [dealloc, holder] : deallocs) {
      Value buffer = dealloc.getMemref();
      auto alloc = buffer.getDefiningOp<memref::AllocOp>();
      if (!alloc || alloc->getBlock() != &block)
        continue;
      // The buffer and every view of it (reshapes, subviews, casts, ...);
      // a call's memref results may alias its arguments (the analysis does
      // not see through calls): they count as views too.
      llvm::SetVector<Value> aliases;
      SmallVector<Value> worklist{buffer};
      while (!worklist.empty()) {
        Value v = worklist.pop_back_val();
        for (Value a : views.resolve(v)) {
          if (!aliases.insert(a))
            continue;
          for (Operation *user : a.getUsers())
            if (isa<CallOpInterface>(user))
              for (Value r : user->getResults())
                if (isa<BaseMemRefType>(r.getType()))
                  worklist.push_back(r);
        }
      }
      Operation *last = alloc;
      bool escapes = false;
      for (Value alias : aliases) {
        for (Operation *user : alias.getUsers()) {
          if (user == dealloc ||
              isa<memref::ExtractAlignedPointerAsIndexOp>(user))
            continue; // addresses for the ownership checks: not reads
          Operation *top = block.findAncestorOpInBlock(*user);
          if (!top || isa<func::ReturnOp>(top)) {
            escapes = true;
            break;
          }
          if (last->isBeforeInBlock(top))
            last = top;
        }
        if (escapes)
          break;
      }
      if (escapes || last->hasTrait<OpTrait::IsTerminator>())
        continue;
      OpBuilder b(func.getContext());
      b.setInsertionPointAfter(last);
      memref::DeallocOp::create(b, dealloc.getLoc(), buffer);
      holder->erase();
      ++numMoved;
    }
  }
};
} // namespace
