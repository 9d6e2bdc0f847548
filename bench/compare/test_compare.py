"""Tests of the comparison's pure parts: the FLOP formula, parameter counts,
HF configs, token files, metrics.jsonl and bench_optimizer parsing, OOM
messages, the depth search and the tables. No GPU, PyTorch or Horizon
binary needed.

    python3 bench/compare/test_compare.py        (or: python3 -m pytest bench/compare)
"""
import array
import contextlib
import io
import json
import os
import sys
import tempfile
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import compare  # noqa: E402
import engine_runs  # noqa: E402
import fastest_config  # noqa: E402
import optimizer_compare  # noqa: E402
import report  # noqa: E402
import run_setup  # noqa: E402
from depth_search import DepthSearch  # noqa: E402
from measurements import (flops_per_token, format_bytes, median, model_tflops, parse_bench_optimizer,  # noqa: E402
                          parse_compute_apps, parse_count, parse_horizon_device_memory, parse_metrics_jsonl,
                          parse_oom, parse_size, timed_records, tokens_per_second)
from model_config import ModelError, hf_llama_config, load_model, parameter_count, with_layers  # noqa: E402
from token_file import (HEADER, TokenFileError, ensure_random_token_file, random_tokens, read_header,  # noqa: E402
                        write_token_file)


def model_file(name):
    return load_model(os.path.join(REPO, "models", name + ".json"))


class FlopFormula(unittest.TestCase):
    def test_formula(self):
        # 6N + 12 L H S: llama-1b at S = 2048.
        n, layers, hidden, seq = 940_640_256, 16, 2048, 2048
        self.assertEqual(flops_per_token(n, layers, hidden, seq), 6 * n + 12 * layers * hidden * seq)

    def test_tflops_and_tokens(self):
        self.assertAlmostEqual(tokens_per_second(8, 2048, 0.5), 32768.0)
        tflops = model_tflops(1_000_000_000, 10, 1000, 1000, 10_000)
        self.assertAlmostEqual(tflops, (6e9 + 12 * 10 * 1000 * 1000) * 1e4 / 1e12)

    def test_matches_horizon_trainer(self):
        # tiny 4x64 on the CPU: Horizon's metrics.jsonl said 3191.9 tokens/s, 0.065624 TFLOPS.
        self.assertAlmostEqual(model_tflops(3_295_488, 4, 256, 64, 3191.9), 0.065624, places=5)

    def test_median(self):
        self.assertEqual(median([3.0, 1.0, 2.0]), 2.0)
        self.assertEqual(median([4.0, 1.0, 2.0, 3.0]), 2.5)
        with self.assertRaises(ValueError):
            median([])


class ModelConfig(unittest.TestCase):
    def test_parameter_counts_match_horizon_compile(self):
        # `horizon compile MODEL --params` totals.
        self.assertEqual(parameter_count(model_file("llama-1b")), 940_640_256)
        self.assertEqual(parameter_count(model_file("llama2-7b")), 6_738_415_616)
        self.assertEqual(parameter_count(model_file("tiny")), 3_295_488)

    def test_tied_embeddings_count_once(self):
        qwen = model_file("tiny-qwen")
        c = qwen["config"]
        embed = c["vocab"] * c["hidden"]
        # lm_head shares model.embed_tokens.weight: counting it again would add vocab * hidden.
        untied = json.loads(json.dumps(qwen))
        untied["stages"][-1]["params"][-1]["checkpoint"] = "lm_head.weight"
        self.assertEqual(parameter_count(untied) - parameter_count(qwen), embed)

    def test_depth_scales_block_parameters(self):
        base = model_file("llama2-7b")
        per_layer = (parameter_count(with_layers(base, 33)) - parameter_count(base))
        self.assertEqual(per_layer, 202_383_360)
        self.assertEqual(with_layers(base, 64)["config"]["layers"], 64)
        self.assertEqual(base["config"]["layers"], 32, "with_layers must not change its input")

    def test_hf_config(self):
        hf = hf_llama_config(model_file("llama2-7b"))
        self.assertEqual(hf["hidden_size"], 4096)
        self.assertEqual(hf["intermediate_size"], 11008)
        self.assertEqual(hf["num_hidden_layers"], 32)
        self.assertEqual(hf["num_key_value_heads"], 32)
        self.assertEqual(hf["head_dim"], 128)
        self.assertEqual(hf["vocab_size"], 32000)
        self.assertFalse(hf["tie_word_embeddings"])
        self.assertEqual(hf["rope_theta"], 10000.0)

    def test_refuses_non_llama(self):
        for name in ("tiny-qwen", "tiny-gpt2"):
            with self.assertRaises(ModelError, msg=name):
                hf_llama_config(model_file(name))

    def test_bad_shape_expression_names_it(self):
        m = model_file("tiny")
        m["stages"][0]["params"][0]["shape"] = ["vocab", "width"]
        with self.assertRaisesRegex(ModelError, "width"):
            parameter_count(m)


