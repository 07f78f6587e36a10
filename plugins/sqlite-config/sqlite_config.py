#!/usr/bin/python3
"""GatewayBackup external plugin (protocol 1): the appliance configuration.

collect: an online, consistent copy of the SQLite database (sqlite3's backup API, safe while the
         appliance writes to it) plus the config files, with their modes, owners and mtimes.
verify:  PRAGMA integrity_check on the staged database, before anything on the appliance changes.
restore: puts the database back atomically (temporary file, fsync, rename; stale -wal/-shm removed),
         the config files likewise. In gwbackup's sandbox these changes land in an overlay that the
         core checks against the declared paths and applies after the step.
activate: runs the optional reload command, once the restored files are in place.

The staged record comes out of a backup and is not trusted: every file it names must lie within the
declared `files` patterns (the appliance's manifest, not the record, says which), the staged entry
must be of the kind the record claims, and every change is made through directory descriptors opened
with O_NOFOLLOW, so no symlink on the way (the appliance's, or one an earlier component restored) can
redirect it out of the declared paths. setuid/setgid bits are never restored.

Request on stdin, response on stdout; see docs/plugins.md. Uses only the Python standard library.
"""
import fnmatch
import glob
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys

PROTOCOL = 1
RECORD = ".gwbackup-sqlite-config.json"


def respond(status, message="", warnings=(), code=0, counts=None):
    reply = {"protocol": PROTOCOL, "status": status, "message": message, "warnings": list(warnings)}
    if counts:
        reply["counts"] = counts
    json.dump(reply, sys.stdout)
    sys.stdout.write("\n")
    sys.exit(code)


def safe_relative(path):
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/") or ".." in parts or not parts:
        raise ValueError(f"unsafe path {path!r}")
    return "/".join(parts)


def under(root, relative):
    return os.path.join(root, safe_relative(relative))


def metadata(path):
    st = os.lstat(path)
    return {"mode": st.st_mode & 0o7777, "uid": st.st_uid, "gid": st.st_gid, "mtime_ns": st.st_mtime_ns}


def apply_metadata(path, meta, is_link=False):
    if os.geteuid() == 0:
        os.lchown(path, meta["uid"], meta["gid"])
    if not is_link:
        os.chmod(path, meta["mode"])
    os.utime(path, ns=(meta["mtime_ns"], meta["mtime_ns"]), follow_symlinks=False)


def fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def expand(root, patterns):
    found = []
    for pattern in patterns:
        relative = safe_relative(pattern)
        if any(c in relative for c in "*?["):
            prefix = root.rstrip("/") + "/"
            found += sorted(p[len(prefix):] for p in glob.glob(prefix + relative))
        elif os.path.lexists(under(root, relative)):
            found.append(relative)
    return sorted(set(found))


def collect(request):
    root, staging, params = request["applianceRoot"], request["stagingDirectory"], request["parameters"]
    warnings = []
    record = {"format": 1, "database": None, "files": {}}
    database = under(root, params["database"])
    if os.path.exists(database):
        target = os.path.join(staging, "config.db")
        # Read-write on purpose, though only read: a read-only connection to a WAL database leaves the
        # -wal and -shm files it had to create behind; the last read-write connection closing removes
        # them, so collect leaves the appliance as it found it (gwbackup plugins test checks this).
        source = sqlite3.connect(f"file:{database}?mode=rw", uri=True, timeout=30)
        destination = sqlite3.connect(target)
        with destination:
            source.backup(destination)
        destination.close()
        source.close()
        record["database"] = metadata(database)
        apply_metadata(target, record["database"])
    else:
        warnings.append(f"database {params['database']} does not exist; recorded as absent")
    os.makedirs(os.path.join(staging, "files"), mode=0o700)
    for relative in expand(root, params.get("files", [])):
        source = under(root, relative)
        target = os.path.join(staging, "files", relative)
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        elif os.path.isfile(source):
            shutil.copyfile(source, target)
        else:
            warnings.append(f"skipped {relative}: not a file or symlink")
            continue
        record["files"][relative] = {"link": os.path.islink(source), **metadata(source)}
        apply_metadata(target, record["files"][relative], os.path.islink(source))
    record["patterns"] = params.get("files", [])
    with open(os.path.join(staging, RECORD), "w") as out:
        json.dump(record, out, indent=2, sort_keys=True)
    respond("ok", warnings=warnings)


