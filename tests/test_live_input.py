"""`phonedge stream` and `phonedge listen` (the microphone behind a fake sounddevice)."""

from __future__ import annotations

import json
import sys
import threading
import types
from pathlib import Path

import pytest
import soundfile as sf
from click.testing import CliRunner

import phonedge
from phonedge.audio import prepare_audio
from phonedge.cli import main
from test_stream import fsdd_stream

RATE = 16000


@pytest.fixture(scope="module")
def bundle(reference_bundles: dict) -> Path:
    return reference_bundles["int8"]


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three FSDD utterances with pauses, as an 8 kHz 16-bit WAV (the stream resamples it)."""
    audio, _ = fsdd_stream(3, seed=5)
    path = tmp_path_factory.mktemp("live") / "three.wav"
    sf.write(str(path), audio[::2], 8000, subtype="PCM_16")
    return path


def _events(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_stream_json_events_do_not_depend_on_block_ms(bundle: Path, wav: Path) -> None:
    runner = CliRunner()
    small = runner.invoke(main, ["stream", str(wav), "--model", str(bundle), "--json", "--block-ms", "7"])
    large = runner.invoke(main, ["stream", str(wav), "--model", str(bundle), "--json", "--block-ms", "1500"])
    assert small.exit_code == 0 and large.exit_code == 0, small.output + large.output
    assert _events(small.output) == _events(large.output)
    events = _events(small.output)
    finals = [e for e in events if e["kind"] == "final" and e["text"]]
    assert len(finals) == 3
    assert all(e["path"] == str(wav) for e in events)
    assert all(e["emitted_at"] >= e["end"] for e in finals)
    # Each final is predict on the stream's own (resampled) samples of the segment.
    rec = phonedge.load(bundle)
    samples = rec.prepare_audio(wav)
    for e in finals:
        pred = rec.predict(samples[round(e["start"] * RATE) : round(e["end"] * RATE)], RATE)
        assert e["text"] == pred.text and e["label"] == pred.label


def test_stream_plain_prints_finals_and_goes_on_after_a_bad_file(bundle: Path, wav: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    result = CliRunner().invoke(main, ["stream", str(bad), str(wav), "--model", str(bundle)])
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line]
    assert len(lines) == 3 and all(line.startswith(str(wav)) and "label=" in line for line in lines)
    assert "error: " in result.stderr and "bad.wav" in result.stderr


def test_stream_realtime_waits_for_the_audio(bundle: Path, wav: Path) -> None:
    from phonedge.live_input import replay_file

    slept: list[float] = []
    stream = phonedge.load(bundle).stream()
    list(replay_file(stream, wav, 500, realtime=True, sleep=slept.append))
    assert slept and all(s > 0 for s in slept)


class FakeInputStream:
    """Stands in for sounddevice.InputStream: plays a WAV through the callback from another thread."""

    source: Path
    interrupt = False

    def __init__(self, device=None, channels=1, samplerate=None, dtype="float32", blocksize=0, callback=None):
        self.samplerate, self.blocksize, self.callback = samplerate, blocksize, callback
        audio, rate = sf.read(str(self.source), dtype="float32", always_2d=True)
        assert rate == samplerate  # the fake device plays the WAV at the rate asked for
        self.audio = audio
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._play)

    def _play(self) -> None:
        for at in range(0, len(self.audio), self.blocksize):
            block = self.audio[at : at + self.blocksize]
            self.callback(block, len(block), None, None)
        self.done.set()

    @property
    def active(self) -> bool:
        if self.done.is_set() and self.interrupt:
            self.done.wait()
            raise KeyboardInterrupt  # Ctrl-C once the whole recording was captured
        return not self.done.is_set()

    def __enter__(self) -> FakeInputStream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join()


def _fake_sounddevice(monkeypatch: pytest.MonkeyPatch, wav16: Path, interrupt: bool) -> None:
    fake = types.ModuleType("sounddevice")
    FakeInputStream.source, FakeInputStream.interrupt = wav16, interrupt
    fake.InputStream = FakeInputStream
    monkeypatch.setitem(sys.modules, "sounddevice", fake)


@pytest.fixture(scope="module")
def wav16(wav: Path) -> Path:
    out = wav.with_name("three16k.wav")
    sf.write(str(out), prepare_audio(wav, None, RATE, 400), RATE, subtype="FLOAT")
    return out


@pytest.mark.parametrize("interrupt", [False, True])
def test_listen_prints_finals_from_the_microphone(monkeypatch: pytest.MonkeyPatch, bundle: Path, wav16: Path,
                                                  interrupt: bool) -> None:
    _fake_sounddevice(monkeypatch, wav16, interrupt)
    result = CliRunner().invoke(main, ["listen", "--model", str(bundle), "--json", "--block-ms", "30"])
    assert result.exit_code == 0, result.output
    finals = [e for e in _events(result.stdout) if e["kind"] == "final" and e["text"]]
    # The same as replaying the file: the capture path adds nothing and loses nothing.
    replay = CliRunner().invoke(main, ["stream", str(wav16), "--model", str(bundle), "--json"])
    expected = [e for e in _events(replay.stdout) if e["kind"] == "final" and e["text"]]
    assert len(finals) == 3
    assert [(e["text"], e["label"], e["start"]) for e in finals] == [(e["text"], e["label"], e["start"])
                                                                     for e in expected]


def test_listen_without_the_extra_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, bundle: Path) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as if not installed
    result = CliRunner().invoke(main, ["listen", "--model", str(bundle)])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "phonedge[mic]" in result.stderr


def test_listen_without_a_microphone_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, bundle: Path) -> None:
    fake = types.ModuleType("sounddevice")

    def no_device(**kwargs):
        raise RuntimeError("Error querying device -1")

    fake.InputStream = no_device
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    result = CliRunner().invoke(main, ["listen", "--model", str(bundle), "--device", "3"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["error: cannot open input device '3' at 16000 Hz: "
                                                  "Error querying device -1"]


def test_terminal_shows_the_partial_on_one_updating_line() -> None:
    import io

    from phonedge.live_input import EventPrinter
    from phonedge.stream import StreamEvent

    def event(kind: str, text: str) -> StreamEvent:
        return StreamEvent(kind, text, [], [], [], 1.0, 2.0, 2.5, 0.9, label="1" if kind == "final" else None)

    out = io.StringIO()
    printer = EventPrinter(out, as_json=False, live_line=True)
    for e in (event("partial", "w"), event("partial", "w ah"), event("final", "w ah n")):
        printer.show(e)
    assert out.getvalue() == "\r\x1b[Kw\r\x1b[Kw ah\r\x1b[K1.00-2.00\tw ah n\tlabel=1\n"
    piped = io.StringIO()
    printer = EventPrinter(piped, as_json=False, live_line=False)
    for e in (event("partial", "w"), event("final", "w ah n")):
        printer.show(e)
    assert piped.getvalue() == "1.00-2.00\tw ah n\tlabel=1\n"
