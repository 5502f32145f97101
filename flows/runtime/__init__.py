"""What keeps callsync running: the installation's Prefect server, ``serve`` and its
deployments, the webhook receiver's process, secrets read at run time, the parent watch."""
