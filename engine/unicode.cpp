// UTF-8 repair and iteration, Unicode predicates and ICU-backed normalization (see unicode.h).
#include "engine/unicode.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <vector>

namespace kaito::engine {
namespace {

// Length of the valid UTF-8 sequence at `i`, or 0 when it is invalid; `*consumed` receives the
// length of the maximal subpart to replace by one U+FFFD (>= 1) when invalid.
size_t valid_sequence_at(std::string_view s, size_t i, size_t* consumed) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  *consumed = 1;
  if (c < 0x80) return 1;
  size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c == 0xE0) {
    need = 2, lo = 0xA0;
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    need = 2;
  } else if (c == 0xED) {
    need = 2, hi = 0x9F;
  } else if (c == 0xF0) {
    need = 3, lo = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3) {
    need = 3;
  } else if (c == 0xF4) {
    need = 3, hi = 0x8F;
  } else {
    return 0;
  }
  size_t k = 1;
  for (; k <= need; ++k) {
    if (i + k >= s.size()) break;
    const unsigned char t = b(i + k);
    const unsigned char l = (k == 1) ? lo : 0x80;
    const unsigned char h = (k == 1) ? hi : 0xBF;
    if (t < l || t > h) break;
  }
  if (k == need + 1) return need + 1;
  *consumed = k;  // lead byte plus the valid continuation bytes seen so far
  return 0;
}

}  // namespace

