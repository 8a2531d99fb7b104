//===- OnnxExporter.cpp - The tailor dialect back to ONNX -----------------===//
//
// The inverse of the importer for what the compression passes leave behind:
// `tailor.onnx.*` ops become their nodes again (OnnxBridge's onnxNodeOf),
// constants become initializers, and the phase-1 LLM ops are written out in
// opset-17 ops:
//   linear      MatMul (+ Add); an int8 per-channel weight through
//               DequantizeLinear (axis 1); a per-group (int4) weight as
//               Reshape / Cast / Sub / Mul of its integers (opset 17 has no
//               blocked DequantizeLinear); W8A8's per-token activation
//               rounding as Abs / ReduceMax / Div / Round / Clip / Mul
//   embedding   Gather; an int8 table (one scale per row) through
//               DequantizeLinear (axis 0)
//   silu, swiglu, gelu, rms_norm   their formulas; layer_norm
//               LayerNormalization
// Attention, rotary and MoE have no single ONNX form: an export raises with
// `tailor-raise{phases=1}` so that they stay in their ONNX-level ops.
//
//===----------------------------------------------------------------------===//

#include "tailor/Export/OnnxExporter.h"
#include "tailor/Dialect/OnnxBridge.h"
#include "tailor/Dialect/Tailor.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"
#include "onnx/checker.h"

#include <climits>
#include <cmath>

using namespace mlir;
using namespace mlir::tailor;

namespace {
class Exporter {
public:
  Exporter(onnx::GraphProto &graph, const OnnxExportOptions &options)
      : graph(graph), options(options) {}
  /// Whether a com.microsoft op was written (its opset must be imported).
  bool usedMicrosoftDomain = false;

  LogicalResult run(func::FuncOp func) {
    for (auto [i, arg] : llvm::enumerate(func.getArguments())) {
      auto attr = func.getArgAttrOfType<StringAttr>(i, "onnx.name");
      std::string n = attr ? attr.str() : "input" + std::to_string(i);
      if (!used.insert(n).second)
        return func.emitError("tailor-export: two inputs are named '")
               << n << "'";
      names[arg] = n;
      onnx::ValueInfoProto *in = graph.add_input();
      in->set_name(n);
      if (!typeToOnnx(arg.getType(), *in->mutable_type()))
        return func.emitError("tailor-export: input '")
               << n << "' has type " << arg.getType()
               << ", which ONNX cannot express";
    }
    // Output names are taken first, so that no internal name can clash.
    auto ret = cast<func::ReturnOp>(func.getBody().back().getTerminator());
    SmallVector<std::string> outputs;
    for (unsigned i = 0; i < ret.getNumOperands(); ++i) {
      auto attr = func.getResultAttrOfType<StringAttr>(i, "onnx.name");
      outputs.push_back(attr ? attr.str() : "output" + std::to_string(i));
      if (!used.insert(outputs.back()).second)
        return func.emitError("tailor-export: two outputs are named '")
               << outputs.back() << "'";
    }
    for (Operation &op : func.getBody().front()) {
      if (op.getNumRegions())
        return op.emitError("tailor-export: ops with subgraphs (")
               << op.getName() << ") are not exported yet";
      if (failed(emit(&op)))
        return failure();
    }
    for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
      node("Identity", {name(value)}, {outputs[i]}, ret.getLoc());
      onnx::ValueInfoProto *out = graph.add_output();
      out->set_name(outputs[i]);
      if (!typeToOnnx(value.getType(), *out->mutable_type()))
        return ret.emitError("tailor-export: output '")
               << outputs[i] << "' has type " << value.getType()
               << ", which ONNX cannot express";
    }
    return failure(constantFailed);
  }

private:
  onnx::GraphProto &graph;
  const OnnxExportOptions &options;
  DenseMap<Value, std::string> names;
  llvm::StringSet<> used;
  llvm::StringSet<> nodeNames; // ONNX Runtime wants them unique
  unsigned counter = 0;

  /// `base` (the ONNX node the op came from), made unique.
  std::string nodeName(StringRef base, StringRef type) {
    std::string n = base.empty() ? ("tailor/" + type).str() : base.str();
    if (nodeNames.insert(n).second)
      return n;
    for (unsigned i = 1;; ++i) {
      std::string candidate = n + "_" + std::to_string(i);
      if (nodeNames.insert(candidate).second)
        return candidate;
    }
  }

