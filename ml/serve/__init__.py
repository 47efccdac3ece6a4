"""The model server: request checking against the signature, ONNX/scikit-learn predictors,
Prometheus metrics and the ASGI app (`python -m ml.serve`). Only numpy, onnxruntime, uvicorn
and orjson are needed at serving time; `compile` (build time) also needs scikit-learn and
skl2onnx."""
