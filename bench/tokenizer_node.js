#!/usr/bin/env node
// The same measurement as bench_tokenizer with Hugging Face's `tokenizers`
// (Node binding): encodeBatch over the same documents, which the library
// spreads over its Rayon pool; run with RAYON_NUM_THREADS=1 for one thread.
//   NODE_PATH=build/test-data/node_modules [RAYON_NUM_THREADS=1] \
//     node bench/tokenizer_node.js TOKENIZER_JSON FILE... [--repeat N]
// Documents are split as bench_tokenizer splits them.
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

function documents(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (file.endsWith('.jsonl')) return lines.map(l => JSON.parse(l).text);
  if (!lines.includes('%')) return lines.map(l => l + '\n');
  const docs = [];
  let doc = '';
  for (const line of lines) {
    if (line === '%') { if (doc) docs.push(doc); doc = ''; } else doc += line + '\n';
  }
  if (doc) docs.push(doc);
  return docs;
}

(async () => {
  const args = process.argv.slice(2);
  let repeat = 1;
  const files = [];
  for (let i = 1; i < args.length; ++i) {
    if (args[i] === '--repeat') repeat = Number(args[++i]);
    else files.push(args[i]);
  }
  let t0 = process.hrtime.bigint();
  const tokenizer = Tokenizer.fromFile(args[0]);
  console.log(`tokenizer ${args[0]}: loaded in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2)} s`);
  const threads = process.env.RAYON_NUM_THREADS || 'all';
  for (const file of files) {
    const once = documents(file);
    let docs = [];
    for (let r = 0; r < repeat; ++r) docs = docs.concat(once);
    const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d, 'utf8'), 0);
    const first = await tokenizer.encodeBatch(once, { addSpecialTokens: false });
    const tokens = first.reduce((n, e) => n + e.getIds().length, 0) * repeat;
    console.log(`${file}: ${docs.length} documents, ${(bytes / 1e6).toFixed(1)} MB, ${tokens} tokens`);
    // A fresh tokenizer: cold word caches, as in bench_tokenizer.
    const fresh = Tokenizer.fromFile(args[0]);
    t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    await fresh.encodeBatch(docs, { addSpecialTokens: false });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const used = process.cpuUsage(cpu0);
    const cpu = (used.user + used.system) / 1e6;
    console.log(`  ${threads} threads: ${wall.toFixed(2)} s, ${(bytes / 1e6 / wall).toFixed(1)} MB/s; ` +
                `${cpu.toFixed(2)} CPU s, ${(bytes / 1e6 / cpu).toFixed(1)} MB per CPU second`);
  }
})();
