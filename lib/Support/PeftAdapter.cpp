//===- PeftAdapter.cpp - Hugging Face PEFT LoRA adapters -------------------===//

#include "tailor/Support/PeftAdapter.h"
#include "tailor/Support/SafeTensors.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"

#include <cmath>
#include <cstring>
#include <map>

using namespace mlir::tailor;
using namespace mlir::tailor::peft;
using llvm::createStringError;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace {
constexpr StringRef kPrefix = "base_model.model.";

Error fail(const llvm::Twine &where, const llvm::Twine &what) {
  return createStringError(llvm::inconvertibleErrorCode(),
                           where + ": " + what);
}

/// PEFT's get_pattern_key: `pattern` applies to `module` when the module's
/// name is `(.*\.)?(pattern)`.
bool patternMatches(StringRef pattern, StringRef module) {
  llvm::Regex re(("^(.*\\.)?(" + pattern + ")$").str());
  return re.isValid() && re.match(module);
}

/// The value for `module` in a rank_pattern / alpha_pattern dictionary.
std::optional<double> patternValue(const llvm::json::Object *patterns,
                                   StringRef module) {
  if (!patterns)
    return std::nullopt;
  for (const auto &[key, value] : *patterns)
    if (patternMatches(key, module))
      if (std::optional<double> v = value.getAsNumber())
        return v;
  return std::nullopt;
}

/// PEFT's check_target_module_exists: a list names module suffixes, a string
/// is a regular expression the whole name must match ("all-linear": any).
bool isTarget(const llvm::json::Value *targets, StringRef module) {
  if (!targets || targets->kind() == llvm::json::Value::Null)
    return true;
  if (std::optional<StringRef> s = targets->getAsString()) {
    if (*s == "all-linear")
      return true;
    llvm::Regex re(("^(" + *s + ")$").str());
    return re.isValid() && re.match(module);
  }
  if (const llvm::json::Array *list = targets->getAsArray()) {
    for (const llvm::json::Value &t : *list)
      if (std::optional<StringRef> name = t.getAsString())
        if (module == *name || module.ends_with(("." + *name).str()))
          return true;
    return false;
  }
  return true;
}

/// The tensor's values as f32.
Expected<std::vector<float>> toFloats(const safetensors::File &file,
                                      const safetensors::TensorInfo &info,
                                      StringRef where) {
  auto values = safetensors::readFloats(file, info);
  if (!values)
    return fail(where, llvm::toString(values.takeError()) +
                           " (LoRA weights are F32, F16, BF16 or F64)");
  return values;
}

Expected<llvm::json::Value> readJson(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return fail(path, "cannot read: " + buffer.getError().message());
  Expected<llvm::json::Value> json = llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    return fail(path, "not valid JSON: " + llvm::toString(json.takeError()));
  if (!json->getAsObject())
    return fail(path, "not a JSON object");
  return json;
}
} // namespace

