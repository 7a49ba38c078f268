"""Accuracy: model-card figures of every backend, the open-set decision and forced alignment on real speech."""
