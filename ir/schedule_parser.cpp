// Parser of the schedule IR's text form (see schedule_printer.cpp): the
// inverse of print_schedule. It checks what the text alone can show — names
// resolve, numbers are integers, ranges are not reversed, events are declared
// — and leaves ordering and races to verify_schedule. Optional parts of an
// instruction must sit on its line, which is what keeps a stage name apart
// from the stream word that starts the next instruction.
#include <cctype>
#include <charconv>

#include "ir/schedule.h"
#include "ir/text_parser.h"
#include "support/error.h"

namespace horizon::ir {
namespace {

class Parser : TextParser {
 public:
  Parser(const std::string& text, const std::string& file) : TextParser(text, file) {}

  Schedule schedule() {
    keyword("schedule");
    s_.model = expect(Token::string, "a quoted model name").text;
    punct("{");
    keyword("config");
    config();
    keyword("events");
    s_.events = static_cast<int>(integer("the number of events", 0, 1 << 30));
    while (is_ident("buffer")) buffer();
    while (is_ident("arena")) arena();
    while (tok_.kind == Token::ident && parse_stream(tok_.text)) instr();
    if (!is_punct("}")) error("expected a buffer, arena plan, instruction (STREAM OP ...) or '}'");
    take();
    if (tok_.kind != Token::end) error("text after the end of the schedule");
    return std::move(s_);
  }

 private:
  void config() {
    ScheduleConfig& c = s_.config;
    struct Key {
      const char* name;
      int64_t* value;
      bool* flag;
    };
    const Key keys[] = {{"batch", &c.batch, nullptr},
                        {"seq", &c.seq, nullptr},
                        {"micro_batches", &c.micro_batches, nullptr},
                        {"checkpoint_every", &c.checkpoint_every, nullptr},
                        {"slots", &c.slots, nullptr},
                        {"prefetch", &c.prefetch, nullptr},
                        {"host_checkpoints", nullptr, &c.host_checkpoints},
                        {"clip", nullptr, &c.clip},
                        {"bf16_gradients", nullptr, &c.bf16_gradients}};
    std::vector<std::string> seen;
    punct("{");
    while (!is_punct("}")) {
      Token k = expect(Token::ident, "a config key");
      const Key* key = nullptr;
      for (const Key& candidate : keys)
        if (k.text == candidate.name) key = &candidate;
      if (!key)
        error_at(k, "unknown config key '" + k.text + "'",
                 "keys are batch, seq, micro_batches, checkpoint_every, slots, prefetch, host_checkpoints, clip, "
                 "bf16_gradients");
      for (const std::string& s : seen)
        if (s == k.text) error_at(k, "config key '" + k.text + "' is given twice");
      seen.push_back(k.text);
      punct("=");
      if (key->value)
        *key->value = integer("an integer", INT64_MIN, INT64_MAX);
      else
        *key->flag = integer("0 or 1", 0, 1) != 0;
      if (!is_punct("}")) punct(",");
    }
    take();
  }

  void buffer() {
    take();
    Token name = expect(Token::value, "a %buffer name");
    if (s_.find_buffer(name.text) >= 0) error_at(name, "buffer %" + name.text + " is declared twice", "rename one");
    punct(":");
    Token place = expect(Token::ident, "gpu or host");
    auto p = parse_place(place.text);
    if (!p) error_at(place, "unknown place '" + place.text + "'", "use gpu or host");
    Token kind = expect(Token::ident, "a buffer kind");
    auto k = parse_buffer_kind(kind.text);
    if (!k)
      error_at(kind, "unknown buffer kind '" + kind.text + "'",
               "use store, weight_slot, activations, checkpoint, gradient, grad_slab, workspace, batch_data, "
               "resident or kept");
    s_.add_buffer(name.text, *p, *k, integer("the buffer size in bytes", 0, INT64_MAX));
  }

  void arena() {
    take();
    ArenaPlan a;
    a.stage = expect(Token::ident, "a stage name").text;
    a.bytes = integer("the arena size in bytes", 0, INT64_MAX);
    keyword("values");
    placements("value", a.offsets, a.sizes);
    if (is_ident("scratch")) {
      take();
      placements("instruction", a.scratch_offsets, a.scratch_sizes);
    }
    s_.arena_plans.push_back(std::move(a));
  }

