#!/usr/bin/env python3
"""Live peer for tests/engine/tokenizer_test.cpp: HF `tokenizers` encodes and decodes a fixed-seed
set of random and adversarial strings with the fixture tokenizers and with variants of them that
exercise the other supported components (legacy Llama normalizer + byte fallback, Metaspace
"first", Llama-3 regex Split, Digits, Lowercase, lstrip/rstrip/single_word added tokens...).

usage: tokenizer_peer.py <fixtures/tokenizers dir> <out dir>
writes <out dir>/<variant>.tokenizer.json and <out dir>/tokenizer_peer.json. Exit 3 when the
`tokenizers` package is missing (the C++ test turns that into a failure telling to run ./setup.sh).
"""
import copy
import json
import os
import random
import sys

try:
    import tokenizers
    from tokenizers import Tokenizer
    from tokenizers.decoders import DecodeStream
except ImportError as e:  # pragma: no cover
    print(f"tokenizer_peer.py: python package 'tokenizers' is missing ({e}); run ./setup.sh",
          file=sys.stderr)
    sys.exit(3)

SEED = 20240611
N_RANDOM = 2500
N_BYTES = 200
N_STREAM = 300

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
              r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def added(content, tid, special=True, normalized=False, lstrip=False, rstrip=False,
          single_word=False):
    return {"id": tid, "content": content, "single_word": single_word, "lstrip": lstrip,
            "rstrip": rstrip, "normalized": normalized, "special": special}


def variants(fixtures):
    sp = json.load(open(os.path.join(fixtures, "sentencepiece_bpe.tokenizer.json")))
    bl = json.load(open(os.path.join(fixtures, "bytelevel_bpe.tokenizer.json")))
    out = {"sentencepiece_bpe": sp, "bytelevel_bpe": bl}

    # Llama-2 / Phi-3 legacy layout: Prepend+Replace normalizer, byte fallback, fuse_unk, BOS
    # template, "a b" string merges, chat markers with rstrip/lstrip, a single_word token and a
    # normalized (non-special) added token.
    v = copy.deepcopy(sp)
    vocab = v["model"]["vocab"]
    n = len(vocab)
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = n + b
    n = len(vocab)
    v["model"]["byte_fallback"] = True
    v["model"]["fuse_unk"] = True
    v["model"]["merges"] = [f"{a} {b}" for a, b in v["model"]["merges"]]
    v["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    v["pre_tokenizer"] = None
    v["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    v["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "<s>", "type_id": 1}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    v["added_tokens"] += [added("<|user|>", n, rstrip=True), added("<|end|>", n + 1, lstrip=True),
                          added("<|assistant|>", n + 2, rstrip=True, lstrip=True),
                          added("kaito", n + 3, special=False, single_word=True),
                          added("ml ops", n + 4, special=False, normalized=True)]
    out["llama_legacy"] = v

    # Non-legacy Llama: Metaspace(prepend_scheme=first, split=false), no normalizer.
    v = copy.deepcopy(out["llama_legacy"])
    v["model"]["merges"] = sp["model"]["merges"]
    v["normalizer"] = None
    v["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581",
                          "prepend_scheme": "first", "split": False}
    v["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first",
                    "split": False}
    out["llama_metaspace_first"] = v

    # Llama-3: regex Split then ByteLevel without its own regex; BOS via TemplateProcessing.
    v = copy.deepcopy(bl)
    n = len(v["model"]["vocab"])
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated",
         "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
         "use_regex": False}]}
    v["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                    {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                  {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [0],
                                              "tokens": ["<|endoftext|>"]}}}]}
    v["added_tokens"] += [added("<|eot_id|>", n), added("<|start_header_id|>", n + 1),
                          added("<|end_header_id|>", n + 2)]
    out["llama3_split"] = v

    # Qwen-like: single-digit regex, Digits, NFC + Lowercase normalizers, ignore_merges.
    v = copy.deepcopy(bl)
    n = len(v["model"]["vocab"])
    v["model"]["ignore_merges"] = True
    v["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFC"},
                                                           {"type": "Lowercase"}]}
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN_REGEX}, "behavior": "Isolated",
         "invert": False},
        {"type": "Digits", "individual_digits": False},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
         "use_regex": False}]}
    v["added_tokens"] += [added("<|im_start|>", n), added("<|im_end|>", n + 1)]
    out["qwen_like"] = v

    # Split behaviours and strip normalizers on the SentencePiece vocab.
    v = copy.deepcopy(out["llama_legacy"])
    v["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Strip", "strip_left": True, "strip_right": False}, {"type": "NFKD"},
        {"type": "StripAccents"}, {"type": "Replace", "pattern": {"Regex": "\\s+"},
                                   "content": " "}]}
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithPrevious",
         "invert": False},
        {"type": "Split", "pattern": {"Regex": "[,.]"}, "behavior": "MergedWithNext",
         "invert": False},
        {"type": "Split", "pattern": {"Regex": "\\d+"}, "behavior": "Contiguous", "invert": True},
        {"type": "WhitespaceSplit"},
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
         "split": True}]}
    out["split_behaviours"] = v

    # WordPiece-style BPE trained here: continuing_subword_prefix, end_of_word_suffix, unk
    # without fusing, Lowercase, WhitespaceSplit, BertProcessing, no decoder (joined by spaces).
    from tokenizers import models, normalizers, pre_tokenizers, processors, trainers
    t = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##",
                             end_of_word_suffix="</w>"))
    t.normalizer = normalizers.Lowercase()
    t.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]", "[CLS]", "[SEP]"],
                                  continuing_subword_prefix="##", end_of_word_suffix="</w>",
                                  show_progress=False)
    lines = ["Kaito deploys models on Kubernetes clusters with GPU nodes.",
             "Fine-tuning with QLoRA trains low-rank adapters on quantized weights.",
             "The quick brown fox jumps over the lazy dog, again and again."] * 20
    t.train_from_iterator(lines, trainer)
    t.post_processor = processors.BertProcessing(("[SEP]", 2), ("[CLS]", 1))
    out["subword_prefix"] = json.loads(t.to_str())
    return out


