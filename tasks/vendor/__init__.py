"""What both vendor clients (Zoho CRM, Ringostat) share: the error tree and the backoff.

- :mod:`.errors` — ``VendorError`` and the classes named by what the caller must do;
- :mod:`.backoff` — exponential backoff with jitter, sleep and randomness injected.
"""
