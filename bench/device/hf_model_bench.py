#!/usr/bin/env python3
"""bench/device/hf_model_bench.py: the Hugging Face baseline for the model-level rows of issue #6.

Prints one `METRIC,hf_<key>,<value>` line per measured row (keys as bench/cuda/model_bench and
bench/cuda/infer_bench print them without the prefix; bench/device/model_report.py joins them):
  hf_train_tok_s, hf_train_peak_mib            batch 4 x 1024, gradient checkpointing off
  hf_train_ckpt_tok_s, hf_train_ckpt_peak_mib  the same with gradient checkpointing on
  hf_decode_b1_tok_s, hf_decode_b16_tok_s      greedy decode with the KV cache after a 128-token
                                               prompt; the prompt's forward is NOT timed
  hf_prefill_2048_tok_s                        one sequence of 2048 tokens (fills the KV cache)
  hf_prefill_4096_tok_s                        one sequence of 4096 tokens (in one forward; ours
                                               serves it in chunks of 512: serve_prefill_4096)

Model: transformers Phi3ForCausalLM from a Phi3Config of Phi-3-mini's shape (hidden 3072, 32
layers, 32 heads = 32 kv heads of 96, intermediate 8192, vocab 32064), random init, bf16,
attn_implementation="sdpa". PEFT LoRA r=8, alpha=16, dropout 0 (Kaito's QLoRA template) on
qkv_proj, o_proj, gate_up_proj, down_proj; AdamW (torch default foreach) over the LoRA weights.
The base stays bf16: bitsandbytes is not installed on the GPU host, so this is LoRA on a bf16 base
(what HF runs there), not 4-bit QLoRA. Decode and prefill run the same PEFT model (adapters
unmerged, as ours applies LoRA at run time), under torch.no_grad.
Timing: torch.cuda.synchronize() around wall-clock loops after warm-up steps; tok/s counts input
tokens for training and prefill, generated tokens (all sequences) for decode.
Peak memory: torch.cuda.max_memory_allocated() after reset_peak_memory_stats() at the start of
the row, so it counts everything allocated during the row: weights, LoRA weights and optimizer
state, activations, logits and the loss (not the caching allocator's reserved slack). Ours is
measured the same way from our side: the high water of bytes our code holds (see model_bench's
header), weights included.
A row that fails (out of memory included) prints `hf_model_bench: <row> FAILED: ...` and no METRIC
line, and the script goes on; the exit code is the number of failed rows.
--tiny: a 2-layer toy shape on the CPU (or the GPU if there is one), to check the script itself.
"""
import argparse
import sys
import time
import traceback

PHI3_MINI = dict(hidden_size=3072, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=32, intermediate_size=8192, vocab_size=32064,
                 max_position_embeddings=4096, original_max_position_embeddings=4096,
                 pad_token_id=32000, bos_token_id=1, eos_token_id=32000)
TINY = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
            intermediate_size=256, vocab_size=512, max_position_embeddings=512,
            original_max_position_embeddings=512, pad_token_id=0, bos_token_id=1, eos_token_id=2)


def log(msg):
    print(f"hf_model_bench: {msg}", flush=True)


def metric(key, value):
    print(f"METRIC,hf_{key},{value:.3f}", flush=True)


def build_model(torch, shape, dev):
    from transformers import Phi3Config, Phi3ForCausalLM
    from peft import LoraConfig, get_peft_model

    cfg = Phi3Config(**shape, attn_implementation="sdpa", use_cache=True)
    try:  # older transformers ignore the constructor argument
        cfg._attn_implementation = "sdpa"
    except Exception:
        pass
    torch.manual_seed(0)
    with torch.device(dev):  # random init directly on the device (fast), then bf16
        model = Phi3ForCausalLM(cfg)
    model = model.to(torch.bfloat16)
    lcfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                      target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])
    model = get_peft_model(model, lcfg)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    log(f"model: {n_all / 1e9:.3f} B parameters, {n_train / 1e6:.2f} M trainable (LoRA), attention "
        f"{getattr(model.config, '_attn_implementation', '?')}")
    return model


class Rows:
    def __init__(self, torch, dev):
        self.torch, self.dev, self.failed = torch, dev, 0
        self.cuda = dev == "cuda"

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def start_peak(self):
        if self.cuda:
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats()

    def peak_mib(self):
        return self.torch.cuda.max_memory_allocated() / 2**20 if self.cuda else None

    def run(self, name, fn):
        t0 = time.time()
        try:
            fn()
            log(f"{name}: done in {time.time() - t0:.1f} s")
        except Exception as e:  # OutOfMemoryError included: report and go on with the next row
            self.failed += 1
            kind = "OUT OF MEMORY" if "out of memory" in str(e).lower() else type(e).__name__
            log(f"{name} FAILED ({kind}): {str(e).splitlines()[0] if str(e) else e!r}")
            traceback.print_exc()
        finally:
            if self.cuda:
                self.torch.cuda.empty_cache()


