"""Executors map units, nothing else: in this process (``jobs=1``), a local process pool with one torch thread per
worker, or Ray tasks. :func:`execute` skips every unit whose file exists.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from experiments.config import ConfigError
from experiments.evaluation.backtest import encode_json
from experiments.files import write_json_atomic
from experiments.walkforward.plan import Unit
from experiments.walkforward.units import _one_thread, _safe_run, unit_file


@dataclass
class RunSummary:
    """What one invocation did: units run, read from the cache, failed (key -> error), and its wall time."""

    total: int
    ran: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def units_per_minute(self) -> float:
        """Units run (not read from the cache) per minute of wall time."""
        return len(self.ran) / (self.seconds / 60.0) if self.seconds > 0 else float("nan")


def _worker_init() -> None:
    """Process-pool worker start: one BLAS/OpenMP and one torch thread."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    _one_thread()


def _local_pool(pending: list[Unit], root: Path, jobs: int) -> Iterable[tuple[str, dict | None, str | None]]:
    if jobs == 1:  # in this process: no start-up cost, and a debugger or a test spy sees every call
        for unit in pending:
            yield _safe_run(unit, str(root))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")  # no fork of a process that has torch threads
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init) as pool:
        futures = {pool.submit(_safe_run, unit, str(root)): unit for unit in pending}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # a worker that died (BrokenProcessPool, out of memory, ...)
                yield futures[fut].key, None, f"{type(exc).__name__}: {exc}"


def _ray_pool(
    pending: list[Unit], root: Path, address: str | None, jobs: int
) -> Iterable[tuple[str, dict | None, str | None]]:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray needs Ray: pip install 'tradebrain[ray]' (or use the default --executor local)"
        ) from None
    started = not ray.is_initialized()
    if started:
        local = {} if address else {"num_cpus": jobs}
        ray.init(address=address, include_dashboard=False, log_to_driver=False, **local)
    try:
        remote = ray.remote(num_cpus=1)(_safe_run)
        refs = {remote.remote(unit, str(root)): unit for unit in pending}
        while refs:
            (ref,), _ = ray.wait(list(refs), num_returns=1)
            unit = refs.pop(ref)
            try:
                yield ray.get(ref)
            except Exception as exc:  # the task's worker died
                yield unit.key, None, f"{type(exc).__name__}: {exc}"
    finally:
        if started:
            ray.shutdown()


def execute(
    units: list[Unit],
    root: str | Path,
    *,
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    log: Callable[[str], None] = print,
) -> RunSummary:
    """Run every unit not yet on disk under ``root`` with the chosen executor; a failing unit does not stop the rest.

    Args:
        units: From :func:`plan_units`.
        root: The run folder (the cache is ``root/units/``).
        jobs: Units at a time (local pool workers, or the CPUs of a local Ray instance); 1 runs them here.
        executor: ``"local"`` (process pool) or ``"ray"``.
        address: Ray cluster address (``ray start --head`` prints it); None starts a local Ray instance.
        log: Where a line per finished unit goes.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: run at least 1 unit at a time (default: all cores)")
    root = Path(root)
    t0 = time.perf_counter()
    summary = RunSummary(total=len(units))
    done = {u.key for u in units if unit_file(root, u).exists()}
    pending = [u for u in units if u.key not in done]
    summary.cached = [u.key for u in units if u.key in done]
    if summary.cached:
        log(f"{len(summary.cached)} of {len(units)} units already done: reused")
    if executor not in ("local", "ray"):
        raise ConfigError(f"--executor {executor!r}: choose 'local' or 'ray'")
    results: Iterable[tuple[str, dict | None, str | None]] = []
    if pending and executor == "ray":
        results = _ray_pool(pending, root, address, jobs)
    elif pending:
        results = _local_pool(pending, root, min(jobs, len(pending)))
    by_key = {u.key: u for u in pending}
    for k, (key, payload, error) in enumerate(results, start=1):
        if error is None and payload is not None:
            if not unit_file(root, by_key[key]).exists():  # a cluster node without our file system
                write_json_atomic(
                    unit_file(root, by_key[key]), encode_json({k: v for k, v in payload.items() if k != "cached"})
                )
            summary.ran.append(key)
            log(f"[{k}/{len(pending)}] {key} done in {payload.get('seconds', 0.0):.1f} s")
        else:
            summary.failed[key] = str(error)
            log(f"[{k}/{len(pending)}] {key} FAILED: {str(error).splitlines()[0]}")
    summary.seconds = time.perf_counter() - t0
    return summary
