"""What runs in real time, in a form a host can load (TorchScript):

- `RemapMapper` / `export_mapper`: the trained remap mapping with its input normalization, raw
  onset features → Snare808 controls (`ddspfx.export.remap`);
- `ScriptedSnare808` / `export_snare808`: the TR-808 snare renderer (`ddspfx.export.snare808`);
- `ScriptedRemapStream` / `export_stream`: the whole streaming processor, drum audio blocks in →
  synth audio blocks out (`ddspfx.export.streaming`); `ddspfx.export.neutone_remap` wraps it for
  the Neutone plug-in (needs neutone-sdk; import it explicitly).

Only bottom and component packages are imported here (DESIGN.md, Layout); the scripts under
`scripts/` build these objects from a trained run.
"""

from ddspfx.export.remap import RemapMapper, export_mapper, load_mapper, save_module
from ddspfx.export.snare808 import ScriptedSnare808, export_snare808
from ddspfx.export.streaming import ScriptedRemapStream, export_stream, stream_signal

__all__ = [
    "RemapMapper",
    "ScriptedRemapStream",
    "ScriptedSnare808",
    "export_mapper",
    "export_snare808",
    "export_stream",
    "load_mapper",
    "save_module",
    "stream_signal",
]
