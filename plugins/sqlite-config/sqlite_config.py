#!/usr/bin/env python3
"""GatewayBackup external plugin (protocol 1): the appliance configuration.

collect: an online, consistent copy of the SQLite database (sqlite3's backup API, safe while the
         appliance writes to it) plus the config files, with their modes, owners and mtimes.
verify:  PRAGMA integrity_check on the staged database, before anything on the appliance changes.
restore: puts the database back atomically (temporary file, fsync, rename; stale -wal/-shm removed),
         the config files likewise, then runs the optional reload command.

Request on stdin, response on stdout; see docs/plugins.md. Uses only the Python standard library.
"""
import glob
import json
import os
import shutil
import sqlite3
import subprocess
import sys

PROTOCOL = 1
RECORD = ".gwbackup-sqlite-config.json"


def respond(status, message="", warnings=(), code=0):
    json.dump({"protocol": PROTOCOL, "status": status, "message": message, "warnings": list(warnings)}, sys.stdout)
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
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
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
        return json.load(handle)


def verify(request):
    staging = request["stagingDirectory"]
    record = load_record(staging)
    if record["database"] is not None:
        connection = sqlite3.connect(f"file:{os.path.join(staging, 'config.db')}?mode=ro", uri=True)
        result = connection.execute("PRAGMA integrity_check").fetchone()[0]
        connection.close()
        if result != "ok":
            respond("error", f"the backed-up database fails its integrity check: {result}", code=1)
    respond("ok")


def replace(staged, destination, meta, is_link):
    directory = os.path.dirname(destination)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    temporary = os.path.join(directory, ".gwbackup-new-" + os.path.basename(destination))
    if os.path.lexists(temporary):
        os.unlink(temporary)
    if is_link:
        os.symlink(os.readlink(staged), temporary)
    else:
        shutil.copyfile(staged, temporary)
        fsync_file(temporary)
    apply_metadata(temporary, meta, is_link)
    os.replace(temporary, destination)


def restore(request):
    root, staging, params = request["applianceRoot"], request["stagingDirectory"], request["parameters"]
    record = load_record(staging)
    database = under(root, params["database"])
    for suffix in ("-wal", "-shm", "-journal"):
        if os.path.exists(database + suffix):
            os.unlink(database + suffix)
    if record["database"] is None:
        if os.path.exists(database):
            os.unlink(database)
    else:
        replace(os.path.join(staging, "config.db"), database, record["database"], False)
    kept = set(record["files"])
    for relative in expand(root, record.get("patterns", [])):
        if relative not in kept and not os.path.isdir(under(root, relative)):
            os.unlink(under(root, relative))
    for relative, meta in sorted(record["files"].items()):
        replace(os.path.join(staging, "files", relative), under(root, relative), meta, meta["link"])
    command = params.get("reload_command")
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
    actions = {"collect": collect, "verify": verify, "restore": restore}
    action = actions.get(request.get("action"))
    if action is None:
        respond("error", f"unknown action {request.get('action')!r}", code=2)
    try:
        action(request)
    except (OSError, sqlite3.Error, ValueError, KeyError) as error:
        respond("error", f"{type(error).__name__}: {error}", code=1)


if __name__ == "__main__":
    main()
