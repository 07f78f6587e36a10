#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GatewayBackup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: restore
short_description: Restore a Flow Gateway from its newest backup through its Backup/Restore API
version_added: "1.0.0"
description:
  - Starts a restore on the appliance (C(POST /api/mgmt.gateway_backup/1.0/restore)) from the appliance's
    newest authenticated backup at the destination (or O(backup)), and follows C(GET …/restore) until it is
    C(COMPLETED) or C(ERROR).
  - With O(no_cert), the certificate-bound components are left as they are (replacement hardware).
  - On a destination shared by several appliances each restores its own backups; replacement hardware
    takes the one other appliance's, and needs O(appliance) when there are several.
  - The appliance checks the backup's authenticated index and rolls back every component it changed
    when a step fails; the module fails with the appliance's error text then.
  - In check mode, reads the appliance's status and reports what it would do; nothing is started.
author: GatewayBackup contributors
extends_documentation_fragment:
  - gatewaybackup.appliance.api
  - gatewaybackup.appliance.api.job
options:
  no_cert:
    description: Leave the components tagged C(cert) (certificates, keys bound to the hardware) as they are.
    type: bool
    default: false
  backup:
    description:
      - Restore this backup (its name, as C(gwbackup list) shows it) instead of the newest one.
      - A damaged newest backup fails the restore with its name; name an older one here to restore it.
    type: str
  components:
    description: Restore only these components (with O(no_cert), the certificate-bound ones among them are still skipped).
    type: list
    elements: str
  appliance:
    description: Restore a backup of this appliance (its identifier, C(gw-) and 32 hex digits) instead of the target's own.
    type: str
attributes:
  check_mode:
    support: full
    description: Reads the status, starts nothing.
  diff_mode:
    support: none
    description: The appliance does not expose the files a restore would change.
"""

EXAMPLES = r"""
- name: Restore a replacement appliance without its certificates
  gatewaybackup.appliance.restore:
    api_host: "{{ ansible_host }}"
    api_port: 8443
    api_user: "{{ gwb_api_user }}"
    api_password: "{{ gwb_api_password }}"
    destination:
      host: backup.example.net
      user: backup
      password: "{{ gwb_sftp_password }}"
      path: "/srv/backups/{{ inventory_hostname }}"
    security_pwd: "{{ gwb_security_pwd }}"
    no_cert: true
  delegate_to: localhost

- name: Restore only the configuration from a named backup
  gatewaybackup.appliance.restore:
    api_host: "{{ ansible_host }}"
    api_user: "{{ gwb_api_user }}"
    api_password: "{{ gwb_api_password }}"
    destination:
      host: localhost
    security_pwd: "{{ gwb_security_pwd }}"
    backup: flowgateway-20261129T051145Z
    components: [config]
  delegate_to: localhost
"""

RETURN = r"""
record:
  description: The appliance's restore record, with a C(status) per component (ok, skipped, rolled_back, …).
  returned: when the job ended
  type: dict
elapsed_seconds:
  description: Seconds from the request to the job's end.
  returned: when the job ended
  type: float
ansible_facts:
  description: C(gatewaybackup_restore), the same record.
  returned: when the job ended
  type: dict
"""

from ansible_collections.gatewaybackup.appliance.plugins.module_utils.gateway_api import (
    GatewayAPI, GatewayAPIError, destination_text, job_module, run_job,
)


def main():
    module = job_module(dict(
        no_cert=dict(type="bool", default=False),
        backup=dict(type="str"),
        components=dict(type="list", elements="str"),
        appliance=dict(type="str"),
    ))
    params = module.params
    api = GatewayAPI(params)
    result = dict(changed=False, run_id=params.get("run_id") or "", destination=destination_text(params), no_cert=params["no_cert"])
    try:
        previous = api.restore_status()
        _, running = api.backup_status()
    except GatewayAPIError as error:
        module.fail_json(msg=error.message, error_id=error.error_id or "", **result)
    if previous.get("status") == "EXECUTING" or running.get("status") == "EXECUTING":
        module.fail_json(msg="a job is already running on the appliance", **result)
    if module.check_mode:
        what = ", ".join(params["components"]) if params.get("components") else "all components"
        if params["no_cert"]:
            what += ", without the certificate-bound ones"
        which = ("backup %s" % params["backup"]) if params.get("backup") else "the newest backup"
        result.update(changed=True, msg="would restore %s at %s (%s)" % (which, result["destination"], what))
        module.exit_json(**result)
    record, _ = run_job(module, api, "restore", previous, result)
    result.update(changed=True, msg="restored from %s" % (record.get("path") or result["destination"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
