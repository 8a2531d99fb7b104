//===- OnnxImporter.cpp - ONNX models into the tailor dialect -------------===//
//
// ONNX protobuf -> `tailor.onnx.*` ops in one func.func. The model is checked
// (ONNX checker), brought to the opset the dialect defines (ONNX version
// converter, with a per-node fallback), shape-inferred (ONNX, with data
// propagation) and then imported node by node. Initializers become
// dialect resource blobs; external data is memory-mapped. Every failure is a
// diagnostic, located at the ONNX node's name where there is one.
//
//===----------------------------------------------------------------------===//

#include "tailor/Import/OnnxImporter.h"

#include "tailor/Dialect/OnnxBridge.h"
#include "tailor/Dialect/Tailor.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include "onnx/checker.h"
#include "onnx/defs/parser.h"
#include "onnx/shape_inference/implementation.h"
#include "onnx/version_converter/convert.h"

#include <unordered_map>
#include <unordered_set>

using namespace mlir;
using namespace mlir::tailor;

namespace {

/// Element size in bytes of an MLIR element type as ONNX raw data stores it
/// (booleans take one byte).
int64_t rawElementSize(Type t) {
  if (auto c = dyn_cast<ComplexType>(t))
    return 2 * rawElementSize(c.getElementType());
  unsigned bits = t.getIntOrFloatBitWidth();
  return bits == 1 ? 1 : bits / 8;
}

class Importer {
public:
  Importer(MLIRContext *ctx, StringRef bufferName, StringRef baseDir,
           const OnnxImportOptions &options)
      : ctx(ctx), builder(ctx), bufferName(bufferName), baseDir(baseDir),
        options(options) {}

  OwningOpRef<ModuleOp> run(onnx::ModelProto &model);

private:
  LogicalResult prepare(onnx::ModelProto &model);
  LogicalResult importGraph(const onnx::GraphProto &graph, ModuleOp module);
  LogicalResult importNode(const onnx::NodeProto &node);
  LogicalResult importMatMulNBits(const onnx::NodeProto &node);
  FailureOr<ElementsAttr> importTensor(const onnx::TensorProto &tensor,
                                       Location loc);
  FailureOr<std::unique_ptr<llvm::MemoryBuffer>>
  mapExternalData(const onnx::TensorProto &tensor, int64_t expectedBytes,
                  Location loc);
  Type valueType(const std::string &name, Type inferred);
  Location nodeLoc(const onnx::NodeProto &node);
  InFlightDiagnostic error(Location loc) { return emitError(loc); }

