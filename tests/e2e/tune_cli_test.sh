#!/usr/bin/env bash
# End to end: `kaito tune` on the tiny Phi-3 chat folder (tests/engine/tiny_chat_model.h's
# assembly: the shared tiny-phi3 weights + tests/data/tiny-chat's tokenizer and chat template), on
# its conversations and on the prompt-completion form of them (tests/data/sft).
# Usage: tune_cli_test.sh path/to/kaito SHARED_DIR SOURCE_DIR
set -euo pipefail
KAITO=${1:?usage: tune_cli_test.sh path/to/kaito SHARED_DIR SOURCE_DIR}
SHARED=${2:?shared dir}
SRC=${3:?source dir}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
has() { grep -qF -- "$2" "$1" || fail "$(cat "$1") -- lacks: $2"; }

M=$WORK/model
mkdir -p "$M"
cp "$SHARED/fixtures/tiny-phi3/base/config.json" "$SHARED/fixtures/tiny-phi3/base/model.safetensors" "$M/"
cp "$SRC/tests/data/tiny-chat/tokenizer.json" "$SRC/tests/data/tiny-chat/tokenizer_config.json" "$M/"
DATA=$SRC/tests/data/tiny-chat/chat.jsonl

# A QLoRA run: one line a step, the adapter written, the loss down over four passes.
"$KAITO" tune --model "$M" --data "$DATA" --out "$WORK/adapter" --max-steps 24 --lr 5e-3 \
  > "$WORK/out.txt" 2>&1 || fail "kaito tune exited $?: $(cat "$WORK/out.txt")"
has "$WORK/out.txt" "qlora on cpu"
has "$WORK/out.txt" "step 24/24  loss"
has "$WORK/out.txt" "wrote $WORK/adapter: 24 steps over 6 examples"
[[ -s $WORK/adapter/adapter_model.safetensors ]] || fail "no adapter_model.safetensors"
grep -q '"peft_type": "LORA"' "$WORK/adapter/adapter_config.json" || fail "not a PEFT config"
first=$(awk '/^step 1\//{print $4}' "$WORK/out.txt")
last6=$(awk '/^step (19|2[0-4])\//{s += $4} END {print s / 6}' "$WORK/out.txt")
awk -v a="$first" -v b="$last6" 'BEGIN {exit !(b < 0.8 * a)}' ||
  fail "loss did not come down: first $first, last pass mean $last6"

# The same data as Parquet (how Kaito's example datasets come): the same run, step for step.
"$KAITO" tune --model "$M" --data "${DATA%.jsonl}.parquet" --out "$WORK/adapter_pq" --max-steps 24 \
  --lr 5e-3 > "$WORK/out_pq.txt" 2>&1 || fail "kaito tune (parquet) exited $?: $(cat "$WORK/out_pq.txt")"
diff <(awk '/^step /{print $2, $4}' "$WORK/out.txt") <(awk '/^step /{print $2, $4}' "$WORK/out_pq.txt") ||
  fail "the Parquet run's losses differ from the JSONL run's"
cmp "$WORK/adapter/adapter_model.safetensors" "$WORK/adapter_pq/adapter_model.safetensors" ||
  fail "the Parquet run wrote a different adapter"

# TRL's prompt-completion format (tests/data/sft: the same six answers after "...\nAnswer:"):
# trains, learns (the loss on the completions comes down), and its Parquet twin runs step for step.
PC=$SRC/tests/data/sft/prompt_completion.jsonl
"$KAITO" tune --model "$M" --data "$PC" --out "$WORK/adapter_pc" --max-steps 24 --lr 5e-3 \
  > "$WORK/out_pc.txt" 2>&1 || fail "kaito tune (prompt-completion) exited $?: $(cat "$WORK/out_pc.txt")"
has "$WORK/out_pc.txt" "step 24/24  loss"
has "$WORK/out_pc.txt" "wrote $WORK/adapter_pc: 24 steps over 6 examples"
[[ -s $WORK/adapter_pc/adapter_model.safetensors ]] || fail "no prompt-completion adapter"
first=$(awk '/^step 1\//{print $4}' "$WORK/out_pc.txt")
last6=$(awk '/^step (19|2[0-4])\//{s += $4} END {print s / 6}' "$WORK/out_pc.txt")
awk -v a="$first" -v b="$last6" 'BEGIN {exit !(b < 0.8 * a)}' ||
  fail "prompt-completion loss did not come down: first $first, last pass mean $last6"
"$KAITO" tune --model "$M" --data "${PC%.jsonl}.parquet" --out "$WORK/adapter_pc_pq" --max-steps 24 \
  --lr 5e-3 > "$WORK/out_pc_pq.txt" 2>&1 || fail "kaito tune (prompt-completion parquet) exited $?"
diff <(awk '/^step /{print $2, $4}' "$WORK/out_pc.txt") <(awk '/^step /{print $2, $4}' "$WORK/out_pc_pq.txt") ||
  fail "the prompt-completion Parquet run's losses differ from the JSONL run's"
"$KAITO" tune --model "$M" --data "${PC%.jsonl}.csv" --out "$WORK/adapter_pc_csv" --max-steps 24 \
  --lr 5e-3 > "$WORK/out_pc_csv.txt" 2>&1 || fail "kaito tune (prompt-completion csv) exited $?: $(cat "$WORK/out_pc_csv.txt")"
