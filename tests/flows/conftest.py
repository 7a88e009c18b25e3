"""One Prefect test harness (a temporary local server and database) for every flow test."""

import pytest


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    # Server start-up on a busy two-core machine can take well over Prefect's default 30 s.
    with prefect_test_harness(server_startup_timeout=300):
        yield
