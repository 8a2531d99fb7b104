//===- KLBudget.cpp - Per-layer quantization within a KL budget -----------===//

#include "tailor/Execution/KLBudget.h"
#include "tailor/Execution/JitModel.h"
#include "tailor/Execution/TokenWindows.h"
#include "tailor/Dialect/Tailor.h"
#include "tailor/Transforms/LinearNames.h"
#include "tailor/Transforms/Passes.h"
#include "tailor-c/abi.h"
#include "tailor-c/tailor.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Regex.h"

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace mlir;
using namespace mlir::tailor;

static constexpr const char *kProbeInput = "tailor.kl_probe";

llvm::Expected<KLCandidate>
mlir::tailor::parseKLCandidate(llvm::StringRef name, int64_t groupSize,
                               llvm::StringRef method, bool symmetric) {
  KLCandidate c;
  c.name = name.str();
  if (name == "int4" || name.starts_with("int4-g")) {
    c.step.mode = "int4";
    c.step.groupSize = groupSize;
    if (name != "int4" && (name.drop_front(6).getAsInteger(10, c.step.groupSize) ||
                           c.step.groupSize < 1))
      return llvm::createStringError("candidate '" + name.str() +
                                     "': int4-gN needs a group size N >= 1");
    if (method == "gptq" || method == "awq")
      c.step.method = method.str();
    c.step.symmetric = symmetric;
    return c;
  }
  if (name == "int8" || name == "w8a8") {
    c.step.mode = name.str();
    if (name == "w8a8" && method == "smoothquant")
      c.step.method = "smoothquant";
    return c;
  }
  return llvm::createStringError("unknown candidate '" + name.str() +
                                 "' (known: int4, int4-gN, int8, w8a8)");
}

/// Weight bytes of a [k, n] linear under `step` (integers, scales, zero
/// points), as the artifact stores them.
static double stepBytes(const QuantizeStep &step, int64_t k, int64_t n) {
  if (step.mode == "int4") {
    double groups = double(k / step.groupSize) * double(n);
    return double(k) * double(n) / 2 + 4 * groups +
           (step.symmetric ? 0 : groups / 2);
  }
  return double(k) * double(n) + 4.0 * double(n);
}

std::vector<QuantizeStep>
KLPlan::steps(llvm::ArrayRef<KLCandidate> cands) const {
  std::vector<QuantizeStep> out;
  for (size_t c = 0; c < cands.size(); ++c) {
    QuantizeStep step = cands[c].step;
    for (const KLLayer &layer : layers)
      if (layer.choice == int(c))
        step.only.push_back(llvm::Regex::escape(layer.name));
    if (!step.only.empty())
      out.push_back(std::move(step));
  }
  return out;
}

llvm::json::Value KLPlan::toJSON() const {
  llvm::json::Array list;
  for (const KLLayer &layer : layers) {
    llvm::json::Object kl;
    for (size_t c = 0; c < candidates.size(); ++c)
      if (layer.kl[c] >= 0)
        kl[candidates[c]] = layer.kl[c];
    list.push_back(llvm::json::Object{
        {"name", layer.name},
        {"k", layer.k},
        {"n", layer.n},
        {"linears", layer.count},
        {"choice", layer.choice < 0 ? std::string("f32")
                                    : candidates[layer.choice]},
        {"kl", std::move(kl)}});
  }
  llvm::json::Object steps;
  for (size_t c = 0; c < candidates.size() && c < settings.size(); ++c)
    steps[candidates[c]] = llvm::json::Object{
        {"mode", settings[c].mode},
        {"group_size", settings[c].groupSize},
        {"method", settings[c].method},
        {"symmetric", settings[c].symmetric}};
  return llvm::json::Object{{"max_kl", maxKL},
                            {"estimated_kl", estimatedKL},
                            {"measured_kl", measuredKL},
                            {"windows", windows},
                            {"window", width},
                            {"f32_bytes", f32Bytes},
                            {"plan_bytes", planBytes},
                            {"candidates", llvm::json::Array(candidates)},
                            {"settings", std::move(steps)},
                            {"layers", std::move(list)}};
}