diff <(awk '/^step /{print $2, $4}' "$WORK/out_pc.txt") <(awk '/^step /{print $2, $4}' "$WORK/out_pc_csv.txt") ||
  fail "the prompt-completion CSV run's losses differ from the JSONL run's"
# The other two formats train too: conversational prompt-completion (Parquet list<struct>
# columns) and text (JSONL, under another column name with --dataset-text-field).
"$KAITO" tune --model "$M" --data "$SRC/tests/data/sft/conversational.parquet" \
  --out "$WORK/adapter_conv" --max-steps 3 > "$WORK/out_conv.txt" 2>&1 ||
  fail "kaito tune (conversational) exited $?: $(cat "$WORK/out_conv.txt")"
has "$WORK/out_conv.txt" "wrote $WORK/adapter_conv: 3 steps over 6 examples"
sed 's/"text":/"body":/' "$SRC/tests/data/sft/text.jsonl" > "$WORK/body.jsonl"
"$KAITO" tune --model "$M" --data "$WORK/body.jsonl" --dataset-text-field body \
  --out "$WORK/adapter_text" --max-steps 3 > "$WORK/out_text.txt" 2>&1 ||
  fail "kaito tune (text) exited $?: $(cat "$WORK/out_text.txt")"
has "$WORK/out_text.txt" "wrote $WORK/adapter_text: 3 steps over 6 examples"

# Bad input: exit 2 and a message naming the flag or the file and line.
expect_error() {  # expected-text, kaito tune arguments...
  local want=$1 rc=0
  shift
  "$KAITO" tune "$@" > "$WORK/err.txt" 2>&1 || rc=$?
  [[ $rc -eq 2 ]] || fail "kaito tune $* exited $rc, not 2: $(cat "$WORK/err.txt")"
  has "$WORK/err.txt" "$want"
}
expect_error "--micro-batch-size" --model "$M" --data "$DATA" --out "$WORK/a2" --micro-batch-size 0
expect_error "$WORK/none.jsonl" --model "$M" --data "$WORK/none.jsonl" --out "$WORK/a2"
printf '%s\n' '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}' \
  '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}]}' > "$WORK/bad.jsonl"
expect_error "$WORK/bad.jsonl: line 2" --model "$M" --data "$WORK/bad.jsonl" --out "$WORK/a2"
printf '%s\n' '{"prompt": "hi", "completion": " yo"}' '' '{"prompt": "hi"}' > "$WORK/bad_pc.jsonl"
expect_error "$WORK/bad_pc.jsonl: line 3: completion" --model "$M" --data "$WORK/bad_pc.jsonl" --out "$WORK/a2"
printf '%s\n' '{"text": "hi"}' '{"prompt": "hi", "completion": " yo"}' > "$WORK/mixed.jsonl"
expect_error "$WORK/mixed.jsonl: line 2" --model "$M" --data "$WORK/mixed.jsonl" --out "$WORK/a2"
[[ ! -e $WORK/a2 ]] || fail "a failed run left $WORK/a2 behind"

# Ctrl-C: stops after the step in progress, keeps a checkpoint, exits 130; --resume goes on.
"$KAITO" tune --model "$M" --data "$DATA" --out "$WORK/a4" --max-steps 1000000 \
  --checkpoint-dir "$WORK/ckpt" --save-every 1000000 > "$WORK/int.txt" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^step 2/' "$WORK/int.txt" && break; sleep 0.1; done
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc -eq 130 ]] || fail "interrupted kaito tune exited $rc: $(tail -3 "$WORK/int.txt")"
has "$WORK/int.txt" "stopped; checkpoint in $WORK/ckpt (continue with --resume)"
[[ -s $WORK/ckpt/trainer_state.safetensors && ! -e $WORK/a4 ]] ||
  fail "no checkpoint, or an adapter from a stopped run"
done_steps=$(grep -c '^step ' "$WORK/int.txt")
"$KAITO" tune --model "$M" --data "$DATA" --out "$WORK/a4" --max-steps $((done_steps + 2)) \
  --checkpoint-dir "$WORK/ckpt" --resume > "$WORK/resume.txt" 2>&1 ||
  fail "resume exited $?: $(cat "$WORK/resume.txt")"
has "$WORK/resume.txt" "resumed at step $done_steps from $WORK/ckpt"
[[ $(grep -c '^step ' "$WORK/resume.txt") -eq 2 && -s $WORK/a4/adapter_model.safetensors ]] ||
  fail "resume did not run the last two steps: $(cat "$WORK/resume.txt")"

# --device cuda: trains where there is a GPU; says why not where there is none.
rc=0
"$KAITO" tune --model "$M" --data "$DATA" --out "$WORK/a3" --max-steps 2 --device cuda \
  > "$WORK/cuda.txt" 2>&1 || rc=$?
case $rc in
  0) has "$WORK/cuda.txt" "qlora on cuda" && [[ -s $WORK/a3/adapter_model.safetensors ]] ;;
  2) grep -q -e 'no CUDA device' -e 'built without CUDA' "$WORK/cuda.txt" ||
       fail "--device cuda: $(cat "$WORK/cuda.txt")" ;;
  *) fail "--device cuda exited $rc: $(cat "$WORK/cuda.txt")" ;;
esac
echo "PASS"
