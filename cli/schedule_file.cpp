#include "cli/schedule_file.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "frontend/model_json.h"
#include "passes/lower.h"
#include "support/error.h"

namespace horizon::cli {
namespace {

std::string read_schedule_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": schedule file does not exist or cannot be read; check the path");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

bool is_schedule_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;  // a directory (a Hugging Face model) or a missing file: not a schedule
  // A model description is JSON or graph IR; only the first word is needed
  // to tell, so a large model file is not read whole.
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  size_t i = 0;
  while (i < head.size()) {
    if (std::isspace(static_cast<unsigned char>(head[i]))) {
      ++i;
    } else if (head.compare(i, 2, "//") == 0) {
      i = head.find('\n', i);
      if (i == std::string::npos) return false;
    } else {
      break;
    }
  }
  return head.compare(i, 8, "schedule") == 0 &&
         (i + 8 == head.size() || !std::isalnum(static_cast<unsigned char>(head[i + 8])));
}

ir::Schedule load_verified_schedule(const std::string& path) {
  ir::Schedule s = ir::parse_schedule(read_schedule_text(path), path);
  try {
    ir::verify_schedule(s);
  } catch (const UserError& e) {
    throw UserError(path + ": " + e.what());
  }
  return s;
}

ir::Module model_of_schedule(const ir::Schedule& s, const std::string& file, const std::string& model_path) {
  ir::Module graph = frontend::load_model(model_path);
  passes::lower(graph);
  if (graph.name != s.model)
    throw UserError(file + ": the schedule is of model '" + s.model + "', --model " + model_path + " is '" +
                    graph.name + "'; pass the model it was compiled from");
  return graph;
}

}  // namespace horizon::cli
