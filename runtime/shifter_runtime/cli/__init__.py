"""Command-line entry points: shifter, setupRoot, unsetupRoot.

Importing this package installs the light ``dataclasses``/``typing``/``gettext``
stand-ins (:mod:`shifter_runtime.light`) before any command module loads: every
command here is on a path where interpreter start-up dominates.
"""
from .. import light

light.install()
