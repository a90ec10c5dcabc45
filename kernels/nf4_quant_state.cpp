// The quant_state.bitsandbytes__nf4 JSON blob, byte for byte as bitsandbytes writes it
// (functional.py QuantState.as_dict(packed=True) -> pack_dict_to_tensor -> json.dumps).
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "kernels/nf4.h"

namespace kaito {

namespace {
// Python's repr(float) (float_repr_style "short"): the shortest digits that round-trip, positional
// when -4 <= exponent < 16 (always with a ".0" if integral), else d[.ddd]e+XX / e-XX.
std::string python_float_repr(double v) {
  if (std::isnan(v)) return "NaN";  // json.dumps spellings
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0.0) return std::signbit(v) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "-1.2345e-05"
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp10 = std::atoi(sci.c_str() + e + 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  if (exp10 >= -4 && exp10 < 16) {
    std::string out;
    if (exp10 < 0) {
      out = "0." + std::string(size_t(-exp10 - 1), '0') + digits;
    } else if (size_t(exp10) + 1 >= digits.size()) {
      out = digits + std::string(size_t(exp10) + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, size_t(exp10) + 1) + "." + digits.substr(size_t(exp10) + 1);
    }
    return sign + out;
  }
  std::string out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char ebuf[16];
  std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
  return sign + out + ebuf;
}
}  // namespace

const char* nf4_torch_dtype_name(dtype t) {
  switch (t) {
    case dtype::bf16:
      return "bfloat16";
    case dtype::f16:
      return "float16";
    case dtype::f32:
      return "float32";
    default:
      return "";
  }
}

std::string nf4_quant_state_json(const nf4_quant_state& qs) {
  std::string s = "{\"quant_type\": \"nf4\", \"blocksize\": " + std::to_string(qs.blocksize) +
                  ", \"dtype\": \"" + nf4_torch_dtype_name(qs.orig_dtype) + "\", \"shape\": [";
  for (size_t i = 0; i < qs.shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(qs.shape[i]);
  }
  s += "]";
  if (qs.nested) {
    s += ", \"nested_blocksize\": " + std::to_string(qs.nested_blocksize) +
         ", \"nested_dtype\": \"float32\", \"nested_offset\": " +
         python_float_repr(double(qs.nested_offset));
  }
  s += "}";
  return s;
}

}  // namespace kaito
