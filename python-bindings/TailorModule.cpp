//===- TailorModule.cpp - Python bindings: tailor._tailor -----------------===//
//
// A thin layer over the C runtime (tailor-c/tailor.h) and the one-call
// compiler (tailor/Compiler/CompileFile.h); numpy arrays in and out.

#include "tailor-c/tailor.h"
#include "tailor/Compiler/CompileFile.h"
#include "tailor/Support/AdaLora.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

// Leaked on purpose: destroying it after the interpreter shut down crashes.
py::object &errorType = *new py::object();

const char *statusName(tailor_status s) {
  switch (s) {
  case TAILOR_OK: return "ok";
  case TAILOR_INVALID_ARGUMENT: return "invalid_argument";
  case TAILOR_SHAPE_MISMATCH: return "shape_mismatch";
  case TAILOR_DTYPE_MISMATCH: return "dtype_mismatch";
  case TAILOR_NOT_FOUND: return "not_found";
  case TAILOR_INVALID_MODEL: return "invalid_model";
  case TAILOR_OUT_OF_MEMORY: return "out_of_memory";
  case TAILOR_UNSUPPORTED: return "unsupported";
  case TAILOR_OUT_OF_RANGE: return "out_of_range";
  }
  return "error";
}

[[noreturn]] void raise(const std::string &message, const char *status) {
  py::object e = errorType(message);
  e.attr("status") = status;
  PyErr_SetObject(errorType.ptr(), e.ptr());
  throw py::error_already_set();
}

void check(tailor_status s) {
  if (s != TAILOR_OK)
    raise(tailor_last_error(), statusName(s));
}

/// numpy dtype <-> ONNX dtype number.
int32_t dtypeOf(const py::dtype &d) {
  char kind = d.kind();
  size_t size = d.itemsize();
  if (kind == 'f')
    return size == 4 ? TAILOR_FLOAT32 : size == 8 ? TAILOR_FLOAT64
                                      : size == 2 ? TAILOR_FLOAT16 : 0;
  if (kind == 'i')
    return size == 1 ? TAILOR_INT8 : size == 2 ? TAILOR_INT16
           : size == 4 ? TAILOR_INT32 : size == 8 ? TAILOR_INT64 : 0;
  if (kind == 'u')
    return size == 1 ? TAILOR_UINT8 : size == 2 ? TAILOR_UINT16
           : size == 4 ? TAILOR_UINT32 : size == 8 ? TAILOR_UINT64 : 0;
  if (kind == 'b')
    return TAILOR_BOOL;
  return 0;
}

py::dtype numpyDtype(int32_t dtype) {
  switch (dtype) {
  case TAILOR_FLOAT32: return py::dtype("float32");
  case TAILOR_FLOAT64: return py::dtype("float64");
  case TAILOR_FLOAT16: return py::dtype("float16");
  case TAILOR_INT8: return py::dtype("int8");
  case TAILOR_INT16: return py::dtype("int16");
  case TAILOR_INT32: return py::dtype("int32");
  case TAILOR_INT64: return py::dtype("int64");
  case TAILOR_UINT8: return py::dtype("uint8");
  case TAILOR_UINT16: return py::dtype("uint16");
  case TAILOR_UINT32: return py::dtype("uint32");
  case TAILOR_UINT64: return py::dtype("uint64");
  case TAILOR_BOOL: return py::dtype("bool");
  case TAILOR_BFLOAT16: return py::dtype("uint16"); // raw bits
  default: raise("unsupported dtype " + std::to_string(dtype), "unsupported");
  }
}

py::dict infoDict(const tailor_tensor_info &info) {
  py::dict d;
  d["name"] = info.name;
  d["dtype"] = tailor_dtype_name(info.dtype);
  py::list shape;
  for (int32_t i = 0; i < info.rank; ++i)
    shape.append(info.shape[i] < 0 ? py::object(py::none())
                                   : py::object(py::int_(info.shape[i])));
  d["shape"] = py::tuple(shape);
  return d;
}

