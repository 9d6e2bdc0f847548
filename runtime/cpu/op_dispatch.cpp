#include "runtime/cpu/op_dispatch.h"

#include <stdexcept>

#include "runtime/cpu/kernels.h"

namespace horizon::runtime {

ValueTable::ValueTable(const ir::Stage& stage, int64_t batch, int64_t seq)
    : stage_(stage),
      batch_(batch),
      seq_(seq),
      borrowed_(stage.values.size(), nullptr),
      placed_(stage.values.size(), nullptr),
      external_(stage.values.size(), nullptr),
      owned_(stage.values.size()) {}

void ValueTable::bind(int value, const void* data) { borrowed_[value] = data; }

void ValueTable::place(int value, float* data) { placed_[value] = data; }

int64_t ValueTable::elements(int value) const { return stage_.values[value].type.elements(batch_, seq_); }

float* ValueTable::allocate(int value) {
  if (placed_[value]) return external_[value] = placed_[value];
  if (allocator_) {
    float* p = allocator_(value, elements(value) * static_cast<int64_t>(sizeof(float)));
    if (!p) throw std::logic_error("no storage for value %" + stage_.values[value].name);
    return external_[value] = p;
  }
  owned_[value].resize(static_cast<size_t>(elements(value)));
  live_bytes_ += static_cast<int64_t>(owned_[value].size() * sizeof(float));
  return owned_[value].data();
}

const float* ValueTable::f32(int value) const {
  if (borrowed_[value]) return static_cast<const float*>(borrowed_[value]);
  if (external_[value]) return external_[value];
  if (owned_[value].empty() && elements(value) > 0)
    throw std::logic_error("value %" + stage_.values[value].name + " read before it was computed");
  return owned_[value].data();
}

const int32_t* ValueTable::i32(int value) const { return static_cast<const int32_t*>(borrowed_[value]); }

std::vector<float> ValueTable::take(int value) {
  const float* p = borrowed_[value] ? static_cast<const float*>(borrowed_[value]) : external_[value];
  if (p) return std::vector<float>(p, p + elements(value));
  live_bytes_ -= static_cast<int64_t>(owned_[value].size() * sizeof(float));
  return std::move(owned_[value]);
}

void ValueTable::release_dead(const ir::Instr& instr, int index, const std::vector<int>& last_use) {
  auto release = [&](int v) {
    // Caller memory is only forgotten: its owner reuses it (the arena plan
    // already gave these bytes to a value whose life starts later).
    if (external_[v] && !placed_[v]) external_[v] = nullptr;
    if (owned_[v].empty()) return;
    live_bytes_ -= static_cast<int64_t>(owned_[v].size() * sizeof(float));
    std::vector<float>().swap(owned_[v]);
  };
  for (int v : instr.operands)
    if (last_use[v] == index) release(v);
  for (int v : instr.results)
    if (last_use[v] < 0) release(v);
}

namespace {

int64_t last_dim(const ir::TensorType& t) { return t.shape.back().value; }

cpu::DpoLossParams dpo_params(const ir::Attrs& a) {
  return {ir::attr_number(a, "beta"), ir::attr_number_or(a, "label_smoothing", 0.0),
          ir::attr_number_or(a, "ipo", 0) != 0};
}

}  // namespace

void dispatch_op(const ir::Instr& in, ValueTable& t) {
  using ir::Op;
  const ir::Stage& s = t.stage();
  const auto& x = in.operands;
  auto type = [&](int v) -> const ir::TensorType& { return s.values[v].type; };
  const int64_t B = t.batch(), S = t.seq();
  auto rows = [&](int v) { return t.elements(v) / last_dim(type(v)); };
  auto norm_width = [&](int weight) { return type(weight).shape.at(0).value; };
  auto attr = [&](const char* k) { return ir::attr_int(in.attrs, k); };
  auto eps = [&] { return static_cast<float>(ir::attr_number(in.attrs, "eps")); };
  auto window = [&] { return static_cast<int64_t>(ir::attr_number_or(in.attrs, "window", 0)); };
  // An optional document operand (positions, segments), null when left out.
  auto optional_i32 = [&](size_t k) { return x.size() > k ? t.i32(x[k]) : nullptr; };

  switch (in.op) {
    case Op::embedding:
      cpu::embedding_forward(t.allocate(in.results[0]), t.i32(x[0]), t.f32(x[1]), t.elements(x[0]),
                             last_dim(type(x[1])));
      return;
    case Op::add_positions:
      cpu::add_positions_forward(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), B, S, last_dim(type(x[0])));
      return;
    case Op::linear:
      cpu::linear_forward(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), rows(x[0]), last_dim(type(x[0])),
                          type(x[1]).shape[0].value);
      return;
    case Op::bias_add:
      cpu::bias_add_forward(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), rows(x[0]), last_dim(type(x[0])));
      return;
    case Op::add:
      cpu::add_forward(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), t.elements(x[0]));
      return;
    case Op::mul:
      cpu::mul_forward(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), t.elements(x[0]));
      return;
    case Op::silu:
      cpu::silu_forward(t.allocate(in.results[0]), t.f32(x[0]), t.elements(x[0]));
      return;
    case Op::gelu:
      cpu::gelu_forward(t.allocate(in.results[0]), t.f32(x[0]), t.elements(x[0]));
      return;
    case Op::silu_grad:
      cpu::silu_backward(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), t.elements(x[0]));
      return;
    case Op::gelu_grad:
      cpu::gelu_backward(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), t.elements(x[0]));
      return;
    case Op::rms_norm:
      // The weight's length is the normalized width: the last dim, or the
      // group_size the shape rules checked (each group is a row of its own).
      cpu::rms_norm_forward(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), t.elements(x[0]) / norm_width(x[1]),
                            norm_width(x[1]), eps());
      return;
    case Op::layer_norm:
      cpu::layer_norm_forward(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), t.f32(x[2]), rows(x[0]),
                              last_dim(type(x[0])), eps());
      return;
    case Op::rope:
      cpu::rope_forward(t.allocate(in.results[0]), t.f32(x[0]), B, S, attr("heads"), attr("head_dim"),
                        ir::rope_params(in.attrs), optional_i32(1));
      return;
    case Op::rope_grad:
      cpu::rope_backward(t.allocate(in.results[0]), t.f32(x[0]), B, S, attr("heads"), attr("head_dim"),
                         ir::rope_params(in.attrs), optional_i32(1));
      return;
    case Op::attention:
      cpu::attention_forward(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), t.f32(x[2]), B, S, attr("heads"),
                             attr("kv_heads"), attr("head_dim"), window(), optional_i32(3));
      return;
    case Op::attention_grad: {
      float* dq = t.allocate(in.results[0]);
      float* dk = t.allocate(in.results[1]);
      float* dv = t.allocate(in.results[2]);
      cpu::attention_backward(dq, dk, dv, t.f32(x[0]), t.f32(x[1]), t.f32(x[2]), t.f32(x[3]), B, S, attr("heads"),
                              attr("kv_heads"), attr("head_dim"), window(), optional_i32(4));
      return;
    }
    case Op::cross_entropy:
      t.allocate(in.results[0])[0] =
          cpu::cross_entropy_forward(t.f32(x[0]), t.i32(x[1]), rows(x[0]), last_dim(type(x[0])), t.loss_count());
      return;
    case Op::cross_entropy_grad:
      cpu::cross_entropy_backward(t.allocate(in.results[0]), t.f32(x[0]), t.i32(x[1]), rows(x[0]), last_dim(type(x[0])),
                                  t.loss_count());
      return;
    case Op::sequence_logprob:
      cpu::sequence_logprob_forward(t.allocate(in.results[0]), t.f32(x[0]), t.i32(x[1]), B, S, last_dim(type(x[0])),
                                    ir::attr_number_or(in.attrs, "average", 0) != 0);
      return;
    case Op::sequence_logprob_grad:
      cpu::sequence_logprob_backward(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), t.i32(x[2]), B, S,
                                     last_dim(type(x[1])), ir::attr_number_or(in.attrs, "average", 0) != 0);
      return;
    case Op::dpo_loss:
      t.allocate(in.results[0])[0] =
          cpu::dpo_loss_forward(t.f32(x[0]), t.f32(x[1]), t.elements(x[0]), dpo_params(in.attrs), t.loss_count());
      return;
    case Op::dpo_loss_grad: {
      float* dpolicy = t.allocate(in.results[0]);
      float* dreference = t.allocate(in.results[1]);
      cpu::dpo_loss_backward(dpolicy, dreference, t.f32(x[0]), t.f32(x[1]), t.elements(x[0]), dpo_params(in.attrs),
                             t.loss_count());
      return;
    }
    case Op::linear_cross_entropy:
      t.allocate(in.results[0])[0] =
          cpu::linear_cross_entropy_forward(t.f32(x[0]), t.f32(x[1]), t.i32(x[2]), rows(x[0]), last_dim(type(x[0])),
                                            type(x[1]).shape[0].value, attr("chunk"), t.loss_count());
      return;
    case Op::linear_cross_entropy_grad: {
      float* loss = t.allocate(in.results[0]);
      float* dh = t.allocate(in.results[1]);
      float* dw = t.allocate(in.results[2]);
      loss[0] = cpu::linear_cross_entropy_backward(dh, dw, t.f32(x[0]), t.f32(x[1]), t.i32(x[2]), rows(x[0]),
                                                   last_dim(type(x[0])), type(x[1]).shape[0].value, attr("chunk"),
                                                   t.loss_count());
      return;
    }
    case Op::embedding_grad:
      cpu::embedding_backward(t.allocate(in.results[0]), t.f32(x[0]), t.i32(x[1]), t.elements(x[1]),
                              last_dim(type(x[0])), attr("rows"));
      return;
    case Op::add_positions_grad:
      cpu::add_positions_backward(t.allocate(in.results[0]), t.f32(x[0]), B, S, last_dim(type(x[0])), attr("rows"));
      return;
    case Op::linear_grad_x:
      cpu::linear_backward_x(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), rows(x[0]), type(x[1]).shape[1].value,
                             last_dim(type(x[0])));
      return;
    case Op::linear_grad_w:
      cpu::linear_backward_w(t.allocate(in.results[0]), t.f32(x[0]), t.f32(x[1]), rows(x[0]), last_dim(type(x[1])),
                             last_dim(type(x[0])));
      return;
    case Op::bias_add_grad:
      cpu::bias_backward(t.allocate(in.results[0]), t.f32(x[0]), rows(x[0]), last_dim(type(x[0])));
      return;
    case Op::rms_norm_grad: {
      float* dx = t.allocate(in.results[0]);
      float* dw = t.allocate(in.results[1]);
      cpu::rms_norm_backward(dx, dw, t.f32(x[0]), t.f32(x[1]), t.f32(x[2]), t.elements(x[1]) / norm_width(x[2]),
                             norm_width(x[2]), eps());
      return;
    }
    case Op::layer_norm_grad: {
      float* dx = t.allocate(in.results[0]);
      float* dw = t.allocate(in.results[1]);
      float* db = t.allocate(in.results[2]);
      cpu::layer_norm_backward(dx, dw, db, t.f32(x[0]), t.f32(x[1]), t.f32(x[2]), rows(x[1]), last_dim(type(x[1])),
                               eps());
      return;
    }
  }
  throw std::logic_error(std::string("no CPU kernel for op ") + ir::op_name(in.op));
}

}  // namespace horizon::runtime
