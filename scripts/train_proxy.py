"""Train the neural proxy compressor (`ProxyCompressor`) to imitate the exact DSP `Compressor`.

    python scripts/train_proxy.py [--sample-rate 44100] [--segment 2.0] [--steps 20000]
        [--batch-size 8] [--lr 1e-3] [--data synthetic|<audio folder>] [--device cpu|cuda|auto]
        [--out checkpoints/proxy_compressor.pt] [--channels 8 --blocks 5 --kernel 13 --growth 10]
        [--n-tracks 32 --track-seconds 16] [--seed 0] [--valid-seed 0] [--valid-every 250]

`--data synthetic` renders `ddspfx.data.music.SyntheticMusic` tracks (about 2 s per 16-s track at
44.1 kHz on one CPU core, once at start); a folder is read with `ddspfx.data.audio.AudioFolder`
(its "train" and "valid" splits).

Every step draws fresh crops (peak-normalized), controls q ~ U[0, 1]^6 and renders the exact
compressor's output as the target; the loss is L1 on the waveform plus `--stft-weight` times a
multi-resolution STFT loss. Every `--valid-every` steps (and after the last one) the proxy is
scored on fixed, seeded validation crops and controls; the best one is saved with
`save_checkpoint` as {"state_dict", "config" (architecture, sample_rate, ranges), "step",
"valid_loss", "args"}. Load it with `ProxyCompressor.from_checkpoint(path)`.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ddspfx.dsp.dynamics import peak_normalize  # noqa: E402
from ddspfx.effects.proxy import ProxyCompressor  # noqa: E402
from ddspfx.losses.stft import MRSTFT  # noqa: E402
from ddspfx.core.checkpoint import save_checkpoint  # noqa: E402
from ddspfx.core.devices import resolve_device  # noqa: E402

# Synthetic validation tracks use this seed (+ --valid-seed): far from any training --seed.
VALID_TRACK_SEED = 1_000_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sample-rate", type=int, default=44100, help="Hz (default 44100)")
    p.add_argument("--segment", type=float, default=2.0, help="crop length, seconds (default 2.0)")
    p.add_argument("--steps", type=int, default=20000, help="optimizer steps (default 20000)")
    p.add_argument("--batch-size", type=int, default=8, help="crops per step, at least 2 (BatchNorm)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--data", default="synthetic", help="'synthetic' or an audio folder with train/valid splits")
    p.add_argument("--n-tracks", type=int, default=32, help="synthetic data: training tracks (default 32; "
                   "validation uses a quarter as many others)")
    p.add_argument("--track-seconds", type=float, default=16.0, help="synthetic data: track length, s (default 16)")
    p.add_argument("--out", default="checkpoints/proxy_compressor.pt", help="where the best checkpoint goes")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and training draws (default 0)")
    p.add_argument("--valid-seed", type=int, default=0,
                   help="seed of the fixed validation crops and controls, independent of --seed (default 0)")
    p.add_argument("--valid-every", type=int, default=250, help="steps between validations (default 250)")
    p.add_argument("--valid-size", type=int, default=16, help="fixed validation examples (default 16)")
    p.add_argument("--stft-weight", type=float, default=1.0, help="weight of the MR-STFT term (default 1)")
    p.add_argument("--channels", type=int, default=8, help="TCN channels (default 8)")
    p.add_argument("--blocks", type=int, default=5, help="TCN blocks (default 5)")
    p.add_argument("--kernel", type=int, default=13, help="TCN kernel size, samples (default 13)")
    p.add_argument("--growth", type=int, default=10, help="TCN dilation growth (default 10)")
    args = p.parse_args(argv)
    _check_args(p, args)
    return args


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    positive = ("sample_rate", "segment", "steps", "lr", "valid_every", "valid_size", "n_tracks", "track_seconds",
                "channels", "blocks", "kernel", "growth")
    for name in positive:
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.batch_size < 2:
        parser.error(f"--batch-size must be at least 2 (the conditioning MLP uses BatchNorm), got {args.batch_size}")
    if args.valid_size < 2:
        parser.error(f"--valid-size must be at least 2, got {args.valid_size}")
    if args.stft_weight < 0:
        parser.error(f"--stft-weight must be non-negative, got {args.stft_weight}")
    if args.data == "synthetic" and args.track_seconds < args.segment:
        parser.error(f"--track-seconds ({args.track_seconds}) must be at least --segment ({args.segment})")
    if args.data != "synthetic" and not Path(args.data).is_dir():
        parser.error(f"--data must be 'synthetic' or an existing folder, got {args.data!r}")


def make_data(args: argparse.Namespace):
    """(train source, valid source): objects with `crops(n, generator)` and `fixed_crops(n, seed)`."""
    if args.data == "synthetic":
        from ddspfx.data.music import SyntheticMusic

        def source(n_tracks: int, seed: int) -> SyntheticMusic:
            return SyntheticMusic(sample_rate=args.sample_rate, segment_seconds=args.segment,
                                  n_tracks=n_tracks, track_seconds=args.track_seconds, seed=seed)

        valid_tracks = source(max(1, args.n_tracks // 4), VALID_TRACK_SEED + args.valid_seed)
        return source(args.n_tracks, args.seed), valid_tracks
    from ddspfx.data.audio import AudioFolder

    return tuple(
        AudioFolder(args.data, sample_rate=args.sample_rate, segment_seconds=args.segment, split=split)
        for split in ("train", "valid")
    )


class ProxyLoss(torch.nn.Module):
    """L1 on the waveform + `stft_weight` · MR-STFT (auraloss defaults); `(batch, samples)` pairs → scalar."""

    def __init__(self, stft_weight: float = 1.0):
        super().__init__()
        self.stft_weight = stft_weight
        self.mrstft = MRSTFT()

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = (estimate - target).abs().mean()
        if self.stft_weight:
            loss = loss + self.stft_weight * self.mrstft(estimate, target)
        return loss


def validation_set(source, exact, n: int, seed: int, device: torch.device):
    """Fixed crops, controls and exact targets: `(n, samples)`, `(n, 6)`, `(n, samples)`."""
    x = peak_normalize(source.fixed_crops(n, seed).float()).to(device)
    generator = torch.Generator().manual_seed(seed)
    q = torch.rand(n, exact.n_params, generator=generator).to(device)
    with torch.no_grad():
        y = exact(x, q)
    return x, q, y


@torch.no_grad()
def validate(proxy, loss_fn, valid, batch_size: int) -> float:
    """Mean loss of the proxy (in eval mode) over the validation set."""
    proxy.eval()
    total = 0.0
    for x, q, y in zip(*(part.split(batch_size) for part in valid)):
        total += loss_fn(proxy(x, q), y).item() * x.shape[0]
    proxy.train()
    return total / valid[0].shape[0]


def train(args: argparse.Namespace) -> Path:
    from ddspfx.effects.dynamics import Compressor

    torch.manual_seed(args.seed)
    try:
        device = resolve_device(args.device)
    except (ValueError, RuntimeError) as error:
        sys.exit(f"train_proxy.py: --device: {error}")
    exact = Compressor(sample_rate=args.sample_rate).to(device)
    proxy = ProxyCompressor(
        sample_rate=args.sample_rate, trainable=True,
        n_blocks=args.blocks, kernel_size=args.kernel, dilation_growth=args.growth, channels=args.channels,
    ).to(device)
    loss_fn = ProxyLoss(args.stft_weight).to(device)
    optimizer = torch.optim.Adam(proxy.parameters(), lr=args.lr)
    train_source, valid_source = make_data(args)
    valid = validation_set(valid_source, exact, args.valid_size, args.valid_seed, device)
    generator = torch.Generator().manual_seed(args.seed)
    print(f"proxy: receptive field {proxy.receptive_field} samples "
          f"({proxy.receptive_field / args.sample_rate:.3f} s), "
          f"{sum(p.numel() for p in proxy.parameters())} parameters, device {device}")

    out, best = Path(args.out), math.inf
    proxy.train()
    progress = tqdm(range(1, args.steps + 1), desc="train_proxy", dynamic_ncols=True)
    for step in progress:
        x = peak_normalize(train_source.crops(args.batch_size, generator).float()).to(device)
        q = torch.rand(args.batch_size, exact.n_params, generator=generator).to(device)
        with torch.no_grad():
            y = exact(x, q)
        loss = loss_fn(proxy(x, q), y)
        if torch.isfinite(loss):
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            progress.set_postfix(loss=f"{loss.item():.4f}")
        else:
            progress.write(f"step {step}: non-finite loss {loss.item()}, step skipped")
        if step % args.valid_every == 0 or step == args.steps:
            valid_loss = validate(proxy, loss_fn, valid, args.batch_size)
            progress.write(f"step {step}: valid loss {valid_loss:.5f}")
            if valid_loss < best:
                best = valid_loss
                save_checkpoint(out, {
                    "state_dict": proxy.tcn.state_dict(),
                    "config": proxy.config,
                    "step": step,
                    "valid_loss": valid_loss,
                    "args": vars(args),
                })
    if not math.isfinite(best):
        sys.exit("train_proxy.py: no finite validation loss; nothing saved")
    print(f"saved the best proxy (valid loss {best:.5f}) to {out}")
    return out


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
