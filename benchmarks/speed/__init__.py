"""Speed: latency of every backend, cold start, the int8 compute floor and where the time goes against it."""
