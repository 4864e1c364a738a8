"""Tasks used by the worker tests (importable by a `kassa worker` subprocess)."""

from __future__ import annotations

import time
from pathlib import Path

from django.tasks import task


@task()
def slow_touch(path: str, seconds: float) -> None:
    time.sleep(seconds)
    Path(path).write_text("done")
