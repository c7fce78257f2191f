import pytest

from ddspfx.synths import FMSynth, Synth
from ddspfx.synths.registry import SYNTHS, build_synth, known_synths


def test_every_registered_synth_is_a_synth():
    assert known_synths() == list(SYNTHS) and "fm" in known_synths()
    assert all(issubclass(cls, Synth) for cls in SYNTHS.values())


def test_build_passes_the_constructor_arguments():
    synth = build_synth("fm", sample_rate=8000, duration=0.1, f0=220.0)
    assert isinstance(synth, FMSynth)
    assert (synth.sample_rate, synth.n_samples, synth.f0) == (8000, 800, 220.0)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown synth 'dx9'.*'fm'"):
        build_synth("dx9")
