"""`epscope bench --backend deepep` without a GPU: the Python driver (python/epscope/
deepep_driver.py) and the command around it, with tests/python/fake_deep_ep.py, a TEST DOUBLE of
DeepEP's two timed calls (dispatch, combine) and the GPU clock. The double's timings are fixed
formulas (see that file), so the records can be checked exactly.

Run by ctest (test deepep_driver, EPSCOPE_CLI = the built epscope); the driver tests also run
alone with `python3 -m pytest tests/python/test_deepep_driver.py`.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
DRIVER = HERE.parents[1] / "src" / "bench" / "backends" / "deepep" / "deepep_driver.py"
FAKE = HERE / "fake_deep_ep.py"


def load_driver():
    spec = importlib.util.spec_from_file_location("deepep_driver_under_test", DRIVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


driver = load_driver()


def env_with(**extra):
    env = dict(os.environ)
    env.pop(driver.TEST_DOUBLE_ENV, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def job_dict(cases=None, **overrides):
    """A 2-rank LL job; rank r's tokens pick experts (r, r + 1 mod 8), so rank 0 (experts 0-3)
    receives rank 0's first copies plus what rank 1 sends to experts 0-3."""
    job = {"format": "epscope-deepep-job", "version": 1, "mode": "ll", "num_ranks": 2,
           "hidden": 256, "topk": 2, "experts": 8, "dispatch_dtype": "fp8",
           "combine_dtype": "bf16", "max_tokens_per_rank": 16, "nvlink": True, "warmup": 1,
           "iters": 3, "sleep_us": 50, "timeout_ms": 5000, "num_sms": 0, "check": False,
           "system": "",
           "cases": cases if cases is not None else [
               {"name": "one", "tokens_per_rank": [3, 1], "start_offset_us": [],
                "topk_idx": [[0, 1, 0, 1, 0, 1], [4, 5]]},
               {"name": "two", "tokens_per_rank": [2, 2], "start_offset_us": [0, 7.5],
                "topk_idx": [[0, 4, 0, 4], [1, 5, 1, 5]]}]}
    job.update(overrides)
    return job


def run_driver(tmp_path, job, *extra, env=None):
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job))
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, str(DRIVER), "--job", str(job_path), "--out", str(out),
                           *extra], capture_output=True, text=True, env=env or env_with(),
                          timeout=120)
    return proc, (json.loads(out.read_text()) if out.exists() else None)


# ---- the driver alone ------------------------------------------------------------------------

def test_arguments_need_probe_or_job_and_out():
    for argv in ([], ["--out", "x.json"], ["--probe"], ["--probe", "--job", "j", "--out", "o"]):
        with pytest.raises(SystemExit) as e:
            driver.parse_args(argv)
        assert e.value.code == 2
    args = driver.parse_args(["--job", "j.json", "--out", "o.json"])
    assert args.job == "j.json" and args.out == "o.json" and not args.probe


def test_job_checks_name_the_field():
    bad = [
        (dict(version=2), "version"),
        (dict(mode="a2a"), "mode: 'a2a'"),
        (dict(num_ranks=9), "num_ranks: '9'"),
        (dict(experts=7), "experts: '7'"),
        (dict(hidden=100), "hidden: '100'"),
        (dict(iters=0), "iters: '0'"),
        (dict(combine_dtype="logfmt"), "combine_dtype: 'logfmt'"),
        (dict(cases=[]), "cases"),
    ]
    for overrides, want in bad:
        with pytest.raises(driver.InputError, match=want.replace("[", r"\[")):
            driver.parse_job(job_dict(**overrides))
    case = {"name": "c", "tokens_per_rank": [1, 1], "start_offset_us": [],
            "topk_idx": [[0, 1], [2]]}
    with pytest.raises(driver.InputError, match=r"cases\[0\]\.topk_idx\[1\]: 1 entries"):
        driver.parse_job(job_dict(cases=[case]))
    case["topk_idx"] = [[0, 8], [2, 3]]
    with pytest.raises(driver.InputError, match="expert '8'"):
        driver.parse_job(job_dict(cases=[case]))
    case["topk_idx"] = [[0, 1], [2, 3]]
    case["tokens_per_rank"] = [1, 17]
    with pytest.raises(driver.InputError, match="tokens_per_rank: '17'"):
        driver.parse_job(job_dict(cases=[case]))
    case["tokens_per_rank"] = [1, 1]
    case["start_offset_us"] = [1.0]
    with pytest.raises(driver.InputError, match="start_offset_us"):
        driver.parse_job(job_dict(cases=[case]))


def test_job_keeps_a_floor_under_the_sleep():
    job = driver.parse_job(job_dict(sleep_us=50))
    assert job.sleep_us == driver.MIN_SLEEP_US
    assert driver.parse_job(job_dict(sleep_us=2000)).sleep_us == 2000
    assert job.system == "deepep-ll"


def test_received_copies_follow_contiguous_placement():
    job = driver.parse_job(job_dict())
    # Case "two": rank 0 sends experts 0 and 4, rank 1 experts 1 and 5, two tokens each.
    assert job.received_copies(job.cases[1]) == [[2, 2, 0, 0], [2, 2, 0, 0]]


