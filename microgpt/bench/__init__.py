"""`microgpt bench`: how fast each engine trains and samples, and how much memory it holds.

suite.py plans, runs and reports the measurements and the race; worker.py is the child
process each measurement runs in; measure.py times a child and reads its peak RSS; atom.py
times the Val atom; drift.py replays a run under other BLAS kernels and thread counts.
"""
from .suite import bench_job, run_bench, run_race, run_threads  # noqa: F401
