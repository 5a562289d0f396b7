# benchstone's entry inside the sandbox container. It needs nothing but /bin/sh (and timeout).
# $1 is the manifest's invocation with its placeholders filled in; it runs in /benchstone/project.
# $2 is the container's own deadline in whole seconds (the repetition's timeout plus a margin).
set -u
if [ -n "${BENCHSTONE_FORWARD_PORT:-}" ]; then
    # gpu = "ollama": serve the host's model server on 127.0.0.1 inside this network-less
    # container, through the Unix socket the harness mounted at /benchstone/forward/model.sock.
    ready=/tmp/.benchstone-forward-ready
    if command -v python3 >/dev/null 2>&1; then
        python3 -c "$BENCHSTONE_FORWARD_HELPER" "$BENCHSTONE_FORWARD_PORT" \
            /benchstone/forward/model.sock "$ready" &
    elif command -v socat >/dev/null 2>&1; then
        socat "TCP-LISTEN:$BENCHSTONE_FORWARD_PORT,bind=127.0.0.1,fork,reuseaddr" \
            UNIX-CONNECT:/benchstone/forward/model.sock &
        : > "$ready"
    else
        echo "benchstone: gpu = \"ollama\" needs python3 or socat in the runner image" >&2
        exit 97
    fi
    waited=0
    while [ ! -e "$ready" ] && [ "$waited" -lt 100 ]; do
        sleep 0.05 2>/dev/null || sleep 1
        waited=$((waited + 1))
    done
fi
cd /benchstone/project || exit 96
case "${2:-}" in
    "" | *[!0-9]*) exec /bin/sh -c "$1" ;;  # no deadline given
esac
# The container keeps its own deadline, so that a container whose harness was killed still
# ends: its first process (PID 1) becomes `timeout`, whose timer is the kernel's. At the deadline
# it kills the invocation's process group, and when it exits everything left in the container
# dies with it. PID 1 receives only the signals it handles, even from root, so the code under
# test cannot kill or stop it (under runc; gVisor does not shield PID 1 that way); a signal it
# handles only stops the code under test sooner. An image without `timeout` runs without this
# deadline (the harness still has its own, and the next bench command collects the container).
if [ "$$" = 1 ] && command -v timeout >/dev/null 2>&1; then
    exec timeout -s KILL "$2" /bin/sh -c "$1"
fi
exec /bin/sh -c "$1"
