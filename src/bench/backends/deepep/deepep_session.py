"""The DeepEP session of one rank for src/bench/backends/deepep/deepep_driver.py: torch (CUDA, NCCL) and
DeepEP's deep_ep, one GPU. Needs a GPU machine with both installed; CI replaces this module by a
test double (tests/python/fake_deep_ep.py), which has the same two names: probe() and Session.

The driver calls, per case: load_case, then align + time(op) for op in dispatch, combine and b2b
(dispatch then combine, no sync between them), run_expert once after the first dispatch, and check
when asked. Timing is by CUDA events on the current stream, which DeepEP's kernels join (its comm
stream waits for the current stream and the current stream waits for it when async_finish=False).
"""

import os

INSTALL_HINT = (
    "install DeepEP from https://github.com/deepseek-ai/DeepEP (NVSHMEM, then "
    "`pip install --no-build-isolation .` in its checkout) into that Python, or pass --python "
    "with one that has it")


def probe():
    """What the rank processes will find: {device_count, torch, deep_ep}. Raises ImportError with
    one line that says what is missing and how to install it."""
    import sys
    python = sys.executable
    try:
        import torch
    except ImportError as e:
        raise ImportError(f"--backend: 'deepep' needs torch and DeepEP's deep_ep package; {python} "
                          f"cannot import torch ({e}); {INSTALL_HINT}")
    try:
        import deep_ep
    except ImportError as e:
        raise ImportError(f"--backend: 'deepep' needs DeepEP's deep_ep package; {python} cannot "
                          f"import it ({e}); {INSTALL_HINT}")
    return {"device_count": torch.cuda.device_count(), "torch": torch.__version__,
            "deep_ep": deepep_version(deep_ep)}


