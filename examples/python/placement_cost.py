"""What does each placement of this step's requests over the DP ranks cost in dispatch/combine?

Paste `placement_cost` into a scheduler: give it the per-rank batch sizes (tokens this step) and
KV loads a candidate placement would produce, get back the estimated dispatch + combine time of one
MoE layer and the imbalance of both. The communication side comes from epscope's closed-form
model; the attention side here is only the KV imbalance (the decode-step model of `epscope plan`
will add its time). Run: python3 examples/python/placement_cost.py
"""

import numpy as np

import epscope


def placement_cost(tokens_per_rank, kv_per_rank, scenario):
    """Communication cost of one placement: per-layer dispatch + combine on the slowest rank."""
    s = scenario.replace(tokens=np.asarray(tokens_per_rank, dtype=np.int64))
    c = epscope.compare_balanced(s)
    kv = np.asarray(kv_per_rank, dtype=np.float64)
    return {
        "moe_us": c.unbalanced.total_us,              # what this placement costs per MoE layer
        "moe_vs_balanced": c.ratio,                   # 1.0 = as cheap as a perfectly even batch
        "batch_balance": s.total_tokens / s.num_ranks / max(tokens_per_rank),  # avg / max
        "kv_balance": kv.mean() / kv.max(),
        "bottleneck": c.unbalanced.summary,
    }


def place(requests, num_ranks, key):
    """Greedy: each request (tokens, kv) to the rank with the least `key` load so far."""
    tokens = np.zeros(num_ranks, dtype=np.int64)
    kv = np.zeros(num_ranks, dtype=np.int64)
    for t, c in sorted(requests, key=lambda r: -r[1]):
        load = {"tokens": tokens, "kv": kv, "mixed": tokens / tokens.sum().clip(1) +
                kv / kv.sum().clip(1)}[key]
        r = int(np.argmin(load))
        tokens[r] += t
        kv[r] += c
    return tokens, kv


if __name__ == "__main__":
    # 16 DP/EP ranks (2 nodes x 8 H800, pure RDMA, LL kernels), 1800 decode requests this step:
    # 1 token each, plus 1 accepted MTP draft token for some; context lengths from a long tail.
    rng = np.random.default_rng(0)
    requests = [(1 + int(rng.random() < 0.6), int(rng.lognormal(8, 1.2))) for _ in range(1800)]
    scenario = epscope.Scenario(preset="h800-cx7", nodes=2, gpus_per_node=8, nvlink=False)

    round_robin = (np.bincount(np.arange(len(requests)) % 16, [r[0] for r in requests], 16),
                   np.bincount(np.arange(len(requests)) % 16, [r[1] for r in requests], 16))
    candidates = {"round robin": round_robin,
                  "balance tokens": place(requests, 16, "tokens"),
                  "balance KV": place(requests, 16, "kv"),
                  "balance both": place(requests, 16, "mixed")}
    print(f"{'placement':<16}{'MoE us/layer':>13}{'vs even':>9}{'batch bal':>11}{'KV bal':>8}")
    for name, (tokens, kv) in candidates.items():
        cost = placement_cost(tokens.astype(np.int64), kv, scenario)
        print(f"{name:<16}{cost['moe_us']:>13.1f}{cost['moe_vs_balanced']:>9.3f}"
              f"{cost['batch_balance']:>11.2f}{cost['kv_balance']:>8.2f}")