  // `N {INDEX = OFFSET + SIZE, ...}` into per-index vectors of length N.
  void placements(const std::string& what, std::vector<int64_t>& offsets, std::vector<int64_t>& sizes) {
    int64_t n = integer("the stage's " + what + " count", 0, 1 << 24);
    offsets.assign(n, -1);
    sizes.assign(n, 0);
    std::vector<bool> listed(n, false);
    punct("{");
    while (!is_punct("}")) {
      Token at = tok_;
      int64_t v = integer("a " + what + " index", 0, INT64_MAX);
      if (v >= n)
        error_at(at, what + " " + at.text + " is out of range",
                 "the plan declares " + std::to_string(n) + " " + what + "s");
      if (listed[v]) error_at(at, what + " " + at.text + " is placed twice");
      listed[v] = true;
      punct("=");
      offsets[v] = integer("an offset", -1, INT64_MAX);
      punct("+");
      sizes[v] = integer("a size", 0, INT64_MAX);
      if (!is_punct("}")) punct(",");
    }
    take();
  }

  void instr() {
    SchedInstr in;
    Token stream = take();
    in.stream = *parse_stream(stream.text);
    int line = stream.line;
    Token op = expect(Token::ident, "an instruction name");
    auto o = parse_sched_op(op.text);
    if (!o) error_at(op, "unknown instruction '" + op.text + "'", "see docs/schedule-ir.md for the instructions");
    in.op = *o;
    auto on_line = [&] { return tok_.kind != Token::end && tok_.line == line; };
    if (on_line() && tok_.kind == Token::ident && tok_.text != "mb" && tok_.text != "accumulate")
      in.stage = take().text;
    if (on_line() && is_punct("[")) {
      take();
      in.instance = integer("an instance index", 0, INT64_MAX);
      punct("]");
    }
    if (on_line() && is_ident("mb")) {
      take();
      punct("=");
      in.micro_batch = integer("a micro-batch index", 0, INT64_MAX);
    }
    if (on_line() && is_ident("accumulate")) take(), in.accumulate = true;
    if (on_line() && tok_.kind == Token::event) in.event = event();
    if (on_line() && is_punct("(")) {
      take();
      do {
        if (!in.operands.empty()) punct(",");
        in.operands.push_back(operand());
      } while (!is_punct(")"));
      take();
    }
    if (on_line()) error("expected the end of the instruction's line");
    s_.instrs.push_back(std::move(in));
  }

  int event() {
    Token t = take();
    int64_t n = -1;
    if (t.text.size() > 1 && t.text[0] == 'e') {
      auto [end, ec] = std::from_chars(t.text.data() + 1, t.text.data() + t.text.size(), n);
      if (ec != std::errc() || end != t.text.data() + t.text.size()) n = -1;
    }
    if (n < 0) error_at(t, "malformed event '^" + t.text + "'", "events are written ^e0, ^e1, ...");
    if (n >= s_.events)
      error_at(t, "event ^" + t.text + " is out of range",
               "the schedule declares " + std::to_string(s_.events) + " events (raise 'events')");
    return static_cast<int>(n);
  }

  Operand operand() {
    Operand op;
    if (tok_.kind == Token::ident) {
      op.role = take().text;
      punct(":");
    }
    Token name = expect(Token::value, "a %buffer[begin:end] range");
    op.range.buffer = s_.find_buffer(name.text);
    if (op.range.buffer < 0) error_at(name, "use of undeclared buffer %" + name.text, "declare it with 'buffer'");
    punct("[");
    Token begin = tok_;
    op.range.offset = integer("a byte offset", 0, INT64_MAX);
    punct(":");
    int64_t end = integer("an end offset", 0, INT64_MAX);
    if (end < op.range.offset)
      error_at(begin, "range [" + begin.text + ":" + std::to_string(end) + "] ends before it begins");
    op.range.bytes = end - op.range.offset;
    punct("]");
    Token access = expect(Token::ident, "r or w");
    if (access.text != "r" && access.text != "w") error_at(access, "access must be r or w, got '" + access.text + "'");
    op.write = access.text == "w";
    return op;
  }

  int64_t integer(const std::string& what, int64_t lo, int64_t hi) {
    if (tok_.kind != Token::number) error("expected " + what);
    int64_t v = 0;
    const std::string& s = tok_.text;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size())
      error_at(tok_, "'" + s + "' is not an integer", "expected " + what);
    if (v < lo || v > hi)
      error_at(tok_, "'" + s + "' is out of range for " + what,
               "expected " + std::to_string(lo) + " to " + std::to_string(hi));
    take();
    return v;
  }

  Schedule s_;
};

}  // namespace

Schedule parse_schedule(const std::string& text, const std::string& file) { return Parser(text, file).schedule(); }

}  // namespace horizon::ir
