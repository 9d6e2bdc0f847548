#include "frontend/model_json.h"

#include <cmath>
#include <sstream>

#include "frontend/config_expr.h"
#include "frontend/hf_config.h"
#include "frontend/json_keys.h"
#include "frontend/model_dir.h"
#include "ir/parser.h"
#include "ir/shape_rules.h"
#include "ir/verifier.h"
#include "support/checked_math.h"
#include "support/error.h"

namespace horizon::frontend {
namespace {

std::string known_ops() {
  std::string s;
  for (int i = 0; i < ir::kNumOps; ++i) s += (i ? ", " : "") + std::string(ir::op_name(static_cast<ir::Op>(i)));
  return s;
}

class ModelReader {
 public:
  ModelReader(const Json& doc, const std::string& file) : doc_(doc), file_(file) {}

  ir::Module read() {
    if (!doc_.is_object()) fail("", "a model file must be a JSON object, got " + json_type_name(doc_));
    check_known_keys(doc_, {"format", "version", "name", "config", "stages"}, file_, "");
    const Json& fmt = field(doc_, "format", "");
    if (!fmt.is_string() || fmt.get<std::string>() != kModelFormat)
      fail("format", "must be \"" + std::string(kModelFormat) + "\"",
           "start the file with \"format\": \"horizon-model\"");
    const Json& version = field(doc_, "version", "");
    if (!version.is_number_integer() || version.get<int>() != kModelFormatVersion)
      fail("version", "must be " + std::to_string(kModelFormatVersion) + ", got " + version.dump());
    m_.name = string_field(doc_, "name", "");
    read_config(field(doc_, "config", ""));
    const Json& stages = field(doc_, "stages", "");
    if (!stages.is_array() || stages.empty()) fail("stages", "must be a non-empty array of stages");
    for (size_t i = 0; i < stages.size(); ++i) read_stage(stages[i], "stages[" + std::to_string(i) + "]");
    check_total_size();
    ir::verify_module(m_, file_);
    return std::move(m_);
  }

 private:
  void read_config(const Json& c) {
    if (!c.is_object()) fail("config", "must be an object of hyperparameters, got " + json_type_name(c));
    for (const auto& [k, v] : c.items()) {
      if (v.is_boolean())
        m_.config.emplace_back(k, static_cast<int64_t>(v.get<bool>()));
      else if (v.is_number_integer())
        m_.config.emplace_back(k, v.get<int64_t>());
      else if (v.is_number())
        m_.config.emplace_back(k, v.get<double>());
      else if (v.is_string())
        m_.config.emplace_back(k, v.get<std::string>());
      else
        fail("config." + k, "must be a number, boolean or string, got " + json_type_name(v));
      if (v.is_number()) check_config_range(k, v.get<double>());
    }
  }

  // The known hyperparameters' ranges (others are the model's own, used in expressions).
  void check_config_range(const std::string& k, double v) {
    static const char* const kDims[] = {"vocab",    "hidden",   "layers",       "heads",
                                        "kv_heads", "head_dim", "intermediate", "max_seq"};
    const std::string at = "config." + k;
    if (!std::isfinite(v)) fail(at, "must be a finite number");
    for (const char* d : kDims)
      if (k == d && (v < 1 || v != std::floor(v))) fail(at, "must be a positive integer, got " + format_number(v));
    if ((k == "rms_eps" || k == "ln_eps" || k == "rope_theta") && !(v > 0))
      fail(at, "must be > 0, got " + format_number(v), "normalization divides by sqrt(mean + eps)");
    if (k == "init_std" && v < 0) fail(at, "must be >= 0, got " + format_number(v));
  }
  static std::string format_number(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
  }

  // Element counts multiply dimensions that come from the file: each
  // parameter and the whole model must fit in int64 (vocab 2^62 is refused
  // here, not an overflowed count that indexes out of bounds later).
  void check_total_size() {
    int64_t total = 0;
    for (const ir::Stage& st : m_.stages) {
      int64_t stage = 0;
      for (const ir::Param& p : st.params) {
        int64_t n = 1;
        for (const ir::Dim& d : st.values[p.value].type.shape)
          n = checked_mul(n, d.value, file_ + ": " + st.name + "." + st.values[p.value].name + ": elements");
        stage = checked_add(stage, n, file_ + ": " + st.name + ": parameters");
      }
      total = checked_add(total,
                          checked_mul(stage, std::max<int64_t>(st.instances, 1), file_ + ": " + st.name + " x repeat"),
                          file_ + ": parameters in all");
    }
  }