/// An AdaLoRA adapter (PEFT's ADALORA): per module lora_A [k, in], lora_E
/// [k, 1] and lora_B [out, k] (k the module's kept rank: its rank_pattern's
/// true entries, else init_r); delta W = B (A * E) scaling / (init_r +
/// 1e-5), scaling = lora_alpha (init_r when 0). As LoRA: A' = E * A.
static Expected<Adapter> readAdaLoRA(Adapter &adapter,
                                     const llvm::json::Object &config,
                                     const safetensors::File &file,
                                     StringRef weights, StringRef configPath) {
  std::optional<int64_t> initR = config.getInteger("init_r");
  if (!config.get("init_r"))
    initR = 12; // AdaLoraConfig's default
  if (!initR || *initR < 1)
    return fail(configPath, "init_r must be a positive integer");
  double alpha = adapter.loraAlpha;
  if (alpha < 0)
    return fail(configPath, "lora_alpha must not be negative");
  if (adapter.useDoRA || adapter.useRsLoRA)
    return fail(configPath, "AdaLoRA adapters take no use_dora or "
                            "use_rslora (PEFT's AdaLoRA has neither)");
  double scale =
      (alpha > 0 ? alpha : double(*initR)) / double(float(*initR) + 1e-5f);
  const llvm::json::Object *pattern = config.getObject("rank_pattern");
  const llvm::json::Value *targets = config.get("target_modules");
  struct Parts {
    const safetensors::TensorInfo *a = nullptr, *e = nullptr, *b = nullptr;
  };
  std::map<std::string, Parts> modules;
  for (const safetensors::TensorInfo &info : file.tensors()) {
    StringRef key = info.name;
    StringRef module;
    const safetensors::TensorInfo **slot = nullptr;
    if (key.consume_front(kPrefix)) {
      auto [m, tensor] = key.rsplit(".lora_");
      module = m;
      Parts &parts = modules[m.str()];
      slot = tensor == "A"   ? &parts.a
             : tensor == "E" ? &parts.e
             : tensor == "B" ? &parts.b
                             : nullptr;
    }
    if (!slot || module.empty())
      return fail(weights, "tensor '" + info.name +
                               "' is not an AdaLoRA tensor (" + kPrefix +
                               "<module>.lora_A, lora_E or lora_B)");
    *slot = &info;
  }
  if (modules.empty())
    return fail(weights, "the adapter has no AdaLoRA tensors");
  for (auto &[name, parts] : modules) {
    std::string where = (weights + ": module '" + name + "'").str();
    if (!parts.a || !parts.e || !parts.b)
      return fail(where, "needs lora_A, lora_E and lora_B");
    if (!isTarget(targets, name))
      return fail(where, "is not one of the config's target_modules");
    int64_t rank = *initR;
    if (pattern)
      if (const llvm::json::Array *kept =
              pattern->getArray(name + ".lora_E")) {
        if (int64_t(kept->size()) != *initR)
          return fail(where, "its rank_pattern has " +
                                 llvm::Twine(kept->size()) +
                                 " entries, init_r is " + llvm::Twine(*initR));
        rank = 0;
        for (const llvm::json::Value &k : *kept) {
          std::optional<bool> b = k.getAsBoolean();
          if (!b)
            return fail(where, "its rank_pattern holds a non-boolean");
          rank += *b;
        }
      }
    const auto &as = parts.a->shape, &es = parts.e->shape,
               &bs = parts.b->shape;
    if (as.size() != 2 || es.size() != 2 || bs.size() != 2 || es[1] != 1 ||
        as[0] != rank || es[0] != rank || bs[1] != rank)
      return fail(where, "rank mismatch: lora_A, lora_E and lora_B must be "
                         "[" + llvm::Twine(rank) + ", in], [" +
                             llvm::Twine(rank) + ", 1] and [out, " +
                             llvm::Twine(rank) + "] (the kept rank)");
    LoRAModule m;
    m.name = name;
    m.rank = rank;
    m.in = as[1];
    m.out = bs[0];
    m.scale = scale;
    auto av = toFloats(file, *parts.a, where);
    if (!av)
      return av.takeError();
    auto ev = toFloats(file, *parts.e, where);
    if (!ev)
      return ev.takeError();
    auto bv = toFloats(file, *parts.b, where);
    if (!bv)
      return bv.takeError();
    m.a = std::move(*av);
    for (int64_t i = 0; i < rank; ++i)
      for (int64_t j = 0; j < m.in; ++j)
        m.a[i * m.in + j] *= (*ev)[i];
    m.b = std::move(*bv);
    adapter.modules.push_back(std::move(m));
  }
  return adapter;
}

