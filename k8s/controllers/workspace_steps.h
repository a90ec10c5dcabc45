// workspace_steps: the steps reconcile_workspace is made of (workspace_controller.h), one file
// each, declared here for the controller and its tests.
//
// Thread-safety: reentrant; each step writes only objects of the Workspace it is given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "k8s/controllers/object_reader.h"
#include "k8s/controllers/reconcile.h"
#include "k8s/controllers/workspace_desired.h"

namespace kaito::k8s::controllers {

// Step 3 (workspace_revision.cpp): returns the revision number of the Workspace's current spec;
// may patch `ws` (annotations) and replaces it with the server's answer.
// `finalizers`, when not null, is written in the same merge patch as the revision annotations
// (under the Workspace's resourceVersion): the first visit then costs one write, not two.
result<int64_t> sync_revision(const controller_env& env, object_reader& r, json& ws,
                              const json* finalizers = nullptr);

// Step 4 (provisioning.cpp).
struct node_claims {
  std::vector<std::string> claimed;  // every node held after this step, sorted
  int64_t ready = 0;                 // of those, Ready
  int64_t free_matching = 0;         // free qualifying machines left
  bool raced = false;                // a claim lost a race (conflict): requeue soon
};
// frozen: observe only (no claim, no release).
result<node_claims> provision_nodes(const controller_env& env, object_reader& r, const json& ws,
                                    const workspace_facts& f, bool frozen);
// Releases every node claimed for the Workspace.
status release_all_nodes(const controller_env& env, object_reader& r, const json& ws,
                         const workspace_facts& f);
// True when a Ready machine may serve the Workspace's instance type and is not claimed by another
// Workspace.
bool node_qualifies(const json& node, const workspace_facts& f);

}  // namespace kaito::k8s::controllers
