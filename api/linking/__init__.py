"""Linking: each brand's catalog index and linker, and link jobs that re-link placements."""
