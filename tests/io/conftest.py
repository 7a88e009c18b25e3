import pytest

from turnover.io.warehouse import connect


@pytest.fixture
def con(tmp_path):
    """A fresh warehouse with its tables, closed after the test."""
    connection = connect(tmp_path / "w.duckdb")
    yield connection
    connection.close()
