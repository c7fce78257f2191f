"""Yamaha DX7 cartridges (32-voice bulk dumps) and the real-preset test set of "ddx7_56" (reference A.3).

File format (4104 bytes): header ``F0 43 0n 09 20 00`` (n = MIDI channel 0–15), 4096 data bytes =
32 packed voices of 128 bytes, a checksum byte ``(−Σ data) & 0x7F``, and the end byte ``F7``.

Packed voice (128 bytes): six 17-byte operator blocks stored operator 6 first down to operator 1,
then the global block::

    op  0–3 EG rates 1–4   4–7 EG levels 1–4   8 break point   9 left depth   10 right depth
        11 left curve | right curve << 2       12 rate scaling | detune << 3
        13 amp mod sens | key velocity sens << 2                14 output level
        15 osc mode | freq coarse << 1         16 freq fine
    102–105 pitch EG rates 1–4   106–109 pitch EG levels 1–4   110 algorithm − 1 (bits 0–4)
    111 feedback (bits 0–2) | osc key sync << 3   112 LFO speed   113 LFO delay   114 LFO PMD
    115 LFO AMD   116 LFO sync | wave << 1 | pitch mod sensitivity << 4   117 transpose
    118–127 voice name (10 ASCII characters)

Unused high bits of packed bytes are ignored. Voices and operators are numbered as on the DX7:
``Voice.operators[0]`` is operator 1; voice indices in messages are 0-based positions in the file.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import torch

from ddspfx.data.errors import DataError

N_VOICES = 32
N_OPERATORS = 6
VOICE_BYTES = 128
OPERATOR_BYTES = 17
GLOBAL_OFFSET = N_OPERATORS * OPERATOR_BYTES  # 102
HEADER = bytes([0xF0, 0x43, 0x00, 0x09, 0x20, 0x00])  # byte 2 holds the MIDI channel
DATA_BYTES = N_VOICES * VOICE_BYTES  # 4096
FILE_BYTES = len(HEADER) + DATA_BYTES + 2  # 4104
END = 0xF7
NAME_LENGTH = 10
MODES = ("ratio", "fixed")  # osc mode bit 0 / 1


class CartridgeError(DataError):
    """A .syx file that cannot be used: unreadable, not a DX7 32-voice bulk dump, bad checksum, a
    field out of range, or no playable voice. The message is one line naming the file (and the
    voice, 0-based, and field where there is one)."""


def _check_range(name: str, value, hi: int, lo: int = 0) -> None:
    """Raise ValueError unless `value` is an int in [lo, hi] (bools are not accepted)."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} = {value!r}, expected an integer in {lo}..{hi}")


def _check_quad(name: str, values) -> tuple[int, int, int, int]:
    """Four EG values, each 0–99, as a tuple."""
    values = tuple(values)
    if len(values) != 4:
        raise ValueError(f"{name} must have 4 values, got {len(values)}")
    for i, v in enumerate(values):
        _check_range(f"{name}[{i}]", v, 99)
    return values


def _check_flag(name: str, value) -> bool:
    if value not in (0, 1):  # True/False compare equal to 1/0
        raise ValueError(f"{name} = {value!r}, expected 0/1 or a bool")
    return bool(value)


_OPERATOR_RANGES = {
    "breakpoint": 99, "left_depth": 99, "right_depth": 99, "left_curve": 3, "right_curve": 3,
    "rate_scaling": 7, "detune": 14, "amp_mod_sensitivity": 3, "key_velocity_sensitivity": 7,
    "output_level": 99, "coarse": 31, "fine": 99,
}


