"""Long audio: memory and accuracy of hours-long and minutes-long input, windowed and read in blocks."""
