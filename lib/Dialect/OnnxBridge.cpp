//===- OnnxBridge.cpp - Conversions between ONNX protos and MLIR ----------===//
//
// Compiled with exceptions: the ONNX library reports errors by throwing. Every
// entry point catches at this boundary and returns a message instead.
//
//===----------------------------------------------------------------------===//

#include "tailor/Dialect/OnnxBridge.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "tailor/Dialect/Tailor.h"

#include "onnx/defs/shape_inference.h"

using namespace mlir;
using namespace mlir::tailor;

int mlir::tailor::getSupportedOnnxOpset() {
  const auto &map =
      onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  return map.at(onnx::ONNX_DOMAIN).second;
}

const onnx::OpSchema *mlir::tailor::lookupOnnxSchema(llvm::StringRef opType) {
  return onnx::OpSchemaRegistry::Schema(opType.str(), getSupportedOnnxOpset(),
                                        onnx::ONNX_DOMAIN);
}

Type mlir::tailor::elementTypeFromOnnx(int32_t dataType, MLIRContext *ctx) {
  Builder b(ctx);
  switch (dataType) {
  case onnx::TensorProto::FLOAT:
    return b.getF32Type();
  case onnx::TensorProto::FLOAT16:
    return b.getF16Type();
  case onnx::TensorProto::BFLOAT16:
    return b.getBF16Type();
  case onnx::TensorProto::DOUBLE:
    return b.getF64Type();
  case onnx::TensorProto::BOOL:
    return b.getI1Type();
  case onnx::TensorProto::INT8:
    return b.getIntegerType(8);
  case onnx::TensorProto::INT16:
    return b.getIntegerType(16);
  case onnx::TensorProto::INT32:
    return b.getIntegerType(32);
  case onnx::TensorProto::INT64:
    return b.getIntegerType(64);
  case onnx::TensorProto::UINT8:
    return b.getIntegerType(8, /*isSigned=*/false);
  case onnx::TensorProto::UINT16:
    return b.getIntegerType(16, false);
  case onnx::TensorProto::UINT32:
    return b.getIntegerType(32, false);
  case onnx::TensorProto::UINT64:
    return b.getIntegerType(64, false);
  case onnx::TensorProto::COMPLEX64:
    return ComplexType::get(b.getF32Type());
  case onnx::TensorProto::COMPLEX128:
    return ComplexType::get(b.getF64Type());
  default:
    return nullptr;
  }
}

std::optional<int32_t> mlir::tailor::onnxDataTypeOf(Type t) {
  if (t.isF32())
    return onnx::TensorProto::FLOAT;
  if (t.isF16())
    return onnx::TensorProto::FLOAT16;
  if (t.isBF16())
    return onnx::TensorProto::BFLOAT16;
  if (t.isF64())
    return onnx::TensorProto::DOUBLE;
  if (auto c = dyn_cast<ComplexType>(t)) {
    if (c.getElementType().isF32())
      return onnx::TensorProto::COMPLEX64;
    if (c.getElementType().isF64())
      return onnx::TensorProto::COMPLEX128;
    return std::nullopt;
  }
  auto i = dyn_cast<IntegerType>(t);
  if (!i)
    return std::nullopt;
  bool isUnsigned = i.isUnsigned();
  switch (i.getWidth()) {
  case 1:
    return onnx::TensorProto::BOOL;
  case 8:
    return isUnsigned ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT8;
  case 16:
    return isUnsigned ? onnx::TensorProto::UINT16 : onnx::TensorProto::INT16;
  case 32:
    return isUnsigned ? onnx::TensorProto::UINT32 : onnx::TensorProto::INT32;
  case 64:
    return isUnsigned ? onnx::TensorProto::UINT64 : onnx::TensorProto::INT64;
  default:
    return std::nullopt;
  }
}

Type mlir::tailor::typeFromOnnx(const onnx::TypeProto &type, MLIRContext *ctx) {
  if (type.value_case() != onnx::TypeProto::kTensorType)
    return nullptr;
  const auto &tensor = type.tensor_type();
  Type element = elementTypeFromOnnx(tensor.elem_type(), ctx);
  if (!element)
    return nullptr;
  if (!tensor.has_shape())
    return UnrankedTensorType::get(element);
  SmallVector<int64_t> dims;
  for (const auto &dim : tensor.shape().dim()) {
    if (dim.has_dim_value() && dim.dim_value() >= 0)
      dims.push_back(dim.dim_value());
    else
      dims.push_back(ShapedType::kDynamic);
  }
  return RankedTensorType::get(dims, element);
}

