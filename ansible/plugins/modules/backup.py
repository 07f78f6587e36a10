#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GatewayBackup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: backup
short_description: Back up a Flow Gateway through its Backup/Restore API
version_added: "1.0.0"
description:
  - Starts a backup on the appliance (C(POST /api/mgmt.gateway_backup/1.0/backup)) and follows its
    status (C(GET …/backup)) until it is C(COMPLETED) or C(ERROR).
  - Runs on the control node (C(connection=local) or C(delegate_to=localhost)); the appliance stores
    the backup itself, on the destination given.
  - Changed when a backup was made. Fails with the appliance's error text when the job fails, when it
    does not end within O(timeout), or when its record shows no progress for O(stall_timeout).
  - In check mode, reads the appliance's status and reports what it would do; nothing is started.
author: GatewayBackup contributors
extends_documentation_fragment:
  - gatewaybackup.appliance.api
  - gatewaybackup.appliance.api.job
attributes:
  check_mode:
    support: full
    description: Reads the status, starts nothing.
  diff_mode:
    support: full
    description: Shows the last successful backup before and after.
"""

EXAMPLES = r"""
- name: Back up the appliance to the backup host
  gatewaybackup.appliance.backup:
    api_host: "{{ ansible_host }}"
    api_port: 8443
    api_user: "{{ gwb_api_user }}"
    api_password: "{{ gwb_api_password }}"
    ca_path: /etc/ssl/gateway-ca.pem
    destination:
      host: backup.example.net
      user: backup
      password: "{{ gwb_sftp_password }}"
      path: "/srv/backups/{{ inventory_hostname }}"
    security_pwd: "{{ gwb_security_pwd }}"
  delegate_to: localhost
"""

RETURN = r"""
record:
  description: The appliance's status record of this backup (no password is ever in it).
  returned: when the job ended
  type: dict
  sample: {"status": "COMPLETED", "backup": "flowgateway-20261129T020000Z", "subdir": "/srv/backups/gw01/flowgateway-20261129T020000Z"}
backup:
  description: The name of the backup made.
  returned: success
  type: str
last_successful:
  description: The appliance's record of its last successful backup, before this run.
  returned: always
  type: dict
elapsed_seconds:
  description: Seconds from the request to the job's end, as the control node measured them.
  returned: when the job ended
  type: float
check_mode:
  description: True when the module ran in check mode and started nothing.
  returned: in check mode
  type: bool
run_id:
  description: The run id given.
  returned: always
  type: str
ansible_facts:
  description: C(gatewaybackup_backup), the same record, for later tasks.
  returned: when the job ended
  type: dict
"""

from ansible_collections.gatewaybackup.appliance.plugins.module_utils.gateway_api import (
    GatewayAPI, GatewayAPIError, destination_text, job_module, run_job,
)


def main():
    module = job_module()
    params = module.params
    api = GatewayAPI(params)
    result = dict(changed=False, run_id=params.get("run_id") or "", destination=destination_text(params))
    try:
        last, running = api.backup_status()
    except GatewayAPIError as error:
        module.fail_json(msg=error.message, error_id=error.error_id or "", **result)
    result["last_successful"] = last or {}
    if running.get("status") == "EXECUTING":
        module.fail_json(msg="a job is already running on the appliance (%s)" % (running.get("message") or "backup"), **result)
    if module.check_mode:
        result.update(changed=True, check_mode=True, msg="would back up to %s" % result["destination"])
        if module._diff:
            result["diff"] = dict(before=dict(last_backup=(last or {}).get("subdir", "")), after=dict(last_backup="(a new backup)"))
        module.exit_json(**result)
    record, _ = run_job(module, api, "backup", running, result)
    result.update(changed=True, backup=record.get("backup", ""), msg="backed up to %s" % (record.get("subdir") or result["destination"]))
    if module._diff:
        result["diff"] = dict(before=dict(last_backup=(last or {}).get("subdir", "")), after=dict(last_backup=record.get("subdir", "")))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
