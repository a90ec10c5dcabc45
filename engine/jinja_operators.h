// jinja_operators: Jinja's binary operators (+ - * / // % **) and slicing with Python semantics:
// int/float promotion, floor division and modulo with the divisor's sign, str/list concatenation
// and repetition, checked int64 overflow, PySlice_AdjustIndices for slices over code points.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>

#include "base/status.h"
#include "engine/jinja_value.h"

namespace kaito::engine {

// `a op b`. invalid_argument for undefined operands, type errors, division by zero and integer
// overflow; resource_exhausted when a repeated/concatenated result would exceed max_value_size.
result<jinja_value> jinja_binary_op(const std::string& op, const jinja_value& a,
                                    const jinja_value& b, size_t max_value_size);

// obj[start:stop:step] for strings (by code point) and lists; parts may be null (omitted).
// Undefined obj is an error; other types yield undefined.
result<jinja_value> jinja_slice(const jinja_value& obj, const jinja_value* const parts[3]);

}  // namespace kaito::engine
