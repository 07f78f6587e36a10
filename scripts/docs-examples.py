#!/usr/bin/python3
"""Runs every shell example of README.md and docs/*.md as written, inside a container of this
machine (scripts/docs-examples.sh starts it: an overlay of /, the Debian package installed, a
network namespace with only loopback). Each ```sh block is found by its file and first line, and
either run or listed below as not run here, with the reason: a new block that is neither fails the
run, so the docs cannot gain a command nobody ran.

A block runs in bash (set -euo pipefail) on a terminal (a pty: password prompts are answered with
the example API password, as a person would type it). What the runner adds is kept apart from what
the docs say: `setup` runs before the block, `check` after it (asserting what the block claims),
`replace` substitutes placeholders the docs spell for people (an example path, `...`), and a line
that starts `gwbackup serve` (or `$B serve`, `make run`) is started in the background and waited
for ("gwbackup serving"), then stopped when the block ends.
Usage: docs-examples.py REPOSITORY"""
import glob
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time

REPO = sys.argv[1]
API_PASSWORD = "docs example api password"
DEBUG_BIN = REPO + "/.build/debug/gwbackup"

# The SFTP destination the README names (backup.example.net, user mazu): an sshd on port 22 of the
# container's own loopback, the name in /etc/hosts.
SFTP_SETUP = r"""
grep -q backup.example.net /etc/hosts || echo "127.0.0.1 backup.example.net" >> /etc/hosts
id mazu >/dev/null 2>&1 || useradd --create-home --shell /bin/bash mazu
echo "mazu:docs-sftp-password" | chpasswd
(umask 077; echo docs-sftp-password > /tmp/sshpw)
mkdir -p /run/sshd /tmp/sshd && [ -f /tmp/sshd/host ] || ssh-keygen -q -t ed25519 -N '' -f /tmp/sshd/host
printf 'Port 22\nListenAddress 127.0.0.1\nHostKey /tmp/sshd/host\nPidFile /tmp/sshd/pid\nPasswordAuthentication yes\nUsePAM no\nAllowUsers mazu\nSubsystem sftp internal-sftp\n' > /tmp/sshd/config
[ -f /tmp/sshd/pid ] || /usr/sbin/sshd -f /tmp/sshd/config
"""

