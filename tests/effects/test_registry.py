import pytest
import torch

from ddspfx.effects import registry
from ddspfx.effects.chain import FXChain
from ddspfx.effects.distortion import ChebyshevDistortion, HardnessClipper, TaylorDistortion
from ddspfx.effects.gain import Gain
from ddspfx.effects.registry import (
    EffectEntry,
    build_chain,
    build_effect,
    effect_category,
    known_keys,
    parse_spec,
)

SR = 16000
pytestmark = [  # expected warnings: top PEQ bands narrowed below 0.46·fs, untrained proxy weights
    pytest.mark.filterwarnings("ignore:ParametricEQ. range"),
    pytest.mark.filterwarnings("ignore:ProxyCompressor has random"),
]
ALL_KEYS = [
    "peq", "peq5", "geq", "comp", "compsimple", "compproxy", "comphybrid",
    "dist", "taylor", "chebyshev", "gain", "vol", "softclip", "limiter",
]
# key → (modules the effect needs, number of controls)
EXPECTED = {
    "peq": (["eq"], 15), "peq5": (["eq"], 15), "geq": (["eq"], 10),
    "comp": (["dynamics"], 6), "compsimple": (["dynamics"], 5), "softclip": (["dynamics"], 2),
    "limiter": (["dynamics"], 2), "compproxy": (["proxy"], 6), "comphybrid": (["proxy", "dynamics"], 6),
    "dist": ([], 3), "taylor": ([], 24), "chebyshev": ([], 24), "gain": ([], 1), "vol": ([], 1),
}


def needs(*modules):
    """Skip until the modules written in parallel exist; return the last one."""
    return [pytest.importorskip(f"ddspfx.effects.{m}") for m in modules][-1] if modules else None


def test_known_keys_and_categories():
    assert sorted(known_keys()) == sorted(ALL_KEYS)
    assert {k: effect_category(k) for k in ("peq5", "geq", "comp", "limiter", "dist", "softclip", "vol")} == {
        "peq5": "eq", "geq": "eq", "comp": "dynamics", "limiter": "dynamics",
        "dist": "distortion", "softclip": "distortion", "vol": "gain",
    }


@pytest.mark.parametrize(
    "spec, keys",
    [
        ("dist_peq", ["peq", "dist"]),
        ("peq_comp_dist", ["peq", "comp", "dist"]),
        ("taylor_comphybrid_geq", ["geq", "comphybrid", "taylor"]),
        ("dist_vol_peq_comp", ["peq", "comp", "dist", "vol"]),  # a gain follows the effect before it
        ("vol_dist_peq", ["vol", "peq", "dist"]),  # a leading gain stays first
        ("comp_peq_comp", ["peq", "comp", "comp"]),
    ],
)
def test_string_spec_is_sorted_by_category(spec, keys):
    assert parse_spec(spec) == keys


def test_list_spec_keeps_order_and_repeats():
    spec = ["peq5", "vol", "compsimple", "vol", "compsimple", "peq5", "vol", "softclip"]
    assert parse_spec(spec) == spec
    assert parse_spec(("dist", "peq")) == ["dist", "peq"]


@pytest.mark.parametrize("spec", ["", "_", [], ()])
def test_empty_spec(spec):
    with pytest.raises(ValueError, match="empty"):
        parse_spec(spec)


@pytest.mark.parametrize("spec", ["peq_reverb", ["dist", "reverb"]])
def test_unknown_key_lists_known_keys(spec):
    with pytest.raises(ValueError, match="'reverb'") as err:
        build_chain(spec, SR)
    assert all(key in str(err.value) for key in ALL_KEYS)
    with pytest.raises(ValueError, match="known keys"):
        build_effect("reverb", SR)


def test_chain_of_own_effects_with_options():
    chain = build_chain(
        ["taylor", "vol", "taylor", "dist"], SR,
        options={"taylor": {"order": 3}, "dist": {"ranges": {"drive_db": [0.0, 6.0]}}},
        normalize=None,
    )
    assert isinstance(chain, FXChain) and chain.input_norm is None
    assert chain.member_names == ["taylor_1", "vol", "taylor_2", "dist"]
    assert [type(m) for m in chain.members.values()] == [TaylorDistortion, Gain, TaylorDistortion, HardnessClipper]
    assert chain.members["taylor_1"].order == chain.members["taylor_2"].order == 3
    assert chain.n_params == 3 + 1 + 3 + 3
    assert chain.denormalize(torch.ones(1, 10))["dist.drive_db"].item() == pytest.approx(6.0)
    assert chain(torch.randn(2, 32), torch.rand(2, 10)).shape == (2, 32)


