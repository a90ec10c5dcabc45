#!/usr/bin/env bash
# End to end: `kaito serve` on the tiny chat model with an adapter `kaito tune` wrote, driven by
# real clients: the `openai` Python package (chat completion, the same answer streamed, models,
# a wrong model and a bad field as APIError with the field named) and curl (Kaito's legacy /chat,
# /health, 404, 405, a malformed body). SIGTERM stops it cleanly (exit 0).
# Usage: serve_test.sh path/to/kaito SHARED_DIR   (exit 77 without python3's openai package)
set -euo pipefail
KAITO=${1:?usage: serve_test.sh path/to/kaito SHARED_DIR}
SHARED=${2:?shared dir}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
python3 -c "import openai" 2> /dev/null || { echo "SKIP: no openai package"; exit 77; }
WORK=$(mktemp -d)
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill -9 "$PID" 2> /dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  tail -20 "$WORK/serve.log" >&2 || true
  exit 1
}
has() { [[ "$1" == *"$2"* ]] || fail "expected [$2] in: $1"; echo "ok: $2"; }

M=$WORK/tiny-chat
mkdir -p "$M"
cp "$SHARED/fixtures/tiny-phi3/base/config.json" "$SHARED/fixtures/tiny-phi3/base/model.safetensors" "$M/"
cp "$SRC/tests/data/tiny-chat/tokenizer.json" "$SRC/tests/data/tiny-chat/tokenizer_config.json" "$M/"
"$KAITO" tune --model "$M" --data "$SRC/tests/data/tiny-chat/chat.jsonl" --out "$WORK/adapter" \
  --max-steps 8 --lr 5e-3 > "$WORK/tune.log" 2>&1 || fail "kaito tune: $(cat "$WORK/tune.log")"

# `kaito serve` on any free port with these flags: PID and URL once it listens.
start_serve() {
  "$KAITO" serve --model "$M" --port 0 --served-model-name tiny-chat "$@" \
    > "$WORK/serve.out" 2> "$WORK/serve.log" &
  PID=$!
  for _ in $(seq 1 200); do
    grep -q "on http://" "$WORK/serve.out" 2> /dev/null && break
    kill -0 "$PID" 2> /dev/null || fail "kaito serve $* exited"
    sleep 0.05
  done
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/serve.out" | head -1)
  [[ -n "$URL" ]] || fail "no address in: $(cat "$WORK/serve.out")"
  echo "ok: serving at $URL"
}
start_serve --adapter "$WORK/adapter"

out=$(URL=$URL WORK=$WORK python3 - << 'PY'
import os, openai
c = openai.OpenAI(base_url=os.environ["URL"] + "/v1", api_key="unused")
msgs = [{"role": "user", "content": "Color of the sky?"}]
r = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0)
a = r.choices[0]
assert r.object == "chat.completion" and a.message.role == "assistant", r
import re
assert re.fullmatch(r"chatcmpl-[0-9a-f]{16}", r.id), r.id  # OpenAI's form, one prefix
assert a.finish_reason in ("stop", "length"), a.finish_reason
assert r.usage.completion_tokens >= 1 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, r.usage
text = a.message.content
s = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0, stream=True)
pieces, reasons = [], []
for ch in s:
    d = ch.choices[0]
    if d.delta.content: pieces.append(d.delta.content)
    if d.finish_reason: reasons.append(d.finish_reason)
assert "".join(pieces) == text, (pieces, text)
assert re.fullmatch(r"chatcmpl-[0-9a-f]{16}", ch.id), ch.id
assert reasons == [a.finish_reason], reasons
u = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0,
                              stream=True, stream_options={"include_usage": True})
chunks = list(u)
counts = lambda x: (x.prompt_tokens, x.completion_tokens, x.total_tokens)
assert chunks[-1].choices == [] and counts(chunks[-1].usage) == counts(r.usage), (chunks[-1], r.usage)
# The same conversation again: the ended answer's KV cache served all but its last prompt token
# (the CPU engine's idle cache), reported as OpenAI's cached_tokens.
assert chunks[-1].usage.prompt_tokens_details.cached_tokens == r.usage.prompt_tokens - 1, chunks[-1].usage
assert all(ch.usage is None for ch in chunks[:-1])
print("include_usage:", chunks[-1].usage.total_tokens, "tokens")
# Legacy completions (vLLM's /v1/completions): plain continuation, streamed the same, echo.
cp = c.completions.create(model="tiny-chat", prompt="The sky is", max_tokens=6, temperature=0)
assert cp.object == "text_completion" and re.fullmatch(r"cmpl-[0-9a-f]{16}", cp.id), cp
assert cp.usage.completion_tokens >= 1 and cp.choices[0].finish_reason in ("stop", "length"), cp
cs = list(c.completions.create(model="tiny-chat", prompt="The sky is", max_tokens=6, temperature=0,
                               stream=True, stream_options={"include_usage": True}))