  MLIRContext *ctx;
  OpBuilder builder;
  std::string bufferName;
  std::string baseDir;
  const OnnxImportOptions &options;
  int modelOpset = 0;
  std::string conversionError;
  llvm::StringMap<Value> values;
  std::unordered_map<std::string, const onnx::TypeProto *> declaredTypes;
  /// Small integer constants (shapes, axes) that feed ONNX's inference.
  std::unordered_map<std::string, onnx::TensorProto> constantData;
};

Location Importer::nodeLoc(const onnx::NodeProto &node) {
  std::string name = node.name();
  if (name.empty())
    name = node.output_size() ? "<" + node.op_type() + " -> " + node.output(0) + ">"
                              : "<" + node.op_type() + ">";
  return NameLoc::get(StringAttr::get(ctx, name),
                      FileLineColLoc::get(ctx, bufferName, 0, 0));
}

Type Importer::valueType(const std::string &name, Type inferred) {
  auto it = declaredTypes.find(name);
  if (it == declaredTypes.end())
    return inferred;
  Type declared = typeFromOnnx(*it->second, ctx);
  if (!declared)
    return inferred;
  if (!inferred)
    return declared;
  Type refined = refineTensorType(declared, inferred);
  return refined ? refined : inferred;
}

/// Checks that every value a graph uses is defined before its use (graph
/// inputs, initializers, earlier node outputs, or the enclosing graphs' values
/// for subgraphs) and defined once. ONNX's checker leaves graph outputs out,
/// and its version converter dereferences a null value for an undefined one,
/// so this runs before either. Returns the first problem, or "".
static std::string
findUndefinedValue(const onnx::GraphProto &graph,
                   std::unordered_set<std::string> defined) {
  for (const auto &in : graph.input())
    defined.insert(in.name());
  for (const auto &init : graph.initializer())
    defined.insert(init.name());
  for (const auto &node : graph.node()) {
    for (const auto &name : node.input())
      if (!name.empty() && !defined.count(name))
        return "input '" + name + "' of node '" + node.name() +
               "' is not produced by any earlier node (the graph has a cycle "
               "or is not topologically sorted)";
    for (const auto &attr : node.attribute()) {
      if (attr.has_g()) {
        std::string problem = findUndefinedValue(attr.g(), defined);
        if (!problem.empty())
          return problem;
      }
      for (const auto &g : attr.graphs()) {
        std::string problem = findUndefinedValue(g, defined);
        if (!problem.empty())
          return problem;
      }
    }
    for (const auto &name : node.output())
      if (!name.empty() && !defined.insert(name).second)
        return "value '" + name + "' is defined twice (again by node '" +
               node.name() + "')";
  }
  for (const auto &out : graph.output())
    if (!defined.count(out.name()))
      return "graph output '" + out.name() + "' is not produced by any node";
  return "";
}

LogicalResult Importer::prepare(onnx::ModelProto &model) {
  Location loc = FileLineColLoc::get(ctx, bufferName, 0, 0);
  modelOpset = -1;
  for (const auto &opset : model.opset_import())
    if (opset.domain().empty() || opset.domain() == "ai.onnx")
      modelOpset = opset.version();
  if (modelOpset < 0)
    return error(loc) << "the model imports no default-domain (ai.onnx) opset";
  int supported = getSupportedOnnxOpset();
  if (modelOpset > supported)
    return error(loc) << "the model uses opset " << modelOpset
                      << ", newer than the newest this ONNX library knows ("
                      << supported << ")";

  if (options.check) {
    try {
      // check_model(ModelProto) would look for external data in the working
      // directory: check the graph the same way, from the model's folder.
      if (!model.has_ir_version())
        return error(loc) << "invalid ONNX model: it has no ir_version";
      onnx::checker::CheckerContext checker;
      checker.set_ir_version((int)model.ir_version());
      std::unordered_map<std::string, int> opsets;
      for (const auto &opset : model.opset_import())
        opsets[opset.domain()] = (int)opset.version();
      checker.set_opset_imports(opsets);
      checker.set_model_dir(baseDir.empty() ? "." : baseDir);
      checker.set_is_main_graph(true);
      onnx::checker::LexicalScopeContext scope;
      onnx::checker::check_graph(model.graph(), checker, scope);
    } catch (const std::exception &e) {
      return error(loc) << "invalid ONNX model: " << e.what();
    }
  }

  std::string undefined = findUndefinedValue(model.graph(), {});
  if (!undefined.empty())
    return error(loc) << undefined;

  // The converter copies every initializer: convert the graph without them.
  if (modelOpset != supported) {
    onnx::ModelProto stripped = model;
    stripped.mutable_graph()->clear_initializer();
    // Initializers listed as inputs (IR < 4) must stay declared.
    for (const auto &init : model.graph().initializer()) {
      bool listed = false;
      for (const auto &in : stripped.graph().input())
        listed |= in.name() == init.name();
      if (!listed) {
        auto *vi = stripped.mutable_graph()->add_input();
        vi->set_name(init.name());
        auto *tt = vi->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(init.data_type());
        auto *shape = tt->mutable_shape();
        for (auto d : init.dims())
          shape->add_dim()->set_dim_value(d);
      }
    }
    try {
      onnx::ModelProto converted =
          onnx::version_conversion::ConvertVersion(stripped, supported);
      // Put the weights back, and drop the inputs added above.
      auto *graph = converted.mutable_graph();
      std::set<std::string> initNames;
      for (const auto &init : model.graph().initializer())
        initNames.insert(init.name());
      google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> inputs;
      for (const auto &in : graph->input()) {
        bool wasListed = false;
        for (const auto &orig : model.graph().input())
          wasListed |= orig.name() == in.name();
        if (!initNames.count(in.name()) || wasListed)
          *inputs.Add() = in;
      }
      graph->mutable_input()->Swap(&inputs);
      graph->mutable_initializer()->Swap(
          model.mutable_graph()->mutable_initializer());
      model.Swap(&converted);
      modelOpset = supported;
    } catch (const std::exception &e) {
      // Import the nodes as they are where their version is the supported
      // one; importNode reports the others.
      conversionError = e.what();
    }
  }

  if (options.shapeInference) {
    try {
      onnx::ShapeInferenceOptions siOptions(/*check_type=*/false,
                                            /*error_mode=*/0,
                                            /*data_prop=*/true);
      onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                         siOptions);
    } catch (const std::exception &e) {
      // Per-node inference during import reports the offending node; a
      // model-level failure only loses precision.
      (void)e;
    }
  }
  return success();
}

