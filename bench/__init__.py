"""The gateway benchmark: direct vs smg-py vs the original smg, under wrk."""