class TokenFiles(unittest.TestCase):
    def test_documented_example(self):
        # docs/token-file.md: "Hi" with V = 256.
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "hi.tokens")
            write_token_file(path, array.array("H", [72, 105]), 256)
            with open(path, "rb") as f:
                data = f.read()
        expected = bytes.fromhex("485a544f4b454e53 01000000 02000000 0200000000000000 0001000000000000 4800 6900"
                                 .replace(" ", ""))
        self.assertEqual(data, expected)

    def test_random_tokens_are_seeded_and_in_range(self):
        a, b = random_tokens(1000, 32000, 7), random_tokens(1000, 32000, 7)
        self.assertEqual(a, b)
        self.assertNotEqual(a, random_tokens(1000, 32000, 8))
        self.assertTrue(all(0 <= t < 32000 for t in a))
        self.assertEqual(random_tokens(10, 100_000, 1).itemsize, 4)

    def test_header_round_trip_and_errors(self):
        with tempfile.TemporaryDirectory() as d:
            path = ensure_random_token_file(os.path.join(d, "r.tokens"), 5000, 32000, 1)
            self.assertEqual(read_header(path), (2, 5000, 32000))
            self.assertEqual(os.path.getsize(path), HEADER.size + 10000)
            with open(path, "ab") as f:
                f.write(b"x")
            with self.assertRaisesRegex(TokenFileError, "promises"):
                read_header(path)
            ensure_random_token_file(path, 5000, 32000, 1)  # a damaged file is rewritten
            self.assertEqual(read_header(path), (2, 5000, 32000))


class HorizonMetrics(unittest.TestCase):
    LINE = ('{{"step": {s}, "loss": 5.57, "val_loss": null, "lr": 0.0001, "grad_norm": 5.09, "step_ms": {ms}, '
            '"tokens_per_s": 2970.7, "tflops": 0.061, "rss_bytes": 285683712, "activation_peak_bytes": 6766592}}')

    def text(self, steps):
        return "\n".join(self.LINE.format(s=s, ms=100.0 + s) for s in steps) + "\n"

    def test_parse_and_select(self):
        records = parse_metrics_jsonl(self.text(range(1, 8)))
        self.assertEqual(len(records), 7)
        timed = timed_records(records, warmup=2, steps=4)
        self.assertEqual([r["step"] for r in timed], [3, 4, 5, 6])
        self.assertEqual([r["step_ms"] for r in timed], [103.0, 104.0, 105.0, 106.0])

    def test_partial_last_line_is_skipped(self):
        text = self.text([1, 2]) + self.LINE.format(s=3, ms=1)[:40]
        self.assertEqual(len(parse_metrics_jsonl(text)), 2)

    def test_bad_middle_line_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "line 2"):
            parse_metrics_jsonl(self.text([1]) + "garbage\n" + self.text([2]))

    def test_missing_steps_are_named(self):
        with self.assertRaisesRegex(ValueError, r"\[4, 5\]"):
            timed_records(parse_metrics_jsonl(self.text([1, 2, 3])), warmup=1, steps=4)

    def test_device_memory_line(self):
        line = "cuda: NVIDIA H100 80GB HBM3 | device memory 12.50 GiB (schedule 10.00 GiB + stage scratch 2.50 GiB)"
        self.assertEqual(parse_horizon_device_memory(line), int(12.5 * 2**30))
        self.assertIsNone(parse_horizon_device_memory("device cpu | batch 4"))


