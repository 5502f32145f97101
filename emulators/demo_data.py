"""Demo data for the emulators: ``generate_demo(seed=7) -> DemoDataset``.

The generator lives in the :mod:`emulators.demo` package (company, CRM, calls, phases); this
module is its stable import path.
"""

from emulators.demo import DEFAULT_START, DemoDataset, generate_demo, start_before

__all__ = ["DEFAULT_START", "DemoDataset", "generate_demo", "start_before"]
