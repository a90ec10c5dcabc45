#!/usr/bin/env python3
"""parquet_peer: Parquet files written by pyarrow (the writer Hugging Face datasets uses), and the
rows pyarrow reads back from each, for parquet_test.cpp to compare with engine/parquet_rows.h.

Usage: parquet_peer.py OUT_DIR
Writes OUT_DIR/<name>.parquet for every variant and OUT_DIR/parquet_peer.json:
  {"variants": [{"name": ..., "rows": [...to_pylist()...]}, ...]}
Exit 2 when pyarrow is missing (the test names the package).
"""
import json
import os
import sys

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:
    sys.exit(2)


def chat_table(n):
    msgs = pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())]))
    rows = []
    for i in range(n):
        turns = [{"content": f"question {i} " + "x" * (i % 7), "role": "user"},
                 {"content": f"answer {i} é✓", "role": "assistant"}]
        if i % 3 == 0:
            turns.insert(0, {"content": "You are terse.", "role": "system"})
        rows.append(turns)
    return pa.table({"messages": pa.array(rows, type=msgs),
                     "id": pa.array(range(n), type=pa.int64()),
                     "category": pa.array(["qa" if i % 2 else "chat" for i in range(n)])})


def nulls_table():
    msgs = pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())]))
    return pa.table({
        "messages": pa.array([
            [{"content": "a", "role": "user"}, {"content": None, "role": "assistant"}],
            None,
            [],
            [None, {"content": "b", "role": None}],
        ], type=msgs),
        "n": pa.array([1, None, 3, None], type=pa.int32()),
        "f": pa.array([0.5, -2.25, None, 1e300], type=pa.float64()),
        "g": pa.array([1.5, None, -0.0, 3.0], type=pa.float32()),
        "b": pa.array([True, False, None, True]),
        "tags": pa.array([["x", "y"], [], None, ["z"]], type=pa.list_(pa.string())),
        "nested": pa.array([[[1, 2], [3]], [[]], None, [None, [4]]],
                           type=pa.list_(pa.list_(pa.int64()))),
        "s": pa.array([{"k": "v", "m": {"z": 1}}, None, {"k": None, "m": None},
                       {"k": "w", "m": {"z": None}}],
                      type=pa.struct([("k", pa.string()),
                                      ("m", pa.struct([("z", pa.int16())]))])),
        "kv": pa.array([[("a", 1)], None, [], [("b", 2), ("c", None)]],
                       type=pa.map_(pa.string(), pa.int32())),
        "bin": pa.array([b"\x00\xff", None, b"", b"ok"], type=pa.binary()),
    })


def jsonable(v):
    """to_pylist() values as nlohmann::json dumps ours: bytes as {"bytes": [...], "subtype": null}."""
    if isinstance(v, bytes):
        return {"bytes": list(v), "subtype": None}
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    variants = []

    def write(name, table, **kw):
        path = os.path.join(out, name + ".parquet")
        pq.write_table(table, path, **kw)
        rows = pq.read_table(path).to_pylist()
        for r in rows:  # maps read back as lists of (key, value) tuples
            for k, v in r.items():
                if isinstance(v, list) and v and isinstance(v[0], tuple):
                    r[k] = [{"key": a, "value": b} for a, b in v]
        variants.append({"name": name, "rows": jsonable(rows)})

    chat = chat_table(300)
    write("chat_snappy", chat)  # pyarrow's defaults: snappy, dictionary, data page v1
    write("chat_zstd_v2", chat, compression="zstd", data_page_version="2.0")
    write("chat_gzip", chat, compression="gzip", use_dictionary=False)
    write("chat_none_small_pages", chat, compression="none", data_page_size=512,
          row_group_size=64)
    write("chat_delta", chat, compression="snappy", use_dictionary=False,
          column_encoding={"messages.list.element.content": "DELTA_BYTE_ARRAY",
                           "messages.list.element.role": "DELTA_LENGTH_BYTE_ARRAY",
                           "id": "DELTA_BINARY_PACKED", "category": "PLAIN"})
    write("chat_delta_v2", chat, compression="zstd", use_dictionary=False,
          data_page_version="2.0",
          column_encoding={"messages.list.element.content": "DELTA_LENGTH_BYTE_ARRAY",
                           "messages.list.element.role": "DELTA_BYTE_ARRAY",
                           "id": "DELTA_BINARY_PACKED", "category": "DELTA_BYTE_ARRAY"})
    write("nulls", nulls_table())
    write("nulls_v2_zstd", nulls_table(), compression="zstd", data_page_version="2.0")
    write("nulls_delta", nulls_table(), use_dictionary=False,
          column_encoding={"n": "DELTA_BINARY_PACKED", "tags.list.element": "DELTA_BYTE_ARRAY",
                           "s.k": "DELTA_LENGTH_BYTE_ARRAY"})
    all_null = pa.table({"x": pa.array([None] * 10, type=pa.string()),
                         "y": pa.array([None] * 10, type=pa.int64())})
    write("all_null_delta", all_null, use_dictionary=False,
          column_encoding={"x": "DELTA_BYTE_ARRAY", "y": "DELTA_BINARY_PACKED"})
    write("empty", chat_table(0))
    with open(os.path.join(out, "parquet_peer.json"), "w") as f:
        json.dump({"variants": variants}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
