"""ReelCart's vision pipeline: decode, shot cuts, detection, tracking, SKU linking, placements.

A library: plain functions and small classes over dataclasses and numpy. It never imports the web
framework, the database layer or `commerce` (enforced by import-linter).
"""
