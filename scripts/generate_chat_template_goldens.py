#!/usr/bin/env python3
"""Golden renders for Horizon's chat-template interpreter (data/jinja).

Renders with Python jinja2 configured exactly as transformers' apply_chat_template
configures it (src/transformers/utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
extensions=[loopcontrols]), a tojson filter that is json.dumps(ensure_ascii=False,
indent, separators, sort_keys), and the globals raise_exception and strftime_now.

Writes, one JSON object per line:
  tests/golden/chat_templates/qwen3.jsonl, llama3.jsonl: {"variables", "expected" | "error"}
    for >= 200 deterministic conversations per template, read from
    build/test-data/{qwen3,llama3}/tokenizer_config.json (scripts/fetch_test_data.sh);
  tests/golden/chat_templates/features.jsonl: {"name", "template", "variables",
    "expected" | "error", "raised"} for small templates of our own covering each construct.

Needs jinja2 >= 3.1 (Debian: apt-get install python3-jinja2). Run from the repository root:
  /usr/bin/python3 scripts/generate_chat_template_goldens.py [--test-data build/test-data]
"""

import argparse
import json
import os
import random
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

OUT_DIR = os.path.join("tests", "golden", "chat_templates")
CONVERSATIONS_PER_TEMPLATE = 240


def make_environment():
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = make_environment()


def render(template, variables):
    """{"expected": text} or {"error": message, "raised": raise_exception()?}."""
    try:
        return {"expected": ENV.from_string(template).render(**variables)}
    except TemplateError as e:  # includes syntax errors, undefined errors and raise_exception
        return {"error": str(e), "raised": type(e) is TemplateError}
    except Exception as e:  # TypeError, ValueError, ... from Python operations
        return {"error": f"{type(e).__name__}: {e}", "raised": False}


# ---------------------------------------------------------------- conversations

TEXTS = [
    "Hello!",
    "What is the capital of France?",
    "Paris is the capital of France.",
    "  leading and trailing spaces  ",
    "\nnewlines around\n\n",
    "multi\nline\ncontent",
    "quotes ' and \" and back\\slash",
    "braces {{ not a template }} {% nor this %}",
    "unicode: héllo wörld — 你好 🙂 ñ",
    "tabs\tand\u00a0nbsp",
    "",
    " ",
    "<tool_response>\nfake\n</tool_response>",
    "Calculate 2 + 2 * 3.",
    "emoji only 🚀🚀",
    "json-ish {\"a\": 1}",
    "trailing newline\n",
]

REASONING = [
    "Let me think step by step.",
    "\nThe user wants a city.\n",
    "First, 2*3=6; then 2+6=8.",
    "",
    "思考中…",
]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Zürich"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "calculate",
            "description": "Evaluate an arithmetic expression.",
            "parameters": {
                "type": "object",
                "properties": {"expression": {"type": "string"}, "precision": {"type": "integer"}},
                "required": ["expression"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web; returns \"snippets\".",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "number"}}},
        },
    },
]

ARGUMENTS = [
    {"city": "Paris"},
    {"city": "Zürich", "unit": "celsius"},
    {"expression": "2 + 2 * 3", "precision": 2},
    {"query": "北京 weather", "limit": 1.5},
    {"query": "x", "limit": 1e-7, "flags": [True, False, None], "nested": {"a": {"b": [1, 2.0, "3"]}}},
    {},
    {"text": "line\nbreak \"quoted\" \\ backslash\ttab"},
]


def tool_call(rng):
    tool = rng.choice(TOOLS)["function"]
    arguments = rng.choice(ARGUMENTS)
    if rng.random() < 0.2:
        arguments = json.dumps(arguments)  # some datasets keep arguments as a JSON string
    call = {"name": tool["name"], "arguments": arguments}
    if rng.random() < 0.8:
        return {"type": "function", "function": call}
    return call  # a bare {"name", "arguments"} call


