// Parquet record assembly into JSON rows (see parquet_rows.h).
#include "engine/parquet_rows.h"

#include <algorithm>
#include <cstdint>

namespace kaito::engine {

namespace {

// How a node on a leaf's path places its value.
enum class role : uint8_t {
  field,    // a key of the enclosing object (or of the row)
  slot,     // the repeated child of a LIST/MAP group: one array element per repetition
  element,  // the single child of a three-level list's repeated group: the element's value
};

struct step {
  int node;
  role r;
  bool opens_list;   // a LIST/MAP group: its value is an array, its repeated child the elements
  bool repeated;     // a repeated node (its own level counter)
  int16_t def, rep;  // the levels at which this node is defined / repeats
  std::string name;
};

std::vector<step> plan_path(const parquet_metadata& md, const parquet_leaf& leaf) {
  std::vector<step> steps;
  int16_t def = 0, rep = 0;
  role next_role = role::field;
  for (size_t i = 0; i < leaf.path.size(); ++i) {
    const parquet_schema_node& n = md.schema[size_t(leaf.path[i])];
    const bool repeated = n.repetition == parquet_repetition::repeated;
    def = int16_t(def + (n.repetition != parquet_repetition::required));
    rep = int16_t(rep + repeated);
    const bool group = n.physical == parquet_physical::group;
    const bool list_group =
        group && (n.list || n.map) && n.children.size() == 1 &&
        md.schema[size_t(n.children[0])].repetition == parquet_repetition::repeated;
    steps.push_back(step{leaf.path[i], next_role, list_group, repeated, def, rep, n.name});
    if (list_group) {
      next_role = role::slot;
    } else if (next_role == role::slot) {
      // three-level unless a legacy two-level name, a MAP's key_value, or not a 1-child group
      const parquet_schema_node& parent = md.schema[size_t(n.parent)];
      const bool three = group && n.children.size() == 1 && !parent.map && n.name != "array" &&
                         n.name != parent.name + "_tuple";
      next_role = three ? role::element : role::field;
    } else {
      next_role = role::field;
    }
  }
  return steps;
}

nlohmann::ordered_json& at_index(nlohmann::ordered_json& arr, size_t i) {
  while (arr.size() <= i) arr.push_back(nullptr);
  return arr[i];
}

// Places one leaf column of a row group into rows.
status assemble(const parquet_leaf& leaf, const std::vector<step>& steps,
                const parquet_column_data& col, std::vector<nlohmann::ordered_json>& rows,
                const std::string& where) {
  std::vector<size_t> idx(size_t(leaf.max_rep) + 1, 0);
  int64_t row = -1;
  size_t vi = 0;
  for (int64_t e = 0; e < col.entries; ++e) {
    const int16_t r = leaf.max_rep > 0 ? col.rep[size_t(e)] : 0;
    const int16_t d = leaf.max_def > 0 ? col.def[size_t(e)] : 0;
    if (r == 0) {
      if (++row >= int64_t(rows.size()))
        return invalid_argument("column " + leaf.dotted + " holds more rows than the row group's " +
                                    std::to_string(rows.size()),
                                where);
    } else if (row < 0) {
      return invalid_argument(
          "column " + leaf.dotted + " starts with repetition level " + std::to_string(r), where);
    } else {
      ++idx[size_t(r)];
    }
    for (size_t l = size_t(r) + 1; l < idx.size(); ++l) idx[l] = 0;

    nlohmann::ordered_json* container = &rows[size_t(row)];  // the object fields go into
    nlohmann::ordered_json* slot = nullptr;                  // where this node's value goes
    for (size_t i = 0; i < steps.size(); ++i) {
      const step& s = steps[i];
      if (s.r == role::field) {
        slot = &(*container)[s.name];  // created as null
      } else if (s.r == role::slot) {  // slot is the LIST group's array
        if (d < s.def) break;          // an empty list
        slot = &at_index(*slot, idx[size_t(s.rep)]);
      }                 // role::element: slot is already the array element
      if (d < s.def) {  // not defined at this node: null, or an empty bare repeated field
        if (s.repeated && slot->is_null()) *slot = nlohmann::ordered_json::array();
        break;
      }
      if (s.r == role::field && s.repeated) {  // a bare repeated field: an array of its values
        if (!slot->is_array()) *slot = nlohmann::ordered_json::array();
        slot = &at_index(*slot, idx[size_t(s.rep)]);
      } else if (s.opens_list) {  // a LIST/MAP group: the next step picks the element
        if (!slot->is_array()) *slot = nlohmann::ordered_json::array();
        continue;
      }
      if (i + 1 == steps.size()) {
        if (vi >= col.values.size())
          return invalid_argument("column " + leaf.dotted + " has fewer values than levels", where);
        *slot = col.values[vi++];
      } else if (steps[i + 1].r == role::field) {  // a struct: its fields follow
        if (!slot->is_object()) *slot = nlohmann::ordered_json::object();
        container = slot;
      }
    }
  }
  if (row + 1 != int64_t(rows.size()))
    return invalid_argument("column " + leaf.dotted + " holds " + std::to_string(row + 1) +
                                " rows, the row group " + std::to_string(rows.size()),
                            where);
  if (vi != col.values.size())
    return invalid_argument("column " + leaf.dotted + " has more values than levels", where);
  return {};
}

}  // namespace

result<std::vector<nlohmann::ordered_json>> parquet_read_rows(
    std::string_view file, const std::vector<std::string>& fields,
    const parquet_read_limits& limits) {
  KAITO_ASSIGN_OR_RETURN(parquet_metadata md, parquet_read_metadata(file));
  const std::vector<std::string> cols = md.columns();
  for (const std::string& f : fields)
    if (std::find(cols.begin(), cols.end(), f) == cols.end()) {
      std::string have;
      for (const std::string& c : cols) have += (have.empty() ? "" : ", ") + c;
      return invalid_argument("the file has no column \"" + f + "\" (its columns: " + have + ")",
                              "columns");
    }
  std::vector<nlohmann::ordered_json> out;
  if (md.num_rows > limits.max_entries)
    return invalid_argument(std::to_string(md.num_rows) + " rows exceed the reader's limit",
                            "FileMetaData.num_rows");
  out.reserve(size_t(md.num_rows));
  int64_t value_bytes = 0;
  for (size_t g = 0; g < md.row_groups.size(); ++g) {
    const std::string where = "row_groups[" + std::to_string(g) + "]";
    // nulls until a column reaches them (cheap when a crafted footer claims many rows)
    std::vector<nlohmann::ordered_json> rows(size_t(md.row_groups[g].num_rows));
    for (size_t c = 0; c < md.leaves.size(); ++c) {
      const parquet_leaf& leaf = md.leaves[c];
      const std::string& top = md.schema[size_t(leaf.path[0])].name;
      if (!fields.empty() && std::find(fields.begin(), fields.end(), top) == fields.end()) continue;
      KAITO_ASSIGN_OR_RETURN(parquet_column_data col,
                             parquet_read_column(file, md, g, c, limits, &value_bytes));
      KAITO_TRY(assemble(leaf, plan_path(md, leaf), col, rows, where));
    }
    for (auto& r : rows)
      out.push_back(r.is_null() ? nlohmann::ordered_json::object() : std::move(r));
  }
  return out;
}

}  // namespace kaito::engine
