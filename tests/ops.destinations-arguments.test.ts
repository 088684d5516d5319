import { randomBytes } from "node:crypto";
import { destinationNames, openDestinationsBucket, readDestination } from "@evpipe/shared";
import type { KV } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { destinationsOpsEnv, newSecretsKey, noDatabase } from "./support/destinations.ts";
import { createTestPipeline, type TestPipeline, uniqueId } from "./support/pipeline.ts";
import { runOps } from "./support/processes.ts";

let pipeline: TestPipeline;
let names: ReturnType<typeof destinationNames>;
let bucket: KV;
const env = (extra: Record<string, string> = {}) =>
  destinationsOpsEnv(pipeline, newSecretsKey(), { ...noDatabase, ...extra });
const ops = (...args: string[]) => runOps(["destinations", ...args], env());
const destinationKeys = async () => {
  const keys: string[] = [];
  for await (const key of await bucket.keys()) keys.push(key);
  return keys.sort();
};

beforeAll(async () => {
  pipeline = await createTestPipeline();
  names = destinationNames(pipeline.namespace);
  bucket = await openDestinationsBucket(pipeline.js, names);
});

afterAll(async () => {
  // Removes the destinations' streams and buckets with the rest.
  await pipeline?.cleanup();
});

const good = ["--type", "segment", "--url", "https://api.segment.io", "--secret", "wk"];
const nameRule = "must be 1 to 40 lower-case letters, digits or dashes, starting and ending with a letter or digit";
const keyRule = "32 random bytes in base64 (openssl rand -base64 32)";
const rateRule = "--rate must be a number of requests per second from 0.01 to 1000000";
const webhookSecret = "the webhook signing secret (receivers verify X-Evpipe-Signature with it)";
const addUsage =
  "usage: pnpm ops destinations add NAME --type webhook|segment|posthog|mixpanel --url URL --secret S [--events a,b] [--rate N] [--from T] [--json]";

describe("pnpm ops destinations add: refusals", () => {
  it.each([
    [
      ["x", "--type", "ftp", "--url", "https://x.test", "--secret", "s"],
      {},
      "--type must be one of webhook, segment, posthog, mixpanel",
    ],
    [
      ["x", "--url", "https://x.test", "--secret", "s"],
      {},
      "--type is required: one of webhook, segment, posthog, mixpanel",
    ],
    [
      ["x", "--type", "webhook", "--url", "ftp://x.test/h", "--secret", "s"],
      {},
      "--url must be an http:// or https:// URL",
    ],
    [["x", "--type", "webhook", "--url", "not a url", "--secret", "s"], {}, "--url must be an http:// or https:// URL"],
    [
      ["x", "--type", "webhook", "--url", "https://user:hunter2@x.test/h", "--secret", "s"],
      {},
      "--url must not carry a user name or password (the credential goes in --secret, where it is sealed)",
    ],
    [["x", "--type", "webhook", "--secret", "s"], {}, "--url is required: the vendor's base URL, http:// or https://"],
    [["Bad_Name", ...good], {}, `destination name "Bad_Name" ${nameRule}`],
    [["a.b", ...good], {}, `destination name "a.b" ${nameRule}`],
    [
      ["x", "--type", "segment", "--url", "https://x.test"],
      {},
      "--secret is required for a segment destination: the Segment write key",
    ],
    [
      ["x", "--type", "webhook", "--url", "https://x.test", "--secret", ""],
      {},
      `--secret is required for a webhook destination: ${webhookSecret}`,
    ],
    [
      ["x", ...good],
      { DESTINATION_SECRETS_KEY: "" },
      `invalid configuration: DESTINATION_SECRETS_KEY: is required: ${keyRule}`,
    ],
    [
      ["x", ...good],
      { DESTINATION_SECRETS_KEY: randomBytes(16).toString("base64") },
      `invalid configuration: DESTINATION_SECRETS_KEY: must be 32 bytes in base64 (openssl rand -base64 32)`,
    ],
    [["x", ...good, "--rate", "0"], {}, rateRule],
    [["x", ...good, "--rate", "fast"], {}, rateRule],
    [
      ["x", ...good, "--from", "yesterday"],
      {},
      '--from "yesterday" is not a time: use 2026-11-23T10:00:00Z, 2026-11-23, or 30m / 2h / 7d ago',
    ],
    [["x", ...good, "--from", "2999-01-01"], {}, "--from must not be in the future"],
    [
      ["x", ...good, "--events", "a,,b"],
      {},
      "--events must be a comma-separated list of event names (1 to 128 characters each)",
    ],
    [good, {}, addUsage],
  ] as Array<[string[], Record<string, string>, string]>)(
    "refuses add %j with exit 2 and its one-line reason, creating nothing",
    async (args, extra, message) => {
      // A namespace of its own: a refusal must create nothing at all, not even the streams or the bucket.
      const untouched = uniqueId("u");
      const result = await runOps(["destinations", "add", ...args], env({ NATS_NAMESPACE: untouched, ...extra }));
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toBe(`ops: ${message}\n`);
      expect(result.stdout).toBe("");
      const streams: string[] = [];
      for await (const name of pipeline.jsm.streams.names()) streams.push(name);
      expect(streams.filter((name) => name.includes(untouched))).toEqual([]);
    },
  );

  it("refuses a name that is taken with exit 2, changing nothing, and of three adds at once exactly one wins", async () => {
    const first = await ops("add", "taken", ...good);
    expect(first.code, first.stderr).toBe(0);
    const before = await readDestination(bucket, "taken");
    const again = await ops("add", "taken", "--type", "webhook", "--url", "https://other.test", "--secret", "other");
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(
      "ops: a destination named taken already exists (pnpm ops destinations remove taken first)\n",
    );
    expect((await readDestination(bucket, "taken"))?.revision).toBe(before?.revision);

    const racers = await Promise.all(
      ["one", "two", "three"].map((secret) =>
        ops("add", "raced", "--type", "webhook", "--url", "https://x.test", "--secret", secret),
      ),
    );
    expect(racers.map((result) => result.code).sort()).toEqual([0, 2, 2]);
    for (const loser of racers.filter((result) => result.code === 2)) {
      expect(loser.stderr).toBe(
        "ops: a destination named raced already exists (pnpm ops destinations remove raced first)\n",
      );
    }
  });
});

