"""Benchmark harness (issue 5): workload generator, peers, floors, meter and report."""
