#!/usr/bin/env python3
"""bench/device/hf_fixture.py: makes one golden fixture folder with Hugging Face transformers + PEFT.

The folder has the layout of ../shared/fixtures/tiny-phi3* and is what `kaito verify <dir>` (CPU
engine, engine/verify.cpp) and the GPU tests consume. Model: transformers Phi3ForCausalLM built
from a Phi3Config (hidden_act silu, rms_norm_eps 1e-5, rope_theta 10000, untied embeddings, all
dropouts 0, pad 0 / bos 1 / eos 2, sliding_window W or None, eager attention, fp32 math on the
chosen --device), random weights, and a PEFT LoRA (r, alpha, dropout 0, bias none) on qkv_proj,
o_proj, gate_up_proj and down_proj. Head dim HS = hidden / heads.

Outputs in --out DIR:
  base/config.json, base/generation_config.json   save_pretrained of the base model
  base/model.safetensors   base state dict (model.embed_tokens.weight, model.layers.<l>.
                           {input_layernorm,post_attention_layernorm}.weight, model.layers.<l>.
                           self_attn.{qkv_proj,o_proj}.weight, model.layers.<l>.mlp.{gate_up_proj,
                           down_proj}.weight, model.norm.weight, lm_head.weight), stored as BF16
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
                           ints I64 [14] = [C, L, NH, NKV, HS, I, V, window (0 = none), lora_r,
                             original_max (0 without longrope), max_pos, longrope (0/1), B, T];
                           floats F32 [4] = [rope_theta, rms_eps, lora_alpha, attention_factor (the
                             longrope cos/sin scale HF used: sqrt(1 + ln(max_pos/orig)/ln(orig));
                             1.0 without longrope)];
                           with --longrope: short_factor, long_factor F32 [HS/2]
  README.txt               the command line, versions, and the format above in short

The bf16-exact rule: every base weight (embeddings, norms, linears, lm_head) is drawn in fp32 (normal
std 0.02; norms 1 + U(-0.1, 0.1)) and then rounded to the nearest bf16 value, so the fp32 model the
references come from and a GPU that stores the base in bf16 hold exactly the same numbers: the only
differences left between a bf16-base engine and these references are the engine's own arithmetic.
It also lets base/model.safetensors be stored as BF16 without loss (half the size). LoRA weights
stay fp32 (lora_A as PEFT initializes it, lora_B normal std 0.02 so every LoRA product is non-zero).

With --longrope the config carries rope_parameters {rope_type longrope, short_factor, long_factor
(HS/2 increasing values from the seed: short in [1, 1.5], long in [1, 8]),
original_max_position_embeddings ORIG}, max_position_embeddings MAXPOS. HF switches to the long
factors when max(position_ids) + 1 > ORIG, i.e. when T > ORIG; the script checks after the forward
that the rotary embedding really used the expected factor list and attention scale, and that the
saved base folder reloads to the same logits.

Usage (CPU, a few seconds): python3 bench/device/hf_fixture.py --out DIR --seed 7 --hidden 128
  --layers 2 --heads 2 --kv-heads 1 --intermediate 192 --vocab 256 --batch 2 --seq 48 --window 40
  --longrope --original-max 32 --max-pos 128 --lora-r 8 --lora-alpha 16
"""
import argparse
import copy
import json
import math
import os
import shlex
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.add_argument("--longrope", action="store_true")
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
    if a.longrope and not (1 < a.original_max < a.max_pos):
        p.error("--longrope needs 1 < --original-max < --max-pos")
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


