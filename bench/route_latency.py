"""Decision latency of routers: p50 / p99 per call, in microseconds.

    .venv/bin/python bench/route_latency.py [--n 20000] [--n-encoder 300] [--save [FILE]]

Rules and profile routers are timed over a mix of requests; the encoder routers
(MiniLM classifier, embedding routes) are timed on held-out queries of about 10,
50 and exactly 128 tokens (see bench/encoder_routers_latency.py for threads and
per-stage breakdowns; the two-stage classifier runs the static encoder distilled
from MiniLM first). Targets: rules p50 ≤ 50 µs, classifier p50 ≤ 5 ms.

Each entry of `BENCHES` is (name, factory); a factory builds whatever it needs
once and returns an async callable taking one `ChatRequest`. Every call is
timed on its own over a fixed mix of requests (one per branch of the
reference router), after a warm-up. "decide" rows time the router alone;
"engine.route" rows add the engine's walk and family → model selection.

Add a router by appending a (name, factory) pair to `BENCHES`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from modelyard import ChatRequest, Engine, RoutingHints
from modelyard.config import load_config
from modelyard.types import Decision, ImagePart, ImageURL, Message, TextPart

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling bench modules
REFERENCE = ROOT / "examples" / "reference-rules.yaml"

Call = Callable[[ChatRequest], Awaitable[Decision]]
Factory = Callable[[], Call]


def _image(text: str, **hints: object) -> ChatRequest:
    content = [TextPart(text=text), ImagePart(image_url=ImageURL(url="data:image/png;base64,iVBORw0KGgo="))]
    return ChatRequest(messages=[Message(role="user", content=content)], hints=RoutingHints(**hints))  # type: ignore[arg-type]


MIX: list[ChatRequest] = [
    _image("cut the dog out", needs_pixel_mask=True),
    ChatRequest.from_text("Draw me a lighthouse at dusk"),
    _image("What breed is this dog?"),
    ChatRequest.from_text("Book me a table for two", hints=RoutingHints(wants_action=True)),
    ChatRequest.from_text("What is the capital of France?"),
    ChatRequest.from_text("classify: my parcel never arrived"),
    ChatRequest.from_text("Explain, step by step, how a B-tree stays balanced when keys are deleted " * 3),
    ChatRequest.from_text(
        "sentiment: great", hints=RoutingHints(latency_budget_ms=30, volume_per_day=5_000_000)
    ),
]


def _engine_with_profile() -> Engine:
    config = load_config(REFERENCE)
    from modelyard.config.routers.profile import ProfileSpec

    routers = {**config.routers, "profile": ProfileSpec(name="profile")}
    return Engine(config.model_copy(update={"routers": routers}))


def _decide(router_name: str) -> Factory:
    def factory() -> Call:
        engine = _engine_with_profile()
        router = engine.routers[router_name]
        request = MIX[0]
        trace = engine.new_trace(request)
        ctx = engine._context(trace, engine.deadline_for(request))

        async def call(request: ChatRequest) -> Decision:
            return await router.decide(request, ctx)

        return call

    return factory


def _engine_route(router_name: str) -> Factory:
    def factory() -> Call:
        engine = _engine_with_profile()

        async def call(request: ChatRequest) -> Decision:
            return await engine.route(request.model_copy(update={"model": router_name}))

        return call

    return factory


#: (name, factory) — append here to benchmark another router.
BENCHES: list[tuple[str, Factory]] = [
    ("rules (reference) decide", _decide("reference")),
    ("profile (default table) decide", _decide("profile")),
    ("rules (reference) engine.route", _engine_route("reference")),
    ("profile (default table) engine.route", _engine_route("profile")),
]


async def measure(call: Call, n: int) -> list[float]:
    for request in MIX * 50:  # warm-up
        await call(request)
    samples: list[float] = []
    clock = time.perf_counter_ns
    for i in range(n):
        request = MIX[i % len(MIX)]
        started = clock()
        await call(request)
        samples.append((clock() - started) / 1000.0)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(n: int, n_encoder: int, only: str | None, save: Path | None = None) -> None:
    import os

    from rich.console import Console
    from rich.table import Table

    import encoder_routers_latency as enc
    from _results import Run

    run = Run("route_latency", save, {"n": n, "n_encoder": n_encoder, "only": only})
    saved: list[dict[str, object]] = []

    def row(name: str, requests: str, count: int, samples: list[float]) -> None:
        table.add_row(name, requests, str(count), *_stats(samples))
        saved.append(
            {"router": name, "requests": requests, "n": count}
            | {"p50_us": percentile(samples, 0.50), "p99_us": percentile(samples, 0.99)}
            | {"mean_us": statistics.fmean(samples)}
        )

    table = Table(title=f"router decision latency (load average {os.getloadavg()[0]:.1f} at start)")
    for col in ("router", "requests", "n", "p50 µs", "p99 µs", "mean µs"):
        table.add_column(col, justify="left" if col in ("router", "requests") else "right")
    for name, factory in BENCHES:
        if only and only not in name:
            continue
        samples = await measure(factory(), n)
        row(name, f"{len(MIX)}-request mix", n, samples)
    encoder, classifier, semantic = enc.build(threads=0)
    static_only, two_stage = enc.build_staged(classifier)
    buckets = enc.bucketed_queries(encoder)
    encoder_rows = (
        ("classifier (default artefact) decide", classifier),
        ("static classifier (default-static) decide", static_only),
        ("two-stage classifier (default-static → default) decide", two_stage),
        ("embedding routes decide", semantic),
    )
    for name, router in encoder_rows:
        if only and only not in name:
            continue
        for bucket, queries in buckets.items():
            wall, _ = enc.time_calls(lambda q, r=router: r.decide_sync(ChatRequest.from_text(q)), queries, n_encoder)
            row(name, f"{bucket} tokens", n_encoder, [ms * 1000 for ms in wall])
    Console().print(table)
    if (path := run.save(saved)) is not None:
        Console().print(f"saved {path}", highlight=False)


def _stats(samples: list[float]) -> tuple[str, str, str]:
    return (
        f"{percentile(samples, 0.50):.1f}",
        f"{percentile(samples, 0.99):.1f}",
        f"{statistics.fmean(samples):.1f}",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000, help="timed calls per router")
    parser.add_argument("--n-encoder", type=int, default=300, help="timed calls per encoder-router row")
    parser.add_argument("--only", help="run only benches whose name contains this")
    parser.add_argument(
        "--save", type=Path, nargs="?", const=ROOT / "bench" / "results" / "route_latency.json", help="write as JSON"
    )
    args = parser.parse_args()
    asyncio.run(main(args.n, args.n_encoder, args.only, args.save))
