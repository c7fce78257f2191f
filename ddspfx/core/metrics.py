"""Metric declarations: what a task's metrics are called, which way is better, which table shows them.

A task declares its evaluation metrics as `MetricSpec`s (`Task.metric_specs()`); `evaluate.py`
writes the declarations beside the values in `metrics.json` and `scripts/results.py` builds its
tables from them, for any task. This module holds the one "is higher better?" rule.

Metric names are lower snake case; derived names carry a prefix path: `best_of_5/mel` is the best
of 5 posterior samples scored with `mel`, `map/mel` the MAP estimate's `mel`. A derived metric is
better in the same direction as its base (the part after the last "/").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Sequence

MAIN_TABLE = "main"


@dataclass(frozen=True)
class MetricSpec:
    """One evaluation metric.

    Attributes:
        name: the key in `metrics.json` (e.g. "mel", "si_sdr", "best_of_5/mel", "h_kl").
        higher_is_better: the direction of "better": False (lower is better, the default), True,
            or None for a diagnostic with no better direction (entropies, distances to a prior):
            tables show it but never mark a best value.
        table: the results table it belongs to ("main"; "posterior" for best-of-N, MAP,
            consistency and entropy diagnostics; any other name makes another table).
        unit: shown in table headers where not empty (e.g. "dB", "nats").
        description: one line for readers of `metrics.json`.
    """

    name: str
    higher_is_better: bool | None = False
    table: str = MAIN_TABLE
    unit: str = ""
    description: str = ""

    def derive(self, prefix: str, table: str | None = None, description: str = "") -> "MetricSpec":
        """The spec of `<prefix>/<name>`, better in the same direction (e.g. `best_of_5/mel`)."""
        return MetricSpec(f"{prefix}/{self.name}", self.higher_is_better, table or self.table, self.unit, description)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping) -> "MetricSpec":
        known = {"name", "higher_is_better", "table", "unit", "description"}
        return cls(**{k: v for k, v in values.items() if k in known})


def base_name(name: str) -> str:
    """The metric a derived name is computed with: `best_of_5/si_sdr` → `si_sdr`."""
    return name.rsplit("/", 1)[-1]


def higher_is_better(name: str, specs: Iterable[MetricSpec] | Mapping[str, MetricSpec]) -> bool | None:
    """Whether a larger value of metric `name` is better (None: neither), from the declarations `specs`.

    An exact declaration wins; otherwise a derived name follows its declared base metric.

    Raises:
        KeyError: neither `name` nor its base metric is declared.
    """
    table = specs if isinstance(specs, Mapping) else {s.name: s for s in specs}
    if name in table:
        return table[name].higher_is_better
    if base_name(name) in table:
        return table[base_name(name)].higher_is_better
    raise KeyError(f"metric {name!r} is not declared; declared: {sorted(table)}")


def spec_table(specs: Sequence[MetricSpec]) -> dict[str, MetricSpec]:
    """`{name: spec}`; ValueError on a name declared twice."""
    table: dict[str, MetricSpec] = {}
    for spec in specs:
        if spec.name in table:
            raise ValueError(f"metric {spec.name!r} is declared twice")
        table[spec.name] = spec
    return table
