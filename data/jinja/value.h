// The values a chat template computes with, modelled on the Python objects
// jinja2 works with (str, int, float, bool, None, list, tuple, dict,
// jinja2's Undefined, namespace(), callables), so that printing, truthiness,
// comparison and arithmetic follow Python's rules.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "frontend/json_file.h"

namespace horizon::data::jinja {

/// A runtime failure without a template position; the interpreter adds the
/// line and column of the expression that raised it.
class Failure : public std::runtime_error {
 public:
  explicit Failure(const std::string& message) : std::runtime_error(message) {}
};

class Value;
struct CallArgs;
class Interpreter;

/// jinja2's default Undefined: prints as "", is falsy and iterates as empty,
/// but raises `hint` when used as an operand, attribute owner or callee.
struct Undefined {
  std::string hint;
};
struct None {};

struct ListData {
  std::vector<Value> items;
  bool tuple = false;  // prints as (a, b)
};
/// Insertion-ordered like a Python dict. Keys are strings: JSON object keys
/// and the keys of dict literals in real templates are.
struct DictData {
  std::vector<std::pair<std::string, Value>> entries;
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value value);
};
/// Mutable attribute bag: namespace() objects and the `loop` variable.
struct ObjectData {
  std::string type_name;  // "Namespace", "LoopContext"
  DictData attributes;
};
struct Function {
  std::string name;
  std::function<Value(Interpreter&, CallArgs&)> call;
};

using ListPtr = std::shared_ptr<const ListData>;
using DictPtr = std::shared_ptr<const DictData>;
using ObjectPtr = std::shared_ptr<ObjectData>;
using FunctionPtr = std::shared_ptr<const Function>;

enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kObject, kFunction };

class Value {
 public:
  Value() : v_(Undefined{}) {}
  Value(None) : v_(None{}) {}
  Value(bool b) : v_(b) {}
  Value(int64_t i) : v_(i) {}
  Value(int i) : v_(static_cast<int64_t>(i)) {}
  Value(double f) : v_(f) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(ListPtr l) : v_(std::move(l)) {}
  Value(DictPtr d) : v_(std::move(d)) {}
  Value(ObjectPtr o) : v_(std::move(o)) {}
  Value(FunctionPtr f) : v_(std::move(f)) {}
  static Value undefined(std::string hint) { return Value(Undefined{std::move(hint)}); }
  static Value list(std::vector<Value> items, bool tuple = false);
  static Value dict(DictData data);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_list() const { return kind() == Kind::kList; }
  bool is_dict() const { return kind() == Kind::kDict; }
  /// int or float, and bool (a Python int subclass) where `with_bool`.
  bool is_number(bool with_bool = true) const;

  const std::string& undefined_hint() const { return std::get<Undefined>(v_).hint; }
  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const ListData& as_list() const { return *std::get<ListPtr>(v_); }
  const DictData& as_dict() const { return *std::get<DictPtr>(v_); }
  ObjectData& as_object() const { return *std::get<ObjectPtr>(v_); }
  const Function& as_function() const { return *std::get<FunctionPtr>(v_); }
  /// int, float or bool as a double (Python's numeric tower).
  double to_double() const;
  /// int(x) of an int, bool or float (truncating); Failure for NaN, inf or beyond 64 bits.
  int64_t to_int() const;

 private:
  explicit Value(Undefined u) : v_(std::move(u)) {}
  std::variant<Undefined, None, bool, int64_t, double, std::string, ListPtr, DictPtr, ObjectPtr, FunctionPtr> v_;
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

/// The largest string one render may build (Limits::max_output_bytes), for
/// helpers that build text without the interpreter at hand: set for the
/// current thread while a render runs.
class StringSizeLimit {
 public:
  explicit StringSizeLimit(size_t max_bytes);
  ~StringSizeLimit();
  StringSizeLimit(const StringSizeLimit&) = delete;
  StringSizeLimit& operator=(const StringSizeLimit&) = delete;
  /// Failure when `bytes` exceeds the current limit.
  static void check(size_t bytes);

 private:
  size_t previous_;
};

/// Python truthiness (Undefined is falsy).
bool truthy(const Value& v);
/// Python ==: 1 == 1.0 == True, lists and dicts element-wise, Undefined
/// equal only to Undefined.
bool equals(const Value& a, const Value& b);
/// Python <: numbers, strings (code point order), lists; Failure otherwise.
bool less_than(const Value& a, const Value& b);
/// Raises the Undefined's hint when `v` is Undefined (an operand that
/// jinja2's Undefined refuses).
void require_defined(const Value& v);
/// "int", "str", "dict", ... (Python's type(v).__name__).
std::string type_name(const Value& v);
/// jinja2's object_type_repr: "dict object", "None", ...
std::string object_type_repr(const Value& v);
/// Converts the render variables; JSON integers stay ints, the others floats.
Value from_json(const frontend::Json& j);
/// The items a for loop visits: list elements, dict keys, string characters;
/// Undefined iterates as empty; Failure for other values.
std::vector<Value> iterate(const Value& v);
/// len(): strings count code points.
int64_t length_of(const Value& v);

}  // namespace horizon::data::jinja