describe("pnpm ops destinations: unknown names, usage and reachability", () => {
  it.each([["pause"], ["resume"], ["remove"]])(
    "%s of an unknown destination says so and changes nothing",
    async (verb) => {
      const keys = await destinationKeys();
      const unknown = await ops(verb, "nope");
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toBe("ops: no destination named nope (pnpm ops destinations list shows them)\n");
      const bad = await ops(verb, "No.Pe");
      expect(bad.code).toBe(2);
      expect(bad.stderr).toBe(`ops: destination name "No.Pe" ${nameRule}\n`);
      const none = await ops(verb);
      expect(none.code).toBe(2);
      expect(none.stderr).toBe(`ops: usage: pnpm ops destinations ${verb} NAME\n`);
      expect(await destinationKeys()).toEqual(keys);
    },
  );

  it.each([
    [["dlq", "nope", "list"], 1, "no destination named nope (pnpm ops destinations list shows them)"],
    [["dlq", "Nope", "list"], 2, `destination name "Nope" ${nameRule}`],
    [["dlq", "taken", "show"], 2, "usage: pnpm ops destinations dlq taken show SEQ [--json]"],
    [
      ["dlq", "taken", "replay"],
      2,
      "say what to select: --all, --seq N..., --reason R, --code C, --since T or --until T",
    ],
    [["dlq", "taken", "list", "--limit", "0"], 2, "--limit must be a whole number above 0"],
  ] as Array<[string[], number, string]>)("refuses %j with exit %i and one line", async (args, code, message) => {
    const result = await ops(...args);
    expect(result.code).toBe(code);
    expect(result.stderr).toBe(`ops: ${message}\n`);
  });

  it("prints its usage with --help and in the top-level usage; a wrong subcommand gets the usage and exit 2", async () => {
    const help = await ops("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(addUsage.slice("usage: ".length));
    expect(help.stdout).toContain("pnpm ops destinations dlq NAME replay (--all");
    expect((await runOps(["--help"], env())).stdout).toContain("pnpm ops destinations remove NAME");
    for (const args of [["frobnicate"], ["dlq", "taken", "frobnicate"], []]) {
      const wrong = await ops(...args);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/^ops: usage:\npnpm ops destinations /);
      expect(wrong.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it.each([["list"], ["add", "x", ...good], ["pause", "x"], ["remove", "x"], ["dlq", "x", "list"]])(
    "destinations %s says in one line that NATS is unreachable",
    async (...args) => {
      const result = await runOps(["destinations", ...args], env({ NATS_URL: "nats://127.0.0.1:1" }));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^ops: cannot reach NATS at nats:\/\/127\.0\.0\.1:1: [^\n]+\n$/);
    },
  );
});
