import { describe, expect, it } from "vitest";
import { projectStreams } from "./destinations.ts";
import {
  type NatsPermissions,
  type NatsRole,
  natsAccountName,
  natsPermissions,
  natsRoles,
  natsServerAccounts,
} from "./nats-permissions.ts";

/** NATS subject matching: `*` one token, `>` one or more at the end. */
function matches(pattern: string, subject: string): boolean {
  const want = pattern.split(".");
  const have = subject.split(".");
  for (const [i, token] of want.entries()) {
    if (token === ">") return have.length > i;
    if (i >= have.length || (token !== "*" && token !== have[i])) return false;
  }
  return want.length === have.length;
}

/** As nats-server decides: some allow matches and no deny does. */
const mayPublish = (permissions: NatsPermissions, subject: string) =>
  permissions.publish.allow.some((p) => matches(p, subject)) &&
  !permissions.publish.deny.some((p) => matches(p, subject));

const ns = "ns";
const api = "$JS.API";

const table: Record<NatsRole, { may: string[]; mayNot: string[] }> = {
  gateway: {
    may: [
      "ns.events.ingest",
      `${api}.INFO`,
      `${api}.STREAM.CREATE.ns_EVENTS`,
      `${api}.STREAM.INFO.ns_EVENTS_DLQ_AUDIT`,
      `${api}.STREAM.CREATE.KV_ns_api-keys`,
      `${api}.DIRECT.GET.KV_ns_api-keys.$KV.ns_api-keys.abc`,
      `${api}.CONSUMER.CREATE.KV_ns_api-keys.w1.$KV.ns_api-keys.>`,
      "$JS.FC.KV_ns_api-keys.1.2",
      "$KV.ns_api-key-usage.abc",
      // GET /v1/pipeline: its own reports, everyone's read, JetStream's state read.
      "$KV.ns_pipeline-reports.gateway.0192e4c2-0000-7000-8000-00000000000a",
      `${api}.STREAM.CREATE.KV_ns_pipeline-reports`,
      `${api}.CONSUMER.CREATE.KV_ns_pipeline-reports.w1.$KV.ns_pipeline-reports.>`,
      `${api}.CONSUMER.INFO.ns_EVENTS.ns_events-writer`,
      `${api}.CONSUMER.INFO.ns_EVENTS.ns_destination-hook`,
      `${api}.CONSUMER.INFO.ns_DESTINATIONS_REPLAY.ns_destination-hook`,
      `${api}.STREAM.INFO.ns_DESTINATIONS_DLQ`,
      `${api}.CONSUMER.CREATE.ns_EVENTS_DLQ.oc_1`,
      `${api}.CONSUMER.MSG.NEXT.ns_EVENTS_DLQ.oc_1`,
      `${api}.CONSUMER.DELETE.ns_EVENTS_DLQ.oc_1`,
      `${api}.DIRECT.GET.KV_ns_destinations.$KV.ns_destinations.hook`,
      `${api}.CONSUMER.CREATE.KV_ns_destinations.k1.$KV.ns_destinations.>`,
      `${api}.DIRECT.GET.KV_ns_destinations-status.$KV.ns_destinations-status.hook`,
    ],
    mayNot: [
      "$KV.ns_api-keys.abc",
      "$KV.ns_pipeline-reports.consumer.0192e4c2-0000-7000-8000-00000000000a",
      "$KV.ns_destinations.hook",
      "$KV.ns_destinations-status.hook",
      `${api}.CONSUMER.CREATE.ns_EVENTS.ns_events-writer.ns.events.ingest`,
      `${api}.CONSUMER.MSG.NEXT.ns_EVENTS.ns_events-writer`,
      `${api}.CONSUMER.DELETE.ns_EVENTS.ns_destination-hook`,
      `${api}.STREAM.MSG.DELETE.ns_EVENTS_DLQ`,
      `${api}.STREAM.PURGE.ns_EVENTS_DLQ`,
      "$JS.ACK.ns_EVENTS_DLQ.oc_1.1.5.5.1700000000.0",
      `${api}.STREAM.UPDATE.ns_EVENTS`,
      `${api}.STREAM.UPDATE.ns_EVENTS_DLQ`,
      `${api}.STREAM.UPDATE.KV_ns_api-keys`,
      `${api}.STREAM.UPDATE.KV_ns_api-key-usage`,
      `${api}.STREAM.DELETE.ns_EVENTS`,
      `${api}.STREAM.PURGE.KV_ns_api-keys`,
      `${api}.STREAM.MSG.DELETE.KV_ns_api-keys`,
      `${api}.STREAM.CREATE.OTHER`,
      "ns.events.dlq",
      "events.ingest",
    ],
  },
  consumer: {
    may: [
      `${api}.CONSUMER.CREATE.ns_EVENTS.ns_events-writer.ns.events.ingest`,
      `${api}.CONSUMER.MSG.NEXT.ns_EVENTS.ns_events-writer`,
      "$JS.ACK.ns_EVENTS.ns_events-writer.1.5.5.1700000000.0",
      "ns.events.dlq",
      "$KV.ns_events-writer-history.42",
      `${api}.STREAM.INFO.ns_EVENTS_DLQ`,
      `${api}.STREAM.CREATE.ns_EVENTS_DLQ_AUDIT`,
      "$KV.ns_pipeline-reports.consumer.0192e4c2-0000-7000-8000-00000000000a",
      `${api}.STREAM.INFO.KV_ns_pipeline-reports`,
    ],
    mayNot: [
      "ns.events.ingest",
      "$KV.ns_pipeline-reports.gateway.0192e4c2-0000-7000-8000-00000000000a",
      `${api}.STREAM.UPDATE.KV_ns_pipeline-reports`,
      `${api}.STREAM.UPDATE.ns_EVENTS`,
      `${api}.STREAM.UPDATE.ns_EVENTS_DLQ`,
      `${api}.STREAM.UPDATE.KV_ns_events-writer-history`,
      "$KV.ns_api-keys.abc",
      `${api}.CONSUMER.MSG.NEXT.ns_EVENTS.ns_destination-hook`,
      `${api}.CONSUMER.DELETE.ns_EVENTS.ns_events-writer`,
      `${api}.STREAM.DELETE.ns_EVENTS`,
    ],
  },
  forwarder: {
    may: [
      `${api}.CONSUMER.CREATE.ns_EVENTS.ns_destination-hook.ns.events.ingest`,
      `${api}.CONSUMER.DELETE.ns_DESTINATIONS_REPLAY.ns_destination-hook`,
      `${api}.CONSUMER.MSG.NEXT.ns_DESTINATIONS_REPLAY.ns_destination-hook`,
      "$JS.ACK.ns_EVENTS.ns_destination-hook.1.5.5.1700000000.0",
      "ns.events.dlq.destination.hook",
      "$KV.ns_destinations-status.hook",
      "$KV.ns_destinations-attempts.hook:7",
      `${api}.STREAM.CREATE.ns_EVENTS`,
      `${api}.STREAM.CREATE.ns_DESTINATIONS_DLQ`,
      `${api}.STREAM.INFO.ns_DESTINATIONS_REPLAY`,
    ],
    mayNot: [
      `${api}.STREAM.UPDATE.ns_EVENTS`,
      `${api}.STREAM.UPDATE.ns_DESTINATIONS_DLQ`,
      `${api}.STREAM.UPDATE.ns_DESTINATIONS_REPLAY`,
      `${api}.STREAM.UPDATE.KV_ns_destinations-attempts`,
      `${api}.CONSUMER.DELETE.ns_EVENTS.ns_events-writer`,
      `${api}.CONSUMER.CREATE.ns_EVENTS.ns_events-writer.ns.events.ingest`,
      `${api}.CONSUMER.MSG.NEXT.ns_EVENTS.ns_events-writer`,
      "$JS.ACK.ns_EVENTS.ns_events-writer.1.5.5.1700000000.0",
      "$KV.ns_destinations.hook",
      "ns.events.ingest",
      `${api}.STREAM.PURGE.ns_DESTINATIONS_DLQ`,
    ],
  },
  ops: {
    may: [
      `${api}.STREAM.DELETE.ns_EVENTS`,
      `${api}.STREAM.UPDATE.ns_EVENTS`,
      `${api}.STREAM.PURGE.ns_DESTINATIONS_DLQ`,
      `${api}.STREAM.MSG.DELETE.ns_EVENTS_DLQ`,
      `${api}.CONSUMER.CREATE.ns_EVENTS_DLQ.ordered_1.ns.events.dlq`,
      `${api}.CONSUMER.MSG.NEXT.ns_EVENTS_DLQ.ordered_1`,
      "$KV.ns_api-keys.abc",
      "$KV.ns_destinations.hook",
      "ns.events.ingest",
      "ns.events.replay.destination.hook",
      "ns.events.dlq-audit",
    ],
    mayNot: [`${api}.STREAM.DELETE.EVENTS`, `${api}.STREAM.DELETE.other_EVENTS`, "$KV.other_api-keys.abc", "x.y"],
  },
};

