"""How the process runs: XLA's CPU flags (xla_cpu), huge pages for XLA's CPU buffers
(hugepages), the one call that applies both (cpu_runtime.use_cpu_settings), and devices,
meshes and shardings (parallel). Importing this package applies nothing."""
