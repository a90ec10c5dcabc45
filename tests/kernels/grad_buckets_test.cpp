// grad_buckets: packing in backward order, oversized gradients, completion order, misuse.
#include "kernels/grad_buckets.h"

#include <gtest/gtest.h>

namespace kaito {
namespace {

TEST(grad_buckets, packs_consecutive_gradients_up_to_the_bucket_size) {
  grad_buckets p(100 * sizeof(float));  // 100 elements per bucket
  std::vector<size_t> counts = {40, 50, 20, 250, 10, 10};
  for (size_t c : counts) ASSERT_TRUE(p.add(c).ok());
  p.seal();
  // {40,50} | {20} (20 would overflow 90+20) ... {250} alone | {10,10}
  ASSERT_EQ(p.num_buckets(), 4u);
  EXPECT_EQ(p.bucket(0).elements, 90u);
  EXPECT_EQ(p.bucket(1).elements, 20u);
  EXPECT_EQ(p.bucket(2).elements, 250u);
  EXPECT_EQ(p.bucket(3).elements, 20u);
  EXPECT_EQ(p.slot(1).bucket, 0u);
  EXPECT_EQ(p.slot(1).offset, 40u);
  EXPECT_EQ(p.slot(5).offset, 10u);
  EXPECT_EQ(p.total_elements(), 380u);
}

TEST(grad_buckets, a_bucket_completes_when_its_last_gradient_is_ready) {
  grad_buckets p(100 * sizeof(float));
  for (size_t c : {40, 50, 20}) ASSERT_TRUE(p.add(c).ok());
  p.seal();
  EXPECT_EQ(p.mark_ready(1).value(), std::nullopt);
  EXPECT_EQ(p.mark_ready(2).value(), std::optional<size_t>(1));  // out of order is fine
  EXPECT_FALSE(p.all_ready());
  EXPECT_EQ(p.mark_ready(0).value(), std::optional<size_t>(0));
  EXPECT_TRUE(p.all_ready());
  p.reset();
  EXPECT_FALSE(p.all_ready());
  EXPECT_EQ(p.mark_ready(0).value(), std::nullopt);
}

TEST(grad_buckets, misuse_is_an_error_not_a_crash) {
  grad_buckets p(64);
  EXPECT_EQ(p.add(0).error().where(), "count");
  ASSERT_TRUE(p.add(3).ok());
  EXPECT_EQ(p.mark_ready(0).error().code(), status_code::failed_precondition);
  p.seal();
  EXPECT_EQ(p.add(3).error().code(), status_code::failed_precondition);
  EXPECT_EQ(p.mark_ready(7).error().where(), "index");
  ASSERT_TRUE(p.mark_ready(0).ok());
  EXPECT_NE(p.mark_ready(0).error().message().find("twice"), std::string::npos);
}

}  // namespace
}  // namespace kaito
