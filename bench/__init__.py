"""Benchmarks: each prints shopmind's figure beside a peer measured in the same run."""