@dataclass(frozen=True)
class Operator:
    """One DX7 operator, in the DX7's own integer units (validated on construction).

    eg_rates, eg_levels: 4 values each, 0–99. breakpoint: 0–99 (39 = C3). left_depth, right_depth:
    0–99. left_curve, right_curve: 0–3 (−LIN, −EXP, +EXP, +LIN). rate_scaling: 0–7. detune: 0–14
    (7 = none). amp_mod_sensitivity: 0–3. key_velocity_sensitivity: 0–7. output_level: 0–99
    (0 = switched off here). mode: "ratio" or "fixed". coarse: 0–31. fine: 0–99.
    """

    eg_rates: tuple[int, int, int, int] = (99, 99, 99, 99)
    eg_levels: tuple[int, int, int, int] = (99, 99, 99, 0)
    breakpoint: int = 39
    left_depth: int = 0
    right_depth: int = 0
    left_curve: int = 0
    right_curve: int = 0
    rate_scaling: int = 0
    detune: int = 7
    amp_mod_sensitivity: int = 0
    key_velocity_sensitivity: int = 0
    output_level: int = 0
    mode: str = "ratio"
    coarse: int = 1
    fine: int = 0

    def __post_init__(self):
        object.__setattr__(self, "eg_rates", _check_quad("eg_rates", self.eg_rates))
        object.__setattr__(self, "eg_levels", _check_quad("eg_levels", self.eg_levels))
        for name, hi in _OPERATOR_RANGES.items():
            _check_range(name, getattr(self, name), hi)
        if self.mode not in MODES:
            raise ValueError(f"mode = {self.mode!r}, expected one of {MODES}")

    @property
    def ratio(self) -> float:
        """Frequency ratio of a ratio-mode operator: (0.5 if coarse == 0 else coarse)·(1 + fine/100)."""
        return (0.5 if self.coarse == 0 else float(self.coarse)) * (1.0 + self.fine / 100.0)

    @property
    def is_on(self) -> bool:
        """A cartridge has no operator switch: an operator at output level 0 counts as off."""
        return self.output_level > 0


_VOICE_RANGES = {
    "algorithm": (1, 32), "feedback": (0, 7), "lfo_speed": (0, 99), "lfo_delay": (0, 99),
    "lfo_pitch_mod_depth": (0, 99), "lfo_amp_mod_depth": (0, 99), "lfo_wave": (0, 5),
    "pitch_mod_sensitivity": (0, 7), "transpose": (0, 48),
}


@dataclass(frozen=True)
class Voice:
    """One DX7 voice (validated on construction).

    operators: 6 `Operator`s, index 0 = operator 1. pitch_eg_rates, pitch_eg_levels: 4 values,
    0–99 (level 50 = no pitch shift). algorithm: 1–32. feedback: 0–7. osc_key_sync, lfo_sync:
    bool. lfo_speed, lfo_delay, lfo_pitch_mod_depth, lfo_amp_mod_depth: 0–99. lfo_wave: 0–5
    (triangle, saw down, saw up, square, sine, sample & hold). pitch_mod_sensitivity: 0–7.
    transpose: 0–48 semitones (24 = none, i.e. C3). name: up to 10 ASCII characters (trailing
    spaces are dropped on reading and added on writing).
    """

    operators: tuple[Operator, ...] = field(default_factory=lambda: (Operator(output_level=99),) + (Operator(),) * 5)
    pitch_eg_rates: tuple[int, int, int, int] = (99, 99, 99, 99)
    pitch_eg_levels: tuple[int, int, int, int] = (50, 50, 50, 50)
    algorithm: int = 1
    feedback: int = 0
    osc_key_sync: bool = True
    lfo_speed: int = 35
    lfo_delay: int = 0
    lfo_pitch_mod_depth: int = 0
    lfo_amp_mod_depth: int = 0
    lfo_sync: bool = True
    lfo_wave: int = 0
    pitch_mod_sensitivity: int = 3
    transpose: int = 24
    name: str = "INIT VOICE"

    def __post_init__(self):
        ops = tuple(self.operators)
        if len(ops) != N_OPERATORS or not all(isinstance(op, Operator) for op in ops):
            raise ValueError(f"operators must be {N_OPERATORS} Operator objects, got {len(ops)} items")
        object.__setattr__(self, "operators", ops)
        object.__setattr__(self, "pitch_eg_rates", _check_quad("pitch_eg_rates", self.pitch_eg_rates))
        object.__setattr__(self, "pitch_eg_levels", _check_quad("pitch_eg_levels", self.pitch_eg_levels))
        for name, (lo, hi) in _VOICE_RANGES.items():
            _check_range(name, getattr(self, name), hi, lo)
        object.__setattr__(self, "osc_key_sync", _check_flag("osc_key_sync", self.osc_key_sync))
        object.__setattr__(self, "lfo_sync", _check_flag("lfo_sync", self.lfo_sync))
        if not isinstance(self.name, str) or len(self.name) > NAME_LENGTH or any(ord(c) > 127 for c in self.name):
            raise ValueError(f"name = {self.name!r}, expected at most {NAME_LENGTH} ASCII characters")

    def operator(self, number: int) -> Operator:
        """Operator `number` (1–6, DX7 numbering)."""
        _check_range("operator number", number, N_OPERATORS, 1)
        return self.operators[number - 1]

    def replace_operator(self, number: int, **changes) -> "Voice":
        """A copy with operator `number` (1–6) changed by `dataclasses.replace(op, **changes)`."""
        ops = list(self.operators)
        ops[number - 1] = dataclasses.replace(self.operator(number), **changes)
        return dataclasses.replace(self, operators=tuple(ops))


