"""Exact 8-bit matrix products on the CPU, through ONNX Runtime's MatMulInteger.

Keypoint matching is one (query descriptors x candidate descriptors) product per verified candidate,
and that product was most of a crop's matching time against a large catalog. NumPy has no fast integer
product, ONNX Runtime has: with uint8 x int8 operands it uses the CPU's byte dot-product instructions.
One session per process, created on first use; `InferenceSession.run` is safe to call from several
threads, so link workers share it.

Exact on every CPU only because the left operand has 7 bits (`LEFT_MAX`). x86-64 CPUs without VNNI
(AVX2, and AVX-512 without VNNI) multiply uint8 x int8 with VPMADDUBSW, which adds each pair of
neighbouring byte products into a *saturating* int16 before the int32 accumulation: 255 x 127 x 2 =
64,770 does not fit, and such a product comes out silently wrong (87.6 % of the entries of a
full-range random product, emulated on an AVX2 CPU model). With the left side at most 127 a pair is
at most 127 x 128 x 2 = 32,512 < 32,767, so no kernel ONNX Runtime has can saturate: VNNI's VPDPBUSD,
AVX2's and AVX-512BW's VPMADDUBSW, the SSE kernels' widening multiplies, ARM's SDOT/UDOT and widening
multiply-adds all give the exact integer product. `tests/tagger/linking/test_integer_matmul_cpus.py`
runs it on emulated AVX2 and SSE-only CPUs to prove it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tagger.onnx_graph import integer_matmul_graph

# The largest left value whose pair of products fits VPMADDUBSW's saturating int16 (see above).
LEFT_MAX = 127

_lock = threading.Lock()
_session: Any = None


def _forget_session_in_child() -> None:
    # A forked worker (Celery's prefork pool) must not reuse its parent's runtime threads and state.
    global _session, _lock
    _session, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_session_in_child)


def _shared_session() -> Any:
    global _session  # noqa: PLW0603 - one lazily built session per process
    with _lock:
        if _session is None:
            import onnxruntime as ort  # noqa: PLC0415 - keep the runtime out of `import tagger.linking`

            options = ort.SessionOptions()
            # Linking already runs one crop per worker thread; a product this size gains nothing from more.
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            _session = ort.InferenceSession(
                integer_matmul_graph(), sess_options=options, providers=["CPUExecutionProvider"]
            )
        return _session


def integer_matmul(left: NDArray[np.integer[Any]], right: NDArray[np.integer[Any]]) -> NDArray[np.int32]:
    """`left` (N x K, uint8, values 0-127) @ `right` (K x M, int8), accumulated exactly in int32.

    Other element types, and left values above `LEFT_MAX` (which some CPUs would multiply wrongly), are
    refused, not converted: a quantizer's steps reach here as they are."""
    if left.ndim != 2 or right.ndim != 2 or left.shape[1] != right.shape[0]:
        raise ValueError(f"cannot multiply shapes {left.shape} and {right.shape}")
    if left.dtype != np.uint8 or right.dtype != np.int8:
        raise ValueError(f"integer_matmul takes uint8 x int8, got {left.dtype} x {right.dtype}")
    if left.shape[0] == 0 or right.shape[1] == 0 or left.shape[1] == 0:
        return np.zeros((left.shape[0], right.shape[1]), dtype=np.int32)
    # About 5 us for a crop's ~800 x 128 query, against ~0.4 ms for the product it guards.
    largest = int(left.max())
    if largest > LEFT_MAX:
        raise ValueError(
            f"integer_matmul's left operand must lie in 0-{LEFT_MAX} (got {largest}): CPUs without VNNI "
            "sum pairs of byte products in 16 bits and would return a wrong product"
        )
    (product,) = _shared_session().run(
        None, {"left": np.ascontiguousarray(left), "right": np.ascontiguousarray(right)}
    )
    return np.asarray(product, dtype=np.int32)
