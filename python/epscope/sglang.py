"""Reading SGLang expert-distribution recorder dumps into epscope routing input.

SGLang's recorder (`--expert-distribution-recorder-mode`, then /dump_expert_distribution_record)
writes `torch.save` files:

- "stat" mode: {"rank", "logical_count": [steps, layers, logical experts], ...}, one file.
- "per_token" mode: {"records": [{"rank", "forward_pass_id", "topk_ids_of_layer":
  [layers, tokens, k], ...}], "last_physical_to_logical_map": [layers, physical experts]},
  one file per rank; top-k ids there are physical expert slots.

Reading a .pt file needs PyTorch (torch.load). Without it, convert on a machine that has it:
`python -m epscope.sglang DUMP.pt OUT.npz`, then `load_recorder_dump("OUT.npz")` anywhere.
"""

import sys

import numpy as np

_NO_TORCH = (
    "reading SGLang recorder dumps (.pt) needs PyTorch, which is not installed here. "
    "Install it (pip install torch), or convert the dump where PyTorch is installed with "
    "`python -m epscope.sglang DUMP.pt OUT.npz` and load the .npz instead."
)


def _numpy(value):
    """A torch tensor, NumPy array or nested list as a NumPy array (no torch import needed)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


class RecorderDump:
    """One or more recorder files, as NumPy arrays.

    logical_count: [steps, layers, experts] (stat mode) or None.
    topk_by_rank: {rank: [(forward_pass_id, [layers, tokens, k] array), ...]} (per_token mode).
    physical_to_logical: [layers, physical experts] or None.
    """

    def __init__(self, logical_count=None, topk_by_rank=None, physical_to_logical=None):
        self.logical_count = logical_count
        self.topk_by_rank = topk_by_rank or {}
        self.physical_to_logical = physical_to_logical

    @property
    def mode(self):
        return "per_token" if self.topk_by_rank else "stat"

    def expert_counts(self, layer=None):
        """Copies each logical expert received, summed over steps (and layers when layer=None)."""
        if self.logical_count is not None:
            counts = self.logical_count.sum(axis=0)
        else:
            counts = None
            for passes in self.topk_by_rank.values():
                for _, ids in passes:
                    logical = self._logical(ids)
                    n = int(logical.max()) + 1 if logical.size else 0
                    per_layer = np.stack([np.bincount(l[l >= 0], minlength=n) for l in logical])
                    counts = per_layer if counts is None else _add_padded(counts, per_layer)
        return counts.sum(axis=0) if layer is None else counts[layer]

    def topk(self, layer, forward_pass_id=None):
        """Per-rank [tokens, k] logical expert ids of one layer and forward pass (the first one
        when not given), ranks in order: the `topk=` input of epscope.estimate()."""
        if not self.topk_by_rank:
            raise ValueError("this dump has no per-token top-k ids (recorder mode 'stat'); "
                             "use expert_counts() or sample_topk()")
        out = []
        for rank in sorted(self.topk_by_rank):
            passes = self.topk_by_rank[rank]
            match = [ids for pid, ids in passes if forward_pass_id in (None, pid)]
            if not match:
                raise ValueError(f"rank {rank} has no forward pass {forward_pass_id}")
            out.append(self._logical(match[0][layer:layer + 1])[0].astype(np.int64))
        return out

    def sample_topk(self, layer, tokens_per_rank, topk=8, seed=1):
        """Top-k ids drawn per token without replacement with the dump's expert popularity, for
        dumps that only hold counts: routing input that follows the measured expert load."""
        counts = np.asarray(self.expert_counts(layer), dtype=np.float64)
        p = (counts + 1e-9) / (counts + 1e-9).sum()
        rng = np.random.default_rng(seed)
        # Gumbel top-k: k largest of log p + Gumbel noise = k draws without replacement.
        return [np.argsort(np.log(p) + rng.gumbel(size=(int(t), p.size)), axis=1)[:, ::-1][:, :topk]
                .astype(np.int64) for t in tokens_per_rank]

    def _logical(self, ids):
        ids = np.asarray(ids)
        if self.physical_to_logical is None:
            return ids
        out = np.full(ids.shape, -1, dtype=np.int64)
        for layer in range(ids.shape[0]):
            valid = ids[layer] >= 0
            out[layer][valid] = self.physical_to_logical[layer][ids[layer][valid]]
        return out


def _add_padded(a, b):
    n = max(a.shape[1], b.shape[1])
    pad = lambda x: np.pad(x, ((0, 0), (0, n - x.shape[1])))  # noqa: E731
    return pad(a) + pad(b)


def from_objects(objects):
    """A RecorderDump from already loaded dump objects (dicts as SGLang saves them)."""
    dump = RecorderDump()
    for obj in objects:
        if not isinstance(obj, dict):
            raise ValueError("not an SGLang recorder dump: expected a dict")
        if "logical_count" in obj:
            count = _numpy(obj["logical_count"])
            if count.ndim == 2:
                count = count[None]
            dump.logical_count = count if dump.logical_count is None else np.concatenate(
                [dump.logical_count, count])
        if "records" in obj:
            if obj.get("last_physical_to_logical_map") is not None:
                dump.physical_to_logical = _numpy(obj["last_physical_to_logical_map"])
            for rec in obj["records"]:
                ids = _numpy(rec["topk_ids_of_layer"])
                dump.topk_by_rank.setdefault(int(rec["rank"]), []).append(
                    (int(rec.get("forward_pass_id", 0)), ids))
        if "logical_count" not in obj and "records" not in obj:
            raise ValueError("not an SGLang recorder dump: no 'logical_count' or 'records' key")
    return dump


def _load_one(path):
    path = str(path)
    if path.endswith(".npz"):
        return _from_npz(path)
    try:
        import torch
    except ImportError as e:
        raise ImportError(_NO_TORCH) from e
    return torch.load(path, map_location="cpu", weights_only=False)


def load_recorder_dump(*paths):
    """Reads recorder files (.pt via torch.load, or .npz from `python -m epscope.sglang`)."""
    return from_objects([_load_one(p) for p in paths])


def _to_npz(dump, out):
    arrays = {}
    if dump.logical_count is not None:
        arrays["logical_count"] = dump.logical_count
    if dump.physical_to_logical is not None:
        arrays["physical_to_logical"] = dump.physical_to_logical
    for rank, passes in dump.topk_by_rank.items():
        for pid, ids in passes:
            arrays[f"topk_rank{rank}_pass{pid}"] = ids
    np.savez_compressed(out, **arrays)


def _from_npz(path):
    data = np.load(path)
    obj = {"records": [], "last_physical_to_logical_map": data.get("physical_to_logical")}
    for key in data.files:
        if key.startswith("topk_rank"):
            rank, pid = key[len("topk_rank"):].split("_pass")
            obj["records"].append({"rank": rank, "forward_pass_id": pid,
                                   "topk_ids_of_layer": data[key]})
    if "logical_count" in data.files:
        obj["logical_count"] = data["logical_count"]
    return obj


def main(argv):
    if len(argv) < 3:
        print("usage: python -m epscope.sglang DUMP.pt [DUMP.pt ...] OUT.npz", file=sys.stderr)
        return 2
    _to_npz(load_recorder_dump(*argv[1:-1]), argv[-1])
    print(f"{len(argv) - 2} dump file(s) -> {argv[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
