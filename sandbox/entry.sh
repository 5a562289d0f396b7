# benchstone's entry inside the sandbox container. It needs /bin/sh, and `head` for its trusted
# last step (`timeout`, which the harness's launcher runs it under when the image has it, keeps
# the container's own deadline).
# $1 is the manifest's invocation with its placeholders filled in; it runs in /benchstone/project.
# $2 and $3 are the most bytes of result.json and artifact.bin worth handing out; $4 the room a
# scratch directory that is not full still has.
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
    invoke() {
        # The skips name no program, and a forked child keeps reporting: given here, they
        # override what the code sets for its children (VALGRIND_OPTS, a .valgrindrc), which
        # could leave a child untraced or uncounted.
        # shellcheck disable=SC2086  # the tool's options are words
        valgrind $BENCHSTONE_INSTRUCTIONS_TOOL --trace-children=yes --vgdb=no \
            --trace-children-skip=/benchstone/skips/nothing \
            --trace-children-skip-by-arg=/benchstone/skips/nothing \
            --child-silent-after-fork=no \
            "--log-socket=127.0.0.1:$BENCHSTONE_INSTRUCTIONS_PORT" /bin/sh -c "$1"
        counted=$?
        # The last count arrives as the process exits: let the collector write it down.
        waited=0
        while [ ! -e "$marks/idle" ] && [ "$waited" -lt 200 ]; do
            sleep 0.05 2>/dev/null || sleep 1
            waited=$((waited + 1))
        done
        return "$counted"
    }
else
    invoke() {
        /bin/sh -c "$1"
    }
fi
if [ ! -p /benchstone/io/status ]; then
    invoke "$1"  # no pipes: a harness that hands nothing over (benchmarks its cost)
    exit $?
fi
# The scratch directory is a size-limited tmpfs, gone with the container: the harness's config
# comes in through the read-only /benchstone/io, and the protocol's files go out through its
# pipes (a pipe holds no data on disk; the harness reads each one up to its limit).
scratch=/benchstone/scratch
io=/benchstone/io
# Shell builtins only, here and in the trusted step where they suffice: a process started in the
# container costs its measured time. (The config is JSON text: copied line by line, exactly.)
{
    while IFS= read -r line; do printf '%s\n' "$line"; done
    [ -z "$line" ] || printf '%s' "$line"
} < "$io/config.json" > "$scratch/config.json" || exit 95
invoke "$1"
status=$?
# The trusted step. Every process of the invocation is killed first (kill -1 reaches all but
# pid 1 and this shell, and fails once none is left), so no background writer can change or
# swap a file while it is handed over. A killed orphan stays a zombie until the container ends
# (the first process, `timeout`, reaps only its own child), and kill -1 still "reaches" it: the
# step goes on once every process of this user left is such a zombie.
own_uid() {  # the user id field of /proc/$1/status (empty when it is gone)
    while read -r key value _; do
        if [ "$key" = "Uid:" ]; then
            printf '%s' "$value"
            return
        fi
    done < "/proc/$1/status"
}
me=$(own_uid $$)
others_alive() {
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        if [ "$pid" = 1 ] || [ "$pid" = "$$" ]; then
            continue
        fi
        state= uid=
        while read -r key value _; do
            case $key in
                State:) state=$value ;;
                Uid:) uid=$value; break ;;
            esac
        done < "$dir/status" 2>/dev/null
        if [ "$uid" = "$me" ] && [ -n "$state" ] && [ "$state" != Z ]; then
            return 0
        fi
    done
    return 1
}
tries=0
while kill -KILL -1 2>/dev/null && others_alive; do
    tries=$((tries + 1))
    if [ "$tries" -gt 20000 ]; then
        echo "stragglers" > "$io/status"
        exit "$status"
    fi
done
# The code may have taken its own permissions away from the scratch directory, or left
# something where the probe goes.
probe="$scratch/.benchstone-probe"
if [ ! -w "$scratch" ] || [ ! -x "$scratch" ]; then
    chmod u+rwx "$scratch" 2>/dev/null
fi
if [ -e "$probe" ] || [ -L "$probe" ]; then
    rm -rf "$probe"
fi
{
    # (`true`, not `:`: a failed redirection of a special builtin ends the shell.)
    # No inode left, or less room left than $4 bytes, means the bound was reached (a few bytes
    # may still fit after an fallocate that was refused whole). POSIX df says how much room is
    # left (KiB, fourth field of its second line); without df, a write of $4 bytes tries it.
    if ! { true > "$probe"; } 2>/dev/null; then
        echo "full"
    elif command -v df >/dev/null 2>&1; then
        df -Pk "$scratch" 2>/dev/null | {
            read -r _ && read -r _ _ _ room _ && [ "$room" -lt $(($4 / 1024)) ] 2>/dev/null && echo "full"
        }
    elif ! { printf "%${4}s" "" > "$probe"; } 2>/dev/null; then
        echo "full"
    fi
    { true > "$probe"; } 2>/dev/null  # its pages back; the file goes with the container
    hand() {  # $1 file name, $2 pipe, $3 limit: the file, at most limit + 1 bytes of it
        if [ -L "$scratch/$1" ]; then
            echo "$1 link"
        elif [ -f "$scratch/$1" ]; then
            echo "$1 file"
            head -c "$(($3 + 1))" < "$scratch/$1" > "$io/$2"
        elif [ -e "$scratch/$1" ]; then
            echo "$1 other"
        else
            echo "$1 none"
        fi
    }
    hand result.json result "$2"
    hand artifact.bin artifact "$3"
    echo "done"
} > "$io/status"
exit "$status"
