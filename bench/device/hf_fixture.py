#!/usr/bin/env python3
"""bench/device/hf_fixture.py: makes one golden fixture folder with Hugging Face transformers + PEFT.

The folder has the layout of ../shared/fixtures/tiny-phi3* and is what `kaito verify <dir>` (CPU
engine, engine/verify.cpp) and the GPU tests consume. Model (--arch):
  phi3 (default): transformers Phi3ForCausalLM built from a Phi3Config (hidden_act silu,
    rms_norm_eps 1e-5, rope_theta 10000, untied embeddings (--tie ties them), all dropouts 0,
    pad 0 / bos 1 / eos 2, sliding_window W or None, eager attention), PEFT LoRA on qkv_proj,
    o_proj, gate_up_proj and down_proj;
  llama: transformers LlamaForCausalLM built from a LlamaConfig (same hidden_act, rms_norm_eps,
    rope_theta, untied embeddings, dropout 0, special ids and eager attention; attention_bias and
    mlp_bias False; no sliding window, --window is rejected), PEFT LoRA on q_proj, k_proj, v_proj,
    o_proj, gate_proj, up_proj and down_proj;
  qwen2: transformers Qwen2ForCausalLM built from a Qwen2Config (the llama settings where they apply:
    hidden_act, rms_norm_eps, untied embeddings, dropout 0, special ids, eager attention;
    use_sliding_window False; default rope with rope_theta 1000000 (Qwen2.5's) in rope_parameters;
    --window, --longrope and --llama3-rope are rejected). Qwen2's q_proj, k_proj and v_proj carry
    biases (o_proj and the MLP none); they are drawn like the base weights but with std 0.1 (so an
    engine that drops them is far off in the logits), bf16-exact too, and stay frozen: the LoRA
    targets and bias "none" are the llama ones, so the adapter holds no bias.
All: fp32 math on the chosen --device, random weights, LoRA r, alpha, dropout 0, bias none, GQA
via --kv-heads. Head dim HS = hidden / heads.

Outputs in --out DIR:
  base/config.json, base/generation_config.json   save_pretrained of the base model
  base/model.safetensors   base state dict (model.embed_tokens.weight, model.layers.<l>.
                           {input_layernorm,post_attention_layernorm}.weight, model.norm.weight,
                           lm_head.weight and per layer l
                             phi3:  model.layers.<l>.self_attn.{qkv_proj,o_proj}.weight,
                                    model.layers.<l>.mlp.{gate_up_proj,down_proj}.weight
                             llama: model.layers.<l>.self_attn.{q_proj,k_proj,v_proj,o_proj}.weight,
                                    model.layers.<l>.mlp.{gate_proj,up_proj,down_proj}.weight
                             qwen2: the llama names plus
                                    model.layers.<l>.self_attn.{q_proj,k_proj,v_proj}.bias),
                           stored as BF16
  adapter/adapter_config.json, adapter/adapter_model.safetensors   PEFT save_pretrained, fp32, the
                           weights BEFORE the optimizer step
  expected.safetensors     input_ids I64 [B, T] uniform in [3, V);
                           labels I64 [B, T] = input_ids with -100 at t = 0, 1, 2 and t = T/2 of
                             every row;
                           base_logits F32 [B, T, V] (adapter disabled);
                           lora_logits F32 [B, T, V];
                           loss F32 [1] (HF model(labels=...): mean CE over shifted unmasked labels);
                           grad.<peft name> F32 after loss.backward(), for every LoRA parameter
                             (base_model.model.model.layers.<l>.<module>.lora_{A,B}.default.weight);
                           after_adamw.<peft name> F32 after one torch.optim.AdamW step (lr=1e-2
                             betas=(0.9,0.999) eps=1e-8 weight_decay=0.01) over the LoRA params only
  meta.safetensors         the shape and rope facts for hosts without a JSON parser:
                           ints I64 [17] = [C, L, NH, NKV, HS, I, V, window (0 = none), lora_r,
                             original_max (longrope or llama3; 0 with the default rope), max_pos,
                             rope kind (0 default, 1 longrope, 2 llama3), B, T,
                             arch (0 phi3, 1 llama, 2 qwen2), RD (the rotary dims: HS, or
                             int(HS * --partial-rotary)), tied (1 with --tie: no lm_head.weight)];
                           floats F32 [4] = [rope_theta (10000; qwen2 1000000), rms_eps,
                             lora_alpha, attention_factor (the longrope cos/sin scale HF used:
                             sqrt(1 + ln(max_pos/orig)/ln(orig));
                             1.0 without longrope, llama3 included)];
                           with --longrope: short_factor, long_factor F32 [RD/2];
                           with --llama3-rope: llama3 F32 [3] = [factor, low_freq_factor,
                             high_freq_factor]
  README.txt               the command line, versions, and the format above in short

The bf16-exact rule: every base weight (embeddings, norms, linears, lm_head, qwen2's q/k/v biases) is
drawn in fp32 (normal std 0.02; norms 1 + U(-0.1, 0.1); biases normal std 0.1) and then rounded to
the nearest bf16 value, so the fp32 model the references come from and a GPU that stores the base in
bf16 hold exactly the same numbers: the only differences left between a bf16-base engine and these
references are the engine's own arithmetic.
It also lets base/model.safetensors be stored as BF16 without loss (half the size). LoRA weights
stay fp32 (lora_A as PEFT initializes it, lora_B normal std 0.02 so every LoRA product is non-zero).

With --longrope the config carries rope_parameters {rope_type longrope, short_factor, long_factor
(HS/2 increasing values from the seed: short in [1, 1.5], long in [1, 8]),
original_max_position_embeddings ORIG}, max_position_embeddings MAXPOS. HF switches to the long
factors when max(position_ids) + 1 > ORIG, i.e. when T > ORIG; the script checks after the forward
that the rotary embedding really used the expected factor list and attention scale, and that the
saved base folder reloads to the same logits. --longrope is phi3 only.

With --partial-rotary F (phi3 only; Phi-4-mini's 0.75) rope_parameters carry partial_rotary_factor
F: the first RD = int(HS * F) dims of each head rotate with RD/2 frequencies (and RD/2 longrope
factors), the other HS - RD pass through (HF apply_rotary_pos_emb's q_rot / q_pass). The script
checks that the rotary embedding has RD/2 frequencies. --tie (phi3 only; Phi-4-mini's) ties
lm_head to the embedding: base/model.safetensors then holds no lm_head.weight.

With --llama3-rope (llama only) the config carries rope_parameters {rope_type llama3, rope_theta,
factor 8, low_freq_factor 1, high_freq_factor 4, original_max_position_embeddings ORIG},
max_position_embeddings MAXPOS. Per rotary index i (inv_freq f_i = theta^(-2i/HS), wavelength
w_i = 2 pi / f_i): w_i < ORIG/high_freq_factor keeps f_i (high frequency), w_i > ORIG/low_freq_factor
uses f_i / factor (low frequency), and in between f_i ((1 - s)/factor + s) with
s = (ORIG/w_i - low_freq_factor) / (high_freq_factor - low_freq_factor). It does not depend on T and
the cos/sin scale stays 1. The script recomputes this in float64, fails unless HF's inv_freq matches it,
differs from the default one and every one of the three regions is non-empty (with HS 64 and theta
10000 the shortest wavelength is 2 pi, so ORIG must exceed 8 pi ~ 25.1 for a high-frequency index).

Usage (CPU, a few seconds): python3 bench/device/hf_fixture.py --out DIR --seed 7 --hidden 128
  --layers 2 --heads 2 --kv-heads 1 --intermediate 192 --vocab 256 --batch 2 --seq 48 --window 40
  --longrope --original-max 32 --max-pos 128 --lora-r 8 --lora-alpha 16
or: python3 bench/device/hf_fixture.py --arch llama --out DIR --seed 11 --hidden 128 --layers 2
  --heads 2 --kv-heads 1 --intermediate 192 --vocab 256 --batch 2 --seq 48 --llama3-rope
  --original-max 32 --max-pos 128 --lora-r 4 --lora-alpha 8
or: python3 bench/device/hf_fixture.py --arch qwen2 --out DIR --seed 13 --hidden 128 --layers 2
  --heads 2 --kv-heads 1 --intermediate 96 --vocab 128 --batch 2 --seq 48 --lora-r 4 --lora-alpha 8
or (Phi-4-mini's rope): python3 bench/device/hf_fixture.py --out DIR --seed 17 --hidden 128
  --layers 2 --heads 2 --kv-heads 1 --intermediate 192 --vocab 256 --batch 2 --seq 48 --longrope
  --original-max 32 --max-pos 128 --partial-rotary 0.75 --tie --lora-r 8 --lora-alpha 16
"""
import argparse
import copy
import json
import math
import os
import shlex
import sys
import time

