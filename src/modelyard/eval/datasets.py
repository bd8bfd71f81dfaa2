"""Per-prompt outcome datasets: one in-memory shape, one documented file format.

Every evaluation in :mod:`modelyard.eval` runs on an :class:`OutcomeDataset`:
for each prompt, each model's quality score (0/1 correctness, or any float
where higher is better: 1-10 judge scores, 0-100 rubrics, rewards) and each
model's cost for that prompt. The scores' scale is declared (``score_range``)
or inferred from the data (:mod:`modelyard.eval.scale`). Loaders turn the
RouteLLM CSV layouts and the generic JSONL format (``docs/evaluation.md``) into
it, so a router is measured the same way whatever the source.

Generic JSONL (``modelyard-outcomes/1``): an optional header line
``{"format": "modelyard-outcomes/1", "cost_unit": "usd", "score_range": [1, 10]}``
(``score_range`` optional: [worst, best]) then one object per prompt:
``{"id": str, "prompt": str, "scores": {model: float}, "costs": {model: float},
"group": str?, "responses": {model: str}?}``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from modelyard.eval.pricing import PRICES, estimate_tokens, prompt_cost
from modelyard.eval.scale import UNIT, ScoreScale, infer_scale

__all__ = [
    "FORMAT",
    "GSM8K_STRONG",
    "GSM8K_WEAK",
    "OutcomeDataset",
    "hash_split",
    "load_dataset",
    "load_jsonl",
    "load_routellm_gsm8k",
    "load_routellm_mmlu",
    "save_jsonl",
]

FORMAT = "modelyard-outcomes/1"
GSM8K_STRONG = "gpt-4-1106-preview"
GSM8K_WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
FloatArray = npt.NDArray[np.float64]
DEFAULT_DATA_DIR = Path("data/routellm-eval")


@dataclass(frozen=True)
class OutcomeDataset:
    """Prompts x models: quality ``scores`` and ``costs`` (both shape ``(n, m)``).

    ``score_range`` (worst, best) declares the scores' scale; every score must lie
    in it. None: inferred from the data (see `scale`).
    """

    name: str
    ids: tuple[str, ...]
    prompts: tuple[str, ...]
    models: tuple[str, ...]
    scores: FloatArray
    costs: FloatArray
    cost_unit: str = "usd"
    groups: tuple[str, ...] = ()
    responses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    score_range: tuple[float, float] | None = None
    #: the scores' scale: the declared ``score_range``, else inferred from the data
    scale: ScoreScale = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n, m = len(self.prompts), len(self.models)
        if self.scores.shape != (n, m) or self.costs.shape != (n, m):
            raise ValueError(
                f"{self.name}: scores {self.scores.shape} / costs {self.costs.shape} "
                f"do not match {n} prompts x {m} models"
            )
        if len(self.ids) != n or (self.groups and len(self.groups) != n):
            raise ValueError(f"{self.name}: ids/groups length differs from prompts")
        scale = infer_scale(self.scores, self.score_range, name=self.name) if n and m else UNIT
        object.__setattr__(self, "scale", scale)

    def __len__(self) -> int:
        return len(self.prompts)

    def column(self, model: str) -> int:
        """Index of ``model``; raises with the known names if absent."""
        try:
            return self.models.index(model)
        except ValueError:
            raise KeyError(f"{model!r} not in {self.name}; models: {list(self.models)}") from None

    def subset(self, index: Sequence[int] | npt.NDArray[np.int64], name: str | None = None) -> OutcomeDataset:
        """Rows ``index`` in that order (used for splits and bootstrap-free slicing)."""
        idx = np.asarray(index, dtype=np.int64)
        pick = [int(i) for i in idx]
        return OutcomeDataset(
            name=name or self.name,
            ids=tuple(self.ids[i] for i in pick),
            prompts=tuple(self.prompts[i] for i in pick),
            models=self.models,
            scores=self.scores[idx],
            costs=self.costs[idx],
            cost_unit=self.cost_unit,
            groups=tuple(self.groups[i] for i in pick) if self.groups else (),
            responses={k: tuple(v[i] for i in pick) for k, v in self.responses.items()},
            score_range=self.score_range,
        )


def hash_split(
    prompts: Sequence[str], fractions: Sequence[float], salt: str = "modelyard-split-1"
) -> npt.NDArray[np.int64]:
    """Assign each prompt to a split by hashing its text: stable across runs and machines.

    Identical prompts always land in the same split, so duplicates cannot leak
    from training into test.
    """
    edges = np.cumsum(np.asarray(fractions, dtype=np.float64))
    if abs(edges[-1] - 1.0) > 1e-9:
        raise ValueError(f"split fractions must sum to 1, got {list(fractions)}")
    out = np.empty(len(prompts), dtype=np.int64)
    for i, text in enumerate(prompts):
        digest = hashlib.sha256((salt + "\x00" + text).encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2.0**64
        out[i] = int(np.searchsorted(edges, u, side="right"))
    return np.minimum(out, len(fractions) - 1)


def _prompt_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _contaminated(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    with path.open(encoding="utf-8") as fh:
        return {json.loads(line)["eval_prompt"] for line in fh if line.strip()}


def _truth(value: str) -> float:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "1.0"):
        return 1.0
    if lowered in ("false", "0", "0.0", ""):
        return 0.0
    return float(value)


def _read_csv(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _build(
    name: str,
    rows: list[dict[str, str]],
    models: Sequence[str],
    groups: list[str],
    output_tokens: Mapping[str, list[int]],
    responses: Mapping[str, tuple[str, ...]],
) -> OutcomeDataset:
    prompts = tuple(r["prompt"] for r in rows)
    scores = np.array([[_truth(r[m]) for m in models] for r in rows], dtype=np.float64)
    costs = np.array(
        [
            [prompt_cost(m, estimate_tokens(p), output_tokens[m][i]) for m in models]
            for i, p in enumerate(prompts)
        ],
        dtype=np.float64,
    )
    return OutcomeDataset(
        name=name,
        ids=tuple(_prompt_id(name, p) for p in prompts),
        prompts=prompts,
        models=tuple(models),
        scores=scores,
        costs=costs,
        cost_unit="usd",
        groups=tuple(groups),
        responses=responses,
        score_range=(0.0, 1.0),
    )


def load_routellm_mmlu(
    directory: Path = DEFAULT_DATA_DIR / "mmlu", *, decontaminate: bool = True
) -> OutcomeDataset:
    """All ``mmlu_<subject>.csv`` files; drops the published contaminated prompts.

    MMLU answers are one letter, so output cost is one token per call (an
    assumption recorded in ``docs/evaluation.md``).
    """
    bad = _contaminated(directory / "contaminated_prompts.jsonl") if decontaminate else set()
    rows: list[dict[str, str]] = []
    groups: list[str] = []
    for path in sorted(directory.glob("mmlu_*.csv")):
        subject = path.stem.removeprefix("mmlu_")
        for row in _read_csv(path):
            if row["prompt"] not in bad:
                rows.append(row)
                groups.append(subject)
    if not rows:
        raise FileNotFoundError(f"no mmlu_*.csv rows under {directory}")
    models = (GSM8K_STRONG, GSM8K_WEAK)
    ones = {m: [1] * len(rows) for m in models}
    return _build("mmlu", rows, models, groups, ones, {})


def load_routellm_gsm8k(
    path: Path = DEFAULT_DATA_DIR / "gsm8k" / "gsm8k_responses.csv", *, decontaminate: bool = True
) -> OutcomeDataset:
    """GSM8K with both models' full responses; output cost from the response length."""
    bad = _contaminated(path.parent / "contaminated_prompts.jsonl") if decontaminate else set()
    rows = [r for r in _read_csv(path) if r["prompt"] not in bad]
    models = (GSM8K_STRONG, GSM8K_WEAK)
    responses = {m: tuple(r[f"{m}_response"] for r in rows) for m in models}
    out_tokens = {m: [estimate_tokens(t) for t in responses[m]] for m in models}
    return _build("gsm8k", rows, models, ["gsm8k"] * len(rows), out_tokens, responses)


