import dataclasses
import math
import random

import pytest
import torch

from ddspfx.data.dx7 import (
    CartridgeError,
    Operator,
    Voice,
    ddx7_56_physical,
    init_voice,
    load_presets,
    pack_cartridge,
    read_cartridge,
    select_ddx7_56,
    write_cartridge,
)
from ddspfx.data.errors import DataError
from ddspfx.synths.fm import FMSynth


def wrap(data: bytes, channel: int = 0) -> bytes:
    """Header, 4096 data bytes, checksum, F7 — built by hand from the format sheet."""
    assert len(data) == 4096
    return bytes([0xF0, 0x43, channel, 0x09, 0x20, 0x00]) + data + bytes([(-sum(data)) & 0x7F, 0xF7])


# ----------------------------------------------------------------------------- reading / writing


def random_voice(rng: random.Random, index: int) -> Voice:
    def op():
        return Operator(
            eg_rates=tuple(rng.randint(0, 99) for _ in range(4)),
            eg_levels=tuple(rng.randint(0, 99) for _ in range(4)),
            breakpoint=rng.randint(0, 99), left_depth=rng.randint(0, 99), right_depth=rng.randint(0, 99),
            left_curve=rng.randint(0, 3), right_curve=rng.randint(0, 3), rate_scaling=rng.randint(0, 7),
            detune=rng.randint(0, 14), amp_mod_sensitivity=rng.randint(0, 3),
            key_velocity_sensitivity=rng.randint(0, 7), output_level=rng.randint(0, 99),
            mode=rng.choice(["ratio", "fixed"]), coarse=rng.randint(0, 31), fine=rng.randint(0, 99),
        )

    return Voice(
        operators=tuple(op() for _ in range(6)),
        pitch_eg_rates=tuple(rng.randint(0, 99) for _ in range(4)),
        pitch_eg_levels=tuple(rng.randint(0, 99) for _ in range(4)),
        algorithm=rng.randint(1, 32), feedback=rng.randint(0, 7), osc_key_sync=rng.random() < 0.5,
        lfo_speed=rng.randint(0, 99), lfo_delay=rng.randint(0, 99), lfo_pitch_mod_depth=rng.randint(0, 99),
        lfo_amp_mod_depth=rng.randint(0, 99), lfo_sync=rng.random() < 0.5, lfo_wave=rng.randint(0, 5),
        pitch_mod_sensitivity=rng.randint(0, 7), transpose=rng.randint(0, 48), name=f"VOICE {index:02d}",
    )


def test_round_trip_of_32_varied_voices(tmp_path):
    rng = random.Random(0)
    voices = [random_voice(rng, i) for i in range(32)]
    path = tmp_path / "bank.syx"
    write_cartridge(path, voices, channel=5)
    data = path.read_bytes()
    assert len(data) == 4104 and data[2] == 5 and data[-1] == 0xF7
    assert read_cartridge(path) == voices


def hand_packed_operator(n: int) -> list[int]:
    """Operator n's 17 bytes with field values derived from n, packed per the format sheet."""
    return [
        10 + n, 20 + n, 30 + n, 40 + n,  # EG rates
        50 + n, 60 + n, 70 + n, 80 + n,  # EG levels
        30 + n, n, 2 * n,  # break point, left depth, right depth
        (n % 4) + 4 * ((n + 1) % 4),  # left curve | right curve << 2
        (n % 8) + 8 * (n + 7),  # rate scaling | detune << 3
        (n % 4) + 4 * (7 - n),  # AMS | KVS << 2
        90 + n,  # output level
        (1 if n == 4 else 0) + 2 * (3 * n),  # mode | coarse << 1
        11 * n,  # fine
    ]


def hand_packed_voice() -> bytes:
    ops = [b for n in (6, 5, 4, 3, 2, 1) for b in hand_packed_operator(n)]  # operator 6 first
    glob = [1, 2, 3, 4, 5, 6, 7, 8,  # pitch EG rates, levels
            0b0000100,  # algorithm 5
            0b0001101,  # osc key sync 1, feedback 5
            37, 12, 9, 4,  # LFO speed, delay, PMD, AMD
            0b1011001,  # PMS 5 | wave 4 | sync 1
            17]  # transpose
    return bytes(ops + glob) + b"E.PIANO 1 "


