/**
 * A History to and from the proto JSON of `temporal workflow show --output json`. The SDK's own converters
 * (historyToJSON and historyFromJSON of @temporalio/common, which the replayer also calls for a history given as
 * JSON) fail here with "type must be a Type": npm gave @temporalio/common and @temporalio/proto separate copies of
 * protobufjs (the top level holds grpc's protobufjs 7), and protobufjs's JSON extension only accepts message types of
 * its own copy. So the extension is taken from the copy @temporalio/proto itself loads, and given that copy's type.
 */
import { createRequire } from 'node:module';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';
import type { History } from '@temporalio/common/lib/proto-utils';

interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

const fromProtoPackage = createRequire(require.resolve('@temporalio/proto'));
const protojson = fromProtoPackage('protobufjs/ext/protojson') as ProtoJson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History');

export function historyToJson(history: History): unknown {
  return protojson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history));
}

/** Fields a newer server or CLI added are ignored, as the SDK's historyFromJSON does. */
export function historyFromJson(json: unknown): History {
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { events?: unknown }).events)) {
    throw new TypeError('not a history: expected an object with an array of events');
  }
  return protojson.fromJson(historyType, json, { ignoreUnknownFields: true }) as History;
}
