"""Benchmarks (commands, not library code): the train step and rendering (speed), the input
pipeline (pipeline), inversion (inversion), and a profile of XLA's ops (op_profile).
Results and their commands: BENCHMARKS.md."""
