"""Vector index: database face ids -> embeddings, cosine search over FAISS.

``faiss_index`` (the ``FaceIndex``), ``fileformat`` (its checksummed file), ``manager`` (keeps
one index per side and pack in line with the database). The index errors live in
``matcher.errors`` and are re-exported here.
"""

from matcher.errors import DuplicateFaceIdError, FaceIndexError, IndexCorruptError, IndexMismatchError
from matcher.index.faiss_index import FaceIndex, Hit, is_stale, set_faiss_threads
from matcher.index.fileformat import AnnParams, IndexMeta, Mode, read_meta

__all__ = [
    "AnnParams",
    "DuplicateFaceIdError",
    "FaceIndex",
    "FaceIndexError",
    "Hit",
    "IndexCorruptError",
    "IndexMeta",
    "IndexMismatchError",
    "Mode",
    "is_stale",
    "read_meta",
    "set_faiss_threads",
]
