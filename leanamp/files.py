"""Output files: atomic writes, output paths checked before long work, and a lock per run folder.

An atomic write goes to a temporary file beside the target, is flushed to disk (fsync of the file,
then of its folder after the rename), and replaces the target in one rename: a reader, or a
machine that crashes, sees the old file or the new one, never an empty or half-written one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from leanamp.errors import LeanampError

LOCK_NAME = ".leanamp.lock"


def _creation_mode() -> int:
    # The mode a plain open() would give: 0666 minus the umask (usually 0644).
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a folder; the file is safe
        _fsync(folder)


def check_output_dir(path: str | os.PathLike) -> Path:
    """Create the output folder `path` or refuse it (a file, under a file, not writable)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise LeanampError(f"{path}: is an existing file, not a folder; choose a folder for --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise LeanampError(
            f"{path}: a part of this path is a file, not a folder; choose another output folder"
        ) from None
    except OSError as e:
        raise LeanampError(f"{path}: cannot create the output folder ({e.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise LeanampError(f"{path}: the output folder is not writable; choose another one")
    return path


def check_output_file(path: str | os.PathLike) -> Path:
    """Refuse an output file path that cannot be written (a folder, under a file), early."""
    path = Path(path)
    if path.is_dir():
        raise LeanampError(f"{path}: is a folder; give the name of the file to write")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise LeanampError(f"{path}: {parent} is a file, not a folder; choose another output path")
    for ancestor in parent.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise LeanampError(
                    f"{path}: {ancestor} is a file, not a folder; choose another output path"
                )
            break
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    The writer may replace the temporary file itself (safetensors does), so the mode is set and
    the data flushed after it has written.
    """
    path = check_output_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise LeanampError(f"{path}: cannot write here ({e.strerror})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _creation_mode())
        _fsync(tmp_path)
        try:
            os.replace(tmp_path, path)
        except IsADirectoryError:
            raise LeanampError(f"{path}: is a folder; give the name of the file to write") from None
        _fsync_folder(path.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def run_folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on a run folder, so two runs into one folder cannot mix their files.

    An flock on `folder/.leanamp.lock`: the kernel releases it when the process dies, so a killed
    run never leaves a stale lock behind (`--resume` works right after `kill -9`).
    """
    import fcntl  # POSIX only; imported here so the module stays importable elsewhere

    folder = check_output_dir(folder)
    lock_path = folder / LOCK_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise LeanampError(
                f"{folder}: another leanamp run (process {holder}) is writing into this folder; "
                "wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield folder
    finally:
        os.close(fd)
