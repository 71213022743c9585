"""In-memory edits of ONNX graphs that a model card asks for; the file on disk (and its sha256) is
never changed. The one module besides the runtime backends that imports `onnx`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tagger.exceptions import ModelError


def free_image_size(model_path: Path, *, extra_outputs: Sequence[str] = ()) -> bytes:
    """The graph with its input height/width (and output sizes) made symbolic, plus `extra_outputs`
    (names of intermediate tensors) exposed as outputs.

    Exports such as YOLOX-Nano's or our MobileNetV2's declare a fixed input size although every layer
    is convolutional; ONNX Runtime refuses other sizes unless the declared shapes say they are free.
    """
    import onnx  # noqa: PLC0415 - only cards that ask for it pay for loading it

    try:
        model = onnx.load(str(model_path))
    except Exception as error:  # protobuf's DecodeError and friends
        raise ModelError(f"{model_path}: not an ONNX graph: {error}") from error
    graph = model.graph
    initializers = {tensor.name for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if not inputs or len(inputs[0].type.tensor_type.shape.dim) != 4:
        raise ModelError(f"{model_path}: needs a 4-D NCHW image input to free its size")
    dims = inputs[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in graph.output:
        for axis, dim in enumerate(output.type.tensor_type.shape.dim[1:], start=1):
            dim.dim_param = f"{output.name}_{axis}"
    produced = {name for node in graph.node for name in node.output}
    for name in extra_outputs:
        if name not in produced:
            raise ModelError(f"{model_path}: has no tensor named {name!r} to expose")
        if name not in {output.name for output in graph.output}:
            graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    # Inferred intermediate shapes were computed for the declared size; ONNX Runtime re-infers them.
    del graph.value_info[:]
    return bytes(model.SerializeToString())


def integer_matmul_graph() -> bytes:
    """A one-node graph: `product` (int32, N x M) = `left` (uint8, N x K) @ `right` (int8, K x M).

    ONNX Runtime runs MatMulInteger with the CPU's 8-bit dot-product instructions (VNNI, or AVX2's
    multiply-add of bytes), about four times the speed of a float32 BLAS product of the same shape.
    The result is exact (int32 accumulation) only while `left` stays below 128: AVX2's multiply-add
    saturates pairs of products at 16 bits (`tagger.linking.integer_matmul` enforces the bound).
    """
    import onnx  # noqa: PLC0415 - built once per process, on first use

    helper, tensor = onnx.helper, onnx.TensorProto
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["left", "right"], ["product"])],
        "integer_matmul",
        [
            helper.make_tensor_value_info("left", tensor.UINT8, ["n", "k"]),
            helper.make_tensor_value_info("right", tensor.INT8, ["k", "m"]),
        ],
        [helper.make_tensor_value_info("product", tensor.INT32, ["n", "m"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    # The IR version every ONNX Runtime since 1.15 reads (newer onnx packages default higher).
    model.ir_version = 8
    return bytes(model.SerializeToString())
