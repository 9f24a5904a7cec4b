// The SDK page, call for call, against a real integrationsd.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect, type Socket } from "node:net";
import { inspect, format } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { Role } from "../src/gen/bifrost/integrations/admin/v1/admin_pb.js";
import {
  BifrostError,
  configure,
  integrations,
  IntegrationsClient,
  withOrg,
  type WatchEvent,
} from "../src/index.js";
import { startService, type Service } from "./service.js";

let svc: Service;

before(async () => {
  svc = await startService();
});

after(async () => {
  await svc?.stop();
});

const SECRETS = ["org-123-access", "org-123-refresh", "client-secret-1", "default-secret"];

/** The first n events of watch, which fails if they take longer than ms. */
async function take<T>(watch: (signal: AbortSignal) => AsyncIterable<T>, n: number, ms = 20_000): Promise<T[]> {
  const out: T[] = [];
  for await (const v of watch(AbortSignal.timeout(ms))) {
    out.push(v);
    if (out.length === n) {
      break;
    }
  }
  return out;
}

/** p, or a failure naming what did not happen within ms. */
async function within<T>(p: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs fn with the BIFROST_* variables set as given (undefined unsets), then restores them. */
async function withEnv(vars: Record<string, string | undefined>, fn: () => Promise<void>): Promise<void> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (vs: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vs)) {
      if (v === undefined) {
        delete process.env[k];
      } else {
        process.env[k] = v;
      }
    }
  };
  set(vars);
  try {
    await fn();
  } finally {
    set(saved);
    configure();
  }
}

test("get merges the org's config over the defaults and returns the org's token", async () => {
  const worker = svc.client(await svc.newKey(Role.WORKER, "org-123"));
  const msft = await worker.get("Microsoft_Graph");
  assert.ok(msft);
  assert.equal(msft.integrationName, "Microsoft_Graph");
  assert.equal(msft.entityId, "tenant-456");
  assert.equal(msft.entityName, "Acme Corp");
  assert.deepEqual(msft.config, { tenant_domain: "acme.onmicrosoft.com", page_size: 50, api_key: "default-secret" });
  assert.deepEqual(msft.configSecretKeys, ["api_key"]);
  assert.ok(msft.oauth);
  assert.equal(msft.oauth.accessToken, "org-123-access");
  assert.equal(msft.oauth.refreshToken, "org-123-refresh");
  assert.equal(msft.oauth.status, "CONNECTED");
  assert.ok(msft.oauth.usable);
  // A key bound to one organization never gets the platform's client secret.
  assert.equal(msft.oauth.clientSecret, null);
  assert.equal(msft.oauth.tokenUrl, "https://login.example/tenant-456/token");
  assert.deepEqual(msft.oauth.scopes, ["User.Read"]);
  assert.ok(msft.oauth.expiresAt instanceof Date && msft.oauth.expiresAt.getTime() > Date.now());
});

test("get with scope global returns the defaults, and an OAuth connection without a token is not usable", async () => {
  const admin = svc.client(svc.adminKey);
  const glob = await admin.get("Microsoft_Graph", { orgId: "org-123", scope: "global" });
  assert.ok(glob?.oauth);
  assert.equal(glob.entityId, "common");
  assert.equal(glob.config.tenant_domain, "example.com");
  assert.equal(glob.oauth.accessToken, null);
  assert.equal(glob.oauth.status, "NOT_CONNECTED");
  assert.equal(glob.oauth.usable, false);
  const halo = await admin.get("HaloPSA");
  assert.ok(halo);
  assert.equal(halo.oauth, null);
  assert.equal(halo.entityId, null);
  assert.deepEqual(halo.config, {});
});

test("an unknown integration is null for get and listMappings, a missing mapping null for getMapping", async () => {
  const admin = svc.client(svc.adminKey);
  assert.equal(await admin.get("Nope"), null);
  assert.equal(await admin.listMappings("Nope"), null);
  assert.equal(await admin.getMapping("Microsoft_Graph", { orgId: "org-999" }), null);
});

