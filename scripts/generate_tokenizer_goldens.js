#!/usr/bin/env node
// Golden IDs for tests/hf_tokenizer_test.cpp from Hugging Face's own
// `tokenizers` library (its Node binding, fetched by scripts/fetch_test_data.sh).
// Deterministic: the same strings and the same files on every run.
//   NODE_PATH=build/test-data/node_modules node scripts/generate_tokenizer_goldens.js [build/test-data]
// Writes tests/golden/tokenizers/{qwen3,llama3,llama2}.jsonl and one file per variant of
// tests/golden/tokenizers/variants.json (components the real files do not use), one object per line:
//   {"text": T, "ids": [...]}                    encode(T, add_special_tokens=false)
//   "special": [...]                             encode(T, add_special_tokens=true), every 4th line
//   "decoded": D                                 decode(ids) when it is not T (absent = round trip)
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const dataDir = process.argv[2] || 'build/test-data';
const outDir = path.join(__dirname, '..', 'tests', 'golden', 'tokenizers');
const COUNT = 3200;

// mulberry32: a small seeded generator, so the strings never change.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const english = ('the of and to in is was it for that on as with by he at from his an were are which this be or ' +
  'had not but first one their its new after who they have her she two been other when there all during into ' +
  'school time may years more most only over city some world would where later up such used many can state about ' +
  'national out known university united then made Hello World Tokenizer Horizon GPU training memory running ' +
  'naïve café résumé coöperate façade Zürich São Paulo Ærøskøbing Łódź İstanbul straße ﬁnance').split(' ');
const scripts = {
  chinese: '的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从',
  japanese: 'あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンー漢字東京日本語',
  korean: '가나다라마바사아자차카타파하한국어안녕하세요감사합니다대한민국서울',
  arabic: 'ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأؤإئةى ٠١٢٣٤٥٦٧٨٩ السلام عليكم',
  hebrew: 'אבגדהוזחטיכלמנסעפצקרשתםןףךץ שלום',
  devanagari: 'अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह़ािीुूृेैोौंःँ्नमस्ते हिन्दी',
  thai: 'กขคงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮะัาำิีึืุูเแโใไ่้๊๋็์สวัสดีครับภาษาไทย',
  cyrillic: 'абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ Привет мир',
  greek: 'αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ Καλημέρα',
  latin: 'àáâãäåæçèéêëìíîïðñòóôõöøùúúûüýþÿĀāĂăĄąĆćĈĉŒœŠšŸŽžƒǅǈǋ ẞ ḁ ṩ Tiếng Việt',
};
const emoji = ['😀', '😂', '🤖', '👍', '👍🏽', '👩🏿‍💻', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇺🇸', '🇯🇵', '1️⃣', '❤️', '✨', '🚀',
  '🧑🏻‍🤝‍🧑🏾', '👁️‍🗨️', '🐈‍⬛', '🫠', '©', '™', '☃', '♀️', '🏽'];
const combining = ['e\u0301', 'a\u0308', 'n\u0303', 'o\u0302\u0301', 'A\u030A', '\u212B', '\u1100\u1161\u11A8',
  'u\u031B\u0309', '\u0301', 'ﬀ', 'Ⅻ', '①', 'ｆｕｌｌｗｉｄｔｈ', '\u0928\u093C', 'ç\u0327', 'ḱ\u0323'];
const whitespace = [' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\r\n', '\r\n\r\n', ' \n ', '\u00A0', '\u3000',
  '\u2028', '\u2003', ' \t ', '\n\n\n', '    ', '\r', '\v', '\f', '\u0085', '\u200B'];
const oddValid = ['\uFFFD', '\uFEFF', '\u0000', '\u0001', '\u007F', '\uE000', '\uFFFF', '\u{10FFFF}', '\u{1D11E}',
  '\u200D', '\uFE0F', '\u{E0041}', 'Ġ', 'Ċ', 'âĢĻ', '▁', '<0x0A>', '<0xFF>', '\u00AD', 'ﬁ', '\u0600', '\u061C'];
const code = ['def f(x):\n    return x * 2\n', 'for (int i = 0; i < n; ++i) { sum += a[i]; }', '{"key": [1, 2.5, null]}',
  '#include <vector>\n', 'SELECT * FROM users WHERE id = 42;', 'x=>x**2', 'if (a && b || !c) return;',
  '<div class="a">text</div>', '$ ls -la ~/.cache | grep -v "^d"', 'let s = `${a}+${b}`;', '    \tindented\n',
  "print('it''s')", 'fn main() -> Result<(), Box<dyn Error>> {}', '/* comment */ // another', 'a_b__c___d'];
const urls = ['https://huggingface.co/Qwen/Qwen3-0.6B/blob/main/tokenizer.json', 'http://example.com/a?b=c&d=e#f',
  'mailto:someone@example.org', 'ftp://files.example.net/pub/file-1.2.3.tar.gz', 'www.wikipedia.org/wiki/Ü',
  'user.name+tag@domain.co.uk', 'C:\\Users\\name\\file.txt', '/usr/share/games/fortunes'];
const contractions = ["don't", "I'M", "we'LL", "they've", "she'd", "it's", "'s", "O'Neil", "rock'n'roll", "y'all",
  "I'd've", "'re", "'ll'll"];