class Session:
    """One rank: torch.distributed (NCCL) for the aligned start, one DeepEP Buffer, CUDA events
    around every timed op. Buffers follow DeepEP's tests (tests/test_low_latency.py,
    tests/test_intranode.py): LL Buffer(group, 0, rdma_bytes, low_latency_mode=True,
    num_qps_per_rank=experts/ranks); HT Buffer(group, nvl_bytes) with the recommended configs."""

    def __init__(self, job, rank, workdir):
        import torch
        import torch.distributed as dist
        import deep_ep

        self.torch, self.dist, self.deep_ep = torch, dist, deep_ep
        self.job, self.rank = job, rank
        n = job.num_ranks
        torch.cuda.set_device(rank)
        init = {"backend": "nccl", "init_method": "file://" + os.path.join(workdir, "rendezvous"),
                "rank": rank, "world_size": n}
        try:
            dist.init_process_group(device_id=torch.device("cuda", rank), **init)
        except TypeError:  # torch without device_id
            dist.init_process_group(**init)
        self.group = dist.new_group(list(range(n)))
        self.topk_dtype = getattr(deep_ep, "topk_idx_t", torch.int64)
        self.fp8 = job.dispatch_dtype == "fp8"
        self.local_experts = job.experts // n

        if job.mode == "ll":
            # DeepEP asserts NVSHMEM_QP_DEPTH >= 2 * (max tokens + 1) (default 1024).
            depth = 1024
            while depth < 2 * (job.max_tokens_per_rank + 1):
                depth *= 2
            os.environ["NVSHMEM_QP_DEPTH"] = str(max(depth, int(os.environ.get(
                "NVSHMEM_QP_DEPTH", "0"))))
            rdma_bytes = deep_ep.Buffer.get_low_latency_rdma_size_hint(
                job.max_tokens_per_rank, job.hidden, n, job.experts)
            self.buffer = deep_ep.Buffer(self.group, 0, rdma_bytes, low_latency_mode=True,
                                         num_qps_per_rank=self.local_experts,
                                         allow_nvlink_for_low_latency_mode=job.nvlink,
                                         explicitly_destroy=True)
            # The expert output combine sends back: one BF16 row per received copy.
            self.expert_x = torch.randn(
                (self.local_experts, n * job.max_tokens_per_rank, job.hidden),
                dtype=torch.bfloat16, device="cuda")
            self.sms = 0
        else:
            if job.num_sms > 0:
                deep_ep.Buffer.set_num_sms(job.num_sms)
            self.dispatch_config = deep_ep.Buffer.get_dispatch_config(n)
            self.combine_config = deep_ep.Buffer.get_combine_config(n)
            hidden_bytes = job.hidden * 2
            nvl_bytes = max(cfg.get_nvl_buffer_size_hint(hidden_bytes, n)
                            for cfg in (self.dispatch_config, self.combine_config))
            self.buffer = deep_ep.Buffer(self.group, nvl_bytes, 0, explicitly_destroy=True)
            self.sms = deep_ep.Buffer.num_sms

        self.one = torch.ones(1, dtype=torch.int32, device="cuda")
        self.start = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)
        self.cycles_per_us = self._sleep_rate()

    def _sleep_rate(self):
        """GPU clock cycles per microsecond of torch.cuda._sleep, measured (clocks vary)."""
        torch = self.torch
        cycles = 20_000_000
        rate = 0.0
        for _ in range(2):  # the first launch pays for module loading
            self.start.record()
            torch.cuda._sleep(cycles)
            self.end.record()
            self.end.synchronize()
            rate = cycles / (self.start.elapsed_time(self.end) * 1e3)
        return rate

    def info(self):
        torch = self.torch
        props = torch.cuda.get_device_properties(self.rank)
        nccl = torch.cuda.nccl.version()
        return {"device_name": torch.cuda.get_device_name(self.rank),
                "device_sms": props.multi_processor_count,
                "dispatch_sms": self.sms, "combine_sms": self.sms,
                "nccl_version": ".".join(str(v) for v in nccl) if isinstance(nccl, tuple)
                else str(nccl),
                "torch_version": torch.__version__,
                "deepep_version": deepep_version(self.deep_ep)}

    def load_case(self, case):
        torch, job = self.torch, self.job
        num_tokens = case["tokens_per_rank"][self.rank]
        self.case = case
        self.topk_idx = torch.tensor(case["topk_idx"][self.rank], dtype=torch.int64).view(
            num_tokens, job.topk).to(self.topk_dtype).cuda()
        # Random rows, never zeros (zeros can run faster than real data).
        self.x = torch.randn((num_tokens, job.hidden), dtype=torch.bfloat16, device="cuda")
        self.topk_weights = torch.rand((num_tokens, job.topk), dtype=torch.float32,
                                       device="cuda") + 0.5
        self.handle = None
        if job.mode == "ht":
            (self.num_tokens_per_rank, _, self.num_tokens_per_expert, self.is_token_in_rank,
             _) = self.buffer.get_dispatch_layout(self.topk_idx, job.experts)
            self.x_in = self._to_fp8(self.x) if self.fp8 else self.x
        torch.cuda.synchronize()

    def _to_fp8(self, x):
        """Per-token, per-128-column FP8 cast with fp32 scales, column-major as DeepEP wants."""
        torch = self.torch
        m, n = x.shape
        blocks = x.float().view(m, n // 128, 128)
        amax = blocks.abs().amax(dim=2).clamp(min=1e-4)
        x_fp8 = (blocks * (448.0 / amax.unsqueeze(2))).to(torch.float8_e4m3fn).view(m, n)
        scales = (amax / 448.0).view(m, n // 128)
        return x_fp8, scales.T.contiguous().T

    def _from_fp8(self, x_fp8, scales, out):
        """Dequantizes [m, n] FP8 rows with [m, n / 128] scales into the BF16 tensor out."""
        m, n = x_fp8.shape
        out.copy_((x_fp8.float().view(m, n // 128, 128) *
                   scales.float().contiguous().view(m, n // 128, 1)).view(m, n))
        return out

    def align(self, offset_us):
        torch = self.torch
        torch.cuda._sleep(int(self.job.sleep_us * self.cycles_per_us))
        self.dist.all_reduce(self.one, group=self.group)
        if offset_us > 0:
            torch.cuda._sleep(int(offset_us * self.cycles_per_us))

    def _dispatch(self):
        job = self.job
        if job.mode == "ll":
            self.recv_x, self.recv_count, self.handle, _, _ = self.buffer.low_latency_dispatch(
                self.x, self.topk_idx, job.max_tokens_per_rank, job.experts, use_fp8=self.fp8,
                async_finish=False, return_recv_hook=False)
        else:
            (self.recv_x, _, self.recv_topk_weights, self.recv_counts_list, self.handle,
             _) = self.buffer.dispatch(
                self.x_in, num_tokens_per_rank=self.num_tokens_per_rank,
                is_token_in_rank=self.is_token_in_rank,
                num_tokens_per_expert=self.num_tokens_per_expert, topk_idx=self.topk_idx,
                topk_weights=self.topk_weights, config=self.dispatch_config)

    def _combine(self):
        if self.job.mode == "ll":
            self.combined, _, _ = self.buffer.low_latency_combine(
                self.expert_x, self.topk_idx, self.topk_weights, self.handle,
                async_finish=False, return_recv_hook=False)
        else:
            self.combined, _, _ = self.buffer.combine(
                self.expert_out, self.handle, topk_weights=self.recv_topk_weights,
                config=self.combine_config)

    def time(self, op):
        self.start.record()
        if op in ("dispatch", "b2b"):
            self._dispatch()
        if op in ("combine", "b2b"):
            self._combine()
        self.end.record()
        self.end.synchronize()
        return self.start.elapsed_time(self.end) * 1e3

    def run_expert(self):
        """The test expert (untimed): its output is what it received, as BF16, so that the
        combined row of a token is a known multiple of the token."""
        torch = self.torch
        if self.job.mode == "ll":
            if self.fp8:  # one local expert at a time: the FP32 temporary stays small
                data, scales = self.recv_x
                for e in range(self.local_experts):
                    self._from_fp8(data[e], scales[e], self.expert_x[e])
            else:
                self.expert_x.copy_(self.recv_x)
        else:
            if self.fp8:
                data, scales = self.recv_x
                self.expert_out = self._from_fp8(data, scales, torch.empty(
                    data.shape, dtype=torch.bfloat16, device="cuda"))
            else:
                self.expert_out = self.recv_x.clone()
        torch.cuda.synchronize()

    def check(self):
        """Received copies per local expert against the job's top-k (exact), and every combined
        row against its reference (LL: x * sum of its weights; HT: x * number of destination
        ranks), relative L2 error within FP8 (or BF16) rounding. Returns (checked, wrong, first)."""
        job = self.job
        expected = job.received_copies(self.case)[self.rank]
        if job.mode == "ll":
            got = self.recv_count.tolist()
        else:
            got = list(self.recv_counts_list)
        checked, wrong, first = 0, 0, ""
        for e, (want, have) in enumerate(zip(expected, got)):
            checked += want
            if want != have:
                wrong += abs(want - have)
                first = first or f"local expert {e}: received {have} copies, expected {want}"
        x = self.x.float()
        if job.mode == "ll":
            weights = self.topk_weights.masked_fill(self.topk_idx.long() < 0, 0).sum(dim=1)
        else:
            weights = self.is_token_in_rank.sum(dim=1).float()
        reference = x * weights.view(-1, 1)
        err = (self.combined.float() - reference).norm(dim=1) / reference.norm(dim=1).clamp(
            min=1e-6)
        tolerance = 0.1 if self.fp8 else 0.02
        bad = int((err > tolerance).sum().item()) if err.numel() else 0
        checked += err.numel()
        if bad:
            worst = int(err.argmax().item())
            wrong += bad
            first = first or (f"combined token {worst}: relative error "
                              f"{err[worst].item():.3g} > {tolerance}")
        return checked, wrong, first

    def close(self):
        self.dist.barrier(group=self.group)
        self.buffer.destroy()
        self.dist.barrier()
        self.dist.destroy_process_group()


def deepep_version(deep_ep):
    try:
        from importlib import metadata
        return metadata.version("deep_ep")
    except Exception:  # built in place: no package metadata
        where = os.path.dirname(deep_ep.__file__)
        return getattr(deep_ep, "__version__", f"unknown ({where})")
