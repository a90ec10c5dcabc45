// check_true.h: CHECK_TRUE(cond, fmt, ...) for the GPU tests that run as a plain main (GPU hosts
// may lack GoogleTest): prints "FAIL <cond>: <message>" and counts the failure in
// kaito::testing::failures, which the test's main turns into its exit code.
#pragma once

#include <cstdio>

namespace kaito::testing {
inline int failures = 0;
}  // namespace kaito::testing

#define CHECK_TRUE(c, ...)          \
  do {                              \
    if (!(c)) {                     \
      std::printf("FAIL %s: ", #c); \
      std::printf(__VA_ARGS__);     \
      std::printf("\n");            \
      ++::kaito::testing::failures; \
    }                               \
  } while (0)