Expected<Adapter> mlir::tailor::peft::readAdapter(StringRef path) {
  llvm::SmallString<256> dir(path), weights(path), configPath;
  if (llvm::sys::fs::is_directory(path)) {
    llvm::sys::path::append(weights, "adapter_model.safetensors");
  } else {
    dir = llvm::sys::path::parent_path(path);
    if (dir.empty())
      dir = ".";
  }
  configPath = dir;
  llvm::sys::path::append(configPath, "adapter_config.json");

  Adapter adapter;
  adapter.path = path.str();
  Expected<llvm::json::Value> json = readJson(configPath);
  if (!json)
    return json.takeError();
  const llvm::json::Object &config = *json->getAsObject();
  auto number = [&](StringRef key, double dflt) -> Expected<double> {
    const llvm::json::Value *v = config.get(key);
    if (!v || v->kind() == llvm::json::Value::Null)
      return dflt;
    if (std::optional<double> d = v->getAsNumber())
      return *d;
    return fail(configPath, "'" + key + "' is not a number");
  };
  auto flag = [&](StringRef key) -> Expected<bool> {
    const llvm::json::Value *v = config.get(key);
    if (!v || v->kind() == llvm::json::Value::Null)
      return false;
    if (std::optional<bool> b = v->getAsBoolean())
      return *b;
    return fail(configPath, "'" + key + "' is not true or false");
  };
  if (std::optional<StringRef> type = config.getString("peft_type")) {
    if (*type != "LORA" && *type != "IA3" && *type != "ADALORA")
      return fail(configPath, "peft_type is '" + *type +
                                  "'; LoRA (with DoRA), AdaLoRA and (IA)3 "
                                  "adapters can be merged, not this one");
    adapter.type = type->str();
  }
  Expected<double> r = number("r", 8);
  if (!r)
    return r.takeError();
  Expected<double> alpha = number("lora_alpha", 8);
  if (!alpha)
    return alpha.takeError();
  Expected<bool> rslora = flag("use_rslora");
  if (!rslora)
    return rslora.takeError();
  Expected<bool> fifo = flag("fan_in_fan_out");
  if (!fifo)
    return fifo.takeError();
  Expected<bool> dora = flag("use_dora");
  if (!dora)
    return dora.takeError();
  adapter.useDoRA = *dora;
  if (std::optional<StringRef> bias = config.getString("bias"))
    if (*bias != "none")
      return fail(configPath,
                  "bias is '" + *bias +
                      "': adapters that train the base model's biases are "
                      "not supported yet (use bias \"none\")");
  if (*r < 1 || *r != std::floor(*r))
    return fail(configPath, "r must be a positive integer");
  adapter.r = int64_t(*r);
  adapter.loraAlpha = *alpha;
  adapter.useRsLoRA = *rslora;
  adapter.fanInFanOut = *fifo;
  const llvm::json::Object *rankPattern = config.getObject("rank_pattern");
  const llvm::json::Object *alphaPattern = config.getObject("alpha_pattern");
  const llvm::json::Value *targets = config.get("target_modules");

  Expected<safetensors::File> file = safetensors::File::read(weights);
  if (!file)
    return file.takeError();

  if (adapter.type == "IA3") {
    const llvm::json::Value *ff = config.get("feedforward_modules");
    for (const safetensors::TensorInfo &info : file->tensors()) {
      StringRef key = info.name;
      std::string where = (weights + ": tensor '" + info.name + "'").str();
      if (!key.consume_front(kPrefix) || !key.consume_back(".ia3_l"))
        return fail(where,
                    "is not an (IA)3 vector (" + kPrefix + "<module>.ia3_l)");
      if (!isTarget(targets, key))
        return fail(where, "is not one of the config's target_modules");
      LoRAModule m;
      m.name = key.str();
      m.ia3Input = ff && ff->kind() != llvm::json::Value::Null &&
                   isTarget(ff, key);
      if (info.shape.size() != 2 || info.shape[m.ia3Input ? 0 : 1] != 1)
        return fail(where, m.ia3Input ? "must be [1, in] (a feed-forward "
                                        "module scales its input)"
                                      : "must be [out, 1]");
      (m.ia3Input ? m.in : m.out) = info.shape[m.ia3Input ? 1 : 0];
      auto v = toFloats(*file, info, where);
      if (!v)
        return v.takeError();
      m.ia3 = std::move(*v);
      adapter.modules.push_back(std::move(m));
    }
    if (adapter.modules.empty())
      return fail(weights, "the adapter has no (IA)3 vectors");
    return adapter;
  }

  if (adapter.type == "ADALORA")
    return readAdaLoRA(adapter, config, *file, weights, configPath);

  // Group the tensors by module: <prefix><module>.lora_{A,B}.{weight,bias}
  // (and DoRA's <module>.lora_magnitude_vector).
  struct Parts {
    const safetensors::TensorInfo *a = nullptr, *b = nullptr, *bias = nullptr,
                                  *magnitude = nullptr;
  };
  std::map<std::string, Parts> modules;
  for (const safetensors::TensorInfo &info : file->tensors()) {
    StringRef key = info.name;
    if (!key.consume_front(kPrefix))
      return fail(weights, "tensor '" + info.name +
                               "' is not a PEFT adapter tensor (names start "
                               "with '" + kPrefix + "')");
    const safetensors::TensorInfo **slot = nullptr;
    Parts &parts = modules[key.rsplit(".lora_").first.str()];
    if (key.ends_with(".lora_A.weight"))
      slot = &parts.a;
    else if (key.ends_with(".lora_B.weight"))
      slot = &parts.b;
    else if (key.ends_with(".lora_B.bias"))
      slot = &parts.bias;
    else if (adapter.useDoRA && key.ends_with(".lora_magnitude_vector"))
      slot = &parts.magnitude;
    if (!slot || !key.contains(".lora_"))
      return fail(weights,
                  "tensor '" + info.name +
                      "' is not a LoRA weight (lora_A.weight, lora_B.weight "
                      "or lora_B.bias; lora_magnitude_vector with use_dora); "
                      "embedding LoRA and modules_to_save are not supported "
                      "yet");
    *slot = &info;
  }
  if (modules.empty())
    return fail(weights, "the adapter has no LoRA tensors");

  for (auto &[name, parts] : modules) {
    std::string where = (weights + ": module '" + name + "'").str();
    if (!parts.a || !parts.b)
      return fail(where, parts.a ? "has lora_A but no lora_B"
                                 : "has lora_B but no lora_A");
    if (!isTarget(targets, name))
      return fail(where, "is not one of the config's target_modules");
    LoRAModule m;
    m.name = name;
    if (parts.a->shape.size() != 2 || parts.b->shape.size() != 2)
      return fail(where, "lora_A and lora_B must be matrices");
    m.rank = parts.a->shape[0];
    m.in = parts.a->shape[1];
    m.out = parts.b->shape[0];
    int64_t rank = int64_t(patternValue(rankPattern, name).value_or(adapter.r));
    if (m.rank != rank || parts.b->shape[1] != rank)
      return fail(where, "rank mismatch: lora_A is [" +
                             llvm::Twine(parts.a->shape[0]) + ", " +
                             llvm::Twine(parts.a->shape[1]) + "], lora_B is [" +
                             llvm::Twine(parts.b->shape[0]) + ", " +
                             llvm::Twine(parts.b->shape[1]) +
                             "], the config's rank is " + llvm::Twine(rank));
    if (parts.bias && (parts.bias->shape.size() != 1 ||
                       parts.bias->shape[0] != m.out))
      return fail(where, "lora_B.bias must have " + llvm::Twine(m.out) +
                             " elements");
    double a = patternValue(alphaPattern, name).value_or(adapter.loraAlpha);
    m.scale = adapter.useRsLoRA ? a / std::sqrt(double(rank))
                                : a / double(rank);
    auto av = toFloats(*file, *parts.a, where);
    if (!av)
      return av.takeError();
    auto bv = toFloats(*file, *parts.b, where);
    if (!bv)
      return bv.takeError();
    m.a = std::move(*av);
    m.b = std::move(*bv);
    if (parts.bias) {
      auto biasv = toFloats(*file, *parts.bias, where);
      if (!biasv)
        return biasv.takeError();
      m.bias = std::move(*biasv);
    }
    if (adapter.useDoRA) {
      if (!parts.magnitude || parts.magnitude->shape.size() != 1 ||
          parts.magnitude->shape[0] != m.out)
        return fail(where, "use_dora needs lora_magnitude_vector [" +
                               llvm::Twine(m.out) + "]");
      auto mv = toFloats(*file, *parts.magnitude, where);
      if (!mv)
        return mv.takeError();
      m.magnitude = std::move(*mv);
    }
    adapter.modules.push_back(std::move(m));
  }
  return adapter;
}

std::string mlir::tailor::peft::modulePathOfNode(StringRef nodeName) {
  auto [scope, op] = nodeName.rsplit('/');
  if (op.empty() || scope.empty() ||
      !(op.starts_with("MatMul") || op.starts_with("Gemm")))
    return "";
  scope = scope.ltrim('/');
  std::string path = scope.str();
  std::replace(path.begin(), path.end(), '/', '.');
  return path;
}

std::string mlir::tailor::peft::modulePathOfWeight(StringRef name) {
  if (!name.consume_back(".weight") || name.empty())
    return "";
  return name.str();
}