test("a worker key of org A cannot read org B: BifrostError with code PERMISSION_DENIED", async () => {
  const worker = svc.client(await svc.newKey(Role.WORKER, "org-123"));
  const denied = (err: unknown) => {
    assert.ok(err instanceof BifrostError, String(err));
    assert.equal(err.code, "PERMISSION_DENIED");
    assert.equal(err.grpcCode, 7);
    assert.equal(err.reason, "PERMISSION_DENIED");
    assert.match(err.rawMessage, /org-999/);
    assert.equal(err.message, `PERMISSION_DENIED: ${err.rawMessage}`);
    return true;
  };
  await assert.rejects(worker.get("Microsoft_Graph", { orgId: "org-999" }), denied);
  await assert.rejects(worker.getMapping("Microsoft_Graph", { orgId: "org-999" }), denied);
  await assert.rejects(worker.upsertMapping("HaloPSA", { orgId: "org-999", entityId: "x" }), denied);
  await assert.rejects(worker.deleteMapping("Microsoft_Graph", { orgId: "org-999" }), denied);
  // It lists its own organization's mapping only.
  const mappings = await worker.listMappings("Microsoft_Graph");
  assert.deepEqual(mappings?.map((m) => m.organizationId), ["org-123"]);
});

test("other failures are BifrostErrors with their code: a bad scope, an unknown key, no service, a timeout, a missing CA file", async () => {
  const worker = svc.client(await svc.newKey(Role.WORKER, "org-123"));
  await assert.rejects(worker.get("Microsoft_Graph", { scope: "everything" }), { name: "BifrostError", code: "INVALID_ARGUMENT" });
  await assert.rejects(svc.client("bfk_not-a-key").get("Microsoft_Graph"), { name: "BifrostError", code: "UNAUTHENTICATED" });
  const nowhere = svc.client(svc.adminKey, { address: "127.0.0.1:1" });
  await assert.rejects(nowhere.get("Microsoft_Graph"), { name: "BifrostError", code: "UNAVAILABLE" });
  await assert.rejects(worker.get("Microsoft_Graph", { timeoutMs: 0 }), { name: "BifrostError", code: "INVALID_ARGUMENT" });
  // A listener that never answers: the call's timeoutMs runs out. Its
  // connections are closed at the end, or the half-open one keeps the test
  // process alive.
  const accepted: Socket[] = [];
  const silent = createServer((s) => void accepted.push(s));
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  try {
    const { port } = silent.address() as { port: number };
    const slow = svc.client(svc.adminKey, { address: `127.0.0.1:${port}` });
    await assert.rejects(slow.get("Microsoft_Graph", { timeoutMs: 200 }), { name: "BifrostError", code: "DEADLINE_EXCEEDED" });
  } finally {
    accepted.forEach((s) => s.destroy());
    silent.close();
  }
  const badCa = new IntegrationsClient({ address: svc.addr, caFile: "/nonexistent/ca.pem" });
  await assert.rejects(badCa.get("Microsoft_Graph"), { name: "BifrostError", code: "INVALID_ARGUMENT", message: /nonexistent/ });
});

test("mappings CRUD: upsert creates and patches, getMapping and listMappings read, deleteMapping deletes once", async () => {
  const admin = svc.client(svc.adminKey);
  const created = await admin.upsertMapping("HaloPSA", {
    orgId: "org-crud",
    entityId: "company-7",
    entityName: "Acme Corp",
    config: { custom_field: "value" },
  });
  assert.equal(created.organizationId, "org-crud");
  assert.equal(created.entityId, "company-7");
  assert.equal(created.entityName, "Acme Corp");
  assert.equal(created.oauthTokenId, null);
  assert.deepEqual(created.config, { custom_field: "value" });
  assert.ok(created.createdAt instanceof Date && created.updatedAt instanceof Date);

  assert.deepEqual(await admin.getMapping("HaloPSA", { orgId: "org-crud" }), created);
  const byEntity = await admin.getMapping("HaloPSA", { entityId: "company-7" });
  assert.equal(byEntity?.organizationId, "org-crud");
  const listed = await admin.listMappings("HaloPSA");
  assert.ok(listed?.some((m) => m.id === created.id));

  // Fields left out keep their value; a config key given as null is removed.
  const patched = await admin.upsertMapping("HaloPSA", { orgId: "org-crud", config: { custom_field: null } });
  assert.equal(patched.id, created.id);
  assert.equal(patched.entityId, "company-7");
  assert.equal(patched.entityName, "Acme Corp");
  assert.deepEqual(patched.config, {});

  assert.equal(await admin.deleteMapping("HaloPSA", { orgId: "org-crud" }), true);
  assert.equal(await admin.deleteMapping("HaloPSA", { orgId: "org-crud" }), false);
  assert.equal(await admin.getMapping("HaloPSA", { orgId: "org-crud" }), null);
});