PLAN = {
    ("README.md", "make run    # installs what is missing, builds, backs up and restores a demo appliance"): dict(
        cwd=REPO, replace=[("make test   # installs what is missing, starts what the tests need, runs every test\n", "")],
        setup="export DEMO_DIR=/tmp/make-run-demo",
        check=r"""grep -q "snmpd.conf is back:  sysLocation" /tmp/docs-bg-1.log && grep -q "cloak.key is back:   -rw-------" /tmp/docs-bg-1.log || { cat /tmp/docs-bg-1.log; exit 1; }
password="$(sed -n 's/^API user: demo   password: \([^ ]*\) .*/\1/p' /tmp/docs-bg-1.log)"
curl -sf --cacert /tmp/make-run-demo/state/tls/server.crt -u "demo:$password" https://localhost:8443/api/mgmt.gateway_backup/1.0/backup | grep -q last_successful""",
        note="make test is not run from within make test"),
    ("README.md", "swift build"): dict(
        cwd=REPO, setup=SFTP_SETUP,
        replace=[("$B restore --no-cert ...", "$B restore --no-cert --root /tmp/fg --path /tmp/backups --state-dir /tmp/state --security-pwd-file /tmp/pw"),
                 ("$B restore --backup NAME --component config ...", "$B restore --backup \"$(ls /tmp/backups | grep -v '^\\.' | tail -1)\" --component config --root /tmp/fg --path /tmp/backups --state-dir /tmp/state --security-pwd-file /tmp/pw")],
        check=r"""ls /home/mazu/backups/fg1 | grep -q '^flowgateway-' || { echo "no backup over SFTP in /home/mazu/backups/fg1"; exit 1; }"""),
    ("README.md", "$B user add operator --role admin --state-dir /tmp/state     # password at the prompt, or --password-stdin"): dict(
        cwd=REPO, setup="B=.build/debug/gwbackup; $B demo --root /tmp/fg >/dev/null; echo 'my security password' > /tmp/pw; chmod 600 /tmp/pw",
        # The POST's job must end before the CLI starts another (it would be refused, exit 3).
        replace=[("# the CLI as a client of that server (trusting its self-signed certificate):",
                  "wait_backup https://127.0.0.1:8443")],
        check="wait_backup https://127.0.0.1:8443"),
    ("README.md", "ansible-playbook -i inventory.yml -e @secrets.yml --ask-vault-pass ansible/playbooks/backup-fleet.yml"): dict(
        skip="make fleet-test runs this playbook against 52 appliances with an inventory and vault as docs/fleet.md writes them"),
    ("README.md", "(umask 077; echo '{\"security_pwd\": \"my security password\"}' > /etc/gwbackup/nightly.credentials)"): dict(
        cwd=REPO, setup="B=.build/debug/gwbackup; mkdir -p /etc/gwbackup; echo %s | $B user add viewer --role viewer --password-stdin >/dev/null" % API_PASSWORD.replace(" ", "-"),
        check=r"""$B schedules --config /etc/gwbackup/serve.json | grep -q "next run:" """),
    ("docs/api.md", "gwbackup user add operator --role admin --state-dir /var/lib/gwbackup   # asks for the password (or --password-stdin)"): dict(
        replace=[("\"security_pwd\":\"…\"", "\"security_pwd\":\"my security password\"")],
        check="wait_backup https://localhost:8443"),
    ("docs/fleet.md", "python3 -m venv ~/ansible && ~/ansible/bin/pip install ansible-core"): dict(
        skip="make fleet-test installs ansible-core from PyPI and builds and installs the collection the same way"),
    ("docs/fleet.md", "docs/fleet-ca.sh /root/fleet-ca init                              # ca.crt: the inventory's gwb_ca_path"): dict(
        cwd=REPO,
        check=r"""openssl verify -CAfile /root/fleet-ca/ca.crt /root/fleet-ca/gw-paris-01.crt && openssl x509 -in /root/fleet-ca/gw-paris-01.crt -noout -ext subjectAltName | grep -q 'IP Address:10.1.0.11'"""),
    ("docs/fleet.md", "ansible-vault create secrets.yml       # gwb_api_password, fleet_destination_password, gwb_security_pwd"): dict(
        skip="opens an editor; make fleet-test writes the same secrets with ansible-vault encrypt"),
    ("docs/fleet.md", "ansible-playbook -i inventory.yml -e @secrets.yml --ask-vault-pass ansible/playbooks/backup-fleet.yml"): dict(
        skip="make fleet-test runs this playbook (runs 1-3) with an inventory of IP addresses and a fleet CA as above"),
    ("docs/fleet.md", "ansible-playbook -i inventory.yml -e @secrets.yml --ask-vault-pass -l gw-paris-02 -e no_cert=true \\"): dict(
        skip="make fleet-test runs restore-appliance.yml with -l and no_cert=true (and checks it refuses without -l)"),
    ("docs/format.md", "gpg --batch --pinentry-mode loopback --passphrase-file pw --decrypt snmp.tar.zst.gpg | zstd -d | tar -xpf - -C out"): dict(
        setup=r"""gwbackup demo --root /tmp/fmt/app >/dev/null
(umask 077; echo 'format example password' > /tmp/fmt/pw)
gwbackup backup --root /tmp/fmt/app --path /tmp/fmt/zstd --state-dir /tmp/fmt/state --security-pwd-file /tmp/fmt/pw >/dev/null
gwbackup backup --compression none --root /tmp/fmt/app --path /tmp/fmt/plain --state-dir /tmp/fmt/state --security-pwd-file /tmp/fmt/pw >/dev/null
cd /tmp/fmt/zstd/flowgateway-*/ && cp /tmp/fmt/pw pw && cp /tmp/fmt/plain/flowgateway-*/snmp.tar.gpg . && mkdir out""",
        check=r"""cmp out/etc/snmp/snmpd.conf /tmp/fmt/app/etc/snmp/snmpd.conf"""),
    ("docs/plugins.md", "mkdir -p /etc/gwbackup/plugins/motd && cd /etc/gwbackup/plugins/motd"): dict(
        check=r"""mkdir -p /srv/motd/etc && echo "welcome" > /srv/motd/etc/motd
echo '{"version": 1, "appliance": "flowgateway", "components": [{"name": "motd", "plugin": "motd", "parameters": {"file": "etc/motd"}}]}' > /tmp/motd.json
gwbackup plugins test motd --manifest /tmp/motd.json --root /srv/motd --plugin-dir /etc/gwbackup/plugins"""),
    ("docs/plugins.md", "mkdir build && cd build"): dict(
        setup=r"""mkdir -p /tmp/sdk && cd /tmp/sdk && cp %s/plugins/sdk/c/example/hello_plugin.c my_plugin.c
mkdir -p /etc/gwbackup/plugins/mine
echo '{"id": "mine", "version": "1.0", "protocol": 1, "executable": "my-plugin", "parameters": {"file": {"type": "string", "required": true, "path": true}}}' > /etc/gwbackup/plugins/mine/plugin.json
echo '{"version": 1, "appliance": "flowgateway", "components": [{"name": "mine", "plugin": "mine", "parameters": {"file": "etc/hello.txt"}}]}' > build-manifest.json""" % REPO,
        replace=[("/path/to/gatewaybackup", REPO), ("--manifest my-manifest.json", "--manifest ../build-manifest.json")]),
}