  void read_stage(const Json& j, const std::string& at) {
    if (!j.is_object()) fail(at, "a stage must be an object, got " + json_type_name(j));
    check_known_keys(j, {"name", "repeat", "inputs", "params", "ops", "outputs"}, file_, at);
    ir::Stage s;
    s.name = string_field(j, "name", at);
    if (m_.find_stage(s.name)) fail(at + ".name", "stage '" + s.name + "' is defined twice");
    if (j.contains("repeat")) s.instances = int_expr(j["repeat"], at + ".repeat");
    if (s.instances < 1) fail(at + ".repeat", "must be a positive integer, got " + std::to_string(s.instances));
    const Json& inputs = array_field(j, "inputs", at);
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::string place = at + ".inputs[" + std::to_string(i) + "]";
      check_known_keys(inputs[i], {"name", "type"}, file_, place);
      std::string name = string_field(inputs[i], "name", place);
      check_new_name(s, name, place + ".name");
      s.inputs.push_back(
          s.add_value(name, parse_type(string_field(inputs[i], "type", place), place + ".type"), ir::ValueKind::input));
    }
    if (j.contains("params")) {
      const Json& params = array_field(j, "params", at);
      for (size_t i = 0; i < params.size(); ++i) read_param(s, params[i], at + ".params[" + std::to_string(i) + "]");
    }
    const Json& ops = array_field(j, "ops", at);
    for (size_t i = 0; i < ops.size(); ++i) read_op(s, ops[i], at + ".ops[" + std::to_string(i) + "]");
    const Json& outputs = array_field(j, "outputs", at);
    for (size_t i = 0; i < outputs.size(); ++i)
      s.outputs.push_back(use(s, outputs[i], at + ".outputs[" + std::to_string(i) + "]"));
    m_.stages.push_back(std::move(s));
  }

  void read_param(ir::Stage& s, const Json& j, const std::string& at) {
    check_known_keys(j, {"name", "dtype", "shape", "checkpoint", "init", "decay"}, file_, at);
    std::string name = string_field(j, "name", at);
    check_new_name(s, name, at + ".name");
    ir::TensorType type{ir::DType::bf16, {}};
    if (j.contains("dtype")) {
      auto dt = ir::parse_dtype(string_field(j, "dtype", at));
      if (!dt) fail(at + ".dtype", "unknown dtype '" + j["dtype"].get<std::string>() + "'", "use bf16, f32 or f16");
      type.dtype = *dt;
    }
    const Json& shape = array_field(j, "shape", at);
    for (size_t d = 0; d < shape.size(); ++d) {
      int64_t v = int_expr(shape[d], at + ".shape[" + std::to_string(d) + "]");
      if (v <= 0)
        fail(at + ".shape[" + std::to_string(d) + "]", "dimension must be positive, got " + std::to_string(v));
      type.shape.push_back(ir::Dim::of(v));
    }
    ir::Param p;
    p.value = s.add_value(name, type, ir::ValueKind::param);
    p.checkpoint_name = string_field(j, "checkpoint", at);
    std::string init = j.contains("init") ? string_field(j, "init", at) : "normal";
    double std = m_.config_number("init_std", 0.02);
    if (init == "normal") {
      p.init = {ir::Init::Kind::normal, std};
    } else if (init == "normal_scaled") {
      // GPT-2 / Megatron: projections into the residual stream shrink with depth.
      double layers = m_.config_number("layers", 1.0);
      p.init = {ir::Init::Kind::normal, std / std::sqrt(2.0 * layers)};
    } else if (init == "ones") {
      p.init = {ir::Init::Kind::ones, 0.0};
    } else if (init == "zeros") {
      p.init = {ir::Init::Kind::zeros, 0.0};
    } else {
      fail(at + ".init", "unknown init '" + init + "'", "use normal, normal_scaled, ones or zeros");
    }
    if (j.contains("decay")) {
      if (!j["decay"].is_boolean()) fail(at + ".decay", "must be true or false, got " + json_type_name(j["decay"]));
      p.decay = j["decay"].get<bool>();
    } else {
      p.decay = type.shape.size() >= 2;  // norms and biases are not decayed
    }
    s.params.push_back(p);
  }

  void read_op(ir::Stage& s, const Json& j, const std::string& at) {
    if (!j.is_object()) fail(at, "an op must be an object, got " + json_type_name(j));
    std::string name = string_field(j, "op", at);
    auto op = ir::parse_op(name);
    if (!op) fail(at + ".op", "unknown op '" + name + "'", "use one of: " + known_ops());
    ir::Instr in{*op, {}, {}, {}};
    const Json& args = array_field(j, "in", at);
    std::vector<ir::TensorType> types;
    for (size_t i = 0; i < args.size(); ++i) {
      int v = use(s, args[i], at + ".in[" + std::to_string(i) + "]");
      in.operands.push_back(v);
      types.push_back(s.values[v].type);
    }
    if (!ir::op_takes_operands(*op, static_cast<int>(args.size())))
      fail(at + ".in", name + " takes " + ir::operand_count(*op) + " inputs, got " + std::to_string(args.size()));
    for (const auto& [key, v] : j.items()) {
      if (key == "op" || key == "in" || key == "out") continue;
      std::string place = at + "." + key;
      if (v.is_number_integer())
        in.attrs[key] = v.get<int64_t>();
      else if (v.is_number())
        in.attrs[key] = v.get<double>();
      else if (v.is_string())
        in.attrs[key] = expr(v.get<std::string>(), place);
      else
        fail(place, "attribute must be a number or a config expression, got " + json_type_name(v));
    }
    std::vector<ir::TensorType> results;
    try {
      results = ir::infer_result_types(*op, types, in.attrs);
    } catch (const ir::ShapeError& e) {
      fail(at, e.what(), "check the shapes of the op's inputs and its attributes");
    }
    std::vector<std::string> out_names;
    const Json& out = field(j, "out", at);
    if (out.is_string())
      out_names.push_back(out.get<std::string>());
    else if (out.is_array())
      for (const Json& o : out) out_names.push_back(o.is_string() ? o.get<std::string>() : "");
    if (out_names.size() != results.size())
      fail(at + ".out", name + " has " + std::to_string(results.size()) + " result(s); name each in \"out\"");
    for (size_t r = 0; r < results.size(); ++r) {
      check_new_name(s, out_names[r], at + ".out");
      in.results.push_back(s.add_value(out_names[r], results[r], ir::ValueKind::result));
    }
    s.instrs.push_back(std::move(in));
  }