def test_hand_packed_voice_decodes_every_field(tmp_path):
    block = hand_packed_voice()
    assert len(block) == 128
    path = tmp_path / "hand.syx"
    path.write_bytes(wrap(block + pack_cartridge([init_voice()] * 32)[6:6 + 31 * 128], channel=15))
    voice = read_cartridge(path)[0]
    assert voice.name == "E.PIANO 1"
    assert (voice.pitch_eg_rates, voice.pitch_eg_levels) == ((1, 2, 3, 4), (5, 6, 7, 8))
    assert (voice.algorithm, voice.feedback, voice.osc_key_sync) == (5, 5, True)
    assert (voice.lfo_speed, voice.lfo_delay, voice.lfo_pitch_mod_depth, voice.lfo_amp_mod_depth) == (37, 12, 9, 4)
    assert (voice.lfo_sync, voice.lfo_wave, voice.pitch_mod_sensitivity, voice.transpose) == (True, 4, 5, 17)
    for n in range(1, 7):
        op = voice.operators[n - 1]
        assert op.eg_rates == (10 + n, 20 + n, 30 + n, 40 + n)
        assert op.eg_levels == (50 + n, 60 + n, 70 + n, 80 + n)
        assert (op.breakpoint, op.left_depth, op.right_depth) == (30 + n, n, 2 * n)
        assert (op.left_curve, op.right_curve) == (n % 4, (n + 1) % 4)
        assert (op.rate_scaling, op.detune) == (n % 8, n + 7)
        assert (op.amp_mod_sensitivity, op.key_velocity_sensitivity) == (n % 4, 7 - n)
        assert op.output_level == 90 + n
        assert (op.mode, op.coarse, op.fine) == ("fixed" if n == 4 else "ratio", 3 * n, 11 * n)
    assert voice.operators[0].ratio == pytest.approx(3 * 1.11)
    # writing the decoded voice gives back the hand-packed bytes
    assert pack_cartridge([voice])[6:134] == block


def test_literal_bit_positions_of_packed_bytes():
    # operator 6 block: byte 11 = 0b1110 → left curve 2, right curve 3; byte 12 = 0b1010011 →
    # rate scaling 3, detune 10; byte 13 = 0b11001 → AMS 1, KVS 6; byte 15 = 0b0111111 → fixed, coarse 31
    op6 = [0] * 8 + [39, 0, 0, 0b0001110, 0b1010011, 0b0011001, 99, 0b0111111, 0]
    block = bytes(op6) + pack_cartridge([init_voice()])[6 + 17:6 + 128]
    voice = read_cartridge_bytes(block)
    op = voice.operators[5]
    assert (op.left_curve, op.right_curve, op.rate_scaling, op.detune) == (2, 3, 3, 10)
    assert (op.amp_mod_sensitivity, op.key_velocity_sensitivity, op.mode, op.coarse) == (1, 6, "fixed", 31)


def read_cartridge_bytes(block: bytes) -> Voice:
    from ddspfx.data.dx7 import unpack_cartridge

    return unpack_cartridge(wrap(block * 32))[0]


def test_coarse_zero_is_half_ratio():
    assert Operator(coarse=0, fine=0).ratio == 0.5
    assert Operator(coarse=0, fine=50).ratio == 0.75
    assert Operator(coarse=3, fine=50).ratio == 4.5  # fine scales the coarse value
    assert Operator(coarse=2, fine=75).ratio == 3.5


# ----------------------------------------------------------------------------- rejections


@pytest.fixture
def good_bytes():
    return bytearray(pack_cartridge([init_voice()] * 32))


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda b: b[:-1], "expected 4104 bytes.*got 4103"),
        (lambda b: b + b"\x00", "expected 4104 bytes.*got 4105"),
        (lambda b: b[:3] + b"\x00" + b[4:], "not a DX7 32-voice bulk dump"),  # format 0 = single voice
        (lambda b: b"\x41" + b[1:], "not a DX7 32-voice bulk dump"),
        (lambda b: b[:-2] + bytes([(b[-2] + 1) & 0x7F]) + b[-1:], "bad checksum: expected"),
        (lambda b: b[:-1] + b"\x00", "missing end byte F7"),
        (lambda b: b[:100] + b"\x80" + b[101:], "not 7-bit"),
    ],
)
def test_broken_files_are_rejected_with_the_file_name(tmp_path, good_bytes, corrupt, message):
    path = tmp_path / "broken_bank.syx"
    path.write_bytes(bytes(corrupt(good_bytes)))
    with pytest.raises(ValueError, match=message) as info:
        read_cartridge(path)
    assert "broken_bank.syx" in str(info.value)


