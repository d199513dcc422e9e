#!/usr/bin/env bash
# Run the whole test suite on a Debian 12 machine, as root.
#
#   ./test.sh                 everything (installs what it needs first)
#   ./test.sh -m unit         only the fast pure-logic tests (no root needed once installed)
#   ./test.sh tests/unit -k volume     any pytest arguments
#
# Installs the Debian packages, /opt/shifter and the test environment
# /opt/shifter-tests (skipping what is done), then runs pytest; the test bed
# (munged, Slurm, registry, users, images) is started by the tests' fixtures
# and stopped when they end.  Exits with pytest's status.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" = 0 ]; then
    ./scripts/install.sh --tests
fi
exec /opt/shifter-tests/venv/bin/python -m pytest "$@"
