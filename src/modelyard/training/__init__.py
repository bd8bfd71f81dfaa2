"""Offline training of routers from outcome data (the one home for trainers that are not the classifier's).

* `tasks`: the outcome sets (RouterBench subsets, RouteLLM MMLU/GSM8K) with their
  fixed train/test splits, and cached embeddings of each (embedded once).
* `quality`: per-candidate quality predictors for the N-model ``quality_cost`` router
  (kNN, MLP, matrix factorisation), compared by validation on the train split.
* `cross_task`: the train-on-one-task, test-on-another matrix.

Nothing in the gateway imports this package; routers load the artefacts it writes.
"""
