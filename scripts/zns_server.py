#!/usr/bin/env python3
"""A local server speaking Zalo ZNS's two endpoints, for the tests (Python stdlib only).

  POST /v4/oa/access_token   (header secret_key; form app_id, grant_type=refresh_token,
                              refresh_token) -> {"access_token", "refresh_token", "expires_in"}
  POST /message/template     (header access_token; JSON phone, template_id, template_data,
                              tracking_id) -> {"error": 0, "data": {"msg_id", "quota"}} or an
                              error code as Zalo answers it

As Zalo: each refresh token works once; presenting a spent one is refused and locks the OA
(every later refresh and send is refused) -- two refreshers racing lock the account out.
Access tokens expire. Each phone is with Zalo unless listed without (-118), invalid (-108),
refusing ZNS (-114) or on an old Zalo (-110); a daily quota is counted (-144 past it).

Admin endpoints, for tests to set up and read what the "provider" received:
  POST /admin/reset     {"app_id", "secret_key", "refresh_token", "access_ttl", "quota",
                         "no_zalo": [...], "invalid": [...], "refused": [...], "old_version": [...],
                         "templates": [...] (empty: any), "refresh_delay": seconds}
                        -> clears everything
  POST /admin/faults    {"faults": [{"kind": "timeout_before"|"timeout_after"|"http_500"|"unknown",
                         "phone": "849..." (optional: any), "times": n, "seconds": s}]}
  POST /admin/expire    expires every access token now
  GET  /admin/messages  {"messages": [{"phone", "template_id", "template_data", "tracking_id", "msg_id"}]}
  GET  /admin/state     {"refreshes": n, "refused_refreshes": n, "locked": bool, "sends": n}
  POST /admin/callback  {"url": webhook URL, "event": "user_received_message"|"user_seen_message",
                         "tracking_id", "msg_id" (default: the message sent with that tracking
                         id), "oa_secret_key" (default "local-oa-secret"), "timestamp" (ms,
                         default now), "signature" (to send a wrong one)}
                        -> posts the OA webhook event as Zalo does, signed in X-ZEvent-Signature
                        with "mac=" + sha256(app_id + body + timestamp + OA secret key);
                        answers {"status": the webhook's HTTP status, "body": its answer}

Run: zns_server.py -H 127.0.0.1 -p PORT
"""

import argparse
import hashlib
import json
import urllib.request
import urllib.error
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def fresh_state(cfg=None):
    cfg = cfg or {}
    first = cfg.get("refresh_token", "first-refresh-token")
    return {
        "app_id": str(cfg.get("app_id", "local-app")),
        "secret_key": cfg.get("secret_key", "local-secret"),
        "access_ttl": int(cfg.get("access_ttl", 90000)),
        "quota": int(cfg.get("quota", 5000)),
        "used_quota": 0,
        "no_zalo": set(cfg.get("no_zalo", [])),
        "invalid": set(cfg.get("invalid", [])),
        "refused": set(cfg.get("refused", [])),
        "old_version": set(cfg.get("old_version", [])),
        "templates": set(str(t) for t in cfg.get("templates", [])),
        "refresh_delay": float(cfg.get("refresh_delay", 0.0)),
        # refresh token -> spent?
        "refresh_tokens": {first: False},
        # access token -> expiry (epoch seconds)
        "access_tokens": {},
        "locked": False,
        "refreshes": 0,
        "refused_refreshes": 0,
        "sends": 0,
        "messages": [],
        "faults": [],
    }


STATE = fresh_state()


