"""The Shifter image gateway and its client ``shifterimg``."""
