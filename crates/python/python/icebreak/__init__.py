"""icebreak: convert fitted models to ``.apr`` and score them with the icebreak engine.

``icebreak.convert(obj)`` accepts

* a path (``str`` or ``os.PathLike``) or ``bytes`` of an ONNX, XGBoost (JSON or UBJSON) or
  LightGBM (text) model, or of an ``.apr`` file;
* an ``xgboost.Booster`` or one of its scikit-learn wrappers (``XGBClassifier``, ...);
* a ``lightgbm.Booster`` or one of its scikit-learn wrappers (``LGBMClassifier``, ...);
* a fitted scikit-learn linear model (``LinearRegression``, ``Ridge``, ``Lasso``,
  ``ElasticNet``, ``SGDRegressor``, ``LinearSVR``, ``LogisticRegression``,
  ``SGDClassifier``, ``LinearSVC``, ``RidgeClassifier``), alone or after a
  ``StandardScaler`` in a ``Pipeline``; read from its public fitted attributes, never
  pickled;
* a fitted scikit-learn ``SVC``, ``NuSVC``, ``SVR`` or ``NuSVR``, MLP, ``GaussianNB`` or
  ``KMeans``, alone or after ``SimpleImputer``, ``StandardScaler``, ``MinMaxScaler``,
  ``Normalizer`` or ``PCA`` steps in a ``Pipeline`` (answers in float64);
* a fitted scikit-learn ``DecisionTree*``, ``ExtraTree*``, ``RandomForest*`` or
  ``ExtraTrees*`` classifier or regressor (single output), from its ``tree_`` arrays.

``Model.explain(X, top=None)`` gives each feature's contribution to the raw scores (exact
Tree SHAP for tree ensembles, coefficient times value for linear models), shaped like
XGBoost's ``pred_contribs`` (docs/PYTHON.md, "Explanations").

The conversion and all scoring run in Rust (the ``icebreak._icebreak`` extension);
this module only reads attributes off Python objects.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ._icebreak import (
    IcebreakError,
    cli_main,
    Model,
    __version__,
    convert_bytes,
    convert_sklearn_boosting,
    convert_sklearn_trees,
    convert_stages,
)

__all__ = ["IcebreakError", "Model", "convert", "load", "package", "verify", "__version__"]

_APR_MAGIC = b"APR\x00"


def _numeric_dtype(t):
    """Whether a pandas column dtype holds numbers or booleans (numpy or nullable)."""
    kind = getattr(t, "kind", None)
    return kind in ("b", "i", "u", "f") and not isinstance(t, str)


def _frame_rows(frame, names, n_features):
    """The rows of a pandas DataFrame as a float64 array, columns in the model's order.

    With feature names, columns are picked by name (any order; extra columns are ignored);
    a missing column is an error. Without, the frame must have exactly ``n_features``
    columns, taken in order. Missing values (``NaN``, ``None``, ``pd.NA``) become NaN.
    """
    cols = [str(c) for c in frame.columns]
    if names is not None:
        absent = [n for n in names if n not in set(cols)]
        if absent:
            shown = ", ".join(repr(a) for a in absent[:10]) + (" ..." if len(absent) > 10 else "")
            raise IcebreakError(f"X is missing {len(absent)} column(s) the model needs: {shown}")
        if len(set(cols)) != len(cols):
            dup = sorted({c for c in cols if cols.count(c) > 1})
            raise IcebreakError(f"X has duplicate column names: {dup}")
        frame = frame.iloc[:, [cols.index(n) for n in names]]
    elif len(cols) != n_features:
        raise IcebreakError(
            f"X has {len(cols)} columns, the model takes {n_features} (it has no feature names to pick them by)"
        )
    bad = [f"{c!r} ({t})" for c, t in zip(frame.columns, frame.dtypes) if not _numeric_dtype(t)]
    if bad:
        raise IcebreakError("X has non-numeric columns: " + ", ".join(bad[:10]))
    return np.ascontiguousarray(frame.to_numpy(dtype=np.float64, na_value=np.nan))


def package(model, arch="arm64", path="function.zip", mapped=False, smoke=False):
    """Builds a Lambda deployment package for ``model`` (an :class:`icebreak.Model` or the
    path of an ``.apr`` file): ``icebreak package MODEL.apr --arch ARCH -o PATH``.

    Compiled in (the default) needs a Rust toolchain (and ``cargo lambda`` for another
    architecture than this machine's); ``mapped=True`` ships the prebuilt mapped runtime with
    ``model.apr`` beside it (built once per version and architecture, then cached).
    ``smoke=True`` runs the package against a local Runtime API before returning.
    Returns ``path``; raises :class:`IcebreakError` when the command fails (its message is
    printed on stderr).
    """
    import tempfile

    arch = str(arch)
    out = os.fspath(path)
    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(model, Model):
            apr = os.path.join(tmp, "model.apr")
            model.save(apr)
        else:
            apr = os.fspath(model)
        args = ["icebreak", "package", apr, "--arch", arch, "-o", out]
        if mapped:
            args.append("--mapped")
        if smoke:
            args.append("--smoke")
        status = cli_main(args)
    if status != 0:
        raise IcebreakError(f"icebreak package failed (exit status {status}); see the message above")
    return out


def load(path) -> Model:
    """Reads and fully verifies an ``.apr`` file."""
    return Model.load(os.fspath(path))


def convert(obj, feature_names=None) -> Model:
    """Converts ``obj`` (see the module docstring) into an :class:`icebreak.Model`.

    ``feature_names`` overrides the names recorded in the model; by default they come from
    the estimator's ``feature_names_in_`` or the booster's feature names.
    """
    names = None if feature_names is None else [str(n) for n in feature_names]
    if isinstance(obj, (str, os.PathLike)):
        with open(os.fspath(obj), "rb") as f:
            return _from_bytes(f.read(), names)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(obj), names)
    module = type(obj).__module__ or ""
    if module.startswith("xgboost"):
        return _from_xgboost(obj, names)
    if module.startswith("lightgbm"):
        return _from_lightgbm(obj, names)
    if module.startswith("sklearn"):
        return _from_sklearn(obj, names)
    raise IcebreakError(
        f"cannot convert a {type(obj).__module__}.{type(obj).__name__}: icebreak.convert takes a "
        "path or bytes of an ONNX, XGBoost, LightGBM or .apr model, an xgboost or lightgbm "
        "booster or scikit-learn wrapper, or a fitted scikit-learn linear model"
    )


def _from_bytes(data: bytes, names):
    if data[:4] == _APR_MAGIC:
        model = Model.from_bytes(data)
        if names is not None:
            raise IcebreakError("feature_names cannot be changed on an .apr file; convert the source model")
        return model
    return convert_bytes(data, feature_names=names)


def _from_xgboost(obj, names):
    booster = obj.get_booster() if hasattr(obj, "get_booster") else obj
    if not hasattr(booster, "save_raw"):
        raise IcebreakError(f"{type(obj).__name__} is not an xgboost Booster or scikit-learn wrapper")
    if booster is not obj:
        # After early stopping the wrapper's predict uses the iterations up to
        # best_iteration (a Booster's predict uses them all): keep those trees only.
        best = getattr(obj, "best_iteration", None)
        if best is not None and best + 1 < booster.num_boosted_rounds():
            booster = booster[: best + 1]
    raw = bytes(booster.save_raw(raw_format="json"))
    if names is None and getattr(booster, "feature_names", None):
        names = [str(n) for n in booster.feature_names]
    return convert_bytes(raw, source_format="xgboost", feature_names=names)


def _from_lightgbm(obj, names):
    booster = obj.booster_ if hasattr(obj, "booster_") else obj
    if not hasattr(booster, "model_to_string"):
        raise IcebreakError(f"{type(obj).__name__} is not a lightgbm Booster or scikit-learn wrapper")
    text = booster.model_to_string().encode("utf-8")
    return convert_bytes(text, source_format="lightgbm", feature_names=names)


# --- scikit-learn -------------------------------------------------------------------------

_REGRESSORS = {"LinearRegression", "Ridge", "RidgeCV", "Lasso", "LassoCV", "ElasticNet",
               "ElasticNetCV", "SGDRegressor", "LinearSVR", "Lars", "LassoLars",
               "OrthogonalMatchingPursuit", "BayesianRidge", "ARDRegression", "HuberRegressor"}
_CLASSIFIERS = {"LogisticRegression", "LogisticRegressionCV", "SGDClassifier", "LinearSVC",
                "RidgeClassifier", "RidgeClassifierCV", "Perceptron", "PassiveAggressiveClassifier"}


def _fitted(est, attr):
    value = getattr(est, attr, None)
    if value is None:
        raise IcebreakError(f"{type(est).__name__} is not fitted (it has no {attr})")
    return value


def _floats(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def _labels(classes):
    out = []
    for c in classes:
        if isinstance(c, (bool, np.bool_)):
            raise IcebreakError("boolean class labels are not supported; use integers or strings")
        if isinstance(c, (int, np.integer)):
            out.append(int(c))
        elif isinstance(c, str):
            out.append(c)
        else:
            raise IcebreakError(f"class label {c!r} ({type(c).__name__}) is neither an integer nor a string")
    return out


def _pipeline_steps(obj):
    """The steps of a Pipeline (``None`` and ``'passthrough'`` skipped), or ``[obj]``."""
    if type(obj).__name__ != "Pipeline":
        return [obj]
    steps = [s for _, s in obj.steps if s is not None and not (isinstance(s, str) and s == "passthrough")]
    if not steps:
        raise IcebreakError("the Pipeline has no estimator")
    return steps


_PREPROCESSORS = {"SimpleImputer", "StandardScaler", "MinMaxScaler", "Normalizer", "PCA"}


def _preprocessor_stage(step, width):
    """The stage description of a fitted preprocessor reading ``width`` features."""
    kind = type(step).__name__
    if kind == "SimpleImputer":
        return _imputer_stage(step, width)
    if kind == "StandardScaler":
        mean = step.mean_ if getattr(step, "with_mean", True) and step.mean_ is not None else np.zeros(width)
        scale = step.scale_ if getattr(step, "with_std", True) and step.scale_ is not None else np.ones(width)
        return {"kind": "standard_scaler", "mean": _floats(mean), "scale": _floats(scale)}
    if kind == "MinMaxScaler":
        if getattr(step, "clip", False):
            raise IcebreakError("MinMaxScaler(clip=True) is not supported")
        return {"kind": "min_max_scaler", "scale": _floats(_fitted(step, "scale_")), "min": _floats(step.min_)}
    if kind == "Normalizer":
        return {"kind": "normalizer", "norm": step.norm}
    if kind == "PCA":
        comps = np.asarray(_fitted(step, "components_"), dtype=np.float64)
        whiten = _floats(np.sqrt(step.explained_variance_)) if step.whiten else None
        return {"kind": "pca", "mean": _floats(step.mean_), "components": [_floats(r) for r in comps],
                "whiten": whiten}
    raise IcebreakError(f"{kind} is not a supported preprocessor")


def _imputer_stage(step, width):
    """A SimpleImputer: its ``statistics_`` are the fill values, whatever the strategy."""
    if getattr(step, "add_indicator", False):
        raise IcebreakError("SimpleImputer(add_indicator=True) is not supported")
    fill = np.asarray(_fitted(step, "statistics_"))
    if fill.dtype.kind not in "fiub":
        raise IcebreakError(f"SimpleImputer with {fill.dtype} statistics (strings or objects) is not supported")
    fill = fill.astype(np.float64)
    if fill.shape != (width,) or not np.all(np.isfinite(fill)):
        # A feature missing everywhere at fit time has a NaN statistic; without
        # keep_empty_features scikit-learn then drops that column from its output.
        raise IcebreakError(
            "SimpleImputer has a feature with no fill value (all missing at fit time); "
            "fit it with keep_empty_features=True or drop the feature"
        )
    missing = step.missing_values
    if isinstance(missing, float) and np.isnan(missing):
        marker = None
    elif isinstance(missing, (int, float, np.integer, np.floating)) and not isinstance(missing, bool) \
            and np.isfinite(missing):
        marker = float(missing)
    else:
        raise IcebreakError(
            f"SimpleImputer(missing_values={missing!r}) is not supported; np.nan or a finite number is"
        )
    return {"kind": "imputer", "missing": marker, "fill": _floats(fill)}


_SVMS = {"SVC", "NuSVC", "SVR", "NuSVR"}


def _svm_stages(est):
    """SVC, NuSVC, SVR, NuSVR: libsvm's model as scikit-learn holds it (``_dual_coef_`` and
    ``_intercept_`` keep libsvm's signs; the public ``dual_coef_``/``intercept_`` of a binary
    classifier are negated)."""
    kind = type(est).__name__
    _fitted(est, "support_vectors_")
    if getattr(est, "_sparse", False):
        raise IcebreakError(f"{kind} fitted on sparse data is not supported; fit it on a dense array")
    kernel = est.kernel
    if not isinstance(kernel, str) or kernel not in ("linear", "poly", "rbf", "sigmoid"):
        raise IcebreakError(f"{kind}(kernel={kernel!r}) is not supported; linear, poly, rbf and sigmoid are")
    sv = np.asarray(est.support_vectors_, dtype=np.float64)
    dual = np.atleast_2d(np.asarray(est._dual_coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(est._intercept_, dtype=np.float64))
    classifier = kind in ("SVC", "NuSVC")
    classes = None
    n_support = []
    prob_a, prob_b = [], []
    break_ties = False
    if classifier:
        classes = _labels(_fitted(est, "classes_"))
        if len(classes) > 2 and est.decision_function_shape != "ovr":
            raise IcebreakError(
                f"{kind}(decision_function_shape={est.decision_function_shape!r}) with more than two classes "
                "is not supported; 'ovr' (the default) is"
            )
        n_support = [int(v) for v in est._n_support]
        if est.probability:
            prob_a, prob_b = _floats(est.probA_), _floats(est.probB_)
        break_ties = bool(est.break_ties) and len(classes) > 2
    degree = int(est.degree)
    if degree < 0:
        raise IcebreakError(f"{kind}(degree={degree}) is not supported")
    stage = {
        "kind": "svm", "kernel": kernel, "gamma": float(est._gamma) if kernel != "linear" else 0.0,
        "coef0": float(est.coef0) if kernel in ("poly", "sigmoid") else 0.0,
        "degree": degree if kernel == "poly" else 0,
        "n_support": n_support, "support_vectors": [_floats(r) for r in sv],
        "dual_coef": [_floats(r) for r in dual], "intercept": _floats(intercept),
        "prob_a": prob_a, "prob_b": prob_b, "break_ties": break_ties,
    }
    return [stage], classes


def _linear_stages(est):
    kind = type(est).__name__
    coef = np.atleast_2d(np.asarray(_fitted(est, "coef_"), dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(getattr(est, "intercept_", 0.0), dtype=np.float64))
    if intercept.shape == (1,) and coef.shape[0] > 1:
        intercept = np.full(coef.shape[0], intercept[0])
    stages = [{"kind": "linear", "coef": [_floats(r) for r in coef], "intercept": _floats(intercept)}]
    classes = None
    if kind in _CLASSIFIERS:
        classes = _labels(_fitted(est, "classes_"))
        post = _post(est, len(classes))
        if post != "none":
            stages.append({"kind": "post", "post": post})
    return stages, classes


def _mlp_stages(est):
    kind = type(est).__name__
    act = est.activation
    coefs, biases = _fitted(est, "coefs_"), est.intercepts_
    stages = []
    for i, (w, b) in enumerate(zip(coefs, biases)):
        last = i == len(coefs) - 1
        w = np.asarray(w, dtype=np.float64).T
        stages.append({"kind": "dense", "weights": [_floats(r) for r in w], "bias": _floats(b),
                       "activation": "identity" if last else act})
    classes = None
    if kind == "MLPClassifier":
        out = est.out_activation_
        classes = _labels(_fitted(est, "classes_"))
        if out == "logistic" and len(classes) == 2:
            stages.append({"kind": "post", "post": "binary_logistic"})
        elif out == "softmax":
            stages.append({"kind": "post", "post": "softmax"})
        else:
            raise IcebreakError(f"MLPClassifier with output {out!r} (multi-label) is not supported")
    return stages, classes


def _nb_stages(est):
    theta = np.asarray(_fitted(est, "theta_"), dtype=np.float64)
    var = np.asarray(est.var_, dtype=np.float64)
    log_prior = np.log(est.class_prior_)
    # scikit-learn's _joint_log_likelihood: -0.5 * sum(log(2 pi var)) per class.
    log_norm = [float(-0.5 * np.sum(np.log(2.0 * np.pi * var[i, :]))) for i in range(len(theta))]
    stages = [{"kind": "gaussian_nb", "theta": [_floats(r) for r in theta], "var": [_floats(r) for r in var],
               "log_prior": _floats(log_prior), "log_norm": log_norm},
              {"kind": "post", "post": "softmax"}]
    return stages, _labels(_fitted(est, "classes_"))


def _kmeans_stages(est):
    centers = np.asarray(_fitted(est, "cluster_centers_"), dtype=np.float64)
    return [{"kind": "kmeans", "centers": [_floats(r) for r in centers]}], list(range(len(centers)))


_STAGE_ESTIMATORS = {"MLPClassifier", "MLPRegressor", "GaussianNB", "KMeans"} | _SVMS


def _from_sklearn_stages(obj, names):
    """A linear model, MLP, GaussianNB or KMeans, or preprocessors, alone or in a Pipeline:
    one f64 stage each (stages.rs)."""
    steps = _pipeline_steps(obj)
    *pre, final = steps
    first = steps[0]
    kind = type(final).__name__
    if kind in _PREPROCESSORS:
        pre, final = steps, None
    width = int(_fitted(first, "n_features_in_"))
    stages = []
    w = width
    for p in pre:
        pk = type(p).__name__
        if pk not in _PREPROCESSORS:
            raise IcebreakError(
                f"{pk} in a Pipeline is not supported; supported preprocessors: " + ", ".join(sorted(_PREPROCESSORS))
            )
        stages.append(_preprocessor_stage(p, w))
        if pk == "PCA":
            w = int(p.components_.shape[0])
    task, classes = "transform", None
    if final is not None:
        if kind in _REGRESSORS or kind in _CLASSIFIERS:
            more, classes = _linear_stages(final)
        elif kind in ("MLPClassifier", "MLPRegressor"):
            more, classes = _mlp_stages(final)
        elif kind == "GaussianNB":
            more, classes = _nb_stages(final)
        elif kind == "KMeans":
            more, classes = _kmeans_stages(final)
        elif kind in _SVMS:
            more, classes = _svm_stages(final)
        else:  # pragma: no cover - filtered by the caller
            raise IcebreakError(f"{kind} is not supported")
        stages += more
        task = "classification" if classes is not None else "regression"
    description = {
        "name": kind if type(obj).__name__ != "Pipeline" else f"Pipeline({', '.join(type(s).__name__ for s in steps)})",
        "n_features": width,
        "task": task,
        "classes": classes,
        "stages": stages,
        "source_library": f"scikit-learn {_sklearn_version()}",
    }
    return convert_stages(json.dumps(description), feature_names=_names_of(first, names))


def _split_pipeline(obj):
    """(preprocessors, final estimator) of an estimator or a Pipeline."""
    *pre, final = _pipeline_steps(obj)
    return pre, final


def _post(est, n_classes):
    name = type(est).__name__
    if name in ("LogisticRegression", "LogisticRegressionCV"):
        if n_classes == 2:
            return "binary_logistic"
        ovr = getattr(est, "multi_class", "auto") == "ovr" or getattr(est, "solver", "") == "liblinear"
        return "ovr" if ovr else "softmax"
    if name == "SGDClassifier" and getattr(est, "loss", "") == "log_loss":
        return "binary_logistic" if n_classes == 2 else "ovr"
    if name == "SGDClassifier" and getattr(est, "loss", "") == "modified_huber":
        raise IcebreakError("SGDClassifier(loss='modified_huber') probabilities are not supported yet")
    return "none"


_TREES = {"DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor",
          "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor"}


def _from_sklearn_trees(est, names):
    kind = type(est).__name__
    if getattr(est, "n_outputs_", 1) != 1:
        raise IcebreakError(f"multi-output {kind} is not supported yet")
    forest = kind.startswith(("RandomForest", "ExtraTrees"))
    members = _fitted(est, "estimators_") if forest else [est]
    trees, covers = [], []
    for member in members:
        t = _fitted(member, "tree_")
        # Node covers for explanations (Tree SHAP), as shap reads them.
        covers.append(np.asarray(t.weighted_n_node_samples, dtype=np.float64))
        value = np.asarray(t.value, dtype=np.float64).reshape(t.node_count, -1)
        trees.append((
            np.asarray(t.children_left, dtype=np.int64),
            np.asarray(t.children_right, dtype=np.int64),
            np.asarray(t.feature, dtype=np.int64),
            np.asarray(t.threshold, dtype=np.float64),
            value,
            # scikit-learn < 1.3 has no missing-value routing: a NaN went right.
            np.asarray(getattr(t, "missing_go_to_left", np.zeros(t.node_count)), dtype=np.uint8),
        ))
    if names is None:
        fn = getattr(est, "feature_names_in_", None)
        if fn is not None:
            names = [str(n) for n in fn]
    ints = strs = None
    if hasattr(est, "classes_"):
        labels = _labels(est.classes_)
        if all(isinstance(c, int) for c in labels):
            ints = labels
        elif all(isinstance(c, str) for c in labels):
            strs = labels
        else:
            raise IcebreakError("class labels mix integers and strings")
    return convert_sklearn_trees(
        trees, int(_fitted(est, "n_features_in_")), kind, class_ints=ints, class_strs=strs,
        feature_names=names, source_library=f"scikit-learn {_sklearn_version()}", covers=covers,
    )


_HGB = {"HistGradientBoostingClassifier", "HistGradientBoostingRegressor"}
_GB = {"GradientBoostingClassifier", "GradientBoostingRegressor"}


def _class_labels(est):
    """(integer labels, string labels) of a classifier's ``classes_``; (None, None) else."""
    if not hasattr(est, "classes_"):
        return None, None
    labels = _labels(est.classes_)
    if all(isinstance(c, int) for c in labels):
        return labels, None
    if all(isinstance(c, str) for c in labels):
        return None, labels
    raise IcebreakError("class labels mix integers and strings")