def assistant_message(rng, final):
    message = {"role": "assistant", "content": rng.choice(TEXTS)}
    style = rng.random()
    if style < 0.25:
        message["reasoning_content"] = rng.choice(REASONING)
    elif style < 0.45:
        message["content"] = "<think>" + rng.choice(REASONING) + "</think>" + rng.choice(["\n\n", "\n", ""]) + message["content"]
    elif style < 0.5:
        message["reasoning_content"] = None
    return message


def conversation(rng):
    messages = []
    if rng.random() < 0.5:
        messages.append({"role": "system", "content": rng.choice(TEXTS)})
    use_tools = rng.random() < 0.4
    turns = rng.randint(1, 4)
    for turn in range(turns):
        messages.append({"role": "user", "content": rng.choice(TEXTS)})
        last_turn = turn == turns - 1
        if last_turn and rng.random() < 0.4:
            break  # ends with the user's message: a generation prompt follows
        if use_tools and rng.random() < 0.6:
            calls = [tool_call(rng) for _ in range(rng.randint(1, 3))]
            message = assistant_message(rng, False)
            message["tool_calls"] = calls
            if rng.random() < 0.3:
                message["content"] = ""
            messages.append(message)
            for _ in calls:
                messages.append({"role": "tool", "content": rng.choice(TEXTS + ['{"temperature": 21.5}'])})
            if rng.random() < 0.3 and last_turn:
                break  # ends with tool responses
        messages.append(assistant_message(rng, last_turn))
    if rng.random() < 0.05:
        messages.insert(rng.randint(1, len(messages)), {"role": "system", "content": "A mid-conversation system note."})
    return messages, use_tools


def special_tokens(config):
    tokens = {}
    for name in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = config.get(name)
        if isinstance(value, dict):
            value = value.get("content")
        tokens[name] = value
    return tokens


def template_goldens(name, test_data):
    path = os.path.join(test_data, name, "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    template = config["chat_template"]
    rng = random.Random(f"horizon-{name}")
    rows = []
    for i in range(CONVERSATIONS_PER_TEMPLATE):
        messages, use_tools = conversation(rng)
        variables = {
            "messages": messages,
            "tools": TOOLS[: rng.randint(1, 3)] if use_tools else None,
            "documents": None,
            "add_generation_prompt": messages[-1]["role"] != "assistant" or rng.random() < 0.2,
        }
        variables.update(special_tokens(config))
        choice = i % 3
        if choice == 1:
            variables["enable_thinking"] = False
        elif choice == 2:
            variables["enable_thinking"] = True
        row = {"variables": variables}
        row.update(render(template, variables))
        rows.append(row)
    return rows


# ---------------------------------------------------------------- feature templates

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Tell me a joke."},
]

