/**
 * A fault-injecting gRPC proxy in front of the real Milvus of the test run (Milvus Lite, or
 * MILVUS_URI). Every call goes through to that server byte for byte; the proxy only records the
 * requests (decoded with the SDK's own proto files, with their encoded size) and stages what a
 * real server cannot be asked to do on cue: refuse the next writes, or lack an RPC. It keeps no
 * rows and evaluates no filter: every answer that is not an injected fault is the real server's.
 */
import { createRequire } from "node:module";
import type * as GrpcModule from "@grpc/grpc-js";

const sdkRequire = createRequire(
  createRequire(import.meta.url).resolve("@zilliz/milvus2-sdk-node"),
);
const grpc = sdkRequire("@grpc/grpc-js") as typeof GrpcModule;
const protoLoader = sdkRequire("@grpc/proto-loader") as typeof import("@grpc/proto-loader");
const milvusJson = (sdkRequire("./proto-json/milvus") as { default: unknown }).default;

const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** One recorded request. */
export interface RecordedRequest {
  method: string;
  request: Record<string, unknown>;
  /** Size of the encoded request message as the client sent it, bytes. */
  bytes: number;
}

/** A running proxy. */
export interface MilvusFaultProxy {
  /** `127.0.0.1:PORT`, for `connectMilvus` or `--milvus`. */
  address: string;
  requests: RecordedRequest[];
  /** Requests of one method. */
  calls(method: string): RecordedRequest[];
  /**
   * After `after` more good ones, the next `count` Insert/Upsert calls answer an error status
   * ("injected write failure") without reaching the server.
   */
  failWrites(count: number, after?: number): void;
  /** These methods answer gRPC UNIMPLEMENTED, as on a server that lacks them. */
  unimplemented: Set<string>;
  close(): Promise<void>;
}

interface MethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize: (bytes: Buffer) => Record<string, unknown>;
  responseSerialize: (value: unknown) => Buffer;
}

const identity = (bytes: Buffer) => bytes;

/** Starts a proxy on 127.0.0.1 and a free port, forwarding to `target` (`host:port`). */
export async function startMilvusFaultProxy(target: string): Promise<MilvusFaultProxy> {
  const definition = protoLoader.fromJSON(milvusJson as never, LOADER_OPTIONS);
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    milvus: { proto: { milvus: { MilvusService: { service: Record<string, MethodDefinition> } } } };
  };
  const service = loaded.milvus.proto.milvus.MilvusService.service;
  const upstream = new grpc.Client(
    target.replace(/^[a-z]+:\/\//i, ""),
    grpc.credentials.createInsecure(),
    {
      "grpc.max_receive_message_length": 256 * 1024 * 1024,
      "grpc.max_send_message_length": 256 * 1024 * 1024,
    },
  );
  const requests: RecordedRequest[] = [];
  const unimplemented = new Set<string>();
  let failures = 0;
  let goodBeforeFailures = 0;

  const passThrough: Record<string, GrpcModule.MethodDefinition<Buffer, Buffer>> = {};
  const implementation: Record<string, GrpcModule.UntypedHandleCall> = {};
  for (const [method, original] of Object.entries(service)) {
    if (original.requestStream || original.responseStream) continue;
    passThrough[method] = {
      path: original.path,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
    implementation[method] = (
      call: GrpcModule.ServerUnaryCall<Buffer, Buffer>,
      callback: GrpcModule.sendUnaryData<Buffer>,
    ) => {
      const bytes = call.request;
      requests.push({ method, request: original.requestDeserialize(bytes), bytes: bytes.length });
      if (unimplemented.has(method)) {
        callback({ code: grpc.status.UNIMPLEMENTED, details: `${method} is not implemented` });
        return;
      }
      if (method === "Insert" || method === "Upsert") {
        if (goodBeforeFailures > 0) {
          goodBeforeFailures--;
        } else if (failures > 0) {
          failures--;
          const status = { error_code: "UnexpectedError", reason: "injected write failure" };
          callback(null, original.responseSerialize({ status: { ...status, code: 65535 } }));
          return;
        }
      }
      upstream.makeUnaryRequest(
        original.path,
        identity,
        identity,
        bytes,
        call.metadata,
        (error, response) => {
          if (error) callback(error);
          else callback(null, response ?? Buffer.alloc(0));
        },
      );
    };
  }
  const server = new grpc.Server({ "grpc.max_receive_message_length": 256 * 1024 * 1024 });
  server.addService(passThrough as GrpcModule.ServiceDefinition, implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (failure, bound) =>
      failure ? reject(failure) : resolve(bound),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    requests,
    calls: (method) => requests.filter((request) => request.method === method),
    failWrites(count, after = 0) {
      failures = count;
      goodBeforeFailures = after;
    },
    unimplemented,
    close: () =>
      new Promise<void>((resolve) => {
        upstream.close();
        server.tryShutdown(() => resolve());
        setTimeout(() => server.forceShutdown(), 1000).unref();
      }),
  };
}