bool utf8_is_valid(std::string_view s) {
  size_t consumed = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = valid_sequence_at(s, i, &consumed);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string utf8_sanitize(std::string_view s) {
  if (utf8_is_valid(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  size_t consumed = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = valid_sequence_at(s, i, &consumed);
    if (n == 0) {
      utf8_append(out, replacement_char);
      i += consumed;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

size_t utf8_char_size(std::string_view s, size_t pos) {
  if (pos >= s.size()) return 1;
  const unsigned char c = static_cast<unsigned char>(s[pos]);
  if (c < 0x80) return 1;
  if (c < 0xE0) return 2;
  if (c < 0xF0) return 3;
  return 4;
}

uint32_t utf8_next(std::string_view s, size_t& pos) {
  const size_t n = utf8_char_size(s, pos);
  const auto b = [&](size_t k) -> uint32_t {
    return pos + k < s.size() ? static_cast<unsigned char>(s[pos + k]) : 0x80;
  };
  uint32_t cp = 0;
  switch (n) {
    case 1:
      cp = b(0);
      break;
    case 2:
      cp = ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
      break;
    case 3:
      cp = ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
      break;
    default:
      cp = ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
  pos += n;
  return cp;
}

uint32_t utf8_last_before(std::string_view s, size_t end, size_t* start) {
  size_t p = end - 1;
  while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
  if (start) *start = p;
  size_t q = p;
  return utf8_next(s, q);
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_unicode_whitespace(uint32_t cp) {
  if (cp >= 0x09 && cp <= 0x0D) return true;
  switch (cp) {
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_combining_mark(uint32_t cp) {
  const int32_t mask = U_GET_GC_MASK(static_cast<UChar32>(cp));
  return (mask & U_GC_M_MASK) != 0;
}

bool is_word_char(uint32_t cp) {
  const UChar32 c = static_cast<UChar32>(cp);
  if (u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL))
    return true;
  const int32_t mask = U_GET_GC_MASK(c);
  return (mask & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0;
}

namespace {

result<std::u16string> to_utf16(std::string_view s) {
  UErrorCode err = U_ZERO_ERROR;
  int32_t len = 0;
  u_strFromUTF8(nullptr, 0, &len, s.data(), static_cast<int32_t>(s.size()), &err);
  if (err != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(err))
    return internal_error(std::string("utf-8 to utf-16: ") + u_errorName(err));
  std::u16string out(static_cast<size_t>(len), u'\0');
  err = U_ZERO_ERROR;
  u_strFromUTF8(out.data(), len, nullptr, s.data(), static_cast<int32_t>(s.size()), &err);
  if (U_FAILURE(err)) return internal_error(std::string("utf-8 to utf-16: ") + u_errorName(err));
  return out;
}

result<std::string> to_utf8(const std::u16string& s) {
  UErrorCode err = U_ZERO_ERROR;
  int32_t len = 0;
  u_strToUTF8(nullptr, 0, &len, s.data(), static_cast<int32_t>(s.size()), &err);
  if (err != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(err))
    return internal_error(std::string("utf-16 to utf-8: ") + u_errorName(err));
  std::string out(static_cast<size_t>(len), '\0');
  err = U_ZERO_ERROR;
  u_strToUTF8(out.data(), len, nullptr, s.data(), static_cast<int32_t>(s.size()), &err);
  if (U_FAILURE(err)) return internal_error(std::string("utf-16 to utf-8: ") + u_errorName(err));
  return out;
}

}  // namespace

result<std::string> unicode_normalize(std::string_view s, normal_form form) {
  bool ascii = true;
  for (char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(s);
  UErrorCode err = U_ZERO_ERROR;
  const UNormalizer2* norm = nullptr;
  switch (form) {
    case normal_form::nfc:
      norm = unorm2_getNFCInstance(&err);
      break;
    case normal_form::nfd:
      norm = unorm2_getNFDInstance(&err);
      break;
    case normal_form::nfkc:
      norm = unorm2_getNFKCInstance(&err);
      break;
    case normal_form::nfkd:
      norm = unorm2_getNFKDInstance(&err);
      break;
  }
  if (U_FAILURE(err)) return internal_error(std::string("icu normalizer: ") + u_errorName(err));
  KAITO_ASSIGN_OR_RETURN(std::u16string in, to_utf16(s));
  std::u16string out(in.size() * 4 + 16, u'\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    err = U_ZERO_ERROR;
    const int32_t n = unorm2_normalize(norm, in.data(), static_cast<int32_t>(in.size()), out.data(),
                                       static_cast<int32_t>(out.size()), &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      out.assign(static_cast<size_t>(n), u'\0');
      continue;
    }
    if (U_FAILURE(err)) return internal_error(std::string("icu normalize: ") + u_errorName(err));
    out.resize(static_cast<size_t>(n));
    return to_utf8(out);
  }
  return internal_error("icu normalize: buffer sizing failed");
}

namespace {

// Full lower-case mapping of one code point (no context, so no final-sigma rule).
result<std::string> lowercase_one(std::string_view s) {
  KAITO_ASSIGN_OR_RETURN(std::u16string in, to_utf16(s));
  std::u16string out(in.size() * 3 + 16, u'\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode err = U_ZERO_ERROR;
    const int32_t n = u_strToLower(out.data(), static_cast<int32_t>(out.size()), in.data(),
                                   static_cast<int32_t>(in.size()), "", &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      out.assign(static_cast<size_t>(n), u'\0');
      continue;
    }
    if (U_FAILURE(err)) return internal_error(std::string("icu lowercase: ") + u_errorName(err));
    out.resize(static_cast<size_t>(n));
    return to_utf8(out);
  }
  return internal_error("icu lowercase: buffer sizing failed");
}

}  // namespace

result<std::string> unicode_lowercase(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t p = 0; p < s.size();) {
    const size_t b = p;
    const uint32_t cp = utf8_next(s, p);
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
      continue;
    }
    KAITO_ASSIGN_OR_RETURN(const std::string low, lowercase_one(s.substr(b, p - b)));
    out += low;
  }
  return out;
}

const std::array<uint32_t, 256>& byte_to_unicode_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    std::array<bool, 256> direct{};
    for (int b = '!'; b <= '~'; ++b) direct[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) t[b] = direct[b] ? static_cast<uint32_t>(b) : next++;
    return t;
  }();
  return table;
}

int unicode_to_byte(uint32_t cp) {
  static const std::vector<int> inverse = [] {
    std::vector<int> inv(512, -1);
    const auto& t = byte_to_unicode_table();
    for (int b = 0; b < 256; ++b) inv[t[b]] = b;
    return inv;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

}  // namespace kaito::engine