FailureOr<std::unique_ptr<llvm::MemoryBuffer>>
Importer::mapExternalData(const onnx::TensorProto &tensor,
                          int64_t expectedBytes, Location loc) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto &entry : tensor.external_data()) {
    if (entry.key() == "location")
      location = entry.value();
    else if (entry.key() == "offset" || entry.key() == "length") {
      char *end = nullptr;
      long long v = strtoll(entry.value().c_str(), &end, 10);
      if (entry.value().empty() || *end || v < 0)
        return error(loc) << "tensor '" << tensor.name() << "': external data "
                           << entry.key() << " '" << entry.value()
                           << "' is not a non-negative integer";
      (entry.key() == "offset" ? offset : length) = v;
    }
  }
  if (location.empty())
    return error(loc) << "tensor '" << tensor.name()
                      << "' has external data without a location";
  if (baseDir.empty())
    return error(loc) << "tensor '" << tensor.name()
                      << "' has external data, but the model was not read "
                         "from a file";
  if (llvm::sys::path::is_absolute(location))
    return error(loc) << "tensor '" << tensor.name() << "': external data "
                      << "location '" << location
                      << "' is absolute; it must be relative to the model";
  SmallString<256> path(baseDir);
  llvm::sys::path::append(path, location);
  auto escapes = [](StringRef inner, StringRef base) {
    return !inner.starts_with(base) || inner.size() <= base.size() ||
           !llvm::sys::path::is_separator(inner[base.size()]);
  };
  // Lexically first ("../x"), then through symbolic links (real paths).
  SmallString<256> lexicalBase(baseDir), lexicalPath(path);
  llvm::sys::path::remove_dots(lexicalBase, /*remove_dot_dot=*/true);
  llvm::sys::path::remove_dots(lexicalPath, /*remove_dot_dot=*/true);
  if (lexicalBase.empty() || lexicalBase == ".")
    lexicalBase = "";
  if (!lexicalBase.empty() ? escapes(lexicalPath, lexicalBase)
                           : StringRef(lexicalPath).starts_with(".."))
    return error(loc) << "tensor '" << tensor.name()
                      << "': external data location '" << location
                      << "' escapes the model's folder";
  SmallString<256> realBase, realPath;
  if (llvm::sys::fs::real_path(baseDir, realBase) ||
      llvm::sys::fs::real_path(path, realPath))
    return error(loc) << "tensor '" << tensor.name()
                      << "': external data file '" << path
                      << "' does not exist";
  if (escapes(realPath, realBase))
    return error(loc) << "tensor '" << tensor.name()
                      << "': external data location '" << location
                      << "' escapes the model's folder";
  uint64_t fileSize = 0;
  if (llvm::sys::fs::file_size(realPath, fileSize))
    return error(loc) << "cannot read external data file '" << realPath << "'";
  if (length < 0)
    length = (int64_t)fileSize - offset;
  if (length != expectedBytes)
    return error(loc) << "tensor '" << tensor.name() << "': external data has "
                      << length << " bytes, its type needs " << expectedBytes;
  if ((uint64_t)offset + (uint64_t)length > fileSize)
    return error(loc) << "tensor '" << tensor.name() << "': external data ["
                      << offset << ", " << offset + length
                      << ") runs past the end of '" << location << "' ("
                      << fileSize << " bytes): the file is truncated";
  auto buffer = llvm::MemoryBuffer::getFileSlice(realPath, length, offset,
                                                 /*IsVolatile=*/false);
  if (!buffer)
    return error(loc) << "cannot map external data '" << realPath
                      << "': " << buffer.getError().message();
  return std::move(*buffer);
}

