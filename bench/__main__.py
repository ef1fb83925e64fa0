"""`python -m bench` runs the benchmark, the same as `bench/run.py`."""

from bench.run import main

main()