void KLPlan::print(llvm::raw_ostream &os) const {
  size_t nameWidth = 8;
  for (const KLLayer &layer : layers)
    nameWidth = std::max(nameWidth, layer.name.size());
  os << llvm::format("%-*s %11s", int(nameWidth), "linear", "K x N");
  for (const std::string &c : candidates)
    os << llvm::format(" %12s", (c + " KL").c_str());
  os << "  choice\n";
  for (const KLLayer &layer : layers) {
    std::string shape = std::to_string(layer.k) + "x" + std::to_string(layer.n);
    os << llvm::format("%-*s %11s", int(nameWidth), layer.name.c_str(),
                       shape.c_str());
    for (double kl : layer.kl)
      if (kl < 0)
        os << llvm::format(" %12s", "-");
      else
        os << llvm::format(" %12.3e", kl);
    os << "  " << (layer.choice < 0 ? "f32" : candidates[layer.choice]) << "\n";
  }
  std::vector<int> counts(candidates.size() + 1, 0);
  for (const KLLayer &layer : layers)
    ++counts[layer.choice + 1];
  os << "choices:";
  for (size_t c = 0; c <= candidates.size(); ++c)
    os << " " << (c ? candidates[c - 1] : std::string("f32")) << " "
       << counts[c];
  os << llvm::format("\nweights of these linears: %.2f MB -> %.2f MB (%.3fx)\n",
                     f32Bytes / 1e6, planBytes / 1e6,
                     f32Bytes > 0 ? planBytes / f32Bytes : 1.0);
  os << llvm::format("KL(fp32 || plan): %.3e measured, %.3e the sum of the "
                     "layers' own (budget %.3e), on %lld windows of %lld "
                     "tokens\n",
                     measuredKL, estimatedKL, maxKL, (long long)windows,
                     (long long)width);
}

namespace {
/// Clones the side-effect-free ops `value` is computed from (constants and
/// quant.scast) before the builder's insertion point.
LogicalResult cloneConstantTree(OpBuilder &b, Value value, IRMapping &map) {
  if (map.contains(value))
    return success();
  Operation *def = value.getDefiningOp();
  if (!def || def->getNumRegions() || !isMemoryEffectFree(def))
    return failure();
  for (Value operand : def->getOperands())
    if (failed(cloneConstantTree(b, operand, map)))
      return failure();
  b.clone(*def, map);
  return success();
}

/// The entry (the one public function with a body).
func::FuncOp entryOf(ModuleOp module) {
  func::FuncOp entry;
  for (auto f : module.getOps<func::FuncOp>())
    if (f.isPublic() && !f.isExternal()) {
      if (entry)
        return {};
      entry = f;
    }
  return entry;
}

/// Runs the probe model over windows and compares with the reference.
struct ProbeRunner {
  tailor_model *model = nullptr;
  const TokenWindowSet *windows = nullptr;
  int64_t batch = 8, slots = 0, vocab = 0;
  std::vector<float> refLog; // [rows * w * vocab]

