import { type DestinationNames, destinationNames, projectStreams } from "./destinations.ts";
import { type NatsNames, natsNames } from "./names.ts";

/** The processes that connect to NATS, each as a user of its own. */
export const natsRoles = ["gateway", "consumer", "forwarder", "ops"] as const;
export type NatsRole = (typeof natsRoles)[number];

export interface SubjectRules {
  allow: string[];
  deny: string[];
}

/** A nats-server user's permissions: deny wins over allow, and what no allow names is refused. */
export interface NatsPermissions {
  publish: SubjectRules;
  subscribe: SubjectRules;
}

const api = "$JS.API";
const kvStream = (bucket: string) => `KV_${bucket}`;

/**
 * A stream read and, when missing, created, so that a fresh system starts in any order. Creating a stream that
 * exists with another configuration is refused by JetStream; changing one is `pnpm ops provision`'s.
 */
function stream(name: string): string[] {
  return [`${api}.STREAM.INFO.${name}`, `${api}.STREAM.CREATE.${name}`];
}

/** A bucket opened (created when missing) and read by key. */
function bucketRead(bucket: string): string[] {
  const name = kvStream(bucket);
  return [
    ...stream(name),
    `${api}.DIRECT.GET.${name}`,
    // Direct gets by key carry the key's subject in theirs.
    `${api}.DIRECT.GET.${name}.>`,
    `${api}.STREAM.MSG.GET.${name}`,
  ];
}

/** A bucket watched: an ordered push consumer, created again after a gap, with flow control answered. */
function bucketWatch(bucket: string): string[] {
  const name = kvStream(bucket);
  return [
    `${api}.CONSUMER.CREATE.${name}`,
    `${api}.CONSUMER.CREATE.${name}.>`,
    `${api}.CONSUMER.INFO.${name}.>`,
    `$JS.FC.${name}.>`,
  ];
}

/** A durable pull consumer (`*` for any on the stream): provisioned, read, acknowledged. */
function pullConsumer(streamName: string, consumer: string, remove = false): string[] {
  return [
    `${api}.CONSUMER.INFO.${streamName}.${consumer}`,
    `${api}.CONSUMER.CREATE.${streamName}.${consumer}`,
    `${api}.CONSUMER.CREATE.${streamName}.${consumer}.>`,
    `${api}.CONSUMER.MSG.NEXT.${streamName}.${consumer}`,
    `$JS.ACK.${streamName}.${consumer}.>`,
    ...(remove ? [`${api}.CONSUMER.DELETE.${streamName}.${consumer}`] : []),
  ];
}

/** Pages of a stream read by ordered consumers (any name, no acks), each deleted after its page; nothing removed. */
function orderedReader(streamName: string): string[] {
  return [
    `${api}.CONSUMER.CREATE.${streamName}.*`,
    `${api}.CONSUMER.CREATE.${streamName}.*.>`,
    `${api}.CONSUMER.MSG.NEXT.${streamName}.*`,
    `${api}.CONSUMER.DELETE.${streamName}.*`,
  ];
}

/** What GET /v1/pipeline reads, read-only: consumers' and streams' info, DLQ headers, the buckets it watches. */
function pipelineSummary(names: NatsNames, destinations: DestinationNames): string[] {
  return [
    `${api}.CONSUMER.INFO.${names.eventsStream}.*`,
    `${api}.CONSUMER.INFO.${destinations.replayStream}.*`,
    `${api}.STREAM.INFO.${destinations.dlqStream}`,
    ...orderedReader(names.dlqStream),
    ...bucketRead(names.pipelineReportsBucket),
    ...bucketWatch(names.pipelineReportsBucket),
    ...bucketRead(destinations.bucket),
    // Listing the destinations' names is a watch of the bucket's keys.
    ...bucketWatch(destinations.bucket),
    ...bucketRead(destinations.statusBucket),
  ];
}

/** Everything on one stream: what `pnpm ops` needs to read, replay, purge and remove. */
function streamAdmin(name: string): string[] {
  return [
    `${api}.STREAM.*.${name}`,
    `${api}.STREAM.MSG.*.${name}`,
    `${api}.DIRECT.GET.${name}`,
    `${api}.DIRECT.GET.${name}.>`,
    `${api}.CONSUMER.*.${name}`,
    `${api}.CONSUMER.*.${name}.>`,
    `${api}.CONSUMER.DURABLE.CREATE.${name}.>`,
    `${api}.CONSUMER.MSG.NEXT.${name}.>`,
    `$JS.ACK.${name}.>`,
    `$JS.FC.${name}.>`,
  ];
}

