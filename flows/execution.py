"""Where the per-series work runs: batches of series as Prefect tasks on a task runner chosen by settings.

In-process by default: batches in worker threads of this process, one per core (the batches' numpy work
releases the interpreter lock for most of its time: 1.44x on two cores, measured on 5,922 series). With
``[execution] dask_address`` the batches run on that Dask cluster, and with ``dask_workers = N`` on a
local cluster of N worker processes, both through ``prefect-dask``'s task runner. Only the batches go
there: the warehouse reads and writes stay in the flow's process (one writer).

Whatever runs them, the results are the same: the batches only hold per-series work, and every
series' random draws are seeded from its own ids (``turnover.forecasting.forecast``).
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.task_runners import ThreadPoolTaskRunner

from turnover.forecasting.contract import BatchMap
from turnover.settings import ExecutionSettings

#: ``turnover run`` draws its progress bar from this logger's records (``extra``: step, done, total, unit).
progress_log = logging.getLogger("turnover.progress")


class Sealed:
    """A batch as one opaque task parameter. Prefect walks the lists, dicts and dataclasses among a task's
    parameters (about 90,000 nodes a batch of 1,000 series, 0.4-0.8 s a walk, two walks in this process and two
    on a Dask worker: seconds between batches), and Dask sends each numpy array in them as a frame of its own
    (about 5,000 a batch); sealed, the batch is a leaf to the one and one pickled byte string to the other.
    (Prefect's ``quote`` and ``opaque`` come back from pickling wrapped in a tuple: prefect-dask issue 43.)"""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce__(self):
        return _unseal, (pickle.dumps(self.value, protocol=5),)


def _unseal(blob: bytes) -> Sealed:
    return Sealed(pickle.loads(blob))  # noqa: S301 (our own batch, pickled by this flow for its workers)


@task(cache_policy=NO_CACHE, retries=1, task_run_name="series batch {batch_label}")
def series_batch(work: Callable[[Any], Any], batch: Sealed, batch_label: str) -> Any:
    """One batch of per-series work: pure (reads and writes nothing), so a retry is safe."""
    return work(batch.value)


def task_runner(execution: ExecutionSettings):
    """The task runner the batches go to: in-process, an existing Dask cluster, or a local one."""
    if not execution.uses_dask:
        return ThreadPoolTaskRunner(max_workers=execution.threads or os.cpu_count() or 1)
    from prefect_dask import DaskTaskRunner

    if execution.dask_address:
        return DaskTaskRunner(address=execution.dask_address,
                              client_kwargs={"timeout": f"{execution.dask_timeout_seconds}s"})
    return DaskTaskRunner(cluster_kwargs={"n_workers": execution.dask_workers, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None})


@contextmanager
def local_worker_malloc(execution: ExecutionSettings) -> Iterator[None]:
    """Local Dask workers started without the nanny's ``MALLOC_TRIM_THRESHOLD_=65536``: with it, glibc maps and
    unmaps every large numpy array, and a batch cost 30-40% more CPU in page faults (measured: 8.1 s -> 10.7 s
    a backtest batch, 1.1 million minor faults)."""
    if not execution.dask_workers or execution.dask_address:
        yield
        return
    import dask

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        yield


@contextmanager
def api_url_for_local_workers(execution: ExecutionSettings) -> Iterator[None]:
    """Local Dask workers inherit this process's environment when they start: point them at the Prefect API
    this flow uses (else each starts a temporary server of its own, 15-30 s apiece)."""
    if not execution.dask_workers or execution.dask_address or os.environ.get("PREFECT_API_URL"):
        yield
        return
    with get_client(sync_client=True) as client:
        os.environ["PREFECT_API_URL"] = str(client.api_url)
    try:
        yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)


def connected(runner, execution: ExecutionSettings) -> None:
    """Connect ``runner`` to the scheduler at ``execution.dask_address`` now, before any batch is submitted.

    Dask's own connect timeout does not cover a peer that accepts the connection and never answers (an address
    that is not a Dask scheduler), so the connection is made on a daemon thread that is waited for at most
    ``execution.dask_timeout_seconds``.

    Raises:
        RuntimeError: nothing answered as a Dask scheduler in that time.
    """
    failure: list[BaseException] = []

    def connect() -> None:
        try:
            runner.client  # noqa: B018 (prefect-dask connects on first use)
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)

    worker = threading.Thread(target=connect, name="dask-connect", daemon=True)
    worker.start()
    worker.join(execution.dask_timeout_seconds)
    if worker.is_alive() or failure:
        raise RuntimeError(f"no Dask scheduler answered at {execution.dask_address} within "
                           f"{execution.dask_timeout_seconds:g} s (execution.dask_timeout_seconds): check --dask"
                           ) from (failure[0] if failure else None)


@contextmanager
def batches_on_task_runner(execution: ExecutionSettings) -> Iterator[BatchMap]:
    """A ``BatchMap`` that runs each batch as a ``series_batch`` task on ``task_runner(execution)`` (started once
    for the block: a local cluster is not started per pass), reporting progress over series as batches
    complete, and returning the results in batch order."""
    with api_url_for_local_workers(execution), local_worker_malloc(execution), task_runner(execution) as runner:
        if execution.dask_address:
            connected(runner, execution)

        def map_batches(work: Callable[[Any], Any], batches: list[Any], step: str) -> list[Any]:
            total, done = sum(len(b) for b in batches), 0
            unit = getattr(batches[0], "progress_unit", "series") if batches else "series"
            futures = [runner.submit(series_batch, {"work": work, "batch": Sealed(batch),
                                                    "batch_label": f"{step} {k + 1}/{len(batches)}"})
                       for k, batch in enumerate(batches)]
            results = []
            for batch, future in zip(batches, futures, strict=True):
                results.append(future.result())
                done += len(batch)
                progress_log.info("%s: %d of %d %s", step, done, total, unit,
                                  extra={"step": step, "done": done, "total": total, "unit": unit})
            return results

        yield map_batches
