"""One verified TLS context per certificate file for the Prefect clients of a flow run.

Prefect builds a new TLS context for every client it makes (``PrefectClient`` and
``SyncPrefectClient``, ``prefect.client.orchestration``), loading the whole certificate bundle
each time, whether the API is ``https://`` or a local ``http://127.0.0.1``. A flow run makes
seven of them (the engine, the log and event workers, the result store, the suspension
observer...): ~0.2 CPU-s of every run, measured with py-spy on the warm-start server's runs.

:func:`share_prefect_tls` gives that module a stand-in for :mod:`ssl` whose
``create_default_context(cafile=...)`` returns one context per file for the process's life; a
verified context is never changed by the clients that use it. Every other call (Prefect's
insecure mode, which changes the context it gets) and every other name is the real :mod:`ssl`'s.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any


@functools.cache
def verified_context(cafile: str) -> ssl.SSLContext:
    """The verified client context for ``cafile``, built once."""
    return ssl.create_default_context(cafile=cafile)


class _SharedVerifiedContexts:
    """:mod:`ssl`, with ``create_default_context(cafile=F)`` shared per ``F``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)

    @staticmethod
    def create_default_context(
        purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH,
        *,
        cafile: str | None = None,
        capath: str | None = None,
        cadata: str | bytes | None = None,
    ) -> ssl.SSLContext:
        if cafile and capath is None and cadata is None and purpose == ssl.Purpose.SERVER_AUTH:
            return verified_context(str(cafile))
        return ssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)


def share_prefect_tls() -> None:
    """Make Prefect's API clients in this process share one verified TLS context per
    certificate file (idempotent)."""
    import prefect.client.orchestration as orchestration

    if getattr(orchestration, "ssl", None) is ssl:
        orchestration.ssl = _SharedVerifiedContexts()  # type: ignore[attr-defined,assignment]
