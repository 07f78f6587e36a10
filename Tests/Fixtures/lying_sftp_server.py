#!/usr/bin/env python3
"""A lying SFTP server for the hostile-store tests (paramiko, loopback only).

It serves --root like an honest SFTP server, except in the one way --mode says:
  honest             nothing; the baseline that shows the client works with this server at all
  huge-status        any stat of a manifest.json answers with SFTP status 0x80000005
  endless-tree       every .partial-* path is a directory holding one more directory, forever
  long-name          every listing also holds a 5,000-byte name
  drop-writes        writes are acknowledged and discarded
  alter-index        the authenticated index (index.json.gpg) is stored with its last byte changed:
                     the same size, other bytes
  fake-rename        renames are acknowledged and not done
  fsync-fails        fsync@openssh.com is answered with a failure
  endless-read       reads of component files (*.tar.zst.gpg) never reach the end of the file
  slow               every read of a component file waits 1.5 s before it answers
  drop-after-commit  the connection is closed right after the first rename of a .partial-* directory
  zero-writes        component files (*.tar.zst.gpg) are stored as zeros of the size written
  wide-listing       every listing of the root also holds 40,000 names of 250 bytes (10 MB)
  drip               reads of manifest.json and index.json.gpg return one byte every 2 s

Prints the port on the first line of stdout, then serves until stdin closes (its test ended).
"""
import argparse
import os
import socket
import stat
import sys
import threading
import time

import paramiko
from paramiko.sftp import CMD_EXTENDED, SFTP_FAILURE, SFTP_OK, SFTP_NO_SUCH_FILE

MODE = "honest"
ROOT = "/"
DROPPED = threading.Event()


class Handle(paramiko.SFTPHandle):
    def __init__(self, fd, path, flags):
        super().__init__(flags)
        self.fd = fd
        self.path = path

    def read(self, offset, length):
        if MODE == "drip" and (self.path.endswith("manifest.json") or self.path.endswith("index.json.gpg")):
            time.sleep(2)
            return os.pread(self.fd, 1, offset)
        if self.path.endswith(".gpg"):
            if MODE == "slow" and self.path.endswith(".tar.zst.gpg"):
                time.sleep(1.5)
            if MODE == "endless-read" and self.path.endswith(".tar.zst.gpg"):
                return b"A" * length
        return os.pread(self.fd, length, offset)

    def write(self, offset, data):
        if MODE == "alter-index" and self.path.endswith("index.json.gpg") and data:
            data = data[:-1] + bytes([data[-1] ^ 0x01])
        if MODE == "zero-writes" and self.path.endswith(".tar.zst.gpg"):
            data = bytes(len(data))
        if MODE != "drop-writes":
            os.pwrite(self.fd, data, offset)
        return SFTP_OK

    def stat(self):
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.fd))

    def close(self):
        os.close(self.fd)
        return SFTP_OK


def directory_attributes(name):
    attributes = paramiko.SFTPAttributes()
    attributes.filename = name
    attributes.st_mode = stat.S_IFDIR | 0o700
    attributes.st_size = 4096
    return attributes


