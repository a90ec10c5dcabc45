// parquet_rows: a Parquet file's rows as JSON objects, the way pyarrow's to_pylist() shows them,
// for the datasets `kaito tune` reads (engine/chat_dataset.h). Columns are decoded by
// engine/parquet_column.h and assembled from their repetition and definition levels (Dremel):
//   - a struct group is an object keyed by its fields' names; a null one is null;
//   - a LIST-annotated group is an array (three-level lists: `repeated group list { element }`,
//     and the two-level legacy forms: `repeated group array`, `repeated group <name>_tuple`, or
//     a repeated primitive); a MAP is an array of {key, value} objects;
//   - an unannotated repeated field is an array of its values;
//   - primitives as parquet_column.h converts them (strings, or JSON binary for unannotated
//     bytes); a null is null.
// So Kaito's conversational datasets (`messages: list<struct<content: string, role: string>>`,
// as Hugging Face datasets writes them) come out as {"messages": [{"content": ..., "role": ...}]}.
// Errors name the byte offset and the column, or the row group whose levels disagree with its
// row count.
// Thread-safety: pure functions over caller-owned bytes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "engine/parquet_column.h"
#include "engine/parquet_metadata.h"

namespace kaito::engine {

// The rows of the top-level fields named in `fields` (all of them when empty), in file order.
// A name the file lacks is invalid_argument listing the file's columns.
result<std::vector<nlohmann::ordered_json>> parquet_read_rows(
    std::string_view file, const std::vector<std::string>& fields = {},
    const parquet_read_limits& limits = {});

}  // namespace kaito::engine
