#!/usr/bin/env python3
"""Live peer for tests/engine/chat_template_test.cpp: renders our preset chat templates and a set
of Jinja feature snippets with Python jinja2, configured exactly as transformers'
_compile_jinja_template does (ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and
loopcontrols; raise_exception; strftime_now; a tojson filter that is json.dumps with
ensure_ascii=False), and with the variables apply_chat_template passes (messages, tools=None,
documents=None, add_generation_prompt, bos_token, eos_token, extra kwargs).

usage: chat_template_peer.py <repo root> <out.json>. Exit 3 when jinja2 is missing.
"""
import json
import os
import sys
from datetime import datetime

try:
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError as e:  # pragma: no cover
    print(f"chat_template_peer.py: python package 'jinja2' is missing ({e}); run ./setup.sh",
          file=sys.stderr)
    sys.exit(3)


_COMPILED = {}


def compile_template(source):
    if source in _COMPILED:
        return _COMPILED[source]

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    _COMPILED[source] = env.from_string(source)
    return _COMPILED[source]


TOKENS = {
    "phi-3": ("<s>", "<|endoftext|>"),
    "llama-3": ("<|begin_of_text|>", "<|eot_id|>"),
    "chatml": ("", "<|im_end|>"),
    "mistral": ("<s>", "</s>"),
    "phi-4": ("<|endoftext|>", "<|im_end|>"),
    "phi-4-mini": ("<|endoftext|>", "<|endoftext|>"),
    "falcon": ("", "<|endoftext|>"),
}


def u(c):
    return {"role": "user", "content": c}


def a(c):
    return {"role": "assistant", "content": c}


def s(c):
    return {"role": "system", "content": c}


TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather in a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. Zürich"},
        "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}
