/**
 * The Bifrost SDK's integrations module for Node.js, over the integrations
 * service's gRPC API:
 *
 *     import { integrations } from "@bifrost/integrations";
 *     const msft = await integrations.get("Microsoft_Graph");
 *
 * Settings come from configure(...) or the environment: BIFROST_ADDR
 * (host:port, default 127.0.0.1:50051), BIFROST_API_KEY, BIFROST_ORG_ID,
 * BIFROST_TIMEOUT (seconds), and for TLS BIFROST_TLS=1 with optional
 * BIFROST_CA_FILE, BIFROST_CLIENT_CERT and BIFROST_CLIENT_KEY.
 */

export { integrations, IntegrationsClient } from "./integrations.js";
export type {
  CallOptions,
  DeleteMappingOptions,
  GetMappingOptions,
  GetOptions,
  UpsertMappingOptions,
  WatchOptions,
} from "./integrations.js";
export { configure, withOrg } from "./settings.js";
export type { Settings } from "./settings.js";
export { BifrostError } from "./errors.js";
export type { StatusCode } from "./errors.js";
export { IntegrationData, IntegrationMappingResponse, OAuthCredentials, REDACTED } from "./types.js";
export type { ConnectionStatus, WatchEvent } from "./types.js";
export type { JsonObject, JsonValue } from "@bufbuild/protobuf";
