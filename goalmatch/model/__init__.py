"""Layer 5, model: the per-framework :class:`~goalmatch.model.classifier.GoalClassifier` (its
inputs read by :mod:`~goalmatch.model.inputs`, its small model in :mod:`~goalmatch.model.features`),
the :class:`~goalmatch.model.matcher.Matcher` that runs one per framework with the evidence of
:mod:`~goalmatch.model.evidence`, the suggestion types they return, and :mod:`~goalmatch.model.render`,
which writes a suggestion down for the command line and for tables.

Import the modules directly (they pull in scikit-learn); this package imports nothing heavy.
"""