def load_record(staging):
    with open(os.path.join(staging, RECORD)) as handle:
        record = json.loads(handle.read(16 << 20))
    if not isinstance(record, dict):
        raise ValueError("the staged record is not a JSON object")
    return record


def verify(request):
    staging = request["stagingDirectory"]
    _, database_meta = checked_record(request)
    counts = {}
    if database_meta is not None:
        connection = sqlite3.connect(f"file:{os.path.join(staging, 'config.db')}?mode=ro", uri=True)
        try:
            result = connection.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                respond("error", f"the staged database fails its integrity check: {result}", code=1)
            counts = table_rows(connection)
        finally:
            connection.close()
    respond("ok", counts=counts)


def table_rows(connection, limit=200):
    """Rows per table, for a preview's "tables with changed row counts" (at most `limit` tables)."""
    names = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name LIMIT ?", (limit,))]
    # A table name is an identifier, not a value: quoted, with its own quotes doubled.
    return {f"rows in table {name}": connection.execute('SELECT count(*) FROM "' + name.replace('"', '""') + '"').fetchone()[0] for name in names}


def check_meta(meta, what):
    if not isinstance(meta, dict):
        raise ValueError(f"the record's metadata for {what} is not an object")
    for key in ("mode", "uid", "gid", "mtime_ns"):
        value = meta.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) >= 1 << 63 or (value < 0 and key != "mtime_ns"):
            raise ValueError(f"the record's {key} for {what} is not a valid number")
        # uid_t and gid_t are 32 bits; (uid_t)-1 means "unchanged" to chown.
        if key in ("uid", "gid") and value >= (1 << 32) - 1:
            raise ValueError(f"the record's {key} for {what} is out of range")
    # Never setuid/setgid, whatever the backup says.
    return {**meta, "mode": meta["mode"] & 0o1777}


def declared(path, patterns):
    """True when path is a declared file, or lies below one, or matches a declared glob as glob() would.

    Below a glob's match is not declared: collect copies only files and links a glob finds, so a
    record naming etc/flowgateway/x.conf/deep/file is forged (and its rollback could not undo it)."""
    parts = path.split("/")
    for pattern in patterns:
        wanted = safe_relative(pattern).split("/")
        if len(parts) < len(wanted) or (len(parts) > len(wanted) and any(c in pattern for c in "*?[")):
            continue
        if all((not name.startswith(".") or glob_part.startswith(".")) and fnmatch.fnmatchcase(name, glob_part)
               for glob_part, name in zip(wanted, parts)):
            return True
    return False


def open_parent(root_fd, relative, create):
    """The directory holding relative, reached without following any symlink, and the final name."""
    parts = safe_relative(relative).split("/")
    fd = os.dup(root_fd)
    walked = []
    try:
        for part in parts[:-1]:
            walked.append(part)
            try:
                next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    os.close(fd)
                    return None, parts[-1]
                os.mkdir(part, 0o755, dir_fd=fd)
                next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                raise ValueError(f"{relative} would be reached through {'/'.join(walked)}, a symlink or not a directory; "
                                 "a restore never follows one")
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


def remove_file(root_fd, relative):
    parent, name = open_parent(root_fd, relative, create=False)
    if parent is None:
        return
    try:
        os.unlink(name, dir_fd=parent)
        os.fsync(parent)
    except FileNotFoundError:
        pass
    finally:
        os.close(parent)