# The runner's own wait for the API's backup job to end (COMPLETED required), within 2 minutes.
WAIT_JOB = r"""wait_backup() {
  for _ in $(seq 600); do
    state="$(curl -sk -u "operator:%s" "$1/api/mgmt.gateway_backup/1.0/backup" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["running"]["status"])' 2>/dev/null || true)"
    [ "$state" = EXECUTING ] || [ -z "$state" ] || break
    sleep 0.2
  done
  [ "$state" = COMPLETED ] || { echo "[runner: the API's backup ended $state]"; return 1; }
}""" % API_PASSWORD

SERVE = re.compile(r"^\s*(gwbackup serve|\$B serve|make run\b)")


def blocks():
    for path in ["README.md"] + sorted(glob.glob("docs/*.md", root_dir=REPO)):
        text = open(os.path.join(REPO, path), encoding="utf-8").read()
        for match in re.finditer(r"^```sh\n(.*?)^```", text, re.S | re.M):
            body = match.group(1)
            yield path, text[: match.start()].count("\n") + 1, body.split("\n", 1)[0], body


def script_for(plan, body):
    for old, new in plan.get("replace", []):
        if old not in body:
            raise SystemExit("the runner's placeholder %r is no longer in the block: update PLAN" % old)
        body = body.replace(old, new)
    lines, background = [], 0
    for line in body.split("\n"):
        if SERVE.match(line):
            background += 1
            log = "/tmp/docs-bg-%d.log" % background
            # A process group of its own (setsid): stopped whole, by the PID kept here.
            lines.append("setsid %s > %s 2>&1 < /dev/null & echo $! >> /tmp/docs-bg.pids" % (line.split("  #")[0].rstrip(), log))
            lines.append("pid=$(tail -1 /tmp/docs-bg.pids); for _ in $(seq 2400); do grep -q 'gwbackup serving' %s && break; kill -0 \"$pid\" 2>/dev/null || break; sleep 0.25; done; grep -q 'gwbackup serving' %s || { echo '[runner: the server did not start]'; cat %s; exit 1; }" % (log, log, log))
        else:
            lines.append(line)
    stop = 'stop() { for pid in $(cat /tmp/docs-bg.pids 2>/dev/null); do kill -TERM -- "-$pid" 2>/dev/null || true; for _ in $(seq 300); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done; done; rm -f /tmp/docs-bg.pids; }'
    return "\n".join([
        "set -euo pipefail", stop, "trap stop EXIT", "rm -f /tmp/docs-bg*.log", WAIT_JOB,
        "cd %s" % plan.get("cwd", "/root"),
        plan.get("setup", ""), "# --- the block, as the docs write it ---", "\n".join(lines),
        "# --- the runner's check ---", plan.get("check", ""), ""])


