// `horizon import CONFIG.json|DIR [-o MODEL.json]`: writes the native model
// file for a Hugging Face config (or model directory), so it can be read,
// edited and versioned.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "frontend/hf_config.h"
#include "frontend/model_dir.h"
#include "frontend/model_json.h"
#include "support/error.h"

namespace horizon::cli {

int run_import(const Args& args) {
  Arguments a("import", "horizon import CONFIG.json|DIR [--output MODEL.json] [--name NAME]",
              "Converts a Hugging Face config.json (" + frontend::supported_hf_architectures() +
                  ") into a native Horizon model file.");
  a.positional("CONFIG", "a Hugging Face config.json, or a model directory holding one");
  a.option("output", "FILE", "where to write the model file (stdout if absent)");
  a.option("name", "NAME", "model name to record in the file");
  if (!a.parse(args)) return 0;

  const std::string path = frontend::model_file_of(a.get("CONFIG"));
  frontend::Json doc = frontend::import_hf_config(frontend::parse_json_file(path), path);
  if (a.has("name")) doc["name"] = a.get("name");
  frontend::module_from_json(doc, path);  // refuse to write a model that does not compile
  std::string text = frontend::format_json(doc);
  if (!a.has("output")) {
    std::cout << text;
    return 0;
  }
  // Write next to the target and rename, so an interrupted write never leaves half a file.
  std::string out = a.get("output"), tmp = out + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f || !(f << text) || !f.flush())
      throw_user_error(out, "", "cannot write the model file", "check the directory exists and is writable");
  }
  if (std::rename(tmp.c_str(), out.c_str()) != 0)
    throw_user_error(out, "", "cannot rename the temporary file into place", "");
  return 0;
}

}  // namespace horizon::cli