CALL = {"role": "assistant", "content": "", "tool_calls": [
    {"id": "abc123XYZ", "type": "function",
     "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}}]}
RESULT = {"role": "tool", "tool_call_id": "abc123XYZ", "name": "get_weather",
          "content": "{\"temp\": 21.5, \"sky\": \"clear\"}"}

CONVERSATIONS = {
    "single_user": [u("Hello!")],
    "system_user": [s("You are a helpful assistant."), u("What is Kaito?")],
    "multi_turn": [u("Hi"), a("Hello! How can I help?"), u("Tell me a joke.")],
    "system_multi_turn_done": [s("Be brief."), u("2+2?"), a("4"), u("3+3?"), a("6")],
    "unicode": [s("Réponds en français 🇫🇷"), u("日本語で？ naïve e\u0301 👨‍👩‍👧"),
                a("はい、もちろん。"), u("Ω≈ç√∫ — “quotes” ‘x’")],
    "empty_content": [u(""), a(""), u("")],
    "whitespace": [s("  padded system \n"), u("\n\n  spaced  \t\n"), a("  answer  "), u(" x ")],
    "special_chars": [u("{{ not a tag }} {% neither %} \\ backslash 'single' \"double\""),
                      a("<|end|><|im_end|></s>[INST]"), u("tab\there\r\nwindows")],
    "not_alternating": [u("one"), u("two")],
    "assistant_first": [a("I start."), u("ok")],
    "system_only": [s("Only a system message.")],
    "tool_round_trip": [s("You can call tools."), u("Weather in Paris?"), CALL, RESULT],
    "long": [u("question %d " % i) if i % 2 == 0 else a("answer %d" % i) for i in range(21)],
}

# Extra variables (template kwargs) per case name suffix.
EXTRAS = {
    "": {},
    "+tools": {"tools": [TOOL]},
    "+date": {"date_string": "01 Jan 2030"},
    "+tools_in_system": {"tools": [TOOL], "tools_in_user_message": False},
}

SNIPPETS = [
    ("text", "plain text", {}),
    ("output", "a{{ x }}b", {"x": "X"}),
    ("undefined prints nothing", "[{{ missing }}]", {}),
    ("none and bools", "{{ none }} {{ true }} {{ false }} {{ True }}", {}),
    ("numbers", "{{ 1 + 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 * 3 - 1 }} {{ -4 }} {{ 1.5 + 1 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 2 ** 10 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 123456789.125 }}", {}),
    ("string escapes", "{{ 'a\\nb\\t\"c\"' }}|{{ \"it's\" }}|{{ '\\u00e9\\x41' }}", {}),
    ("comment", "a{# gone #}b", {}),
    ("trim_blocks", "{% if true %}\nx\n{% endif %}\ny", {}),
    ("lstrip_blocks", "a\n    {% if true %}\n    b\n    {% endif %}\nc", {}),
    ("lstrip keeps text before", "a  {% if true %}b{% endif %}", {}),
    ("plus disables lstrip", "a\n    {%+ if true %}b{% endif %}", {}),
    ("minus trims", "a   {{- 'b' -}}   c  {%- if true -%}  d  {%- endif %}", {}),
    ("comment whitespace", "x\n  {# c #}\ny\n{#- c -#}\n  z", {}),
    ("output keeps newline", "{{ 'a' }}\n{{ 'b' }}\n", {}),
    ("trailing newlines", "a\n\n", {}),
    ("crlf text", "a\r\nb\rc", {}),
    ("raw", "{% raw %}{{ x }}{% endraw %}", {}),
    ("if elif else", "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
    ("for loop variables", "{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }};{% endfor %}", {"items": ["a", "b", "c"]}),
    ("for else", "{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("for over undefined", "[{% for x in nothing %}x{% endfor %}]", {}),
    ("for over string and dict", "{% for c in 'héllo' %}{{ c }}.{% endfor %}{% for k in d %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("break continue", "{% for n in [1, 2, 3, 4] %}{% if n == 2 %}{% continue %}{% endif %}{% if n == 4 %}{% break %}{% endif %}{{ n }}{% endfor %}", {}),
    ("set and scope", "{% set a = 1 %}{% for x in [1] %}{% set a = 2 %}{{ a }}{% endfor %}{{ a }}{% if true %}{% set b = 3 %}{% endif %}{{ b }}", {}),
    ("set tuple", "{% set a, b = 1, 'z' %}{{ a }}{{ b }}", {}),
    ("set block", "{% set x %}inner {{ 1 + 1 }}{% endset %}[{{ x }}]", {}),
    ("namespace", "{% set ns = namespace(total=0, seen=false) %}{% for x in [1, 2, 3] %}{% set ns.total = ns.total + x %}{% if x == 2 %}{% set ns.seen = true %}{% endif %}{% endfor %}{{ ns.total }} {{ ns.seen }}", {}),
    ("loop filter", "{% for x in [1, 2, 3, 4] if x % 2 == 0 %}{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", {}),
    ("for items unpack", "{% for k, v in d.items() if k != 'b' %}{{ k }}={{ v }};{% endfor %}{% for k, v in d | items %}{{ k }}{% endfor %}", {"d": {"a": 1, "b": 2, "c": 3}}),
    ("comparisons", "{{ 1 < 2 }}{{ 2 <= 1 }}{{ 'a' == 'a' }}{{ 'a' != 'a' }}{{ 3 > 2 }}{{ 1 >= 1 }}{{ 1 == 1.0 }}{{ 1 < 2 < 3 }}{{ 'b' > 'a' }}", {}),
    ("logic", "{{ true and false }}{{ true or false }}{{ not true }}{{ not (1 == 2) }}{{ 0 or 'x' }}{{ 'a' and 'b' }}", {}),
    ("in", "{{ 'b' in 'abc' }}{{ 2 in [1, 2] }}{{ 'k' in d }}{{ 'q' not in d }}{{ 'x' in nothing }}", {"d": {"k": 1}}),
    ("tests", "{{ x is defined }}{{ y is defined }}{{ y is not defined }}{{ n is none }}{{ s is string }}{{ d is mapping }}{{ l is iterable }}{{ s is iterable }}{{ 3 is number }}{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 'a' is equalto 'a' }}{{ x is not none }}", {"x": 1, "n": None, "s": "s", "d": {}, "l": []}),
    ("conditional expression", "{{ 'yes' if flag else 'no' }}[{{ 'a' if false }}]", {"flag": True}),
    ("concat operator", "{{ 'n=' ~ 3 ~ true ~ none }}", {}),
    ("subscript and slices", "{{ xs[0] }}{{ xs[-1] }}{{ xs[1:] }}{{ xs[:2] }}{{ 'hello'[1:3] }}{{ d['k'] }}{{ d.k }}{{ xs[10] }}{{ d.missing }}", {"xs": [1, 2, 3], "d": {"k": "v"}}),
    ("slice steps", "{{ xs[::-1] }}{{ xs[::2] }}{{ xs[1::2] }}{{ xs[-1:0:-1] }}{{ xs[:-2:-1] }}{{ 'abc'[::-1] }}{{ 'héllo'[-3:] }}", {"xs": [1, 2, 3, 4, 5]}),
    ("list and dict literals", "{{ [1, 'a', none, true, 1.5] }}{{ {'k': 1}['k'] }}{{ {'a': 'x', 'b': [1]} }}{{ (1,) }}{{ (1, 'b') }}{{ [] }}{{ {} }}", {}),
    ("repr quoting", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n', 'é', '\\u200b'] }}", {}),
    ("filters", "{{ '  x  ' | trim }}|{{ xs | length }}|{{ 'Ab' | upper }}{{ 'Ab' | lower }}|{{ xs | join('-') }}|{{ xs | first }}{{ xs | last }}|{{ missing | default('d') }}|{{ '' | default('e', true) }}|{{ 5 | string }}|{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}|{{ xs | reverse | list }}", {"xs": [1, 2, 3]}),
    ("filter binds tighter than plus", "{{ 'a' + ' b ' | trim + 'c' }}", {}),
    ("string methods", "{{ ' x '.strip() }}{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('x') }}{{ 'ab'.upper() }}{{ 'hello world'.title() }}{{ ' x '.lstrip() }}|{{ ' x '.rstrip() }}{{ 'a-b-c'.replace('-', '+') }}{{ 'abcabc'.count('b') }}{{ 'abc'.find('c') }}{{ ','.join(['x', 'y']) }}", {}),
    ("strip characters", "[{{ '\\n\\nx\\n'.strip('\\n') }}][{{ 'xxay'.lstrip('x') }}][{{ 'ayyx'.rstrip('xy') }}][{{ ' a '.strip(none) }}]", {}),
    ("split", "{{ 'a<b>c<b>'.split('<b>') }}{{ ' a  b '.split() }}{{ 'x'.split(',') }}{{ 'r</think>a'.split('</think>')[-1] }}{{ 'a,b,c'.split(',', 1) }}", {}),
    ("dict methods", "{{ d.get('k') }}{{ d.get('q', 'dflt') }}{{ d.get('q') }}{{ d.keys() | list }}{{ d.values() | list }}{{ d.items() | list }}", {"d": {"k": "v", "n": 2}}),
    ("tojson", "{{ {'a': [1, 'x', none, true, 2.5], 'é': 'ü\\n\"'} | tojson }}", {}),
    ("tojson indented", "{{ {'b': [1, {'c': 'x'}], 'a': {}, 'e': []} | tojson(indent=4) }}", {}),
    ("tojson options", "{{ {'b': 1, 'a': [1, 2]} | tojson(separators=(',', ':'), sort_keys=true) }}{{ 'é' | tojson(ensure_ascii=true) }}", {}),
    ("tojson input", "{{ data | tojson }}", {"data": {"z": 1, "a": [1.0, -0.5, 1e100, "\u0001"], "n": None}}),
    ("range", "{% for i in range(3) %}{{ i }}{% endfor %}{{ range(1, 8, 3) | list }}{{ range(3, -1, -1) | list }}{{ range(0, 3, -1) | list }}", {}),
    ("selectattr", "{{ msgs | selectattr('role', 'equalto', 'user') | list | length }} {{ (msgs | selectattr('role', 'equalto', 'user') | list)[-1].content }} {{ msgs | rejectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}", {"msgs": [u("a"), a("b"), u("c")]}),
    ("selectattr truthy", "{% for i in items | selectattr('on') %}{{ i.n }}{% endfor %}{{ [0, 1, '', 'x'] | select | list }}{{ [1, 2, 3, 4] | reject('odd') | list }}", {"items": [{"n": 1, "on": True}, {"n": 2, "on": False}, {"n": 3}]}),
    ("macro", "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c') }}", {}),
    ("raise_exception", "{% if true %}{{ raise_exception('custom failure: ' ~ 42) }}{% endif %}", {}),
    ("undefined attribute error", "{{ missing.attr }}", {}),
    ("undefined arithmetic error", "{{ missing + 1 }}", {}),
    ("type error", "{{ 'a' + 1 }}", {}),
    ("unknown filter", "{{ 1 | no_such_filter }}", {}),
    ("list append is unsafe", "{% set l = [] %}{{ l.append(1) }}", {}),
    ("syntax error", "{% if true %}unclosed", {}),
    ("syntax error expression", "{{ 1 + }}", {}),
    ("unknown tag", "{% frobnicate %}", {}),
    ("messages loop", "{% for m in messages %}{{ m.role }}:{{ m['content'] }}{% if not loop.last %}|{% endif %}{% endfor %}", {"messages": [u("q"), a("r")]}),
    ("string multiply", "{{ 'ab' * 3 }}{{ [1] * 2 }}{{ 3 * 'x' }}", {}),
    ("integer and float filters", "{{ '42' | int + 1 }}{{ 'x' | int }}{{ '2.5' | float }}{{ -3 | abs }}{{ [1, 2.5] | sum }}", {}),
    ("indent", "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}", {}),
    ("loop cycle and previtem", "{% for x in [1, 2, 3] %}{{ loop.cycle('o', 'e') }}{{ loop.previtem }}{% endfor %}", {}),
    ("nested loops", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}{% endfor %}", {}),
    ("range limit", "{{ range(100000) | length }}", {}),
    ("range too big", "{{ range(100001) | length }}", {}),
    ("is defined on attribute", "{{ d.x is defined }}{{ d.y is defined }}{{ d.x.z is defined }}", {"d": {"x": {"z": 1}}}),
]


def render_case(name, template, context):
    case = {"name": name, "template": template, "context": context}
    try:
        case["output"] = compile_template(template).render(**context)
    except jinja2.exceptions.TemplateSyntaxError as e:
        case["error"] = "syntax: " + str(e)
    except jinja2.exceptions.TemplateError as e:
        case["error"] = str(e)
    except Exception as e:  # TypeError and friends raised while rendering
        case["error"] = type(e).__name__ + ": " + str(e)
    return case


def main():
    root, out_path = sys.argv[1], sys.argv[2]
    cases = []
    template_dir = os.path.join(root, "presets", "chat_templates")
    on_disk = sorted(f[:-len(".jinja")] for f in os.listdir(template_dir) if f.endswith(".jinja"))
    if on_disk != sorted(TOKENS):
        print(f"chat_template_peer.py: templates on disk {on_disk} != TOKENS {sorted(TOKENS)}: "
              "give every template its BOS/EOS here so it is compared", file=sys.stderr)
        return 1
    for tname, (bos, eos) in TOKENS.items():
        path = os.path.join(root, "presets", "chat_templates", tname + ".jinja")
        with open(path, encoding="utf-8") as f:
            source = f.read()
        for cname, messages in CONVERSATIONS.items():
            for extra_name, extra in EXTRAS.items():
                if extra_name and tname in ("phi-3", "phi-4", "phi-4-mini", "falcon"):
                    continue
                if extra_name == "+date" and tname != "llama-3":
                    continue
                if extra_name == "+tools_in_system" and tname != "llama-3":
                    continue
                for gen in (True, False):
                    context = {"messages": messages, "tools": None, "documents": None,
                               "add_generation_prompt": gen, "bos_token": bos, "eos_token": eos}
                    context.update(extra)
                    case = render_case(f"{tname}/{cname}{extra_name}/gen={gen}", source, context)
                    case["template"] = None
                    case["preset"] = tname
                    cases.append(case)
    for name, template, context in SNIPPETS:
        cases.append(render_case(name, template, context))
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"jinja2_version": jinja2.__version__, "cases": cases}, f, ensure_ascii=False,
                  indent=1)


if __name__ == "__main__":
    sys.exit(main())
