"""End to end through `cargo lambda watch` and `cargo lambda invoke`, with real event
payloads (HTTP API v2 requests, EventBridge scheduled events, SQS batches), against moto
(DynamoDB, SQS, SES, SNS) and the local SMTP server that scripts/test started.

Creates units, contacts and a campaign over the API function, runs the planner, the
dispatcher and the sender functions, and finds the reminders in moto's SES and SNS records
(phase 1: SES + SNS) and in the SMTP server's Maildir (phase 2: SMTP). Fails loudly.

Every process's output is kept under target/test-servers/logs/ (e2e-*.log; our crates log
at debug), and every phone number and email address the run creates is listed in
e2e-known.txt, for scripts/pii_scan.py to check that none of them reached a log.
"""

import datetime
import json
import mailbox
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import zoneinfo

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
OUTREACH = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "outreach")
CARGO_LAMBDA = os.environ["CARGO_LAMBDA"]
ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
MAILDIR = os.environ["OUTREACH_TEST_MAILDIR"]
SMTP_HOST, SMTP_PORT = os.environ["OUTREACH_TEST_SMTP"].split(":")
RUN = uuid.uuid4().hex[:8]
SECRET = "lambda-e2e-secret-of-at-least-32-bytes"
LOGS = os.path.join(ROOT, "target", "test-servers", "logs")
KNOWN = os.path.join(LOGS, "e2e-known.txt")
# Everything our crates can log; the HTTP spans (tower_http) show each request's URI.
OUR_CRATES = ["outreach", "outreach_core", "outreach_store", "outreach_api", "outreach_app", "outreach_notify",
              "outreach_report", "api", "planner", "dispatcher", "sender", "quarterly_summary", "tower_http"]
RUST_LOG = ",".join(["info"] + [f"{crate}=debug" for crate in OUR_CRATES])
FROM = "nhac-lich@doanthanhnien.example.vn"


