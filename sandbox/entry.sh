# benchstone's entry inside the sandbox container. It needs nothing but /bin/sh.
# $1 is the manifest's invocation with its placeholders filled in; it runs in /benchstone/project.
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
if [ -n "${BENCHSTONE_INSTRUCTIONS_PORT:-}" ]; then
    # metric_source = "harness_instructions": the invocation runs under Valgrind, which sends
    # each process's instruction count to the collector the harness started as another user.
    if ! command -v valgrind >/dev/null 2>&1; then
        echo "benchstone: metric_source = \"harness_instructions\" needs valgrind in the runner image (bench image build)" >&2
        exit 94
    fi
    marks=/tmp/.benchstone-instructions
    waited=0
    while [ ! -e "$marks/ready" ] && [ "$waited" -lt 400 ]; do
        sleep 0.05 2>/dev/null || sleep 1
        waited=$((waited + 1))
    done
    if [ ! -e "$marks/ready" ]; then
        echo "benchstone: the instruction-count collector did not start" >&2
        exit 95
    fi
    # shellcheck disable=SC2086  # the tool's options are words
    valgrind $BENCHSTONE_INSTRUCTIONS_TOOL --trace-children=yes --vgdb=no \
        "--log-socket=127.0.0.1:$BENCHSTONE_INSTRUCTIONS_PORT" /bin/sh -c "$1"
    status=$?
    # The last count arrives as the process exits: let the collector write it down.
    waited=0
    while [ ! -e "$marks/idle" ] && [ "$waited" -lt 200 ]; do
        sleep 0.05 2>/dev/null || sleep 1
        waited=$((waited + 1))
    done
    exit "$status"
fi
exec /bin/sh -c "$1"
