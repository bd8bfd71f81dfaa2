"""Which part of a request a trained head embeds.

MiniLM reads at most ``max_length`` tokens from the *start* of a text. Few-shot
prompts (RouterBench's ARC-Challenge and Winogrande rows: ~2,000 characters of
worked examples, then the question) put the question last, so the start is the same
boilerplate for every prompt. ``tail`` keeps the last blank-line-separated blocks
that fit in ``max_chars`` (always at least the last block): the question itself on
few-shot prompts, the whole text on short ones. A head records its view in its
artefact, and the router applies the same view at request time.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["VIEWS", "View", "view_text"]

View = Literal["head", "tail"]
VIEWS: tuple[View, ...] = ("head", "tail")


def view_text(text: str, view: str = "tail", max_chars: int = 300) -> str:
    """``head``: ``text`` unchanged (the encoder truncates its end). ``tail``: see module docstring.

    Raises ``ValueError`` for an unknown view.
    """
    if view == "head":
        return text
    if view != "tail":
        raise ValueError(f"unknown text view {view!r}; choose from {VIEWS}")
    blocks = [b for b in text.strip().split("\n\n") if b.strip()]
    if not blocks:
        return text
    kept = [blocks[-1]]
    total = len(blocks[-1])
    for block in reversed(blocks[:-1]):
        total += len(block) + 2
        if total > max_chars:
            break
        kept.append(block)
    return "\n\n".join(reversed(kept))
