"""The market-wide crunch signal: depth draining on several LIVE venues of one asset at the same sample.

Its alerts use the detector's severity ladder (``core.detector.severity``), so a market alert and a
venue alert of the same z have the same severity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from lcm_tui.core.consolidated.members import Member, classify
from lcm_tui.core.consolidated.types import MARKET_DEPTH_SIGNAL, MARKET_VENUE, MarketSignal
from lcm_tui.core.detector import severity
from lcm_tui.core.model import Alert, AlertAction, AlertChange

if TYPE_CHECKING:
    from lcm_tui.core.model import SymbolState
    from lcm_tui.core.settings import Settings


class HasZ(Protocol):
    """What the market signal reads from a ``core.detector.Detector``: the current z per signal."""

    z: Mapping[str, float | None]


def market_signal(members: Sequence[Member], detectors: Mapping[tuple[str, str], HasZ], settings: Settings,
                  threshold_z: float | None = None) -> MarketSignal:
    """Depth draining on several LIVE venues of one asset at the same sample.

    Only LIVE venues count, in the numerator and the denominator: a venue that drops out is excluded
    (and listed by the caller), so one venue's outage can neither fire the signal nor dilute it.
    """
    cfg = settings.consolidated
    thr = settings.detector.open_z if threshold_z is None else threshold_z
    zs: dict[str, float | None] = {}
    for m in members:
        det = detectors.get(m.state.key)
        zs[m.label] = det.z.get("depth") if det is not None else None
    live = len(members)
    required = max(cfg.market_min_venues, math.ceil(cfg.market_min_fraction * live - 1e-9))
    draining = {k: z for k, z in zs.items() if z is not None and z <= -thr}
    firing = live >= required and len(draining) >= required
    breadth = sorted(draining.values())[required - 1] if len(draining) >= required else None
    return MarketSignal(live, required, draining, zs, breadth, firing)


class MarketCrunchDetector:
    """Opens a ``market:depth`` alert per asset when depth drains on several LIVE venues at once.

    Call ``update`` once per sample clock tick, right after ``Monitor.sample``, so every detector's z is
    from the same sample. Same discipline as the per-venue detector: it opens after ``consecutive``
    samples that fire, and closes only when fewer than the required venues stay below ``-close_z``
    (hysteresis), so one noisy tick neither opens nor flaps it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.open_alerts: dict[str, Alert] = {}
        self.signals: dict[str, MarketSignal] = {}
        self._streak: dict[str, int] = {}

    def update(self, states: Iterable[SymbolState], detectors: Mapping[tuple[str, str], HasZ],
               t_ns: int) -> list[AlertChange]:
        """One sample: the market alerts it opened, escalated (breadth z past the peak) and closed.

        Each change holds this detector's own alert object, which later samples keep changing.
        """
        d = self.settings.detector
        changes: list[AlertChange] = []
        groups = classify(states, self.settings)
        for asset, (members, _excluded) in groups.items():
            sig = market_signal(members, detectors, self.settings)
            self.signals[asset] = sig
            alert = self.open_alerts.get(asset)
            if alert is None:
                self._streak[asset] = self._streak.get(asset, 0) + 1 if sig.firing else 0
                if self._streak[asset] >= d.consecutive and sig.breadth_z is not None:
                    alert = Alert(MARKET_VENUE, asset, MARKET_DEPTH_SIGNAL, t_ns, sig.breadth_z,
                                  severity(sig.breadth_z, self.settings.detector))
                    self.open_alerts[asset] = alert
                    changes.append(AlertChange(AlertAction.OPEN, alert))
                continue
            holding = market_signal(members, detectors, self.settings, threshold_z=d.close_z)
            if holding.firing and holding.breadth_z is not None:
                if sig.breadth_z is not None and sig.breadth_z < alert.peak_z:
                    alert.peak_z = sig.breadth_z
                    alert.severity = severity(alert.peak_z, self.settings.detector)
                    changes.append(AlertChange(AlertAction.ESCALATE, alert))
            else:
                alert.closed_ns = t_ns
                del self.open_alerts[asset]
                self._streak[asset] = 0
                changes.append(AlertChange(AlertAction.CLOSE, alert))
        for asset in [a for a in self.open_alerts if a not in groups]:
            alert = self.open_alerts.pop(asset)
            alert.closed_ns = t_ns
            changes.append(AlertChange(AlertAction.CLOSE, alert))
        return changes
