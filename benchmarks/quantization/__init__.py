"""Quantization: each quantization mode's size, speed and accuracy, on the model and on its outlier twin."""
