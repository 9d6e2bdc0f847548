// Span edges to token boundaries: the fast agreement check, then per-edge prefix tokenization.
#include "data/token_spans.h"

#include <algorithm>

namespace horizon::data {
namespace {

/// Index of the token that starts at or contains byte `edge`, and whether the
/// edge falls inside it: the tokens of text[0, edge) agree with the whole
/// text's tokens up to some count m; the edge is exactly at m when all of them
/// agree, else token m straddles it.
std::pair<size_t, bool> locate_edge(const Tokenizer& tok, std::string_view text, size_t edge,
                                    const std::vector<int32_t>& whole, bool add_special) {
  if (edge == 0) return {0, false};
  if (edge >= text.size()) return {whole.size(), false};
  std::vector<int32_t> prefix = tok.encode(text.substr(0, edge), add_special);
  size_t m = 0;
  while (m < prefix.size() && m < whole.size() && prefix[m] == whole[m]) ++m;
  if (m == prefix.size()) return {m, false};
  return {std::min(m, whole.size()), true};
}

}  // namespace

MaskedTokens mask_spans(const Tokenizer& tok, std::string_view text, const std::vector<CharSpan>& spans,
                        bool add_special) {
  MaskedTokens out;
  out.tokens = tok.encode(text, add_special);
  out.loss.assign(out.tokens.size(), 0);
  if (spans.empty()) return out;

  // Agreement: the pieces between edges, tokenized one by one, give the whole's tokens.
  std::vector<size_t> edges;
  for (const CharSpan& s : spans) edges.insert(edges.end(), {s.begin, s.end});
  std::vector<int32_t> joined;
  std::vector<size_t> edge_token;  // token index of each edge when the pieces agree
  size_t at = 0;
  for (size_t k = 0; k <= edges.size(); ++k) {
    size_t end = k < edges.size() ? edges[k] : text.size();
    if (end > at) {
      std::vector<int32_t> piece = tok.encode(text.substr(at, end - at), add_special && at == 0);
      joined.insert(joined.end(), piece.begin(), piece.end());
    }
    if (k < edges.size()) edge_token.push_back(joined.size());
    at = std::max(at, end);
  }
  if (joined == out.tokens) {
    for (size_t s = 0; s < spans.size(); ++s)
      std::fill(out.loss.begin() + edge_token[2 * s], out.loss.begin() + edge_token[2 * s + 1], 1);
    return out;
  }
  for (const CharSpan& s : spans) {
    auto [first, first_inside] = locate_edge(tok, text, s.begin, out.tokens, add_special);
    auto [last, last_inside] = locate_edge(tok, text, s.end, out.tokens, add_special);
    out.straddling += first_inside + last_inside;
    if (last_inside) last = std::min(last + 1, out.tokens.size());  // the token holding the span's last byte trains
    if (first < last) std::fill(out.loss.begin() + first, out.loss.begin() + last, 1);
  }
  return out;
}

}  // namespace horizon::data
