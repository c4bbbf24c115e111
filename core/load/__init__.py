"""Load: workloads, the runner and its targets, bursts and experiments in their own processes, reports."""
