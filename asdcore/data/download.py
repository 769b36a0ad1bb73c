"""`python -m asdcore data download NAME --to DIR`: fetch an official DCASE Task 2 data set.

    download("dcase2020-dev", "~/dcase")   # -> ~/dcase/dcase2020-dev/<machine_type>/train|test/...

Each file of the set (asdcore.data.dcase_records) is

1. downloaded into `DIR/archives/NAME/<file>.part`, resumed with an HTTP Range request when a
   `.part` is left over from an interrupted run, with a progress bar (size and rate);
2. verified: the md5 and size where the table has them, the size the server announced, and every
   zip member's CRC (zipfile.ZipFile.testzip); only then renamed to `<file>` (a failed one becomes
   `<file>.corrupt` and nothing of it is unpacked);
3. unpacked into `DIR/NAME/` (the zips hold `<machine_type>/train|test/` folders, so `DIR/NAME` is
   a data-set root that `data check` and `train --data` read).  Nothing already there is replaced:
   an identical file is left as it is, a different one is a collision, named, and that archive is
   not unpacked at all.

A `data check` summary of `DIR/NAME` ends the run.  Errors are DownloadError with a message that
names the file or URL; `download` prints them and returns a non-zero status, never a traceback.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .dcase_records import DCASE_DATA_SETS, ZENODO, DataSetEntry, RemoteFile

CHUNK = 1 << 20  # bytes read per step: small enough for a smooth progress bar, large enough to be fast
TIMEOUT_S = 60  # a server silent this long counts as a dropped connection (the .part is kept)
ARCHIVES = "archives"  # DIR/archives/NAME/ keeps the verified archives (delete them to save space)


class DownloadError(Exception):
    """A file could not be fetched, verified or unpacked; the message says which and why."""


class NetworkError(DownloadError):
    """The host could not be reached or the transfer broke off: the other files would fail alike,
    so the run stops at the first one."""


# ---------------------------------------------------------------------------------------------
# the table

def list_text(table: dict[str, DataSetEntry] = DCASE_DATA_SETS) -> str:
    """What each name holds: its description, source, files and sizes (as far as the table knows)."""
    lines = []
    for entry in table.values():
        lines.append(f"{entry.name}: {entry.description}")
        lines.append(f"    from {entry.source}; {len(entry.files)} file(s), {_total_size(entry.files)}")
        for f in entry.files:
            checked = "md5 known" if f.md5 else "CRC only"  # what verifies the archive beyond its zip CRCs
            lines.append(f"    {f.filename:<40} {_size_text(f.size):>12}  {checked if f.is_zip else '':<9}  "
                         f"{f.machine_type or 'ground truth'}")
    return "\n".join(lines)


def _size_text(size: int | None) -> str:
    return "size ?" if size is None else human_size(size)


def _total_size(files) -> str:
    known = [f.size for f in files if f.size is not None]
    if len(known) == len(files):
        return f"{human_size(sum(known))} in all"
    # the table leaves sizes it could not verify empty: say so rather than print a wrong total
    return (f"{human_size(sum(known))} known, {len(files) - len(known)} size(s) not recorded (see the record page)"
            if known else "sizes not recorded (see the record page)")


def human_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def select_files(entry: DataSetEntry, machine: str | None) -> tuple[RemoteFile, ...]:
    """The entry's files, or those of one machine type (case-insensitive; the ground-truth list of
    an evaluation set comes with any type, since it covers them all)."""
    if machine is None:
        return entry.files
    types = sorted({f.machine_type for f in entry.files if f.machine_type})
    chosen = [t for t in types if t.lower() == machine.lower()]
    if not chosen:
        raise DownloadError(f"{entry.name} has no machine type {machine!r}; it has: {', '.join(types)}")
    return tuple(f for f in entry.files if f.machine_type in (chosen[0], None))


def mirror_url(url: str, mirror: str | None) -> str:
    """The URL on a mirror of Zenodo: the mirror's scheme, host and leading path, then the file's
    path as on Zenodo (`https://zenodo.org/records/3678171/files/dev_data_fan.zip` on mirror
    `http://m.example/dcase` is `http://m.example/dcase/records/3678171/files/dev_data_fan.zip`).
    Files on other hosts (the ground-truth lists on GitHub) are not on a Zenodo mirror: kept as they are."""
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(mirror)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DownloadError(f"--mirror {mirror!r} is not an http(s) URL (e.g. https://mirror.example.org)")
    if not url.startswith(ZENODO + "/"):
        return url
    return mirror.rstrip("/") + urllib.parse.urlsplit(url).path


# ---------------------------------------------------------------------------------------------
# fetching, with resume

def fetch(url: str, part: Path, progress: bool = True, timeout: float = TIMEOUT_S) -> None:
    """Download `url` into `part`, continuing a partial `part` with a Range request.  Raises
    NetworkError (the bytes that arrived stay in `part`, for the next run to resume) or DownloadError."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "asdcore-data-download"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part already holds everything the server has
            return
        raise DownloadError(f"{url}: the server answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise NetworkError(f"cannot reach {url} ({reason}). Offline, or the host is blocked? "
                           "Use --mirror URL to fetch from an institutional mirror instead") from None
    with response:
        start, total = _range_of(response, have)
        if start == 0 and have:
            print(f"{part.name}: the server does not resume downloads; starting again from byte 0")
        _receive(response, url, part, start, total, progress)