def test_run_writes_every_rank_samples(tmp_path):
    proc, out = run_driver(tmp_path, job_dict(check=True), "--test-double", str(FAKE))
    assert proc.returncode == 0, proc.stderr
    assert out["format"] == "epscope-deepep-samples"
    assert out["info"]["system"] == "deepep-ll"
    assert out["info"]["test_double"] == str(FAKE)
    assert out["info"]["sleep_us"] == driver.MIN_SLEEP_US
    assert [c["name"] for c in out["cases"]] == ["one", "two"]
    two = out["cases"][1]
    assert two["start_offset_us"] == [0, 7.5]
    assert [r["rank"] for r in two["ranks"]] == [0, 1]
    r1 = two["ranks"][1]
    # fake: dispatch = 100 + tokens (2) + offset (7.5); combine = 200 + received copies (4).
    assert r1["dispatch_us"] == [109.5] * 3  # 3 iterations; the warm-up is dropped
    assert r1["combine_us"] == [204.0] * 3
    assert r1["b2b_us"] == [313.5] * 3
    assert r1["checked"] == 6 and r1["wrong"] == 0
    assert r1["dispatch_wait_us"] == [] and r1["first_error"] == ""


def test_failed_rank_keeps_the_finished_cases(tmp_path):
    proc, out = run_driver(tmp_path, job_dict(), "--test-double", str(FAKE),
                           env=env_with(FAKE_DEEPEP_FAIL="1:two"))
    assert proc.returncode == 1
    assert [c["name"] for c in out["cases"]] == ["one"]
    assert out["error"]["kind"] == "run"
    assert "rank 1: RuntimeError: injected failure in case 'two'" in out["error"]["message"]


def test_bad_job_file_is_an_input_error(tmp_path):
    proc, out = run_driver(tmp_path, job_dict(mode="a2a"), "--test-double", str(FAKE))
    assert proc.returncode == 2
    assert out["error"] == {"kind": "input",
                            "message": "mode: 'a2a' is not allowed; allowed: ll, ht"}
    missing = tmp_path / "out2.json"
    proc = subprocess.run([sys.executable, str(DRIVER), "--job", str(tmp_path / "none.json"),
                           "--out", str(missing)], capture_output=True, env=env_with())
    assert proc.returncode == 2
    assert "cannot be read" in json.loads(missing.read_text())["error"]["message"]


def blocked_modules(tmp_path, *names):
    """A folder that makes `import NAME` fail, for the machine that happens to have torch."""
    folder = tmp_path / "blocked"
    folder.mkdir(exist_ok=True)
    for name in names:
        message = f"No module named '{name}' (blocked by the test)"
        (folder / f"{name}.py").write_text(f"raise ImportError({message!r})\n")
    return str(folder)


def test_probe_says_what_is_missing_and_how_to_install(tmp_path):
    out = tmp_path / "probe.json"
    env = env_with(PYTHONPATH=blocked_modules(tmp_path, "torch", "deep_ep"))
    proc = subprocess.run([sys.executable, str(DRIVER), "--probe", "--out", str(out)], env=env)
    assert proc.returncode == 2
    message = json.loads(out.read_text())["error"]["message"]
    assert message.startswith("--backend: 'deepep' needs torch")
    assert "github.com/deepseek-ai/DeepEP" in message and "--python" in message
    assert "\n" not in message

    proc = subprocess.run([sys.executable, str(DRIVER), "--probe", "--out", str(out),
                           "--test-double", str(FAKE)], env=env_with(FAKE_DEEPEP_DEVICES=3))
    assert proc.returncode == 0
    assert json.loads(out.read_text())["device_count"] == 3


# ---- through `epscope bench --backend deepep` --------------------------------------------------

# The built command, from ctest; without it these tests are skipped, saying so.
EPSCOPE = os.environ.get("EPSCOPE_CLI", "")


@pytest.fixture
def cli():
    return EPSCOPE if os.path.exists(EPSCOPE) else pytest.skip(
        "EPSCOPE_CLI names no epscope executable (ctest sets it)")


BASE = ["bench", "--backend", "deepep", "--python", sys.executable, "--preset", "h100-cx7",
        "--nodes", "1", "--gpus-per-node", "4", "--routing", "uniform", "-w", "1", "-n", "3"]


def epscope(cli, *args, **env):
    extra = {driver.TEST_DOUBLE_ENV: str(FAKE)}
    extra.update(env)
    return subprocess.run([cli, *args], capture_output=True, text=True, env=env_with(**extra),
                          timeout=300)