def init_voice(**changes) -> Voice:
    """The DX7 "INIT VOICE" (algorithm 1, operator 1 at level 99, the others at 0), with `changes`."""
    return dataclasses.replace(Voice(), **changes)


# ----------------------------------------------------------------------------- packing


def _unpack_operator(b: bytes) -> Operator:
    """17 packed bytes → Operator (see the module docstring for the layout)."""
    return Operator(
        eg_rates=tuple(b[0:4]), eg_levels=tuple(b[4:8]),
        breakpoint=b[8], left_depth=b[9], right_depth=b[10],
        left_curve=b[11] & 0x03, right_curve=(b[11] >> 2) & 0x03,
        rate_scaling=b[12] & 0x07, detune=(b[12] >> 3) & 0x0F,
        amp_mod_sensitivity=b[13] & 0x03, key_velocity_sensitivity=(b[13] >> 2) & 0x07,
        output_level=b[14], mode=MODES[b[15] & 0x01], coarse=(b[15] >> 1) & 0x1F, fine=b[16],
    )


def _pack_operator(op: Operator) -> bytes:
    return bytes([
        *op.eg_rates, *op.eg_levels, op.breakpoint, op.left_depth, op.right_depth,
        op.left_curve | op.right_curve << 2, op.rate_scaling | op.detune << 3,
        op.amp_mod_sensitivity | op.key_velocity_sensitivity << 2, op.output_level,
        MODES.index(op.mode) | op.coarse << 1, op.fine,
    ])


def _decode_name(b: bytes) -> str:
    return "".join(chr(c & 0x7F) for c in b).rstrip(" ")


def unpack_voice(block: bytes) -> Voice:
    """128 packed bytes → Voice. Raises ValueError naming the operator and field out of range."""
    operators = []
    for number in range(1, N_OPERATORS + 1):
        start = (N_OPERATORS - number) * OPERATOR_BYTES  # operator 6 is stored first
        try:
            operators.append(_unpack_operator(block[start:start + OPERATOR_BYTES]))
        except ValueError as err:
            raise ValueError(f"operator {number}: {err}") from None
    g = block[GLOBAL_OFFSET:]
    return Voice(
        operators=tuple(operators), pitch_eg_rates=tuple(g[0:4]), pitch_eg_levels=tuple(g[4:8]),
        algorithm=(g[8] & 0x1F) + 1, feedback=g[9] & 0x07, osc_key_sync=bool(g[9] >> 3 & 1),
        lfo_speed=g[10], lfo_delay=g[11], lfo_pitch_mod_depth=g[12], lfo_amp_mod_depth=g[13],
        lfo_sync=bool(g[14] & 1), lfo_wave=(g[14] >> 1) & 0x07, pitch_mod_sensitivity=(g[14] >> 4) & 0x07,
        transpose=g[15], name=_decode_name(g[16:16 + NAME_LENGTH]),
    )


