"""Jobs: background dispatch, the worker, leases of cores and GPUs, and admission."""
