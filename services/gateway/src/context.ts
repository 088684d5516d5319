import type { IncomingMessage } from "node:http";
import type { ApiKeyRecord, Logger } from "@evpipe/shared";
import type { UnreadBody } from "./middleware/early-answer.ts";

export interface GatewayEnv {
  /** Set by @hono/node-server; absent under app.request() in tests. */
  Bindings: { incoming?: IncomingMessage } | undefined;
  Variables: {
    requestId: string;
    log: Logger;
    apiKey: ApiKeyRecord;
    /** Set when the answer went out before the whole body arrived. */
    unreadBody: UnreadBody;
    /** A body read before the handler ran (a Segment write key may be in it); the handler takes it from here. */
    bodyText: string;
    /** Segment messages left out of this request; its summary log line and the metrics count them. */
    rejectedMessages: number;
    /** Why the first of them was left out (paths and rules, no values), for the summary log line. */
    firstRejection: Record<string, string[]>;
  };
}
