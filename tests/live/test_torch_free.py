"""LiveBrain imports and decides where importing torch or stable_baselines3 raises."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys

    class Block:  # a meta-path finder: `import torch` / `import stable_baselines3` raise ImportError
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "stable_baselines3"):
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Block())
    import json
    from experiments.live.brain import LiveBrain
    from experiments.live.seed import LearningConfig, SelfLearningBrain
    brain = LiveBrain.from_bundle(sys.argv[1])
    ticker = brain.spec["warmup"]["ticker"]
    d = brain.decide(ticker, portfolio_state={"equity": 100000.0})
    seed = SelfLearningBrain(LearningConfig(bundle=sys.argv[1]))
    s = seed.get_trading_decision(ticker=ticker, component_scores={"theme": 0.5}, portfolio_state={"equity": 1e5})
    try:
        import torch  # noqa: F401
        blocked = False
    except ImportError:
        blocked = True
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "stable_baselines3"))
    print(json.dumps({"action": d.action, "size": d.size, "seed": s["action"], "blocked": blocked, "loaded": loaded}))
    """
)


@pytest.mark.parametrize("bundle", ["tiny_bundle", "tier4_bundle"])
def test_live_brain_runs_without_torch_or_sb3(bundle, request):
    """The PPO bundle (policy.onnx) and the Tier 4 bundle (three specialists and the selector as ONNX)."""
    folder = request.getfixturevalue(bundle)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["blocked"] is True and result["loaded"] == []
    assert result["action"] in ("buy", "hold") and result["seed"] in ("buy", "hold")
