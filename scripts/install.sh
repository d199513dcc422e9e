#!/usr/bin/env bash
# Install Shifter into a prefix (default /opt/shifter) on Debian 12, as root.
#
#   scripts/install.sh [--prefix DIR] [--no-apt] [--tests]
#
# Steps, each skipped when already done: Debian packages, a virtual environment
# built from Debian's /usr/bin/python3 (the interpreter the SPANK plugin embeds),
# the Python package, the plugin shifter_slurm.so, and with --tests a separate
# test environment (pytest, mongomock) under $PREFIX-tests.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prefix=/opt/shifter
apt=1
tests=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=$2; shift ;;
        --no-apt) apt=0 ;;
        --tests) tests=1 ;;
        *) echo "install.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
log() { printf 'install: %s\n' "$*"; }
# pip's notes about absent local mirrors and running as root are noise here.
quiet() { grep -v -e '^WARNING: Location' -e 'WARNING: Running pip as' || true; }

# Debian packages the product, the test bed and the benchmarks use.
APT_PACKAGES=(
    python3 python3-dev python3-venv gcc
    munge libmunge-dev slurm-wlm libslurm-dev
    squashfs-tools squashfs-tools-ng squashfuse fuse3 util-linux xfsprogs acl
    openssh-server openssh-client
    docker-registry skopeo umoci busybox-static debootstrap apache2-utils
    iproute2 hyperfine charliecloud bubblewrap systemd
)
if [ "$apt" = 1 ]; then
    missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "apt packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

# One install at a time (the test suite, the demo and developers share the prefix).
exec 9>/run/shifter-install.lock
flock 9

PY=/usr/bin/python3

make_venv() {  # make_venv DIR REQUIREMENTS...  (rebuilt only when the requirement list changes)
    local dir=$1; shift
    if [ ! -x "$dir/bin/python" ] || [ "$(cat "$dir/.shifter-deps" 2>/dev/null)" != "$*" ]; then
        log "virtual environment $dir"
        rm -rf "$dir"
        "$PY" -m venv "$dir"
        "$dir/bin/pip" install -q --disable-pip-version-check --upgrade pip setuptools wheel 2>&1 | quiet
        "$dir/bin/pip" install -q --disable-pip-version-check "$@" 2>&1 | quiet
        echo "$*" >"$dir/.shifter-deps"
    fi
}

umask 022
install -d -m 0755 "$prefix" "$prefix/bin" "$prefix/lib" "$prefix/libexec"
deps=$("$PY" - "$here/setup.py" <<'PYEOF'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
for node in ast.walk(tree):
    if isinstance(node, ast.keyword) and node.arg == "install_requires":
        print(" ".join(ast.literal_eval(node.value)))
PYEOF
)
# shellcheck disable=SC2086
make_venv "$prefix/venv" $deps
log "package into $prefix/venv"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cp -a "$here/setup.py" "$here/runtime" "$here/imagegw" "$here/shifter_slurm" "$build/"
"$prefix/venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation --no-compile --force-reinstall "$build" 2>&1 | quiet
site=$("$prefix/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
# Bytecode that is not checked against the sources' mtimes (PEP 552): each import
# skips a stat of the .py, about 0.8 ms over a launch.  This install owns the
# sources; the next install.sh run recompiles them.
"$prefix/venv/bin/python" -m compileall -q -f --invalidation-mode unchecked-hash \
    "$site/shifter_runtime" "$site/shifter_imagegw" "$site/shifter_slurm" >/dev/null
# Launchers run the venv's interpreter isolated (-I: no PYTHON* variables, no
# user site, so nobody's PYTHONPATH changes what runs).  The per-launch commands
# also skip site (-S, about 1 ms) and name the venv's site-packages themselves.
launcher() {  # launcher NAME MODULE FLAGS
    local tmp="$prefix/bin/.$1.tmp"
    {
        echo "#!$prefix/venv/bin/python3 $3"
        echo "import sys"
        [ "$3" = "-IS" ] && echo "sys.path.append('$site')"
        echo "from $2 import main"
        echo "sys.exit(main())"
    } >"$tmp"
    chmod 0755 "$tmp"
    mv -f "$tmp" "$prefix/bin/$1"
}
launcher shifter shifter_runtime.launch.prepared -IS
launcher setupRoot shifter_runtime.cli.setuproot -IS
launcher unsetupRoot shifter_runtime.cli.unsetuproot -IS
launcher shifterimg shifter_imagegw.client.cli -I
launcher shifter-imagegw shifter_imagegw.serve -I
if [ -f "$here/spank_plugin/build.py" ]; then
    log "plugin $prefix/lib/shifter_slurm.so"
    "$prefix/venv/bin/python" "$here/spank_plugin/build.py" --prefix "$prefix" --out "$prefix/lib/shifter_slurm.so"
fi
if [ -d "$here/runtime/libexec" ]; then
    cp -a "$here/runtime/libexec/." "$prefix/libexec/"
fi
# The gateway's systemd unit, for `systemctl link` (not enabled here).
install -d -m 0755 "$prefix/share/systemd"
sed "s|/opt/shifter/|$prefix/|g" "$here/etc/shifter-imagegw.service" >"$prefix/share/systemd/shifter-imagegw.service"
chmod -R a+rX "$prefix"
# The gateway runs as an unprivileged service user, never as root.
id -u shiftergw >/dev/null 2>&1 || useradd --system -M -d /nonexistent -s /usr/sbin/nologin shiftergw

if [ "$tests" = 1 ]; then
    # shellcheck disable=SC2086
    make_venv "$prefix-tests/venv" $deps pytest pytest-mock mongomock
    chmod -R a+rX "$prefix-tests"
fi
log "done: $prefix"
