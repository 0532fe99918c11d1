"""SGLang recorder dumps: parsing the dump objects (no torch needed) and the message without torch."""

import builtins

import numpy as np
import pytest

import epscope
from epscope import sglang


def per_token_dump():
    # 2 layers, physical slot s holds logical expert (s + 1) % 16 (a rotation), k = 8.
    p2l = np.stack([(np.arange(16) + 1) % 16] * 2)
    rec = lambda rank, ids: {"rank": rank, "forward_pass_id": 7,  # noqa: E731
                             "topk_ids_of_layer": np.stack([ids, ids])}
    return {"records": [rec(0, np.tile(np.arange(8), (3, 1))),
                        rec(1, np.tile(np.arange(8, 16), (2, 1)))],
            "last_physical_to_logical_map": p2l}


def test_per_token_dump_gives_logical_topk_per_rank():
    dump = sglang.from_objects([per_token_dump()])
    assert dump.mode == "per_token"
    topk = dump.topk(layer=1)
    assert [t.shape for t in topk] == [(3, 8), (2, 8)]
    assert list(topk[0][0]) == [1, 2, 3, 4, 5, 6, 7, 8]  # physical 0..7 -> logical 1..8
    counts = dump.expert_counts(layer=0)
    assert counts.sum() == 5 * 8 and counts[1] == 3 and counts[0] == 2
    # Straight into the estimate: 2 ranks, 16 experts.
    s = epscope.Scenario(preset="h200-cx7", nodes=1, gpus_per_node=2, experts=16, tokens=1)
    r = epscope.estimate(s, topk=topk)
    assert [x["tokens"] for x in r.to_dict()["ranks"]] == [3, 2]


def test_stat_dump_counts_and_sampled_topk():
    count = np.zeros((4, 2, 16), dtype=np.int64)
    count[:, :, 3] = 100  # expert 3 is hot
    count[:, :, :] += 1
    dump = sglang.from_objects([{"rank": 0, "logical_count": count}])
    assert dump.mode == "stat"
    assert dump.expert_counts(layer=0)[3] == 4 * 101
    topk = dump.sample_topk(layer=0, tokens_per_rank=[50, 50], topk=4, seed=3)
    assert [t.shape for t in topk] == [(50, 4), (50, 4)]
    assert all(len(set(row)) == 4 for t in topk for row in t)  # no expert twice per token
    assert np.mean([3 in row for t in topk for row in t]) > 0.9  # the hot expert is picked


def test_npz_round_trip(tmp_path):
    dump = sglang.from_objects([per_token_dump()])
    sglang._to_npz(dump, tmp_path / "d.npz")
    again = sglang.load_recorder_dump(str(tmp_path / "d.npz"))
    assert [t.tolist() for t in again.topk(0)] == [t.tolist() for t in dump.topk(0)]


def test_pt_without_torch_says_what_to_do(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(ImportError, match="needs PyTorch.*epscope.sglang"):
        sglang.load_recorder_dump(str(tmp_path / "dump.pt"))


def test_not_a_dump():
    with pytest.raises(ValueError, match="not an SGLang recorder dump"):
        sglang.from_objects([{"foo": 1}])
