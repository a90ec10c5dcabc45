#!/usr/bin/env python3
"""bench/device/model_report.py: ONE model-level table from the METRIC lines of our benches
(bench/cuda/model_bench, bench/cuda/infer_bench) and of the Hugging Face baseline
(bench/device/hf_model_bench.py), with issue #6's goals marked met / missed.

Usage: model_report.py [--out TABLE] FILE...    (each FILE: any text with `METRIC,<key>,<value>`
lines; keys starting with hf_ are the baseline's, the rest ours; a missing file counts as empty)
Then, from `PROFILE,<key>,<segment>,<ms>,<count>` lines, the largest segments of each profiled
step (training, decode at batch 1, prefill): the profile of the largest remaining cost.

Columns: metric, ours, HF, ratio = ours / HF, roofline fractions (ours, HF), goal, what the goal
needs of the roofline, verdict. Goals (issue #6):
  training, checkpointing off:  train_tok_s >= 2.5 x HF  and  train_peak_mib <= 0.5 x HF
  decode batch 1:               decode_b1_tok_s >= 1000
  decode batch 16:              decode_b16_tok_s >= 10 x HF
A goal whose numbers are missing reads "n/a (missing)" and counts as not met.
Roofline: tok/s x the work of a token (`METRIC,work_<...>` lines our benches print from
engine/cuda/roofline.h) / the GPU's peak. Training and prefill: model flops (recomputation not
counted) over the dense bf16 peak; the HF baseline does the same model flops, so it gets a
fraction too. Decode: the least bytes a generated token must move (NF4 weights, LoRA, lm_head,
KV cache) over the HBM bandwidth; HF's bf16 base moves 2 bytes a weight where ours moves about
0.52, so its decode rows get none. "needs": the fraction of OUR roofline the goal asks for
(above 100%: out of reach on this GPU whatever the code). Peaks: --peak-tflops, --peak-tbs; the
defaults are the H200 datasheet's, as report.py's kernel table.
Exit code 0 whatever the verdicts (run.sh's stage status is about the script, not the goals).
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import BF16, HBM  # noqa: E402  (one place for the datasheet peaks)

TRAIN_WORK, PREFILL_WORK = "work_train_flop_per_tok", "work_prefill_2048_flop_per_tok"
B1_WORK, B16_WORK = "work_decode_b1_byte_per_tok", "work_decode_b16_byte_per_tok"

# our key, label, goal kind, goal value, HF key (default hf_<our key>), work key (or None)
ROWS = [
    ("train_tok_s", "training tok/s (ckpt off)", "ratio_min", 2.5, None, TRAIN_WORK),
    ("train_peak_mib", "training peak MiB (ckpt off)", "ratio_max", 0.5, None, None),
    ("train_ckpt_tok_s", "training tok/s (ckpt on)", None, None, None, TRAIN_WORK),
    ("train_ckpt_peak_mib", "training peak MiB (ckpt on)", None, None, None, None),
    ("train_fused_head_tok_s", "  training tok/s, fused head", None, None, "hf_train_tok_s",
     TRAIN_WORK),
    ("train_nf4_mma_tok_s", "  training tok/s, fused NF4", None, None, "hf_train_tok_s",
     TRAIN_WORK),
    ("train_nf4_dequant_tok_s", "  training tok/s, dequant NF4", None, None, "hf_train_tok_s",
     TRAIN_WORK),
    ("train_bf16_base_tok_s", "  training tok/s, bf16 base", None, None, "hf_train_tok_s",
     TRAIN_WORK),
    ("train_bf16_base_peak_mib", "  training peak MiB, bf16 base", None, None,
     "hf_train_peak_mib", None),
    ("decode_b1_tok_s", "decode b1 tok/s", "abs_min", 1000.0, None, B1_WORK),
    ("decode_b16_tok_s", "decode b16 tok/s", "ratio_min", 10.0, None, B16_WORK),
    ("prefill_2048_tok_s", "prefill 2048 tok/s", None, None, None, PREFILL_WORK),
    # the alternatives infer_bench measures, for the record (no goal)
    ("decode_b1_eager_tok_s", "  decode b1, plain launches", None, None, "hf_decode_b1_tok_s",
     B1_WORK),
    ("decode_b1_nopdl_tok_s", "  decode b1, graph, no PDL", None, None, "hf_decode_b1_tok_s",
     B1_WORK),
    ("decode_b16_gemm_tok_s", "  decode b16, dequant+GEMM", None, None, "hf_decode_b16_tok_s",
     B16_WORK),
    # the serving path (engine/cuda/batch_decoder.h: a slot per answer, logits to the host)
    ("serve_decode_b1_tok_s", "  serve b1 (slots, host pick)", None, None, "hf_decode_b1_tok_s",
     B1_WORK),
    ("serve_decode_b16_tok_s", "  serve b16 (slots, host pick)", None, None,
     "hf_decode_b16_tok_s", B16_WORK),
    # a 4096-token prompt as the server prefills it, in chunks of 512 (the later chunks attend
    # over the paged cache: tensor cores, then the SIMT kernel), against HF's one forward
    ("serve_prefill_4096_tok_s", "  serve prefill 4096, chunks", None, None,
     "hf_prefill_4096_tok_s", "work_prefill_4096_flop_per_tok"),
    ("serve_prefill_4096_simt_tok_s", "  serve prefill 4096, SIMT attn", None, None,
     "hf_prefill_4096_tok_s", "work_prefill_4096_flop_per_tok"),
    # the decode GEMV's two kernels, one batch-1 pass over all 128 NF4 linears (us; the faster
    # one is used: engine/cuda/gemv_choice.h)
    ("gemv_pass_b1_scaled_lut_us", "  GEMV pass b1 us, scaled_lut", None, None, None, None),
    ("gemv_pass_b1_register_lut_us", "  GEMV pass b1 us, register_lut", None, None, None, None),
    # the NF4 GEMM's two paths at 4 x 1024 rows, one layer's base products (us; per direction the
    # faster one is used: engine/cuda/gemm_choice.h)
    ("nf4_gemm_fwd_dequant_us", "  NF4 GEMM fwd us, dequant", None, None, None, None),
    ("nf4_gemm_fwd_fused_us", "  NF4 GEMM fwd us, fused", None, None, None, None),
    ("nf4_gemm_bwd_dequant_us", "  NF4 GEMM dinp us, dequant", None, None, None, None),
    ("nf4_gemm_bwd_fused_us", "  NF4 GEMM dinp us, fused", None, None, None, None),
]


def parse_metrics(paths):
    """{key: value} from every `METRIC,key,value` line; the last value of a key wins."""
    vals = {}
    for path in paths:
        try:
            with open(path, errors="replace") as f:
                lines = f.readlines()
        except OSError as e:
            print(f"model_report: cannot read {path}: {e}", file=sys.stderr)
            continue
        for line in lines:
            parts = line.strip().split(",")
            if len(parts) != 3 or parts[0] != "METRIC" or not parts[1]:
                continue
            try:
                v = float(parts[2])
            except ValueError:
                continue
            if math.isfinite(v):
                vals[parts[1]] = v
    return vals


def parse_profiles(paths):
    """{key: [(segment, ms, count)]} from `PROFILE,key,segment,ms,count` lines (engine/cuda/
    step_profile.h via model_bench and infer_bench); a key's lines from a later file replace it."""
    prof = {}
    for path in paths:
        try:
            with open(path, errors="replace") as f:
                lines = f.readlines()
        except OSError:
            continue
        seen = set()
        for line in lines:
            parts = line.strip().split(",")
            if len(parts) != 5 or parts[0] != "PROFILE" or not parts[1]:
                continue
            try:
                ms, count = float(parts[3]), int(parts[4])
            except ValueError:
                continue
            if parts[1] not in seen:
                prof[parts[1]] = []
                seen.add(parts[1])
            prof[parts[1]].append((parts[2], ms, count))
    return prof


