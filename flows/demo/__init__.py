"""``callsync demo`` and ``callsync emulate``: the product on the bundled emulators."""