assert "".join(ch.choices[0].text for ch in cs if ch.choices) == cp.choices[0].text, cs
assert counts(cs[-1].usage) == counts(cp.usage), (cs[-1], cp.usage)
ce = c.completions.create(model="tiny-chat", prompt="The sky is", max_tokens=6, temperature=0, echo=True)
assert ce.choices[0].text == "The sky is" + cp.choices[0].text, ce
print("completions:", repr(cp.choices[0].text))
print("greedy equals streamed:", repr(text))
open(os.environ["WORK"] + "/merged.txt", "w").write(text)  # (the LoRA modules' check below)
again = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0.8, seed=7)
again2 = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0.8, seed=7)
assert again.choices[0].message.content == again2.choices[0].message.content
print("seeded sampling repeats")
# n answers at once: choice i samples with seed + i, so each is the lone answer for that seed;
# streamed, each choice's pieces and finish reason carry its index; completions the same.
three = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0.8,
                                  seed=7, n=3)
assert [ch.index for ch in three.choices] == [0, 1, 2], three
lone = [again] + [c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12,
                                            temperature=0.8, seed=7 + i) for i in (1, 2)]
assert [ch.message.content for ch in three.choices] == [l.choices[0].message.content for l in lone], three
assert len({ch.message.content for ch in three.choices}) > 1, three  # the seeds differ
assert three.usage.prompt_tokens == again.usage.prompt_tokens, three.usage
assert three.usage.completion_tokens == sum(l.usage.completion_tokens for l in lone), three.usage
parts, ends = {}, {}
for ch in c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0.8,
                                    seed=7, n=3, stream=True):
    for d in ch.choices:
        parts[d.index] = parts.get(d.index, "") + (d.delta.content or "")
        if d.finish_reason: ends[d.index] = d.finish_reason
assert parts == {i: ch.message.content for i, ch in enumerate(three.choices)}, parts
assert ends == {i: ch.finish_reason for i, ch in enumerate(three.choices)}, ends
c2 = c.completions.create(model="tiny-chat", prompt="The sky is", max_tokens=6, temperature=0.8, seed=3, n=2)
c2s = {}
for ch in c.completions.create(model="tiny-chat", prompt="The sky is", max_tokens=6, temperature=0.8,
                               seed=3, n=2, stream=True, echo=True):
    for d in ch.choices: c2s[d.index] = c2s.get(d.index, "") + d.text
assert c2s == {i: "The sky is" + ch.text for i, ch in enumerate(c2.choices)}, (c2s, c2)
print("n=3 choices:", [ch.message.content for ch in three.choices])
# response_format json_object: each answer is a prefix of one JSON object, a whole one when it
# ended on its own ("stop"); streamed the same.
import json
whole = 0
for seed in range(4):
    j = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=40, temperature=1.0,
                                  seed=seed, response_format={"type": "json_object"})
    body, why = j.choices[0].message.content, j.choices[0].finish_reason
    assert body.lstrip().startswith("{"), body
    if why == "stop":
        assert isinstance(json.loads(body), dict), body
        whole += 1
    js = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
        model="tiny-chat", messages=msgs, max_tokens=40, temperature=1.0, seed=seed, stream=True,
        response_format={"type": "json_object"}) if ch.choices)
    assert js == body, (js, body)
assert whole >= 1, whole
print("json_object:", whole, "of 4 whole")
# response_format json_schema (structured outputs): every answer that ends on its own is valid
# by the `jsonschema` package; this schema admits only short texts, so every one ends; streamed
# the same; vLLM's guided_json too; what the engine cannot enforce is a 501 naming its keyword,
# a schema that admits nothing a 400.
import jsonschema
schema = {"type": "object", "properties": {"c": {"enum": ["red", "blue"]}, "ok": {"type": "boolean"},
          "n": {"type": "integer", "minimum": -3, "maximum": 12}}, "required": ["c", "ok", "n"],
          "additionalProperties": False}
rf = {"type": "json_schema", "json_schema": {"name": "color", "schema": schema, "strict": True}}
for seed in range(4):
    j = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=200, temperature=1.0,
                                  seed=seed, response_format=rf)
    body = j.choices[0].message.content
    assert j.choices[0].finish_reason == "stop", (body, j.choices[0].finish_reason)
    jsonschema.validate(json.loads(body), schema)
    js = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
        model="tiny-chat", messages=msgs, max_tokens=200, temperature=1.0, seed=seed, stream=True,
        response_format=rf) if ch.choices)
    assert js == body, (js, body)
g = c.completions.create(model="tiny-chat", prompt="The sky is", max_tokens=60, temperature=0,
                         extra_body={"guided_json": {"type": "array", "items": {"type": "integer"},
                                                     "minItems": 1, "maxItems": 2}})
if g.choices[0].finish_reason == "stop":
    v = json.loads(g.choices[0].text)
    assert isinstance(v, list) and 1 <= len(v) <= 2 and all(isinstance(x, int) for x in v), v
try:
    c.chat.completions.create(model="tiny-chat", messages=msgs, stream=True, response_format={
        "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer", "multipleOf": 3}}})
    raise SystemExit("an unenforced multipleOf was accepted")
except openai.APIStatusError as e:
    assert e.status_code == 501 and e.body.get("param") == "response_format.json_schema.schema.multipleOf", e.body