def pack_voice(voice: Voice) -> bytes:
    """Voice → 128 packed bytes (inverse of `unpack_voice`)."""
    ops = b"".join(_pack_operator(voice.operator(n)) for n in range(N_OPERATORS, 0, -1))
    glob = bytes([
        *voice.pitch_eg_rates, *voice.pitch_eg_levels, voice.algorithm - 1,
        voice.feedback | int(voice.osc_key_sync) << 3, voice.lfo_speed, voice.lfo_delay,
        voice.lfo_pitch_mod_depth, voice.lfo_amp_mod_depth,
        int(voice.lfo_sync) | voice.lfo_wave << 1 | voice.pitch_mod_sensitivity << 4, voice.transpose,
    ])
    return ops + glob + voice.name.ljust(NAME_LENGTH).encode("ascii")


def checksum(data: bytes) -> int:
    """DX7 bulk-dump checksum: the 7-bit two's complement of the sum of the data bytes."""
    return -sum(data) & 0x7F


def pack_cartridge(voices: Sequence[Voice], channel: int = 0) -> bytes:
    """Up to 32 voices → a 4104-byte bulk dump; missing slots are filled with `init_voice()`."""
    voices = list(voices)
    if len(voices) > N_VOICES:
        raise ValueError(f"a DX7 cartridge holds {N_VOICES} voices, got {len(voices)}")
    _check_range("channel", channel, 15)
    voices += [init_voice()] * (N_VOICES - len(voices))
    data = b"".join(pack_voice(v) for v in voices)
    return bytes([*HEADER[:2], channel, *HEADER[3:]]) + data + bytes([checksum(data), END])


def write_cartridge(path: str | Path, voices: Sequence[Voice], channel: int = 0) -> None:
    """Write up to 32 voices as a .syx bulk dump (see `pack_cartridge`)."""
    Path(path).write_bytes(pack_cartridge(voices, channel))


def _check_bulk_dump(data: bytes, source: str) -> None:
    """Validate size, header, end byte, 7-bit data and checksum; CartridgeError naming `source`."""
    if len(data) != FILE_BYTES:
        raise CartridgeError(f"{source}: expected {FILE_BYTES} bytes (DX7 32-voice bulk dump), got {len(data)}")
    head = data[:len(HEADER)]
    if head[:2] != HEADER[:2] or head[2] & 0xF0 or head[3:] != HEADER[3:]:
        raise CartridgeError(
            f"{source}: not a DX7 32-voice bulk dump: header {head.hex(' ').upper()}, "
            f"expected F0 43 0n 09 20 00"
        )
    if data[-1] != END:
        raise CartridgeError(f"{source}: missing end byte F7 (found {data[-1]:02X} at offset {FILE_BYTES - 1})")
    payload = data[len(HEADER):len(HEADER) + DATA_BYTES]
    bad = next((i for i, c in enumerate(payload) if c > 0x7F), None)
    if bad is not None:
        raise CartridgeError(f"{source}: data byte {bad} (voice {bad // VOICE_BYTES}) is {payload[bad]:02X}, not 7-bit")
    found, expected = data[-2], checksum(payload)
    if found != expected:
        raise CartridgeError(f"{source}: bad checksum: expected {expected:02X}, found {found:02X}")


def unpack_cartridge(data: bytes, source: str = "<bytes>") -> list[Voice]:
    """A 4104-byte bulk dump → 32 voices. Every error names `source`, and the voice and field."""
    _check_bulk_dump(data, source)
    voices = []
    for i in range(N_VOICES):
        start = len(HEADER) + i * VOICE_BYTES
        block = data[start:start + VOICE_BYTES]
        try:
            voices.append(unpack_voice(block))
        except ValueError as err:
            name = _decode_name(block[GLOBAL_OFFSET + 16:])
            raise CartridgeError(f"{source}: voice {i} ({name!r}): {err}") from None
    return voices


