"""What a training run leaves in its folder and how to find it: the models, the validation log, the curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np

EVALUATIONS = Path("best") / "evaluations.npz"
"""Where the EvalCallback logs its evaluations, relative to the run folder."""


def checkpoints_scored(run_dir: Path) -> int:
    """Evaluations on the validation window logged in ``run_dir / EVALUATIONS``; 0 if there is no such file."""
    path = Path(run_dir) / EVALUATIONS
    if not path.exists():
        return 0
    with np.load(path) as log:
        return len(log["timesteps"])


def model_path(run_dir: Path, which: str = "best") -> Path:
    """``best/best_model.zip`` (``which="best"``) or ``model.zip`` (``which="final"``) of a run.

    Raises:
        FileNotFoundError: The model is missing; for a missing best model the message says why (no evaluation
            ran) and what to pass instead.
    """
    if which not in ("best", "final"):
        raise ValueError(f"model={which!r}; choose 'best' or 'final'")
    best, final = run_dir / "best" / "best_model.zip", run_dir / "model.zip"
    if which == "best" and not best.exists() and final.exists():
        raise FileNotFoundError(
            f"{run_dir} has no best model ({best} is missing): no evaluation on the validation window ran "
            "(train.eval_freq is 0 or above the step budget); pass --model final, or retrain with "
            "train.eval_freq below train.total_timesteps"
        )
    path = best if which == "best" else final
    if not path.exists():
        raise FileNotFoundError(f"no trained model in {run_dir} (looked for {path})")
    return path


VAL_CURVE = Path("best") / "val_curve.csv"
"""Where :class:`~experiments.training.learning_curve.ValidationCurveCallback` writes the curve, relative to the run
folder."""
