// Renders a parsed template: evaluates expressions with Python semantics and
// executes statements with jinja2's scoping (a for loop's body gets a fresh
// scope every iteration; if blocks share their enclosing scope; macros see
// the scope they were defined in).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/jinja/ast.h"
#include "data/jinja/value.h"

namespace horizon::data::jinja {

/// Bounds that keep a hostile template from hanging or exhausting memory.
struct Limits {
  size_t max_output_bytes = size_t{64} << 20;  // also bounds any one string or list
  int64_t max_loop_iterations = 10'000'000;    // all loops of one render together
  int max_call_depth = 64;                     // macro calls inside macro calls
};

/// A runtime error at a template position (raised == a raise_exception() call).
struct RuntimeError {
  Location where;
  std::string message;
  bool raised = false;
};

class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}
  const Value* lookup(const std::string& name) const;
  void set(const std::string& name, Value value) { vars_[name] = std::move(value); }

 private:
  std::shared_ptr<Scope> parent_;
  std::unordered_map<std::string, Value> vars_;
};

class Interpreter {
 public:
  explicit Interpreter(const Limits& limits) : limits_(limits) {}
  /// Empties every namespace: `set ns.self = ns` makes a reference cycle.
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;
  /// Registers a namespace() object so the destructor can break its cycles.
  void track(const ObjectPtr& object) { objects_.push_back(object); }
  /// Renders `t` with `variables` (a dict) over the builtin globals; throws RuntimeError.
  std::string render(const Template& t, const Value& variables);

  Value eval(const Expr& e, const std::shared_ptr<Scope>& scope);
  /// Calls a template-callable value (macro, builtin, bound method).
  Value call(const Value& callee, CallArgs& args);
  bool run_test(const std::string& name, const Value& subject, const CallArgs& args);
  Value run_filter(const std::string& name, const Value& subject, const CallArgs& args);
  const Limits& limits() const { return limits_; }
  /// Counts `n` loop iterations against the limit.
  void count_iterations(int64_t n);

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  Flow exec(const Body& body, const std::shared_ptr<Scope>& scope, std::string& out);
  Flow exec_stmt(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out);
  Flow exec_for(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out);
  void exec_set(const Stmt& s, const std::shared_ptr<Scope>& scope, Value value);
  Value make_macro(const Stmt& s, const std::shared_ptr<Scope>& scope);
  Value eval_inner(const Expr& e, const std::shared_ptr<Scope>& scope);
  CallArgs eval_args(const Expr& e, size_t first, const std::shared_ptr<Scope>& scope);
  void append(std::string& out, const std::string& text);

  Limits limits_;
  int64_t iterations_ = 0;
  int call_depth_ = 0;
  std::vector<std::weak_ptr<ObjectData>> objects_;
  std::vector<std::shared_ptr<Scope>> macro_scopes_;  // defining scopes of macros, alive for the render
};

/// Binds `value` to a for/set target's names (unpacking a tuple target).
void bind_target(const Target& target, const Value& value, Scope& scope);

}  // namespace horizon::data::jinja
