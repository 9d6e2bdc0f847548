// Stand-in for the chat-template interpreter while it is developed on its own
// branch: CMakeLists.txt compiles this file only when data/chat_template.cpp
// does not exist. Delete it once the interpreter is merged.
#include "data/chat_template.h"
#include "support/error.h"

namespace horizon::data {

struct ChatTemplate::Program {};

ChatTemplate ChatTemplate::parse(const std::string&, const std::string& origin) {
  throw UserError(origin + ": chat templates are not supported by this build (the Jinja interpreter is missing)");
}
std::string ChatTemplate::render(const frontend::Json&) const { return {}; }
ChatTemplate::ChatTemplate(std::unique_ptr<Program> program) : program_(std::move(program)) {}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

}  // namespace horizon::data
