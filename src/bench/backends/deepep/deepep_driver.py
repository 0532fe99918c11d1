#!/usr/bin/env python3
"""DeepEP under per-rank imbalance: the driver behind `epscope bench --backend deepep`.

`epscope bench` validates the scenario, resolves the cases and samples every rank's top-k indices
(the same ones its own backends use), writes them into a job file and starts this script with the
Python that has torch and DeepEP (`--python`). The script starts one process per GPU; each runs
DeepEP's low-latency (LL) or normal (HT) intranode kernels through the shared harness of our own
backends (src/bench/harness/harness.cpp):

    for every case: load it; once untimed: dispatch, the test expert, combine (checked with -c);
    then warm-up + measured iterations of
        aligned start, dispatch | aligned start, combine | aligned start, dispatch + combine
    aligned start = a GPU sleep, a 1-element all-reduce over every rank, the rank's own offset

and writes every rank's raw per-iteration times (the samples JSON of src/bench/harness/samples.cpp).
`epscope bench` reads them back and prints the same DeepEP-style lines, percentiles, model
prediction and measurement records as for its own backends. docs/cli.md, docs/validation.md.

    deepep_driver.py --probe --out PROBE.json      can torch and deep_ep be imported; GPU count
    deepep_driver.py --job JOB.json --out OUT.json  run the job

Exit status: 0 done; 2 bad input or nothing to run it with (deep_ep missing, too few GPUs);
1 a rank failed (OUT.json then holds the cases every rank finished, and the error).

Only the standard library is imported here. The rank session (torch, deep_ep, one GPU) is
deepep_session.py beside this file; CI replaces it by a test double (--test-double PATH or
EPSCOPE_DEEPEP_TEST_DOUBLE; tests/python/fake_deep_ep.py): never set that for a measurement.
"""

import argparse
import importlib.util
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import traceback

JOB_FORMAT = "epscope-deepep-job"
JOB_VERSION = 1
OUTPUT_FORMAT = "epscope-deepep-samples"
TEST_DOUBLE_ENV = "EPSCOPE_DEEPEP_TEST_DOUBLE"

# The aligned start needs every host-side launch of one timed op (the all-reduce, the op itself,
# DeepEP's Python wrapper) queued before the GPU sleep ends, or the op's time includes host launch
# latency. Python plus NCCL take tens of microseconds, so the sleep is at least this long.
MIN_SLEEP_US = 500.0
# Setup (process start, torch import, NCCL and NVSHMEM init, buffers) and the first pass of the
# first case get this much on top of --timeout-ms.
SETUP_GRACE_S = 240.0


class InputError(Exception):
    """Bad job or an environment that cannot run it: one line, exit 2."""


# ---- job file --------------------------------------------------------------------------------