def _names_of(est, names):
    if names is None:
        fn = getattr(est, "feature_names_in_", None)
        if fn is not None:
            names = [str(n) for n in fn]
    return names


def _boost_link(est, kind, n_classes):
    if n_classes and getattr(est, "loss", "log_loss") != "log_loss":
        # GradientBoostingClassifier(loss="exponential") takes its probabilities as
        # expit(2 · raw), a link the format has no post transform for.
        raise IcebreakError(f"{kind}(loss={est.loss!r}) is not supported; loss='log_loss' is")
    if n_classes:
        return "binary_logistic" if n_classes == 2 else "softmax"
    loss = getattr(est, "loss", "squared_error")
    if loss in ("poisson", "gamma"):
        return "exp"
    if loss in ("squared_error", "absolute_error", "huber", "quantile"):
        return "none"
    raise IcebreakError(f"{kind}(loss={loss!r}) is not supported")


_NO_CATEGORIES = np.zeros((0, 8), dtype=np.uint32)


def _from_sklearn_hgb(est, names):
    """HistGradientBoosting from its predictors (``_predictors``, ``_baseline_prediction``,
    ``_bin_mapper``, ``is_categorical_``: scikit-learn keeps its fitted trees in these
    attributes; nothing is unpickled)."""
    kind = type(est).__name__
    predictors = _fitted(est, "_predictors")
    n_features = int(_fitted(est, "n_features_in_"))
    baseline = np.asarray(_fitted(est, "_baseline_prediction"), dtype=np.float64).ravel()
    column_map = list(range(n_features))
    categories = [None] * n_features
    pre = getattr(est, "_preprocessor", None)
    if pre is not None:
        # Categorical columns are ordinal-encoded and moved first (see boosting.rs).
        is_cat = np.asarray(est.is_categorical_, dtype=bool)
        column_map = [int(i) for i in np.flatnonzero(is_cat)] + [int(i) for i in np.flatnonzero(~is_cat)]
        encoder = pre.named_transformers_["encoder"]
        for j, cats in enumerate(encoder.categories_):
            cats = np.asarray(cats)
            if cats.dtype.kind not in "fiub":
                raise IcebreakError(
                    f"{kind}: categorical feature {column_map[j]} has {cats.dtype} categories; "
                    "icebreak takes numeric rows, so fit on integer- or float-coded categories"
                )
            cats = cats.astype(np.float64)
            if cats.size and np.isnan(cats[-1]):
                cats = cats[:-1]
            categories[j] = [float(v) for v in cats]
    trees, targets, covers = [], [], []
    for iteration in predictors:
        for k, p in enumerate(iteration):
            n = p.nodes
            # Training samples per node: the node covers explanations read (as shap does).
            covers.append(np.array(n["count"], dtype=np.float64))
            trees.append((
                np.array(n["left"], dtype=np.int64),
                np.array(n["right"], dtype=np.int64),
                np.array(n["feature_idx"], dtype=np.int64),
                np.array(n["num_threshold"], dtype=np.float64),
                np.array(n["value"], dtype=np.float64),
                np.array(n["missing_go_to_left"], dtype=np.uint8),
                np.array(n["is_leaf"], dtype=np.uint8),
                np.array(n["is_categorical"], dtype=np.uint8),
                np.array(n["bitset_idx"], dtype=np.int64),
                np.ascontiguousarray(np.asarray(p.raw_left_cat_bitsets, dtype=np.uint32).reshape(-1, 8)),
            ))
            targets.append(k)
    ints, strs = _class_labels(est)
    n_classes = len(ints or strs or [])
    return convert_sklearn_boosting(
        trees, targets, [float(b) for b in baseline], n_features, False, column_map, categories,
        _boost_link(est, kind, n_classes), kind, class_ints=ints, class_strs=strs,
        feature_names=_names_of(est, names), source_library=f"scikit-learn {_sklearn_version()}",
        covers=covers,
    )


