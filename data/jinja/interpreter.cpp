// Executes templates and evaluates expressions (see interpreter.h).
#include "data/jinja/interpreter.h"

#include "data/jinja/builtins.h"
#include "data/jinja/operators.h"
#include "data/jinja/python_text.h"

namespace horizon::data::jinja {

const Value* Scope::lookup(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent_.get()) {
    const auto it = s->vars_.find(name);
    if (it != s->vars_.end()) return &it->second;
  }
  return nullptr;
}

void bind_target(const Target& target, const Value& value, Scope& scope) {
  if (!target.unpack) {
    scope.set(target.names[0], value);
    return;
  }
  const std::vector<Value> items = iterate(value);
  if (items.size() != target.names.size())
    throw Failure(std::string(items.size() < target.names.size() ? "not enough" : "too many") +
                  " values to unpack (expected " + std::to_string(target.names.size()) + ", got " +
                  std::to_string(items.size()) + ")");
  for (size_t i = 0; i < items.size(); ++i) scope.set(target.names[i], items[i]);
}

Interpreter::~Interpreter() {
  for (const auto& weak : objects_)
    if (const ObjectPtr object = weak.lock()) object->attributes.entries.clear();
}

std::string Interpreter::render(const Template& t, const Value& variables) {
  auto globals = std::make_shared<Scope>(nullptr);
  for (auto& [name, value] : builtin_globals().entries) globals->set(name, value);
  auto top = std::make_shared<Scope>(globals);
  for (const auto& [name, value] : variables.as_dict().entries) top->set(name, value);
  const StringSizeLimit string_limit(limits_.max_output_bytes);
  std::string out;
  exec(t.body, top, out);
  return out;
}

void Interpreter::append(std::string& out, const std::string& text) {
  if (out.size() + text.size() > limits_.max_output_bytes)
    throw Failure("the output grows past " + std::to_string(limits_.max_output_bytes) + " bytes");
  out += text;
}

void Interpreter::count_iterations(int64_t n) {
  iterations_ += n;
  if (iterations_ > limits_.max_loop_iterations)
    throw Failure("more than " + std::to_string(limits_.max_loop_iterations) + " loop iterations");
}

