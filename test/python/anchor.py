"""What every anchor script shares: one printed line per check, and the vectors it got.

The scripts run the official Python clients, unchanged, against `gembed serve`; the Vitest test
(test/python-anchors.test.ts) starts the server, runs each script with the project's venv, and
compares the vectors written here with gembed's own local model, so the Python side checks the
transport and the SDK's behaviour, and the vectors are checked against the server's contract.
"""

import json
import os
import sys
from typing import Any, Optional


class Anchor:
    """Counts and prints checks; an assert that fails ends the script (exit code 1)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.checks = 0
        self.vectors: list[dict[str, Any]] = []
        self.url = os.environ["GEMBED_SERVER_URL"]
        self.key = os.environ["GEMBED_API_KEY"]

    def check(self, label: str, condition: bool, detail: Any = None) -> None:
        """Asserts `condition`; prints `ok <label>` (the Vitest test looks for these lines)."""
        assert condition, f"{self.name}: {label}: failed{'' if detail is None else f' ({detail!r})'}"
        self.checks += 1
        print(f"ok {label}", flush=True)

    def record(
        self,
        label: str,
        text: str,
        values: Optional[list[float]],
        model: str = "gemini-embedding-001",
        task_type: Optional[str] = None,
        title: Optional[str] = None,
        output_dimensionality: Optional[int] = None,
    ) -> None:
        """Keeps a vector for the Vitest test to compare with the local model's."""
        assert values is not None, f"{self.name}: {label}: no values"
        entry: dict[str, Any] = {"label": label, "text": text, "model": model, "values": list(values)}
        if task_type is not None:
            entry["taskType"] = task_type
        if title is not None:
            entry["title"] = title
        if output_dimensionality is not None:
            entry["outputDimensionality"] = output_dimensionality
        self.vectors.append(entry)

    def finish(self) -> None:
        """Writes the vectors to GEMBED_ANCHOR_OUT and prints the closing line."""
        out = os.environ.get("GEMBED_ANCHOR_OUT")
        if out:
            with open(out, "w", encoding="utf-8") as handle:
                json.dump({"checks": self.checks, "vectors": self.vectors}, handle)
        print(f"{self.name}: {self.checks} checks passed", flush=True)
        sys.stdout.flush()
