"""matcher: face matching to help reunite children with their families.

Embeddings -> FAISS -> ranked candidates for human review. It never decides on its own.
"""

__version__ = "0.1.0"
