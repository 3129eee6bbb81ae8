"""Layer 5, model: the per-framework :class:`~goalmatch.model.classifier.GoalClassifier`,
the :class:`~goalmatch.model.matcher.Matcher` that runs one per framework and gathers
evidence, and the suggestion types they return.

Import the modules directly (they pull in scikit-learn); this package imports nothing heavy.
"""