  std::string fresh(StringRef hint) {
    std::string n;
    do
      n = ("tailor/" + hint + "_" + Twine(counter++)).str();
    while (!used.insert(n).second);
    return n;
  }
  std::string name(Value v) {
    auto it = names.find(v);
    if (it != names.end())
      return it->second;
    std::string n = names[v] = fresh("t");
    // A constant becomes an initializer when something reads it (the
    // integers of a weight written as MatMulNBits are never read).
    auto pending = constants.find(v);
    if (pending != constants.end()) {
      if (failed(initializer(pending->second, n, v.getLoc())))
        constantFailed = true;
      constants.erase(pending);
    }
    return n;
  }
  DenseMap<Value, ElementsAttr> constants;
  bool constantFailed = false;
  static std::string locName(Location loc) {
    if (auto named = dyn_cast<NameLoc>(loc))
      return named.getName().str();
    if (auto fused = dyn_cast<FusedLoc>(loc))
      for (Location l : fused.getLocations())
        if (auto named = dyn_cast<NameLoc>(l))
          return named.getName().str();
    return "";
  }

  /// A node named after `loc` (the ONNX node the op came from).
  onnx::NodeProto &node(StringRef type, ArrayRef<std::string> ins,
                        ArrayRef<std::string> outs, Location loc) {
    onnx::NodeProto &n = *graph.add_node();
    n.set_op_type(type.str());
    std::string base = locName(loc);
    n.set_name(nodeName(base.empty() ? base : base + "/" + type.str(), type));
    for (const std::string &in : ins)
      n.add_input(in);
    for (const std::string &out : outs)
      n.add_output(out);
    return n;
  }
  /// One node, one fresh output.
  std::string apply(StringRef type, ArrayRef<std::string> ins, Location loc) {
    std::string out = fresh(type);
    node(type, ins, {out}, loc);
    return out;
  }
  static void intsAttr(onnx::NodeProto &n, StringRef attr,
                       ArrayRef<int64_t> values) {
    onnx::AttributeProto *a = n.add_attribute();
    a->set_name(attr.str());
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values)
      a->add_ints(v);
  }
  static void intAttr(onnx::NodeProto &n, StringRef attr, int64_t value) {
    onnx::AttributeProto *a = n.add_attribute();
    a->set_name(attr.str());
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }
  static void floatAttr(onnx::NodeProto &n, StringRef attr, float value) {
    onnx::AttributeProto *a = n.add_attribute();
    a->set_name(attr.str());
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(value);
  }

  LogicalResult initializer(ElementsAttr value, const std::string &n,
                            Location loc) {
    onnx::TensorProto *t = graph.add_initializer();
    if (!elementsToOnnx(value, *t))
      return emitError(loc, "tailor-export: a constant of type ")
             << value.getType() << " has no ONNX form";
    t->set_name(n);
    return success();
  }
  std::string constant(DenseElementsAttr value, StringRef hint, Location loc) {
    std::string n = fresh(hint);
    (void)initializer(value, n, loc); // f32 / i64 / i8: always expressible
    return n;
  }
  std::string scalar(double v, Type element, Location loc) {
    auto type = RankedTensorType::get({}, element);
    return constant(DenseElementsAttr::get(type, FloatAttr::get(element, v)),
                    "c", loc);
  }
  std::string shape(ArrayRef<int64_t> dims, Location loc) {
    auto type = RankedTensorType::get({int64_t(dims.size())},
                                      IntegerType::get(loc.getContext(), 64));
    return constant(DenseElementsAttr::get(type, dims), "shape", loc);
  }
  LogicalResult emit(Operation *op) {
    Location loc = op->getLoc();
    if (auto c = dyn_cast<OnnxConstantOp>(op)) {
      if (ElementsAttr value = c.getValueAttr()) {
        constants[c.getResult()] = value;
        return success();
      }
    }
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      if (auto value = dyn_cast<ElementsAttr>(c.getValue())) {
        constants[c.getResult()] = value;
        return success();
      }
      return op->emitError("tailor-export: a scalar constant has no ONNX form");
    }
    if (op->getName().getStringRef().starts_with("tailor.onnx.")) {
      onnx::NodeProto n;
      if (failed(onnxNodeOf(
              op, [&](unsigned i) { return name(op->getOperand(i)); },
              [&](unsigned i) { return name(op->getResult(i)); }, n)))
        return failure();
      n.set_name(nodeName(locName(loc), n.op_type()));
      *graph.add_node() = std::move(n);
      return success();
    }
    if (isa<quant::StorageCastOp>(op))
      return success(); // read by the linear
    if (isa<func::ReturnOp>(op))
      return success();
    if (auto linear = dyn_cast<LinearOp>(op))
      return emitLinear(linear);
    if (auto e = dyn_cast<EmbeddingOp>(op)) {
      std::string table;
      auto tType = dyn_cast<RankedTensorType>(e.getTable().getType());
      if (auto q = dyn_cast_or_null<quant::UniformQuantizedPerAxisType>(
              tType ? tType.getElementType() : Type())) {
        // An int8 table (one scale per row): DequantizeLinear (axis 0).
        auto cast = e.getTable().getDefiningOp<quant::StorageCastOp>();
        if (!cast || !q.getStorageType().isInteger(8) || !q.isSigned() ||
            !q.getExpressedType().isF32())
          return e.emitError("tailor-export: a quantized table must be an f32 "
                             "-expressing int8 constant behind quant.scast");
        table = dequantizePerAxis(cast, q, loc);
      } else if (tType && isa<quant::QuantizedType>(tType.getElementType())) {
        return e.emitError("tailor-export: no ONNX form for the table ")
               << tType;
      } else {
        table = name(e.getTable());
      }
      onnx::NodeProto &n =
          node("Gather", {table, name(e.getIndices())},
               {name(e.getResult())}, loc);
      intAttr(n, "axis", 0);
      return success();
    }
    if (auto silu = dyn_cast<SiluOp>(op)) {
      std::string x = name(silu.getInput());
      node("Mul", {x, apply("Sigmoid", {x}, loc)}, {name(silu.getResult())},
           loc);
      return success();
    }
    if (auto swiglu = dyn_cast<SwiGLUOp>(op)) {
      std::string g = name(swiglu.getGate());
      std::string act = apply("Mul", {g, apply("Sigmoid", {g}, loc)}, loc);
      node("Mul", {act, name(swiglu.getUp())}, {name(swiglu.getResult())},
           loc);
      return success();
    }
    if (auto gelu = dyn_cast<GeluOp>(op))
      return emitGelu(gelu);
    if (auto norm = dyn_cast<RMSNormOp>(op)) {
      // x / sqrt(mean(x^2) + eps) * weight
      Type elt = getElementTypeOrSelf(norm.getInput().getType());
      std::string x = name(norm.getInput());
      std::string sq = apply("Mul", {x, x}, loc);
      std::string mean = fresh("ReduceMean");
      onnx::NodeProto &m = node("ReduceMean", {sq}, {mean}, loc);
      intsAttr(m, "axes", {-1});
      intAttr(m, "keepdims", 1);
      std::string rms = apply(
          "Sqrt",
          {apply("Add", {mean, scalar(norm.getEpsilon().convertToDouble(), elt, loc)},
                 loc)},
          loc);
      node("Mul", {apply("Div", {x, rms}, loc), name(norm.getWeight())},
           {name(norm.getResult())}, loc);
      return success();
    }
    if (auto norm = dyn_cast<LayerNormOp>(op)) {
      SmallVector<std::string> ins{name(norm.getInput()),
                                   name(norm.getWeight())};
      if (norm.getBias())
        ins.push_back(name(norm.getBias()));
      onnx::NodeProto &n =
          node("LayerNormalization", ins, {name(norm.getResult())}, loc);
      intAttr(n, "axis", -1);
      floatAttr(n, "epsilon", norm.getEpsilon().convertToFloat());
      return success();
    }
    return op->emitError("tailor-export: ")
           << op->getName()
           << " has no ONNX form here (the export raises only linears, "
              "activations and norms: tailor-raise{phases=1})";
  }

  LogicalResult emitGelu(GeluOp gelu) {
    Location loc = gelu.getLoc();
    Type elt = getElementTypeOrSelf(gelu.getInput().getType());
    std::string x = name(gelu.getInput());
    std::string inner;
    if (gelu.getApproximate() == "tanh") {
      // tanh(sqrt(2 / pi) * (x + 0.044715 x^3))
      std::string cube = apply("Mul", {x, apply("Mul", {x, x}, loc)}, loc);
      std::string sum = apply(
          "Add", {x, apply("Mul", {cube, scalar(0.044715, elt, loc)}, loc)},
          loc);
      inner = apply(
          "Tanh",
          {apply("Mul", {sum, scalar(std::sqrt(2.0 / M_PI), elt, loc)}, loc)},
          loc);
    } else {
      // erf(x / sqrt(2))
      inner = apply("Erf",
                    {apply("Div", {x, scalar(std::sqrt(2.0), elt, loc)}, loc)},
                    loc);
    }
    std::string half = apply("Mul", {x, scalar(0.5, elt, loc)}, loc);
    node("Mul", {half, apply("Add", {inner, scalar(1.0, elt, loc)}, loc)},
         {name(gelu.getResult())}, loc);
    return success();
  }

  /// x rounded to its per-row int8 grid (W8A8, see tailor.linear):
  /// a = max|x|, q = clip(round(x * 127 / a), -127, 127) (0 where a = 0),
  /// x' = q * a / 127.
  std::string perTokenInt8(std::string x, Type elt, Location loc) {
    std::string amax = fresh("ReduceMax");
    onnx::NodeProto &r = node("ReduceMax", {apply("Abs", {x}, loc)}, {amax}, loc);
    intsAttr(r, "axes", {-1});
    intAttr(r, "keepdims", 1);
    std::string c127 = scalar(127.0, elt, loc), zero = scalar(0.0, elt, loc);
    std::string scale = apply("Div", {amax, c127}, loc);
    std::string inv =
        apply("Where",
              {apply("Greater", {amax, zero}, loc),
               apply("Div", {c127, amax}, loc), zero},
              loc);
    std::string q = apply(
        "Clip",
        {apply("Round", {apply("Mul", {x, inv}, loc)}, loc),
         scalar(-127.0, elt, loc), c127},
        loc);
    return apply("Mul", {q, scale}, loc);
  }

  /// ONNX Runtime's MatMulNBits (com.microsoft): B [N, K/G, G/2] uint8 with
  /// column n's rows in order, two per byte (low nibble first) as u = q + 8;
  /// scales [N * K/G]; zero points (only when some are non-zero) [N *
  /// ceil(K/G / 2)] uint8 packed the same way as z + 8 (8 is the default).
  LogicalResult emitMatMulNBits(LinearOp linear, const std::string &x,
                                quant::StorageCastOp storage,
                                quant::UniformQuantizedSubChannelType q) {
    Location loc = linear.getLoc();
    auto wType = cast<RankedTensorType>(linear.getWeight().getType());
    int64_t k = wType.getDimSize(0), n = wType.getDimSize(1);
    int64_t g = q.getBlockSizes()[0], blocks = k / g;
    if (g < 16 || (g & (g - 1)) || q.getStorageTypeMin() < -8 ||
        q.getStorageTypeMax() > 7)
      return linear.emitError("tailor-export: MatMulNBits needs 4-bit values "
                              "and a power-of-two group of at least 16 rows, "
                              "got ")
             << q;
    ElementsAttr attr = getConstantElements(storage.getInput());
    if (!attr)
      if (auto c = storage.getInput().getDefiningOp<arith::ConstantOp>())
        attr = dyn_cast<ElementsAttr>(c.getValue());
    DenseElementsAttr ints = attr ? toDenseElements(attr) : DenseElementsAttr();
    if (!ints || ints.getNumElements() != k * n)
      return linear.emitError("tailor-export: the int4 weight is not a "
                              "readable constant");
    SmallVector<int8_t> values(ints.getValues<int8_t>());
    if (llvm::any_of(values, [](int8_t v) { return v < -8 || v > 7; }))
      return linear.emitError("tailor-export: the int4 weight holds values "
                              "outside [-8, 7]");
    SmallVector<uint8_t> packed(size_t(n * k / 2));
    for (int64_t c = 0; c < n; ++c)
      for (int64_t r = 0; r < k; r += 2) {
        unsigned lo = unsigned(values[r * n + c] + 8) & 15,
                 hi = unsigned(values[(r + 1) * n + c] + 8) & 15;
        packed[(c * k + r) / 2] = uint8_t(lo | hi << 4);
      }
    SmallVector<float> scales(size_t(n * blocks));
    SmallVector<int64_t> zeros(size_t(n * blocks));
    SmallVector<APFloat> s(q.getScales().getValues<APFloat>());
    SmallVector<APInt> z(q.getZeroPoints().getValues<APInt>());
    bool zeroPoints = false;
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t c = 0; c < n; ++c) {
        scales[c * blocks + b] = float(s[b * n + c].convertToDouble());
        zeros[c * blocks + b] = z[b * n + c].getSExtValue();
        zeroPoints |= zeros[c * blocks + b] != 0;
      }
    MLIRContext *ctx = linear.getContext();
    Type u8 = IntegerType::get(ctx, 8, IntegerType::Unsigned);
    std::string bName = constant(
        DenseElementsAttr::get(RankedTensorType::get({n, blocks, g / 2}, u8),
                               ArrayRef<uint8_t>(packed)),
        "B", loc);
    std::string sName = constant(
        DenseElementsAttr::get(
            RankedTensorType::get({n * blocks}, Float32Type::get(ctx)),
            ArrayRef<float>(scales)),
        "scales", loc);
    SmallVector<std::string> ins{x, bName, sName};
    if (zeroPoints) {
      int64_t perColumn = (blocks + 1) / 2;
      SmallVector<uint8_t> zp(size_t(n * perColumn), 0);
      for (int64_t c = 0; c < n; ++c)
        for (int64_t b = 0; b < blocks; ++b)
          zp[c * perColumn + b / 2] |=
              uint8_t((unsigned(zeros[c * blocks + b] + 8) & 15) << (4 * (b % 2)));
      ins.push_back(constant(
          DenseElementsAttr::get(RankedTensorType::get({n * perColumn}, u8),
                                 ArrayRef<uint8_t>(zp)),
          "zero_points", loc));
    }
    std::string y = name(linear.getResult());
    std::string out = linear.getBias() ? fresh("MatMulNBits") : y;
    onnx::NodeProto &node = this->node("MatMulNBits", ins, {out}, loc);
    node.set_domain("com.microsoft");
    intAttr(node, "K", k);
    intAttr(node, "N", n);
    intAttr(node, "bits", 4);
    intAttr(node, "block_size", g);
    usedMicrosoftDomain = true;
    if (linear.getBias())
      this->node("Add", {out, name(linear.getBias())}, {y}, loc);
    return success();
  }

  /// DequantizeLinear of an int8 constant behind quant.scast, one scale and
  /// zero point per index of the type's axis; returns the f32 value's name.
  std::string dequantizePerAxis(quant::StorageCastOp cast,
                                quant::UniformQuantizedPerAxisType q,
                                Location loc) {
    std::string ints = name(cast.getInput());
    int64_t count = q.getScales().size();
    SmallVector<float> scales(q.getScales().begin(), q.getScales().end());
    SmallVector<int8_t> zeros;
    for (int64_t z : q.getZeroPoints())
      zeros.push_back(int8_t(z));
    std::string s = constant(
        DenseElementsAttr::get(RankedTensorType::get({count}, q.getExpressedType()),
                               ArrayRef<float>(scales)),
        "scale", loc);
    std::string z = constant(
        DenseElementsAttr::get(
            RankedTensorType::get({count}, q.getStorageType()),
            ArrayRef<int8_t>(zeros)),
        "zero_point", loc);
    std::string w = fresh("weight");
    onnx::NodeProto &dq = node("DequantizeLinear", {ints, s, z}, {w}, loc);
    intAttr(dq, "axis", q.getQuantizedDimension());
    return w;
  }

  LogicalResult emitLinear(LinearOp linear) {
    Location loc = linear.getLoc();
    Type elt = getElementTypeOrSelf(linear.getInput().getType());
    std::string x = name(linear.getInput());
    if (linear.getActivationQuant())
      x = perTokenInt8(x, elt, loc);
    std::string w;
    Value weight = linear.getWeight();
    auto wType = dyn_cast<RankedTensorType>(weight.getType());
    if (!wType)
      return linear.emitError("tailor-export: the weight has no rank");
    if (auto q = dyn_cast<quant::QuantizedType>(wType.getElementType())) {
      auto cast = weight.getDefiningOp<quant::StorageCastOp>();
      if (!cast || !q.getStorageType().isInteger(8) || !q.isSigned() ||
          !wType.hasStaticShape())
        return linear.emitError("tailor-export: a quantized weight must be a "
                                "static int8 constant behind quant.scast");
      if (!elt.isF32()) // opset 17's DequantizeLinear yields f32 only
        return linear.emitError("tailor-export: a quantized weight "
                                "expressing ")
               << elt << " (only f32 in opset 17)";
      int64_t k = wType.getDimSize(0), n = wType.getDimSize(1);
      if (auto perAxis = dyn_cast<quant::UniformQuantizedPerAxisType>(q)) {
        w = dequantizePerAxis(cast, perAxis, loc);
      } else if (auto sub =
                     dyn_cast<quant::UniformQuantizedSubChannelType>(q)) {
        int64_t g = sub.getBlockSizes()[0];
        if (g <= 0 || k % g || sub.getBlockSizes()[1] != 1)
          return linear.emitError("tailor-export: the weight's groups of ")
                 << g << " rows do not divide its " << k << " rows";
        if (options.matMulNBits)
          return emitMatMulNBits(linear, x, cast, sub);
        int64_t groups = k / g;
        std::string ints = name(cast.getInput());
        SmallVector<float> scales, zeros;
        for (APFloat f : sub.getScales().getValues<APFloat>())
          scales.push_back(float(f.convertToDouble()));
        bool zeroPoints = false;
        for (APInt z : sub.getZeroPoints().getValues<APInt>()) {
          zeros.push_back(float(z.getSExtValue()));
          zeroPoints |= !z.isZero();
        }
        auto groupType = RankedTensorType::get({groups, 1, n}, elt);
        std::string grouped = fresh("Reshape");
        node("Reshape", {ints, shape({groups, g, n}, loc)}, {grouped}, loc);
        std::string real = fresh("Cast");
        intAttr(node("Cast", {grouped}, {real}, loc), "to",
                *onnxDataTypeOf(elt));
        if (zeroPoints)
          real = apply("Sub",
                       {real, constant(DenseElementsAttr::get(
                                           groupType, ArrayRef<float>(zeros)),
                                       "zero_point", loc)},
                       loc);
        real = apply("Mul",
                     {real, constant(DenseElementsAttr::get(
                                         groupType, ArrayRef<float>(scales)),
                                     "scale", loc)},
                     loc);
        w = fresh("weight");
        node("Reshape", {real, shape({k, n}, loc)}, {w}, loc);
      } else {
        return linear.emitError("tailor-export: quantized weight ")
               << q << " has no ONNX form here";
      }
    } else {
      w = name(weight);
    }
    std::string y = name(linear.getResult());
    if (!linear.getBias()) {
      node("MatMul", {x, w}, {y}, loc);
      return success();
    }
    node("Add", {apply("MatMul", {x, w}, loc), name(linear.getBias())}, {y},
         loc);
    return success();
  }
};
} // namespace