class OutOfMemoryMessages(unittest.TestCase):
    def test_torch_cuda(self):
        msg = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.95 GiB. GPU 0 has a total capacity "
               "of 79.19 GiB of which 1.02 GiB is free.")
        oom = parse_oom(msg)
        self.assertEqual((oom.where, oom.bytes), ("gpu", int(round(1.95 * 2**30))))
        self.assertIn("GPU OOM (tried to allocate 1.95 GiB)", oom.describe())

    def test_torch_cuda_mib(self):
        self.assertEqual(parse_oom("Tried to allocate 512.00 MiB").bytes, 512 * 2**20)

    def test_torch_cpu(self):
        oom = parse_oom("RuntimeError: [enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate "
                        "memory: you tried to allocate 26953662464 bytes. Error code 12 (Cannot allocate memory)")
        self.assertEqual((oom.where, oom.bytes), ("host", 26953662464))

    def test_horizon_refusal(self):
        oom = parse_oom("error: horizon train: GPU memory: the step needs 91.20 GiB, the budget is 80.00 GiB")
        self.assertEqual((oom.where, oom.bytes), ("plan", int(round(91.2 * 2**30))))
        self.assertEqual(oom.describe(), "OOM, refused before allocating (GPU memory needed 91.20 GiB)")

    def test_plain_messages(self):
        self.assertEqual(parse_oom("RuntimeError: CUDA error: out of memory").where, "gpu")
        self.assertEqual(parse_oom("terminate called after throwing an instance of 'std::bad_alloc'").where, "host")
        self.assertIsNone(parse_oom("RuntimeError: shape mismatch"))
        self.assertIsNone(parse_oom(""))

    def test_sizes(self):
        self.assertEqual(parse_size("1.5 KiB"), 1536)
        self.assertEqual(parse_size("3 GB"), 3 * 10**9)
        self.assertEqual(format_bytes(1536), "1.50 KiB")
        self.assertEqual(format_bytes(None), "—")
        self.assertEqual(format_bytes(12), "12 B")
        with self.assertRaises(ValueError):
            parse_size("lots")


class NvidiaSmi(unittest.TestCase):
    def test_compute_apps(self):
        out = "4242, 20480\n4343, 1024\n"
        self.assertEqual(parse_compute_apps(out, 4343), 1024 * 2**20)
        self.assertIsNone(parse_compute_apps(out, 1))
        self.assertIsNone(parse_compute_apps("4242, [N/A]\n", 4242))
        self.assertIsNone(parse_compute_apps("No running processes found\n", 4242))


class BenchOptimizerOutput(unittest.TestCase):
    TEXT = """AdamW, JIT avx512, bf16 moments: 16000000 params, 2 threads, 0.18 GiB of state and gradient
  bytes per param: 20 = read 12 (w_hi 2, w_lo 2, m 2, v 2, grad 4) + write 8
  median of 5 steps: 5.4 ms (fastest 5.0)  ->  2.983 Gparam/s, 59.7 GB/s
memory bandwidth, medians of 5 runs interleaved with the steps, 2 threads, 2 x 512 MiB:
  copy   a = b        38.2 GB/s (8 B/elt counted, write-allocate not)
  triad  a = a + s*b  58.9 GB/s (12 B/elt, in place like the optimizer)
  same traffic as AdamW, no math: 60.8 GB/s (20 B/param, on the optimizer's buffers)
AdamW achieved / triad: 1.01, / same-traffic: 0.98 (1.0 = memory bound)
"""

    def test_parse(self):
        r = parse_bench_optimizer(self.TEXT)
        self.assertEqual((r["isa"], r["moments"], r["params"], r["threads"]), ("avx512", "bf16", 16_000_000, 2))
        self.assertEqual((r["bytes_per_param"], r["steps"], r["median_ms"]), (20, 5, 5.4))
        self.assertEqual((r["gparams_per_s"], r["gb_per_s"], r["same_traffic_gb_per_s"]), (2.983, 59.7, 60.8))

    def test_missing_line(self):
        with self.assertRaises(ValueError):
            parse_bench_optimizer("bench_optimizer: --params x: expected a positive count")

    def test_counts(self):
        self.assertEqual(parse_count("256M"), 256_000_000)
        self.assertEqual(parse_count("1.5G"), 1_500_000_000)
        self.assertEqual(parse_count("1000"), 1000)
        with self.assertRaises(ValueError):
            parse_count("1T")


def search_with_limit(limit, start=8, max_layers=1024, resolution=1):
    """Runs a DepthSearch against an engine that fits at most `limit` layers."""
    s = DepthSearch(start, max_layers, resolution)
    while (layers := s.next_probe()) is not None:
        s.record(layers, layers <= limit)
        assert len(s.probes) < 64, "search does not terminate"
    return s


