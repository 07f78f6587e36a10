# -*- coding: utf-8 -*-
# Copyright: GatewayBackup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: fleet_summary
type: aggregate
short_description: The summary of a fleet backup run (N of M appliances backed up)
version_added: "1.0.0"
description:
  - At the end of a run of C(backup-fleet.yml), prints how many appliances of the fleet were backed up,
    each failure with its reason, the appliances that were never attempted (the run was stopped by
    C(max_fail_percentage)), and the slowest appliances; and writes the same as JSON.
  - A callback rather than a last play, because Ansible ends the whole playbook when
    C(max_fail_percentage) stops a play, and that is when the summary matters most.
  - Enable it in C(ansible.cfg) (C(callbacks_enabled = gatewaybackup.appliance.fleet_summary)) or with
    C(ANSIBLE_CALLBACKS_ENABLED).
requirements:
  - enabled in ansible.cfg or ANSIBLE_CALLBACKS_ENABLED
"""

import json
import os
import tempfile
import time

from ansible.plugins.callback import CallbackBase

BACKUP_ACTIONS = ("gatewaybackup.appliance.backup",)


class CallbackModule(CallbackBase):
    """Collects the result of the backup task per appliance; summarises at the end of the playbook."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "gatewaybackup.appliance.fleet_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.started = time.time()
        self.run = None
        self.results = {}
        self.stopped = False

    def v2_runner_on_ok(self, result):
        facts = result._result.get("ansible_facts") or {}
        if isinstance(facts.get("gwb_fleet_run"), dict):
            self.run = facts["gwb_fleet_run"]
        if self._is_backup(result):
            self.results[result._host.get_name()] = dict(
                result="checked" if result._result.get("check_mode") else "ok",
                backup=result._result.get("backup", ""),
                subdir=(result._result.get("record") or {}).get("subdir", ""),
                elapsed_seconds=result._result.get("elapsed_seconds"),
                run_id=(result._result.get("record") or {}).get("run_id", ""),
            )

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if self._is_backup(result):
            self.results[result._host.get_name()] = dict(
                result="failed",
                reason=str(result._result.get("msg", "failed without a message")),
                elapsed_seconds=result._result.get("elapsed_seconds"),
            )

    def v2_runner_on_unreachable(self, result):
        name = result._host.get_name()
        if name not in self.results:
            self.results[name] = dict(result="failed", reason="unreachable: %s" % result._result.get("msg", ""))

    def v2_playbook_on_no_hosts_remaining(self):
        self.stopped = True

    def v2_playbook_on_stats(self, stats):
        if self.run is None and not self.results:
            return
        run = self.run or {}
        members = list(run.get("members") or sorted(self.results))
        ok = sorted(name for name, item in self.results.items() if item["result"] == "ok")
        failed = sorted(name for name, item in self.results.items() if item["result"] == "failed")
        checked = sorted(name for name, item in self.results.items() if item["result"] == "checked")
        missing = [name for name in members if name not in self.results]
        limit = run.get("max_fail_percentage")
        percent_failed = 100.0 * (len(failed) + len(missing)) / len(members) if members else 0.0
        timed = [(item.get("elapsed_seconds") or 0, name) for name, item in self.results.items() if item["result"] == "ok"]
        slowest = [dict(appliance=name, seconds=seconds) for seconds, name in sorted(timed, reverse=True)[:5]]
        summary = dict(
            run_id=run.get("run_id", ""),
            appliances=len(members),
            backed_up=len(ok),
            failed=len(failed),
            not_attempted=len(missing),
            checked_only=len(checked),
            wall_seconds=round(time.time() - self.started, 3),
            max_fail_percentage=limit,
            threshold_exceeded=(limit is not None and percent_failed > float(limit)),
            stopped_early=bool(missing),
            failures=[dict(appliance=name, reason=self.results[name]["reason"]) for name in failed],
            not_attempted_appliances=missing,
            slowest=slowest,
            results=self.results,
        )
        self._display.banner("FLEET BACKUP SUMMARY")
        self._display.display("run %s: %d of %d appliances backed up, %d failed, %d not attempted, in %.1f s" % (
            summary["run_id"] or "?", len(ok), len(members), len(failed), len(missing), summary["wall_seconds"]))
        if checked:
            self._display.display("  check mode: %d appliances answered, nothing was started" % len(checked))
        for item in summary["failures"]:
            self._display.display("  failed       %s: %s" % (item["appliance"], item["reason"]), color="red")
        if missing:
            self._display.display("  not attempted (the run was stopped: fleet_max_fail_percentage %s): %s" % (limit, ", ".join(missing)), color="red")
        if slowest:
            self._display.display("  slowest: " + ", ".join("%s %.1f s" % (item["appliance"], item["seconds"]) for item in slowest))
        path = run.get("summary_file")
        if path and checked and not ok and not failed:
            # A check-mode run started nothing: it must not replace the last real run's summary,
            # which monitoring reads. Its own goes beside it.
            root, extension = os.path.splitext(path)
            path = root + ".check" + (extension or ".json")
        if path:
            self._write(path, summary)
            self._display.display("  summary (JSON): %s" % path)

    @staticmethod
    def _is_backup(result):
        task = result._task
        return getattr(task, "resolved_action", None) in BACKUP_ACTIONS or task.action in BACKUP_ACTIONS

    def _write(self, path, summary):
        # Atomically: a reader (monitoring, the next run) sees the old summary or the new one, never half.
        directory = os.path.dirname(os.path.abspath(path))
        handle, temporary = tempfile.mkstemp(prefix=".fleet-summary-", dir=directory)
        try:
            with os.fdopen(handle, "w") as stream:
                json.dump(summary, stream, indent=2, sort_keys=True)
                stream.write("\n")
            os.chmod(temporary, 0o644)
            os.rename(temporary, path)
        except Exception as error:
            os.unlink(temporary)
            self._display.warning("cannot write the fleet summary to %s: %s" % (path, error))