function specialsFor(file) {
  const added = JSON.parse(fs.readFileSync(file, 'utf8')).added_tokens.map(t => t.content);
  const nearMiss = [];
  for (const t of added.slice(0, 6)) {
    nearMiss.push(t.slice(0, -1), t.slice(1), t.toUpperCase(), ' ' + t + ' ', t + t);
  }
  return { added, nearMiss };
}

function makeStrings(specials) {
  const r = rng(20261202);
  const pick = a => a[Math.floor(r() * a.length)];
  const scriptNames = Object.keys(scripts);
  const word = () => pick(english);
  const scriptRun = () => {
    const s = Array.from(scripts[pick(scriptNames)]);
    const n = 1 + Math.floor(r() * 12);
    let out = '';
    for (let i = 0; i < n; ++i) out += pick(s);
    return out;
  };
  const number = () => {
    const kind = Math.floor(r() * 5);
    const digits = n => { let s = ''; for (let i = 0; i < n; ++i) s += Math.floor(r() * 10); return s; };
    if (kind === 0) return digits(1 + Math.floor(r() * 4));
    if (kind === 1) return digits(8 + Math.floor(r() * 30));
    if (kind === 2) return digits(1 + Math.floor(r() * 3)) + '.' + digits(1 + Math.floor(r() * 6));
    if (kind === 3) return digits(1) + ',' + digits(3) + ',' + digits(3);
    return '٣٤' + digits(2) + '१२३';
  };
  const parts = [
    () => word(), () => word(), () => word(), () => ' ' + word(), () => word()[0].toUpperCase() + word().slice(1),
    () => scriptRun(), () => pick(emoji), () => pick(combining), () => pick(whitespace), () => number(),
    () => pick(code), () => pick(urls), () => pick(contractions), () => pick(oddValid), () => pick(specials.added),
    () => pick(specials.nearMiss), () => pick('.,;:!?-—…"\'()[]{}<>/\\|@#$%^&*_+=~`'.split('')),
  ];
  const weights = [6, 6, 6, 6, 2, 4, 2, 2, 4, 2, 1, 1, 1, 1, 1, 1, 3];
  const total = weights.reduce((a, b) => a + b, 0);
  const part = () => {
    let x = r() * total;
    for (let i = 0; i < parts.length; ++i) { x -= weights[i]; if (x < 0) return parts[i](); }
    return parts[0]();
  };
  const fixed = ['', ' ', '  ', '\n', 'a', 'Hello world', ' Hello world', 'Hello  world ', '\r\n', '\t\tx\t',
    'The quick brown fox jumps over the lazy dog.', '12345678901234567890', ...specials.added.slice(0, 40),
    ...oddValid, ...combining, ...emoji, ...whitespace, ...code, ...urls, ...contractions,
    ...Object.values(scripts)];
  const out = [...fixed];
  while (out.length < COUNT) {
    const n = 1 + Math.floor(r() * (r() < 0.2 ? 60 : 16));
    let s = '';
    for (let i = 0; i < n; ++i) {
      const p = part();
      s += (r() < 0.55 && !/^\s/.test(p) ? ' ' : '') + p;
    }
    out.push(s);
  }
  return out;
}

// A variant of tests/golden/tokenizers/variants.json as tokenizer.json text.
function variantJson(spec) {
  const doc = JSON.parse(fs.readFileSync(path.join(dataDir, spec.base, 'tokenizer.json'), 'utf8'));
  Object.assign(doc, spec.set || {});
  doc.added_tokens = doc.added_tokens.concat(spec.add_tokens || []);
  return JSON.stringify(doc);
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const variants = JSON.parse(fs.readFileSync(path.join(outDir, 'variants.json'), 'utf8'));
  const names = ['qwen3', 'llama3', 'llama2', ...Object.keys(variants).filter(k => k !== 'comment')];
  for (const name of names) {
    const real = !variants[name];
    const file = path.join(dataDir, real ? name : variants[name].base, 'tokenizer.json');
    const tokenizer = real ? Tokenizer.fromFile(file) : Tokenizer.fromString(variantJson(variants[name]));
    const specials = specialsFor(file);
    if (!real) {
      for (const t of variants[name].add_tokens || []) specials.added.push(t.content, ' ' + t.content + ' ', 'x' + t.content + 'y');
      specials.added.push('hello world', 'Hello world', 'a word here', 'words', '\tx\t\ty', '1.5, 20!');
    }
    // Real files: 3200 strings each; variants: 800 (they only add coverage of components).
    const strings = makeStrings(specials).slice(0, real ? COUNT : 800);
    const lines = [];
    for (let i = 0; i < strings.length; ++i) {
      const text = strings[i];
      const ids = Array.from((await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds());
      const entry = { text, ids };
      if (i % 4 === 0)
        entry.special = Array.from((await tokenizer.encode(text, null, { addSpecialTokens: true })).getIds());
      const decoded = await tokenizer.decode(ids, false);
      if (decoded !== text) entry.decoded = decoded;
      lines.push(JSON.stringify(entry));
    }
    fs.writeFileSync(path.join(outDir, name + '.jsonl'), lines.join('\n') + '\n');
    const roundTrips = lines.filter(l => !l.includes('"decoded"')).length;
    console.log(`${name}: ${lines.length} strings, ${roundTrips} round trip exactly`);
  }
})();
