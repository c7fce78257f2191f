import torch

from ddspfx.encoders import MeanSTFT, MLPEncoder
from ddspfx.heads import SigmoidHead


def test_fm_model_has_the_published_parameter_count():
    # Reference A.4: MeanSTFT(2048) + FCBlock(1025→128) + 4 ResBlocks(128) + Linear(128→9): 266,762.
    encoder = MLPEncoder(MeanSTFT(2048), hidden=128, depth=4)
    head = SigmoidHead(encoder.out_dim, 9)
    count = sum(p.numel() for p in [*encoder.parameters(), *head.parameters()])
    assert count == 266_762


def test_encoder_shapes_and_gradients():
    encoder = MLPEncoder(MeanSTFT(256), hidden=32, depth=2, batch_norm=True)
    head = SigmoidHead(32, 9)
    audio = torch.randn(4, 512)
    controls = head(encoder(audio))
    assert controls.shape == (4, 9)
    assert ((controls > 0) & (controls < 1)).all()
    controls.sum().backward()
    assert encoder.frontend.log_floor.grad is not None
    assert all(p.grad is not None for p in encoder.parameters())