test("logging redacts secrets: console.log, util.inspect and JSON.stringify show no token, client secret or secret config value", async () => {
  // The admin key gets the client secret too.
  const admin = svc.client(svc.adminKey);
  const msft = await admin.get("Microsoft_Graph", { orgId: "org-123" });
  assert.ok(msft?.oauth);
  assert.equal(msft.oauth.clientSecret, "client-secret-1");
  assert.equal(msft.config.api_key, "default-secret");
  const mapping = await admin.getMapping("Microsoft_Graph", { orgId: "org-123" });
  assert.ok(mapping);

  const logged: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => void logged.push(format(...args));
  try {
    console.log(msft);
    console.log("integration: %o", msft);
    console.log({ wrapped: [msft.oauth] });
    console.log(mapping);
  } finally {
    console.log = original;
  }
  const outputs = [
    ...logged,
    inspect(msft, { depth: Infinity, showHidden: true }),
    JSON.stringify(msft),
    JSON.stringify({ msft, mapping }),
    String(inspect(admin)),
  ];
  for (const out of outputs) {
    for (const secret of [...SECRETS, svc.adminKey]) {
      assert.ok(!out.includes(secret), `${secret} in ${out}`);
    }
  }
  // What is not secret still shows, and a redacted value still says it was there.
  assert.match(logged[0]!, /IntegrationData/);
  assert.match(logged[0]!, /acme\.onmicrosoft\.com/);
  assert.match(logged[0]!, /accessToken: '\[REDACTED\]'/);
  assert.match(logged[0]!, /api_key: '\[REDACTED\]'/);
  assert.match(logged[3]!, /tenant_domain: '\[REDACTED\]'/);
  const json = JSON.parse(JSON.stringify(msft));
  assert.equal(json.oauth.clientSecret, "[REDACTED]");
  assert.equal(json.config.page_size, 50);
});

test("the org comes from BIFROST_ORG_ID, withOrg or the call, and address and key from BIFROST_ADDR and BIFROST_API_KEY", async () => {
  const allOrgs = await svc.newKey(Role.WORKER_ALL_ORGS);
  await withEnv({ BIFROST_ADDR: svc.addr, BIFROST_API_KEY: allOrgs, BIFROST_ORG_ID: undefined }, async () => {
    assert.equal((await integrations.get("Microsoft_Graph"))?.entityId, "common"); // no org: the defaults
    process.env.BIFROST_ORG_ID = "org-123";
    assert.equal((await integrations.get("Microsoft_Graph"))?.entityId, "tenant-456");
    assert.equal(await withOrg("org-other", () => integrations.get("Microsoft_Graph")).then((d) => d?.entityId), "common");
    assert.equal((await integrations.get("Microsoft_Graph", { orgId: "org-other" }))?.entityId, "common");
  });
  // configure(...) wins over the environment.
  await withEnv({ BIFROST_ADDR: "127.0.0.1:1", BIFROST_API_KEY: "bfk_not-a-key", BIFROST_ORG_ID: undefined }, async () => {
    configure({ address: svc.addr, apiKey: allOrgs, orgId: "org-123" });
    assert.equal((await integrations.get("Microsoft_Graph"))?.entityId, "tenant-456");
    configure();
    await assert.rejects(integrations.get("Microsoft_Graph"), { code: "UNAVAILABLE" });
  });
});

/** Three mapping.upserted events of HaloPSA: org-watch-b's, then two of org-watch-a's. */
async function watchEvents(): Promise<void> {
  const admin = svc.client(svc.adminKey);
  await admin.upsertMapping("HaloPSA", { orgId: "org-watch-b", entityId: "company-b" });
  await admin.upsertMapping("HaloPSA", { orgId: "org-watch-a", entityId: "company-a" });
  await admin.upsertMapping("HaloPSA", { orgId: "org-watch-a", entityName: "Acme" });
}

test("watch yields the org's events in order and resumes after a position", async () => {
  await watchEvents();
  const worker = svc.client(await svc.newKey(Role.WORKER, "org-watch-a"));
  const filter = { types: ["mapping.upserted"], integration: "HaloPSA" };
  const seen = await take((signal) => worker.watch({ ...filter, after: 0, signal }), 2);
  assert.deepEqual(
    seen.map((e) => e.orgId),
    ["org-watch-a", "org-watch-a"],
  );
  assert.ok(seen[0]!.position < seen[1]!.position);
  assert.equal(seen[0]!.type, "mapping.upserted");
  assert.equal(seen[0]!.integrationName, "HaloPSA");
  assert.equal(seen[0]!.reason, "created");
  assert.ok(seen[0]!.time instanceof Date);

  // Resuming after the first yields the second, and nothing before it.
  const [resumed] = await take((signal) => worker.watch({ ...filter, after: seen[0]!.position, signal }), 1);
  assert.equal(resumed!.id, seen[1]!.id);
});

