"""A Jenkins REST client on python-jenkins that turns every HTTP failure into one clear error.

python-jenkins 1.8.3 maps only 401/403/500 and 404 to its own exceptions (dropping the answer)
and lets 400, 405 and 409 escape as raw `requests.HTTPError`. Here every failed answer reaches
`_failure()` with the response in hand, so each error names the URL, says what Jenkins said
(`X-Error` or the page text) and what to do. Every call has a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping
from html import unescape
from typing import Any
from urllib.parse import quote, urljoin

import requests

import jenkins
from ml.config import Settings
from ml.errors import InputError, MlciError, ServiceError

XML_HEADERS = {"Content-Type": "application/xml; charset=utf-8"}


class _Refused(Exception):
    """An HTTP answer >= 400 (other than 404), carried with its response."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class _Jenkins(jenkins.Jenkins):
    follow_redirects = True

    def _request(self, req: requests.Request, stream: bool | None = None) -> requests.Response:
        prepared = self._session.prepare_request(req)
        settings = self._session.merge_environment_settings(
            prepared.url, {}, stream, self._session.verify, None
        )
        settings["timeout"] = self.timeout
        settings["allow_redirects"] = self.follow_redirects
        return self._session.send(prepared, **settings)

    def _response_handler(self, response: requests.Response) -> requests.Response:
        # 404 keeps python-jenkins' NotFoundException: its crumb and job_exists logic rely on it.
        if response.status_code >= 400 and response.status_code != 404:
            raise _Refused(response)
        return super()._response_handler(response)


def missing_job(full_name: str) -> str:
    """The 404 message for a job: what is missing and how to fix it."""
    return (
        f"no job {full_name} on the controller: check the name and jenkins.folder in "
        "mlci.yaml, or run `mlci jenkins apply` to create the jobs"
    )


def job_url_path(full_name: str) -> str:
    """`ml/train/main` -> `job/ml/job/train/job/main/` (each segment URL-encoded)."""
    parts = [p for p in full_name.strip("/").split("/") if p]
    return "".join(f"job/{quote(p, safe='')}/" for p in parts)


def _detail(response: requests.Response) -> str:
    """What Jenkins said: `X-Error`, else the error page's message, on one line."""
    x_error = response.headers.get("X-Error")
    if x_error:
        # Jetty sends UTF-8 bytes; http.client reads headers as Latin-1.
        with contextlib.suppress(UnicodeError):
            x_error = x_error.encode("latin-1").decode("utf-8")
        return x_error.strip()
    text = response.text or ""
    if "html" in response.headers.get("Content-Type", "") or text.lstrip().startswith("<"):
        m = re.search(r"<p>(.*?)</p>", text, re.S) or re.search(r"<title>(.*?)</title>", text, re.S)
        text = m.group(1) if m else re.sub(r"<[^>]+>", " ", text)
        text = unescape(re.sub(r"<[^>]+>", " ", text))
    text = " ".join(text.split())
    return text[:300]


