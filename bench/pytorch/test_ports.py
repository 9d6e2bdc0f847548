#!/usr/bin/env python3
"""Checks horizon_ports.py against values the C++ code produced.

    python3 bench/pytorch/test_ports.py

The expected values were obtained once by a small throwaway C++ program
(not kept) that linked data/batch_sampler.cpp, data/token_dataset.cpp,
data/token_file.cpp and runtime/lr_schedule.cpp and printed: the split sizes
of TokenDataset::from_tokens, the first two batches of BatchSampler(train, 3,
5, seed) and its state for three seeds, LrSchedule::at with %.17g, and the
bytes of write_token_file. When one of those sources changes on purpose,
rerun such a program and update the numbers here together with the port.
Standard library only.
"""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import horizon_ports as ports  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# TokenDataset::from_tokens(TOKENS, 256, 0.05): tokens (37 i + 11) mod 256.
TOKENS = [(i * 37 + 11) % 256 for i in range(1000)]

# BatchSampler(train split of TOKENS, batch 3, seq 5, seed): next() twice, then state().
SAMPLES = {
    1: ([[202, 239, 20, 57, 94], [136, 173, 210, 247, 28], [99, 136, 173, 210, 247]],
        [[251, 32, 69, 106, 143], [38, 75, 112, 149, 186], [94, 131, 168, 205, 242]],
        13064056694810536063),
    2: ([[227, 8, 45, 82, 119], [125, 162, 199, 236, 17], [200, 237, 18, 55, 92]],
        [[153, 190, 227, 8, 45], [251, 32, 69, 106, 143], [133, 170, 207, 244, 25]],
        13064056694810536064),
    0xFFFFFFFFFFFFFFF0: ([[91, 128, 165, 202, 239], [156, 193, 230, 11, 48], [239, 20, 57, 94, 131]],
                         [[87, 124, 161, 198, 235], [217, 254, 35, 72, 109], [44, 81, 118, 155, 192]],
                         13064056694810536046),
}

# LrSchedule{kind, peak 3e-3, warmup 4, total 20, min_ratio 0.1}.at(0..20).
LR = {
    "cosine": [0.00075000000000000002, 0.0015, 0.0022500000000000003, 0.0030000000000000001, 0.0030000000000000001,
               0.0029704992609906377, 0.0028832863678175109, 0.0027421729424061793, 0.0025533263185844586,
               0.0023249999999999998, 0.0020671729424061791, 0.0017911134254113325, 0.001508886574588668,
               0.0012328270575938211, 0.00097500000000000039, 0.00074667368141554183, 0.00055782705759382109,
               0.00041671363218248874, 0.00032950073900936237, 0.00030000000000000003, 0.00030000000000000003],
    "linear": [0.00075000000000000002, 0.0015, 0.0022500000000000003, 0.0030000000000000001, 0.0030000000000000001,
               0.00282, 0.00264, 0.0024599999999999999, 0.0022799999999999999, 0.0021000000000000003, 0.00192,
               0.00174, 0.00156, 0.0013799999999999999, 0.0012000000000000001, 0.0010200000000000001,
               0.00084000000000000003, 0.00066, 0.00047999999999999996, 0.00029999999999999992,
               0.00029999999999999992],
    "constant": [0.00075000000000000002, 0.0015, 0.0022500000000000003] + [0.0030000000000000001] * 18,
}

# write_token_file("hi", {72, 105}, 256) and ({0, 70000, 123456}, 200000): the whole files.
HI_FILE = bytes.fromhex("485a544f4b454e53 01000000 02000000 0200000000000000 0001000000000000 4800 6900"
                        .replace(" ", ""))
WIDE_FILE = bytes.fromhex("485a544f4b454e53 01000000 04000000 0300000000000000 400d030000000000"
                          " 00000000 70110100 40e20100".replace(" ", ""))