def build_config(a):
    from transformers import Phi3Config
    hs = a.hidden // a.heads
    rope = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.0}
    short = long_ = None
    if a.longrope:
        short, long_ = rope_factors(a.seed, hs // 2)
        rope = {"rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 1.0,
                "short_factor": short, "long_factor": long_,
                "original_max_position_embeddings": a.original_max}
    cfg = Phi3Config(
        vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.intermediate,
        num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
        hidden_act="silu", rms_norm_eps=1e-5, rope_parameters=rope,
        max_position_embeddings=a.max_pos,
        original_max_position_embeddings=a.original_max if a.longrope else a.max_pos,
        tie_word_embeddings=False, attention_dropout=0.0, resid_pdrop=0.0, embd_pdrop=0.0,
        pad_token_id=0, bos_token_id=1, eos_token_id=2,
        sliding_window=a.window if a.window > 0 else None)
    cfg._attn_implementation = "eager"
    return cfg, short, long_


def init_base(model, gen):
    """HF-like init (normal std 0.02; norms 1 + U(-0.1, 0.1)), every value rounded to bf16."""
    import torch
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                v = 1.0 + (torch.rand(p.shape, generator=gen) * 0.2 - 0.1)
            else:
                v = torch.randn(p.shape, generator=gen) * 0.02
            p.copy_(v.to(torch.bfloat16).float())


def check_rope(model, a, short, long_, T):
    """The rotary embedding after a forward over T positions used the factors HF should use."""
    import torch
    rot = model.get_base_model().model.rotary_emb
    hs = a.hidden // a.heads
    if not a.longrope:
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


def main(argv):
    a = parse_args(argv)
    t0 = time.time()
    import numpy as np
    import torch
    import transformers
    import peft
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from transformers import Phi3ForCausalLM

    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    dev = torch.device(a.device)
    torch.set_float32_matmul_precision("highest")  # no TF32: the references are fp32 math
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    cfg, short, long_ = build_config(a)
    model = Phi3ForCausalLM(cfg).float()
    init_base(model, gen)
    model.eval()  # dropouts are 0 anyway; eval keeps it explicit

    os.makedirs(a.out, exist_ok=True)
    base_dir = os.path.join(a.out, "base")
    # BF16 on disk: the values are bf16-exact, so nothing is lost. A copy is converted: .to(bf16)
    # on the model itself would also round the rotary inv_freq buffers, and .float() does not
    # bring their fp32 values back.
    copy.deepcopy(model).to(torch.bfloat16).save_pretrained(base_dir, safe_serialization=True)

    B, T, V = a.batch, a.seq, a.vocab
    ids = torch.randint(3, V, (B, T), generator=gen, dtype=torch.int64)
    labels = ids.clone()
    labels[:, :3] = -100
    labels[:, T // 2] = -100

    lcfg = LoraConfig(r=a.lora_r, lora_alpha=a.lora_alpha, lora_dropout=0.0, bias="none",
                      target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
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
    re = Phi3ForCausalLM.from_pretrained(base_dir, dtype=torch.float32,
                                         attn_implementation="eager").to(dev).eval()
    with torch.no_grad():
        re_logits = re(input_ids=ids_d).logits.float()
    # Bit-identical on the CPU; on a GPU allow kernel-selection noise (a bf16-rounded rotary
    # buffer, the bug this guards against, is ~1e-5 relative).
    reload_tol = 0.0 if a.device == "cpu" else 1e-6 * float(base_logits.abs().max())
    if float((re_logits - base_logits).abs().max()) > reload_tol:
        raise SystemExit("hf_fixture: reloaded base gives different logits (max diff %g)" %
                         (re_logits - base_logits).abs().max())

    hs = a.hidden // a.heads
    meta = {
        "ints": torch.tensor([a.hidden, a.layers, a.heads, a.kv_heads, hs, a.intermediate, V,
                              a.window, a.lora_r, a.original_max if a.longrope else 0, a.max_pos,
                              1 if a.longrope else 0, B, T], dtype=torch.int64),
        "floats": torch.tensor([10000.0, 1e-5, float(a.lora_alpha), attention_factor],
                               dtype=torch.float32),
    }
    if a.longrope:
        meta["short_factor"] = torch.tensor(short, dtype=torch.float32)
        meta["long_factor"] = torch.tensor(long_, dtype=torch.float32)
    save_file(meta, os.path.join(a.out, "meta.safetensors"))

    cmd = "python3 bench/device/hf_fixture.py " + " ".join(shlex.quote(x) for x in argv)
    rope_note = ("longrope orig=%d max_pos=%d (T=%d uses the %s factors) attention_factor=%.9g" %
                 (a.original_max, a.max_pos, T, "LONG" if T > a.original_max else "short",
                  attention_factor)) if a.longrope else "default rope"
    readme = f"""arch=phi3 seed={a.seed} longrope={a.longrope} kv_heads={a.kv_heads} head_dim={hs} window={a.window or None} {rope_note}
Made by: {cmd}
Versions: torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, device {a.device}.
base/: HF model (config.json + model.safetensors stored as BF16; every base weight is bf16-exact, math below is fp32).
adapter/: PEFT LoRA r={a.lora_r} alpha={a.lora_alpha} on qkv_proj,o_proj,gate_up_proj,down_proj (lora_B random), fp32, before the step.
expected.safetensors: input_ids[{B},{T}], labels (-100 masked at t=0,1,2,{T // 2}), base_logits, lora_logits, loss (mean CE over shifted unmasked labels),
grad.<peft param name> after loss.backward(), after_adamw.<name> after one torch AdamW step lr=1e-2 betas=(0.9,0.999) eps=1e-8 wd=0.01.
meta.safetensors: ints I64 [C,L,NH,NKV,HS,I,V,window,lora_r,original_max,max_pos,longrope,B,T], floats F32 [rope_theta,rms_eps,lora_alpha,attention_factor]{", short_factor/long_factor F32 [HS/2]" if a.longrope else ""}.
Attention: eager, causal{f", sliding window {a.window} keys (kv_idx > q_idx - {a.window})" if a.window else ""}, fp32.
"""
    with open(os.path.join(a.out, "README.txt"), "w") as f:
        f.write(readme)
    print("hf_fixture: wrote %s in %.1f s (loss %.6f)" % (a.out, time.time() - t0, loss.item()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