class Job:
    """The validated job: scenario shape, options, cases with every rank's top-k indices."""

    def __init__(self, raw):
        self.raw = raw
        self.mode = raw["mode"]
        self.num_ranks = raw["num_ranks"]
        self.hidden = raw["hidden"]
        self.topk = raw["topk"]
        self.experts = raw["experts"]
        self.dispatch_dtype = raw["dispatch_dtype"]
        self.combine_dtype = raw["combine_dtype"]
        self.max_tokens_per_rank = raw["max_tokens_per_rank"]
        self.nvlink = raw["nvlink"]
        self.warmup = raw["warmup"]
        self.iters = raw["iters"]
        self.sleep_us = max(float(raw["sleep_us"]), MIN_SLEEP_US)
        self.timeout_ms = float(raw["timeout_ms"])
        self.num_sms = raw["num_sms"]
        self.check = raw["check"]
        self.system = raw.get("system") or ("deepep-" + self.mode)
        self.cases = raw["cases"]

    def offset_us(self, case, rank):
        offsets = case["start_offset_us"]
        return float(offsets[rank]) if offsets else 0.0

    def received_copies(self, case):
        """Top-k copies each local expert of each rank receives: [rank][local expert]. Expert e
        lives on rank e // (experts / ranks), as in DeepEP and our backends."""
        per_rank = self.experts // self.num_ranks
        counts = [[0] * per_rank for _ in range(self.num_ranks)]
        for rank_idx in case["topk_idx"]:
            for e in rank_idx:
                if e >= 0:
                    counts[e // per_rank][e % per_rank] += 1
        return counts


def _need(obj, key, kind, where, check=None, allowed=""):
    if key not in obj:
        raise InputError(f"{where}{key}: missing")
    value = obj[key]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if ok and check is not None:
        ok = check(value)
    if not ok:
        raise InputError(f"{where}{key}: '{value}' is not allowed; {allowed}")
    return value


def parse_job(raw):
    """Checks a job dict (what `epscope bench` writes; docs/cli.md) and returns a Job."""
    if not isinstance(raw, dict):
        raise InputError("job: not a JSON object")
    if raw.get("format") != JOB_FORMAT or raw.get("version") != JOB_VERSION:
        raise InputError(f"job: format '{raw.get('format')}' version '{raw.get('version')}' is "
                         f"not allowed; this driver reads {JOB_FORMAT} version {JOB_VERSION}")
    pos = (lambda v: v > 0, "must be > 0")
    nonneg = (lambda v: v >= 0, "must be >= 0")
    _need(raw, "mode", str, "", lambda v: v in ("ll", "ht"), "allowed: ll, ht")
    ranks = _need(raw, "num_ranks", int, "", lambda v: 1 <= v <= 8, "1 to 8 ranks (one node)")
    _need(raw, "hidden", int, "", lambda v: v > 0 and v % 128 == 0, "a positive multiple of 128")
    topk = _need(raw, "topk", int, "", *pos)
    experts = _need(raw, "experts", int, "", lambda v: v > 0 and v % ranks == 0,
                    f"a positive multiple of the {ranks} ranks")
    _need(raw, "dispatch_dtype", str, "", lambda v: v in ("fp8", "bf16"), "allowed: fp8, bf16")
    _need(raw, "combine_dtype", str, "", lambda v: v == "bf16", "allowed: bf16")
    max_tokens = _need(raw, "max_tokens_per_rank", int, "", *pos)
    _need(raw, "nvlink", bool, "", None)
    _need(raw, "warmup", int, "", *nonneg)
    _need(raw, "iters", int, "", *pos)
    _need(raw, "sleep_us", (int, float), "", lambda v: 0 <= v <= 1e6, "in [0, 1e6]")
    _need(raw, "timeout_ms", (int, float), "", lambda v: 0 < v <= 3.6e6, "in (0, 3.6e6]")
    _need(raw, "num_sms", int, "", *nonneg)
    _need(raw, "check", bool, "", None)
    cases = _need(raw, "cases", list, "", lambda v: len(v) > 0, "at least one case")
    for c_idx, case in enumerate(cases):
        where = f"cases[{c_idx}]."
        if not isinstance(case, dict):
            raise InputError(f"cases[{c_idx}]: not a JSON object")
        _need(case, "name", str, where, lambda v: v != "", "a non-empty name")
        tokens = _need(case, "tokens_per_rank", list, where, lambda v: len(v) == ranks,
                       f"one count per rank ({ranks})")
        for t in tokens:
            if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t <= max_tokens:
                raise InputError(f"{where}tokens_per_rank: '{t}' is not allowed; "
                                 f"0 to max_tokens_per_rank = {max_tokens}")
        offsets = _need(case, "start_offset_us", list, where,
                        lambda v: len(v) in (0, ranks), f"empty or one offset per rank ({ranks})")
        for o in offsets:
            if not isinstance(o, (int, float)) or isinstance(o, bool) or not 0 <= o <= 1e6:
                raise InputError(f"{where}start_offset_us: '{o}' is not allowed; in [0, 1e6] us")
        topk_idx = _need(case, "topk_idx", list, where, lambda v: len(v) == ranks,
                         f"one list per rank ({ranks})")
        for r, rank_idx in enumerate(topk_idx):
            if not isinstance(rank_idx, list) or len(rank_idx) != tokens[r] * topk:
                got = len(rank_idx) if isinstance(rank_idx, list) else type(rank_idx).__name__
                raise InputError(f"{where}topk_idx[{r}]: {got} entries; tokens_per_rank[{r}] x "
                                 f"topk = {tokens[r] * topk} expected")
            for e in rank_idx:
                if not isinstance(e, int) or not -1 <= e < experts:
                    raise InputError(f"{where}topk_idx[{r}]: expert '{e}' is not allowed; "
                                     f"-1 (none) or 0 to {experts - 1}")
    return Job(raw)


def load_job(path):
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except OSError as e:
        raise InputError(f"--job: '{path}' cannot be read: {e.strerror}")
    except ValueError as e:
        raise InputError(f"--job: '{path}' is not valid JSON: {e}")
    return parse_job(raw)


# ---- the harness (the same sequence as src/bench/harness/harness.cpp) --------------------------------

class Watchdog:
    """Ends the rank process when a blocking step outlives its deadline: a DeepEP kernel that
    waits for a peer that never comes would otherwise hang until DeepEP's own ~100 s timeout."""

    def __init__(self, rank, report_failure):
        self.rank = rank
        self.report_failure = report_failure
        self.deadline = None
        self.what = ""
        self.lock = threading.Lock()
        threading.Thread(target=self._watch, daemon=True).start()

    def arm(self, seconds, what):
        with self.lock:
            self.deadline = time.monotonic() + seconds
            self.what = what

    def disarm(self):
        with self.lock:
            self.deadline = None

    def _watch(self):
        while True:
            time.sleep(0.2)
            with self.lock:
                late = self.deadline is not None and time.monotonic() > self.deadline
                what = self.what
            if late:
                self.report_failure(f"rank {self.rank}: {what} did not finish in time "
                                    "(a peer never arrived?); giving up")
                os._exit(3)


def run_cases(session, job, rank, on_case_done, watchdog=None):
    """Every case on this rank's session; calls on_case_done(samples) after each case."""
    def step(seconds, what, fn, *args):
        if watchdog is not None:
            watchdog.arm(seconds, what)
        result = fn(*args)
        if watchdog is not None:
            watchdog.disarm()
        return result

    op_s = job.timeout_ms / 1e3 + 2 * job.sleep_us / 1e6
    for c_idx, case in enumerate(job.cases):
        name = case["name"]
        first_s = op_s + (SETUP_GRACE_S if c_idx == 0 else 0)
        offset = job.offset_us(case, rank)
        step(first_s, f"case '{name}': loading", session.load_case, case)
        samples = {"rank": rank, "dispatch_us": [], "combine_us": [], "b2b_us": [],
                   "dispatch_wait_us": [], "dispatch_transfer_us": [], "combine_wait_us": [],
                   "combine_transfer_us": [], "checked": 0, "wrong": 0, "first_error": ""}

        # First pass: dispatch, the test expert, combine; then check what they produced.
        for op in ("dispatch", "combine"):
            session.align(offset)
            step(first_s, f"case '{name}': first {op}", session.time, op)
            if op == "dispatch":
                session.run_expert()
        if job.check:
            try:
                checked, wrong, first_error = session.check()
            except Exception as e:  # a broken check must not cost the measurement
                checked, wrong, first_error = 0, 1, f"the check raised {type(e).__name__}: {e}"
            samples.update(checked=checked, wrong=wrong, first_error=first_error)

        for it in range(job.warmup + job.iters):
            times = {}
            for op in ("dispatch", "combine", "b2b"):
                session.align(offset)
                times[op] = step(op_s, f"case '{name}': {op} (iteration {it})", session.time, op)
            if it >= job.warmup:
                for op, us in times.items():
                    samples[op + "_us"].append(us)
        on_case_done({"name": name, "tokens_per_rank": case["tokens_per_rank"],
                      "start_offset_us": case["start_offset_us"], "ranks": [samples]})


# ---- the rank session (DeepEP, or the test double tests name) ---------------------------------

def session_module(test_double):
    """The rank session: deepep_session.py beside this file, or the test double tests name."""
    path = test_double or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                       "deepep_session.py")
    spec = importlib.util.spec_from_file_location("epscope_deepep_session", path)
    if spec is None or spec.loader is None or not os.path.exists(path):
        raise InputError(f"--backend: 'deepep' needs {path}, which is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def probe(test_double):
    try:
        return session_module(test_double).probe()
    except ImportError as e:
        raise InputError(str(e))


# ---- one process per GPU ---------------------------------------------------------------------

def rank_main(rank, job_path, workdir, test_double):
    """A rank process: runs every case, appends each finished case to rank<R>.jsonl, writes
    rank<R>.error on failure."""
    def report_failure(message):
        with open(os.path.join(workdir, f"rank{rank}.error"), "w", encoding="utf-8") as f:
            f.write(message)

    try:
        job = load_job(job_path)
        watchdog = Watchdog(rank, report_failure)
        watchdog.arm(SETUP_GRACE_S + job.timeout_ms / 1e3, "setup (torch, NCCL, DeepEP buffer)")
        session = session_module(test_double).Session(job, rank, workdir)
        watchdog.disarm()
        if rank == 0:
            with open(os.path.join(workdir, "info.json"), "w", encoding="utf-8") as f:
                json.dump(session.info(), f)
        with open(os.path.join(workdir, f"rank{rank}.jsonl"), "w", encoding="utf-8") as out:
            def on_case_done(samples):
                out.write(json.dumps(samples) + "\n")
                out.flush()
            run_cases(session, job, rank, on_case_done, watchdog)
        watchdog.arm(60 + job.timeout_ms / 1e3, "teardown")
        session.close()
        watchdog.disarm()
    except Exception as e:  # one line for the user, the traceback for whoever debugs it
        traceback.print_exc(file=sys.stderr)
        report_failure(f"rank {rank}: {type(e).__name__}: {e}".splitlines()[0])
        sys.exit(1)


def read_parts(workdir, num_ranks):
    """The cases every rank finished, ranks merged in rank order."""
    parts = []
    for rank in range(num_ranks):
        path = os.path.join(workdir, f"rank{rank}.jsonl")
        lines = []
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                lines = [json.loads(line) for line in f if line.strip()]
        parts.append(lines)
    complete = min(len(p) for p in parts)
    cases = []
    for c in range(complete):
        merged = dict(parts[0][c])
        merged["ranks"] = [parts[r][c]["ranks"][0] for r in range(num_ranks)]
        cases.append(merged)
    return cases


def run_job(job, job_path, test_double, log=sys.stderr):
    """Starts one process per rank and waits. Returns (info, cases, error or None)."""
    workdir = tempfile.mkdtemp(prefix="epscope-deepep-")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=rank_main, args=(r, job_path, workdir, test_double))
             for r in range(job.num_ranks)]
    for p in procs:
        p.start()
    # Wait; once one rank fails the others cannot finish (every op waits for every rank).
    failed_at = None
    while any(p.is_alive() for p in procs):
        if failed_at is None and any(p.exitcode not in (None, 0) for p in procs):
            failed_at = time.monotonic()
        if failed_at is not None and time.monotonic() - failed_at > 5:
            for p in procs:
                if p.is_alive():
                    p.kill()
        time.sleep(0.05)
    for p in procs:
        p.join()

    errors = []
    for r, p in enumerate(procs):
        path = os.path.join(workdir, f"rank{r}.error")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                errors.append(f.read().strip())
        elif p.exitcode != 0:
            errors.append(f"rank {r}: exited with status {p.exitcode}")
    info = {}
    info_path = os.path.join(workdir, "info.json")
    if os.path.exists(info_path):
        with open(info_path, encoding="utf-8") as f:
            info = json.load(f)
    cases = read_parts(workdir, job.num_ranks)
    for name in os.listdir(workdir):
        os.remove(os.path.join(workdir, name))
    os.rmdir(workdir)
    if errors:
        print(f"epscope deepep driver: {len(cases)} of {len(job.cases)} cases finished; "
              f"{'; '.join(errors)}", file=log)
    return info, cases, ("; ".join(errors) if errors else None)


