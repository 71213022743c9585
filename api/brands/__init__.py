"""Brands: accounts, API keys, settings and connected commerce providers (operator admin included)."""
