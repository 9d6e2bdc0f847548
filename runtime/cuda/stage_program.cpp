#include "runtime/cuda/stage_program.h"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace horizon::runtime::cuda {
namespace {

// Every scratch region starts on a 256-byte boundary, like the arena's
// offsets: vector loads and cuBLASLt's fastest kernels need 16, caches like more.
constexpr int64_t kAlign = 256;
int64_t align(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

std::string instr_text(const ir::Stage& s, const ir::Instr& in) {
  std::string t;
  for (size_t i = 0; i < in.results.size(); ++i) t += (i ? ", %" : "%") + s.values[in.results[i]].name;
  t += std::string(" = ") + ir::op_name(in.op) + "(";
  for (size_t i = 0; i < in.operands.size(); ++i) t += (i ? ", %" : "%") + s.values[in.operands[i]].name;
  return t + ")";
}

/// One step before offsets are known: a kernel over [first, last], a GEMM at
/// `first`, or a fused lm head loss (its loss kernel and GEMMs) at `first`.
struct Spec {
  int first = 0, last = 0;
  int kernel = -1;  // -1: a GEMM
  bool loss = false;
};

bool is_fused_loss(ir::Op op) { return op == ir::Op::linear_cross_entropy || op == ir::Op::linear_cross_entropy_grad; }

class Builder {
 public:
  Builder(const ir::Stage& s, const ir::ArenaPlan& plan, int64_t batch, int64_t seq)
      : s_(s), plan_(plan), B_(batch), S_(seq) {}

  StageProgram build() {
    p_.homes = value_homes(s_, plan_, B_, S_);
    p_.kernels = codegen::cuda::stage_kernels(s_, B_, S_);
    read_.assign(s_.values.size(), false);
    for (const ir::Instr& in : s_.instrs)
      for (int v : in.operands) read_[v] = true;
    order_steps();
    lay_out_scratch();
    emit_steps();
    return std::move(p_);
  }

 private:
  const ir::TensorType& type(int v) const { return s_.values[v].type; }
  int64_t elements(int v) const { return type(v).elements(B_, S_); }
  int64_t last_dim(int v) const {
    const ir::Dim& d = type(v).shape.back();
    return d.is_symbolic() ? (d.sym == ir::Dim::Sym::B ? B_ : S_) : d.value;
  }
  std::invalid_argument fail(int instr, const std::string& why) const {
    return std::invalid_argument("CUDA stage executor: stage " + s_.name + ", instruction " + std::to_string(instr) +
                                 " (" + instr_text(s_, s_.instrs[instr]) + "): " + why);
  }
  bool is_grad(int v) const { return p_.homes[v].kind == ValueHome::Kind::grad; }
  /// Every value a kernel or GEMM binds needs a place.
  void require_home(int v) const {
    if (p_.homes[v].kind == ValueHome::Kind::none)
      throw std::invalid_argument("CUDA stage executor: stage " + s_.name + ", value %" + s_.values[v].name +
                                  ": a transient that the arena plan gives no offset (run passes::plan_memory on "
                                  "the same stage, batch and sequence length)");
  }

  /// Kernels and GEMMs in instruction order.
  void order_steps() {
    std::map<int, int> kernel_at;
    for (size_t k = 0; k < p_.kernels.size(); ++k) kernel_at[p_.kernels[k].first] = static_cast<int>(k);
    for (int i = 0; i < static_cast<int>(s_.instrs.size());) {
      if (auto k = kernel_at.find(i); k != kernel_at.end()) {
        const codegen::cuda::StageKernel& sk = p_.kernels[k->second];
        const bool loss = is_fused_loss(s_.instrs[i].op);
        for (int v : loss ? s_.instrs[i].operands : sk.inputs) require_home(v);
        for (int v : loss ? s_.instrs[i].results : sk.outputs) require_home(v);
        specs_.push_back({i, sk.last, k->second, loss});
        i = p_.kernels[k->second].last + 1;
      } else if (ir::op_kind(s_.instrs[i].op) == ir::OpKind::matmul) {
        for (int v : s_.instrs[i].operands) require_home(v);
        for (int v : s_.instrs[i].results) require_home(v);
        specs_.push_back({i, i, -1});
        ++i;
      } else {
        throw fail(i, "no generated kernel covers it");
      }
    }
  }

  /// Results of a step that are gradients.
  std::vector<int> grads_of(const Spec& sp) const {
    std::vector<int> g;
    for (int i = sp.first; i <= sp.last; ++i)
      for (int v : s_.instrs[i].results)
        if (is_grad(v)) g.push_back(v);
    return g;
  }
  /// Under accumulate, a dw GEMM adds into its gradient itself unless
  /// another instruction must read the gradient alone.
  bool beta_into_grad(const Spec& sp, int v) const {
    const ir::Instr& in = s_.instrs[sp.first];
    const bool dw = sp.kernel < 0 ? in.op == ir::Op::linear_grad_w
                                  : in.op == ir::Op::linear_cross_entropy_grad && v == in.results[2];
    return dw && !read_[v];
  }

  void lay_out_scratch() {
    int64_t operand = 0, workspace = 0, shared = 0, dedicated = 0, sink = 0;
    workspace_rel_.assign(p_.kernels.size(), {});
    for (const Spec& sp : specs_) {
      if (sp.kernel < 0 || sp.loss) {  // GEMM operands; a fused loss's h
        for (int v : s_.instrs[sp.first].operands)
          if (type(v).dtype == ir::DType::f32) operand = std::max(operand, align(elements(v) * 2));
      }
      if (sp.kernel >= 0) {
        int64_t w = 0;
        std::vector<int64_t> offsets;
        for (const codegen::cuda::Workspace& ws : p_.kernels[sp.kernel].source.workspaces) {
          offsets.push_back(w);
          w += align(ws.bytes);
        }
        workspace = std::max(workspace, w);
        workspace_rel_[sp.kernel] = std::move(offsets);
      }
      // Staged gradients nothing reads share bytes with other steps' (each
      // is added into its accumulator right after its step); one that is
      // read later keeps its own copy for the readers.
      int64_t step_shared = 0;
      for (int v : grads_of(sp)) {
        if (beta_into_grad(sp, v)) continue;
        const int64_t bytes = align(value_bytes(s_, v, B_, S_));
        if (read_[v]) {
          staging_rel_[v] = {true, dedicated};
          dedicated += bytes;
        } else {
          staging_rel_[v] = {false, step_shared};
          step_shared += bytes;
        }
      }
      shared = std::max(shared, step_shared);
    }
    for (size_t v = 0; v < s_.values.size(); ++v)
      if (p_.homes[v].kind == ValueHome::Kind::sink)
        sink = std::max(sink, align(value_bytes(s_, static_cast<int>(v), B_, S_)));

    operand_size_ = operand;
    workspace_base_ = 2 * operand;
    const int64_t shared_base = workspace_base_ + workspace, dedicated_base = shared_base + shared;
    p_.sink_offset = dedicated_base + dedicated;
    p_.scratch_bytes = p_.sink_offset + sink;
    p_.staging.assign(s_.values.size(), -1);
    for (const auto& [v, where] : staging_rel_)
      p_.staging[v] = (where.first ? dedicated_base : shared_base) + where.second;
  }

  void emit_steps() {
    p_.workspace_offsets = workspace_rel_;
    for (auto& offsets : p_.workspace_offsets)
      for (int64_t& o : offsets) o += workspace_base_;
    for (const Spec& sp : specs_) {
      Step st;
      if (sp.loss) {
        st = loss_step(sp);
      } else if (sp.kernel >= 0) {
        const codegen::cuda::StageKernel& k = p_.kernels[sp.kernel];
        st.kind = Step::Kind::kernel;
        st.kernel = sp.kernel;
        std::string first_line = k.instructions.substr(0, k.instructions.find('\n'));
        st.what = "stage " + s_.name + ", instruction" +
                  (sp.first == sp.last ? " " + std::to_string(sp.first) + " (" + first_line + ")"
                                       : "s " + std::to_string(sp.first) + ".." + std::to_string(sp.last) + " (" +
                                             first_line + " ...)") +
                  ", kernel " + k.source.describe();
      } else {
        st = gemm_step(sp.first);
      }
      p_.steps.push_back(st);
      for (int v : grads_of(sp)) {
        if (p_.staging[v] < 0) continue;
        Step acc;
        acc.kind = Step::Kind::accumulate;
        acc.result = v;
        acc.grad = p_.homes[v].index;
        acc.elements = elements(v);
        acc.what = "stage " + s_.name + ": adding %" + s_.values[v].name + " (" + std::to_string(elements(v)) +
                   " floats) into the gradient accumulator of %" +
                   s_.values[s_.params[s_.grads[acc.grad].param].value].name;
        p_.steps.push_back(std::move(acc));
      }
    }
    std::sort(p_.gemm_shapes.begin(), p_.gemm_shapes.end());
    p_.gemm_shapes.erase(std::unique(p_.gemm_shapes.begin(), p_.gemm_shapes.end()), p_.gemm_shapes.end());
  }

  /// A fused lm head loss: its chunk loop, h and w narrowed like GEMM operands.
  Step loss_step(const Spec& sp) {
    const int i = sp.first;
    Step st;
    st.kind = Step::Kind::loss_chunks;
    st.kernel = sp.kernel;
    st.loss = plan_loss_chunks(s_, plan_, i, B_, S_, p_.gemm_shapes);
    st.what = "stage " + s_.name + ", instruction " + std::to_string(i) + " (" + instr_text(s_, s_.instrs[i]) + "), " +
              std::to_string((st.loss.rows + st.loss.chunk - 1) / st.loss.chunk) + " chunk(s) of " +
              std::to_string(st.loss.chunk) + " rows, kernel " + p_.kernels[sp.kernel].source.describe();
    for (int v : {st.loss.h, st.loss.w})
      if (type(v).dtype != ir::DType::f32 && type(v).dtype != ir::DType::bf16)
        throw fail(i, "GEMM operand %" + s_.values[v].name + " is " + ir::dtype_name(type(v).dtype) +
                          "; cuBLASLt GEMMs here read f32 (narrowed to bf16) or bf16");
    bool pinned[2] = {false, false};
    st.a = operand(st.loss.h, pinned);
    st.b = operand(st.loss.w, pinned);
    st.beta_into_grad = st.loss.backward && is_grad(st.loss.dw) && p_.staging[st.loss.dw] < 0;
    return st;
  }

  /// GEMM operand `v`: in place when bf16, else its bf16 copy in an operand
  /// region — the one already holding it, or the older one not `pinned` by
  /// this step's other operand.
  GemmOperand operand(int v, bool pinned[2]) {
    GemmOperand o{v, elements(v), -1, false};
    if (type(v).dtype == ir::DType::bf16) return o;
    int r = held_[0] == v ? 0 : held_[1] == v ? 1 : -1;
    if (r < 0) {
      r = pinned[0] ? 1 : pinned[1] ? 0 : (used_[0] <= used_[1] ? 0 : 1);
      held_[r] = v;
      o.convert = true;
    }
    pinned[r] = true;
    used_[r] = ++clock_;
    o.bf16_offset = r * operand_size_;
    return o;
  }

  Step gemm_step(int i) {
    const ir::Instr& in = s_.instrs[i];
    if (in.operands.size() != 2 || in.results.size() != 1) throw fail(i, "a linear op takes two operands, one result");
    const int a = in.operands[0], b = in.operands[1], y = in.results[0];
    for (int v : {a, b})
      if (type(v).dtype != ir::DType::f32 && type(v).dtype != ir::DType::bf16)
        throw fail(i, "GEMM operand %" + s_.values[v].name + " is " + ir::dtype_name(type(v).dtype) +
                          "; cuBLASLt GEMMs here read f32 (narrowed to bf16) or bf16");
    if (type(y).dtype != ir::DType::f32) throw fail(i, "GEMM result must be f32");
    Step st;
    st.kind = Step::Kind::gemm;
    st.result = y;
    switch (in.op) {
      case ir::Op::linear:  // x[N, I], w[O, I]
        st.shape = {GemmForm::linear, elements(a) / last_dim(a), last_dim(a), type(b).shape[0].value};
        break;
      case ir::Op::linear_grad_x:  // dy[N, O], w[O, I]
        st.shape = {GemmForm::linear_grad_x, elements(a) / last_dim(a), type(b).shape[1].value, last_dim(a)};
        break;
      case ir::Op::linear_grad_w:  // dy[N, O], x[N, I]
        st.shape = {GemmForm::linear_grad_w, elements(a) / last_dim(a), last_dim(b), last_dim(a)};
        break;
      default:
        throw fail(i, "not a linear op");
    }
    st.beta_into_grad = is_grad(y) && p_.staging[y] < 0;
    st.what = "stage " + s_.name + ", instruction " + std::to_string(i) + " (" + instr_text(s_, in) + ")";
    p_.gemm_shapes.push_back(st.shape);

    bool pinned[2] = {false, false};
    st.a = operand(a, pinned);
    st.b = operand(b, pinned);
    return st;
  }

  const ir::Stage& s_;
  const ir::ArenaPlan& plan_;
  int64_t B_, S_;
  StageProgram p_;
  std::vector<bool> read_;
  std::vector<Spec> specs_;
  std::vector<std::vector<int64_t>> workspace_rel_;      // per kernel, relative to the workspace region
  std::map<int, std::pair<bool, int64_t>> staging_rel_;  // value -> (dedicated?, offset in its region)
  int64_t operand_size_ = 0, workspace_base_ = 0;
  int held_[2] = {-1, -1};      // the value each bf16 operand region holds
  int64_t used_[2] = {-1, -1};  // when each was last used, to evict the older
  int64_t clock_ = 0;
};

}  // namespace

StageProgram build_stage_program(const ir::Stage& stage, const ir::ArenaPlan& plan, int64_t batch, int64_t seq) {
  return Builder(stage, plan, batch, seq).build();
}

}  // namespace horizon::runtime::cuda
