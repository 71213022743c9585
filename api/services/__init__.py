"""Use cases behind the routers and the CLI: plain functions over a `Session`."""
