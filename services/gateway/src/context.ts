import type { ApiKeyRecord, Logger } from "@evpipe/shared";

export interface GatewayEnv {
  Variables: {
    requestId: string;
    log: Logger;
    apiKey: ApiKeyRecord;
  };
}
