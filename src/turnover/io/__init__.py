"""All code that touches DuckDB, files and CSV layouts."""
