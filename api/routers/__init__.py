"""Thin HTTP routers: parse, check ownership through dependencies, call a service, commit."""
