// A planner's day in a real browser (headless Chromium driven by playwright-core), against
// `outreach serve` on SQLite: sign in with a one-time link; import a contact CSV with a bad
// row and see that row's error; create and activate a campaign, seeing the preview and the
// SMS segment count; edit it, adding a volunteers' reminder rule; see the sessions as a list, a week and a month; open a session, add a
// walk-in, record attendance and outcomes; see the overview's figures move; sign in as a commune officer and see only that commune; a forged
// cross-site form post is refused; on a phone, check three citizens and a walk-in in at the
// door, and see the attendance and the report's tallies equal a recount. Screenshots of
// every page go to $SCREENSHOTS.
//
//   OUTREACH_BIN=target/debug/outreach SCREENSHOTS=target/screenshots \
//   NODE_PATH=<dir with playwright-core> node tests/browser/planner_day.cjs
"use strict";
const { chromium } = require("playwright-core");
const { execFileSync, spawn } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const assert = require("node:assert/strict");

const BIN = path.resolve(process.env.OUTREACH_BIN || "target/debug/outreach");
const SHOTS = path.resolve(process.env.SCREENSHOTS || "target/screenshots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on("error", reject);
  });
}

// The local command's environment: its store and key are the directory's own.
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !["OUTREACH_STORE", "OUTREACH_JWT_SECRET", "AWS_ENDPOINT_URL"].includes(k)));

function outreach(dir, args) {
  return execFileSync(BIN, args, { cwd: dir, encoding: "utf8", env: ENV }).trim();
}

