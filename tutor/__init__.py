"""pttutor: a keyboard-driven terminal tutor for PyTorch."""

__version__ = "0.1.0"