# a pattern holds the string (pydantic's Field(pattern=...)); the object is bounded (fixed and
# maxLength strings, at most 16 whitespace bytes in a row), so 400 tokens always see it end
dated = {"type": "object", "properties": {"day": {"type": "string", "pattern": "^\\d{4}-(0[1-9]|1[0-2])-[0-3]\\d$"},
         "code": {"type": "string", "pattern": "^[A-Z]{2}-\\d+$", "maxLength": 6}},
         "required": ["day", "code"], "additionalProperties": False}
for seed in (1, 2):
    pr = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=400, temperature=1.0, seed=seed,
        response_format={"type": "json_schema", "json_schema": {"name": "d", "schema": dated}})
    assert pr.choices[0].finish_reason == "stop", pr
    jsonschema.validate(json.loads(pr.choices[0].message.content), dated)
try:
    c.chat.completions.create(model="tiny-chat", messages=msgs, response_format={
        "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer", "minimum": 3, "maximum": 2}}})
    raise SystemExit("an empty schema was accepted")
except openai.BadRequestError as e:
    assert e.body.get("param") == "response_format.json_schema.schema", e.body
# vLLM's structured_outputs with disable_any_whitespace: the answer is compact JSON
cj = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=200, temperature=1.0,
                               seed=1, extra_body={"structured_outputs": {
                                   "json": schema, "disable_any_whitespace": True}})
cbody = cj.choices[0].message.content
assert cj.choices[0].finish_reason == "stop", cj
assert json.dumps(json.loads(cbody), separators=(",", ":"), ensure_ascii=False) == cbody, cbody
jsonschema.validate(json.loads(cbody), schema)
rsj = c.responses.create(model="tiny-chat", input="Color?", max_output_tokens=200, temperature=0,
                         text={"format": {"type": "json_schema", "name": "color", "schema": schema}})
assert rsj.status == "completed", rsj
jsonschema.validate(json.loads(rsj.output_text), schema)
print("json_schema: 4 of 4 valid,", body)
# Tools with a forced call (vLLM's way without a model-specific parser): a named function's
# arguments and "required" calls hold to the tools' schemas; streamed as tool_calls deltas that
# add up to the same calls; "auto" is a 501 (this model's template shows no tool call format; the
# second server below reads one); a conversation that called a tool goes on.
tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
             "type": "object", "properties": {"unit": {"enum": ["c", "f"]}, "days": {
                 "type": "integer", "minimum": 1, "maximum": 7}},
             "required": ["unit", "days"], "additionalProperties": False}}},
         {"type": "function", "function": {"name": "now"}}]
schemas = {t["function"]["name"]: t["function"].get("parameters", {"type": "object", "maxProperties": 0}) for t in tools}
def stream_calls(**kw):
    calls = {}
    for ch in c.chat.completions.create(stream=True, **kw):
        for d in ch.choices:
            for tc in d.delta.tool_calls or []:
                got = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
                if tc.id: got["id"], got["name"] = tc.id, tc.function.name
                got["arguments"] += tc.function.arguments or ""
    return [calls[k] for k in sorted(calls)]
for choice in ({"type": "function", "function": {"name": "get_weather"}}, "required"):
    kw = dict(model="tiny-chat", messages=msgs, max_tokens=200, temperature=1.0, seed=5, tools=tools,
              tool_choice=choice, parallel_tool_calls=False)  # (one call: the answer is bounded)
    t = c.chat.completions.create(**kw)
    m = t.choices[0].message
    assert t.choices[0].finish_reason == "stop" and m.content is None and m.tool_calls, t
    for call in m.tool_calls:
        assert call.id.startswith("chatcmpl-tool-") and call.type == "function", call
        jsonschema.validate(json.loads(call.function.arguments), schemas[call.function.name])
    if isinstance(choice, dict): assert [x.function.name for x in m.tool_calls] == ["get_weather"]
    streamed = stream_calls(**kw)
    assert [(x["name"], json.loads(x["arguments"])) for x in streamed] == [
        (x.function.name, json.loads(x.function.arguments)) for x in m.tool_calls], (streamed, m)
try:
    c.chat.completions.create(model="tiny-chat", messages=msgs, tools=tools)
    raise SystemExit("tool_choice auto was accepted")
except openai.APIStatusError as e:
    assert e.status_code == 501 and e.body.get("param") == "tool_choice", e.body
