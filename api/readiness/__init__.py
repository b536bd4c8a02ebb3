"""Village readiness: the qualification policy, the pure engine, the loader and the board."""
