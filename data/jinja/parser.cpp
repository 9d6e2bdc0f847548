// Recursive-descent parser following jinja2's parser.py grammar (see parser.h).
#include "data/jinja/parser.h"

#include <cctype>
#include <charconv>
#include <initializer_list>

namespace horizon::data::jinja {
namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Template run() {
    Template t;
    t.body = parse_body({}, nullptr);
    if (current().type != TokenType::kEnd) fail(current(), "unexpected " + describe(current()));
    return t;
  }

 private:
  // ---- token stream
  const Token& current() const { return tokens_[pos_]; }
  const Token& peek(size_t ahead = 1) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  [[noreturn]] void fail(const Token& at, const std::string& message) const { throw SyntaxError{at.where, message}; }
  bool is_op(const char* op, const Token& t) const { return t.type == TokenType::kOperator && t.text == op; }
  bool is_op(const char* op) const { return is_op(op, current()); }
  bool is_name(const char* name, const Token& t) const { return t.type == TokenType::kName && t.text == name; }
  bool is_name(const char* name) const { return is_name(name, current()); }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(current(), std::string("expected '") + op + "', got " + describe(current()));
  }
  std::string expect_name() {
    if (current().type != TokenType::kName) fail(current(), "expected a name, got " + describe(current()));
    return next().text;
  }
  void expect_block_end() {
    if (current().type != TokenType::kBlockEnd)
      fail(current(), "expected end of statement block, got " + describe(current()));
    next();
  }

  struct DepthGuard {
    DepthGuard(Parser& p, const Token& at) : parser(p) {
      if (++parser.depth_ > kMaxNestingDepth)
        parser.fail(at, "nesting deeper than " + std::to_string(kMaxNestingDepth) + " levels");
    }
    ~DepthGuard() { --parser.depth_; }
    Parser& parser;
  };

  static ExprPtr make(ExprKind kind, Location where) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->where = where;
    return e;
  }
  static StmtPtr make_stmt(StmtKind kind, Location where) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->where = where;
    return s;
  }

  // ---- statements
  // Statements until `{% <one of end_tags>`; leaves the stream at that tag's
  // name (`*stopped` says which) or at the end of the template.
  Body parse_body(std::initializer_list<const char*> end_tags, std::string* stopped) {
    Body body;
    while (current().type != TokenType::kEnd) {
      const Token& t = current();
      if (t.type == TokenType::kData) {
        auto s = make_stmt(StmtKind::kText, t.where);
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == TokenType::kVariableBegin) {
        next();
        auto s = make_stmt(StmtKind::kPrint, t.where);
        s->expr = parse_tuple(false);
        if (current().type != TokenType::kVariableEnd)
          fail(current(), "expected end of print statement, got " + describe(current()));
        next();
        body.push_back(std::move(s));
      } else if (t.type == TokenType::kBlockBegin) {
        next();
        for (const char* tag : end_tags)
          if (is_name(tag)) {
            if (stopped) *stopped = tag;
            return body;
          }
        body.push_back(parse_statement());
        expect_block_end();
      } else {
        fail(t, "unexpected " + describe(t));
      }
    }
    if (end_tags.size() != 0) {
      std::string names;
      for (const char* tag : end_tags) names += std::string(names.empty() ? "'" : " or '") + tag + "'";
      fail(current(), "unexpected end of template, expected " + names);
    }
    return body;
  }

  // A block's body through its end tag, which is consumed.
  Body parse_block_body(const char* end_tag) {
    expect_block_end();
    std::string stopped;
    Body body = parse_body({end_tag}, &stopped);
    next();
    return body;
  }

  StmtPtr parse_statement() {
    const Token& t = current();
    DepthGuard guard(*this, t);
    if (t.type != TokenType::kName) fail(t, "tag name expected, got " + describe(t));
    const std::string tag = t.text;
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "with") return parse_with();
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail(t, "'" + tag + "' outside loop");
      next();
      return make_stmt(tag == "break" ? StmtKind::kBreak : StmtKind::kContinue, t.where);
    }
    if (tag == "filter") {
      next();
      auto s = make_stmt(StmtKind::kFilterBlock, t.where);
      s->filter = parse_filters(make(ExprKind::kName, current().where), true);
      s->body = parse_block_body("endfilter");
      return s;
    }
    if (tag == "generation") {
      next();
      auto s = make_stmt(StmtKind::kGeneration, t.where);
      s->body = parse_block_body("endgeneration");
      return s;
    }
    fail(t, "encountered unknown tag '" + tag + "'" +
                (tag.rfind("end", 0) == 0 || tag == "elif" || tag == "else" ? " (no open block expects it)" : ""));
  }

  StmtPtr parse_if() {
    auto s = make_stmt(StmtKind::kIf, next().where);
    while (true) {
      s->conditions.push_back(parse_tuple(true));
      expect_block_end();
      std::string stopped;
      s->bodies.push_back(parse_body({"elif", "else", "endif"}, &stopped));
      next();
      if (stopped == "elif") continue;
      if (stopped == "else") s->else_body = parse_block_body("endif");
      return s;
    }
  }

  Target parse_target(bool with_namespace, const char* end_name) {
    Target target;
    target.names.push_back(expect_name());
    if (with_namespace && skip_op(".")) {
      target.attribute = expect_name();
      return target;
    }
    while (skip_op(",")) {
      target.unpack = true;
      if (is_name(end_name) || is_op("=")) break;
      target.names.push_back(expect_name());
    }
    return target;
  }

  StmtPtr parse_for() {
    auto s = make_stmt(StmtKind::kFor, next().where);
    s->target = parse_target(false, "in");
    if (!skip_name("in")) fail(current(), "expected 'in', got " + describe(current()));
    s->expr = parse_tuple(true);
    if (skip_name("if")) s->filter = parse_expression();
    if (is_name("recursive")) fail(current(), "recursive for loops are not supported");
    expect_block_end();
    std::string stopped;
    ++loop_depth_;
    s->body = parse_body({"endfor", "else"}, &stopped);
    --loop_depth_;
    next();
    if (stopped == "else") s->else_body = parse_block_body("endfor");
    return s;
  }

  StmtPtr parse_set() {
    auto s = make_stmt(StmtKind::kSet, next().where);
    s->target = parse_target(true, "");
    if (skip_op("=")) {
      s->expr = parse_tuple(false);
      return s;
    }
    s->kind = StmtKind::kSetBlock;
    if (is_op("|")) s->filter = parse_filters(make(ExprKind::kName, current().where));
    s->body = parse_block_body("endset");
    return s;
  }

  StmtPtr parse_macro() {
    auto s = make_stmt(StmtKind::kMacro, next().where);
    s->name = expect_name();
    expect_op("(");
    while (!is_op(")")) {
      if (!s->params.empty()) expect_op(",");
      if (is_op(")")) break;
      std::string param = expect_name();
      ExprPtr default_value;
      if (skip_op("=")) default_value = parse_expression();
      s->params.emplace_back(std::move(param), std::move(default_value));
    }
    next();
    const int enclosing_loops = loop_depth_;
    loop_depth_ = 0;  // a loop around the definition is not around the body
    s->body = parse_block_body("endmacro");
    loop_depth_ = enclosing_loops;
    s->takes_varargs = names_variable(s->body, "varargs");
    s->takes_kwargs = names_variable(s->body, "kwargs");
    return s;
  }

  StmtPtr parse_with() {
    auto s = make_stmt(StmtKind::kWith, next().where);
    while (current().type != TokenType::kBlockEnd) {
      if (!s->params.empty()) expect_op(",");
      std::string name = expect_name();
      expect_op("=");
      s->params.emplace_back(std::move(name), parse_expression());
    }
    s->body = parse_block_body("endwith");
    return s;
  }

  // ---- expressions, lowest precedence first (jinja2's parse_* chain)
  // parse_tuple: `a, b` is a tuple; `without_condition` parses no inline if.
  ExprPtr parse_tuple(bool without_condition) {
    const Location where = current().where;
    std::vector<ExprPtr> items;
    bool tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end()) break;
      items.push_back(without_condition ? parse_or() : parse_expression());
      if (is_op(",")) {
        tuple = true;
      } else {
        break;
      }
    }
    if (!tuple) {
      if (items.empty()) fail(current(), "expected an expression, got " + describe(current()));
      return std::move(items[0]);
    }
    auto e = make(ExprKind::kTuple, where);
    e->operands = std::move(items);
    return e;
  }

  bool is_tuple_end() const {
    const Token& t = current();
    return t.type == TokenType::kVariableEnd || t.type == TokenType::kBlockEnd || t.type == TokenType::kEnd ||
           is_op(")", t) || is_name("if", t) || is_name("recursive", t);
  }

  ExprPtr parse_expression() { return parse_condition(); }

  ExprPtr parse_condition() {
    const Location where = current().where;
    ExprPtr value = parse_or();
    while (skip_name("if")) {
      DepthGuard guard(*this, current());
      auto e = make(ExprKind::kCondition, where);
      ExprPtr condition = parse_or();
      ExprPtr otherwise = skip_name("else") ? parse_condition() : nullptr;
      e->operands.push_back(std::move(condition));
      e->operands.push_back(std::move(value));
      e->operands.push_back(std::move(otherwise));
      value = std::move(e);
    }
    return value;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      auto e = make(ExprKind::kOr, next().where);
      e->operands.push_back(std::move(left));
      e->operands.push_back(parse_and());
      left = std::move(e);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      auto e = make(ExprKind::kAnd, next().where);
      e->operands.push_back(std::move(left));
      e->operands.push_back(parse_not());
      left = std::move(e);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (!is_name("not")) return parse_compare();
    DepthGuard guard(*this, current());
    auto e = make(ExprKind::kNot, next().where);
    e->operands.push_back(parse_not());
    return e;
  }

  ExprPtr parse_compare() {
    const Location where = current().where;
    ExprPtr first = parse_math1();
    ExprPtr e;
    while (true) {
      std::string op;
      const Token& t = current();
      if (t.type == TokenType::kOperator &&
          (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">=")) {
        op = t.text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && is_name("in", peek())) {
        op = "notin";
        next();
        next();
      } else {
        break;
      }
      if (!e) {
        e = make(ExprKind::kCompare, where);
        e->operands.push_back(std::move(first));
      }
      e->compare_ops.push_back(op);
      e->operands.push_back(parse_math1());
    }
    return e ? std::move(e) : std::move(first);
  }

  ExprPtr binary(const std::string& op, ExprPtr left, ExprPtr right, Location where) {
    auto e = make(ExprKind::kBinary, where);
    e->name = op;
    e->operands.push_back(std::move(left));
    e->operands.push_back(std::move(right));
    return e;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      left = binary(t.text, std::move(left), parse_concat(), t.where);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto e = make(ExprKind::kConcat, current().where);
    e->operands.push_back(std::move(first));
    while (skip_op("~")) e->operands.push_back(parse_math2());
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      left = binary(t.text, std::move(left), parse_pow(), t.where);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const Token& t = next();
      left = binary("**", std::move(left), parse_unary(true), t.where);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this, current());
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      node = make(t.text == "-" ? ExprKind::kNegate : ExprKind::kPlus, t.where);
      node->operands.push_back(parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = current();
    DepthGuard guard(*this, t);
    if (t.type == TokenType::kName) {
      next();
      if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
        auto e = make(ExprKind::kLiteral, t.where);
        e->value = Value(t.text == "true" || t.text == "True");
        return e;
      }
      if (t.text == "none" || t.text == "None") {
        auto e = make(ExprKind::kLiteral, t.where);
        e->value = Value(None{});
        return e;
      }
      auto e = make(ExprKind::kName, t.where);
      e->name = t.text;
      return e;
    }
    if (t.type == TokenType::kString) {
      auto e = make(ExprKind::kLiteral, t.where);
      std::string joined;
      while (current().type == TokenType::kString) joined += next().text;  // adjacent literals concatenate
      e->value = Value(std::move(joined));
      return e;
    }
    if (t.type == TokenType::kInteger || t.type == TokenType::kFloat) {
      next();
      auto e = make(ExprKind::kLiteral, t.where);
      e->value = parse_number(t);
      return e;
    }
    if (is_op("(")) {
      next();
      if (skip_op(")")) {
        auto e = make(ExprKind::kTuple, t.where);
        return e;
      }
      ExprPtr inner = parse_tuple(false);
      expect_op(")");
      return inner;
    }
    if (is_op("[")) {
      next();
      auto e = make(ExprKind::kList, t.where);
      while (!is_op("]")) {
        if (!e->operands.empty()) expect_op(",");
        if (is_op("]")) break;
        e->operands.push_back(parse_expression());
      }
      next();
      return e;
    }
    if (is_op("{")) {
      next();
      auto e = make(ExprKind::kDict, t.where);
      while (!is_op("}")) {
        if (!e->operands.empty()) expect_op(",");
        if (is_op("}")) break;
        e->operands.push_back(parse_expression());
        expect_op(":");
        e->operands.push_back(parse_expression());
      }
      next();
      return e;
    }
    fail(t, "unexpected " + describe(t));
  }

  Value parse_number(const Token& t) {
    std::string digits;
    for (char c : t.text)
      if (c != '_') digits.push_back(c);
    if (t.type == TokenType::kFloat) {
      double f = 0;
      std::from_chars(digits.data(), digits.data() + digits.size(), f);
      return Value(f);
    }
    int base = 10;
    size_t start = 0;
    if (digits.size() > 1 && digits[0] == '0' && std::isalpha(static_cast<unsigned char>(digits[1]))) {
      const char b = static_cast<char>(std::tolower(digits[1]));
      base = b == 'b' ? 2 : b == 'o' ? 8 : 16;
      start = 2;
    }
    int64_t v = 0;
    const auto res = std::from_chars(digits.data() + start, digits.data() + digits.size(), v, base);
    if (res.ec != std::errc() || res.ptr != digits.data() + digits.size() || start == digits.size())
      fail(t, "invalid integer literal '" + t.text + "' (or larger than 64 bits)");
    return Value(v);
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filters(std::move(node));
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    DepthGuard guard(*this, current());
    const Token& t = next();
    if (t.text == ".") {
      const Token& attr = next();
      if (attr.type == TokenType::kName) {
        auto e = make(ExprKind::kGetAttr, t.where);
        e->name = attr.text;
        e->operands.push_back(std::move(node));
        return e;
      }
      if (attr.type != TokenType::kInteger) fail(attr, "expected name or number after '.'");
      auto e = make(ExprKind::kGetItem, t.where);
      e->operands.push_back(std::move(node));
      auto index = make(ExprKind::kLiteral, attr.where);
      index->value = parse_number(attr);
      e->operands.push_back(std::move(index));
      return e;
    }
    // `[`: an index or a slice (a tuple of subscripts is not supported)
    ExprPtr parts[3];
    bool slice = false;
    if (!is_op(":")) parts[0] = parse_expression();
    if (skip_op(":")) {
      slice = true;
      if (!is_op("]") && !is_op(":")) parts[1] = parse_expression();
      if (skip_op(":") && !is_op("]")) parts[2] = parse_expression();
    }
    expect_op("]");
    auto e = make(slice ? ExprKind::kSlice : ExprKind::kGetItem, t.where);
    e->operands.push_back(std::move(node));
    if (!slice && !parts[0]) fail(t, "expected an index");
    for (int i = 0; i < (slice ? 3 : 1); ++i) e->operands.push_back(std::move(parts[i]));
    return e;
  }

  // `(args, key=value)` appended to e's operands and keywords.
  void parse_call_args(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (e.operands.size() > 1 || !e.keywords.empty()) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*") || is_op("**")) fail(current(), "*args and **kwargs in calls are not supported");
      if (current().type == TokenType::kName && is_op("=", peek())) {
        std::string key = next().text;
        next();
        e.keywords.emplace_back(std::move(key), parse_expression());
      } else {
        if (!e.keywords.empty()) fail(current(), "positional argument follows keyword argument");
        e.operands.push_back(parse_expression());
      }
    }
    next();
  }

  ExprPtr parse_call(ExprPtr node) {
    DepthGuard guard(*this, current());
    auto e = make(ExprKind::kCall, current().where);
    e->operands.push_back(std::move(node));
    parse_call_args(*e);
    return e;
  }

  // `| name(args)` repeated; `first_without_pipe` for {% filter name %}.
  ExprPtr parse_filters(ExprPtr node, bool first_without_pipe = false) {
    while (first_without_pipe || skip_op("|")) {
      first_without_pipe = false;
      DepthGuard guard(*this, current());
      auto e = make(ExprKind::kFilter, current().where);
      e->name = expect_name();
      e->operands.push_back(std::move(node));
      if (is_op("(")) parse_call_args(*e);
      node = std::move(e);
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    DepthGuard guard(*this, current());
    auto e = make(ExprKind::kTest, next().where);
    e->negated = skip_name("not");
    e->name = expect_name();
    e->operands.push_back(std::move(node));
    const Token& t = current();
    if (is_op("(")) {
      parse_call_args(*e);
    } else if ((t.type == TokenType::kName || t.type == TokenType::kString || t.type == TokenType::kInteger ||
                t.type == TokenType::kFloat || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail(t, "you cannot chain multiple tests with is");
      e->operands.push_back(parse_postfix(parse_primary()));
    }
    return e;
  }

  // Does any expression in `body` read the variable `name`? (jinja2 lets a
  // macro take extra arguments only when its body names varargs / kwargs.)
  static bool names_variable(const Expr* e, const std::string& name) {
    if (!e) return false;
    if (e->kind == ExprKind::kName && e->name == name) return true;
    for (const ExprPtr& operand : e->operands)
      if (names_variable(operand.get(), name)) return true;
    for (const auto& keyword : e->keywords)
      if (names_variable(keyword.second.get(), name)) return true;
    return false;
  }
  static bool names_variable(const Body& body, const std::string& name) {
    for (const StmtPtr& s : body) {
      if (names_variable(s->expr.get(), name) || names_variable(s->filter.get(), name)) return true;
      for (const ExprPtr& c : s->conditions)
        if (names_variable(c.get(), name)) return true;
      for (const Body& b : s->bodies)
        if (names_variable(b, name)) return true;
      for (const auto& param : s->params)
        if (names_variable(param.second.get(), name)) return true;
      if (names_variable(s->body, name) || names_variable(s->else_body, name)) return true;
    }
    return false;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Template parse_template(const std::string& source) { return Parser(tokenize(source)).run(); }

}  // namespace horizon::data::jinja