call = m.tool_calls[0]
after = c.chat.completions.create(model="tiny-chat", max_tokens=8, temperature=0, tools=tools,
                                  tool_choice="none", messages=msgs + [
    {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
    {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
assert after.choices[0].message.content is not None, after
print("tools:", [(x.function.name, x.function.arguments) for x in m.tool_calls])
# vLLM's extensions through the client's extra_body: ignore_eos runs to max_tokens; a bad
# stop_token_ids entry is a 400 naming it.
ie = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0,
                               extra_body={"ignore_eos": True, "min_tokens": 3, "min_p": 0.05})
assert ie.usage.completion_tokens == 12 and ie.choices[0].finish_reason == "length", ie
try:
    c.chat.completions.create(model="tiny-chat", messages=msgs, extra_body={"stop_token_ids": [-1]})
    raise SystemExit("a negative stop token id was accepted")
except openai.BadRequestError as e:
    assert e.body.get("param") == "stop_token_ids[0]", e.body
try:
    c.chat.completions.create(model="tiny-chat", messages=msgs, extra_body={"use_beam_search": True})
    raise SystemExit("beam search was accepted")
except openai.APIStatusError as e:
    assert e.status_code == 501 and e.body.get("param") == "use_beam_search", e.body
print("ignore_eos: 12 tokens")
# /v1/responses (Kaito's transformers runtime v0.9+ and vLLM serve it): the chat's answer as a
# response object, and the same text over the Responses API's stream events.
rs = c.responses.create(model="tiny-chat", input="Color of the sky?", max_output_tokens=12,
                        temperature=0)
assert rs.object == "response" and rs.id.startswith("resp_"), rs
assert rs.output_text == text, (rs.output_text, text)
assert rs.usage.input_tokens == r.usage.prompt_tokens and rs.usage.output_tokens == r.usage.completion_tokens, rs.usage
assert rs.status == ("incomplete" if a.finish_reason == "length" else "completed"), rs.status
kinds, deltas, final = [], [], None
for ev in c.responses.create(model="tiny-chat", input=[{"role": "user", "content": [
        {"type": "input_text", "text": "Color of the sky?"}]}], max_output_tokens=12, temperature=0,
        stream=True):
    kinds.append(ev.type)
    if ev.type == "response.output_text.delta": deltas.append(ev.delta)
    if ev.type in ("response.completed", "response.incomplete"): final = ev.response
assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added"], kinds
assert "".join(deltas) == text and final is not None and final.output_text == text, (deltas, final)
# previous_response_id continues the stored conversation: the same answer as sending it whole.
rs2 = c.responses.create(model="tiny-chat", input="And at night?", previous_response_id=rs.id,
                         max_output_tokens=12, temperature=0)
whole = c.responses.create(model="tiny-chat", max_output_tokens=12, temperature=0, store=False,
                           input=[{"role": "user", "content": "Color of the sky?"},
                                  {"role": "assistant", "content": rs.output_text},
                                  {"role": "user", "content": "And at night?"}])
assert rs2.output_text == whole.output_text, (rs2.output_text, whole.output_text)
assert rs2.usage.input_tokens == whole.usage.input_tokens > rs.usage.input_tokens, (rs2.usage, whole.usage)
assert c.responses.retrieve(rs.id).output_text == rs.output_text
# Its input items: the first turn's input and output, then this turn's (newest first), a page at
# a time when asked (the client follows has_more / after).
items = c.responses.input_items.list(rs2.id)
assert [i.role for i in items.data] == ["user", "assistant", "user"], items
assert items.data[0].content[0].text == "And at night?", items
assert items.data[2].content[0].text == "Color of the sky?", items
paged = [i.id for i in c.responses.input_items.list(rs2.id, limit=1, order="asc")]
assert paged == [i.id for i in reversed(items.data)], (paged, items)
# An item_reference stands for a stored item: the first turn's answer by its id, as if sent whole.
byref = c.responses.create(model="tiny-chat", max_output_tokens=12, temperature=0, store=False,
                           input=[{"role": "user", "content": "Color of the sky?"},
                                  {"type": "item_reference", "id": rs.output[0].id},
                                  {"role": "user", "content": "And at night?"}])
assert byref.output_text == whole.output_text, (byref.output_text, whole.output_text)
try:
    c.responses.create(model="tiny-chat", input=[{"type": "item_reference", "id": "msg_none"}])
    raise SystemExit("an unknown item_reference was accepted")
except openai.BadRequestError as e:
    assert e.body.get("param") == "input[0].id", e.body
c.responses.delete(rs2.id)
for gone in (rs2.id, whole.id):  # deleted; never stored
    try:
        c.responses.retrieve(gone)
        raise SystemExit(gone + " is still stored")
    except openai.NotFoundError:
        pass
try:
    c.responses.create(model="tiny-chat", input="hi", previous_response_id="resp_x")
    raise SystemExit("an unknown previous_response_id was accepted")
except openai.BadRequestError as e:
    assert e.body.get("param") == "previous_response_id", e.body
print("responses:", kinds[-1], "previous_response_id:", len(rs2.output_text), "chars")
pen = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0.8,
                                seed=7, presence_penalty=1.5, frequency_penalty=0.5)
assert pen.choices[0].finish_reason in ("stop", "length"), pen
c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=4, logit_bias={"5": -100})
try:
    c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=4, logit_bias={"999999": 1})
    raise SystemExit("an out-of-vocabulary logit_bias was accepted")
except openai.BadRequestError as e:
    assert e.body.get("param") == "logit_bias.999999", e.body
print("penalties and logit_bias")
# logprobs: one entry per answer token, whose texts make up the answer (the seeded one: the greedy
# answer here is empty), none above the most likely; streamed, the same entries over the chunks.
want = again.choices[0].message.content
lp = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0.8,
                               seed=7, logprobs=True, top_logprobs=2)
content = lp.choices[0].logprobs.content
assert lp.choices[0].message.content == want and content, lp
assert "".join(t.token for t in content) == want, content
assert all(len(t.top_logprobs) == 2 and t.logprob <= t.top_logprobs[0].logprob + 1e-6 <= 1e-6
           and bytes(t.bytes) == t.token.encode() for t in content), content