def read_cartridge(path: str | Path) -> list[Voice]:
    """Read a DX7 32-voice bulk dump (.syx, 4104 bytes) → 32 `Voice`s in file order.

    Raises:
        CartridgeError: unreadable file, not a bulk dump, bad checksum or a field out of range
            (one line naming the file, and the voice and field where there is one).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CartridgeError(f"{path}: unreadable cartridge ({err.strerror or err})") from None
    return unpack_cartridge(data, str(path))


# ----------------------------------------------------------------------------- ddx7_56 presets

CARRIERS = (1, 3, 5)
MODULATORS = (2, 4, 6)
FEEDBACK_LOOPS = {5: (6,), 6: (6, 5)}  # operators of the feedback loop of algorithms 5 and 6


def ddx7_56_rejection(voice: Voice, ratio_min: float = 0.5, ratio_max: float = 10.0) -> str | None:
    """Why `voice` cannot be played by the ddx7_56 FMSynth ("category: detail"), or None if it can.

    Only switched-on operators (output level > 0) are checked for mode and ratio.
    """
    if voice.algorithm not in FEEDBACK_LOOPS:
        return f"algorithm: {voice.algorithm}, not 5 or 6"
    loop = FEEDBACK_LOOPS[voice.algorithm]
    if voice.feedback > 0 and all(voice.operator(n).is_on for n in loop):
        return f"feedback: {voice.feedback} through operators {', '.join(map(str, loop))}"
    on = [(n, voice.operator(n)) for n in range(1, N_OPERATORS + 1) if voice.operator(n).is_on]
    for n, op in on:
        if op.mode == "fixed":
            return f"fixed frequency: operator {n}"
    for n, op in on:
        if n in CARRIERS and op.ratio != 1.0:
            return f"carrier ratio: operator {n} at {op.ratio:g}, not 1"
    for n, op in on:
        if not ratio_min <= op.ratio <= ratio_max:
            return f"ratio range: operator {n} at {op.ratio:g}, outside [{ratio_min:g}, {ratio_max:g}]"
    return None


PHYSICAL_NAMES = tuple(f"level_{n}" for n in range(1, N_OPERATORS + 1)) + tuple(f"ratio_{n}" for n in MODULATORS)


def _ddx7_56_physical(voices: Sequence[Voice], ratio_min: float, ratio_max: float) -> dict[str, torch.Tensor]:
    """Physical FMSynth parameters, each `(n_voices,)` float32: levels 0–99 of ops 1–6, and the
    ratios of ops 2/4/6 clamped into [ratio_min, ratio_max]."""
    physical = {}
    for n in range(1, N_OPERATORS + 1):
        physical[f"level_{n}"] = torch.tensor([float(v.operator(n).output_level) for v in voices])
    for n in MODULATORS:
        ratios = [min(max(v.operator(n).ratio, ratio_min), ratio_max) for v in voices]
        physical[f"ratio_{n}"] = torch.tensor(ratios, dtype=torch.float64)
    return {name: physical[name].float() for name in PHYSICAL_NAMES}


@dataclass(frozen=True, eq=False)
class PresetSelection:
    """Result of `select_ddx7_56`.

    physical: the kept voices' parameters named as FMSynth's, each `(n_kept,)` float32:
    `level_1`…`level_6` (DX7 output levels 0–99, 0 for switched-off operators) and `ratio_2`,
    `ratio_4`, `ratio_6` (clamped into [ratio_min, ratio_max]); `FMSynth.normalize(**physical)`
    gives its controls. kept: indices of the kept voices in the input, in order (element i of each
    value is voice kept[i]). rejected: {index: "category: detail"}.
    """

    physical: dict[str, torch.Tensor]
    kept: tuple[int, ...]
    rejected: dict[int, str]

    def reason_counts(self) -> dict[str, int]:
        """How many voices were rejected per category ("algorithm", "feedback", "duplicate", …)."""
        return dict(Counter(reason.split(":")[0] for reason in self.rejected.values()))


def select_ddx7_56(voices: Sequence[Voice], ratio_min: float = 0.5, ratio_max: float = 10.0) -> PresetSelection:
    """Keep the voices the ddx7_56 FMSynth can play and convert them to its physical parameters.

    Levels are the operators' output levels (0 for switched-off operators), modulator ratios are
    clamped into [ratio_min, ratio_max] (only an off modulator can lie outside). Voices whose
    9 parameters equal an earlier kept one's are rejected as duplicates.
    """
    rejected = {i: r for i, v in enumerate(voices) if (r := ddx7_56_rejection(v, ratio_min, ratio_max))}
    playable = [i for i in range(len(voices)) if i not in rejected]
    physical = _ddx7_56_physical([voices[i] for i in playable], ratio_min, ratio_max)
    rows = torch.stack(list(physical.values()), dim=1) if playable else torch.zeros(0, len(PHYSICAL_NAMES))
    first: dict[tuple[float, ...], int] = {}
    keep = []
    for row, i in enumerate(playable):
        key = tuple(rows[row].tolist())
        if key in first:
            rejected[i] = f"duplicate: of voice {first[key]}"
        else:
            first[key] = i
            keep.append(row)
    kept = tuple(playable[r] for r in keep)
    return PresetSelection({k: v[keep] for k, v in physical.items()}, kept, dict(sorted(rejected.items())))


def ddx7_56_physical(
    voices: Sequence[Voice], ratio_min: float = 0.5, ratio_max: float = 10.0
) -> dict[str, torch.Tensor]:
    """FMSynth's physical parameters, each `(n_kept,)`, of the playable, de-duplicated voices
    (see `select_ddx7_56`)."""
    return select_ddx7_56(voices, ratio_min, ratio_max).physical


def _syx_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """A path, or several; a directory stands for the .syx files directly inside it, sorted."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files = []
    for p in map(Path, items):
        files += sorted(f for f in p.iterdir() if f.suffix.lower() == ".syx") if p.is_dir() else [p]
    return files


