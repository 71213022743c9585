"""The 8-bit matrix product keypoint matching runs on: exact, and strict about what it takes."""

from __future__ import annotations

import numpy as np
import pytest

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
