"""Detection: per-source behaviour from the flow store -> classified, enriched ``hosts`` rows.

Pipeline (:func:`run_detection`): per-source features (:mod:`.features`: the window's
per-file partial aggregates, :mod:`.partials`, merged by :mod:`.merge`) -> IP data and ISP
registry lookups (:mod:`iotnotice.enrich`) -> research list (:mod:`.research`) -> vectorised
rules (:mod:`.rules`) -> evidence (:mod:`.evidence`) -> bulk replace of ``hosts``.
"""

from __future__ import annotations

from iotnotice.detect.run import DetectionSummary, monitored_addresses, run_detection

__all__ = ["DetectionSummary", "monitored_addresses", "run_detection"]
