// kernels/tensor.h: shape/stride bookkeeping, ownership.
#include "kernels/tensor.h"

#include <gtest/gtest.h>

namespace kaito {
namespace {

TEST(tensor, zeros_is_owning_contiguous_and_zeroed) {
  tensor t = tensor::zeros(dtype::bf16, {2, 3, 5});
  EXPECT_TRUE(t.owns_data());
  EXPECT_EQ(t.numel(), 30);
  EXPECT_EQ(t.size_bytes(), 60);
  EXPECT_EQ(t.strides(), (std::vector<int64_t>{15, 5, 1}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(t.data_as<bf16>()[i].bits, 0);
  EXPECT_EQ(t.describe(), "bf16[2, 3, 5]");
}

TEST(tensor, borrow_does_not_own_and_copies_share) {
  float buf[6] = {1, 2, 3, 4, 5, 6};
  tensor t = tensor::borrow(buf, dtype::f32, {2, 3});
  EXPECT_FALSE(t.owns_data());
  EXPECT_EQ(t.data_as<float>()[4], 5.0f);
  tensor v = tensor::borrow(buf, dtype::f32, {3, 2}, {1, 3});  // a transposed view
  EXPECT_FALSE(v.is_contiguous());
  tensor r = t.reshaped({3, 2});
  EXPECT_EQ(r.data(), t.data());
  EXPECT_EQ(r.strides(), (std::vector<int64_t>{2, 1}));
  tensor owner = tensor::zeros(dtype::f32, {4});
  tensor copy = owner;
  copy.data_as<float>()[1] = 7.0f;
  EXPECT_EQ(owner.data_as<float>()[1], 7.0f);
}

TEST(tensor, scalar_and_empty_shapes) {
  tensor s = tensor::zeros(dtype::i64, {});
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.size_bytes(), 8);
  tensor e = tensor::zeros(dtype::u8, {0, 4});
  EXPECT_EQ(e.numel(), 0);
  EXPECT_FALSE(e.empty());
  EXPECT_TRUE(tensor().empty());
}

}  // namespace
}  // namespace kaito