describe("natsPermissions", () => {
  it.each(natsRoles)("gives %s what it uses and nothing it must not touch", (role) => {
    const permissions = natsPermissions(role, ns);
    const { may, mayNot } = table[role];
    expect(may.filter((subject) => !mayPublish(permissions, subject))).toEqual([]);
    expect(mayNot.filter((subject) => mayPublish(permissions, subject))).toEqual([]);
  });

  it.each(natsRoles.filter((role) => role !== "ops"))(
    "lets %s change no stream or bucket of the namespace: ops does (pnpm ops provision)",
    (role) => {
      const { streams, buckets } = projectStreams(ns);
      const all = [...streams, ...buckets.map((bucket) => `KV_${bucket}`)];
      const updates = all.map((name) => `${api}.STREAM.UPDATE.${name}`);
      expect(updates.filter((subject) => mayPublish(natsPermissions(role, ns), subject))).toEqual([]);
      expect(updates.filter((subject) => !mayPublish(natsPermissions("ops", ns), subject))).toEqual([]);
    },
  );

  it.each(natsRoles)("lets %s subscribe to its inboxes only", (role) => {
    expect(natsPermissions(role, ns).subscribe).toEqual({ allow: ["_INBOX.>"], deny: [] });
  });

  it("keeps each namespace to its own streams and subjects", () => {
    const other = natsPermissions("ops", "other");
    expect(table.ops.may.filter((subject) => mayPublish(other, subject))).toEqual([]);
    expect(mayPublish(natsPermissions("gateway"), "events.ingest")).toBe(true);
    expect(mayPublish(natsPermissions("gateway"), "ns.events.ingest")).toBe(false);
  });
});