# ---- main ------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="deepep_driver.py",
        description="Runs DeepEP's kernels for an `epscope bench --backend deepep` job.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--probe", action="store_true",
                      help="only check that torch and deep_ep import; report the GPU count")
    what.add_argument("--job", metavar="JOB.json", help="the job `epscope bench` wrote")
    p.add_argument("--out", metavar="OUT.json", required=True,
                   help="where the probe result or the samples go")
    p.add_argument("--test-double", metavar="PATH", default=os.environ.get(TEST_DOUBLE_ENV, ""),
                   help=argparse.SUPPRESS)  # tests only: replaces the DeepEP rank session
    return p.parse_args(argv)


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = {"format": OUTPUT_FORMAT, "version": JOB_VERSION}
    code = 0
    try:
        if args.probe:
            result.update(probe(args.test_double))
        else:
            job = load_job(args.job)
            info, cases, error = run_job(job, args.job, args.test_double)
            info.update(system=job.system, backend="deepep", launch="per-gpu",
                        sleep_us=job.sleep_us)
            if args.test_double:
                info["test_double"] = args.test_double
            result.update(info=info, cases=cases)
            if error:
                result["error"] = {"kind": "run", "message": error}
                code = 1
    except InputError as e:
        result["error"] = {"kind": "input", "message": str(e)}
        code = 2
    write_json(args.out, result)
    return code


if __name__ == "__main__":
    sys.exit(main())
