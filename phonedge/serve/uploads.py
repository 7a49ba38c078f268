"""What an uploaded file may cost once decoded: its length, its channels x rate, and the audio held by all uploads.

The body limit bounds bytes on the wire, not samples in memory: a 3.5 MB FLAC holds 6 hours of
silence. So an upload is checked three times. Its header (libsndfile reads one for every format)
is checked before anything is decoded: too long, or too many channels x samples per second, is a
413 naming the limit. Then it reserves its length, as model-rate samples, from a budget shared by
all uploads in flight; a full budget makes it wait up to ``queue_timeout`` and then answers 503.
Last, decoding runs in blocks (phonedge/longform.py: down-mixed and resampled as they arrive, the
same samples as a whole read), counting, so a header that understates the length is caught at the
limit (413), and audio beyond the reservation must be reserved too (503 when it cannot). An upload
thus holds its mono model-rate samples (600 s: 37 MiB) plus one block, never the decoded file.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..audio import as_mono_float32, decode_audio_bytes, decode_errors, resample
from ..errors import AudioDecodeError
from ..longform import open_sound, read_whole, sound_blocks
from .errors import AudioLimitError, ServerBusyError
from .settings import ServeSettings

# How often a waiting upload looks at the budget again.
POLL_S = 0.05


@dataclass(frozen=True)
class Header:
    """What an upload's header announces: frames, their rate and the channel count."""

    frames: int
    rate: int
    channels: int
    format: str

    @property
    def seconds(self) -> float:
        """The announced length in seconds."""
        return self.frames / self.rate


def read_header(data: bytes, where: str) -> Header:
    """The header of an upload (AudioDecodeError when it is not audio); decodes no samples."""
    import soundfile as sf

    if not data:
        raise AudioDecodeError(f"{where} is empty (0 bytes), not audio")
    with decode_errors(where):
        info = sf.info(io.BytesIO(data))
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioDecodeError(f"cannot decode {where} as audio: its header gives {info.channels} channels "
                               f"at {info.samplerate} Hz")
    return Header(max(0, int(info.frames)), int(info.samplerate), int(info.channels), str(info.format))


def check_header(header: Header, settings: ServeSettings, where: str) -> None:
    """Refuse (413) an upload whose header is over the length or channels x rate limit, before decoding."""
    cost = header.channels * header.rate
    if cost > settings.max_channel_rate:
        raise AudioLimitError(
            f"{where} has {header.channels} channels at {header.rate} Hz ({cost:,} samples a second to decode), "
            f"over the server's limit of {settings.max_channel_rate:,} (phonedge serve --max-channel-rate); "
            "send fewer channels or a lower rate")
    if header.seconds > settings.max_audio_seconds:
        raise AudioLimitError(too_long(where, settings, f"{header.seconds:,.1f} s"))


def too_long(where: str, settings: ServeSettings, length: str) -> str:
    """The message for audio over ``--max-audio-seconds``."""
    return (f"{where} holds {length} of audio, over the server's limit of {settings.max_audio_seconds:g} s "
            "(phonedge serve --max-audio-seconds); split it, or run phonedge predict on it")


class SampleBudget:
    """Model-rate samples that uploads in flight may hold together; taken and given back from any thread."""

    def __init__(self, limit: int) -> None:
        """Allow ``limit`` samples at once."""
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def try_take(self, n: int) -> bool:
        """Take ``n`` samples if they are free."""
        with self._lock:
            if self.held + n > self.limit:
                return False
            self.held += n
            return True

    def give_back(self, n: int) -> None:
        """Free ``n`` samples taken by :meth:`try_take`."""
        with self._lock:
            self.held -= n

    async def reserve(self, n: int, timeout: float) -> Reservation:
        """Reserve ``n`` samples, waiting up to ``timeout`` seconds for them (ServerBusyError, a 503, after)."""
        deadline = time.monotonic() + timeout
        while not self.try_take(n):
            if time.monotonic() >= deadline:
                raise self.busy()
            await asyncio.sleep(POLL_S)
        return Reservation(self, n)

    def busy(self) -> ServerBusyError:
        """The 503 for a full budget."""
        return ServerBusyError(
            f"the server holds as much uploaded audio as it allows at once ({self.limit:,} samples, "
            "phonedge serve --max-audio-in-flight-seconds); try again shortly")


class Reservation:
    """Samples one upload holds from the budget; grown while decoding, all given back when it is answered."""

    def __init__(self, budget: SampleBudget, held: int) -> None:
        """Hold ``held`` samples already taken from ``budget``."""
        self.budget, self.held = budget, held
        self._lock = threading.Lock()
        self._closed = False

    def cover(self, n: int, step: int) -> None:
        """Hold at least ``n`` samples, taking ``step`` or more at a time (ServerBusyError when the budget is full).

        After :meth:`release` (its client is gone) nothing more is taken: the decoding stops with the 503.
        """
        with self._lock:
            if n <= self.held:
                return
            extra = max(n - self.held, step)
            if self._closed or not self.budget.try_take(extra):
                raise self.budget.busy()
            self.held += extra

    def release(self) -> None:
        """Give everything back (once)."""
        with self._lock:
            self._closed = True
            self.budget.give_back(self.held)
            self.held = 0


def decode_upload(data: bytes, where: str, header: Header, target_rate: int, settings: ServeSettings,
                  reservation: Reservation) -> NDArray[np.float32]:
    """Mono float32 samples of an upload at ``target_rate``, decoded in blocks within the limits.

    The same samples ``predict`` reads from the file (an MP3 up to MP3_WHOLE_S is read whole, as there).
    """
    if read_whole(header.format, header.seconds):
        samples, rate = decode_audio_bytes(data, where)
        x = resample(as_mono_float32(samples, where), rate, target_rate)
        reservation.cover(len(x), target_rate)
        return x
    limit = int(settings.max_audio_seconds * target_rate) + 1  # resampling may round one sample up
    blocks: list[NDArray[np.float32]] = []
    total = 0
    with open_sound(io.BytesIO(data), where) as f:
        for block in sound_blocks(f, where, target_rate):
            total += len(block)
            if total > limit:
                raise AudioLimitError(too_long(where, settings, f"more than {settings.max_audio_seconds:g} s"))
            reservation.cover(total, target_rate)  # a second at a time
            blocks.append(block)
    return np.concatenate(blocks) if len(blocks) != 1 else blocks[0]
