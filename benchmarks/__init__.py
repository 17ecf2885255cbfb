"""Side-by-side benchmarks of apiharness against the tools users would pick instead."""
