"""ftplib steps that need RNFR/RNTO and upload resume (REST + STOR).

Usage: ftplib_resume.py HOST PORT USER PASSWORD pasv|active
"""
import ftplib
import io
import sys


def main():
    host, port, user, password, mode = sys.argv[1:6]
    ftp = ftplib.FTP()
    ftp.encoding = "utf-8"
    ftp.connect(host, int(port), timeout=30)
    ftp.login(user, password)
    ftp.set_pasv(mode == "pasv")

    full = b"0123456789" * 100000
    ftp.storbinary("STOR part.bin", io.BytesIO(full[:400000]))
    assert ftp.size("part.bin") == 400000, ftp.size("part.bin")
    # Resume: ftplib sends REST 400000, then STOR with the rest of the data.
    ftp.storbinary("STOR part.bin", io.BytesIO(full[400000:]), rest=400000)
    assert ftp.size("part.bin") == len(full), ftp.size("part.bin")
    got = io.BytesIO()
    ftp.retrbinary("RETR part.bin", got.write)
    assert got.getvalue() == full, len(got.getvalue())

    ftp.rename("part.bin", "renamed ✓.bin")
    names = ftp.nlst()
    assert "renamed ✓.bin" in names and "part.bin" not in names, names
    ftp.mkd("olddir")
    ftp.storbinary("STOR olddir/inner.txt", io.BytesIO(b"inner"))
    ftp.rename("olddir", "newdir")
    got = io.BytesIO()
    ftp.retrbinary("RETR newdir/inner.txt", got.write)
    assert got.getvalue() == b"inner", got.getvalue()
    try:
        ftp.rename("missing", "x")
        raise AssertionError("RNFR of a missing file succeeded")
    except ftplib.error_perm as e:
        assert str(e).startswith("550"), e
    ftp.quit()
    print("ftplib resume OK", mode)


if __name__ == "__main__":
    main()
