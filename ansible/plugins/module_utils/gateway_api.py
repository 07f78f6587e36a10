# -*- coding: utf-8 -*-
# Copyright: GatewayBackup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client of one appliance's Backup/Restore API v1.0, shared by the collection's modules.

It starts a job (POST), then follows the appliance's status record (GET) until the job that POST
started has ended, and it keeps every secret out of what it returns: the request body is never
echoed, and errors carry the appliance's error_text only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url

API_PREFIX = "/api/mgmt.gateway_backup/1.0/"
FINAL_STATES = ("COMPLETED", "ERROR")


def api_argument_spec():
    """The options every module of the collection takes to reach one appliance."""
    return dict(
        api_host=dict(type="str", required=True),
        api_port=dict(type="int", default=443),
        api_user=dict(type="str", required=True),
        api_password=dict(type="str", required=True, no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        request_timeout=dict(type="int", default=30),
    )


def job_argument_spec():
    """The options of a job: the destination, the security password, how long to wait."""
    return dict(
        destination=dict(
            type="dict",
            required=True,
            options=dict(
                host=dict(type="str", required=True),
                user=dict(type="str"),
                password=dict(type="str", no_log=True),
                path=dict(type="str"),
                port=dict(type="int"),
            ),
        ),
        security_pwd=dict(type="str", required=True, no_log=True),
        run_id=dict(type="str"),
        wait=dict(type="bool", default=True),
        timeout=dict(type="int", default=1800),
        stall_timeout=dict(type="int", default=600),
        poll_interval=dict(type="float", default=2.0),
    )


class GatewayAPIError(Exception):
    """A failure to talk to the appliance, or an answer it gave that says no."""

    def __init__(self, message, status=None, error_id=None):
        super(GatewayAPIError, self).__init__(message)
        self.message = message
        self.status = status
        self.error_id = error_id


class GatewayAPI(object):
    """One appliance's API, over HTTPS with basic authentication."""

    def __init__(self, params):
        self.base = "https://%s:%d" % (_host_for_url(params["api_host"]), params["api_port"])
        self.user = params["api_user"]
        self.password = params["api_password"]
        self.validate_certs = params["validate_certs"]
        self.ca_path = params.get("ca_path")
        self.timeout = params["request_timeout"]

    def _call(self, method, path, body=None):
        url = self.base + path
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            answer = open_url(
                url, data=data, headers=headers, method=method, timeout=self.timeout,
                validate_certs=self.validate_certs, ca_path=self.ca_path,
                url_username=self.user, url_password=self.password, force_basic_auth=True,
                follow_redirects="none", use_proxy=False, use_netrc=False,
            )
            status = answer.getcode()
            text = answer.read()
        except HTTPError as error:
            raise _api_error(error)
        except URLError as error:
            raise GatewayAPIError("cannot reach the appliance at %s: %s" % (self.base, _reason(error)))
        except (OSError, ValueError) as error:
            raise GatewayAPIError("cannot reach the appliance at %s: %s" % (self.base, error))
        if status == 204 or not text:
            return None
        try:
            return json.loads(text.decode("utf-8"))
        except ValueError:
            raise GatewayAPIError("the appliance at %s answered %s %s with something that is not JSON" % (self.base, method, path))

    def backup_status(self):
        """`GET …/backup`: (last_successful or None, running)."""
        answer = self._call("GET", API_PREFIX + "backup")
        if not isinstance(answer, list) or not answer or not isinstance(answer[0], dict):
            raise GatewayAPIError("the appliance's backup status is not the documented list of one object")
        last = answer[0].get("last_successful") or None
        running = answer[0].get("running") or {}
        if not isinstance(running, dict) or (last is not None and not isinstance(last, dict)):
            raise GatewayAPIError("the appliance's backup status has records that are not objects")
        return last, running

    def restore_status(self):
        """`GET …/restore`: the restore record."""
        answer = self._call("GET", API_PREFIX + "restore")
        if not isinstance(answer, dict):
            raise GatewayAPIError("the appliance's restore status is not an object")
        return answer

    def start(self, kind, body):
        """`POST …/backup` or `POST …/restore`."""
        self._call("POST", API_PREFIX + kind, body)

    def follow(self, kind, previous, started, timeout, stall_timeout, poll_interval, clock=time.time, sleep=time.sleep):
        """Polls the record of `kind` until the job started after `previous` has ended.

        A record belongs to the new job when its `id` differs from the previous record's (servers of
        this API family without ids: when its timeStamp is not before the POST). Fails when the job
        does not end within `timeout` seconds, or shows no progress for `stall_timeout` seconds.
        """
        deadline = started + timeout
        last_change = clock()
        last_progress = None
        record = {}
        while True:
            record = self.restore_status() if kind == "restore" else self.backup_status()[1]
            if _is_new(record, previous, started):
                if record.get("status") in FINAL_STATES:
                    return record
                progress = (json.dumps(record.get("progress"), sort_keys=True), json.dumps(record.get("components"), sort_keys=True))
                if progress != last_progress:
                    last_progress = progress
                    last_change = clock()
            now = clock()
            if now >= deadline:
                raise GatewayAPIError("the %s did not finish within %d s (last status: %s)" % (kind, timeout, _describe(record)), error_id="TIMEOUT")
            if now - last_change >= stall_timeout:
                raise GatewayAPIError("the %s stalled: no progress for %d s (last status: %s)" % (kind, stall_timeout, _describe(record)), error_id="STALLED")
            sleep(min(poll_interval, max(0.05, deadline - now)))


def job_module(extra_options=None):
    """The AnsibleModule of a job module (backup, restore): API and job options, checked."""
    spec = api_argument_spec()
    spec.update(job_argument_spec())
    spec.update(extra_options or {})
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    check_destination(module)
    return module


def run_job(module, api, kind, previous, result):
    """Starts the job and follows it to its end; exits the module unless the job COMPLETED.

    Returns (record, elapsed seconds). Every failure exits with the appliance's words (error_text,
    the record's message) and never with the request body.
    """
    params = module.params
    started = time.time()
    try:
        api.start(kind, request_body(params, restore=(kind == "restore")))
        if not params["wait"]:
            module.exit_json(changed=True, msg="%s started" % kind, **result)
        record = api.follow(kind, previous, started, params["timeout"], params["stall_timeout"], params["poll_interval"])
    except GatewayAPIError as error:
        result["error_id"] = error.error_id or ""
        module.fail_json(msg=error.message, **result)
    elapsed = round(time.time() - started, 3)
    result.update(record=record, elapsed_seconds=elapsed, ansible_facts={"gatewaybackup_" + kind: record})
    if record.get("status") != "COMPLETED":
        module.fail_json(msg="the %s failed on the appliance: %s" % (kind, record.get("message") or "no reason given"), **result)
    return record, elapsed


def request_body(params, restore=False):
    """The POST body, from the module's options (secrets included: it is never returned or logged)."""
    destination = params["destination"]
    body = {"hostname": destination["host"], "security_pwd": params["security_pwd"]}
    for key, name in (("user", "username"), ("password", "password"), ("path", "path"), ("port", "port")):
        if destination.get(key) not in (None, ""):
            body[name] = destination[key]
    if params.get("run_id"):
        body["run_id"] = params["run_id"]
    if restore:
        body["no_cert"] = "true" if params.get("no_cert") else "false"
        # The appliance's extension fields: sent only when set, so an older appliance sees the seed's body.
        for key in ("backup", "appliance"):
            if params.get(key):
                body[key] = params[key]
        if params.get("components"):
            body["components"] = list(params["components"])
    return body


def destination_text(params):
    """Where a job stores or reads, for messages (no password)."""
    destination = params["destination"]
    if destination["host"] in ("localhost", "127.0.0.1", "::1") and not destination.get("path"):
        return "local storage"
    user = (destination.get("user") + "@") if destination.get("user") else ""
    port = (":%d" % destination["port"]) if destination.get("port") else ""
    return "%s%s%s:%s" % (user, destination["host"], port, destination.get("path") or "(default path)")


def check_destination(module):
    """A remote destination needs a user, a password and a path (as the API document says)."""
    destination = module.params["destination"]
    if destination["host"] != "localhost":
        missing = [key for key in ("user", "password", "path") if not destination.get(key)]
        if missing:
            module.fail_json(msg="destination %s needs %s for a remote host" % (destination["host"], ", ".join(missing)))
    for key in ("timeout", "stall_timeout"):
        if module.params[key] < 1:
            module.fail_json(msg="%s must be at least 1 second" % key)
    if module.params["poll_interval"] <= 0:
        module.fail_json(msg="poll_interval must be more than 0 seconds")


def _is_new(record, previous, started):
    if not record:
        return False
    if record.get("id") is not None or (previous or {}).get("id") is not None:
        return record.get("id") != (previous or {}).get("id")
    try:
        return int(record.get("timeStamp", 0)) >= int(started) - 1
    except (TypeError, ValueError):
        return False


def _describe(record):
    if not record:
        return "no record"
    progress = record.get("progress") or {}
    text = record.get("status", "?")
    if progress:
        text += ", %s of %s components" % (progress.get("completed_components", "?"), progress.get("total_components", "?"))
    if record.get("message"):
        text += ", " + record["message"]
    return text


def _api_error(error):
    try:
        envelope = json.loads(error.read().decode("utf-8"))
    except Exception:
        envelope = None
    if isinstance(envelope, dict) and "error_text" in envelope:
        return GatewayAPIError("%s (HTTP %d %s)" % (envelope.get("error_text"), error.code, envelope.get("error_id", "")), status=error.code, error_id=envelope.get("error_id"))
    return GatewayAPIError("the appliance answered HTTP %d %s" % (error.code, error.reason), status=error.code)


def _reason(error):
    reason = getattr(error, "reason", error)
    return str(reason)


def _host_for_url(host):
    return "[%s]" % host if ":" in host and not host.startswith("[") else host