def _from_sklearn_gb(est, names):
    """GradientBoosting from ``estimators_`` (each a regression tree's ``tree_`` arrays),
    ``learning_rate`` and the constant raw prediction of its initial estimator."""
    kind = type(est).__name__
    estimators = _fitted(est, "estimators_")
    n_features = int(_fitted(est, "n_features_in_"))
    init = getattr(est, "init_", None)
    if not (isinstance(init, str) and init == "zero") and type(init).__name__ not in ("DummyClassifier", "DummyRegressor"):
        raise IcebreakError(f"{kind} with init={type(init).__name__} is not supported; the default init or 'zero' is")
    # The initial estimator is a constant (a prior or a mean): its raw prediction of any row.
    baseline = np.asarray(est._raw_predict_init(np.zeros((1, n_features), dtype=np.float32)), dtype=np.float64).ravel()
    lr = float(est.learning_rate)
    trees, targets, covers = [], [], []
    for stage in estimators:
        for k, member in enumerate(stage):
            t = member.tree_
            covers.append(np.asarray(t.weighted_n_node_samples, dtype=np.float64))
            left = np.asarray(t.children_left, dtype=np.int64)
            trees.append((
                left,
                np.asarray(t.children_right, dtype=np.int64),
                np.asarray(t.feature, dtype=np.int64),
                np.asarray(t.threshold, dtype=np.float64),
                # scikit-learn adds learning_rate * value, rounded once, tree by tree.
                lr * np.asarray(t.value, dtype=np.float64).reshape(t.node_count),
                # Its boosting walk compares `x <= t` only: a NaN goes right.
                np.zeros(t.node_count, dtype=np.uint8),
                (left < 0).astype(np.uint8),
                np.zeros(t.node_count, dtype=np.uint8),
                np.zeros(t.node_count, dtype=np.int64),
                _NO_CATEGORIES,
            ))
            targets.append(k)
    ints, strs = _class_labels(est)
    n_classes = len(ints or strs or [])
    return convert_sklearn_boosting(
        trees, targets, [float(b) for b in baseline], n_features, True, list(range(n_features)),
        [None] * n_features, _boost_link(est, kind, n_classes), kind,
        class_ints=ints, class_strs=strs, feature_names=_names_of(est, names),
        source_library=f"scikit-learn {_sklearn_version()}", covers=covers,
    )


