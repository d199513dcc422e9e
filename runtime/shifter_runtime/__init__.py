"""The Shifter runtime: ``shifter``, ``setupRoot`` and ``unsetupRoot``."""
