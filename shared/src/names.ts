/** Every JetStream name the system uses, derived from one optional namespace. */
export interface NatsNames {
  readonly eventsStream: string;
  readonly eventsSubject: string;
  readonly dlqStream: string;
  readonly dlqSubject: string;
  readonly writerConsumer: string;
  /** The writer's failure history per EVENTS message: attempts, first failure, events already dead-lettered. */
  readonly writerHistoryBucket: string;
  readonly keysBucket: string;
  /** When each key was last used. */
  readonly keyUsageBucket: string;
  /** Records of DLQ replays and purges. */
  readonly dlqAuditStream: string;
  readonly dlqAuditSubject: string;
  /** What every gateway and consumer counted since it started, one entry per process (pipeline-report.ts). */
  readonly pipelineReportsBucket: string;
}

export function natsNames(namespace?: string): NatsNames {
  const stream = namespace ? `${namespace}_` : "";
  const subject = namespace ? `${namespace}.` : "";
  return {
    eventsStream: `${stream}EVENTS`,
    eventsSubject: `${subject}events.ingest`,
    dlqStream: `${stream}EVENTS_DLQ`,
    dlqSubject: `${subject}events.dlq`,
    writerConsumer: `${stream}events-writer`,
    writerHistoryBucket: `${stream}events-writer-history`,
    keysBucket: `${stream}api-keys`,
    keyUsageBucket: `${stream}api-key-usage`,
    dlqAuditStream: `${stream}EVENTS_DLQ_AUDIT`,
    dlqAuditSubject: `${subject}events.dlq-audit`,
    pipelineReportsBucket: `${stream}pipeline-reports`,
  };
}

/** Header names carried on JetStream messages. */
export const messageHeaders = {
  requestId: "X-Request-Id",
  /** How many events an `events.ingest` envelope holds, so the consumer can size its writes without parsing. */
  eventCount: "Evpipe-Event-Count",
} as const;