def test_cli_reports_and_records_like_other_backends(cli, tmp_path):
    records_path = tmp_path / "deepep.jsonl"
    proc = epscope(cli, *BASE, "--mode", "ll", "--tokens", "64,8,0,8", "--json",
                   str(records_path))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "# epscope bench: test-double-deepep-ll (deepep backend, per-gpu)" in text
    assert "# DeepEP test double, torch none (test double)" in text
    for line in ("[rank 3] Dispatch + combine bandwidth:", "[rank 0] Dispatch bandwidth:",
                 "[rank 2] Model: dispatch", "back-to-back us", "model b2b"):
        assert line in text
    records = [json.loads(line) for line in records_path.read_text().splitlines()]
    assert [r["rank"] for r in records] == [0, 1, 2, 3]
    tokens = [64, 8, 0, 8]
    for r in records:
        assert r["system"] == "test-double-deepep-ll" and r["backend"] == "deepep"
        assert r["mode"] == "ll" and r["tokens_per_rank"] == tokens
        assert r["routing"] == "uniform" and r["iters"] == 3
        assert r["deepep_version"] == "test double"
        assert r["dispatch_us"] == 100 + tokens[r["rank"]]
        assert r["b2b_us"] == r["dispatch_us"] + r["combine_us"]
        for field in ("predicted_dispatch_us", "predicted_combine_us", "predicted_b2b_us"):
            assert r[field] > 0
    # The fake's combine time counts the copies each rank received: uniform routing sends every
    # one of the 80 tokens x 8 copies to some rank.
    assert sum(r["combine_us"] - 200 for r in records) == 80 * 8


def test_cli_cases_file_with_offsets_ht(cli, tmp_path):
    cases = tmp_path / "cases.txt"
    cases.write_text("balanced 32\nlate 32 0,0,0,20\n")
    records_path = tmp_path / "ht.jsonl"
    proc = epscope(cli, *BASE, "--mode", "ht", "--max-tokens-per-rank", "4096", "--cases",
                   str(cases), "--num-sms", "24", "--json", str(records_path))
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in records_path.read_text().splitlines()]
    assert [(r["case"], r["rank"]) for r in records] == [
        (c, r) for c in ("balanced", "late") for r in range(4)]
    assert records[7]["start_offset_us"] == [0, 0, 0, 20]
    assert records[7]["dispatch_us"] == 100 + 32 + 20
    assert records[0]["system"] == "test-double-deepep-ht"


def one_line_error(proc):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    return lines[0]


def test_cli_validates_like_the_other_backends(cli):
    # The checks of validate_bench_scenario (src/bench/harness/cases.cpp), before Python starts.
    nvlink = ["bench", "--backend", "nvlink"] + BASE[6:]
    assert one_line_error(epscope(cli, *BASE, "--nodes", "2")) == one_line_error(
        epscope(cli, *nvlink, "--nodes", "2"))
    expected = {
        ("--experts", "2", "--topk", "1"):
            "--experts: '2' is not allowed; must be a multiple of the 4 ranks",
        ("--topk", "40"): "--topk: '40' is not allowed; at most 32 for bench",
        ("--hidden", "7000", "--dispatch-dtype", "bf16"):
            "--hidden: '7000' is not allowed; must be a multiple of 128",
        ("--combine-dtype", "logfmt"):
            "--combine-dtype: 'logfmt' is not allowed; bench combines in bf16",
    }
    for args, message in expected.items():
        assert one_line_error(epscope(cli, *BASE, *args)) == "epscope: error: " + message


def test_cli_device_count_comes_from_the_probe(cli):
    line = one_line_error(epscope(cli, *BASE, FAKE_DEEPEP_DEVICES="2"))
    assert line == ("epscope: error: --gpus-per-node: '4' is not allowed; this machine has 2 "
                    "CUDA device(s)")


def test_cli_without_deep_ep_says_how_to_install(cli, tmp_path):
    proc = subprocess.run(
        [cli, *BASE], capture_output=True, text=True,
        env=env_with(PYTHONPATH=blocked_modules(tmp_path, "torch", "deep_ep")))
    line = one_line_error(proc)
    assert line.startswith("epscope: error: --backend: 'deepep' needs torch")
    assert "pip install --no-build-isolation ." in line


def test_cli_rejects_what_deepep_cannot_run(cli, tmp_path):
    assert "--mode: 'a2a'" in one_line_error(epscope(cli, *BASE, "--mode", "a2a"))
    assert "--launch: 'mpi'" in one_line_error(epscope(cli, *BASE, "--launch", "mpi"))
    line = one_line_error(epscope(cli, *BASE[:4], str(tmp_path / "no-python"), *BASE[5:]))
    assert line.startswith("epscope: error: --python: '") and "cannot run it" in line


def test_cli_failed_rank_keeps_the_finished_cases(cli, tmp_path):
    cases = tmp_path / "cases.txt"
    cases.write_text("first 8\nsecond 8\nthird 8\n")
    records_path = tmp_path / "partial.jsonl"
    proc = epscope(cli, *BASE, "--cases", str(cases), "--json", str(records_path),
                   FAKE_DEEPEP_FAIL="2:second")
    assert proc.returncode == 1
    assert "epscope: DeepEP stopped after 1 of 3 cases: rank 2: RuntimeError" in proc.stderr
    records = [json.loads(line) for line in records_path.read_text().splitlines()]
    assert {r["case"] for r in records} == {"first"} and len(records) == 4
