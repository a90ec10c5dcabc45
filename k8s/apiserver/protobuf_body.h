// Kubernetes protobuf request bodies (Content-Type application/vnd.kubernetes.protobuf), for the
// objects kubectl's typed generators POST without a JSON fallback: `kubectl create namespace`,
// `kubectl create configmap`, `kubectl create secret generic`. The envelope is the 4-byte magic
// "k8s\0" then a runtime.Unknown {typeMeta{apiVersion, kind}, raw}; `raw` is the object in the
// generated.proto layout of k8s.io/api core/v1. Only the fields those generators set are read
// (metadata name/generateName/namespace/labels/annotations; Namespace spec.finalizers; ConfigMap
// data/binaryData/immutable; Secret data/stringData/type/immutable); other fields are skipped.
// Any other kind is unimplemented (the server answers 415); malformed bytes are invalid_argument.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::k8s::apiserver {

result<nlohmann::json> decode_k8s_protobuf(std::string_view body);

}  // namespace kaito::k8s::apiserver
