"""The routing-quality benchmark: where each policy sends requests, at what cost."""