def train_row(rows, model, vocab, batch, seq, steps, warmup, ckpt, key):
    torch = rows.torch
    if ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    elif getattr(model, "is_gradient_checkpointing", False):
        model.gradient_checkpointing_disable()
    model.config.use_cache = False
    model.train()
    log(f"{key}: gradient checkpointing "
        f"{'on' if getattr(model, 'is_gradient_checkpointing', ckpt) else 'off'}")
    params = [p for p in model.parameters() if p.requires_grad]
    g = torch.Generator(device=rows.dev).manual_seed(1)
    ids = torch.randint(0, vocab, (batch, seq), device=rows.dev, generator=g)
    rows.start_peak()
    opt = torch.optim.AdamW(params, lr=1e-4)

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(warmup):
        step()
    rows.sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    rows.sync()
    dt = time.perf_counter() - t0
    log(f"{key}: {steps} steps of {batch}x{seq} in {dt:.3f} s, last loss {loss.item():.4f}")
    metric(f"{key}_tok_s", batch * seq * steps / dt)
    peak = rows.peak_mib()
    if peak is not None:
        metric(f"{key}_peak_mib", peak)
    del opt
    if ckpt:
        model.gradient_checkpointing_disable()


def decode_row(rows, model, vocab, batch, prompt_len, new_tokens, warmup, key):
    torch = rows.torch
    model.eval()
    model.config.use_cache = True
    g = torch.Generator(device=rows.dev).manual_seed(2)
    prompt = torch.randint(0, vocab, (batch, prompt_len), device=rows.dev, generator=g)

    def generate(n):
        """Prompt forward (not timed), then n greedy steps with the KV cache; returns seconds."""
        out = model(input_ids=prompt, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        rows.sync()
        t0 = time.perf_counter()
        for _ in range(n):
            out = model(input_ids=nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        rows.sync()
        return time.perf_counter() - t0

    with torch.no_grad():
        generate(warmup)
        dt = generate(new_tokens)
    log(f"{key}: {new_tokens} steps at batch {batch} after a {prompt_len}-token prompt "
        f"in {dt:.3f} s")
    metric(f"{key}_tok_s", batch * new_tokens / dt)


def prefill_row(rows, model, vocab, seq, reps, key):
    torch = rows.torch
    model.eval()
    model.config.use_cache = True
    g = torch.Generator(device=rows.dev).manual_seed(3)
    ids = torch.randint(0, vocab, (1, seq), device=rows.dev, generator=g)

    def once():
        try:  # only the last position's logits, as ours computes (transformers >= 4.45)
            return model(input_ids=ids, use_cache=True, logits_to_keep=1)
        except TypeError:
            return model(input_ids=ids, use_cache=True)

    with torch.no_grad():
        once()
        times = []
        for _ in range(reps):
            rows.sync()
            t0 = time.perf_counter()
            out = once()
            out.logits[:, -1].argmax(-1)  # the greedy next token, as ours
            rows.sync()
            times.append(time.perf_counter() - t0)
    times.sort()
    dt = times[len(times) // 2]
    log(f"{key}: {seq} tokens in {dt * 1e3:.1f} ms (median of {reps})")
    metric(f"{key}_tok_s", seq / dt)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="toy shape, for checking the script")
    args = ap.parse_args()
    try:
        import torch
    except Exception as e:
        log(f"PyTorch not importable ({e}): no baseline")
        return 1
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    if not args.tiny and dev != "cuda":
        log("no CUDA device: the full-size baseline needs the GPU host (use --tiny to check)")
        return 77  # skipped, as the GPU binaries report it (run.sh's stage summary)
    import transformers
    import peft
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, peft "
        f"{peft.__version__}, device {torch.cuda.get_device_name() if dev == 'cuda' else 'cpu'}")
    if args.tiny:
        shape, batch, seq, steps, warmup = TINY, 2, 64, 2, 1
        prompt_len, new_tokens, prefill_len, long_len = 8, 4, 64, 128
    else:
        shape, batch, seq, steps, warmup = PHI3_MINI, 4, 1024, 5, 2
        prompt_len, new_tokens, prefill_len, long_len = 128, 32, 2048, 4096
    vocab = shape["vocab_size"]
    rows = Rows(torch, dev)
    t0 = time.time()
    model = build_model(torch, shape, dev)
    log(f"model built in {time.time() - t0:.1f} s")
    rows.run("train (checkpointing off)",
             lambda: train_row(rows, model, vocab, batch, seq, steps, warmup, False, "train"))
    rows.run("train (checkpointing on)",
             lambda: train_row(rows, model, vocab, batch, seq, steps, warmup, True, "train_ckpt"))
    rows.run("decode b1", lambda: decode_row(rows, model, vocab, 1, prompt_len, new_tokens, 4,
                                             "decode_b1"))
    rows.run("decode b16", lambda: decode_row(rows, model, vocab, 16, prompt_len, new_tokens, 4,
                                              "decode_b16"))
    rows.run("prefill 2048", lambda: prefill_row(rows, model, vocab, prefill_len, 3,
                                                 "prefill_2048"))
    rows.run("prefill 4096", lambda: prefill_row(rows, model, vocab, long_len, 3,
                                                 "prefill_4096"))
    log(f"total {time.time() - t0:.1f} s, {rows.failed} failed rows")
    return rows.failed


if __name__ == "__main__":
    sys.exit(main())