class DepthSearchLogic(unittest.TestCase):
    def test_doubles_then_bisects(self):
        s = search_with_limit(78)
        self.assertEqual(s.fits, 78)
        self.assertEqual(s.fails, 79)
        self.assertEqual([p for p, _ in s.probes[:6]], [8, 16, 32, 64, 128, 96])

    def test_every_limit(self):
        for limit in range(0, 140):
            s = search_with_limit(limit, max_layers=200)
            self.assertEqual(s.fits, limit, f"limit {limit}")
            self.assertEqual(s.fails, limit + 1, f"limit {limit}")
            self.assertFalse(s.capped)

    def test_start_too_big_bisects_down(self):
        s = search_with_limit(3, start=32)
        self.assertEqual((s.fits, s.fails), (3, 4))
        self.assertEqual(s.probes[0], (32, False))

    def test_nothing_fits(self):
        s = search_with_limit(0)
        self.assertEqual((s.fits, s.fails), (0, 1))
        self.assertIn("none fits", s.describe())

    def test_cap(self):
        s = search_with_limit(10_000, max_layers=100)
        self.assertTrue(s.capped)
        self.assertEqual(s.fits, 100)
        self.assertEqual([p for p, _ in s.probes], [8, 16, 32, 64, 100])

    def test_resolution_stops_early(self):
        s = search_with_limit(78, resolution=8)
        self.assertLessEqual(s.fails - s.fits, 8)
        self.assertLessEqual(s.fits, 78)
        self.assertGreater(s.fails, 78)

    def test_inconsistent_probes(self):
        s = DepthSearch(8, 64)
        s.record(8, False)
        with self.assertRaises(ValueError):
            s.record(16, True)


class Tables(unittest.TestCase):
    def rows(self):
        entry = run_setup.ModelEntry("llama-1b", "m.json", model_file("llama-1b"), 8, 2048)
        h, g, f = (engine_runs.row("shape", entry, e, 8, 2048) for e in ("horizon", "pytorch-gpu",
                                                                         "pytorch-fsdp2-offload"))
        engine_runs.finish_timing(h, [500.0, 400.0, 450.0], 8, 2048)
        engine_runs.finish_timing(g, [900.0], 8, 2048)
        h["status"] = g["status"] = "ok"
        f.update(status="oom", detail="GPU OOM (tried to allocate 2.00 GiB) in step 1 optimizer")
        return h, g, f

    def test_ratio_and_oom_rows(self):
        h, g, f = self.rows()
        self.assertAlmostEqual(h["tokens_per_s"], 8 * 2048 / 0.45)
        table = report.training_table([g, f, h])
        lines = table.splitlines()
        self.assertIn("| horizon |", lines[2], "Horizon comes first in its group")
        self.assertIn("2.00×", lines[3])
        self.assertIn("GPU OOM (tried to allocate 2.00 GiB)", lines[4])
        self.assertIn("Horizon trains it, this engine does not", lines[4])

    def test_peers_only(self):
        _, g, f = self.rows()
        for line in report.training_table([g, f]).splitlines()[2:]:
            self.assertTrue(line.endswith("| — |"), line)

    def test_largest_row(self):
        entry = run_setup.ModelEntry("llama2-7b", None, with_layers(model_file("llama2-7b"), 78), 4, 2048)
        r = engine_runs.row("largest", entry, "horizon", 4, 2048)
        r["status"], r["tokens_per_s"], r["tflops"] = "ok", 1000.0, 100.0
        self.assertIn("largest trainable: 78 layers, 16.05B", report.training_table([r]))

    def test_section(self):
        h, g, f = self.rows()
        meta = {"date": "2026-11-26", "commit": "abc1234", "command": "compare.py", "cores": 16,
                "gpu": {"name": "NVIDIA H100 80GB HBM3", "memory": "81559 MiB", "driver": "580.159.04"}}
        text = report.section(meta, {"warmup": 2, "steps": 3, "lr": 1e-4, "clip": 1.0}, [h, g, f], [], " (partial)")
        self.assertTrue(text.startswith("## 2026-11-26 — side-by-side comparison (partial) (commit abc1234)"))
        self.assertIn("NVIDIA H100 80GB HBM3 (81559 MiB, driver 580.159.04)", text)


def attempt_row(status, detail="", notes=()):
    return {"status": status, "detail": detail, "notes": list(notes), "log": ""}


