"""Live audio: the stream's segmentation, latency and cost, and the stream against a VAD + offline pipeline."""
