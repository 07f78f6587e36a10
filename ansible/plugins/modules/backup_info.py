#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GatewayBackup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: backup_info
short_description: Read a Flow Gateway's backup and restore status
version_added: "1.0.0"
description:
  - Reads C(GET /api/mgmt.gateway_backup/1.0/backup) and C(GET …/restore) and returns both records.
  - Changes nothing.
author: GatewayBackup contributors
extends_documentation_fragment:
  - gatewaybackup.appliance.api
attributes:
  check_mode:
    support: full
    description: Only reads.
  diff_mode:
    support: none
    description: Only reads.
"""

EXAMPLES = r"""
- name: Read the backup status
  gatewaybackup.appliance.backup_info:
    api_host: "{{ ansible_host }}"
    api_port: 8443
    api_user: "{{ gwb_api_user }}"
    api_password: "{{ gwb_api_password }}"
  delegate_to: localhost
  register: status
"""

RETURN = r"""
last_successful:
  description: The record of the last successful backup (empty when there is none).
  returned: always
  type: dict
running:
  description: The record of the latest backup, running or ended.
  returned: always
  type: dict
restore:
  description: The record of the latest restore.
  returned: always
  type: dict
age_seconds:
  description: Seconds since the last successful backup started (null when there is none).
  returned: always
  type: int
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.gatewaybackup.appliance.plugins.module_utils.gateway_api import GatewayAPI, GatewayAPIError, api_argument_spec


def main():
    module = AnsibleModule(argument_spec=api_argument_spec(), supports_check_mode=True)
    api = GatewayAPI(module.params)
    try:
        last, running = api.backup_status()
        restore = api.restore_status()
    except GatewayAPIError as error:
        module.fail_json(msg=error.message, error_id=error.error_id or "")
    age = None
    if last and str(last.get("timeStamp", "")).isdigit():
        age = max(0, int(time.time()) - int(last["timeStamp"]))
    facts = dict(last_successful=last or {}, running=running, restore=restore, age_seconds=age)
    module.exit_json(changed=False, ansible_facts=dict(gatewaybackup_status=facts), **facts)


if __name__ == "__main__":
    main()
