// The Parquet footer (see parquet_metadata.h): FileMetaData, its schema and row groups. Field ids
// are parquet-format's parquet.thrift; the page headers are in parquet_page_header.cpp.
#include "engine/parquet_metadata.h"

#include <cstring>
#include <functional>
#include <string>

#include "engine/thrift_compact.h"

namespace kaito::engine {

namespace {

constexpr int kMaxSchemaDepth = 32;

status read_schema_element(thrift_reader& r, parquet_schema_node* n, int32_t* num_children) {
  *num_children = 0;
  return thrift_read_struct(r, [&](const thrift_field& f) -> result<bool> {
    switch (f.id) {
      case 1: {
        KAITO_ASSIGN_OR_RETURN(int32_t t, thrift_i32(r, f, "SchemaElement.type", 0, 7));
        n->physical = parquet_physical(t);
        return true;
      }
      case 2: {
        KAITO_ASSIGN_OR_RETURN(n->type_length, thrift_i32(r, f, "SchemaElement.type_length"));
        return true;
      }
      case 3: {
        KAITO_ASSIGN_OR_RETURN(int32_t rep,
                               thrift_i32(r, f, "SchemaElement.repetition_type", 0, 2));
        n->repetition = parquet_repetition(rep);
        return true;
      }
      case 4: {
        KAITO_ASSIGN_OR_RETURN(n->name, thrift_string(r, f, "SchemaElement.name"));
        return true;
      }
      case 5: {
        KAITO_ASSIGN_OR_RETURN(*num_children, thrift_i32(r, f, "SchemaElement.num_children"));
        return true;
      }
      case 6: {
        KAITO_ASSIGN_OR_RETURN(n->converted_type, thrift_i32(r, f, "SchemaElement.converted_type"));
        n->string = n->string || n->converted_type == 0 || n->converted_type == 4 ||
                    n->converted_type == 19;  // UTF8, ENUM, JSON
        n->map = n->map || n->converted_type == 1 || n->converted_type == 2;
        n->list = n->list || n->converted_type == 3;
        return true;
      }
      case 10: {  // LogicalType union: the member's field id says which
        KAITO_TRY(thrift_expect(r, f, thrift_type::structure, "SchemaElement.logicalType"));
        KAITO_TRY(thrift_read_struct(r, [&](const thrift_field& u) -> result<bool> {
          n->string = n->string || u.id == 1 || u.id == 4 || u.id == 12;  // STRING, ENUM, JSON
          n->map = n->map || u.id == 2;
          n->list = n->list || u.id == 3;
          return false;
        }));
        return true;
      }
      default:
        return false;
    }
  });
}

status read_column_meta(thrift_reader& r, parquet_column_chunk* c, std::vector<std::string>* path) {
  return thrift_read_struct(r, [&](const thrift_field& f) -> result<bool> {
    switch (f.id) {
      case 1: {
        KAITO_ASSIGN_OR_RETURN(int32_t t, thrift_i32(r, f, "ColumnMetaData.type", 0, 7));
        c->physical = parquet_physical(t);
        return true;
      }
      case 3: {
        KAITO_TRY(thrift_expect(r, f, thrift_type::list, "ColumnMetaData.path_in_schema"));
        KAITO_ASSIGN_OR_RETURN(thrift_list l, r.read_list());
        if (l.elem != thrift_type::binary) return r.error("path_in_schema: not a string list");
        for (int64_t i = 0; i < l.size; ++i) {
          KAITO_ASSIGN_OR_RETURN(std::string_view s, r.read_binary());
          path->emplace_back(s);
        }
        return true;
      }
      case 4: {
        KAITO_ASSIGN_OR_RETURN(c->codec, thrift_i32(r, f, "ColumnMetaData.codec"));
        return true;
      }
      case 5: {
        KAITO_ASSIGN_OR_RETURN(c->num_values, thrift_i64(r, f, "ColumnMetaData.num_values"));
        return true;
      }
      case 7: {
        KAITO_ASSIGN_OR_RETURN(c->total_compressed_size,
                               thrift_i64(r, f, "ColumnMetaData.total_compressed_size"));
        return true;
      }
      case 9: {
        KAITO_ASSIGN_OR_RETURN(c->data_page_offset,
                               thrift_i64(r, f, "ColumnMetaData.data_page_offset"));
        return true;
      }
      case 11: {
        KAITO_ASSIGN_OR_RETURN(c->dictionary_page_offset,
                               thrift_i64(r, f, "ColumnMetaData.dictionary_page_offset"));
        return true;
      }
      default:
        return false;
    }
  });
}

status read_row_group(thrift_reader& r, parquet_row_group* g,
                      std::vector<std::vector<std::string>>* paths) {
  return thrift_read_struct(r, [&](const thrift_field& f) -> result<bool> {
    if (f.id == 3) {
      KAITO_ASSIGN_OR_RETURN(g->num_rows, thrift_i64(r, f, "RowGroup.num_rows"));
      return true;
    }
    if (f.id != 1) return false;
    KAITO_TRY(thrift_struct_list(r, f, "RowGroup.columns", [&]() -> status {
      parquet_column_chunk c;
      std::vector<std::string> path;
      bool has_meta = false;
      const uint64_t at = r.offset();
      KAITO_TRY(thrift_read_struct(r, [&](const thrift_field& cf) -> result<bool> {
        if (cf.id == 1) {  // writers may leave an empty file_path: the data is in this file
          KAITO_ASSIGN_OR_RETURN(std::string fp, thrift_string(r, cf, "ColumnChunk.file_path"));
          if (!fp.empty())
            return r.error("the column chunk is in another file (" + fp + "): unsupported");
          return true;
        }
        if (cf.id != 3) return false;
        KAITO_TRY(thrift_expect(r, cf, thrift_type::structure, "ColumnChunk.meta_data"));
        KAITO_TRY(read_column_meta(r, &c, &path));
        has_meta = true;
        return true;
      }));
      if (!has_meta)
        return invalid_argument("ColumnChunk without meta_data", "byte " + std::to_string(at));
      g->columns.push_back(c);
      paths->push_back(std::move(path));
      return {};
    }));
    return true;
  });
}

// Links the depth-first schema list into a tree and lists its leaves with their levels.
status build_schema(parquet_metadata* md, const std::vector<int32_t>& num_children) {
  auto& s = md->schema;
  if (s.empty()) return invalid_argument("the schema is empty", "FileMetaData.schema");
  size_t next = 1;
  // depth-first, as the list is laid out; at most kMaxSchemaDepth deep
  std::function<status(int, int, int16_t, int16_t, std::vector<int>&)> visit =
      [&](int node, int depth, int16_t def, int16_t rep, std::vector<int>& path) -> status {
    const std::string where = "schema[" + std::to_string(node) + "] (" + s[size_t(node)].name + ")";
    if (depth > kMaxSchemaDepth) return invalid_argument("nested deeper than 32 levels", where);
    const int32_t n = num_children[size_t(node)];
    if (n == 0) {
      if (node == 0) return invalid_argument("the root has no columns", where);
      if (s[size_t(node)].physical == parquet_physical::group)
        return invalid_argument("a leaf without a type", where);
      parquet_leaf leaf;
      leaf.node = node;
      leaf.path = path;
      leaf.max_def = def;
      leaf.max_rep = rep;
      for (int p : path) leaf.dotted += (leaf.dotted.empty() ? "" : ".") + s[size_t(p)].name;
      md->leaves.push_back(std::move(leaf));
      return {};
    }
    if (size_t(n) > s.size() - next)
      return invalid_argument("num_children " + std::to_string(n) + " exceeds the elements left",
                              where);
    s[size_t(node)].physical = parquet_physical::group;
    for (int32_t i = 0; i < n; ++i) {
      // checked per child too: the children's own subtrees consume elements as well
      if (next >= s.size())
        return invalid_argument(
            "the schema ends before child " + std::to_string(i) + " of " + std::to_string(n),
            where);
      const int child = int(next++);
      s[size_t(child)].parent = node;
      s[size_t(node)].children.push_back(child);
      const parquet_repetition cr = s[size_t(child)].repetition;
      path.push_back(child);
      KAITO_TRY(visit(child, depth + 1, int16_t(def + (cr != parquet_repetition::required)),
                      int16_t(rep + (cr == parquet_repetition::repeated)), path));
      path.pop_back();
    }
    return {};
  };
  std::vector<int> path;
  KAITO_TRY(visit(0, 0, 0, 0, path));
  if (next != s.size())
    return invalid_argument(std::to_string(s.size() - next) + " schema elements outside the tree",
                            "FileMetaData.schema");
  return {};
}

}  // namespace

std::vector<std::string> parquet_metadata::columns() const {
  std::vector<std::string> out;
  if (!schema.empty())
    for (int c : schema[0].children) out.push_back(schema[size_t(c)].name);
  return out;
}

result<parquet_metadata> parquet_read_metadata(std::string_view file) {
  if (file.size() < 12 || file.substr(0, 4) != "PAR1")
    return invalid_argument("not a Parquet file (no PAR1 magic at the start)", "byte 0");
  if (file.substr(file.size() - 4) != "PAR1")
    return invalid_argument("no PAR1 magic at the end (truncated file?)",
                            "byte " + std::to_string(file.size() - 4));
  uint32_t len = 0;
  std::memcpy(&len, file.data() + file.size() - 8, 4);  // little-endian hosts only (x86, arm64)
  if (uint64_t(len) > file.size() - 12)
    return invalid_argument("footer length " + std::to_string(len) + " exceeds the file",
                            "byte " + std::to_string(file.size() - 8));
  const uint64_t footer = file.size() - 8 - len;
  thrift_reader r(file.substr(size_t(footer), len), footer);
  parquet_metadata md;
  std::vector<int32_t> num_children;
  std::vector<std::vector<std::vector<std::string>>> paths;  // per row group, per column
  KAITO_TRY(thrift_read_struct(r, [&](const thrift_field& f) -> result<bool> {
    switch (f.id) {
      case 2:
        KAITO_TRY(thrift_struct_list(r, f, "FileMetaData.schema", [&]() -> status {
          parquet_schema_node n;
          int32_t nc = 0;
          KAITO_TRY(read_schema_element(r, &n, &nc));
          md.schema.push_back(std::move(n));
          num_children.push_back(nc);
          return {};
        }));
        return true;
      case 3: {
        KAITO_ASSIGN_OR_RETURN(md.num_rows, thrift_i64(r, f, "FileMetaData.num_rows"));
        return true;
      }
      case 4:
        KAITO_TRY(thrift_struct_list(r, f, "FileMetaData.row_groups", [&]() -> status {
          parquet_row_group g;
          paths.emplace_back();
          KAITO_TRY(read_row_group(r, &g, &paths.back()));
          md.row_groups.push_back(std::move(g));
          return {};
        }));
        return true;
      case 6: {
        KAITO_ASSIGN_OR_RETURN(md.created_by, thrift_string(r, f, "FileMetaData.created_by"));
        return true;
      }
      default:
        return false;
    }
  }));
  KAITO_TRY(build_schema(&md, num_children));
  int64_t rows = 0;
  for (size_t g = 0; g < md.row_groups.size(); ++g) {
    parquet_row_group& rg = md.row_groups[g];
    const std::string where = "row_groups[" + std::to_string(g) + "]";
    if (rg.columns.size() != md.leaves.size())
      return invalid_argument(std::to_string(rg.columns.size()) + " column chunks for " +
                                  std::to_string(md.leaves.size()) + " schema leaves",
                              where);
    rows += rg.num_rows;
    for (size_t c = 0; c < rg.columns.size(); ++c) {
      const parquet_column_chunk& cc = rg.columns[c];
      const parquet_leaf& leaf = md.leaves[c];
      const std::string cw = where + ".columns[" + std::to_string(c) + "] (" + leaf.dotted + ")";
      std::string dotted;
      for (const std::string& p : paths[g][c]) dotted += (dotted.empty() ? "" : ".") + p;
      if (dotted != leaf.dotted)
        return invalid_argument(
            "path_in_schema is " + dotted + ", the schema's leaf is " + leaf.dotted, cw);
      if (cc.physical != md.schema[size_t(leaf.node)].physical)
        return invalid_argument("the chunk's type differs from the schema's", cw);
      const int64_t start = cc.start();
      if (cc.num_values == 0) continue;  // nothing is read (writers leave an empty group at 0)
      if (start < 4 || cc.data_page_offset < 4 || cc.total_compressed_size < 0 ||
          uint64_t(start) >= footer || uint64_t(cc.total_compressed_size) > footer - start)
        return invalid_argument("pages at [" + std::to_string(start) + ", +" +
                                    std::to_string(cc.total_compressed_size) +
                                    ") lie outside the file's data",
                                cw);
    }
  }
  if (rows != md.num_rows)
    return invalid_argument("row groups hold " + std::to_string(rows) + " rows, the footer says " +
                                std::to_string(md.num_rows),
                            "FileMetaData.num_rows");
  return md;
}

}  // namespace kaito::engine