ls = list(c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0.8,
                                    seed=7, logprobs=True, stream=True))
streamed = [t for ch in ls if ch.choices and ch.choices[0].logprobs for t in ch.choices[0].logprobs.content]
assert [(t.token, round(t.logprob, 4)) for t in streamed] == [(t.token, round(t.logprob, 4)) for t in content], streamed
# legacy completions: tokens that make up the text, their offsets, the chosen one among the top
clp = c.completions.create(model="tiny-chat", prompt="The sky is", max_tokens=6, temperature=0,
                           logprobs=2)
l = clp.choices[0].logprobs
assert clp.choices[0].text == cp.choices[0].text and "".join(l.tokens) == cp.choices[0].text, clp
assert len(l.token_logprobs) == len(l.tokens) == len(l.top_logprobs) == len(l.text_offset), l
assert all(t in top and len(top) <= 3 for t, top in zip(l.tokens, l.top_logprobs)), l
assert l.text_offset == [len("".join(l.tokens[:i])) for i in range(len(l.tokens))], l
cls = list(c.completions.create(model="tiny-chat", prompt="The sky is", max_tokens=6, temperature=0,
                                logprobs=2, stream=True))
assert [t for ch in cls if ch.choices[0].logprobs for t in ch.choices[0].logprobs.tokens] == l.tokens, cls
assert [o for ch in cls if ch.choices[0].logprobs for o in ch.choices[0].logprobs.text_offset] == l.text_offset, cls
print("logprobs:", len(content), "tokens;", len(l.tokens), "in completions")
# echo with logprobs (lm-evaluation-harness's loglikelihood requests): the prompt's tokens lead,
# the first with null entries; max_tokens 0 gives the prompt alone; streamed, the same entries.
ev = c.completions.create(model="tiny-chat", prompt="The sky is", max_tokens=0, echo=True,
                          logprobs=1, temperature=0)
el = ev.choices[0].logprobs
assert ev.choices[0].text == "The sky is" and ev.usage.completion_tokens == 0, ev
assert len(el.tokens) == ev.usage.prompt_tokens and el.token_logprobs[0] is None and el.top_logprobs[0] is None, el
assert all(x <= 0 for x in el.token_logprobs[1:]) and all(len(t) <= 2 for t in el.top_logprobs[1:]), el
P = len(el.tokens)
e2 = c.completions.create(model="tiny-chat", prompt="The sky is", max_tokens=6, echo=True,
                          logprobs=2, temperature=0)
l2 = e2.choices[0].logprobs
assert e2.choices[0].text == "The sky is" + cp.choices[0].text, e2
assert l2.tokens[:P] == el.tokens and l2.tokens[P:] == l.tokens, l2
near = lambda a, b: len(a) == len(b) and all(abs(x - y) < 1e-4 for x, y in zip(a, b))
assert near(l2.token_logprobs[1:P], el.token_logprobs[1:]), l2
# (the prompt's rows come from one head GEMM over all of them: equal up to summation order)
assert near(l2.token_logprobs[P:], l.token_logprobs), l2
assert l2.text_offset[0] == 0, l2
es = list(c.completions.create(model="tiny-chat", prompt="The sky is", max_tokens=6, echo=True,
                               logprobs=2, temperature=0, stream=True))
assert "".join(ch.choices[0].text for ch in es) == e2.choices[0].text, es
assert [t for ch in es if ch.choices[0].logprobs for t in ch.choices[0].logprobs.tokens] == l2.tokens, es
assert [x for ch in es if ch.choices[0].logprobs for x in ch.choices[0].logprobs.token_logprobs] == l2.token_logprobs, es
print("echo logprobs:", P, "prompt tokens")
# Concurrent clients are decoded together (continuous batching): each answer is the one it gets
# alone, greedy and seeded, streamed or not.
import concurrent.futures
def ask(i):
    if i % 3 == 0:
        return c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0).choices[0].message.content
    if i % 3 == 1:
        return c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0.8, seed=7).choices[0].message.content
    return "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
        model="tiny-chat", messages=msgs, max_tokens=12, temperature=0, stream=True) if ch.choices)
with concurrent.futures.ThreadPoolExecutor(12) as pool:
    answers = list(pool.map(ask, range(12)))
for i, a in enumerate(answers):
    assert a == (again.choices[0].message.content if i % 3 == 1 else text), (i, a)
print("12 concurrent answers equal the lone ones")
# /metrics: vLLM's names, counting what was just answered.
import urllib.request
text = urllib.request.urlopen(os.environ["URL"] + "/metrics").read().decode()
vals = {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l and not l.startswith("#")}
label = 'model_name="tiny-chat"'
done = sum(vals['vllm:request_success_total{finished_reason="%s",%s}' % (r, label)] for r in ("stop", "length", "abort"))
assert done >= 15, text
assert vals["vllm:generation_tokens_total{%s}" % label] > 0, text
assert vals['vllm:e2e_request_latency_seconds_bucket{le="+Inf",%s}' % label] == done, text
print("metrics: %d answers" % done)
print("models:", [m.id for m in c.models.list()])
try:
    c.chat.completions.create(model="other", messages=msgs)
    raise SystemExit("a wrong model was served")
