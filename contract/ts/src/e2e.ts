// End-to-end flow of the TypeScript client against a running Tether API.
//
// The client is openapi-fetch typed by the paths that openapi-typescript
// generates from openapi.yaml into src/schema.d.ts, so a request or response
// that drifts from the spec is a compile error under strict tsc. Run by
// TestTypeScriptClient_FlowAgainstDev in package contract:
//
//	TETHER_API_URL=http://127.0.0.1:8080 node dist/e2e.js
//
// It exits non-zero, naming the step, on the first unexpected response.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Problem = components["schemas"]["Problem"];
type User = components["schemas"]["User"];
type Message = components["schemas"]["Message"];

const baseUrl = process.env["TETHER_API_URL"];
if (!baseUrl) {
  console.error("e2e: set TETHER_API_URL to the API's base URL");
  process.exit(2);
}

const password = "correct horse battery";
const api = createClient<paths>({ baseUrl, signal: AbortSignal.timeout(60_000) });

function fail(step: string, detail: unknown): never {
  throw new Error(`${step}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
}

function check(step: string, ok: boolean, detail: unknown): void {
  if (!ok) fail(step, detail);
}

// expectProblem checks a typed error body: the status and stable code.
function expectProblem(step: string, response: Response, error: Problem | undefined, status: number, code: Problem["code"]): void {
  check(step, response.status === status && error !== undefined, { status: response.status, error });
  check(step, error?.code === code && error.status === status && error.type === `https://tether.im/problems/${code}`, error);
}

function auth(token: string): { headers: { Authorization: string } } {
  return { headers: { Authorization: `Bearer ${token}` } };
}

async function main(): Promise<void> {
  const health = await api.GET("/healthz");
  check("healthz", health.data?.status === "ok", health.error);

  // Accounts.
  const users: Record<string, User> = {};
  for (const username of ["alice", "bob"]) {
    const { data, error, response } = await api.POST("/v1/accounts", { body: { username, password } });
    check(`register ${username}`, response.status === 201 && data?.username === username, error);
    users[username] = data!;
  }
  const alice = users["alice"]!;
  const bob = users["bob"]!;
  const dup = await api.POST("/v1/accounts", { body: { username: "ALICE", password } });
  expectProblem("register taken name", dup.response, dup.error, 409, "conflict");

  // Sessions.
  const login = async (username: string) => {
    const { data, error, response } = await api.POST("/v1/sessions", {
      body: { username, password, device_id: `${username}-web`, platform: "web" },
    });
    check(`login ${username}`, response.status === 201 && data?.token_type === "Bearer", error);
    return data!;
  };
  const aliceTokens = await login("alice");
  let bobTokens = await login("bob");
  const wrong = await api.POST("/v1/sessions", {
    body: { username: "alice", password: "not the password", device_id: "x", platform: "web" },
  });
  expectProblem("login wrong password", wrong.response, wrong.error, 401, "unauthorized");
  const refreshed = await api.POST("/v1/sessions/refresh", { body: { refresh_token: bobTokens.refresh_token } });
  check("refresh", refreshed.data?.session_id === bobTokens.session_id, refreshed.error);
  bobTokens = refreshed.data!;
  const asAlice = auth(aliceTokens.access_token);
  const asBob = auth(bobTokens.access_token);

  // Users.
  const me = await api.GET("/v1/users/me", asAlice);
  check("me", me.data?.id === alice.id && me.data.username === "alice", me.error);
  const byName = await api.GET("/v1/users/by-name/{username}", { params: { path: { username: "Bob" } }, ...asAlice });
  check("user by name", byName.data?.id === bob.id, byName.error);
  const byId = await api.GET("/v1/users/{id}", { params: { path: { id: bob.id } }, ...asAlice });
  check("user by id", byId.data?.username === "bob", byId.error);
  const noUser = await api.GET("/v1/users/{id}", { params: { path: { id: bob.id + 1000 } }, ...asAlice });
  expectProblem("unknown user id", noUser.response, noUser.error, 404, "not_found");

  // Send, and retry with the same client_msg_id: 201, then 200 with the same message.
  const body = { recipient_id: bob.id, client_msg_id: "ts-1", type: "text" as const, content: { text: "hi from ts" } };
  const sent = await api.POST("/v1/messages", { body, ...asAlice });
  check("send", sent.response.status === 201 && sent.data?.sender_id === alice.id, sent.error);
  const message: Message = sent.data!;
  const retry = await api.POST("/v1/messages", { body, ...asAlice });
  check("send retry", retry.response.status === 200 && retry.data?.id === message.id, { status: retry.response.status, error: retry.error });

  // Sync.
  const synced = await api.GET("/v1/sync", { params: { query: { since: 0 } }, ...asBob });
  const page = synced.data;
  check("sync", page !== undefined && page.entries.length === 1 && !page.has_more && page.head_version === 1, synced.error ?? page);
  const entry = page!.entries[0]!;
  check("sync entry", entry.version === 1 && entry.kind === "message" && entry.message?.id === message.id, entry);
  const caughtUp = await api.GET("/v1/sync", { params: { query: { since: page!.next_since, limit: 10 } }, ...asBob });
  check("sync caught up", caughtUp.data?.entries.length === 0 && caughtUp.data.head_version === 1, caughtUp.error ?? caughtUp.data);

  // History.
  const history = await api.GET("/v1/conversations/{conversation_id}/messages", {
    params: { path: { conversation_id: message.conversation_id }, query: { limit: 10 } },
    ...asBob,
  });
  check("history", history.data?.messages.length === 1 && history.data.messages[0]?.id === message.id, history.error);

  // Errors: malformed JSON, unknown recipient, bad token, unknown route.
  const malformed = await api.POST("/v1/messages", {
    body,
    bodySerializer: () => '{"recipient_id": ',
    ...asAlice,
  });
  expectProblem("malformed JSON", malformed.response, malformed.error, 400, "invalid");
  const nobody = await api.POST("/v1/messages", {
    body: { ...body, recipient_id: bob.id + 1000, client_msg_id: "ts-2" },
    ...asAlice,
  });
  expectProblem("unknown recipient", nobody.response, nobody.error, 404, "not_found");
  const badToken = await api.GET("/v1/users/me", auth("not.a.token"));
  expectProblem("bad token", badToken.response, badToken.error, 401, "unauthorized");
  check("bad token challenge", badToken.response.headers.get("WWW-Authenticate")?.startsWith("Bearer") === true, [...badToken.response.headers]);
  const route = await fetch(new URL("/v1/no-such-route", baseUrl), { signal: AbortSignal.timeout(20_000) });
  const routeProblem = (await route.json()) as Problem;
  check("unknown route", route.status === 404 && routeProblem.code === "not_found", routeProblem);

  console.log("e2e: ok");
}

main().catch((err: unknown) => {
  console.error(`e2e: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