describe("natsServerAccounts", () => {
  it("renders the project's account with JetStream and in it one user per role, a password read from nats-server's environment or an nkey", () => {
    const nkey = `U${"A".repeat(55)}`;
    const text = natsServerAccounts([{ role: "gateway" }, { role: "ops", nkey }], ns);
    expect(text.startsWith("accounts {\n  EVPIPE_NS: {\n    jetstream: enabled\n    users = [\n")).toBe(true);
    expect(text).toContain('user: "evpipe-ns-gateway"\n        password: $EVPIPE_NS_GATEWAY_NATS_PASSWORD\n');
    expect(text).toContain(`nkey: "${nkey}"\n        permissions: {`);
    expect(text).not.toContain("EVPIPE_NS_OPS_NATS_PASSWORD");
    // Quoted, so nats-server takes `$JS...` as a subject and not as a variable.
    expect(text).toContain('"$KV.ns_api-key-usage.>"');
    expect(text.match(/\{/g)?.length).toBe(text.match(/\}/g)?.length);
    expect(text.endsWith("    ]\n  }\n}\n")).toBe(true);
  });

  it.each([
    [undefined, "EVPIPE"],
    ["ns", "EVPIPE_NS"],
    ["perm-x_1", "EVPIPE_PERM-X_1"],
  ])("names the account of namespace %s %s", (namespace, name) => {
    expect(natsAccountName(namespace)).toBe(name);
    expect(natsServerAccounts([{ role: "gateway" }], namespace)).toContain(`\n  ${name}: {\n`);
  });
});
