import type { DestinationType } from "@evpipe/shared";
import { mixpanel } from "./mixpanel.ts";
import { posthog } from "./posthog.ts";
import { segment } from "./segment.ts";
import type { Vendor } from "./vendor.ts";
import { webhook } from "./webhook.ts";

export const vendors: Record<DestinationType, Vendor> = { webhook, segment, posthog, mixpanel };
export * from "./vendor.ts";
export { webhookSignature } from "./webhook.ts";