def _range_of(response, have: int) -> tuple[int, int | None]:
    """(the byte the body starts at, the whole file's size or None) from the response headers: a 206
    continues at the Content-Range start, anything else is the whole file from byte 0."""
    length = response.headers.get("Content-Length")
    if response.status == 206:
        # Content-Range: bytes <first>-<last>/<total or *>
        spec = response.headers.get("Content-Range", "")
        try:
            first, total = spec.split(" ", 1)[1].split("-", 1)[0], spec.rsplit("/", 1)[1]
            return int(first), None if total == "*" else int(total)
        except (IndexError, ValueError):
            return have, have + int(length) if length else None
    return 0, int(length) if length else None


def _receive(response, url: str, part: Path, start: int, total: int | None, progress: bool) -> None:
    """Write the body into `part` from byte `start`, then check that all `total` bytes came (a
    connection closed early ends the body silently, so counting is the only way to notice)."""
    from tqdm import tqdm

    got = start
    with open(part, "r+b" if start and part.exists() else "wb") as fh, \
            tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                 desc=part.name.removesuffix(".part"), disable=not progress, leave=False) as bar:
        fh.seek(start)
        fh.truncate()
        while True:
            try:
                chunk = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as exc:  # reset, timeout, IncompleteRead
                raise NetworkError(f"the transfer of {url} broke off after {got} bytes ({exc}); run the same "
                                   f"command again to resume from {part}, or use --mirror URL") from None
            if not chunk:
                break
            fh.write(chunk)  # an OSError here (disk full) is the disk's, reported as such by the caller
            got += len(chunk)
            bar.update(len(chunk))
    if total is not None and got < total:
        raise NetworkError(f"the transfer of {url} broke off after {got} of {total} bytes; run the same "
                           f"command again to resume from {part}, or use --mirror URL")


# ---------------------------------------------------------------------------------------------
# verifying

def verify(path: Path, remote: RemoteFile) -> None:
    """Raise DownloadError naming the file when it is not what the record publishes: its md5, its
    size, and, for a zip, every member's CRC."""
    name = remote.filename
    if remote.size is not None and path.stat().st_size != remote.size:
        raise DownloadError(f"{name}: {path.stat().st_size} bytes, the record says {remote.size}")
    if remote.md5 is not None:
        digest = _md5(path)
        if digest != remote.md5.lower():
            raise DownloadError(f"{name}: md5 {digest}, the record says {remote.md5}")
    if remote.is_zip:
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise DownloadError(f"{name}: not a readable zip archive ({exc})") from None
        if bad is not None:
            raise DownloadError(f"{name}: member {bad} fails its CRC check (the archive is damaged)")


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# unpacking without replacing anything

def _member_target(dest: Path, member: str) -> Path:
    """Where a zip member goes under dest; a name that would leave dest (absolute, `..`) is refused."""
    parts = PurePosixPath(member.replace("\\", "/")).parts
    if not parts or parts[0] == "/" or ".." in parts or ":" in parts[0]:
        raise DownloadError(f"member {member!r} would be written outside {dest}: archive refused")
    return dest.joinpath(*parts)


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def _plan_zip(archive: Path, dest: Path) -> tuple[list[tuple[zipfile.ZipInfo, Path]], list[Path]]:
    """(members to write, existing files that differ from their member).  A member whose file is
    already there with the same size and CRC is left alone, so a second run unpacks nothing twice."""
    todo, collisions = [], []
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            target = _member_target(dest, info.filename)
            if not target.exists():
                todo.append((info, target))
            elif not target.is_file() or target.stat().st_size != info.file_size or _crc32(target) != info.CRC:
                collisions.append(target)
    return todo, collisions


