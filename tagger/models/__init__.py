"""Model cards (one TOML file per model in `models/`) and the local model registry."""
