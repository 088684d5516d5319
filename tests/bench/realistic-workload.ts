import { randomUUID } from "node:crypto";
import { type EnvelopeEvent, seededRandom } from "@evpipe/shared";

/** The shape of the realistic workload; every run prints it. */
export interface RealisticParams {
  seed: number;
  /** Distinct users the events are drawn from. */
  population: number;
  /** Zipf exponent of the users' ranks: at 1, the heaviest user sends about 1/ln(population) of the events. */
  userSkew: number;
  /** Distinct event names (at most 50), drawn with the same skew. */
  eventNames: number;
  /** Average serialized size of an event's metadata; each is between 0.5 and 1.5 times this. */
  metadataBytes: number;
  /** Share of events whose client_ts lies in the `lateDays` UTC days before today. */
  lateShare: number;
  lateDays: number;
}

export const defaultRealisticParams: RealisticParams = {
  seed: 1,
  population: 100_000,
  userSkew: 1,
  eventNames: 40,
  metadataBytes: 300,
  lateShare: 0.02,
  lateDays: 3,
};

/** Draws ranks 0..size-1 with P(rank) proportional to 1 / (rank + 1)^exponent, by bisecting a cumulative table. */
export function zipfSampler(size: number, exponent: number, random: () => number): () => number {
  const cumulative = new Float64Array(size);
  let total = 0;
  for (let rank = 0; rank < size; rank++) {
    total += 1 / (rank + 1) ** exponent;
    cumulative[rank] = total;
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = size - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((cumulative[middle] as number) < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

const subjects = ["page", "product", "cart", "checkout", "account", "search", "video", "article", "invite", "plan"];
const actions = ["viewed", "clicked", "started", "completed", "failed"];
const sections = ["docs", "blog", "pricing", "shop", "account", "help"];
const browsers = ["Chrome 131", "Firefox 133", "Safari 18.2", "Edge 131"];
const systems = ["Windows 11", "macOS 15.2", "iOS 18.2", "Android 15", "Ubuntu 24.04"];
const locales = ["en-US", "de-DE", "fr-FR", "ja-JP", "pt-BR", "es-ES"];
const plans = ["free", "pro", "team", "enterprise"];
const metadataPoolSize = 1024;

function pick<T>(values: readonly T[], random: () => number): T {
  return values[Math.floor(random() * values.length)] as T;
}

function hex(random: () => number, length: number): string {
  let text = "";
  while (text.length < length)
    text += Math.floor(random() * 0x1_0000_0000)
      .toString(16)
      .padStart(8, "0");
  return text.slice(0, length);
}

/** A product analytics event's properties, padded with a user agent to about `targetBytes` serialized. */
function metadataObject(random: () => number, targetBytes: number): Record<string, unknown> {
  const browser = pick(browsers, random);
  const metadata: Record<string, unknown> = {
    path: `/${pick(sections, random)}/${hex(random, 6)}`,
    referrer: random() < 0.5 ? "https://www.google.com/" : `https://news.example.com/item?id=${hex(random, 5)}`,
    plan: pick(plans, random),
    browser,
    os: pick(systems, random),
    locale: pick(locales, random),
    screen: pick(["1920x1080", "1440x900", "390x844", "2560x1440"], random),
    session_id: hex(random, 16),
    properties: { item_id: `sku-${hex(random, 6)}`, price: Math.round(random() * 20000) / 100, quantity: 1 },
  };
  const size = Math.round(targetBytes * (0.5 + random()));
  const base = JSON.stringify(metadata).length + ',"user_agent":""'.length;
  const agent = `Mozilla/5.0 (${metadata.os}) AppleWebKit/537.36 (KHTML, like Gecko) ${browser} ${hex(random, 256)}`;
  metadata.user_agent = agent.slice(0, Math.max(8, size - base));
  return metadata;
}

/** One event's draws: which name, user and metadata, and its client time (ms since the epoch). */
export interface EventDraw {
  name: number;
  user: number;
  metadata: number;
  clientMs: number;
}

const dayMs = 86_400_000;

/**
 * The realistic workload: pools of users, names and metadata made once from the seed, then one draw per event
 * from the same seeded sequence. Two generators with one seed draw the same events; only ids and the wall
 * clock differ. Bodies are concatenated from pre-serialized pieces, so the load generator stays cheap.
 */
export class RealisticEvents {
  readonly params: RealisticParams;
  readonly names: string[];
  readonly users: string[];
  readonly metadata: Array<Record<string, unknown>>;
  readonly #json: { names: string[]; users: string[]; metadata: string[] };
  readonly #random: () => number;
  readonly #user: () => number;
  readonly #name: () => number;

  constructor(params: RealisticParams) {
    if (params.eventNames < 1 || params.eventNames > subjects.length * actions.length) {
      throw new Error(`eventNames must be 1 to ${subjects.length * actions.length}, got ${params.eventNames}`);
    }
    this.params = params;
    const random = seededRandom(params.seed);
    this.names = subjects.flatMap((subject) => actions.map((action) => `${subject}_${action}`));
    this.names = this.names.slice(0, params.eventNames);
    this.users = Array.from({ length: params.population }, (_, rank) => `user-${rank}-${hex(random, 6)}`);
    this.metadata = Array.from({ length: metadataPoolSize }, () => metadataObject(random, params.metadataBytes));
    this.#json = {
      names: this.names.map((name) => JSON.stringify(name)),
      users: this.users.map((user) => JSON.stringify(user)),
      metadata: this.metadata.map((metadata) => JSON.stringify(metadata)),
    };
    this.#random = random;
    this.#user = zipfSampler(params.population, params.userSkew, random);
    this.#name = zipfSampler(params.eventNames, params.userSkew, random);
  }

  /** The next event's draws; client times over today (UTC) until `nowMs`, or in the late tail before it. */
  draw(nowMs: number): EventDraw {
    const random = this.#random;
    const today = nowMs - (nowMs % dayMs);
    const late = random() < this.params.lateShare;
    const clientMs = late
      ? today - Math.ceil(random() * this.params.lateDays * dayMs)
      : today + Math.floor(random() * (nowMs - today));
    return { name: this.#name(), user: this.#user(), metadata: Math.floor(random() * metadataPoolSize), clientMs };
  }

  /** The event as a producer sends it, with its own fresh id. */
  json(draw: EventDraw): string {
    const json = this.#json;
    return (
      `{"id":"${randomUUID()}","event":${json.names[draw.name]},"user_id":${json.users[draw.user]},` +
      `"client_ts":"${new Date(draw.clientMs).toISOString()}","metadata":${json.metadata[draw.metadata]}}`
    );
  }

  /** The event as the gateway would publish it, for the direct writes. */
  envelopeEvent(draw: EventDraw, receivedAt: string, requestId: string): EnvelopeEvent {
    return {
      id: randomUUID(),
      event: this.names[draw.name] as string,
      user_id: this.users[draw.user] as string,
      client_ts: new Date(draw.clientMs).toISOString(),
      metadata: this.metadata[draw.metadata] as Record<string, unknown>,
      received_at: receivedAt,
      request_id: requestId,
      key_id: "bench",
    };
  }

  /** A batch route body of `size` fresh events. */
  batchBody(size: number): string {
    const nowMs = Date.now();
    let body = '{"events":[';
    for (let index = 0; index < size; index++) body += `${index === 0 ? "" : ","}${this.json(this.draw(nowMs))}`;
    return `${body}]}`;
  }

  /** `size` fresh events as one request's envelope would carry them. */
  envelopeBatch(size: number): EnvelopeEvent[] {
    const nowMs = Date.now();
    const receivedAt = new Date(nowMs).toISOString();
    const requestId = randomUUID();
    return Array.from({ length: size }, () => this.envelopeEvent(this.draw(nowMs), receivedAt, requestId));
  }
}

/** What the report says of the workload, e.g. how much of it the heaviest users send. */
export function describeRealistic(params: RealisticParams): string {
  const weights = Array.from({ length: params.population }, (_, rank) => 1 / (rank + 1) ** params.userSkew);
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const top = weights.slice(0, Math.max(1, Math.round(params.population / 100))).reduce((sum, w) => sum + w, 0);
  return (
    `realistic (seed ${params.seed}): users Zipf(${params.userSkew}) over ${params.population.toLocaleString("en-US")} ` +
    `(top 1% send ${Math.round((top / total) * 100)}% of events, the heaviest ${((1 / total) * 100).toFixed(1)}%), ` +
    `${params.eventNames} event names Zipf(${params.userSkew}), metadata ${params.metadataBytes / 2}-` +
    `${(params.metadataBytes * 3) / 2} bytes (pool of ${metadataPoolSize}), client_ts over today (UTC) so far ` +
    `plus ${params.lateShare * 100}% from the ${params.lateDays} days before, a fresh UUID id per event`
  );
}
