// `horizon plan --gpus N --hosts H` (plan/data_parallel.h): one GPU plans
// exactly as before; for two, the collective times and the per-GPU and
// per-host memory follow the formulas, checked against numbers computed by
// hand for the tiny model; machine files describe the links between GPUs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "passes/schedule_pipeline.h"
#include "plan/data_parallel.h"
#include "plan/machine.h"
#include "tests/test_support.h"

namespace horizon {
namespace {

using testing::run_horizon;
using testing::source_path;

// tiny.json by hand: vocab 256, hidden 256, 4 layers, q/k/v/o 256 x 256,
// MLP 3 x 688 x 256, two norms of 256 per block; the head's norm and lm_head.
constexpr double kBlock = 2 * 256 + 4 * 256 * 256 + 3 * 688 * 256;  // 791,040
constexpr double kEmbed = 256 * 256;                                // 65,536
constexpr double kParams = kEmbed + 4 * kBlock + 256 + 256 * 256;   // 3,295,488

plan::Machine two_link_machine() {
  plan::Machine m = plan::default_machine();
  m.gpu_link_gbps = 450;
  m.network_gbps = 400;
  m.host_memory_gbps = 100;
  return m;
}

TEST(PlanParallel, RingTimesFollowTheFormula) {
  EXPECT_EQ(plan::ring_seconds(1e9, 1, 450), 0.0);
  EXPECT_DOUBLE_EQ(plan::ring_seconds(1e9, 2, 500), 1e9 * 0.5 / 500e9);    // 1 ms
  EXPECT_DOUBLE_EQ(plan::ring_seconds(8e9, 8, 400), 8e9 * 7 / 8 / 400e9);  // 17.5 ms
  const plan::Machine m = two_link_machine();
  EXPECT_EQ(plan::collective_gbps(m, {8, 1}), 450);  // NVLink inside a host
  EXPECT_EQ(plan::collective_gbps(m, {8, 2}), 400);  // the network between hosts is slower
  plan::Machine bare = m;
  bare.gpu_link_gbps = 0;
  testing::expect_user_error([&] { plan::collective_gbps(bare, {2, 1}); }, {"\"gpu_link_gbps\"", "machine"});
  bare = m;
  bare.network_gbps = 0;
  EXPECT_EQ(plan::collective_gbps(bare, {2, 1}), 450);  // one host needs no network
  testing::expect_user_error([&] { plan::collective_gbps(bare, {2, 2}); }, {"\"network_gbps\"", "hosts"});
}

ir::Schedule tiny_schedule(const ir::Module& m, int64_t resident) {
  passes::StreamingOptions o;
  o.batch = 4;
  o.seq = 128;
  o.resident = resident;
  return passes::lower_to_schedule(m, o);
}

TEST(PlanParallel, OneGpuIsTheSingleGpuPlanExactly) {
  const ir::Module m = testing::lowered("tiny.json");
  const ir::Schedule s = tiny_schedule(m, 2);
  const plan::ParallelStep p = plan::parallel_step(s, m, plan::Machine{}, {1, 1}, 0.123456789, 5e9);
  EXPECT_EQ(p.step_seconds, 0.123456789);  // no link is even asked for
  EXPECT_EQ(p.reduce_scatter_seconds + p.all_gather_seconds + p.tail_seconds + p.host_streaming_seconds, 0.0);
  const plan::MemoryTable gpu = plan::gpu_memory(s, 80e9), host = plan::host_memory(s, m, 100e9);
  const plan::MemoryTable gpu1 = plan::gpu_memory_per_gpu(gpu, s, m, {1, 1});
  const plan::MemoryTable host1 = plan::host_memory_per_host(host, {1, 1});
  EXPECT_EQ(gpu1.total, gpu.total);
  EXPECT_EQ(host1.total, host.total);
  ASSERT_EQ(gpu1.lines.size(), gpu.lines.size());
  for (size_t i = 0; i < gpu.lines.size(); ++i) EXPECT_EQ(gpu1.lines[i].bytes, gpu.lines[i].bytes);
}

TEST(PlanParallel, TwoGpusStepByHand) {
  const ir::Module m = testing::lowered("tiny.json");
  const ir::Schedule s = tiny_schedule(m, 2);  // the embedding and block 0 resident
  const plan::Machine machine = two_link_machine();
  // Host-bound: 2 GPUs x 100 GB of PCIe traffic at 100 GB/s = 2 s beat the 1 s of one GPU.
  plan::ParallelStep p = plan::parallel_step(s, m, machine, {2, 1}, 1.0, 100e9);
  EXPECT_DOUBLE_EQ(p.gradient_bytes, 4 * kParams);                // 13,181,952 bytes of fp32 gradient
  EXPECT_DOUBLE_EQ(p.gathered_bytes, 2 * 2 * (kEmbed + kBlock));  // bf16, for forward and for backward
  EXPECT_DOUBLE_EQ(p.reduce_scatter_seconds, 4 * kParams / 2 / 450e9);
  EXPECT_DOUBLE_EQ(p.all_gather_seconds, 4 * (kEmbed + kBlock) / 2 / 450e9);
  EXPECT_DOUBLE_EQ(p.tail_seconds, 4 * kEmbed / 2 / 450e9);  // the embedding's gradient lands last
  EXPECT_DOUBLE_EQ(p.host_streaming_seconds, 2.0);
  EXPECT_DOUBLE_EQ(p.step_seconds, 2.0 + 4 * kEmbed / 2 / 450e9);
  // Compute-bound: 10 GB of traffic takes 0.2 s; the step is one GPU's plus the tail.
  p = plan::parallel_step(s, m, machine, {2, 1}, 1.0, 10e9);
  EXPECT_DOUBLE_EQ(p.step_seconds, 1.0 + 4 * kEmbed / 2 / 450e9);
  // Link-bound (a slow link): the collectives take longer than the step.
  plan::Machine slow = machine;
  slow.gpu_link_gbps = 1e-3;  // 1 MB/s
  p = plan::parallel_step(s, m, slow, {2, 1}, 1.0, 10e9);
  EXPECT_DOUBLE_EQ(p.step_seconds, (4 * kParams + 4 * (kEmbed + kBlock)) / 2 / 1e6 + 4 * kEmbed / 2 / 1e6);
  // Two hosts of one GPU: the network's 400 GB/s, no shared host streaming.
  p = plan::parallel_step(s, m, machine, {1, 2}, 1.0, 100e9);
  EXPECT_DOUBLE_EQ(p.reduce_scatter_seconds, 4 * kParams / 2 / 400e9);
  EXPECT_EQ(p.host_streaming_seconds, 0.0);
}

TEST(PlanParallel, TwoGpusMemoryByHand) {
  const ir::Module m = testing::lowered("tiny.json");
  const ir::Schedule s = tiny_schedule(m, 2);
  plan::MemoryTable gpu{
      "GPU memory",
      {{"resident layers (planes)", 8000, ""}, {"gradients (fp32)", 5000000, ""}, {"workspace arena", 1000, ""}},
      5009000,
      80e9};
  const plan::MemoryTable g = plan::gpu_memory_per_gpu(gpu, s, m, {2, 1});
  const double resident_gradient = 4 * (kEmbed + kBlock);  // 3,426,304 of the 5,000,000
  const double expected = 8000 / 2 + (5000000 - resident_gradient / 2) + 1000 + 2 * 2 * kBlock  // gather buffers
                          + 4 * kBlock                                                          // one layer's gradient
                          + 4 * kBlock / 2;  // the largest layer's reduce-scatter output
  EXPECT_DOUBLE_EQ(g.total, expected);
  EXPECT_DOUBLE_EQ(g.lines[0].bytes, 4000);

  plan::MemoryTable host{"host memory",
                         {{"bf16 weights (w_hi)", 200, ""},
                          {"fp32 master low halves (w_lo)", 200, ""},
                          {"Adam moments (m, v)", 400, ""},
                          {"pinned gradient slabs (fp32)", 1000, ""},
                          {"host checkpoints (pinned)", 50, ""}},
                         1850,
                         1e12};
  // One host, two GPUs: the store once, each process its half of the slabs, its own checkpoints.
  EXPECT_DOUBLE_EQ(plan::host_memory_per_host(host, {2, 1}).total, 200 + 200 + 400 + 1000 + 2 * 50);
  // Two hosts of one GPU: bf16 weights whole on both, the rest of the store and the slabs halved.
  EXPECT_DOUBLE_EQ(plan::host_memory_per_host(host, {1, 2}).total, 200 + 100 + 200 + 500 + 50);
  // Two hosts of four: a slab shard is 1/8, four processes per host.
  EXPECT_DOUBLE_EQ(plan::host_memory_per_host(host, {4, 2}).total, 200 + 100 + 200 + 1000 * 4 / 8 + 4 * 50);
}

TEST(PlanParallel, MachineFilesDescribeTheLinks) {
  const plan::Machine x8 = plan::load_machine(source_path("machines/h200-x8.json"));
  EXPECT_EQ(x8.gpu_link_gbps, 450);
  EXPECT_EQ(x8.network_gbps, 400);
  for (const char* file : {"machines/h100-pcie5.json", "machines/h200-1tb.json", "machines/h200-1.5tb.json"})
    EXPECT_GT(plan::load_machine(source_path(file)).gpu_link_gbps, 0) << file;
  // Optional: a one-GPU box need not describe them; a bad value is still an error.
  nlohmann::json doc = nlohmann::json::parse(testing::read_file(source_path("machines/h100-pcie5.json")));
  doc.erase("gpu_link_gbps");
  doc.erase("network_gbps");
  EXPECT_EQ(plan::parse_machine(doc.dump(), "box.json").gpu_link_gbps, 0);
  doc["gpu_link_gbps"] = -1;
  testing::expect_user_error([&] { plan::parse_machine(doc.dump(), "box.json"); }, {"box.json", "\"gpu_link_gbps\""});
}

TEST(PlanParallel, CommandPrintsTheParallelStepAndOneGpuIsUnchanged) {
  const std::string base = "plan " + source_path("models/tiny.json") + " --batch 4 --seq 128 --machine " +
                           source_path("machines/h200-x8.json");
  const testing::CommandResult one = run_horizon(base), same = run_horizon(base + " --gpus 1 --hosts 1"),
                               two = run_horizon(base + " --gpus 2");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(same.out, one.out);
  EXPECT_EQ(one.out.find("data parallel"), std::string::npos) << one.out;
  EXPECT_NE(two.out.find("GPU memory, per GPU"), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("host memory, per host"), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("data parallel (predicted): 2 GPU(s) per host x 1 host(s) = 2 ranks, ring at 450 GB/s"),
            std::string::npos)
      << two.out;
  EXPECT_NE(two.out.find("global batch             8 x 128"), std::string::npos) << two.out;
  const testing::CommandResult zero = run_horizon(base + " --gpus 0");
  EXPECT_EQ(zero.exit_code, 1);
  EXPECT_NE(zero.err.find("--gpus and --hosts must be positive"), std::string::npos) << zero.err;
}

}  // namespace
}  // namespace horizon