  ir::TensorType parse_type(const std::string& text, const std::string& at) {
    auto open = text.find('[');
    if (open == std::string::npos || text.back() != ']')
      fail(at, "type '" + text + "' must look like f32[B, S, hidden]");
    auto dt = ir::parse_dtype(text.substr(0, open));
    if (!dt) fail(at, "unknown dtype in '" + text + "'", "use f32, bf16, f16 or i32");
    ir::TensorType t{*dt, {}};
    std::string dims = text.substr(open + 1, text.size() - open - 2);
    size_t start = 0;
    while (start < dims.size()) {
      size_t comma = dims.find(',', start);
      std::string d = dims.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      d.erase(0, d.find_first_not_of(' '));
      d.erase(d.find_last_not_of(' ') + 1);
      if (d == "B")
        t.shape.push_back(ir::Dim::batch());
      else if (d == "S")
        t.shape.push_back(ir::Dim::seq());
      else
        t.shape.push_back(ir::Dim::of(int_expr(Json(d), at)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return t;
  }

  ir::AttrValue expr(const std::string& e, const std::string& at) {
    try {
      return eval_config_expr(e, m_.config);
    } catch (const std::invalid_argument& err) {
      fail(at, err.what(), "use numbers and keys of \"config\"");
    }
  }

  int64_t int_expr(const Json& j, const std::string& at) {
    if (j.is_number_integer()) return j.get<int64_t>();
    if (!j.is_string()) fail(at, "must be an integer or a config expression, got " + json_type_name(j));
    ir::AttrValue v = expr(j.get<std::string>(), at);
    if (!std::holds_alternative<int64_t>(v)) fail(at, "\"" + j.get<std::string>() + "\" is not an integer");
    return std::get<int64_t>(v);
  }

  int use(const ir::Stage& s, const Json& j, const std::string& at) {
    if (!j.is_string()) fail(at, "must be a value name, got " + json_type_name(j));
    int v = s.find_value(j.get<std::string>());
    if (v < 0)
      fail(at, "'" + j.get<std::string>() + "' is not defined before this point",
           "define it as an input, a param or an earlier op's out");
    return v;
  }

  void check_new_name(const ir::Stage& s, const std::string& name, const std::string& at) {
    if (name.empty()) fail(at, "value names must be non-empty strings");
    if (s.find_value(name) >= 0)
      fail(at, "'" + name + "' is already defined in this stage", "values are SSA: pick a new name");
  }

  const Json& field(const Json& j, const char* key, const std::string& at) {
    if (!j.is_object() || !j.contains(key)) fail(at, std::string("missing field '") + key + "'");
    return j[key];
  }
  std::string string_field(const Json& j, const char* key, const std::string& at) {
    const Json& v = field(j, key, at);
    if (!v.is_string()) fail(join(at, key), "must be a string, got " + json_type_name(v));
    return v.get<std::string>();
  }
  const Json& array_field(const Json& j, const char* key, const std::string& at) {
    const Json& v = field(j, key, at);
    if (!v.is_array()) fail(join(at, key), "must be an array, got " + json_type_name(v));
    return v;
  }
  static std::string join(const std::string& at, const char* key) { return at.empty() ? key : at + "." + key; }

  [[noreturn]] void fail(const std::string& at, const std::string& msg, const std::string& fix = "") {
    throw_user_error(file_, at, msg, fix);
  }

  const Json& doc_;
  const std::string& file_;
  ir::Module m_;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ir::Module module_from_json(const Json& doc, const std::string& file) { return ModelReader(doc, file).read(); }

ir::Module load_model(const std::string& model_path) {
  const std::string path = model_file_of(model_path);
  if (ends_with(path, ".hir")) {
    ir::Module m = ir::parse_module(read_text_file(path, "IR file"), path);
    ir::verify_module(m, path);
    return m;
  }
  Json doc = parse_json_file(path);
  if (doc.is_object() && doc.contains("format")) return module_from_json(doc, path);
  if (doc.is_object() && (doc.contains("architectures") || doc.contains("model_type")))
    return module_from_json(import_hf_config(doc, path), path);
  throw_user_error(path, "",
                   "neither a Horizon model (no \"format\": \"horizon-model\") nor a Hugging Face config.json (no "
                   "\"architectures\")",
                   "see docs/model-format.md");
}

}  // namespace horizon::frontend
