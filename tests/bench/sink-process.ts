import { spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import type { SinkCount } from "./destination-sink.ts";

/** destination-sink.ts running as a child process: its URL, its pid for the CPU figures, and its counts. */
export interface SinkProcess {
  url: string;
  pid: number;
  /** What each destination received so far, by name. */
  counts(): Promise<Record<string, SinkCount>>;
  /** Frees what the sink keeps of a destination that is done with. */
  forget(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the sink; `onUnexpectedExit` hears of it should it end before `stop()`. */
export async function startSinkProcess(onUnexpectedExit: (message: string) => void): Promise<SinkProcess> {
  const child = spawn(process.execPath, [path.join(import.meta.dirname, "destination-sink.ts")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", (line) =>
      resolve((JSON.parse(line) as { port: number }).port),
    );
    void exited.then((code) => reject(new Error(`the destination sink exited with ${code}: ${stderr}`)));
  });
  let stopping = false;
  void exited.then((code) => {
    if (!stopping) onUnexpectedExit(`the destination sink exited with ${code} during the run: ${stderr}`);
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    // It printed its port, so it was spawned and has a pid.
    pid: child.pid as number,
    async counts() {
      const res = await fetch(`${url}/counts`, { signal: AbortSignal.timeout(5000) });
      if (res.status !== 200) throw new Error(`the destination sink answered /counts with ${res.status}`);
      return (await res.json()) as Record<string, SinkCount>;
    },
    async forget(name) {
      const res = await fetch(`${url}/d/${name}`, { method: "DELETE", signal: AbortSignal.timeout(5000) });
      if (res.status !== 204) throw new Error(`the destination sink answered DELETE /d/${name} with ${res.status}`);
    },
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
