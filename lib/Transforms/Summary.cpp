//===- Summary.cpp - The --tailor-summary pass: what a model holds --------===//

#include "tailor/Transforms/Passes.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <map>

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORSUMMARY
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {
std::string typeString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

std::string humanCount(int64_t n) {
  char buf[32];
  if (n >= 1000000000)
    snprintf(buf, sizeof(buf), "%.2fB", n / 1e9);
  else if (n >= 1000000)
    snprintf(buf, sizeof(buf), "%.2fM", n / 1e6);
  else if (n >= 1000)
    snprintf(buf, sizeof(buf), "%.1fK", n / 1e3);
  else
    snprintf(buf, sizeof(buf), "%lld", (long long)n);
  return buf;
}

void summarize(func::FuncOp func, llvm::raw_ostream &os) {
  os << "function @" << func.getName() << "\n";
  for (auto [i, t] : llvm::enumerate(func.getArgumentTypes())) {
    auto name = func.getArgAttrOfType<StringAttr>(i, "onnx.name");
    os << "  input  " << (name ? name.str() : "#" + std::to_string(i)) << ": "
       << typeString(t) << "\n";
  }
  for (auto [i, t] : llvm::enumerate(func.getResultTypes())) {
    auto name = func.getResultAttrOfType<StringAttr>(i, "onnx.name");
    os << "  output " << (name ? name.str() : "#" + std::to_string(i)) << ": "
       << typeString(t) << "\n";
  }

  int64_t parameters = 0, parameterBytes = 0;
  std::map<std::string, int64_t> llmOps, onnxOps;
  SmallVector<std::string> attention, moe;
  func.walk([&](Operation *op) {
    if (auto constant = dyn_cast<OnnxConstantOp>(op)) {
      auto type = dyn_cast<RankedTensorType>(constant.getType());
      if (type && type.hasStaticShape() && isa<FloatType>(type.getElementType()) &&
          type.getNumElements() > 1) {
        parameters += type.getNumElements();
        parameterBytes +=
            type.getNumElements() * type.getElementTypeBitWidth() / 8;
      }
      return;
    }
    StringRef name = op->getName().getStringRef();
    if (!name.consume_front("tailor."))
      return;
    if (name.consume_front("onnx."))
      ++onnxOps[name.str()];
    else
      ++llmOps[name.str()];
    if (auto a = dyn_cast<AttentionOp>(op)) {
      auto q = dyn_cast<RankedTensorType>(a.getQuery().getType());
      auto k = dyn_cast<RankedTensorType>(a.getKey().getType());
      std::string s;
      llvm::raw_string_ostream line(s);
      auto dim = [](RankedTensorType t, int i) -> std::string {
        if (!t || t.isDynamicDim(i))
          return "?";
        return std::to_string(t.getDimSize(i));
      };
      line << dim(q, 1) << " query heads, " << dim(k, 1)
           << " key/value heads, head size " << dim(q, 3)
           << (a.getMask() ? ", masked" : "") << (a.getCausal() ? ", causal" : "");
      attention.push_back(s);
    }
    if (auto m = dyn_cast<MoEOp>(op)) {
      auto r = dyn_cast<RankedTensorType>(m.getRouter().getType());
      moe.push_back((r ? std::to_string(r.getDimSize(1)) : "?") +
                    " experts, top-" + std::to_string(m.getTopK()));
    }
  });

  os << "  parameters: " << humanCount(parameters) << " (" << parameters
     << " elements of float constants, buffers included; "
     << humanCount(parameterBytes) << "B)\n";
  os << "  layers (attention blocks): " << attention.size() << "\n";
  for (auto [i, a] : llvm::enumerate(attention))
    os << "    layer " << i << ": attention, " << a << "\n";
  for (auto [i, m] : llvm::enumerate(moe))
    os << "    MoE block " << i << ": " << m << "\n";
  os << "  LLM ops:";
  if (llmOps.empty())
    os << " none (run --tailor-raise)";
  for (auto &[name, count] : llmOps)
    os << " " << name << "=" << count;
  os << "\n";
  int64_t remaining = 0;
  for (auto &entry : onnxOps)
    remaining += entry.second;
  os << "  ONNX-level ops left: " << remaining;
  if (remaining) {
    SmallVector<std::pair<int64_t, std::string>> sorted;
    for (auto &[name, count] : onnxOps)
      sorted.push_back({-count, name});
    llvm::sort(sorted);
    os << " (";
    for (auto [i, entry] : llvm::enumerate(sorted)) {
      if (i == 6) {
        os << ", ...";
        break;
      }
      os << (i ? ", " : "") << entry.second << "=" << -entry.first;
    }
    os << ")";
  }
  os << "\n";
}

struct SummaryPass : public mlir::tailor::impl::TailorSummaryBase<SummaryPass> {
  using TailorSummaryBase::TailorSummaryBase;
  void runOnOperation() override {
    std::error_code ec;
    std::unique_ptr<llvm::raw_fd_ostream> file;
    if (output != "-") {
      file = std::make_unique<llvm::raw_fd_ostream>(output, ec);
      if (ec) {
        getOperation().emitError("cannot write the summary to '")
            << output << "': " << ec.message();
        return signalPassFailure();
      }
    }
    llvm::raw_ostream &os = file ? *file : llvm::errs();
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal())
        summarize(func, os);
    markAllAnalysesPreserved();
  }
};
} // namespace
