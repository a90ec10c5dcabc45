// decode_workspace / encode_workspace (contract in protocol/api/workspace.h).
#include "protocol/api/json_fields.h"
#include "protocol/api/workspace.h"

namespace kaito::api {

namespace {

struct ctx {
  bool beta;
  std::vector<std::string>* warnings;
};

std::string idx(const std::string& p, size_t i) {
  return p + "[" + std::to_string(i) + "]";
}

// ---- decoders ------------------------------------------------------------------------------

result<label_selector> dec_selector(const json& j, const std::string& p, ctx& c) {
  KAITO_TRY(expect_object(j, p));
  field_reader r(j, p, c.warnings);
  label_selector s;
  KAITO_TRY(r.get_string_map("matchLabels", s.match_labels));
  if (const json* e = r.take("matchExpressions")) {
    std::string ep = r.path_of("matchExpressions");
    if (!e->is_array()) return invalid_argument("expected an array", ep);
    std::vector<label_selector_requirement> reqs;
    for (size_t i = 0; i < e->size(); ++i) {
      KAITO_TRY(expect_object((*e)[i], idx(ep, i)));
      field_reader er((*e)[i], idx(ep, i), c.warnings);
      label_selector_requirement q;
      KAITO_TRY(er.get_string("key", q.key));
      KAITO_TRY(er.get_string("operator", q.op));
      KAITO_TRY(er.get_string_list("values", q.values));
      q.extra = er.finish();
      reqs.push_back(std::move(q));
    }
    s.match_expressions = std::move(reqs);
  }
  s.extra = r.finish();
  return s;
}

result<resource_spec> dec_resource(const json& j, const std::string& p, ctx& c) {
  KAITO_TRY(expect_object(j, p));
  field_reader r(j, p, c.warnings);
  resource_spec s;
  KAITO_TRY(r.get_int("count", s.count));
  KAITO_TRY(r.get_string("instanceType", s.instance_type));
  if (const json* ls = r.take("labelSelector")) {
    KAITO_ASSIGN_OR_RETURN(s.label_selector_, dec_selector(*ls, r.path_of("labelSelector"), c));
  }
  KAITO_TRY(r.get_string_list("preferredNodes", s.preferred_nodes));
  if (c.beta) {
    if (const json* pj = r.take("partition")) {
      std::string pp = r.path_of("partition");
      KAITO_TRY(expect_object(*pj, pp));
      field_reader pr(*pj, pp, c.warnings);
      partition_spec part;
      KAITO_TRY(pr.get_string("mode", part.mode));
      KAITO_TRY(pr.get_string("profile", part.profile));
      KAITO_TRY(pr.get_int("count", part.count));
      part.extra = pr.finish();
      s.partition = std::move(part);
    }
  }
  s.extra = r.finish();
  return s;
}

result<preset_spec> dec_preset(const json& j, const std::string& p, ctx& c) {
  KAITO_TRY(expect_object(j, p));
  field_reader r(j, p, c.warnings);
  preset_spec s;
  KAITO_TRY(r.get_string("name", s.name));
  KAITO_TRY(r.get_string("accessMode", s.access_mode));
  if (const json* oj = r.take("presetOptions")) {
    std::string op = r.path_of("presetOptions");
    KAITO_TRY(expect_object(*oj, op));
    field_reader orr(*oj, op, c.warnings);
    preset_options o;
    KAITO_TRY(orr.get_string("image", o.image));
    KAITO_TRY(orr.get_string_list("imagePullSecrets", o.image_pull_secrets));
    if (c.beta) {
      KAITO_TRY(orr.get_string("modelAccessSecret", o.model_access_secret));
      KAITO_TRY(orr.get_string("modelWeightsPVC", o.model_weights_pvc));
      KAITO_TRY(orr.get_string("modelWeightsSubPath", o.model_weights_sub_path));
    }
    o.extra = orr.finish();
    s.options = std::move(o);
  }
  s.extra = r.finish();
  return s;
}

result<data_source> dec_source(const json& j, const std::string& p, ctx& c) {
  KAITO_TRY(expect_object(j, p));
  field_reader r(j, p, c.warnings);
  data_source s;
  KAITO_TRY(r.get_string("name", s.name));
  KAITO_TRY(r.get_string_list("urls", s.urls));
  r.get_raw("volumeSource", s.volume_source);
  KAITO_TRY(r.get_string("image", s.image));
  KAITO_TRY(r.get_string_list("imagePullSecrets", s.image_pull_secrets));
  s.extra = r.finish();
  return s;
}

result<data_destination> dec_destination(const json& j, const std::string& p, ctx& c) {
  KAITO_TRY(expect_object(j, p));
  field_reader r(j, p, c.warnings);
  data_destination d;
  r.get_raw("volumeSource", d.volume_source);
  KAITO_TRY(r.get_string("image", d.image));
  KAITO_TRY(r.get_string("imagePushSecret", d.image_push_secret));
  d.extra = r.finish();
  return d;
}

result<inference_spec> dec_inference(const json& j, const std::string& p, ctx& c) {
  KAITO_TRY(expect_object(j, p));
  field_reader r(j, p, c.warnings);
  inference_spec s;
  if (const json* pj = r.take("preset")) {
    KAITO_ASSIGN_OR_RETURN(s.preset, dec_preset(*pj, r.path_of("preset"), c));
  }
  r.get_raw("template", s.template_);
  KAITO_TRY(r.get_string("config", s.config));
  if (const json* aj = r.take("adapters")) {
    std::string ap = r.path_of("adapters");
    if (!aj->is_array()) return invalid_argument("expected an array", ap);
    std::vector<adapter_spec> list;
    for (size_t i = 0; i < aj->size(); ++i) {
      KAITO_TRY(expect_object((*aj)[i], idx(ap, i)));
      field_reader ar((*aj)[i], idx(ap, i), c.warnings);
      adapter_spec a;
      if (const json* sj = ar.take("source")) {
        KAITO_ASSIGN_OR_RETURN(a.source, dec_source(*sj, ar.path_of("source"), c));
      }
      KAITO_TRY(ar.get_string("strength", a.strength));
      a.extra = ar.finish();
      list.push_back(std::move(a));
    }
    s.adapters = std::move(list);
  }
  s.extra = r.finish();
  return s;
}

result<tuning_spec> dec_tuning(const json& j, const std::string& p, ctx& c) {
  KAITO_TRY(expect_object(j, p));
  field_reader r(j, p, c.warnings);
  tuning_spec s;
  if (const json* pj = r.take("preset")) {
    KAITO_ASSIGN_OR_RETURN(s.preset, dec_preset(*pj, r.path_of("preset"), c));
  }
  KAITO_TRY(r.get_string("method", s.method));
  KAITO_TRY(r.get_string("config", s.config));
  if (const json* ij = r.take("input")) {
    KAITO_ASSIGN_OR_RETURN(s.input, dec_source(*ij, r.path_of("input"), c));
  }
  if (const json* oj = r.take("output")) {
    KAITO_ASSIGN_OR_RETURN(s.output, dec_destination(*oj, r.path_of("output"), c));
  }
  s.extra = r.finish();
  return s;
}

result<workspace_status> dec_status(const json& j, const std::string& p, ctx& c) {
  KAITO_TRY(expect_object(j, p));
  field_reader r(j, p, c.warnings);
  workspace_status s;
  KAITO_TRY(r.get_string_list("workerNodes", s.worker_nodes));
  if (const json* cj = r.take("conditions")) {
    std::string cp = r.path_of("conditions");
    if (!cj->is_array()) return invalid_argument("expected an array", cp);
    std::vector<condition> conds;
    for (size_t i = 0; i < cj->size(); ++i) {
      KAITO_ASSIGN_OR_RETURN(condition cond, decode_condition((*cj)[i], idx(cp, i), c.warnings));
      conds.push_back(std::move(cond));
    }
    s.conditions = std::move(conds);
  }
  if (c.beta) {
    KAITO_TRY(r.get_string("state", s.state));
    KAITO_TRY(r.get_int("targetNodeCount", s.target_node_count));
    r.get_raw("performance", s.performance);
  }
  s.extra = r.finish();
  return s;
}

// ---- encoders ------------------------------------------------------------------------------

}  // namespace

json encode_preset_spec(const preset_spec& s) {
  json j = json::object();
  put(j, "name", s.name);
  put(j, "accessMode", s.access_mode);
  if (s.options) {
    json o = json::object();
    put(o, "image", s.options->image);
    put(o, "imagePullSecrets", s.options->image_pull_secrets);
    put(o, "modelAccessSecret", s.options->model_access_secret);
    put(o, "modelWeightsPVC", s.options->model_weights_pvc);
    put(o, "modelWeightsSubPath", s.options->model_weights_sub_path);
    put_extra(o, s.options->extra);
    j["presetOptions"] = std::move(o);
  }
  put_extra(j, s.extra);
  return j;
}

namespace {

json enc_preset(const preset_spec& s) {
  return encode_preset_spec(s);
}

json enc_source(const data_source& s) {
  json j = json::object();
  put(j, "name", s.name);
  put(j, "urls", s.urls);
  put(j, "volumeSource", s.volume_source);
  put(j, "image", s.image);
  put(j, "imagePullSecrets", s.image_pull_secrets);
  put_extra(j, s.extra);
  return j;
}

json enc_resource(const resource_spec& s) {
  json j = json::object();
  put(j, "count", s.count);
  put(j, "instanceType", s.instance_type);
  if (s.label_selector_) {
    json ls = json::object();
    put(ls, "matchLabels", s.label_selector_->match_labels);
    if (s.label_selector_->match_expressions) {
      json arr = json::array();
      for (const auto& q : *s.label_selector_->match_expressions) {
        json qj = json::object();
        put(qj, "key", q.key);
        put(qj, "operator", q.op);
        put(qj, "values", q.values);
        put_extra(qj, q.extra);
        arr.push_back(std::move(qj));
      }
      ls["matchExpressions"] = std::move(arr);
    }
    put_extra(ls, s.label_selector_->extra);
    j["labelSelector"] = std::move(ls);
  }
  put(j, "preferredNodes", s.preferred_nodes);
  if (s.partition) {
    json pj = json::object();
    put(pj, "mode", s.partition->mode);
    put(pj, "profile", s.partition->profile);
    put(pj, "count", s.partition->count);
    put_extra(pj, s.partition->extra);
    j["partition"] = std::move(pj);
  }
  put_extra(j, s.extra);
  return j;
}

json enc_inference(const inference_spec& s) {
  json j = json::object();
  if (s.preset) j["preset"] = enc_preset(*s.preset);
  put(j, "template", s.template_);
  put(j, "config", s.config);
  if (s.adapters) {
    json arr = json::array();
    for (const auto& a : *s.adapters) {
      json aj = json::object();
      if (a.source) aj["source"] = enc_source(*a.source);
      put(aj, "strength", a.strength);
      put_extra(aj, a.extra);
      arr.push_back(std::move(aj));
    }
    j["adapters"] = std::move(arr);
  }
  put_extra(j, s.extra);
  return j;
}

json enc_tuning(const tuning_spec& s) {
  json j = json::object();
  if (s.preset) j["preset"] = enc_preset(*s.preset);
  put(j, "method", s.method);
  put(j, "config", s.config);
  if (s.input) j["input"] = enc_source(*s.input);
  if (s.output) {
    json o = json::object();
    put(o, "volumeSource", s.output->volume_source);
    put(o, "image", s.output->image);
    put(o, "imagePushSecret", s.output->image_push_secret);
    put_extra(o, s.output->extra);
    j["output"] = std::move(o);
  }
  put_extra(j, s.extra);
  return j;
}

json enc_status(const workspace_status& s) {
  json j = json::object();
  put(j, "workerNodes", s.worker_nodes);
  if (s.conditions) {
    json arr = json::array();
    for (const auto& c : *s.conditions) arr.push_back(encode_condition(c));
    j["conditions"] = std::move(arr);
  }
  put(j, "state", s.state);
  put(j, "targetNodeCount", s.target_node_count);
  put(j, "performance", s.performance);
  put_extra(j, s.extra);
  return j;
}

}  // namespace

std::string workspace::annotation(const std::string& key) const {
  if (!metadata.annotations) return "";
  auto it = metadata.annotations->find(key);
  return it == metadata.annotations->end() ? "" : it->second;
}

bool workspace::has_annotation(const std::string& key) const {
  return metadata.annotations && metadata.annotations->count(key) > 0;
}

result<decoded_workspace> decode_workspace(const json& j) {
  KAITO_TRY(expect_object(j, ""));
  decoded_workspace out;
  field_reader r(j, "", &out.warnings);
  std::optional<std::string> av, kind;
  KAITO_TRY(r.get_string("apiVersion", av));
  KAITO_TRY(r.get_string("kind", kind));
  if (!av) return invalid_argument("Object 'apiVersion' is missing", "apiVersion");
  if (!kind) return invalid_argument("Object 'Kind' is missing", "kind");
  if (*kind != kKind)
    return invalid_argument("no kind \"" + *kind + "\" is registered for version \"" + *av + "\"",
                            "kind");
  if (*av != kV1alpha1 && *av != kV1beta1)
    return invalid_argument("no kind \"Workspace\" is registered for version \"" + *av + "\"",
                            "apiVersion");
  workspace& ws = out.ws;
  ws.api_version = *av;
  ws.kind = *kind;
  ctx c{*av == kV1beta1, &out.warnings};
  ws.metadata_present = false;
  if (const json* m = r.take("metadata")) {
    KAITO_ASSIGN_OR_RETURN(ws.metadata, decode_object_meta(*m, "metadata", &out.warnings));
    ws.metadata_present = true;
  }
  if (const json* rj = r.take("resource")) {
    KAITO_ASSIGN_OR_RETURN(ws.resource, dec_resource(*rj, "resource", c));
  }
  if (const json* ij = r.take("inference")) {
    KAITO_ASSIGN_OR_RETURN(ws.inference, dec_inference(*ij, "inference", c));
  }
  if (const json* tj = r.take("tuning")) {
    KAITO_ASSIGN_OR_RETURN(ws.tuning, dec_tuning(*tj, "tuning", c));
  }
  if (const json* sj = r.take("status")) {
    KAITO_ASSIGN_OR_RETURN(ws.status, dec_status(*sj, "status", c));
  }
  ws.extra = r.finish();
  return out;
}

json encode_workspace(const workspace& ws) {
  json j = json::object();
  j["apiVersion"] = ws.api_version;
  j["kind"] = ws.kind;
  json meta = encode_object_meta(ws.metadata);
  if (ws.metadata_present || !meta.empty()) j["metadata"] = std::move(meta);
  if (ws.resource) j["resource"] = enc_resource(*ws.resource);
  if (ws.inference) j["inference"] = enc_inference(*ws.inference);
  if (ws.tuning) j["tuning"] = enc_tuning(*ws.tuning);
  if (ws.status) j["status"] = enc_status(*ws.status);
  put_extra(j, ws.extra);
  return j;
}

}  // namespace kaito::api