def load_jsonl(path: Path) -> OutcomeDataset:
    """Read the generic ``modelyard-outcomes/1`` JSONL format (see module docstring)."""
    header: dict[str, object] = {}
    records: list[dict[str, object]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            if lineno == 1 and "format" in obj:
                if obj["format"] != FORMAT:
                    raise ValueError(f"{path}: unsupported format {obj['format']!r}; expected {FORMAT}")
                header = obj
                continue
            records.append(obj)
    if not records:
        raise ValueError(f"{path}: no records")
    score_range = _score_range(header.get("score_range"), path)
    first_scores = records[0]["scores"]
    assert isinstance(first_scores, dict)
    models = tuple(str(m) for m in first_scores)
    scores = np.zeros((len(records), len(models)))
    costs = np.zeros((len(records), len(models)))
    for i, rec in enumerate(records):
        s, c = rec["scores"], rec.get("costs", {})
        assert isinstance(s, dict) and isinstance(c, dict)
        if set(s) != set(models):
            raise ValueError(f"{path}: record {i} scores models {sorted(s)} != {sorted(models)}")
        for j, m in enumerate(models):
            scores[i, j] = float(s[m])
            costs[i, j] = float(c.get(m, PRICES.get(m, (1.0, 1.0))[0]))
    resp_models = {m for rec in records for m in dict(rec.get("responses") or {})}  # type: ignore[call-overload]
    responses = {
        m: tuple(str(dict(rec.get("responses") or {}).get(m, "")) for rec in records)  # type: ignore[call-overload]
        for m in sorted(resp_models)
    }
    prompts = tuple(str(r["prompt"]) for r in records)
    infer_scale(scores, score_range, name=str(path))  # errors name the file
    return OutcomeDataset(
        name=path.stem,
        ids=tuple(
            str(r.get("id") or _prompt_id(path.stem, p)) for r, p in zip(records, prompts, strict=True)
        ),
        prompts=prompts,
        models=models,
        scores=scores,
        costs=costs,
        cost_unit=str(header.get("cost_unit", "usd")),
        groups=tuple(str(r.get("group", "")) for r in records),
        responses=responses,
        score_range=score_range,
    )


def _score_range(value: object, path: Path) -> tuple[float, float] | None:
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        return float(value[0]), float(value[1])
    raise ValueError(f"{path}: header score_range must be [worst, best] numbers such as [1, 10], got {value!r}")


def save_jsonl(dataset: OutcomeDataset, path: Path) -> None:
    """Write ``dataset`` in the generic format (round-trips through :func:`load_jsonl`)."""
    with path.open("w", encoding="utf-8") as fh:
        header: dict[str, object] = {"format": FORMAT, "cost_unit": dataset.cost_unit}
        if dataset.score_range is not None:
            header["score_range"] = list(dataset.score_range)
        fh.write(json.dumps(header) + "\n")
        for i, prompt in enumerate(dataset.prompts):
            rec: dict[str, object] = {
                "id": dataset.ids[i],
                "prompt": prompt,
                "scores": {m: float(dataset.scores[i, j]) for j, m in enumerate(dataset.models)},
                "costs": {m: float(dataset.costs[i, j]) for j, m in enumerate(dataset.models)},
            }
            if dataset.groups:
                rec["group"] = dataset.groups[i]
            if dataset.responses:
                rec["responses"] = {m: v[i] for m, v in dataset.responses.items()}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def load_dataset(spec: str, data_dir: Path = DEFAULT_DATA_DIR) -> OutcomeDataset:
    """``mmlu``, ``gsm8k`` (the packaged RouteLLM data) or a path to a ``.jsonl`` file."""
    if spec == "mmlu":
        return load_routellm_mmlu(data_dir / "mmlu")
    if spec == "gsm8k":
        return load_routellm_gsm8k(data_dir / "gsm8k" / "gsm8k_responses.csv")
    path = Path(spec)
    if path.suffix == ".jsonl":
        return load_jsonl(path)
    if path.suffix == ".csv":
        return (
            load_routellm_gsm8k(path)
            if "response" in path.read_text(encoding="utf-8")[:500]
            else load_routellm_mmlu(path.parent)
        )
    raise ValueError(f"unknown dataset {spec!r}: use mmlu, gsm8k, or a .jsonl/.csv path")
