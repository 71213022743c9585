"""Object detection: pure pre/post-processing and a small backend interface over ONNX Runtime."""
