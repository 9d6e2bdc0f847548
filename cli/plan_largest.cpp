#include "cli/plan_largest.h"

#include <cmath>

#include "frontend/json_file.h"
#include "frontend/model_json.h"
#include "passes/lower.h"
#include "support/error.h"

namespace horizon::cli {

ir::Module resized_model(const std::string& path, int64_t layers, int64_t width) {
  frontend::Json doc = frontend::parse_json_file(path);
  if (!doc.is_object() || !doc.contains("config") || !doc["config"].is_object() || !doc["config"].contains("layers"))
    throw_user_error(path, "config.layers", "not found: --largest resizes a native model file",
                     "pass a models/*.json file (horizon import turns a Hugging Face config.json into one)");
  frontend::Json& c = doc["config"];
  c["layers"] = layers;
  const int64_t hidden = c.value("hidden", int64_t{0});
  if (width > 0 && width != hidden) {
    const int64_t head_dim = c.value("head_dim", int64_t{0}), heads = c.value("heads", int64_t{0});
    const int64_t kv = c.value("kv_heads", heads), inter = c.value("intermediate", int64_t{0});
    if (head_dim <= 0 || width % head_dim != 0 || heads <= 0 || hidden <= 0)
      throw_user_error(
          path, "config.head_dim",
          "--width " + std::to_string(width) + " is not a multiple of the head size " + std::to_string(head_dim),
          "choose a width that is a multiple of config.head_dim");
    const int64_t new_heads = width / head_dim;
    c["hidden"] = width;
    c["heads"] = new_heads;
    c["kv_heads"] = std::max<int64_t>(1, new_heads * kv / heads);
    c["intermediate"] = std::llround(static_cast<double>(inter) * static_cast<double>(width) / hidden / 256.0) * 256;
  }
  const std::string name = doc.value("name", std::string("model"));
  doc["name"] = name + "-" + std::to_string(layers) + "x" + std::to_string(width > 0 ? width : hidden);
  ir::Module m = frontend::module_from_json(doc, path);
  passes::lower(m);
  return m;
}

LargestModel find_largest_model(const std::string& path, int64_t width, int64_t max_layers,
                                const std::function<bool(const ir::Module&)>& fits) {
  LargestModel out;
  out.width = width;
  auto try_layers = [&](int64_t layers) {
    ++out.tried;
    return fits(resized_model(path, layers, width));
  };
  int64_t good = 0, bad = max_layers + 1;
  for (int64_t l = 1; l <= max_layers; l *= 2) {
    if (!try_layers(l)) {
      bad = l;
      break;
    }
    good = l;
  }
  if (good == 0) return out;
  while (bad - good > 1) {
    const int64_t mid = good + (bad - good) / 2;
    (try_layers(mid) ? good : bad) = mid;
  }
  out.layers = good;
  return out;
}

}  // namespace horizon::cli
