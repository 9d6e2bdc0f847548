#include "ir/parser.h"

#include <cctype>
#include <cstdlib>

#include "ir/text_parser.h"
#include "support/error.h"

namespace horizon::ir {
namespace {

class Parser : TextParser {
 public:
  Parser(const std::string& text, const std::string& file) : TextParser(text, file) {}

  Module module() {
    Module m;
    keyword("module");
    m.name = expect(Token::string, "a quoted module name").text;
    punct("{");
    keyword("config");
    punct("{");
    while (!is_punct("}")) {
      std::string key = expect(Token::ident, "a config key").text;
      punct("=");
      m.config.emplace_back(key, attr_value());
      if (!is_punct("}")) punct(",");
    }
    punct("}");
    while (is_ident("stage")) m.stages.push_back(stage());
    punct("}");
    if (tok_.kind != Token::end) error("text after the end of the module");
    return m;
  }

 private:
  Stage stage() {
    keyword("stage");
    Stage s;
    s.name = expect(Token::ident, "a stage name").text;
    if (is_ident("repeat")) {
      take();
      s.instances = std::stoll(expect(Token::number, "an instance count").text);
    }
    punct("{");
    while (!is_punct("}")) {
      if (is_ident("in")) {
        take();
        auto [name, line] = new_value_name(s);
        punct(":");
        s.inputs.push_back(s.add_value(name, type(), ValueKind::input));
      } else if (is_ident("param")) {
        take();
        param(s);
      } else if (is_ident("out")) {
        take();
        s.outputs.push_back(use(s));
      } else if (is_ident("grad")) {
        take();
        grad(s);
      } else if (tok_.kind == Token::value) {
        instr(s);
      } else {
        error("expected 'in', 'param', '%value = op(...)', 'out', 'grad' or '}'");
      }
    }
    punct("}");
    return s;
  }

  void param(Stage& s) {
    auto [name, line] = new_value_name(s);
    punct(":");
    Param p;
    p.value = s.add_value(name, type(), ValueKind::param);
    p.checkpoint_name = expect(Token::string, "the quoted checkpoint name").text;
    keyword("init");
    punct("=");
    const Token init = expect(Token::ident, "normal(STD), ones or zeros");
    if (init.text == "normal") {
      punct("(");
      p.init.std = std::strtod(expect(Token::number, "a standard deviation").text.c_str(), nullptr);
      punct(")");
    } else if (init.text == "ones") {
      p.init.kind = Init::Kind::ones;
    } else if (init.text == "zeros") {
      p.init.kind = Init::Kind::zeros;
    } else {
      error_at(init, "unknown init '" + init.text + "'", "use normal(STD), ones or zeros");
    }
    if (is_ident("nodecay")) take(), p.decay = false;
    s.params.push_back(p);
  }

  void grad(Stage& s) {
    int pv = use(s);
    int index = -1;
    for (size_t i = 0; i < s.params.size(); ++i)
      if (s.params[i].value == pv) index = static_cast<int>(i);
    if (index < 0) error("grad names %" + s.values[pv].name + ", which is not a parameter");
    punct("=");
    s.grads.push_back(ParamGrad{index, use(s)});
  }

  void instr(Stage& s) {
    std::vector<std::pair<std::string, TensorType>> results;
    do {
      if (!results.empty()) take();  // ','
      auto [name, line] = new_value_name(s);
      for (auto& r : results)
        if (r.first == name) error("%" + name + " is defined twice");
      punct(":");
      results.emplace_back(name, type());
    } while (is_punct(","));
    punct("=");
    Token op_tok = expect(Token::ident, "an op name");
    auto op = parse_op(op_tok.text);
    if (!op) error_at(op_tok, "unknown op '" + op_tok.text + "'", "see ir/ops.def for the op table");
    Instr in{*op, {}, {}, {}};
    punct("(");
    while (!is_punct(")")) {
      in.operands.push_back(use(s));
      if (!is_punct(")")) punct(",");
    }
    punct(")");
    if (is_punct("{")) {
      take();
      while (!is_punct("}")) {
        std::string key = expect(Token::ident, "an attribute name").text;
        punct("=");
        in.attrs[key] = attr_value();
        if (!is_punct("}")) punct(",");
      }
      punct("}");
    }
    for (auto& [name, t] : results) in.results.push_back(s.add_value(name, t, ValueKind::result));
    s.instrs.push_back(std::move(in));
  }

  std::pair<std::string, int> new_value_name(const Stage& s) {
    Token t = expect(Token::value, "a %value name");
    if (s.find_value(t.text) >= 0)
      error_at(t, "%" + t.text + " is defined twice", "values are SSA: give it a new name");
    return {t.text, t.line};
  }

  int use(const Stage& s) {
    Token t = expect(Token::value, "a %value");
    int v = s.find_value(t.text);
    if (v < 0) error_at(t, "use of undefined %" + t.text, "define it before its first use");
    return v;
  }

  TensorType type() {
    Token t = expect(Token::ident, "a dtype (f32, bf16, f16, i32)");
    auto dt = parse_dtype(t.text);
    if (!dt) error_at(t, "unknown dtype '" + t.text + "'", "use f32, bf16, f16 or i32");
    TensorType tt{*dt, {}};
    punct("[");
    while (!is_punct("]")) {
      if (is_ident("B"))
        take(), tt.shape.push_back(Dim::batch());
      else if (is_ident("S"))
        take(), tt.shape.push_back(Dim::seq());
      else
        tt.shape.push_back(Dim::of(std::stoll(expect(Token::number, "a dimension (integer, B or S)").text)));
      if (!is_punct("]")) punct(",");
    }
    punct("]");
    return tt;
  }

  AttrValue attr_value() {
    if (tok_.kind == Token::string) return take().text;
    Token t = expect(Token::number, "a number or a quoted string");
    if (t.text.find_first_of(".eEn") != std::string::npos) return std::strtod(t.text.c_str(), nullptr);
    return static_cast<int64_t>(std::stoll(t.text));
  }
};

}  // namespace

Module parse_module(const std::string& text, const std::string& file) { return Parser(text, file).module(); }

}  // namespace horizon::ir