def _format_counts(counts: dict[str, int]) -> str:
    """{"algorithm": 27, "feedback": 5} → "algorithm 27, feedback 5" (most frequent first)."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"


PLAYABLE = (
    "the ddx7_56 synth plays algorithms 5 and 6 without feedback through the loop, no fixed-frequency "
    "operator, carriers at ratio 1, ratios in [{lo:g}, {hi:g}]"
)


def load_presets(
    paths: str | Path | Iterable[str | Path],
    ratio_min: float = 0.5,
    ratio_max: float = 10.0,
    skip_invalid: bool = False,
) -> dict[str, torch.Tensor]:
    """Read DX7 cartridges and return the ddx7_56 physical parameters of all playable voices.

    The result is named as FMSynth's parameters, each `(n_kept,)` float32 (see `PresetSelection`):
    `FMSynth.normalize(**load_presets(...))` gives the controls `(n_kept, 9)`.
    Duplicates are removed across files (the first occurrence is kept; a later one counts as a
    "duplicate" of its own cartridge). One warning line per cartridge says how many voices were kept
    and the rejections counted by reason ("algorithm 27, feedback 5").

    Raises:
        CartridgeError (a `DataError`): no .syx file; a malformed or unreadable cartridge (one line:
            path, voice, field), unless `skip_invalid`, which skips it with a one-line warning; no
            playable voice in any cartridge (one line with the counts by reason).
    """
    files = _syx_files(paths)
    if not files:
        raise CartridgeError(f"load_presets: no .syx file in {paths!r}")
    voices: list[Voice] = []
    spans: list[tuple[Path, int, int]] = []  # (file, first voice index, end)
    skipped = []
    for f in files:
        try:
            read = read_cartridge(f)
        except CartridgeError as err:
            if not skip_invalid:
                raise
            skipped.append(f)
            warnings.warn(f"load_presets: skipped {err}", stacklevel=2)
            continue
        spans.append((f, len(voices), len(voices) + len(read)))
        voices += read
    selection = select_ddx7_56(voices, ratio_min, ratio_max)
    kept = set(selection.kept)
    totals: Counter = Counter()
    for f, a, b in spans:
        reasons = Counter(selection.rejected[i].split(":")[0] for i in range(a, b) if i in selection.rejected)
        totals.update(reasons)
        n_kept = sum(i in kept for i in range(a, b))
        detail = f"; rejected {b - a - n_kept}: {_format_counts(reasons)}" if reasons else ""
        warnings.warn(f"load_presets: {f}: kept {n_kept} of {b - a} voices{detail}", stacklevel=2)
    if not selection.kept:
        skipped_note = f", {len(skipped)} skipped as malformed" if skipped else ""
        raise CartridgeError(
            f"load_presets: no playable voice in {len(spans)} cartridge(s){skipped_note} "
            f"({len(voices)} voices rejected: {_format_counts(dict(totals))}); "
            f"{PLAYABLE.format(lo=ratio_min, hi=ratio_max)} (scripts/make_demo_cartridge.py writes such a bank)"
        )
    return selection.physical
