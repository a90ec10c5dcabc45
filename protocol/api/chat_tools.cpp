// chat_tools; see chat_tools.h.
#include "protocol/api/chat_tools.h"

#include <map>
#include <utility>

namespace kaito::api {

namespace {

using chat_fields::dump_utf8;
using chat_fields::field;
using chat_fields::ojson;
using chat_fields::unimplemented;
using chat_fields::wrong;

constexpr size_t kMaxTools = 128;

bool good_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  return true;
}

// A function's parameters as the schema of its arguments ({} when absent: no arguments).
ojson parameters_of(const ojson& function) {
  const ojson* p = field(function, "parameters");
  if (p) return *p;
  return ojson{
      {"type", "object"}, {"properties", ojson::object()}, {"additionalProperties", false}};
}

// "required": an array of calls, each {"name": one tool's, "parameters": its schema}; $defs and
// definitions lifted to the top, where the references of each tool's schema point.
result<ojson> required_schema(const ojson& tools, bool parallel) {
  ojson branches = ojson::array();
  std::map<std::string, ojson> lifted[2];
  const char* kinds[2] = {"$defs", "definitions"};
  for (size_t i = 0; i < tools.size(); ++i) {
    const ojson& function = tools[i]["function"];
    ojson params = parameters_of(function);
    for (int k = 0; k < 2; ++k) {
      if (!params.is_object() || !params.contains(kinds[k])) continue;
      const ojson defs = params[kinds[k]];
      params.erase(kinds[k]);
      if (!defs.is_object()) continue;
      for (const auto& [name, def] : defs.items()) {
        auto [at, fresh] = lifted[k].emplace(name, def);
        if (!fresh && at->second != def)
          return invalid_argument(
              std::string("\"") + name +
                  "\" is defined differently by two "
                  "tools; a forced call of any tool needs one definition",
              "tools[" + std::to_string(i) + "].function.parameters." + kinds[k] + "." + name);
      }
    }
    ojson call = ojson::object();
    call["type"] = "object";
    call["properties"] = {{"name", {{"type", "string"}, {"enum", {function["name"]}}}},
                          {"parameters", params}};
    call["required"] = {"name", "parameters"};
    call["additionalProperties"] = false;
    branches.push_back(std::move(call));
  }
  ojson s = ojson::object();
  s["type"] = "array";
  s["minItems"] = 1;
  if (!parallel) s["maxItems"] = 1;
  s["items"] = {{"anyOf", std::move(branches)}};
  for (int k = 0; k < 2; ++k)
    if (!lifted[k].empty()) {
      ojson defs = ojson::object();
      for (auto& [name, def] : lifted[k]) defs[name] = def;
      s[kinds[k]] = std::move(defs);
    }
  return s;
}

}  // namespace

status read_tools(const ojson& j, chat_request& req) {
  chat_params& p = req.params;
  const ojson* tools = field(j, "tools");
  if (tools && !tools->is_array()) return wrong(*tools, "tools", "an array of tools");
  if (tools && tools->size() > kMaxTools)
    return invalid_argument("at most " + std::to_string(kMaxTools) + " tools", "tools");
  std::map<std::string, size_t> names;
  for (size_t i = 0; tools && i < tools->size(); ++i) {
    const std::string at = "tools[" + std::to_string(i) + "]";
    const ojson& t = (*tools)[i];
    if (!t.is_object())
      return wrong(t, at, "an object {\"type\": \"function\", \"function\": {...}}");
    const ojson* type = field(t, "type");
    if (!type || !type->is_string())
      return wrong(type ? *type : ojson(), at + ".type", "\"function\"");
    if (type->get_ref<const std::string&>() != "function")
      return unimplemented("tools of type " + chat_fields::came(*type) +
                               " are not implemented; \"function\" tools are",
                           at + ".type");
    const ojson* function = field(t, "function");
    if (!function || !function->is_object())
      return wrong(function ? *function : ojson(), at + ".function", "an object {\"name\", ...}");
    const ojson* name = field(*function, "name");
    if (!name || !name->is_string() || !good_name(name->get_ref<const std::string&>()))
      return wrong(name ? *name : ojson(), at + ".function.name",
                   "a name of 1 to 64 letters, digits, '_' or '-'");
    if (!names.emplace(name->get<std::string>(), i).second)
      return invalid_argument("a second tool named \"" + name->get<std::string>() + "\"",
                              at + ".function.name");
    std::string description;
    KAITO_TRY(chat_fields::read_string(*function, "description", at + ".function.description",
                                       description));
    bool strict = false;
    KAITO_TRY(chat_fields::read_bool(*function, "strict", at + ".function.strict", strict));
    if (const ojson* params = field(*function, "parameters")) {
      if (!params->is_object())
        return wrong(*params, at + ".function.parameters", "a JSON schema (an object)");
      p.tool_schemas.emplace_back(dump_utf8(*params), at + ".function.parameters");
    }
  }
  const bool any = tools && !tools->empty();
  if (any) req.tools = *tools;
  bool parallel = true;
  KAITO_TRY(chat_fields::read_bool(j, "parallel_tool_calls", "parallel_tool_calls", parallel));
  const ojson* choice = field(j, "tool_choice");
  if (!choice || *choice == "auto") {  // (the default with tools)
    if (any) p.tool_call = "auto";
    return {};
  }
  if (choice->is_string()) {
    const auto& c = choice->get_ref<const std::string&>();
    if (c == "none") return {};
    if (c != "required")
      return wrong(*choice, "tool_choice",
                   "\"none\", \"auto\", \"required\" or {\"type\": \"function\", ...}");
    if (!any) return invalid_argument("\"required\" needs tools", "tool_choice");
    KAITO_ASSIGN_OR_RETURN(ojson schema, required_schema(*tools, parallel));
    p.tool_call = "required";
    p.json_schema = dump_utf8(schema);
    p.json_schema_where = "tools";
    return {};
  }
  const char* named = "{\"type\": \"function\", \"function\": {\"name\": ...}}";
  if (!choice->is_object()) return wrong(*choice, "tool_choice", named);
  const ojson* type = field(*choice, "type");
  if (!type || *type != "function")
    return wrong(type ? *type : ojson(), "tool_choice.type", "\"function\"");
  const ojson* function = field(*choice, "function");
  const ojson* name = function && function->is_object() ? field(*function, "name") : nullptr;
  if (!name || !name->is_string())
    return wrong(name ? *name : ojson(), "tool_choice.function.name", "a tool's name");
  const auto it = names.find(name->get<std::string>());
  if (it == names.end())
    return invalid_argument("no tool named \"" + name->get<std::string>() + "\" in tools",
                            "tool_choice.function.name");
  p.tool_call = "named";
  p.tool_name = name->get<std::string>();
  p.json_schema = dump_utf8(parameters_of((*tools)[it->second]["function"]));
  p.json_schema_where = "tools[" + std::to_string(it->second) + "].function.parameters";
  return {};
}