def test_bad_checksum_message_gives_expected_and_found(tmp_path, good_bytes):
    expected = good_bytes[-2]
    good_bytes[-2] = (expected + 3) & 0x7F
    path = tmp_path / "sum.syx"
    path.write_bytes(bytes(good_bytes))
    with pytest.raises(ValueError, match=f"expected {expected:02X}, found {(expected + 3) & 0x7F:02X}"):
        read_cartridge(path)


@pytest.mark.parametrize(
    "offset, value, field",
    [
        (4 * 17 + 14, 120, "operator 2: output_level = 120"),  # operator 2 is the 5th stored block
        (5 * 17 + 16, 100, "operator 1: fine = 100"),
        (0 * 17 + 12, 15 << 3, "operator 6: detune = 15"),
        (2 * 17 + 1, 127, r"operator 4: eg_rates\[1\] = 127"),
        (116, 6 << 1, "lfo_wave = 6"),
        (117, 49, "transpose = 49"),
    ],
)
def test_out_of_range_fields_name_file_voice_and_field(tmp_path, offset, value, field):
    data = bytearray(pack_cartridge([init_voice()] * 32)[6:-2])
    data[5 * 128 + offset] = value  # voice index 5
    path = tmp_path / "odd.syx"
    path.write_bytes(wrap(bytes(data)))
    with pytest.raises(ValueError, match=field) as info:
        read_cartridge(path)
    assert "odd.syx" in str(info.value) and "voice 5 ('INIT VOICE')" in str(info.value)


def test_any_midi_channel_is_accepted(tmp_path):
    path = tmp_path / "ch.syx"
    path.write_bytes(wrap(pack_cartridge([init_voice()])[6:-2], channel=9))
    assert len(read_cartridge(path)) == 32


def test_invalid_voices_cannot_be_built_or_written(tmp_path):
    with pytest.raises(ValueError, match="output_level"):
        Operator(output_level=100)
    with pytest.raises(ValueError, match="algorithm"):
        init_voice(algorithm=33)
    with pytest.raises(ValueError, match="name"):
        init_voice(name="ELEVEN CHARS")
    with pytest.raises(ValueError, match="32 voices"):
        write_cartridge(tmp_path / "x.syx", [init_voice()] * 33)


# ----------------------------------------------------------------------------- ddx7_56 selection


def ratio_op(ratio: tuple[int, int], level: int, **kw) -> Operator:
    return Operator(output_level=level, coarse=ratio[0], fine=ratio[1], **kw)


def fm_voice(levels=(99, 80, 70, 60, 50, 40), ratios=((1, 0), (2, 0), (1, 0), (2, 75), (1, 0), (0, 0)), **kw):
    """A voice of algorithm 5 without feedback; ratios as (coarse, fine) of operators 1..6."""
    ops = tuple(ratio_op(r, lv) for r, lv in zip(ratios, levels))
    return init_voice(operators=ops, **{"algorithm": 5, "feedback": 0, **kw})


def w_ratio(r: float) -> float:
    return math.log(r / 0.5) / math.log(20.0)


def as_controls(physical, ratio_min=0.5, ratio_max=10.0):
    """FMSynth controls `(n, 9)` of physical values returned by the DX7 conversion."""
    return FMSynth(ratio_min=ratio_min, ratio_max=ratio_max).normalize(**physical)


def ddx7_56_controls(voices, ratio_min=0.5, ratio_max=10.0):
    return as_controls(ddx7_56_physical(voices, ratio_min, ratio_max), ratio_min, ratio_max)


