#!/usr/bin/env python3
"""PyTorch + transformers + PEFT peer of kaito_engine_bench on the SAME weights folder.

Usage: hf_peer.py <model dir> <ours.json> [--rounds R --ours-cmd CMD]
With --ours-cmd, R rounds alternate: CMD (a shell command that re-times ours and rewrites
ours.json), then this peer's timings; the table shows the MEDIAN of each side over the rounds and
every round's ratio (a 2-core box shared with other work drifts by +-20% between single runs, and
alternating keeps both sides under the same conditions). Without it: one round on ours.json.
Times, with torch.set_num_threads(2) and the same batch/sequence/generation sizes as ours.json:
  forward            base model, no_grad, B*T tokens
  forward+backward   PeftModel (the adapter our engine exported, is_trainable) loss.backward()
  generate           base model greedy, KV cache, gen_new tokens after a gen_prompt-token prompt
Peak memory: the process's ru_maxrss after each phase (MiB), as ours; for PyTorch from the first
round (ru_maxrss never goes down, and later rounds start after a training step). Best of 3 (2 for
generate)
after one warm-up, as ours. Then checks that peft.PeftModel.from_pretrained loads our adapter and
gives our logits (check.safetensors) within 1e-4, and prints ONE table: metric, ours tok/s,
PyTorch tok/s, ratio, peak memory each, then the GEMM rows (ours, cblas_sgemm, torch F.linear).
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
from peft import PeftModel

torch.set_num_threads(2)
torch.manual_seed(0)


def best(fn, reps):
    fn()
    t = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


KEYS = ["forward", "forward+backward (LoRA r=8)", "generate (greedy, KV cache)"]


def mine_of(ours):
    return {KEYS[0]: (ours["forward_tok_s"], ours["forward_rss_mib"]),
            KEYS[1]: (ours["fwd_bwd_tok_s"], ours["fwd_bwd_rss_mib"]),
            KEYS[2]: (ours["generate_tok_s"], ours["generate_rss_mib"])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("ours_json")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--ours-cmd", default=None)
    args = ap.parse_args()
    model_dir, ours_path = args.model_dir, args.ours_json
    rounds = max(1, args.rounds) if args.ours_cmd else 1
    ours = json.load(open(ours_path))
    B, T, P, N = ours["B"], ours["T"], ours["gen_prompt"], ours["gen_new"]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()
    V = model.config.vocab_size
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(3, V, (B, T), generator=g)
    prompt = torch.randint(3, V, (1, P), generator=g)
    produced = [0]

    def gen():
        with torch.no_grad():
            out = model.generate(prompt, max_new_tokens=N, min_new_tokens=N, do_sample=False,
                                 use_cache=True, pad_token_id=0)
        produced[0] = out.shape[1] - P

    # The adapter our engine exported, loaded by PEFT: logits must equal ours.
    peft_model = PeftModel.from_pretrained(model, model_dir + "/adapter", is_trainable=True)
    peft_model.eval()
    check = load_file(model_dir + "/check.safetensors")
    with torch.no_grad():
        got = peft_model(check["input_ids"]).logits
        with peft_model.disable_adapter():
            base = peft_model(check["input_ids"]).logits
    diff = (got - check["lora_logits"]).abs().max().item()
    effect = (got - base).abs().max().item()
    peft_ok = diff <= 1e-4 and effect > 1e-3
    labels = ids.clone()

    def fwd_bwd():
        peft_model.zero_grad(set_to_none=True)
        out = peft_model(input_ids=ids, labels=labels)
        out.loss.backward()

    def measure():  # this peer's tok/s and peak MiB per metric, as ours measures them
        peft_model.eval()
        with torch.no_grad(), peft_model.disable_adapter():
            fwd = best(lambda: model(ids), 3)
        rss_fwd = rss_mib()
        with peft_model.disable_adapter():
            gen_s = best(gen, 2)
        rss_gen = rss_mib()
        peft_model.train()
        fb = best(fwd_bwd, 3)
        rss_train = rss_mib()
        tokens = B * T
        return {KEYS[0]: (tokens / fwd, rss_fwd), KEYS[1]: (tokens / fb, rss_train),
                KEYS[2]: (produced[0] / gen_s, rss_gen)}

    mine_rounds, theirs_rounds = [], []
    for r in range(rounds):
        if args.ours_cmd and r > 0:  # round 0 uses the ours.json the caller just wrote
            subprocess.run(args.ours_cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
            ours = json.load(open(ours_path))
        mine_rounds.append(mine_of(ours))
        theirs_rounds.append(measure())

    def med(rows, k, i):
        return statistics.median(row[k][i] for row in rows)

    print(f"model: random Llama {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, "
          f"fp32; B={B} T={T}; generate {P}+{N} tokens; 2 threads each "
          f"(torch {torch.__version__}, ours {ours.get('sgemm', 'OpenBLAS')}); "
          f"{rounds} alternating round(s), medians")
    print(f"{'metric':<30}{'ours tok/s':>12}{'PyTorch tok/s':>15}{'ratio':>8}"
          f"{'ours peak MiB':>15}{'PyTorch peak MiB':>18}  per-round ratios")
    for k in KEYS:
        o, t = med(mine_rounds, k, 0), med(theirs_rounds, k, 0)
        per = " ".join(f"{m[k][0] / h[k][0]:.2f}" for m, h in zip(mine_rounds, theirs_rounds))
        print(f"{k:<30}{o:>12.2f}{t:>15.2f}{o / t:>8.2f}{med(mine_rounds, k, 1):>15.0f}"
              f"{theirs_rounds[0][k][1]:>18.0f}  {per}")
    print(f"GEMM (ours = {ours.get('sgemm', 'OpenBLAS')}; cblas_sgemm and torch F.linear on the "
          f"same shapes; OpenBLAS 1024^3 peak {ours['gemm_peak_gflops']:.1f} GFLOP/s):")
    for r in ours["gemm"]:
        n, k, m = (int(v) for v in r["shape"].split("x"))
        x, w = torch.randn(n, k), torch.randn(m, k) * 0.02
        with torch.no_grad():
            tg = 2.0 * n * k * m / best(lambda: torch.nn.functional.linear(x, w), 3) / 1e9
        print(f"  {r['op']:<8} {r['shape']:<16} ours {r['ours_gflops']:6.2f} GFLOP/s "
              f"({100 * r['ours_gflops'] / ours['gemm_peak_gflops']:5.1f}% of peak), "
              f"cblas {r['blas_gflops']:6.2f}, torch {tg:6.2f}")
    print(f"PEFT loads our adapter: max |PeftModel logits - ours| = {diff:.3g} "
          f"(adapter effect {effect:.3g}) -> {'PASS' if peft_ok else 'FAIL'} (tolerance 1e-4)")
    return 0 if peft_ok else 1


if __name__ == "__main__":
    sys.exit(main())
