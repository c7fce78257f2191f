import numpy as np
import soundfile as sf

from ddspfx.data.generated import is_current, read_manifest, write_float_wav, write_manifest


def test_manifest_round_trip_and_foreign_files(tmp_path):
    path = tmp_path / "manifest.json"
    assert read_manifest(path, "drums") == {}
    write_manifest(path, "drums", {"a": {"seed": 1}})
    assert read_manifest(path, "drums") == {"a": {"seed": 1}}
    assert read_manifest(path, "textures") == {}
    path.write_text("not json")
    assert read_manifest(path, "drums") == {}


def test_a_file_is_current_only_with_its_settings(tmp_path):
    path = tmp_path / "x" / "a.wav"
    audio = np.linspace(-0.5, 0.5, 100, dtype=np.float32)
    assert not is_current(path, {"seconds": 1.0}, {"seconds": 1.0})
    write_float_wav(path, audio, 8000)
    data, rate = sf.read(path, dtype="float32")
    assert rate == 8000 and np.array_equal(data, audio)
    assert is_current(path, {"seconds": 1.0, "seed": 0, "file": "a.wav"}, {"seconds": 1.0, "seed": 0})
    assert is_current(path, {"shape": [1, 2]}, {"shape": (1, 2)})  # compared as JSON values
    assert not is_current(path, {"seconds": 1.0, "seed": 1}, {"seconds": 1.0, "seed": 0})
