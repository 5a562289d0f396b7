"""Attacks through links and the corpus: symlinks committed in the project or placed in the
corpus that point at host paths (the store, a secret, the engine's socket), and a runner that
edits the corpus, the manifest and itself while it runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from redteam.attack import HONEST, attack, benchmark
from redteam.attacks_escape import found_in, plant_store_canary, walker
from redteam.lab import Lab, Symlink

SYMLINK_READER = r'''
contents = {}
for name in sorted(os.listdir("src")):
    path = os.path.join("src", name)
    if os.path.islink(path):
        contents[name] = try_read(path)
        if contents[name] is None and os.path.isdir(path):
            contents[name] = " ".join(os.listdir(path))
found = sorted(name for name, value in contents.items() if value)
report(1.0, message=json.dumps(contents), found=found)
'''


@attack("project_symlink_to_host",
        "commit symlinks to the host's store, a host secret and /etc/shadow, then read them",
        "a symlink in the project pointing at a host path", as_user_too=True)
def project_symlink_to_host(lab: Lab) -> None:
    lab.make_project(SYMLINK_READER, python=True, files={
        "src/secret": Symlink(str(lab.canary_file)), "src/db": Symlink(str(lab.home / "bench.db")),
        "src/home": Symlink(str(lab.home)), "src/shadow": Symlink("/etc/shadow"),
    })
    plant_store_canary(lab)
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    for row in lab.runs():
        lab.expect(not lab.metadata(row).get("found"), f"followed {lab.metadata(row).get('found')}")


@attack("crafted_tree_writes_through_a_symlink",
        "commit a crafted tree naming \"src/drop\" twice, as a symlink to a host directory and as "
        "a directory holding a file, so that exporting the commit writes that file on the host",
        "a symlink in the project pointing at a host path")
def crafted_tree_writes_through_a_symlink(lab: Lab) -> None:
    lab.make_project(HONEST)
    lab.register()
    outside = lab.root / "outside"
    outside.mkdir()

    def hashed(data: str) -> str:
        return subprocess.run(["git", "-C", str(lab.project), "hash-object", "-w", "--stdin"],
                              input=data, capture_output=True, text=True, check=True
                              ).stdout.strip()

    def tree(listing: str) -> str:
        return subprocess.run(["git", "-C", str(lab.project), "mktree"], input=listing,
                              capture_output=True, text=True, check=True).stdout.strip()

    inner = tree(f"100644 blob {hashed('planted')}\tplanted\n")
    src = tree(lab.git("ls-tree", "HEAD:src") + f"\n120000 blob {hashed(str(outside))}\tdrop\n"
               f"040000 tree {inner}\tdrop\n")
    top = tree("\n".join(line for line in lab.git("ls-tree", "HEAD").splitlines()
                         if not line.endswith("\tsrc")) + f"\n040000 tree {src}\tsrc\n")
    crafted = lab.git("commit-tree", top, "-p", "HEAD", "-m", "crafted")
    lab.git("update-ref", "HEAD", crafted)  # the index cannot hold it: the tree looks dirty
    lab.arm()
    call = lab.bench("run", lab.project_name, "probe", "--allow-dirty", allow={5})
    lab.expect("unsafe path" in call.stderr, f"unclear refusal: {call.stderr.strip()[:200]}")
    lab.expect(not any(outside.iterdir()), "the export wrote through a committed symlink")


@attack("corpus_symlink_to_store",
        "make its (unpinned) corpus directory a committed symlink to $BENCHSTONE_HOME",
        "a symlink in the corpus pointing at the store's real host path", as_user_too=True)
def corpus_symlink_to_store(lab: Lab) -> None:
    lab.make_project(walker('["/benchstone/corpus"]'), python=True,
                     benchmarks=[benchmark(corpus_path="data", corpus_type="tree")],
                     files={"data": Symlink(str(lab.home))})
    plant_store_canary(lab)
    lab.register()
    lab.arm()
    call = lab.bench("run", lab.project_name, "probe", allow={0, 5})
    if call.returncode == 5:
        lab.expect("corpus" in call.stderr, f"unclear refusal: {call.stderr.strip()}")
    lab.expect(not found_in(lab), f"read through the corpus mount: {found_in(lab)[:3]}")
    # A harness running as root runs the sandbox as uid 10001, which the 0o700 state directory
    # keeps out; a harness running as a user runs it as that user. The mount itself is the escape.
    for row in lab.runs():
        mounted = lab.metadata(row).get("corpus")
        lab.expect(mounted is None, f"the state directory is mounted as the corpus: {mounted}")


SOCKET_PROBE = r'''
import socket
present = []
for directory, dirs, files in os.walk("/benchstone/corpus"):
    present += [os.path.join(directory, name) for name in files + dirs]
reached = []
for path in present:
    try:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(3)
        connection.connect(path)
        reached.append(path)
    except OSError:
        pass
report(1.0, present=present, reached=reached)
'''


@attack("corpus_symlink_to_engine_socket",
        "make its (unpinned) corpus file a committed symlink to the Docker socket",
        "a symlink in the corpus pointing at a host path; reach the engine", as_user_too=True)
def corpus_symlink_to_engine_socket(lab: Lab) -> None:
    lab.make_project(SOCKET_PROBE, python=True, benchmarks=[benchmark(corpus_path="sock")],
                     files={"sock": Symlink("/var/run/docker.sock")})
    lab.register()
    lab.arm()
    call = lab.bench("run", lab.project_name, "probe", allow={0, 5})
    if call.returncode == 5:
        lab.expect("corpus" in call.stderr, f"unclear refusal: {call.stderr.strip()}")
    for row in lab.runs():
        meta = lab.metadata(row)
        lab.expect(not meta.get("present") and not meta.get("reached"),
                   f"the socket is in the sandbox: {meta}")


@attack("corpus_entry_symlinks",
        "put symlinks to a host secret, the store and '../../..' inside a pinned corpus",
        "a symlink in the corpus pointing at a host path", as_user_too=True)
def corpus_entry_symlinks(lab: Lab) -> None:
    corpus = lab.make_corpus({"input.txt": "data\n", "leak": Symlink(str(lab.canary_file)),
                              "store": Symlink(str(lab.home)), "up": Symlink("../../..")})
    pinned = benchmark(corpus_path=str(corpus), corpus_type="tree",
                       corpus_hash=lab.corpus_hash(corpus))
    lab.make_project(walker('["/benchstone/corpus/leak", "/benchstone/corpus/store"]',
                            '["/benchstone/corpus/leak", "/benchstone/corpus/up/'
                            + str(lab.canary_file).lstrip("/") + '"]'),
                     python=True, benchmarks=[pinned])
    plant_store_canary(lab)
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    lab.expect(not found_in(lab), f"followed out of the corpus: {found_in(lab)[:3]}")


EDIT_MID_RUN = r'''
modified = []
corpus = config["corpus_path"]
def attempt(label, action):
    try:
        action()
        modified.append(label)
    except OSError:
        pass
def write(path, text, mode="w"):
    with open(path, mode) as handle:
        handle.write(text)
attempt("corpus write", lambda: write(os.path.join(corpus, "input.txt"), "tampered"))
attempt("corpus create", lambda: write(os.path.join(corpus, "new.txt"), "x"))
attempt("corpus chmod", lambda: os.chmod(os.path.join(corpus, "input.txt"), 0o777))
attempt("corpus rename", lambda: os.rename(os.path.join(corpus, "input.txt"), os.path.join(corpus, "x")))
attempt("corpus unlink", lambda: os.unlink(os.path.join(corpus, "input.txt")))
attempt("manifest write", lambda: write("bench/manifest.toml", "\npromotion_sigma = 0.001\n", "a"))
attempt("manifest replace", lambda: os.rename("bench/run.sh", "bench/manifest.toml"))
attempt("runner write", lambda: write("bench/run.sh", "\necho hacked\n", "a"))
attempt("source write", lambda: write("src/metric", "0.001"))
report(float(open("src/metric").read()), modified=modified)
'''


@attack("edit_corpus_and_manifest_mid_run",
        "rewrite, rename and delete corpus files, the manifest and its own runner while running",
        "edit the corpus or the manifest mid-run", as_user_too=True)
def edit_corpus_and_manifest_mid_run(lab: Lab) -> None:
    corpus = lab.make_corpus({"input.txt": "data\n"})
    pinned = benchmark(corpus_path=str(corpus), corpus_type="tree",
                       corpus_hash=lab.corpus_hash(corpus))
    lab.make_project(EDIT_MID_RUN, python=True, benchmarks=[pinned])
    lab.register()
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    lab.bench("run", lab.project_name, "probe", allow={0})  # the corpus still verifies
    for row in lab.runs():
        lab.expect(row["status"] == "ok", f"second run: {row['message']}")
        lab.expect(not lab.metadata(row).get("modified"), f"modified {lab.metadata(row).get('modified')}")
    lab.expect(Path(corpus / "input.txt").read_text() == "data\n", "the corpus changed on the host")
