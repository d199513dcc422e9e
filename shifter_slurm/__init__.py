"""Slurm integration: the logic behind the SPANK plugin ``shifter_slurm.so``."""
