"""The fused PReLU backward (train.fused_prelu) trains exactly what torch's PReLU trains."""
import pytest
import torch
from torch import nn

from asdcore.models import fused_prelu
from asdcore.models.fused_prelu import FusedPReLU, use_fused_prelu
from asdcore.recipes import resolve
from asdcore.runtime import build_model


def _grads(module, x, g):
    x = x.detach().clone().requires_grad_(True)
    module.zero_grad()
    module(x).backward(g)
    return x.grad, module.weight.grad.clone()


@pytest.mark.parametrize("shape,channels_last", [((4, 8, 5, 6), True), ((4, 8, 5, 6), False), ((6, 8), False),
                                                 ((3, 8, 7), False)])
def test_gradients_match_torch_prelu(shape, channels_last):
    torch.manual_seed(0)
    x = torch.randn(shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn(shape)
    native = nn.PReLU(8)
    native.weight.data.uniform_(-0.5, 0.5)  # negative slopes too: the mask is x's sign, not y's
    fused = nn.PReLU(8)
    fused.load_state_dict(native.state_dict())
    assert use_fused_prelu(fused) == 1 and type(fused) is FusedPReLU
    gx, gw = _grads(native, x, g)
    fx, fw = _grads(fused, x, g)
    assert torch.equal(gx, fx)
    assert torch.allclose(gw, fw, atol=1e-5)
    assert fused_prelu.compile_failure() is None
    assert list(fused.state_dict()) == list(native.state_dict())


def test_quick_preset_fuses_and_tiny_and_compiled_runs_do_not():
    def prelus(preset, **settings):
        model = build_model(resolve("tastgram-noisy-arcmix", preset, settings), num_classes=4)
        return {type(m).__name__ for m in model.modules() if isinstance(m, nn.PReLU)}

    assert prelus("quick") == {"FusedPReLU"}
    assert prelus("tiny") == {"PReLU"}
    assert prelus("quick", **{"train.compile": True}) == {"PReLU"}  # compile fuses the whole model itself


def test_a_failed_compile_falls_back_to_torch_kernel(monkeypatch):
    def no_compiler(*args, **kwargs):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(fused_prelu, "_compiled", None)
    monkeypatch.setattr(fused_prelu, "_broken", None)
    monkeypatch.setattr(torch, "compile", no_compiler)
    torch.manual_seed(1)
    x, g = torch.randn(4, 8, 5, 6), torch.randn(4, 8, 5, 6)
    native = nn.PReLU(8)
    fused = nn.PReLU(8)
    use_fused_prelu(fused)
    gx, gw = _grads(native, x, g)
    fx, fw = _grads(fused, x, g)  # the failure happens in this backward: its gradients still right
    assert torch.equal(gx, fx) and torch.allclose(gw, fw, atol=1e-5)
    assert "no C++ compiler" in fused_prelu.compile_failure()
    fx, fw = _grads(fused, x, g)  # and later steps use torch's PReLU throughout
    assert torch.equal(gx, fx) and torch.allclose(gw, fw, atol=1e-5)
