"""Analytics: player events in, per-placement and per-episode reports out."""
