"""Shared by every family: paths, machine description, inputs and timing, backends, workers, RESULTS.md sections."""
