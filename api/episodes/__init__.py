"""Episodes: registration (upload or server path), probing, and their tag jobs."""
