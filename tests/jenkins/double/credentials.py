"""Credentials in the system store and folder stores of the double."""

from __future__ import annotations

import re
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from tests.jenkins.double.common import (
    CRED_TYPES,
    SECRET_FIELDS,
    HttpError,
    Reply,
    User,
    html_error,
    json_reply,
)

if TYPE_CHECKING:
    from tests.jenkins.double.jobs import Item


@dataclass
class Credential:
    cls: str
    fields: dict[str, str]

    @property
    def id(self) -> str:
        return self.fields["id"]

    def xml(self) -> str:
        root = ET.Element(self.cls)
        for k, v in self.fields.items():
            el = ET.SubElement(root, k)
            if k in SECRET_FIELDS:
                ET.SubElement(el, "secret-redacted")
            else:
                el.text = v
        return ET.tostring(root, encoding="unicode")


def parse_credential(body: bytes) -> Credential:
    root = ET.fromstring(body)
    fields: dict[str, str] = {}
    for child in root:
        if child.find("secret-redacted") is not None:
            fields[child.tag] = "\0redacted"
        else:
            fields[child.tag] = child.text or ""
    if not fields.get("id"):
        fields["id"] = secrets.token_hex(8)
    return Credential(root.tag, fields)


class CredentialsMixin:
    """Routes under `credentials/store/`."""

    def _credentials(
        self,
        method: str,
        item: Item,
        rest: str,
        query: dict[str, str],
        body: bytes,
        ctype: str | None,
        user: User,
    ) -> Reply:
        store, _, rest = rest.partition("/")
        expected = "system" if item.is_root else "folder"
        if store != expected or (not item.is_root and not item.is_folder):
            raise HttpError(html_error(404, "Not Found"))
        if not rest.startswith("domain/_/"):
            raise HttpError(html_error(404, "Not Found"))
        rest = rest[len("domain/_/") :]
        creds = item.credentials
        if rest == "api/json":
            data = {
                "_class": "com.cloudbees.plugins.credentials.CredentialsStoreAction$DomainWrapper",
                "credentials": [
                    {
                        "id": c.id,
                        "displayName": c.fields.get("description", c.id),
                        "typeName": CRED_TYPES.get(c.cls, c.cls),
                    }
                    for c in creds.values()
                ],
            }
            return json_reply(self._filter(data, query))
        if rest == "createCredentials":
            if method != "POST":
                raise HttpError(html_error(405, "Method Not Allowed"))
            self._require(user, "Credentials/Create")
            if ctype is None:
                raise HttpError(html_error(400, "No Content-Type header set", True))
            cred = parse_credential(body)
            if cred.id in creds:
                raise HttpError(html_error(409, f"A credential with id ‘{cred.id}’ already exists"))
            creds[cred.id] = cred
            return Reply(200)
        m = re.match(r"credential/([^/]+)/(config\.xml|api/json|doDelete)$", rest)
        if not m or unquote(m.group(1)) not in creds:
            raise HttpError(html_error(404, "Not Found"))
        cred = creds[unquote(m.group(1))]
        if m.group(2) == "api/json":
            return json_reply(
                {
                    "id": cred.id,
                    "displayName": cred.fields.get("description"),
                    "typeName": CRED_TYPES.get(cred.cls, cred.cls),
                }
            )
        if m.group(2) == "doDelete" or method == "DELETE":
            self._require(user, "Credentials/Delete")
            del creds[cred.id]
            return Reply(200)
        if method == "GET":
            return Reply(200, cred.xml(), "application/xml")
        self._require(user, "Credentials/Update")
        new = parse_credential(body)
        for k, v in new.fields.items():
            if v == "\0redacted":
                new.fields[k] = cred.fields.get(k, "")
        del creds[cred.id]
        creds[new.id] = new
        return Reply(200)