class FastestConfiguration(unittest.TestCase):
    def test_order_fastest_first(self):
        names = [c.name for c in fastest_config.CONFIGURATIONS]
        self.assertEqual(names, ["compile, no checkpointing", "no compile, no checkpointing",
                                 "compile, checkpointing", "no compile, checkpointing"])
        flags = [(c.compile, c.checkpointing) for c in fastest_config.CONFIGURATIONS]
        self.assertEqual(flags, [(True, False), (False, False), (True, True), (False, True)])
        self.assertEqual(fastest_config.CONFIGURATIONS[-1].name, fastest_config.CHECKPOINTED)
        self.assertEqual(len({c.slug for c in fastest_config.CONFIGURATIONS}), 4, "one folder per attempt")

    def test_first_that_fits_stops_the_search(self):
        tried = []

        def run(c):
            tried.append(c.name)
            return attempt_row("ok")
        r = fastest_config.run_fastest(run)
        self.assertEqual(tried, ["compile, no checkpointing"])
        self.assertEqual(r["configuration"], "compile, no checkpointing")
        self.assertEqual(r["notes"], [], "nothing failed, nothing to say")

    def test_falls_back_on_oom_and_compile_errors(self):
        outcomes = {"compile, no checkpointing":
                    attempt_row("oom", "GPU OOM (tried to allocate 1.95 GiB) in step 1 backward"),
                    "no compile, no checkpointing":
                    attempt_row("oom", "GPU OOM (tried to allocate 3.91 GiB) in step 1 forward"),
                    "compile, checkpointing": attempt_row("ok", notes=["fused AdamW"])}
        tried = []

        def run(c):
            tried.append(c.name)
            return outcomes[c.name]
        r = fastest_config.run_fastest(run)
        self.assertEqual(tried, ["compile, no checkpointing", "no compile, no checkpointing", "compile, checkpointing"])
        self.assertEqual((r["status"], r["configuration"]), ("ok", "compile, checkpointing"))
        self.assertEqual(r["notes"][0], "fused AdamW")
        self.assertEqual(r["notes"][1], "tried first: compile, no checkpointing: GPU OOM (tried to allocate 1.95 GiB) "
                                        "in step 1 backward; no compile, no checkpointing: GPU OOM (tried to allocate "
                                        "3.91 GiB) in step 1 forward")
        self.assertEqual([a["status"] for a in r["attempts"]], ["oom", "oom", "ok"])

    def test_nothing_fits(self):
        r = fastest_config.run_fastest(lambda c: attempt_row("oom", f"GPU OOM in {c.slug}"))
        self.assertEqual((r["status"], r["detail"]), ("oom", "GPU OOM in eager-checkpointing"))
        self.assertIsNone(r["configuration"])
        self.assertTrue(r["notes"][0].startswith("no configuration trained: compile, no checkpointing: GPU OOM"))
        self.assertEqual(r["notes"][0].count("; "), 3)

    def test_failure_phrase_is_short(self):
        r = attempt_row("error", "exit status 1: You can suppress this exception")
        r["error_head"] = "BackendCompilerFailed: backend='inductor' raised: " + "x" * 500
        phrase = fastest_config.failure_phrase(r)
        self.assertTrue(phrase.startswith("error: BackendCompilerFailed: backend='inductor'"))
        self.assertLessEqual(len(phrase), 140)
        self.assertEqual(fastest_config.failure_phrase(attempt_row("timeout", "timed out after 1800 s")),
                         "timeout: timed out after 1800 s")


class FakeOutcome:
    """What child_process.run_child returns, for a child that exited."""
    def __init__(self, log_path, returncode):
        self.log_path, self.returncode = log_path, returncode
        self.timed_out, self.stopped, self.signal = False, False, None
        self.max_rss_bytes, self.gpu_used_bytes, self.gpu_used_note, self.wall_s = 2 << 30, 20 << 30, "", 60.0

    @property
    def ok(self):
        return self.returncode == 0

    def describe_end(self):
        return f"exit status {self.returncode}"


