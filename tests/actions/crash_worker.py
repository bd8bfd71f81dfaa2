"""Run (or resume) the crash test's action graph in its own process; print the report as JSON.

python crash_worker.py STORE_DB RUN_ID CRM_URL PAYMENTS_URL
"""

from __future__ import annotations

import asyncio
import sys

from modelyard.actions import ActionGraph, Executor, HttpTool, SQLiteStepStore, ToolSet

GRAPH = {
    "goal": "three notes around a slow read",
    "steps": [
        {"id": "crm", "tool": "crm.pipeline", "args": {"quarter": "Q1"}},
        {"id": "note1", "tool": "crm.publish", "args": {"title": "one: {{steps.crm.result.open_deals}} deals"}},
        {"id": "pay", "tool": "payments.revenue", "args": {"quarter": "Q1"}},
        {
            "id": "note2",
            "tool": "crm.publish",
            "args": {"title": "two: {{steps.pay.result.revenue_usd}}"},
            "depends_on": ["note1"],
        },
        {"id": "note3", "tool": "crm.publish", "args": {"title": "three"}, "depends_on": ["note2"]},
    ],
    "retry": {"attempts": 3, "backoff_s": 0.05},
}


async def main(store_path: str, run_id: str, crm: str, payments: str) -> None:
    tools = ToolSet(
        [
            HttpTool("crm.pipeline", method="GET", url=f"{crm}/pipeline"),
            HttpTool(
                "crm.publish", method="POST", url=f"{crm}/notes", lookup_url=f"{crm}/_effects/{{idempotency_key}}"
            ),
            HttpTool("payments.revenue", method="GET", url=f"{payments}/revenue"),
        ]
    )
    store = SQLiteStepStore(store_path)
    try:
        report = await Executor(tools, store).run(ActionGraph.model_validate(GRAPH), run_id=run_id)
    finally:
        await tools.aclose()
        store.close()
    print(report.model_dump_json())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