py::array copyOut(const tailor_tensor &v) {
  std::vector<py::ssize_t> shape(v.shape, v.shape + v.rank);
  py::array out(numpyDtype(v.dtype), shape);
  size_t bytes = tailor_dtype_size(v.dtype);
  for (int32_t i = 0; i < v.rank; ++i)
    bytes *= size_t(v.shape[i]);
  if (bytes)
    std::memcpy(out.mutable_data(), v.data, bytes);
  return out;
}

class Session;

class Model : public std::enable_shared_from_this<Model> {
public:
  explicit Model(const std::string &path) {
    check(tailor_model_load(path.c_str(), &model));
    this->path = path;
  }
  ~Model() { tailor_model_unload(model); }

  py::list infos(bool inputs) const {
    py::list out;
    int32_t n = inputs ? tailor_model_num_inputs(model)
                       : tailor_model_num_outputs(model);
    for (int32_t i = 0; i < n; ++i) {
      tailor_tensor_info info;
      check(inputs ? tailor_model_input_info(model, i, &info)
                   : tailor_model_output_info(model, i, &info));
      out.append(infoDict(info));
    }
    return out;
  }

  /// run({name: array}) or run([array, ...]) -> {name: array}
  py::dict run(py::object feeds) {
    int32_t n = tailor_model_num_inputs(model);
    std::vector<py::array> arrays(n);
    if (py::isinstance<py::dict>(feeds)) {
      py::dict d = feeds.cast<py::dict>();
      std::vector<bool> seen(n, false);
      for (auto item : d) {
        std::string name = py::str(item.first);
        int32_t index;
        check(tailor_model_find_input(model, name.c_str(), &index));
        arrays[index] = py::array::ensure(item.second);
        seen[index] = true;
      }
      for (int32_t i = 0; i < n; ++i)
        if (!seen[i]) {
          tailor_tensor_info info;
          check(tailor_model_input_info(model, i, &info));
          raise(std::string("missing input '") + info.name + "'",
                "invalid_argument");
        }
    } else {
      py::sequence seq = feeds.cast<py::sequence>();
      if (py::ssize_t(seq.size()) != n)
        raise("the model takes " + std::to_string(n) + " inputs, " +
                  std::to_string(seq.size()) + " given",
              "invalid_argument");
      for (int32_t i = 0; i < n; ++i)
        arrays[i] = py::array::ensure(seq[i]);
    }
    std::vector<tailor_tensor> views(n);
    std::vector<std::vector<int64_t>> shapes(n), strides(n);
    for (int32_t i = 0; i < n; ++i) {
      py::array &a = arrays[i];
      if (!a)
        raise("input " + std::to_string(i) + " is not an array",
              "invalid_argument");
      // Non-native byte order: converted (the model reads native values).
      if (!a.dtype().attr("isnative").cast<bool>())
        a = py::array::ensure(
            a.attr("astype")(a.dtype().attr("newbyteorder")("=")));
      int32_t dtype = dtypeOf(a.dtype());
      if (!dtype)
        raise("input " + std::to_string(i) + " has numpy dtype " +
                  std::string(py::str(a.dtype())) +
                  ", which no compiled model takes",
              "dtype_mismatch");
      // Element strides; a view whose byte strides are not whole elements
      // becomes contiguous first.
      bool whole = true;
      for (py::ssize_t d = 0; d < a.ndim(); ++d)
        whole &= a.strides(d) % a.itemsize() == 0;
      if (!whole)
        a = py::array::ensure(a, py::array::c_style);
      for (py::ssize_t d = 0; d < a.ndim(); ++d) {
        shapes[i].push_back(a.shape(d));
        strides[i].push_back(a.strides(d) / a.itemsize());
      }
      views[i] = {dtype, int32_t(a.ndim()), shapes[i].data(),
                  strides[i].data(), const_cast<void *>(a.data())};
    }
    tailor_result *result = nullptr;
    tailor_status status;
    {
      py::gil_scoped_release release;
      status = tailor_model_run(model, views.data(), n, &result);
    }
    check(status);
    std::unique_ptr<tailor_result, void (*)(tailor_result *)> owner(
        result, tailor_result_free);
    py::dict out;
    for (int32_t i = 0; i < tailor_result_num_outputs(result); ++i) {
      tailor_tensor v;
      tailor_tensor_info info;
      check(tailor_result_output(result, i, &v));
      check(tailor_model_output_info(model, i, &info));
      out[info.name] = copyOut(v);
    }
    return out;
  }