except openai.NotFoundError as e:
    print("wrong model:", e.status_code)
try:
    c.chat.completions.create(model="tiny-chat", messages=msgs, temperature=7)
    raise SystemExit("temperature 7 was accepted")
except openai.BadRequestError as e:
    print("bad field:", e.status_code, e.body.get("param"))
PY
) || fail "openai client: $out"
has "$out" "greedy equals streamed:"
has "$out" "include_usage:"
has "$out" "completions:"
has "$out" "seeded sampling repeats"
has "$out" "n=3 choices:"
has "$out" "json_object:"
has "$out" "json_schema: 4 of 4 valid"
has "$out" "tools: [("
has "$out" "ignore_eos: 12 tokens"
has "$out" "responses: response."
has "$out" "previous_response_id: "
has "$out" "logprobs:"
has "$out" "echo logprobs:"
has "$out" "penalties and logit_bias"
has "$out" "12 concurrent answers equal the lone ones"
has "$out" "metrics: "
has "$out" "models: ['tiny-chat']"
has "$out" "wrong model: 404"
has "$out" "bad field: 400 temperature"

has "$(curl -s "$URL/health")" '"status":"Healthy"'
# vLLM's /tokenize, /detokenize and /version.
toks=$(curl -s -X POST "$URL/tokenize" -d '{"model":"tiny-chat","prompt":"The sky is","add_special_tokens":false}')
has "$toks" '"max_model_len":'
ids=$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])["tokens"]))' "$toks")
has "$(curl -s -X POST "$URL/detokenize" -d "{\"tokens\":$ids}")" '{"prompt":"The sky is"}'
has "$(curl -s -X POST "$URL/tokenize" -d '{"messages":[{"role":"user","content":"Hi"}]}')" '"count":'
has "$(curl -s -X POST "$URL/detokenize" -d '{"tokens":[1,-1]}')" '"param":"tokens[1]"'
has "$(curl -s "$URL/version")" '"version":"'
legacy=$(curl -s -X POST "$URL/chat" -H 'Content-Type: application/json' \
  -d '{"prompt":"The sky is","generate_kwargs":{"max_length":20,"do_sample":false}}')
has "$legacy" '"Result":"The sky is'
# max_new_tokens (transformers' precedence over max_length): 4 new tokens whatever the prompt
legacy_new=$(curl -s -X POST "$URL/chat" \
  -d '{"prompt":"The sky is","generate_kwargs":{"max_length":3,"max_new_tokens":4,"do_sample":false}}')
has "$legacy_new" '"Result":"The sky is'
[[ "$legacy_new" != '{"Result":"The sky is"}' ]] || fail "max_new_tokens gave nothing: $legacy_new"
has "$(curl -s -X POST "$URL/chat" -d '{"prompt":"a","generate_kwargs":{"typical_p":0.5}}')" \
  '"detail":"generate_kwargs.typical_p: '
# an end token outside the vocabulary is named where it came from
has "$(curl -s -X POST "$URL/chat" -d '{"prompt":"a","generate_kwargs":{"eos_token_id":[2,999999]}}')" \
  '"detail":"generate_kwargs.eos_token_id[1]: token id 999999 is outside the vocabulary'
has "$(curl -s -X POST "$URL/chat" -d '{}')" 'Text generation parameter prompt required'
has "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")" "404"
# vLLM's run-time LoRA endpoints only with VLLM_ALLOW_RUNTIME_LORA_UPDATING (below)
has "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/load_lora_adapter" -d '{}')" "404"
has "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/chat/completions")" "405"
has "$(curl -s -X POST "$URL/v1/chat/completions" -d '{"messages": [')" '"type":"invalid_request_error"'

kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=""
[[ $rc -eq 0 ]] || fail "kaito serve exited $rc on SIGTERM"

