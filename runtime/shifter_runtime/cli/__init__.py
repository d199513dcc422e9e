"""Command-line entry points: shifter, setupRoot, unsetupRoot."""
