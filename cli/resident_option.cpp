#include "cli/resident_option.h"

#include "ir/kept_activations.h"
#include "support/error.h"
#ifdef HORIZON_HAVE_CUDA
#include "runtime/cuda/stage_scratch.h"
#endif

namespace horizon::cli {

namespace {

// `auto` (-1) or a non-negative count of `what`, for --OPTION of `command`.
int64_t parse_auto_or_count(const std::string& command, const std::string& option, const std::string& what,
                            const std::string& value) {
  if (value == "auto") return -1;
  size_t used = 0;
  int64_t n = -1;
  try {
    n = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || n < 0)
    throw UserError("horizon " + command + ": --" + option + " must be auto, 0 or a number of " + what + ", got '" +
                    value + "'");
  return n;
}

}  // namespace

int64_t parse_resident(const std::string& command, const std::string& value) {
  return parse_auto_or_count(command, "resident", "layers", value);
}

int64_t parse_keep_activations(const std::string& command, const std::string& value) {
  return parse_auto_or_count(command, "keep-activations", "blocks", value);
}

int64_t kept_blocks(const ir::Schedule& schedule) {
  int64_t n = 0;
  for (const ir::SchedInstr& in : schedule.instrs)
    n += in.op == ir::SchedOp::launch && in.stage == ir::kKeepStage && in.micro_batch == 0 ? 1 : 0;
  return n;
}

int64_t resident_layers(const ir::Schedule& schedule) {
  int64_t n = 0;
  for (const ir::SchedInstr& in : schedule.instrs)
    n += in.op == ir::SchedOp::optimizer_step && in.stream == ir::Stream::compute ? 1 : 0;
  return n;
}

passes::ExecutorReserve cuda_executor_reserve(bool evaluation) {
  passes::ExecutorReserve reserve;
#ifdef HORIZON_HAVE_CUDA
  reserve.stage_scratch = [](const ir::Module& graph, const std::vector<ir::ArenaPlan>& arenas, int64_t mb_batch,
                             int64_t seq) {
    return runtime::cuda::planned_stage_scratch(graph, arenas, mb_batch, seq);
  };
#endif
  reserve.margin_bytes = kResidentMarginBytes;
  reserve.evaluation = evaluation;
  return reserve;
}

ir::Schedule lower_for_gpu(const ir::Module& graph, passes::StreamingOptions options,
                           const passes::PassOptions& pass_options, bool evaluation, passes::StepPlan* decided) {
  options.executor = cuda_executor_reserve(evaluation);
  return passes::lower_to_schedule(graph, options, pass_options, decided);
}

}  // namespace horizon::cli