class JenkinsClient:
    """One authenticated session with a controller: requests, crumbs, timeouts, error mapping."""

    def __init__(
        self,
        url: str,
        user: str,
        token: str,
        timeout: float = 30.0,
        user_env: str = "JENKINS_USER",
        token_env: str = "JENKINS_TOKEN",
    ) -> None:
        self.url = url.rstrip("/") + "/"
        self.user = user
        self.timeout = timeout
        self.user_env = user_env
        self.token_env = token_env
        self.server = _Jenkins(self.url, username=user, password=token, timeout=timeout)

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> JenkinsClient:
        """A client for settings.jenkins; user and token come from the env vars it names."""
        js = settings.jenkins
        env = os.environ if environ is None else environ
        user, token = env.get(js.user_env, ""), env.get(js.token_env, "")
        missing = [
            name for name, value in ((js.user_env, user), (js.token_env, token)) if not value
        ]
        if missing:
            raise InputError(
                f"{' and '.join(missing)} not set: export the Jenkins user name in "
                f"{js.user_env} and an API token of that user in {js.token_env} "
                f"(for {js.url}; the names come from jenkins.user_env/token_env in mlci.yaml)"
            )
        return cls(js.url, user, token, js.timeout, js.user_env, js.token_env)

    # ---- transport
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        not_found: str | None = None,
        accept: tuple[int, ...] = (),
    ) -> requests.Response:
        """Send one request (crumb and auth handled by python-jenkins); raise MlciError on failure.

        `not_found` replaces the generic 404 message (e.g. "no job ml/release/deploy"); statuses in
        `accept` are returned instead of raised.
        """
        url = urljoin(self.url, path.lstrip("/"))
        req = requests.Request(method, url, params=params, data=data, headers=headers or {})
        shown = url.split("?")[0]
        try:
            return self.server.jenkins_request(req)
        except _Refused as e:
            if e.response.status_code in accept:
                return e.response
            raise self._failure(method, shown, e.response) from None
        except jenkins.NotFoundException:
            what = not_found or f"nothing at {shown}; check jenkins.url in mlci.yaml"
            raise InputError(f"{what} ({method} {shown} answered 404 Not Found)") from None
        except jenkins.TimeoutException:
            raise ServiceError(
                f"Jenkins at {self.url} did not answer within {self.timeout:g} s "
                f"({method} {shown}); the controller may be overloaded: retry, or raise "
                f"jenkins.timeout in mlci.yaml"
            ) from None
        except requests.ConnectionError as e:
            reason = "connection refused" if "refused" in str(e).lower() else "cannot connect"
            raise ServiceError(
                f"cannot reach Jenkins at {self.url}: {reason} ({method} {shown}); start the "
                f"controller (scripts/jenkins-up.sh) or set jenkins.url in mlci.yaml "
                f"(or MLCI_JENKINS__URL)"
            ) from None
        except jenkins.JenkinsException as e:
            raise ServiceError(f"Jenkins request {method} {shown} failed: {e}") from None
        except requests.RequestException as e:
            raise ServiceError(f"Jenkins request {method} {shown} failed: {e}") from None

    def _failure(self, method: str, url: str, response: requests.Response) -> MlciError:
        code = response.status_code
        detail = _detail(response)
        if code == 401:
            return ServiceError(
                f"Jenkins refused the credentials of user '{self.user}' for {method} {url} "
                f"(401 Unauthorized): set {self.token_env} to a current API token of the user "
                f"in {self.user_env} (Jenkins: user menu > Security > API Token)"
            )
        if code == 403:
            if "crumb" in detail.lower():
                return ServiceError(
                    f"Jenkins refused {method} {url} (403 Forbidden: {detail}); put an API "
                    f"token, not a password, in {self.token_env}: token requests need no crumb"
                )
            return ServiceError(
                f"Jenkins refused {method} {url} for user '{self.user}' (403 Forbidden: "
                f"{detail or 'permission denied'}); ask a Jenkins administrator to grant it"
            )
        if code == 400:
            return InputError(f"Jenkins rejected {method} {url} (400 Bad Request): {detail}")
        if code == 405:
            return ServiceError(
                f"Jenkins does not allow {method} on {url} (405 Method Not Allowed): check that "
                f"jenkins.url ({self.url}) is the controller's own URL; a proxy or an "
                f"http->https redirect turns a POST into a GET"
            )
        if code == 409:
            return ServiceError(f"Jenkins refused {method} {url} (409 Conflict): {detail}")
        return ServiceError(
            f"Jenkins failed on {method} {url} ({code} {response.reason}): "
            f"{detail or 'no details'}; see the controller's log"
        )

    def get_json(self, path: str, not_found: str | None = None, **params: Any) -> Any:
        response = self.request("GET", path, params=params or None, not_found=not_found)
        try:
            return response.json()
        except ValueError:
            raise ServiceError(
                f"Jenkins answered GET {urljoin(self.url, path)} with something that is not "
                f"JSON; check that jenkins.url points at a Jenkins controller"
            ) from None

    # ---- identity
    def whoami(self) -> dict[str, Any]:
        return self.get_json("me/api/json")

    # ---- items
    def item_exists(self, full_name: str) -> bool:
        try:
            self.request("GET", job_url_path(full_name) + "api/json", params={"tree": "name"})
        except InputError as e:
            if "404" in str(e):
                return False
            raise
        return True

    def get_config(self, full_name: str) -> str | None:
        """The item's config.xml, or None when the item does not exist."""
        try:
            return self.request("GET", job_url_path(full_name) + "config.xml").text
        except InputError as e:
            if "404" in str(e):
                return None
            raise

    def create_item(self, full_name: str, config_xml: str) -> None:
        parent, _, name = full_name.strip("/").rpartition("/")
        self.request(
            "POST",
            job_url_path(parent) + "createItem",
            params={"name": name},
            data=config_xml.encode("utf-8"),
            headers=XML_HEADERS,
            not_found=f"folder '{parent}' for {full_name} does not exist",
        )

    def update_item(self, full_name: str, config_xml: str) -> None:
        self.request(
            "POST",
            job_url_path(full_name) + "config.xml",
            data=config_xml.encode("utf-8"),
            headers=XML_HEADERS,
            not_found=missing_job(full_name),
        )

    # ---- builds
    def job_info(self, full_name: str) -> dict[str, Any]:
        return self.get_json(job_url_path(full_name) + "api/json", not_found=missing_job(full_name))

    def trigger(self, full_name: str, params: dict[str, str], parameterized: bool) -> int | None:
        """Queue a build; return the queue item id (None for a multibranch scan)."""
        path = job_url_path(full_name) + ("buildWithParameters" if parameterized else "build")
        self.server.follow_redirects = False  # 201/303 carry the queue item in Location
        try:
            response = self.request(
                "POST", path, params=params or None, not_found=missing_job(full_name)
            )
        finally:
            self.server.follow_redirects = True
        location = response.headers.get("Location") or ""
        if response.status_code == 302:
            return None  # branch indexing of a multibranch project: no queue item
        m = re.search(r"/queue/item/(\d+)/?$", location)
        if not m:
            return None
        return int(m.group(1))

    def queue_item(self, queue_id: int) -> dict[str, Any]:
        return self.get_json(
            f"queue/item/{queue_id}/api/json",
            not_found=f"queue item {queue_id} is gone (items expire "
            "about 5 minutes after leaving the queue)",
        )

    def build_info(self, full_name: str, number: int | str) -> dict[str, Any]:
        return self.get_json(
            f"{job_url_path(full_name)}{number}/api/json",
            not_found=f"no build {full_name} #{number}",
        )

    def progressive_log(self, full_name: str, number: int, start: int) -> tuple[str, int, bool]:
        """Log text from byte `start`: (text, next start, more data coming)."""
        response = self.request(
            "GET",
            f"{job_url_path(full_name)}{number}/logText/progressiveText",
            params={"start": start},
            not_found=f"no build {full_name} #{number}",
        )
        size = int(response.headers.get("X-Text-Size") or start)
        more = response.headers.get("X-More-Data", "").lower() == "true"
        return response.content.decode("utf-8", errors="replace"), size, more

    def describe(self, full_name: str, number: int | str) -> dict[str, Any]:
        return self.get_json(
            f"{job_url_path(full_name)}{number}/wfapi/describe",
            not_found=f"no pipeline build {full_name} #{number} (stage view "
            "needs the pipeline-stage-view plugin)",
        )

    def pending_inputs(self, full_name: str, number: int) -> list[dict[str, Any]]:
        return self.get_json(
            f"{job_url_path(full_name)}{number}/wfapi/pendingInputActions",
            not_found=f"no pipeline build {full_name} #{number}",
        )

    def answer_input(
        self,
        full_name: str,
        number: int,
        input_id: str,
        action: str,
        values: dict[str, str] | None = None,
    ) -> None:
        """Proceed (with parameter values) or abort a pending input.

        Proceed always POSTs `proceed` with a `json` parameter list (empty when no values):
        `proceedEmpty` does not fill the input's `submitterParameter` on pipeline-input-step
        before 532, and Declarative then records the submitter as the string "null".
        """
        base = f"{job_url_path(full_name)}{number}/input/{quote(input_id, safe='')}/"
        missing = f"no pending input '{input_id}' on {full_name} #{number}"
        if action == "abort":
            self.request("POST", base + "abort", not_found=missing)
            return
        doc = {"parameter": [{"name": k, "value": v} for k, v in (values or {}).items()]}
        self.request("POST", base + "proceed", data={"json": json.dumps(doc)}, not_found=missing)

    # ---- linter
    def lint(self, jenkinsfile: str, api: str = "json") -> list[str]:
        """Errors from the declarative linter; empty when the Jenkinsfile is valid."""
        if api == "json":
            response = self.request(
                "POST",
                "pipeline-model-converter/validateJenkinsfile",
                data={"jenkinsfile": jenkinsfile},
                not_found="the declarative linter is missing (install the "
                "pipeline-model-definition plugin)",
            )
            try:
                data = response.json().get("data", {})
            except ValueError:
                raise ServiceError(
                    "the Jenkins linter answered with something that is not "
                    "JSON; retry with --api text"
                ) from None
            if data.get("result") == "success":
                return []
            out: list[str] = []
            for err in data.get("errors", []):
                msg = err.get("error", err) if isinstance(err, dict) else err
                out.extend(msg if isinstance(msg, list) else [str(msg)])
            return out or ["the linter reported a failure without details"]
        response = self.request(
            "POST",
            "pipeline-model-converter/validate",
            data={"jenkinsfile": jenkinsfile},
            not_found="the declarative linter is missing (install the "
            "pipeline-model-definition plugin)",
        )
        text = response.text.strip()
        if text.startswith("Jenkinsfile successfully validated"):
            return []
        lines = [ln for ln in text.splitlines()[1:] if ln.strip()]
        return lines or [text]

    # ---- credentials
    def credentials_path(self, store: str) -> str:
        """`system` or a folder's full name -> the store's domain URL path."""
        if store == "system":
            return "credentials/store/system/domain/_/"
        return job_url_path(store) + "credentials/store/folder/domain/_/"

    def plugins(self) -> dict[str, str]:
        data = self.get_json(
            "pluginManager/api/json", depth=1, tree="plugins[shortName,version,active]"
        )
        return {p["shortName"]: p["version"] for p in data.get("plugins", [])}
