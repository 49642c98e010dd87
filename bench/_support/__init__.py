"""Code the benchmarks share; not benchmarks themselves (``make bench`` runs only
``bench/*.py``)."""
