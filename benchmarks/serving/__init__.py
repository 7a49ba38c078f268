"""Serving: `phonedge serve` under concurrent streams and POSTs, oversized uploads and a soak run."""
