"""Zoho CRM v8 emulator: a FastAPI app over an in-memory org, in Zoho's wire shapes.

Use ``create_app()`` and talk to it through ``transport(app)`` (in-process) or serve it with
uvicorn; inspect or drive the org through ``app.state.zoho`` or the ``/__emulator__`` admin API.
"""

from emulators.zoho.app import create_app
from emulators.zoho.inprocess import transport
from emulators.zoho.state import FaultSettings, ZohoState

__all__ = ["FaultSettings", "ZohoState", "create_app", "transport"]
