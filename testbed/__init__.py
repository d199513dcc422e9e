"""Test bed for Shifter: munged, Slurm, a local registry, test images and users.

Every service is started by this package and stopped by pid; state lives under
:func:`testbed.paths.run_dir`, slow artefacts under :func:`testbed.paths.cache_dir`.
Used by ``tests/conftest.py`` (fixtures) and ``python -m testbed up|down|status``.
"""
