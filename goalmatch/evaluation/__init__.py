"""Layer 6, evaluation: repeated cross-validation against baselines on the same folds,
metrics, and the evaluation report.
"""