FailureOr<ElementsAttr> Importer::importTensor(const onnx::TensorProto &tensor,
                                               Location loc) {
  Type element = elementTypeFromOnnx(tensor.data_type(), ctx);
  if (!element)
    return error(loc) << "tensor '" << tensor.name() << "' has data type "
                      << onnx::TensorProto::DataType_Name(
                             (onnx::TensorProto::DataType)tensor.data_type())
                      << ", which Tailor does not support";
  SmallVector<int64_t> dims;
  int64_t numElements = 1;
  for (auto d : tensor.dims()) {
    if (d < 0 || (d > 0 && numElements > (int64_t(1) << 50) / d))
      return error(loc) << "tensor '" << tensor.name()
                        << "' has an invalid dimension " << d;
    dims.push_back(d);
    numElements *= d;
  }
  auto type = RankedTensorType::get(dims, element);
  int64_t elementSize = rawElementSize(element);
  int64_t bytes = numElements * elementSize;
  size_t alignment = std::max<int64_t>(elementSize, 1);
  std::string blobName = tensor.name().empty() ? "constant" : tensor.name();

  auto makeAttr = [&](AsmResourceBlob blob) -> ElementsAttr {
    return DenseResourceElementsAttr::get(type, blobName, std::move(blob));
  };
  // Copies into a fresh aligned blob; an empty tensor has no data pointer to
  // copy from (memcpy from null is undefined even for zero bytes).
  auto copyBlob = [&](ArrayRef<char> data) -> AsmResourceBlob {
    if (data.empty())
      return HeapAsmResourceBlob::allocate(0, alignment, /*dataIsMutable=*/false);
    return HeapAsmResourceBlob::allocateAndCopyWithAlign(
        data, alignment, /*dataIsMutable=*/false);
  };

  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    auto mapped = mapExternalData(tensor, bytes, loc);
    if (failed(mapped))
      return failure();
    std::unique_ptr<llvm::MemoryBuffer> buffer = std::move(*mapped);
    ArrayRef<char> data(buffer->getBufferStart(), buffer->getBufferSize());
    if (reinterpret_cast<uintptr_t>(data.data()) % alignment != 0)
      return makeAttr(copyBlob(data));
    llvm::MemoryBuffer *raw = buffer.release();
    return makeAttr(AsmResourceBlob(
        data, alignment,
        [raw](void *, size_t, size_t) { delete raw; },
        /*dataIsMutable=*/false));
  }

  if (tensor.has_raw_data()) {
    const std::string &raw = tensor.raw_data();
    if ((int64_t)raw.size() != bytes)
      return error(loc) << "tensor '" << tensor.name() << "' has "
                        << raw.size() << " bytes of raw data, its type "
                        << type << " needs " << bytes;
    return makeAttr(copyBlob(ArrayRef<char>(raw.data(), raw.size())));
  }

  // Typed fields: widen/narrow into the element's raw layout.
  std::vector<char> data(bytes);
  auto fill = [&](const auto &field, auto convert) -> LogicalResult {
    int64_t expected = numElements * (isa<ComplexType>(element) ? 2 : 1);
    if ((int64_t)field.size() != expected)
      return error(loc) << "tensor '" << tensor.name() << "' has "
                        << field.size() << " values, its type " << type
                        << " needs " << expected;
    int64_t scalarSize = isa<ComplexType>(element) ? elementSize / 2 : elementSize;
    for (int64_t i = 0; i < expected; ++i)
      convert(field.Get(i), data.data() + i * scalarSize);
    return success();
  };
  LogicalResult filled = success();
  switch (tensor.data_type()) {
  case onnx::TensorProto::FLOAT:
  case onnx::TensorProto::COMPLEX64:
    filled = fill(tensor.float_data(),
                  [](float v, char *p) { memcpy(p, &v, 4); });
    break;
  case onnx::TensorProto::DOUBLE:
  case onnx::TensorProto::COMPLEX128:
    filled = fill(tensor.double_data(),
                  [](double v, char *p) { memcpy(p, &v, 8); });
    break;
  case onnx::TensorProto::INT64:
    filled = fill(tensor.int64_data(),
                  [](int64_t v, char *p) { memcpy(p, &v, 8); });
    break;
  case onnx::TensorProto::UINT32:
  case onnx::TensorProto::UINT64:
    filled = fill(tensor.uint64_data(), [&](uint64_t v, char *p) {
      memcpy(p, &v, elementSize);
    });
    break;
  default: // int32 and narrower, bool, float16/bfloat16: in int32_data
    filled = fill(tensor.int32_data(), [&](int32_t v, char *p) {
      memcpy(p, &v, elementSize);
    });
    break;
  }
  if (failed(filled))
    return failure();
  return makeAttr(copyBlob(ArrayRef<char>(data.data(), data.size())));
}