/**
 * No service removes, empties or reconfigures a stream, nor deletes a stored message: that is the operators'
 * CLI's. An update empties a stream as surely as a purge (max_msgs 1, a shorter max_age, fewer subjects, rollups
 * allowed), and sources could feed a bucket from another stream.
 */
const serviceDenies = [
  `${api}.STREAM.DELETE.>`,
  `${api}.STREAM.PURGE.>`,
  `${api}.STREAM.MSG.DELETE.>`,
  `${api}.STREAM.UPDATE.>`,
];

/** A bucket a role reads but must never write. */
const readOnly = (bucket: string) => [`$KV.${bucket}.>`];

/** Every stream and subject of one namespace, for the operators' CLI. */
function projectResources(namespace?: string) {
  const names = natsNames(namespace);
  const destinations = destinationNames(namespace);
  const { streams, buckets } = projectStreams(namespace);
  return {
    streams: [...streams, ...buckets.map(kvStream)],
    subjects: [
      names.eventsSubject,
      names.dlqSubject,
      names.dlqAuditSubject,
      destinations.dlqSubjects,
      destinations.replaySubjects,
      ...buckets.map((bucket) => `$KV.${bucket}.>`),
    ],
  };
}

/**
 * What each role may publish and subscribe to, from the same names the services use. Every request's answer
 * comes back on an inbox (`_INBOX.>`), JetStream's API included; the allows name each stream, consumer and
 * bucket the role touches and the API verbs it uses on them (read from each service's main.ts), so a new call
 * in a service needs its line here, or it fails with a permissions violation in that service's log. Services
 * create what is missing and never change an existing stream or bucket: their start sends no update when the
 * settings already match, and `pnpm ops provision` (the ops user) carries out a change, NATS_REPLICAS included.
 */
export function natsPermissions(role: NatsRole, namespace?: string): NatsPermissions {
  const names = natsNames(namespace);
  const destinations = destinationNames(namespace);
  const inbox = { allow: ["_INBOX.>"], deny: [] };
  const projectStreams = [names.eventsStream, names.dlqStream, names.dlqAuditStream];
  switch (role) {
    case "gateway":
      return {
        publish: {
          allow: [
            `${api}.INFO`,
            ...projectStreams.flatMap(stream),
            ...bucketRead(names.keysBucket),
            ...bucketWatch(names.keysBucket),
            ...bucketRead(names.keyUsageBucket),
            `$KV.${names.keyUsageBucket}.>`,
            names.eventsSubject,
            ...pipelineSummary(names, destinations),
            // Its own reports, as a gateway.
            `$KV.${names.pipelineReportsBucket}.gateway.*`,
          ],
          deny: [
            ...serviceDenies,
            ...[names.keysBucket, destinations.bucket, destinations.statusBucket].flatMap(readOnly),
          ],
        },
        subscribe: inbox,
      };
    case "consumer":
      return {
        publish: {
          allow: [
            `${api}.INFO`,
            ...projectStreams.flatMap(stream),
            ...pullConsumer(names.eventsStream, names.writerConsumer),
            names.dlqSubject,
            ...bucketRead(names.writerHistoryBucket),
            `$KV.${names.writerHistoryBucket}.>`,
            ...bucketRead(names.pipelineReportsBucket),
            `$KV.${names.pipelineReportsBucket}.consumer.*`,
          ],
          deny: [...serviceDenies, names.eventsSubject],
        },
        subscribe: inbox,
      };
    case "forwarder":
      return {
        publish: {
          allow: [
            `${api}.INFO`,
            ...[...projectStreams, destinations.dlqStream, destinations.replayStream].flatMap(stream),
            ...bucketRead(destinations.bucket),
            ...bucketWatch(destinations.bucket),
            ...[destinations.statusBucket, destinations.attemptsBucket].flatMap((bucket) => [
              ...bucketRead(bucket),
              `$KV.${bucket}.>`,
            ]),
            ...pullConsumer(names.eventsStream, "*", true),
            ...pullConsumer(destinations.replayStream, "*", true),
            destinations.dlqSubjects,
          ],
          deny: [
            ...serviceDenies,
            ...readOnly(destinations.bucket),
            // Its consumers are any on EVENTS but the writer's.
            `${api}.CONSUMER.*.${names.eventsStream}.${names.writerConsumer}`,
            `${api}.CONSUMER.*.${names.eventsStream}.${names.writerConsumer}.>`,
            `${api}.CONSUMER.MSG.NEXT.${names.eventsStream}.${names.writerConsumer}`,
            `$JS.ACK.${names.eventsStream}.${names.writerConsumer}.>`,
          ],
        },
        subscribe: inbox,
      };
    case "ops": {
      const project = projectResources(namespace);
      return {
        publish: { allow: [`${api}.INFO`, ...project.streams.flatMap(streamAdmin), ...project.subjects], deny: [] },
        subscribe: inbox,
      };
    }
  }
}

