"""Scenario building and the estimate/compare bindings against the core's own numbers."""

import json
import subprocess

import numpy as np
import pytest

import epscope


def test_default_scenario_is_the_domain_question():
    s = epscope.Scenario()
    assert s.num_ranks == 16
    assert list(s.tokens_per_rank) == [384] * 8 + [64] * 8
    assert not s.nvlink
    c = epscope.compare_balanced(s)
    # DOMAIN.md section 4: measured 1.65; the model must say imbalance costs well over 1.5x.
    assert 1.5 < c.ratio < 1.9
    d = c.to_dict()
    assert d["ratio"] == pytest.approx(c.ratio)
    assert len(d["ranks"]) == 16 and len(d["balanced"]["ranks"]) == 16


def test_keywords_accept_list_syntax_numbers_and_numpy():
    a = epscope.Scenario(preset="h200-cx7", nodes=1, gpus_per_node=4, tokens="512,64x3")
    b = epscope.Scenario(preset="h200-cx7", nodes=1, gpus_per_node=4,
                         tokens=np.array([512, 64, 64, 64]))
    assert list(a.tokens_per_rank) == list(b.tokens_per_rank) == [512, 64, 64, 64]
    assert a.to_dict() == b.to_dict()
    c = a.replace(tokens=128, nvlink=False)
    assert list(c.tokens_per_rank) == [128] * 4 and not c.nvlink
    assert a.tokens_per_rank[0] == 512  # replace() copies


def test_rank_count_change_keeps_uniform_tokens_uniform():
    s = epscope.Scenario(tokens=100, nodes=4)
    assert s.num_ranks == 32 and set(s.tokens_per_rank) == {100}


def test_bad_input_names_the_field():
    with pytest.raises(epscope.InputError, match="tokens"):
        epscope.Scenario(tokens="5000")  # above the LL receive buffer (1024)
    with pytest.raises(epscope.InputError, match="known fields"):
        epscope.Scenario(no_such_field=1)
    with pytest.raises(ValueError):  # InputError is a ValueError
        epscope.Scenario(mode="fast")


def test_estimate_matches_cli_json(cli, tmp_path):
    out = tmp_path / "e.json"
    subprocess.run([cli, "estimate", "--preset", "h200-cx7", "--nodes", "1", "--gpus-per-node", "4",
                    "--tokens", "512,64x3", "--json", str(out)], check=True, capture_output=True)
    from_cli = json.loads(out.read_text())
    s = epscope.Scenario(preset="h200-cx7", nodes=1, gpus_per_node=4, tokens="512,64x3")
    r = epscope.estimate(s)
    assert r.total_us == pytest.approx(from_cli["total_us"])
    assert r.to_dict()["ranks"] == from_cli["ranks"]


def dispatch_recv_bytes(rank):
    return sum(c["bytes"] for c in rank["dispatch"]["recv"].values())


def test_explicit_topk_routing():
    s = epscope.Scenario(preset="h200-cx7", nodes=1, gpus_per_node=4, tokens=4)
    # Every token of every rank picks experts 0..7, all on rank 0 (64 experts per rank): rank 0
    # receives 8 copies per token from every rank and nobody else receives any dispatch data.
    topk = [np.tile(np.arange(8), (t, 1)) for t in (10, 3, 3, 3)]
    r = epscope.estimate(s, topk=topk)
    ranks = r.to_dict()["ranks"]
    assert [x["tokens"] for x in ranks] == [10, 3, 3, 3]  # tokens follow the arrays
    # LL FP8 message: 16 + 7168 + 7168 / 128 * 4 = 7408 B; 19 tokens x 8 copies land on rank 0.
    assert dispatch_recv_bytes(ranks[0]) == 19 * 8 * 7408
    assert all(dispatch_recv_bytes(x) == 0 for x in ranks[1:])
    # The same routing as one [ranks, tokens, k] array (equal lengths).
    same = epscope.estimate(s, topk=np.tile(np.arange(8), (4, 3, 1)))
    assert dispatch_recv_bytes(same.to_dict()["ranks"][1]) == 0
    with pytest.raises(epscope.InputError, match="expert indices"):
        epscope.estimate(s, topk=[np.full((1, 8), 256)] * 4)
    with pytest.raises(epscope.InputError, match="shape"):
        epscope.estimate(s, topk=[np.zeros((1, 4), dtype=int)] * 4)


def test_expert_map_from_numpy():
    # Reverse placement: logical expert e lives in slot 255 - e, i.e. on rank (255 - e) // 16.
    s = epscope.Scenario(physical_to_logical=np.arange(256)[::-1], tokens=16)
    topk = [np.tile(np.arange(8), (16, 1))] * 16  # experts 0..7 -> slots 255..248 -> rank 15
    ranks = epscope.estimate(s, topk=topk).to_dict()["ranks"]
    assert dispatch_recv_bytes(ranks[15]) == 16 * 16 * 8 * 7408  # 16 ranks x 16 tokens x 8
    assert dispatch_recv_bytes(ranks[0]) == 0
    with pytest.raises(epscope.InputError):
        epscope.Scenario(physical_to_logical=np.arange(100))


def test_rank_column_and_params():
    s = epscope.Scenario()
    r = epscope.estimate(s)
    wait = r.rank_column("wait_us")
    assert wait.shape == (16,) and wait.max() > 0
    p = epscope.ModelParams.for_scenario(s)
    slower = epscope.ModelParams.for_scenario(s)
    slower.nic_tx_gbps = p.nic_tx_gbps / 2
    slower.nic_rx_gbps = p.nic_rx_gbps / 2
    assert epscope.estimate(s, params=slower).total_us > r.total_us


def test_from_file(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('preset = "h100-cx7"\nmode = "ht"\ntokens = "256"\n[cluster]\nnodes = 1\n'
                 '[sweep]\ntokens = [1, 2]\n')
    s = epscope.Scenario.from_file(str(f), mode="ll", nvlink=False)
    assert s.preset == "h100-cx7" and s.mode == "ll" and s.num_ranks == 8 and not s.nvlink
    assert set(s.tokens_per_rank) == {256}


def test_placement_example_runs():
    import os
    import sys
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python",
                           "placement_cost.py")
    out = subprocess.run([sys.executable, example], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    assert out[0].split()[0] == "placement" and len(out) == 5
    costs = {line[:16].strip(): float(line[16:29]) for line in out[1:]}
    # Balancing tokens is never worse for dispatch/combine than round robin.
    assert costs["balance tokens"] <= costs["round robin"]
