"""Vector index: database face ids -> embeddings, cosine search over FAISS (see faiss_index)."""

from matcher.index.faiss_index import (
    AnnParams,
    DuplicateFaceIdError,
    FaceIndex,
    FaceIndexError,
    Hit,
    IndexCorruptError,
    IndexMeta,
    IndexMismatchError,
    Mode,
    is_stale,
    read_meta,
    set_faiss_threads,
)

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
