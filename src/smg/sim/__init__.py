"""`smg sim`: a simulated SGLang/vLLM-like inference worker served over HTTP.

It is the demo backend, the fake worker of end-to-end tests and the target of
gateway benchmarks. Output is deterministic, a prefix cache and a latency model
make load and cache effects visible, and faults can be switched on at runtime
(`control_api` describes the `/sim/` routes; `faults` the switches).
"""