  /// Mean KL(reference || probe with `switches`) per token; with
  /// `reference`, records the logits as the reference instead.
  llvm::Expected<double> run(const std::vector<float> &switches,
                             bool reference = false) {
    int64_t rows = windows->rows, w = windows->width;
    std::vector<int64_t> ids;
    std::vector<double> logp, logq;
    int64_t shape[1] = {slots};
    NamedInput probe{kProbeInput,
                     {TAILOR_FLOAT32, 1, shape, nullptr,
                      const_cast<float *>(switches.data())}};
    double kl = 0;
    for (int64_t r0 = 0; r0 < rows; r0 += batch) {
      int64_t n = std::min(batch, rows - r0);
      ids.resize(n * w);
      for (int64_t r = 0; r < n; ++r)
        std::memcpy(&ids[r * w], windows->row(r0 + r), w * sizeof(int64_t));
      auto result = runTokenWindows(model, ids.data(), n, w, probe);
      if (!result)
        return result.takeError();
      auto logits = windowLogits(result->get(), n, w, vocab);
      if (!logits)
        return logits.takeError();
      const float *data = *logits;
      if (reference)
        refLog.resize(rows * w * vocab);
      for (int64_t p = 0; p < n * w; ++p) {
        float *ref = &refLog[(r0 * w + p) * vocab];
        logSoftmax(data + p * vocab, vocab, logq);
        if (reference) {
          if (!std::all_of(logq.begin(), logq.end(),
                           [](double x) { return !std::isnan(x); }))
            return llvm::createStringError(
                "the fp32 model's logits are not finite on the calibration "
                "windows");
          std::copy(logq.begin(), logq.end(), ref);
          continue;
        }
        logp.assign(ref, ref + vocab);
        kl += klDivergence(logp.data(), logq.data(), vocab);
      }
    }
    return kl / double(rows * w);
  }
};
} // namespace

