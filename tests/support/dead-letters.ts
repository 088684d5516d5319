import { type DeadLetterRecord, decodeDeadLetter } from "@evpipe/shared";
import type { JetStreamManager } from "nats";

export interface StoredDeadLetter extends DeadLetterRecord {
  body: string;
}

/** Every message in the DLQ stream, decoded with the parser the operators' CLI uses. */
export async function readDeadLetters(jsm: JetStreamManager, stream: string): Promise<StoredDeadLetter[]> {
  const info = await jsm.streams.info(stream);
  const letters: StoredDeadLetter[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
    if (!msg) continue;
    letters.push({
      ...decodeDeadLetter(seq, msg.time, msg.header, msg.data),
      body: new TextDecoder().decode(msg.data),
    });
  }
  return letters;
}
