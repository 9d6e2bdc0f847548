// The graph IR. A Module is a few stages run in order for one training step:
// `embed`, a `block` template instantiated `instances` times (instance i binds
// the parameters whose checkpoint names have `{i}` replaced by i), and `head`
// (final norm, lm head, loss). Inside a stage values are SSA: each is defined
// once, by being a stage input, a parameter, or the result of an instruction.
// Backward stages made by autodiff also list the gradient of each parameter.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "ir/ops.h"
#include "ir/types.h"

namespace horizon::ir {

using AttrValue = std::variant<int64_t, double, std::string>;
/// Ordered by key, so the printed form is stable.
using Attrs = std::map<std::string, AttrValue>;

std::string attr_str(const AttrValue& v);
/// Numeric attribute as a double (ints widen); throws std::out_of_range if absent.
double attr_number(const Attrs& attrs, const std::string& key);
int64_t attr_int(const Attrs& attrs, const std::string& key);
double attr_number_or(const Attrs& attrs, const std::string& key, double fallback);

enum class ValueKind { input, param, result };

struct Value {
  std::string name;  // without the leading '%'
  TensorType type;
  ValueKind kind = ValueKind::result;
};

/// How a parameter is initialized when no checkpoint provides it.
struct Init {
  enum class Kind { normal, ones, zeros };
  Kind kind = Kind::normal;
  double std = 0.02;  // for normal
  bool operator==(const Init&) const = default;
  std::string str() const;
};

struct Param {
  int value = -1;               // index into Stage::values
  std::string checkpoint_name;  // Hugging Face name, may contain "{i}"
  Init init;
  bool decay = true;  // AdamW weight decay applies
};

struct Instr {
  Op op;
  std::vector<int> operands;  // indices into Stage::values
  std::vector<int> results;
  Attrs attrs;
};

/// In a backward stage: `grad %param = %value`.
struct ParamGrad {
  int param = -1;  // index into Stage::params
  int value = -1;  // index into Stage::values
};

struct Stage {
  std::string name;
  int64_t instances = 1;
  std::vector<Value> values;
  std::vector<int> inputs;
  std::vector<Param> params;
  std::vector<Instr> instrs;
  std::vector<int> outputs;
  std::vector<ParamGrad> grads;

  /// Index of the value named `name`, or -1.
  int find_value(const std::string& name) const;
  int add_value(const std::string& name, TensorType type, ValueKind kind);
  /// Checkpoint name of a parameter for instance i ("{i}" replaced).
  std::string checkpoint_name(const Param& p, int64_t instance) const;
  /// Elements of all parameters of one instance.
  int64_t param_elements() const;
  /// Drops the result values no instruction defines any more (after a pass
  /// removed or rewrote instructions) and renumbers the rest in order.
  void drop_undefined_results();
};

/// Hyperparameters, in the order they were declared.
using Config = std::vector<std::pair<std::string, AttrValue>>;

struct Module {
  std::string name;
  Config config;
  std::vector<Stage> stages;

  const Stage* find_stage(const std::string& name) const;
  Stage* find_stage(const std::string& name);
  const AttrValue* config_value(const std::string& key) const;
  double config_number(const std::string& key, double fallback) const;
};

/// Stages made from another stage carry a suffix after its name and own no
/// parameters (they bind the base stage's): backward stages ("block.bwd") and
/// the variants that keep activations ("block.keep", "block.kept.bwd").
bool is_derived_stage(const std::string& stage);
bool is_backward_stage(const std::string& stage);  // "head.bwd", "block.kept.bwd"
/// The stage whose parameters a stage binds: "block.kept.bwd" -> "block".
std::string base_stage_name(const std::string& stage);

}  // namespace horizon::ir
