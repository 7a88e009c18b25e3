"""The application's edge: the Prefect flows and tasks over :mod:`turnover.pipeline`, how batches reach the task
runner (``execution``), the local Prefect server (``local``), the deployment (``serve``) and the ``turnover``
command line (``cli``, which may start a flow). Nothing in ``turnover`` imports this package."""
