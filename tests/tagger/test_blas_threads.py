"""numpy's BLAS is held to the tagger's thread count (tagger.blas_threads), for the whole process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tagger.blas_threads import limit_blas_threads


def blas_threads_after(call: str) -> list[int]:
    """The BLAS pools' thread counts in a fresh process that ran `call` (the cap is process-wide, so it
    is tried away from the test process's own BLAS)."""
    script = textwrap.dedent(
        f"""
        import numpy
        from threadpoolctl import threadpool_info
        from tagger.blas_threads import limit_blas_threads
        {call}
        print(*[pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"])
        """
    )
    output = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"OPENBLAS_NUM_THREADS": "2", "PATH": ""},
    ).stdout
    return [int(word) for word in output.split()]


def test_one_thread_caps_every_blas_pool_numpy_loaded() -> None:
    before = blas_threads_after("pass")
    assert before
    assert all(threads == 2 for threads in before)
    assert blas_threads_after("limit_blas_threads(1)") == [1] * len(before)


def test_zero_leaves_blas_its_own_choice() -> None:
    assert blas_threads_after("limit_blas_threads(0)") == blas_threads_after("pass")


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="BLAS threads"):
        limit_blas_threads(-1)
