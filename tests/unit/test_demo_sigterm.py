"""``callsync demo`` stops on SIGTERM the way it stops on Ctrl-C (its ``finally`` blocks stop the
emulators and the Prefect server)."""

from __future__ import annotations

import os
import signal

import pytest

from flows.demo.run import sigterm_as_interrupt


def test_sigterm_becomes_keyboard_interrupt_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    cleaned_up = False
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            cleaned_up = True
    assert cleaned_up
    assert signal.getsignal(signal.SIGTERM) is before
