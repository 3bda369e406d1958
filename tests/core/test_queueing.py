"""enqueue() in eager mode (dev server, tests) runs the task in-process without touching Celery's process-wide
"a task is running: joining a result would block" flag. Celery's eager apply_async sets and restores that flag
around the task; two threads doing it at once (the threaded dev server, concurrent requests) can restore it in
the wrong order and leave it set, after which every `result.get()` in the process raises "Never call
result.get() within a task"."""

from __future__ import annotations

import threading

from celery import shared_task
from celery._state import task_join_will_block

from apps.core.queueing import enqueue

_steps: dict[str, threading.Event] = {}


@shared_task(name="tests.core.overlapping")
def overlapping(me: str, wait_for: str, then_set: str) -> str:
    _steps[then_set].set()
    assert _steps[wait_for].wait(10)
    return me


def test_overlapping_eager_tasks_in_two_threads_leave_results_joinable(settings):
    assert overlapping.app.conf.task_always_eager
    for name in ("a_in", "b_in", "a_done", "never"):
        _steps[name] = threading.Event()

    def first():
        enqueue(overlapping, "a", "b_in", "a_in")  # inside until the second is inside too
        _steps["a_done"].set()

    def second():
        assert _steps["a_in"].wait(10)
        enqueue(overlapping, "b", "a_done", "b_in")  # leaves after the first has left

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not task_join_will_block()
    assert overlapping.delay("c", "a_done", "never").get() == "c"  # a result can still be joined