class SamplerTest(unittest.TestCase):
    def test_split_sizes(self):
        self.assertEqual(len(ports.split_train(TOKENS, 0.05)), 950)
        self.assertEqual(len(ports.split_train(TOKENS[:999], 0.1)), 900)
        self.assertEqual(len(ports.split_train(TOKENS[:30], 0.3)), 21)

    def test_batches_and_state(self):
        train = ports.split_train(TOKENS, 0.05)
        for seed, (first, second, state) in SAMPLES.items():
            with self.subTest(seed=seed):
                s = ports.BatchSampler(train, 3, 5, seed)
                for want in (first, second):
                    tokens, targets = s.next()
                    self.assertEqual(tokens, want)
                    # Targets are the windows shifted by one: the next token of the stream.
                    self.assertEqual(targets, [[(t + 37) % 256 for t in row] for row in want])
                self.assertEqual(s.state, state)

    def test_few_starts(self):
        # Four tokens, seq 2: windows start at 0 or 1 (bound 2), seed 42.
        tokens, _ = ports.BatchSampler([5, 6, 7, 8], 8, 2, 42).next()
        self.assertEqual(sum(tokens, []), [6, 7, 6, 7, 5, 6, 5, 6, 5, 6, 5, 6, 6, 7, 5, 6])


class LrScheduleTest(unittest.TestCase):
    def test_schedules(self):
        for kind, want in LR.items():
            got = [ports.lr_at(s, kind, 3e-3, 4, 20, 0.1) for s in range(21)]
            for step, (g, w) in enumerate(zip(got, want)):
                self.assertAlmostEqual(g, w, delta=1e-15 * w, msg=f"{kind} step {step}")

    def test_single_step_run(self):
        self.assertEqual(ports.lr_at(0, "cosine", 1e-3, 0, 1, 0.1), 0.001)
        self.assertAlmostEqual(ports.lr_at(1, "cosine", 1e-3, 0, 1, 0.1), 0.0001, delta=1e-19)


class ClipTest(unittest.TestCase):
    def test_factor(self):
        self.assertEqual(ports.clip_factor(0.5, 1.0), 1.0)
        self.assertEqual(ports.clip_factor(4.0, 1.0), 0.25)
        self.assertEqual(ports.clip_factor(4.0, 0.0), 1.0)
        self.assertEqual(ports.clip_factor(float("nan"), 1.0), 0.0)


class TokenFileTest(unittest.TestCase):
    def test_bytes_match_the_cpp_writer(self):
        with tempfile.TemporaryDirectory() as d:
            for name, tokens, vocab, want in (("hi", [72, 105], 256, HI_FILE),
                                              ("wide", [0, 70000, 123456], 200000, WIDE_FILE)):
                path = os.path.join(d, name + ".tokens")
                ports.write_token_file(path, tokens, vocab)
                with open(path, "rb") as f:
                    self.assertEqual(f.read(), want, name)
                got, got_vocab = ports.read_token_file(path)
                self.assertEqual((list(got), got_vocab), (tokens, vocab))

    def test_bad_files_name_the_problem(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "short.tokens")
            with open(path, "wb") as f:
                f.write(HI_FILE[:-2])
            with self.assertRaisesRegex(ValueError, "promises 2 tokens"):
                ports.read_token_file(path)
            with self.assertRaisesRegex(ValueError, "outside"):
                ports.write_token_file(path, [300], 256)


class DecayTest(unittest.TestCase):
    # Per frontend/model_json.cpp: "decay" where given, else rank >= 2.
    def test_tiny(self):
        decay = ports.decay_by_name(ports.load_model_json(os.path.join(ROOT, "models/tiny.json")))
        self.assertEqual(len(decay), 1 + 4 * 9 + 2)
        self.assertFalse(decay["model.embed_tokens.weight"])
        self.assertTrue(decay["lm_head.weight"])
        self.assertFalse(decay["model.norm.weight"])
        self.assertFalse(decay["model.layers.3.input_layernorm.weight"])
        self.assertTrue(decay["model.layers.3.mlp.down_proj.weight"])

    def test_tied_qwen(self):
        decay = ports.decay_by_name(ports.load_model_json(os.path.join(ROOT, "models/tiny-qwen.json")))
        self.assertNotIn("lm_head.weight", decay)
        self.assertFalse(decay["model.embed_tokens.weight"])
        self.assertFalse(decay["model.layers.1.self_attn.k_proj.bias"])
        self.assertTrue(decay["model.layers.1.self_attn.k_proj.weight"])


if __name__ == "__main__":
    unittest.main()
