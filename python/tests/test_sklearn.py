"""BPNNClassifier as a scikit-learn estimator: scikit-learn's own
check_estimator suite, a grid search against MLPClassifier on the digits,
pipelines, cross-validation, labels of any type, warm start."""

import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_digits, load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, SkipTestWarning  # noqa: E402
from sklearn.model_selection import (GridSearchCV, cross_val_score,  # noqa: E402
                                     train_test_split)
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from bpnn.sklearn import BPNNClassifier  # noqa: E402

# Checks that scikit-learn itself skips for want of something in the
# environment (README, "Python"); CI installs both, so none is skipped there.
SKIPPED_BY_ENVIRONMENT = {
    "check_classifier_data_not_an_array": "pandas is not installed",
    "check_array_api_input": "SCIPY_ARRAY_API=1 is not set",
}


def run_check_estimator(estimator):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkipTestWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_estimator(estimator)
    skipped = [str(w.message) for w in caught if issubclass(w.category, SkipTestWarning)]
    for message in skipped:
        assert any(name in message for name in SKIPPED_BY_ENVIRONMENT), message
    return skipped


def test_check_estimator():
    skipped = run_check_estimator(BPNNClassifier())
    print(f"scikit-learn {sklearn.__version__}: check_estimator passed, "
          f"{len(skipped)} checks skipped{': ' if skipped else ''}{'; '.join(skipped)}")


@pytest.mark.parametrize("solver", ["cg", "lbfgs", "sgd", "momentum"])
def test_check_estimator_other_solvers(solver):
    run_check_estimator(BPNNClassifier(solver=solver))


def test_check_estimator_normalized():
    run_check_estimator(BPNNClassifier(normalize="zscore"))


def test_grid_search_on_digits_matches_mlp():
    """The same search over BPNNClassifier and MLPClassifier(activation=
    "logistic"), both with their defaults otherwise: the cross-validated
    scores within 1 point, and the held-out score no more than 1 point
    lower."""
    X, y = load_digits(return_X_y=True)
    X = X / 16
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    grid = {"hidden_layer_sizes": [(32,), (64,)], "alpha": [1e-4, 1e-2]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GridSearchCV(BPNNClassifier(random_state=0, device="cpu"), grid, cv=3)
        ours.fit(X_train, y_train)
        theirs = GridSearchCV(MLPClassifier(activation="logistic", random_state=0), grid, cv=3)
        theirs.fit(X_train, y_train)
    ours_test, theirs_test = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    print(f"digits grid search, scikit-learn {sklearn.__version__}: BPNNClassifier "
          f"{ours.best_params_} cv {ours.best_score_:.4f} test {ours_test:.4f}; "
          f"MLPClassifier {theirs.best_params_} cv {theirs.best_score_:.4f} "
          f"test {theirs_test:.4f}")
    assert abs(ours.best_score_ - theirs.best_score_) <= 0.01
    assert ours_test >= theirs_test - 0.01


def test_pipeline_cross_validation_and_string_labels():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    pipeline = make_pipeline(StandardScaler(), BPNNClassifier(hidden_layer_sizes=(8,),
                                                              solver="lbfgs", random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipeline, X, names, cv=3)
        pipeline.fit(X, names)
    assert scores.mean() > 0.9
    assert list(pipeline.classes_) == list(names[[0, 50, 100]])
    assert set(pipeline.predict(X)) <= set(names)
    proba = pipeline.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1)


def test_fitted_attributes_warm_start_and_pickle():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    labels = np.array([10, 20, 30])[y]
    est = BPNNClassifier(hidden_layer_sizes=(6, 5), max_iter=5, random_state=1, warm_start=True)
    est.fit(X, labels)
    assert est.n_iter_ == 5 and len(est.loss_curve_) == 5
    assert [c.shape for c in est.coefs_] == [(4, 6), (6, 5), (5, 3)]
    assert [b.shape for b in est.intercepts_] == [(6,), (5,), (3,)]
    before = est.model_.params.copy()
    est.fit(X, labels)  # trains on from the parameters reached
    assert est.n_iter_ == 10
    assert not np.array_equal(before, est.model_.params)
    with pytest.raises(ValueError, match="same classes"):
        est.fit(X[:100], labels[:100])
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))


def test_early_stopping():
    X, y = load_digits(return_X_y=True)
    est = BPNNClassifier(hidden_layer_sizes=(16,), max_iter=50, early_stopping=True,
                         n_iter_no_change=2, random_state=0, normalize="minmax").fit(X, y)
    assert est.result_.best_epoch >= 1 and est.best_validation_score_ > 0.8
    assert len(est.validation_scores_) == est.n_iter_
    with pytest.raises(ValueError, match="mini-batch"):
        BPNNClassifier(solver="cg", early_stopping=True).fit(X, y)
