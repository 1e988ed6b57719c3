"""Measuring what shopmind did: an experiment's results from the store (its exposures, the
metrics computed in the engine as sufficient statistics, then the statistics of
``shopmind.experiments``), the uplift of campaigns, and the off-policy value of bandit policies."""

__all__: list[str] = []
