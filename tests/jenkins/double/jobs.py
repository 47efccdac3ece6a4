"""Items of the double: folders, multibranch projects, jobs, createItem, config.xml, job JSON."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from tests.jenkins.double.common import (
    FOLDER,
    FREESTYLE,
    MULTIBRANCH,
    NO_CONCURRENT,
    RESULT_COLOR,
    ROOT_TAGS,
    UNSAFE,
    WORKFLOW_JOB,
    HttpError,
    Reply,
    User,
    apply_tree,
    html_error,
    json_reply,
    parse_tree,
)

if TYPE_CHECKING:
    from tests.jenkins.double.builds import Build
    from tests.jenkins.double.credentials import Credential


class Item:
    """A top-level item or folder child: folder, multibranch project or job."""

    def __init__(self, name: str, parent: Item | None, config: bytes) -> None:
        self.name = name
        self.parent = parent
        self.children: dict[str, Item] = {}
        self.builds: dict[int, Build] = {}
        self.next_build = 1
        self.credentials: dict[str, Credential] = {}
        self.indexing_log = ""
        self.config = b""
        self.cls = ""
        self.set_config(config)

    def set_config(self, config: bytes) -> None:
        root = ET.fromstring(config)
        cls = root.get("class") or root.tag
        self.cls = ROOT_TAGS.get(cls, cls)
        self.config = config

    @property
    def is_root(self) -> bool:
        return self.parent is None

    @property
    def is_folder(self) -> bool:
        return self.is_root or self.cls in (FOLDER, MULTIBRANCH)

    @property
    def full_name(self) -> str:
        if self.parent is None or self.parent.is_root:
            return self.name
        return f"{self.parent.full_name}/{self.name}"

    @property
    def url_path(self) -> str:
        if self.is_root:
            return "/"
        return f"{self.parent.url_path}job/{quote(self.name, safe='')}/"

    def xml_root(self) -> ET.Element:
        return ET.fromstring(self.config)

    @property
    def disabled(self) -> bool:
        el = self.xml_root().find("disabled")
        return el is not None and (el.text or "").strip() == "true"

    def parameters(self) -> list[dict[str, str]]:
        out = []
        for prop in self.xml_root().iter("hudson.model.ParametersDefinitionProperty"):
            defs = prop.find("parameterDefinitions")
            for d in list(defs) if defs is not None else []:
                default = d.findtext("defaultValue")
                if default is None and d.find("choices") is not None:
                    choices = [s.text or "" for s in d.iter("string")]
                    default = choices[0] if choices else ""
                out.append(
                    {
                        "name": d.findtext("name") or "",
                        "type": d.tag.split(".")[-1],
                        "default": default or "",
                        "description": d.findtext("description") or "",
                    }
                )
        return out

    def concurrency(self) -> tuple[bool, bool]:
        """(concurrent builds disabled, abortPrevious) from DisableConcurrentBuildsJobProperty."""
        prop = self.xml_root().find(f"properties/{NO_CONCURRENT}")
        if prop is None:
            return False, False
        return True, (prop.findtext("abortPrevious") or "").strip() == "true"

    def color(self) -> str:
        if self.disabled:
            return "disabled"
        if not self.builds:
            return "notbuilt"
        last = self.builds[max(self.builds)]
        if last.building:
            prev = [b for n, b in self.builds.items() if not b.building]
            base = RESULT_COLOR.get(prev[-1].result or "", "notbuilt") if prev else "notbuilt"
            return base + "_anime"
        return RESULT_COLOR.get(last.result or "", "notbuilt")


# The item classes the double knows, with the plugin that provides each (None: Jenkins core).
# With `set_plugins`, only classes whose plugin is installed can be created from XML.
ITEM_PLUGINS: dict[str, str | None] = {
    FOLDER: "cloudbees-folder",
    MULTIBRANCH: "workflow-multibranch",
    WORKFLOW_JOB: "workflow-job",
    FREESTYLE: None,
}


class JobsMixin:
    """Routes of an item (/job/a/job/b/...) and its JSON views."""

    def _item(
        self,
        method: str,
        item: Item,
        rest: str,
        query: dict[str, str],
        body: bytes,
        ctype: str | None,
        user: User,
    ) -> Reply:
        post_only = {"createItem", "build", "buildWithParameters", "doDelete"}
        if rest in post_only and method != "POST":
            raise HttpError(html_error(405, "Method Not Allowed"))
        if rest in ("", "configure"):
            return Reply(200, f"<html><body>{item.full_name}</body></html>", "text/html")
        if rest == "api/json":
            return json_reply(
                self._filter(self._item_json(item, self._depth(query), "tree" in query), query)
            )
        if rest == "createItem" and item.is_folder and item.cls != MULTIBRANCH:
            self._require(user, "Job/Create")
            return self._create_item(item, query, body, ctype)
        if rest == "config.xml" and not item.is_root:
            if method == "GET":
                return Reply(200, self._with_decl(item.config), "application/xml")
            if method == "POST":
                self._require(user, "Job/Configure")
                try:
                    item.set_config(body)
                except ET.ParseError as e:
                    raise HttpError(html_error(500, f"Failed to parse config.xml: {e}")) from e
                return Reply(200)
        if rest in ("build", "buildWithParameters") and not item.is_root:
            self._require(user, "Job/Build")
            return self._build(item, rest, query, body, ctype, user)
        if rest == "indexing/consoleText" and item.cls == MULTIBRANCH:
            return Reply(200, item.indexing_log)
        if rest == "doDelete" and not item.is_root:
            self._require(user, "Job/Configure")
            del item.parent.children[item.name]
            return Reply(302, headers={"Location": self.abs_url(item.parent.url_path)})
        if rest.startswith("credentials/store/"):
            return self._credentials(
                method, item, rest[len("credentials/store/") :], query, body, ctype, user
            )
        m = re.match(r"(\d+|lastBuild)/(.*)$", rest)
        if m and not item.is_folder:
            number = (
                max(item.builds)
                if m.group(1) == "lastBuild" and item.builds
                else (int(m.group(1)) if m.group(1).isdigit() else -1)
            )
            build = item.builds.get(number)
            if build is None:
                raise HttpError(html_error(404, "Not Found"))
            return self._build_endpoint(method, build, m.group(2), query, body, user)
        raise HttpError(html_error(404, "Not Found"))

    @staticmethod
    def _depth(query: dict[str, str]) -> int:
        try:
            return int(query.get("depth", "0"))
        except ValueError:
            return 0

    @staticmethod
    def _with_decl(config: bytes) -> bytes:
        if config.lstrip().startswith(b"<?xml"):
            return config
        return b"<?xml version='1.1' encoding='UTF-8'?>\n" + config

    def _job_ref(self, item: Item) -> dict[str, Any]:
        ref = {"_class": item.cls, "name": item.name, "url": self.abs_url(item.url_path)}
        if not item.is_folder:
            ref["color"] = item.color()
        return ref

    def _item_json(self, item: Item, depth: int, tree: bool = False) -> dict[str, Any]:
        if item.is_root:
            return {
                "_class": "hudson.model.Hudson",
                "mode": "NORMAL",
                "nodeName": "",
                "nodeDescription": "the Jenkins controller's built-in node",
                "numExecutors": 2,
                "description": None,
                "jobs": [self._child_json(c, depth, tree) for c in item.children.values()],
                "primaryView": {
                    "_class": "hudson.model.AllView",
                    "name": "all",
                    "url": self.abs_url("/"),
                },
                "views": [
                    {"_class": "hudson.model.AllView", "name": "all", "url": self.abs_url("/")}
                ],
                "quietingDown": False,
                "useCrumbs": True,
                "useSecurity": True,
                "url": self.abs_url("/"),
            }
        out: dict[str, Any] = {
            **self._job_ref(item),
            "fullName": item.full_name,
            "displayName": item.name,
            "fullDisplayName": item.full_name,
            "description": item.xml_root().findtext("description"),
        }
        if item.is_folder:
            out["jobs"] = [self._child_json(c, depth, tree) for c in item.children.values()]
            return out
        builds = sorted(item.builds.values(), key=lambda b: -b.number)
        params = item.parameters()
        out.update(
            {
                "buildable": not item.disabled,
                "inQueue": any(not q.left and q.job is item for q in self.queue.values()),
                "nextBuildNumber": item.next_build,
                "builds": [self._build_ref(b) for b in builds],
                "firstBuild": self._build_ref(builds[-1]) if builds else None,
                "lastBuild": self._build_ref(builds[0]) if builds else None,
                "lastCompletedBuild": next(
                    (self._build_ref(b) for b in builds if not b.building), None
                ),
                "property": [
                    {
                        "_class": "hudson.model.ParametersDefinitionProperty",
                        "parameterDefinitions": [
                            {
                                "name": p["name"],
                                "type": p["type"],
                                "description": p["description"],
                                "defaultParameterValue": {"name": p["name"], "value": p["default"]},
                            }
                            for p in params
                        ],
                    }
                ]
                if params
                else [],
            }
        )
        return out

    def _child_json(self, item: Item, depth: int, tree: bool) -> dict[str, Any]:
        if depth > 0:
            return self._item_json(item, depth - 1, tree)
        ref = self._job_ref(item)
        if tree and item.is_folder:  # `tree=` reaches as deep as it names
            ref["jobs"] = [self._child_json(c, 0, tree) for c in item.children.values()]
        return ref

    def _filter(self, obj: Any, query: dict[str, str]) -> Any:
        tree = query.get("tree")
        return apply_tree(obj, parse_tree(tree)) if tree else obj

    def _create_item(
        self, parent: Item, query: dict[str, str], body: bytes, ctype: str | None
    ) -> Reply:
        form: dict[str, str] = {}
        if ctype and ctype.startswith("application/x-www-form-urlencoded"):
            form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        name = query.get("name") or form.get("name")
        mode = query.get("mode") or form.get("mode")
        if not name:
            raise HttpError(html_error(400, "Query parameter 'name' is required", True))
        bad = next((c for c in name if c in UNSAFE), None)
        if bad:
            raise HttpError(html_error(400, f"‘{bad}’ is an unsafe character", True))
        if name in parent.children:
            raise HttpError(html_error(400, f"A job already exists with the name ‘{name}’", True))
        if mode:
            if mode == "copy":
                src = parent.children.get(form.get("from") or query.get("from", ""))
                if src is None:
                    raise HttpError(html_error(400, "No such job: " + str(query.get("from")), True))
                config = src.config
            elif mode == FOLDER:
                config = f"<{FOLDER}/>".encode()
            elif mode in (WORKFLOW_JOB, "org.jenkinsci.plugins.workflow.job.WorkflowJob"):
                config = b"<flow-definition/>"
            elif mode == FREESTYLE:
                config = b"<project/>"
            else:
                raise HttpError(html_error(400, f"No item type ‘{mode}’ is known", True))
            parent.children[name] = Item(name, parent, config)
            loc = self.abs_url(parent.children[name].url_path + "configure")
            return Reply(302, headers={"Location": loc})
        if ctype is None:
            raise HttpError(html_error(400, "No Content-Type header set", True))
        try:
            item = Item(name, parent, body)
        except ET.ParseError as e:
            raise HttpError(html_error(500, f"Failed to parse config.xml: {e}")) from e
        provider = ITEM_PLUGINS.get(item.cls, "?")
        installed = not self.plugins or provider is None or provider in self.plugins
        if provider == "?" or not installed:
            # XStream cannot map the root element to a class: no installed plugin provides it.
            raise HttpError(
                html_error(
                    400,
                    f"Unable to create item {name}: no installed plugin provides the class "
                    f"‘{item.cls}’ of the root element",
                    True,
                )
            )
        parent.children[name] = item
        return Reply(200)
