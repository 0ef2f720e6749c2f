"""The live brain's ONNX policies: :class:`OnnxPolicy` (one exported actor's mean action) and
:class:`Tier4Onnx` (the specialists and the selector of a Tier 4 bundle), run with onnxruntime only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from meta.online import SpecialistSchedule, specialist_obs


class OnnxPolicy:
    """The bundle's ``policy.onnx``: observation ``(27,)`` float32 -> action ``(4,)`` in [-1, 1] (one CPU thread)."""

    def __init__(self, path: Path, input_name: str = "obs", output_name: str = "action") -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(f"cannot load {path} with onnxruntime {ort.__version__}: {exc}") from None
        self.input_name, self.output_name = input_name, output_name

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        out = self.session.run([self.output_name], {self.input_name: obs.reshape(1, -1).astype(np.float32)})[0]
        return np.clip(np.asarray(out, dtype=np.float32).reshape(-1), -1.0, 1.0)


class Tier4Onnx:
    """The bundle's Tier 4: specialists and selector as ONNX, one :class:`meta.online.SpecialistSchedule` per ticker.

    The schedule is the backtest's (:class:`meta.brain.Tier4Policy`): each decision is settled at the next one from
    the account's equity; a decision "traded" when the brain said buy. Decide only when the ticker is flat, as the
    env does: a decision spans the trade it opens.
    """

    def __init__(self, meta: Mapping[str, Any], folder: Path) -> None:
        import onnxruntime as ort

        specs = meta.get("specialists") or []
        if len(specs) != 3 or not meta.get("selector"):
            raise ValueError(
                f"bundle meta section has {len(specs)} specialists and selector={meta.get('selector')}; "
                "Tier 4 needs 3 specialists and a selector: export the meta-train run again"
            )
        self.names = tuple(str(s["name"]) for s in specs)
        self.specialists = [
            OnnxPolicy(folder / s["file"], s.get("input", "obs"), s.get("output", "action")) for s in specs
        ]
        sel = meta["selector"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        self._selector = ort.InferenceSession(str(folder / sel["file"]), opts, providers=["CPUExecutionProvider"])
        self._sel_io = (sel.get("input", "features"), sel.get("output", "logits"))
        self.tiers_seen = (bool(meta["tiers_seen"][0]), bool(meta["tiers_seen"][1]))
        self.explore, self.repick_every = int(meta["explore"]), int(meta["repick_every"])
        self.schedules: dict[str, SpecialistSchedule] = {}
        self.last_buy: dict[str, bool] = {}

    def pick(self, features: np.ndarray) -> int:
        """The selector's specialist: the first largest logit (as ``torch.argmax``)."""
        logits = self._selector.run([self._sel_io[1]], {self._sel_io[0]: features.reshape(1, -1).astype(np.float32)})
        return int(np.argmax(np.asarray(logits[0]).reshape(-1)))

    def _new_schedule(self) -> SpecialistSchedule:
        return SpecialistSchedule(self.pick, len(self.names), self.explore, self.repick_every, keep_history=False)

    def schedule(self, ticker: str) -> SpecialistSchedule:
        if ticker not in self.schedules:
            self.schedules[ticker] = self._new_schedule()
        return self.schedules[ticker]

    def act(self, ticker: str, obs: np.ndarray, equity: float) -> tuple[np.ndarray, str]:
        """The action at ``obs`` (the 27 slots as the env builds them) and the specialist that chose it."""
        seen = specialist_obs(obs, self.tiers_seen)
        arm = self.schedule(ticker).step(seen, equity, self.last_buy.get(ticker, False))
        return self.specialists[arm](seen), self.names[arm]

    def to_json(self) -> dict[str, Any]:
        return {
            "schedules": {t: s.to_json() for t, s in self.schedules.items()},
            "last_buy": dict(self.last_buy),
        }

    def load_json(self, state: Mapping[str, Any]) -> None:
        self.schedules = {t: self._new_schedule().load_json(s) for t, s in state.get("schedules", {}).items()}
        self.last_buy = {str(t): bool(v) for t, v in state.get("last_buy", {}).items()}
