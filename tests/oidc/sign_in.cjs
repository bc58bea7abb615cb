// The dashboard's sign-in through an identity provider, end to end: a real OpenID Connect
// provider (the npm package oidc-provider, with its development sign-in pages) on
// 127.0.0.1, a real `outreach serve` that checks tokens with that provider's keys, and
// headless Chromium (playwright-core) signing in through the authorization code flow with
// PKCE. The provider is addressed as `localhost` and the dashboard as `127.0.0.1`, two
// sites, so the browser treats the way back from the provider as the cross-site
// navigation it is on AWS (SameSite rules apply as they will there).
//
// Proves: a planner signs in and lands on the overview with the role and unit of the
// token's claims (Cognito's custom:role and custom:org), and the session is an API token;
// refused, with a Vietnamese message and no session: an answer whose `state` is not the
// browser's, a code used a second time, a sign-in cancelled at the provider
// (access_denied), an account without a role and unit; tokens signed by another key or
// naming another issuer open no session and no API call.
//
//   OUTREACH_BIN=target/debug/outreach SCREENSHOTS=target/screenshots \
//   NODE_PATH=<playwright-core's and oidc-provider's node_modules> node tests/oidc/sign_in.cjs
"use strict";
const { chromium } = require("playwright-core");
const { execFileSync, spawn } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { pathToFileURL } = require("node:url");
const assert = require("node:assert/strict");

const BIN = path.resolve(process.env.OUTREACH_BIN || "target/debug/outreach");
const SHOTS = path.resolve(process.env.SCREENSHOTS || "target/screenshots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const CLIENT_ID = "outreach-dashboard";
const CLIENT_SECRET = "a-client-secret-as-cognito-gives-one";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on("error", reject);
  });
}