def test_string_chain_of_own_effects():
    chain = build_chain("chebyshev_gain", SR, options={"vol": {"ranges": {"gain_db": [-1, 1]}}})
    assert chain.member_names == ["chebyshev", "gain"]
    assert isinstance(chain.members["chebyshev"], ChebyshevDistortion) and chain.sample_rate == SR
    assert chain.members["gain"].params[0].max == 1.0  # options given for the alias reach the canonical key


def test_unknown_option_key():
    with pytest.raises(ValueError, match="'reverb'"):
        build_chain("dist", SR, options={"reverb": {}})


class Spy:
    """Stands in for an effect class: records its constructor arguments."""

    calls = []

    def __init__(self, sample_rate, **kwargs):
        Spy.calls.append((sample_rate, kwargs))


def test_options_override_the_key_preset(monkeypatch):
    monkeypatch.setitem(registry.REGISTRY, "peq", EffectEntry(__name__, "Spy", "eq", {"preset": "icassp"}))
    Spy.calls.clear()
    build_effect("peq", 44100)
    build_effect("peq", 44100, method="exact", preset="taslp5")
    assert Spy.calls == [(44100, {"preset": "icassp"}), (44100, {"preset": "taslp5", "method": "exact"})]


def test_missing_module_fails_only_for_its_key(monkeypatch):
    missing = EffectEntry("ddspfx.effects.no_such_module", "GraphicEQ", "eq")
    monkeypatch.setitem(registry.REGISTRY, "geq", missing)
    with pytest.raises(ImportError, match="'geq'"):
        build_effect("geq", SR)
    assert isinstance(build_effect("dist", SR), HardnessClipper)


@pytest.mark.parametrize("key", ALL_KEYS)
def test_every_key_builds(key):
    modules, n_params = EXPECTED[key]
    needs(*modules)
    effect = build_effect(key, 44100)  # at 16 kHz the EQs narrow or drop their top bands
    assert effect.n_params == n_params
    assert effect.sample_rate == 44100


def test_presets_reach_the_constructors():
    eq = needs("eq")
    dynamics = needs("dynamics")
    peq, peq5 = build_effect("peq", 44100), build_effect("peq5", 44100)
    assert (peq.preset, peq5.preset) == ("icassp", "taslp5")
    assert isinstance(build_effect("geq", 44100), eq.GraphicEQ)
    assert build_effect("peq", 44100, method="exact").method == "exact"
    limiter, softclip = build_effect("limiter", SR), build_effect("softclip", SR)
    assert isinstance(limiter, dynamics.SoftClipper) and isinstance(softclip, dynamics.SoftClipper)
    assert limiter.params != softclip.params  # the two presets differ in their ranges


def test_icassp_chain_with_real_effects():
    eq = needs("eq")
    needs("dynamics")
    chain = build_chain("dist_comp_peq", 44100, options={"peq": {"method": "exact"}})
    assert chain.member_names == ["peq", "comp", "dist"]
    assert isinstance(chain.members["peq"], eq.ParametricEQ) and chain.members["peq"].method == "exact"
    assert chain.n_params == 15 + 6 + 3
    assert chain.param_names[-3:] == ["dist.drive_db", "dist.offset", "dist.hardness"]
    torch.manual_seed(0)
    audio = torch.randn(2, 4096)
    out = chain(audio, torch.rand(2, chain.n_params))
    assert out.shape == audio.shape and torch.isfinite(out).all()


def test_taslp_chains_with_real_effects():
    needs("eq")
    needs("dynamics")
    synthesis = build_chain(["peq5", "comp", "limiter", "peq5", "softclip"], SR)
    assert synthesis.member_names == ["peq5_1", "comp", "limiter", "peq5_2", "softclip"]
    assert synthesis.n_params == 15 + 6 + 2 + 15 + 2
    analysis = build_chain(["peq5", "vol", "compsimple", "vol", "compsimple", "peq5", "vol", "softclip"], SR)
    assert analysis.n_params == 15 + 1 + 5 + 1 + 5 + 15 + 1 + 2
    audio = torch.randn(2, SR // 4)
    for chain in (synthesis, analysis):
        out = chain(audio, torch.rand(2, chain.n_params))
        assert out.shape == audio.shape and torch.isfinite(out).all()


def test_chain_train_eval_reach_the_hybrid_compressor():
    needs("proxy", "dynamics")
    chain = build_chain("comphybrid_dist", 44100)
    assert chain.member_names == ["comphybrid", "dist"]
    chain.eval()
    assert not any(module.training for module in chain.modules())
    chain.train()
    assert chain.members["comphybrid"].training
