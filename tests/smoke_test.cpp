#include <gtest/gtest.h>

#include "ir/ops.h"

TEST(Ops, NamesRoundTrip) {
  for (int i = 0; i < horizon::ir::kNumOps; ++i) {
    auto op = static_cast<horizon::ir::Op>(i);
    ASSERT_EQ(horizon::ir::parse_op(horizon::ir::op_name(op)), op);
  }
}
