import { DiscardPolicy, nanos, RetentionPolicy, StorageType, type StreamConfig } from "nats";
import { describe, expect, it } from "vitest";
import { changedSettings, isJetStreamBusy } from "./replication.ts";

// What nats-server 2.9 answers for a stream created with our settings: every field, defaults filled in.
const existing = {
  name: "EVENTS",
  subjects: ["events.ingest"],
  retention: RetentionPolicy.Limits,
  max_consumers: -1,
  max_msgs: -1,
  max_bytes: 1024,
  max_age: nanos(60_000),
  max_msgs_per_subject: -1,
  max_msg_size: -1,
  discard: DiscardPolicy.New,
  storage: StorageType.File,
  num_replicas: 1,
  duplicate_window: nanos(120_000),
  sealed: false,
  deny_delete: false,
  deny_purge: false,
  allow_rollup_hdrs: false,
} as unknown as StreamConfig;

describe("changedSettings", () => {
  it("finds nothing to change when the stream already has every wanted setting", () => {
    const { name, subjects, storage, discard, max_bytes, num_replicas } = existing;
    expect(changedSettings(existing, { name, subjects, storage, discard, max_bytes, num_replicas })).toEqual([]);
  });

  it("names each wanted setting the stream lacks, arrays compared by value", () => {
    expect(
      changedSettings(existing, { max_bytes: 2048, num_replicas: 3, subjects: ["events.ingest", "more"] }),
    ).toEqual(["max_bytes", "num_replicas", "subjects"]);
  });

  it("ignores settings left undefined", () => {
    expect(changedSettings(existing, { max_bytes: undefined })).toEqual([]);
  });
});

describe("isJetStreamBusy", () => {
  it("takes timeouts, no responders and 'temporarily unavailable' as busy, and nothing else", () => {
    expect(isJetStreamBusy({ code: "TIMEOUT" })).toBe(true);
    expect(isJetStreamBusy({ code: "503" })).toBe(true);
    expect(isJetStreamBusy({ code: "500", api_error: { code: 503, err_code: 10008 } })).toBe(true);
    expect(isJetStreamBusy({ code: "400", api_error: { code: 400, err_code: 10058 } })).toBe(false);
    expect(isJetStreamBusy({ code: "PERMISSIONS_VIOLATION" })).toBe(false);
    expect(isJetStreamBusy(new Error("boom"))).toBe(false);
  });
});
