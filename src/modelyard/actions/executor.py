"""The executor: run an action graph deterministically, and never re-plan.

* **Order.** Steps run when every dependency is done; independent steps run
  at once (up to ``max_parallel``). A step whose dependency failed is skipped.
* **Tries.** Each try is bounded by the step's ``timeout_s`` and the run's
  deadline. A failed try is tried again when its error kind is in the step's
  `RetryPolicy` and tries remain, after the tool's Retry-After (when it said
  one) or exponential backoff.
* **Exactly once.** Side-effecting tools get an idempotency key, the same on
  every try and after a resume. Before each try the step is written as
  ``running`` to the `StepStore`; when the try ends, as ``done`` (with the
  result) or failed. A step found ``running`` on resume — or a try that ended
  in doubt (a timeout, a connection lost after sending) — is *in doubt*: for a
  side-effecting tool the executor asks ``tool.lookup(key)`` and takes the
  earlier result when the call took effect; when the tool cannot tell, the
  step fails rather than risk a second effect. Finished steps are never run
  again.
* **Gates.** A step with ``needs_approval`` waits (status
  ``awaiting_approval``) until a later `Executor.run` / `resume` approves it;
  steps that do not depend on it go on.
* **Failure.** A step that still fails fails the run: the `RunReport` names the
  step, its attempts and every error, and the declared compensations of the
  steps already done run in reverse order. There is no re-planning.
* **Audit.** Every try, lookup, gate and compensation is an event on the
  request's `RequestTrace` (so it lands in the one telemetry record); the run's
  summary goes in ``trace.details["actions"]``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from modelyard.actions.errors import ActionRunError, ToolError
from modelyard.actions.graph import ActionGraph, ActionStep
from modelyard.actions.refs import ReferenceLookupError, render
from modelyard.actions.report import RunReport, RunStatus, StepError, StepReport
from modelyard.actions.store import SQLiteStepStore, StepStore
from modelyard.actions.tools.base import Tool, ToolSet
from modelyard.errors import RequestError
from modelyard.types import Deadline, RequestTrace, new_id

__all__ = ["Executor", "idempotency_key"]

Sleep = Callable[[float], Awaitable[None]]


def idempotency_key(run_id: str, step_id: str, purpose: str = "do") -> str:
    """The key a step's tool gets: stable for (run, step), so retries and resumes send the same one."""
    digest = hashlib.sha256(f"{run_id}\x00{step_id}\x00{purpose}".encode()).hexdigest()[:32]
    return f"my-{digest}"


