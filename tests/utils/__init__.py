"""Helpers tests import: plain functions, classes and constants, never fixtures."""