bool mlir::tailor::typeToOnnx(Type type, onnx::TypeProto &proto) {
  auto tensor = dyn_cast<TensorType>(type);
  if (!tensor)
    return false;
  std::optional<int32_t> dataType = onnxDataTypeOf(tensor.getElementType());
  if (!dataType)
    return false;
  auto *tensorProto = proto.mutable_tensor_type();
  tensorProto->set_elem_type(*dataType);
  if (!tensor.hasRank())
    return true;
  auto *shape = tensorProto->mutable_shape();
  for (int64_t d : tensor.getShape()) {
    auto *dim = shape->add_dim();
    if (!ShapedType::isDynamic(d))
      dim->set_dim_value(d);
  }
  return true;
}

Attribute mlir::tailor::attributeFromOnnx(const onnx::AttributeProto &attr,
                                          Builder &b, std::string &error) {
  switch (attr.type()) {
  case onnx::AttributeProto::FLOAT:
    return b.getF32FloatAttr(attr.f());
  case onnx::AttributeProto::INT:
    return b.getI64IntegerAttr(attr.i());
  case onnx::AttributeProto::STRING:
    return b.getStringAttr(attr.s());
  case onnx::AttributeProto::FLOATS:
    return b.getDenseF32ArrayAttr(
        SmallVector<float>(attr.floats().begin(), attr.floats().end()));
  case onnx::AttributeProto::INTS:
    return b.getDenseI64ArrayAttr(
        SmallVector<int64_t>(attr.ints().begin(), attr.ints().end()));
  case onnx::AttributeProto::STRINGS: {
    SmallVector<Attribute> strings;
    for (const auto &s : attr.strings())
      strings.push_back(b.getStringAttr(s));
    return b.getArrayAttr(strings);
  }
  default:
    error = "attribute '" + attr.name() + "' has kind " +
            onnx::AttributeProto::AttributeType_Name(attr.type()) +
            ", which Tailor does not support";
    return nullptr;
  }
}

bool mlir::tailor::attributeToOnnx(llvm::StringRef name, Attribute attr,
                                   onnx::AttributeProto &proto) {
  proto.set_name(name.str());
  if (auto f = dyn_cast<FloatAttr>(attr)) {
    proto.set_type(onnx::AttributeProto::FLOAT);
    proto.set_f(f.getValueAsDouble());
    return true;
  }
  if (auto i = dyn_cast<IntegerAttr>(attr)) {
    proto.set_type(onnx::AttributeProto::INT);
    proto.set_i(i.getValue().getSExtValue());
    return true;
  }
  if (auto s = dyn_cast<StringAttr>(attr)) {
    proto.set_type(onnx::AttributeProto::STRING);
    proto.set_s(s.str());
    return true;
  }
  if (auto fs = dyn_cast<DenseF32ArrayAttr>(attr)) {
    proto.set_type(onnx::AttributeProto::FLOATS);
    for (float f : fs.asArrayRef())
      proto.add_floats(f);
    return true;
  }
  if (auto is = dyn_cast<DenseI64ArrayAttr>(attr)) {
    proto.set_type(onnx::AttributeProto::INTS);
    for (int64_t i : is.asArrayRef())
      proto.add_ints(i);
    return true;
  }
  if (auto array = dyn_cast<ArrayAttr>(attr)) {
    proto.set_type(onnx::AttributeProto::STRINGS);
    for (Attribute a : array) {
      auto s = dyn_cast<StringAttr>(a);
      if (!s)
        return false;
      proto.add_strings(s.str());
    }
    return true;
  }
  if (auto elements = dyn_cast<ElementsAttr>(attr)) {
    proto.set_type(onnx::AttributeProto::TENSOR);
    return elementsToOnnx(elements, *proto.mutable_t());
  }
  return false;
}

