#include "presets/quantity.h"

#include <cmath>
#include <cstdio>

namespace kaito::presets {

namespace {

struct suffix {
  const char* text;
  double scale;
};

constexpr suffix kSuffixes[] = {
    {"Ki", 1024.0},
    {"Mi", 1024.0 * 1024},
    {"Gi", 1024.0 * 1024 * 1024},
    {"Ti", 1024.0 * 1024 * 1024 * 1024},
    {"Pi", 1024.0 * 1024 * 1024 * 1024 * 1024},
    {"Ei", 1024.0 * 1024 * 1024 * 1024 * 1024 * 1024},
    {"k", 1e3},
    {"M", 1e6},
    {"G", 1e9},
    {"T", 1e12},
    {"P", 1e15},
    {"E", 1e18},
};

}  // namespace

result<int64_t> parse_quantity(std::string_view text) {
  const std::string quoted = "\"" + std::string(text.substr(0, 64)) + "\"";
  size_t i = 0;
  // Integer part, then an optional fraction; kept exact as mantissa / 10^frac_digits.
  int64_t mantissa = 0;
  int digits = 0, frac_digits = 0;
  bool seen_dot = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.' && !seen_dot) {
      seen_dot = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    if (++digits > 18) return invalid_argument("quantity " + quoted + " has too many digits");
    mantissa = mantissa * 10 + (c - '0');
    if (seen_dot) ++frac_digits;
  }
  if (digits == 0) return invalid_argument("quantity " + quoted + " must start with a number");
  std::string_view rest = text.substr(i);
  double scale = 1.0;
  if (!rest.empty()) {
    bool found = false;
    for (const suffix& s : kSuffixes) {
      if (rest == s.text) {
        scale = s.scale;
        found = true;
        break;
      }
    }
    if (!found) return invalid_argument("quantity " + quoted + " has an unknown unit");
  }
  long double bytes = static_cast<long double>(mantissa) * scale;
  for (int k = 0; k < frac_digits; ++k) bytes /= 10;
  bytes = std::ceil(bytes - 1e-6L);
  if (bytes > static_cast<long double>(int64_t{1} << 62))
    return invalid_argument("quantity " + quoted + " is too large");
  return static_cast<int64_t>(bytes);
}

std::string format_quantity(int64_t bytes) {
  if (bytes == 0) return "0";
  static const char* kUnits[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  int unit = 0;
  long double v = static_cast<long double>(bytes);
  while (unit < 6 && std::fabs(v) >= 1024.0L) {
    v /= 1024.0L;
    ++unit;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2Lf", v);
  std::string s = buf;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s + kUnits[unit];
}

}  // namespace kaito::presets
