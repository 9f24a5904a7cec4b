import { readFileSync } from "node:fs";
import { AsyncLocalStorage } from "node:async_hooks";
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { BifrostError } from "./errors.js";

/**
 * Where the service is and who calls it. A setting left out is read from the
 * environment at each call.
 */
export interface Settings {
  /** host:port of integrationsd's gRPC listener (BIFROST_ADDR; default 127.0.0.1:50051). */
  address?: string;
  /** The API key (BIFROST_API_KEY), sent as `authorization: Bearer <key>`. */
  apiKey?: string;
  /** The organization calls are about when they name none (BIFROST_ORG_ID); else the key's. */
  orgId?: string;
  /** TLS (BIFROST_TLS=1, or a CA file given). */
  tls?: boolean;
  /** PEM files: the CA to trust (BIFROST_CA_FILE), a client certificate and key for mTLS (BIFROST_CLIENT_CERT, BIFROST_CLIENT_KEY). */
  caFile?: string;
  clientCert?: string;
  clientKey?: string;
  /** The default deadline of each call in milliseconds (BIFROST_TIMEOUT, in seconds; default none). */
  timeoutMs?: number;
}

/** The settings in force for one call: every field resolved. */
export interface Resolved {
  address: string;
  apiKey: string;
  orgId: string;
  tls: boolean;
  caFile: string | null;
  clientCert: string | null;
  clientKey: string | null;
  timeoutMs: number | null;
}

let configured: Settings = {};

/**
 * Sets the connection in code instead of (or on top of) the environment, for
 * `integrations` and every IntegrationsClient made without settings. Each
 * call replaces the previous call's settings: `configure()` returns to the
 * environment alone.
 */
export function configure(settings: Settings = {}): void {
  checkTimeout(settings.timeoutMs);
  configured = { ...settings };
}

/** The settings configure() set. */
export function configuredSettings(): Settings {
  return configured;
}

export function checkTimeout(timeoutMs: number | undefined): void {
  if (timeoutMs !== undefined && !(timeoutMs > 0)) {
    throw new BifrostError("INVALID_ARGUMENT", "timeoutMs must be positive");
  }
}

/** given's settings, the environment's where given has none. */
export function resolve(given: Settings): Resolved {
  const env = process.env;
  const pick = (v: string | undefined, name: string): string | null => v ?? (env[name] || null);
  const caFile = pick(given.caFile, "BIFROST_CA_FILE");
  let timeoutMs = given.timeoutMs ?? null;
  if (timeoutMs === null && env.BIFROST_TIMEOUT) {
    const seconds = Number(env.BIFROST_TIMEOUT);
    if (!(seconds > 0)) {
      throw new BifrostError("INVALID_ARGUMENT", `BIFROST_TIMEOUT must be a positive number of seconds, not ${JSON.stringify(env.BIFROST_TIMEOUT)}`);
    }
    timeoutMs = seconds * 1000;
  }
  return {
    address: pick(given.address, "BIFROST_ADDR") ?? "127.0.0.1:50051",
    apiKey: pick(given.apiKey, "BIFROST_API_KEY") ?? "",
    orgId: pick(given.orgId, "BIFROST_ORG_ID") ?? "",
    tls: given.tls ?? (["1", "true"].includes((env.BIFROST_TLS ?? "").toLowerCase()) || caFile !== null),
    caFile,
    clientCert: pick(given.clientCert, "BIFROST_CLIENT_CERT"),
    clientKey: pick(given.clientKey, "BIFROST_CLIENT_KEY"),
    timeoutMs,
  };
}

/** The API key as call headers. */
export function headers(s: Resolved): Record<string, string> {
  return s.apiKey ? { authorization: `Bearer ${s.apiKey}` } : {};
}

// One transport (one HTTP/2 connection) per address and TLS files. Idle
// connections do not keep the process alive.
const transports = new Map<string, Transport>();

export function transport(s: Resolved): Transport {
  const key = JSON.stringify([s.address, s.tls, s.caFile, s.clientCert, s.clientKey]);
  let t = transports.get(key);
  if (t === undefined) {
    const read = (path: string | null) => {
      if (path === null) {
        return undefined;
      }
      try {
        return readFileSync(path);
      } catch (err) {
        throw new BifrostError("INVALID_ARGUMENT", `reading ${path}: ${(err as Error).message}`, { cause: err });
      }
    };
    t = createGrpcTransport({
      baseUrl: `${s.tls ? "https" : "http"}://${s.address}`,
      nodeOptions: s.tls ? { ca: read(s.caFile), cert: read(s.clientCert), key: read(s.clientKey) } : {},
    });
    transports.set(key, t);
  }
  return t;
}

/** Resolved settings print without the API key. */
export function redactedSettings(s: Settings): object {
  const out: Record<string, unknown> = { ...s };
  if (out.apiKey !== undefined) {
    out.apiKey = "[REDACTED]";
  }
  return out;
}

// The organization withOrg runs a function for.
const orgStorage = new AsyncLocalStorage<string>();

/**
 * Runs fn for organization orgId: the calls it makes (and the promises it
 * starts) that name no organization are about orgId, as in a workflow that
 * runs for one organization.
 */
export function withOrg<T>(orgId: string, fn: () => T): T {
  return orgStorage.run(orgId, fn);
}

/** The organization of the withOrg the caller runs in, if any. */
export function contextOrg(): string | undefined {
  return orgStorage.getStore();
}