Interpreter::Flow Interpreter::exec(const Body& body, const std::shared_ptr<Scope>& scope, std::string& out) {
  for (const StmtPtr& s : body) {
    const Flow flow = exec_stmt(*s, scope, out);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec_stmt(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out) {
  try {
    switch (s.kind) {
      case StmtKind::kText:
        append(out, s.text);
        break;
      case StmtKind::kPrint:
        append(out, python_str(eval(*s.expr, scope)));
        break;
      case StmtKind::kIf:
        for (size_t i = 0; i < s.conditions.size(); ++i)
          if (truthy(eval(*s.conditions[i], scope))) return exec(s.bodies[i], scope, out);
        return exec(s.else_body, scope, out);
      case StmtKind::kFor:
        return exec_for(s, scope, out);
      case StmtKind::kSet:
        exec_set(s, scope, eval(*s.expr, scope));
        break;
      case StmtKind::kSetBlock: {
        std::string text;
        exec(s.body, scope, text);
        Value value(std::move(text));
        if (s.filter) {
          // The filter chain's innermost operand is a placeholder name "" bound to the block's text.
          auto holder = std::make_shared<Scope>(scope);
          holder->set("", value);
          value = eval(*s.filter, holder);
        }
        exec_set(s, scope, value);
        break;
      }
      case StmtKind::kMacro:
        scope->set(s.name, make_macro(s, scope));
        break;
      case StmtKind::kBreak:
        return Flow::kBreak;
      case StmtKind::kContinue:
        return Flow::kContinue;
      case StmtKind::kWith: {
        auto inner = std::make_shared<Scope>(scope);
        for (const auto& [name, expr] : s.params) inner->set(name, eval(*expr, scope));
        return exec(s.body, inner, out);
      }
      case StmtKind::kFilterBlock: {
        std::string text;
        const Flow flow = exec(s.body, scope, text);
        auto holder = std::make_shared<Scope>(scope);  // the placeholder name "" holds the body's text
        holder->set("", Value(std::move(text)));
        append(out, python_str(eval(*s.filter, holder)));
        return flow;
      }
      case StmtKind::kGeneration:
        return exec(s.body, scope, out);
    }
  } catch (const Failure& f) {
    throw RuntimeError{s.where, f.what()};
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out) {
  std::vector<Value> items = iterate(eval(*s.expr, scope));
  if (s.filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      count_iterations(1);
      auto probe = std::make_shared<Scope>(scope);
      bind_target(s.target, item, *probe);
      if (truthy(eval(*s.filter, probe))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec(s.else_body, scope, out);  // break/continue there belong to an outer loop
  const auto length = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < length; ++i) {
    count_iterations(1);
    auto loop = std::make_shared<ObjectData>();
    loop->type_name = "LoopContext";
    DictData& a = loop->attributes;
    a.set("index0", Value(i));
    a.set("index", Value(i + 1));
    a.set("revindex", Value(length - i));
    a.set("revindex0", Value(length - i - 1));
    a.set("first", Value(i == 0));
    a.set("last", Value(i == length - 1));
    a.set("length", Value(length));
    a.set("depth", Value(1));
    a.set("depth0", Value(0));
    a.set("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
    a.set("nextitem", i + 1 < length ? items[i + 1] : Value::undefined("there is no next item"));
    auto cycle = std::make_shared<Function>();
    cycle->name = "cycle";
    cycle->call = [i](Interpreter&, CallArgs& args) -> Value {
      if (args.positional.empty()) throw Failure("no items for cycling given");
      return args.positional[static_cast<size_t>(i) % args.positional.size()];
    };
    a.set("cycle", Value(FunctionPtr(std::move(cycle))));
    auto body_scope = std::make_shared<Scope>(scope);
    bind_target(s.target, items[i], *body_scope);
    body_scope->set("loop", Value(ObjectPtr(std::move(loop))));
    if (exec(s.body, body_scope, out) == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

void Interpreter::exec_set(const Stmt& s, const std::shared_ptr<Scope>& scope, Value value) {
  if (s.target.attribute.empty()) {
    bind_target(s.target, value, *scope);
    return;
  }
  const Value* ns = scope->lookup(s.target.names[0]);
  if (!ns || ns->kind() != Kind::kObject || ns->as_object().type_name != "Namespace")
    throw Failure("cannot assign attribute on non-namespace object '" + s.target.names[0] + "'");
  ns->as_object().attributes.set(s.target.attribute, std::move(value));
}

Value Interpreter::make_macro(const Stmt& s, const std::shared_ptr<Scope>& scope) {
  auto fn = std::make_shared<Function>();
  fn->name = s.name;
  const Stmt* macro = &s;
  // The macro reaches its defining scope through the interpreter: a
  // shared_ptr in the closure would form a cycle (the scope holds the macro).
  const size_t scope_index = macro_scopes_.size();
  macro_scopes_.push_back(scope);
  fn->call = [macro, scope_index](Interpreter& in, CallArgs& args) -> Value {
    if (args.positional.size() > macro->params.size() && !macro->takes_varargs)
      throw Failure("macro '" + macro->name + "' takes not more than " + std::to_string(macro->params.size()) +
                    " argument(s)");
    if (in.call_depth_ >= in.limits_.max_call_depth)
      throw Failure("macro calls nested deeper than " + std::to_string(in.limits_.max_call_depth));
    auto local = std::make_shared<Scope>(in.macro_scopes_[scope_index]);
    std::vector<bool> given(macro->params.size(), false);
    std::vector<Value> extra_positional;
    for (size_t i = 0; i < args.positional.size(); ++i) {
      if (i >= macro->params.size()) {
        extra_positional.push_back(args.positional[i]);
        continue;
      }
      local->set(macro->params[i].first, args.positional[i]);
      given[i] = true;
    }
    DictData extra_keywords;
    for (const auto& [key, value] : args.keyword) {
      size_t i = 0;
      while (i < macro->params.size() && macro->params[i].first != key) ++i;
      if (i == macro->params.size()) {
        if (!macro->takes_kwargs) throw Failure("macro '" + macro->name + "' takes no keyword argument '" + key + "'");
        extra_keywords.set(key, value);
        continue;
      }
      if (given[i]) throw Failure("macro '" + macro->name + "' got multiple values for argument '" + key + "'");
      local->set(key, value);
      given[i] = true;
    }
    if (macro->takes_varargs) local->set("varargs", Value::list(std::move(extra_positional), true));
    if (macro->takes_kwargs) local->set("kwargs", Value::dict(std::move(extra_keywords)));
    for (size_t i = 0; i < macro->params.size(); ++i) {
      if (given[i]) continue;
      const auto& [name, default_value] = macro->params[i];
      local->set(name, default_value ? in.eval(*default_value, local)
                                     : Value::undefined("parameter '" + name + "' was not provided"));
    }
    std::string out;
    ++in.call_depth_;
    try {
      in.exec(macro->body, local, out);
    } catch (...) {
      --in.call_depth_;
      throw;
    }
    --in.call_depth_;
    return Value(std::move(out));
  };
  return Value(FunctionPtr(std::move(fn)));
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.kind() == Kind::kFunction) return callee.as_function().call(*this, args);
  require_defined(callee);
  throw Failure("'" + type_name(callee) + "' object is not callable");
}

bool Interpreter::run_test(const std::string& name, const Value& subject, const CallArgs& args) {
  const TestFn test = find_test(name);
  if (!test) throw Failure("no test named '" + name + "'");
  return test(*this, subject, args);
}

Value Interpreter::run_filter(const std::string& name, const Value& subject, const CallArgs& args) {
  const FilterFn filter = find_filter(name);
  if (!filter) throw Failure("no filter named '" + name + "'");
  return filter(*this, subject, args);
}

CallArgs Interpreter::eval_args(const Expr& e, size_t first, const std::shared_ptr<Scope>& scope) {
  CallArgs args;
  for (size_t i = first; i < e.operands.size(); ++i) args.positional.push_back(eval(*e.operands[i], scope));
  for (const auto& [key, expr] : e.keywords) args.keyword.emplace_back(key, eval(*expr, scope));
  return args;
}

Value Interpreter::eval(const Expr& e, const std::shared_ptr<Scope>& scope) {
  try {
    Value v = eval_inner(e, scope);
    if ((v.is_string() && v.as_string().size() > limits_.max_output_bytes) ||
        (v.is_list() && v.as_list().items.size() > limits_.max_output_bytes))
      throw Failure("a value grows past " + std::to_string(limits_.max_output_bytes) + " bytes");
    return v;
  } catch (const Failure& f) {
    throw RuntimeError{e.where, f.what()};
  } catch (const RaisedException& r) {
    throw RuntimeError{e.where, r.message, true};
  }
}

namespace {

std::optional<int64_t> slice_index(const Value& v) {
  if (v.is_none()) return std::nullopt;
  if (v.kind() == Kind::kInt) return v.as_int();
  if (v.kind() == Kind::kBool) return v.as_bool() ? 1 : 0;
  require_defined(v);
  throw Failure("slice indices must be integers or None");
}

}  // namespace

Value Interpreter::eval_inner(const Expr& e, const std::shared_ptr<Scope>& scope) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      return e.value;
    case ExprKind::kName: {
      const Value* v = scope->lookup(e.name);
      return v ? *v : Value::undefined("'" + e.name + "' is undefined");
    }
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      for (const ExprPtr& item : e.operands) items.push_back(eval(*item, scope));
      return Value::list(std::move(items), e.kind == ExprKind::kTuple);
    }
    case ExprKind::kDict: {
      DictData dict;
      for (size_t i = 0; i + 1 < e.operands.size(); i += 2) {
        const Value key = eval(*e.operands[i], scope);
        if (!key.is_string()) throw Failure("dict keys must be strings here, got " + type_name(key));
        dict.set(key.as_string(), eval(*e.operands[i + 1], scope));
      }
      return Value::dict(std::move(dict));
    }
    case ExprKind::kGetAttr:
      return get_attribute(eval(*e.operands[0], scope), e.name);
    case ExprKind::kGetItem:
      return get_item(eval(*e.operands[0], scope), eval(*e.operands[1], scope));
    case ExprKind::kSlice: {
      const Value obj = eval(*e.operands[0], scope);
      std::optional<int64_t> parts[3];
      for (int i = 0; i < 3; ++i)
        if (e.operands[i + 1]) parts[i] = slice_index(eval(*e.operands[i + 1], scope));
      return slice(obj, parts[0], parts[1], parts[2]);
    }
    case ExprKind::kCall: {
      const Value callee = eval(*e.operands[0], scope);
      CallArgs args = eval_args(e, 1, scope);
      return call(callee, args);
    }
    case ExprKind::kFilter: {
      const Value subject = eval(*e.operands[0], scope);
      return run_filter(e.name, subject, eval_args(e, 1, scope));
    }
    case ExprKind::kTest: {
      const Value subject = eval(*e.operands[0], scope);
      return Value(run_test(e.name, subject, eval_args(e, 1, scope)) != e.negated);
    }
    case ExprKind::kNot:
      return Value(!truthy(eval(*e.operands[0], scope)));
    case ExprKind::kNegate:
      return unary_op('-', eval(*e.operands[0], scope));
    case ExprKind::kPlus:
      return unary_op('+', eval(*e.operands[0], scope));
    case ExprKind::kBinary: {
      const Value a = eval(*e.operands[0], scope);
      return binary_op(e.name, a, eval(*e.operands[1], scope), limits_.max_output_bytes);
    }
    case ExprKind::kConcat: {
      std::string out;
      for (const ExprPtr& part : e.operands) {
        out += python_str(eval(*part, scope));
        if (out.size() > limits_.max_output_bytes)
          throw Failure("a string grows past " + std::to_string(limits_.max_output_bytes) + " bytes");
      }
      return Value(std::move(out));
    }
    case ExprKind::kCompare: {
      Value left = eval(*e.operands[0], scope);
      for (size_t i = 0; i < e.compare_ops.size(); ++i) {
        Value right = eval(*e.operands[i + 1], scope);
        const std::string& op = e.compare_ops[i];
        bool ok;
        if (op == "==")
          ok = equals(left, right);
        else if (op == "!=")
          ok = !equals(left, right);
        else if (op == "<")
          ok = less_than(left, right);
        else if (op == ">")
          ok = less_than(right, left);
        else if (op == "<=")
          ok = less_than(left, right) || equals(left, right);
        else if (op == ">=")
          ok = less_than(right, left) || equals(left, right);
        else if (op == "in")
          ok = contains(right, left);
        else
          ok = !contains(right, left);
        if (!ok) return Value(false);
        left = std::move(right);
      }
      return Value(true);
    }
    case ExprKind::kAnd: {
      Value left = eval(*e.operands[0], scope);
      return truthy(left) ? eval(*e.operands[1], scope) : left;
    }
    case ExprKind::kOr: {
      Value left = eval(*e.operands[0], scope);
      return truthy(left) ? left : eval(*e.operands[1], scope);
    }
    case ExprKind::kCondition:
      if (truthy(eval(*e.operands[0], scope))) return eval(*e.operands[1], scope);
      if (e.operands[2]) return eval(*e.operands[2], scope);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.where.line) +
                              " evaluated to false and no else section was defined.");
  }
  return Value();
}

}  // namespace horizon::data::jinja
