"""The flow's tasks on their own: the export checks the warehouse first; an address where no Dask scheduler
answers stops the run in seconds, saying so."""

from __future__ import annotations

import socket

import pytest

from flows.execution import batches_on_task_runner
from turnover.io.warehouse import WarehouseError
from turnover.settings import ExecutionSettings


def test_an_address_that_is_not_a_dask_scheduler_times_out_with_a_message():
    with socket.socket() as silent:  # accepts connections (the kernel does) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(RuntimeError, match=rf"no Dask scheduler answered at {address} within 2 s"):
            with batches_on_task_runner(ExecutionSettings(dask_address=address, dask_timeout_seconds=2)):
                pass


def test_the_flow_checks_the_warehouse_before_it_writes_any_output(tmp_path, monkeypatch):
    from flows import weekly
    from turnover import pipeline

    written = []
    monkeypatch.setattr(pipeline, "verify_warehouse", lambda settings: (_ for _ in ()).throw(WarehouseError("damaged")))
    monkeypatch.setattr(pipeline, "export_digest", lambda *args: written.append(args))
    with pytest.raises(WarehouseError, match="damaged"):
        weekly.export.fn(None, "run", None)
    assert not written
