"""Benchmarks of the qwenfree gateway: ``python -m bench`` (``make bench``) writes RESULTS.md.

See bench/README.md for what is measured and how.
"""
