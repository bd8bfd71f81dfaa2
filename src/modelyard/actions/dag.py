"""Order a dependency graph into levels; name the cycle when there is one."""

from __future__ import annotations

from collections.abc import Mapping, Set

from modelyard.config.graphcheck import levels_or_cycle

__all__ = ["CycleError", "levels"]


class CycleError(ValueError):
    """The graph has a cycle; ``nodes`` are the ones on it (or waiting on it)."""

    def __init__(self, nodes: list[str]) -> None:
        super().__init__(f"dependency cycle among: {', '.join(nodes)}")
        self.nodes = nodes


def levels(deps: Mapping[str, Set[str]]) -> list[list[str]]:
    """Kahn's algorithm by levels: level 0 depends on nothing, level n only on levels < n.

    ``deps`` maps each node to the nodes it waits for; every dependency must be
    a key (callers check unknown names first, with their own key paths).
    Nodes keep their declared order inside a level. Raises `CycleError`.
    """
    result = levels_or_cycle(deps)
    if isinstance(result, str):
        raise CycleError(sorted(_stuck(deps)))
    return result


def _stuck(deps: Mapping[str, Set[str]]) -> set[str]:
    remaining = {node: set(wait) for node, wait in deps.items()}
    while True:
        ready = {node for node, wait in remaining.items() if not wait}
        if not ready:
            return set(remaining)
        for node in ready:
            del remaining[node]
        for wait in remaining.values():
            wait.difference_update(ready)
