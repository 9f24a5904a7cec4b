import { inspect, type InspectOptionsStylized } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { create, type JsonObject } from "@bufbuild/protobuf";
import { createClient, type CallOptions as ConnectCallOptions, type Client } from "@connectrpc/connect";
import * as pb from "./gen/bifrost/integrations/v1/integrations_pb.js";
import { BifrostError, isNotFound, translate, type StatusCode } from "./errors.js";
import {
  checkTimeout,
  configuredSettings,
  contextOrg,
  headers,
  redactedSettings,
  resolve,
  transport,
  type Resolved,
  type Settings,
} from "./settings.js";
import {
  integrationData,
  mapping,
  watchEvent,
  type IntegrationData,
  type IntegrationMappingResponse,
  type WatchEvent,
} from "./types.js";

/** What every call takes besides its own options. */
export interface CallOptions {
  /** The call's deadline in milliseconds; the default is the settings' timeoutMs. It covers every page of listMappings. */
  timeoutMs?: number;
  /** Cancels the call: it rejects with a BifrostError whose code is CANCELLED. */
  signal?: AbortSignal;
}

export interface GetOptions extends CallOptions {
  /** Organization ID; default: withOrg's, else the settings' (BIFROST_ORG_ID), else the API key's organization. */
  orgId?: string;
  /** "global" for the platform-level defaults whatever orgId says. */
  scope?: string;
}

export interface GetMappingOptions extends CallOptions {
  /** Organization ID; default as for get. */
  orgId?: string;
  /** The mapping must be for this external entity; with no organization (a key for all organizations), finds the organization mapped to it. */
  entityId?: string;
}

export interface UpsertMappingOptions extends CallOptions {
  /** Organization ID; default as for get. */
  orgId?: string;
  /** External entity ID (tenant, company, etc.). Fields left out keep their stored value. */
  entityId?: string;
  /** Display name for the entity. */
  entityName?: string;
  /** A patch of the organization's config overrides: keys given are set, keys given as null removed, others kept. */
  config?: JsonObject;
  /** The OAuth token this organization uses instead of its own or the global one. */
  oauthTokenId?: string;
}

export interface DeleteMappingOptions extends CallOptions {
  /** Organization ID; default as for get. */
  orgId?: string;
}

export interface WatchOptions {
  /** Only these event types (e.g. "token.needs_reauth"); all when left out. */
  types?: string[];
  /** Only this integration's events and its connection's token events. */
  integration?: string;
  /** Only this organization's events; default as for get (a key for all organizations sees all without one). */
  orgId?: string;
  /** Resume after this position (the last event handled); 0 for every event retained; from now when left out. */
  after?: number | bigint;
  /** Ends the watch: the iteration throws signal.reason. Breaking out of the loop ends it too. */
  signal?: AbortSignal;
}

// A broken watch is opened again for these: the service or the way to it
// failed, not the request.
const WATCH_RETRY: ReadonlySet<StatusCode> = new Set([
  "UNAVAILABLE",
  "RESOURCE_EXHAUSTED",
  "ABORTED",
  "INTERNAL",
  "UNKNOWN",
  "DEADLINE_EXCEEDED",
]);

type Api = Client<typeof pb.IntegrationsService>;

/** One SDK call: the settings in force when it started and one deadline over all the RPCs it makes. */
class Call {
  readonly api: Api;
  readonly settings: Resolved;
  readonly #signal: AbortSignal | undefined;
  readonly #deadline: number | null;

  constructor(settings: Resolved, opts: CallOptions) {
    checkTimeout(opts.timeoutMs);
    this.settings = settings;
    this.api = createClient(pb.IntegrationsService, transport(settings));
    this.#signal = opts.signal;
    const timeout = opts.timeoutMs ?? settings.timeoutMs;
    this.#deadline = timeout === null ? null : Date.now() + timeout;
  }

  options(): ConnectCallOptions {
    const out: ConnectCallOptions = { headers: headers(this.settings) };
    if (this.#signal !== undefined) {
      out.signal = this.#signal;
    }
    if (this.#deadline !== null) {
      const left = this.#deadline - Date.now();
      if (left <= 0) {
        throw new BifrostError("DEADLINE_EXCEEDED", "timeout ran out");
      }
      out.timeoutMs = left;
    }
    return out;
  }

  /** Runs one RPC; NOT_FOUND becomes null, other failures BifrostErrors. */
  async orNull<T>(rpc: (options: ConnectCallOptions) => Promise<T>): Promise<T | null> {
    try {
      return await rpc(this.options());
    } catch (err) {
      if (isNotFound(err)) {
        return null;
      }
      throw translate(err);
    }
  }

  /** Runs one RPC; every failure is a BifrostError. */
  async run<T>(rpc: (options: ConnectCallOptions) => Promise<T>): Promise<T> {
    try {
      return await rpc(this.options());
    } catch (err) {
      throw translate(err);
    }
  }
}

/**
 * The SDK page's integrations module over the service's gRPC API. `integrations`
 * is the one most code needs; make one with settings to call with another key
 * or address. Every failed call rejects with a BifrostError.
 */
export class IntegrationsClient {
  readonly #settings: Settings | undefined;

  /**
   * settings, when given, are this client's, and what they leave out is read
   * from the environment at each call; without settings the client uses
   * configure()'s.
   */
  constructor(settings?: Settings) {
    checkTimeout(settings?.timeoutMs);
    this.#settings = settings === undefined ? undefined : { ...settings };
  }

  #call(opts: CallOptions): Call {
    return new Call(resolve(this.#settings ?? configuredSettings()), opts);
  }

  #org(call: Call, orgId: string | undefined): string {
    return orgId || contextOrg() || call.settings.orgId;
  }

