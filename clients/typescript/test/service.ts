// A real integrationsd for the tests: the binary in BIFROST_INTEGRATIONSD (or
// one built from this repository), started in development mode on loopback
// ports it picks itself, seeded over its admin API.

import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as admin from "../src/gen/bifrost/integrations/admin/v1/admin_pb.js";
import { IntegrationsClient } from "../src/index.js";

// dist/test/service.js -> the repository root.
const REPO = resolve(fileURLToPath(import.meta.url), "../../../../..");

export class Service {
  readonly addr: string;
  readonly adminKey: string;
  readonly admin: Client<typeof admin.AdminService>;
  readonly #proc: ChildProcess;
  readonly #tmp: string;

  constructor(addr: string, adminKey: string, proc: ChildProcess, tmp: string) {
    this.addr = addr;
    this.adminKey = adminKey;
    this.#proc = proc;
    this.#tmp = tmp;
    this.admin = createClient(admin.AdminService, createGrpcTransport({ baseUrl: `http://${addr}` }));
  }

  get md() {
    return { headers: { authorization: `Bearer ${this.adminKey}` } };
  }

  /** A new API key with role (and organization). */
  async newKey(role: admin.Role, orgId = ""): Promise<string> {
    const resp = await this.admin.createApiKey({ name: "node-test", role, orgId }, this.md);
    return resp.secret;
  }

  /** A client of the service with key (and any other settings). */
  client(apiKey: string, settings: { orgId?: string; address?: string } = {}): IntegrationsClient {
    return new IntegrationsClient({ address: this.addr, apiKey, ...settings });
  }

  async stop(): Promise<void> {
    if (this.#proc.exitCode === null && this.#proc.signalCode === null) {
      const exited = new Promise((r) => this.#proc.once("exit", r));
      this.#proc.kill("SIGTERM");
      await Promise.race([exited, sleep(20_000, undefined, { ref: false })]);
      this.#proc.kill("SIGKILL");
    }
    rmSync(this.#tmp, { recursive: true, force: true });
  }
}

export async function startService(): Promise<Service> {
  const tmp = mkdtempSync(join(tmpdir(), "bifrost-node-test-"));
  let binary = process.env.BIFROST_INTEGRATIONSD;
  if (!binary) {
    binary = join(tmp, "integrationsd");
    execFileSync("go", ["build", "-o", binary, "./cmd/integrationsd"], { cwd: REPO, stdio: "inherit" });
  }
  const data = join(tmp, "data");
  // Port 0, and the address read back from the log: a port picked free
  // beforehand can be taken by another process before integrationsd binds it.
  const logPath = join(tmp, "integrationsd.log");
  const log = openSync(logPath, "w");
  const proc = spawn(
    binary,
    ["--dev", "--data-dir", data, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-format", "json"],
    { stdio: ["ignore", log, log] },
  );
  closeSync(log);
  // Never outlive the test process.
  process.once("exit", () => proc.kill("SIGKILL"));
  const keyFile = join(data, "admin.key");
  const deadline = Date.now() + 30_000;
  let addr: string | null = null;
  while (addr === null || !existsSync(keyFile)) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill("SIGKILL");
      throw new Error(`integrationsd did not start:\n${readFileSync(logPath, "utf8")}`);
    }
    addr ??= servingAddr(logPath);
    await sleep(50);
  }
  const svc = new Service(addr, readFileSync(keyFile, "utf8").trim(), proc, tmp);
  await seed(svc);
  return svc;
}

/** The gRPC address from integrationsd's "serving" log line, once written. */
function servingAddr(logPath: string): string | null {
  for (const line of readFileSync(logPath, "utf8").split("\n")) {
    try {
      const entry = JSON.parse(line) as { msg?: string; grpc?: string };
      if (entry.msg === "integrationsd serving" && entry.grpc) {
        return entry.grpc;
      }
    } catch {
      // Not a whole JSON line (yet).
    }
  }
  return null;
}

/**
 * Microsoft_Graph with a schema, defaults (one secret), an OAuth connection,
 * a token for org-123 and org-123's mapping to tenant-456; HaloPSA without
 * OAuth.
 */
async function seed(svc: Service): Promise<void> {
  const md = svc.md;
  await svc.admin.createConnection(
    {
      connection: {
        name: "graph",
        flow: admin.Flow.AUTHORIZATION_CODE,
        clientId: "client-1",
        clientSecret: "client-secret-1",
        authorizationUrl: "https://login.example/{entity_id}/authorize",
        tokenUrl: "https://login.example/{entity_id}/token",
        scopes: ["User.Read"],
        refreshMargin: durationFromMs(300_000),
      },
    },
    md,
  );
  await svc.admin.createIntegration(
    {
      integration: {
        name: "Microsoft_Graph",
        oauthConnection: "graph",
        defaultEntityId: "common",
        defaultConfig: { tenant_domain: "example.com", page_size: 100, api_key: "default-secret" },
        configSchema: [
          { key: "tenant_domain", type: admin.ConfigType.STRING },
          { key: "page_size", type: admin.ConfigType.INT },
          { key: "custom_field", type: admin.ConfigType.STRING },
          { key: "api_key", type: admin.ConfigType.SECRET },
        ],
      },
    },
    md,
  );
  await svc.admin.createIntegration(
    {
      integration: {
        name: "HaloPSA",
        configSchema: [{ key: "custom_field", type: admin.ConfigType.STRING }],
      },
    },
    md,
  );
  await svc.admin.putToken(
    create(admin.PutTokenRequestSchema, {
      connection: "graph",
      orgId: "org-123",
      accessToken: "org-123-access",
      refreshToken: "org-123-refresh",
      expiresAt: timestampFromMs(Date.now() + 3_600_000),
    }),
    md,
  );
  await svc.client(svc.adminKey).upsertMapping("Microsoft_Graph", {
    orgId: "org-123",
    entityId: "tenant-456",
    entityName: "Acme Corp",
    config: { tenant_domain: "acme.onmicrosoft.com", page_size: 50 },
  });
}