def fail(message):
    print(f"lambda e2e FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def log_file(name):
    """An output file under LOGS, for the PII scan; appended to across a run."""
    return open(os.path.join(LOGS, f"e2e-{name}.log"), "a", encoding="utf-8")


def start_logs():
    """Drop the previous run's output, so the scan reads this run only."""
    os.makedirs(LOGS, exist_ok=True)
    for name in os.listdir(LOGS):
        if name.startswith("e2e-"):
            os.remove(os.path.join(LOGS, name))


def create_contact(watch, token, body):
    """POST a contact, listing its phone and email as known personal data first."""
    with open(KNOWN, "a", encoding="utf-8") as f:
        f.write(f"{body['phone']}\n")
        if body.get("email"):
            f.write(f"{body['email']}\n")
    return watch.api("POST", "/v1/contacts", token, body)


def fixture(name, **values):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        text = f.read()
    for key, value in values.items():
        # Values go inside JSON strings: escape them as JSON does.
        text = text.replace(f"__{key}__", json.dumps(value, ensure_ascii=False)[1:-1])
    return text


FUNCTIONS = ["api", "planner", "dispatcher", "sender", "quarterly-summary"]


class Watch:
    """`cargo lambda watch` on 127.0.0.1 with the functions' environment.

    With E2E_BIN_DIR set (scripts/test sets it), the functions are the binaries already built
    there: the watch serves only the Lambda runtime APIs and each function runs as a process
    of its own polling them, as on Lambda. Without it, the watch builds and starts each
    function itself (`cargo run --bin NAME`), which a developer may prefer and which takes a
    build of its own."""

    def __init__(self, env, phase):
        self.port = free_port()
        self.env = env
        self.log = log_file(f"lambda-watch-{phase}")
        # The invocations' own output; their stdout is the function's answer (data, not logs).
        self.invoke_log = log_file(f"lambda-invoke-{phase}")
        self.functions = []
        bin_dir = os.environ.get("E2E_BIN_DIR")
        command = [CARGO_LAMBDA, "lambda", "watch", "-A", "127.0.0.1", "-P", str(self.port)]
        if bin_dir:
            command.append("--only-lambda-apis")
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None:
                    fail(f"cargo lambda watch exited ({self.proc.returncode}); see {self.log.name}")
                time.sleep(0.2)
        else:
            fail("cargo lambda watch did not listen")
        if bin_dir:
            for name in FUNCTIONS:
                binary = os.path.join(bin_dir, name)
                if not os.access(binary, os.X_OK):
                    fail(f"{binary} is missing: build the functions first")
                # What cargo lambda watch gives the processes it starts (its watcher.rs).
                function_env = dict(env, AWS_LAMBDA_FUNCTION_NAME=name, AWS_LAMBDA_FUNCTION_VERSION="1",
                                    AWS_LAMBDA_FUNCTION_MEMORY_SIZE="4096", AWS_LAMBDA_MAX_CONCURRENCY="1",
                                    AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{self.port}/.rt/{name}")
                self.functions.append(subprocess.Popen([binary], cwd=ROOT, env=function_env, stdout=self.log,
                                                       stderr=subprocess.STDOUT))

    def invoke(self, function, payload):
        path = os.path.join(ROOT, "target", "test-servers", f"event-{function}-{uuid.uuid4().hex[:6]}.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(payload)
        out = subprocess.run(
            [CARGO_LAMBDA, "lambda", "invoke", function, "--data-file", path,
             "--invoke-address", "127.0.0.1", "--invoke-port", str(self.port), "--output-format", "json"],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=900,
        )
        self.invoke_log.write(out.stderr)
        if out.returncode != 0:
            fail(f"invoke {function} failed: {out.stderr[-2000:]}")
        return json.loads(out.stdout)

    def api(self, method, path, token, body=None, content_type="application/json"):
        payload = fixture(
            "apigw-v2-request.json", PATH=path, METHOD=method, TOKEN=token, CONTENT_TYPE=content_type,
            BODY=body if isinstance(body, str) else json.dumps(body or {}, ensure_ascii=False),
        )
        response = self.invoke("api", payload)
        status = response.get("statusCode")
        answer = json.loads(response.get("body") or "null")
        if status is None or status >= 400:
            fail(f"{method} {path} answered {status}: {answer}")
        return answer

    def page(self, path, cookie):
        """A dashboard page as a browser asks the HTTP API for it: its session in a cookie."""
        response = self.invoke("api", fixture("apigw-v2-page.json", PATH=path, COOKIE=cookie))
        return response.get("statusCode"), response.get("headers") or {}, response.get("body") or ""

    def scheduled(self, function, at):
        return self.invoke(function, fixture("eventbridge-scheduled.json", TIME=at.isoformat().replace("+00:00", "Z"), JOB=function))

    def stop(self):
        for function in self.functions:
            function.terminate()
            try:
                function.wait(timeout=20)
            except subprocess.TimeoutExpired:
                function.kill()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        self.invoke_log.close()


def daytime_zone(now):
    """A zone where the reminder (in 2 h) and the session (in 3 h) fall between 08:00 and
    21:00 local, so quiet hours never decide this test."""
    for name in ["Asia/Ho_Chi_Minh", "Europe/Berlin", "America/Sao_Paulo", "America/New_York", "America/Los_Angeles", "Pacific/Honolulu", "Asia/Tokyo", "Australia/Sydney"]:
        local = now.astimezone(zoneinfo.ZoneInfo(name))
        if 8 <= local.hour <= 17:
            return name
    fail("no daytime zone found")


def send_pending(watch, sqs, queue_url):
    """Feed the SQS messages to the sender function as SQS batch events; returns how many."""
    handled = 0
    for _ in range(100):
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return handled
        event = json.loads(fixture("sqs-batch.json", MESSAGE_ID="x", RECEIPT="x", BODY="x"))
        template = event["Records"][0]
        event["Records"] = [dict(template, messageId=m["MessageId"], receiptHandle=m["ReceiptHandle"], body=m["Body"]) for m in got]
        response = watch.invoke("sender", json.dumps(event, ensure_ascii=False))
        failures = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        if failures:
            fail(f"the sender reported failures: {failures}")
        for m in got:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        handled += len(got)
    fail("the queue never drained")


def campaign_body(name, session, zone, commune):
    local = session.astimezone(zoneinfo.ZoneInfo(zone))
    return {
        "name": name,
        "period": {"start": local.date().isoformat(), "end": local.date().isoformat()},
        "target_units": [commune],
        "schedule": {"cron": f"{local.minute} {local.hour} {local.day} {local.month} *", "time_zone": zone},
        "default_venue": "Nhà văn hoá thôn Đông",
        "capacity": 40,
        "reminder_rules": [{"id": "r1", "offset_minutes": 60, "audience": "citizens", "channels": ["sms", "email"]}],
    }


def main():
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "ap-southeast-1"))
    for path in [OUTREACH, CARGO_LAMBDA]:
        if not os.access(path, os.X_OK):
            fail(f"{path} is missing")
    start_logs()
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    session = now + datetime.timedelta(hours=3)
    due = session - datetime.timedelta(hours=1)
    zone = daytime_zone(now)
    table = f"outreach-e2e-{RUN}"
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"outreach-e2e-{RUN}", Attributes={"VisibilityTimeout": "900"})["QueueUrl"]
    boto3.client("sesv2").create_email_identity(EmailIdentity=FROM)
    base_env = dict(os.environ, OUTREACH_STORE=f"dynamodb:{table}", OUTREACH_QUEUE_URL=queue_url,
                    OUTREACH_JWT_SECRET=SECRET, OUTREACH_WEBHOOK_SECRET="e2e-webhook", OUTREACH_EMAIL_FROM=FROM,
                    OUTREACH_SMS="sns", OUTREACH_PUBLIC_URL="https://outreach.example.vn",
                    AWS_LAMBDA_LOG_FORMAT="json", RUST_LOG=RUST_LOG)
    with log_file("outreach") as log:
        subprocess.run([OUTREACH, "store", "init", "--store", f"dynamodb:{table}"], check=True, env=base_env,
                       stdout=log, stderr=subprocess.STDOUT)
        # The token is stdout; only the command's logs go to the file.
        token = subprocess.check_output([OUTREACH, "token", "--role", "admin", "--org", "24"], env=base_env, text=True,
                                        stderr=log).strip()

    # Phase 1: email by SES, SMS by SNS.
    watch = Watch(dict(base_env, OUTREACH_EMAIL="ses"), "phase1")
    try:
        units = [
            {"code": "24", "name": "Tỉnh Bắc Giang", "level": "province", "parent_code": None},
            {"code": "213", "name": "Thành phố Bắc Giang", "level": "district", "parent_code": "24"},
            {"code": "07441", "name": "Xã Tân Dĩnh", "level": "commune", "parent_code": "213"},
            {"code": "07228", "name": "Phường Đa Mai", "level": "commune", "parent_code": "213"},
        ]
        print("import:", watch.api("POST", "/v1/org-units:import", token, units))
        consent = [{"channel": "sms", "method": "paper_form", "wording_version": "v1"},
                   {"channel": "email", "method": "web_form", "wording_version": "v1"}]
        ses_contact = create_contact(watch, token, {
            "role": "citizen", "name": "Nguyễn Văn An", "commune_code": "07441", "phone": "0358 100 001",
            "email": f"an.{RUN}@example.vn", "consents": consent})
        create_contact(watch, token, {
            "role": "citizen", "name": "Trần Thị Bình", "commune_code": "07441", "phone": "0358 100 002"})
        campaign = watch.api("POST", "/v1/campaigns", token, campaign_body("Thứ Bảy dịch vụ công", session, zone, "07441"))
        watch.api("POST", f"/v1/campaigns/{campaign['id']}:activate", token)
        print("planner:", watch.scheduled("planner", now))
        print("dispatcher:", watch.scheduled("dispatcher", due))
        sent = send_pending(watch, sqs, queue_url)
        print("sender handled", sent, "messages")
        deliveries = watch.api("GET", f"/v1/deliveries?campaign={campaign['id']}", token)
        statuses = sorted((d["channel"], d["status"], d.get("reason")) for d in deliveries["items"])
        print("deliveries:", statuses)
        # The api function serves the dashboard too: the overview with a signed-in cookie,
        # and the sign-in page for a browser without one.
        status, _, body = watch.page("/ui/tong-quan", f"outreach_phien={token}")
        if status != 200 or 'lang="vi"' not in body or "Tổng quan" not in body:
            fail(f"GET /ui/tong-quan with a session cookie answered {status}: {body[:500]}")
        status, headers, _ = watch.page("/ui/tong-quan", "other=1")
        if status != 303 or headers.get("location") != "/ui/dang-nhap":
            fail(f"GET /ui/tong-quan without a session answered {status} {headers}")
        print("dashboard: the overview with a session cookie, the sign-in page without one")
    finally:
        watch.stop()

    data = json.load(urllib.request.urlopen(f"{ENDPOINT}/moto-api/data.json"))
    sms = [m for m in data.get("sns", {}).get("SMS", []) if m.get("phone_number") == "+84358100001"]
    if len(sms) != 1 or "Xa Tan Dinh" not in sms[0].get("message", ""):
        fail(f"SNS did not get exactly one reminder for +84358100001: {sms}")
    if any(m.get("phone_number") == "+84358100002" for m in data.get("sns", {}).get("SMS", [])):
        fail("a contact without consent got an SMS")
    mails = [m for m in data.get("ses", {}).get("RawMessage", []) if f"an.{RUN}@example.vn" in m.get("destinations", [])]
    if len(mails) != 1:
        fail(f"SES did not get exactly one reminder email: {len(mails)}")
    if "List-Unsubscribe-Post: List-Unsubscribe=One-Click" not in mails[0].get("raw_data", ""):
        fail("the SES email lacks the one-click unsubscribe header")
    print("phase 1: SNS SMS:", sms[0]["message"])

    # Phase 2: email by SMTP (the local server's Maildir).
    session2 = session + datetime.timedelta(minutes=30)
    watch = Watch(dict(base_env, OUTREACH_EMAIL="smtp", OUTREACH_SMTP_HOST=SMTP_HOST, OUTREACH_SMTP_PORT=SMTP_PORT),
                  "phase2")
    try:
        create_contact(watch, token, {
            "role": "citizen", "name": "Lê Minh Chi", "commune_code": "07228", "phone": "0358 100 003",
            "email": f"chi.{RUN}@example.vn", "consents": [{"channel": "email", "method": "web_form", "wording_version": "v1"}]})
        campaign2 = watch.api("POST", "/v1/campaigns", token, campaign_body("Ngày hội dịch vụ công", session2, zone, "07228"))
        watch.api("POST", f"/v1/campaigns/{campaign2['id']}:activate", token)
        watch.scheduled("planner", now)
        watch.scheduled("dispatcher", session2 - datetime.timedelta(hours=1))
        send_pending(watch, sqs, queue_url)
        # The quarterly summary, as EventBridge runs it at 07:00 local on the first day of
        # the next quarter: a snapshot of the province, emailed to its planner.
        create_contact(watch, token, {
            "role": "planner", "name": "Bí thư Tỉnh đoàn", "commune_code": "24", "phone": "0358 100 024",
            "email": f"tinhdoan.{RUN}@example.vn"})
        quarter = (now.month - 1) // 3 + 1
        next_start = datetime.datetime(now.year + quarter // 4, quarter % 4 * 3 + 1, 1, tzinfo=datetime.timezone.utc)
        summary = watch.scheduled("quarterly-summary", next_start)
        print("quarterly-summary:", summary)
        units = {u["org_code"]: u for u in summary["units"]}
        if units.get("24", {}).get("emailed") != 1:
            fail(f"the quarterly summary did not email the province's planner: {summary}")
        snapshots = watch.api("GET", f"/v1/reports/quarterly/snapshots?year={now.year}&quarter={quarter}&org=24", token)
        if len(snapshots["items"]) != 1:
            fail(f"no snapshot kept: {snapshots}")
    finally:
        watch.stop()
    found = [m for m in mailbox.Maildir(MAILDIR, create=False) if f"chi.{RUN}@example.vn" in (m["To"] or "")]
    if len(found) != 1:
        fail(f"the SMTP server did not get exactly one reminder for chi.{RUN}@example.vn: {len(found)}")
    print("phase 2: SMTP email subject:", found[0]["Subject"])
    reports = [m for m in mailbox.Maildir(MAILDIR, create=False) if f"tinhdoan.{RUN}@example.vn" in (m["To"] or "")]
    if len(reports) != 1:
        fail(f"the SMTP server did not get exactly one quarterly report: {len(reports)}")
    attachments = [part.get_filename() for part in reports[0].walk() if part.get_filename()]
    if not any(name and name.endswith(".xlsx") for name in attachments):
        fail(f"the quarterly report email has no XLSX attached: {attachments}")
    print("phase 3: quarterly report emailed with", attachments)
    print("lambda e2e passed")


if __name__ == "__main__":
    main()
