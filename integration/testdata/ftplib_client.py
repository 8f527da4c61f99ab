"""Drives the gateway with Python's ftplib, as a batch job would.

Usage: ftplib_client.py HOST PORT USER PASSWORD pasv|active

Every step asserts what the server answered; the first mismatch raises, so the
process exits non-zero with a traceback the Go test prints.
"""
import ftplib
import hashlib
import io
import sys


def main():
    host, port, user, password, mode = sys.argv[1:6]
    ftp = ftplib.FTP()
    ftp.encoding = "utf-8"
    ftp.connect(host, int(port), timeout=30)
    print(ftp.getwelcome())
    ftp.login(user, password)
    ftp.set_pasv(mode == "pasv")

    feat = ftp.sendcmd("FEAT")
    for want in ("UTF8", "MLST type*;size*;modify*;perm*;", "SIZE", "MDTM", "REST STREAM"):
        assert want in feat, (want, feat)

    ftp.mkd("py dir")
    ftp.mkd("py dir/sub ✓")
    ftp.cwd("py dir")
    assert ftp.pwd() == "/py dir", ftp.pwd()

    payload = bytes(range(256)) * 4096 + b"tail"
    ftp.storbinary("STOR data.bin", io.BytesIO(payload))
    ftp.storbinary("STOR empty.bin", io.BytesIO(b""))
    assert ftp.size("data.bin") == len(payload), ftp.size("data.bin")
    # storlines switches to TYPE A: SIZE then counts the CRLF form (RFC 3659 §4).
    ftp.storlines("STOR lines.txt", io.BytesIO(b"one\ntwo\n"))
    assert ftp.size("lines.txt") == 10, ftp.size("lines.txt")
    ftp.voidcmd("TYPE I")
    assert ftp.size("lines.txt") == 8, ftp.size("lines.txt")

    names = sorted(ftp.nlst())
    assert names == ["data.bin", "empty.bin", "lines.txt", "sub ✓"], names

    facts = dict(ftp.mlsd(facts=["type", "size", "modify", "perm"]))
    assert facts["data.bin"]["type"] == "file", facts
    assert int(facts["data.bin"]["size"]) == len(payload), facts
    assert len(facts["data.bin"]["modify"]) == 14, facts
    assert "r" in facts["data.bin"]["perm"], facts
    assert facts["sub ✓"]["type"] == "dir", facts
    assert int(facts["empty.bin"]["size"]) == 0, facts

    got = io.BytesIO()
    ftp.retrbinary("RETR data.bin", got.write)
    assert hashlib.sha256(got.getvalue()).hexdigest() == hashlib.sha256(payload).hexdigest(), len(got.getvalue())
    lines = []
    ftp.retrlines("RETR lines.txt", lines.append)
    assert lines == ["one", "two"], lines

    listing = []
    ftp.retrlines("LIST", listing.append)
    assert any(l.startswith("-") and l.endswith(" data.bin") for l in listing), listing
    assert any(l.startswith("d") and l.endswith(" sub ✓") for l in listing), listing

    try:
        ftp.delete("missing.bin")
        raise AssertionError("DELE of a missing file succeeded")
    except ftplib.error_perm as e:
        assert str(e).startswith("550"), e

    ftp.delete("data.bin")
    ftp.delete("empty.bin")
    ftp.delete("lines.txt")
    try:
        ftp.rmd("/py dir")
        raise AssertionError("RMD of a non-empty directory succeeded")
    except ftplib.error_perm as e:
        assert str(e).startswith("550"), e
    ftp.rmd("sub ✓")
    ftp.cwd("/")
    ftp.rmd("py dir")
    assert ftp.nlst() == [], ftp.nlst()
    # Left behind for the Go test: TYPE A must store LF line ends.
    ftp.storlines("STOR ascii.txt", io.BytesIO(b"alpha\r\nbeta\n"))
    ftp.quit()
    print("ftplib OK", mode)


if __name__ == "__main__":
    main()
