"""Provider adapters. Each SDK is imported by exactly one subpackage (one module per SDK)."""
