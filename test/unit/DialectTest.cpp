//===- DialectTest.cpp - Dialect helpers ----------------------------------===//

#include "tailor/Dialect/Tailor.h"
#include "tailor/InitTailor.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::tailor;

namespace {
TEST(RefineTensorType, KeepsTheMorePreciseCompatibleType) {
  MLIRContext context;
  Builder b(&context);
  Type f32 = b.getF32Type();
  int64_t dyn = ShapedType::kDynamic;
  auto t = [&](ArrayRef<int64_t> s) { return RankedTensorType::get(s, f32); };
  EXPECT_EQ(refineTensorType(t({dyn, 4}), t({2, dyn})), t({2, 4}));
  EXPECT_EQ(refineTensorType(UnrankedTensorType::get(f32), t({2})), t({2}));
  EXPECT_EQ(refineTensorType(t({2}), UnrankedTensorType::get(f32)), t({2}));
  EXPECT_FALSE(refineTensorType(t({2}), t({3})));
  EXPECT_FALSE(refineTensorType(t({2}), t({2, 1})));
  EXPECT_FALSE(refineTensorType(t({2}), RankedTensorType::get({2}, b.getF16Type())));
}

TEST(Registration, OneCallRegistersDialectsAndPasses) {
  DialectRegistry registry;
  registerAllDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  EXPECT_NE(context.getLoadedDialect("tailor"), nullptr);
  EXPECT_NE(context.getLoadedDialect("func"), nullptr);
  EXPECT_TRUE(RegisteredOperationName::lookup("tailor.attention", &context));
  EXPECT_TRUE(RegisteredOperationName::lookup("tailor.onnx.MatMul", &context));
}

TEST(ConstantValues, ReadsDenseAndResourceConstants) {
  DialectRegistry registry;
  registerAllDialects(registry);
  MLIRContext context(registry);
  const char *source = R"mlir(
    func.func @f() -> (tensor<3xi64>, tensor<2xi64>) {
      %0 = "tailor.onnx.Constant"() {value = dense<[4, -1, 16]> : tensor<3xi64>} : () -> tensor<3xi64>
      %1 = "tailor.onnx.Constant"() {value = dense_resource<blob> : tensor<2xi64>} : () -> tensor<2xi64>
      return %0, %1 : tensor<3xi64>, tensor<2xi64>
    }
    {-# dialect_resources: { builtin: { blob: "0x0800000007000000000000000900000000000000" } } #-}
  )mlir";
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &context);
  ASSERT_TRUE(module);
  auto func = *module->getOps<func::FuncOp>().begin();
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  auto dense = getConstantIntValues(ret.getOperand(0));
  ASSERT_TRUE(dense.has_value());
  EXPECT_EQ(*dense, (SmallVector<int64_t>{4, -1, 16}));
  auto resource = getConstantIntValues(ret.getOperand(1));
  ASSERT_TRUE(resource.has_value());
  EXPECT_EQ(*resource, (SmallVector<int64_t>{7, 9}));
  EXPECT_FALSE(getConstantIntValues(ret.getOperand(0), /*maxElements=*/2));
}
} // namespace
