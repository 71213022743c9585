"""ReelCart's service layer: HTTP (FastAPI), persistence (SQLModel), auth, jobs and the CLI."""
