"""Platforms: the same answers on arm64 (emulated), ARM speed on paper, the GPU table and the JS runtime's speed."""
