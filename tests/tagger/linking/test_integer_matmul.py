"""The 8-bit matrix product keypoint matching runs on: exact, and strict about what it takes."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from tagger.linking import integer_matmul as integer_matmul_module
from tagger.linking.integer_matmul import integer_matmul


def test_product_equals_numpys_integer_product_exactly() -> None:
    rng = np.random.default_rng(3)
    left = rng.integers(0, 256, size=(37, 128), dtype=np.uint8)
    right = rng.integers(-128, 128, size=(128, 53), dtype=np.int8)

    product = integer_matmul(left, right)

    assert product.dtype == np.int32
    np.testing.assert_array_equal(product, left.astype(np.int64) @ right.astype(np.int64))


def test_extreme_values_do_not_overflow() -> None:
    left = np.full((2, 128), 255, np.uint8)
    right = np.full((128, 3), -128, np.int8)

    assert (integer_matmul(left, right) == 255 * -128 * 128).all()


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