/// ONNX Runtime's com.microsoft.MatMulNBits (the int4 format of its
/// quantizer and tailor-export --onnx-int4=matmulnbits) with constant 4-bit
/// weights becomes the int4 linear tailor-quantize makes: the integers
/// q = u - 8 behind a quant.scast to a per-group !quant.uniform type (zero
/// points z - 8; the default 8 is 0).
LogicalResult Importer::importMatMulNBits(const onnx::NodeProto &node) {
  Location loc = nodeLoc(node);
  auto fail = [&](const Twine &why) {
    return error(loc) << "MatMulNBits node '" << node.name() << "': " << why;
  };
  int64_t k = -1, n = -1, bits = 4, block = -1;
  for (const auto &attr : node.attribute()) {
    int64_t *slot = attr.name() == "K"            ? &k
                    : attr.name() == "N"          ? &n
                    : attr.name() == "bits"       ? &bits
                    : attr.name() == "block_size" ? &block
                                                  : nullptr;
    if (slot && attr.type() == onnx::AttributeProto::INT)
      *slot = attr.i();
    else if (attr.name() != "accuracy_level")
      return fail("unsupported attribute '" + attr.name() + "'");
  }
  if (bits != 4)
    return fail("only bits = 4 is supported, got " + Twine(bits));
  if (k <= 0 || n <= 0 || block < 2 || block % 2 || k % block)
    return fail("K (" + Twine(k) + ") must be a positive multiple of an even "
                "block_size (" + Twine(block) + "), N (" + Twine(n) +
                ") positive");
  int64_t blocks = k / block;
  auto input = [&](int i) -> Value {
    if (i >= node.input_size() || node.input(i).empty())
      return {};
    auto it = values.find(node.input(i));
    return it == values.end() ? Value() : it->second;
  };
  for (int i = 0; i < node.input_size(); ++i)
    if (!node.input(i).empty() && !input(i))
      return fail("input '" + node.input(i) + "' is not produced earlier");
  if (node.input_size() < 3 || node.output_size() != 1 || !input(0) ||
      !input(1) || !input(2))
    return fail("needs inputs A, B and scales and one output");
  if (k > (int64_t(1) << 30) || n > (int64_t(1) << 30))
    return fail("K and N must be below 2^30");
  if (input(4))
    return fail("g_idx (act-order) is not supported");
  auto constantOf = [&](int i, Type element,
                        ArrayRef<int64_t> shape) -> std::optional<DenseElementsAttr> {
    ElementsAttr attr = getConstantElements(input(i));
    DenseElementsAttr d = attr ? toDenseElements(attr) : DenseElementsAttr();
    int64_t count = 1;
    for (int64_t s : shape)
      count *= s;
    if (!d || d.getElementType() != element || d.getNumElements() != count)
      return std::nullopt;
    // B must have its documented shape (a transposed one has the same
    // count); 1-D scales and zero points may also come as [N, blocks].
    if (shape.size() > 1 && d.getType().getShape() != shape)
      return std::nullopt;
    return d;
  };
  Type u8 = IntegerType::get(ctx, 8, IntegerType::Unsigned);
  Type f32 = builder.getF32Type();
  auto bData = constantOf(1, u8, {n, blocks, block / 2});
  auto sData = constantOf(2, f32, {n * blocks});
  if (!bData || !sData)
    return fail("B must be a constant uint8 [N, K/block, block/2] and scales "
                "a constant float [N * K/block]");
  SmallVector<uint8_t> zp;
  if (input(3)) {
    auto zData = constantOf(3, u8, {n * ((blocks + 1) / 2)});
    if (!zData)
      return fail("zero_points must be a constant uint8 [N * ceil(K/block / "
                  "2)] (packed 4-bit)");
    for (APInt v : zData->getValues<APInt>())
      zp.push_back(uint8_t(v.getZExtValue()));
  }
  SmallVector<uint8_t> packed;
  for (APInt v : bData->getValues<APInt>())
    packed.push_back(uint8_t(v.getZExtValue()));
  SmallVector<float> blockScales(sData->getValues<float>());
  SmallVector<int8_t> q(size_t(k * n)), zeros(size_t(blocks * n), 0);
  SmallVector<float> scales(size_t(blocks * n));
  for (int64_t c = 0; c < n; ++c) {
    for (int64_t r = 0; r < k; r += 2) {
      uint8_t byte = packed[(c * k + r) / 2];
      q[r * n + c] = int8_t(int(byte & 15) - 8);
      q[(r + 1) * n + c] = int8_t(int(byte >> 4) - 8);
    }
    for (int64_t b = 0; b < blocks; ++b) {
      scales[b * n + c] = blockScales[c * blocks + b];
      if (!zp.empty())
        zeros[b * n + c] = int8_t(
            int((zp[c * ((blocks + 1) / 2) + b / 2] >> (4 * (b % 2))) & 15) - 8);
    }
  }
  Value a = input(0);
  auto aTensor = dyn_cast<TensorType>(a.getType());
  auto aType = dyn_cast<RankedTensorType>(a.getType());
  if (!aTensor || !aTensor.getElementType().isF32() ||
      (aType && (aType.getRank() < 1 ||
                 (!aType.isDynamicDim(aType.getRank() - 1) &&
                  aType.getDimSize(aType.getRank() - 1) != k))))
    return fail("A must be a float tensor [..., " + Twine(k) + "]");
  Value bias = input(5);
  Type i8 = builder.getI8Type();
  auto storage = RankedTensorType::get({k, n}, i8);
  Value ints = OnnxConstantOp::create(
      builder, loc, storage,
      DenseResourceElementsAttr::get(
          storage, "tailor_int4",
          HeapAsmResourceBlob::allocateAndCopyInferAlign(
              ArrayRef<int8_t>(q), /*dataIsMutable=*/false)),
      nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  auto qType = quant::UniformQuantizedSubChannelType::getChecked(
      [&] { return emitError(loc); }, quant::QuantizationFlags::Signed, i8,
      f32,
      DenseElementsAttr::get(RankedTensorType::get({blocks, n}, f32),
                             ArrayRef<float>(scales)),
      DenseElementsAttr::get(RankedTensorType::get({blocks, n}, i8),
                             ArrayRef<int8_t>(zeros)),
      {0, 1}, {block, 1}, /*storageTypeMin=*/-8, /*storageTypeMax=*/7);
  if (!qType)
    return failure();
  Value w = quant::StorageCastOp::create(builder, loc, storage.clone(qType),
                                         ints);
  // The result is [..., N]; an unranked A (ONNX's inference does not know
  // this op's outputs, so later shapes may be lost) leaves it unranked
  // until tailor-infer-shapes.
  Type resultType = UnrankedTensorType::get(f32);
  if (aType) {
    SmallVector<int64_t> shape(aType.getShape());
    shape.back() = n;
    resultType = RankedTensorType::get(shape, f32);
  }
  auto linear = LinearOp::create(builder, loc, resultType, a, w, bias);
  values[node.output(0)] = linear.getResult();
  return success();
}

LogicalResult Importer::importNode(const onnx::NodeProto &node) {
  Location loc = nodeLoc(node);
  if (node.domain() == "com.microsoft" && node.op_type() == "MatMulNBits")
    return importMatMulNBits(node);
  if (!node.domain().empty() && node.domain() != "ai.onnx")
    return error(loc) << "unsupported op '" << node.op_type() << "' of domain '"
                      << node.domain() << "' (node '" << node.name() << "')";
  std::string opName = "tailor.onnx." + node.op_type();
  std::optional<RegisteredOperationName> registered =
      RegisteredOperationName::lookup(opName, ctx);
  const onnx::OpSchema *schema = lookupOnnxSchema(node.op_type());
  if (!registered || !schema)
    return error(loc) << "unsupported ONNX op '" << node.op_type()
                      << "' (node '" << node.name() << "')";
  const onnx::OpSchema *modelSchema = onnx::OpSchemaRegistry::Schema(
      node.op_type(), modelOpset, onnx::ONNX_DOMAIN);
  if (!modelSchema || modelSchema->since_version() != schema->since_version()) {
    auto diag = error(loc) << "ONNX op '" << node.op_type() << "' (node '"
                           << node.name() << "') in opset " << modelOpset
                           << " is version "
                           << (modelSchema ? modelSchema->since_version() : 0)
                           << "; Tailor supports version "
                           << schema->since_version();
    if (!conversionError.empty())
      diag << ", and converting the model failed: " << conversionError;
    return diag;
  }

  // Operands, split over the schema's formal inputs.
  OperationState state(loc, opName);
  SmallVector<int32_t> operandSegments;
  SmallVector<Type> inputTypes;
  SmallVector<const onnx::TensorProto *> inputData;
  const auto &formals = schema->inputs();
  int pos = 0, n = node.input_size();
  auto takeInput = [&](int index) -> LogicalResult {
    const std::string &name = node.input(index);
    if (name.empty()) {
      inputTypes.push_back(Type());
      inputData.push_back(nullptr);
      return success();
    }
    auto it = values.find(name);
    if (it == values.end())
      return error(loc) << "input '" << name << "' of node '" << node.name()
                        << "' is not produced by any earlier node (the graph "
                           "has a cycle or is not topologically sorted)";
    state.operands.push_back(it->second);
    inputTypes.push_back(it->second.getType());
    auto data = constantData.find(name);
    inputData.push_back(data == constantData.end() ? nullptr : &data->second);
    return success();
  };
  for (const auto &formal : formals) {
    if (formal.GetOption() == onnx::OpSchema::Variadic) {
      int count = 0;
      for (; pos < n; ++pos, ++count)
        if (failed(takeInput(pos)))
          return failure();
      operandSegments.push_back(count);
      continue;
    }
    bool present = pos < n && !node.input(pos).empty();
    if (pos < n && failed(takeInput(pos)))
      return failure();
    if (!present && formal.GetOption() == onnx::OpSchema::Single)
      return error(loc) << "node '" << node.name() << "' (" << node.op_type()
                        << ") lacks its required input '" << formal.GetName()
                        << "'";
    ++pos;
    operandSegments.push_back(present ? 1 : 0);
  }
  if (pos < n)
    return error(loc) << "node '" << node.name() << "' (" << node.op_type()
                      << ") has " << n << " inputs, more than its schema allows";
  if (registered->hasTrait<OpTrait::AttrSizedOperandSegments>())
    state.addAttribute("operandSegmentSizes",
                       builder.getDenseI32ArrayAttr(operandSegments));

  // Attributes.
  for (const auto &attr : node.attribute()) {
    auto schemaAttr = schema->attributes().find(attr.name());
    if (schemaAttr == schema->attributes().end())
      return error(loc) << "node '" << node.name() << "' (" << node.op_type()
                        << ") has unknown attribute '" << attr.name() << "'";
    if (schemaAttr->second.type != attr.type())
      return error(loc) << "attribute '" << attr.name() << "' of node '"
                        << node.name() << "' (" << node.op_type() << ") is "
                        << onnx::AttributeProto::AttributeType_Name(attr.type())
                        << ", expected "
                        << onnx::AttributeProto::AttributeType_Name(
                               schemaAttr->second.type);
    // Constant's scalar and list forms become one `value` tensor, so that
    // every constant has the same shape in the IR.
    if (node.op_type() == "Constant" &&
        (attr.name() == "value_float" || attr.name() == "value_floats" ||
         attr.name() == "value_int" || attr.name() == "value_ints")) {
      bool isFloat = attr.name().rfind("value_float", 0) == 0;
      bool isList = attr.name().back() == 's';
      Type element = isFloat ? Type(builder.getF32Type())
                             : Type(builder.getI64Type());
      SmallVector<int64_t> shape;
      if (isList)
        shape.push_back(isFloat ? attr.floats_size() : attr.ints_size());
      auto type = RankedTensorType::get(shape, element);
      DenseElementsAttr value =
          isFloat ? (isList ? DenseElementsAttr::get(
                                  type, ArrayRef<float>(SmallVector<float>(
                                            attr.floats().begin(),
                                            attr.floats().end())))
                            : DenseElementsAttr::get(type, {attr.f()}))
                  : (isList ? DenseElementsAttr::get(
                                  type, ArrayRef<int64_t>(SmallVector<int64_t>(
                                            attr.ints().begin(),
                                            attr.ints().end())))
                            : DenseElementsAttr::get(
                                  type, {(int64_t)attr.i()}));
      state.addAttribute("value", value);
      continue;
    }
    if (attr.type() == onnx::AttributeProto::TENSOR) {
      auto elements = importTensor(attr.t(), loc);
      if (failed(elements))
        return failure();
      state.addAttribute(attr.name(), *elements);
      continue;
    }
    std::string message;
    Attribute value = attributeFromOnnx(attr, builder, message);
    if (!value)
      return error(loc) << "node '" << node.name() << "' (" << node.op_type()
                        << "): " << message;
    state.addAttribute(attr.name(), value);
  }

  // Result types: ONNX's per-node inference, refined by the model's
  // value_info (filled by model-level inference with data propagation).
  SmallVector<Type> inferred;
  std::string message;
  if (!runOnnxInference(*schema, node, inputTypes, inputData,
                        node.output_size(), ctx, inferred, message))
    return error(loc) << "node '" << node.name() << "' (" << node.op_type()
                      << ") is invalid: " << message;
  SmallVector<int32_t> resultSegments;
  SmallVector<std::string> resultNames;
  const auto &outFormals = schema->outputs();
  int outPos = 0, outCount = node.output_size();
  for (const auto &formal : outFormals) {
    int count = 0;
    if (formal.GetOption() == onnx::OpSchema::Variadic) {
      for (; outPos < outCount; ++outPos, ++count) {
        resultNames.push_back(node.output(outPos));
        state.types.push_back(valueType(node.output(outPos), inferred[outPos]));
      }
    } else {
      if (outPos < outCount && !node.output(outPos).empty()) {
        resultNames.push_back(node.output(outPos));
        state.types.push_back(valueType(node.output(outPos), inferred[outPos]));
        count = 1;
      }
      ++outPos;
    }
    resultSegments.push_back(count);
  }
  for (Type &t : state.types)
    if (!t)
      return error(loc) << "cannot infer the type of an output of node '"
                        << node.name() << "' (" << node.op_type() << ")";
  if (registered->hasTrait<OpTrait::AttrSizedResultSegments>())
    state.addAttribute("resultSegmentSizes",
                       builder.getDenseI32ArrayAttr(resultSegments));

  Operation *op = builder.create(state);
  for (auto [name, result] : llvm::zip(resultNames, op->getResults()))
    values[name] = result;

  // Keep small integer constants for the inference of their users.
  if (auto constant = dyn_cast<OnnxConstantOp>(op)) {
    ElementsAttr value = constant.getValueAttr();
    if (value && cast<ShapedType>(value.getType()).getNumElements() <= 4096) {
      onnx::TensorProto proto;
      if (elementsToOnnx(value, proto))
        constantData[node.output(0)] = std::move(proto);
    }
  }
  return success();
}

LogicalResult Importer::importGraph(const onnx::GraphProto &graph,
                                    ModuleOp module) {
  Location graphLoc = FileLineColLoc::get(ctx, bufferName, 0, 0);
  for (const auto &vi : graph.value_info())
    declaredTypes[vi.name()] = &vi.type();
  for (const auto &vi : graph.output())
    declaredTypes[vi.name()] = &vi.type();

  std::set<std::string> initializerNames;
  for (const auto &init : graph.initializer())
    initializerNames.insert(init.name());
  SmallVector<Type> argTypes;
  SmallVector<const onnx::ValueInfoProto *> args;
  for (const auto &in : graph.input()) {
    if (initializerNames.count(in.name()))
      continue;
    Type t = typeFromOnnx(in.type(), ctx);
    if (!t)
      return error(graphLoc) << "graph input '" << in.name()
                             << "' is not a tensor of a supported type";
    argTypes.push_back(t);
    args.push_back(&in);
  }

  builder.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(builder, graphLoc, options.functionName,
                                   builder.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [i, in] : llvm::enumerate(args)) {
    values[in->name()] = entry->getArgument(i);
    func.setArgAttr(i, "onnx.name", builder.getStringAttr(in->name()));
  }
  builder.setInsertionPointToStart(entry);

  for (const auto &init : graph.initializer()) {
    Location loc = NameLoc::get(builder.getStringAttr(init.name()), graphLoc);
    auto elements = importTensor(init, loc);
    if (failed(elements))
      return failure();
    auto constant = OnnxConstantOp::create(
        builder, loc, elements->getType(), *elements, nullptr, nullptr, nullptr,
        nullptr, nullptr, nullptr);
    values[init.name()] = constant.getResult();
    if (cast<ShapedType>(elements->getType()).getNumElements() <= 4096 &&
        cast<ShapedType>(elements->getType()).getElementType().isInteger())
      constantData[init.name()] = init;
  }

  // Name every unsupported op type up front, so a user sees the whole list.
  std::set<std::string> unsupported;
  for (const auto &node : graph.node()) {
    bool known = ((node.domain().empty() || node.domain() == "ai.onnx") &&
                  RegisteredOperationName::lookup(
                      "tailor.onnx." + node.op_type(), ctx)) ||
                 (node.domain() == "com.microsoft" &&
                  node.op_type() == "MatMulNBits");
    if (!known && unsupported.insert(node.domain() + "::" + node.op_type()).second)
      (void)importNode(node); // reports it
  }
  if (!unsupported.empty())
    return failure();
  for (const auto &node : graph.node())
    if (failed(importNode(node)))
      return failure();

  SmallVector<Value> results;
  SmallVector<Type> resultTypes;
  for (const auto &out : graph.output()) {
    auto it = values.find(out.name());
    if (it == values.end())
      return error(graphLoc) << "graph output '" << out.name()
                             << "' is not produced by any node";
    results.push_back(it->second);
    resultTypes.push_back(it->second.getType());
  }
  func::ReturnOp::create(builder, graphLoc, results);
  func.setType(builder.getFunctionType(argTypes, resultTypes));
  for (auto [i, out] : llvm::enumerate(graph.output()))
    func.setResultAttr(i, "onnx.name", builder.getStringAttr(out.name()));
  return success();
}

OwningOpRef<ModuleOp> Importer::run(onnx::ModelProto &model) {
  ctx->loadDialect<TailorDialect, func::FuncDialect, quant::QuantDialect>();
  if (failed(prepare(model)))
    return nullptr;
  OwningOpRef<ModuleOp> module =
      ModuleOp::create(FileLineColLoc::get(ctx, bufferName, 0, 0));
  (*module)->setAttr("onnx.opset", builder.getI64IntegerAttr(modelOpset));
  if (!model.producer_name().empty())
    (*module)->setAttr("onnx.producer",
                       builder.getStringAttr(model.producer_name() + " " +
                                             model.producer_version()));
  if (failed(importGraph(model.graph(), *module)))
    return nullptr;
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

OwningOpRef<ModuleOp> importModel(onnx::ModelProto &model, StringRef name,
                                  StringRef baseDir, MLIRContext *ctx,
                                  const OnnxImportOptions &options) {
  try {
    Importer importer(ctx, name, baseDir, options);
    return importer.run(model);
  } catch (const std::exception &e) {
    emitError(FileLineColLoc::get(ctx, name, 0, 0))
        << "failed to import the ONNX model: " << e.what();
    return nullptr;
  }
}

} // namespace

OwningOpRef<ModuleOp>
mlir::tailor::importOnnxBuffer(StringRef bytes, StringRef bufferName,
                               StringRef baseDir, MLIRContext *ctx,
                               const OnnxImportOptions &options) {
  onnx::ModelProto model;
  if (bytes.size() > (size_t)INT_MAX ||
      !model.ParseFromArray(bytes.data(), (int)bytes.size())) {
    emitError(FileLineColLoc::get(ctx, bufferName, 0, 0))
        << "'" << bufferName
        << "' is not a valid ONNX model: the protobuf could not be parsed "
           "(truncated or corrupt file?)";
    return nullptr;
  }
  if (!model.has_graph()) {
    emitError(FileLineColLoc::get(ctx, bufferName, 0, 0))
        << "'" << bufferName << "' is not a valid ONNX model: it has no graph";
    return nullptr;
  }
  return importModel(model, bufferName, baseDir, ctx, options);
}

OwningOpRef<ModuleOp>
mlir::tailor::importOnnxFile(StringRef path, MLIRContext *ctx,
                             const OnnxImportOptions &options) {
  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(path, /*IsText=*/false,
                                                   /*RequiresNullTerminator=*/
                                                   path.ends_with(".onnxtxt"));
  if (!buffer) {
    emitError(UnknownLoc::get(ctx))
        << "cannot read '" << path << "': " << buffer.getError().message();
    return nullptr;
  }
  SmallString<256> dir(path == "-" ? "." : path);
  if (path != "-")
    llvm::sys::path::remove_filename(dir);
  if (dir.empty())
    dir = ".";
  if (!path.ends_with(".onnxtxt"))
    return importOnnxBuffer((*buffer)->getBuffer(), path, dir, ctx, options);

  onnx::ModelProto model;
  try {
    auto status =
        onnx::OnnxParser::Parse(model, (*buffer)->getBufferStart());
    if (!status.IsOK()) {
      emitError(FileLineColLoc::get(ctx, path, 0, 0))
          << "cannot parse ONNX text: " << status.ErrorMessage();
      return nullptr;
    }
  } catch (const std::exception &e) {
    emitError(FileLineColLoc::get(ctx, path, 0, 0))
        << "cannot parse ONNX text: " << e.what();
    return nullptr;
  }
  return importModel(model, path, dir, ctx, options);
}
