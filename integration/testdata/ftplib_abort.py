"""Start a download with Python's ftplib, read a little, then ftp.abort().

usage: ftplib_abort.py host port user password remote_name
ftplib sends ABOR as TCP urgent data (MSG_OOB). Prints the reply to ABOR and
to a NOOP after it.
"""
import ftplib
import sys


def main():
    host, port, user, password, remote = sys.argv[1:6]
    ftp = ftplib.FTP()
    ftp.connect(host, int(port), timeout=20)
    ftp.login(user, password)
    conn = ftp.transfercmd("RETR " + remote)
    conn.recv(65536)
    resp = ftp.abort()
    print("ABOR", resp)
    conn.close()
    if resp.startswith("426"):
        # RFC 959 §4.1.3: 426 for the aborted transfer, then 226 for ABOR.
        print("ABOR-2", ftp.voidresp())
    print("NOOP", ftp.sendcmd("NOOP"))
    ftp.quit()


if __name__ == "__main__":
    main()