def take_fault(phone):
    """The first injected fault matching `phone`, used once (None when none)."""
    for f in STATE["faults"]:
        if f["times"] > 0 and f.get("phone") in (None, phone):
            f["times"] -= 1
            return dict(f)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the tests' output stays readable
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def answer(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        if self.path == "/admin/messages":
            with LOCK:
                return self.answer(200, {"messages": list(STATE["messages"])})
        if self.path == "/admin/state":
            with LOCK:
                return self.answer(200, {k: STATE[k] for k in ("refreshes", "refused_refreshes", "locked", "sends", "used_quota")})
        self.answer(404, {"error": 404, "message": "not found"})

    def do_POST(self):
        global STATE
        raw = self.body()
        if self.path == "/admin/reset":
            with LOCK:
                STATE = fresh_state(json.loads(raw or b"{}"))
            return self.answer(200, {"ok": True})
        if self.path == "/admin/faults":
            with LOCK:
                for f in json.loads(raw)["faults"]:
                    STATE["faults"].append({
                        "kind": f["kind"], "phone": f.get("phone"),
                        "times": int(f.get("times", 1)), "seconds": float(f.get("seconds", 2.0)),
                    })
            return self.answer(200, {"ok": True})
        if self.path == "/admin/callback":
            return self.answer(200, self.callback(json.loads(raw)))
        if self.path == "/admin/expire":
            with LOCK:
                for t in STATE["access_tokens"]:
                    STATE["access_tokens"][t] = 0
            return self.answer(200, {"ok": True})
        if self.path == "/v4/oa/access_token":
            return self.refresh(raw)
        if self.path == "/message/template":
            return self.send_template(raw)
        self.answer(404, {"error": 404, "message": "not found"})

    def callback(self, req):
        """Post a ZNS delivery or seen event to the webhook at req["url"], as Zalo's OA webhook."""
        tracking_id = req.get("tracking_id")
        with LOCK:
            app_id = STATE["app_id"]
            sent = [m for m in STATE["messages"] if m["tracking_id"] == tracking_id]
        msg_id = req.get("msg_id") or (sent[-1]["msg_id"] if sent else "unknown-msg")
        timestamp = str(req.get("timestamp") or int(time.time() * 1000))
        event = req.get("event", "user_received_message")
        message = {"msg_id": msg_id, "tracking_id": tracking_id}
        if event == "user_received_message":
            message["delivery_time"] = timestamp
        else:
            message["msg_ids"] = [msg_id]
        body = json.dumps({
            "app_id": app_id, "oa_id": "local-oa", "event_name": event, "timestamp": timestamp,
            "sender": {"id": "local-oa"}, "recipient": {"id": "zalo-user"}, "message": message,
        }).encode()
        secret = req.get("oa_secret_key", "local-oa-secret")
        mac = hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret.encode()).hexdigest()
        signature = req.get("signature", "mac=" + mac)
        request = urllib.request.Request(req["url"], data=body, method="POST", headers={
            "Content-Type": "application/json", "X-ZEvent-Signature": signature})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                status, answer = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, answer = e.code, e.read()
        try:
            answer = json.loads(answer or b"null")
        except ValueError:
            answer = answer.decode(errors="replace")
        return {"status": status, "body": answer}

    def refresh(self, raw):
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        with LOCK:
            delay = STATE["refresh_delay"]
        if delay:
            time.sleep(delay)  # widens the window two racing refreshers would share
        with LOCK:
            s = STATE
            if self.headers.get("secret_key") != s["secret_key"] or form.get("app_id") != s["app_id"]:
                s["refused_refreshes"] += 1
                return self.answer(200, {"error": -14002, "error_name": "Invalid app_id or secret_key", "error_description": "app"})
            if form.get("grant_type") != "refresh_token":
                s["refused_refreshes"] += 1
                return self.answer(200, {"error": -14003, "error_name": "Invalid grant_type"})
            token = form.get("refresh_token", "")
            spent = s["refresh_tokens"].get(token)
            if spent is None or spent or s["locked"]:
                s["refused_refreshes"] += 1
                if spent:
                    # A spent refresh token presented again: the OA is locked out.
                    s["locked"] = True
                return self.answer(200, {"error": -14014, "error_name": "Refresh token is invalid or used",
                                         "error_description": "the refresh token was used or expired"})
            s["refresh_tokens"][token] = True
            access = "at-" + secrets.token_hex(12)
            new_refresh = "rt-" + secrets.token_hex(12)
            s["refresh_tokens"][new_refresh] = False
            s["access_tokens"][access] = time.time() + s["access_ttl"]
            s["refreshes"] += 1
            return self.answer(200, {"access_token": access, "refresh_token": new_refresh,
                                     "expires_in": str(s["access_ttl"])})

    def send_template(self, raw):
        try:
            req = json.loads(raw)
        except ValueError:
            return self.answer(400, {"error": -112, "message": "Template data invalid"})
        phone = str(req.get("phone", ""))
        with LOCK:
            s = STATE
            s["sends"] += 1
            token = self.headers.get("access_token", "")
            expiry = s["access_tokens"].get(token)
            if s["locked"] or expiry is None or expiry < time.time():
                return self.answer(200, {"error": -124, "message": "Access token is invalid"})
            fault = take_fault(phone)
        if fault:
            kind = fault["kind"]
            if kind == "timeout_before":
                time.sleep(fault["seconds"])  # the client gives up; nothing was sent
                return self.answer(200, {"error": -100, "message": "Unknown error"})
            if kind == "http_500":
                return self.answer(500, {"error": -100, "message": "Internal error"})
            if kind == "unknown":
                return self.answer(200, {"error": -100, "message": "Unknown error"})
        with LOCK:
            s = STATE
            if not phone.isdigit() or not phone.startswith("84") or phone in s["invalid"]:
                return self.answer(200, {"error": -108, "message": "Phone number invalid"})
            template_id = str(req.get("template_id", ""))
            if not template_id or (s["templates"] and template_id not in s["templates"]):
                return self.answer(200, {"error": -109, "message": "Template ID invalid"})
            data = req.get("template_data")
            if not data:
                return self.answer(200, {"error": -111, "message": "Template data empty"})
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                return self.answer(200, {"error": -112, "message": "Template data invalid"})
            if phone in s["no_zalo"]:
                return self.answer(200, {"error": -118, "message": "Zalo account not existed"})
            if phone in s["old_version"]:
                return self.answer(200, {"error": -110, "message": "Zalo version unsupported"})
            if phone in s["refused"]:
                return self.answer(200, {"error": -114, "message": "User is inactive, or reject the message"})
            if s["used_quota"] >= s["quota"]:
                return self.answer(200, {"error": -144, "message": "OA has exceeded the daily quota"})
            s["used_quota"] += 1
            msg_id = secrets.token_hex(16)
            s["messages"].append({"phone": phone, "template_id": template_id, "template_data": data,
                                  "tracking_id": req.get("tracking_id"), "msg_id": msg_id})
            remaining = s["quota"] - s["used_quota"]
        if fault and fault["kind"] == "timeout_after":
            time.sleep(fault["seconds"])  # sent, but the answer comes too late
        return self.answer(200, {"error": 0, "message": "Success", "data": {
            "msg_id": msg_id, "sent_time": str(int(time.time() * 1000)),
            "quota": {"dailyQuota": str(STATE["quota"]), "remainingQuota": str(remaining)}}})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-H", "--host", default="127.0.0.1")
    p.add_argument("-p", "--port", type=int, required=True)
    args = p.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(f"zns_server listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
