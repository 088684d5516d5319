import { parseArgs } from "node:util";
import {
  defaultKeyRate,
  generateApiKey,
  listKeyRecords,
  readKeyUsage,
  revokeKey,
  type Scope,
  scopes,
  storeKeyRecord,
} from "@evpipe/shared";
import type { KV } from "nats";
import { CliError, usageExit } from "./cli-error.ts";
import { formatTable } from "./table.ts";

export const keysUsage = `pnpm ops keys create --name NAME --scopes ingest,read [--rate N] [--burst N] [--json]
pnpm ops keys list [--json]
pnpm ops keys revoke ID`;

function parseScopes(value: string | undefined): Scope[] {
  if (!value) throw new CliError(`--scopes is required: a comma-separated list of ${scopes.join(", ")}`, usageExit);
  const requested = value.split(",").map((scope) => scope.trim());
  const unknown = requested.filter((scope) => !(scopes as readonly string[]).includes(scope));
  if (unknown.length > 0 || requested.length === 0) {
    throw new CliError(`unknown scope(s) ${unknown.join(", ")}; use ${scopes.join(", ")}`, usageExit);
  }
  return requested as Scope[];
}

function parseRate(option: "rate" | "burst", value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const rate = Number(value);
  if (!Number.isInteger(rate) || rate < 1 || rate > 1_000_000) {
    const what = option === "rate" ? "requests per second" : "requests";
    throw new CliError(`--${option} must be a whole number of ${what} from 1 to 1000000`, usageExit);
  }
  return rate;
}

export async function keysCommand(
  argv: string[],
  buckets: { keys: () => Promise<KV>; usage: () => Promise<KV> },
  print: (line: string) => void,
): Promise<void> {
  const openBucket = buckets.keys;
  const [action, ...rest] = argv;
  switch (action) {
    case "create": {
      const { values } = parseArgs({
        args: rest,
        options: {
          name: { type: "string" },
          scopes: { type: "string" },
          rate: { type: "string" },
          burst: { type: "string" },
          json: { type: "boolean" },
        },
      });
      if (!values.name?.trim()) throw new CliError("--name is required", usageExit);
      const rate = parseRate("rate", values.rate);
      const burst = parseRate("burst", values.burst);
      const { key, record } = generateApiKey({
        name: values.name.trim(),
        scopes: parseScopes(values.scopes),
        ...(rate === undefined ? {} : { rate }),
        ...(burst === undefined ? {} : { burst }),
      });
      await storeKeyRecord(await openBucket(), record);
      if (values.json) {
        print(JSON.stringify({ id: record.id, key, scopes: record.scopes }));
      } else {
        print(`Created key ${record.id} "${record.name}" with scopes ${record.scopes.join(", ")}.`);
        print("The key is shown this once; store it now:");
        print(key);
      }
      return;
    }
    case "list": {
      const { values } = parseArgs({ args: rest, options: { json: { type: "boolean" } } });
      const records = await listKeyRecords(await openBucket());
      const usage = await readKeyUsage(await buckets.usage());
      const rows = records.map(({ hash: _hash, ...visible }) => ({
        ...visible,
        last_used_at: usage.get(visible.id) ?? null,
      }));
      if (values.json) {
        print(JSON.stringify(rows));
        return;
      }
      if (rows.length === 0) {
        print("No keys yet: pnpm ops keys create --name NAME --scopes ingest");
        return;
      }
      const table = rows.map((row) => [
        row.id,
        row.name,
        row.scopes.join(","),
        `${row.rate ?? defaultKeyRate}/s burst ${row.burst ?? (row.rate ?? defaultKeyRate) * 2}`,
        row.created_at,
        row.last_used_at ?? "never",
        row.revoked_at ? `revoked ${row.revoked_at}` : "active",
      ]);
      for (const line of formatTable(["ID", "NAME", "SCOPES", "RATE", "CREATED", "LAST USED", "STATUS"], table))
        print(line);
      return;
    }
    case "revoke": {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true });
      const [id] = positionals;
      if (!id || positionals.length !== 1) throw new CliError("usage: pnpm ops keys revoke ID", usageExit);
      const record = await revokeKey(await openBucket(), id);
      if (!record) throw new CliError(`no key with id ${id}`);
      print(`Revoked key ${record.id} "${record.name}" at ${record.revoked_at}.`);
      return;
    }
    default:
      throw new CliError(`usage:\n${keysUsage}`, usageExit);
  }
}
