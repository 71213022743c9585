"""Video input: PTS-exact decoding of only what the pipeline needs, and shot-cut detection."""
