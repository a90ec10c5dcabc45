// response_store: the inference server's stored Responses API responses (store: true, OpenAI's
// default), for previous_response_id and GET / DELETE /v1/responses/{id}. In memory, as vLLM's
// store: the newest responses are kept up to a count and a byte budget (their bodies and
// histories), the oldest dropped first; a restart of the server forgets them.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace kaito::actors {

class response_store {
 public:
  struct entry {
    std::string body;                // the response object, as POST answered it
    nlohmann::ordered_json history;  // the conversation so far (responses_state.h)
  };

  explicit response_store(size_t max_entries = 1024, size_t max_bytes = size_t(64) << 20);

  // Keeps e under id ("resp_..."), replacing an older one; an entry larger than the whole budget
  // is not kept.
  void put(const std::string& id, entry e);
  std::optional<entry> get(const std::string& id) const;
  // The stored item (an input or output item of any stored response's conversation) with this
  // "id", newest response first: what an item_reference names.
  std::optional<nlohmann::ordered_json> find_item(const std::string& item_id) const;
  bool erase(const std::string& id);  // false: not stored
  size_t size() const;

 private:
  struct slot {
    entry e;
    size_t bytes = 0;
    std::list<std::string>::iterator order;
  };
  void drop(std::map<std::string, slot>::iterator it);  // mu_ held

  const size_t max_entries_, max_bytes_;
  mutable std::mutex mu_;
  std::map<std::string, slot> entries_;
  std::list<std::string> order_;  // oldest first
  size_t bytes_ = 0;
};

}  // namespace kaito::actors