FailureOr<KLPlan> mlir::tailor::planForKLBudget(ModuleOp raised,
                                                const CompileOptions &options,
                                                const KLBudgetOptions &budget,
                                                llvm::raw_ostream &log) {
  MLIRContext *ctx = raised.getContext();
  auto fail = [&](const llvm::Twine &message) -> FailureOr<KLPlan> {
    raised.emitError("--max-kl: ") << message;
    return failure();
  };
  if (!(budget.maxKL >= 0) || !std::isfinite(budget.maxKL))
    return fail("the budget must be a finite KL >= 0 (nats/token)");
  if (budget.candidates.empty())
    return fail("no candidate settings");
  auto windows = readTokenWindows(budget.tokensPath, 128, budget.windows);
  if (!windows)
    return fail(llvm::toString(windows.takeError()));

  OwningOpRef<ModuleOp> base(raised.clone());
  if (!options.loraAdapters.empty()) {
    // Merged first, as the optimize phase does.
    PassManager pm(ctx);
    TailorLoRAMergeOptions lora;
    lora.adapters.assign(options.loraAdapters.begin(),
                         options.loraAdapters.end());
    lora.adapterWeights.assign(options.loraAdapterWeights.begin(),
                               options.loraAdapterWeights.end());
    lora.moduleMap.assign(options.loraModuleMap.begin(),
                          options.loraModuleMap.end());
    pm.addPass(createTailorLoRAMerge(lora));
    if (failed(pm.run(*base)))
      return failure();
  }
  func::FuncOp entry = entryOf(*base);
  if (!entry)
    return fail("the model needs exactly one public function");

  // The units: linears with constant f32 weights, by module name.
  std::vector<llvm::Regex> excluded;
  for (const std::string &pattern : options.quantizeExclude) {
    llvm::Regex re("^(" + pattern + ")$");
    std::string why;
    if (!re.isValid(why))
      return fail("exclude pattern '" + pattern + "': " + why);
    excluded.push_back(std::move(re));
  }
  KLPlan plan;
  plan.maxKL = budget.maxKL;
  plan.windows = windows->rows;
  plan.width = windows->width;
  for (const KLCandidate &c : budget.candidates) {
    plan.candidates.push_back(c.name);
    plan.settings.push_back(c.step);
  }
  size_t numCandidates = budget.candidates.size();
  SmallVector<LinearOp> linears;
  std::vector<int> unitOf;
  llvm::StringMap<int> unitByName;
  entry.walk([&](LinearOp linear) {
    linears.push_back(linear);
    unitOf.push_back(-1);
    auto type = dyn_cast<RankedTensorType>(linear.getWeight().getType());
    if (!type || type.getRank() != 2 || !type.hasStaticShape() ||
        !type.getElementType().isF32() ||
        !getConstantElements(linear.getWeight()))
      return;
    SmallVector<std::string> names = linearNames(linear);
    if (names.empty())
      return;
    for (const std::string &name : names)
      for (const llvm::Regex &re : excluded)
        if (re.match(name))
          return;
    auto [it, added] = unitByName.try_emplace(names.front(),
                                              int(plan.layers.size()));
    if (added) {
      KLLayer layer;
      layer.name = names.front();
      layer.k = type.getDimSize(0);
      layer.n = type.getDimSize(1);
      layer.kl.assign(numCandidates, 0.0);
      layer.bytes.assign(numCandidates, 0.0);
      plan.layers.push_back(std::move(layer));
    }
    KLLayer &layer = plan.layers[it->second];
    ++layer.count;
    layer.f32Bytes += 4.0 * double(type.getNumElements());
    for (size_t c = 0; c < numCandidates; ++c) {
      const QuantizeStep &step = budget.candidates[c].step;
      if (step.mode == "int4" && type.getDimSize(0) % step.groupSize)
        layer.kl[c] = -1; // not applicable
      layer.bytes[c] += stepBytes(step, type.getDimSize(0), type.getDimSize(1));
    }
    unitOf.back() = it->second;
  });
  if (plan.layers.empty())
    return fail("no named linear with a constant f32 weight to quantize");

  // Each candidate quantizes a copy (only the units it applies to).
  std::vector<OwningOpRef<ModuleOp>> variants(numCandidates);
  std::vector<SmallVector<LinearOp>> variantLinears(numCandidates);
  std::vector<SmallVector<Value>> variantInputs(numCandidates);
  for (size_t c = 0; c < numCandidates; ++c) {
    QuantizeStep step = budget.candidates[c].step;
    for (const KLLayer &layer : plan.layers)
      if (layer.kl[c] >= 0)
        step.only.push_back(llvm::Regex::escape(layer.name));
    if (step.only.empty())
      continue;
    log << "  quantizing a copy: " << budget.candidates[c].name << "\n";
    variants[c] = OwningOpRef<ModuleOp>(base->clone());
    entryOf(*variants[c]).walk([&](LinearOp linear) {
      variantLinears[c].push_back(linear);
      variantInputs[c].push_back(linear.getInput());
    });
    if (variantLinears[c].size() != linears.size())
      return fail("internal error: a copy has a different number of linears");
    CompileOptions quantize = options;
    quantize.quantize.clear();
    quantize.quantizePlan = {step};
    PassManager pm(ctx);
    addQuantizePasses(pm, quantize);
    if (failed(pm.run(*variants[c])))
      return failure();
  }

  // Calibrated methods find a linear's statistics by its key; a unit of
  // several linears keys all but the first by position ("linear.<i>"),
  // which shifts once earlier steps of a plan have quantized others: such
  // units take only round-to-nearest candidates.
  for (KLLayer &layer : plan.layers)
    for (size_t c = 0; c < numCandidates; ++c)
      if (layer.count > 1 && budget.candidates[c].step.method != "rtn")
        layer.kl[c] = -1;

  // A unit some of whose linears a candidate left in f32 (a weight shared
  // with an excluded linear, say) cannot take that candidate.
  for (size_t c = 0; c < numCandidates; ++c)
    for (size_t i = 0; i < linears.size(); ++i) {
      if (unitOf[i] < 0 || plan.layers[unitOf[i]].kl[c] < 0)
        continue;
      auto w = dyn_cast<RankedTensorType>(
          variantLinears[c][i].getWeight().getType());
      if (w && w.getElementType().isF32())
        plan.layers[unitOf[i]].kl[c] = -1;
    }

  // The probe: one switch per (unit, candidate), an extra f32 input.
  std::vector<std::vector<int>> slot(plan.layers.size(),
                                     std::vector<int>(numCandidates, -1));
  int64_t numSlots = 0;
  for (size_t u = 0; u < plan.layers.size(); ++u)
    for (size_t c = 0; c < numCandidates; ++c)
      if (plan.layers[u].kl[c] >= 0)
        slot[u][c] = numSlots++;
  auto probeType = RankedTensorType::get({numSlots}, Float32Type::get(ctx));
  unsigned probeIndex = entry.getNumArguments();
  if (failed(entry.insertArgument(
          probeIndex, probeType,
          DictionaryAttr::get(ctx, {NamedAttribute(
                                       StringAttr::get(ctx, "onnx.name"),
                                       StringAttr::get(ctx, kProbeInput))}),
          entry.getLoc())))
    return fail("cannot add the probe's input");
  Value probe = entry.getArgument(probeIndex);
  for (size_t i = 0; i < linears.size(); ++i) {
    int u = unitOf[i];
    if (u < 0)
      continue;
    LinearOp linear = linears[i];
    Location loc = linear.getLoc();
    OpBuilder b(linear.getContext());
    b.setInsertionPointAfter(linear);
    Value y0 = linear.getResult();
    Type type = y0.getType();
    Value y = y0;
    llvm::SmallPtrSet<Operation *, 8> created;
    for (size_t c = 0; c < numCandidates; ++c) {
      if (slot[u][c] < 0)
        continue;
      LinearOp q = variantLinears[c][i];
      // y = switch[slot] != 0 ? the quantized linear : y (only the
      // switched-on variant runs).
      Value index = arith::ConstantIndexOp::create(b, loc, slot[u][c]);
      Value on = tensor::ExtractOp::create(b, loc, probe, index);
      Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
      Value cond = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE,
                                         on, zero);
      auto ifOp = scf::IfOp::create(b, loc, TypeRange{type}, cond,
                                    /*withElseRegion=*/true);
      created.insert(ifOp);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(&ifOp.getElseRegion().front());
        scf::YieldOp::create(b, loc, y);
        b.setInsertionPointToStart(&ifOp.getThenRegion().front());
        IRMapping map;
        Value x = linear.getInput();
        if (q.getInput() != variantInputs[c][i]) {
          // AWQ / SmoothQuant: x / s, a constant Mul before the linear.
          auto mul = q.getInput().getDefiningOp<OnnxMulOp>();
          if (!mul || mul->getOperand(0) != variantInputs[c][i] ||
              failed(cloneConstantTree(b, mul->getOperand(1), map)))
            return fail("internal error: unexpected input of a quantized "
                        "linear");
          x = OnnxMulOp::create(b, loc, x.getType(), x,
                                map.lookup(mul->getOperand(1)));
        }
        map.map(q.getInput(), x);
        if (failed(cloneConstantTree(b, q.getWeight(), map)))
          return fail("internal error: a quantized weight is not constant");
        if (q.getBias())
          map.map(q.getBias(), linear.getBias());
        Value yc = b.clone(*q, map)->getResult(0);
        scf::YieldOp::create(b, loc, yc);
      }
      y = ifOp.getResult(0);
    }
    y0.replaceUsesWithIf(y, [&](OpOperand &use) {
      Operation *owner = use.getOwner();
      while (owner && !created.contains(owner))
        owner = owner->getParentOp();
      return !owner;
    });
  }
  variants.clear();

  log << "  compiling the probe model (" << numSlots << " switches over "
      << plan.layers.size() << " linears)\n";
  auto jit = JitModel::compile(*base, options.targetOptions, /*raise=*/false);
  if (failed(jit))
    return failure();
  tailor_model *model = nullptr;
  if (tailor_model_from_abi((*jit)->abi(), &model) != TAILOR_OK)
    return fail(tailor_last_error());
  std::unique_ptr<tailor_model, void (*)(tailor_model *)> owner(
      model, tailor_model_unload);
  if (budget.numThreads > 0)
    tailor_model_set_num_threads(model, budget.numThreads);

  ProbeRunner runner;
  runner.model = model;
  runner.windows = &*windows;
  runner.batch = std::max<int64_t>(1, budget.batch);
  runner.slots = numSlots;
  std::vector<float> switches(numSlots, 0.0f);
  if (auto ref = runner.run(switches, /*reference=*/true); !ref)
    return fail(llvm::toString(ref.takeError()));
  int64_t done = 0;
  for (size_t u = 0; u < plan.layers.size(); ++u)
    for (size_t c = 0; c < numCandidates; ++c) {
      if (slot[u][c] < 0)
        continue;
      switches.assign(numSlots, 0.0f);
      switches[slot[u][c]] = 1.0f;
      auto kl = runner.run(switches);
      if (!kl)
        return fail(llvm::toString(kl.takeError()));
      // Not finite (the quantized linear overflowed): not a choice.
      plan.layers[u].kl[c] = std::isfinite(*kl) ? std::max(0.0, *kl) : -1.0;
      if (log.is_displayed())
        log << "\r  measured " << ++done << "/" << numSlots;
    }
  if (log.is_displayed())
    log << "\n";

  // Start every unit at its smallest setting, then give bytes back where
  // they buy the most KL until the sum of the units' own KL fits `target`.
  auto klOf = [&](const KLLayer &l, int c) { return c < 0 ? 0.0 : l.kl[c]; };
  auto bytesOf = [&](const KLLayer &l, int c) {
    return c < 0 ? l.f32Bytes : l.bytes[c];
  };
  for (KLLayer &layer : plan.layers) {
    layer.choice = -1;
    for (size_t c = 0; c < numCandidates; ++c) {
      if (layer.kl[c] < 0)
        continue;
      double bytes = layer.bytes[c], best = bytesOf(layer, layer.choice);
      if (bytes < best ||
          (bytes == best && layer.kl[c] < klOf(layer, layer.choice)))
        layer.choice = int(c);
    }
  }
  auto estimate = [&] {
    double sum = 0;
    for (const KLLayer &layer : plan.layers)
      sum += klOf(layer, layer.choice);
    return sum;
  };
  auto upgradeTo = [&](double target) {
    bool changed = false;
    while (estimate() > target) {
      double bestRate = -1;
      KLLayer *bestLayer = nullptr;
      int bestChoice = -1;
      for (KLLayer &layer : plan.layers)
        for (int c = -1; c < int(numCandidates); ++c) {
          if (c >= 0 && layer.kl[c] < 0)
            continue;
          double gain = klOf(layer, layer.choice) - klOf(layer, c);
          double cost = bytesOf(layer, c) - bytesOf(layer, layer.choice);
          if (gain <= 0 || cost <= 0)
            continue;
          double rate = gain / cost;
          if (rate > bestRate) {
            bestRate = rate;
            bestLayer = &layer;
            bestChoice = c;
          }
        }
      if (!bestLayer)
        break;
      bestLayer->choice = bestChoice;
      changed = true;
    }
    return changed;
  };
  auto measurePlan = [&]() -> llvm::Expected<double> {
    switches.assign(numSlots, 0.0f);
    for (size_t u = 0; u < plan.layers.size(); ++u)
      if (plan.layers[u].choice >= 0)
        switches[slot[u][plan.layers[u].choice]] = 1.0f;
    return runner.run(switches);
  };
  upgradeTo(budget.maxKL);
  // The layers' KL need not add up: measure the combination and tighten
  // the target until the measurement fits.
  for (int round = 0;; ++round) {
    auto measured = measurePlan();
    if (!measured)
      return fail(llvm::toString(measured.takeError()));
    plan.measuredKL = *measured;
    plan.estimatedKL = estimate();
    log << llvm::format("  plan %d: KL %.3e measured, %.3e estimated\n", round,
                        plan.measuredKL, plan.estimatedKL);
    if (plan.measuredKL <= budget.maxKL || round == 8 ||
        !upgradeTo(plan.estimatedKL * budget.maxKL / plan.measuredKL * 0.97))
      break;
  }
  if (!(plan.measuredKL <= budget.maxKL))
    return fail(llvm::formatv("no plan within {0:e} found (the last measured "
                              "{1:e})",
                              budget.maxKL, plan.measuredKL)
                    .str());
  for (const KLLayer &layer : plan.layers) {
    plan.f32Bytes += layer.f32Bytes;
    plan.planBytes += bytesOf(layer, layer.choice);
  }
  return plan;
}

