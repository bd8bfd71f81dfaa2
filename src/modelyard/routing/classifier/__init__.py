"""The classifier router: MiniLM embeddings → a small trained head → a family or model.

``artefact`` is the on-disk format, ``head`` predicts in numpy, ``train`` fits heads
with scikit-learn (training only), ``router`` is ``kind: classifier``.
"""

from modelyard.routing.classifier.artefact import DEFAULT_DIR, ClassifierArtefact
from modelyard.routing.classifier.router import ClassifierRouter, ClassifierSpec, TextClassifier

__all__ = ["DEFAULT_DIR", "ClassifierArtefact", "ClassifierRouter", "ClassifierSpec", "TextClassifier"]