  void setNumThreads(int threads) {
    check(tailor_model_set_num_threads(model, threads));
    numThreads = threads;
  }

  std::shared_ptr<Session> session();

  std::vector<int64_t> generate(const std::vector<int64_t> &prompt,
                                size_t maxNewTokens, float temperature,
                                int topK, float topP, float repetitionPenalty,
                                uint64_t seed, py::object eos);

  tailor_model *model = nullptr;
  std::string path;
  int numThreads = 0;
};

class Session {
public:
  explicit Session(std::shared_ptr<Model> owner) : owner(std::move(owner)) {
    check(tailor_session_create(this->owner->model, &session));
  }
  ~Session() { tailor_session_free(session); }

  /// Runs `step` under the session's lock without the GIL and returns a
  /// copy of the last logits taken under the same lock.
  template <typename F> py::array locked(F &&step) {
    std::vector<float> copy;
    tailor_status s;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex);
      const float *row = nullptr;
      s = step(&row);
      if (s == TAILOR_OK)
        copy.assign(row, row + tailor_session_vocab_size(session));
    }
    check(s);
    py::array_t<float> out(copy.size());
    std::memcpy(out.mutable_data(), copy.data(), sizeof(float) * copy.size());
    return out;
  }
  py::array prefill(const std::vector<int64_t> &tokens) {
    return locked([&](const float **row) {
      return tailor_session_prefill(session, tokens.data(), tokens.size(),
                                    row);
    });
  }
  py::array decodeStep(int64_t token) {
    return locked([&](const float **row) {
      return tailor_session_decode_step(session, token, row);
    });
  }
  void reset() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex);
    tailor_session_reset(session);
  }
  int64_t length() const { return tailor_session_length(session); }

  std::shared_ptr<Model> owner;
  tailor_session *session = nullptr;
  /// One call at a time: the calls above release the GIL.
  std::mutex mutex;
};

std::shared_ptr<Session> Model::session() {
  return std::make_shared<Session>(shared_from_this());
}

std::vector<int64_t> Model::generate(const std::vector<int64_t> &prompt,
                                     size_t maxNewTokens, float temperature,
                                     int topK, float topP,
                                     float repetitionPenalty, uint64_t seed,
                                     py::object eos) {
  Session s(shared_from_this());
  tailor_sampling p = tailor_sampling_default();
  p.temperature = temperature;
  p.top_k = topK;
  p.top_p = topP;
  p.repetition_penalty = repetitionPenalty;
  p.seed = seed;
  int64_t eosToken = eos.is_none() ? -1 : eos.cast<int64_t>();
  std::vector<int64_t> out(maxNewTokens);
  size_t count = 0;
  tailor_status status;
  {
    py::gil_scoped_release release;
    status = tailor_generate(s.session, prompt.data(), prompt.size(),
                             maxNewTokens, &p, eosToken, nullptr, nullptr,
                             out.data(), &count);
  }
  check(status);
  out.resize(count);
  return out;
}

namespace ada = mlir::tailor::adalora;

