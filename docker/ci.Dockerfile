# The stage image: mlci and its locked dependencies, for Jenkins' Docker agents and
# `mlci pipeline run --executor docker`. Build it with `mlci pipeline ci-image` (or `make
# ci-image`), which first fills the wheelhouse: the build itself never touches the network.
#
# Context: the repository root (see .dockerignore: only the lock, the wheelhouse, pyproject.toml,
# README.md and ml/ are sent). Layers go from least to most often changed, so a code-only
# change re-runs only the last two steps.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS deps
ARG LOCK=locks/requirements.txt
ARG WHEELHOUSE=.mlci/cache/wheelhouse/requirements
COPY ${LOCK} /tmp/lock.txt
COPY ${WHEELHOUSE}/ /tmp/wheels/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels \
      --requirement /tmp/lock.txt

FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg \
    HOME=/tmp
COPY --from=deps /opt/venv /opt/venv
COPY pyproject.toml README.md /src/
COPY ml/ /src/ml/
# The package only: its dependencies are all in the venv already (--no-deps, --no-index).
RUN /opt/venv/bin/pip install --no-cache-dir --no-index --no-deps --no-build-isolation /src \
 && mlci --version
WORKDIR /tmp
CMD ["mlci", "--help"]
