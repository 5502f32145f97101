"""The demo company and its calls, generated deterministically (see :mod:`emulators.demo.dataset`)."""

from emulators.demo.dataset import DEFAULT_START, DemoDataset, generate_demo, start_before

__all__ = ["DEFAULT_START", "DemoDataset", "generate_demo", "start_before"]
