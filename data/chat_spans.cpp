// Assistant spans by prefix renders, with the content search for unstable templates.
#include "data/chat_spans.h"

#include "support/error.h"

namespace horizon::data {
namespace {

using frontend::Json;

std::string render_with(const ChatRenderer& render, const Json& globals, const Json& messages, bool generation_prompt) {
  Json vars = globals.is_object() ? globals : Json::object();
  vars["messages"] = messages;
  vars["add_generation_prompt"] = generation_prompt;
  return render(vars);
}

Json first(const Json& messages, size_t n) {
  Json out = Json::array();
  for (size_t i = 0; i < n; ++i) out.push_back(messages[i]);
  return out;
}

/// The trailing newlines after a turn's closing token are the template's
/// layout, not something the model generates before it stops.
size_t trim_newlines(const std::string& text, size_t begin, size_t end) {
  while (end > begin && text[end - 1] == '\n') --end;
  return end;
}

}  // namespace

RenderedChat render_assistant_spans(const ChatRenderer& render, const Json& messages, const Json& globals,
                                    const std::string& where) {
  RenderedChat out;
  out.text = render_with(render, globals, messages, false);
  const std::string& whole = out.text;
  // A template that writes the generation prompt whether asked or not (the
  // first Llama 3 Instruct template) ends every render with an open assistant
  // header, so no render shows where a turn stops.
  if (render_with(render, globals, messages, true) == whole)
    throw_user_error(where, "",
                     "the chat template ignores add_generation_prompt, so where each assistant turn ends "
                     "cannot be told from its renders",
                     "pass a template that honors it with --chat-template FILE (newer releases of the model have "
                     "one), or use --loss-on all");
  size_t previous_end = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].value("role", "") != "assistant") continue;
    const std::string at = "messages[" + std::to_string(i) + "]";
    const std::string prefix = i == 0 ? std::string() : render_with(render, globals, first(messages, i), true);
    const std::string through = render_with(render, globals, first(messages, i + 1), false);
    if (through.starts_with(prefix) && whole.starts_with(through) && prefix.size() >= previous_end) {
      size_t end = trim_newlines(whole, prefix.size(), through.size());
      if (end > prefix.size()) out.spans.push_back({prefix.size(), end});
      previous_end = through.size();
      continue;
    }
    // Not prefix-stable. The content as written, else its answer after the
    // reasoning: templates that drop earlier turns' reasoning (Qwen3,
    // DeepSeek-R1) render only content.split('</think>')[-1].lstrip('\n') there.
    const Json& content = messages[i].contains("content") ? messages[i]["content"] : Json();
    std::vector<std::string> candidates;
    if (content.is_string() && !content.get<std::string>().empty()) {
      candidates.push_back(content.get<std::string>());
      if (size_t think = candidates[0].rfind("</think>"); think != std::string::npos) {
        std::string answer = candidates[0].substr(think + 8);
        answer.erase(0, std::min(answer.size(), answer.find_first_not_of('\n')));
        if (!answer.empty()) candidates.push_back(answer);
      }
    }
    if (whole.starts_with(prefix) && through.starts_with(prefix) && prefix.size() >= previous_end) {
      // The turn starts where the prefix ends; as the last turn the template
      // wrote `last` — the whole render holds a shortened form of it (the
      // reasoning or an empty <think> block left out), so the turn is the
      // longest end of `last` that the whole text continues with.
      const std::string_view last = std::string_view(through).substr(prefix.size());
      size_t keep = 0;
      for (size_t k = 0; k < last.size(); ++k)
        if (whole.compare(prefix.size(), last.size() - k, last.substr(k)) == 0) {
          keep = last.size() - k;
          break;
        }
      const std::string_view turn = std::string_view(whole).substr(prefix.size(), keep);
      bool has_content = candidates.empty();
      for (const std::string& c : candidates) has_content |= turn.find(c) != std::string_view::npos;
      const size_t end = trim_newlines(whole, prefix.size(), prefix.size() + keep);
      if (has_content && end > prefix.size()) {
        out.spans.push_back({prefix.size(), end});
        previous_end = prefix.size() + keep;
        ++out.unstable_turns;
        continue;
      }
    }
    if (candidates.empty())
      throw_user_error(where, at,
                       "the chat template does not render this assistant turn as a prefix of the conversation, and "
                       "the turn has no text content to find in it",
                       "use --loss-on all, or a template whose renders are prefix-stable");
    size_t from = previous_end;
    if (whole.starts_with(prefix) && prefix.size() > from) from = prefix.size();
    std::string text;
    size_t found = std::string::npos;
    for (const std::string& c : candidates)
      if ((found = whole.find(c, from)) != std::string::npos) {
        text = c;
        break;
      }
    if (found == std::string::npos)
      throw_user_error(where, at + ".content",
                       "the chat template changes this assistant turn's text, so its tokens cannot be located",
                       "use --loss-on all for this data");
    if (whole.find(text, found + 1) != std::string::npos && !whole.starts_with(prefix))
      throw_user_error(where, at + ".content",
                       "the turn's text occurs more than once in the rendered conversation and the template is not "
                       "prefix-stable, so which occurrence is the turn cannot be told",
                       "use --loss-on all for this data");
    size_t end = found + text.size();
    // The turn's closing text (e.g. "<|im_end|>") as the template writes it after the content.
    if (size_t last = through.rfind(text); last != std::string::npos) {
      std::string closing = through.substr(last + text.size());
      closing.resize(trim_newlines(closing, 0, closing.size()));
      if (!closing.empty() && whole.compare(end, closing.size(), closing) == 0) end += closing.size();
    }
    out.spans.push_back({found, end});
    previous_end = end;
    ++out.unstable_turns;
  }
  return out;
}

RenderedChat render_completion_span(const ChatRenderer& render, const Json& prompt, const Json& completion,
                                    const Json& globals, const std::string& where) {
  RenderedChat out;
  Json all = prompt;
  for (const Json& m : completion) all.push_back(m);
  const std::string head = render_with(render, globals, prompt, true);
  out.text = render_with(render, globals, all, false);
  if (!out.text.starts_with(head))
    throw_user_error(where, "prompt",
                     "the chat template's render of the prompt (with the generation prompt) is not a prefix of the "
                     "render of prompt + completion, so the completion's tokens cannot be located",
                     "use --loss-on all, or write the row as {\"messages\": [...]}");
  size_t end = trim_newlines(out.text, head.size(), out.text.size());
  if (end > head.size()) out.spans.push_back({head.size(), end});
  return out;
}

}  // namespace horizon::data
