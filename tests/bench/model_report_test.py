#!/usr/bin/env python3
"""bench/device/model_report.py: the goals table issue #6's device run ends with. A wrong verdict
or roofline figure there would misreport the one GPU run, so its arithmetic is checked here on
made-up METRIC lines (no GPU needed)."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "bench", "device", "model_report.py")
sys.path.insert(0, os.path.dirname(SCRIPT))
import model_report  # noqa: E402

# The work counts model_bench / infer_bench print for Phi-3-mini (tests/cuda/roofline_test.cpp
# derives the training figure by hand).
WORK = {
    "work_train_flop_per_tok": 15569584128.0,
    "work_prefill_2048_flop_per_tok": 7.7e9,
    "work_decode_b1_byte_per_tok": 2.145e9,
    "work_decode_b16_byte_per_tok": 2.0e8,
}


def row(table, label):
    """The table line of a metric, split into its columns after the label."""
    for line in table.splitlines():
        if line.startswith(label + " "):
            return line[len(label):].split()
    raise AssertionError(f"no row {label!r} in\n{table}")


class Table(unittest.TestCase):
    def table(self, vals, peaks=None):
        return model_report.build_table(dict(vals), peaks)

    def test_goals_met_with_roofline_fractions(self):
        vals = dict(WORK, train_tok_s=30000.0, hf_train_tok_s=12000.0, train_peak_mib=20000.0,
                    hf_train_peak_mib=50000.0, decode_b1_tok_s=1200.0, hf_decode_b1_tok_s=40.0,
                    decode_b16_tok_s=9000.0, hf_decode_b16_tok_s=600.0)
        t = self.table(vals)
        # 30000 tok/s x 15.57 GFLOP / 989 TFLOP/s = 47.2%; HF 12000 -> 18.9%; the goal 2.5 x HF
        # asks for exactly ours
        self.assertEqual(row(t, "training tok/s (ckpt off)"),
                         ["30,000.0", "12,000.0", "2.50", "47.2%", "18.9%", ">=", "2.5x", "HF",
                          "47.2%", "met"])
        self.assertEqual(row(t, "training peak MiB (ckpt off)")[-1], "met")
        # decode b1: 1200 x 2.145 GB / 4.8 TB/s = 53.6%; the goal 1000 tok/s needs 44.7%; HF's
        # decode gets no fraction (it moves other bytes)
        self.assertEqual(row(t, "decode b1 tok/s"),
                         ["1,200.0", "40.0", "30.00", "53.6%", "-", ">=", "1000", "44.7%", "met"])
        self.assertEqual(row(t, "decode b16 tok/s")[-1], "met")
        self.assertIn("goals met: 4 of 4", t)

    def test_misses_and_missing_numbers_are_not_met(self):
        vals = dict(WORK, train_tok_s=20000.0, hf_train_tok_s=12000.0, train_peak_mib=30000.0,
                    hf_train_peak_mib=50000.0, decode_b1_tok_s=999.0)
        t = self.table(vals)
        self.assertEqual(row(t, "training tok/s (ckpt off)")[-1], "MISSED")
        self.assertEqual(row(t, "training peak MiB (ckpt off)")[-1], "MISSED")
        self.assertEqual(row(t, "decode b1 tok/s")[-1], "MISSED")
        # no HF figure: the ratio goal is not met, and what it needs is unknown
        b16 = row(t, "decode b16 tok/s")
        self.assertEqual(b16[-2:], ["n/a", "(missing)"])
        self.assertEqual(b16[-3], "-")
        self.assertIn("goals met: 0 of 4", t)

    def test_without_work_lines_there_is_no_fraction(self):
        t = self.table({"train_tok_s": 30000.0, "hf_train_tok_s": 12000.0})
        self.assertEqual(row(t, "training tok/s (ckpt off)")[3:5], ["-", "-"])

    def test_a_goal_beyond_the_roofline_shows_over_100_percent(self):
        # HF decoding 16 sequences at 3000 tok/s: 10x that moves 30000 x 0.2 GB = 6 TB/s > 4.8
        t = self.table(dict(WORK, decode_b16_tok_s=20000.0, hf_decode_b16_tok_s=3000.0))
        self.assertEqual(row(t, "decode b16 tok/s")[-2:], ["125.0%", "MISSED"])

    def test_peaks_are_the_arguments(self):
        t = self.table(dict(WORK, train_tok_s=30000.0), model_report.Peaks(2 * model_report.BF16,
                                                                          model_report.HBM))
        self.assertEqual(row(t, "training tok/s (ckpt off)")[3], "23.6%")
        self.assertIn("1978 TFLOP/s", t)


class Parsing(unittest.TestCase):
    def test_bad_lines_are_skipped_and_the_last_value_wins(self):
        with tempfile.TemporaryDirectory() as d:
            a, b = os.path.join(d, "a.txt"), os.path.join(d, "b.txt")
            with open(a, "w") as f:
                f.write("METRIC,train_tok_s,1\nMETRIC,train_tok_s\nMETRIC,x,nan\nMETRIC,y,inf\n"
                        "METRIC,,3\nMETRIC,z,abc\nnoise\n")
            with open(b, "w") as f:
                f.write("METRIC,train_tok_s,2.5\n")
            vals = model_report.parse_metrics([a, b, os.path.join(d, "missing.txt")])
        self.assertEqual(vals, {"train_tok_s": 2.5})


class Script(unittest.TestCase):
    def run_script(self, *args):
        return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)

    def test_writes_the_table_and_the_profiles(self):
        with tempfile.TemporaryDirectory() as d:
            m, out = os.path.join(d, "m.txt"), os.path.join(d, "table.txt")
            with open(m, "w") as f:
                f.write("METRIC,decode_b1_tok_s,1500\nMETRIC,work_decode_b1_byte_per_tok,"
                        "2145000000\nPROFILE,train,lm_head,3.0,1\nPROFILE,train,attention,9.0,32\n")
            p = self.run_script("--peak-tbs", "3.35", "--out", out, m)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(out) as f:
                self.assertEqual(f.read(), p.stdout)
        # 1500 x 2.145 GB / 3.35 TB/s = 96.0%
        self.assertEqual(row(p.stdout, "decode b1 tok/s")[3], "96.0%")
        prof = p.stdout[p.stdout.index("where the time goes"):]
        self.assertLess(prof.index("attention"), prof.index("lm_head"))  # largest first
        self.assertIn("75.0%", prof)

    def test_refuses_a_peak_that_is_not_positive(self):
        p = self.run_script("--peak-tflops", "0", os.devnull)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--peak-tflops", p.stderr)


if __name__ == "__main__":
    unittest.main()
