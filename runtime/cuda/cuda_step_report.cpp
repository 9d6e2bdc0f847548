// Shares are of the GPU-timeline step time; rates are bytes over the busy
// time of the stream that moved them, so they read as PCIe efficiency.
#include "runtime/cuda/cuda_step_report.h"

#include <cstdio>

#include "support/numbers.h"
#include "support/process_memory.h"

namespace horizon::runtime::cuda {
namespace {

std::string planned(const char* format, double value) {
  if (value <= 0) return "";
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

}  // namespace

void CudaStepReport::add(int64_t step, int64_t total_steps, const CudaStepMeasurements& m) {
  if (step == 1 && total_steps > 1) return;
  ++steady_;
  seconds_ += m.step_seconds;
  compute_ += m.busy_share(ir::Stream::compute);
  h2d_ += m.h2d_gbps();
  d2h_ += m.d2h_gbps();
  cpu_ += m.busy_share(ir::Stream::cpu);
}

std::string CudaStepReport::line(const CudaStepMeasurements& m) const {
  char text[400];
  std::snprintf(text, sizeof text,
                "gpu: step %.2f ms%s | compute busy %.0f%%%s | H2D %.1f GB/s, D2H %.1f GB/s | CPU optimizer busy "
                "%.0f%% | host RSS %s",
                m.step_seconds * 1e3, planned(" (planned %.2f)", predicted_.step_seconds * 1e3).c_str(),
                100 * m.busy_share(ir::Stream::compute),
                planned(" (planned %.0f%%)", 100 * predicted_.compute_share).c_str(), m.h2d_gbps(), m.d2h_gbps(),
                100 * m.busy_share(ir::Stream::cpu), format_bytes(static_cast<double>(current_rss_bytes())).c_str());
  return text;
}

std::string CudaStepReport::summary() const {
  if (steady_ == 0) return "";
  const double n = static_cast<double>(steady_);
  char text[400];
  std::snprintf(text, sizeof text,
                "gpu mean of %lld steady step(s): step %.2f ms%s | compute busy %.0f%%%s | H2D %.1f GB/s, D2H %.1f "
                "GB/s | CPU optimizer busy %.0f%% | peak host RSS %s",
                static_cast<long long>(steady_), seconds_ / n * 1e3,
                planned(" (planned %.2f)", predicted_.step_seconds * 1e3).c_str(), 100 * compute_ / n,
                planned(" (planned %.0f%%)", 100 * predicted_.compute_share).c_str(), h2d_ / n, d2h_ / n,
                100 * cpu_ / n, format_bytes(static_cast<double>(peak_rss_bytes())).c_str());
  return text;
}

}  // namespace horizon::runtime::cuda
