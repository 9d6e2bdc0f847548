// The native model description (docs/model-format.md): hyperparameters plus
// stages whose ops are data, turned into the graph IR with every result type
// inferred as it is built, so a shape error names the op in the file.
#pragma once

#include <string>

#include "frontend/json_file.h"
#include "ir/module.h"

namespace horizon::frontend {

inline constexpr const char* kModelFormat = "horizon-model";
inline constexpr int kModelFormatVersion = 1;

/// Builds a module from a native model document; `file` names it in errors.
ir::Module module_from_json(const Json& doc, const std::string& file);

/// Loads a model from a path: a native model file or a Hugging Face
/// config.json (told apart by content), a Hugging Face model directory (its
/// config.json), or a printed IR dump (.hir).
ir::Module load_model(const std::string& path);

}  // namespace horizon::frontend
