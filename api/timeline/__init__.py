"""Timeline: the public hotspot timeline of an episode, precomputed with its ETag."""