def _from_sklearn(obj, names):
    pre, est = _split_pipeline(obj)
    kind = type(est).__name__
    if kind in _HGB or kind in _GB or kind in _TREES:
        if pre:
            raise IcebreakError(
                f"preprocessing before {kind} is not supported; trees need no scaling, convert the estimator itself"
            )
        if kind in _HGB:
            return _from_sklearn_hgb(est, names)
        if kind in _GB:
            return _from_sklearn_gb(est, names)
        return _from_sklearn_trees(est, names)
    if kind in _REGRESSORS or kind in _CLASSIFIERS or kind in _STAGE_ESTIMATORS or kind in _PREPROCESSORS:
        return _from_sklearn_stages(obj, names)
    raise IcebreakError(
        f"scikit-learn {kind} is not supported by icebreak.convert yet; supported: "
        + ", ".join(sorted(_REGRESSORS | _CLASSIFIERS | _TREES | _HGB | _GB | _STAGE_ESTIMATORS | _PREPROCESSORS))
        + " (the linear models, MLPs, GaussianNB, KMeans and SVMs alone or after "
        + ", ".join(sorted(_PREPROCESSORS)) + " in a Pipeline); other families convert through ONNX files"
    )


def _sklearn_version():
    try:
        import sklearn

        return sklearn.__version__
    except ImportError:  # pragma: no cover - an estimator came from somewhere
        return "unknown"