  /** Integration configuration with OAuth tokens, or null if the integration does not exist. */
  async get(name: string, options: GetOptions = {}): Promise<IntegrationData | null> {
    const call = this.#call(options);
    const req = create(pb.GetIntegrationRequestSchema, { name, orgId: this.#org(call, options.orgId), scope: options.scope ?? "" });
    const resp = await call.orNull((o) => call.api.getIntegration(req, o));
    return resp?.integration === undefined ? null : integrationData(resp.integration);
  }

  /**
   * All organization mappings of an integration (null if it does not exist).
   * A key bound to one organization sees that organization's only.
   */
  async listMappings(name: string, options: CallOptions = {}): Promise<IntegrationMappingResponse[] | null> {
    const call = this.#call(options);
    const out: IntegrationMappingResponse[] = [];
    let pageToken = "";
    for (;;) {
      const req = create(pb.ListMappingsRequestSchema, { name, pageToken });
      const resp = await call.orNull((o) => call.api.listMappings(req, o));
      if (resp === null) {
        return null;
      }
      out.push(...resp.mappings.map(mapping));
      pageToken = resp.nextPageToken;
      if (pageToken === "") {
        return out;
      }
    }
  }

  /** One organization's mapping for an integration, or null. */
  async getMapping(name: string, options: GetMappingOptions = {}): Promise<IntegrationMappingResponse | null> {
    const call = this.#call(options);
    const req = create(pb.GetMappingRequestSchema, {
      name,
      orgId: this.#org(call, options.orgId),
      entityId: options.entityId ?? "",
    });
    const resp = await call.orNull((o) => call.api.getMapping(req, o));
    return resp?.mapping === undefined ? null : mapping(resp.mapping);
  }

  /** Creates or updates an organization's mapping for an integration. */
  async upsertMapping(name: string, options: UpsertMappingOptions = {}): Promise<IntegrationMappingResponse> {
    const call = this.#call(options);
    const req = create(pb.UpsertMappingRequestSchema, {
      name,
      orgId: this.#org(call, options.orgId),
      entityId: options.entityId ?? "",
      entityName: options.entityName ?? "",
      config: options.config ?? {},
      oauthTokenId: options.oauthTokenId ?? "",
    });
    const resp = await call.run((o) => call.api.upsertMapping(req, o));
    if (resp.mapping === undefined) {
      throw new BifrostError("INTERNAL", "UpsertMapping answered without a mapping");
    }
    return mapping(resp.mapping);
  }

  /** Deletes an organization's mapping for an integration; false if there was none. */
  async deleteMapping(name: string, options: DeleteMappingOptions = {}): Promise<boolean> {
    const call = this.#call(options);
    const req = create(pb.DeleteMappingRequestSchema, { name, orgId: this.#org(call, options.orgId) });
    const resp = await call.run((o) => call.api.deleteMapping(req, o));
    return resp.deleted;
  }

  /**
   * The events of the service's event log the key may see, in order:
   *
   *     for await (const event of integrations.watch({ types: ["token.needs_reauth"] })) {
   *       notify(event.orgId, event.reason);
   *     }
   *
   * From now on, or after position `after` (0: every event retained). When the
   * stream breaks (a replica restarts, the network drops) it reconnects with
   * backoff, from 100 ms doubling to 5 s, and resumes after the last event
   * yielded: none is missed or yielded twice. A refused watch (an unknown type,
   * another organization, a position retention deleted: code
   * FAILED_PRECONDITION, reason EVENTS_PRUNED) throws a BifrostError. It runs
   * until the loop breaks or options.signal aborts.
   */
  async *watch(options: WatchOptions = {}): AsyncGenerator<WatchEvent, void, undefined> {
    const { signal } = options;
    const call = this.#call({});
    const req = create(pb.WatchEventsRequestSchema, {
      types: options.types ?? [],
      integrationName: options.integration ?? "",
      orgId: this.#org(call, options.orgId),
    });
    if (options.after !== undefined) {
      const after = BigInt(options.after);
      if (after < 0n) {
        throw new BifrostError("INVALID_ARGUMENT", "after must not be negative");
      }
      req.afterPosition = after;
    }
    let wait = 0;
    for (;;) {
      signal?.throwIfAborted();
      const stream = new AbortController();
      const stop = () => stream.abort();
      signal?.addEventListener("abort", stop, { once: true });
      try {
        for await (const resp of call.api.watchEvents(req, { headers: headers(call.settings), signal: stream.signal })) {
          wait = 0;
          req.afterPosition = resp.position;
          if (resp.event !== undefined) {
            yield watchEvent(resp.event);
          }
        }
        // The service ended the stream (it is shutting down): open another.
      } catch (err) {
        signal?.throwIfAborted();
        const e = translate(err);
        // CANCELLED that this watch did not cause is the connection's: connect
        // reports a broken connection's HTTP/2 stream so.
        if (!WATCH_RETRY.has(e.code) && !(e.code === "CANCELLED" && !stream.signal.aborted)) {
          throw e;
        }
      } finally {
        signal?.removeEventListener("abort", stop);
        stream.abort();
      }
      wait = Math.min(Math.max(2 * wait, 100), 5000);
      try {
        await sleep(wait / 2 + Math.random() * (wait / 2), undefined, { signal });
      } catch {
        signal?.throwIfAborted();
      }
    }
  }

  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    const settings = this.#settings === undefined ? "configure()'s" : redactedSettings(this.#settings);
    if (depth < 0) {
      return options.stylize("[IntegrationsClient]", "special");
    }
    return `IntegrationsClient ${inspectFn({ settings }, { ...options, depth })}`;
  }
}

/** The integrations module: configure()'s settings, else the environment's. */
export const integrations = new IntegrationsClient();
