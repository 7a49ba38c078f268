"""What every request handler shares: the settings, the recogniser, the pool and the stream slots."""

from __future__ import annotations

from dataclasses import dataclass

from ..recognizer import Recognizer
from .limits import StreamSlots
from .pool import InferencePool
from .settings import ServeSettings
from .uploads import SampleBudget


@dataclass
class ServerState:
    """The live objects of one server, kept on ``app.state.phonedge``."""

    settings: ServeSettings
    recognizer: Recognizer
    pool: InferencePool
    slots: StreamSlots
    budget: SampleBudget
