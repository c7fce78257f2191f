"""Effect keys (the reference's `--sfx`/`--afx`, `experiment.fx`) → constructors, and chains of them.

Each key names a class, fixed constructor arguments (a preset) and a category. Classes are
imported only when their key is used, so a key whose module is missing fails alone.

| key | effect | category |
|---|---|---|
| peq | ParametricEQ(preset="icassp") | eq |
| peq5 | ParametricEQ(preset="taslp5") | eq |
| geq | GraphicEQ | eq |
| comp | Compressor | dynamics |
| compsimple | SimpleCompressor | dynamics |
| compproxy | ProxyCompressor | dynamics |
| comphybrid | HybridCompressor | dynamics |
| limiter | SoftClipper(preset="limiter") | dynamics |
| dist | HardnessClipper | distortion |
| taylor | TaylorDistortion | distortion |
| chebyshev | ChebyshevDistortion | distortion |
| softclip | SoftClipper(preset="analysis") | distortion |
| gain (alias vol) | Gain | gain |
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ddspfx.effects.chain import FXChain, unique_names

CATEGORY_ORDER = ("eq", "dynamics", "distortion")  # the order of a "_"-joined spec
GAIN = "gain"


@dataclass(frozen=True)
class EffectEntry:
    """Where a key's class lives, the arguments its key fixes, and its category."""

    module: str
    cls: str
    category: str
    preset: dict[str, Any] = field(default_factory=dict)

    def load(self):
        return getattr(importlib.import_module(self.module), self.cls)


_EQ, _DYN, _DIST = "ddspfx.effects.eq", "ddspfx.effects.dynamics", "ddspfx.effects.distortion"
_PROXY, _GAIN = "ddspfx.effects.proxy", "ddspfx.effects.gain"

REGISTRY: dict[str, EffectEntry] = {
    "peq": EffectEntry(_EQ, "ParametricEQ", "eq", {"preset": "icassp"}),
    "peq5": EffectEntry(_EQ, "ParametricEQ", "eq", {"preset": "taslp5"}),
    "geq": EffectEntry(_EQ, "GraphicEQ", "eq"),
    "comp": EffectEntry(_DYN, "Compressor", "dynamics"),
    "compsimple": EffectEntry(_DYN, "SimpleCompressor", "dynamics"),
    "compproxy": EffectEntry(_PROXY, "ProxyCompressor", "dynamics"),
    "comphybrid": EffectEntry(_PROXY, "HybridCompressor", "dynamics"),
    "limiter": EffectEntry(_DYN, "SoftClipper", "dynamics", {"preset": "limiter"}),
    "dist": EffectEntry(_DIST, "HardnessClipper", "distortion"),
    "taylor": EffectEntry(_DIST, "TaylorDistortion", "distortion"),
    "chebyshev": EffectEntry(_DIST, "ChebyshevDistortion", "distortion"),
    "softclip": EffectEntry(_DYN, "SoftClipper", "distortion", {"preset": "analysis"}),
    "gain": EffectEntry(_GAIN, "Gain", GAIN),
}
ALIASES = {"vol": "gain"}


def known_keys() -> list[str]:
    """Every key `build_effect` accepts, aliases included."""
    return list(REGISTRY) + list(ALIASES)


def canonical_key(key: str) -> str:
    """Resolve an alias (`vol` → `gain`). Raises ValueError for an unknown key, listing the known ones."""
    key = ALIASES.get(key, key)
    if key not in REGISTRY:
        raise ValueError(f"unknown effect key {key!r}; known keys are {known_keys()}")
    return key


def effect_category(key: str) -> str:
    """`eq`, `dynamics`, `distortion` or `gain`."""
    return REGISTRY[canonical_key(key)].category


def build_effect(key: str, sample_rate: float, **options):
    """Build the effect of `key` at `sample_rate` (Hz).

    `options` go to the constructor and override the key's preset (e.g. `preset=`, `ranges=`).

    Raises:
        ValueError: unknown key.
        ImportError: the module of that effect cannot be imported.
    """
    entry = REGISTRY[canonical_key(key)]
    try:
        cls = entry.load()
    except (ImportError, AttributeError) as err:
        raise ImportError(f"effect key {key!r} needs {entry.module}.{entry.cls}: {err}") from err
    return cls(sample_rate, **{**entry.preset, **options})


def parse_spec(spec: str | Sequence[str]) -> list[str]:
    """The keys of a chain spec, in the order they will be applied.

    A list (or tuple) of keys is kept as given, repeats included. A string is split on "_" and
    sorted stably by category, EQ → dynamics → distortion, as the reference's `--sfx`/`--afx`.
    A gain key is a trim on the effect before it and moves with it (it takes that effect's
    category); a gain at the start of the string is an input gain and stays first.
    e.g. "dist_vol_peq_comp" → ["peq", "comp", "dist", "vol"].

    Raises:
        ValueError: empty spec or unknown key.
    """
    if isinstance(spec, str):
        keys = [k for k in spec.split("_") if k]
        ranked = _rank_keys(keys)
        keys = [key for _, key in sorted(ranked, key=lambda pair: pair[0])]
    else:
        keys = [str(k) for k in spec]
        for key in keys:
            canonical_key(key)
    if not keys:
        raise ValueError(f"empty effect chain spec {spec!r}; known keys are {known_keys()}")
    return keys


def _rank_keys(keys: list[str]) -> list[tuple[int, str]]:
    """(rank, key) pairs: the category's place in CATEGORY_ORDER; a gain takes its predecessor's (−1 first)."""
    ranked, previous = [], -1
    for key in keys:
        category = effect_category(key)
        rank = previous if category == GAIN else CATEGORY_ORDER.index(category)
        ranked.append((rank, key))
        previous = rank
    return ranked


def _canonical_options(options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Options keyed by canonical key (so `vol` and `gain` share them)."""
    merged: dict[str, dict[str, Any]] = {}
    for key, kwargs in (options or {}).items():
        merged.setdefault(canonical_key(key), {}).update(dict(kwargs))
    return merged


def build_chain(
    spec: str | Sequence[str],
    sample_rate: float,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    normalize: str | None = "peak",
) -> FXChain:
    """Build an FXChain from a spec (see `parse_spec`).

    e.g. `build_chain("peq_comp_dist", 44100)` or, for the TASLP synthesis chain,
    `build_chain(["peq5", "comp", "limiter", "peq5", "softclip"], 16000)`.

    Members are named after their keys as written (`vol` stays `vol`); repeated keys become
    `key_1`, `key_2`, … in order.

    Args:
        spec: "_"-joined keys (reordered by category) or a list of keys (kept in order).
        sample_rate: Hz, for every member.
        options: key → constructor kwargs, applied to every use of that key,
            e.g. `{"peq": {"method": "exact"}}`.
        normalize: "peak" or None, see FXChain.

    Raises:
        ValueError: empty spec, unknown key in the spec or in `options`.
    """
    keys = parse_spec(spec)
    kwargs = _canonical_options(options)
    effects = {
        name: build_effect(key, sample_rate, **kwargs.get(canonical_key(key), {}))
        for name, key in zip(unique_names(keys), keys)
    }
    return FXChain(effects, normalize=normalize)
