// RFC 4180 CSV; see csv_rows.h.
#include "engine/csv_rows.h"

#include <set>
#include <utility>

namespace kaito::engine {
namespace {

class csv_reader {
 public:
  explicit csv_reader(std::string_view t) : t_(t) {
    if (t_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
  }
  bool done() const { return pos_ >= t_.size(); }
  int64_t line() const { return line_; }

  // The next record (empty for a blank line); pos_ past its line end.
  result<std::vector<std::string>> record(size_t max_fields) {
    std::vector<std::string> fields;
    const int64_t start_line = line_;
    auto where = [&] { return "line " + std::to_string(start_line); };
    if (at_line_end()) {  // a blank line
      skip_line_end();
      return fields;
    }
    while (true) {
      std::string f;
      if (pos_ < t_.size() && t_[pos_] == '"') {
        const size_t open = pos_++;
        while (true) {
          if (pos_ >= t_.size())
            return invalid_argument(
                "unterminated quoted field opened at byte " + std::to_string(open), where());
          char c = t_[pos_++];
          if (c == '"') {
            if (pos_ < t_.size() && t_[pos_] == '"') {
              f += '"';
              ++pos_;
              continue;
            }
            break;
          }
          if (c == '\n') ++line_;
          f += c;
        }
        if (!at_line_end() && t_[pos_] != ',')
          return invalid_argument("text after a closing quote at byte " + std::to_string(pos_),
                                  where());
      } else {
        while (!at_line_end() && t_[pos_] != ',') f += t_[pos_++];
      }
      fields.push_back(std::move(f));
      if (fields.size() > max_fields)
        return invalid_argument("more than " + std::to_string(max_fields) + " fields", where());
      if (at_line_end()) break;
      ++pos_;  // the ','
    }
    skip_line_end();
    return fields;
  }

 private:
  bool at_line_end() const {
    return pos_ >= t_.size() || t_[pos_] == '\n' ||
           (t_[pos_] == '\r' && (pos_ + 1 >= t_.size() || t_[pos_ + 1] == '\n'));
  }
  void skip_line_end() {
    if (pos_ < t_.size() && t_[pos_] == '\r') ++pos_;
    if (pos_ < t_.size() && t_[pos_] == '\n') ++pos_;
    ++line_;
  }

  std::string_view t_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

}  // namespace

result<csv_table> parse_csv(std::string_view text, size_t max_fields) {
  csv_reader r(text);
  csv_table t;
  while (!r.done() && t.header.empty()) {
    const int64_t line = r.line();
    KAITO_ASSIGN_OR_RETURN(t.header, r.record(max_fields));
    if (t.header.empty()) continue;
    std::set<std::string> seen;
    for (const std::string& h : t.header) {
      if (h.empty())
        return invalid_argument("an empty column name in the header",
                                "line " + std::to_string(line));
      if (!seen.insert(h).second)
        return invalid_argument("column \"" + h + "\" twice in the header",
                                "line " + std::to_string(line));
    }
  }
  if (t.header.empty()) return invalid_argument("no header line", "line 1");
  while (!r.done()) {
    const int64_t line = r.line();
    KAITO_ASSIGN_OR_RETURN(std::vector<std::string> row, r.record(max_fields));
    if (row.empty()) continue;
    if (row.size() != t.header.size())
      return invalid_argument(
          std::to_string(row.size()) + " fields, the header has " + std::to_string(t.header.size()),
          "line " + std::to_string(line));
    t.rows.push_back(std::move(row));
    t.lines.push_back(line);
  }
  return t;
}

}  // namespace kaito::engine