FEATURES = [
    # output and literals
    ("text", "plain text only", {}),
    ("print_literals", "{{ 'a' }}|{{ \"b\" }}|{{ 1 }}|{{ 1.5 }}|{{ true }}|{{ True }}|{{ false }}|{{ none }}|{{ None }}", {}),
    ("print_containers", "{{ [1, 'a', none, true, 1.5, {'k': [1, 2]}] }}|{{ {'a': 1, 'b': 'x'} }}|{{ (1, 2) }}|{{ (1,) }}|{{ () }}|{{ [] }}|{{ {} }}", {}),
    ("print_tuple_bare", "{{ 1, 'a' }}", {}),
    ("repr_quotes", "{{ ['it\\'s', 'say \"hi\"', 'both \\' \"', 'nl\\n tab\\t bs\\\\', '\\x01\\x7f', 'é 你 🙂', '\\u00a0\\u2028'] }}", {}),
    ("string_escapes", "{{ 'a\\nb\\tc\\\\d\\'e\\\"f\\x41\\u00e9\\U0001F600\\101\\q' }}", {}),
    ("adjacent_strings", "{{ 'a' 'b' \"c\" }}", {}),
    ("floats", "{{ 0.1 }} {{ 1e20 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1.0 }} {{ -2.5 }} {{ 1/3 }} {{ 2e-320 }} {{ 123456789.123 }} {{ 1_000.5 }}", {}),
    ("variable_floats", "{{ x }} {{ y }} {{ z }} {{ [x, y, z] }}", {"x": 3.0, "y": 1e100, "z": -0.0}),
    ("integers", "{{ 1_000 }} {{ 0x1f }} {{ 0o17 }} {{ 0b101 }} {{ -3 }}", {}),
    # arithmetic
    ("arithmetic", "{{ 1 + 2 }} {{ 7 - 10 }} {{ 3 * 4 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 3 ** 2 }}", {}),
    ("float_arithmetic", "{{ 1.5 + 1 }} {{ 7.5 // 2 }} {{ -7.5 // 2 }} {{ 7.5 % 2 }} {{ -7.5 % 2 }} {{ 0.1 + 0.2 }} {{ 2 * 0.5 }}", {}),
    ("bool_arithmetic", "{{ true + 1 }} {{ true * 3 }} {{ -true }} {{ 1 == 1.0 }} {{ true == 1 }} {{ false == 0 }}", {}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 1 ~ (2 + 3) }} {{ 'a' ~ 1 + 2 ~ 'b' }} {{ (1 + 2) ~ 3 }} {{ not 1 == 2 }} {{ 2 * 3 | string }}", {}),
    ("string_ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ [1] + [2, 3] }} {{ [0] * 3 }} {{ 'a' ~ none ~ 1 ~ true ~ undefined_thing }}", {}),
    ("precedence_concat_before_plus_error", "{{ 1 ~ 2 + 3 }}", {}),
    ("division_by_zero", "{{ 1 / 0 }}", {}),
    ("int_plus_str", "{{ 1 + 'a' }}", {}),
    ("str_plus_int", "{{ 'a' + 1 }}", {}),
    # comparisons and logic
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 4 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 != 2 }} {{ 'x' == 'x' }} {{ none == none }} {{ [1] == [1] }} {{ {'a': 1} == {'a': 1} }}", {}),
    ("compare_mixed_error", "{{ 1 < 'a' }}", {}),
    ("in_operator", "{{ 'b' in 'abc' }} {{ 'z' not in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'v' in {'k': 'v'} }} {{ 1 in [1.0] }} {{ 'a' in undefined_thing }}", {}),
    ("and_or_values", "{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ none or [] }}|{{ 1 and 0 }}|{{ not '' }}|{{ not [1] }}", {}),
    ("truthiness", "{% for v in [0, 1, 0.0, 2.5, '', 'a', [], [0], {}, {'a': 1}, none, true, false] %}{{ 'T' if v else 'F' }}{% endfor %}|{{ 'T' if undefined_thing else 'F' }}", {}),
    ("inline_if", "{{ 'yes' if x else 'no' }}|{{ 'yes' if not x else 'no' }}|{{ 'a' if false }}|{{ ('a' if false) is defined }}|{{ 1 if x else 2 if y else 3 }}", {"x": False, "y": True}),
    # variables and undefined
    ("undefined_prints_empty", "[{{ nope }}]|{{ nope is defined }}|{{ nope is undefined }}|{{ nope|length }}|{{ nope|default('d') }}|{{ nope == nope }}|{{ nope is none }}|[{{ nope|join(',') }}]|[{{ nope|trim }}]|{% for x in nope %}x{% else %}empty{% endfor %}", {}),
    ("undefined_attribute_error", "{{ nope.attr }}", {}),
    ("undefined_attribute_test_error", "{{ nope.attr is defined }}", {}),
    ("missing_key_is_undefined", "{{ d.missing is defined }}|{{ d['missing'] is defined }}|[{{ d.missing }}]|{{ d.missing|default('dflt') }}", {"d": {"k": 1}}),
    ("missing_key_attribute_error", "{{ d.missing.deeper }}", {"d": {"k": 1}}),
    ("undefined_arithmetic_error", "{{ nope + 1 }}", {}),
    ("undefined_tojson_error", "{{ nope|tojson }}", {}),
    ("none_attribute", "[{{ n.x }}]{{ n.x is defined }}", {"n": None}),
    ("call_undefined_error", "{{ nope() }}", {}),
    ("default_boolean", "{{ ''|default('e') }}|{{ ''|default('e', true) }}|{{ none|default('n') }}|{{ none|d('n', true) }}|{{ 0|default(5, boolean=true) }}", {}),
    # attribute and item access, slicing
    ("access", "{{ m.role }} {{ m['role'] }} {{ m.content[0] }} {{ xs[0] }} {{ xs[-1] }} {{ xs.1 }} {{ m.get('role') }} {{ m.get('missing') }} {{ m.get('missing', 'dflt') }}", {"m": MESSAGES[1], "xs": [10, 20, 30]}),
    ("index_out_of_range", "[{{ xs[5] }}]{{ xs[5] is defined }}[{{ 'abc'[9] }}]{{ xs[-4] is defined }}", {"xs": [1, 2, 3]}),
    ("index_out_of_range_attribute_error", "{{ xs[5].role }}", {"xs": [1, 2, 3]}),
    ("slicing", "{{ xs[1:] }} {{ xs[:2] }} {{ xs[::-1] }} {{ xs[::2] }} {{ xs[-2:] }} {{ xs[1:-1] }} {{ xs[5:] }} {{ xs[:-5] }} {{ xs[3:0:-1] }} {{ xs[-1:-4:-2] }}", {"xs": [0, 1, 2, 3, 4]}),
    ("string_slicing", "{{ s[::-1] }} {{ s[1:3] }} {{ s[-2:] }} {{ s[0] }} {{ s[-1] }} {{ s|length }}", {"s": "héllo🙂"}),
    ("slice_step_zero", "{{ [1, 2][::0] }}", {}),
    ("dict_methods", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{{ d.keys()|list }}|{{ d.values()|list }}|{% for k in d %}{{ k }}{% endfor %}|{{ d|length }}", {"d": {"b": 1, "a": [1, 2], "c": None}}),
    ("dict_items_filter", "{% for k, v in d|items %}{{ k }}:{{ v }} {% endfor %}|{{ d|dictsort }}|{{ d|dictsort(reverse=true) }}", {"d": {"b": 1, "a": 2, "C": 3}}),
    ("unsafe_append", "{{ xs.append(1) }}", {"xs": []}),
    ("unsafe_attribute_prints_empty", "[{{ xs.append }}]", {"xs": []}),
    ("underscore_attribute", "[{{ xs.__class__ }}]", {"xs": []}),
    # string methods
    ("str_methods", "{{ s.startswith('He') }} {{ s.endswith('!') }} {{ s.startswith(('x', 'He')) }} {{ s.upper() }} {{ s.lower() }} {{ s.title() }} {{ 'hello world-foo\\'s'.title() }} {{ s.capitalize() }} {{ s.replace('l', 'L') }} {{ s.replace('l', 'L', 1) }} {{ s.find('l') }} {{ s.rfind('l') }} {{ s.find('z') }} {{ s.count('l') }}", {"s": "Hello, World!"}),
    ("str_split", "{{ s.split() }} {{ s.split(' ') }} {{ s.split('a') }} {{ s.split(None, 1) }} {{ s.rsplit(None, 1) }} {{ s.split('a', 1) }} {{ s.rsplit('a', 1) }} {{ ''.split() }} {{ ''.split('x') }} {{ 'a,b,,c'.split(',') }}", {"s": "  banana  split\tbar \n"}),
    ("str_strip", "[{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ s.strip(' \\n') }}][{{ 'xxhixx'.strip('x') }}][{{ 'abcba'.lstrip('ab') }}][{{ 'abcba'.rstrip('ab') }}][{{ '\\u3000wide\\u00a0'.strip() }}]", {"s": " \n\t hi there \n "}),
    ("str_join_format", "{{ ', '.join(['a', 'b']) }} {{ '{} and {}'.format('x', 1) }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='Bob') }} {{ '{{literal}}'.format() }}", {}),
    ("str_predicates", "{{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ 'a1'.isalnum() }} {{ ' \\n'.isspace() }} {{ ''.isdigit() }} {{ 'a b'.splitlines() }} {{ 'l1\\nl2\\r\\nl3'.splitlines() }}", {}),
    ("think_split", "{% set c = m.content %}{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}", {"m": {"content": "<think>\nreason here\n</think>\n\nanswer"}}),
    ("list_methods", "{{ xs.index(2) }} {{ xs.count(1) }}", {"xs": [1, 2, 1]}),
    # filters
    ("filter_tojson", "{{ v|tojson }}|{{ v|tojson(indent=2) }}|{{ v|tojson(sort_keys=true) }}|{{ v|tojson(separators=(',', ':')) }}|{{ 'é\"\\n\\u2028'|tojson }}|{{ 'é'|tojson(ensure_ascii=true) }}|{{ [1.0, 1e-7, true, none]|tojson }}|{{ {}|tojson(indent=2) }}|{{ []|tojson(indent=2) }}|{{ v|tojson(indent='\\t') }}|{{ v|tojson(indent=0) }}", {"v": {"b": [1, {"c": "ü"}], "a": None, "e": {}}}),
    ("filter_length_count", "{{ xs|length }} {{ xs|count }} {{ 'héllo'|length }} {{ {'a': 1}|length }}", {"xs": [1, 2, 3]}),
    ("filter_trim", "[{{ '  a b \\n'|trim }}][{{ 'xxaxx'|trim('x') }}][{{ 5|trim }}]", {}),
    ("unicode_case", "{{ s|upper }}|{{ s|lower }}|{{ s.upper() }}|{{ s.lower() }}|{{ s|title }}|{{ s.title() }}|{{ s|capitalize }}|{{ s is lower }}|{{ 'straße'|upper }}|{{ 'ΟΔΟΣ ΣΑΣ'|lower }}|{{ 'Привет МИР'|swapcase if false else 'Привет МИР'|lower }}|{{ 'ÿ'|upper }}|{{ ['b', 'Á', 'a']|sort }}", {"s": "éCOLE ñandú ĳsel Ωmega"}),
    ("filter_case", "{{ 'Hello'|upper }} {{ 'Hello'|lower }} {{ 'hello world'|title }} {{ 'hELLO wORLD'|capitalize }} {{ 'a-b (c) [d]'|title }}", {}),
    ("filter_join", "{{ [1, 2, 3]|join }} {{ [1, 2, 3]|join(', ') }} {{ ['a']|join('-') }} {{ ms|join(', ', attribute='role') }}", {"ms": MESSAGES}),
    ("filter_first_last", "{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} {{ []|first is defined }} {{ ms|first|tojson }}", {"ms": MESSAGES}),
    ("filter_list_string", "{{ 'abc'|list }} {{ {'a': 1}|list }} {{ 12|string ~ 'x' }} {{ none|string }} {{ [1]|string }} {{ true|string }}", {}),
    ("filter_int_float", "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 'x'|float }} {{ 3|float }} {{ true|int }} {{ ' 12 '|int }}", {}),
    ("filter_misc", "{{ -3|abs }} {{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ ['b', 'A', 'c']|sort }} {{ [1, 2, 2, 1]|unique|list }} {{ [1, 2, 3]|sum }} {{ [1, 5, 3]|max }} {{ [4, 2, 8]|min }} {{ [1, 2]|reverse|list }} {{ 'abc'|reverse }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ 'a&b<c>\"d\\''|e }} {{ 'x'|safe }} {{ 'x y'|replace(' ', '_') }}", {}),
    ("filter_indent", "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb\\n'|indent(2, blank=true) }}", {}),
    ("filter_map_select", "{{ ms|map(attribute='role')|list }} {{ ms|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ ms|rejectattr('role', 'eq', 'user')|list|length }} {{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('even')|list }} {{ [0, 1, '', 'a']|select|list }} {{ ['a', 'b']|map('upper')|list }} {{ ms|selectattr('tool_calls', 'defined')|list|length }}", {"ms": MESSAGES}),
    ("filter_chain_precedence", "{{ 'a' ~ 'b'|upper }} {{ xs|length - 1 }} {{ -(xs|first) }} {{ xs|first + 1 }} {{ (xs|length) > 2 }}", {"xs": [1, 2, 3]}),
    ("negate_binds_before_filter_error", "{{ -xs|length }}", {"xs": [1, 2, 3]}),
    ("unknown_filter_error", "{{ 'a'|no_such_filter }}", {}),
    ("unknown_filter_in_dead_branch", "{% if false %}{{ 'a'|no_such_filter }}{% endif %}ok", {}),
    # tests
    ("tests", "{{ 'a' is string }} {{ 1 is string }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ {} is mapping }} {{ [] is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }} {{ {} is sequence }} {{ 'a' is sequence }} {{ none is none }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ true is boolean }} {{ 1 is boolean }}", {}),
    ("tests_undefined_subject", "{{ nope is string }} {{ nope is iterable }} {{ nope is sequence }} {{ nope is mapping }} {{ nope is none }} {{ nope is number }}", {}),
    ("tests_with_args", "{{ 2 is equalto 2 }} {{ 2 is eq(3) }} {{ 'a' is ne 'b' }} {{ 3 is divisibleby 3 }} {{ 3 is odd }} {{ 4 is even }} {{ 2 is lt 3 }} {{ 2 is gt(3) }} {{ 2 is in [1, 2] }} {{ 2 is not in [1] }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ none is sameas none }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ raise_exception is callable }} {{ 'x' is callable }}", {}),
    ("test_not_precedence", "{{ not x is defined }} {{ x is not defined }} {{ x is defined and x }} {{ 'a' if x is defined else 'b' }}", {"x": 0}),
    ("unknown_test_error", "{{ 1 is no_such_test }}", {}),
    # statements
    ("if_elif_else", "{% for x in [1, 2, 3, 4] %}{% if x == 1 %}one{% elif x == 2 %}two{% elif x == 3 %}three{% else %}many{% endif %} {% endfor %}", {}),
    ("for_loop_vars", "{% for x in 'abc' %}{{ loop.index0 }}{{ loop.index }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}|{{ loop.nextitem }}]{{ loop.cycle('o', 'e') }}{{ loop.depth }} {% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1] %}{{ x }}{% else %}empty{% endfor %}", {}),
    ("for_filter", "{% for m in ms if m.role != 'system' %}{{ loop.index }}:{{ m.role }}{{ ',' if not loop.last }}{% endfor %}|{% for x in [1, 2, 3] if x > 5 %}x{% else %}none kept{% endfor %}", {"ms": MESSAGES}),
    ("for_unpack", "{% for a, b in [[1, 2], (3, 4)] %}{{ a }}{{ b }}{% endfor %}|{% for k, v in {'x': 1}.items() %}{{ k }}{{ v }}{% endfor %}", {}),
    ("for_unpack_error", "{% for a, b in [[1, 2, 3]] %}{{ a }}{% endfor %}", {}),
    ("for_nested_loop", "{% for i in [1, 2] %}{% for j in 'ab' %}{{ loop.index }}{{ i }}{{ j }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("for_break_continue", "{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}{% if x > 6 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("for_over_dict_and_string", "{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}|{% for c in 'hé🙂' %}[{{ c }}]{% endfor %}", {}),
    ("for_over_int_error", "{% for x in 5 %}{{ x }}{% endfor %}", {}),
    ("range", "{{ range(3)|list }} {{ range(1, 4)|list }} {{ range(10, 0, -3)|list }} {{ range(0)|list }}", {}),
    ("scoping_loop", "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}|{% for i in [1, 2] %}{% if i == 2 %}[{{ y }}]{% endif %}{% set y = i %}{% endfor %}[{{ y }}]", {}),
    ("scoping_if", "{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}", {}),
    ("namespace", "{% set ns = namespace(count=0, found=false, items=[]) %}{% for x in [1, 2, 3] %}{% set ns.count = ns.count + x %}{% if x == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }} {{ ns.items }} {{ ns.missing is defined }}", {}),
    ("namespace_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", {}),
    ("set_non_namespace_error", "{% set d = {'a': 1} %}{% set d.a = 2 %}{{ d.a }}", {}),
    ("set_tuple_unpack", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c, d = [3, 4] %}{{ c }}{{ d }}", {}),
    ("set_block", "{% set body %}Hello {{ name }}!\n{% endset %}[{{ body }}]{% set shout | upper | trim %} quiet {% endset %}[{{ shout }}]", {"name": "Ann"}),
    ("set_overrides_variable", "{{ x }}{% set x = 'local' %}{{ x }}", {"x": "global"}),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(name='Cy', punct='.') }} {{ greet() }}", {}),
    ("macro_sees_later_globals", "{% macro m() %}{{ g }}{% endmacro %}{% set g = 5 %}{{ m() }}", {}),
    ("macro_render_messages", "{% macro render(m) -%}\n<{{ m.role }}>{{ m.content }}</{{ m.role }}>\n{%- endmacro %}{% for m in ms %}{{ render(m) }}\n{% endfor %}", {"ms": MESSAGES}),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}|{% macro d(a, b=a * 2) %}{{ a }}{{ b }}{% endmacro %}{{ d(3) }}", {}),
    ("macro_unknown_keyword_error", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, z=2) }}", {}),
    ("break_outside_loop_error", "{% break %}", {}),
    ("break_in_macro_in_loop_error", "{% for x in [1] %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}", {}),
    ("break_in_for_else", "{% for x in [1, 2] %}{% for y in [] %}{% else %}{% break %}{% endfor %}{{ x }}{% endfor %}end", {}),
    ("macro_too_many_args_error", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}", {}),
    ("filter_block", "{% filter upper %}hello {{ name }}{% endfilter %}|{% filter replace('a', 'o') | trim %}  banana  {% endfilter %}|", {"name": "ann"}),
    ("percent_format", "{{ '%s and %s' % ('a', 1) }}|{{ '%d%%' % 42 }}|{{ '%5s|%-5s|%.2f|%03d|%r|%x' % ('ab', 'cd', 3.14159, 7, 'q', 255) }}|{{ '%(n)s=%(v)d' % {'n': 'x', 'v': 3} }}|{{ '%s'|format([1]) }}|{{ '%s-%s'|format('a', 'b') }}|{{ '%(a)s'|format(a=1) }}|{{ '%s' % none }}", {}),
    ("percent_format_error", "{{ '%s %s' % ('a',) }}", {}),
    ("with_block", "{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}[{{ a }}]", {}),
    ("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}|{%- raw -%}  {{ x }}  {%- endraw -%}  |", {}),
    ("comments", "a{# a comment #}b{#- stripped -#}  c {# multi\nline #}d", {}),
    ("dict_literal", "{% set d = {'a': 1, 'b': [1, 2], 'c': {'d': none}} %}{{ d }} {{ d.c.d }} {{ d['b'][1] }} {{ {'x': 1,}.x }} {{ [1, 2,] }}", {}),
    ("globals_dict", "{{ dict(a=1, b='x') }} {{ dict({'z': 0}, y=1) }}", {}),
    # raise_exception
    ("raise_exception", "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}ok", {"messages": MESSAGES}),
    ("raise_exception_not_reached", "{% if false %}{{ raise_exception('never') }}{% endif %}fine", {}),
    ("raise_exception_unicode", "{{ raise_exception('bad role: ' ~ r ~ ' — ünïcode') }}", {"r": "tool"}),
    # whitespace control
    ("ws_trim_blocks", "{% if true %}\nline\n{% endif %}\nafter\n", {}),
    ("ws_lstrip_blocks", "start\n    {% if true %}\n    indented\n    {% endif %}\nend", {}),
    ("ws_lstrip_not_variables", "x\n    {{ 'v' }}\n  {# c #}\ny", {}),
    ("ws_minus_both", "a   {%- if true -%}   b   {%- endif -%}   c", {}),
    ("ws_minus_newlines", "a\n\n  {{- 'x' -}}\n\n  b", {}),
    ("ws_plus_disables", "a\n    {%+ if true %}\nb\n    {%- endif +%}\nc", {}),
    ("ws_plus_comment", "a\n  {#+ c +#}\nb", {}),
    ("ws_lstrip_after_text", "text  {% if true %}x{% endif %}  \n  {% if true %}y{% endif %}", {}),
    ("ws_lstrip_after_variable", "{{ 'a' }}   {% if true %}b{% endif %}", {}),
    ("ws_trim_only_one_newline", "{% if true %}\n\nx{% endif %}\n\n", {}),
    ("ws_trailing_newline_dropped", "a\n", {}),
    ("ws_trailing_newlines_two", "a\n\n", {}),
    ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc\rd", {}),
    ("ws_minus_after_variable", "{{ 'a' -}}\n   \n b", {}),
    ("ws_unicode_space_strip", "a\u3000\u00a0 {{- 'b' -}} \u2003\nc", {}),
    ("ws_lstrip_tabs", "x\n\t \t{% if true %}y{% endif %}", {}),
    ("ws_lstrip_comment_line", "a\n  {# note #}\nb", {}),
    ("ws_block_at_start", "   {% if true %}x{% endif %}", {}),
    ("ws_minus_raw", "a  {%- raw %} r {% endraw -%}  b", {}),
    ("ws_dict_in_print", "{{ {'a': {'b': 1}} }}|{{ {'a': 1}['a'] }}", {}),
    # syntax errors
    ("syntax_unclosed_if", "line one\n{% if true %}\nno end", {}),
    ("syntax_unknown_tag", "{% frobnicate %}", {}),
    ("syntax_bad_expression", "ok\n  {{ 1 + }}", {}),
    ("syntax_unclosed_print", "{{ 'a' ", {}),
    ("syntax_unclosed_comment", "{# never closed", {}),
    ("syntax_stray_endfor", "{% endfor %}", {}),
    ("syntax_bracket_mismatch", "{{ (1, 2] }}", {}),
    ("syntax_unterminated_string", "{{ 'abc }}", {}),
    # a chat template in the style of many models: alternation checks, system folding, generation prompt
    ("chat_style_template",
     "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
     "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
     "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
     "{% if message['role'] == 'user' %}{{ '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
     {"messages": MESSAGES, "bos_token": "<s>", "eos_token": "</s>"}),
    ("chat_style_alternation_error",
     "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ message.content }}{% endfor %}",
     {"messages": MESSAGES}),
    ("chat_style_indented",
     "{%- for message in messages %}\n    {%- if message.role == 'user' %}\n        {{- '<start_of_turn>user\\n' + message.content | trim + '<end_of_turn>\\n' }}\n    {%- elif message.role == 'assistant' %}\n        {{- '<start_of_turn>model\\n' + message.content | trim + '<end_of_turn>\\n' }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<start_of_turn>model\\n' }}\n{%- endif %}\n",
     {"messages": MESSAGES[1:], "add_generation_prompt": True}),
    ("chat_style_tools_json",
     "{%- if tools %}{{- 'Tools:\\n' }}{%- for t in tools %}{{- t | tojson(indent=4) }}{{- '\\n\\n' }}{%- endfor %}{%- endif %}"
     "{%- for message in messages %}{%- if message.tool_calls is defined %}{%- for tc in message.tool_calls %}{{- '<call>' + tc.function | tojson + '</call>' }}{%- endfor %}{%- else %}{{- message.role + ': ' + message.content + '\\n' }}{%- endif %}{%- endfor %}",
     {"tools": TOOLS[:2], "messages": [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich"}}}]}]}),
]


def feature_goldens():
    rows = []
    names = set()
    for name, template, variables in FEATURES:
        assert name not in names, name
        names.add(name)
        row = {"name": name, "template": template, "variables": variables}
        row.update(render(template, variables))
        rows.append(row)
    return rows


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{path}: {len(rows)} rows")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test-data", default=os.path.join("build", "test-data"))
    args = parser.parse_args()
    major, minor = (int(x) for x in jinja2.__version__.split(".")[:2])
    assert (major, minor) >= (3, 1), f"jinja2 >= 3.1 needed (transformers requires it), found {jinja2.__version__}"
    os.makedirs(OUT_DIR, exist_ok=True)
    write_jsonl(os.path.join(OUT_DIR, "features.jsonl"), feature_goldens())
    for name in ("qwen3", "llama3"):
        write_jsonl(os.path.join(OUT_DIR, f"{name}.jsonl"), template_goldens(name, args.test_data))


if __name__ == "__main__":
    main()
