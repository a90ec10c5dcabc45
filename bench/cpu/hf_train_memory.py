#!/usr/bin/env python3
"""bench/cpu/hf_train_memory.py: an estimate, without a GPU, of the peak memory of the Hugging Face
baseline's training row (bench/device/hf_model_bench.py: Phi-3-mini shape, bf16, sdpa, PEFT LoRA
r=8 on qkv/o/gate_up/down, AdamW, batch 4 x 1024, gradient checkpointing off), which issue #6's
memory goal halves. The device run measures the real figure (torch.cuda.max_memory_allocated);
this tells beforehand whether our trainer's planned bytes are in range.

Method: the same model at full width but 1 and 2 layers, one training step each on the CPU in a
fresh process whose freed memory goes back to the OS (MALLOC_MMAP_THRESHOLD_), peak = VmHWM minus
the RSS before the model existed; the per-layer slope extrapolates to 32 layers. The CPU's sdpa
keeps the same tensors for backward as the CUDA flash path (q, k, v, out, lse; no T x T
probabilities), so the slope is the activations of one layer plus its weights.

Usage: hf_train_memory.py [--layers-total 32] [--python PY]   (PY: a python with torch,
transformers and peft; default this one). Takes about 2 minutes on 2 cores.
Prints one line per measured depth and `ESTIMATE,hf_train_peak_mib,<MiB>`.
"""
import argparse
import os
import subprocess
import sys

CHILD = r'''
import gc, sys
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
import torch
torch.set_num_threads(2)
from transformers import Phi3Config, Phi3ForCausalLM
from peft import LoraConfig, get_peft_model
L = int(sys.argv[1])
base = rss("VmRSS:")
cfg = Phi3Config(hidden_size=3072, num_hidden_layers=L, num_attention_heads=32,
                 num_key_value_heads=32, intermediate_size=8192, vocab_size=32064,
                 max_position_embeddings=4096, original_max_position_embeddings=4096,
                 pad_token_id=32000, bos_token_id=1, eos_token_id=32000,
                 attn_implementation="sdpa", use_cache=False)
torch.set_default_dtype(torch.bfloat16)  # no fp32 copy of the weights at init
model = Phi3ForCausalLM(cfg)
torch.set_default_dtype(torch.float32)
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, bias="none",
                                         task_type="CAUSAL_LM",
                                         target_modules=["qkv_proj", "o_proj", "gate_up_proj",
                                                         "down_proj"]))
model.train()
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
gc.collect()
held = rss("VmRSS:") - base
ids = torch.randint(0, 32064, (4, 1024), generator=torch.Generator().manual_seed(0))
out = model(input_ids=ids, labels=ids)
out.loss.backward()
opt.step()
print(f"{L} {held / 2**20:.1f} {(rss('VmHWM:') - base) / 2**20:.1f}", flush=True)
'''


def measure(python, layers):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0",
               OMP_NUM_THREADS="2", PYTHONWARNINGS="ignore")
    p = subprocess.run([python, "-c", CHILD, str(layers)], capture_output=True, text=True,
                       env=env)
    if p.returncode != 0:
        sys.exit(f"hf_train_memory: {layers} layer(s) failed:\n{p.stderr[-2000:]}")
    _, held, peak = p.stdout.split()[-3:]
    return float(held), float(peak)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers-total", type=int, default=32)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    (h1, p1), (h2, p2) = measure(args.python, 1), measure(args.python, 2)
    print(f"1 layer:  model + LoRA + AdamW {h1:8.0f} MiB, step peak {p1:8.0f} MiB")
    print(f"2 layers: model + LoRA + AdamW {h2:8.0f} MiB, step peak {p2:8.0f} MiB")
    slope = p2 - p1
    est = p1 + slope * (args.layers_total - 1)
    print(f"per layer {slope:.0f} MiB (weights {h2 - h1:.0f}, activations {slope - (h2 - h1):.0f})"
          f"; {args.layers_total} layers: about {est:.0f} MiB")
    print(f"ESTIMATE,hf_train_peak_mib,{est:.0f}")


if __name__ == "__main__":
    main()
