import {
  type DeadLetterReason,
  type DestinationHealth,
  type DestinationHealthSources,
  isNotFound,
  type NatsNames,
  readDeadLetterRange,
  readDestinationsHealth,
} from "@evpipe/shared";
import type { PipelineSummary } from "@evpipe/shared/api-responses";
import type { JetStreamClient, JetStreamManager } from "nats";
import { DeadLetterTally, type DlqState, needsRecount, planTally } from "./dead-letter-tally.ts";

/** The part of the summary read from JetStream, renewed at most every refresh interval. */
export type JetStreamSample = Pick<PipelineSummary, "writer" | "events_stream" | "dead_letters" | "destinations">;

export interface JetStreamSampleDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: NatsNames;
  destinations: Omit<DestinationHealthSources, "jsm" | "eventsStream">;
  /** Above this many dead letters, by_reason is null instead of a scan of their headers. */
  tallyMax: number;
}

const unlessNotFound = (err: unknown) => {
  if (isNotFound(err)) return undefined;
  throw err;
};

/**
 * The part of a sample that changes what later samples build on. A sample abandoned at its timeout is aborted:
 * every change checks the signal first, so it stops at once, between two changes, and leaves the tally as read
 * up to its last dead letter for the next sample to carry on from.
 */
interface TallyStep {
  tally: DeadLetterTally;
  signal: AbortSignal;
}

/** Reads [from, to] of the DLQ, headers only, into the tally. */
async function readInto(deps: JetStreamSampleDeps, { tally, signal }: TallyStep, from: number, to: number) {
  if (from > to) return;
  const range = readDeadLetterRange(deps.js, { stream: deps.names.dlqStream }, { opt_start_seq: from }, to, {
    headersOnly: true,
  });
  for await (const record of range) {
    signal.throwIfAborted();
    tally.add(record.seq, record.reason);
  }
  signal.throwIfAborted();
  tally.readUpTo(to);
}

/** Dead letters by reason, reading only what arrived since the last sample (planTally says what). */
async function tallyDeadLetters(
  deps: JetStreamSampleDeps,
  step: TallyStep,
  state: DlqState,
): Promise<Record<DeadLetterReason, number> | null> {
  const { tally, signal } = step;
  signal.throwIfAborted();
  const plan = planTally(tally.readTo, state, deps.tallyMax);
  if (plan.kind === "overCap") {
    tally.clear();
    return null;
  }
  if (plan.restart) tally.clear();
  tally.forgetBelow(plan.forgetBelow);
  await readInto(deps, step, plan.from, plan.to);
  signal.throwIfAborted();
  if (needsRecount(tally.size, state)) {
    tally.clear();
    await readInto(deps, step, state.firstSeq, state.lastSeq);
  }
  return tally.byReason();
}

/** A destination as operators see it on the dashboard: no URL, no secret, no event filter. */
export function destinationSummary({ record, lag, status, deadLetters }: DestinationHealth) {
  return {
    name: record.name,
    type: record.type,
    state: record.paused ? ("paused" as const) : ("active" as const),
    lag,
    delivered: status?.delivered ?? 0,
    failed: status?.failed ?? 0,
    retried: status?.retried ?? 0,
    dead_letters: deadLetters,
    last_success_at: status?.last_success_at ?? null,
    // A vendor's error text could quote the URL it was sent to (a token in its path, say).
    last_error: status?.last_error
      ? { at: status.last_error.at, message: status.last_error.message.replace(/\bhttps?:\/\/\S+/gi, "<url>") }
      : null,
  };
}

/**
 * A sampler of JetStream: the writer's consumer, both streams, the DLQ's reasons (tallied incrementally across
 * samples) and the destinations. One sample at a time: the caller (summary-source.ts) starts the next only once
 * the last settled or was aborted, and an aborted one no longer touches the tally.
 */
export function createJetStreamSampler(deps: JetStreamSampleDeps): (signal: AbortSignal) => Promise<JetStreamSample> {
  const tally = new DeadLetterTally();
  const { jsm, names } = deps;
  const dlq = async (signal: AbortSignal) => {
    const info = await jsm.streams.info(names.dlqStream);
    const { first_seq: firstSeq, last_seq: lastSeq, messages } = info.state;
    return { messages, by_reason: await tallyDeadLetters(deps, { tally, signal }, { firstSeq, lastSeq, messages }) };
  };
  return async (signal) => {
    const [writer, events, deadLetters, destinations] = await Promise.all([
      jsm.consumers.info(names.eventsStream, names.writerConsumer).catch(unlessNotFound),
      jsm.streams.info(names.eventsStream),
      dlq(signal),
      readDestinationsHealth({ ...deps.destinations, jsm, eventsStream: names.eventsStream }),
    ]);
    return {
      writer: writer
        ? {
            lag: writer.num_pending + writer.num_ack_pending,
            pending: writer.num_pending,
            unacknowledged: writer.num_ack_pending,
          }
        : null,
      events_stream: {
        messages: events.state.messages,
        bytes: events.state.bytes,
        // JetStream says -1 for no cap.
        max_bytes: events.config.max_bytes > 0 ? events.config.max_bytes : null,
      },
      dead_letters: deadLetters,
      destinations: destinations.map(destinationSummary),
    };
  };
}
