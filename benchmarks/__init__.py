"""Repeatable performance runs that print their figures (``callsync bench`` is ``flow_bench``)."""
