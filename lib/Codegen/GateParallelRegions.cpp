//===- GateParallelRegions.cpp - Small OpenMP regions on one thread -------===//
//
// Starting the threads of an omp.parallel region and joining them costs
// about as much as a few thousand operations. A decode step runs hundreds
// of regions whose whole work is about that (a norm of one row, the rotary
// embedding of one token). Each region gets an `if` clause: an estimate of its work,
// computed before it at run time, against `min-work`. Below it OpenMP runs
// the region on the calling thread.
//
// The estimate: the loop nest's iteration count times the operations of its
// first iteration (every induction variable at its lower bound). An scf.for
// counts its trip count times its body, an scf.if both branches, anything
// else one. A region with a call (a micro-kernel's product, whose work is
// not in its operands, and which gains from the threads even in a decode
// step) stays parallel. The values it needs are cloned before the region when they are pure
// functions of values defined outside it; otherwise the region is left
// unconditionally parallel.

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/CallInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORGATEPARALLELREGIONS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
/// Records the operations a builder creates, so that a failed estimate can
/// take them back.
struct RecordingListener : public OpBuilder::Listener {
  SmallVector<Operation *> created;
  void notifyOperationInserted(Operation *op,
                               OpBuilder::InsertPoint) override {
    created.push_back(op);
  }
};

/// Builds the work estimate of one region before it.
class WorkEstimate {
public:
  WorkEstimate(omp::ParallelOp region, OpBuilder &b)
      : region(region), b(b), loc(region.getLoc()) {}

  FailureOr<Value> of(Region &body) {
    if (!body.hasOneBlock())
      return failure();
    return of(body.front());
  }

private:
  Value index(int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  Value add(Value x, Value y) { return b.createOrFold<arith::AddIOp>(loc, x, y); }
  Value mul(Value x, Value y) { return b.createOrFold<arith::MulIOp>(loc, x, y); }

  /// `v` computed before the region (a clone of its pure definition chain,
  /// with the induction variables mapped to their lower bounds).
  FailureOr<Value> materialize(Value v) {
    if (Value m = map.lookupOrNull(v))
      return m;
    Operation *def = v.getDefiningOp();
    if (!def) {
      Operation *owner = cast<BlockArgument>(v).getOwner()->getParentOp();
      if (region != owner && !region->isAncestor(owner))
        return v;
      return failure(); // an iteration argument, a private copy, ...
    }
    if (!region->isAncestor(def))
      return v;
    if (def->getNumRegions() ||
        !(isPure(def) || isa<memref::DimOp>(def)))
      return failure();
    for (Value operand : def->getOperands())
      if (failed(materialize(operand)))
        return failure();
    b.clone(*def, map);
    return map.lookup(v);
  }

  /// ceil((ub - lb) / step), at least 0 (steps are positive).
  FailureOr<Value> trips(Value lb, Value ub, Value step) {
    FailureOr<Value> l = materialize(lb), u = materialize(ub),
                     s = materialize(step);
    if (failed(l) || failed(u) || failed(s))
      return failure();
    Value span = b.createOrFold<arith::SubIOp>(loc, *u, *l);
    span = b.createOrFold<arith::MaxSIOp>(loc, span, index(0));
    return b.createOrFold<arith::CeilDivSIOp>(loc, span, *s);
  }

  FailureOr<Value> of(Block &block) {
    Value total = index(0);
    for (Operation &op : block) {
      FailureOr<Value> cost = failure();
      if (auto loop = dyn_cast<scf::ForOp>(op)) {
        FailureOr<Value> n = trips(loop.getLowerBound(), loop.getUpperBound(),
                                   loop.getStep());
        if (failed(n))
          return failure();
        map.map(loop.getInductionVar(), *materialize(loop.getLowerBound()));
        FailureOr<Value> body = of(*loop.getBody());
        if (failed(body))
          return failure();
        cost = mul(*n, *body);
      } else if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
        FailureOr<Value> then = of(*ifOp.thenBlock());
        if (failed(then))
          return failure();
        cost = *then;
        if (ifOp.elseBlock()) {
          FailureOr<Value> other = of(*ifOp.elseBlock());
          if (failed(other))
            return failure();
          cost = add(*cost, *other);
        }
      } else if (auto ws = dyn_cast<omp::WsloopOp>(op)) {
        cost = of(ws.getRegion());
      } else if (auto scope = dyn_cast<memref::AllocaScopeOp>(op)) {
        cost = of(scope.getBodyRegion());
      } else if (auto nest = dyn_cast<omp::LoopNestOp>(op)) {
        Value n = index(1);
        for (auto [lb, ub, step, iv] :
             llvm::zip(nest.getLoopLowerBounds(), nest.getLoopUpperBounds(),
                       nest.getLoopSteps(), nest.getIVs())) {
          FailureOr<Value> t = trips(lb, ub, step);
          if (failed(t))
            return failure();
          n = mul(n, *t);
          map.map(iv, *materialize(lb));
        }
        FailureOr<Value> body = of(nest.getRegion());
        if (failed(body))
          return failure();
        cost = mul(n, *body);
      } else if (op.getNumRegions() || isa<CallOpInterface>(op)) {
        // A call's work (a micro-kernel's product) is not known here, and
        // the products of a decode step gain from the threads: such a
        // region stays parallel.
        return failure();
      } else {
        cost = index(1);
      }
      if (failed(cost))
        return failure();
      total = add(total, *cost);
    }
    return total;
  }

  omp::ParallelOp region;
  OpBuilder &b;
  Location loc;
  IRMapping map;
};

struct GateParallelRegionsPass
    : mlir::tailor::impl::TailorGateParallelRegionsBase<
          GateParallelRegionsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (minWork <= 0)
      return;
    SmallVector<omp::ParallelOp> regions;
    // Outermost regions only: a nested one runs on its parent's threads.
    getOperation().walk<WalkOrder::PreOrder>([&](omp::ParallelOp op) {
      regions.push_back(op);
      return WalkResult::skip();
    });
    for (omp::ParallelOp region : regions) {
      if (region.getIfExpr())
        continue;
      RecordingListener listener;
      OpBuilder b(region, &listener);
      WorkEstimate estimate(region, b);
      FailureOr<Value> work = estimate.of(region.getRegion());
      auto rollback = [&] {
        for (Operation *op : llvm::reverse(listener.created))
          op->erase();
      };
      if (failed(work)) {
        rollback();
        ++numUnknown;
        continue;
      }
      APInt constant;
      if (matchPattern(*work, m_ConstantInt(&constant))) {
        rollback();
        if (constant.getSExtValue() >= minWork)
          continue;
        OpBuilder cb(region);
        region.getIfExprMutable().assign(
            arith::ConstantIntOp::create(cb, region.getLoc(), 0, 1));
        ++numSerial;
        continue;
      }
      Value threshold =
          arith::ConstantIndexOp::create(b, region.getLoc(), minWork);
      Value parallel = arith::CmpIOp::create(
          b, region.getLoc(), arith::CmpIPredicate::sge, *work, threshold);
      region.getIfExprMutable().assign(parallel);
      ++numGated;
    }
  }
};
} // namespace
