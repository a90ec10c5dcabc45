// HF learning-rate schedules (contract: kernels/lr_schedule.h), python float arithmetic in fp64.
#include "kernels/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace kaito {

double lr_lambda(const lr_schedule& s, int64_t step) {
  const int64_t W = s.warmup_steps, S = s.total_steps;
  if (s.kind == lr_schedule_kind::constant) return 1.0;
  if (step < W) return double(step) / double(std::max<int64_t>(1, W));
  switch (s.kind) {
    case lr_schedule_kind::constant:
    case lr_schedule_kind::constant_with_warmup:
      return 1.0;
    case lr_schedule_kind::linear:
      return std::max(0.0, double(S - step) / double(std::max<int64_t>(1, S - W)));
    case lr_schedule_kind::cosine: {
      double progress = double(step - W) / double(std::max<int64_t>(1, S - W));
      return std::max(0.0,
                      0.5 * (1.0 + std::cos(std::numbers::pi * s.num_cycles * 2.0 * progress)));
    }
  }
  return 1.0;
}

double lr_at(const lr_schedule& s, int64_t step) {
  return s.base_lr * lr_lambda(s, step);
}

int64_t lr_warmup_steps_from_ratio(double ratio, int64_t total_steps) {
  return int64_t(std::ceil(ratio * double(total_steps)));
}

bool lr_schedule_kind_from_name(std::string_view name, lr_schedule_kind* out) {
  if (name == "constant")
    *out = lr_schedule_kind::constant;
  else if (name == "constant_with_warmup")
    *out = lr_schedule_kind::constant_with_warmup;
  else if (name == "linear")
    *out = lr_schedule_kind::linear;
  else if (name == "cosine")
    *out = lr_schedule_kind::cosine;
  else
    return false;
  return true;
}

}  // namespace kaito