PROFILE_TITLES = {
    "train": "training step (batch 4 x 1024, ckpt off), ms per step",
    "decode_b1": "decode step at batch 1 (kernels back to back), ms per step",
    "prefill_2048": "prefill of 2048 tokens, ms",
}


def build_profiles(prof, top=8):
    """The largest segments of each profile: where the remaining cost is."""
    if not prof:
        return ""
    lines = ["where the time goes (CUDA events per named segment; engine/cuda/step_profile.h):"]
    for key, rows in prof.items():
        total = sum(ms for _, ms, _ in rows)
        lines.append(f"  {PROFILE_TITLES.get(key, key)}: total {total:.3f}")
        for name, ms, count in sorted(rows, key=lambda r: -r[1])[:top]:
            share = 100.0 * ms / total if total > 0 else 0.0
            lines.append(f"    {name:<38} {ms:10.3f}  {share:5.1f}%  ({count} segments)")
    return "\n".join(lines) + "\n"


def verdict(kind, goal, ours, hf):
    """(goal text, verdict text, met: True/False/None for no goal)."""
    if kind is None:
        return "-", "", None
    if kind == "abs_min":
        text = f">= {goal:g}"
        if ours is None:
            return text, "n/a (missing)", False
        return text, "met" if ours >= goal else "MISSED", ours >= goal
    text = (f">= {goal:g}x HF" if kind == "ratio_min" else f"<= {goal:g}x HF")
    if ours is None or hf is None or hf <= 0:
        return text, "n/a (missing)", False
    r = ours / hf
    ok = r >= goal if kind == "ratio_min" else r <= goal
    return text, "met" if ok else "MISSED", ok


