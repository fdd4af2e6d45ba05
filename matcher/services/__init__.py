"""Use cases, one module each (``records``, ``accounts``, ``review``, ``search``, ``export``,
``audit``, ``health``, ``uploads``, ``jobs``), and ``container.Services``, the composition root
that wires storage, indexes and models and exposes them."""
