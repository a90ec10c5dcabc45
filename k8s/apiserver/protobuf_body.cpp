// Kubernetes protobuf bodies; see protobuf_body.h.
#include "k8s/apiserver/protobuf_body.h"

#include <cstdint>
#include <functional>

#include "k8s/apiserver/pki.h"
#include "k8s/client/base64.h"

namespace kaito::k8s::apiserver {

using json = nlohmann::json;

namespace {

// One protobuf message: visit(field, wire_type, varint, bytes) for each field.
struct field {
  uint32_t number = 0;
  int wire = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

bool read_varint(std::string_view& in, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    auto b = static_cast<unsigned char>(in[0]);
    in.remove_prefix(1);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

status for_each_field(std::string_view in, const std::function<status(const field&)>& fn) {
  while (!in.empty()) {
    uint64_t tag;
    if (!read_varint(in, tag)) return invalid_argument("truncated protobuf tag");
    field f;
    f.number = static_cast<uint32_t>(tag >> 3);
    f.wire = static_cast<int>(tag & 7);
    switch (f.wire) {
      case 0:
        if (!read_varint(in, f.varint)) return invalid_argument("truncated protobuf varint");
        break;
      case 1:
      case 5: {
        size_t n = f.wire == 1 ? 8 : 4;
        if (in.size() < n) return invalid_argument("truncated protobuf fixed field");
        in.remove_prefix(n);
        break;
      }
      case 2: {
        uint64_t len;
        if (!read_varint(in, len) || len > in.size())
          return invalid_argument("truncated protobuf bytes");
        f.bytes = in.substr(0, static_cast<size_t>(len));
        in.remove_prefix(static_cast<size_t>(len));
        break;
      }
      default:
        return invalid_argument("unsupported protobuf wire type " + std::to_string(f.wire));
    }
    KAITO_TRY(fn(f));
  }
  return {};
}

// map<string, string|bytes> entry: 1 key, 2 value.
status map_entry(std::string_view entry, json& into, bool bytes_as_base64) {
  std::string key, value;
  KAITO_TRY(for_each_field(entry, [&](const field& f) -> status {
    if (f.wire != 2) return {};
    if (f.number == 1) key = std::string(f.bytes);
    if (f.number == 2) value = std::string(f.bytes);
    return {};
  }));
  into[key] = bytes_as_base64 ? base64_encode(value) : value;
  return {};
}

status object_meta(std::string_view raw, json& meta) {
  meta = json::object();
  return for_each_field(raw, [&](const field& f) -> status {
    if (f.wire != 2) return {};
    switch (f.number) {
      case 1:
        meta["name"] = std::string(f.bytes);
        break;
      case 2:
        meta["generateName"] = std::string(f.bytes);
        break;
      case 3:
        meta["namespace"] = std::string(f.bytes);
        break;
      case 11:
        return map_entry(f.bytes, meta["labels"], false);
      case 12:
        return map_entry(f.bytes, meta["annotations"], false);
      default:
        break;
    }
    return {};
  });
}

result<json> decode_object(const std::string& kind, std::string_view raw) {
  json obj = {{"apiVersion", "v1"}, {"kind", kind}};
  KAITO_TRY(for_each_field(raw, [&](const field& f) -> status {
    if (f.number == 1 && f.wire == 2) return object_meta(f.bytes, obj["metadata"]);
    if (kind == "Namespace" && f.number == 2 && f.wire == 2)
      return for_each_field(f.bytes, [&](const field& s) -> status {
        if (s.number == 1 && s.wire == 2) obj["spec"]["finalizers"].push_back(std::string(s.bytes));
        return {};
      });
    if (kind == "ConfigMap") {
      if (f.number == 2 && f.wire == 2) return map_entry(f.bytes, obj["data"], false);
      if (f.number == 3 && f.wire == 2) return map_entry(f.bytes, obj["binaryData"], true);
      if (f.number == 4 && f.wire == 0) obj["immutable"] = f.varint != 0;
    }
    if (kind == "Secret") {
      if (f.number == 2 && f.wire == 2) return map_entry(f.bytes, obj["data"], true);
      if (f.number == 3 && f.wire == 2) obj["type"] = std::string(f.bytes);
      if (f.number == 4 && f.wire == 2) return map_entry(f.bytes, obj["stringData"], false);
      if (f.number == 5 && f.wire == 0) obj["immutable"] = f.varint != 0;
    }
    return {};
  }));
  return obj;
}

}  // namespace

result<json> decode_k8s_protobuf(std::string_view body) {
  static constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, 4) != kMagic)
    return invalid_argument("missing the k8s protobuf magic", "byte 0");
  std::string api_version, kind;
  std::string_view raw;
  KAITO_TRY(for_each_field(body.substr(4), [&](const field& f) -> status {
    if (f.wire != 2) return {};
    if (f.number == 2) raw = f.bytes;
    if (f.number == 1)
      return for_each_field(f.bytes, [&](const field& t) -> status {
        if (t.wire == 2 && t.number == 1) api_version = std::string(t.bytes);
        if (t.wire == 2 && t.number == 2) kind = std::string(t.bytes);
        return {};
      });
    return {};
  }));
  if (api_version != "v1" || (kind != "Namespace" && kind != "ConfigMap" && kind != "Secret"))
    return status(status_code::unimplemented,
                  "protobuf bodies are supported for v1 Namespace, ConfigMap and Secret only");
  return decode_object(kind, raw);
}

}  // namespace kaito::k8s::apiserver
