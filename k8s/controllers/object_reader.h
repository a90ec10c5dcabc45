// object_reader: how reconcilers read objects, so the actor layer can hand them informer caches
// instead of the API server.
//
//   client_reader r(c);                          // every read is a request
//   informer_reader ir(c); ir.add(kPods, &pods); // reads of pods hit the cache, others the client
//   env.reader = &ir;
//
// get() answers std::nullopt for an absent object (not an error). list() filters by equality
// labels (all must match) and, for pods, by spec.nodeName when `node_name` is set; the order of
// the answer is by namespace then name for both implementations.
//
// Thread-safety: both implementations may be used from any thread (the client and informers are).
// Lifetime: the client and the informers must outlive the reader.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "k8s/client/client.h"
#include "k8s/client/informer.h"

namespace kaito::k8s::controllers {

using label_map = std::map<std::string, std::string>;

struct list_query {
  label_map labels;       // equality requirements, all must hold
  std::string node_name;  // pods only: spec.nodeName must equal it (empty: no filter)
};

class object_reader {
 public:
  virtual ~object_reader() = default;
  virtual result<std::optional<json>> get(const resource_ref& r, const std::string& ns,
                                          const std::string& name) = 0;
  // ns "" = every namespace (and the only choice for cluster-scoped resources).
  virtual result<std::vector<json>> list(const resource_ref& r, const std::string& ns,
                                         const list_query& q) = 0;
};

class client_reader : public object_reader {
 public:
  explicit client_reader(client& c) : c_(c) {}
  result<std::optional<json>> get(const resource_ref& r, const std::string& ns,
                                  const std::string& name) override;
  result<std::vector<json>> list(const resource_ref& r, const std::string& ns,
                                 const list_query& q) override;

 private:
  client& c_;
};

// Reads resources that have an informer from its cache, the rest through the client.
class informer_reader : public object_reader {
 public:
  explicit informer_reader(client& c) : fallback_(c) {}
  // Not thread-safe: register every informer before the first read.
  void add(const resource_ref& r, const informer* inf);
  result<std::optional<json>> get(const resource_ref& r, const std::string& ns,
                                  const std::string& name) override;
  result<std::vector<json>> list(const resource_ref& r, const std::string& ns,
                                 const list_query& q) override;

 private:
  const informer* find(const resource_ref& r) const;
  client_reader fallback_;
  std::map<std::string, const informer*> informers_;  // "group/resource" -> cache
};

// True when obj's metadata.labels hold every pair of `labels` (and spec.nodeName = q.node_name).
bool matches(const json& obj, const list_query& q);
// "k1=v1,k2=v2" for a list request.
std::string label_selector_string(const label_map& labels);

// The reader to use: env.reader, or one over env.client.
class reader_ref {
 public:
  reader_ref(object_reader* r, client* c) : own_(*c), r_(r ? r : &own_) {}
  object_reader* operator->() const { return r_; }
  object_reader& operator*() const { return *r_; }

 private:
  client_reader own_;
  object_reader* r_;
};

}  // namespace kaito::k8s::controllers
