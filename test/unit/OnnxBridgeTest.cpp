//===- OnnxBridgeTest.cpp - ONNX <-> MLIR conversions ---------------------===//

#include "tailor/Dialect/OnnxBridge.h"
#include "tailor/Dialect/Tailor.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::tailor;

namespace {
class OnnxBridgeTest : public ::testing::Test {
protected:
  OnnxBridgeTest() { context.loadDialect<TailorDialect>(); }
  MLIRContext context;
  Builder b{&context};
};

TEST_F(OnnxBridgeTest, ElementTypesRoundTrip) {
  for (int32_t dt :
       {onnx::TensorProto::FLOAT, onnx::TensorProto::FLOAT16,
        onnx::TensorProto::BFLOAT16, onnx::TensorProto::DOUBLE,
        onnx::TensorProto::BOOL, onnx::TensorProto::INT8,
        onnx::TensorProto::INT16, onnx::TensorProto::INT32,
        onnx::TensorProto::INT64, onnx::TensorProto::UINT8,
        onnx::TensorProto::UINT16, onnx::TensorProto::UINT32,
        onnx::TensorProto::UINT64, onnx::TensorProto::COMPLEX64}) {
    Type t = elementTypeFromOnnx(dt, &context);
    ASSERT_TRUE(t) << "data type " << dt;
    EXPECT_EQ(onnxDataTypeOf(t), dt);
  }
  EXPECT_FALSE(elementTypeFromOnnx(onnx::TensorProto::STRING, &context));
  EXPECT_FALSE(onnxDataTypeOf(b.getIntegerType(3)).has_value());
}

TEST_F(OnnxBridgeTest, DynamicDimsAndUnrankedTensors) {
  onnx::TypeProto proto;
  auto *tensor = proto.mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  tensor->mutable_shape()->add_dim()->set_dim_param("batch");
  tensor->mutable_shape()->add_dim()->set_dim_value(8);
  Type t = typeFromOnnx(proto, &context);
  EXPECT_EQ(t, RankedTensorType::get({ShapedType::kDynamic, 8}, b.getF32Type()));

  onnx::TypeProto back;
  ASSERT_TRUE(typeToOnnx(t, back));
  EXPECT_FALSE(back.tensor_type().shape().dim(0).has_dim_value());
  EXPECT_EQ(back.tensor_type().shape().dim(1).dim_value(), 8);

  onnx::TypeProto unranked;
  unranked.mutable_tensor_type()->set_elem_type(onnx::TensorProto::INT64);
  EXPECT_EQ(typeFromOnnx(unranked, &context),
            UnrankedTensorType::get(b.getI64Type()));
  onnx::TypeProto sequence;
  sequence.mutable_sequence_type();
  EXPECT_FALSE(typeFromOnnx(sequence, &context));
}

TEST_F(OnnxBridgeTest, AttributesRoundTrip) {
  onnx::AttributeProto ints;
  ints.set_name("perm");
  ints.set_type(onnx::AttributeProto::INTS);
  ints.add_ints(0);
  ints.add_ints(2);
  ints.add_ints(1);
  std::string error;
  Attribute a = attributeFromOnnx(ints, b, error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a, b.getDenseI64ArrayAttr({0, 2, 1}));
  onnx::AttributeProto back;
  ASSERT_TRUE(attributeToOnnx("perm", a, back));
  EXPECT_EQ(back.type(), onnx::AttributeProto::INTS);
  EXPECT_EQ(back.ints_size(), 3);

  onnx::AttributeProto graph;
  graph.set_name("body");
  graph.set_type(onnx::AttributeProto::GRAPH);
  EXPECT_FALSE(attributeFromOnnx(graph, b, error));
  EXPECT_NE(error.find("GRAPH"), std::string::npos) << error;
}

TEST_F(OnnxBridgeTest, InferenceReportsErrorsWithoutThrowing) {
  const onnx::OpSchema *matmul = lookupOnnxSchema("MatMul");
  ASSERT_NE(matmul, nullptr);
  onnx::NodeProto node;
  node.set_op_type("MatMul");
  node.add_input("a");
  node.add_input("b");
  node.add_output("y");
  Type a = RankedTensorType::get({2, 3}, b.getF32Type());
  Type good = RankedTensorType::get({3, 5}, b.getF32Type());
  Type bad = RankedTensorType::get({4, 5}, b.getF32Type());
  SmallVector<Type> results;
  std::string error;
  ASSERT_TRUE(runOnnxInference(*matmul, node, {a, good}, {nullptr, nullptr}, 1,
                               &context, results, error))
      << error;
  EXPECT_EQ(results[0], RankedTensorType::get({2, 5}, b.getF32Type()));
  EXPECT_FALSE(runOnnxInference(*matmul, node, {a, bad}, {nullptr, nullptr}, 1,
                                &context, results, error));
  EXPECT_NE(error.find("Incompatible dimensions"), std::string::npos) << error;
}
} // namespace
