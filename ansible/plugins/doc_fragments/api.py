# -*- coding: utf-8 -*-
# Copyright: GatewayBackup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options shared by the modules: how to reach an appliance, and a job's destination."""

    DOCUMENTATION = r"""
options:
  api_host:
    description: Host name or address of the appliance's API (usually C(ansible_host)).
    type: str
    required: true
  api_port:
    description: TCP port of the appliance's HTTPS API.
    type: int
    default: 443
  api_user:
    description: API user (C(gwbackup user add) on the appliance).
    type: str
    required: true
  api_password:
    description: Password of O(api_user). Keep it in Ansible Vault.
    type: str
    required: true
  validate_certs:
    description: Verify the appliance's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: CA certificate (PEM) to verify the appliance's certificate with.
    type: path
  request_timeout:
    description: Seconds to wait for one HTTP answer.
    type: int
    default: 30
"""

    JOB = r"""
options:
  destination:
    description: Where the backup is stored (SFTP host), or C(localhost) for the appliance's own storage.
    type: dict
    required: true
    suboptions:
      host:
        description: SFTP host, or C(localhost).
        type: str
        required: true
      user:
        description: SSH user on O(destination.host); required for a remote host.
        type: str
      password:
        description: SSH password of O(destination.user); required for a remote host. Keep it in Ansible Vault.
        type: str
      path:
        description: Backup directory on O(destination.host); required for a remote host.
        type: str
      port:
        description: SSH port of O(destination.host).
        type: int
  security_pwd:
    description: The password that encrypts the backup (and decrypts it for a restore). Keep it in Ansible Vault.
    type: str
    required: true
  run_id:
    description:
      - A label kept in the job's status record on the appliance (C(run_id)); one id for a whole fleet run.
      - 1-128 letters, digits or C(._:+-).
    type: str
  wait:
    description: Wait for the job to end. When false, the module returns once the appliance accepted the job.
    type: bool
    default: true
  timeout:
    description: Seconds the job may take in all before the module fails.
    type: int
    default: 1800
  stall_timeout:
    description: Seconds without any progress in the appliance's record before the module fails.
    type: int
    default: 600
  poll_interval:
    description: Seconds between two status requests while waiting.
    type: float
    default: 2.0
"""
