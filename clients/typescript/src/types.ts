// The SDK page's types, with the fields the service adds, built from the
// generated messages.
//
// Logging one shows no secret: util.inspect (console.log, util.format) and
// toJSON (JSON.stringify, and the JSON loggers built on it) replace the
// client secret, the tokens and the values of secret config keys with
// "[REDACTED]" (null stays null, so a log still says whether there was one).
// The fields themselves hold the values.

import { inspect, type InspectOptionsStylized } from "node:util";
import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import * as pb from "./gen/bifrost/integrations/v1/integrations_pb.js";

export const REDACTED = "[REDACTED]";

/** The state of an OAuth token. */
export type ConnectionStatus =
  /** A token is stored and usable. */
  | "CONNECTED"
  /** The last refresh failed for a reason that may pass; the token is served while it is valid. */
  | "REFRESH_FAILED"
  /** The provider rejected the grant: a person has to connect the account again. */
  | "NEEDS_REAUTH"
  /** No token for this organization nor the global scope. */
  | "NOT_CONNECTED";

const STATUSES: Partial<Record<pb.ConnectionStatus, ConnectionStatus>> = {
  [pb.ConnectionStatus.CONNECTED]: "CONNECTED",
  [pb.ConnectionStatus.REFRESH_FAILED]: "REFRESH_FAILED",
  [pb.ConnectionStatus.NEEDS_REAUTH]: "NEEDS_REAUTH",
  [pb.ConnectionStatus.NOT_CONNECTED]: "NOT_CONNECTED",
};

type Fields<T> = { [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]: T[K] };

function redact(v: string | null): string | null {
  return v === null ? null : REDACTED;
}

// "Name { ... }" for util.inspect, showing view instead of the object.
function show(name: string, view: object, depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
  if (depth < 0) {
    return options.stylize(`[${name}]`, "special");
  }
  // depth is what is left of options.depth at this object.
  return `${name} ${inspectFn(view, { ...options, depth })}`;
}

/** The OAuth connection and the token to call the external system with. */
export class OAuthCredentials {
  connectionName: string;
  clientId: string | null;
  /** Decrypted; null for a key bound to one organization. */
  clientSecret: string | null;
  authorizationUrl: string | null;
  tokenUrl: string | null;
  scopes: string[];
  /** Decrypted; null when there is no token. */
  accessToken: string | null;
  /** Decrypted; null for a key bound to one organization unless the token is that organization's own. */
  refreshToken: string | null;
  expiresAt: Date | null;
  status: ConnectionStatus | null;
  /** Why status is not CONNECTED; never a secret. */
  statusMessage: string | null;

  constructor(f: Omit<Fields<OAuthCredentials>, "usable">) {
    this.connectionName = f.connectionName;
    this.clientId = f.clientId;
    this.clientSecret = f.clientSecret;
    this.authorizationUrl = f.authorizationUrl;
    this.tokenUrl = f.tokenUrl;
    this.scopes = f.scopes;
    this.accessToken = f.accessToken;
    this.refreshToken = f.refreshToken;
    this.expiresAt = f.expiresAt;
    this.status = f.status;
    this.statusMessage = f.statusMessage;
  }

  /**
   * True when accessToken holds a token that has not expired. An organization
   * without a token still gets an OAuthCredentials (status NOT_CONNECTED,
   * accessToken null): test `usable` before sending `Bearer ${accessToken}`.
   */
  get usable(): boolean {
    return this.accessToken !== null && (this.expiresAt === null || this.expiresAt.getTime() > Date.now());
  }

  /** Every field, with the client secret and the tokens redacted. */
  toJSON(): Record<string, unknown> {
    return {
      connectionName: this.connectionName,
      clientId: this.clientId,
      clientSecret: redact(this.clientSecret),
      authorizationUrl: this.authorizationUrl,
      tokenUrl: this.tokenUrl,
      scopes: this.scopes,
      accessToken: redact(this.accessToken),
      refreshToken: redact(this.refreshToken),
      expiresAt: this.expiresAt,
      status: this.status,
      statusMessage: this.statusMessage,
    };
  }

  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    return show("OAuthCredentials", this.toJSON(), depth, options, inspectFn);
  }
}

/** An integration as one organization (or the global scope) sees it. */
export class IntegrationData {
  integrationId: string;
  /** External entity ID (tenant, company, etc.); null when there is none. */
  entityId: string | null;
  /** Display name for the entity. */
  entityName: string | null;
  /** Merged configuration (defaults + org overrides), secret values decrypted. */
  config: JsonObject;
  /** null when the integration has no OAuth connection. */
  oauth: OAuthCredentials | null;
  integrationName: string;
  /** Which keys of config hold secrets. */
  configSecretKeys: string[];

  constructor(f: Fields<IntegrationData>) {
    this.integrationId = f.integrationId;
    this.entityId = f.entityId;
    this.entityName = f.entityName;
    this.config = f.config;
    this.oauth = f.oauth;
    this.integrationName = f.integrationName;
    this.configSecretKeys = f.configSecretKeys;
  }

