"""The platform check of `mlci reproduce`: what counts as the same platform, and the note that
names the difference (a note, never a failed reproduction on its own)."""

from __future__ import annotations

from ml.registry import tags as T
from ml.reproduce.run import platform_check

HOST = {T.ENV_PYTHON: "CPython 3.11.2", T.ENV_PLATFORM: "linux x86_64 glibc-2.36"}


def test_two_builds_of_the_stage_image_are_the_same_platform():
    a = platform_check(
        {**HOST, T.ENV_STAGE_IMAGE: "sha256:aaa"}, {**HOST, T.ENV_STAGE_IMAGE: "sha256:bbb"}
    )
    assert (a.status, a.detail) == ("same", "")
    assert a.reproduced[T.ENV_STAGE_IMAGE] == "sha256:bbb"  # both ids stay in the report


def test_in_the_image_or_not_is_a_note_naming_the_way_round():
    image = {**HOST, T.ENV_STAGE_IMAGE: "sha256:aaa"}
    outside = {**HOST, T.ENV_STAGE_IMAGE: ""}
    venv = platform_check(image, outside)
    assert (venv.status, venv.detail) == (
        "note",
        "trained in the stage image, reproduced outside it (--in venv)",
    )
    forced = platform_check(outside, image)
    assert forced.detail == "trained outside the stage image, reproduced in it (--in image)"


def test_another_python_or_libc_is_a_note():
    other = platform_check(HOST, {**HOST, T.ENV_PLATFORM: "linux aarch64 glibc-2.36"})
    assert (other.status, other.detail) == ("note", "trained on another platform than this one")
    assert platform_check(HOST, dict(HOST)).status == "same"
