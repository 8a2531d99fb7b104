//===- Recompute.cpp - Activation recomputation in a training step --------===//
//
// tailor-autodiff leaves one function: the forward ops, then the backward
// ops, which read activations the forward computed. Every such activation
// stays alive from its forward definition to its backward use, so the peak
// holds the saved activations of every layer at once. Gradient
// checkpointing keeps only some of them (the checkpoints) and computes the
// others again, segment by segment, right before the backward needs them.
//
// Segments are cut where the forward's data flow narrows to one value (the
// residual stream between blocks): at such a cut point, nothing computed
// before it is read after it except that value and the "global" values
// that live through most of the forward (a causal mask, rotary tables).
// A segment's copy is computed from its checkpoint (and the globals), at the
// first backward op that reads one of its activations, and the backward ops
// read the copies. The forward values then die at their last forward use
// (bufferization frees them; see tailor-early-dealloc).

#include "tailor/Transforms/Entry.h"
#include "tailor/Transforms/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORRECOMPUTE
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
/// Bytes of a statically shaped tensor value; -1 otherwise.
int64_t bytesOf(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t || !t.hasStaticShape() || !t.getElementType().isIntOrFloat())
    return -1;
  int64_t bits = std::max<int64_t>(8, t.getElementTypeBitWidth());
  return t.getNumElements() * (bits / 8);
}

std::string humanBytes(int64_t bytes) {
  if (bytes >= 1000000)
    return llvm::formatv("{0:F1} MB", bytes / 1e6).str();
  if (bytes >= 1000)
    return llvm::formatv("{0:F1} KB", bytes / 1e3).str();
  return llvm::formatv("{0} bytes", bytes).str();
}

struct Segment {
  Segment(int64_t begin, int64_t end) : begin(begin), end(end) {}
  /// Forward positions [begin, end).
  int64_t begin, end;
  /// Its activations read by backward ops, and those reads.
  SmallVector<Value> saved;
  SmallVector<OpOperand *> reads;
  int64_t savedBytes = 0;
  bool recompute = false;
};

