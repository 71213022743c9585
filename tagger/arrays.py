"""The array types the tagger speaks, one name for one meaning (imported, never redefined)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# A decoded picture as OpenCV holds it: height x width x 3 BGR bytes (or height x width grey).
Image = NDArray[np.uint8]
# Single-precision values: boxes, scores, embeddings, descriptors, tensors for ONNX Runtime.
FloatArray = NDArray[np.float32]
# Double-precision values: fitted model weights, interpolation over time.
DoubleArray = NDArray[np.float64]
