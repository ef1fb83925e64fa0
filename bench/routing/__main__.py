"""`python -m bench.routing` runs the routing-quality benchmark (see run.py)."""

from bench.routing.run import main

main()
