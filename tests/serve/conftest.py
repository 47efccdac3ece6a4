"""The serving fixtures (tests/fixtures/serving.py): real bundles and a real server."""

from tests.fixtures.serving import bundles  # noqa: F401 - a shared session fixture
