"""ONNX converters for HistGradientBoosting{Classifier,Regressor} that handle categorical splits.

skl2onnx's own converter treats categorical splits as numeric thresholds and ignores the
estimator's internal reordering of categorical features, so its graph disagrees with
scikit-learn (the parity check catches it: max |dp| ~ 0.96 on mlci's default pipeline). Here
each categorical split becomes a numeric split on an indicator column "value is in the left
set" computed in the graph (Equal/Or on the few known categories), so the standard ONNX
TreeEnsembleRegressor can evaluate the trees exactly; raw scores go through the same inverse
link as scikit-learn: sigmoid (binary), softmax (multiclass), identity or exp (regression:
squared/absolute error, quantile; poisson, gamma). Registered with skl2onnx for one conversion.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

_DOMAIN_ML = "ai.onnx.ml"


def _categorical_layout(clf: Any) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """remapped feature index -> original index, and known raw values per categorical index."""
    is_cat = getattr(clf, "is_categorical_", None)
    pre = getattr(clf, "_preprocessor", None)
    if is_cat is None or pre is None:
        n = clf.n_features_in_
        return np.arange(n), {}
    remap = np.concatenate([np.flatnonzero(is_cat), np.flatnonzero(~is_cat)])
    encoder = pre.named_transformers_["encoder"]
    known = {j: np.asarray(cats, dtype=np.float64) for j, cats in enumerate(encoder.categories_)}
    return remap, known


def _bitset_members(bitsets: np.ndarray, idx: int, n_known: int) -> list[int]:
    row = bitsets[idx]
    return [c for c in range(n_known) if (int(row[c // 32]) >> (c % 32)) & 1]


def _float32_leq_threshold(thr: float) -> float:
    """The threshold the graph compares float32 inputs with. Rounding to nearest is monotonic,
    so x <= thr implies float32(x) <= float32(thr); the converse fails only for x within one
    float32 step above thr (the parity check measures that on real rows)."""
    return float(np.float32(thr))


class _Graph:
    """Unique names and constants of one conversion."""

    def __init__(self, scope: Any, container: Any) -> None:
        self.scope = scope
        self.container = container

    def name(self, hint: str) -> str:
        return self.scope.get_unique_variable_name(hint)

    def const(self, hint: str, value: np.ndarray, dtype: int) -> str:
        n = self.name(hint)
        self.container.add_initializer(n, dtype, list(value.shape), value.ravel().tolist())
        return n


def _raw_scores(g: _Graph, est: Any, X: str) -> tuple[str, int]:
    """The ensemble's raw scores [N, k] (before the inverse link) and k."""
    from onnx import TensorProto

    container = g.container
    name, const = g.name, g.const
    remap, known = _categorical_layout(est)
    n_features = len(remap)
    k = est.n_trees_per_iteration_

    indicators: list[str] = []
    indicator_of: dict[tuple[int, tuple[int, ...], bool], int] = {}

    def indicator(feature: int, members: list[float], negate: bool) -> int:
        """Column index (in the augmented matrix) of 'x[feature] in members' (or not in)."""
        key = (feature, tuple(members), negate)
        if key in indicator_of:
            return indicator_of[key]
        col = name("cat_col")
        container.add_node(
            "Gather",
            [X, const("cat_idx", np.array([feature], np.int64), TensorProto.INT64)],
            [col],
            axis=1,
            name=name("Gather"),
        )
        hits = []
        for m in members:
            eq = name("cat_eq")
            container.add_node(
                "Equal",
                [col, const("cat_val", np.array([m], np.float32), TensorProto.FLOAT)],
                [eq],
                name=name("Equal"),
            )
            hits.append(eq)
        acc = hits[0] if hits else None
        if acc is None:
            acc = name("cat_none")
            container.add_node(
                "Equal",
                [col, const("nan", np.array([np.nan], np.float32), TensorProto.FLOAT)],
                [acc],
                name=name("Equal"),
            )
        for h in hits[1:]:
            nxt = name("cat_or")
            container.add_node("Or", [acc, h], [nxt], name=name("Or"))
            acc = nxt
        if negate:
            neg = name("cat_not")
            container.add_node("Not", [acc], [neg], name=name("Not"))
            acc = neg
        out = name("cat_ind")
        container.add_node("Cast", [acc], [out], to=TensorProto.FLOAT, name=name("Cast"))
        indicators.append(out)
        indicator_of[key] = n_features + len(indicators) - 1
        return indicator_of[key]

    attrs: dict[str, list] = {
        key: []
        for key in (
            "nodes_treeids",
            "nodes_nodeids",
            "nodes_featureids",
            "nodes_modes",
            "nodes_values",
            "nodes_truenodeids",
            "nodes_falsenodeids",
            "nodes_missing_value_tracks_true",
            "target_treeids",
            "target_nodeids",
            "target_ids",
            "target_weights",
        )
    }
    tree_id = 0
    for iteration in est._predictors:
        for target, predictor in enumerate(iteration):
            bitsets = predictor.raw_left_cat_bitsets
            for i, node in enumerate(predictor.nodes):
                attrs["nodes_treeids"].append(tree_id)
                attrs["nodes_nodeids"].append(i)
                if node["is_leaf"]:
                    attrs["nodes_featureids"].append(0)
                    attrs["nodes_modes"].append("LEAF")
                    attrs["nodes_values"].append(0.0)
                    attrs["nodes_truenodeids"].append(0)
                    attrs["nodes_falsenodeids"].append(0)
                    attrs["nodes_missing_value_tracks_true"].append(0)
                    attrs["target_treeids"].append(tree_id)
                    attrs["target_nodeids"].append(i)
                    attrs["target_ids"].append(target)
                    attrs["target_weights"].append(float(node["value"]))
                    continue
                f = int(node["feature_idx"])
                left, right = int(node["left"]), int(node["right"])
                mgl = bool(node["missing_go_to_left"])
                attrs["nodes_modes"].append("BRANCH_LEQ")
                if node["is_categorical"]:
                    cats = known[f]
                    codes = _bitset_members(bitsets, int(node["bitset_idx"]), len(cats))
                    if mgl:  # left = in the left set, or unknown/missing: not in the right set
                        rest = [float(cats[c]) for c in range(len(cats)) if c not in codes]
                        col = indicator(int(remap[f]), rest, negate=True)
                    else:
                        col = indicator(int(remap[f]), [float(cats[c]) for c in codes], False)
                    # indicator <= 0.5 means "does not go left"
                    attrs["nodes_featureids"].append(col)
                    attrs["nodes_values"].append(0.5)
                    attrs["nodes_truenodeids"].append(right)
                    attrs["nodes_falsenodeids"].append(left)
                    attrs["nodes_missing_value_tracks_true"].append(0)
                else:
                    attrs["nodes_featureids"].append(int(remap[f]))
                    attrs["nodes_values"].append(
                        _float32_leq_threshold(float(node["num_threshold"]))
                    )
                    attrs["nodes_truenodeids"].append(left)
                    attrs["nodes_falsenodeids"].append(right)
                    attrs["nodes_missing_value_tracks_true"].append(int(mgl))
            tree_id += 1

    features = X
    if indicators:
        features = name("features_aug")
        container.add_node("Concat", [X, *indicators], [features], axis=1, name=name("Concat"))
    raw = name("raw_score")
    container.add_node(
        "TreeEnsembleRegressor",
        [features],
        [raw],
        op_domain=_DOMAIN_ML,
        op_version=3,
        name=name("TreeEnsembleRegressor"),
        n_targets=k,
        post_transform="NONE",
        aggregate_function="SUM",
        base_values=[float(v) for v in np.ravel(est._baseline_prediction)],
        **attrs,
    )
    return raw, k


