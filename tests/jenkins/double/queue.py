"""The build queue of the double: build/buildWithParameters, queue items, cancel."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from tests.jenkins.double.builds import DEFAULT_SCRIPT, Build
from tests.jenkins.double.common import (
    MULTIBRANCH,
    HttpError,
    Reply,
    User,
    form_field,
    html_error,
    json_reply,
    now_ms,
)
from tests.jenkins.double.jobs import Item


@dataclass
class QueueItem:
    id: int
    job: Item
    params: dict[str, str]
    since: int = field(default_factory=now_ms)
    left: bool = False
    cancelled: bool = False
    build: Build | None = None
    blocked_by: Build | None = None  # a running build of a job without concurrent builds


class QueueMixin:
    """Queueing builds, the queue API and multibranch indexing."""

    def _build(
        self,
        item: Item,
        kind: str,
        query: dict[str, str],
        body: bytes,
        ctype: str | None,
        user: User,
    ) -> Reply:
        if item.cls == MULTIBRANCH:
            self._index(item)
            return Reply(302, headers={"Location": self.abs_url(item.url_path)})
        if item.is_folder:
            raise HttpError(html_error(404, "Not Found"))
        defs = item.parameters()
        if kind == "buildWithParameters" and not defs:
            raise HttpError(html_error(400, f"{item.full_name} is not parameterized"))
        if item.disabled:
            raise HttpError(html_error(409, f"{item.full_name} is not buildable"))
        values = dict(query)
        if kind == "build" and defs:
            # ParametersDefinitionProperty._doBuild reads a submitted form (`json` field); a
            # bare POST, as python-jenkins sends for build_job without parameters, is refused.
            raw = form_field(body, ctype, "json")
            if raw is None:
                raise HttpError(html_error(400, "Nothing is submitted"))
            try:
                submitted = json.loads(raw).get("parameter", [])
            except (ValueError, AttributeError) as e:
                raise HttpError(html_error(400, f"Malformed json form field: {e}")) from e
            entries = submitted if isinstance(submitted, list) else [submitted]
            values = {str(e.get("name")): str(e.get("value", "")) for e in entries}
        params = {d["name"]: values.get(d["name"], d["default"]) for d in defs}
        for q in self.queue.values():
            if q.job is item and not q.left and q.params == params:
                return Reply(303, headers={"Location": self.abs_url(f"/queue/item/{q.id}/")})
        qid = self.next_queue_id
        self.next_queue_id += 1
        q = QueueItem(qid, item, params)
        self.queue[qid] = q
        no_concurrent, abort_previous = item.concurrency()
        if no_concurrent and abort_previous:  # DisableConcurrentBuildsJobProperty.abortPrevious
            for running in item.builds.values():
                if running.building:
                    running.stop_requested = True
        threading.Thread(target=self._dequeue, args=(q, user.name), daemon=True).start()
        return Reply(201, headers={"Location": self.abs_url(f"/queue/item/{qid}/")})

    def _dequeue(self, q: QueueItem, user: str) -> None:
        time.sleep(self.queue_delay)
        while True:
            with self.lock:
                if q.cancelled:
                    return
                running = [b for b in q.job.builds.values() if b.building]
                if not (q.job.concurrency()[0] and running):
                    q.blocked_by = None
                    break
                q.blocked_by = running[0]  # blocked until the running build ends
            time.sleep(0.01)
        with self.lock:
            if q.cancelled:
                return
            job = q.job
            number = job.next_build
            job.next_build += 1
            script = self.scripts.get(job.full_name, DEFAULT_SCRIPT)
            build = Build(self, job, number, q.id, q.params, user, script)
            job.builds[number] = build
            q.build, q.left = build, True
        threading.Thread(target=build.run, daemon=True).start()

    def _index(self, mb: Item) -> None:
        branches = self.branches.get(mb.full_name, [])
        log = ["Starting branch indexing..."]
        for br in branches:
            name = quote(br, safe="")
            if name not in mb.children:
                mb.children[name] = Item(name, mb, b"<flow-definition/>")
                log.append(f"Scheduled build for branch: {br}")
        log.append("Finished: SUCCESS")
        mb.indexing_log = "\n".join(log) + "\n"

    def _queue(self, method: str, rest: str, query: dict[str, str], user: User) -> Reply:
        if rest == "api/json":
            items = [self._queue_json(q) for q in self.queue.values() if not q.left]
            return json_reply(self._filter({"_class": "hudson.model.Queue", "items": items}, query))
        if rest == "cancelItem":
            if method != "POST":
                raise HttpError(html_error(405, "Method Not Allowed"))
            self._require(user, "Job/Cancel")
            q = self.queue.get(int(query.get("id", "0") or 0))
            if q is None or q.left:
                raise HttpError(html_error(404, "Not Found"))
            q.cancelled = q.left = True
            return Reply(204)
        m = re.match(r"item/(\d+)/api/json$", rest)
        if m:
            q = self.queue.get(int(m.group(1)))
            if q is None:
                raise HttpError(html_error(404, "Not Found"))
            return json_reply(self._filter(self._queue_json(q), query))
        raise HttpError(html_error(404, "Not Found"))

    def _queue_json(self, q: QueueItem) -> dict[str, Any]:
        base = {
            "id": q.id,
            "task": {
                "_class": q.job.cls,
                "name": q.job.name,
                "url": self.abs_url(q.job.url_path),
                "color": q.job.color(),
            },
            "url": f"queue/item/{q.id}/",
            "blocked": False,
            "buildable": False,
            "stuck": False,
            "inQueueSince": q.since,
            "params": "".join(f"\n{k}={v}" for k, v in q.params.items()),
            "actions": [{"_class": "hudson.model.ParametersAction"}] if q.params else [],
        }
        if not q.left and q.blocked_by is not None:
            return {
                "_class": "hudson.model.Queue$BlockedItem",
                **base,
                "blocked": True,
                "why": f"Build #{q.blocked_by.number} is already in progress (ETA: N/A)",
                "buildableStartMilliseconds": q.since + int(self.queue_delay * 1000),
            }
        if not q.left:
            return {
                "_class": "hudson.model.Queue$WaitingItem",
                **base,
                "why": "In the quiet period. Expires in 0 ms",
                "timestamp": q.since + int(self.queue_delay * 1000),
            }
        return {
            "_class": "hudson.model.Queue$LeftItem",
            **base,
            "why": None,
            "cancelled": q.cancelled,
            "executable": self._build_ref(q.build) if q.build else None,
        }
