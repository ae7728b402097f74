"""Named GPT sizes (layers, heads, width). Pure Python: the config check validates model names before any job."""

MODELS: dict[str, dict] = {
    "gpt2_124m": dict(n_layer=12, n_head=12, n_embd=768),
    "gpt2_774m": dict(n_layer=36, n_head=20, n_embd=1280),
    "gpt_small": dict(n_layer=6, n_head=6, n_embd=384),  # one-GPU preset
    "gpt_mini": dict(n_layer=2, n_head=2, n_embd=64),  # tiny CPU preset
    "gpt_mini_large": dict(n_layer=4, n_head=4, n_embd=128),  # tiny stand-in for gpt2_774m
}
