"""callsync's Prefect flows and command line.

A flow-run process started by ``callsync serve`` ends when ``serve`` is gone (flows/watchdog.py).
"""

from flows.runtime.watchdog import watch_parent_if_asked

watch_parent_if_asked()
