"""How many threads the BLAS libraries may use in a tagging process.

numpy's OpenBLAS (like the other BLAS libraries loaded beside it, scipy's) starts one thread per core, and
after a product large enough to be split its threads spin for a while waiting for the next one. The
tagger's float products are small (embedding and patch similarities of a crop against the catalog) and
its own threads (decoder, detector, locator, link workers) already keep every core busy, so BLAS's
waiting threads only take cycles from them: on a 2-core AVX2 EPYC, 4.2 % of a catalog tag job's CPU
samples were OpenBLAS's idle loop (`blas_thread_server`), none with one thread; side by side, a tag job
took 6 % less wall time with every answer the same (BENCHMARKS.md, End to end).
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def limit_blas_threads(threads: int) -> None:
    """Cap every BLAS library loaded so far at `threads`, for the rest of this process (0 leaves BLAS's
    own choice). The cap is process-wide, as BLAS's pools are; a call costs a few milliseconds, so each
    tag job makes it again and a BLAS loaded since is capped too."""
    if threads < 0:
        raise ValueError(f"BLAS threads must be 0 (BLAS's choice) or more, got {threads}")
    if threads:
        threadpool_limits(limits=threads, user_api="blas")
