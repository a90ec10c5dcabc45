#!/usr/bin/env python3
"""Writes tokenizer.json and tokenizer_config.json (Phi-3's chat template from
presets/chat_templates/phi-3.jinja, bos <s>, eos </s>). tokenizer.json: a byte-level BPE small enough for the tiny fixture models (vocab 384 in
../../../../shared/fixtures/tiny-phi3), with Phi-3's chat special tokens, trained on chat.jsonl.
ids: 0 <unk>, 1 <s>, 2 </s> (the models' pad, bos, eos), then <|user|>, <|assistant|>,
<|system|>, <|end|>, <|endoftext|>, the 256 byte symbols and merges up to 384 in all.
Run with the `tokenizers` package (setup.sh installs it): python3 make_tokenizer.py"""
import json
import os

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
SPECIAL = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>",
           "<|endoftext|>"]

texts = []
with open(os.path.join(HERE, "chat.jsonl")) as f:
    for line in f:
        for m in json.loads(line)["messages"]:
            texts.append(m["content"])
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=SPECIAL,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                              show_progress=False)
tok.train_from_iterator(texts * 4, trainer)
assert tok.get_vocab_size() <= 384, tok.get_vocab_size()
tok.save(os.path.join(HERE, "tokenizer.json"))
with open(os.path.join(HERE, "..", "..", "..", "presets", "chat_templates", "phi-3.jinja")) as f:
    template = f.read()
with open(os.path.join(HERE, "tokenizer_config.json"), "w") as f:
    json.dump({"bos_token": "<s>", "eos_token": "</s>", "chat_template": template}, f, indent=2)
    f.write("\n")
print("tokenizer.json:", tok.get_vocab_size(), "tokens")
