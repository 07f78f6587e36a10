#!/usr/bin/env python3
"""Kill-point campaign (issue 9): SIGKILLs real `gwbackup` backups and restores, local and over the
SFTP test bed, at points spread over each job's run (collection, encryption, upload, commit, apply,
rollback), then runs the next job and checks what an operator relies on:

  - no EXECUTING record once the next job ran;
  - last_successful names a complete backup that verifies;
  - no incomplete backup listed, nothing left in staging, no .partial- left once the next backup ran;
  - a killed restore leaves the appliance exactly as before the restore or exactly as backed up
    (the database compared by its SQL dump);
  - no gwbackup, plugin or gpg-agent process of the campaign left running.

Prints the number of kill points and of violations; exits 1 on any violation.
  scripts/crash_campaign.py --points 50            (per scenario; make crash-test)
  scripts/crash_campaign.py --points 2 --quick     (inside make test)
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SCENARIOS = ["local-backup", "local-restore", "local-rollback", "sftp-backup", "sftp-restore"]


class Campaign:
    def __init__(self, binary, work, quick):
        self.binary = binary
        self.work = work
        self.quick = quick
        self.points = 0
        self.violations = []
        self.password_file = os.path.join(work, "security.pwd")
        with open(self.password_file, "w") as handle:
            handle.write("crash campaign password\n")
        os.chmod(self.password_file, 0o600)
        self.env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "GWBACKUP_SHARE": os.getcwd()}
        self.sftp = None
        bed = "/tmp/gwbackup-sshd/testbed.env"
        if os.path.exists(bed):
            values = dict(line.strip().split("=", 1) for line in open(bed) if "=" in line)
            self.sftp = values

    # --- running gwbackup ---------------------------------------------------------------------

    def args(self, scenario, state, root, manifest=None):
        common = ["--root", root, "--state-dir", state, "--security-pwd-file", self.password_file, "--plugin-dir", os.path.join(self.work, "plugins")]
        if manifest:
            common += ["--manifest", manifest]
        if scenario.startswith("sftp"):
            bed = self.sftp
            common += ["--host", "127.0.0.1", "--port", bed["GWB_SSHD_PORT"], "--user", bed["GWB_SSHD_USER"],
                       "--password-file", os.path.join(bed["GWB_SSHD_DIR"], "password"), "--path", "gwb-crash/" + os.path.basename(state)]
        else:
            common += ["--path", os.path.join(self.work, "backups-" + os.path.basename(state))]
        return common

    def run(self, command, timeout=600):
        return subprocess.run([self.binary] + command, env=self.env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def start(self, command):
        return subprocess.Popen([self.binary] + command, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # --- the appliance ------------------------------------------------------------------------

    @staticmethod
    def snapshot(root):
        """Every entry but the database file (sqlite rewrites its pages), plus the database's SQL dump."""
        entries = {}
        for directory, names, files in os.walk(root):
            for name in sorted(names + files):
                path = os.path.join(directory, name)
                relative = os.path.relpath(path, root)
                if relative.startswith("var/lib/flowgateway/config.db"):
                    continue
                info = os.lstat(path)
                line = (oct(info.st_mode), info.st_uid, info.st_gid)
                if os.path.islink(path):
                    line += (os.readlink(path),)
                elif os.path.isfile(path):
                    with open(path, "rb") as handle:
                        line += (info.st_size, int(info.st_mtime), hashlib.sha256(handle.read()).hexdigest())
                entries[relative] = line
        database = os.path.join(root, "var/lib/flowgateway/config.db")
        dump = subprocess.run(["sqlite3", database, ".dump"], capture_output=True, text=True).stdout if os.path.exists(database) else ""
        return entries, dump

    def mutate(self, root):
        with open(os.path.join(root, "etc/flowgateway/flowgateway.conf"), "w") as handle:
            handle.write("hostname = changed-after-the-backup\n")
        with open(os.path.join(root, "etc/snmp/snmpd.conf"), "w") as handle:
            handle.write("rocommunity public\n")
        os.remove(os.path.join(root, "etc/flowgateway/vault/cloak.key"))
        subprocess.run(["sqlite3", os.path.join(root, "var/lib/flowgateway/config.db"), "UPDATE settings SET value='evil' WHERE key='hostname';"], check=True)

    # --- checks -------------------------------------------------------------------------------

    def json_of(self, scenario, point, command):
        """The JSON a command prints; a command that crashes or prints garbage is a violation."""
        result = self.run(command)
        try:
            return json.loads(result.stdout)
        except ValueError:
            self.violation(scenario, point, f"`gwbackup {command[0]}` exited {result.returncode} with unreadable output: {result.stderr[-200:]}")
            return {}

    def violation(self, scenario, point, what):
        self.violations.append(f"{scenario} point {point}: {what}")

    def check_common(self, scenario, point, state, command_args):
        status = self.json_of(scenario, point, ["status", "--json", "--state-dir", state])
        for job, record in (("backup", status.get("backup", {}).get("running", {})), ("restore", status.get("restore", {}))):
            if record.get("status") == "EXECUTING":
                self.violation(scenario, point, f"{job} still EXECUTING after the next job")
        if status.get("recovery"):
            self.violation(scenario, point, f"recovery still pending: {status['recovery']}")
        staging = os.path.join(state, "staging")
        if os.path.isdir(staging) and os.listdir(staging):
            self.violation(scenario, point, f"staging not cleaned: {os.listdir(staging)}")
        if os.path.exists(os.path.join(state, "restore-journal.json")):
            self.violation(scenario, point, "restore journal left open")
        last = status.get("backup", {}).get("last_successful", {})
        listing = self.json_of(scenario, point, ["list", "--json"] + self.storage_only(command_args))
        names = [backup["name"] for backup in listing.get("backups", [])]
        if last.get("backup") and last["backup"] not in names:
            self.violation(scenario, point, f"last_successful {last.get('backup')} is not a complete backup")
        if names:
            verify = self.run(["verify", "--backup", names[-1], "--security-pwd-file", self.password_file] + self.storage_only(command_args))
            if verify.returncode != 0:
                self.violation(scenario, point, f"the newest listed backup does not verify: {verify.stdout[-300:]}")
        self.check_processes(scenario, point)

    def storage_only(self, command_args):
        keep = {"--host", "--port", "--user", "--password-file", "--path", "--state-dir"}
        result = []
        for index, value in enumerate(command_args):
            if value in keep:
                result += [value, command_args[index + 1]]
        return result

    def suspects(self):
        """Processes of the campaign's jobs, and gpg-agents of dead jobs, that are running (not zombies)."""
        found = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace")
                with open(f"/proc/{pid}/stat") as handle:
                    state = handle.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state == "Z":
                continue
            if self.work in command and "crash_campaign" not in command:
                found[pid] = f"process left running: {command[:160]}"
            if "gpg-agent" in command and "--homedir /tmp/gwb-gpg-" in command:
                home = command.split("--homedir ", 1)[1].split(" ", 1)[0]
                owner = os.path.join(home, "gwbackup-owner")
                if not os.path.exists(home) or (os.path.exists(owner) and not self.alive(open(owner).read())):
                    found[pid] = f"gpg-agent of a dead job left running ({home})"
        return found

    def check_processes(self, scenario, point):
        # A process caught while it exits is not left behind: look again, with a deadline.
        deadline = time.time() + 5
        found = self.suspects()
        while found and time.time() < deadline:
            time.sleep(0.1)
            found = {pid: what for pid, what in self.suspects().items() if pid in found}
        for what in found.values():
            self.violation(scenario, point, what)

    @staticmethod
    def alive(identity):
        pid = identity.split()[0]
        return os.path.exists(f"/proc/{pid}")

    # --- scenarios ----------------------------------------------------------------------------

    def prepare(self, scenario):
        base = os.path.join(self.work, scenario)
        root, state = base + "-appliance", base + "-state"
        os.makedirs(state, mode=0o700)
        subprocess.run([self.binary, "demo", "--root", root, "--bulk-mib", "1" if self.quick else "8"], env=self.env, check=True, capture_output=True)
        manifest = None
        if scenario.endswith("rollback"):
            manifest = os.path.join(self.work, "failing.json")
        elif scenario.endswith("restore"):
            manifest = os.path.join(self.work, "settling.json")
        return root, state, manifest

    def timed(self, command):
        start = time.time()
        result = self.run(command)
        return time.time() - start, result

    def backup_scenario(self, scenario, points):
        root, state, manifest = self.prepare(scenario)
        arguments = self.args(scenario, state, root, manifest)
        duration, first = self.timed(["backup"] + arguments)
        if first.returncode != 0:
            self.violation(scenario, 0, f"reference backup failed: {first.stderr[-300:]}")
            return
        for point in range(points):
            delay = duration * 1.15 * (point + 0.5) / points
            process = self.start(["backup"] + arguments)
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            process.wait()
            self.points += 1
            following = self.run(["backup"] + arguments)
            if following.returncode != 0:
                self.violation(scenario, point, f"the next backup failed: {following.stderr[-300:]}")
            self.check_common(scenario, point, state, arguments)
            self.check_no_partials(scenario, point, arguments)

    def check_no_partials(self, scenario, point, arguments):
        listing = self.json_of(scenario, point, ["list", "--json"] + self.storage_only(arguments))
        partials = [entry for entry in listing.get("ignored", []) if entry.startswith(".partial-")]
        if partials:
            self.violation(scenario, point, f"temporary directories left on the destination after the next backup: {partials}")

    def restore_scenario(self, scenario, points):
        root, state, manifest = self.prepare(scenario)
        arguments = self.args(scenario, state, root, manifest)
        backup = self.run(["backup"] + arguments)
        if backup.returncode != 0:
            self.violation(scenario, 0, f"backup failed: {backup.stderr[-300:]}")
            return
        backed_up = self.snapshot(root)
        listing = json.loads(self.run(["list", "--json"] + self.storage_only(arguments)).stdout or "{}")
        pinned = ["--backup", listing["backups"][-1]["name"]]
        self.mutate(root)
        mutated_copy = root + "-mutated"
        subprocess.run(["cp", "-a", root, mutated_copy], check=True)
        before = self.snapshot(root)
        duration, reference = self.timed(["restore"] + arguments + pinned)
        expect_success = not scenario.endswith("rollback")
        if (reference.returncode == 0) != expect_success:
            self.violation(scenario, 0, f"reference restore: exit {reference.returncode}: {reference.stdout[-300:]}")
            return
        for point in range(points):
            shutil.rmtree(root)
            subprocess.run(["cp", "-a", mutated_copy, root], check=True)
            delay = duration * 1.15 * (point + 0.5) / points
            process = self.start(["restore"] + arguments + pinned)
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            process.wait()
            self.points += 1
            # The next job: a backup to the same destination (it recovers first).
            following = self.run(["backup"] + arguments)
            if following.returncode != 0:
                self.violation(scenario, point, f"the next job failed: {following.stderr[-300:]}")
            after = self.snapshot(root)
            allowed = [before] + ([backed_up] if expect_success else [])
            if after not in allowed:
                changed = sorted(set(after[0].items()) ^ set(before[0].items()))[:4]
                self.violation(scenario, point, f"the appliance is a mix (killed after {delay:.2f} s): {changed} dump-equal={after[1] == before[1]}")
            self.check_common(scenario, point, state, arguments)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=40, help="kill points per scenario")
    parser.add_argument("--quick", action="store_true", help="a small appliance (inside make test)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--binary", required=True)
    options = parser.parse_args()
    work = tempfile.mkdtemp(prefix="gwb-crash-")
    campaign = Campaign(options.binary, work, options.quick)
    os.makedirs(os.path.join(work, "plugins", "fails"))
    with open(os.path.join(work, "plugins", "fails", "plugin.json"), "w") as handle:
        json.dump({"id": "fails", "version": "1", "protocol": 1, "executable": "fails.sh"}, handle)
    with open(os.path.join(work, "plugins", "fails", "fails.sh"), "w") as handle:
        handle.write('#!/bin/sh\nif [ "$GWBACKUP_ACTION" = restore ] && [ "$GWBACKUP_ROLLBACK" = 0 ]; then echo "fails on purpose" >&2; exit 1; fi\necho \'{"protocol":1,"status":"ok"}\'\n')
    os.chmod(os.path.join(work, "plugins", "fails", "fails.sh"), 0o755)
    # `settle` takes a second to restore, so that kill points land while components are applied.
    os.makedirs(os.path.join(work, "plugins", "settle"))
    with open(os.path.join(work, "plugins", "settle", "plugin.json"), "w") as handle:
        json.dump({"id": "settle", "version": "1", "protocol": 1, "executable": "settle.sh"}, handle)
    with open(os.path.join(work, "plugins", "settle", "settle.sh"), "w") as handle:
        handle.write('#!/bin/sh\nif [ "$GWBACKUP_ACTION" = restore ]; then sleep 1; fi\necho \'{"protocol":1,"status":"ok"}\'\n')
    os.chmod(os.path.join(work, "plugins", "settle", "settle.sh"), 0o755)
    manifest = json.load(open("manifests/flowgateway.json"))
    components = manifest["components"]
    manifest["components"] = components[:2] + [{"name": "settle", "plugin": "settle"}] + components[2:]
    json.dump(manifest, open(os.path.join(work, "settling.json"), "w"))
    manifest["components"].append({"name": "fails", "plugin": "fails"})
    json.dump(manifest, open(os.path.join(work, "failing.json"), "w"))
    started = time.time()
    try:
        for scenario in options.scenarios.split(","):
            if scenario.startswith("sftp") and not campaign.sftp:
                print(f"{scenario}: skipped (no SFTP test bed: scripts/sshd-testbed.sh start)")
                continue
            before_points, before_violations = campaign.points, len(campaign.violations)
            if scenario.endswith("backup"):
                campaign.backup_scenario(scenario, options.points)
            else:
                campaign.restore_scenario(scenario, options.points)
            print(f"{scenario}: {campaign.points - before_points} kill points, {len(campaign.violations) - before_violations} violations", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for violation in campaign.violations:
        print("VIOLATION", violation)
    print(f"kill points: {campaign.points}, violations: {len(campaign.violations)}, {time.time() - started:.0f} s")
    sys.exit(1 if campaign.violations else 0)


if __name__ == "__main__":
    main()