class FastEngineRuns(unittest.TestCase):
    """Runner.train for pytorch-gpu-fast with the child processes simulated: each attempt's result.json is what
    torch_engines.py would write for an OOM, a compile error or a run that trained."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.args = compare.parse_args(["--work-dir", self.tmp.name, "--warmup", "1", "--steps", "3"])
        self.entry = run_setup.resolve_model("tiny:4x64")
        self.specs = []

    def fake_child(self, results):
        def run_child(argv, log_path, timeout, env=None, **_):
            with open(argv[-1]) as f:
                spec = json.load(f)
            self.specs.append(spec)
            result = results[spec["configuration"]](spec)
            with open(spec["result"], "w") as f:
                json.dump(result, f)
            return FakeOutcome(log_path, 0 if result["status"] == "ok" else 1)
        return run_child

    @staticmethod
    def oom(spec):
        return {"status": "oom", "phase": "step 1 backward", "steps": [], "notes": [],
                "message": "OutOfMemoryError: CUDA out of memory. Tried to allocate 1.95 GiB. GPU 0 has a total "
                           "capacity of 139.80 GiB of which 1.02 GiB is free."}

    @staticmethod
    def trained(spec):
        steps = [{"step": i + 1, "ms": 40_000.0 if i == 0 else 200.0, "loss": 10.4}
                 for i in range(spec["warmup"] + spec["steps"])]
        return {"status": "ok", "steps": steps, "notes": [], "params": 3_295_488, "gpu_peak_bytes": 30 << 30,
                "configuration": spec["configuration"]}

    def run_fast(self, results):
        runner = engine_runs.Runner(self.args)
        run_dir = os.path.join(self.tmp.name, "runs", "fast")
        with mock.patch.object(engine_runs, "run_child", self.fake_child(results)):
            return runner.train("shape", self.entry, "pytorch-gpu-fast", 4, 64, 1, 3, run_dir, 60)

    def test_oom_falls_back_to_the_next_configuration_in_a_new_process(self):
        r = self.run_fast({"compile, no checkpointing": self.oom,
                           "no compile, no checkpointing": lambda spec: {
                               "status": "error", "phase": "step 1 forward", "steps": [], "notes": [],
                               "message": "RuntimeError: something else broke\nsecond line"},
                           "compile, checkpointing": self.trained})
        self.assertEqual([s["configuration"] for s in self.specs],
                         ["compile, no checkpointing", "no compile, no checkpointing", "compile, checkpointing"])
        self.assertEqual([(s["compile"], s["checkpointing"]) for s in self.specs], [(True, False), (False, False),
                                                                                   (True, True)])
        self.assertEqual(len({s["result"] for s in self.specs}), 3, "each attempt has its own folder")
        self.assertTrue(all(s["warmup"] == fastest_config.MIN_WARMUP for s in self.specs), "--warmup 1 is raised")
        self.assertEqual((r["status"], r["configuration"]), ("ok", "compile, checkpointing"))
        self.assertEqual(r["step_ms"], [200.0] * 3, "the compiling steps are warm-up, not timed")
        notes = "\n".join(r["notes"])
        self.assertIn("tried first: compile, no checkpointing: GPU OOM (tried to allocate 1.95 GiB) in step 1 "
                      "backward; no compile, no checkpointing: error: RuntimeError: something else broke", notes)
        self.assertIn("warm-up steps 40.0, 0.2, 0.2 s", notes)
        self.assertIn("3 warm-up steps (at least 3 for torch.compile)", notes)
        line = report.training_table([r]).splitlines()[2]
        self.assertIn("| pytorch-gpu-fast (compile, checkpointing) | 1,280 |", line)

    def test_every_configuration_oom_is_an_oom_row(self):
        r = self.run_fast({c.name: self.oom for c in fastest_config.CONFIGURATIONS})
        self.assertEqual(len(self.specs), 4)
        self.assertEqual(r["status"], "oom")
        self.assertEqual(r["detail"], "GPU OOM (tried to allocate 1.95 GiB) in step 1 backward")
        self.assertTrue(r["notes"][0].startswith("no configuration trained: "))

    def test_dry_run_prints_every_attempt(self):
        self.args.dry_run = True
        out = io.StringIO()
        with contextlib.redirect_stdout(out), mock.patch.object(engine_runs, "run_child") as child:
            engine_runs.Runner(self.args).train("shape", self.entry, "pytorch-gpu-fast", 4, 64, 1, 3,
                                                os.path.join(self.tmp.name, "fast"), 60)
        child.assert_not_called()
        text = out.getvalue()
        for c in fastest_config.CONFIGURATIONS:
            self.assertIn(f"pytorch-gpu-fast, {c.name} (spec:", text)
        self.assertEqual(text.count("torch_engines.py"), 4)


class FastEngineReport(unittest.TestCase):
    def rows(self):
        entry = run_setup.ModelEntry("llama2-7b", "m.json", model_file("llama2-7b"), 4, 2048)
        h, g, fast = (engine_runs.row("shape", entry, e, 4, 2048) for e in ("horizon", "pytorch-gpu",
                                                                            "pytorch-gpu-fast"))
        for r, ms in ((h, 922.0), (g, 1058.0), (fast, 728.0)):
            engine_runs.finish_timing(r, [ms], 4, 2048)
            r["status"] = "ok"
        g["configuration"] = fastest_config.CHECKPOINTED
        fast["configuration"] = "compile, no checkpointing"
        return h, g, fast

    def test_row_names_its_configuration_and_ratio(self):
        lines = report.training_table(list(self.rows())).splitlines()
        self.assertIn("| pytorch-gpu (no compile, checkpointing) |", lines[3])
        self.assertIn("| pytorch-gpu-fast (compile, no checkpointing) | 11,253 |", lines[4])
        self.assertTrue(lines[4].endswith("| 0.79× |"), lines[4])

    def test_none_trained(self):
        h, g, fast = self.rows()
        fast.update(status="oom", detail="GPU OOM (tried to allocate 1.95 GiB) in step 1 optimizer", configuration=None)
        line = report.training_table([h, fast]).splitlines()[3]
        self.assertIn("| pytorch-gpu-fast | GPU OOM (tried to allocate 1.95 GiB)", line)
        self.assertIn("Horizon trains it, this engine does not", line)

    def test_method_explains_the_search_only_when_it_ran(self):
        settings = {"warmup": 1, "steps": 3, "lr": 1e-4, "clip": 1.0}
        h, g, fast = self.rows()
        self.assertIn("pytorch-gpu-fast ran the first of", report.method_text(settings, [h, fast]))
        self.assertIn("at least 3 warm-up steps", report.method_text(settings, [h, fast]))
        self.assertNotIn("pytorch-gpu-fast", report.method_text(settings, [h, g]))


class OptimizerRounds(unittest.TestCase):
    def test_median_round_and_notes(self):
        rounds = [{"status": "ok", "gparams_per_s": g, "median_ms": 256 / g, "notes": ["fused"]} for g in (6.0, 5.0, 7.0)]
        row = optimizer_compare.combine_rounds({"engine": "torch", "label": "t"}, rounds)
        self.assertEqual((row["status"], row["gparams_per_s"]), ("ok", 6.0))
        self.assertEqual(row["notes"][0], "fused")
        self.assertIn("6.000, 5.000, 7.000", row["notes"][-1])

    def test_a_failed_round_fails_the_row(self):
        rounds = [{"status": "ok", "gparams_per_s": 6.0}, {"status": "error", "detail": "exit status 1"}]
        row = optimizer_compare.combine_rounds({"engine": "horizon", "label": "h"}, rounds)
        self.assertEqual((row["status"], row["detail"]), ("error", "exit status 1"))


class CommandLine(unittest.TestCase):
    def test_models_and_shapes(self):
        e = run_setup.resolve_model("llama-1b")
        self.assertEqual((e.batch, e.seq, e.params), (8, 2048, 940_640_256))
        self.assertEqual(run_setup.resolve_model("tiny:4x64").batch, 4)
        with self.assertRaises(run_setup.CompareError):
            run_setup.resolve_model("tiny")  # no default shape
        with self.assertRaises(run_setup.CompareError):
            run_setup.resolve_model("tiny:4by64")

    def test_engines(self):
        self.assertEqual(run_setup.parse_engines("pytorch-gpu, horizon"), ["pytorch-gpu", "horizon"])
        self.assertEqual(compare.parse_args([]).engines,
                         ["horizon", "pytorch-gpu", "pytorch-gpu-fast", "pytorch-fsdp2-offload"])
        with self.assertRaises(run_setup.CompareError):
            run_setup.parse_engines("deepspeed")

    def test_token_count_covers_the_validation_split(self):
        for b, s in ((8, 2048), (1, 32768), (64, 4096)):
            n = run_setup.token_count(b, s)
            self.assertGreaterEqual(n * 0.01, s + 1)
            self.assertGreaterEqual(n, b * s + 1)


if __name__ == "__main__":
    unittest.main()
