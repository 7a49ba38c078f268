"""Corpus-scale transcription into a Parquet (or JSON lines) dataset, resumable, locally or on Ray.

Nothing here is imported by ``import phonedge``; pyarrow and ray are imported where they are used.
"""

from .runner import BatchConfig, BatchSummary, ResumePlan, run_batch
from .schema import FIELDS, STATUS_ERROR, STATUS_OK
from .store import read_rows

__all__ = ["run_batch", "BatchConfig", "BatchSummary", "ResumePlan", "read_rows", "FIELDS", "STATUS_OK",
           "STATUS_ERROR"]