llvm::Expected<std::vector<QuantizeStep>>
mlir::tailor::readQuantizePlan(const std::string &path, int64_t groupSize,
                               llvm::StringRef method, bool symmetric) {
  auto fail = [&](const llvm::Twine &what) {
    return llvm::createStringError(path + ": " + what);
  };
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return fail(buffer.getError().message());
  auto json = llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    return fail(llvm::toString(json.takeError()));
  const llvm::json::Object *root = json->getAsObject();
  const llvm::json::Array *layers = root ? root->getArray("layers") : nullptr;
  if (!layers)
    return fail("expected an object with a \"layers\" array (as "
                "tailor-compile --plan-out writes)");
  std::vector<KLCandidate> candidates;
  KLPlan plan;
  for (size_t i = 0; i < layers->size(); ++i) {
    const llvm::json::Object *layer = (*layers)[i].getAsObject();
    auto name = layer ? layer->getString("name") : std::nullopt;
    auto choice = layer ? layer->getString("choice") : std::nullopt;
    if (!name || !choice || name->empty())
      return fail("layers[" + llvm::Twine(i) +
                  "] needs a \"name\" and a \"choice\"");
    KLLayer unit;
    unit.name = name->str();
    if (*choice != "f32") {
      auto it = llvm::find_if(candidates, [&](const KLCandidate &c) {
        return c.name == *choice;
      });
      if (it == candidates.end()) {
        auto parsed = parseKLCandidate(*choice, groupSize, method, symmetric);
        if (!parsed)
          return fail("layers[" + llvm::Twine(i) + "] (" + *name + "): " +
                      llvm::toString(parsed.takeError()));
        // The setting the plan was measured with, when it says.
        const llvm::json::Value *settingsValue = root->get("settings");
        const llvm::json::Object *settings =
            settingsValue ? settingsValue->getAsObject() : nullptr;
        if (settingsValue && !settings)
          return fail("\"settings\" must be an object");
        const llvm::json::Value *stepValue =
            settings ? settings->get(*choice) : nullptr;
        if (stepValue && !stepValue->getAsObject())
          return fail("settings." + *choice + " must be an object");
        if (const llvm::json::Object *step =
                stepValue ? stepValue->getAsObject() : nullptr) {
          auto mode = step->getString("mode");
          auto group = step->getInteger("group_size");
          auto how = step->getString("method");
          auto symmetric = step->getBoolean("symmetric");
          bool methodFits =
              how && (*how == "rtn" ||
                      ((*how == "gptq" || *how == "awq") && *mode == "int4") ||
                      (*how == "smoothquant" && *mode == "w8a8"));
          if (!mode || !group || !how || !symmetric || *group < 1 ||
              *mode != parsed->step.mode || !methodFits)
            return fail("settings." + *choice +
                        " needs mode (as the name says), group_size >= 1, "
                        "a method for that mode (rtn; gptq or awq for int4; "
                        "smoothquant for w8a8) and symmetric");
          parsed->step.groupSize = *group;
          parsed->step.method = how->str();
          parsed->step.symmetric = *symmetric;
        }
        candidates.push_back(std::move(*parsed));
        it = std::prev(candidates.end());
      }
      unit.choice = int(it - candidates.begin());
    }
    plan.layers.push_back(std::move(unit));
  }
  return plan.steps(candidates);
}
