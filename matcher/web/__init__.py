"""Server-rendered web pages for people (docs/pages.md): one module per audience (``signin``,
``review``, ``family``, ``shelter``, ``admin``; ``images`` for crops and photos), shared
plumbing in ``common`` and ``cookies``, wired onto the API's app by ``app.mount_pages``."""
