"""Host processes: identity of a process across pid reuse, and SIGTERM handling."""
