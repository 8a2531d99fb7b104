#!/usr/bin/python3
"""Writes a small supervised fine-tuning task for the byte-level test
models: JSONL rows {"prompt": ..., "completion": ...} (tailor-train
--tokenizer=bytes). The completion repeats a made-up word from the prompt
in a fixed template, something the pretrained model (GNU manuals and
licence texts) has not seen: its held-out loss on the completions starts
high and a LoRA adapter can bring it down. Training and held-out words are
disjoint. Also writes a preference set for the same prompts (DPO and the
other preference losses): the chosen completion repeats the prompt's word,
the rejected one says it once.

  make_task.py OUT_DIR [--train 256] [--eval 64] [--seed 0]
  -> train.jsonl eval.jsonl pairs-train.jsonl pairs-eval.jsonl
"""
import argparse
import json
import os
import random


def word(rng):
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    return "".join(rng.choice(consonants) + rng.choice(vowels)
                   for _ in range(rng.randint(2, 4)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=256)
    ap.add_argument("--eval", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    words = []
    seen = set()
    while len(words) < args.train + args.eval:
        w = word(rng)
        if w not in seen:
            seen.add(w)
            words.append(w)
    os.makedirs(args.out, exist_ok=True)
    for name, chunk in (("train", words[:args.train]), ("eval", words[args.train:])):
        with open(os.path.join(args.out, name + ".jsonl"), "w") as f, \
                open(os.path.join(args.out, "pairs-" + name + ".jsonl"), "w") as p:
            for w in chunk:
                prompt = f"The word is {w}.\nSay it twice:"
                f.write(json.dumps({"prompt": prompt, "completion": f" {w} {w}.\n"}) + "\n")
                p.write(json.dumps({"prompt": prompt, "chosen": f" {w} {w}.\n",
                                    "rejected": f" {w}.\n"}) + "\n")
    print(f"wrote {args.train} training and {args.eval} held-out examples to {args.out}")


if __name__ == "__main__":
    main()
