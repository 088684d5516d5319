import { CliError, usageExit } from "../cli-error.ts";
import { add, addUsage } from "./add.ts";
import type { DestinationsAction, DestinationsDeps } from "./context.ts";
import { destinationDlqUsage, dlq } from "./dlq.ts";
import { list } from "./list.ts";
import { pause, resume } from "./pause.ts";
import { remove } from "./remove.ts";

export type { DestinationsContext, DestinationsDeps } from "./context.ts";

export const destinationsUsage = `${addUsage}
  --secret: the Segment write key, PostHog project API key, Mixpanel project token or webhook signing secret,
  sealed with DESTINATION_SECRETS_KEY (32 random bytes in base64: openssl rand -base64 32)
pnpm ops destinations list [--json]
pnpm ops destinations pause NAME
pnpm ops destinations resume NAME
pnpm ops destinations remove NAME
${destinationDlqUsage}`;

const actions = new Map<string | undefined, DestinationsAction>(
  Object.entries({ add, list, pause, resume, remove, dlq }),
);

export async function destinationsCommand(argv: string[], deps: DestinationsDeps): Promise<void> {
  const [name, ...rest] = argv;
  const action = actions.get(name);
  if (!action) throw new CliError(`usage:\n${destinationsUsage}`, usageExit);
  return action(deps, rest);
}
