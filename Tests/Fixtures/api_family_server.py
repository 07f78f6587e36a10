#!/usr/bin/env python3
"""A stand-in for another server of the Backup/Restore API family, for the client's tests.

It answers only with the document's own fields (no job id, no components, no progress), as an
appliance does. Usage: api_family_server.py CERT KEY PORT_FILE MODE
  MODE "appliance": a POSTed job shows EXECUTING, then COMPLETED after about 1.5 s.
  MODE "silent":    a POST is accepted (204) but the status never changes.
  MODE "garbage":   every GET answers 200 with a body that is not JSON.
  MODE "broken":    GETs answer normally, a POST fails with a plain-text 500.
Listens on 127.0.0.1 only, on a free port written to PORT_FILE.
"""
import http.server
import json
import ssl
import sys
import threading
import time

cert, key, port_file, mode = sys.argv[1:5]
state = {"running": {"host": "", "username": "", "message": "", "path": "", "timeStamp": 0, "status": "NONE"}, "last": {}}
lock = threading.Lock()
BASE = "/api/mgmt.gateway_backup/1.0"


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        if not self.headers.get("Authorization", "").startswith("Basic "):
            self.answer(401, {"error_id": "AUTH_REQUIRED", "error_text": "Authentication required."})
            return False
        return True

    def do_GET(self):
        if not self.authorized():
            return
        if mode == "garbage":
            data = b"<html>maintenance</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        with lock:
            if self.path == BASE + "/backup":
                self.answer(200, [{"last_successful": state["last"], "running": state["running"]}])
            elif self.path == BASE + "/restore":
                self.answer(200, dict(state["running"], subdir=""))
            else:
                self.answer(400, {"error_id": "BAD_REQUEST", "error_text": "no such resource"})

    def do_POST(self):
        if not self.authorized():
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if mode == "broken":
            data = b"Internal Server Error"
            self.send_response(500)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.answer(204)
        if mode != "appliance":
            return
        record = {"host": body.get("hostname", ""), "username": body.get("username", "mazu"), "message": "",
                  "path": body.get("path", "/mnt/data/flowgateway-backup"), "timeStamp": str(int(time.time())), "status": "EXECUTING"}
        with lock:
            state["running"] = record

        def finish():
            time.sleep(1.5)
            with lock:
                state["running"] = dict(record, status="COMPLETED")
                state["last"] = {k: v for k, v in record.items() if k != "status"}
                state["last"]["subdir"] = record["path"] + "/backup_name"
        threading.Thread(target=finish, daemon=True).start()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
