"""``callsync simulate``: many generated companies through the work pool (see run.py)."""
