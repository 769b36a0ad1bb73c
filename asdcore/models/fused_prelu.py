"""PReLU with a fused backward pass, for training on a CPU (train.fused_prelu).

PReLU (He et al. 2015), one slope a_c per channel:

    y = x            where x > 0
    y = a_c * x      elsewhere

and its gradients, for an upstream gradient g:

    dL/dx   = g          where x > 0,   a_c * g elsewhere
    dL/da_c = sum over every position of channel c with x <= 0 of  g * x

torch's CPU backward (aten._prelu_kernel_backward) writes a full-size tensor for the slope's
gradient and then reduces it: measured with the torch profiler it was 30 % of a TASTgram-MFN
training step on a 2-core CPU (2 s clips, batch 32), 12x the time of the forward pass.  Here the
backward is one function compiled by torch.compile (inductor): one pass over x and g that writes
dL/dx and accumulates dL/da per channel.  Measured per layer (channels-last, 32 x 128 x 64 x 16):
backward 14.6 -> 5.4 ms; on the whole step (scripts/bench.py our_steps, 40 steps, idle):
77 -> 94 clips/s.  The numbers are the same up to float summation order.

Tried and measured slower in the whole step: BatchNorm + PReLU compiled together, forward and
backward (90 clips/s: faster per layer in isolation, slower in the model), and BatchNorm alone
compiled (no faster than torch's on the small maps of the later layers).

Compiling costs seconds once per process (inductor keeps the kernel on disk for the next process;
`asdcore warm-up`, run by make setup, compiles it at installation), so only presets that train for
minutes turn it on.  Where inductor cannot compile (no C++ compiler, another platform), the first
backward says so once and falls back to torch's own kernel for the rest of the process.  The
forward pass, evaluation and GPUs (where torch's kernel is fused already) use torch's PReLU
unchanged.
"""
from __future__ import annotations

import logging
import threading

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

_compiled = None  # the compiled backward, built on first use
_broken: str | None = None  # why compiling failed, once it has
_lock = threading.Lock()


def _slope_shape(x: torch.Tensor, weight: torch.Tensor) -> list[int]:
    """The slopes broadcast along dim 1 (channels) of x: (1, C, 1, ...)."""
    return [1, weight.numel()] + [1] * (x.dim() - 2)


def prelu_backward(x: torch.Tensor, weight: torch.Tensor, grad: torch.Tensor):
    """(dL/dx, dL/da) from the equations in the module docstring, in plain torch ops."""
    slope = weight.view(_slope_shape(x, weight))
    negative = x <= 0
    grad_x = torch.where(negative, grad * slope, grad)
    dims = [0] + list(range(2, x.dim()))
    grad_weight = torch.where(negative, grad * x, torch.zeros_like(x)).sum(dims)
    return grad_x, grad_weight


def _backward(x, weight, grad):
    """The compiled prelu_backward; torch's kernel once compiling has failed."""
    global _compiled, _broken
    if _broken is None:
        try:
            with _lock:
                if _compiled is None:
                    # dynamic: one kernel for every layer's shape and the last, smaller batch
                    _compiled = torch.compile(prelu_backward, dynamic=True)
            return _compiled(x, weight, grad)
        except Exception as err:  # noqa: BLE001 - any compiler failure falls back to torch's kernel
            _broken = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            log.warning("train.fused_prelu: torch.compile failed (%s); using torch's PReLU backward", _broken)
    shape = _slope_shape(x, weight)
    # torch's kernel returns the slope's gradient at every position (the cost described above)
    grad_x, grad_weight = torch.ops.aten._prelu_kernel_backward(grad, x, weight.view(shape))
    return grad_x, grad_weight.sum_to_size(shape).view(-1)


def _layout(x: torch.Tensor) -> torch.memory_format:
    """x's own memory layout, so that g is read in the same order as x (channels-last models)."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


class _FusedPReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        return F.prelu(x, weight)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        return _backward(x, weight, grad.contiguous(memory_format=_layout(x)))


class FusedPReLU(nn.PReLU):
    """nn.PReLU (same parameters, same state dict) whose training backward on a CPU is fused."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (self.training and torch.is_grad_enabled() and x.device.type == "cpu" and _broken is None
                and self.weight.numel() > 1 and x.dim() >= 2):
            return _FusedPReLUFunction.apply(x, self.weight)
        return F.prelu(x, self.weight)


def use_fused_prelu(model: nn.Module) -> int:
    """Turn every nn.PReLU of `model` into a FusedPReLU in place; returns how many there were."""
    count = 0
    for module in model.modules():
        if type(module) is nn.PReLU:
            module.__class__ = FusedPReLU
            count += 1
    return count


def compile_failure() -> str | None:
    """Why the fused backward fell back to torch's kernel in this process (None: it did not)."""
    return _broken