def convert_hgb_classifier(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter: operator.inputs[0] is the float feature matrix [N, F]; outputs are
    the label [N] and the class probabilities [N, n_classes]."""
    from onnx import TensorProto
    from onnx.helper import make_tensor

    g = _Graph(scope, container)
    name, const = g.name, g.const
    clf = operator.raw_operator
    classes = np.asarray(clf.classes_)
    raw, k = _raw_scores(g, clf, operator.inputs[0].full_name)
    proba = operator.outputs[1].full_name
    if k == 1:
        p1 = name("p1")
        container.add_node("Sigmoid", [raw], [p1], name=name("Sigmoid"))
        p0 = name("p0")
        container.add_node(
            "Sub",
            [const("one", np.array([1.0], np.float32), TensorProto.FLOAT), p1],
            [p0],
            name=name("Sub"),
        )
        container.add_node("Concat", [p0, p1], [proba], axis=1, name=name("Concat"))
    else:
        container.add_node("Softmax", [raw], [proba], axis=1, name=name("Softmax"))
    idx = name("argmax")
    container.add_node("ArgMax", [proba], [idx], axis=1, keepdims=0, name=name("ArgMax"))
    table = name("classes")
    if classes.dtype.kind in "iub":  # integer and boolean labels: an int64 label tensor
        container.add_initializer(
            table, TensorProto.INT64, [len(classes)], classes.astype(np.int64).tolist()
        )
    else:
        container.initializers.append(
            make_tensor(
                table, TensorProto.STRING, [len(classes)], [str(c).encode() for c in classes]
            )
        )
    container.add_node(
        "Gather", [table, idx], [operator.outputs[0].full_name], axis=0, name=name("Gather")
    )


def convert_hgb_regressor(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter: the prediction [N, 1] through the loss's inverse link."""
    g = _Graph(scope, container)
    reg = operator.raw_operator
    link = type(reg._loss.link).__name__
    if link not in ("IdentityLink", "LogLink"):
        raise NotImplementedError(f"HistGradientBoostingRegressor with link {link}")
    raw, _ = _raw_scores(g, reg, operator.inputs[0].full_name)
    out = operator.outputs[0].full_name
    if link == "LogLink":
        container.add_node("Exp", [raw], [out], name=g.name("Exp"))
    else:
        container.add_node("Identity", [raw], [out], name=g.name("Identity"))


@contextlib.contextmanager
def _swap(est_cls: type, alias: str, shape: Any, converter: Any, options: Any) -> Iterator[None]:
    from skl2onnx import update_registered_converter
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import _converter_pool, _shape_calculator_pool

    old = sklearn_operator_name_map.get(est_cls)
    saved = (old, _converter_pool.get(old), _shape_calculator_pool.get(old))
    update_registered_converter(est_cls, alias, shape, converter, options=options)
    try:
        yield
    finally:
        old, conv, calc = saved
        if old is not None:
            sklearn_operator_name_map[est_cls] = old
            if conv is not None:
                _converter_pool[old] = conv
            if calc is not None:
                _shape_calculator_pool[old] = calc


@contextlib.contextmanager
def registered() -> Iterator[None]:
    """Use these converters for HistGradientBoosting* during one conversion."""
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    with (
        _swap(
            HistGradientBoostingClassifier,
            "MlciHistGradientBoostingClassifier",
            calculate_linear_classifier_output_shapes,
            convert_hgb_classifier,
            {"zipmap": [True, False, "columns"], "nocl": [True, False]},
        ),
        _swap(
            HistGradientBoostingRegressor,
            "MlciHistGradientBoostingRegressor",
            calculate_linear_regressor_output_shapes,
            convert_hgb_regressor,
            None,
        ),
    ):
        yield
