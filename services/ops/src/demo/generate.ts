import { randomUUID } from "node:crypto";
import { seededRandom } from "@evpipe/shared";

/** An event as POST /v1/events/batch takes it. */
export interface DemoEvent {
  id: string;
  event: string;
  user_id: string;
  client_ts: string;
  metadata: Record<string, string | number>;
}

export interface DemoPlan {
  /** UTC days, oldest first, the last one today. */
  days: string[];
  events: DemoEvent[];
}

export interface DemoSize {
  days: number;
  users: number;
  events: number;
  seed: number;
  now: Date;
}

/** Event names and how often each happens (signup is a user's first event, outside this table). */
const catalog: ReadonlyArray<readonly [string, number]> = [
  ["page_view", 30],
  ["screen_view", 12],
  ["session_start", 10],
  ["search", 8],
  ["button_click", 8],
  ["login", 6],
  ["add_to_cart", 5],
  ["video_play", 4],
  ["feature_used", 4],
  ["checkout_started", 3],
  ["notification_opened", 3],
  ["purchase", 2],
  ["video_complete", 2],
  ["logout", 2],
  ["share", 1.5],
  ["remove_from_cart", 1],
];

const platforms = ["web", "web", "ios", "android"];
const countries = ["US", "US", "US", "DE", "GB", "FR", "IN", "BR", "JP", "CA"];
const plans = ["free", "free", "free", "pro", "team"];
const paths = ["/", "/pricing", "/docs", "/blog", "/products", "/account", "/checkout"];
const dayMs = 24 * 3600 * 1000;

function pickWeighted<T>(random: () => number, items: ReadonlyArray<readonly [T, number]>, total: number): T {
  let left = random() * total;
  for (const [item, weight] of items) {
    left -= weight;
    if (left < 0) return item;
  }
  return (items[items.length - 1] as readonly [T, number])[0];
}

interface DemoUser {
  id: string;
  /** Zipf-like: user n is 1/n^1.1 as busy as user 1, so a few users make most of the events. */
  weight: number;
  firstDay: number;
  /** Chance of coming back on a later day: busier users return more often. */
  returnChance: number;
  traits: { platform: string; country: string; plan: string };
}

function makeUsers(random: () => number, size: DemoSize): DemoUser[] {
  const pick = (list: string[]) => list[Math.floor(random() * list.length)] as string;
  return Array.from({ length: size.users }, (_, n) => {
    const weight = 1 / (n + 1) ** 1.1;
    return {
      id: `demo-user-${String(n + 1).padStart(4, "0")}`,
      weight,
      // More users arrive early in the range than late, so cohorts of every size show in retention.
      firstDay: Math.floor(random() ** 1.5 * size.days),
      returnChance: Math.min(0.9, 0.2 + 0.7 * weight ** 0.3),
      traits: { platform: pick(platforms), country: pick(countries), plan: pick(plans) },
    };
  });
}

function metadataFor(random: () => number, user: DemoUser, event: string): Record<string, string | number> {
  const metadata: Record<string, string | number> = { ...user.traits };
  if (event === "page_view") metadata.path = paths[Math.floor(random() * paths.length)] as string;
  if (event === "search") metadata.query_length = 1 + Math.floor(random() * 30);
  if (event === "add_to_cart" || event === "purchase" || event === "remove_from_cart") {
    metadata.product_id = `sku-${100 + Math.floor(random() * 60)}`;
    metadata.price_cents = 500 + Math.floor(random() * 20_000);
  }
  return metadata;
}

/**
 * A few days of plausible activity: users arriving over the range (each starting with a signup), coming back
 * on later days by chance, a few heavy users and a long tail, event names with realistic frequencies, and
 * client_ts spread over each UTC day (today only up to now). The total is close to `size.events`.
 */
export function planDemo(size: DemoSize): DemoPlan {
  const random = seededRandom(size.seed);
  const today = Date.UTC(size.now.getUTCFullYear(), size.now.getUTCMonth(), size.now.getUTCDate());
  const firstDayStart = today - (size.days - 1) * dayMs;
  const days = Array.from({ length: size.days }, (_, d) =>
    new Date(firstDayStart + d * dayMs).toISOString().slice(0, 10),
  );
  const users = makeUsers(random, size);
  const visits: Array<{ user: DemoUser; day: number }> = [];
  for (const user of users) {
    for (let day = user.firstDay; day < size.days; day++) {
      if (day === user.firstDay || random() < user.returnChance) visits.push({ user, day });
    }
  }
  const totalWeight = visits.reduce((sum, visit) => sum + visit.user.weight, 0);
  const catalogWeight = catalog.reduce((sum, [, weight]) => sum + weight, 0);
  const events: DemoEvent[] = [];
  for (const { user, day } of visits) {
    const share = (size.events * user.weight) / totalWeight;
    const count = Math.max(1, Math.floor(share + random()));
    const dayStart = firstDayStart + day * dayMs;
    // Today's events stay a minute behind now: the gateway refuses a client_ts far in the future.
    const dayLength = Math.max(1000, Math.min(dayMs, size.now.getTime() - 60_000 - dayStart));
    const times = Array.from({ length: count }, () => dayStart + Math.floor(random() * dayLength)).sort(
      (a, b) => a - b,
    );
    times.forEach((time, n) => {
      const event = n === 0 && day === user.firstDay ? "signup" : pickWeighted(random, catalog, catalogWeight);
      events.push({
        id: randomUUID(),
        event,
        user_id: user.id,
        client_ts: new Date(time).toISOString(),
        metadata: metadataFor(random, user, event),
      });
    });
  }
  return { days, events };
}

export interface DemoSummary {
  from: string;
  to: string;
  events: number;
  users: number;
  dau: Array<{ day: string; users: number }>;
  topEvents: Array<{ event: string; count: number; users: number }>;
}

/** What the plan sends, in the shapes of the stats API's answers, so they can be compared. */
export function summarize(plan: DemoPlan): DemoSummary {
  const dayUsers = new Map(plan.days.map((day) => [day, new Set<string>()]));
  const byEvent = new Map<string, { count: number; users: Set<string> }>();
  for (const event of plan.events) {
    dayUsers.get(event.client_ts.slice(0, 10))?.add(event.user_id);
    const entry = byEvent.get(event.event) ?? { count: 0, users: new Set<string>() };
    entry.count++;
    entry.users.add(event.user_id);
    byEvent.set(event.event, entry);
  }
  return {
    from: plan.days[0] as string,
    to: plan.days[plan.days.length - 1] as string,
    events: plan.events.length,
    users: new Set(plan.events.map((event) => event.user_id)).size,
    dau: [...dayUsers].map(([day, users]) => ({ day, users: users.size })),
    topEvents: [...byEvent]
      .map(([event, { count, users }]) => ({ event, count, users: users.size }))
      .sort((a, b) => b.count - a.count || (a.event < b.event ? -1 : 1)),
  };
}
