//===- AssertToError.cpp - Failed run-time checks return an error ---------===//
//
// cf.assert lowers to `puts(message); abort()`: a shape relation checked at
// run time (two dynamic sizes that must broadcast) would kill the process
// that embeds the model. This pass makes the failing branch call
// `tailor_rt_fail(message)` instead: the C runtime returns from the run
// with an error carrying the message (outside a runtime call, it prints the
// message and aborts as before).

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORASSERTTOERROR
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
struct AssertToErrorPass
    : mlir::tailor::impl::TailorAssertToErrorBase<AssertToErrorPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<std::pair<LLVM::CallOp, LLVM::CallOp>> sites;
    module.walk([&](LLVM::CallOp call) {
      auto callee = call.getCallee();
      if (!callee || *callee != "abort")
        return;
      auto puts = dyn_cast_or_null<LLVM::CallOp>(call->getPrevNode());
      if (puts && puts.getCallee() && *puts.getCallee() == "puts" &&
          puts.getNumOperands() == 1)
        sites.emplace_back(puts, call);
    });
    if (sites.empty())
      return;
    OpBuilder b(module.getBodyRegion());
    auto ptr = LLVM::LLVMPointerType::get(module.getContext());
    auto type = LLVM::LLVMFunctionType::get(
        LLVM::LLVMVoidType::get(module.getContext()), {ptr});
    auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>("tailor_rt_fail");
    if (!fn) {
      b.setInsertionPointToStart(module.getBody());
      fn = LLVM::LLVMFuncOp::create(b, module.getLoc(), "tailor_rt_fail",
                                    type);
    }
    for (auto [puts, abort] : sites) {
      b.setInsertionPoint(puts);
      LLVM::CallOp::create(b, puts.getLoc(), fn, puts.getOperands());
      abort.erase();
      puts.erase();
      ++numRewritten;
    }
  }
};
} // namespace
