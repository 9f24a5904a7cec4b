import { Code, ConnectError } from "@connectrpc/connect";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/** A gRPC status code by its canonical name. */
export type StatusCode =
  | "OK"
  | "CANCELLED"
  | "UNKNOWN"
  | "INVALID_ARGUMENT"
  | "DEADLINE_EXCEEDED"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "PERMISSION_DENIED"
  | "RESOURCE_EXHAUSTED"
  | "FAILED_PRECONDITION"
  | "ABORTED"
  | "OUT_OF_RANGE"
  | "UNIMPLEMENTED"
  | "INTERNAL"
  | "UNAVAILABLE"
  | "DATA_LOSS"
  | "UNAUTHENTICATED";

// Indexed by the gRPC code number, which connect's Code shares.
const NAMES: readonly StatusCode[] = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/**
 * A call to the integrations service failed. `code` is the gRPC status code
 * by name ("PERMISSION_DENIED"), `grpcCode` its number (7), `rawMessage` the
 * server's message (it never holds a secret), and `reason` the machine-readable
 * reason the server gave in a google.rpc.ErrorInfo detail (e.g.
 * "EVENTS_PRUNED"), or null.
 */
export class BifrostError extends Error {
  override readonly name = "BifrostError";
  readonly code: StatusCode;
  readonly grpcCode: number;
  readonly rawMessage: string;
  readonly reason: string | null;

  constructor(code: StatusCode, rawMessage: string, options?: { reason?: string | null; cause?: unknown }) {
    super(`${code}: ${rawMessage}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.grpcCode = NAMES.indexOf(code);
    this.rawMessage = rawMessage;
    this.reason = options?.reason ?? null;
  }
}

/** Turns what a call threw into a BifrostError. */
export function translate(err: unknown): BifrostError {
  if (err instanceof BifrostError) {
    return err;
  }
  const ce = ConnectError.from(err);
  return new BifrostError(NAMES[ce.code] ?? "UNKNOWN", ce.rawMessage, { reason: errorInfoReason(ce), cause: err });
}

/** True when err is the call's NOT_FOUND, which the SDK page turns into null. */
export function isNotFound(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.NotFound;
}

const ERROR_INFO = "google.rpc.ErrorInfo";

// The reason field (1) of a google.rpc.ErrorInfo detail. The package does not
// ship google/rpc's messages, and the reason is all a caller acts on.
function errorInfoReason(err: ConnectError): string | null {
  for (const d of err.details) {
    if (!("type" in d) || d.type !== ERROR_INFO) {
      continue;
    }
    try {
      const r = new BinaryReader(d.value);
      while (r.pos < r.len) {
        const [field, wire] = r.tag();
        if (field === 1 && wire === WireType.LengthDelimited) {
          return r.string();
        }
        r.skip(wire);
      }
    } catch {
      // A malformed detail says nothing.
    }
  }
  return null;
}
