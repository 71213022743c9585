"""A stand-in for the train virtualenv's trainer: `python -m tests.api.fake_trainer REQUEST MODE`.

It speaks the real protocol (tagger.training.request events) and writes a real, loadable ultralytics-
layout ONNX model and a card rendered by the real card writer, without torch, so the train job's
subprocess handling, registration and failure paths are tested hermetically. MODE: ok (a detector),
crash (dies mid-training), hang (says nothing for minutes), error (reports a training error), tamper
(a model that fails its card's sha256).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from tagger.training.card import TrainedModel, render_card
from tagger.training.request import TrainEvent, TrainRequest
from tagger.training.synthetic import SyntheticConfig, SyntheticSummary
from tests.tagger.factories import constant_output_model

SIZE = 32


def main(request_path: str, mode: str) -> int:
    request = TrainRequest.from_json(Path(request_path).read_text(encoding="utf-8"))
    print(TrainEvent("synthesise", 0.05, f"{len(request.products)} products").line(), flush=True)
    print("ultralytics would print its own lines here", flush=True)
    print(TrainEvent("train", 0.5, "epoch 1/2").line(), flush=True)
    if mode == "hang":
        time.sleep(120)
        return 0
    if mode == "crash":
        print("RuntimeError: out of memory while training", flush=True)
        return 3
    if mode == "error":
        print(TrainEvent("error", 1.0, "TrainingError: ONNX export failed").line(), flush=True)
        return 1
    names = [product.name for product in request.products]
    classes = ("brand-product",) if request.options.single_class else tuple(names)
    output = np.zeros((1, 4 + len(classes), 4), np.float32)
    output[0, :4, 0] = (16, 16, 8, 8)
    output[0, 4, 0] = 0.9
    request.out_dir.mkdir(parents=True, exist_ok=True)
    model = constant_output_model(request.out_dir / f"{request.name}.onnx", output, size=SIZE)
    data = SyntheticSummary(
        data_yaml=request.out_dir / "data.yaml",
        classes=tuple(names),
        train_images=len(names),
        val_images=len(names),
        train_instances=len(names),
        val_instances=len(names),
        train_backgrounds=1,
        val_backgrounds=1,
        procedural_backgrounds=True,
        whole_rectangle=(),
        config=SyntheticConfig(image_size=SIZE),
    )
    trained = TrainedModel(
        name=request.name,
        brand=request.brand,
        onnx_path=model,
        image_size=SIZE,
        model_yaml="fake",
        epochs_run=2,
        train_seconds=1.0,
        device="cpu",
        metrics={"map50": 0.5, "precision": 0.6},
        class_names=classes,
    )
    (request.out_dir / f"{request.name}.toml").write_text(render_card(trained, data), encoding="utf-8")
    if mode == "tamper":
        model.write_bytes(model.read_bytes() + b"\0")
    print(TrainEvent("done", 1.0, "ok", result={"card": "x"}).line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
