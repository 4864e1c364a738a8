"""The registry of periodic jobs. Apps register theirs in their `tasks.py`, which each
app's `AppConfig.ready` imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.tasks import Task


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: Task
    every: timedelta


_jobs: dict[str, PeriodicJob] = {}


def register(name: str, task: Task, every: timedelta) -> None:
    _jobs[name] = PeriodicJob(name=name, task=task, every=every)


def registered_jobs() -> list[PeriodicJob]:
    return sorted(_jobs.values(), key=lambda job: job.name)
