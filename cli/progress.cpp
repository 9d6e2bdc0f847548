#include "cli/progress.h"

#include <unistd.h>

#include <cmath>

#include "support/error.h"
#include "support/numbers.h"
#include "support/process_memory.h"

namespace horizon::cli {

Progress::Progress(int64_t total_steps, double flops_per_token, const std::string& metrics_path)
    : total_(total_steps), flops_per_token_(flops_per_token), tty_(isatty(STDOUT_FILENO) != 0) {
  if (!metrics_path.empty()) {
    metrics_ = std::fopen(metrics_path.c_str(), "a");
    if (!metrics_)
      throw_user_error(metrics_path, "", "cannot open the metrics file for writing", "check the directory");
    std::fseek(metrics_, 0, SEEK_END);  // ftell (a checkpoint's metrics offset) counts from the file's end
  }
}

Progress::~Progress() {
  finish();
  if (metrics_) std::fclose(metrics_);
}

namespace {

// JSON has no NaN or infinity: a non-finite value is written as null.
std::string json_number(double v, const char* format) {
  if (!std::isfinite(v)) return "null";
  char text[64];
  std::snprintf(text, sizeof text, format, v);
  return text;
}

}  // namespace

int64_t Progress::metrics_bytes() const { return metrics_ ? static_cast<int64_t>(std::ftell(metrics_)) : 0; }

void Progress::step(const runtime::StepMetrics& m) {
  elapsed_ += m.step_seconds;
  tokens_ += m.tokens;
  if (first_loss_ < 0 && std::isfinite(m.loss)) first_loss_ = m.loss;
  if (std::isfinite(m.loss)) last_loss_ = m.loss;
  if (m.val_loss >= 0) last_val_ = m.val_loss;
  const double tok_s = m.tokens / m.step_seconds;
  const double tflops = tok_s * flops_per_token_ / 1e12;
  const int64_t rss = current_rss_bytes();

  std::string extra_json, extra_text;
  for (const auto& [name, value] : m.extra) {
    extra_json += ", \"" + name + "\": " + json_number(value, "%.6g");
    char part[96];
    std::snprintf(part, sizeof part, " %s %.4f", name.c_str(), value);
    extra_text += part;
  }
  if (metrics_) {
    std::fprintf(metrics_,
                 "{\"step\": %lld, \"loss\": %s, \"val_loss\": %s, \"lr\": %s, \"grad_norm\": %s, "
                 "\"step_ms\": %.3f, \"tokens_per_s\": %.1f, \"tflops\": %.6f, \"rss_bytes\": %lld, "
                 "\"activation_peak_bytes\": %lld%s%s}\n",
                 static_cast<long long>(m.step), json_number(m.loss, "%.6f").c_str(),
                 m.val_loss >= 0 && std::isfinite(m.val_loss) ? format_double(m.val_loss).c_str() : "null",
                 json_number(m.lr, "%.6g").c_str(), json_number(m.grad_norm, "%.6g").c_str(), m.step_seconds * 1e3,
                 tok_s, tflops, static_cast<long long>(rss), static_cast<long long>(m.activation_peak_bytes),
                 extra_json.c_str(), m.skipped ? ", \"skipped\": true" : "");
    std::fflush(metrics_);
  }

  const double eta =
      total_ > m.step ? elapsed_ / static_cast<double>(m.step) * static_cast<double>(total_ - m.step) : 0;
  char val[32] = "";
  if (last_val_ >= 0) std::snprintf(val, sizeof val, " val %.4f", last_val_);
  char text[512];
  std::snprintf(
      text, sizeof text,
      "step %lld/%lld loss %.4f%s%s | %.0f tok/s %.3f TFLOPS | %.0f ms/step | lr %.2e | RSS %s | ETA %dm%02ds",
      static_cast<long long>(m.step), static_cast<long long>(total_), m.loss, val, extra_text.c_str(), tok_s, tflops,
      m.step_seconds * 1e3, m.lr, format_bytes(static_cast<double>(rss)).c_str(), static_cast<int>(eta) / 60,
      static_cast<int>(eta) % 60);
  if (tty_) {
    const int width = 24;
    int filled = static_cast<int>(std::lround(width * static_cast<double>(m.step) / static_cast<double>(total_)));
    std::printf("\r\033[K[%s%s] %s", std::string(static_cast<size_t>(filled), '#').c_str(),
                std::string(static_cast<size_t>(width - filled), '.').c_str(), text);
    std::fflush(stdout);
    line_open_ = true;
    return;
  }
  // Plain lines: the first step, about 20 lines over the run, evaluations and the last step.
  int64_t every = std::max<int64_t>(1, total_ / 20);
  if (m.step == 1 || m.step % every == 0 || m.step == total_ || m.val_loss >= 0) {
    std::printf("%s\n", text);
    std::fflush(stdout);
  }
}

void Progress::finish() {
  if (line_open_) std::printf("\n");
  line_open_ = false;
}

}  // namespace horizon::cli