# tool_choice "auto" with a tool call format (--tool-call-parser llama3_json: an answer that is
# {"name", "parameters"} is a call): a response_format holds the model to a call of get_weather,
# which comes back as tool_calls (finish_reason "tool_calls"), streamed as the same call; an
# answer that is text stays text, equal to tool_choice "none"'s.
start_serve --tool-call-parser llama3_json
grep -q "tool calls read as llama3_json" "$WORK/serve.log" || fail "no tool call format said"
out=$(URL=$URL WORK=$WORK python3 - << 'PY'
import json, os, openai, jsonschema
c = openai.OpenAI(base_url=os.environ["URL"] + "/v1", api_key="unused")
msgs = [{"role": "user", "content": "Color of the sky?"}]
params = {"type": "object", "properties": {"days": {"type": "integer", "minimum": 1, "maximum": 7}},
          "required": ["days"], "additionalProperties": False}
tools = [{"type": "function", "function": {"name": "get_weather", "parameters": params}}]
call_shape = {"type": "object", "properties": {"name": {"const": "get_weather"}, "parameters": params},
              "required": ["name", "parameters"], "additionalProperties": False}
kw = dict(model="tiny-chat", messages=msgs, max_tokens=200, temperature=0.7, seed=3, tools=tools,
          response_format={"type": "json_schema", "json_schema": {"name": "call", "schema": call_shape}})
r = c.chat.completions.create(**kw)
ch = r.choices[0]
assert ch.finish_reason == "tool_calls" and ch.message.content is None, r
[call] = ch.message.tool_calls
assert call.function.name == "get_weather" and call.id.startswith("chatcmpl-tool-"), call
jsonschema.validate(json.loads(call.function.arguments), params)
name, args, reasons = None, "", []
for chunk in c.chat.completions.create(stream=True, **kw):
    d = chunk.choices[0]
    assert not d.delta.content, chunk
    for tc in d.delta.tool_calls or []:
        name = tc.function.name or name
        args += tc.function.arguments or ""
    reasons.append(d.finish_reason)
assert name == "get_weather" and json.loads(args) == json.loads(call.function.arguments), (name, args)
assert reasons[-1] == "tool_calls", reasons
base = c.chat.completions.create(model="tiny-chat", messages=msgs, max_tokens=12, temperature=0)
open(os.environ["WORK"] + "/base.txt", "w").write(base.choices[0].message.content)
text = dict(model="tiny-chat", messages=msgs, max_tokens=16, temperature=0, tools=tools)
plain = c.chat.completions.create(**text).choices[0]
none = c.chat.completions.create(tool_choice="none", **text).choices[0]
assert plain.message.tool_calls is None and plain.message.content == none.message.content, (plain, none)
print("auto tools:", call.function.name, call.function.arguments, "| text:", repr(plain.message.content))
# The Responses API (the OpenAI Agents SDK's): flat tools, the call as a function_call item; the
# conversation goes on with its output as a function_call_output item.
flat = [{"type": "function", "name": "get_weather", "parameters": params}]
rr = c.responses.create(model="tiny-chat", input="Color of the sky?", max_output_tokens=200,
                        temperature=0.7, tools=flat,
                        text={"format": {"type": "json_schema", "name": "call", "schema": call_shape}})
[item] = rr.output
assert item.type == "function_call" and item.name == "get_weather" and rr.status == "completed", rr
jsonschema.validate(json.loads(item.arguments), params)
done = None
with c.responses.stream(model="tiny-chat", input="Color of the sky?", max_output_tokens=200,
                        temperature=0, tools=flat,
                        tool_choice={"type": "function", "name": "get_weather"}) as st:
    for ev in st:
        if ev.type == "response.completed": done = ev.response
assert done and done.output[0].type == "function_call", done
jsonschema.validate(json.loads(done.output[0].arguments), params)
follow = c.responses.create(model="tiny-chat", max_output_tokens=8, temperature=0, tools=flat,
                            tool_choice="none", input=[
    {"role": "user", "content": "Color of the sky?"}, item.model_dump(),
    {"type": "function_call_output", "call_id": item.call_id, "output": "sunny"}])
assert follow.output[0].type == "message", follow
print("responses tools:", item.name, item.arguments)
PY
) || fail "tool_choice auto: $out"
has "$out" "auto tools: get_weather"
has "$out" "responses tools: get_weather"
# SIGTERM while an answer streams: new requests are refused, the answer finishes, exit 0.
out=$(URL=$URL SERVE_PID=$PID python3 - << 'PY'
import os, signal, openai
c = openai.OpenAI(base_url=os.environ["URL"] + "/v1", api_key="unused", max_retries=0)
s = c.chat.completions.create(model="tiny-chat", messages=[{"role": "user", "content": "Hi"}],
                              max_tokens=64, temperature=0, stream=True,
                              extra_body={"ignore_eos": True})
pieces, reasons, signalled = [], [], False
for ch in s:
    if not signalled:
        os.kill(int(os.environ["SERVE_PID"]), signal.SIGTERM)
        signalled = True
        try:
            c.models.list()
            raise SystemExit("a new request was taken while draining")
        except openai.APIConnectionError:
            pass
    if ch.choices and ch.choices[0].delta.content: pieces.append(ch.choices[0].delta.content)
    if ch.choices and ch.choices[0].finish_reason: reasons.append(ch.choices[0].finish_reason)
assert reasons == ["length"], reasons
print("drained on SIGTERM:", len(pieces), "pieces")
PY
) || fail "drain: $out"
has "$out" "drained on SIGTERM:"
wait "$PID" || fail "kaito serve --tool-call-parser exited $? on SIGTERM"
grep -q "kaito serve: drained" "$WORK/serve.log" || fail "no drain in: $(cat "$WORK/serve.log")"
PID=""

# LoRA modules (vLLM's --lora-modules, what a Workspace's adapters are under Kaito's vLLM runtime):
# the adapter kept unmerged and served as its own model next to the base, the two answered in one
# batch: each request naming the adapter answers as the merged server did, the others (the
# model's second --served-model-name too) as the base server; /v1/models lists it with its
# parent; another name is 404.
VLLM_ALLOW_RUNTIME_LORA_UPDATING=True start_serve --served-model-name tiny-alias \
  --lora-modules "tuned=$WORK/adapter" \
  "{\"name\": \"json-form\", \"path\": \"$WORK/adapter\"}"