/// A float32, C-contiguous (and for a parameter writable) array of `count`
/// elements, named `key` in `dict`.
float *arrayData(py::dict dict, const std::string &key, size_t count,
                 bool writable) {
  if (!dict.contains(key))
    raise("RankAllocator.update: no array '" + key + "'", "not_found");
  py::object o = dict[py::str(key)];
  if (!py::isinstance<py::array>(o))
    raise("RankAllocator.update: '" + key + "' is not a numpy array",
          "invalid_argument");
  py::array a = o.cast<py::array>();
  if (!a.dtype().is(py::dtype::of<float>()) ||
      !(a.flags() & py::array::c_style) || size_t(a.size()) != count ||
      (writable && !a.writeable()))
    raise("RankAllocator.update: '" + key + "' must be a " +
              (writable ? std::string("writable ") : std::string()) +
              "C-contiguous float32 array of " + std::to_string(count) +
              " elements",
          "invalid_argument");
  return writable ? static_cast<float *>(a.mutable_data())
                  : const_cast<float *>(static_cast<const float *>(a.data()));
}

} // namespace

PYBIND11_MODULE(_tailor, m) {
  m.doc() = "Tailor's compiler and C runtime (see the tailor package)";
  errorType = py::reinterpret_borrow<py::object>(
      py::exception<std::runtime_error>(m, "TailorError").ptr());

  m.def(
      "compile",
      [](const std::string &input, py::object output, const std::string &emit,
         int optLevel, const std::string &targetCpu, bool raiseOps,
         py::object header) {
        tailor::CompileRequest request;
        request.input = input;
        if (output.is_none()) {
          std::string stem = input.substr(0, input.rfind('.'));
          std::string ext = emit == "so"    ? ".so"
                            : emit == "obj" ? ".o"
                            : emit == "llvm" ? ".ll"
                                             : ".mlir";
          request.output = stem + ext;
        } else {
          request.output = py::str(output);
        }
        request.emit = emit;
        if (optLevel < 0 || optLevel > 3)
          raise("opt_level " + std::to_string(optLevel) + " (0-3)",
                "invalid_argument");
        request.optLevel = unsigned(optLevel);
        request.cpu = targetCpu;
        request.raise = raiseOps;
        request.producer = "tailor.compile (Python)";
        if (!header.is_none())
          request.header = py::str(header);
        std::string error;
        {
          py::gil_scoped_release release;
          error = tailor::compileFile(request);
        }
        if (!error.empty())
          raise(error, "compile_error");
        return request.output;
      },
      py::arg("input"), py::arg("output") = py::none(),
      py::arg("emit") = "so", py::arg("opt_level") = 2,
      py::arg("target_cpu") = "host", py::arg("raise_ops") = true,
      py::arg("header") = py::none(),
      "Compiles an .onnx (or tailor-dialect .mlir) model ahead of time into "
      "`output` (default: the input's name with .so). emit: so | obj | llvm "
      "| mlir. Returns the output path; raises TailorError with the "
      "compiler's diagnostics.");

  m.def(
      "load", [](const std::string &path) { return std::make_shared<Model>(path); },
      py::arg("path"), "Loads a model compiled by tailor-compile / compile().");

  py::class_<Model, std::shared_ptr<Model>>(m, "Model")
      .def_property_readonly("inputs", [](const Model &self) { return self.infos(true); },
                             "[{name, dtype, shape}] (None: a dynamic size)")
      .def_property_readonly("outputs", [](const Model &self) { return self.infos(false); })
      .def_property_readonly("path", [](const Model &self) { return self.path; })
      .def_property_readonly("producer", [](const Model &self) {
        return std::string(tailor_model_producer(self.model));
      })
      .def_property("num_threads", [](const Model &self) { return self.numThreads; },
                    &Model::setNumThreads,
                    "Threads of the parallel loops (0: the OpenMP default)")
      .def("run", &Model::run, py::arg("inputs"),
           "run({name: ndarray}) or run([ndarray, ...]) -> {name: ndarray}. "
           "dtypes and static sizes must match (TailorError otherwise).")
      .def("session", &Model::session,
           "A generation session that owns the KV cache (causal LMs).")
      .def("generate", &Model::generate, py::arg("prompt"),
           py::arg("max_new_tokens") = 16, py::arg("temperature") = 0.0f,
           py::arg("top_k") = 0, py::arg("top_p") = 1.0f,
           py::arg("repetition_penalty") = 1.0f, py::arg("seed") = 0,
           py::arg("eos") = py::none(),
           "Generates up to max_new_tokens after `prompt` (token ids); "
           "temperature 0 is greedy.");

  py::class_<ada::RankAllocator>(m, "RankAllocator",
                                 "AdaLoRA's rank allocation (PEFT's "
                                 "RankAllocator), as tailor-train runs it")
      .def(py::init([](const std::vector<std::tuple<std::string, int64_t,
                                                    int64_t>> &modules,
                       int64_t initR, int64_t targetR, int64_t tinit,
                       int64_t tfinal, int64_t deltaT, int64_t totalStep,
                       double beta1, double beta2) {
             ada::Config c{initR, targetR, tinit, tfinal, deltaT, totalStep,
                           beta1, beta2};
             if (llvm::Error e = ada::validate(c))
               raise(llvm::toString(std::move(e)), "invalid_argument");
             std::vector<ada::Matrix> mats;
             for (auto &[name, in, out] : modules) {
               if (in < 1 || out < 1)
                 raise("RankAllocator: module '" + name +
                           "' needs positive sizes",
                       "invalid_argument");
               mats.push_back({name, in, out});
             }
             return ada::RankAllocator(c, std::move(mats));
           }),
           py::arg("modules"), py::arg("init_r") = 12, py::arg("target_r") = 8,
           py::arg("tinit") = 0, py::arg("tfinal") = 0, py::arg("delta_t") = 1,
           py::arg("total_step") = 0, py::arg("beta1") = 0.85,
           py::arg("beta2") = 0.85,
           "modules: [(name, in, out)]; the rest as PEFT's AdaLoraConfig.")
      .def("schedule", &ada::RankAllocator::schedule, py::arg("step"),
           "(budget, mask) at the 0-based step (budget_schedule).")
      .def(
          "update",
          [](ada::RankAllocator &self, int64_t step, py::dict params,
             py::dict grads) {
            std::vector<ada::Tensors> ts;
            for (const ada::Matrix &m : self.matrices()) {
              size_t r = size_t(self.initialRank());
              ada::Tensors t;
              size_t sizes[3] = {r * m.in, r, m.out * r};
              const char *parts[3] = {".lora_A", ".lora_E", ".lora_B"};
              float **p[3] = {&t.a, &t.e, &t.b};
              const float **g[3] = {&t.gradA, &t.gradE, &t.gradB};
              for (int i = 0; i < 3; ++i) {
                std::string key = m.module + parts[i];
                *p[i] = arrayData(params, key, sizes[i], true);
                *g[i] = arrayData(grads, key, sizes[i], false);
              }
              ts.push_back(t);
            }
            return self.update(step, ts);
          },
          py::arg("step"), py::arg("params"), py::arg("grads"),
          "After optimizer step `step` (0-based): params and grads are "
          "{'<module>.lora_A' | lora_E | lora_B: float32 array}; masks "
          "params' lora_E in place; returns the budget.")
      .def_property_readonly(
          "rank_pattern",
          [](const ada::RankAllocator &self) -> py::object {
            if (self.rankPattern().empty())
              return py::none();
            py::dict out;
            for (size_t i = 0; i < self.matrices().size(); ++i)
              out[py::str(self.matrices()[i].module + ".lora_E")] =
                  py::cast(self.rankPattern()[i]);
            return out;
          },
          "{'<module>.lora_E': [kept]} from the last masking, or None.");

  py::class_<Session, std::shared_ptr<Session>>(m, "Session")
      .def("prefill", &Session::prefill, py::arg("tokens"),
           "Appends tokens; returns the last position's logits.")
      .def("decode_step", &Session::decodeStep, py::arg("token"),
           "Appends one token; returns its logits.")
      .def("reset", &Session::reset)
      .def("__len__", &Session::length);
}