result<ojson> read_message_tool_calls(const ojson& calls, const std::string& path) {
  if (!calls.is_array()) return wrong(calls, path, "an array of tool calls");
  ojson out = ojson::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    const ojson& c = calls[i];
    if (!c.is_object()) return wrong(c, at, "a tool call {\"id\", \"type\", \"function\"}");
    const ojson* id = field(c, "id");
    if (id && !id->is_string()) return wrong(*id, at + ".id", "a string");
    const ojson* type = field(c, "type");
    if (type && *type != "function") return wrong(*type, at + ".type", "\"function\"");
    const ojson* function = field(c, "function");
    if (!function || !function->is_object())
      return wrong(function ? *function : ojson(), at + ".function", "{\"name\", \"arguments\"}");
    const ojson* name = field(*function, "name");
    if (!name || !name->is_string())
      return wrong(name ? *name : ojson(), at + ".function.name", "a string");
    const ojson* args = field(*function, "arguments");
    if (args && !args->is_string())
      return wrong(*args, at + ".function.arguments", "a string (JSON)");
    ojson arguments =
        args ? ojson::parse(args->get_ref<const std::string&>(), nullptr, false) : ojson::object();
    if (arguments.is_discarded()) arguments = *args;  // (not JSON: the text as it came)
    out.push_back({{"id", id ? *id : ojson("")},
                   {"type", "function"},
                   {"function", {{"name", *name}, {"arguments", std::move(arguments)}}}});
  }
  return out;
}

bool tool_calls_of(const chat_params& p, const std::string& text, std::vector<tool_call>& out) {
  out.clear();
  if (p.tool_call == "named") {  // (cut by max_tokens, the arguments are too, as vLLM's)
    out.push_back({"", p.tool_name, text});
    return true;
  }
  const ojson v = ojson::parse(text, nullptr, false);
  if (p.tool_call != "required" || v.is_discarded() || !v.is_array() || v.empty()) return false;
  for (const ojson& c : v) {
    if (!c.is_object() || !c.contains("name") || !c["name"].is_string() ||
        !c.contains("parameters"))
      return false;
    out.push_back({"", c["name"].get<std::string>(), dump_utf8(c["parameters"])});
  }
  return true;
}

std::string openai_tool_call_chunk(const std::string& id, const std::string& model,
                                   int64_t created_unix_s, const tool_call& call,
                                   int64_t call_index, bool usage_null, int64_t choice_index) {
  ojson function = ojson::object();
  ojson entry = ojson::object();
  entry["index"] = call_index;
  if (!call.id.empty()) {
    entry["id"] = call.id;
    entry["type"] = "function";
    function["name"] = call.name;
  }
  function["arguments"] = call.arguments;
  entry["function"] = std::move(function);
  ojson choice = ojson::object();
  choice["index"] = choice_index;
  choice["delta"] = {{"tool_calls", ojson::array({std::move(entry)})}};
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = nullptr;
  return chat_fields::chat_chunk_event(id, model, created_unix_s, std::move(choice), usage_null);
}

}  // namespace kaito::api
