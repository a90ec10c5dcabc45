#!/usr/bin/env python3
"""Writes tiny-chat's six conversations (../tiny-chat/chat.jsonl) in TRL SFTTrainer's other
dataset formats, as JSONL and as Parquet (pyarrow, as Hugging Face datasets writes it), for
engine/sft_dataset.h's tests and `kaito tune`'s end-to-end test:
  prompt_completion.*  {"prompt": "<user turns>\\nAnswer:", "completion": " <last answer>"}
  conversational.*     {"prompt": messages[:-1], "completion": [messages[-1]]}
  text.*               {"text": prompt + completion}
  nulls.parquet        prompt-completion with row 1's completion null (an error naming the row)
Run with pyarrow installed: python3 make_sft.py"""
import csv
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "..", "tiny-chat", "chat.jsonl")) as f:
    chats = [json.loads(line)["messages"] for line in f if line.strip()]

prompt_completion, conversational, text = [], [], []
for msgs in chats:
    users = " ".join(m["content"] for m in msgs[:-1] if m["role"] == "user")
    p = {"prompt": users + "\nAnswer:", "completion": " " + msgs[-1]["content"]}
    prompt_completion.append(p)
    conversational.append({"prompt": msgs[:-1], "completion": [msgs[-1]]})
    text.append({"text": p["prompt"] + p["completion"]})


def write(name, rows):
    with open(os.path.join(HERE, name + ".jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    pq.write_table(pa.Table.from_pylist(rows), os.path.join(HERE, name + ".parquet"))


write("prompt_completion", prompt_completion)
write("conversational", conversational)
write("text", text)
nulls = [dict(r) for r in prompt_completion[:3]]
nulls[1]["completion"] = None
pq.write_table(pa.Table.from_pylist(nulls), os.path.join(HERE, "nulls.parquet"))
# CSV twins (pandas / HF's csv loader read them as their JSONL): quoted fields across lines, CRLF
# record ends for one, LF for the other.
for name, rows, term in (("prompt_completion", prompt_completion, "\r\n"), ("text", text, "\n")):
    with open(os.path.join(HERE, name + ".csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator=term)
        cols = list(rows[0].keys())
        w.writerow(cols)
        for r in rows:
            w.writerow([r[c] for c in cols])
