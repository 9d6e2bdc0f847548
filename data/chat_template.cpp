// The chat-template facade: parses with data/jinja and reports every error
// as a UserError naming the template's origin, line and column.
#include "data/chat_template.h"

#include "data/jinja/interpreter.h"
#include "data/jinja/parser.h"
#include "support/error.h"

namespace horizon::data {

struct ChatTemplate::Program {
  std::string origin;
  jinja::Template tree;
};

namespace {

std::string position(const jinja::Location& where) {
  return "line " + std::to_string(where.line) + ", column " + std::to_string(where.column);
}

}  // namespace

ChatTemplate ChatTemplate::parse(const std::string& source, const std::string& origin) {
  auto program = std::make_unique<Program>();
  program->origin = origin;
  try {
    program->tree = jinja::parse_template(source);
  } catch (const jinja::SyntaxError& e) {
    throw_user_error(origin, position(e.where), "template syntax error: " + e.message,
                     "the template must be jinja2 syntax as transformers renders it");
  }
  return ChatTemplate(std::move(program));
}

std::string ChatTemplate::render(const frontend::Json& variables, const ChatTemplateLimits& limits) const {
  if (!variables.is_object())
    throw_user_error(program_->origin, "render",
                     "the variables must be a JSON object, got " + frontend::json_type_name(variables));
  jinja::Limits bounds;
  bounds.max_output_bytes = limits.max_output_bytes;
  bounds.max_loop_iterations = limits.max_loop_iterations;
  bounds.max_call_depth = limits.max_call_depth;
  jinja::Value globals;
  try {
    globals = jinja::from_json(variables);
  } catch (const jinja::Failure& f) {
    throw_user_error(program_->origin, "render variables", f.what());
  }
  try {
    jinja::Interpreter interpreter(bounds);
    return interpreter.render(program_->tree, globals);
  } catch (const jinja::RuntimeError& e) {
    if (e.raised) throw_user_error(program_->origin, position(e.where), "raise_exception: " + e.message);
    throw_user_error(program_->origin, position(e.where), "template error: " + e.message);
  }
}

ChatTemplate::ChatTemplate(std::unique_ptr<Program> program) : program_(std::move(program)) {}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

}  // namespace horizon::data
