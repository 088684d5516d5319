import { type ChildProcess, spawn } from "node:child_process";

export interface ProcessSpec {
  name: string;
  command: string;
  args: readonly string[];
  /** Variables of this child's own, over the supervisor's environment. */
  env?: Record<string, string>;
}

/** How a child ended: its exit code, or the signal that ended it. */
export interface ChildFate {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Supervisor {
  /** Runs a command that is meant to finish (the migration); resolves with how it ended. */
  runOnce(spec: ProcessSpec): Promise<ChildFate>;
  /**
   * Runs long-lived services until a signal stops them or one of them ends on its own (then the others are
   * stopped); resolves with the supervisor's exit code: 0 only for a requested stop every service completed.
   */
  runServices(specs: readonly ProcessSpec[]): Promise<number>;
  /**
   * A stop request: the first is forwarded once to every child. One that comes within `repeatWindowMs` is the
   * same stop arriving twice (under `pnpm start`, Ctrl-C reaches us from the terminal and again from pnpm, which
   * forwards it) and is dropped; a later one is forwarded too: the user insists, the services exit at once.
   */
  signal(signal: NodeJS.Signals): void;
  /** The signal that asked for a stop, if any. */
  readonly stopSignal: NodeJS.Signals | undefined;
  /** Sends SIGTERM to every child still running: for the supervisor's own exit. */
  killAll(): void;
}

export function describeFate(fate: ChildFate): string {
  return fate.signal ? `was killed by ${fate.signal}` : `exited with code ${fate.code}`;
}

/**
 * Starts children directly (no shell, no package-manager wrapper), each in its own process group: a Ctrl-C on
 * the terminal reaches only the supervisor, which forwards it exactly once, so a service never takes the
 * terminal's signal plus a forwarded one as "second signal, exit now". Output passes straight through.
 */
export function createSupervisor(options: {
  env: NodeJS.ProcessEnv;
  say: (line: string) => void;
  repeatWindowMs?: number;
}): Supervisor {
  const running = new Set<ChildProcess>();
  let stopSignal: NodeJS.Signals | undefined;
  let stopRequestedAt = 0;

  const start = (spec: ProcessSpec): Promise<ChildFate> =>
    new Promise((resolve) => {
      const child = spawn(spec.command, spec.args, {
        env: { ...options.env, ...spec.env },
        stdio: ["ignore", "inherit", "inherit"],
        detached: true,
      });
      running.add(child);
      const settle = (code: number | null, signal: NodeJS.Signals | null) => {
        running.delete(child);
        resolve({ name: spec.name, code, signal });
      };
      child.once("exit", settle);
      child.once("error", (err) => {
        options.say(`could not start ${spec.name}: ${err.message}`);
        settle(127, null);
      });
      // A stop requested while this child was being started still reaches it.
      if (stopSignal) child.kill(stopSignal);
    });

  const stoppedCleanly = (fate: ChildFate) => fate.code === 0 || (fate.signal !== null && fate.signal === stopSignal);

  const runServices = async (specs: readonly ProcessSpec[]): Promise<number> => {
    let failed: ChildFate | undefined;
    const fates = await Promise.all(
      specs.map(async (spec) => {
        const fate = await start(spec);
        if (!stopSignal && !failed) {
          failed = fate;
          const others = specs.filter((other) => other.name !== spec.name).map((other) => other.name);
          options.say(`${spec.name} ${describeFate(fate)}; stopping ${others.join(", ") || "nothing else"}`);
          for (const child of running) child.kill("SIGTERM");
        }
        return fate;
      }),
    );
    if (failed) return 1;
    const unclean = fates.filter((fate) => !stoppedCleanly(fate));
    for (const fate of unclean) options.say(`${fate.name} ${describeFate(fate)} while stopping`);
    return unclean.length > 0 ? 1 : 0;
  };

  return {
    runOnce: start,
    runServices,
    signal(signal) {
      const now = performance.now();
      if (stopSignal && now - stopRequestedAt < (options.repeatWindowMs ?? 1000)) return;
      if (!stopSignal) {
        stopSignal = signal;
        stopRequestedAt = now;
      }
      for (const child of running) child.kill(signal);
    },
    get stopSignal() {
      return stopSignal;
    },
    killAll() {
      for (const child of running) child.kill("SIGTERM");
    },
  };
}
