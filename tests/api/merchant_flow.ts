// The merchant flow through openapi-fetch, typed by openapi-typescript's `paths` generated from
// the committed OpenAPI document (tests/api/test_generated_client.py generates ./schema.d.ts next
// to a compiled copy of this file, type-checks it with tsc --strict, runs it under node).
// No request is written by hand: every call is a typed client.GET/POST/DELETE of a documented
// path. The middleware is what a browser does for a page: it keeps the cookies the server sets
// and sends the CSRF token the session answered with, as the document's security schemes say.
//
// argv: base URL (the document's server on the live server), username, password.
// stdout: one JSON line per step; the code is read from stdin after {"step": "created"}.
import createClient, { type Middleware } from "openapi-fetch";
import * as readline from "node:readline";
import type { components, paths } from "./schema";

type Problem = components["schemas"]["ProblemOut"];

const [baseUrl, username, password] = process.argv.slice(2);
const cookies = new Map<string, string>();
let csrfToken = "";

const browserLike: Middleware = {
  onRequest({ request }) {
    if (cookies.size > 0) {
      request.headers.set("Cookie", [...cookies].map(([name, value]) => `${name}=${value}`).join("; "));
    }
    if (request.method !== "GET" && csrfToken) {
      request.headers.set("X-CSRFToken", csrfToken);
    }
    return request;
  },
  onResponse({ response }) {
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(";");
      const at = pair.indexOf("=");
      const [name, value] = [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
      if (value === "" || value === '""' || /max-age=0/i.test(header)) cookies.delete(name);
      else cookies.set(name, value);
    }
    return response;
  },
};

const client = createClient<paths>({ baseUrl });
client.use(browserLike);

function say(step: string, data: object = {}): void {
  process.stdout.write(JSON.stringify({ step, ...data }) + "\n");
}

function fail(what: string, problem: Problem | undefined): never {
  throw new Error(`${what}: ${JSON.stringify(problem)}`);
}

async function readCode(): Promise<string> {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    lines.close();
    return line.trim();
  }
  throw new Error("no code on stdin");
}

async function main(): Promise<void> {
  const first = await client.GET("/session");
  if (!first.data) fail("GET /session", first.error);
  csrfToken = first.data.csrf_token;
  const wrong = await client.POST("/session", { body: { username, password: password + "-wrong" } });
  say("wrong-password", { status: wrong.response.status, type: wrong.error?.type });
  const signedIn = await client.POST("/session", { body: { username, password } });
  if (!signedIn.data) fail("POST /session", signedIn.error);
  csrfToken = signedIn.data.csrf_token; // rotated at sign-in
  say("signed-in", { username: signedIn.data.username });

  const created = await client.POST("/registrations", {
    body: { phone_number: "+44 7400 123456", method: "sms" },
  });
  if (!created.data) fail("POST /registrations", created.error);
  const id = created.data.id;
  const path = { path: { public_id: id } };
  say("created", { id, e164: created.data.phone_e164, outcome: created.data.last_code_request?.outcome });

  const code = await readCode();
  const accepted = await client.POST("/registrations/{public_id}/check", { params: path, body: { code } });
  if (!accepted.data) fail("check", accepted.error);
  say("checked", { status: accepted.data.status });

  const seen: string[] = [];
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const now = await client.POST("/registrations/{public_id}/refresh", { params: path });
    if (!now.data) fail("refresh", now.error);
    seen.push(now.data.status);
    if (now.data.done) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const read = await client.GET("/registrations/{public_id}", { params: path });
  if (!read.data) fail("read", read.error);
  say("done", { seen, progress: read.data.step });

  const out = await client.DELETE("/session");
  const after = await client.GET("/registrations");
  say("signed-out", { status: out.response.status, after: after.response.status, type: after.error?.type });
}

main().catch((error: unknown) => {
  process.stderr.write(String(error instanceof Error ? error.stack : error) + "\n");
  process.exit(1);
});
