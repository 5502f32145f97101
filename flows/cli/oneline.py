"""A failure is one line on the terminal; the traceback is for ``--debug`` (and the Prefect UI).

- :func:`describe` turns any exception into the text after ``callsync: error:``. Errors callsync
  raises on purpose (configuration, arguments, vendors, reachability) are already worded for the
  operator; anything else is named by its type and points at ``--debug``.
- :class:`OneLineUsageErrors` does the same for mistakes on the command line itself (an unknown
  option, a missing ``--from``, a value out of range): one line and the ``--help`` to read, where
  click would draw a usage block and a boxed message.
- :func:`quiet_console_tracebacks` keeps Prefect's console log lines but drops the tracebacks
  they carry ("Encountered exception during execution" and the like). Only the terminal is
  affected: the API log handler still sends the whole traceback to the Prefect UI.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

_QUIET_ATTR = "_callsync_quiet"


def known_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is written for the operator: shown as they are."""
    from flows.runtime.prefect_server import PrefectServerError
    from models.settings import ConfigError
    from tasks.lease import LeaseLost
    from tasks.offline_plan import InputError
    from tasks.reachability import ServiceUnreachable
    from tasks.scenario import TopManagerError
    from tasks.store.migrations import StoreTooNew
    from tasks.timeparse import TimeError
    from tasks.vendor.errors import VendorError

    return (
        ConfigError,
        TimeError,
        TopManagerError,
        VendorError,  # Zoho's and Ringostat's errors alike
        ServiceUnreachable,
        InputError,
        PrefectServerError,
        LeaseLost,
        StoreTooNew,
        OSError,
    )


def describe(exc: BaseException, known: tuple[type[BaseException], ...] = ()) -> str:
    """One line for ``exc``: its own message when it is one of ``known`` (or of
    :func:`known_errors`), else ``Type: message (run with --debug for the traceback)``."""
    text = " ".join(str(exc).split("\n")[0].split()) if str(exc) else ""
    if isinstance(exc, known or known_errors()):
        return text or type(exc).__name__
    return (
        f"{type(exc).__name__}: {text} " if text else f"{type(exc).__name__} "
    ) + "(run with --debug for the traceback)"


class _NoTraceback(logging.Formatter):
    """Formats with another formatter, leaving out the exception and stack of the record.

    The record is restored afterwards (other handlers, such as Prefect's API handler, format the
    same record and keep the traceback)."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def quiet_console_tracebacks() -> None:
    """Wrap the formatter of every Prefect console handler (root, uvicorn, fastapi, ...)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler) and not getattr(
                handler, _QUIET_ATTR, False
            ):
                handler.setFormatter(_NoTraceback(handler.formatter))
                setattr(handler, _QUIET_ATTR, True)


class OneLineUsageErrors(TyperGroup):
    """The command group of ``callsync``: a usage error is one ``callsync: error:`` line (exit
    status 2, as click gives it); everything else is Typer's own handling."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except typer.TyperException as exc:  # click's exceptions, as Typer vendors them
            message = " ".join(exc.format_message().split())
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError":  # `callsync` alone: the help
                typer.echo(exc.format_message())
                sys.exit(exc.exit_code)
            if ctx is not None:  # a usage error: which --help to read
                message += f" (see `{ctx.command_path} --help`)"
            typer.echo(f"callsync: error: {message}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("callsync: error: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)
