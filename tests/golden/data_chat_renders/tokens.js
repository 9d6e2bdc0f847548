#!/usr/bin/env node
// The expected tokens and loss bits of the Qwen3 conversations in renders.json,
// from Hugging Face's own `tokenizers` library (Node binding) and its offsets:
// the whole render is encoded once (add_special_tokens=false, as
// apply_chat_template(tokenize=True) does) and a token trains when its
// characters overlap one of the turns below — stated here independently of
// our span search, so the C++ test compares two derivations.
//   NODE_PATH=build/test-data/node_modules node tests/golden/data_chat_renders/tokens.js build/test-data \
//     > tests/golden/data_chat_renders/tokens.json
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const TURNS = [
  ['Hello!<|im_end|>', '<think>\n\n</think>\n\n4<|im_end|>'],
  ['Hello!<|im_end|>', '<think>\nadd\n</think>\n\n4<|im_end|>'],
  ['Hello!<|im_end|>', '<think>\npart\n</think>\n\nBye!<|im_end|>'],
  ['<tool_call>\n{"name": "weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>',
   '<think>\n\n</think>\n\nIt is 21 C.<|im_end|>'],
];

async function main() {
  const dataDir = process.argv[2] || 'build/test-data';
  const renders = JSON.parse(fs.readFileSync(path.join(__dirname, 'renders.json'), 'utf8')).qwen3;
  const tokenizer = Tokenizer.fromFile(path.join(dataDir, 'qwen3', 'tokenizer.json'));
  const out = [];
  for (let c = 0; c < renders.length; ++c) {
    const whole = renders[c].renders[`${renders[c].messages.length}/0`];
    const spans = [];
    let from = 0;
    for (const turn of TURNS[c]) {
      const at = whole.indexOf(turn, from);
      if (at < 0) throw new Error(`turn not found in conversation ${c}: ${turn}`);
      spans.push([at, at + turn.length]);
      from = at + turn.length;
    }
    const encoding = await tokenizer.encode(whole, null, { addSpecialTokens: false });
    const ids = encoding.getIds();
    const mask = encoding.getOffsets().map(([b, e]) => (spans.some(([s, t]) => b < t && e > s) ? 1 : 0));
    out.push({ ids: Array.from(ids), mask });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main();
