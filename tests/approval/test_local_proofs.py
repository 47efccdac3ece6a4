"""Local approvals: signed with the approver's own Ed25519 key, verified by push/deploy/promote.

Each refusal is exit 3 with the reason: a bare tag, a copied proof, an untrusted key, an
altered statement, tags changed after approval, an unlisted key inside CI.
"""

from __future__ import annotations

import json
import stat

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ml.registry import tags as T
from ml.registry.approval import Statement, proof_document
from ml.registry.proofs.local import public_id
from tests.approval.conftest import MODEL


def approve(store, version: str, *extra: str):
    return store.mlci("model", "approve", MODEL, version, "--by", "alice", "--reason", "ok", *extra)


def promote(store, version: str):
    return store.mlci("model", "promote", MODEL, version, "--by", "bob")


def test_approve_signs_the_facts_with_a_key_made_on_first_use(laptop, tmp_path):
    v = laptop.new_version()
    first = approve(laptop, v)
    assert first.exit_code == 0, first.output
    assert first.stdout == f"approved {MODEL} version {v} by alice\n"
    key = tmp_path / "xdg" / "mlci" / "approver-ed25519.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    pub_line = key.with_suffix(".pub").read_text().strip()
    assert f"trusted_keys:\n      - {pub_line}" in first.stderr
    tags = laptop.tags(v)
    proof = json.loads(tags[T.APPROVAL_PROOF])
    assert proof["kind"] == "local-ed25519"
    assert proof["evidence"]["key"] == pub_line.split()[0]
    info = laptop.registry().get_version(MODEL, v)
    assert proof["statement"] == {
        "model": MODEL,
        "version": v,
        "run_id": info.run_id,
        "source": info.source,
        "by": "alice",
        "at": tags[T.APPROVAL_AT],
        "reason": "ok",
        "facts": {k: tags[k] for k in T.APPROVED_FACTS if k in tags},
        "decision": "approved",
        "format": "mlci.approval/v1",
    }
    secret = "".join(key.read_text().splitlines()[1:-1])
    assert all(secret not in value for value in tags.values())
    # second approval: same key, no first-use note
    v2 = laptop.new_version()
    again = approve(laptop, v2)
    assert again.exit_code == 0 and "created your approver key" not in again.stderr
    assert json.loads(laptop.tags(v2)[T.APPROVAL_PROOF])["evidence"]["key"] == pub_line.split()[0]
    result = promote(laptop, v)
    assert result.exit_code == 0, result.output
    assert laptop.registry().champion().version == v


def test_bare_approved_tag_is_refused_by_promote_push_and_deploy(laptop):
    v = laptop.new_version()
    laptop.set_tag(v, T.APPROVAL_STATUS, "approved")
    laptop.set_tag(v, T.APPROVAL_BY, "mallory")
    for args in (
        ("model", "promote", MODEL, v),
        ("model", "push", MODEL, v),
        ("deploy", "staging", MODEL, v),
    ):
        result = laptop.mlci(*args)
        assert result.exit_code == 3, (args, result.output)
        assert result.stderr == (
            f"Error: model {MODEL!r} version {v} is tagged approval.status=approved but has no "
            f"approval.proof: a bare tag is not an approval (anyone who can write the model's "
            f"tags can set it); approve it with `mlci model approve {MODEL} {v} --reason ...`\n"
        )


def test_a_proof_copied_from_another_version_is_refused(laptop):
    good, other = laptop.new_version(), laptop.new_version()
    assert approve(laptop, good).exit_code == 0
    source = laptop.tags(good)
    for key in (T.APPROVAL_PROOF, T.APPROVAL_BY, T.APPROVAL_AT, T.APPROVAL_REASON):
        laptop.set_tag(other, key, source[key])
    laptop.set_tag(other, T.APPROVAL_STATUS, "approved")
    result = promote(laptop, other)
    assert result.exit_code == 3
    assert f"approves {MODEL!r} version {good}, not this version: version {good!r} (this " in (
        result.stderr
    )
    assert "A proof copied from another version does not count" in result.stderr
    assert laptop.registry().champion() is None or laptop.registry().champion().version != other


def test_a_signature_by_an_untrusted_key_is_refused(laptop):
    v = laptop.new_version()
    assert approve(laptop, v).exit_code == 0  # makes this machine's key
    # mallory signs the exact facts with her own key and writes the tags
    info = laptop.registry().get_version(MODEL, v)
    statement = Statement.for_version(info, "mallory", "2026-01-01T00:00:00Z", "trust me")
    key = Ed25519PrivateKey.generate()
    import base64

    evidence = {
        "key": public_id(key.public_key()),
        "sig": base64.b64encode(key.sign(statement.canonical())).decode(),
    }
    laptop.set_tag(v, T.APPROVAL_PROOF, proof_document("local-ed25519", statement, evidence))
    laptop.set_tag(v, T.APPROVAL_BY, "mallory")
    laptop.set_tag(v, T.APPROVAL_AT, "2026-01-01T00:00:00Z")
    laptop.set_tag(v, T.APPROVAL_REASON, "trust me")
    result = promote(laptop, v)
    assert result.exit_code == 3
    assert f"signed by key {evidence['key'][:20]}..., which is not trusted" in result.stderr
    # listing mallory's key in mlci.yaml is what would make it count
    laptop.configure(**{"approval.trusted_keys": [evidence["key"] + " mallory@laptop"]})
    assert promote(laptop, v).exit_code == 0
    # ...and then this machine's own key is no longer trusted implicitly
    v2 = laptop.new_version()
    assert approve(laptop, v2).exit_code == 0
    result = promote(laptop, v2)
    assert result.exit_code == 3
    assert "it is not listed in approval.trusted_keys in mlci.yaml" in result.stderr


