// Learning-rate schedules with linear warmup, as HF transformers.optimization:
//   get_constant_schedule               lambda(s) = 1
//   get_constant_schedule_with_warmup   lambda(s) = s < W ? s / max(1, W) : 1
//   get_linear_schedule_with_warmup     lambda(s) = s < W ? s / max(1, W)
//                                                 : max(0, (S - s) / max(1, S - W))
//   get_cosine_schedule_with_warmup     lambda(s) = s < W ? s / max(1, W)
//                                                 : max(0, 0.5 * (1 + cos(pi * cycles * 2 * p)))
//                                       with p = (s - W) / max(1, S - W), cycles = 0.5
//   lr(s) = base_lr * lambda(s)   (torch LambdaLR)
// s is the 0-based optimizer step about to run (the number of scheduler.step() calls so far),
// W the warmup steps (HF: warmup_steps, or ceil(warmup_ratio * S)), S the total optimizer steps.
// Pure host functions in fp64 (python floats); the optimizer receives lr as a double.
#pragma once

#include <cstdint>
#include <string_view>

namespace kaito {

enum class lr_schedule_kind { constant, constant_with_warmup, linear, cosine };

struct lr_schedule {
  lr_schedule_kind kind = lr_schedule_kind::constant;
  double base_lr = 0.0;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;
  double num_cycles = 0.5;  // cosine only
};

double lr_lambda(const lr_schedule& s, int64_t step);
double lr_at(const lr_schedule& s, int64_t step);
// HF's warmup steps for a ratio: ceil(ratio * total_steps).
int64_t lr_warmup_steps_from_ratio(double ratio, int64_t total_steps);
// "constant", "constant_with_warmup", "linear", "cosine" (HF lr_scheduler_type names); false if
// unknown.
bool lr_schedule_kind_from_name(std::string_view name, lr_schedule_kind* out);

}  // namespace kaito