test("watch from now yields only events committed after it started", async () => {
  const admin = svc.client(svc.adminKey);
  const filter = { types: ["mapping.upserted"], integration: "HaloPSA" };
  await admin.upsertMapping("HaloPSA", { orgId: "org-watch-now", entityId: "company-now" });
  const [earlier] = await take((signal) => admin.watch({ ...filter, orgId: "org-watch-now", after: 0, signal }), 1);
  const worker = svc.client(await svc.newKey(Role.WORKER, "org-watch-now"));
  const it = worker.watch(filter)[Symbol.asyncIterator]();
  const first = it.next();
  let done = false;
  void first.then(() => (done = true));
  // The watch starts when the service has the stream: change the mapping until it sees a change.
  for (let i = 0; !done; i++) {
    assert.ok(i < 100, "the watch saw no new event");
    await admin.upsertMapping("HaloPSA", { orgId: "org-watch-now", entityName: `from-now-${i}` });
    await sleep(100);
  }
  const { value } = await within(first, "the first event");
  await it.return();
  assert.ok(value);
  assert.equal(value.orgId, "org-watch-now");
  assert.notEqual(value.id, earlier!.id);
  assert.ok(value.position > earlier!.position);
});

test("watch refuses another organization with PERMISSION_DENIED", async () => {
  const worker = svc.client(await svc.newKey(Role.WORKER, "org-watch-a"));
  await assert.rejects(take((signal) => worker.watch({ orgId: "org-watch-b", after: 0, signal }), 1), {
    name: "BifrostError",
    code: "PERMISSION_DENIED",
  });
});

test("watch ends with the signal's reason when its signal aborts", async () => {
  const worker = svc.client(await svc.newKey(Role.WORKER, "org-watch-a"));
  const ctl = new AbortController();
  const events: WatchEvent[] = [];
  setTimeout(() => ctl.abort(new Error("enough")), 300);
  await assert.rejects(
    (async () => {
      for await (const e of worker.watch({ types: ["token.needs_reauth"], signal: ctl.signal })) {
        events.push(e);
      }
    })(),
    { message: "enough" },
  );
  assert.deepEqual(events, []);
});

/** A TCP proxy to addr whose connections the test can break. */
async function proxy(addr: string) {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((client) => {
    connections++;
    const upstream = connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port: listening } = server.address() as { port: number };
  return {
    addr: `127.0.0.1:${listening}`,
    connections: () => connections,
    breakAll: () => sockets.forEach((s) => s.destroy()),
    close: () => {
      sockets.forEach((s) => s.destroy());
      server.close();
    },
  };
}

test("watch reconnects when the connection breaks and resumes after the last event, missing and repeating none", async () => {
  const admin = svc.client(svc.adminKey);
  await admin.upsertMapping("HaloPSA", { orgId: "org-watch-r", entityId: "company-r" });
  await admin.upsertMapping("HaloPSA", { orgId: "org-watch-r", entityName: "R1" });
  const p = await proxy(svc.addr);
  try {
    const worker: IntegrationsClient = svc.client(await svc.newKey(Role.WORKER, "org-watch-r"), { address: p.addr });
    const it = worker.watch({ types: ["mapping.upserted"], after: 0 })[Symbol.asyncIterator]();
    const seen: WatchEvent[] = [];
    const next = async () => {
      const r = await within(it.next(), `event ${seen.length + 1}`);
      assert.ok(!r.done);
      seen.push(r.value);
    };
    await next();
    p.breakAll();
    await next(); // the second event, from a new stream
    await admin.upsertMapping("HaloPSA", { orgId: "org-watch-r", entityName: "R2" });
    await next(); // one committed after the break
    await it.return();
    assert.ok(p.connections() >= 2, `${p.connections()} connections`);
    const all = await take((signal) => admin.watch({ types: ["mapping.upserted"], orgId: "org-watch-r", after: 0, signal }), 3);
    assert.deepEqual(
      seen.map((e) => e.id),
      all.map((e) => e.id),
    );
  } finally {
    p.close();
  }
});
