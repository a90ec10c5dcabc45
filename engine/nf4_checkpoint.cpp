// bitsandbytes 4-bit checkpoint tensors (see nf4_checkpoint.h).
#include "engine/nf4_checkpoint.h"

#include <cstring>

#include <nlohmann/json.hpp>

namespace kaito::engine {

namespace {

constexpr const char* k_blob = ".weight.quant_state.bitsandbytes__nf4";

result<std::vector<float>> f32_tensor(const st_lookup& get, const std::string& name, int64_t want) {
  KAITO_ASSIGN_OR_RETURN(st_view v, get(name));
  if (v.info->dtype != st_dtype::f32 || v.info->numel() != want)
    return invalid_argument("expected F32 with " + std::to_string(want) + " elements", name);
  return st_to_f32(*v.info, v.bytes);
}

result<std::vector<uint8_t>> u8_tensor(const st_lookup& get, const std::string& name,
                                       int64_t want) {
  KAITO_ASSIGN_OR_RETURN(st_view v, get(name));
  if (v.info->dtype != st_dtype::u8 || v.info->numel() != want)
    return invalid_argument("expected U8 with " + std::to_string(want) + " elements", name);
  return std::vector<uint8_t>(v.bytes.begin(), v.bytes.end());
}

template <class T>
st_write_entry keep(std::deque<std::vector<uint8_t>>* storage, std::string name, st_dtype dt,
                    std::vector<int64_t> shape, const std::vector<T>& data) {
  storage->emplace_back(data.size() * sizeof(T));
  if (!data.empty()) std::memcpy(storage->back().data(), data.data(), storage->back().size());
  return {std::move(name), dt, std::move(shape), storage->back()};
}

}  // namespace

bool has_bnb_nf4(const st_lookup& get, const std::string& module) {
  return get(module + k_blob).ok();
}

result<nf4_quant_state> read_bnb_nf4(const st_lookup& get, const std::string& module, int64_t rows,
                                     int64_t in) {
  const std::string blob_name = module + k_blob;
  KAITO_ASSIGN_OR_RETURN(st_view blob, get(blob_name));
  nf4_quant_state qs;
  // The blob is untrusted: nlohmann's typed accessors throw on a wrong type, caught here.
  try {
    nlohmann::json j = nlohmann::json::parse(blob.bytes.begin(), blob.bytes.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return invalid_argument("not a JSON object", blob_name);
    if (j.value("quant_type", "") != "nf4")
      return status(status_code::unimplemented, "only quant_type nf4 is supported", blob_name);
    if (j.value("blocksize", 0) != 64)
      return status(status_code::unimplemented, "only blocksize 64 is supported", blob_name);
    const std::string dt = j.value("dtype", "");
    if (dt == "bfloat16")
      qs.orig_dtype = dtype::bf16;
    else if (dt == "float16")
      qs.orig_dtype = dtype::f16;
    else if (dt == "float32")
      qs.orig_dtype = dtype::f32;
    else
      return invalid_argument("unknown dtype '" + dt + "'", blob_name);
    if (!j.contains("shape") || j.at("shape") != nlohmann::json::array({rows, in}))
      return invalid_argument(
          "shape must be [" + std::to_string(rows) + ", " + std::to_string(in) + "]", blob_name);
    qs.nested = j.contains("nested_offset");
    if (qs.nested) {
      if (!j.at("nested_offset").is_number() ||
          j.value("nested_blocksize", 0) != nf4_nested_block_size)
        return invalid_argument("nested_offset must be a number, nested_blocksize 256", blob_name);
      qs.nested_offset = static_cast<float>(j.at("nested_offset").get<double>());
    }
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(std::string("malformed quant state: ") + e.what(), blob_name);
  }
  qs.shape = {rows, in};
  const int64_t n = rows * in, nblocks = (n + nf4_block_size - 1) / nf4_block_size;
  KAITO_ASSIGN_OR_RETURN(qs.packed, u8_tensor(get, module + ".weight", (n + 1) / 2));
  KAITO_ASSIGN_OR_RETURN(qs.quant_map, f32_tensor(get, module + ".weight.quant_map", 16));
  if (qs.nested) {
    const int64_t nnested = (nblocks + nf4_nested_block_size - 1) / nf4_nested_block_size;
    KAITO_ASSIGN_OR_RETURN(qs.qabsmax, u8_tensor(get, module + ".weight.absmax", nblocks));
    KAITO_ASSIGN_OR_RETURN(qs.nested_absmax,
                           f32_tensor(get, module + ".weight.nested_absmax", nnested));
    KAITO_ASSIGN_OR_RETURN(qs.nested_quant_map,
                           f32_tensor(get, module + ".weight.nested_quant_map", 256));
  } else {
    KAITO_ASSIGN_OR_RETURN(qs.absmax, f32_tensor(get, module + ".weight.absmax", nblocks));
  }
  status s = nf4_validate(qs);
  if (!s.ok()) return s.with_context(module);
  return qs;
}

void append_bnb_nf4(const nf4_quant_state& qs, const std::string& module,
                    std::vector<st_write_entry>* entries,
                    std::deque<std::vector<uint8_t>>* storage) {
  const std::string w = module + ".weight";
  entries->push_back(keep(storage, w, st_dtype::u8, {int64_t(qs.packed.size()), 1}, qs.packed));
  if (qs.nested) {
    entries->push_back(
        keep(storage, w + ".absmax", st_dtype::u8, {int64_t(qs.qabsmax.size())}, qs.qabsmax));
  } else {
    entries->push_back(
        keep(storage, w + ".absmax", st_dtype::f32, {int64_t(qs.absmax.size())}, qs.absmax));
  }
  entries->push_back(keep(storage, w + ".quant_map", st_dtype::f32, {16}, qs.quant_map));
  if (qs.nested) {
    entries->push_back(keep(storage, w + ".nested_absmax", st_dtype::f32,
                            {int64_t(qs.nested_absmax.size())}, qs.nested_absmax));
    entries->push_back(
        keep(storage, w + ".nested_quant_map", st_dtype::f32, {256}, qs.nested_quant_map));
  }
  const std::string blob = nf4_quant_state_json(qs);
  std::vector<uint8_t> bytes(blob.begin(), blob.end());
  entries->push_back(keep(storage, module + k_blob, st_dtype::u8, {int64_t(bytes.size())}, bytes));
}

}  // namespace kaito::engine
