"""The machine: doctor (is it ready, and the fix) and the bundled demo."""
