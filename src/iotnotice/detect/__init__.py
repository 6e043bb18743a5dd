"""Detection: per-source behaviour from the flow store -> classified, enriched ``hosts`` rows.

Pipeline (:func:`run_detection`): per-source features (:mod:`.features`: the window's
per-file partial aggregates and day rollups, :mod:`.partials` and :mod:`.rollups`, merged by
:mod:`.merge`, chunk by chunk through :mod:`.pipeline`) -> IP data and ISP registry lookups
(:mod:`iotnotice.enrich`) -> research list (:mod:`.research`) -> vectorised rules
(:mod:`.rules`) -> evidence (:mod:`.evidence`) -> ``hosts`` replaced in one transaction, a
chunk at a time (:mod:`.hosts`), while the next chunks are merged.
"""

from __future__ import annotations

from iotnotice.detect.run import DetectionSummary, monitored_addresses, run_detection

__all__ = ["DetectionSummary", "monitored_addresses", "run_detection"]
