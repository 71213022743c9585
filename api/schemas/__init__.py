"""Request and response bodies (the `Create` / `Update` / `Public` members of each SQLModel family)."""
