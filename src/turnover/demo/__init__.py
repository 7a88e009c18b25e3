"""Data to try the pipeline on: the synthetic demo pharmacy (``synthetic``) and chain (``chain``), and the
export files they are written as (``files``, ``chain_files``). The generators are ours and flatter the engine:
benchmarks judge it on real data.

May import ``io`` (it writes files and uses the warehouse's NDC normaliser); imports no stage.
"""