POOL = (
    [chr(c) for c in range(0x20, 0x7F)] * 3 +
    list(" \t\n\r\u000b\u000c") * 6 +
    [chr(c) for c in range(0x00, 0x20)] +
    [chr(c) for c in range(0xA0, 0x180)] +
    [chr(c) for c in range(0x300, 0x370)] +              # combining marks
    [chr(c) for c in range(0x391, 0x3CA)] +              # Greek
    [chr(c) for c in range(0x410, 0x450)] +              # Cyrillic
    [chr(c) for c in range(0x5D0, 0x5EB)] +              # Hebrew
    [chr(c) for c in range(0x621, 0x64B)] +              # Arabic
    [chr(c) for c in range(0x660, 0x66A)] +              # Arabic-Indic digits
    [chr(c) for c in range(0x905, 0x940)] +              # Devanagari
    [chr(c) for c in range(0x3041, 0x3097)] +            # Hiragana
    [chr(c) for c in range(0x4E00, 0x4E80)] +            # CJK
    [chr(c) for c in range(0xAC00, 0xAC40)] +            # Hangul
    [chr(c) for c in range(0xFF10, 0xFF3B)] +            # fullwidth digits and letters
    [chr(c) for c in range(0x1F600, 0x1F650)] +          # emoji
    [chr(c) for c in range(0x2460, 0x2474)] +            # circled numbers (NFKC)
    list("\u00b2\u00b3\u00b9\u00bc\ufb01\ufb02\u2126\u212a\u017f\u0130\u03a3\u2160\u2167") +
    list("\u00a0\u1680\u2000\u2003\u2009\u200a\u2028\u2029\u202f\u205f\u3000\u0085") +
    list("\u200b\u200c\u200d\ufe0f\u00ad\ue000\uf8ff\U00020000\U0002a6d6\U0001d400") +
    ["'s", "'T", "'re", "'VE", "'m", "'LL", "'d", "'\u017f"] * 3 +
    ["<s>", "</s>", "<unk>", "<|endoftext|>", "<|user|>", "<|end|>", "<|assistant|>",
     "<|eot_id|>", "<|im_start|>", "<|im_end|>", "<|user", "kaito", "ml ops", "ML OPS",
     "<0x41>", "\u2581", "\u2581\u2581"] * 4 +
    ["  ", "   ", "\n\n", " \n ", "\r\n", "\t\t", "1234567", "3.14159", "Hello", " world",
     "QLoRA", "Kubernetes", "na\u00efve", "caf\u00e9", "e\u0301", "\U0001f468\u200d\U0001f469",
     "\U0001f680"] * 3
)