def test_kept_voice_has_exact_physical_values_and_controls():
    sel = select_ddx7_56([fm_voice()])
    assert sel.kept == (0,) and sel.rejected == {}
    assert list(sel.physical) == FMSynth().param_names
    assert all(v.shape == (1,) and v.dtype == torch.float32 for v in sel.physical.values())
    assert [sel.physical[f"level_{n}"].item() for n in range(1, 7)] == [99, 80, 70, 60, 50, 40]
    assert [sel.physical[f"ratio_{n}"].item() for n in (2, 4, 6)] == [2.0, 3.5, 0.5]
    controls = as_controls(sel.physical)
    expected = [99 / 99, 80 / 99, 70 / 99, 60 / 99, 50 / 99, 40 / 99, w_ratio(2), w_ratio(3.5), w_ratio(0.5)]
    assert controls.shape == (1, 9) and controls.dtype == torch.float32
    assert controls[0].tolist() == pytest.approx(expected, abs=1e-7)
    assert w_ratio(2) == pytest.approx(0.462756, abs=1e-6) and w_ratio(0.5) == 0.0
    physical = FMSynth().denormalize(controls)
    assert [physical[f"ratio_{k}"].item() for k in (2, 4, 6)] == pytest.approx([2, 3.5, 0.5], rel=1e-6)


@pytest.mark.parametrize(
    "voice, category",
    [
        (fm_voice(algorithm=1), "algorithm"),
        (fm_voice(algorithm=5, feedback=7), "feedback"),
        (fm_voice(algorithm=6, feedback=3), "feedback"),
        (fm_voice().replace_operator(4, mode="fixed"), "fixed frequency"),
        (fm_voice().replace_operator(3, coarse=2), "carrier ratio"),
        (fm_voice().replace_operator(1, fine=1), "carrier ratio"),
        (fm_voice().replace_operator(6, coarse=12), "ratio range"),
    ],
)
def test_unplayable_voices_are_rejected(voice, category):
    sel = select_ddx7_56([voice])
    assert sel.kept == () and as_controls(sel.physical).shape == (0, 9)
    assert sel.rejected[0].startswith(category + ":")


@pytest.mark.parametrize(
    "voice",
    [
        fm_voice(algorithm=5, feedback=7).replace_operator(6, output_level=0),  # loop op 6 off
        fm_voice(algorithm=6, feedback=7).replace_operator(5, output_level=0),  # loop 6→5 broken
        fm_voice(algorithm=6, feedback=7).replace_operator(6, output_level=0),
        fm_voice().replace_operator(4, mode="fixed", output_level=0),  # fixed but off
        fm_voice().replace_operator(3, coarse=2, output_level=0),  # carrier off at ratio 2
        fm_voice(algorithm=6),
    ],
)
def test_voices_with_inactive_offending_operators_are_kept(voice):
    assert select_ddx7_56([voice]).kept == (0,)


def test_off_modulator_out_of_range_is_kept_with_level_zero_and_clamped_ratio():
    voice = fm_voice().replace_operator(6, coarse=20, output_level=0)  # ratio 20
    assert ddx7_56_physical([voice])["ratio_6"].item() == 10.0
    controls = ddx7_56_controls([voice])
    assert controls.shape == (1, 9)
    assert controls[0, 5].item() == 0.0 and controls[0, 8].item() == pytest.approx(1.0)
    low = fm_voice().replace_operator(2, coarse=0, fine=0, output_level=0)  # 0.5 stays 0.5
    assert ddx7_56_controls([low])[0, 6].item() == 0.0


def test_bounds_are_the_arguments_not_a_running_range():
    ratio3 = fm_voice(ratios=((1, 0), (3, 0), (1, 0), (3, 0), (1, 0), (3, 0)))
    sel = select_ddx7_56([ratio3])
    assert sel.kept == (0,)
    assert as_controls(sel.physical)[0, 6:].tolist() == pytest.approx([0.598104] * 3, abs=1e-6)
    narrow = select_ddx7_56([ratio3], ratio_min=0.5, ratio_max=2.0)
    assert narrow.kept == () and narrow.rejected[0].startswith("ratio range")
    wide = select_ddx7_56([ratio3], ratio_min=0.25, ratio_max=16.0)
    wide_controls = as_controls(wide.physical, ratio_min=0.25, ratio_max=16.0)
    assert wide_controls[0, 6].item() == pytest.approx(math.log(3 / 0.25) / math.log(64), abs=1e-6)