# --- verification -------------------------------------------------------------------------


# docs/FIDELITY.md's bounds, relative to max(1, |source|): f64 models (scikit-learn,
# LightGBM) within 1e-12 (bit-exact families are far inside it), f32 models (XGBoost, float
# ONNX graphs) within 2e-6.
_TOLERANCE = {"f64": 1e-12, "f32": 2e-6}


def _ulps(got, ref, precision):
    """|got - ref| in units in the last place of ``ref`` at the source's precision."""
    if precision == "f32":
        ref32 = np.abs(ref).astype(np.float32)
        spacing = np.spacing(ref32).astype(np.float64)
    else:
        spacing = np.spacing(np.abs(ref))
    return np.abs(got - ref) / spacing


def verify(obj, X, model=None, tolerance=None, raise_on_failure=True, quiet=False):
    """Converts ``obj`` (unless ``model`` is given), predicts ``X`` with both, and compares.

    Returns a dict: ``rows``, ``precision`` (the model's: ``f64`` or ``f32``), ``tolerance``,
    ``labels_differ`` (row indices, classifiers), and per output kind (``predict``,
    ``predict_proba``, ``decision_function``, ``transform`` where the source has it) the
    largest error in ulps of the source's precision (``max_ulps``), the largest absolute error
    and the largest error relative to ``max(1, |source|)``. Raises :class:`IcebreakError`
    when a label differs or a relative error exceeds ``tolerance`` (by default the bound of
    docs/FIDELITY.md for the model's precision: 1e-12 for f64 models, 2e-6 for f32 ones).
    """
    if model is None:
        model = convert(obj)
    precision = model.describe()["outputs"]["precision"]
    if tolerance is None:
        tolerance = _TOLERANCE.get(precision, 2e-6)
    report = {"rows": int(len(X)), "precision": precision, "tolerance": float(tolerance),
              "labels_differ": [], "outputs": {}}
    classifier = model.task == "classification"
    if model.task != "transform" and hasattr(obj, "predict"):
        ours = model.predict(X)
        theirs = np.asarray(obj.predict(X))
        if classifier:
            report["labels_differ"] = [int(i) for i in np.flatnonzero(ours != theirs.reshape(ours.shape))]
    if model.task == "transform":
        kinds = ["transform"]
    elif classifier:
        kinds = ["predict_proba", "decision_function", "transform"]
    else:
        kinds = ["predict"]
    for kind in kinds:
        if not hasattr(obj, kind):
            continue
        try:
            ref = np.asarray(getattr(obj, kind)(X), dtype=np.float64)
            got = np.asarray(getattr(model, kind)(X), dtype=np.float64)
        except (AttributeError, IcebreakError):
            continue
        if got.size != ref.size:
            continue
        got = got.reshape(ref.shape)
        diff = np.abs(got - ref)
        rel = diff / np.maximum(1.0, np.abs(ref))
        report["outputs"][kind] = {
            "max_ulps": float(_ulps(got, ref, precision).max(initial=0.0)),
            "max_abs_error": float(diff.max(initial=0.0)),
            "max_rel_error": float(rel.max(initial=0.0)),
        }
    failed = bool(report["labels_differ"]) or any(
        not (o["max_rel_error"] <= tolerance) for o in report["outputs"].values()
    )
    report["ok"] = not failed
    if not quiet:
        print(_format_report(report))
    if failed and raise_on_failure:
        raise IcebreakError("parity check failed:\n" + _format_report(report))
    return report


def _format_report(report):
    lines = [
        f"icebreak verify: {report['rows']} rows, {report['precision']} model, "
        f"labels differing: {len(report['labels_differ'])}"
        + (f" (rows {report['labels_differ'][:10]}{' ...' if len(report['labels_differ']) > 10 else ''})"
           if report["labels_differ"] else "")
    ]
    for kind, o in report["outputs"].items():
        lines.append(
            f"  {kind}: max {o['max_ulps']:.3g} ulp ({report['precision']}), max abs error "
            f"{o['max_abs_error']:.3g}, max rel error {o['max_rel_error']:.3g} (tolerance {report['tolerance']:.3g})"
        )
    lines.append("  ok" if report["ok"] else "  FAILED")
    return "\n".join(lines)
