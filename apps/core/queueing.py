"""Queue a Celery task after a write without ever failing the request that made the write.

The write has committed by the time a task is queued; if the broker is unreachable (Redis down, a network blip),
raising would turn a stored batch or a recorded approval into a 500 that the caller believes failed. Instead the
failure is logged and the work is left to the beat sweeps (usage.rate_pending every 15 s, alerts.evaluate_all,
alerts.sweep_deliveries) or to the next enqueue that succeeds. In eager mode (dev, tests) the task runs in-process
and its own errors propagate as before: only failures to *publish* are absorbed.
"""

from __future__ import annotations

import logging

from django.db import transaction
from kombu import serialization

log = logging.getLogger("ratedesk.queueing")


def enqueue(task, *args, **kwargs) -> bool:
    """Publish `task(*args, **kwargs)`; True when queued (or run eagerly), False when the broker refused."""
    if task.app.conf.task_always_eager:
        _run_eagerly(task, args, kwargs)
        return True
    try:
        # No publish retries: a request must not wait out a broker outage; the beat sweep does the work.
        task.apply_async(args=args, kwargs=kwargs, retry=False)
    except Exception:  # kombu OperationalError, OSError, redis ConnectionError, ...: whatever the transport raises
        log.warning("could not queue %s; the periodic sweep will do the work", task.name, exc_info=True)
        return False
    return True


def _run_eagerly(task, args: tuple, kwargs: dict) -> None:
    """Run the task in-process as a worker would receive it (arguments through the task serializer and back), with
    `Task.apply`: not `apply_async`, whose eager path sets Celery's process-wide "joining would block" flag around
    the task and, with two threads at once (the threaded dev server), can leave it set for good."""
    content_type, encoding, data = serialization.dumps((args, kwargs), task.app.conf.task_serializer)
    args, kwargs = serialization.loads(data, content_type, encoding, accept=[content_type])
    task.apply(args=args, kwargs=kwargs)


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """enqueue() once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: enqueue(task, *args, **kwargs))
