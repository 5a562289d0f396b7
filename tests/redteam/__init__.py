"""The hostile-project suite: attacks on the harness through the real CLI, and the figures of the
crash, concurrency, fuzzing and engine-fault campaigns."""
