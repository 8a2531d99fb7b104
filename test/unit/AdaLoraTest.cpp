//===- AdaLoraTest.cpp - AdaLoRA's rank allocator -------------------------===//
//
// The configuration checks, the schedule's fixed points and the rank
// pattern's checkpoint form. (The importance, budget and masking sequence is
// checked against a transcription of PEFT's RankAllocator by ctest
// models-train-grad, through the Python binding.)

#include "tailor/Support/AdaLora.h"

#include <gtest/gtest.h>

using namespace mlir::tailor::adalora;

namespace {
std::string errorOf(const Config &c) {
  llvm::Error e = validate(c);
  return e ? llvm::toString(std::move(e)) : "";
}
} // namespace

TEST(AdaLora, Validate) {
  Config c;
  c.totalStep = 100;
  EXPECT_EQ(errorOf(c), "");
  Config none = c;
  none.totalStep = 0;
  EXPECT_NE(errorOf(none).find("total_step must be > 0"), std::string::npos);
  Config late = c;
  late.tinit = 60;
  late.tfinal = 40;
  EXPECT_NE(errorOf(late).find("leaves no budgeting phase (tinit 60 >= "
                               "total_step 100 - tfinal 40)"),
            std::string::npos);
  Config ranks = c;
  ranks.targetR = 13;
  EXPECT_NE(errorOf(ranks).find("(got 12 and 13)"), std::string::npos);
  Config betas = c;
  betas.beta2 = 1.0;
  EXPECT_NE(errorOf(betas).find("beta1 and beta2"), std::string::npos);
}

TEST(AdaLora, ScheduleEnds) {
  Config c;
  c.initR = 6;
  c.targetR = 2;
  c.tinit = 3;
  c.tfinal = 4;
  c.deltaT = 5;
  c.totalStep = 20;
  RankAllocator a(c, {{"q", 8, 8}, {"v", 8, 8}});
  EXPECT_EQ(a.initialBudget(), 12);
  EXPECT_EQ(a.targetBudget(), 4);
  // Warm-up: every slot, no masking.
  EXPECT_EQ(a.schedule(3), std::make_pair(int64_t(12), false));
  // The end of the budgeting phase reaches the target; after it, the
  // target and masking every step.
  EXPECT_EQ(a.schedule(16).first, 4);
  EXPECT_EQ(a.schedule(17), std::make_pair(int64_t(4), true));
  // Masking only every deltaT steps in between; the budget never grows.
  EXPECT_FALSE(a.schedule(9).second);
  EXPECT_TRUE(a.schedule(10).second);
  for (int64_t s = 4; s < 16; ++s)
    EXPECT_GE(a.schedule(s).first, a.schedule(s + 1).first);
}

TEST(AdaLora, RankPatternJson) {
  std::vector<std::vector<bool>> p{{true, false, true}, {false, false, true}};
  std::string text = rankPatternJson(p);
  EXPECT_EQ(text, "[[1,0,1],[0,0,1]]");
  auto back = parseRankPattern(text, 2, 3);
  ASSERT_TRUE(bool(back));
  EXPECT_EQ(*back, p);
  auto wrongCount = parseRankPattern(text, 3, 3);
  ASSERT_FALSE(bool(wrongCount));
  EXPECT_NE(llvm::toString(wrongCount.takeError()).find("3 matrices"),
            std::string::npos);
  auto notBool = parseRankPattern("[[1,2,1],[0,0,1]]", 2, 3);
  ASSERT_FALSE(bool(notBool));
  llvm::consumeError(notBool.takeError());
  auto garbage = parseRankPattern("[[1,", 2, 3);
  ASSERT_FALSE(bool(garbage));
  llvm::consumeError(garbage.takeError());
}