async function waitFor(url) {
  for (let i = 0; i < 100; i++) {
    try { const r = await fetch(url); if (r.ok) return; } catch (_) { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing answers at ${url}`);
}

/// An RS256 key pair with its kid: the provider's, or a stranger's.
function rsaKey(kid) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const meta = { kid, alg: "RS256", use: "sig" };
  return { kid, privateKey, privateJwk: { ...privateKey.export({ format: "jwk" }), ...meta }, publicJwk: { ...publicKey.export({ format: "jwk" }), ...meta } };
}

/// A JWT signed with `key` (RS256), as a provider would sign an ID token.
function signJwt(key, claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const input = `${part({ alg: "RS256", typ: "JWT", kid: key.kid })}.${part(claims)}`;
  return `${input}.${crypto.sign("sha256", Buffer.from(input), key.privateKey).toString("base64url")}`;
}

/// The identity provider's accounts: a planner of district 213, and one nobody gave a role.
const ACCOUNTS = {
  "ke-hoach-213": { "custom:role": "planner", "custom:org": "213" },
  "chua-co-vai-tro": {},
};

async function startProvider(issuer, port, callback, key) {
  const { default: Provider } = await import(pathToFileURL(require.resolve("oidc-provider")).href);
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [callback],
      grant_types: ["authorization_code"], response_types: ["code"], token_endpoint_auth_method: "client_secret_basic",
    }],
    jwks: { keys: [key.privateJwk] },
    // PKCE for every client (the default asks it of public clients only): a request without
    // an S256 challenge, or a token request without its verifier, fails.
    pkce: { required: () => true },
    // Cognito puts the user's attributes in the ID token; oidc-provider does so only when
    // told (by default a code flow's ID token carries just sub).
    conformIdTokenClaims: false,
    claims: { openid: ["sub"], outreach: ["custom:role", "custom:org"] },
    findAccount: (_ctx, id) => ACCOUNTS[id] && { accountId: id, claims: () => ({ sub: id, ...ACCOUNTS[id] }) },
    cookies: { keys: ["a-cookie-key-of-the-test-provider"] },
    features: { devInteractions: { enabled: true } },
  });
  provider.on("server_error", (_ctx, e) => console.error("provider server_error:", e));
  return new Promise((resolve, reject) => {
    const server = provider.listen(port, "127.0.0.1", () => resolve(server));
    server.on("error", reject);
  });
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "outreach-oidc-"));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OUTREACH_") && k !== "AWS_ENDPOINT_URL"));
  fs.writeFileSync(path.join(dir, "units.json"), JSON.stringify([
    { code: "24", name: "Tỉnh Bắc Giang", level: "province", parent_code: null },
    { code: "213", name: "Thành phố Bắc Giang", level: "district", parent_code: "24" },
    { code: "07201", name: "Phường Thọ Xương", level: "commune", parent_code: "213" },
  ]));
  execFileSync(BIN, ["org-units", "import", "units.json"], { cwd: dir, env, encoding: "utf8" });

  const [port, providerPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  const issuer = `http://localhost:${providerPort}`;
  const callback = `${base}/ui/dang-nhap/oidc`;
  const key = rsaKey("provider-key-1");
  const stranger = rsaKey("provider-key-1");
  const provider = await startProvider(issuer, providerPort, callback, key);
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  assert.equal(discovery.issuer, issuer);
  // outreach checks tokens with the keys the provider publishes, as the template passes
  // JwtJwks on AWS.
  const jwks = await (await fetch(discovery.jwks_uri)).text();
  assert.equal(JSON.parse(jwks).keys[0].kid, key.kid);

  const server = spawn(BIN, ["serve", "--addr", `127.0.0.1:${port}`, "--planner-every-minutes", "60"], {
    cwd: dir, stdio: ["ignore", "ignore", fs.openSync(path.join(SHOTS, "oidc-serve.log"), "w")],
    env: {
      ...env, RUST_LOG: "info", OUTREACH_JWKS: jwks, OUTREACH_JWT_ISSUER: issuer, OUTREACH_JWT_AUDIENCE: CLIENT_ID,
      OUTREACH_OIDC_CLIENT_ID: CLIENT_ID, OUTREACH_OIDC_CLIENT_SECRET: CLIENT_SECRET,
      OUTREACH_OIDC_SCOPES: "openid outreach", OUTREACH_OIDC_NAME: "Cổng đăng nhập thử",
    },
  });
  let browser;
  try {
    await waitFor(`${base}/healthz`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-background-networking"] });
    const fresh = async () => {
      const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, locale: "vi-VN" });
      // The provider's development pages import a web font: nothing leaves this machine.
      await context.route((url) => !["127.0.0.1", "localhost"].includes(url.hostname), (route) => route.abort());
      return context;
    };
    const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `oidc-${name}.png`), fullPage: true });
    const session = async (context) => (await context.cookies(`${base}/ui/`)).find((c) => c.name === "outreach_phien");

    // To the provider's sign-in page; the flow cookie it leaves, and the way back's URL
    // once the provider sends the browser back (a redirect, which playwright lets pass
    // without a route: it is recorded, not changed).
    const toProvider = async (page) => {
      const flow = { callback: null };
      page.on("request", (r) => { if (r.url().startsWith(`${callback}?`)) flow.callback = r.url(); });
      await page.goto(`${base}/ui/dang-nhap`);
      await page.getByRole("link", { name: "Đăng nhập qua Cổng đăng nhập thử" }).click();
      await page.waitForURL((u) => u.origin === issuer);
      flow.cookie = (await page.context().cookies(callback)).find((c) => c.name === "outreach_oidc");
      return flow;
    };
    const signInAt = async (page, login) => {
      await page.fill("input[name=login]", login);
      await page.fill("input[name=password]", "bất kỳ");
      await page.getByRole("button", { name: "Sign-in" }).click();
      await page.getByRole("button", { name: "Continue" }).click();
    };
    const refusedWith = async (page, message, name) => {
      await page.waitForURL((u) => u.href.startsWith(callback));
      await page.getByText(message).waitFor();
      assert.equal(await session(page.context()), undefined, `${name}: no session`);
      await shot(page, name);
    };

    // 1. A planner signs in through the provider and lands on the overview as planner of 213.
    let context = await fresh();
    let page = await context.newPage();
    const flow = await toProvider(page);
    assert.equal(flow.cookie.sameSite, "Lax");
    assert.equal(flow.cookie.httpOnly, true);
    await shot(page, "01-nha-cung-cap");
    await signInAt(page, "ke-hoach-213");
    await page.waitForURL(`${base}/ui/tong-quan`);
    await page.getByText("Cán bộ lập kế hoạch · 213").waitFor();
    await shot(page, "02-tong-quan");
    // What went to the provider: S256 PKCE, state and nonce; the flow cookie came back
    // across sites (SameSite=Lax).
    const query = new URL(flow.callback).searchParams;
    assert.ok(query.get("code") && query.get("state"), "the provider sent a code and the state back");
    assert.equal((await context.cookies(callback)).find((c) => c.name === "outreach_oidc"), undefined, "a flow is used once");
    const started = await fetch(`${base}/ui/dang-nhap/oidc/bat-dau`, { redirect: "manual" });
    const to = new URL(started.headers.get("location"));
    assert.equal(to.origin + to.pathname, discovery.authorization_endpoint);
    assert.equal(to.searchParams.get("code_challenge_method"), "S256");
    assert.match(to.searchParams.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
    assert.ok(to.searchParams.get("nonce") && to.searchParams.get("state"));
    assert.equal(to.searchParams.get("redirect_uri"), callback);
    assert.match(started.headers.get("set-cookie"), /^outreach_oidc=[^;]+; Path=\/ui\/dang-nhap\/oidc; HttpOnly; SameSite=Lax; Max-Age=600$/);
    const cookie = await session(context);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    assert.ok(Math.abs(cookie.expires - (Date.now() / 1000 + 3600)) < 120, "the session expires with the ID token (an hour)");
    // The session is the provider's ID token, which the API takes as a bearer token.
    const asApi = await fetch(`${base}/v1/org-units/213`, { headers: { authorization: `Bearer ${cookie.value}` } });
    assert.equal(asApi.status, 200, "the session's token is an API token");

    // 2. The same code again, with the same flow cookie: the provider refuses it.
    await context.clearCookies();
    await context.addCookies([flow.cookie]);
    const replay = await page.goto(flow.callback);
    assert.equal(replay.status(), 400);
    await refusedWith(page, "Mã xác thực không dùng được (đã dùng hoặc đã hết hạn). Hãy đăng nhập lại.", "03-ma-dung-lai");
    await context.close();

    // 3. Another browser's way back (its code, its state) in this browser, which has a
    // sign-in of its own under way: refused, as a page that tries to sign a victim in as
    // its author would be. The other browser lost its flow cookie, so its code is unused.
    context = await fresh();
    page = await context.newPage();
    const theirs = await toProvider(page);
    await context.clearCookies({ name: "outreach_oidc" });
    await signInAt(page, "ke-hoach-213");
    await page.getByText("Lượt đăng nhập này đã hết hạn hoặc không bắt đầu từ trình duyệt này. Hãy đăng nhập lại.").waitFor();
    assert.equal(await session(context), undefined);
    await context.close();
    context = await fresh();
    page = await context.newPage();
    await toProvider(page);
    const wrongState = await page.goto(theirs.callback);
    assert.equal(wrongState.status(), 400);
    await refusedWith(page, "Yêu cầu đăng nhập không khớp với lượt đăng nhập của trình duyệt này nên bị từ chối. Hãy đăng nhập lại.", "04-sai-state");
    await context.close();

    // 4. Cancelled at the provider: access_denied.
    context = await fresh();
    page = await context.newPage();
    await toProvider(page);
    await page.getByRole("link", { name: "[ Cancel ]" }).click();
    await refusedWith(page, "Bạn đã huỷ đăng nhập hoặc không đồng ý cấp quyền.", "05-huy");
    await context.close();

    // 5. An account without a role and unit.
    context = await fresh();
    page = await context.newPage();
    await toProvider(page);
    await signInAt(page, "chua-co-vai-tro");
    await refusedWith(page, "Tài khoản của bạn chưa được gán vai trò và đơn vị. Hãy liên hệ quản trị viên.", "06-chua-co-vai-tro");
    await context.close();

    // 6. Tokens made elsewhere, as the session cookie and as a bearer token: the provider's
    // claims signed by a stranger's key (with the provider's kid), and the provider's key
    // naming another issuer, open nothing; the same claims signed by the provider's key do.
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: "ke-hoach-213", iss: issuer, aud: CLIENT_ID, iat: now, exp: now + 3600, "custom:role": "admin", "custom:org": "24" };
    const tokens = {
      genuine: signJwt(key, claims),
      "another key": signJwt(stranger, claims),
      "another issuer": signJwt(key, { ...claims, iss: "http://localhost:1/khac" }),
    };
    for (const [what, token] of Object.entries(tokens)) {
      context = await fresh();
      page = await context.newPage();
      await context.addCookies([{ name: "outreach_phien", value: token, domain: "127.0.0.1", path: "/ui", httpOnly: true, sameSite: "Strict" }]);
      await page.goto(`${base}/ui/tong-quan`);
      const api = await fetch(`${base}/v1/org-units/24`, { headers: { authorization: `Bearer ${token}` } });
      if (what === "genuine") {
        assert.equal(new URL(page.url()).pathname, "/ui/tong-quan", "a token of the provider's key opens the overview");
        await page.getByText("Quản trị tỉnh · 24").waitFor();
        assert.equal(api.status, 200);
      } else {
        assert.equal(new URL(page.url()).pathname, "/ui/dang-nhap", `a token of ${what}: back to the sign-in page`);
        assert.equal(api.status, 401, `a token of ${what}: the API refuses it`);
      }
      await context.close();
    }

    // The log says what failed, in English, and never carries a token or code.
    const log = fs.readFileSync(path.join(SHOTS, "oidc-serve.log"), "utf8");
    assert.match(log, /signed in to the dashboard through the identity provider/);
    assert.match(log, /a sign-in through the identity provider failed/);
    assert.ok(!log.includes(cookie.value) && !log.includes(query.get("code")), "no token or code in the log");
    console.log("oidc sign-in: the code flow with PKCE signs in; a wrong state, a reused code, a cancelled sign-in, an account without a role, another key and another issuer are refused");
  } finally {
    if (browser) await browser.close();
    server.kill("SIGTERM");
    provider.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
