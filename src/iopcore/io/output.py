"""Writing output files without destroying input: the one way iopcore writes a file.

:func:`write_output` refuses to write onto a file the command reads (the store, its ``-wal``
and ``-shm`` files, the program file; the same file after resolving links), refuses to
overwrite an existing file that is not of the output's own kind unless ``force``, and writes
to a temporary file in the same folder that is renamed into place, so a crash leaves the old
file or the new one, never half of each. Files are created ``0600`` (owner only) whatever the
umask: exports hold clinical schedules (see docs/clinic-developers.md).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from iopcore.core.errors import IopcoreError

#: Files iopcore creates: owner read/write only. Folders: owner only.
FILE_MODE = 0o600
DIR_MODE = 0o700


class OutputError(IopcoreError):
    """An output path that would destroy input, or cannot be written."""


#: Recognizes a file's first bytes as output of one kind (so overwriting it is expected).
Recognizer = Callable[[bytes], bool]


def is_calendar(head: bytes) -> bool:
    return head.lstrip().upper().startswith(b"BEGIN:VCALENDAR")


def is_json(head: bytes) -> bool:
    return head.lstrip()[:1] in (b"[", b"{")


def starts_with(prefix: bytes) -> Recognizer:
    return lambda head: head.startswith(prefix)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def store_files(path: Path) -> tuple[Path, ...]:
    """A SQLite store file and the files SQLite keeps next to it."""
    return (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal"))


def check_output(
    output: Path,
    *,
    kind: str,
    recognize: Recognizer,
    reads: Iterable[Path] = (),
    force: bool = False,
) -> Path:
    """The resolved path to write ``kind`` output to, or an OutputError saying why not."""
    for source in reads:
        if _same_file(output, source):
            raise OutputError(
                f"{output}: this is {source}, which the command reads; write the {kind} to "
                "another file"
            )
    target = output.resolve()
    if target.is_dir():
        raise OutputError(f"{output}: is a folder; give a file name for the {kind}")
    if not target.parent.is_dir():
        raise OutputError(
            f"{output}: cannot write (folder {target.parent} does not exist); create it first"
        )
    if target.exists() and not force:
        try:
            with target.open("rb") as file:
                head = file.read(4096)
        except OSError as exc:
            raise OutputError(f"{output}: cannot read ({exc.strerror}); check the path") from None
        if head and not recognize(head):
            raise OutputError(
                f"{output}: exists and is not a {kind}; refusing to overwrite it (choose "
                "another file, or pass --force to replace it)"
            )
    return target


def write_output(
    output: Path,
    data: bytes | str,
    *,
    kind: str,
    recognize: Recognizer,
    reads: Iterable[Path] = (),
    force: bool = False,
) -> None:
    """Write ``data`` to ``output`` after :func:`check_output`, atomically, mode 0600."""
    stage_output(output, data, kind=kind, recognize=recognize, reads=reads, force=force).commit()


class StagedOutput:
    """Checked output whose bytes wait, complete and synced, in a 0600 temporary file next to
    the target: :meth:`commit` renames it into place, :meth:`discard` removes it. For outputs
    that must be recorded before they appear (disclosures), and appear only if recorded."""

    def __init__(self, output: Path, target: Path, temp: Path) -> None:
        self.output, self.target, self.temp = output, target, temp

    def commit(self) -> None:
        try:
            os.replace(self.temp, self.target)
        except OSError as exc:
            self.discard()
            raise OutputError(
                f"{self.output}: cannot write ({exc.strerror}); check the path"
            ) from None

    def discard(self) -> None:
        self.temp.unlink(missing_ok=True)


def stage_output(
    output: Path,
    data: bytes | str,
    *,
    kind: str,
    recognize: Recognizer,
    reads: Iterable[Path] = (),
    force: bool = False,
) -> StagedOutput:
    """:func:`check_output`, then write ``data`` to a temporary file beside ``output``; the
    caller commits (renames into place) or discards it."""
    target = check_output(output, kind=kind, recognize=recognize, reads=reads, force=force)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        temp = _write_temp(target, payload)
    except OSError as exc:
        raise OutputError(f"{output}: cannot write ({exc.strerror}); check the path") from None
    return StagedOutput(output, target, temp)


def _write_temp(target: Path, payload: bytes) -> Path:
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), FILE_MODE)
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def csv_cell(value: str) -> str:
    """A text cell a spreadsheet shows as text: one starting with ``=``, ``+``, ``-``, ``@``,
    a tab or a carriage return gets a leading ``'`` (OWASP CSV injection guidance), so
    opening the file in Excel never runs a formula from the data.

    >>> print(csv_cell('=HYPERLINK("http://x","y")'), csv_cell("P-1"))
    '=HYPERLINK("http://x","y") P-1
    """
    return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value


def private_folder(folder: Path, *, what: str) -> Path:
    """``folder``, created 0700 if missing; an OutputError if it is not a writable folder."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is a file, not a folder; choose another {what}")
    existed = folder.is_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        if not existed:
            folder.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(
            f"{folder}: cannot create the {what} ({reason}); choose a folder you can write to"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(
            f"{folder}: cannot write there (permission denied); choose a folder you can write to"
        )
    return folder
