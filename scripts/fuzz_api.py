"""Schemathesis over a live ReelCart server's whole OpenAPI document (scripts/fuzz_api.sh starts one):
every phase, seeded, bounded by examples per operation and by time. Prints the counts as JSON and each
finding; exits 1 when there is one. The judgement is tests/utils/fuzz.py's, as in `make test`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import schemathesis

from tests.utils.fuzz import fuzz_config, run_fuzz


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the server's /openapi.json")
    parser.add_argument("--key", required=True, help="a brand API key")
    parser.add_argument("--seed", type=int, default=20261218)
    parser.add_argument("--max-time", type=int, default=600, help="seconds for the whole run")
    parser.add_argument("--max-examples", type=int, default=100, help="cases per operation and phase")
    args = parser.parse_args()
    config = fuzz_config(args.key, seed=args.seed, max_time_s=args.max_time, max_examples=args.max_examples)
    result = run_fuzz(schemathesis.openapi.from_url(args.url, config=config))
    print(json.dumps({"seed": args.seed, "max_examples": args.max_examples, **result.summary()}))
    for finding in sorted(set(result.findings)):
        print(finding)
    return 1 if result.findings else 0


if __name__ == "__main__":
    sys.exit(main())