/** The user name of a role: one per role and namespace, so two namespaces on one server never share one. */
export function natsUserName(role: NatsRole, namespace?: string): string {
  return namespace ? `evpipe-${namespace}-${role}` : `evpipe-${role}`;
}

/**
 * The environment variable nats-server reads a role's password from (`password: $VAR` in its config). It parses
 * the value as config: "7e3..." stops it as a bad number, "true" is no string, and a `;` silently ends the
 * password there; letters and digits, a letter first, are read as written.
 */
export function natsPasswordVariable(role: NatsRole, namespace?: string): string {
  const scope = namespace ? `${namespace.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_` : "";
  return `EVPIPE_${scope}${role.toUpperCase()}_NATS_PASSWORD`;
}

export interface NatsUserEntry {
  role: NatsRole;
  /** A user nkey's public key (`U...`); without one, a user name and a password read from the environment. */
  nkey?: string;
}

/**
 * The nats-server account holding the project's users, and so its streams: `EVPIPE`, or `EVPIPE_<NAMESPACE>`
 * upper-cased (an account name is letters, digits, `_` and `-`).
 */
export function natsAccountName(namespace?: string): string {
  return namespace ? `EVPIPE_${namespace.toUpperCase().replace(/[^A-Z0-9_-]/g, "_")}` : "EVPIPE";
}

const quoted = (text: string) => JSON.stringify(text);
const indented = (lines: readonly string[], depth: number) => lines.map((line) => `${" ".repeat(depth)}${line}`);
const list = (subjects: readonly string[]) =>
  subjects.length === 0 ? ["[]"] : ["[", ...indented(subjects.map(quoted), 2), "]"];

/** `name: [...]`, the list's first line on the name's. */
function named(name: string, lines: readonly string[]): string[] {
  const [first = "", ...rest] = lines;
  return [`${name}: ${first}`, ...rest];
}

function renderRules(name: "publish" | "subscribe", { allow, deny }: SubjectRules): string[] {
  const denied = deny.length > 0 ? named("deny", list(deny)) : [];
  return [`${name}: {`, ...indented([...named("allow", list(allow)), ...denied], 2), "}"];
}

function renderUser(entry: NatsUserEntry, namespace: string | undefined): string[] {
  const permissions = natsPermissions(entry.role, namespace);
  const identity = entry.nkey
    ? [`nkey: ${quoted(entry.nkey)}`]
    : [
        `user: ${quoted(natsUserName(entry.role, namespace))}`,
        `password: $${natsPasswordVariable(entry.role, namespace)}`,
      ];
  const rules = [...renderRules("publish", permissions.publish), ...renderRules("subscribe", permissions.subscribe)];
  return [`# ${entry.role}`, "{", ...indented([...identity, "permissions: {", ...indented(rules, 2), "}"], 2), "}"];
}

/**
 * The `accounts` block of a nats-server config: an account of the project's own with JetStream, its streams seen
 * by no other account, and in it each role's user and permissions. Passwords are never in it: each is a variable
 * nats-server resolves from its own environment (a bcrypt hash works there too).
 */
export function natsServerAccounts(entries: readonly NatsUserEntry[], namespace?: string): string {
  const users = entries.flatMap((entry) => renderUser(entry, namespace));
  const account = ["jetstream: enabled", "users = [", ...indented(users, 2), "]"];
  const lines = ["accounts {", ...indented([`${natsAccountName(namespace)}: {`, ...indented(account, 2), "}"], 2), "}"];
  return `${lines.join("\n")}\n`;
}