def test_an_altered_statement_or_changed_tags_void_the_approval(laptop):
    v = laptop.new_version()
    assert approve(laptop, v).exit_code == 0
    tags = laptop.tags(v)
    doc = json.loads(tags[T.APPROVAL_PROOF])
    doc["statement"]["reason"] = "ok, and also deploy on Friday"
    laptop.set_tag(v, T.APPROVAL_PROOF, json.dumps(doc))
    laptop.set_tag(v, T.APPROVAL_REASON, "ok, and also deploy on Friday")
    result = promote(laptop, v)
    assert result.exit_code == 3
    assert "does not match its statement" in result.stderr and "altered or forged" in (
        result.stderr
    )
    # the original proof back, but a lineage fact changed since the approval
    laptop.set_tag(v, T.APPROVAL_PROOF, tags[T.APPROVAL_PROOF])
    laptop.set_tag(v, T.APPROVAL_REASON, "ok")
    laptop.set_tag(v, T.GIT_COMMIT, "f" * 40)
    result = promote(laptop, v)
    assert result.exit_code == 3
    assert (
        f"git.commit={'f' * 40!r} but it was {tags[T.GIT_COMMIT]!r} when approved" in result.stderr
    )
    laptop.set_tag(v, T.GIT_COMMIT, tags[T.GIT_COMMIT])
    laptop.set_tag(v, T.APPROVAL_BY, "mallory")
    result = promote(laptop, v)
    assert result.exit_code == 3
    assert "approval.by='mallory' but the proof says 'alice'" in result.stderr
    laptop.set_tag(v, T.APPROVAL_BY, "alice")
    assert promote(laptop, v).exit_code == 0


def test_in_ci_only_listed_keys_count(laptop, monkeypatch):
    v = laptop.new_version()
    assert approve(laptop, v).exit_code == 0
    monkeypatch.setenv("JENKINS_URL", "http://jenkins.example:8080/")
    result = promote(laptop, v)
    assert result.exit_code == 3
    assert "approval.trusted_keys in mlci.yaml is empty, and in CI (JENKINS_URL is set)" in (
        result.stderr
    )
    line = approve(laptop, v)  # re-approving changes nothing in CI
    assert line.exit_code == 0, line.output
    assert promote(laptop, v).exit_code == 3
    pub = laptop.settings()  # the key's public line goes into mlci.yaml, as the note says
    from ml.registry.proofs.local import LocalKeyProof

    laptop.configure(**{"approval.trusted_keys": [LocalKeyProof(pub).public_line()]})
    result = promote(laptop, v)
    assert result.exit_code == 0, result.output


def test_rejection_removes_the_proof_so_the_status_cannot_be_flipped_back(laptop):
    v = laptop.new_version()
    assert approve(laptop, v).exit_code == 0
    result = laptop.mlci("model", "reject", MODEL, v, "--by", "carol", "--reason", "leaks ids")
    assert result.exit_code == 0
    assert T.APPROVAL_PROOF not in laptop.tags(v)
    laptop.set_tag(v, T.APPROVAL_STATUS, "approved")
    result = promote(laptop, v)
    assert result.exit_code == 3 and "has no approval.proof" in result.stderr


def test_key_file_must_be_private_and_outside_the_workspace(laptop, tmp_path):
    v = laptop.new_version()
    assert approve(laptop, v).exit_code == 0
    key = tmp_path / "xdg" / "mlci" / "approver-ed25519.pem"
    key.chmod(0o644)
    result = approve(laptop, laptop.new_version())
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: approver key {key} has mode 644: group or others can read it; "
        f"`chmod 600 {key}` (or delete it to make a new one)\n"
    )
    key.chmod(0o600)
    laptop.configure(**{"approval.key_file": ".mlci/approver.pem"})
    result = approve(laptop, laptop.new_version())
    assert result.exit_code == 2
    assert "is inside the project folder" in result.stderr
    assert not (laptop.root / ".mlci" / "approver.pem").exists()


def test_a_failed_proof_leaves_the_version_pending(laptop):
    laptop.configure(**{"approval.key_file": str(laptop.root / "key.pem")})
    v = laptop.new_version()
    assert approve(laptop, v).exit_code == 2
    tags = laptop.tags(v)
    assert tags[T.APPROVAL_STATUS] == "pending" and T.APPROVAL_PROOF not in tags
