// Kubernetes resource quantities for memory and disk sizes: "9Gi", "16.5Gi", "512Mi", "80G",
// "1024".
//
// parse_quantity accepts a decimal number (digits, optional fraction) and an optional suffix:
// binary Ki Mi Gi Ti Pi Ei or decimal k M G T P E (as resource.Quantity). No sign, exponents or
// spaces. The result is bytes, rounded up to a whole byte, at most 2^62. format_quantity prints
// bytes in the largest binary unit that keeps it >= 1, with at most two decimals and trailing zeros
// dropped
// ("9Gi", "7.12Gi", "512Mi", "0"); it is what `kaito presets` shows.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace kaito::presets {

result<int64_t> parse_quantity(std::string_view text);
std::string format_quantity(int64_t bytes);

}  // namespace kaito::presets
