# The model image: a model bundle (ONNX graph or scikit-learn fallback + metadata.json) and the
# serving app, on top of BASE_IMAGE with nothing but the serving dependencies.
#
# Built by `mlci model build` from a context it assembles (see ml/image/build.py):
#   wheels/          wheelhouse for SERVE_LOCK (scripts/build-wheelhouse.sh), no network needed
#   locks/           serve.txt / serve-sklearn.txt
#   app/ml/          ml/__init__.py + ml/serve/ (the app only, not the mlci tool)
#   model/           the bundle
# Layers go from least to most often changed: dependencies, app code, model. Lineage labels
# are added by the build (--label), after the last layer, so they never bust the cache.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS deps
ARG SERVE_LOCK=serve.txt
COPY locks/${SERVE_LOCK} /tmp/serve-lock.txt
COPY wheels/ /tmp/wheels/
# --no-index: every dependency comes from the wheelhouse; the build never reaches the network.
# Then drop what a server never loads (tests, headers, type stubs, ONNX Runtime's model-editing
# tools and its C-API library: the Python module is statically linked; numpy.f2py stays: SciPy
# star-imports numpy, which loads it) and precompile the rest,
# so workers start fast without writing .pyc files.
RUN python3 -m venv --without-pip /opt/venv \
 && python3 -m pip --python /opt/venv/bin/python install --no-cache-dir --no-index \
      --no-compile --find-links /tmp/wheels --requirement /tmp/serve-lock.txt \
 && site=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
 && rm -rf "$site"/onnxruntime/transformers "$site"/onnxruntime/quantization \
      "$site"/onnxruntime/tools "$site"/onnxruntime/capi/libonnxruntime.so.* \
      "$site"/numpy/_core/include \
      "$site"/numpy/_pyinstaller "$site"/numpy/typing/tests \
 && find "$site" -depth -type d \( -name tests -o -name testing \) \
      -not -path '*/numpy/testing' -not -path '*/sklearn/utils/*' \
      -not -path '*/array_api_extra/*' -exec rm -rf {} + \
 && find "$site" \( -name '*.pyi' -o -name '*.pxd' -o -name '*.c' -o -name '*.h' \) -delete \
 && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib

FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/mlci \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    MLCI_MODEL_DIR=/opt/model \
    HOME=/tmp \
    MLCI_SERVE_PORT=8080
# The prediction log's mount point, owned by the server user: a new named volume mounted here
# takes this owner (ml/deploy/predictions.py).
RUN mkdir -p /var/lib/mlci/predictions && chown 65532:65532 /var/lib/mlci/predictions
COPY --from=deps /opt/venv /opt/venv
COPY app/ /opt/mlci/
COPY model/ /opt/model/
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import os,urllib.request as u; u.urlopen('http://127.0.0.1:'+os.environ.get('MLCI_SERVE_PORT','8080')+'/ready', timeout=2)"]
ENTRYPOINT ["python3", "-m", "ml.serve"]
