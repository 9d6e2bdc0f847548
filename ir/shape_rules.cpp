#include "ir/shape_rules.h"

namespace horizon::ir {
namespace {

[[noreturn]] void fail(Op op, const std::string& msg) { throw ShapeError(std::string(op_name(op)) + ": " + msg); }

void expect_float(Op op, const TensorType& t, const char* what) {
  if (t.dtype == DType::i32) fail(op, std::string(what) + " must be a float tensor, got " + t.str());
}

void expect_rank(Op op, const TensorType& t, int rank, const char* what) {
  if (t.rank() != rank) fail(op, std::string(what) + " must have rank " + std::to_string(rank) + ", got " + t.str());
}

void expect_min_rank(Op op, const TensorType& t, int rank, const char* what) {
  if (t.rank() < rank) fail(op, std::string(what) + " must have rank >= " + std::to_string(rank) + ", got " + t.str());
}

const Dim& last(const TensorType& t) { return t.shape.back(); }

void expect_dim(Op op, const Dim& got, const Dim& want, const std::string& what) {
  if (!(got == want)) fail(op, what + " is " + got.str() + " but must be " + want.str());
}

void expect_same(Op op, const TensorType& a, const TensorType& b, const char* an, const char* bn) {
  if (a.shape != b.shape)
    fail(op, std::string(an) + " " + a.str() + " and " + bn + " " + b.str() + " must have the same shape");
}

int64_t positive_attr(Op op, const Attrs& attrs, const char* key) {
  auto it = attrs.find(key);
  if (it == attrs.end() || !std::holds_alternative<int64_t>(it->second))
    fail(op, std::string("needs an integer attribute '") + key + "'");
  int64_t v = std::get<int64_t>(it->second);
  if (v <= 0) fail(op, std::string("attribute '") + key + "' must be positive, got " + std::to_string(v));
  return v;
}

TensorType f32_like(const TensorType& t) { return TensorType{DType::f32, t.shape}; }

TensorType with_last(const TensorType& t, Dim d) {
  TensorType r = f32_like(t);
  r.shape.back() = d;
  return r;
}

TensorType matrix(Dim rows, Dim cols) { return TensorType{DType::f32, {rows, cols}}; }

void check_rope(Op op, const TensorType& x, const Attrs& attrs) {
  expect_float(op, x, "x");
  expect_min_rank(op, x, 2, "x");
  int64_t heads = positive_attr(op, attrs, "heads");
  int64_t hd = positive_attr(op, attrs, "head_dim");
  if (hd % 2) fail(op, "head_dim must be even, got " + std::to_string(hd));
  if (!attrs.count("theta")) fail(op, "needs attribute 'theta'");
  expect_dim(op, last(x), Dim::of(heads * hd), "last dim of x (heads*head_dim)");
}

// The rows RMSNorm normalizes: the whole last dim, or with `group_size` each
// contiguous group of that many elements of it (Qwen3's per-head q/k norm on
// [B, S, heads*head_dim]); the weight has one entry per row element either way.
Dim rms_norm_width(Op op, const TensorType& x, const Attrs& attrs) {
  expect_min_rank(op, x, 1, "x");
  if (!attrs.count("group_size")) return last(x);
  const int64_t g = positive_attr(op, attrs, "group_size");
  if (last(x).is_symbolic() || last(x).value % g)
    fail(op, "group_size " + std::to_string(g) + " must divide the last dim of x " + x.str());
  return Dim::of(g);
}

/// positions or segments: i32 [B, S] of an activation x [B, S, ...].
void check_document_channel(Op op, const TensorType& t, const TensorType& x, const std::string& what) {
  if (t.dtype != DType::i32) fail(op, what + " must be i32, got " + t.str());
  if (t.rank() != 2 || x.rank() < 2 || t.shape[0] != x.shape[0] || t.shape[1] != x.shape[1])
    fail(op, what + " " + t.str() + " must be [B, S] of " + x.str());
}

void check_attention(Op op, const TensorType& q, const TensorType& k, const TensorType& v, const Attrs& attrs) {
  int64_t heads = positive_attr(op, attrs, "heads");
  int64_t kv = positive_attr(op, attrs, "kv_heads");
  int64_t hd = positive_attr(op, attrs, "head_dim");
  if (heads % kv)
    fail(op, "heads (" + std::to_string(heads) + ") must be a multiple of kv_heads (" + std::to_string(kv) + ")");
  for (const TensorType* t : {&q, &k, &v}) {
    expect_float(op, *t, "q, k and v");
    expect_rank(op, *t, 3, "q, k and v ([B, S, heads*head_dim])");
  }
  expect_dim(op, last(q), Dim::of(heads * hd), "last dim of q (heads*head_dim)");
  expect_dim(op, last(k), Dim::of(kv * hd), "last dim of k (kv_heads*head_dim)");
  expect_dim(op, last(v), Dim::of(kv * hd), "last dim of v (kv_heads*head_dim)");
  for (int i = 0; i < 2; ++i) {
    expect_dim(op, k.shape[i], q.shape[i], "dim " + std::to_string(i) + " of k");
    expect_dim(op, v.shape[i], q.shape[i], "dim " + std::to_string(i) + " of v");
  }
}

}  // namespace

std::vector<TensorType> infer_result_types(Op op, const std::vector<TensorType>& in, const Attrs& attrs) {
  if (!op_takes_operands(op, static_cast<int>(in.size())))
    fail(op, "takes " + operand_count(op) + " operands, got " + std::to_string(in.size()));
  switch (op) {
    case Op::embedding: {
      if (in[0].dtype != DType::i32) fail(op, "tokens must be i32, got " + in[0].str());
      expect_rank(op, in[1], 2, "table");
      TensorType r{DType::f32, in[0].shape};
      r.shape.push_back(in[1].shape[1]);
      return {r};
    }
    case Op::add_positions:
      expect_rank(op, in[0], 3, "x");
      expect_rank(op, in[1], 2, "table");
      expect_dim(op, in[1].shape[1], last(in[0]), "width of the position table");
      return {f32_like(in[0])};
    case Op::linear:
      expect_float(op, in[0], "x");
      expect_min_rank(op, in[0], 1, "x");
      expect_rank(op, in[1], 2, "w ([out, in])");
      expect_dim(op, in[1].shape[1], last(in[0]), "w's input dim (w is [out, in])");
      return {with_last(in[0], in[1].shape[0])};
    case Op::bias_add:
      expect_rank(op, in[1], 1, "bias");
      expect_dim(op, in[1].shape[0], last(in[0]), "bias length");
      return {f32_like(in[0])};
    case Op::add:
    case Op::mul:
    case Op::silu_grad:
    case Op::gelu_grad:
      expect_float(op, in[0], "a");
      expect_float(op, in[1], "b");
      expect_same(op, in[0], in[1], "a", "b");
      return {f32_like(in[0])};
    case Op::silu:
    case Op::gelu:
      expect_float(op, in[0], "x");
      return {f32_like(in[0])};
    case Op::rms_norm:
      expect_float(op, in[0], "x");
      expect_rank(op, in[1], 1, "weight");
      expect_dim(op, in[1].shape[0], rms_norm_width(op, in[0], attrs), "weight length");
      return {f32_like(in[0])};
    case Op::layer_norm:
      expect_rank(op, in[1], 1, "weight");
      expect_rank(op, in[2], 1, "bias");
      expect_dim(op, in[1].shape[0], last(in[0]), "weight length");
      expect_dim(op, in[2].shape[0], last(in[0]), "bias length");
      return {f32_like(in[0])};
    case Op::rope:
    case Op::rope_grad:
      check_rope(op, in[0], attrs);
      if (in.size() > 1) check_document_channel(op, in[1], in[0], "positions");
      return {f32_like(in[0])};
    case Op::attention:
      check_attention(op, in[0], in[1], in[2], attrs);
      if (in.size() > 3) check_document_channel(op, in[3], in[0], "segments");
      return {f32_like(in[0])};
    case Op::cross_entropy:
    case Op::cross_entropy_grad: {
      expect_min_rank(op, in[0], 2, "logits");
      if (in[1].dtype != DType::i32) fail(op, "targets must be i32, got " + in[1].str());
      std::vector<Dim> lead(in[0].shape.begin(), in[0].shape.end() - 1);
      if (in[1].shape != lead)
        fail(op, "targets " + in[1].str() + " must match logits " + in[0].str() + " without its last dim");
      if (op == Op::cross_entropy) return {TensorType{DType::f32, {}}};
      return {f32_like(in[0])};
    }
    case Op::sequence_logprob:
    case Op::sequence_logprob_grad: {
      const size_t k = op == Op::sequence_logprob ? 0 : 1;  // the logits operand
      expect_float(op, in[k], "logits");
      expect_rank(op, in[k], 3, "logits ([B, S, V])");
      if (in[k + 1].dtype != DType::i32) fail(op, "targets must be i32, got " + in[k + 1].str());
      const std::vector<Dim> lead(in[k].shape.begin(), in[k].shape.end() - 1);
      if (in[k + 1].shape != lead)
        fail(op, "targets " + in[k + 1].str() + " must match logits " + in[k].str() + " without its last dim");
      const TensorType per_row{DType::f32, {in[k].shape[0]}};
      if (op == Op::sequence_logprob) return {per_row};
      expect_same(op, in[0], per_row, "dy", "the rows of logits");
      return {f32_like(in[1])};
    }
    case Op::dpo_loss:
    case Op::dpo_loss_grad: {
      expect_float(op, in[0], "policy");
      expect_rank(op, in[0], 1, "policy ([B])");
      expect_same(op, in[0], in[1], "policy", "reference");
      if (in[1].dtype == DType::i32) fail(op, "reference must be a float tensor, got " + in[1].str());
      if (!(attr_number_or(attrs, "beta", 0) > 0)) fail(op, "needs a positive attribute 'beta'");
      if (op == Op::dpo_loss) return {TensorType{DType::f32, {}}};
      return {f32_like(in[0]), f32_like(in[0])};
    }
    case Op::linear_cross_entropy:
    case Op::linear_cross_entropy_grad: {
      expect_float(op, in[0], "h");
      expect_min_rank(op, in[0], 2, "h");
      expect_rank(op, in[1], 2, "w ([V, C])");
      expect_dim(op, in[1].shape[1], last(in[0]), "w's input dim (w is [V, C])");
      if (in[2].dtype != DType::i32) fail(op, "targets must be i32, got " + in[2].str());
      std::vector<Dim> lead(in[0].shape.begin(), in[0].shape.end() - 1);
      if (in[2].shape != lead)
        fail(op, "targets " + in[2].str() + " must match h " + in[0].str() + " without its last dim");
      positive_attr(op, attrs, "chunk");
      const TensorType loss{DType::f32, {}};
      if (op == Op::linear_cross_entropy) return {loss};
      return {loss, f32_like(in[0]), matrix(in[1].shape[0], in[1].shape[1])};
    }
    case Op::embedding_grad:
      if (in[1].dtype != DType::i32) fail(op, "tokens must be i32, got " + in[1].str());
      return {matrix(Dim::of(positive_attr(op, attrs, "rows")), last(in[0]))};
    case Op::add_positions_grad:
      expect_rank(op, in[0], 3, "dy");
      return {matrix(Dim::of(positive_attr(op, attrs, "rows")), last(in[0]))};
    case Op::linear_grad_x:
      expect_rank(op, in[1], 2, "w ([out, in])");
      expect_dim(op, in[1].shape[0], last(in[0]), "w's output dim (w is [out, in])");
      return {with_last(in[0], in[1].shape[1])};
    case Op::linear_grad_w: {
      if (in[0].rank() != in[1].rank())
        fail(op, "dy " + in[0].str() + " and x " + in[1].str() + " must have the same rank");
      for (int i = 0; i + 1 < in[0].rank(); ++i)
        expect_dim(op, in[1].shape[i], in[0].shape[i], "dim " + std::to_string(i) + " of x");
      return {matrix(last(in[0]), last(in[1]))};
    }
    case Op::bias_add_grad:
      return {TensorType{DType::f32, {last(in[0])}}};
    case Op::rms_norm_grad:
      expect_same(op, in[0], in[1], "dy", "x");
      expect_rank(op, in[2], 1, "weight");
      expect_dim(op, in[2].shape[0], rms_norm_width(op, in[1], attrs), "weight length");
      return {f32_like(in[1]), TensorType{DType::f32, in[2].shape}};
    case Op::layer_norm_grad:
      expect_same(op, in[0], in[1], "dy", "x");
      expect_dim(op, in[2].shape.at(0), last(in[1]), "weight length");
      return {f32_like(in[1]), TensorType{DType::f32, in[2].shape}, TensorType{DType::f32, in[2].shape}};
    case Op::attention_grad:
      expect_same(op, in[0], in[1], "dout", "q");
      check_attention(op, in[1], in[2], in[3], attrs);
      if (in.size() > 4) check_document_channel(op, in[4], in[1], "segments");
      return {f32_like(in[1]), f32_like(in[2]), f32_like(in[3])};
  }
  fail(op, "no shape rule");
}

}  // namespace horizon::ir