ROPE_THETA = 10000.0
QWEN2_ROPE_THETA = 1000000.0  # Qwen2.5's
LLAMA3 = (8.0, 1.0, 4.0)  # factor, low_freq_factor, high_freq_factor (Llama 3.1's values)
TARGETS = {"phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
           "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
TARGETS["qwen2"] = TARGETS["llama"]
ROPE_KIND = {"default": 0, "longrope": 1, "llama3": 2}
ARCH_ID = {"phi3": 0, "llama": 1, "qwen2": 2}
QWEN2_BIASED = ("q_proj", "k_proj", "v_proj")  # Qwen2's attention projections with a bias


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=["phi3", "llama", "qwen2"], default="phi3")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--kv-heads", type=int, required=True)
    p.add_argument("--intermediate", type=int, required=True)
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seq", type=int, required=True)
    p.add_argument("--window", type=int, default=0, help="sliding window in keys; 0 = none")
    p.add_argument("--longrope", action="store_true", help="phi3 only")
    p.add_argument("--llama3-rope", action="store_true", help="llama only")
    p.add_argument("--partial-rotary", type=float, default=1.0,
                   help="phi3 only: partial_rotary_factor (Phi-4-mini: 0.75)")
    p.add_argument("--tie", action="store_true",
                   help="phi3 only: tie_word_embeddings (Phi-4-mini's): lm_head is the embedding")
    p.add_argument("--original-max", type=int, default=0)
    p.add_argument("--max-pos", type=int, default=0, help="default: max(4096, seq)")
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lora-alpha", type=float, default=16)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = p.parse_args(argv)
    if a.hidden % a.heads or a.heads % a.kv_heads or (a.hidden // a.heads) % 2:
        p.error("need hidden % heads == 0, heads % kv-heads == 0 and an even head dim")
    if a.vocab <= 3 or a.seq < 8:
        p.error("need vocab > 3 and seq >= 8")
    if a.max_pos == 0:
        a.max_pos = max(4096, a.seq)
    if a.arch == "llama" and a.window:
        p.error("--window is phi3 only (Llama has no sliding window)")
    if a.arch == "llama" and a.longrope:
        p.error("--longrope is phi3 only")
    if a.arch == "phi3" and a.llama3_rope:
        p.error("--llama3-rope is llama only")
    if a.arch == "qwen2" and (a.window or a.longrope or a.llama3_rope):
        p.error("qwen2 takes none of --window, --longrope, --llama3-rope (default rope, no window)")
    if a.longrope and not (1 < a.original_max < a.max_pos):
        p.error("--longrope needs 1 < --original-max < --max-pos")
    if a.llama3_rope and not (1 < a.original_max < a.max_pos):
        p.error("--llama3-rope needs 1 < --original-max < --max-pos")
    if a.llama3_rope:  # before anything is written: every llama3 region must be exercised
        region = llama3_inv_freq(a.hidden // a.heads, a.original_max)[2]
        if any(r not in region for r in ("high", "mid", "low")):
            p.error("--llama3-rope --original-max %d leaves a region empty (high %d, mid %d, low %d)"
                    % (a.original_max, region.count("high"), region.count("mid"),
                       region.count("low")))
    if a.partial_rotary != 1.0 and a.arch != "phi3":
        p.error("--partial-rotary is phi3 only")
    if a.tie and a.arch != "phi3":
        p.error("--tie is phi3 only")
    a.rd = int((a.hidden // a.heads) * a.partial_rotary)
    if not (0 < a.partial_rotary <= 1) or a.rd < 2 or a.rd % 2:
        p.error("--partial-rotary must give an even rotary dim >= 2 (int(head_dim * F))")
    a.rope_kind = "longrope" if a.longrope else "llama3" if a.llama3_rope else "default"
    if float(a.lora_alpha).is_integer():
        a.lora_alpha = int(a.lora_alpha)
    return a


def rope_factors(seed, half):
    """Deterministic increasing factor lists (4 decimals, so config.json stays readable)."""
    import numpy as np
    rng = np.random.default_rng(seed + 1000)
    short = np.sort(rng.uniform(1.0, 1.5, half))
    long_ = np.sort(rng.uniform(1.0, 8.0, half))
    return [round(float(x), 4) for x in short], [round(float(x), 4) for x in long_]


def llama3_inv_freq(hs, orig):
    """The llama3 rope recomputed in float64: (inv_freq, default inv_freq, region per index as
    'high' / 'mid' / 'low'), independent of HF's code."""
    import numpy as np
    factor, low, high = LLAMA3
    base = 1.0 / (ROPE_THETA ** (np.arange(0, hs, 2, dtype=np.float64) / hs))
    wavelen = 2.0 * math.pi / base
    out, region = np.empty_like(base), []
    for i, (f, w) in enumerate(zip(base, wavelen)):
        if w < orig / high:
            out[i], r = f, "high"
        elif w > orig / low:
            out[i], r = f / factor, "low"
        else:
            s = (orig / w - low) / (high - low)
            out[i], r = f * ((1.0 - s) / factor + s), "mid"
        region.append(r)
    return out, base, region


def build_llama_config(a):
    from transformers import LlamaConfig
    rope = {"rope_type": "default", "rope_theta": ROPE_THETA}
    if a.llama3_rope:
        factor, low, high = LLAMA3
        rope = {"rope_type": "llama3", "rope_theta": ROPE_THETA, "factor": factor,
                "low_freq_factor": low, "high_freq_factor": high,
                "original_max_position_embeddings": a.original_max}
    cfg = LlamaConfig(
        vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.intermediate,
        num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
        head_dim=a.hidden // a.heads, hidden_act="silu", rms_norm_eps=1e-5, rope_parameters=rope,
        max_position_embeddings=a.max_pos, tie_word_embeddings=False, attention_bias=False,
        mlp_bias=False, attention_dropout=0.0, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    cfg._attn_implementation = "eager"
    return cfg, None, None


def build_qwen2_config(a):
    from transformers import Qwen2Config
    # transformers 5.x: rope_theta lives in rope_parameters. Qwen2Config has no head_dim field (the
    # attention uses hidden / heads), so none is passed: config.json stays like a Qwen2.5 one.
    cfg = Qwen2Config(
        vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.intermediate,
        num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
        hidden_act="silu", rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": QWEN2_ROPE_THETA},
        max_position_embeddings=a.max_pos, tie_word_embeddings=False, use_sliding_window=False,
        attention_dropout=0.0, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    cfg._attn_implementation = "eager"
    return cfg, None, None


def rope_theta(a):
    return QWEN2_ROPE_THETA if a.arch == "qwen2" else ROPE_THETA


def build_config(a):
    if a.arch == "llama":
        return build_llama_config(a)
    if a.arch == "qwen2":
        return build_qwen2_config(a)
    from transformers import Phi3Config
    hs = a.hidden // a.heads
    rope = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": a.partial_rotary}
    short = long_ = None
    if a.longrope:
        short, long_ = rope_factors(a.seed, a.rd // 2)
        rope = {"rope_type": "longrope", "rope_theta": 10000.0,
                "partial_rotary_factor": a.partial_rotary,
                "short_factor": short, "long_factor": long_,
                "original_max_position_embeddings": a.original_max}
    cfg = Phi3Config(
        vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.intermediate,
        num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
        hidden_act="silu", rms_norm_eps=1e-5, rope_parameters=rope,
        max_position_embeddings=a.max_pos,
        original_max_position_embeddings=a.original_max if a.longrope else a.max_pos,
        tie_word_embeddings=a.tie, attention_dropout=0.0, resid_pdrop=0.0, embd_pdrop=0.0,
        pad_token_id=0, bos_token_id=1, eos_token_id=2,
        sliding_window=a.window if a.window > 0 else None)
    cfg._attn_implementation = "eager"
    return cfg, short, long_


def init_base(model, gen):
    """HF-like init (normal std 0.02; norms 1 + U(-0.1, 0.1); biases normal std 0.1), every value
    rounded to bf16. One draw per parameter in named_parameters order: phi3 and llama have no
    bias, so their streams are what they were before biases existed."""
    import torch
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                v = 1.0 + (torch.rand(p.shape, generator=gen) * 0.2 - 0.1)
            elif name.endswith(".bias"):
                v = torch.randn(p.shape, generator=gen) * 0.1
            else:
                v = torch.randn(p.shape, generator=gen) * 0.02
            p.copy_(v.to(torch.bfloat16).float())


def check_biases(model, a):
    """The attention/MLP linears have exactly the biases the arch should have (qwen2: q, k, v with
    the right shapes, drawn non-zero; phi3/llama: none) and the attention head dim is hidden/heads."""
    hs = a.hidden // a.heads
    for l, layer in enumerate(model.model.layers):
        if layer.self_attn.head_dim != hs:
            raise SystemExit("hf_fixture: layer %d head_dim %d, expected %d" %
                             (l, layer.self_attn.head_dim, hs))
        for name, mod in list(layer.self_attn.named_children()) + list(layer.mlp.named_children()):
            if not hasattr(mod, "bias"):
                continue
            want = a.arch == "qwen2" and name in QWEN2_BIASED
            if (mod.bias is not None) != want:
                raise SystemExit("hf_fixture: layer %d %s has %s bias, expected %s" %
                                 (l, name, "a" if mod.bias is not None else "no",
                                  "one" if want else "none"))
            if want:
                n = (a.heads if name == "q_proj" else a.kv_heads) * hs
                if tuple(mod.bias.shape) != (n,) or not bool((mod.bias != 0).all()):
                    raise SystemExit("hf_fixture: layer %d %s.bias shape %s (expected [%d]) or "
                                     "zero entries" % (l, name, tuple(mod.bias.shape), n))


def check_rope(model, a, short, long_, T):
    """The rotary embedding after a forward over T positions used the factors HF should use."""
    import torch
    rot = model.get_base_model().model.rotary_emb
    hs = a.rd  # the rotary dims: the head dim unless --partial-rotary
    if rot.inv_freq.numel() != hs // 2:
        raise SystemExit("hf_fixture: the rotary embedding has %d frequencies, expected RD/2 = %d"
                         % (rot.inv_freq.numel(), hs // 2))
    if a.llama3_rope:
        return check_llama3_rope(rot, a)
    if not a.longrope:
        want = 1.0 / (rope_theta(a) ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
        rel = float(((rot.inv_freq.detach().double().cpu() - want).abs() / want).max())
        if rot.attention_scaling != 1.0 or rel > 1e-6:  # fp32 ulps; theta 1e4 vs 1e6 is far off
            raise SystemExit("hf_fixture: default rotary embedding is not theta=%g (max rel diff "
                             "%g, attention_scaling %r)" % (rope_theta(a), rel,
                                                           rot.attention_scaling))
        return 1.0
    factors = long_ if T > a.original_max else short
    want = 1.0 / (torch.tensor(factors, dtype=torch.float32) *
                  10000.0 ** (torch.arange(0, hs, 2, dtype=torch.int64).float() / hs))
    got = rot.inv_freq.detach().float().cpu()
    # Exact on the CPU; a GPU's pow may differ by an ulp. Short vs long differ by far more.
    if (got - want).abs().max() > 1e-6 * want.abs().max():
        raise SystemExit("hf_fixture: rotary inv_freq is not the expected %s-factor one (max diff %g)"
                         % ("long" if T > a.original_max else "short", (got - want).abs().max()))
    scale = math.sqrt(1.0 + math.log(a.max_pos / a.original_max) / math.log(a.original_max))
    if abs(rot.attention_scaling - scale) > 1e-12:
        raise SystemExit("hf_fixture: attention_scaling %r, expected %r" % (rot.attention_scaling,
                                                                           scale))
    return float(rot.attention_scaling)


def check_llama3_rope(rot, a):
    """HF's llama3 inv_freq equals the float64 recomputation, differs from the default rope, and
    all three regions are populated; the cos/sin scale is 1."""
    import torch
    hs = a.hidden // a.heads
    want, default, region = llama3_inv_freq(hs, a.original_max)
    got = rot.inv_freq.detach().double().cpu().numpy()
    if rot.rope_type != "llama3" or got.shape != want.shape:
        raise SystemExit("hf_fixture: rotary embedding is %r with %d frequencies, expected llama3 "
                         "with %d" % (rot.rope_type, got.size, want.size))
    # HF computes in fp32: allow a few fp32 ulps per element (the three regions differ by >= 1e-3).
    rel = abs(got - want) / want
    if rel.max() > 1e-6:
        raise SystemExit("hf_fixture: rotary inv_freq is not the llama3 one (max rel diff %g)" %
                         rel.max())
    if (abs(got - default) / default).max() < 0.5:
        raise SystemExit("hf_fixture: rotary inv_freq is the default one: llama3 scaling ignored")
    counts = {r: region.count(r) for r in ("high", "mid", "low")}
    if min(counts.values()) == 0:
        raise SystemExit("hf_fixture: llama3 rope with orig=%d leaves a region empty %s; pick "
                         "another --original-max" % (a.original_max, counts))
    if rot.attention_scaling != 1.0:
        raise SystemExit("hf_fixture: llama3 attention_scaling %r, expected 1.0" %
                         rot.attention_scaling)
    a.llama3_regions = {r: [i for i, x in enumerate(region) if x == r] for r in counts}
    print("hf_fixture: llama3 rope regions (inv_freq index): high %s, mid %s, low %s" %
          (a.llama3_regions["high"], a.llama3_regions["mid"], a.llama3_regions["low"]))
    return 1.0


def base_names(a):
    """The HF names base/model.safetensors must hold."""
    per = (["self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj"]
           if a.arch == "phi3" else
           ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"])
    per += ["input_layernorm", "post_attention_layernorm"]
    names = {"model.embed_tokens.weight", "model.norm.weight"}
    if not a.tie:  # tied: lm_head is the embedding, and save_pretrained stores it once
        names.add("lm_head.weight")
    names |= {"model.layers.%d.%s.weight" % (l, m) for l in range(a.layers) for m in per}
    if a.arch == "qwen2":
        names |= {"model.layers.%d.self_attn.%s.bias" % (l, m) for l in range(a.layers)
                  for m in QWEN2_BIASED}
    return names


def main(argv):
    a = parse_args(argv)
    t0 = time.time()
    import numpy as np
    import torch
    import transformers
    import peft
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from safetensors import safe_open
    from transformers import LlamaForCausalLM, Phi3ForCausalLM, Qwen2ForCausalLM

    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    dev = torch.device(a.device)
    torch.set_float32_matmul_precision("highest")  # no TF32: the references are fp32 math
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    cfg, short, long_ = build_config(a)
    model_cls = {"phi3": Phi3ForCausalLM, "llama": LlamaForCausalLM,
                 "qwen2": Qwen2ForCausalLM}[a.arch]
    model = model_cls(cfg).float()
    init_base(model, gen)
    check_biases(model, a)
    model.eval()  # dropouts are 0 anyway; eval keeps it explicit

    os.makedirs(a.out, exist_ok=True)
    base_dir = os.path.join(a.out, "base")
    # BF16 on disk: the values are bf16-exact, so nothing is lost. A copy is converted: .to(bf16)
    # on the model itself would also round the rotary inv_freq buffers, and .float() does not
    # bring their fp32 values back.
    copy.deepcopy(model).to(torch.bfloat16).save_pretrained(base_dir, safe_serialization=True)
    with safe_open(os.path.join(base_dir, "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        dtypes = {f.get_slice(k).get_dtype() for k in keys}
    if keys != base_names(a) or dtypes != {"BF16"}:
        raise SystemExit("hf_fixture: base/model.safetensors holds %s (dtypes %s), expected %s" %
                         (sorted(keys ^ base_names(a)), sorted(dtypes), "the HF names in BF16"))

    B, T, V = a.batch, a.seq, a.vocab
    ids = torch.randint(3, V, (B, T), generator=gen, dtype=torch.int64)
    labels = ids.clone()
    labels[:, :3] = -100
    labels[:, T // 2] = -100

    lcfg = LoraConfig(r=a.lora_r, lora_alpha=a.lora_alpha, lora_dropout=0.0, bias="none",
                      target_modules=TARGETS[a.arch],
                      task_type="CAUSAL_LM")
    pm = get_peft_model(model, lcfg)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    adapter_dir = os.path.join(a.out, "adapter")
    pm.save_pretrained(adapter_dir, safe_serialization=True)
    if os.path.exists(os.path.join(adapter_dir, "README.md")):  # PEFT's model card: not fixture data
        os.remove(os.path.join(adapter_dir, "README.md"))
    # target_modules is a set inside PEFT: sort it so the file does not depend on the hash seed.
    acfg_path = os.path.join(adapter_dir, "adapter_config.json")
    with open(acfg_path) as f:
        acfg = json.load(f)
    acfg["target_modules"] = sorted(acfg["target_modules"])
    with open(acfg_path, "w") as f:
        f.write(json.dumps(acfg, indent=2, sort_keys=True))
    pm.to(dev)
    ids_d, labels_d = ids.to(dev), labels.to(dev)

    with torch.no_grad(), pm.disable_adapter():
        base_logits = pm(input_ids=ids_d).logits.float()
    out = pm(input_ids=ids_d, labels=labels_d)
    attention_factor = check_rope(pm, a, short, long_, T)
    lora_logits = out.logits.float()
    loss = out.loss
    loss.backward()

    lora_params = [(n, p) for n, p in pm.named_parameters() if p.requires_grad]
    if not lora_params or any("lora_" not in n for n, _ in lora_params):
        raise SystemExit("hf_fixture: unexpected trainable parameter set")
    expected = {
        "input_ids": ids.contiguous(),
        "labels": labels.contiguous(),
        "base_logits": base_logits.detach().cpu().contiguous(),
        "lora_logits": lora_logits.detach().cpu().contiguous(),
        "loss": loss.detach().float().cpu().reshape(1).contiguous(),
    }
    for n, p in lora_params:
        if p.grad is None or not torch.any(p.grad != 0):
            raise SystemExit("hf_fixture: zero gradient for " + n)
        expected["grad." + n] = p.grad.detach().float().cpu().contiguous()
    opt = torch.optim.AdamW([p for _, p in lora_params], lr=1e-2, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.01)
    opt.step()
    for n, p in lora_params:
        expected["after_adamw." + n] = p.detach().float().cpu().contiguous()
    save_file(expected, os.path.join(a.out, "expected.safetensors"))

    # The saved base folder must reload (fp32) to the same base logits.
    re = model_cls.from_pretrained(base_dir, dtype=torch.float32,
                                         attn_implementation="eager").to(dev).eval()
    with torch.no_grad():
        re_logits = re(input_ids=ids_d).logits.float()
    # Bit-identical on the CPU; on a GPU allow kernel-selection noise (a bf16-rounded rotary
    # buffer, the bug this guards against, is ~1e-5 relative).
    reload_tol = 0.0 if a.device == "cpu" else 1e-6 * float(base_logits.abs().max())
    if float((re_logits - base_logits).abs().max()) > reload_tol:
        raise SystemExit("hf_fixture: reloaded base gives different logits (max diff %g)" %
                         (re_logits - base_logits).abs().max())
    if not torch.equal(re.model.rotary_emb.inv_freq.cpu(), pm.get_base_model().model.rotary_emb.
                       inv_freq.cpu()):
        raise SystemExit("hf_fixture: reloaded config.json gives another rotary inv_freq")

    hs = a.hidden // a.heads
    meta = {
        "ints": torch.tensor([a.hidden, a.layers, a.heads, a.kv_heads, hs, a.intermediate, V,
                              a.window, a.lora_r,
                              a.original_max if a.rope_kind != "default" else 0, a.max_pos,
                              ROPE_KIND[a.rope_kind], B, T, ARCH_ID[a.arch], a.rd, int(a.tie)],
                             dtype=torch.int64),
        "floats": torch.tensor([rope_theta(a), 1e-5, float(a.lora_alpha), attention_factor],
                               dtype=torch.float32),
    }
    if a.longrope:
        meta["short_factor"] = torch.tensor(short, dtype=torch.float32)
        meta["long_factor"] = torch.tensor(long_, dtype=torch.float32)
    if a.llama3_rope:
        meta["llama3"] = torch.tensor(LLAMA3, dtype=torch.float32)
    save_file(meta, os.path.join(a.out, "meta.safetensors"))

    cmd = "python3 bench/device/hf_fixture.py " + " ".join(shlex.quote(x) for x in argv)
    rope_note = ("longrope orig=%d max_pos=%d (T=%d uses the %s factors) attention_factor=%.9g" %
                 (a.original_max, a.max_pos, T, "LONG" if T > a.original_max else "short",
                  attention_factor)) if a.longrope else "default rope theta=%.0f" % rope_theta(a)
    if a.llama3_rope:
        rg = a.llama3_regions
        rope_note = ("llama3 rope factor=%g low_freq_factor=%g high_freq_factor=%g orig=%d "
                     "max_pos=%d (inv_freq indices: %d high kept %s, %d smoothed %s, %d low /factor "
                     "%d..%d) attention_factor=1" %
                     (LLAMA3 + (a.original_max, a.max_pos, len(rg["high"]), rg["high"],
                                len(rg["mid"]), rg["mid"], len(rg["low"]), rg["low"][0],
                                rg["low"][-1])))
    extra = ""
    if a.longrope:
        extra = ", short_factor/long_factor F32 [RD/2]"
    elif a.llama3_rope:
        extra = ", llama3 F32 [factor,low_freq_factor,high_freq_factor]"
    bias_note = ""
    if a.arch == "qwen2":
        bias_note = ("\nq_proj/k_proj/v_proj carry biases "
                     "(model.layers.<l>.self_attn.{q,k,v}_proj.bias, bf16-exact, normal std 0.1); "
                     "o_proj and the MLP have none; the biases are frozen and not in the adapter "
                     "(LoRA bias none).")
    partial_note = (" partial_rotary_factor=%g (rotary dims %d of %d)" % (a.partial_rotary, a.rd, hs)
                    if a.rd != hs else "") + (" tie_word_embeddings=True" if a.tie else "")
    readme = f"""arch={a.arch} seed={a.seed} longrope={a.longrope} llama3_rope={a.llama3_rope} kv_heads={a.kv_heads} head_dim={hs} window={a.window or None} {rope_note}{partial_note}
Made by: {cmd}
Versions: torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, device {a.device}.
base/: HF model (config.json + model.safetensors stored as BF16; every base weight is bf16-exact, math below is fp32).{bias_note}
adapter/: PEFT LoRA r={a.lora_r} alpha={a.lora_alpha} on {",".join(TARGETS[a.arch])} (lora_B random), fp32, before the step.
expected.safetensors: input_ids[{B},{T}], labels (-100 masked at t=0,1,2,{T // 2}), base_logits, lora_logits, loss (mean CE over shifted unmasked labels),
grad.<peft param name> after loss.backward(), after_adamw.<name> after one torch AdamW step lr=1e-2 betas=(0.9,0.999) eps=1e-8 wd=0.01.
meta.safetensors: ints I64 [C,L,NH,NKV,HS,I,V,window,lora_r,original_max,max_pos,rope_kind(0 default,1 longrope,2 llama3),B,T,arch(0 phi3,1 llama,2 qwen2),RD (rotary dims),tied], floats F32 [rope_theta,rms_eps,lora_alpha,attention_factor]{extra}.
Attention: eager, causal{f", sliding window {a.window} keys (kv_idx > q_idx - {a.window})" if a.window else ""}, fp32.
"""
    with open(os.path.join(a.out, "README.txt"), "w") as f:
        f.write(readme)
    print("hf_fixture: wrote %s in %.1f s (loss %.6f)" % (a.out, time.time() - t0, loss.item()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
