"""`python -m asdcore data download`: fetched from a loopback HTTP server (never the network),
resumed, verified, unpacked without replacing anything, and checked."""
import dataclasses
import hashlib
import io
import re
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import soundfile as sf

from asdcore.cli import main
from asdcore.data.dcase_records import DCASE_DATA_SETS, DataSetEntry, RemoteFile
from asdcore.data.download import download, list_text, mirror_url

FAN_PATH = "/records/3678171/files/dev_data_fan.zip"  # as on Zenodo: --mirror keeps this path
CLIPS = ("fan/train/normal_id_00_00000000.wav", "fan/train/normal_id_00_00000001.wav",
         "fan/test/normal_id_00_00000000.wav", "fan/test/anomaly_id_00_00000000.wav")


def _wav_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    noise = np.random.default_rng(seed).normal(0, 0.1, 16000)  # 1 s of noise: usable, not silent
    sf.write(buf, noise, 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _dcase_zip(names=CLIPS) -> bytes:
    """A small archive in the layout of the official zips: `<machine_type>/train|test/...` inside.
    Stored, not deflated: a flipped byte then reaches the CRC check rather than the inflater."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for i, name in enumerate(names):
            zf.writestr(name, _wav_bytes(i))
    return buf.getvalue()


class LoopbackServer:
    """http.server in a thread serving `files` (path -> bytes), honouring `Range: bytes=N-`.
    `drop_after[path] = n`: the first answer for path announces the whole length, sends n bytes and
    closes the connection.  `requests` records (path, Range header) of every request."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, int] = {}
        self.ignore_range = False  # answer every request with the whole file, as some servers do
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                rng = None if server.ignore_range else rng
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
                if start >= len(body) and rng:
                    self.send_error(416)
                    return
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = server.drop_after.pop(self.path, None)
                self.wfile.write(body[start:] if cut is None else body[start:cut])
                if cut is not None:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = LoopbackServer()
    yield s
    s.close()


def _table(url: str, md5: str | None = None, size: int | None = None) -> dict[str, DataSetEntry]:
    entry = DataSetEntry("dcase2020-dev", "test set", "a loopback server",
                         (RemoteFile(url, "fan", size=size, md5=md5),))
    return {entry.name: entry}


def test_good_archive_is_downloaded_verified_unpacked_and_checked(server, tmp_path, capsys, monkeypatch):
    # the real table, its fan archive fetched from the loopback "mirror" at Zenodo's path; the test's
    # archive is not the real one, so the entry's published md5 is set aside here (next test: it is checked)
    server.files[FAN_PATH] = _dcase_zip()
    monkeypatch.setitem(DCASE_DATA_SETS, "dcase2020-dev", _without_md5(DCASE_DATA_SETS["dcase2020-dev"]))
    rc = main(["data", "download", "dcase2020-dev", "--to", str(tmp_path), "--machine", "fan",
               "--mirror", server.url, "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert [p for p, _ in server.requests] == [FAN_PATH]
    for name in CLIPS:
        assert (tmp_path / "dcase2020-dev" / name).read_bytes() == zipfile.ZipFile(
            tmp_path / "archives/dcase2020-dev/dev_data_fan.zip").read(name)
    assert not list((tmp_path / "archives/dcase2020-dev").glob("*.part"))
    assert "dev_data_fan.zip: verified, 4 file(s) unpacked" in out
    assert f"data check {tmp_path / 'dcase2020-dev'}" in out
    assert "4 usable clips, machine types: fan" in out
    assert "no problem files" in out
    # a second run fetches nothing and replaces nothing
    assert main(["data", "download", "dcase2020-dev", "--to", str(tmp_path), "--machine", "fan",
                 "--mirror", server.url, "--quiet"]) == 0
    assert len(server.requests) == 1
    assert "0 file(s) unpacked (the others were already there)" in capsys.readouterr().out


def test_the_real_tables_md5_refuses_an_archive_that_is_not_the_published_one(server, tmp_path, capsys):
    server.files[FAN_PATH] = _dcase_zip()  # a valid zip, but not Zenodo's dev_data_fan.zip
    rc = main(["data", "download", "dcase2020-dev", "--to", str(tmp_path), "--machine", "fan",
               "--mirror", server.url, "--quiet"])
    assert rc == 1
    assert "the record says 649bdfc06263ae7a838963f43b6641e6" in capsys.readouterr().err
    assert not (tmp_path / "dcase2020-dev").exists()


def _without_md5(entry: DataSetEntry) -> DataSetEntry:
    return dataclasses.replace(entry, files=tuple(dataclasses.replace(f, md5=None) for f in entry.files))


def test_md5_mismatch_is_refused_and_nothing_unpacked(server, tmp_path, capsys):
    server.files["/dev_data_fan.zip"] = body = _dcase_zip()
    wrong = hashlib.md5(body + b"x").hexdigest()
    rc = download("dcase2020-dev", tmp_path, table=_table(server.url + "/dev_data_fan.zip", md5=wrong),
                  progress=False)
    err = capsys.readouterr().err
    assert rc == 1
    assert f"dev_data_fan.zip: md5 {hashlib.md5(body).hexdigest()}, the record says {wrong}" in err
    assert not (tmp_path / "dcase2020-dev").exists()
    assert not (tmp_path / "archives/dcase2020-dev/dev_data_fan.zip").exists()
    assert (tmp_path / "archives/dcase2020-dev/dev_data_fan.zip.corrupt").read_bytes() == body


def test_the_right_md5_passes(server, tmp_path, capsys):
    server.files["/dev_data_fan.zip"] = body = _dcase_zip()
    table = _table(server.url + "/dev_data_fan.zip", md5=hashlib.md5(body).hexdigest(), size=len(body))
    assert download("dcase2020-dev", tmp_path, table=table, progress=False) == 0
    assert (tmp_path / "dcase2020-dev" / CLIPS[0]).is_file()


def test_crc_mismatch_without_md5_is_refused_naming_the_archive(server, tmp_path, capsys):
    body = bytearray(_dcase_zip())
    data_at = body.find(b"data") + 100  # inside the first clip's samples
    body[data_at] ^= 0xFF
    server.files["/dev_data_fan.zip"] = bytes(body)
    rc = download("dcase2020-dev", tmp_path, table=_table(server.url + "/dev_data_fan.zip"), progress=False)
    err = capsys.readouterr().err
    assert rc == 1
    assert f"dev_data_fan.zip: member {CLIPS[0]} fails its CRC check" in err
    assert "nothing was unpacked" in err
    assert not (tmp_path / "dcase2020-dev").exists()


def test_size_mismatch_is_refused(server, tmp_path, capsys):
    server.files["/dev_data_fan.zip"] = body = _dcase_zip()
    table = _table(server.url + "/dev_data_fan.zip", size=len(body) + 1)
    assert download("dcase2020-dev", tmp_path, table=table, progress=False) == 1
    assert f"dev_data_fan.zip: {len(body)} bytes, the record says {len(body) + 1}" in capsys.readouterr().err
    assert not (tmp_path / "dcase2020-dev").exists()


def test_truncated_transfer_resumes_with_a_range_request(server, tmp_path, capsys):
    server.files["/dev_data_fan.zip"] = body = _dcase_zip()
    cut = len(body) // 3
    server.drop_after["/dev_data_fan.zip"] = cut
    table = _table(server.url + "/dev_data_fan.zip")
    part = tmp_path / "archives/dcase2020-dev/dev_data_fan.zip.part"

    assert download("dcase2020-dev", tmp_path, table=table, progress=False) == 1
    err = capsys.readouterr().err
    assert f"broke off after {cut} of {len(body)} bytes" in err and "run the same command again" in err
    assert part.read_bytes() == body[:cut]
    assert not (tmp_path / "dcase2020-dev").exists()

    assert download("dcase2020-dev", tmp_path, table=table, progress=False) == 0
    assert server.requests[-1] == ("/dev_data_fan.zip", f"bytes={cut}-")
    assert (tmp_path / "archives/dcase2020-dev/dev_data_fan.zip").read_bytes() == body
    assert not part.exists()
    assert (tmp_path / "dcase2020-dev" / CLIPS[3]).is_file()


def test_an_existing_different_file_is_kept_and_named(server, tmp_path, capsys):
    server.files["/dev_data_fan.zip"] = _dcase_zip()
    mine = tmp_path / "dcase2020-dev" / CLIPS[2]
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own recording")
    rc = download("dcase2020-dev", tmp_path, table=_table(server.url + "/dev_data_fan.zip"), progress=False)
    err = capsys.readouterr().err
    assert rc == 1
    assert mine.read_bytes() == b"my own recording"
    assert str(mine) in err and "not unpacked" in err
    # the archive is refused as a whole: no other member was written beside the user's file
    assert sorted(p.name for p in (tmp_path / "dcase2020-dev").rglob("*") if p.is_file()) == [mine.name]


def test_an_existing_archive_that_does_not_verify_is_kept(server, tmp_path, capsys):
    server.files["/dev_data_fan.zip"] = _dcase_zip()
    theirs = tmp_path / "archives/dcase2020-dev/dev_data_fan.zip"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"not a zip")
    rc = download("dcase2020-dev", tmp_path, table=_table(server.url + "/dev_data_fan.zip"), progress=False)
    assert rc == 1
    assert theirs.read_bytes() == b"not a zip"
    assert f"{theirs} is already there but is not the record's file" in capsys.readouterr().err
    assert server.requests == []


def test_member_outside_the_folder_is_refused(server, tmp_path, capsys):
    server.files["/dev_data_fan.zip"] = _dcase_zip(("../escaped.wav",))
    rc = download("dcase2020-dev", tmp_path, table=_table(server.url + "/dev_data_fan.zip"), progress=False)
    assert rc == 1
    assert "would be written outside" in capsys.readouterr().err
    assert not (tmp_path / "escaped.wav").exists()


def test_offline_names_the_url_and_suggests_mirror(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/records/1/files/dev_data_fan.zip"
    rc = main(["data", "download", "dcase2020-dev", "--to", str(tmp_path), "--machine", "fan", "--quiet",
               "--mirror", url.split("/records")[0]])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"cannot reach {url.replace('/records/1/', '/records/3678171/')}" in err
    assert "--mirror" in err
    assert "Traceback" not in err


def test_http_error_names_the_url(server, tmp_path, capsys):
    rc = download("dcase2020-dev", tmp_path, table=_table(server.url + "/missing.zip"), progress=False)
    assert rc == 1
    assert f"{server.url}/missing.zip: the server answered HTTP 404" in capsys.readouterr().err


def test_list_shows_every_name_with_its_archives(capsys):
    assert main(["data", "download", "--list"]) == 0
    out = capsys.readouterr().out
    for year in range(2020, 2026):
        for kind in ("dev", "add", "eval"):
            assert f"dcase{year}-{kind}: " in out
    assert "dev_data_fan.zip" in out and "Zenodo record 3678171" in out
    assert "eval_data_3DPrinter_train_r2.zip" in out
    # --list says which archives an md5 verifies: the DCASE 2020 ones, not yet those of later years
    line = next(text for text in out.splitlines() if "eval_data_test_valve.zip" in text)
    assert "md5 known" in line
    assert "CRC only" in next(text for text in out.splitlines() if "eval_data_3DPrinter_train_r2.zip" in text)


def test_every_recorded_md5_is_an_md5():
    """A checksum copied into the table with a typo would refuse every good download of that archive."""
    known = [f for entry in DCASE_DATA_SETS.values() for f in entry.files if f.md5]
    assert len(known) == 18  # the 2020 dev, additional and eval archives, 6 machine types each
    assert all(re.fullmatch(r"[0-9a-f]{32}", f.md5) for f in known)
    assert len({f.md5 for f in known}) == 18  # no value pasted twice


def test_list_totals_known_sizes():
    table = {"x": DataSetEntry("x", "two archives", "a record", (
        RemoteFile("http://h/a.zip", "fan", size=1024), RemoteFile("http://h/b.zip", "pump", size=2048)))}
    text = list_text(table)
    assert "2 file(s), 3.0 KiB in all" in text
    assert "a.zip" in text and "1.0 KiB" in text


def test_unknown_name_and_machine_are_refused(tmp_path, capsys):
    assert main(["data", "download", "dcase1999-dev", "--to", str(tmp_path)]) == 2
    assert "unknown data set 'dcase1999-dev'" in capsys.readouterr().err
    assert main(["data", "download", "dcase2020-dev", "--to", str(tmp_path), "--machine", "drill"]) == 2
    assert "has no machine type 'drill'; it has: ToyCar, ToyConveyor, fan, pump, slider, valve" in \
        capsys.readouterr().err
    assert main(["data", "download", "dcase2020-dev"]) == 2  # no --to


def test_mirror_keeps_the_path():
    url = "https://zenodo.org/records/3678171/files/dev_data_fan.zip"
    assert mirror_url(url, "http://m.example/dcase/") == "http://m.example/dcase/records/3678171/files/dev_data_fan.zip"
    assert mirror_url(url, None) == url
    truth = "https://raw.githubusercontent.com/nttcslab/dcase2023_task2_baseline_ae/main/datasets/x.csv"
    assert mirror_url(truth, "http://m.example") == truth  # only Zenodo's files are on a Zenodo mirror


def test_table_urls_follow_the_record_of_each_set():
    # each name's archives come from one Zenodo record, and the eval sets carry the ground truth
    for entry in DCASE_DATA_SETS.values():
        records = {f.url.split("/files/")[0] for f in entry.files if "zenodo.org" in f.url}
        assert len(records) == 1, entry.name
        assert entry.source.endswith(records.pop().rsplit("/", 1)[-1]), entry.name
        assert any(f.machine_type is None for f in entry.files) == entry.name.endswith("-eval"), entry.name


def test_a_server_that_ignores_range_restarts_from_zero(server, tmp_path, capsys):
    server.files["/dev_data_fan.zip"] = body = _dcase_zip()
    server.drop_after["/dev_data_fan.zip"] = 1000
    table = _table(server.url + "/dev_data_fan.zip")
    assert download("dcase2020-dev", tmp_path, table=table, progress=False) == 1
    server.ignore_range = True
    assert download("dcase2020-dev", tmp_path, table=table, progress=False) == 0
    assert "starting again from byte 0" in capsys.readouterr().out
    assert (tmp_path / "archives/dcase2020-dev/dev_data_fan.zip").read_bytes() == body


def test_eval_set_with_ground_truth_list(server, tmp_path, capsys):
    eval_clips = ("fan/test/id_00_00000000.wav", "fan/test/id_00_00000001.wav")
    server.files["/eval_data_test_fan.zip"] = _dcase_zip(eval_clips)
    server.files["/eval_data_list_2020.csv"] = truth = b"fan\nid_00_00000000.wav,normal_id_00_00000000.wav,0\n"
    entry = DataSetEntry("dcase2020-eval", "test eval set", "a loopback server", (
        RemoteFile(server.url + "/eval_data_test_fan.zip", "fan"),
        RemoteFile(server.url + "/eval_data_list_2020.csv", None)))
    rc = download("dcase2020-eval", tmp_path, table={entry.name: entry}, machine="fan", progress=False)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert (tmp_path / "dcase2020-eval/eval_data_list_2020.csv").read_bytes() == truth
    assert "2 usable clips" in out
    assert "no problem files" in out  # the list beside the machine-type folders is not taken for a clip
    # a ground-truth list of the user's own, different, is kept
    (tmp_path / "dcase2020-eval/eval_data_list_2020.csv").write_bytes(b"mine")
    (tmp_path / "archives/dcase2020-eval/eval_data_list_2020.csv").unlink()
    assert download("dcase2020-eval", tmp_path, table={entry.name: entry}, progress=False) == 1
    assert (tmp_path / "dcase2020-eval/eval_data_list_2020.csv").read_bytes() == b"mine"
    assert "eval_data_list_2020.csv: not unpacked" in capsys.readouterr().err
