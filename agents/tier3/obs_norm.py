"""Frozen observation normalisation: SB3 ``VecNormalize``'s observation statistics as plain numbers.

A policy trained behind ``VecNormalize(norm_obs=True)`` sees ``clip((obs - mean) / sqrt(var + epsilon), -clip,
clip)``. The statistics move while training and are frozen afterwards: the run folder keeps them next to each
model as ``obs_norm.json`` (format below), and every consumer of that model (the backtest, walk-forward, the
export bundle, the live brain) applies the same frozen transform with numpy alone (no torch, no pickle)::

    {"format": 1, "mean": [27 floats], "var": [27 floats], "clip_obs": 10.0, "epsilon": 1e-08}

Example:
    >>> norm = ObsNormalizer(mean=np.zeros(2), var=np.ones(2), clip_obs=5.0)
    >>> norm(np.array([1.0, 9.0])).tolist()
    [1.0, 5.0]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FILENAME = "obs_norm.json"
"""Name of the statistics file beside a model (``model.zip`` -> ``obs_norm.json`` in the same folder)."""
FORMAT = 1


@dataclass(frozen=True)
class ObsNormalizer:
    """Frozen ``(obs - mean) / sqrt(var + epsilon)``, clipped to ``[-clip_obs, clip_obs]``.

    Args:
        mean: Per-slot running mean, shape ``(n,)``.
        var: Per-slot running variance, shape ``(n,)``, >= 0.
        clip_obs: Clip of the normalised values (> 0).
        epsilon: Added to the variance (> 0).
    """

    mean: np.ndarray
    var: np.ndarray
    clip_obs: float = 10.0
    epsilon: float = 1e-8

    def __post_init__(self) -> None:
        mean = np.array(self.mean, dtype=np.float64).reshape(-1)
        var = np.array(self.var, dtype=np.float64).reshape(-1)
        if mean.shape != var.shape or mean.size == 0:
            raise ValueError(f"mean has shape {mean.shape} and var {var.shape}: they must be the same, non-empty")
        if not (np.isfinite(mean).all() and np.isfinite(var).all() and (var >= 0).all()):
            raise ValueError("mean and var must be finite and var >= 0; the statistics file is damaged")
        for name in ("clip_obs", "epsilon"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"ObsNormalizer.{name}={value!r} must be a finite number > 0")
        mean.flags.writeable = var.flags.writeable = False
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "var", var)
        object.__setattr__(self, "_scale", 1.0 / np.sqrt(var + self.epsilon))

    @property
    def size(self) -> int:
        return int(self.mean.size)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Normalise ``obs`` of shape ``(..., n)``; float32 like the observation space."""
        x = np.asarray(obs, dtype=np.float64)
        if x.shape[-1:] != (self.size,):
            raise ValueError(f"observation has shape {x.shape}; the normaliser expects (..., {self.size})")
        z = (x - self.mean) * self._scale  # type: ignore[attr-defined]
        return np.clip(z, -self.clip_obs, self.clip_obs).astype(np.float32)

    # ------------------------------------------------------------------ conversion
    @classmethod
    def from_vec_normalize(cls, venv: Any) -> ObsNormalizer:
        """The current observation statistics of an SB3 ``VecNormalize``."""
        rms = venv.obs_rms
        return cls(rms.mean, rms.var, float(venv.clip_obs), float(venv.epsilon))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "mean": self.mean.tolist(),
            "var": self.var.tolist(),
            "clip_obs": float(self.clip_obs),
            "epsilon": float(self.epsilon),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any], where: str = "obs_norm") -> ObsNormalizer:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
            raise ValueError(f"{where}: format {got!r} is not {FORMAT}; re-export it with this version of tradebrain")
        missing = [k for k in ("mean", "var", "clip_obs", "epsilon") if k not in obj]
        if missing:
            raise ValueError(f"{where}: missing {missing}")
        try:
            return cls(np.asarray(obj["mean"], float), np.asarray(obj["var"], float), obj["clip_obs"], obj["epsilon"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from exc

    def save(self, folder: str | Path) -> Path:
        """Write ``obs_norm.json`` into ``folder`` atomically; returns its path."""
        path = Path(folder) / FILENAME
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load_beside(cls, model_path: str | Path) -> ObsNormalizer | None:
        """The statistics saved next to a model file, or None if the model was trained without normalisation."""
        path = Path(model_path).parent / FILENAME
        if not path.exists():
            return None
        try:
            obj = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_json(obj, str(path))