out=$(URL=$URL WORK=$WORK python3 - << 'PY'
import os, openai, threading
c = openai.OpenAI(base_url=os.environ["URL"] + "/v1", api_key="unused")
merged = open(os.environ["WORK"] + "/merged.txt").read()
base = open(os.environ["WORK"] + "/base.txt").read()
assert merged != base, (merged, base)
cards = [m.to_dict() for m in c.models.list()]
assert [m["id"] for m in cards] == ["tiny-chat", "tiny-alias", "tuned", "json-form"], cards
assert cards[2]["parent"] == "tiny-chat" and cards[2]["root"] == os.environ["WORK"] + "/adapter", cards
msgs = [{"role": "user", "content": "Color of the sky?"}]
models = ["tuned", "tiny-chat", "json-form", "tiny-alias", "tuned", None] * 2
got = [None] * len(models)
def ask(i):
    r = c.chat.completions.create(model=models[i] or "", messages=msgs, max_tokens=12, temperature=0)
    got[i] = (r.model, r.choices[0].message.content)
threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(models))]
for t in threads: t.start()
for t in threads: t.join()
for m, (name, answer) in zip(models, got):
    assert name == (m or "tiny-chat"), (m, name)
    assert answer == (base if m in ("tiny-chat", "tiny-alias", None) else merged), (m, answer, merged, base)
import urllib.request
metrics = urllib.request.urlopen(os.environ["URL"] + "/metrics").read().decode()
assert 'vllm:lora_requests_info{max_lora="2",running_lora_adapters="",waiting_lora_adapters=""}' in metrics, metrics
# n choices of one prompt (the first's cache copied to the others) and the stream, with the module
nc = c.chat.completions.create(model="tuned", messages=msgs, max_tokens=12, temperature=0, n=2)
assert [ch.message.content for ch in nc.choices] == [merged, merged], nc
pieces = [ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
    model="tuned", messages=msgs, max_tokens=12, temperature=0, stream=True) if ch.choices]
assert "".join(pieces) == merged, pieces
r = c.responses.create(model="tuned", input="Color of the sky?", max_output_tokens=12, temperature=0)
assert r.model == "tuned" and r.output_text == merged, (r.model, r.output_text, merged)
try:
    c.chat.completions.create(model="tuned2", messages=msgs)
    raise SystemExit("an unknown LoRA module was served")
except openai.NotFoundError as e:
    assert "tuned2" in str(e), e
# vLLM's run-time updates (VLLM_ALLOW_RUNTIME_LORA_UPDATING): load another name, unload one.
import json
def post(path, body):
    req = urllib.request.Request(os.environ["URL"] + path, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req) as r: return r.status, r.read().decode()
    except urllib.error.HTTPError as e: return e.code, e.read().decode()
adapter = os.environ["WORK"] + "/adapter"
assert post("/v1/load_lora_adapter", {"lora_name": "hot", "lora_path": adapter}) == (200, "Success: LoRA adapter 'hot' added successfully.")
code, body = post("/v1/load_lora_adapter", {"lora_name": "hot", "lora_path": adapter})
assert code == 400 and "already been loaded" in body, (code, body)
code, body = post("/v1/load_lora_adapter", {"lora_name": "ghost", "lora_path": adapter + "/none"})
assert code in (400, 404) and "none" in body, (code, body)
hot = c.chat.completions.create(model="hot", messages=msgs, max_tokens=12, temperature=0)
assert hot.model == "hot" and hot.choices[0].message.content == merged, hot
assert post("/v1/unload_lora_adapter", {"lora_name": "tuned"})[0] == 200
code, body = post("/v1/unload_lora_adapter", {"lora_name": "tuned"})
assert code == 404 and json.loads(body)["error"]["param"] == "lora_name", (code, body)
assert [m.id for m in c.models.list()] == ["tiny-chat", "tiny-alias", "json-form", "hot"]
try:
    c.chat.completions.create(model="tuned", messages=msgs)
    raise SystemExit("an unloaded LoRA module was served")
except openai.NotFoundError:
    pass
print("lora modules: %d concurrent answers, adapter %r, base %r" % (len(models), merged, base))
PY
) || fail "lora modules: $out"
has "$out" "lora modules: 12 concurrent answers"
kill -TERM "$PID"
wait "$PID" || fail "kaito serve --lora-modules exited $? on SIGTERM"
PID=""
rc=0
out=$("$KAITO" serve --model "$M" --port 0 --served-model-name tiny-chat --lora-modules "tiny-chat=$WORK/adapter" 2>&1) || rc=$?
[[ $rc -eq 2 ]] || fail "a LoRA module named as the model was taken (exit $rc): $out"
has "$out" "--lora-modules: LoRA module \"tiny-chat\" has the served model's name"

# --device cuda where there is no GPU (or no CUDA engine in this build): a clear refusal, exit 2.
# (Answers on a GPU are gpu_serving_test's, emulated in CI.)
if ! command -v nvidia-smi > /dev/null || ! nvidia-smi > /dev/null 2>&1; then
  rc=0
  out=$(timeout 60 "$KAITO" serve --model "$M" --device cuda --port 0 2>&1) || rc=$?
  [[ $rc -eq 2 ]] || fail "kaito serve --device cuda without a GPU exited $rc: $out"
  grep -Eq "no CUDA device|built without CUDA" <<< "$out" || fail "no reason given: $out"
fi
echo "PASS"
