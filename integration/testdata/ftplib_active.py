"""Upload then download a file with Python's ftplib in active mode (PORT/EPRT).

usage: ftplib_active.py host port user password local_src remote_name local_dst
Prints the server's replies to STOR and RETR, one per line. On an IPv6 host
ftplib sends EPRT instead of PORT.
"""
import ftplib
import sys


def main():
    host, port, user, password, src, remote, dst = sys.argv[1:8]
    ftp = ftplib.FTP()
    ftp.connect(host, int(port), timeout=30)
    ftp.login(user, password)
    ftp.set_pasv(False)  # active mode: the server connects back to us
    with open(src, "rb") as f:
        print("STOR", ftp.storbinary("STOR " + remote, f))
    with open(dst, "wb") as f:
        print("RETR", ftp.retrbinary("RETR " + remote, f.write))
    ftp.quit()


if __name__ == "__main__":
    main()