class LyingSFTP(paramiko.SFTPServerInterface):
    def real(self, path):
        return os.path.join(ROOT, self.canonicalize(path).lstrip("/"))

    def canonicalize(self, path):
        return os.path.normpath("/" + path)

    def errno(self, error):
        return paramiko.SFTPServer.convert_errno(error.errno)

    def list_folder(self, path):
        if MODE == "endless-tree" and ".partial-" in path:
            return [directory_attributes("deeper")]
        try:
            entries = []
            for name in os.listdir(self.real(path)):
                attributes = paramiko.SFTPAttributes.from_stat(os.lstat(os.path.join(self.real(path), name)))
                attributes.filename = name
                entries.append(attributes)
        except OSError as error:
            return self.errno(error)
        if MODE == "wide-listing" and self.canonicalize(path).strip("/") == "":
            for number in range(40000):
                attributes = paramiko.SFTPAttributes()
                attributes.filename = ("%06d" % number) + "w" * 244
                attributes.st_mode = stat.S_IFDIR | 0o700
                attributes.st_size = 4096
                entries.append(attributes)
        if MODE == "long-name":
            attributes = paramiko.SFTPAttributes()
            attributes.filename = "n" * 5000
            attributes.st_mode = stat.S_IFREG | 0o600
            attributes.st_size = 1
            entries.append(attributes)
        return entries

    def stat(self, path):
        return self.lstat(path)

    def lstat(self, path):
        if MODE == "endless-tree" and ".partial-" in path:
            return directory_attributes(os.path.basename(path))
        if MODE == "huge-status" and path.endswith("manifest.json"):
            return 0x80000005
        try:
            return paramiko.SFTPAttributes.from_stat(os.lstat(self.real(path)))
        except OSError as error:
            return self.errno(error)

    def open(self, path, flags, attr):
        mode = getattr(attr, "st_mode", None) or 0o600
        try:
            fd = os.open(self.real(path), flags | os.O_NOFOLLOW, mode & 0o777)
        except OSError as error:
            return self.errno(error)
        return Handle(fd, path, flags)

    def remove(self, path):
        try:
            os.remove(self.real(path))
        except OSError as error:
            return self.errno(error)
        return SFTP_OK

    def rename(self, oldpath, newpath):
        if MODE == "fake-rename":
            return SFTP_OK
        try:
            if os.path.exists(self.real(newpath)):
                return SFTP_FAILURE
            os.rename(self.real(oldpath), self.real(newpath))
        except OSError as error:
            return self.errno(error)
        if MODE == "drop-after-commit" and os.path.basename(oldpath.rstrip("/")).startswith(".partial-") and not DROPPED.is_set():
            DROPPED.set()
            # Close every connection right after the answer would be sent.
            threading.Timer(0.05, lambda: [t.close() for t in TRANSPORTS]).start()
        return SFTP_OK

    def mkdir(self, path, attr):
        try:
            os.mkdir(self.real(path), 0o700)
        except OSError as error:
            return self.errno(error)
        return SFTP_OK

    def rmdir(self, path):
        try:
            os.rmdir(self.real(path))
        except OSError as error:
            return self.errno(error)
        return SFTP_OK


class LyingServer(paramiko.SFTPServer):
    def _process(self, t, request_number, msg):
        if t == CMD_EXTENDED:
            position = msg.packet.tell()
            tag = msg.get_text()
            if tag == "fsync@openssh.com":
                self._send_status(request_number, SFTP_FAILURE if MODE == "fsync-fails" else SFTP_OK)
                return
            msg.packet.seek(position)
        super()._process(t, request_number, msg)


class Authentication(paramiko.ServerInterface):
    def __init__(self, password):
        self.password = password

    def check_auth_password(self, username, password):
        return paramiko.AUTH_SUCCESSFUL if password == self.password else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username):
        return "password"

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


TRANSPORTS = []


def serve(connection, key, password):
    transport = paramiko.Transport(connection)
    TRANSPORTS.append(transport)
    transport.add_server_key(key)
    transport.set_subsystem_handler("sftp", LyingServer, LyingSFTP)
    try:
        transport.start_server(server=Authentication(password))
    except (paramiko.SSHException, EOFError, OSError):
        return


def main():
    global MODE, ROOT
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--mode", default="honest")
    parser.add_argument("--host-key", required=True)
    parser.add_argument("--password-file", required=True)
    options = parser.parse_args()
    MODE, ROOT = options.mode, options.root
    key = paramiko.Ed25519Key(filename=options.host_key)
    with open(options.password_file) as handle:
        password = handle.read().strip()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print(listener.getsockname()[1], flush=True)

    def accept():
        while True:
            connection, _ = listener.accept()
            threading.Thread(target=serve, args=(connection, key, password), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
