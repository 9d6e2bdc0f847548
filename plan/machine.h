// The machine a schedule is planned for: link, GPU and CPU rates and the
// memory sizes, as the cost model and the simulator see them. Loaded from a
// small JSON file (machines/*.json) so a new box is described, not coded;
// the built-in default is the reference box of DESIGN.md.
#pragma once

#include <string>

namespace horizon::plan {

struct Machine {
  std::string name;
  double h2d_gbps = 55;      // pinned host -> GPU, GB/s (1e9 bytes)
  double d2h_gbps = 55;      // pinned GPU -> host
  double bidir_gbps = 92;    // both directions at once, total
  double gemm_tflops = 600;  // bf16 GEMM with fp32 accumulate, dense, as the stage kernels reach it
  // The tensor-core attention kernels' rate, FLOPs counted as the cost
  // model counts them (QKᵀ and PV over the attended pairs; the gradient
  // 2.5 times that); 0: the GEMM rate (optional in the files).
  double attention_tflops = 0;
  double attention_grad_tflops = 0;
  double elementwise_gbps = 2000;  // GPU memory bandwidth that non-GEMM kernels reach
  double cpu_adamw_gparams = 6.4;  // CPU AdamW, Gparam/s over all cores, with the PCIe copies running
  // The same with 8-bit moments (--moments 8bit; machines/h100-pcie5.json
  // says why); optional in a file, 0: cpu_adamw_gparams.
  double cpu_adamw_8bit_gparams = 0;
  double host_memory_gbps = 100;  // host memory streaming rate (gradient norm)
  double host_bytes = 0;          // host RAM
  double gpu_bytes = 0;           // GPU memory
  double launch_overhead_us = 5;  // per kernel launch
  // Several GPUs (optional in a file; 0: not described, and `plan --gpus`
  // asks for it). Both per GPU and direction, as NCCL's bus bandwidth counts.
  double gpu_link_gbps = 0;  // GPU to GPU inside a host: NVLink, or PCIe peer to peer without it
  double network_gbps = 0;   // between hosts: a host's network links together, per direction
};

/// The reference box: 1x H100 80 GB on PCIe Gen5 x16, 16 cores, 125 GiB RAM
/// (the same numbers as machines/h100-pcie5.json).
Machine default_machine();

/// Reads a machine description. Every rate and size is required but the
/// attention and 8-bit optimizer rates and the multi-GPU links (needed only where several GPUs
/// are planned); sizes are a
/// byte count or a string with a unit ("125 GiB", "80 GB"). UserError names
/// the file and the field on a missing, mistyped or non-positive field.
Machine load_machine(const std::string& path);

/// The same from JSON text; `file` names it in errors.
Machine parse_machine(const std::string& text, const std::string& file);

}  // namespace horizon::plan