def fmt(v):
    if v is None:
        return "n/a"
    return f"{v:,.1f}" if abs(v) < 1e5 else f"{v:,.0f}"


def pct(v):
    return f"{100.0 * v:5.1f}%" if v is not None else "-"


class Peaks:
    """The GPU's peaks the roofline fractions divide by: FLOP/s for flop work, bytes/s for byte
    work (a work key's name says which)."""

    def __init__(self, flops=BF16, bytes_per_s=HBM):
        self.flops, self.bytes_per_s = flops, bytes_per_s

    def of(self, work_key):
        return self.flops if "_flop_" in work_key else self.bytes_per_s


def roofline(tok_s, work, peak):
    """Fraction of the peak that tok_s tokens a second of `work` each reach (None if unknown)."""
    if tok_s is None or work is None or work <= 0 or peak <= 0:
        return None
    return tok_s * work / peak


def needs(kind, goal, hf, work, peak):
    """The fraction of our roofline the goal asks for: the goal's tok/s x work / peak."""
    if kind == "abs_min":
        return roofline(goal, work, peak)
    if kind == "ratio_min" and hf is not None:
        return roofline(goal * hf, work, peak)
    return None


def build_table(vals, peaks=None):
    peaks = peaks or Peaks()
    head = (f"{'metric':<30} {'ours':>12} {'HF':>12} {'ours/HF':>8} {'roof':>6} {'HF roof':>7}  "
            f"{'goal':<12} {'needs':>6}  verdict")
    lines = ["model level (Phi-3-mini shape; bench/cuda/model_bench + infer_bench vs "
             "transformers + peft, same run)", head, "-" * len(head)]
    met = total = 0
    for key, label, kind, goal, hf_key, work_key in ROWS:
        ours, hf = vals.get(key), vals.get(hf_key or "hf_" + key)
        ratio = f"{ours / hf:8.2f}" if ours is not None and hf else f"{'n/a':>8}"
        work = vals.get(work_key) if work_key else None
        peak = peaks.of(work_key) if work_key else 0.0
        roof = roofline(ours, work, peak)
        # HF does the same model flops; its decode moves other bytes than ours (bf16 base)
        hf_roof = roofline(hf, work, peak) if work_key and "_flop_" in work_key else None
        need = needs(kind, goal, hf, work, peak) if work_key else None
        gtext, vtext, ok = verdict(kind, goal, ours, hf)
        if ok is not None:
            total += 1
            met += bool(ok)
        lines.append(f"{label:<30} {fmt(ours):>12} {fmt(hf):>12} {ratio} {pct(roof):>6} "
                     f"{pct(hf_roof):>7}  {gtext:<12} {pct(need):>6}  {vtext}")
    lines.append(f"goals met: {met} of {total}")
    lines.append("training = batch 4 x 1024, LoRA r=8 on qkv/o/gate_up/down, AdamW; ours: NF4 base, "
                 "HF: bf16 base (no bitsandbytes on the host).")
    lines.append("peak MiB: HF torch.cuda.max_memory_allocated (everything torch allocated in the "
                 "row); ours: every device byte our code allocated (model, trainer, arena, cuBLASLt "
                 "workspace; bench/cuda/model_bench.cu).")
    lines.append("decode: tokens/s over all sequences after a 128-token prompt (prompt not timed); "
                 "ours replays a CUDA graph per step, HF runs eager PyTorch + PEFT.")
    lines.append(f"roof: tok/s x work per token / peak (engine/cuda/roofline.h): model flops over "
                 f"{peaks.flops / 1e12:g} TFLOP/s dense bf16 (training, prefill; HF does the same "
                 f"flops), the least bytes a decode token moves over {peaks.bytes_per_s / 1e12:g} "
                 "TB/s (ours only). needs: the fraction of our roofline the goal asks for; above "
                 "100% no code reaches it on this GPU.")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description="join METRIC lines into the model-level table")
    ap.add_argument("--out", help="also write the table here")
    ap.add_argument("--peak-tflops", type=float, default=BF16 / 1e12,
                    help="dense bf16 tensor-core peak, TFLOP/s (default: H200 datasheet)")
    ap.add_argument("--peak-tbs", type=float, default=HBM / 1e12,
                    help="HBM bandwidth, TB/s (default: H200 datasheet)")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    if not (args.peak_tflops > 0 and args.peak_tbs > 0):
        ap.error("--peak-tflops and --peak-tbs must be positive")
    text = build_table(parse_metrics(args.files), Peaks(args.peak_tflops * 1e12,
                                                        args.peak_tbs * 1e12))
    profiles = build_profiles(parse_profiles(args.files))
    if profiles:
        text += "\n" + profiles
    print(text, end="")
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
