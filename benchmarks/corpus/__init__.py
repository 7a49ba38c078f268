"""Corpus scale: throughput of `phonedge batch` over a folder, local workers and Ray."""
