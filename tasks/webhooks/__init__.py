"""Real time (SPEC 12): Ringostat's webhooks → the inbox → the lead at pickup, the rest after.

- :mod:`.events` — a webhook's parameters → an event with the call log's field names (pure);
- :mod:`.inbox` — webhook events in and out of the store's inbox (:mod:`tasks.store.inbox`):
  stored before answering 200, handled after;
- :mod:`.process` — handling events through the log sync's planner and writer;
- :mod:`.receiver` — the FastAPI app ``callsync listen`` serves.
"""