async function waitFor(url) {
  for (let i = 0; i < 100; i++) {
    try { const r = await fetch(url); if (r.ok) return; } catch (_) { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`serve did not come up at ${url}`);
}

const localDate = (d) => new Date(d.getTime() + 7 * 3600e3).toISOString().slice(0, 10);

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "outreach-browser-"));
  fs.writeFileSync(path.join(dir, "units.json"), JSON.stringify([
    { code: "24", name: "Tỉnh Bắc Giang", level: "province", parent_code: null },
    { code: "213", name: "Thành phố Bắc Giang", level: "district", parent_code: "24" },
    { code: "07201", name: "Phường Thọ Xương", level: "commune", parent_code: "213" },
    { code: "07202", name: "Phường Trần Nguyên Hãn", level: "commune", parent_code: "213" },
  ]));
  outreach(dir, ["org-units", "import", "units.json"]);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(BIN, ["serve", "--addr", `127.0.0.1:${port}`, "--planner-every-minutes", "60"], {
    cwd: dir, stdio: ["ignore", "ignore", fs.openSync(path.join(SHOTS, "serve.log"), "w")],
    env: ENV,
  });
  let browser;
  try {
    await waitFor(`${base}/healthz`);
    const admin = outreach(dir, ["token", "--role", "admin", "--org", "24"]);
    const api = async (method, p, body) => {
      const r = await fetch(base + p, { method, headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" }, body: body && JSON.stringify(body) });
      const json = await r.json().catch(() => null);
      assert.ok(r.ok, `${method} ${p}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    };
    const consent = [{ channel: "sms", method: "paper_form", wording_version: "v1" }];
    const citizen = await api("POST", "/v1/contacts", { role: "citizen", name: "Nguyễn Văn An", commune_code: "07201", phone: "0981000001", consents: consent });
    await api("POST", "/v1/contacts", { role: "citizen", name: "Lê Thị Bích", commune_code: "07202", phone: "0981000003", consents: consent });
    const volunteer = await api("POST", "/v1/contacts", { role: "volunteer", name: "Trần Minh Đức", commune_code: "07201", phone: "0981000002", consents: consent });
    await api("PUT", "/v1/teams/07201", { name: "Đội TN Thọ Xương", member_ids: [volunteer.id] });
    // A daily campaign that began yesterday: today's session has started (at 00:00 local).
    const now = new Date();
    const yesterday = new Date(now.getTime() - 24 * 3600e3);
    const daily = await api("POST", "/v1/campaigns", {
      name: "Hỗ trợ dịch vụ công hằng ngày", period: { start: localDate(yesterday), end: localDate(new Date(now.getTime() + 30 * 24 * 3600e3)) },
      target_units: ["07201"], schedule: { cron: "0 0 * * *" }, session_minutes: 60, capacity: 30, min_staff: 1, default_venue: "Nhà văn hóa tổ 5",
    });
    await api("POST", `/v1/campaigns/${daily.id}:activate`);
    const year = Number(localDate(now).slice(0, 4));
    await api("PUT", `/v1/targets/${year}/213`, { targets: [{ metric: "dossiers_supported", value: 1000 }] });
    outreach(dir, ["run", "planner", "--now", new Date(now.getTime() - 30 * 3600e3).toISOString()]);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-background-networking"] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "vi-VN" });
    const page = await context.newPage();
    const shot = async (name, p = page) => p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

    // Sign in with a one-time link.
    const link = outreach(dir, ["login-link", "--role", "planner", "--org", "213", "--sub", "can-bo-ke-hoach", "--url", base]);
    await page.goto(link);
    await shot("00-dang-nhap-lien-ket");
    await page.getByRole("button", { name: "Đăng nhập" }).click();
    await page.waitForURL(`${base}/ui/tong-quan`);
    const before = await page.locator(".card.target dd").nth(1).innerText();
    await shot("01-tong-quan-truoc");

    // Import a contact CSV with a bad row (line 3).
    await page.getByRole("link", { name: "Người" }).click();
    const csv = path.join(dir, "danh-sach.csv");
    fs.writeFileSync(csv, "\ufeffname,phone,role,commune_code,consent_sms,consent_method,consent_wording_version\r\nVõ Thị Giang,0981000011,citizen,07201,yes,paper_form,v1\r\nĐặng Văn Hùng,12345,citizen,07201,yes,paper_form,v1\r\n");
    await page.setInputFiles("#file", csv);
    await page.getByRole("button", { name: "Nhập danh sách" }).click();
    await page.getByText("Đã nhập 1 người.").waitFor();
    const refused = page.locator("table.refused tbody tr");
    assert.equal(await refused.count(), 1);
    assert.equal(await refused.locator("td").first().innerText(), "3");
    assert.match(await refused.innerText(), /Số điện thoại không hợp lệ/);
    await shot("02-nguoi-nhap-loi-dong-3");

    // Create a campaign: preview with the segment count, then create and activate.
    await page.getByRole("link", { name: "Chiến dịch" }).click();
    await shot("03-chien-dich-danh-sach");
    await page.getByRole("link", { name: "Tạo chiến dịch" }).click();
    await page.fill("#name", "Tuần lễ dịch vụ công");
    await page.selectOption("#target", "213");
    await page.getByRole("button", { name: "Xem trước lịch và chi phí SMS" }).click();
    await page.locator("#xem-truoc").waitFor();
    assert.match(await page.locator("#h-preview").innerText(), /Xem trước: \d+ buổi/);
    const segments = await page.locator("td.segment-count").allInnerTexts();
    assert.ok(segments.length >= 1 && segments.every((s) => Number(s) >= 1), segments.join());
    assert.match(await page.locator("#segments-live-0").innerText(), /tin/);
    // Asking whether people will come adds the question to the count as it is ticked.
    const units = async () => Number((await page.locator("#segments-live-0").innerText()).match(/(\d+) ký tự/)[1]);
    const plain = await units();
    await page.check("input[name=answer_0]");
    assert.ok((await units()) > plain + 30, `the question is counted: ${plain} → ${await units()}`);
    await page.uncheck("input[name=answer_0]");
    assert.equal(await units(), plain);
    await shot("03-chien-dich-moi-xem-truoc");
    await page.getByRole("button", { name: "Tạo chiến dịch (bản nháp)" }).click();
    await page.getByText("Đã tạo chiến dịch").waitFor();
    await page.getByRole("button", { name: "Kích hoạt" }).click();
    await page.getByText("Đã kích hoạt").waitFor();
    assert.equal(await page.locator("#campaign-status").innerText(), "Đang chạy");
    await shot("04-chien-dich-kich-hoat");

    // Edit the running campaign: add a volunteers' rule, see its SMS cost, save.
    await page.getByRole("link", { name: "Sửa", exact: true }).click();
    await page.getByRole("heading", { name: "Sửa chiến dịch" }).waitFor();
    assert.match(await page.locator("#co-dinh").innerText(), /Không đổi được/);
    await page.getByRole("button", { name: "+ Thêm nhắc tình nguyện viên" }).click();
    await page.locator("#quy-tac-1").waitFor();
    assert.equal(await page.locator("#audience_1").inputValue(), "volunteers");
    await page.fill("#offset_hours_1", "3");
    await page.fill("#sms_template_1", "Nhắc {name}: buổi hỗ trợ ở {venue} lúc {time} {date}.");
    assert.match(await page.locator("#segments-live-1").innerText(), /Ước tính: \d+ ký tự, 1 tin/);
    await page.check("input[name=unicode]");
    await page.getByRole("button", { name: "Xem trước lịch và chi phí SMS" }).click();
    await page.locator("#quy-tac-1 td.segment-count").first().waitFor();
    assert.match(await page.locator("#quy-tac-1").innerText(), /dạng Unicode/);
    await shot("04b-chien-dich-sua-them-quy-tac");
    await page.uncheck("input[name=unicode]");
    await page.getByRole("button", { name: "Lưu thay đổi" }).click();
    await page.getByText("Đã lưu thay đổi.").waitFor();
    assert.match(await page.locator("main").innerText(), /tình nguyện viên phụ trách/);
    await shot("04c-chien-dich-da-sua");

    // Today's session: a walk-in, attendance and outcomes.
    await page.getByRole("link", { name: "Lịch buổi" }).click();
    await page.fill("#commune", "07201");
    await page.fill("#from", localDate(yesterday));
    await page.getByRole("button", { name: "Lọc" }).click();
    await shot("05-lich-buoi");
    // The same sessions as a week and as a month, the commune's filter carried along.
    await page.getByRole("link", { name: "Tuần", exact: true }).click();
    await page.locator(".calendar.tuan").waitFor();
    assert.match(await page.locator("#h-calendar").innerText(), /^Tuần \d\d\/\d\d\/\d{4} – \d\d\/\d\d\/\d{4}/);
    assert.equal(await page.locator("#commune").inputValue(), "07201");
    const today = page.locator(".calendar .day.today li").filter({ hasText: "Hỗ trợ dịch vụ công hằng ngày" });
    assert.equal(await today.count(), 1, "today's session in the week");
    assert.match(await today.innerText(), /TNV 0\/1/);
    await shot("05b-lich-tuan");
    await page.getByRole("link", { name: "Tháng", exact: true }).click();
    await page.locator(".calendar.thang").waitFor();
    assert.match(await page.locator("#h-calendar").innerText(), /^Tháng \d{1,2}\/\d{4}/);
    assert.ok(await page.locator(".calendar .day li").count() >= 1);
    await shot("05c-lich-thang");
    await page.getByRole("link", { name: "Danh sách", exact: true }).click();
    await page.locator("table.sessions").waitFor();
    await page.locator("table.sessions tbody tr").filter({ hasText: "Hỗ trợ dịch vụ công hằng ngày" }).filter({ hasText: localDate(now).split("-").reverse().join("/") }).getByRole("link").click();
    await page.getByRole("heading", { name: "Tham dự" }).waitFor();
    await page.getByLabel(/Nguyễn Văn An/).check();
    await page.fill("#walkin_phone_0", "0362345678");
    await page.fill("#walkin_name_0", "Phạm Văn Em");
    await page.getByRole("button", { name: "Lưu danh sách tham dự" }).click();
    await page.getByText("Đã lưu danh sách tham dự.").waitFor();
    assert.match(await page.locator("#tham-du + p").innerText(), /2 người tham dự, trong đó 1 người đến trực tiếp/);
    await page.fill("#m_dossiers_supported", "12");
    await page.getByRole("button", { name: "Lưu kết quả" }).click();
    await page.getByText("Đã lưu kết quả buổi.").waitFor();
    const sessionUrl = page.url().split("?")[0];
    await shot("06-buoi-tham-du-ket-qua");

    // The overview's figures moved.
    await page.getByRole("link", { name: "Tổng quan" }).click();
    const after = await page.locator(".card.target dd").nth(1).innerText();
    assert.notEqual(after, before, `year to date ${before} → ${after}`);
    assert.equal(after, "12");
    await shot("07-tong-quan-sau");
    await page.getByRole("link", { name: "Chỉ tiêu và báo cáo" }).click();
    await shot("08-bao-cao");

    // A commune officer sees only their commune.
    await page.getByRole("button", { name: "Đăng xuất" }).click();
    await page.waitForURL(`${base}/ui/dang-nhap`);
    await shot("09-dang-nhap");
    const officerLink = outreach(dir, ["login-link", "--role", "commune_officer", "--org", "07202", "--sub", "can-bo-xa", "--url", base]);
    await page.goto(officerLink);
    await page.getByRole("button", { name: "Đăng nhập" }).click();
    await page.waitForURL(`${base}/ui/tong-quan`);
    await page.getByRole("link", { name: "Người" }).click();
    const people = await page.locator("main").innerText();
    assert.match(people, /Lê Thị Bích/);
    assert.doesNotMatch(people, /Nguyễn Văn An/);
    assert.equal(await page.getByRole("link", { name: "Chiến dịch" }).count(), 0, "no campaigns menu for an officer");
    await shot("10-can-bo-xa-nguoi");
    const foreign = await page.goto(sessionUrl);
    assert.equal(foreign.status(), 404, "a session of 07201 for an officer of 07202");

    // A forged form on another site, posting to the dashboard while the officer of 07201 is
    // signed in: the browser sends no SameSite=Strict cookie, and the server refuses it.
    const officer2 = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, locale: "vi-VN" });
    const phone = await officer2.newPage();
    await phone.goto(outreach(dir, ["login-link", "--role", "commune_officer", "--org", "07201", "--sub", "can-bo-xa-2", "--url", base]));
    await phone.getByRole("button", { name: "Đăng nhập" }).click();
    await phone.waitForURL(`${base}/ui/tong-quan`);
    await phone.goto(sessionUrl);
    await shot("11-buoi-tren-dien-thoai", phone);
    await phone.goto(`${base}/ui/buoi/lich?view=tuan`);
    assert.equal(await phone.locator(".calendar .weekday-head").first().isVisible(), false, "a week is a list of days on a phone");
    await shot("11b-lich-tuan-tren-dien-thoai", phone);
    await phone.goto(sessionUrl);
    const evilPort = await freePort();
    const sessionId = sessionUrl.split("/").pop();
    const evil = http.createServer((_, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<form id=f method=post action="${base}/ui/buoi/${sessionId}/diem-danh"><input name=present value="${citizen.id}"></form><script>document.getElementById("f").submit()</script>`);
    }).listen(evilPort, "127.0.0.1");
    try {
      const answered = phone.waitForResponse((r) => r.url().includes("/diem-danh"));
      await phone.goto(`http://localhost:${evilPort}/`);
      const response = await answered;
      assert.ok([303, 403].includes(response.status()), `forged post answered ${response.status()}`);
    } finally {
      evil.close();
    }
    const record = await api("GET", `/v1/sessions/${sessionId}/attendance`);
    assert.equal(record.attendees.length, 2, "the forged post changed nothing");
    await shot("12-bi-tu-choi", phone);

    // At the door, on the phone: three registered citizens found by name (accents optional)
    // or by the last digits of their number, and a walk-in, each checked in with one tap.
    for (const [name, phoneNo] of [["Hoàng Thị Mai", "0981000021"], ["Vũ Văn Nam", "0981000022"], ["Đỗ Thu Hà", "0981000023"]]) {
      await api("POST", "/v1/contacts", { role: "citizen", name, commune_code: "07201", phone: phoneNo, consents: consent });
    }
    await phone.goto(sessionUrl);
    await phone.getByRole("link", { name: "Điểm danh tại cửa" }).click();
    await phone.getByRole("heading", { name: "Điểm danh tại cửa" }).waitFor();
    const checkIn = async (query, name) => {
      await phone.fill("#q", query);
      await phone.getByRole("button", { name: "Tìm", exact: true }).click();
      await phone.getByRole("button", { name: `Điểm danh ${name}` }).click();
      await phone.getByText(`Đã điểm danh: ${name}.`).waitFor();
    };
    await checkIn("hoang thi mai", "Hoàng Thị Mai");
    await checkIn("0022", "Vũ Văn Nam");
    await checkIn("Thu Hà", "Đỗ Thu Hà");
    await phone.fill("#phone", "0362345699");
    await phone.fill("#name", "Lý Văn Phúc");
    await phone.getByRole("button", { name: "Ghi nhận người đến trực tiếp" }).click();
    await phone.getByText("Đã điểm danh: Lý Văn Phúc.").waitFor();
    assert.equal(await phone.locator("#so-da-den").innerText(), "6");
    // Found again: already in, no button.
    await phone.fill("#q", "0021");
    await phone.getByRole("button", { name: "Tìm", exact: true }).click();
    assert.match(await phone.locator(".checkin-list").innerText(), /Hoàng Thị Mai[\s\S]*✓ Đã đến/);
    await shot("13-diem-danh-tai-cua-tren-dien-thoai", phone);
    // The attendance is the two recorded before and the four checked in; the report's
    // tallies for the commune equal a recount of it.
    const checked = await api("GET", `/v1/sessions/${sessionId}/attendance`);
    assert.equal(checked.attendees.length, 6);
    assert.equal(checked.attendees.filter((a) => a.walk_in).length, 2);
    const q = Math.floor((Number(localDate(now).slice(5, 7)) - 1) / 3) + 1;
    const report = await api("GET", `/v1/reports/quarterly?year=${year}&quarter=${q}&org=07201`);
    const figure = (metric) => report.rows.find((r) => r.code === "07201" && r.metric === metric)?.quarter_value;
    assert.equal(figure("attendees"), 6, JSON.stringify(report.rows.filter((r) => r.code === "07201")));
    console.log(`planner's day: passed; screenshots in ${SHOTS}`);
  } finally {
    if (browser) await browser.close();
    server.kill("SIGTERM");
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
