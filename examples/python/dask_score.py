"""Scoring a Dask DataFrame with an icebreak model, loaded once per worker.

    python examples/python/dask_score.py            # trains, converts, scores, checks

``score(ddf, path)`` is the part to copy: each partition (a pandas DataFrame) is scored by
``Model.predict`` on the columns the model names, and the model is read from its ``.apr``
file once per worker process (``load_model`` is cached), not once per partition or row.
The ``.apr`` file must be readable by every worker (a shared file system, or copy it
first); it is a few hundred kilobytes, verified when read, and needs no Python library
but icebreak and numpy to score.
"""

import functools

import numpy as np
import pandas as pd

import icebreak


@functools.lru_cache(maxsize=8)
def load_model(path):
    """The model at ``path``, read and verified once per process."""
    return icebreak.load(path)


def _score_partition(part, path, column):
    model = load_model(path)
    out = part.copy()
    # Columns are picked by the model's feature names; other columns (ids, ...) are kept.
    out[column] = model.predict(part) if len(part) else np.empty(0)
    return out


def score(ddf, path, column="prediction"):
    """``ddf`` with a ``column`` of the model's predictions, computed partition by partition."""
    meta = ddf._meta.assign(**{column: np.float64(0)})
    return ddf.map_partitions(_score_partition, path, column, meta=meta)


def main(tmp_dir=None, npartitions=4, scheduler="threads"):
    """Trains a HistGradientBoostingRegressor with a categorical feature, converts it, scores
    a Dask DataFrame with it, and checks the answers equal scikit-learn's. Returns the
    number of rows scored."""
    import os
    import tempfile

    import dask.dataframe as dd
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X = X.assign(sex_code=(X["sex"] > 0).astype(float))
    est = HistGradientBoostingRegressor(max_iter=50, categorical_features=["sex_code"], random_state=0)
    est.fit(X, y)
    tmp = tmp_dir or tempfile.mkdtemp()
    path = os.path.join(tmp, "diabetes.apr")
    icebreak.convert(est).save(path)

    frame = X.assign(row_id=np.arange(len(X)))  # an extra column the model does not read
    ddf = dd.from_pandas(frame, npartitions=npartitions)
    scored = score(ddf, path).compute(scheduler=scheduler)
    scored = scored.sort_values("row_id")
    expected = est.predict(X)
    if not np.array_equal(scored["prediction"].to_numpy(), expected):
        raise SystemExit("the Dask answers differ from scikit-learn's")
    print(f"scored {len(scored)} rows in {npartitions} partitions; equal to scikit-learn's predict")
    return len(scored)


if __name__ == "__main__":
    main()