def run_on_pty(script, timeout=600):
    """Runs bash SCRIPT on a pty, answering password prompts; returns (status, output)."""
    with open("/tmp/docs-block.sh", "w", encoding="utf-8") as handle:
        handle.write(script)
    pid, fd = pty.fork()
    if pid == 0:
        os.execv("/bin/bash", ["bash", "/tmp/docs-block.sh"])
    output, pending, deadline = b"", b"", time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            output += b"\n[runner: timed out]"
            break
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            pending += chunk
            if re.search(rb"(password[^\n]*|Again): ?$", pending, re.I):
                # Typed once the program has turned echo off (as a person would, after the prompt):
                # a program that turns it off with TCSAFLUSH discards what was typed before.
                for _ in range(50):
                    if not termios.tcgetattr(fd)[3] & termios.ECHO:
                        break
                    time.sleep(0.05)
                os.write(fd, API_PASSWORD.encode() + b"\n")
                pending = b""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace")


def main():
    # Only ever inside the container (scripts/in-container.sh leaves this mark in its own /): the
    # examples write /etc/gwbackup and the appliance's files under /.
    if not os.path.exists("/.gwb-container"):
        raise SystemExit("docs-examples.py runs only inside scripts/in-container.sh")
    # The container is the appliance the docs address: the demo appliance's files under /.
    subprocess.run("gwbackup demo --root /tmp/appliance >/dev/null && cp -a /tmp/appliance/. / && rm -rf /tmp/appliance", shell=True, check=True)
    # The caller's PATH (swift's toolchain is on it) and the system's.
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    os.environ["HOME"] = "/root"
    seen, failures, ran, skipped = set(), [], 0, 0
    for path, line, first, body in blocks():
        key = (path, first)
        seen.add(key)
        plan = PLAN.get(key)
        if plan is None:
            failures.append("%s:%d: a shell example the runner does not know (%r): run it in PLAN or say why not" % (path, line, first))
            continue
        if "skip" in plan:
            skipped += 1
            print("not run  %s:%d  (%s)" % (path, line, plan["skip"]), flush=True)
            continue
        if os.environ.get("DOCS_ONLY") and os.environ["DOCS_ONLY"] != "%s:%d" % (path, line):
            continue
        started = time.monotonic()
        status, output = run_on_pty(script_for(plan, body))
        if os.environ.get("DOCS_VERBOSE"):
            print(output, flush=True)
        seconds = time.monotonic() - started
        if status != 0:
            failures.append("%s:%d exited %d after %.1f s:\n%s" % (path, line, status, seconds, output[-4000:]))
            print("FAILED   %s:%d  (%.1f s)" % (path, line, seconds), flush=True)
        else:
            ran += 1
            print("ran      %s:%d  %d lines, %.1f s%s" % (path, line, body.count("\n"), seconds, "  (" + plan["note"] + ")" if "note" in plan else ""), flush=True)
    # The SFTP example's sshd, by the PID it wrote.
    if os.path.exists("/tmp/sshd/pid"):
        subprocess.run("kill $(cat /tmp/sshd/pid)", shell=True)
    for key in sorted(set(PLAN) - seen):
        failures.append("PLAN names a block no document has any more: %s: %r" % key)
    for failure in failures:
        print("\n" + failure)
    print("\n%d shell examples run, %d not run (with reasons), %d failures" % (ran, skipped, len(failures)))
    sys.exit(1 if failures else 0)


main()
