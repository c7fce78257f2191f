"""Real DX7 cartridges (issue 9, item 4): counts per cartridge, one-line errors, the demo bank."""

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddspfx.data.dx7 import (
    FILE_BYTES,
    CartridgeError,
    N_VOICES,
    init_voice,
    load_presets,
    pack_cartridge,
    read_cartridge,
    select_ddx7_56,
    write_cartridge,
)
from ddspfx.data.errors import DataError
from ddspfx.synths.fm import FMSynth

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("make_demo_cartridge", ROOT / "scripts" / "make_demo_cartridge.py")
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)


def factory_like_bank(path, n_feedback: int = 5):
    """A ROM1A-like bank: 27 voices of other algorithms, `n_feedback` of algorithm 5 with feedback."""
    voices = [init_voice(algorithm=1 + i % 4 * 7, name=f"OTHER {i}") for i in range(N_VOICES - n_feedback)]
    good = demo.demo_voices(seed=1, n=n_feedback)
    voices += [dataclasses.replace(v.replace_operator(6, output_level=80), feedback=7) for v in good]
    write_cartridge(path, voices)
    return path


def messages_of(record):
    return [str(w.message) for w in record]


def test_factory_like_banks_give_one_error_line_with_the_counts(tmp_path):
    banks = [factory_like_bank(tmp_path / "rom1a.syx"), factory_like_bank(tmp_path / "rom1b.syx")]
    with pytest.warns(UserWarning) as record, pytest.raises(CartridgeError) as caught:
        load_presets(banks)
    assert messages_of(record) == [
        f"load_presets: {b}: kept 0 of 32 voices; rejected 32: algorithm 27, feedback 5" for b in banks
    ]
    message = str(caught.value)
    assert isinstance(caught.value, DataError) and "\n" not in message
    assert "no playable voice in 2 cartridge(s) (64 voices rejected: algorithm 54, feedback 10)" in message
    assert "make_demo_cartridge.py" in message


def test_a_factory_bank_next_to_a_playable_one_is_counted_not_an_error(tmp_path):
    bad = factory_like_bank(tmp_path / "rom1a.syx")
    good = tmp_path / "demo.syx"
    write_cartridge(good, demo.demo_voices(seed=0))
    with pytest.warns(UserWarning) as record:
        physical = load_presets([bad, good])
    assert messages_of(record) == [
        f"load_presets: {bad}: kept 0 of 32 voices; rejected 32: algorithm 27, feedback 5",
        f"load_presets: {good}: kept 32 of 32 voices",
    ]
    assert FMSynth().normalize(**physical).shape == (32, 9)


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        (lambda data: data[:100], r"x\.syx: expected 4104 bytes"),
        (lambda data: data[:-2] + bytes([(data[-2] + 1) & 0x7F, 0xF7]), r"x\.syx: bad checksum"),
        (lambda data: None, r"x\.syx: unreadable cartridge"),
    ],
)
def test_cartridge_errors_are_one_line_naming_the_file(tmp_path, corrupt, expected):
    path = tmp_path / "x.syx"
    data = corrupt(pack_cartridge(demo.demo_voices()))
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(CartridgeError, match=expected) as caught:
        load_presets([path])
    assert "\n" not in str(caught.value) and isinstance(caught.value, DataError)


def test_a_field_out_of_range_names_file_voice_and_field(tmp_path):
    data = bytearray(pack_cartridge(demo.demo_voices()))
    data[6 + 3 * 128 + 5 * 17 + 14] = 120  # voice 3, operator 1 (stored last of six), output level
    data[-2] = -sum(data[6:6 + 4096]) & 0x7F
    path = tmp_path / "field.syx"
    path.write_bytes(bytes(data))
    with pytest.raises(CartridgeError) as caught:
        read_cartridge(path)
    assert str(caught.value) == f"{path}: voice 3 ('DEMO 04'): operator 1: output_level = 120, expected an integer in 0..99"


def test_demo_voices_are_all_playable_and_distinct():
    for algorithm in (5, 6):
        voices = demo.demo_voices(seed=3, algorithm=algorithm)
        selection = select_ddx7_56(voices)
        assert len(voices) == N_VOICES and selection.kept == tuple(range(N_VOICES)) and not selection.rejected
        controls = FMSynth().normalize(**selection.physical)
        assert torch.isfinite(controls).all() and (controls >= 0).all() and (controls <= 1).all()
    assert demo.demo_voices(seed=3) == demo.demo_voices(seed=3)


def test_demo_script_writes_a_bank_the_reader_keeps_whole(tmp_path):
    path = tmp_path / "banks" / "ddx7_56_demo.syx"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_demo_cartridge.py"), str(path)],
        capture_output=True, text=True, check=True,
    )
    assert "32 playable" in done.stdout and path.stat().st_size == FILE_BYTES
    with pytest.warns(UserWarning, match="kept 32 of 32 voices"):
        assert FMSynth().normalize(**load_presets([path])).shape == (32, 9)
