"""GPT-2 decoder in the nanoGPT shape for the LLM experiments: pre-LayerNorm blocks, fused causal attention, a 4x
GELU MLP, learned position embeddings and an output layer tied to the token embeddings. No dropout and no biases
anywhere (LayerNorms have a gain only), so every parameter is either a matrix or a LayerNorm gain.

Module names are nanoGPT's (``transformer.h.0.attn.c_attn``, ``lm_head``, ...) so that name-based weight-decay groups
carry over. Initialisation is GPT-2's: N(0, 0.02) for every matrix, N(0, 0.02 / sqrt(2 n_layer)) for the residual
projections (``c_proj``), LayerNorm gains 1. Also the FLOP estimate and peak FLOP/s table behind the MFU we log.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..plan.gpt_sizes import MODELS  # torch-free, so that the config check can read the names


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    context: int  # longest sequence (nanoGPT's block_size)
    n_layer: int
    n_head: int
    n_embd: int
    learnable_ln: bool = True  # False: LayerNorm gains are fixed at 1 (no parameters)

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")


def layer_norm(cfg: GPTConfig) -> nn.LayerNorm:
    return nn.LayerNorm(cfg.n_embd, elementwise_affine=cfg.learnable_ln, bias=False)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)  # q, k, v of all heads in one matmul
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x):
        B, T, C = x.shape
        # c_attn's output is [q | k | v], each laid out head by head: -> 3 x (B, n_head, T, head_dim)
        q, k, v = self.c_attn(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=False)
        self.gelu = nn.GELU()  # exact, as nanoGPT and the authors (not the tanh approximation of GPT-2)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = layer_norm(cfg)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = layer_norm(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(cfg.vocab_size, cfg.n_embd),
                wpe=nn.Embedding(cfg.context, cfg.n_embd),
                h=nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer)),
                ln_f=layer_norm(cfg),
            )
        )
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied: one tensor, listed once as transformer.wte.weight
        # named_parameters() lists the tied matrix once, so each matrix gets exactly one draw
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * cfg.n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, vocab) for token ids idx (B, T); with targets (B, T), only the mean cross-entropy over all
        tokens, computed in fp32."""
        T = idx.shape[1]
        if T > self.cfg.context:
            raise ValueError(f"sequence length {T} is longer than the model's context {self.cfg.context}")
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T, device=idx.device))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


def padded_vocab(vocab_size: int, multiple: int = 64) -> int:
    """The vocabulary rounded up to a multiple of 64 (GPT-2's 50257 -> 50304, as nanoGPT does): matmul-friendly
    shapes on GPUs; the padding rows are never a target, so training pushes their logits down."""
    return -(-vocab_size // multiple) * multiple


def build_gpt(model: str, vocab_size: int, context: int, learnable_ln: bool = True) -> GPT:
    """A GPT-2-initialised model of a named size (one of MODELS). Seed the RNG first for reproducible weights; build
    under ``with torch.device('meta'):`` to get shapes without memory."""
    if model not in MODELS:
        raise ValueError(f"unknown GPT model {model!r}; known models: {', '.join(MODELS)}")
    return GPT(GPTConfig(vocab_size, context, learnable_ln=learnable_ln, **MODELS[model]))


def num_params(model: GPT, embeddings: bool = True) -> int:
    """Parameter count; embeddings=False leaves out the position embeddings (nanoGPT's convention: the token
    embeddings stay, being the tied output layer). That is the N of flops_per_token."""
    n = sum(p.numel() for p in model.parameters())
    return n if embeddings else n - model.transformer.wpe.weight.numel()


def flops_per_token(cfg: GPTConfig, n_params: int) -> int:
    """Training FLOPs (forward + backward) per token, PaLM appendix B: 6N for the matmuls with the weights plus
    12 n_layer n_embd context for attention; N should leave out the position embeddings."""
    return 6 * n_params + 12 * cfg.n_layer * cfg.n_embd * cfg.context


# Dense (no sparsity) peak FLOP/s by precision, from NVIDIA's datasheets. fp32 is IEEE fp32 on the CUDA cores; tf32
# and bf16/fp16 use the tensor cores. Keys are matched against torch.cuda.get_device_name in order: specific first.
PEAK_FLOPS: dict[str, dict[str, float]] = {
    "H200": {"fp32": 67e12, "tf32": 494.5e12, "bf16": 989e12, "fp16": 989e12},
    "H100 PCIe": {"fp32": 51e12, "tf32": 378e12, "bf16": 756e12, "fp16": 756e12},
    "H100 NVL": {"fp32": 60e12, "tf32": 417.5e12, "bf16": 835e12, "fp16": 835e12},
    "H100": {"fp32": 67e12, "tf32": 494.5e12, "bf16": 989e12, "fp16": 989e12},  # SXM
    "A100": {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12, "fp16": 312e12},
}
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


def peak_flops(device: torch.device, precision: str) -> float | None:
    """Peak FLOP/s of a CUDA device at a precision; None on CPU or an unknown GPU."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device).lower()
    for key, peaks in PEAK_FLOPS.items():
        if key.lower() in name:
            return peaks[precision]
    return None


def mfu(tokens_per_s: float, flops_per_token: float, peak: float | None) -> float | None:
    """Model FLOP utilisation: achieved training FLOP/s over the peak (None where the peak is unknown)."""
    return None if peak is None else tokens_per_s * flops_per_token / peak
