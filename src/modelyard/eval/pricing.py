"""Per-token prices used to turn per-prompt outcomes into dollar costs.

The RouteLLM files carry no token counts, so tokens are estimated as
``ceil(chars / 4)`` (OpenAI's rule of thumb for English). Prices are the public
list prices when the outcomes were generated; they only set the *ratio* between
models, which is what cost curves and AIQ depend on.
"""

from __future__ import annotations

import math

__all__ = ["PRICES", "estimate_tokens", "prompt_cost"]

#: USD per 1M tokens: (input, output).
PRICES: dict[str, tuple[float, float]] = {
    # OpenAI list price for gpt-4-1106-preview (GPT-4 Turbo), Nov 2023.
    "gpt-4-1106-preview": (10.0, 30.0),
    # Together AI list price for Mixtral-8x7B-Instruct-v0.1, 2024.
    "mistralai/Mixtral-8x7B-Instruct-v0.1": (0.60, 0.60),
}


def estimate_tokens(text: str) -> int:
    """Approximate token count: one token per four characters, at least one."""
    return max(1, math.ceil(len(text) / 4))


def prompt_cost(model: str, input_tokens: int, output_tokens: int) -> float:
    """Dollar cost of one call; unknown models cost 1 unit per call (relative units)."""
    if model not in PRICES:
        return 1.0
    price_in, price_out = PRICES[model]
    return (input_tokens * price_in + output_tokens * price_out) / 1e6
