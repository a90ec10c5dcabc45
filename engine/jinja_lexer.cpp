// The Jinja lexer (see jinja_lexer.h); follows jinja2/lexer.py.
#include "engine/jinja_lexer.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "engine/unicode.h"

namespace kaito::engine {
namespace {

constexpr size_t max_tokens = 1'000'000;

struct lexer {
  std::string src;
  std::vector<jinja_token> out;

  std::vector<size_t> line_starts;  // byte offset of every line start

  void pos_of(size_t pos, int* line, int* col) const {
    auto it = std::upper_bound(line_starts.begin(), line_starts.end(), pos);
    const size_t l = static_cast<size_t>(it - line_starts.begin());  // >= 1
    *line = static_cast<int>(l);
    *col = static_cast<int>(pos - line_starts[l - 1]) + 1;
  }
  std::string where(size_t pos) const {
    int line = 0, col = 0;
    pos_of(pos, &line, &col);
    return std::to_string(line) + ":" + std::to_string(col);
  }
  void push(jinja_token::kind k, std::string text, size_t pos) {
    jinja_token t;
    t.type = k;
    t.text = std::move(text);
    pos_of(pos, &t.line, &t.column);
    out.push_back(std::move(t));
  }

  static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  }

  // Decodes a Python string literal body (unicode-escape semantics).
  static std::string unescape(std::string_view body) {
    std::string out;
    for (size_t i = 0; i < body.size(); ++i) {
      const char c = body[i];
      if (c != '\\' || i + 1 >= body.size()) {
        out.push_back(c);
        continue;
      }
      const char e = body[++i];
      const auto hex = [&](size_t n) -> long {
        if (i + 1 + n > body.size()) return -1;
        for (size_t k = 1; k <= n; ++k)
          if (!std::isxdigit(static_cast<unsigned char>(body[i + k]))) return -1;
        const long v = std::strtol(std::string(body.substr(i + 1, n)).c_str(), nullptr, 16);
        i += n;
        return v;
      };
      long cp = -2;
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case '\\':
          out += '\\';
          break;
        case '\'':
          out += '\'';
          break;
        case '"':
          out += '"';
          break;
        case 'a':
          out += '\a';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'v':
          out += '\v';
          break;
        case '\n':
          break;  // line continuation
        case 'x':
          cp = hex(2);
          break;
        case 'u':
          cp = hex(4);
          break;
        case 'U':
          cp = hex(8);
          break;
        default:
          if (e >= '0' && e <= '7') {
            long v = e - '0';
            for (int k = 0;
                 k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k)
              v = v * 8 + (body[++i] - '0');
            cp = v;
          } else {
            out += '\\';
            out += e;
          }
      }
      if (cp == -1) {
        out += '\\';
        out += e;
      } else if (cp >= 0) {
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
        utf8_append(out, static_cast<uint32_t>(cp));
      }
    }
    return out;
  }

