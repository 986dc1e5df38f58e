"""Benchmarks: run each as a module from the repository root, e.g.
``python -m benchmarks.join_flow --quick``. None writes into the repository or
touches an existing database."""
