"""The byte product on the kernels of CPUs this machine may not be: an AVX2 CPU without AVX-512 or
VNNI (whose VPMADDUBSW saturates pairs of byte products at 16 bits) and an AVX CPU without AVX2 (SSE
kernels), each emulated by QEMU's user-mode emulator, which runs this same Python, NumPy and ONNX
Runtime and lets ONNX Runtime pick its kernel from the emulated CPU's feature flags.

The emulator comes from Debian's `qemu-user` package (`.ci/run` installs it); without it these tests
skip and say so, unless `REELCART_REQUIRE_CPU_EMULATION=1` (set by CI), when they fail.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from tagger.linking.integer_matmul import LEFT_MAX
from tagger.linking.keypoints import ratio_test_matches

# QEMU CPU models: what each stands for.
AVX2_WITHOUT_VNNI = "Haswell"
AVX_WITHOUT_AVX2 = "SandyBridge"
EMULATION_TIMEOUT_S = 300

# Runs inside the emulated CPU: reads operands from an .npz, writes what this stack computed there.
CHILD = """
import sys
import numpy as np
from tagger.linking import integer_matmul as im
from tagger.linking.keypoints import ratio_test_matches

given = np.load(sys.argv[1])
# The raw ONNX Runtime product, without the operand bound, shows which kind of kernel ran.
raw = im._shared_session().run(None, {"left": given["raw_left"], "right": given["right"]})[0]
rows, columns = ratio_test_matches(given["query"], given["candidate"])
np.savez(
    sys.argv[2],
    raw=raw,
    admitted=im.integer_matmul(given["left"], given["right"]),
    extreme=im.integer_matmul(given["extreme_left"], given["extreme_right"]),
    rows=rows,
    columns=columns,
)
"""


def _emulator() -> str:
    if platform.machine() != "x86_64":
        pytest.skip(f"CPU emulation of x86-64 kernels runs on x86-64 hosts (this is {platform.machine()})")
    found = shutil.which("qemu-x86_64")
    if found is None:
        reason = "qemu-x86_64 not found (Debian: apt-get install qemu-user); the byte product's kernels "
        reason += "of other CPUs are not exercised"
        if os.environ.get("REELCART_REQUIRE_CPU_EMULATION") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _descriptors(rng: np.random.Generator, count: int) -> NDArray[np.float32]:
    # Non-negative rows of very different lengths: worse than RootSIFT's unit rows for a 16-bit lane.
    rows = rng.uniform(size=(count, 128)) ** 3 * rng.uniform(0.2, 1.0, size=(count, 1))
    return np.clip(rows * 2.5, 0.0, 1.0).astype(np.float32)


def _operands() -> dict[str, NDArray[Any]]:
    rng = np.random.default_rng(5)
    candidate = _descriptors(rng, 90)
    query = np.clip(candidate[:60] + rng.normal(scale=0.03, size=(60, 128)), 0.0, 1.0).astype(np.float32)
    extreme_left = np.full((3, 128), LEFT_MAX, np.uint8)
    extreme_right = np.stack([np.full(128, -128), np.full(128, 127), np.tile([127, -128], 64)], axis=1)
    return {
        "raw_left": rng.integers(0, 256, size=(37, 128), dtype=np.uint8),
        "left": rng.integers(0, LEFT_MAX + 1, size=(37, 128), dtype=np.uint8),
        "right": rng.integers(-128, 128, size=(128, 53), dtype=np.int8),
        "extreme_left": extreme_left,
        "extreme_right": extreme_right.astype(np.int8),
        "query": query,
        "candidate": candidate,
    }


def _run_on(cpu: str, operands: dict[str, NDArray[Any]], folder: Path) -> dict[str, NDArray[Any]]:
    emulator = _emulator()
    given, computed = folder / f"given-{cpu}.npz", folder / f"computed-{cpu}.npz"
    np.savez(given, **operands)  # type: ignore[arg-type]
    completed = subprocess.run(
        [emulator, "-cpu", cpu, sys.executable, "-c", CHILD, str(given), str(computed)],
        capture_output=True,
        text=True,
        timeout=EMULATION_TIMEOUT_S,
        check=False,
    )
    messages = [line for line in completed.stderr.splitlines() if "TCG doesn't support" not in line]
    assert completed.returncode == 0, "\n".join(messages[-30:])
    with np.load(computed) as loaded:
        return {name: loaded[name] for name in loaded.files}


def _exact(left: NDArray[Any], right: NDArray[Any]) -> NDArray[np.int64]:
    return left.astype(np.int64) @ right.astype(np.int64)


@pytest.mark.slow
def test_on_an_avx2_cpu_without_vnni_the_admitted_operands_give_the_exact_product(tmp_path: Path) -> None:
    operands = _operands()

    computed = _run_on(AVX2_WITHOUT_VNNI, operands, tmp_path)

    # The emulated CPU really runs the saturating kernel: 8-bit left values come out wrong there...
    assert (computed["raw"] != _exact(operands["raw_left"], operands["right"])).mean() > 0.5
    # ... and every operand the bound admits, extremes included, comes out exact.
    np.testing.assert_array_equal(computed["admitted"], _exact(operands["left"], operands["right"]))
    np.testing.assert_array_equal(
        computed["extreme"], _exact(operands["extreme_left"], operands["extreme_right"])
    )


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize("cpu", [AVX2_WITHOUT_VNNI, AVX_WITHOUT_AVX2])
def test_keypoint_matches_are_the_same_on_other_cpus_as_here(cpu: str, tmp_path: Path) -> None:
    operands = _operands()
    rows, columns = ratio_test_matches(operands["query"], operands["candidate"])

    computed = _run_on(cpu, operands, tmp_path)

    assert rows.size >= 30  # the comparison means something only with many matches
    np.testing.assert_array_equal(computed["rows"], rows)
    np.testing.assert_array_equal(computed["columns"], columns)
    np.testing.assert_array_equal(computed["admitted"], _exact(operands["left"], operands["right"]))
