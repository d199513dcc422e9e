#!/usr/bin/env bash
# The main job end to end on a fresh Debian 12 machine, as root:
#
#   ./demo.sh         install /opt/shifter, start munged, a registry, Slurm with
#                     the plugin and the gateway; push a small image, pull it
#                     through the gateway as the demo user and run it under
#                     sbatch/srun; leave everything running
#   ./demo.sh stop    stop everything the demo started
#
# Re-running is safe: what is running or installed already is reused.
set -euo pipefail
cd "$(dirname "$0")"
repo=$(pwd)

RUN=/run/shifter-demo
ETC=/etc/shifter
STATE=/var/lib/shifter
GW_USER=shiftergw
DEMO_USER=shifteruser
GW_RUN=$RUN/gateway            # owned by the gateway user: its pid file
GW_PID=$GW_RUN/gunicorn.pid
export SHIFTER_TESTBED_HOLDER=demo
testbed() { (cd "$repo" && /usr/bin/python3 -m testbed "$@"); }
answers() { /usr/bin/python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null; }
step() { printf '\n== %s\n' "$*"; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

stop_gateway() {
    [ -f "$GW_PID" ] || return 0
    local pid
    pid=$(cat "$GW_PID")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || break
        sleep 0.1
    done
    rm -f "$GW_PID"
}

if [ "${1:-}" = stop ]; then
    [ "$(id -u)" = 0 ] || die "run as root"
    step "stopping the gateway and the test bed"
    stop_gateway
    testbed down
    echo "stopped"
    exit 0
fi
[ $# -eq 0 ] || die "usage: ./demo.sh [stop]"
[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts Slurm)"

step "1/6 install /opt/shifter"
./scripts/install.sh

step "2/6 site configuration in $ETC"
install -d -m 0755 "$ETC" "$ETC/shifter_etc_files" "$RUN"
install -d -m 0755 -o "$GW_USER" -g "$GW_USER" "$GW_RUN"
[ -f "$ETC/udiRoot.conf" ] || install -m 0644 -o root -g root etc/udiRoot.conf.example "$ETC/udiRoot.conf"
[ -f "$ETC/imagemanager.json" ] || install -m 0644 -o root -g root etc/imagemanager.json.example "$ETC/imagemanager.json"
install -d -m 0755 "$STATE"
install -d -m 0755 -o "$GW_USER" -g "$GW_USER" "$STATE/images" "$STATE/gateway"
install -d -m 0755 /var/udiMount /var/udiLoopMount
echo "udiRoot.conf, imagemanager.json; images in $STATE/images"

step "3/6 munged, registry, Slurm with the plugin (test bed)"
testbed up --plugstack-line "required /opt/shifter/lib/shifter_slurm.so shifter_config=$ETC/udiRoot.conf"
# shellcheck disable=SC1091
. /run/shifter-testbed/env-demo.sh
export SLURM_CONF

step "4/6 the image gateway (as $GW_USER)"
if [ -f "$GW_PID" ] && kill -0 "$(cat "$GW_PID")" 2>/dev/null; then
    echo "already running (pid $(cat "$GW_PID"))"
else
    setsid runuser -u "$GW_USER" -- /opt/shifter/bin/shifter-imagegw -c "$ETC/imagemanager.json" \
        --pid-file "$GW_PID" >"$RUN/gateway.log" 2>&1 </dev/null &
    for _ in $(seq 150); do
        answers http://127.0.0.1:7777/ && break
        sleep 0.2
    done
    answers http://127.0.0.1:7777/ || die "gateway did not start: $(tail -5 "$RUN/gateway.log")"
    echo "listening on 127.0.0.1:7777 (log $RUN/gateway.log)"
fi

as_user() { runuser -u "$DEMO_USER" -- env PATH=/opt/shifter/bin:/usr/bin:/bin SLURM_CONF="$SLURM_CONF" "$@"; }
image="$TESTBED_REGISTRY/test/busybox:latest"

step "5/6 shifterimg pull $image (as $DEMO_USER)"
as_user shifterimg pull "$image" || die "shifterimg pull $image failed (gateway log: $RUN/gateway.log)"
as_user shifterimg images

step "6/6 sbatch --image=$image --wrap 'srun shifter cat /etc/os-release' (as $DEMO_USER)"
home=$(getent passwd "$DEMO_USER" | cut -d: -f6)
job=$(cd "$home" && as_user sbatch --parsable --exclusive --image="$image" -o "$home/demo-%j.out" \
      --wrap 'srun shifter cat /etc/os-release') || die "sbatch failed"
echo "job $job submitted"
for _ in $(seq 300); do
    [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
    sleep 0.2
done
state=$(sacct -n -X -j "$job" -o State 2>/dev/null | tr -d ' ' || true)
out="$home/demo-$job.out"
echo "--- $out"
cat "$out"
grep -q '^ID=busybox' "$out" || die "job $job did not print the image's os-release${state:+ (state $state)}"

cat <<EOF

The demo is running. As $DEMO_USER (runuser -u $DEMO_USER -- bash), with
    export SLURM_CONF=$SLURM_CONF PATH=/opt/shifter/bin:\$PATH
try:
    shifterimg images
    shifterimg pull $TESTBED_REGISTRY/test/debian:bookworm   (after: python3 -m testbed up --debian)
    shifterimg pull localreg/test/busybox:latest       (a Location of imagemanager.json)
    shifterimg pull ubuntu:22.04                       (Docker Hub, the default location, if reachable)
    srun --image=$image shifter cat /etc/os-release
    sbatch --image=$image --wrap 'srun shifter id'
Stop everything with: ./demo.sh stop
EOF