  /** Every field, with the values of configSecretKeys and oauth's secrets redacted. */
  toJSON(): Record<string, unknown> {
    const secret = new Set(this.configSecretKeys);
    const config: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.config)) {
      config[k] = secret.has(k) ? REDACTED : v;
    }
    return {
      integrationId: this.integrationId,
      integrationName: this.integrationName,
      entityId: this.entityId,
      entityName: this.entityName,
      config,
      configSecretKeys: this.configSecretKeys,
      oauth: this.oauth === null ? null : this.oauth.toJSON(),
    };
  }

  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    return show("IntegrationData", { ...this.toJSON(), oauth: this.oauth }, depth, options, inspectFn);
  }
}

/**
 * An organization's mapping to an external entity, with its config overrides.
 * The overrides may hold secret values (decrypted) and the mapping does not
 * say which, so a log of it shows the config's keys with every value redacted.
 */
export class IntegrationMappingResponse {
  id: string;
  integrationId: string;
  organizationId: string;
  entityId: string | null;
  entityName: string | null;
  oauthTokenId: string | null;
  /** The organization's overrides (not merged), secret values decrypted. */
  config: JsonObject;
  createdAt: Date;
  updatedAt: Date;

  constructor(f: Fields<IntegrationMappingResponse>) {
    this.id = f.id;
    this.integrationId = f.integrationId;
    this.organizationId = f.organizationId;
    this.entityId = f.entityId;
    this.entityName = f.entityName;
    this.oauthTokenId = f.oauthTokenId;
    this.config = f.config;
    this.createdAt = f.createdAt;
    this.updatedAt = f.updatedAt;
  }

  /** Every field, with every config value redacted. */
  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      integrationId: this.integrationId,
      organizationId: this.organizationId,
      entityId: this.entityId,
      entityName: this.entityName,
      oauthTokenId: this.oauthTokenId,
      config: Object.fromEntries(Object.keys(this.config).map((k) => [k, REDACTED])),
      createdAt: this.createdAt,
      updatedAt: this.updatedAt,
    };
  }

  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    return show("IntegrationMappingResponse", this.toJSON(), depth, options, inspectFn);
  }
}

/** One change in the service's event log (watch). It never holds a secret. */
export interface WatchEvent {
  /** Unique; the webhook-id of webhook messages carrying it. */
  id: string;
  /** Its place in the log, contiguous, in commit order: resume after it. */
  position: number;
  time: Date;
  /** e.g. "token.needs_reauth", "token.recovered", "mapping.upserted". */
  type: string;
  /** The organization it concerns; null for the platform's. */
  orgId: string | null;
  integrationName: string | null;
  connectionName: string | null;
  /** For token events, the token's status after the change. */
  tokenStatus: ConnectionStatus | null;
  /** Why, for people: a failed refresh's error, how a token recovered. */
  reason: string | null;
}

// From the generated messages.

function orNull(s: string): string | null {
  return s === "" ? null : s;
}

function date(t: Timestamp | undefined): Date | null {
  return t === undefined ? null : timestampDate(t);
}

/** A position (int64) as a number: positions stay far below 2^53. */
export function position(p: bigint): number {
  const n = Number(p);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`event position ${p} is beyond Number.MAX_SAFE_INTEGER`);
  }
  return n;
}

export function oauthCredentials(o: pb.OAuthCredentials): OAuthCredentials {
  return new OAuthCredentials({
    connectionName: o.connectionName,
    clientId: orNull(o.clientId),
    clientSecret: orNull(o.clientSecret),
    authorizationUrl: orNull(o.authorizationUrl),
    tokenUrl: orNull(o.tokenUrl),
    scopes: [...o.scopes],
    accessToken: orNull(o.accessToken),
    refreshToken: orNull(o.refreshToken),
    expiresAt: date(o.expiresAt),
    status: STATUSES[o.status] ?? null,
    statusMessage: orNull(o.statusMessage),
  });
}

export function integrationData(d: pb.IntegrationData): IntegrationData {
  return new IntegrationData({
    integrationId: d.integrationId,
    entityId: orNull(d.entityId),
    entityName: orNull(d.entityName),
    config: d.config ?? {},
    oauth: d.oauth === undefined ? null : oauthCredentials(d.oauth),
    integrationName: d.integrationName,
    configSecretKeys: [...d.configSecretKeys],
  });
}

export function mapping(m: pb.IntegrationMapping): IntegrationMappingResponse {
  return new IntegrationMappingResponse({
    id: m.id,
    integrationId: m.integrationId,
    organizationId: m.organizationId,
    entityId: orNull(m.entityId),
    entityName: orNull(m.entityName),
    oauthTokenId: orNull(m.oauthTokenId),
    config: m.config ?? {},
    createdAt: date(m.createdAt) ?? new Date(0),
    updatedAt: date(m.updatedAt) ?? new Date(0),
  });
}

export function watchEvent(e: pb.Event): WatchEvent {
  return {
    id: e.id,
    position: position(e.position),
    time: date(e.time) ?? new Date(0),
    type: e.type,
    orgId: orNull(e.organizationId),
    integrationName: orNull(e.integrationName),
    connectionName: orNull(e.connectionName),
    tokenStatus: STATUSES[e.tokenStatus] ?? null,
    reason: orNull(e.reason),
  };
}