def replace(root_fd, staged, relative, meta, is_link):
    info = os.lstat(staged)
    if is_link != stat.S_ISLNK(info.st_mode) or (not is_link and not stat.S_ISREG(info.st_mode)):
        raise ValueError(f"the staged {relative} is not the {'symlink' if is_link else 'regular file'} its record says")
    parent, name = open_parent(root_fd, relative, create=True)
    try:
        temporary = ".gwbackup-new-" + name[:200]
        try:
            os.unlink(temporary, dir_fd=parent)
        except FileNotFoundError:
            pass
        try:
            if is_link:
                os.symlink(os.readlink(staged), temporary, dir_fd=parent)
            else:
                source = os.open(staged, os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    target = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=parent)
                    try:
                        while True:
                            chunk = os.read(source, 1 << 20)
                            if not chunk:
                                break
                            os.write(target, chunk)
                        os.fsync(target)
                    finally:
                        os.close(target)
                finally:
                    os.close(source)
            if os.geteuid() == 0:
                os.chown(temporary, meta["uid"], meta["gid"], dir_fd=parent, follow_symlinks=False)
            if not is_link:
                os.chmod(temporary, meta["mode"], dir_fd=parent)
            os.utime(temporary, ns=(meta["mtime_ns"], meta["mtime_ns"]), dir_fd=parent, follow_symlinks=False)
            os.replace(temporary, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            # The temporary holds restored data: it never stays behind a failure.
            try:
                os.unlink(temporary, dir_fd=parent)
            except OSError:
                pass
            raise
        os.fsync(parent)
    finally:
        os.close(parent)


def checked_record(request):
    """The staged record, checked against the declared files: (files, database metadata)."""
    staging, params = request["stagingDirectory"], request["parameters"]
    record = load_record(staging)
    patterns = params.get("files", [])
    files = record.get("files")
    if not isinstance(files, dict):
        raise ValueError("the staged record has no file list")
    checked = {}
    for relative, meta in files.items():
        if not isinstance(relative, str) or safe_relative(relative) != relative:
            raise ValueError(f"the staged record names an unsafe path {relative!r}")
        if not declared(relative, patterns):
            raise ValueError(f"the backup's record names {relative!r}, which is outside this component's declared files")
        if not isinstance(meta, dict) or not isinstance(meta.get("link"), bool):
            raise ValueError(f"the record's entry for {relative!r} is malformed")
        checked[relative] = check_meta(meta, relative)
        staged = os.lstat(os.path.join(staging, "files", relative))
        is_link = meta["link"]
        if is_link != stat.S_ISLNK(staged.st_mode) or (not is_link and not stat.S_ISREG(staged.st_mode)):
            raise ValueError(f"the staged {relative} is not the {'symlink' if is_link else 'regular file'} its record says")
    database_meta = None if record.get("database") is None else check_meta(record["database"], "the database")
    if database_meta is not None and not stat.S_ISREG(os.lstat(os.path.join(staging, "config.db")).st_mode):
        raise ValueError("the staged database is not a regular file")
    return checked, database_meta


def restore(request):
    root, staging, params = request["applianceRoot"], request["stagingDirectory"], request["parameters"]
    checked, database_meta = checked_record(request)
    patterns = params.get("files", [])
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        database = safe_relative(params["database"])
        for suffix in ("-wal", "-shm", "-journal"):
            remove_file(root_fd, database + suffix)
        if database_meta is None:
            remove_file(root_fd, database)
        else:
            replace(root_fd, os.path.join(staging, "config.db"), database, database_meta, False)
        for relative in expand(root, patterns):
            if relative not in checked and not os.path.isdir(under(root, relative)):
                remove_file(root_fd, relative)
        for relative, meta in sorted(checked.items()):
            replace(root_fd, os.path.join(staging, "files", relative), relative, meta, meta["link"])
    finally:
        os.close(root_fd)
    respond("ok")


def activate(request):
    command = request["parameters"].get("reload_command")
    if command:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            respond("error", f"reload command failed ({done.returncode}): {done.stderr.strip()}", code=1)
    respond("ok")


def main():
    try:
        request = json.load(sys.stdin)
    except ValueError as error:
        respond("error", f"bad request: {error}", code=2)
    if request.get("protocol") != PROTOCOL:
        respond("error", f"protocol {request.get('protocol')} not supported (speaks {PROTOCOL})", code=2)
    actions = {"collect": collect, "verify": verify, "restore": restore, "activate": activate}
    action = actions.get(request.get("action"))
    if action is None:
        respond("error", f"unknown action {request.get('action')!r}", code=2)
    try:
        action(request)
    except (OSError, sqlite3.Error, ValueError, KeyError, TypeError, OverflowError) as error:
        respond("error", f"{type(error).__name__}: {error}", code=1)


if __name__ == "__main__":
    main()
