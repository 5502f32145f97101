"""Zoho CRM: the API client and what is built on it.

- :mod:`.errors` — the error tree and :func:`~tasks.zoho.errors.classify`;
- :mod:`.auth` — OAuth refresh grant, one cached token, one refresh at a time;
- :mod:`.client` — :class:`~tasks.zoho.client.ZohoClient` (retries, concurrency cap, batched
  writes, lost-answer resolution, paging);
- :mod:`.coql` — a COQL builder that admits only validated values;
- :mod:`.index` — the incremental phone index;
- :mod:`.doctor` — ``callsync doctor``'s checks of a live org;
- :mod:`.writer` — the exactly-once executor of planned writes.
"""
