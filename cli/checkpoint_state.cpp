#include "cli/checkpoint_state.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "frontend/json_file.h"
#include "support/atomic_file.h"
#include "support/error.h"

namespace horizon::cli {
namespace {

const char* kind_name(runtime::LrSchedule::Kind k) {
  switch (k) {
    case runtime::LrSchedule::Kind::constant:
      return "constant";
    case runtime::LrSchedule::Kind::cosine:
      return "cosine";
    case runtime::LrSchedule::Kind::linear:
      return "linear";
  }
  return "cosine";
}

constexpr const char* kFix = "the checkpoint is damaged or was not written by horizon train; resume from another one";

uint64_t parse_unsigned(const std::string& text, const std::string& file, const std::string& field) {
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end)
    throw_user_error(file, field, "'" + text + "' is not an unsigned 64-bit integer", kFix);
  return v;
}

}  // namespace

int64_t parse_checkpoint_integer(const std::string& text, int64_t min, int64_t max, const std::string& file,
                                 const std::string& field) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end || v < min || v > max)
    throw_user_error(file, field,
                     "'" + text + "' is not an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]",
                     kFix);
  return v;
}

void write_training_state(const std::string& path, const TrainingState& s) {
  frontend::Json j;
  j["step"] = s.step;
  j["total_steps"] = s.lr.total;
  j["schedule"] = {{"kind", kind_name(s.lr.kind)},
                   {"peak_lr", s.lr.peak},
                   {"warmup", s.lr.warmup},
                   {"min_lr_ratio", s.lr.min_ratio}};
  // The sampler state as a string: JSON readers other than ours lose
  // integers above 2^53.
  j["data"] = {{"sampler_state", std::to_string(s.sampler_state)},
               {"batch", s.batch},
               {"seq", s.seq},
               {"seed", std::to_string(s.seed)}};
  j["metrics_bytes"] = s.metrics_bytes;
  AtomicFileWriter out(path, "trainer state");
  out.write(j.dump(2) + "\n");
  out.commit();
}

TrainingState read_training_state(const std::string& path) {
  const frontend::Json j = frontend::parse_json_file(path);
  auto integer = [&](const frontend::Json& o, const char* key, const std::string& field, int64_t min) -> int64_t {
    if (!o.is_object() || !o.contains(key) || !o[key].is_number_integer() || o[key].get<int64_t>() < min)
      throw_user_error(path, field, "expected an integer >= " + std::to_string(min), kFix);
    return o[key].get<int64_t>();
  };
  auto number = [&](const frontend::Json& o, const char* key, const std::string& field, double min, double max) {
    if (!o.is_object() || !o.contains(key) || !o[key].is_number() || !std::isfinite(o[key].get<double>()) ||
        o[key].get<double>() < min || o[key].get<double>() > max)
      throw_user_error(path, field, "expected a number in [" + std::to_string(min) + ", " + std::to_string(max) + "]",
                       kFix);
    return o[key].get<double>();
  };
  auto text = [&](const frontend::Json& o, const char* key, const std::string& field) {
    if (!o.is_object() || !o.contains(key) || !o[key].is_string())
      throw_user_error(path, field, "expected a string", kFix);
    return o[key].get<std::string>();
  };
  TrainingState s;
  s.has_run_state = true;
  s.step = integer(j, "step", "step", 0);
  s.lr.total = integer(j, "total_steps", "total_steps", 0);
  const frontend::Json& sched = j.is_object() && j.contains("schedule") ? j["schedule"] : frontend::Json();
  try {
    s.lr.kind = runtime::parse_schedule_kind(text(sched, "kind", "schedule.kind"));
  } catch (const UserError& e) {
    throw_user_error(path, "schedule.kind", e.what(), kFix);
  }
  s.lr.peak = number(sched, "peak_lr", "schedule.peak_lr", 0, std::numeric_limits<double>::max());
  s.lr.warmup = integer(sched, "warmup", "schedule.warmup", 0);
  s.lr.min_ratio = number(sched, "min_lr_ratio", "schedule.min_lr_ratio", 0, 1);
  const frontend::Json& data = j.is_object() && j.contains("data") ? j["data"] : frontend::Json();
  s.sampler_state = parse_unsigned(text(data, "sampler_state", "data.sampler_state"), path, "data.sampler_state");
  s.seed = parse_unsigned(text(data, "seed", "data.seed"), path, "data.seed");
  s.batch = integer(data, "batch", "data.batch", 1);
  s.seq = integer(data, "seq", "data.seq", 1);
  s.metrics_bytes = integer(j, "metrics_bytes", "metrics_bytes", 0);
  return s;
}

}  // namespace horizon::cli