class Executor:
    """Runs `ActionGraph`s with the tools of one `ToolSet`, keeping state in a `StepStore`."""

    def __init__(
        self,
        tools: ToolSet,
        store: StepStore | None = None,
        *,
        max_parallel: int = 8,
        default_deadline_s: float = 3600.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.tools = tools
        self.store: StepStore = store if store is not None else SQLiteStepStore()
        self.max_parallel = max_parallel
        self.default_deadline_s = default_deadline_s
        self._sleep = sleep

    # -- public -------------------------------------------------------------------

    def check(self, graph: ActionGraph, tenant: str | None) -> None:
        """Every tool the graph names exists and the tenant may use it (before anything runs)."""
        names = {s.tool for s in graph.steps} | {s.compensate.tool for s in graph.steps if s.compensate}
        unknown = sorted(n for n in names if n not in self.tools)
        if unknown:
            raise RequestError(
                f"the action graph names unknown tool(s) {', '.join(unknown)}; known: {', '.join(self.tools.names())}",
                param="tool",
            )
        self.tools.check(names, tenant)

    async def run(
        self,
        graph: ActionGraph,
        *,
        run_id: str | None = None,
        inputs: dict[str, Any] | None = None,
        tenant: str | None = None,
        dry_run: bool = False,
        approve: Iterable[str] = (),
        trace: RequestTrace | None = None,
        deadline: Deadline | None = None,
        raise_on_failure: bool = False,
    ) -> RunReport:
        """Run (or, with a ``run_id`` the store knows, resume) ``graph``; the `RunReport` says how it went.

        ``raise_on_failure``: raise `ActionRunError` (carrying the report) instead of returning a failed one.
        """
        self.check(graph, tenant)
        run_id = run_id or new_id("run")
        inputs = dict(inputs or {})
        if dry_run:
            return self._dry_run(graph, run_id, inputs)
        graph_json = graph.model_dump(mode="json")
        if not self.store.create_run(run_id, graph_json, inputs, tenant):
            row = self.store.load_run(run_id)
            assert row is not None
            if row.graph != graph_json:
                raise RequestError(f"run {run_id!r} exists with a different action graph", param="run_id")
            inputs = row.inputs
        report = await _Run(self, graph, run_id, inputs, set(approve), trace, deadline).execute()
        if raise_on_failure and report.status == "failed":
            raise ActionRunError(report)
        return report

    async def resume(
        self,
        run_id: str,
        *,
        approve: Iterable[str] = (),
        trace: RequestTrace | None = None,
        deadline: Deadline | None = None,
    ) -> RunReport:
        """Go on with a stored run: finished steps keep their results; the rest run (in doubt: see module)."""
        row = self.store.load_run(run_id)
        if row is None:
            raise RequestError(f"no action run {run_id!r} in {self.store!r}", param="run_id")
        graph = ActionGraph.model_validate(row.graph)
        self.check(graph, row.tenant)
        return await _Run(self, graph, run_id, row.inputs, set(approve), trace, deadline).execute()

    # -- dry run ------------------------------------------------------------------

    def _dry_run(self, graph: ActionGraph, run_id: str, inputs: dict[str, Any]) -> RunReport:
        steps: list[StepReport] = []
        scope: dict[str, Any] = {"inputs": inputs, "steps": {}}
        for step in graph.steps:
            tool = self.tools[step.tool]
            try:
                args: Any = render(step.args, scope)
                shown = f"args {args}"
            except ReferenceLookupError:
                shown = f"args {step.args} (filled from earlier steps when run)"
            gate = "; waits for approval" if step.needs_approval else ""
            steps.append(
                StepReport(
                    id=step.id,
                    tool=step.tool,
                    side_effect=tool.side_effect,
                    idempotency_key=idempotency_key(run_id, step.id) if tool.side_effect else None,
                    note=f"would call {step.tool} with {shown}{gate}",
                )
            )
        return RunReport(run_id=run_id, status="dry_run", goal=graph.goal, steps=steps, plan=graph.levels())


class _Run:
    """One execution of one run (a first run or a resume)."""

    def __init__(
        self,
        executor: Executor,
        graph: ActionGraph,
        run_id: str,
        inputs: dict[str, Any],
        approve: set[str],
        trace: RequestTrace | None,
        deadline: Deadline | None,
    ) -> None:
        self.x = executor
        self.graph = graph
        self.run_id = run_id
        self.inputs = inputs
        self.approve = approve
        self.trace = trace
        self.deadline = deadline or Deadline.after(executor.default_deadline_s)
        stored = executor.store.load_steps(run_id)
        self.states: dict[str, StepReport] = {}
        for step in graph.steps:
            tool = executor.tools[step.tool]
            state = stored.get(step.id) or StepReport(id=step.id, tool=step.tool, side_effect=tool.side_effect)
            if state.status == "done":
                state.resumed = True
            self.states[step.id] = state
        self.finished_order: list[str] = [s for s in self.states if self.states[s].status == "done"]
        self._slots = asyncio.Semaphore(executor.max_parallel)

    def _audit(self, what: str, detail: str, **data: Any) -> None:
        if self.trace is not None:
            self.trace.event(f"action.{what}", detail, run_id=self.run_id, **data)

    def _audit_step(self, state: StepReport, detail: str, status: str, **data: Any) -> None:
        """An ``action.step`` event: the step, its tool, the attempt and how it ended, plus ``data``."""
        self._audit("step", detail, step=state.id, tool=state.tool, attempt=state.attempts, status=status, **data)

    def _save(self, state: StepReport) -> None:
        self.x.store.save_step(self.run_id, state)

    def _scope(self) -> dict[str, Any]:
        done = {sid: {"result": s.result} for sid, s in self.states.items() if s.status in ("done", "compensated")}
        return {"inputs": self.inputs, "steps": done}

    async def execute(self) -> RunReport:
        self.x.store.set_run_status(self.run_id, "running")
        self._audit("run", f"run {self.run_id} started", goal=self.graph.goal[:200])
        running: dict[str, asyncio.Task[None]] = {}
        while True:
            for step in self.graph.steps:
                state = self.states[step.id]
                if step.id in running or state.status not in ("pending", "running", "awaiting_approval"):
                    continue
                deps = [self.states[d].status for d in step.dependencies()]
                if any(d in ("failed", "skipped") for d in deps):
                    state.status = "skipped"
                    state.note = "a step it depends on failed"
                    self._save(state)
                    continue
                if all(d == "done" for d in deps):
                    if state.status == "awaiting_approval" and step.id not in self.approve:
                        continue
                    running[step.id] = asyncio.get_running_loop().create_task(self._step(step))
            if not running:
                break
            done, _ = await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
            for sid in [sid for sid, task in running.items() if task in done]:
                running.pop(sid).result()  # a bug in the executor itself surfaces here
        return await self._finish()

    async def _finish(self) -> RunReport:
        failed = next((s for s in self.graph.steps if self.states[s.id].status == "failed"), None)
        compensated: list[str] = []
        status: RunStatus
        if failed is not None:
            compensated = await self._compensate()
            status = "failed"
        elif any(s.status == "awaiting_approval" for s in self.states.values()):
            status = "awaiting_approval"
        elif any(s.status in ("pending", "running") for s in self.states.values()):
            status = "awaiting_approval"  # waiting behind a gate
        else:
            status = "done"
        output: Any = None
        if status == "done":
            scope = self._scope()
            output = (
                render(self.graph.output, scope)
                if self.graph.output is not None
                else {sid: s["result"] for sid, s in scope["steps"].items()}
            )
        self.x.store.set_run_status(self.run_id, status)
        report = RunReport(
            run_id=self.run_id,
            status=status,
            goal=self.graph.goal,
            steps=[self.states[s.id] for s in self.graph.steps],
            failed_step=failed.id if failed else None,
            output=output,
            compensated=compensated,
            plan=self.graph.levels(),
        )
        self._audit("run", report.summary()[:500], status=status)
        if self.trace is not None:
            self.trace.details["actions"] = {
                "run_id": self.run_id,
                "status": status,
                "failed_step": report.failed_step,
                "steps": [
                    {
                        "id": s.id,
                        "tool": s.tool,
                        "status": s.status,
                        "attempts": s.attempts,
                        "latency_ms": round(s.latency_ms, 1),
                        "resumed": s.resumed,
                        "errors": [f"{e.kind}: {e.message[:120]}" for e in s.errors],
                    }
                    for s in report.steps
                ],
            }
        return report

    # -- one step --------------------------------------------------------------

    async def _step(self, step: ActionStep) -> None:
        state = self.states[step.id]
        tool = self.x.tools[step.tool]
        if step.needs_approval and step.id not in self.approve and state.status != "running":
            state.status = "awaiting_approval"
            state.note = "waiting for approval"
            self._save(state)
            self._audit("approval", f"{step.id} waits for approval", step=step.id, tool=step.tool)
            return
        if step.needs_approval and step.id in self.approve:
            self._audit("approval", f"{step.id} approved", step=step.id, tool=step.tool)
        async with self._slots:
            await self._attempts(step, state, tool)

    async def _attempts(self, step: ActionStep, state: StepReport, tool: Tool) -> None:
        try:
            args = render(step.args, self._scope())
        except ReferenceLookupError as exc:
            self._fail(state, StepError(attempt=state.attempts, kind="reference", message=str(exc)))
            return
        if tool.input_schema is not None:
            problem = _schema_problem(args, tool.input_schema)
            if problem is not None:
                self._fail(state, StepError(attempt=state.attempts, kind="schema", message=problem))
                return
        key = None
        if tool.side_effect:
            key = state.idempotency_key or idempotency_key(self.run_id, step.id)
            state.idempotency_key = key
            if state.status == "running" and await self._settled(
                step, state, tool, "a try was in flight when the run stopped"
            ):
                return
        policy = self.graph.policy(step)
        while True:
            if state.attempts >= policy.attempts:
                state.note = state.note or "no tries left"
                self._fail(state, None)
                return
            state.attempts += 1
            state.status = "running"
            self._save(state)  # durable before the call: a crash from here on leaves the step in doubt
            started = time.perf_counter()
            timeout = min(step.timeout_s, self.deadline.remaining())
            try:
                if timeout <= 0:
                    raise ToolError("the run's deadline has passed", kind="timeout")
                result = await asyncio.wait_for(tool.call(args, idempotency_key=key), timeout)
            except TimeoutError:
                error = ToolError(f"no answer in {timeout:.3g} s", kind="timeout", in_doubt=tool.side_effect)
            except ToolError as exc:
                error = exc
            else:
                state.latency_ms += (time.perf_counter() - started) * 1000.0
                self._done(state, result)
                self._audit_step(state, f"{step.id} done", "ok", latency_ms=round(state.latency_ms, 1))
                return
            state.latency_ms += (time.perf_counter() - started) * 1000.0
            state.errors.append(
                StepError(
                    attempt=state.attempts, kind=error.kind, message=str(error)[:500], retry_after=error.retry_after
                )
            )
            self._save(state)
            self._audit_step(
                state, f"{step.id} try {state.attempts} failed: {error.kind}", "error", error_kind=error.kind
            )
            if (
                error.in_doubt
                and tool.side_effect
                and await self._settled(step, state, tool, f"try {state.attempts} ended in doubt")
            ):
                return
            if error.kind not in policy.on or state.attempts >= policy.attempts:
                self._fail(state, None)
                return
            wait = (
                error.retry_after
                if error.retry_after is not None
                else min(policy.max_backoff_s, policy.backoff_s * 2 ** (state.attempts - 1))
            )
            if wait >= self.deadline.remaining():
                state.note = f"the next try (in {wait:.3g} s) would pass the run's deadline"
                self._fail(state, None)
                return
            await self.x._sleep(wait)

    async def _settled(self, step: ActionStep, state: StepReport, tool: Tool, why: str) -> bool:
        """For an in-doubt side-effecting step: True when settled (done from the lookup, or failed)."""
        assert state.idempotency_key is not None
        found = await tool.lookup(state.idempotency_key)
        if found is None:
            state.note = f"{why}; {step.tool} cannot say whether it took effect, so it is not sent again"
            self._audit("lookup", f"{step.id}: in doubt, no lookup", step=step.id, tool=step.tool)
            self._fail(state, StepError(attempt=state.attempts, kind="in_doubt", message=state.note))
            return True
        applied, result = found
        self._audit(
            "lookup",
            f"{step.id}: {'took effect' if applied else 'did not take effect'}",
            step=step.id,
            tool=step.tool,
            applied=applied,
        )
        if applied:
            state.note = f"{why}; the tool's lookup says it took effect: its result is kept, nothing re-sent"
            self._done(state, result)
            return True
        return False

    def _done(self, state: StepReport, result: Any) -> None:
        state.status = "done"
        state.result = result
        self._save(state)
        self.finished_order.append(state.id)

    def _fail(self, state: StepReport, error: StepError | None) -> None:
        if error is not None:
            state.errors.append(error)
        state.status = "failed"
        self._save(state)
        self._audit_step(state, f"{state.id} failed after {state.attempts} attempt(s)", "failed")

    async def _compensate(self) -> list[str]:
        """Undo the finished steps that declare how, last finished first. Returns the steps undone."""
        undone: list[str] = []
        for sid in reversed(self.finished_order):
            step = self.graph.step(sid)
            state = self.states[sid]
            if step.compensate is None or state.status != "done":
                continue
            tool = self.x.tools[step.compensate.tool]
            scope = self._scope()
            scope["result"] = state.result
            try:
                args = render(step.compensate.args, scope)
                key = idempotency_key(self.run_id, sid, "compensate") if tool.side_effect else None
                await asyncio.wait_for(tool.call(args, idempotency_key=key), step.timeout_s)
            except (ToolError, TimeoutError, ReferenceLookupError) as exc:
                state.note = f"compensation {step.compensate.tool} failed: {exc}"[:500]
                self._save(state)
                self._audit("compensate", f"{sid}: compensation failed", step=sid, tool=step.compensate.tool)
                continue
            state.status = "compensated"
            state.note = f"undone by {step.compensate.tool}"
            self._save(state)
            undone.append(sid)
            self._audit("compensate", f"{sid} undone", step=sid, tool=step.compensate.tool)
        return undone


def _schema_problem(args: Any, schema: dict[str, Any]) -> str | None:
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(args))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(args)"
    return f"arguments do not match the tool's input schema at {where}: {error.message}"
