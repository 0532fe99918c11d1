#!/usr/bin/env python3
"""Writes the validation grid of issue 5 as an `epscope bench --cases` file.

One case a line: NAME TOKENS [OFFSETS_US]. For N ranks and a largest per-rank count MAX:
balanced 1..MAX; one hot rank; half heavy / half light at ratios 2, 4, 8, 16 with the same total;
log-normal random per-rank counts; zero-token ranks; start offsets. Deterministic (fixed seeds).

    python3 scripts/validation_grid.py --ranks 4 --max-tokens 1024 > grid_ll.txt
"""
import argparse
import math
import random


def grid(ranks: int, max_tokens: int):
    scale = max_tokens / 1024.0
    cases = []

    def t(x):  # scale a count written for MAX = 1024, keep it in [0, MAX]
        return max(0, min(max_tokens, int(round(x * scale))))

    def add(name, tokens, offsets=None):
        assert len(tokens) == ranks
        line = f"{name} {','.join(str(v) for v in tokens)}"
        if offsets:
            line += " " + ",".join(f"{o:g}" for o in offsets)
        cases.append(line)

    for b in [1, 2, 4, 8, 16, 32, 64, 128, 192, 256, 384, 512, 768, 1024]:
        add(f"balanced-{t(b) or 1}", [max(1, t(b))] * ranks)
    for hot, cold in [(64, 8), (256, 8), (256, 32), (1024, 32), (1024, 128), (512, 64)]:
        for where in ([0] if hot != 256 else [ranks - 1]):
            tokens = [t(cold)] * ranks
            tokens[where] = t(hot)
            add(f"hot-{where}-{t(hot)}-{t(cold)}", tokens)
    for avg in [64, 256]:
        for ratio in [2, 4, 8, 16]:
            light = 2 * t(avg) / (ratio + 1)
            heavy = ratio * light
            half = ranks // 2
            tokens = [int(round(heavy))] * half + [int(round(light))] * (ranks - half)
            add(f"halves-r{ratio}-avg{t(avg)}", tokens)
    rng = random.Random(20261127)
    for i, median in enumerate([32, 64, 64, 128, 128, 256, 256, 512]):
        sigma = 0.6 if i % 2 == 0 else 1.2
        tokens = [min(max_tokens, int(round(t(median) * math.exp(rng.gauss(0, sigma)))))
                  for _ in range(ranks)]
        add(f"lognormal-{i}-m{t(median)}-s{sigma}", tokens)
    zero = [0] + [t(128)] * (ranks - 1)
    add("zero-one-rank", zero)
    add("zero-half", [0] * (ranks // 2) + [t(256)] * (ranks - ranks // 2))
    add("zero-all-but-one", [t(512)] + [0] * (ranks - 1))
    add("zero-and-hot", [0] * (ranks - 1) + [t(1024)])
    base = [t(128)] * ranks
    add("late-r0-10us", base, [10] + [0] * (ranks - 1))
    add("late-r0-50us", base, [50] + [0] * (ranks - 1))
    add("late-last-20us", base, [0] * (ranks - 1) + [20])
    add("staggered-5us", base, [5 * i for i in range(ranks)])
    add("late-hot-r0-30us", [t(512)] + [t(64)] * (ranks - 1), [30] + [0] * (ranks - 1))
    add("late-light-r0-30us", [t(64)] + [t(512)] * (ranks - 1), [30] + [0] * (ranks - 1))
    return cases


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ranks", type=int, required=True)
    p.add_argument("--max-tokens", type=int, default=1024)
    a = p.parse_args()
    print(f"# validation grid: {a.ranks} ranks, max {a.max_tokens} tokens per rank")
    for line in grid(a.ranks, a.max_tokens):
        print(line)


if __name__ == "__main__":
    main()
