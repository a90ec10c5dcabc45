// Python string semantics for the Jinja interpreter (see jinja_python.h).
#include "engine/jinja_python.h"

#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include <algorithm>

#include "engine/unicode.h"

namespace kaito::engine {
namespace {

using jv = jinja_value;

status bad(const std::string& what) {
  return invalid_argument(what);
}

bool is_cased(uint32_t cp) {
  return u_hasBinaryProperty(static_cast<UChar32>(cp), UCHAR_CASED);
}

}  // namespace

bool python_isspace(uint32_t cp) {
  return is_unicode_whitespace(cp) || (cp >= 0x1C && cp <= 0x1F);
}

const jinja_value* jinja_kwarg(const jinja_kwargs& kw, const char* name) {
  for (const auto& [k, v] : kw)
    if (k == name) return &v;
  return nullptr;
}

const jinja_value* jinja_arg(const jinja_list& args, const jinja_kwargs& kw, size_t i,
                             const char* name) {
  if (i < args.size()) return &args[i];
  return jinja_kwarg(kw, name);
}

result<std::string> py_case(const std::string& s, bool upper) {
  if (s.empty()) return s;
  std::u16string in(s.size() + 1, u'\0');
  int32_t len = 0;
  UErrorCode err = U_ZERO_ERROR;
  u_strFromUTF8(in.data(), static_cast<int32_t>(in.size()), &len, s.data(),
                static_cast<int32_t>(s.size()), &err);
  if (U_FAILURE(err)) return bad("case mapping failed");
  in.resize(static_cast<size_t>(len));
  std::u16string out(in.size() * 3 + 8, u'\0');
  err = U_ZERO_ERROR;
  const int32_t n =
      upper ? u_strToUpper(out.data(), static_cast<int32_t>(out.size()), in.data(), len, "", &err)
            : u_strToLower(out.data(), static_cast<int32_t>(out.size()), in.data(), len, "", &err);
  if (U_FAILURE(err)) return bad("case mapping failed");
  out.resize(static_cast<size_t>(n));
  std::string res(out.size() * 3 + 4, '\0');
  err = U_ZERO_ERROR;
  int32_t m = 0;
  u_strToUTF8(res.data(), static_cast<int32_t>(res.size()), &m, out.data(),
              static_cast<int32_t>(out.size()), &err);
  if (U_FAILURE(err)) return bad("case mapping failed");
  res.resize(static_cast<size_t>(m));
  return res;
}

result<std::string> py_title(const std::string& s) {
  std::string out;
  bool prev_cased = false;
  for (size_t p = 0; p < s.size();) {
    const size_t b = p;
    const uint32_t cp = utf8_next(s, p);
    KAITO_ASSIGN_OR_RETURN(std::string piece, py_case(s.substr(b, p - b), !prev_cased));
    if (!prev_cased) {
      const UChar32 t = u_totitle(static_cast<UChar32>(cp));
      piece.clear();
      utf8_append(piece, static_cast<uint32_t>(t));
    }
    out += piece;
    prev_cased = is_cased(cp);
  }
  return out;
}

result<std::string> py_capitalize(const std::string& s) {
  if (s.empty()) return s;
  size_t p = 0;
  const uint32_t cp = utf8_next(s, p);
  std::string first;
  utf8_append(first, static_cast<uint32_t>(u_totitle(static_cast<UChar32>(cp))));
  KAITO_ASSIGN_OR_RETURN(std::string rest, py_case(s.substr(p), false));
  return first + rest;
}

std::string py_strip(const std::string& s, const jinja_value* chars, bool left, bool right) {
  const auto cps = utf8_code_points(s);
  std::vector<uint32_t> set;
  const bool custom = chars && chars->is_string();
  if (custom) set = utf8_code_points(chars->as_string());
  const auto strip = [&](uint32_t c) {
    return custom ? std::find(set.begin(), set.end(), c) != set.end() : python_isspace(c);
  };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip(cps[b])) ++b;
  if (right)
    while (e > b && strip(cps[e - 1])) --e;
  return utf8_from_code_points(cps, b, e);
}

result<jinja_value> py_split(const std::string& s, const jinja_value* sep,
                             const jinja_value* maxv) {
  int64_t maxsplit = maxv && maxv->type() == jv::kind::integer ? maxv->as_int() : -1;
  jinja_list out;
  if (!sep || sep->is_none()) {
    const auto cps = utf8_code_points(s);
    size_t i = 0;
    while (i < cps.size()) {
      while (i < cps.size() && python_isspace(cps[i])) ++i;
      if (i >= cps.size()) break;
      if (maxsplit == 0) {
        size_t e = cps.size();
        while (e > i && python_isspace(cps[e - 1])) --e;
        out.push_back(jv::string(utf8_from_code_points(cps, i, e)));
        break;
      }
      size_t j = i;
      while (j < cps.size() && !python_isspace(cps[j])) ++j;
      out.push_back(jv::string(utf8_from_code_points(cps, i, j)));
      if (maxsplit > 0) --maxsplit;
      i = j;
    }
    return jv::list(std::move(out));
  }
  if (!sep->is_string()) return bad("split: separator must be a string");
  const std::string& d = sep->as_string();
  if (d.empty()) return bad("empty separator");
  size_t pos = 0;
  while (true) {
    const size_t f = maxsplit == 0 ? std::string::npos : s.find(d, pos);
    if (f == std::string::npos) {
      out.push_back(jv::string(s.substr(pos)));
      break;
    }
    out.push_back(jv::string(s.substr(pos, f - pos)));
    pos = f + d.size();
    if (maxsplit > 0) --maxsplit;
  }
  return jv::list(std::move(out));
}

std::string py_replace(const std::string& s, const std::string& a, const std::string& b,
                       int64_t count) {
  if (a.empty()) {
    // Python inserts `b` between every character (and at both ends).
    std::string out;
    int64_t n = 0;
    size_t p = 0;
    while (true) {
      if (count >= 0 && n >= count) {
        out += s.substr(p);
        break;
      }
      out += b;
      ++n;
      if (p >= s.size()) break;
      const size_t q = p + utf8_char_size(s, p);
      out += s.substr(p, q - p);
      p = q;
    }
    return out;
  }
  std::string out;
  size_t pos = 0;
  int64_t n = 0;
  while (true) {
    const size_t f = (count >= 0 && n >= count) ? std::string::npos : s.find(a, pos);
    if (f == std::string::npos) break;
    out += s.substr(pos, f - pos) + b;
    pos = f + a.size();
    ++n;
  }
  return out + s.substr(pos);
}

// Elements of an iterable value (strings yield characters, dicts keys, undefined nothing).
result<jinja_list> jinja_iterate(const jinja_value& v) {
  switch (v.type()) {
    case jv::kind::list:
      return v.as_list();
    case jv::kind::undefined:
      return jinja_list{};
    case jv::kind::string: {
      jinja_list out;
      const std::string& s = v.as_string();
      for (size_t p = 0; p < s.size();) {
        const size_t b = p;
        p += utf8_char_size(s, p);
        out.push_back(jv::string(s.substr(b, p - b)));
      }
      return out;
    }
    case jv::kind::dict:
    case jv::kind::ns: {
      jinja_list out;
      for (const auto& kv : v.as_dict().items) out.push_back(jv::string(kv.first));
      return out;
    }
    default:
      return bad("object is not iterable");
  }
}

}  // namespace kaito::engine
