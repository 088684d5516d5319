import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** A TCP socket of this machine as the kernel lists it (/proc/net/tcp and tcp6). */
export interface TcpSocket {
  localPort: number;
  /** The kernel's state code in hex: 0A is LISTEN, 01 ESTABLISHED. */
  state: string;
  inode: string;
}

export function tcpSockets(): TcpSocket[] {
  const sockets: TcpSocket[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st ... inode, the address as HEXIP:HEXPORT.
      const fields = line.trim().split(/\s+/);
      const localPort = Number.parseInt(fields[1]?.split(":")[1] ?? "", 16);
      if (Number.isInteger(localPort) && fields[3] && fields[9]) {
        sockets.push({ localPort, state: fields[3], inode: fields[9] });
      }
    }
  }
  return sockets;
}

/** The inodes of the sockets a process has open; none once it has exited. */
export function socketInodesOf(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // Closed between the listing and the read.
    }
  }
  return inodes;
}

/** The local ports of a process's TCP connections: a PostgreSQL backend knows its client by this port. */
export function localTcpPortsOf(pid: number): number[] {
  const inodes = socketInodesOf(pid);
  return tcpSockets()
    .filter((socket) => inodes.has(socket.inode))
    .map((socket) => socket.localPort);
}
