//===- ImporterTest.cpp - The importer's C++ API --------------------------===//

#include "tailor/Import/OnnxImporter.h"
#include "tailor/Dialect/Tailor.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include "onnx/onnx_pb.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::tailor;

namespace {
std::string tinyModel() {
  onnx::ModelProto model;
  model.set_ir_version(8);
  auto *opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(17);
  auto *graph = model.mutable_graph();
  graph->set_name("g");
  auto addValue = [](onnx::ValueInfoProto *vi, const char *name) {
    vi->set_name(name);
    auto *t = vi->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    t->mutable_shape()->add_dim()->set_dim_param("n");
  };
  addValue(graph->add_input(), "x");
  addValue(graph->add_output(), "y");
  auto *node = graph->add_node();
  node->set_op_type("Relu");
  node->set_name("relu0");
  node->add_input("x");
  node->add_output("y");
  return model.SerializeAsString();
}

/// Collects diagnostics instead of printing them.
struct Diagnostics {
  explicit Diagnostics(MLIRContext &context)
      : handler(&context, [this](Diagnostic &d) {
          messages += d.str() + "\n";
          return success();
        }) {}
  std::string messages;
  ScopedDiagnosticHandler handler;
};

TEST(Importer, ImportsAModelFromMemory) {
  MLIRContext context;
  std::string bytes = tinyModel();
  auto module = importOnnxBuffer(bytes, "tiny", "", &context);
  ASSERT_TRUE(module);
  auto func = *module->getOps<func::FuncOp>().begin();
  EXPECT_EQ(func.getName(), "main_graph");
  auto relu = *func.getOps<OnnxReluOp>().begin();
  auto loc = dyn_cast<NameLoc>(relu.getLoc());
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc.getName().str(), "relu0");
}

TEST(Importer, EveryTruncationIsAnErrorNotACrash) {
  std::string bytes = tinyModel();
  for (size_t n = 0; n < bytes.size(); ++n) {
    MLIRContext context;
    Diagnostics diagnostics(context);
    auto module = importOnnxBuffer(bytes.substr(0, n), "cut", "", &context);
    EXPECT_FALSE(module) << "prefix of " << n << " bytes imported";
    EXPECT_FALSE(diagnostics.messages.empty()) << "no message for " << n;
  }
}

TEST(Importer, FunctionNameOption) {
  MLIRContext context;
  OnnxImportOptions options;
  options.functionName = "forward";
  std::string bytes = tinyModel();
  auto module = importOnnxBuffer(bytes, "tiny", "", &context, options);
  ASSERT_TRUE(module);
  EXPECT_EQ((*module->getOps<func::FuncOp>().begin()).getName(), "forward");
}
} // namespace
