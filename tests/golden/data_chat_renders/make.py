#!/usr/bin/env python3
"""Renders of real chat templates (Qwen3, Llama 3) by Python jinja2, configured
as transformers' apply_chat_template configures it, for the conversations in
tests/data_chat_spans_test.cpp: every prefix messages[:n], with and without the
generation prompt. The test replays them to check where the assistant turns are
found. Run: python3 make.py build/test-data > renders.json (from this folder,
with the tokenizer_config.json files that scripts/fetch_test_data.sh fetches)."""
import json
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

CONVERSATIONS = [
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>\ngreet\n</think>\n\nHello!"},
     {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>add</think>4"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!", "reasoning_content": "greet"},
     {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye!", "reasoning_content": "part"}],
    [{"role": "user", "content": "Weather in Paris?"},
     {"role": "assistant", "content": "",
      "tool_calls": [{"type": "function", "function": {"name": "weather", "arguments": {"city": "Paris"}}}]},
     {"role": "tool", "content": "{\"celsius\": 21}"},
     {"role": "assistant", "content": "It is 21 C."}],
]


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def token(config, name):
    value = config.get(name)
    return value.get("content") if isinstance(value, dict) else value


def main(test_data):
    out = {}
    for model in ["qwen3", "llama3"]:
        config = json.load(open(f"{test_data}/{model}/tokenizer_config.json"))
        template = environment().from_string(config["chat_template"])
        renders = []
        for messages in CONVERSATIONS:
            by_prefix = {}
            for n in range(1, len(messages) + 1):
                for generation_prompt in (False, True):
                    try:
                        text = template.render(messages=messages[:n], add_generation_prompt=generation_prompt,
                                               tools=None, bos_token=token(config, "bos_token") or "",
                                               eos_token=token(config, "eos_token") or "")
                    except jinja2.exceptions.TemplateError as e:
                        text = None
                    by_prefix[f"{n}/{int(generation_prompt)}"] = text
            renders.append({"messages": messages, "renders": by_prefix})
        out[model] = renders
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


main(sys.argv[1])