ADVERSARIAL = [
    "", " ", "  ", "\n", "\n\n\n", "\t", " \t \n ", "a", "A", "0", "00000000000000", "<s>",
    "<s><s>", "</s>", "<s> </s>", "<|endoftext|>", "<|endoftext|><|endoftext|>", "x<|endoftext|>y",
    "<|user|>\nHi<|end|>\n<|assistant|>\n", " <|end|> ", "kaito", "akaito", "kaito_", "kaito!",
    "ml ops", "ML OPS", "\u2581", "\u2581\u2581a", "<0x41>", "'s's'S", "don't I'LL", "\u017f",
    "Hello world", "Fine-tuning with QLoRA", "\u65e5\u672c\u8a9e \U0001f680 na\u00efve",
    "  two  spaces", "tab\tnew\nline", "a" * 600, "ab" * 300, "1" * 100, " " * 50, "\n" * 30,
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", "e\u0301\u0302\u0303",
    "\ufb01\ufb01", "\u2460\u2461", "\uff28\uff45\uff4c\uff4c\uff4f", "x\u0085y", "x\u2028y",
    "\u0000", "\u0000\u0001\u001f", "\U00010000", "\U0010fffd", "end.", "a,b.c-d", "-x-",
]


def random_string(rng):
    k = rng.choice([0, 1, 2, 3, 5, 8, 13, 21, 34])
    return "".join(rng.choice(POOL) for _ in range(k))


def main():
    fixtures, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(SEED)
    texts = ADVERSARIAL + [random_string(rng) for _ in range(N_RANDOM)]
    raw = []
    for _ in range(N_BYTES):
        k = rng.randint(1, 12)
        b = bytes(rng.choice([rng.randint(0, 255), rng.choice(b"\x80\xbf\xc0\xc2\xe0\xed\xf0\xf4\xff"),
                              ord("a")]) for _ in range(k))
        raw.append(b)
    result = {"tokenizers_version": tokenizers.__version__, "seed": SEED, "variants": []}
    for name, spec in variants(fixtures).items():
        path = os.path.join(out_dir, f"{name}.tokenizer.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(spec, f, ensure_ascii=False)
        tok = Tokenizer.from_file(path)
        cases = []
        for i, t in enumerate(texts):
            ids = tok.encode(t, add_special_tokens=True).ids
            case = {"text": t, "ids": ids,
                    "ids_plain": tok.encode(t, add_special_tokens=False).ids,
                    "decoded": tok.decode(ids),
                    "decoded_all": tok.decode(ids, skip_special_tokens=False)}
            if i < N_STREAM:
                ds = DecodeStream(skip_special_tokens=False)
                case["stream"] = [ds.step(tok, x) for x in ids]
            cases.append(case)
        for b in raw:
            t = b.decode("utf-8", "replace")
            cases.append({"hex": b.hex(), "ids": tok.encode(t).ids})
        # Ids outside the vocab and special ids decode like HF (skipped / kept).
        odd = [0, 1, 2, 3, 99999, 5, 6, 7]
        result["variants"].append({"name": name, "path": path, "cases": cases,
                                   "odd_ids": odd, "odd_decoded": tok.decode(odd),
                                   "vocab_size": tok.get_vocab_size(with_added_tokens=True)})
    with open(os.path.join(out_dir, "tokenizer_peer.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
