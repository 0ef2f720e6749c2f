""":class:`RegimeDetector`: Tier 2's HMM regime detector, filtered probabilities only.

A Gaussian hidden Markov model (Hamilton 1989, https://doi.org/10.2307/1912559; fitted with ``hmmlearn``'s
EM) on standardised causal features (:mod:`agents.tier2.features`) gives ``K`` hidden volatility states;
the rules of :mod:`agents.tier2.rules` turn their **filtered** probabilities plus trend, drawdown, VIX and the
theme score into the five named regimes of :data:`envs.layout.REGIMES`. Smoothed posteriors
(``predict``/``predict_proba``/``score_samples``) look at the future and are never used here: the forward
recursion is implemented below on the fitted parameters.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from agents.tier2.features import _series, hmm_features, price_momentum, trend_and_drawdown
from agents.tier2.rules import RegimeRules, combine_regimes, regime_name

logger = logging.getLogger(__name__)


_JSON_FORMAT = "tradebrain.tier2.RegimeDetector/1"


_HMM_PARAMS = ("startprob_", "transmat_", "means_", "covars_", "prior_", "scaler_mean_", "scaler_scale_")


def stationary_distribution(transmat: np.ndarray) -> np.ndarray:
    """Stationary distribution ``pi = pi A`` of a row-stochastic matrix, shape ``(K,)``."""
    a = np.asarray(transmat, dtype=np.float64)
    k = len(a)
    m = a.T - np.eye(k)
    m[-1] = 1.0
    b = np.zeros(k)
    b[-1] = 1.0
    try:
        pi = np.linalg.solve(m, b)
    except np.linalg.LinAlgError:
        pi = np.linalg.lstsq(m, b, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum() if pi.sum() > 0 else np.full(k, 1.0 / k)


def forward_step(alpha: np.ndarray, transmat: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    """One filter step, O(K^2): ``alpha_t ∝ (alpha_{t-1} @ A) * p(x_t | state)``, normalised.

    ``log_b`` is the ``(K,)`` emission log-density; NaN (no observation) means predict only.
    """
    pred = alpha @ transmat
    if not np.all(np.isfinite(log_b)):
        return pred / pred.sum()
    w = pred * np.exp(log_b - log_b.max())
    s = w.sum()
    return w / s if s > 0 and np.isfinite(s) else pred / pred.sum()


class RegimeDetector(BaseEstimator):
    """Gaussian-HMM regime detector with filtered (causal) probabilities and rule-based named regimes.

    **Features** (:func:`hmm_features`, causal): log return, log realised vol over ``vol_window`` bars (unless
    ``vol_feature=False``), and
    the VIX log change when ``fit`` gets VIX. They are standardised with the mean/std of the training window
    (stored as ``scaler_mean_``/``scaler_scale_``). Warm-up bars (``t < vol_window``) are skipped by
    ``fit``; when filtering they get the prior (the stationary distribution of the transition matrix), which
    is also the filter's prior for the first valid bar.

    **Fit**: ``n_restarts`` EM runs of ``hmmlearn.hmm.GaussianHMM`` with seeds drawn from ``random_state``;
    the best log-likelihood among runs that pass the convergence guard (finite parameters,
    ``monitor_.converged`` and ``monitor_.iter < n_iter``) wins. If none passes, a previous fit is kept
    (``ConvergenceWarning``) or, with none, ``RuntimeError`` is raised. Transition probabilities are floored
    at ``transmat_floor`` so the filter can always leave a state.

    **State order**: on the first fit, states are ordered by the variance of the (standardised) return
    feature: state 0 is calm, state ``K-1`` is stress. On a refit, states are instead matched to the
    previous fit's states with the Hungarian algorithm on their means (in the previous fit's standardised
    units) and log return variance, so a state keeps its index (and "stress" its meaning) across
    walk-forward refits; a warning is logged when the match disagrees with the volatility order.

    **Filter**: ``alpha_t ∝ (alpha_{t-1} @ A) * N(x_t; mu_k, Sigma_k)``, normalised each bar, O(K^2) per
    bar. :meth:`filter` (arrays) and :meth:`update`/:meth:`step` (bar by bar) run the same code.

    **Rules** (:class:`RegimeRules`), with ``p`` the filtered state probabilities:

    * ``P(crisis) = 1 - (1 - p_stress s(vol; crisis_vol))(1 - s(dd; drawdown_crisis))(1 - s(vix; vix_crisis))``
      (noisy-OR). The stress state counts only with an absolutely high realised vol: it is the most volatile
      state of the fit window, which after a calm window is an ordinary correction.
    * The rest, ``1 - P(crisis)``, is split in order of precedence, each stage taking its share of what the
      earlier ones left: (1) bear_defensive gets ``d = 1 - (1 - s(dd; drawdown_bear))(1 - p_stress (1 - s(vol;
      crisis_vol)) f)``, ``f = s(-trend t-statistic; 0)``: a drawdown beyond a correction, or a falling price
      in the stress state without a crisis-level vol (a falling market under stress is defensive, whatever the
      theme says);
      (2) theme_driven gets ``L``, the evidence that the theme *leads*: ``s(theme; theme_threshold)
      s(theme - mom; theme_lead)`` plus the mirror image for a negative theme, where ``mom`` is
      :func:`price_momentum` over ``theme_window`` bars, i.e. what the price alone says at the theme's horizon.
      A theme that merely restates the trend (the default theme component *is* that momentum) never leads; a
      theme strong while the price is flat or moving the other way does (0 without a theme score);
      (3) the trend t-statistic (:func:`trend_and_drawdown`) ramps ``up``/``down`` give bull_momentum,
      bear_defensive and choppy (neither). The HMM's middle states carry no label of their own.
    * Persistence: the no-crisis split is passed through a causal exponential filter (half-life
      ``persistence_halflife`` bars); ``P(crisis)`` is not filtered, so cash-only is never delayed.

    ``s(x; t) = sigmoid((x - t) / width)``. Confidence is ``1 - entropy / log(5)``.

    Args:
        n_states: Hidden states K (>= 2).
        n_restarts: EM restarts.
        n_iter: EM iteration cap per restart.
        tol: EM log-likelihood tolerance.
        vol_window: Bars of the realised-vol feature (and of the trend's vol).
        vol_feature: Use the log realised vol as an HMM feature. ``False`` leaves the HMM on the return (and
            VIX change) alone: the persistent vol feature delays switches, see
            ``experiments/benchmarks/tier2_regimes.py``.
        covariance_type: ``"diag"``, ``"full"``, ``"spherical"`` or ``"tied"`` (hmmlearn).
        random_state: Seed of the restarts.
        transmat_floor: Floor of each transition probability (rows renormalised).
        rules: Rule thresholds; ``None`` for the defaults of :class:`RegimeRules`.

    Example:
        >>> det = RegimeDetector(n_states=3).fit(train_close)        # doctest: +SKIP
        >>> probs = det.regime_probs(test_close)                     # (n, 5), filtered
        >>> det.reset_filter(); live = [det.update(c) for c in test_close]   # same values, bar by bar
    """

    def __init__(
        self,
        n_states: int = 3,
        n_restarts: int = 5,
        n_iter: int = 200,
        tol: float = 1e-4,
        vol_window: int = 20,
        vol_feature: bool = True,
        covariance_type: str = "diag",
        random_state: int | None = 0,
        transmat_floor: float = 1e-6,
        rules: RegimeRules | None = None,
    ) -> None:
        self.n_states = n_states
        self.n_restarts = n_restarts
        self.n_iter = n_iter
        self.tol = tol
        self.vol_window = vol_window
        self.vol_feature = vol_feature
        self.covariance_type = covariance_type
        self.random_state = random_state
        self.transmat_floor = transmat_floor
        self.rules = rules

    # ---------------------------------------------------------------------------------------------- checks
    def _check_params(self) -> None:
        if int(self.n_states) != self.n_states or self.n_states < 2:
            raise ValueError(f"n_states={self.n_states!r} must be an integer >= 2")
        for name in ("n_restarts", "n_iter", "vol_window"):
            v = getattr(self, name)
            if int(v) != v or v < 1 + (name == "vol_window"):
                raise ValueError(f"{name}={v!r} must be an integer >= {1 + (name == 'vol_window')}")
        if self.covariance_type not in ("diag", "full", "spherical", "tied"):
            raise ValueError(f"covariance_type={self.covariance_type!r}; use 'diag', 'full', 'spherical' or 'tied'")
        if not 0.0 <= self.transmat_floor < 1.0 / self.n_states:
            raise ValueError(f"transmat_floor={self.transmat_floor!r} must be in [0, 1/n_states)")

    def _check_fitted(self, method: str) -> None:
        if not hasattr(self, "transmat_"):
            raise NotFittedError(f"This RegimeDetector is not fitted yet; call fit(close, vix=None) before {method}()")

    def _rules(self) -> RegimeRules:
        return self.rules if self.rules is not None else RegimeRules()

    def _inputs(self, close: Any, vix: Any) -> tuple[np.ndarray, np.ndarray | None]:
        c = _series("close", close, positive=True)
        v = None if vix is None else _series("vix", vix, len(c), positive=True)
        return c, v

    def _features(self, close: np.ndarray, vix: np.ndarray | None) -> np.ndarray:
        """Raw features the fitted model expects; VIX is used only if the model was fitted with it."""
        if getattr(self, "uses_vix_", False) and vix is None:
            raise ValueError("this detector was fitted with VIX; pass `vix` (or refit without it)")
        use_vix = vix if getattr(self, "uses_vix_", vix is not None) else None
        return hmm_features(close, use_vix, self.vol_window, vol_feature=self.vol_feature)

    # --------------------------------------------------------------------------------------------- fitting
    def fit(self, close: Any, vix: Any = None) -> RegimeDetector:
        """Fit the HMM on a training window of closes (and VIX), see the class docstring.

        Args:
            close: ``(n,)`` closing prices of the training window.
            vix: ``(n,)`` VIX levels or ``None``.

        Returns:
            ``self``.

        Raises:
            ValueError: Bad parameters or data, or too few bars after the warm-up.
            RuntimeError: No restart converged and there is no previous fit to fall back to.
        """
        self._check_params()
        close, vix = self._inputs(close, vix)
        x = hmm_features(close, vix, self.vol_window, vol_feature=self.vol_feature)
        x = x[np.isfinite(x).all(axis=1)]
        need = 10 * self.n_states * x.shape[1]
        if len(x) < need:
            raise ValueError(
                f"fit got {len(x)} usable bars after the {self.vol_window}-bar warm-up; need >= {need}: "
                "pass a longer training window"
            )
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        best = self._fit_restarts((x - mean) / scale)
        if best is None:
            return self._fallback()
        params = self._order_states({**best, "scaler_mean_": mean, "scaler_scale_": scale})
        for name, value in params.items():
            setattr(self, name, value)
        self.uses_vix_ = vix is not None
        self.n_features_in_ = x.shape[1]
        self.n_fits_ = getattr(self, "n_fits_", 0) + 1
        self._cache: tuple[np.ndarray, np.ndarray] | None = None
        self.reset_filter()
        logger.info("fitted %d-state HMM on %d bars: loglik %.2f", self.n_states, len(x), self.log_likelihood_)
        return self

    def _fit_restarts(self, z: np.ndarray) -> dict[str, Any] | None:
        """EM restarts; the best converged run's parameters (full covariances) or ``None``."""
        from hmmlearn.hmm import GaussianHMM

        seeds = np.random.default_rng(self.random_state).integers(0, 2**31 - 1, size=self.n_restarts)
        best: dict[str, Any] | None = None
        n_ok = 0
        for seed in seeds:
            model = GaussianHMM(
                n_components=self.n_states,
                covariance_type=self.covariance_type,
                n_iter=self.n_iter,
                tol=self.tol,
                random_state=int(seed),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                model.fit(z)
            params = [model.startprob_, model.transmat_, model.means_, model.covars_]
            mon = model.monitor_
            ok = all(np.all(np.isfinite(p)) for p in params) and mon.converged and mon.iter < self.n_iter
            logger.debug("restart seed=%d: iter=%d converged=%s ok=%s", seed, mon.iter, mon.converged, ok)
            if not ok:
                continue
            n_ok += 1
            loglik = float(model.score(z))  # model selection only, not a decision
            if best is None or loglik > best["log_likelihood_"]:
                best = {
                    "startprob_": model.startprob_.copy(),
                    "transmat_": model.transmat_.copy(),
                    "means_": model.means_.copy(),
                    "covars_": np.array(model.covars_),
                    "log_likelihood_": loglik,
                }
        if best is not None:
            best["n_converged_"] = n_ok
            a = best["transmat_"] + self.transmat_floor
            best["transmat_"] = a / a.sum(axis=1, keepdims=True)
        return best

    def _fallback(self) -> RegimeDetector:
        msg = (
            f"no EM restart of the {self.n_states}-state HMM converged within n_iter={self.n_iter} "
            f"(tol={self.tol}); raise n_iter or n_restarts, or check the data"
        )
        if not hasattr(self, "transmat_"):
            raise RuntimeError(msg + "; there is no previous fit to fall back to")
        warnings.warn(msg + "; keeping the previous fit", ConvergenceWarning, stacklevel=3)
        logger.warning("%s; keeping the previous fit", msg)
        return self

    def _order_states(self, p: dict[str, Any]) -> dict[str, Any]:
        """Permute states: volatility order on a first fit, Hungarian match to the previous fit on a refit."""
        # primary key: return variance; ties (covariance_type="tied") broken by the last feature's mean
        vol_order = np.lexsort((p["means_"][:, -1], p["covars_"][:, 0, 0]))
        perm = vol_order
        if hasattr(self, "transmat_") and self.means_.shape[1] == p["means_"].shape[1]:
            perm = self._hungarian(p)
            if not np.array_equal(perm, vol_order):
                logger.warning(
                    "refit: Hungarian state match %s differs from the volatility order %s; kept the match",
                    perm.tolist(),
                    vol_order.tolist(),
                )
        out = dict(p)
        out["startprob_"] = p["startprob_"][perm]
        out["transmat_"] = p["transmat_"][np.ix_(perm, perm)]
        out["means_"], out["covars_"] = p["means_"][perm], p["covars_"][perm]
        out["prior_"] = stationary_distribution(out["transmat_"])
        return out

    def _hungarian(self, p: dict[str, Any]) -> np.ndarray:
        """``perm`` such that new state ``perm[i]`` is matched to previous state ``i``."""

        def key(means: np.ndarray, covars: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
            raw_means = means * scale + mean
            log_var = np.log(covars[:, 0, 0] * scale[0] ** 2)
            return np.column_stack([raw_means / self.scaler_scale_, 0.5 * log_var])

        prev = key(self.means_, self.covars_, self.scaler_mean_, self.scaler_scale_)
        new = key(p["means_"], p["covars_"], p["scaler_mean_"], p["scaler_scale_"])
        cost = ((prev[:, None, :] - new[None, :, :]) ** 2).sum(axis=-1)
        rows, cols = linear_sum_assignment(cost)
        return cols[np.argsort(rows)]

    # ------------------------------------------------------------------------------------------- filtering
    def _emission(self) -> tuple[np.ndarray, np.ndarray]:
        """Cached inverse Cholesky factors ``(K, d, d)`` and log-normalisers ``(K,)`` of the emissions."""
        cache: tuple[np.ndarray, np.ndarray] | None = getattr(self, "_cache", None)
        if cache is None:
            chol = np.linalg.cholesky(self.covars_)
            inv = np.linalg.inv(chol)
            d = self.means_.shape[1]
            log_norm = -0.5 * d * np.log(2.0 * np.pi) - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
            cache = self._cache = (inv, log_norm)
        return cache

    def log_emission(self, x: np.ndarray) -> np.ndarray:
        """Gaussian log-densities ``(n, K)`` of raw feature rows ``x`` ``(n, d)``; NaN rows give NaN."""
        self._check_fitted("log_emission")
        inv, log_norm = self._emission()
        z = (np.asarray(x, dtype=np.float64) - self.scaler_mean_) / self.scaler_scale_
        diff = z[:, None, :] - self.means_[None, :, :]  # (n, K, d)
        y = (inv[None, :, :, :] * diff[:, :, None, :]).sum(axis=-1)  # (n, K, d), no BLAS: same bits row by row
        return log_norm[None, :] - 0.5 * (y**2).sum(axis=-1)

    def filter(self, close: Any, vix: Any = None) -> np.ndarray:
        """Filtered state probabilities ``P(s_t | x_0..t)``, shape ``(n, K)``; row ``t`` uses bars 0..t."""
        self._check_fitted("filter")
        close, vix = self._inputs(close, vix)
        log_b = self.log_emission(self._features(close, vix))
        out = np.empty_like(log_b)
        alpha = self.prior_.copy()
        for t in range(len(log_b)):
            alpha = forward_step(alpha, self.transmat_, log_b[t])
            out[t] = alpha
        return out

    def regime_probs(self, close: Any, vix: Any = None, theme: Any = None) -> np.ndarray:
        """Named regime probabilities ``(n, 5)`` in :data:`REGIMES` order (causal), see the class docstring.

        Args:
            close: ``(n,)`` closes.
            vix: ``(n,)`` VIX or ``None``.
            theme: ``(n,)`` theme score in [-1, 1] or ``None``.
        """
        self._check_fitted("regime_probs")
        close, vix = self._inputs(close, vix)
        th = None if theme is None else np.clip(_series("theme", theme, len(close)), -1.0, 1.0)
        rules = self._rules()
        z, dd, vol = trend_and_drawdown(close, rules.trend_window, self.vol_window, rules.drawdown_window)
        mom = None if th is None else price_momentum(close, rules.theme_window)
        return rules.apply(self.filter(close, vix), z, dd, vix, th, vol=vol, momentum=mom)

    def regime_name(self, probs: np.ndarray) -> str | list[str]:
        """Most likely regime name(s) of ``probs`` (see :func:`regime_name`)."""
        return regime_name(probs)

    # ---------------------------------------------------------------------------------------------- online
    def reset_filter(self) -> None:
        """Start the online filter afresh (prior probabilities, empty price history)."""
        self._check_fitted("reset_filter")
        self._online: dict[str, Any] = {"alpha": self.prior_.copy(), "closes": [], "vix": [], "split": None}

    @property
    def filter_probs(self) -> np.ndarray:
        """Current online filtered state probabilities ``(K,)``."""
        self._check_fitted("filter_probs")
        return self._online["alpha"].copy()

    def step(self, x_row: np.ndarray) -> np.ndarray:
        """Advance the online filter by one raw feature row ``(d,)`` (NaN row = warm-up); returns ``(K,)``."""
        self._check_fitted("step")
        log_b = self.log_emission(np.asarray(x_row, dtype=np.float64).reshape(1, -1))[0]
        self._online["alpha"] = forward_step(self._online["alpha"], self.transmat_, log_b)
        return self._online["alpha"].copy()

    def update(self, close_t: float, vix_t: float | None = None, theme_t: float | None = None) -> np.ndarray:
        """Online counterpart of :meth:`regime_probs`: feed one bar, get its ``(5,)`` regime probabilities.

        The state probabilities of the bar are then :attr:`filter_probs`. Feeding bars ``0..t`` one by one
        gives row ``t`` of :meth:`regime_probs` / :meth:`filter` on the same arrays. :meth:`fit` resets the
        online filter: after a refit, replay recent bars (at least ``vol_window``) to warm it up.
        """
        self._check_fitted("update")
        st = self._online
        close_t = float(_series("close_t", [close_t], positive=True)[0])
        has_vix = vix_t is not None
        if self.uses_vix_ and not has_vix:
            raise ValueError("this detector was fitted with VIX; pass `vix_t` to update()")
        if has_vix:
            vix_t = float(_series("vix_t", [vix_t], positive=True)[0])
        rules = self._rules()
        keep = max(self.vol_window, rules.trend_window, rules.drawdown_window, rules.theme_window) + 1
        st["closes"] = [*st["closes"], close_t][-keep:]
        st["vix"] = [*st["vix"], vix_t][-keep:]
        closes = np.array(st["closes"])
        vix_buf = np.array(st["vix"], dtype=np.float64) if has_vix and None not in st["vix"] else None
        self.step(self._features(closes, vix_buf)[-1])
        z, dd, vol = trend_and_drawdown(closes, rules.trend_window, self.vol_window, rules.drawdown_window)
        th = None if theme_t is None else np.clip(_series("theme_t", [theme_t]), -1.0, 1.0)
        mom = None if th is None else price_momentum(closes, rules.theme_window)[-1:]
        vix_arr = np.array([vix_t]) if has_vix else None
        alpha = st["alpha"][None, :]
        split = rules.smooth(rules.split(alpha, z[-1:], dd[-1:], th, vol=vol[-1:], momentum=mom), st["split"])
        st["split"] = split[-1]
        return combine_regimes(rules.crisis(alpha[:, -1], dd[-1:], vix_arr, vol[-1:]), split)[0]

    # ----------------------------------------------------------------------------------------- persistence
    def to_json(self) -> dict[str, Any]:
        """Plain-JSON dict: hyper-parameters, fitted parameters, scaler and online filter state (no pickle)"""
        self._check_fitted("to_json")
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "rules"}
        st = self._online
        return {
            "format": _JSON_FORMAT,
            "params": params,
            "rules": asdict(self._rules()),
            "fitted": {k: np.asarray(getattr(self, k)).tolist() for k in _HMM_PARAMS},
            "meta": {
                "uses_vix": self.uses_vix_,
                "n_features_in": self.n_features_in_,
                "n_fits": self.n_fits_,
                "log_likelihood": self.log_likelihood_,
                "n_converged": self.n_converged_,
            },
            "filter_state": {
                "alpha": st["alpha"].tolist(),
                "closes": list(st["closes"]),
                "vix": list(st["vix"]),
                "split": None if st["split"] is None else np.asarray(st["split"]).tolist(),
            },
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | str) -> RegimeDetector:
        """Rebuild a detector from :meth:`to_json` output (a dict or its JSON text)."""
        d = json.loads(obj) if isinstance(obj, str) else obj
        if d.get("format") != _JSON_FORMAT:
            raise ValueError(
                f"unknown format {d.get('format')!r}; expected {_JSON_FORMAT!r} (from RegimeDetector.to_json)"
            )
        det = cls(**d["params"], rules=RegimeRules(**d["rules"]))
        for k in _HMM_PARAMS:
            setattr(det, k, np.array(d["fitted"][k], dtype=np.float64))
        meta = d["meta"]
        det.uses_vix_, det.n_features_in_, det.n_fits_ = (
            bool(meta["uses_vix"]),
            meta["n_features_in"],
            meta["n_fits"],
        )
        det.log_likelihood_, det.n_converged_ = meta["log_likelihood"], meta["n_converged"]
        det._cache = None
        fs = d["filter_state"]
        det._online = {
            "alpha": np.array(fs["alpha"], dtype=np.float64),
            "closes": list(fs["closes"]),
            "vix": list(fs["vix"]),
            "split": None if fs.get("split") is None else np.array(fs["split"], dtype=np.float64),
        }
        return det

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` (UTF-8 JSON); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> RegimeDetector:
        """Read a detector written by :meth:`save`."""
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
