import { createDb, dropDatabase, ensureDatabase, migrateToLatest } from "@evpipe/db";
import {
  defaultStreamSettings,
  type NatsRole,
  natsNames,
  natsUserName,
  openKeysBucket,
  provisionStreams,
} from "@evpipe/shared";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { newSecretsKey } from "./support/destinations.ts";
import { pipelineSummaryWhere, postJson } from "./support/http.ts";
import { storedCountIn, uniqueId } from "./support/pipeline.ts";
import { installPoisonTrigger } from "./support/poison.ts";
import { type RunningService, runOps, runService, startService } from "./support/processes.ts";
import {
  otherAccount,
  permissionWarnings,
  runOutput,
  type SecuredNats,
  startFailure,
  startSecuredNats,
  startTokenNats,
} from "./support/secured-nats.ts";
import { sinkScripts, startVendorSink, type VendorSink } from "./support/vendor-sink.ts";
import { waitFor } from "./support/wait-for.ts";

const namespace = uniqueId("perm");
const names = natsNames(namespace);
const secretsKey = newSecretsKey();
const other = otherAccount("OTHER");
let nats: SecuredNats;
let databaseUrl: string;
const connections: NatsConnection[] = [];
const running: RunningService[] = [];

beforeAll(async () => {
  // The gateway an nkey user beside the others' passwords, in the project's account; another account beside it.
  nats = await startSecuredNats(namespace, { nkeyRoles: ["gateway"], otherAccounts: other.config });
  const base = new URL(inject("databaseUrl"));
  base.pathname = `/evp_${namespace}`;
  databaseUrl = base.toString();
  await ensureDatabase(databaseUrl);
  const db = createDb({ url: databaseUrl, maxConnections: 1, applicationName: "evpipe-tests" });
  await migrateToLatest(db);
  // Inserts of user ids poison-<SQLSTATE>-... fail with that SQLSTATE: a way to a dead letter.
  await installPoisonTrigger(db);
  await db.destroy();
});

afterAll(async () => {
  for (const service of running) await service.stop();
  for (const nc of connections) await nc.close();
  await nats?.cleanup();
  if (databaseUrl) await dropDatabase(databaseUrl);
});

/** A service's or ops' environment on the secured server, with a role's credentials or none. */
const env = (role?: NatsRole, extra: Record<string, string> = {}) => ({
  NATS_URL: nats.url,
  NATS_NAMESPACE: namespace,
  DATABASE_URL: databaseUrl,
  LOG_LEVEL: "info",
  DESTINATION_SECRETS_KEY: secretsKey,
  ...(role ? nats.credentials(role) : {}),
  ...extra,
});

async function connectAs(role: NatsRole): Promise<NatsConnection> {
  const nc = await connect({ ...nats.connectOptions(role), name: `tests-${role}` });
  connections.push(nc);
  return nc;
}

