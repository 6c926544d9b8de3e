"""What a command printed: stdout and stderr in the order it wrote them, and its exit status."""

from __future__ import annotations

from dataclasses import dataclass

STDOUT = 1
STDERR = 2
PAUSE = -1  # not a descriptor: the tool takes this long (seconds, as ASCII) before going on

Chunk = tuple[int, bytes]  # (file descriptor, bytes), or (PAUSE, seconds)


@dataclass(frozen=True, slots=True)
class Output:
    chunks: tuple[Chunk, ...]
    status: int
    hang: bool = False  # printed the chunks, then waits forever (a held lock): no status follows

    @staticmethod
    def of(stdout: str = "", stderr: str = "", status: int = 0) -> Output:
        """stdout, then stderr."""
        chunks: list[Chunk] = []
        if stdout:
            chunks.append((STDOUT, stdout.encode()))
        if stderr:
            chunks.append((STDERR, stderr.encode()))
        return Output(tuple(chunks), status)

    def text(self, fd: int = STDOUT) -> str:
        """One stream's text (for tests and debugging)."""
        return b"".join(data for f, data in self.chunks if f == fd).decode(errors="replace")

    def pauses(self) -> float:
        """How long the tool takes in all, in seconds."""
        return sum(float(data) for f, data in self.chunks if f == PAUSE)


def pause_seconds(chunk: Chunk) -> float | None:
    """The seconds a :data:`PAUSE` chunk stands for; ``None`` for output."""
    return float(chunk[1]) if chunk[0] == PAUSE else None


class Printer:
    """Builds an :class:`Output` the way a tool writes: lines to stdout and stderr, in order."""

    def __init__(self) -> None:
        self._chunks: list[Chunk] = []

    def out(self, text: str) -> None:
        self._write(STDOUT, text)

    def err(self, text: str) -> None:
        self._write(STDERR, text)

    def fd(self, fd: int, text: str) -> None:
        """Text on another descriptor (apt's Status-Fd): lost unless the shell opened it."""
        self._write(fd, text)

    def pause(self, seconds: float) -> None:
        """The tool works this long before printing more (progress streams, locks wait)."""
        if seconds > 0:
            self._chunks.append((PAUSE, repr(float(seconds)).encode()))

    def _write(self, fd: int, text: str) -> None:
        if not text:
            return
        data = text.encode()
        if self._chunks and self._chunks[-1][0] == fd:
            self._chunks[-1] = (fd, self._chunks[-1][1] + data)
        else:
            self._chunks.append((fd, data))

    def done(self, status: int = 0, hang: bool = False) -> Output:
        return Output(tuple(self._chunks), status, hang)