def test_controls_agree_with_a_float64_conversion_to_one_float32_step():
    ratios = [(c, f) for c in range(0, 11) for f in range(0, 100, 7)]
    voices = [fm_voice(ratios=((1, 0), r, (1, 0), r, (1, 0), r), levels=(99, i % 100, 0, 50, 1, 98))
              for i, r in enumerate(ratios)]
    sel = select_ddx7_56(voices)
    reference = {
        f"level_{n}": torch.tensor([float(voices[i].operator(n).output_level) for i in sel.kept], dtype=torch.float64)
        for n in range(1, 7)
    }
    for n in (2, 4, 6):
        reference[f"ratio_{n}"] = torch.tensor([voices[i].operator(n).ratio for i in sel.kept], dtype=torch.float64)
    expected = as_controls(reference).clamp(0, 1).float()
    torch.testing.assert_close(as_controls(sel.physical), expected, atol=1.2e-7, rtol=0)


def test_duplicates_after_conversion_are_removed_keeping_the_first():
    a = fm_voice(name="FIRST")
    b = dataclasses.replace(a, name="SECOND", lfo_speed=80).replace_operator(1, eg_rates=(1, 2, 3, 4))
    c = fm_voice(levels=(99, 80, 70, 60, 50, 41))
    d = fm_voice(algorithm=6)  # algorithms 5 and 6 without feedback are the same synth
    sel = select_ddx7_56([a, b, c, d])
    assert sel.kept == (0, 2)
    assert sel.rejected == {1: "duplicate: of voice 0", 3: "duplicate: of voice 0"}
    assert sel.reason_counts() == {"duplicate": 2}


def test_load_presets_concatenates_and_deduplicates_across_files(tmp_path):
    write_cartridge(tmp_path / "a.syx", [fm_voice(), fm_voice(algorithm=1)])
    write_cartridge(tmp_path / "b.SYX", [fm_voice(), fm_voice(levels=(99, 0, 99, 0, 99, 0))])
    with pytest.warns(UserWarning) as record:
        physical = load_presets([tmp_path / "a.syx", tmp_path / "b.SYX"])
    messages = [str(w.message) for w in record]  # one line per cartridge, rejections counted by reason
    assert messages == [
        f"load_presets: {tmp_path / 'a.syx'}: kept 1 of 32 voices; rejected 31: algorithm 31",
        f"load_presets: {tmp_path / 'b.SYX'}: kept 1 of 32 voices; rejected 31: algorithm 30, duplicate 1",
    ]
    expected = ddx7_56_physical([fm_voice(), fm_voice(levels=(99, 0, 99, 0, 99, 0))])
    assert list(physical) == list(expected)
    assert all(torch.equal(physical[k], expected[k]) and physical[k].dtype == torch.float32 for k in expected)
    with pytest.warns(UserWarning):
        from_dir = load_presets(tmp_path)  # a directory: its .syx files, sorted
    assert all(torch.equal(from_dir[k], physical[k]) for k in physical)


def test_load_presets_without_playable_voices_raises(tmp_path):
    write_cartridge(tmp_path / "none.syx", [init_voice()])
    with pytest.raises(CartridgeError, match="no playable voice.*algorithm 32"):
        load_presets(tmp_path / "none.syx")
    with pytest.raises(DataError, match="no .syx file"):
        load_presets([])


def test_load_presets_raises_on_a_malformed_file_unless_told_to_skip_it(tmp_path):
    write_cartridge(tmp_path / "good.syx", [fm_voice()])
    (tmp_path / "short.syx").write_bytes(b"\xf0\x43\x00\x09\x20\x00\xf7")
    files = [tmp_path / "short.syx", tmp_path / "good.syx"]
    with pytest.raises(CartridgeError, match="short.syx: expected 4104 bytes"):
        load_presets(files)
    with pytest.warns(UserWarning) as record:
        physical = load_presets(files, skip_invalid=True)
    assert as_controls(physical).shape == (1, 9)
    messages = [str(w.message) for w in record]
    assert any("skipped" in m and "short.syx" in m for m in messages)
    assert any("good.syx: kept 1 of 32 voices" in m for m in messages)
