#!/usr/bin/python3
"""Predicted-vs-measured and error-by-case plots from `epscope calibrate` results.

Each input is a CALIB.json written by `epscope calibrate ... --holdout balanced -o CALIB.json`;
it holds every measured number with the model's prediction (cases[].observations). Writes, per
input, <out>/validation_<name>_scatter.png and <out>/validation_<name>_errors.png, and prints a
Markdown table of median and p95 absolute error (fitted and held-out numbers) per metric.

    /usr/bin/python3 scripts/plot_validation.py --out docs/img out/calib_ll.json out/calib_nccl.json
"""
import argparse
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METRICS = ("dispatch", "combine", "b2b")


def load(path):
    with open(path) as f:
        calib = json.load(f)
    rows = []  # (case_name, held_out, rank, metric, measured, predicted)
    for case in calib["cases"]:
        for o in case.get("observations", []):
            rows.append((case["name"], case["held_out"], o["rank"], o["metric"],
                         o["measured_us"], o["predicted_us"]))
    return calib, rows


def rel_err(measured, predicted):
    return (predicted - measured) / measured


def percentile(values, q):
    """Nearest-rank percentile, as epscope's summaries."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(1, math.ceil(q * len(v)))
    return v[min(k, len(v)) - 1]


def median(values):
    if not values:
        return float("nan")
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def summary(rows, held_out, metric=None):
    errs = [abs(rel_err(m, p)) * 100 for (_, h, _, met, m, p) in rows
            if h == held_out and (metric is None or met == metric)]
    return len(errs), median(errs), percentile(errs, 0.95)


def scatter(name, calib, rows, out_dir):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    for ax, metric in zip(axes, METRICS):
        pts = [(m, p, h) for (_, h, _, met, m, p) in rows if met == metric]
        if not pts:
            ax.set_visible(False)
            continue
        fit = [(m, p) for m, p, h in pts if not h]
        held = [(m, p) for m, p, h in pts if h]
        lo = min(min(m, p) for m, p, _ in pts) * 0.8
        hi = max(max(m, p) for m, p, _ in pts) * 1.25
        xs = [lo, hi]
        ax.plot(xs, xs, color="black", lw=1)
        for f, style in ((1.2, ":"), (1 / 1.2, ":"), (1.08, "--"), (1 / 1.08, "--")):
            ax.plot(xs, [x * f for x in xs], color="gray", lw=0.8, ls=style)
        if fit:
            ax.scatter(*zip(*fit), s=18, facecolors="none", edgecolors="tab:gray",
                       label=f"fitted (balanced), {len(fit)}")
        if held:
            ax.scatter(*zip(*held), s=14, color="tab:red", alpha=0.7,
                       label=f"predicted (imbalanced), {len(held)}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("measured us (per rank)")
        ax.set_ylabel("model us")
        n, med, p95 = summary(rows, True, metric)
        title = f"{metric}"
        if n:
            title += f": held-out median {med:.1f}%, p95 {p95:.1f}%"
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{calib['system']} on {calib['gpu']}: model vs measured "
                 "(dashed: ±8%, dotted: ±20%)")
    fig.tight_layout()
    path = os.path.join(out_dir, f"validation_{name}_scatter.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def errors_by_case(name, calib, rows, out_dir):
    cases = []
    for case in calib["cases"]:
        if case["held_out"] or not any(c["held_out"] for c in calib["cases"]):
            cases.append(case["name"])
    colors = {"dispatch": "tab:blue", "combine": "tab:orange", "b2b": "tab:green"}
    fig, ax = plt.subplots(figsize=(max(8, 0.32 * len(cases) + 3), 5.5))
    offsets = {"dispatch": -0.22, "combine": 0.0, "b2b": 0.22}
    for metric in METRICS:
        xs, ys = [], []
        for i, cname in enumerate(cases):
            for (c, _, _, met, m, p) in rows:
                if c == cname and met == metric:
                    xs.append(i + offsets[metric])
                    ys.append(rel_err(m, p) * 100)
        if xs:
            ax.scatter(xs, ys, s=12, color=colors[metric], label=metric)
    for level, style in ((8, "--"), (20, ":")):
        ax.axhline(level, color="gray", ls=style, lw=0.8)
        ax.axhline(-level, color="gray", ls=style, lw=0.8)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels([c.split(" [")[0] for c in cases], rotation=75, fontsize=7)
    ax.set_ylabel("(model - measured) / measured, % (one dot per rank)")
    ax.set_title(f"{calib['system']} on {calib['gpu']}: error on every held-out case")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, f"validation_{name}_errors.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("calibrations", nargs="+", help="CALIB.json files from epscope calibrate")
    parser.add_argument("--out", default="docs/img", help="folder for the PNG files")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    table = ["| system | set | metric | numbers | median abs err | p95 abs err |",
             "|---|---|---|---|---|---|"]
    for path in args.calibrations:
        calib, rows = load(path)
        if not rows:
            sys.exit(f"{path}: no observations (made by an older epscope calibrate?)")
        name = os.path.splitext(os.path.basename(path))[0]
        print(scatter(name, calib, rows, args.out), file=sys.stderr)
        print(errors_by_case(name, calib, rows, args.out), file=sys.stderr)
        for held_out, label in ((True, "held out (imbalanced)"), (False, "fitted (balanced)")):
            for metric in METRICS:
                n, med, p95 = summary(rows, held_out, metric)
                if n:
                    table.append(f"| {calib['system']} | {label} | {metric} | {n} | "
                                 f"{med:.1f}% | {p95:.1f}% |")
    print("\n".join(table))


if __name__ == "__main__":
    main()
