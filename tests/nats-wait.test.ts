import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "./support/free-port.ts";
import { uniqueId } from "./support/pipeline.ts";
import { natsServerBinary } from "./support/processes.ts";
import { waitFor } from "./support/wait-for.ts";

const repoRoot = path.resolve(import.meta.dirname, "..");

interface Started {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function startService(name: "gateway" | "consumer", env: Record<string, string>): Started {
  const child = spawn(process.execPath, [path.join(repoRoot, "services", name, "src", "main.ts")], {
    env: { ...process.env, PORT: "0", HEALTH_PORT: "0", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const lines: Array<Record<string, unknown>> = [];
  let text = "";
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    text += `${line}\n`;
    lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // "close", not "exit": the last lines a process wrote before exiting are read by then.
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  return { child, lines, output: () => text, exited };
}

function startNatsOn(port: number, args = ["-js"]): ChildProcess {
  const storeDir = mkdtempSync(path.join(tmpdir(), "evp-nats-wait-"));
  const child = spawn(natsServerBinary(), ["-a", "127.0.0.1", "-p", String(port), "-sd", storeDir, ...args], {
    stdio: "ignore",
  });
  children.push(child);
  cleanups.push(() => rmSync(storeDir, { recursive: true, force: true }));
  return child;
}

describe("a service started before NATS", () => {
  it.each(["gateway", "consumer"] as const)(
    "%s logs that it is waiting for NATS, keeps waiting, and exits promptly on SIGTERM",
    async (name) => {
      const port = await freePort();
      const service = startService(name, {
        NATS_URL: `nats://evpipe:hunter2@127.0.0.1:${port}`,
        NATS_NAMESPACE: uniqueId("w"),
        LOG_LEVEL: "debug",
      });
      const waiting = await waitFor("the waiting line", () =>
        service.lines.find((line) => line.msg === `waiting for NATS at nats://127.0.0.1:${port}`),
      );
      expect(waiting, service.output()).toMatchObject({ level: "info", natsUrl: `nats://127.0.0.1:${port}` });
      // Still there, and still trying: three attempts later it has neither exited nor given up.
      await waitFor("a third connection attempt", () =>
        service.lines.find((line) => line.msg === "NATS connection attempt failed" && Number(line.attempt) >= 3),
      );
      expect(service.child.exitCode, service.output()).toBeNull();
      expect(service.output()).not.toContain("hunter2");
      expect(service.output()).not.toContain("    at ");

      const stoppedAt = performance.now();
      service.child.kill("SIGTERM");
      const exit = await service.exited;
      expect(performance.now() - stoppedAt).toBeLessThan(2000);
      expect(exit.code === 0 || exit.signal === "SIGTERM", JSON.stringify(exit)).toBe(true);
    },
  );

  it("connects to another seed of NATS_URL when the first is down, and says which it reached", async () => {
    const [down, up] = [await freePort(), await freePort()];
    startNatsOn(up);
    const gateway = startService("gateway", {
      NATS_URL: `nats://127.0.0.1:${down}, nats://127.0.0.1:${up}`,
      NATS_NAMESPACE: uniqueId("w"),
      DATABASE_URL: "postgres://postgres@127.0.0.1:1/none",
    });
    await waitFor("the gateway to listen", () => gateway.lines.find((line) => line.msg === "gateway listening"), {
      timeoutMs: 20_000,
    });
    const connected = gateway.lines.find((line) => String(line.msg).startsWith("connected to NATS"));
    expect(connected, gateway.output()).toMatchObject({
      natsUrl: `nats://127.0.0.1:${down},nats://127.0.0.1:${up}`,
      natsServer: `127.0.0.1:${up}`,
    });
    gateway.child.kill("SIGTERM");
    expect((await gateway.exited).code, gateway.output()).toBe(0);
  });

  it("comes up when NATS does: the gateway waits, NATS starts on its port, /readyz answers 200", async () => {
    const port = await freePort();
    const gateway = startService("gateway", {
      NATS_URL: `nats://127.0.0.1:${port}`,
      NATS_NAMESPACE: uniqueId("w"),
      DATABASE_URL: "postgres://postgres@127.0.0.1:1/none",
    });
    await waitFor("the waiting line", () => gateway.lines.find((line) => line.msg?.toString().startsWith("waiting")));
    startNatsOn(port);
    const listening = await waitFor("the gateway to listen", () =>
      gateway.lines.find((line) => line.msg === "gateway listening"),
    );
    expect(gateway.lines.map((line) => line.msg)).toContain(`connected to NATS at nats://127.0.0.1:${port}`);
    const ready = await waitFor("/readyz to answer 200", async () => {
      const res = await fetch(`http://127.0.0.1:${listening.port as number}/readyz`);
      return res.status === 200 ? res.json() : undefined;
    });
    expect(ready).toMatchObject({ checks: { nats: true, streams: true } });
    gateway.child.kill("SIGTERM");
    expect((await gateway.exited).code, gateway.output()).toBe(0);
  });

  it.each([
    [
      "without JetStream",
      [],
      "",
      (port: number) => `JetStream is not enabled on NATS at nats://127.0.0.1:${port}: start nats-server with -js`,
    ],
    [
      "refusing our credentials",
      ["-js", "--user", "evpipe", "--pass", "right"],
      "evpipe:wrong@",
      (port: number) =>
        `NATS at nats://127.0.0.1:${port} refused the connection: authorization violation (check the user, password or token in NATS_URL)`,
    ],
  ] as const)(
    "stops with exit 1 and one line, no stack, when NATS is up but %s",
    async (_, args, credentials, line) => {
      const port = await freePort();
      startNatsOn(port, [...args]);
      // Reachable first, so what follows is the server's answer and not a wait for it to start.
      await waitFor(
        "NATS to listen",
        () =>
          new Promise<boolean>((resolve) => {
            const socket = net.connect(port, "127.0.0.1", () => {
              socket.destroy();
              resolve(true);
            });
            socket.on("error", () => resolve(false));
          }),
      );
      for (const name of ["gateway", "consumer"] as const) {
        const service = startService(name, {
          NATS_URL: `nats://${credentials}127.0.0.1:${port}`,
          NATS_NAMESPACE: uniqueId("w"),
        });
        const exit = await service.exited;
        expect(exit.code, service.output()).toBe(1);
        const fatal = service.lines.filter((entry) => entry.level === "fatal");
        expect(
          fatal.map((entry) => entry.msg),
          service.output(),
        ).toEqual([line(port)]);
        expect(service.output()).not.toContain("    at ");
        expect(service.output()).not.toContain("wrong");
      }
    },
  );
});