def install(archive: Path, remote: RemoteFile, dest: Path) -> int:
    """Unpack (zip) or copy (plain file) into dest; the number of files written.  Any collision
    refuses the whole archive before one byte is written, so a refused archive leaves no half."""
    if remote.is_zip:
        todo, collisions = _plan_zip(archive, dest)
    else:
        target = dest / remote.filename
        same = target.is_file() and target.stat().st_size == archive.stat().st_size and \
            _crc32(target) == _crc32(archive)
        todo = [] if same else [(None, target)]
        collisions = [target] if target.exists() and not same else []
    if collisions:
        shown = ", ".join(str(p) for p in collisions[:5]) + (f" and {len(collisions) - 5} more"
                                                             if len(collisions) > 5 else "")
        raise DownloadError(f"{remote.filename}: not unpacked, {len(collisions)} file(s) already in {dest} differ "
                            f"from the archive's and were kept: {shown}. Move them away, or download to "
                            "another --to folder")
    if remote.is_zip:
        with zipfile.ZipFile(archive) as zf:
            for info, target in todo:
                _write_new(target, lambda fh, info=info: shutil.copyfileobj(zf.open(info), fh))
    else:
        for _, target in todo:
            _write_new(target, lambda fh: fh.write(archive.read_bytes()))
    return len(todo)


def _write_new(target: Path, write) -> None:
    """Write a file that does not exist yet: through a temporary name, so an interrupted unpack
    leaves no truncated clip under the real name (mode "x": never over a file that appeared since)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.unpacking")
    with open(tmp, "wb") as fh:
        write(fh)
    try:
        os.link(tmp, target)  # fails when target exists: never replaces
    except FileExistsError:
        raise DownloadError(f"{target} appeared while unpacking; it was kept") from None
    except OSError:  # a file system without hard links
        with open(target, "xb") as out, open(tmp, "rb") as src:
            shutil.copyfileobj(src, out)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# one file, one set

def obtain(remote: RemoteFile, url: str, archives: Path, progress: bool = True) -> Path:
    """The verified archive in `archives`: the one already there, or downloaded now.  An archive
    already there that does not verify is the user's to deal with: kept and refused."""
    final = archives / remote.filename
    if final.exists():
        try:
            verify(final, remote)
        except DownloadError as exc:
            raise DownloadError(f"{final} is already there but is not the record's file ({exc}); it was kept. "
                                "Delete or move it to download it anew") from None
        return final
    archives.mkdir(parents=True, exist_ok=True)
    part = archives / (remote.filename + ".part")
    fetch(url, part, progress=progress)
    try:
        verify(part, remote)
    except DownloadError as exc:
        corrupt = archives / (remote.filename + ".corrupt")
        part.replace(corrupt)  # ours, not the user's: set aside for a look, and the next run starts afresh
        raise DownloadError(f"{exc}; nothing was unpacked, the download was set aside as {corrupt}") from None
    part.rename(final)
    return final


def download(name: str, to: str | os.PathLike, *, table: dict[str, DataSetEntry] = DCASE_DATA_SETS,
             mirror: str | None = None, machine: str | None = None, progress: bool = True,
             check: bool = True) -> int:
    """Fetch, verify and unpack data set `name` into `to/name`, then print a data-check summary.
    The exit status: 0 when every file is in place, 1 when one failed, 2 for a bad request."""
    try:
        entry = _entry(name, table)
        files = select_files(entry, machine)
        urls = [mirror_url(f.url, mirror) for f in files]
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = Path(to).expanduser()
    dest, archives = root / entry.name, root / ARCHIVES / entry.name
    print(f"{entry.name}: {len(files)} file(s) from {mirror or entry.source} into {dest}")
    failed = []  # file names not in place, the ones never tried after a network error included
    for i, (remote, url) in enumerate(zip(files, urls)):
        try:
            archive = obtain(remote, url, archives, progress=progress)
            written = install(archive, remote, dest)
            print(f"{remote.filename}: verified, {written} file(s) unpacked"
                  + (" (the others were already there)" if remote.is_zip and not written else ""))
        except NetworkError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += [f.filename for f in files[i:]]
            break  # the host is gone: every other file would fail the same way
        except (DownloadError, OSError) as exc:  # OSError: disk full, permissions, while writing
            print(f"error: {exc}", file=sys.stderr)
            failed.append(remote.filename)
        except KeyboardInterrupt:  # Ctrl-C: the .part stays for the next run, and no traceback
            print(f"\ninterrupted during {remote.filename}: run the same command again to resume", file=sys.stderr)
            return 130
    if check and dest.is_dir():
        from .check import run_check

        print(f"\ndata check {dest}:")
        run_check([str(dest)])
    if failed:
        print(f"\n{len(failed)} file(s) not in place: {', '.join(failed)} (run the command again to retry)")
        return 1
    return 0


def _entry(name: str, table: dict[str, DataSetEntry]) -> DataSetEntry:
    if name not in table:
        raise DownloadError(f"unknown data set {name!r}; `data download --list` shows them: {', '.join(table)}")
    return table[name]
