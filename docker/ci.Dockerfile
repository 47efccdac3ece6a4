# The stage image: mlci, its locked dependencies and the project's own requirements, for
# Jenkins' Docker agents and `mlci pipeline run --executor docker`. Built by `mlci pipeline
# ci-image` (ml/image/stage.py) from a context it assembles, after filling the wheelhouses on
# the host: the build itself never touches the network. It works the same from this checkout
# and from an installed mlci wheel in a team's own repository.
#
# Context: ci.Dockerfile, lock.txt (mlci's runtime lock), wheels/ (its wheelhouse),
# extra/requirements.txt + extra/wheels/ (the project's requirements.txt, empty when it has
# none), mlci/ (a wheel of the running mlci). The project's code, mlci.yaml and contract are
# not copied in: the workspace is mounted at run time. Layers go from least to most often
# changed, so a new mlci wheel re-runs only the last step.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS deps
COPY lock.txt /tmp/lock.txt
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels \
      --requirement /tmp/lock.txt
# The project's requirements on top, constrained by mlci's lock (an empty file: nothing to do).
COPY extra/ /tmp/extra/
RUN if [ -s /tmp/extra/requirements.txt ]; then \
      /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/extra/wheels \
        --find-links /tmp/wheels --requirement /tmp/extra/requirements.txt \
        --constraint /tmp/lock.txt; \
    fi

FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg \
    HOME=/tmp
COPY --from=deps /opt/venv /opt/venv
COPY mlci/ /tmp/mlci/
# The package only: its dependencies are all in the venv already (--no-deps, --no-index).
RUN /opt/venv/bin/pip install --no-cache-dir --no-index --no-deps /tmp/mlci/mlci-*.whl \
 && rm -rf /tmp/mlci \
 && mlci --version
WORKDIR /tmp
CMD ["mlci", "--help"]
