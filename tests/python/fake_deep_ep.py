"""TEST DOUBLE of DeepEP for CI: no GPU, no torch, no deep_ep. Its numbers are not measurements.

src/bench/backends/deepep/deepep_driver.py loads this file only when tests name it (--test-double PATH or
EPSCOPE_DEEPEP_TEST_DOUBLE=PATH), in place of its rank session (src/bench/backends/deepep/deepep_session.py,
same two names: probe() and Session): the two DeepEP calls the driver times (dispatch and
combine) and the GPU clock and aligned start around them. Everything
else (job parsing, one process per rank, the harness loop, partial results, the samples file, and
`epscope bench` reading them back into its report and records) runs for real.

Every timing is a fixed formula of the case, so tests can check the records exactly:
    dispatch_us = 100 + tokens on this rank + this rank's start offset
    combine_us  = 200 + top-k copies this rank receives (from every rank's top-k in the job)
    b2b_us      = dispatch_us + combine_us
Knobs (environment): FAKE_DEEPEP_DEVICES (GPU count the probe reports, default 8);
FAKE_DEEPEP_FAIL=RANK:CASE (that rank raises when it loads that case).
"""

import os

DEVICE_NAME = "TEST DOUBLE (no GPU)"


def probe():
    return {"device_count": int(os.environ.get("FAKE_DEEPEP_DEVICES", "8")),
            "torch": "none (test double)", "deep_ep": "test double"}


class Session:
    def __init__(self, job, rank, workdir):
        self.job, self.rank = job, rank
        self.offset_us = 0.0

    def info(self):
        return {"device_name": DEVICE_NAME, "device_sms": 0, "dispatch_sms": 0, "combine_sms": 0,
                "nccl_version": "", "torch_version": "none (test double)",
                "deepep_version": "test double"}

    def load_case(self, case):
        fail = os.environ.get("FAKE_DEEPEP_FAIL", "")
        if fail == f"{self.rank}:{case['name']}":
            raise RuntimeError(f"injected failure in case '{case['name']}'")
        per_rank = self.job.experts // self.job.num_ranks
        self.tokens = case["tokens_per_rank"][self.rank]
        self.received = sum(1 for rank_idx in case["topk_idx"] for e in rank_idx
                            if e >= 0 and e // per_rank == self.rank)

    def align(self, offset_us):
        self.offset_us = offset_us

    def time(self, op):
        dispatch_us = 100.0 + self.tokens + self.offset_us
        combine_us = 200.0 + self.received
        return {"dispatch": dispatch_us, "combine": combine_us,
                "b2b": dispatch_us + combine_us}[op]

    def run_expert(self):
        pass

    def check(self):
        return self.received + self.tokens, 0, ""

    def close(self):
        pass
