// kernels/embedding.h: lookup, bf16 table, scatter-add backward with repeated ids.
#include "kernels/embedding.h"

#include <gtest/gtest.h>

#include "tests/kernels/kernel_test_util.h"

namespace kaito {
namespace {

TEST(embedding, forward_copies_rows_and_backward_sums_repeats) {
  const int64_t V = 5, C = 3, N = 4;
  auto table = testing::random_vec(V * C, 1);
  int32_t ids[N] = {4, 0, 4, 2};
  std::vector<float> out(N * C, NAN);
  embedding_forward_cpu(out.data(), ids, table.data(), N, V, C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) EXPECT_EQ(out[n * C + c], table[ids[n] * C + c]);
  std::vector<bf16> tb(table.size());
  f32_to_bf16_cpu(tb.data(), table.data(), V * C);
  embedding_forward_bf16_cpu(out.data(), ids, tb.data(), N, V, C);
  EXPECT_EQ(out[0], bf16_to_f32(tb[12]));
  auto dout = testing::random_vec(N * C, 2);
  std::vector<float> dtable(V * C, 1.0f);  // accumulates (+=) onto 1
  embedding_backward_cpu(dtable.data(), dout.data(), ids, N, V, C);
  for (int64_t c = 0; c < C; ++c) {
    EXPECT_FLOAT_EQ(dtable[4 * C + c], 1.0f + dout[0 * C + c] + dout[2 * C + c]);
    EXPECT_FLOAT_EQ(dtable[0 * C + c], 1.0f + dout[1 * C + c]);
    EXPECT_FLOAT_EQ(dtable[2 * C + c], 1.0f + dout[3 * C + c]);
    EXPECT_EQ(dtable[1 * C + c], 1.0f);
    EXPECT_EQ(dtable[3 * C + c], 1.0f);
  }
}

TEST(embedding, one_token_one_channel) {
  float table[2] = {3.5f, -1.25f}, out[1];
  int32_t id = 1;
  embedding_forward_cpu(out, &id, table, 1, 2, 1);
  EXPECT_EQ(out[0], -1.25f);
}

}  // namespace
}  // namespace kaito