  // Lexes expression tokens from `pos` until the tag end `end` ("}}" or "%}") at bracket depth 0.
  // Returns the position of the end marker (the '-'/'+' modifier included) or an error.
  result<size_t> lex_expr(size_t pos, const std::string& end, size_t tag_pos) {
    std::vector<char> stack;
    while (true) {
      while (pos < src.size() && is_space(src[pos])) ++pos;
      if (pos >= src.size())
        return invalid_argument("unexpected end of template, expected '" + end + "'",
                                where(tag_pos));
      if (out.size() > max_tokens) return invalid_argument("template too large", where(pos));
      if (stack.empty()) {
        if (src.compare(pos, end.size(), end) == 0) return pos;
        if ((src[pos] == '-' || src[pos] == '+') && src.compare(pos + 1, end.size(), end) == 0)
          return pos;
      }
      const char c = src[pos];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t e = pos;
        while (e < src.size() &&
               (std::isalnum(static_cast<unsigned char>(src[e])) || src[e] == '_'))
          ++e;
        push(jinja_token::kind::name, src.substr(pos, e - pos), pos);
        pos = e;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t e = pos;
        while (e < src.size() &&
               (std::isdigit(static_cast<unsigned char>(src[e])) || src[e] == '_'))
          ++e;
        bool is_float = false;
        if (e + 1 < src.size() && src[e] == '.' &&
            std::isdigit(static_cast<unsigned char>(src[e + 1]))) {
          is_float = true;
          ++e;
          while (e < src.size() &&
                 (std::isdigit(static_cast<unsigned char>(src[e])) || src[e] == '_'))
            ++e;
        }
        if (e < src.size() && (src[e] == 'e' || src[e] == 'E')) {
          size_t f = e + 1;
          if (f < src.size() && (src[f] == '+' || src[f] == '-')) ++f;
          if (f < src.size() && std::isdigit(static_cast<unsigned char>(src[f]))) {
            is_float = true;
            e = f;
            while (e < src.size() && std::isdigit(static_cast<unsigned char>(src[e]))) ++e;
          }
        }
        std::string digits;
        for (size_t i = pos; i < e; ++i)
          if (src[i] != '_') digits.push_back(src[i]);
        jinja_token t;
        pos_of(pos, &t.line, &t.column);
        t.text = digits;
        if (is_float) {
          t.type = jinja_token::kind::floating;
          t.float_value = std::strtod(digits.c_str(), nullptr);
        } else {
          t.type = jinja_token::kind::integer;
          errno = 0;
          t.int_value = std::strtoll(digits.c_str(), nullptr, 10);
          if (errno == ERANGE) return invalid_argument("integer literal too large", where(pos));
        }
        out.push_back(std::move(t));
        pos = e;
        continue;
      }
      if (c == '\'' || c == '"') {
        size_t e = pos + 1;
        while (e < src.size() && src[e] != c) {
          if (src[e] == '\\') ++e;
          ++e;
        }
        if (e >= src.size()) return invalid_argument("unterminated string", where(pos));
        std::string body = src.substr(pos + 1, e - pos - 1);
        push(jinja_token::kind::string, unescape(body), pos);
        pos = e + 1;
        continue;
      }
      static const char* ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*",
                                  "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                  "]",  "{",  "}",  ",",  ".",  ":",  "|", ";"};
      bool matched = false;
      for (const char* op : ops) {
        const size_t n = std::char_traits<char>::length(op);
        if (src.compare(pos, n, op) == 0) {
          const char o = op[0];
          if (n == 1 && (o == '(' || o == '[' || o == '{')) stack.push_back(o);
          if (n == 1 && (o == ')' || o == ']' || o == '}')) {
            const char want = o == ')' ? '(' : o == ']' ? '[' : '{';
            if (stack.empty() || stack.back() != want)
              return invalid_argument(std::string("unexpected '") + o + "'", where(pos));
            stack.pop_back();
          }
          push(jinja_token::kind::op, op, pos);
          pos += n;
          matched = true;
          break;
        }
      }
      if (!matched) {
        return invalid_argument(std::string("unexpected character '") + c + "'", where(pos));
      }
    }
  }

  status run() {
    // keep_trailing_newline=False: drop one trailing newline.
    if (!src.empty() && src.back() == '\n') {
      src.pop_back();
      if (!src.empty() && src.back() == '\r') src.pop_back();
    } else if (!src.empty() && src.back() == '\r') {
      src.pop_back();
    }
    line_starts.push_back(0);
    for (size_t i = 0; i < src.size(); ++i)
      if (src[i] == '\n') line_starts.push_back(i + 1);
    size_t pos = 0;
    bool strip_next = false;    // a '-' on the previous tag's end
    bool trim_newline = false;  // trim_blocks after a block/comment tag
    bool line_starting = true;  // jinja2: the previous tag's match ended a line
    while (pos <= src.size()) {
      size_t tag = src.find('{', pos);
      while (tag != std::string::npos && tag + 1 < src.size() && src[tag + 1] != '{' &&
             src[tag + 1] != '%' && src[tag + 1] != '#')
        tag = src.find('{', tag + 1);
      if (tag != std::string::npos && tag + 1 >= src.size()) tag = std::string::npos;
      std::string text = src.substr(pos, tag == std::string::npos ? std::string::npos : tag - pos);
      if (strip_next) {
        size_t k = 0;
        while (k < text.size() && is_space(text[k])) ++k;
        line_starting = k > 0 && text[k - 1] == '\n';
        text.erase(0, k);
      } else if (trim_newline && !text.empty() && text[0] == '\n') {
        text.erase(0, 1);
        line_starting = true;
      } else if (pos > 0) {
        line_starting = false;
      }
      if (tag == std::string::npos) {
        emit_text(text, pos);
        break;
      }
      const char kindc = src[tag + 1];
      const char mod = tag + 2 < src.size() ? src[tag + 2] : '\0';
      if (mod == '-') {
        size_t k = text.size();
        while (k > 0 && is_space(text[k - 1])) --k;
        text.resize(k);
      } else if (mod != '+' && kindc != '{') {
        // lstrip_blocks: drop spaces/tabs between the line start and a block or comment tag.
        const size_t nl = text.rfind('\n');
        const size_t l = nl == std::string::npos ? 0 : nl + 1;
        bool only_ws = true;
        for (size_t k = l; k < text.size(); ++k)
          only_ws = only_ws && (text[k] == ' ' || text[k] == '\t');
        if ((nl != std::string::npos || line_starting) && only_ws) text.resize(l);
      }
      emit_text(text, pos);
      size_t body = tag + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
      if (kindc == '#') {
        const size_t e = src.find("#}", body);
        if (e == std::string::npos) return invalid_argument("unterminated comment", where(tag));
        strip_next = e > 0 && src[e - 1] == '-' && e - 1 >= body;
        trim_newline = !(e > 0 && src[e - 1] == '+');
        pos = e + 2;
        continue;
      }
      const bool block = kindc == '%';
      // {% raw %} ... {% endraw %}
      if (block) {
        size_t q = body;
        while (q < src.size() && is_space(src[q])) ++q;
        if (src.compare(q, 3, "raw") == 0 &&
            (q + 3 >= src.size() || !std::isalnum(static_cast<unsigned char>(src[q + 3])))) {
          size_t r = q + 3;
          while (r < src.size() && is_space(src[r])) ++r;
          const bool minus = r < src.size() && src[r] == '-';
          if (minus) ++r;
          if (src.compare(r, 2, "%}") != 0) return invalid_argument("bad raw tag", where(tag));
          size_t start = r + 2;
          if (minus) {
            while (start < src.size() && is_space(src[start])) ++start;
          } else if (start < src.size() && src[start] == '\n') {
            ++start;
          }
          size_t search = start;
          while (true) {
            const size_t e = src.find("{%", search);
            if (e == std::string::npos) return invalid_argument("missing endraw", where(tag));
            size_t k = e + 2;
            const bool lminus = k < src.size() && src[k] == '-';
            if (k < src.size() && (src[k] == '-' || src[k] == '+')) ++k;
            while (k < src.size() && is_space(src[k])) ++k;
            if (src.compare(k, 6, "endraw") == 0) {
              std::string raw = src.substr(start, e - start);
              if (lminus) {
                size_t z = raw.size();
                while (z > 0 && is_space(raw[z - 1])) --z;
                raw.resize(z);
              }
              emit_text(raw, start);
              k += 6;
              while (k < src.size() && is_space(src[k])) ++k;
              const bool rminus = k < src.size() && src[k] == '-';
              if (k < src.size() && (src[k] == '-' || src[k] == '+')) ++k;
              if (src.compare(k, 2, "%}") != 0) return invalid_argument("bad endraw tag", where(e));
              strip_next = rminus;
              trim_newline = true;
              pos = k + 2;
              break;
            }
            search = e + 2;
          }
          continue;
        }
      }
      push(block ? jinja_token::kind::block_begin : jinja_token::kind::var_begin, "", tag);
      KAITO_ASSIGN_OR_RETURN(size_t e, lex_expr(body, block ? "%}" : "}}", tag));
      const char endmod = src[e];
      push(block ? jinja_token::kind::block_end : jinja_token::kind::var_end, "", e);
      strip_next = endmod == '-';
      trim_newline = block && endmod != '+';
      pos = e + ((endmod == '-' || endmod == '+') ? 3 : 2);
    }
    push(jinja_token::kind::eof, "", src.size());
    return {};
  }

  void emit_text(std::string text, size_t pos) {
    if (text.empty()) return;
    // Newline normalization (\r\n and \r become \n).
    std::string norm;
    norm.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\r') {
        norm.push_back('\n');
        if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      } else {
        norm.push_back(text[i]);
      }
    }
    push(jinja_token::kind::text, std::move(norm), pos);
  }
};

}  // namespace

result<std::vector<jinja_token>> jinja_lex(std::string_view source) {
  lexer lx;
  lx.src.assign(source);
  KAITO_TRY(lx.run());
  return std::move(lx.out);
}

}  // namespace kaito::engine