LogicalResult mlir::tailor::exportOnnx(ModuleOp module, StringRef path,
                                       const OnnxExportOptions &options) {
  func::FuncOp entry;
  for (auto f : module.getOps<func::FuncOp>())
    if (f.isPublic() && !f.isExternal()) {
      if (entry)
        return module.emitError("tailor-export: the module has more than "
                                "one public function");
      entry = f;
    }
  if (!entry)
    return module.emitError("tailor-export: the module has no public function");
  if (!entry.getBody().hasOneBlock())
    return entry.emitError("tailor-export: the function has control flow");
  // The ops written here by hand (ReduceMean / ReduceMax with an `axes`
  // attribute, ...) are opset-17 forms, the dialect's version.
  if (getSupportedOnnxOpset() != 17)
    return entry.emitError("tailor-export: writes opset 17, the ONNX "
                           "library defines opset ")
           << getSupportedOnnxOpset();

  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name(options.producer);
  onnx::OperatorSetIdProto *opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(17);
  onnx::GraphProto &graph = *model.mutable_graph();
  graph.set_name(entry.getName().str());
  Exporter exporter(graph, options);
  if (failed(exporter.run(entry)))
    return failure();
  if (exporter.usedMicrosoftDomain) {
    onnx::OperatorSetIdProto *ms = model.add_opset_import();
    ms->set_domain("com.microsoft");
    ms->set_version(1);
  }

  try {
    onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    return entry.emitError("tailor-export: the exported model fails ONNX's "
                           "checker: ")
           << e.what();
  }
  size_t bytes = model.ByteSizeLong();
  if (bytes > size_t(INT_MAX))
    return entry.emitError("tailor-export: the model is ")
           << bytes << " bytes, over protobuf's 2 GB limit (external data "
                       "is not written yet)";
  std::string data;
  if (!model.SerializeToString(&data))
    return entry.emitError("tailor-export: cannot serialize the model");

  // A temporary file renamed into place: never a half-written model.
  SmallString<256> temp(path);
  temp += ".tmp%%%%%%";
  int fd;
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(temp, fd, temp))
    return entry.emitError("tailor-export: cannot create a file next to '")
           << path << "': " << ec.message();
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << data;
    os.close();
    if (os.has_error()) {
      os.clear_error();
      llvm::sys::fs::remove(temp);
      return entry.emitError("tailor-export: cannot write '") << path << "'";
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(temp, path)) {
    llvm::sys::fs::remove(temp);
    return entry.emitError("tailor-export: cannot write '")
           << path << "': " << ec.message();
  }
  return success();
}