struct RecomputePass
    : mlir::tailor::impl::TailorRecomputeBase<RecomputePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp fn = mlir::tailor::findEntry(module);
    if (!fn || !fn.getBody().hasOneBlock()) {
      module.emitError() << "tailor-recompute: no single-block entry function";
      return signalPassFailure();
    }
    if (policy != "sqrt" && policy != "every-k" && policy != "budget" &&
        policy != "none") {
      fn.emitError() << "tailor-recompute: policy must be sqrt, every-k, "
                        "budget or none, not '"
                     << policy << "'";
      return signalPassFailure();
    }
    if (policy == "every-k" && k < 1) {
      fn.emitError() << "tailor-recompute: k must be at least 1";
      return signalPassFailure();
    }
    if (policy == "budget" && budget <= 0) {
      fn.emitError()
          << "tailor-recompute: policy=budget needs budget=<bytes> > 0";
      return signalPassFailure();
    }
    Block &block = fn.getBody().front();
    Operation *terminator = block.getTerminator();
    Value loss;
    for (unsigned i = 0; i < fn.getNumResults(); ++i)
      if (auto n = fn.getResultAttrOfType<StringAttr>(i, "onnx.name");
          n && n.getValue() == "loss")
        loss = terminator->getOperand(i);
    if (!loss || !loss.getDefiningOp()) {
      fn.emitError() << "tailor-recompute: the entry returns no computed "
                        "'loss' (run tailor-loss and tailor-autodiff first)";
      return signalPassFailure();
    }
    if (policy == "none")
      return;

    // The forward: the ops the loss depends on, in block order.
    llvm::SmallPtrSet<Operation *, 32> inForward;
    SmallVector<Operation *> worklist{loss.getDefiningOp()};
    while (!worklist.empty()) {
      Operation *op = worklist.pop_back_val();
      if (!inForward.insert(op).second)
        continue;
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp();
            def && def->getBlock() == &block)
          worklist.push_back(def);
    }
    // Only ops that depend on the inputs count: the rest (weights, shape
    // arithmetic, with static shapes the rotary tables and the causal
    // mask) are constants to the recomputation, kept as they are.
    llvm::SmallPtrSet<Operation *, 32> dataDependent;
    // Inputs are data; parameters (trainable or frozen arguments) are not:
    // what depends on them alone (a fake-quantized weight, a transposed
    // LoRA matrix) is the same in the backward as in the forward.
    auto isData = [&](Value v) {
      if (Operation *def = v.getDefiningOp())
        return dataDependent.contains(def);
      auto arg = cast<BlockArgument>(v);
      return arg.getOwner() != &block ||
             !(fn.getArgAttr(arg.getArgNumber(), "tailor.trainable") ||
               fn.getArgAttr(arg.getArgNumber(), "tailor.frozen"));
    };
    SmallVector<Operation *> forward;
    DenseMap<Operation *, int64_t> position;
    for (Operation &op : block)
      if (inForward.contains(&op) && llvm::any_of(op.getOperands(), isData)) {
        dataDependent.insert(&op);
        if (op.getNumRegions()) {
          op.emitError() << "tailor-recompute: forward ops with regions are "
                            "not supported";
          return signalPassFailure();
        }
        position[&op] = forward.size();
        forward.push_back(&op);
      }
    int64_t n = forward.size();
    if (n < 4)
      return;

    // Live ranges within the forward of its (non-constant) activations.
    auto lastForwardUse = [&](Value v) {
      int64_t last = -1;
      for (Operation *user : v.getUsers())
        if (auto it = position.find(user); it != position.end())
          last = std::max(last, it->second);
      return last;
    };
    // Globals: values live through more than half of the forward.
    llvm::SmallPtrSet<Value, 16> globals;
    std::vector<int64_t> crossing(n + 1, 0);
    for (int64_t i = 0; i < n; ++i)
      for (Value v : forward[i]->getResults()) {
        if (!isData(v))
          continue;
        int64_t last = lastForwardUse(v);
        if (last <= i)
          continue;
        if (last - i > n / 2) {
          globals.insert(v);
          continue;
        }
        // v crosses the boundaries after ops i .. last-1.
        crossing[i] += 1;
        crossing[last] -= 1;
      }
    for (int64_t i = 1; i <= n; ++i)
      crossing[i] += crossing[i - 1];
    // Cut points: boundaries (after op i) where the fewest values cross,
    // that minimum taken over the middle of the forward; a run of
    // consecutive ones (a chain of elementwise ops) counts once, at its end.
    int64_t lo = n / 10, hi = n - 1 - n / 10;
    int64_t least = std::numeric_limits<int64_t>::max();
    for (int64_t i = lo; i < hi; ++i)
      least = std::min(least, crossing[i]);
    SmallVector<int64_t> cuts;
    for (int64_t i = 0; i < n - 1; ++i) {
      if (crossing[i] != least)
        continue;
      if (!cuts.empty() && cuts.back() == i - 1)
        cuts.back() = i;
      else
        cuts.push_back(i);
    }
    numCutPoints = cuts.size();
    if (cuts.size() < 2) {
      fn.emitRemark() << "tailor-recompute: " << cuts.size()
                      << " cut point(s) in the forward: nothing to recompute";
      return;
    }

    // Checkpoints: every `stride`-th cut point.
    int64_t stride =
        policy == "every-k"
            ? int64_t(k)
            : std::max<int64_t>(1, std::ceil(std::sqrt(double(cuts.size()))));
    SmallVector<Segment> segments;
    int64_t begin = 0;
    for (size_t c = stride - 1; c < cuts.size(); c += stride) {
      segments.emplace_back(begin, cuts[c] + 1);
      begin = cuts[c] + 1;
    }
    segments.emplace_back(begin, n); // the loss: never recomputed

    // What each segment saves for the backward: its activations read by
    // ops outside the forward (not the return), apart from the value it
    // ends with (the next checkpoint, kept) and the globals.
    int64_t checkpointBytes = 0, globalBytes = 0, before = 0;
    for (Value g : globals)
      globalBytes += std::max<int64_t>(0, bytesOf(g));
    bool unknownSize = false;
    for (Segment &s : segments) {
      for (int64_t i = s.begin; i < s.end; ++i)
        for (Value v : forward[i]->getResults()) {
          if (!isData(v) || globals.contains(v))
            continue;
          bool crossesEnd = lastForwardUse(v) >= s.end;
          if (crossesEnd && s.end < n) {
            checkpointBytes += std::max<int64_t>(0, bytesOf(v));
            continue;
          }
          // Reads by the backward: ops after the whole forward (an op
          // between forward ops that computes another output of the model
          // keeps reading the forward's value).
          SmallVector<OpOperand *> reads;
          for (OpOperand &use : v.getUses())
            if (Operation *owner =
                    block.findAncestorOpInBlock(*use.getOwner());
                owner && !inForward.contains(owner) && owner != terminator &&
                forward.back()->isBeforeInBlock(owner))
              reads.push_back(&use);
          if (reads.empty())
            continue;
          s.saved.push_back(v);
          s.reads.append(reads);
          int64_t bytes = bytesOf(v);
          unknownSize |= bytes < 0;
          s.savedBytes += std::max<int64_t>(0, bytes);
        }
      before += s.savedBytes;
    }

    // Which segments to recompute: all but the last, or (budget) from the
    // first on until the estimate fits.
    auto estimate = [&]() {
      int64_t kept = checkpointBytes + globalBytes, largest = 0;
      for (Segment &s : segments) {
        if (s.recompute)
          largest = std::max(largest, s.savedBytes);
        else
          kept += s.savedBytes;
      }
      return kept + largest;
    };
    // The segment the backward reads first (the loss's, or the one before
    // it when a cut point falls just before the loss) would be computed
    // again right after the forward: kept.
    size_t first = segments.size();
    Operation *firstRead = nullptr;
    for (size_t i = 0; i < segments.size(); ++i)
      for (OpOperand *use : segments[i].reads) {
        Operation *owner = block.findAncestorOpInBlock(*use->getOwner());
        if (!firstRead || owner->isBeforeInBlock(firstRead)) {
          firstRead = owner;
          first = i;
        }
      }
    for (size_t i = 0; i < segments.size(); ++i) {
      if (policy == "budget" && estimate() <= budget)
        break;
      segments[i].recompute =
          i != first && i + 1 != segments.size() && !segments[i].saved.empty();
    }
    int64_t after = estimate();

    // The copies, at the first backward read of each segment.
    int64_t recomputed = 0, cloned = 0;
    for (Segment &s : segments) {
      if (!s.recompute)
        continue;
      Operation *at = nullptr;
      for (OpOperand *use : s.reads) {
        Operation *owner = block.findAncestorOpInBlock(*use->getOwner());
        if (!at || owner->isBeforeInBlock(at))
          at = owner;
      }
      // The ops the saved values depend on within the segment.
      llvm::SmallPtrSet<Operation *, 32> needed;
      SmallVector<Operation *> stack;
      for (Value v : s.saved)
        stack.push_back(v.getDefiningOp());
      while (!stack.empty()) {
        Operation *op = stack.pop_back_val();
        if (!needed.insert(op).second)
          continue;
        for (Value operand : op->getOperands())
          if (Operation *def = operand.getDefiningOp();
              def && position.count(def) && position[def] >= s.begin &&
              position[def] < s.end)
            stack.push_back(def);
      }
      OpBuilder b(at);
      IRMapping map;
      for (int64_t i = s.begin; i < s.end; ++i) {
        Operation *op = forward[i];
        if (!needed.contains(op))
          continue;
        for (Value operand : op->getOperands()) {
          if (map.contains(operand) || !isData(operand))
            continue;
          Operation *def = operand.getDefiningOp();
          bool inside = def && position.count(def) &&
                        position[def] >= s.begin && position[def] < s.end;
          if (!inside && isa<TensorType>(operand.getType()))
            map.map(operand,
                    tailor::RecomputeBarrierOp::create(
                        b, operand.getLoc(), operand.getType(), operand));
        }
        b.clone(*op, map);
        ++cloned;
      }
      for (OpOperand *use : s.reads)
        use->set(map.lookup(use->get()));
      ++recomputed;
    }
    numSegments += recomputed;
    numCloned += cloned;
    auto remark = fn.emitRemark();
    remark << "tailor-recompute (" << policy << "): " << cuts.size()
           << " cut points, " << segments.size() << " segments, " << recomputed
           << " recomputed (" << cloned << " ops); saved activations "
           << humanBytes(before + checkpointBytes + globalBytes)
           << " -> at most " << humanBytes(after);
    if (unknownSize)
      remark << " (estimate: some sizes are dynamic)";
  }
};
} // namespace
