"""The 8-bit matrix product keypoint matching runs on: exact on every CPU, and strict about what it
takes. The product itself runs on this machine's kernel; `saturating_pair_product` models the kernel
of CPUs without VNNI (AVX2's VPMADDUBSW), so the operand bound is checked here whatever this CPU is.
`test_integer_matmul_cpus.py` runs the real kernels of emulated AVX2 and SSE-only CPUs."""

from __future__ import annotations

import multiprocessing
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from tagger.linking import integer_matmul as integer_matmul_module
from tagger.linking.integer_matmul import LEFT_MAX, integer_matmul
from tagger.linking.keypoints import quantize_candidate, quantize_query

INT16_MAX, INT16_MIN = 2**15 - 1, -(2**15)


def exact_product(left: NDArray[np.integer[Any]], right: NDArray[np.integer[Any]]) -> NDArray[np.int64]:
    return left.astype(np.int64) @ right.astype(np.int64)


def saturating_pair_product(
    left: NDArray[np.integer[Any]], right: NDArray[np.integer[Any]]
) -> NDArray[np.int64]:
    """What VPMADDUBSW-based kernels compute: each pair of neighbouring byte products (along K) is
    added in int16 with saturation, then the pairs are accumulated exactly."""
    inner = left.shape[1] + left.shape[1] % 2
    wide_left = np.zeros((left.shape[0], inner), np.int64)
    wide_right = np.zeros((inner, right.shape[1]), np.int64)
    wide_left[:, : left.shape[1]], wide_right[: right.shape[0]] = left, right
    products = wide_left[:, :, None] * wide_right[None, :, :]  # N x K x M
    pairs = products[:, 0::2] + products[:, 1::2]
    summed: NDArray[np.int64] = np.clip(pairs, INT16_MIN, INT16_MAX).sum(axis=1)
    return summed


def test_the_saturating_model_shows_the_hazard_of_full_range_operands() -> None:
    # Sanity of the model the bound is checked with: 8-bit left values break it, as on a real AVX2 CPU.
    left = np.full((1, 4), 255, np.uint8)
    right = np.full((4, 1), 127, np.int8)

    assert saturating_pair_product(left, right)[0, 0] == 2 * INT16_MAX
    assert exact_product(left, right)[0, 0] == 4 * 255 * 127


@pytest.mark.parametrize("right_value", [-128, 127])
def test_the_largest_admitted_operands_are_exact_even_on_a_saturating_kernel(right_value: int) -> None:
    left = np.full((2, 128), LEFT_MAX, np.uint8)
    right = np.full((128, 3), right_value, np.int8)

    product = integer_matmul(left, right)

    assert (product == LEFT_MAX * right_value * 128).all()
    np.testing.assert_array_equal(saturating_pair_product(left, right), exact_product(left, right))


def test_product_equals_numpys_integer_product_exactly_over_the_whole_admitted_range() -> None:
    rng = np.random.default_rng(3)
    left = rng.integers(0, LEFT_MAX + 1, size=(37, 128), dtype=np.uint8)
    right = rng.integers(-128, 128, size=(128, 53), dtype=np.int8)

    product = integer_matmul(left, right)

    assert product.dtype == np.int32
    np.testing.assert_array_equal(product, exact_product(left, right))
    np.testing.assert_array_equal(saturating_pair_product(left, right), exact_product(left, right))


def test_left_values_that_a_cpu_without_vnni_would_saturate_are_refused() -> None:
    left = np.full((2, 8), LEFT_MAX, np.uint8)
    left[1, 5] = LEFT_MAX + 1

    with pytest.raises(ValueError, match="must lie in 0-127"):
        integer_matmul(left, np.ones((8, 2), np.int8))


def test_any_descriptor_quantizes_to_operands_no_kernel_saturates() -> None:
    # Values a RootSIFT descriptor never has (> 1, negative, huge) as well as its own range: whatever
    # reaches the quantizers, their products are exact on VPMADDUBSW kernels too.
    rng = np.random.default_rng(11)
    descriptors = np.concatenate(
        [np.ones((4, 128)), rng.uniform(0, 1, (40, 128)), rng.uniform(-3, 300, (20, 128))]
    ).astype(np.float32)

    query, candidate = quantize_query(descriptors), quantize_candidate(descriptors)

    assert int(query.steps.max()) <= LEFT_MAX
    np.testing.assert_array_equal(
        saturating_pair_product(query.steps, candidate.steps.T), exact_product(query.steps, candidate.steps.T)
    )
    np.testing.assert_array_equal(
        integer_matmul(query.steps, candidate.steps.T), exact_product(query.steps, candidate.steps.T)
    )


@pytest.mark.parametrize(("rows", "inner", "columns"), [(0, 8, 4), (4, 8, 0), (4, 0, 4)])
def test_empty_operands_give_an_empty_or_zero_product(rows: int, inner: int, columns: int) -> None:
    product = integer_matmul(np.zeros((rows, inner), np.uint8), np.zeros((inner, columns), np.int8))

    assert product.shape == (rows, columns)
    assert not product.any()


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot multiply"):
        integer_matmul(np.zeros((2, 8), np.uint8), np.zeros((7, 2), np.int8))


def test_other_element_types_are_refused() -> None:
    with pytest.raises(ValueError, match="uint8 x int8"):
        integer_matmul(np.zeros((2, 8), np.uint16), np.zeros((8, 2), np.int8))


def _child_starts_without_a_session() -> bool:
    return integer_matmul_module._session is None


def test_a_forked_child_builds_its_own_session_and_gets_the_same_product() -> None:
    left = np.arange(24, dtype=np.uint8).reshape(2, 12)
    right = (np.arange(36, dtype=np.int16).reshape(12, 3) - 18).astype(np.int8)
    expected = integer_matmul(left, right)  # the parent's session exists before the fork
    with multiprocessing.get_context("fork").Pool(1) as pool:
        fresh = pool.apply(_child_starts_without_a_session)
        product = pool.apply(integer_matmul, (left, right))

    assert integer_matmul_module._session is not None
    assert fresh
    np.testing.assert_array_equal(product, expected)