bool mlir::tailor::elementsToOnnx(ElementsAttr attr, onnx::TensorProto &proto) {
  auto type = cast<ShapedType>(attr.getType());
  std::optional<int32_t> dataType = onnxDataTypeOf(type.getElementType());
  DenseElementsAttr dense = toDenseElements(attr);
  if (!dataType || !dense)
    return false;
  proto.set_data_type(*dataType);
  for (int64_t d : type.getShape())
    proto.add_dims(d);
  Type element = type.getElementType();
  if (element.isInteger(1)) {
    // DenseElementsAttr packs booleans as bits; ONNX stores one byte each.
    std::string bytes;
    for (bool v : dense.getValues<bool>())
      bytes.push_back(v ? 1 : 0);
    proto.set_raw_data(bytes);
    return true;
  }
  if (dense.isSplat()) {
    // Raw data of a splat holds one element: repeat it.
    ArrayRef<char> one = dense.getRawData();
    std::string bytes;
    bytes.reserve(one.size() * type.getNumElements());
    for (int64_t i = 0; i < type.getNumElements(); ++i)
      bytes.append(one.data(), one.size());
    proto.set_raw_data(bytes);
    return true;
  }
  ArrayRef<char> raw = dense.getRawData();
  proto.set_raw_data(std::string(raw.data(), raw.size()));
  return true;
}

namespace {
/// The InferenceContext ONNX's shape-inference functions read.
class Context final : public onnx::InferenceContext {
public:
  Context(const onnx::NodeProto &node,
          std::vector<std::optional<onnx::TypeProto>> inputTypes,
          llvm::ArrayRef<const onnx::TensorProto *> inputData,
          unsigned numOutputs)
      : outputTypes(numOutputs), inputTypes(std::move(inputTypes)),
        inputData(inputData.begin(), inputData.end()) {
    for (const auto &attr : node.attribute())
      attributes[attr.name()] = &attr;
  }
  const onnx::AttributeProto *
  getAttribute(const std::string &name) const override {
    auto it = attributes.find(name);
    return it == attributes.end() ? nullptr : it->second;
  }
  size_t getNumInputs() const override { return inputTypes.size(); }
  const onnx::TypeProto *getInputType(size_t i) const override {
    if (i >= inputTypes.size() || !inputTypes[i])
      return nullptr;
    return &*inputTypes[i];
  }
  const onnx::TensorProto *getInputData(size_t i) const override {
    return i < inputData.size() ? inputData[i] : nullptr;
  }
  size_t getNumOutputs() const override { return outputTypes.size(); }
  onnx::TypeProto *getOutputType(size_t i) override { return &outputTypes[i]; }
  onnx::GraphInferencer *
  getGraphAttributeInferencer(const std::string &) override {
    return nullptr;
  }
  const onnx::SparseTensorProto *getInputSparseData(size_t) const override {
    return nullptr;
  }
  const onnx::TensorShapeProto *getSymbolicInput(size_t) const override {
    return nullptr;
  }

  std::vector<onnx::TypeProto> outputTypes;

private:
  std::vector<std::optional<onnx::TypeProto>> inputTypes;
  std::vector<const onnx::TensorProto *> inputData;
  std::map<std::string, const onnx::AttributeProto *> attributes;
};
} // namespace

bool mlir::tailor::runOnnxInference(
    const onnx::OpSchema &schema, const onnx::NodeProto &node,
    llvm::ArrayRef<Type> inputTypes,
    llvm::ArrayRef<const onnx::TensorProto *> inputData, unsigned numOutputs,
    MLIRContext *context, llvm::SmallVectorImpl<Type> &resultTypes,
    std::string &error) {
  std::vector<std::optional<onnx::TypeProto>> protos;
  for (Type t : inputTypes) {
    if (!t) {
      protos.emplace_back();
      continue;
    }
    onnx::TypeProto proto;
    if (!typeToOnnx(t, proto)) {
      error = "operand type has no ONNX equivalent";
      return false;
    }
    protos.emplace_back(std::move(proto));
  }
  Context ctx(node, std::move(protos), inputData, numOutputs);
  try {
    schema.Verify(node);
    schema.CheckInputOutputType(ctx);
    if (schema.has_type_and_shape_inference_function())
      schema.GetTypeAndShapeInferenceFunction()(ctx);
  } catch (const std::exception &e) {
    error = e.what();
    return false;
  } catch (...) {
    error = "ONNX shape inference failed";
    return false;
  }
  resultTypes.clear();
  for (const auto &t : ctx.outputTypes)
    resultTypes.push_back(t.value_case() == onnx::TypeProto::VALUE_NOT_SET
                              ? Type()
                              : typeFromOnnx(t, context));
  return true;
}
