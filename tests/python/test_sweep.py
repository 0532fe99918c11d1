"""Sweeps from Python and from the command line (threads, CSV/JSON, MPI when available)."""

import csv
import json
import os
import shutil
import subprocess

import pytest

import epscope


def test_sweep_grid_order_and_values():
    base = epscope.Scenario()
    out = epscope.sweep(base, {"tokens": [64, 128, 256], "nvlink": [True, False]},
                        threads=2, compare_balanced=True)
    rows = out["results"]
    assert out["sweep"]["num_points"] == 6
    # Row-major: the last axis varies fastest.
    assert [(r["fields"]["tokens"], r["fields"]["nvlink"]) for r in rows] == [
        ("64", "true"), ("64", "false"), ("128", "true"), ("128", "false"),
        ("256", "true"), ("256", "false")]
    for r in rows:
        s = base.replace(tokens=int(r["fields"]["tokens"]), nvlink=r["fields"]["nvlink"] == "true")
        assert r["total_us"] == pytest.approx(epscope.estimate(s).total_us)
        assert r["ratio"] == pytest.approx(1.0)  # uniform tokens are already balanced
    # More tokens cost more; pure RDMA costs more than NVLink on this 2-node cluster.
    assert rows[0]["total_us"] < rows[2]["total_us"] < rows[4]["total_us"]
    assert rows[0]["total_us"] < rows[1]["total_us"]


def test_sweep_invalid_point_is_reported_not_fatal():
    rows = epscope.sweep(epscope.Scenario(), {"tokens": [64, 4096]})["results"]
    assert "error" not in rows[0]
    assert "max-tokens-per-rank" in rows[1]["error"]


def test_cli_sweep_csv_json_and_threads_agree(cli, tmp_path):
    args = [cli, "sweep", "--vary", "tokens=32,64,128,256", "--vary", "mode=ll,a2a",
            "--vary", "nvlink=on,off"]  # ht needs NVLink: a2a instead
    one = tmp_path / "one.csv"
    many = tmp_path / "many.csv"
    js = tmp_path / "many.json"
    subprocess.run(args + ["-j", "1", "--csv", str(one)], check=True, capture_output=True)
    run = subprocess.run(args + ["-j", "4", "--csv", str(many), "--json", str(js)], check=True,
                         capture_output=True, text=True)
    assert one.read_text() == many.read_text()  # deterministic whatever the thread count
    assert run.stderr == ""  # stderr is not a terminal: no progress bar
    rows = list(csv.DictReader(many.open()))
    assert len(rows) == 16 and [r["point"] for r in rows] == [str(i) for i in range(16)]
    data = json.loads(js.read_text())
    assert [r["total_us"] for r in data["results"]] == [float(r["total_us"]) for r in rows]


def test_cli_sweep_file_and_semicolon_lists(cli, tmp_path):
    f = tmp_path / "grid.toml"
    f.write_text('preset = "h200-cx7"\n[cluster]\nnodes = 1\ngpus_per_node = 4\n'
                 '[sweep]\nmode = ["ll", "ht"]\n')
    out = subprocess.run([cli, "sweep", str(f), "--vary", "tokens=512,64x3;128"], check=True,
                         capture_output=True, text=True).stdout
    rows = list(csv.DictReader(out.splitlines()))
    assert [(r["mode"], r["tokens"]) for r in rows] == [
        ("ll", "512,64x3"), ("ll", "128"), ("ht", "512,64x3"), ("ht", "128")]
    assert float(rows[0]["balance_ratio"]) == pytest.approx(176 / 512)


def test_cli_sweep_errors(cli):
    bad = subprocess.run([cli, "sweep", "--vary", "colour=red"], capture_output=True, text=True)
    assert bad.returncode == 2 and "known fields" in bad.stderr
    none = subprocess.run([cli, "sweep"], capture_output=True, text=True)
    assert none.returncode == 2 and "--vary" in none.stderr


def test_cli_sweep_under_mpirun_gathers_one_file(cli, tmp_path):
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun not installed")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    args = ["sweep", "--vary", "tokens=32,64,128", "--vary", "nvlink=on,off"]
    split = tmp_path / "mpi.csv"
    run = subprocess.run([mpirun, "-np", "2", "--oversubscribe", cli] + args + ["--csv", str(split)],
                         capture_output=True, text=True, env=env)
    if run.returncode != 0 and "MPI ranks" not in run.stdout:
        pytest.skip(f"mpirun could not start 2 ranks here: {run.stderr.strip()[:200]}")
    single = subprocess.run([cli] + args, check=True, capture_output=True, text=True).stdout
    assert split.read_text() == single
    if "on 2 MPI ranks" not in run.stdout:
        pytest.skip("epscope was built without MPI: the grid ran on one rank")
