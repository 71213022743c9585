"""The trainer subprocess: `python -m tagger.training.run REQUEST.json` (inside the train virtualenv).

Prints `@reelcart {json}` progress lines (tagger.training.request.TrainEvent) among ultralytics' own
output; the last one is `done` with the card's path, or `error` with the reason (exit status 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tagger.training.errors import TrainingError
from tagger.training.request import TrainEvent, TrainRequest


def _emit(event: TrainEvent) -> None:
    print(event.line(), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tagger.training.run REQUEST.json", file=sys.stderr)
        return 2
    try:
        request = TrainRequest.from_json(Path(args[0]).read_text(encoding="utf-8"))
        from tagger.training.ultralytics_train import train  # noqa: PLC0415 - needs the train venv

        card = train(request, _emit)
    except (TrainingError, OSError, ImportError) as error:
        _emit(TrainEvent("error", 1.0, f"{type(error).__name__}: {error}"))
        return 1
    _emit(TrainEvent("done", 1.0, str(card), result={"card": str(card)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