describe("NATS with users and permissions (pnpm ops nats-config)", () => {
  const refused = (reason: string) => `NATS at ${nats.url} refused the connection: ${reason}`;
  const noCredentials = `authorization violation: the server requires credentials and none were given (set NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CREDS or NATS_NKEY_SEED_FILE)`;

  it.each([
    ["no credentials", {}, noCredentials],
    [
      "a wrong password",
      { NATS_USER: natsUserName("consumer", namespace), NATS_PASSWORD: "not-the-password-x7" },
      "authorization violation (check NATS_USER and NATS_PASSWORD)",
    ],
  ])("the gateway with %s stops at once with exit 1 and one line, no stack", async (_, credentials, reason) => {
    const started = Date.now();
    const run = await runService("gateway", { ...env(), ...credentials, PORT: "0" });
    expect(startFailure(run), runOutput(run)).toEqual({ code: 1, problems: [refused(reason)], stack: false });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(runOutput(run)).not.toContain("not-the-password-x7");
  });

  it("ops without credentials prints one line and exits 1", async () => {
    const result = await runOps(["keys", "list"], env());
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toBe(`ops: ${refused(noCredentials)}\n`);
  });

  describe("each service with its own credentials", () => {
    let key: string;
    const sinks: VendorSink[] = [];
    let gateway: RunningService;
    const opsJson = async <T>(args: string[]): Promise<T> => {
      const result = await runOps([...args, "--json"], env("ops"));
      if (result.code !== 0) throw new Error(`ops ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
      return JSON.parse(result.stdout) as T;
    };

    beforeAll(async () => {
      ({ key } = await opsJson<{ key: string }>(["keys", "create", "--name", "perm", "--scopes", "ingest,read"]));
      sinks.push(await startVendorSink("webhook"), await startVendorSink("webhook", sinkScripts.always(400)));
      for (const [i, name] of ["hook", "refuser"].entries()) {
        const url = String(sinks[i]?.url);
        const args = ["destinations", "add", name, "--type", "webhook", "--url", url, "--secret", "s3"];
        const added = await runOps(args, env("ops"));
        if (added.code !== 0) throw new Error(`destinations add exited ${added.code}: ${added.stderr}`);
      }
      const reports = { PIPELINE_REPORT_INTERVAL_MS: "200", PIPELINE_SAMPLE_INTERVAL_MS: "200" };
      running.push(await startService("consumer", env("consumer", { ...reports, RETRY_DELAY_UNIT_MS: "10" })));
      running.push(await startService("forwarder", env("forwarder", { RETRY_DELAY_UNIT_MS: "10" })));
      gateway = await startService("gateway", env("gateway", { ...reports, KEY_USAGE_FLUSH_MS: "200" }));
      running.push(gateway);
    });
    afterAll(async () => {
      for (const sink of sinks) await sink.close();
    });

    it("202 from the gateway on its nkey (NATS_NKEY_SEED_FILE), stored, forwarded, dead-lettered by the consumer and the forwarder, all seen by ops", async () => {
      expect(Object.keys(nats.credentials("gateway"))).toEqual(["NATS_NKEY_SEED_FILE"]);
      const batch = {
        events: [
          { event: "secured", user_id: "u1" },
          { event: "secured", user_id: "poison-23514-p" },
        ],
      };
      const accepted = await postJson(gateway.url, "/v1/events/batch", batch, { "x-api-key": key });
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
      const [healthy, poisoned] = accepted.body.ids as [string, string];
      await waitFor("the healthy event to be stored", async () => (await storedCountIn(databaseUrl, [healthy])) === 1);
      await sinks[0]?.waitForDelivered([healthy, poisoned]);
      await waitFor("the poisoned event in the dead-letter queue", async () =>
        (await opsJson<Array<{ event_id: string }>>(["dlq", "list"])).some((row) => row.event_id === poisoned),
      );
      await waitFor("the refused events in the refuser's dead letters", async () => {
        const rows = await opsJson<Array<{ event_id: string }>>(["destinations", "dlq", "refuser", "list"]);
        return rows.length === 2;
      });
      expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
      // GET /v1/pipeline reads all of it as the gateway's user: consumers, streams, DLQ headers, every bucket.
      await pipelineSummaryWhere(gateway.url, key, "GET /v1/pipeline to show it all", (s) => {
        const [hook, refuser] = s.destinations;
        const counts = [s.dead_letters.by_reason?.permanent_error, hook?.delivered, refuser?.dead_letters];
        return counts.join() === "1,2,1" && s.writer?.lag === 0 && s.ingest.gateways + s.ingest.consumers === 2;
      });
      await waitFor(
        "the key's last use to be recorded",
        async () => (await opsJson<Array<{ last_used_at: string | null }>>(["keys", "list"]))[0]?.last_used_at,
      );
      // Stopped first: a service's log reaches stdout up to 100 ms late (ADR §46), all of it by its exit.
      for (const service of running) expect(await service.stop()).toBe(0);
      for (const service of running) expect(permissionWarnings(service)).toEqual([]);
    });
  });

  it("the gateway's credentials cannot write a key nor delete or empty a stream; the consumer's cannot ingest", async () => {
    // As the operators' CLI and the services would have made them, whichever test ran first.
    const admin = await connectAs("ops");
    const adminJsm = await admin.jetstreamManager();
    await provisionStreams(adminJsm, names, defaultStreamSettings);
    const adminKeys = await openKeysBucket(admin.jetstream(), names.keysBucket);

    const gateway = await connectAs("gateway");
    const keys = await gateway.jetstream().views.kv(names.keysBucket);
    const refusal = { code: "PERMISSIONS_VIOLATION" };
    await expect(keys.put("intruder", JSON.stringify({ id: "intruder" }))).rejects.toMatchObject(refusal);
    const gatewayJsm = await gateway.jetstreamManager();
    await expect(gatewayJsm.streams.delete(names.eventsStream)).rejects.toMatchObject(refusal);
    await expect(gatewayJsm.streams.purge(`KV_${names.keysBucket}`)).rejects.toMatchObject(refusal);
    await expect(
      gatewayJsm.streams.update(`KV_${names.keysBucket}`, { subjects: [`$KV.${names.keysBucket}.>`] }),
    ).rejects.toMatchObject(refusal);
    expect(await adminKeys.get("intruder")).toBeNull();

    const before = (await adminJsm.streams.info(names.eventsStream)).state.last_seq;
    const consumer = await connectAs("consumer");
    await expect(consumer.jetstream().publish(names.eventsSubject, "{}")).rejects.toMatchObject(refusal);
    expect((await adminJsm.streams.info(names.eventsStream)).state.last_seq).toBe(before);
    expect((await adminJsm.streams.info(names.eventsStream)).config.name).toBe(names.eventsStream);
  });

  it("neither the gateway's nor the consumer's credentials can update EVENTS (max_msgs 1 would empty it) nor create it anew", async () => {
    const admin = await connectAs("ops");
    const adminJsm = await admin.jetstreamManager();
    await provisionStreams(adminJsm, names, defaultStreamSettings);
    // Two messages, so that a stream cut to one would show.
    for (const n of [1, 2]) await admin.jetstream().publish(names.eventsSubject, JSON.stringify({ n }));
    const before = await adminJsm.streams.info(names.eventsStream);

    for (const role of ["gateway", "consumer"] as const) {
      const jsm = await (await connectAs(role)).jetstreamManager();
      await expect(jsm.streams.update(names.eventsStream, { max_msgs: 1 }), role).rejects.toMatchObject({
        code: "PERMISSIONS_VIOLATION",
      });
      // The create they keep (a fresh system starts in any order) cannot change an existing stream either.
      await expect(jsm.streams.add({ ...before.config, max_msgs: 1 }), role).rejects.toMatchObject({
        api_error: { err_code: 10058 },
      });
    }
    const after = await adminJsm.streams.info(names.eventsStream);
    expect(after.state.messages).toBe(before.state.messages);
    expect(after.config).toEqual(before.config);
  });

  it("another account on the server, allowed everything, neither sees EVENTS nor publishes into it", async () => {
    const admin = await connectAs("ops");
    const adminJsm = await admin.jetstreamManager();
    await provisionStreams(adminJsm, names, defaultStreamSettings);
    const before = (await adminJsm.streams.info(names.eventsStream)).state;
    const intruder = await connect({ ...other.connectOptions(nats.url), name: "tests-other" });
    connections.push(intruder);
    const intruderJsm = await intruder.jetstreamManager();
    await expect(intruderJsm.streams.info(names.eventsStream)).rejects.toThrow("stream not found");
    intruder.publish(names.eventsSubject, JSON.stringify({ from: "other" }));
    await intruder.flush();
    // Stored after the other's publish, had that reached EVENTS: its number shows whether it did.
    const marker = await admin.jetstream().publish(names.eventsSubject, JSON.stringify({ from: "ops" }));
    expect(marker.seq).toBe(before.last_seq + 1);
    expect((await adminJsm.streams.info(names.eventsStream)).state.messages).toBe(before.messages + 1);
  });
});

describe("NATS with a token (authorization { token })", () => {
  let tokenNats: SecuredNats;
  const tokenEnv = (credentials: Record<string, string>) => ({
    NATS_URL: tokenNats.url,
    NATS_NAMESPACE: uniqueId("token"),
    DATABASE_URL: "postgres://postgres@127.0.0.1:1/none",
    LOG_LEVEL: "info",
    ...credentials,
  });

  beforeAll(async () => {
    tokenNats = await startTokenNats();
  });
  afterAll(async () => {
    await tokenNats?.cleanup();
  });

  it("the gateway connects with NATS_TOKEN, and stops with exit 1 and one line given a wrong one", async () => {
    const gateway = await startService("gateway", tokenEnv(tokenNats.credentials("gateway")));
    expect(await gateway.stop()).toBe(0);

    const run = await runService("gateway", { ...tokenEnv({ NATS_TOKEN: "not-the-token-x7" }), PORT: "0" });
    const refused = `NATS at ${tokenNats.url} refused the connection: authorization violation (check NATS_TOKEN)`;
    expect(startFailure(run), runOutput(run)).toEqual({ code: 1, problems: [refused], stack: false });
    expect(runOutput(run)).not.toContain("not-the-token-x7");
  });
});

describe("NATS over TLS", () => {
  let secured: SecuredNats;
  const tlsNamespace = uniqueId("tls");
  const tlsEnv = (extra: Record<string, string>) => ({
    NATS_NAMESPACE: tlsNamespace,
    DATABASE_URL: "postgres://postgres@127.0.0.1:1/none",
    LOG_LEVEL: "info",
    ...secured.credentials("gateway"),
    ...extra,
  });

  beforeAll(async () => {
    secured = await startSecuredNats(tlsNamespace, { tls: true });
  });
  afterAll(async () => {
    await secured?.cleanup();
  });

  it("the gateway connects to tls:// with the server's CA in NATS_TLS_CA_FILE", async () => {
    const gateway = await startService(
      "gateway",
      tlsEnv({ NATS_URL: `tls://127.0.0.1:${secured.port}`, NATS_TLS_CA_FILE: `${secured.dir}/ca.pem` }),
    );
    expect(await gateway.stop()).toBe(0);
  });

  it.each([
    ["tls:// without the CA", () => `tls://127.0.0.1:${secured.port}`, /the server's TLS certificate is not trusted: /],
    ["nats:// to a server that requires TLS, without the CA", () => `nats://127.0.0.1:${secured.port}`, /not trusted/],
    ["tls:// to a server without TLS", () => nats.url.replace("nats://", "tls://"), /the server does not offer it$/],
  ])("the gateway given %s stops with exit 1 and one line", async (_, url, reason) => {
    const run = await runService("gateway", { ...tlsEnv({ NATS_URL: url() }), PORT: "0" });
    const problems = [expect.stringMatching(reason)];
    expect(startFailure(run), runOutput(run)).toEqual({ code: 1, problems, stack: false });
  });
});
