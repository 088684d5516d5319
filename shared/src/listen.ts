import type { Server } from "node:net";
import type { Logger } from "./logger.ts";

/**
 * Binds the port, or exits 1 after one line naming it: a port already taken is an expected condition, not an
 * unhandled `EADDRINUSE` stack. Resolves with the bound port (0 asks for any free one).
 */
export function listenOrExit(server: Server, port: number, log: Logger): Promise<number> {
  return new Promise((resolve) => {
    const failed = (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE") log.fatal({ port }, `port ${port} is already in use`);
      else log.fatal({ port, errorCode: err.code, error: err.message }, `could not listen on port ${port}`);
      process.exit(1);
    };
    server.once("error", failed);
    server.listen(port, () => {
      server.off("error", failed);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}
