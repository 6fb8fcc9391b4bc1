// What a process's file descriptors are (Linux): each entry of /proc/<pid>/fd classified, sockets matched to
// their TCP connection in /proc/net/tcp{,6} by inode, so a soak that ends with descriptors held says which
// ones — client connections to the proxy's port, the proxy's own upstream connections, the agent — and in which
// TCP state (a CLOSE_WAIT upstream socket is one the upstream already closed and we never did).
import { readdir, readFile, readlink } from 'node:fs/promises';

/** TCP states of /proc/net/tcp (include/net/tcp_states.h). */
const STATES = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
};

/** inode → { local, remote, state } for every TCP socket of the namespace. */
async function tcpSockets() {
  const byInode = new Map();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const port = (addr) => Number.parseInt(addr.split(':')[1], 16);
      byInode.set(f[9], { local: port(f[1]), remote: port(f[2]), state: STATES[f[3]] ?? f[3] });
    }
  }
  return byInode;
}

/**
 * Count `pid`'s descriptors by kind: `client <state>` (local port = the proxy's), `upstream <state>` (remote port
 * = the upstream's), `agent <state>`, `listen`, `tcp other`, `socket (not tcp)`, `pipe`, `anon`, `file`.
 * @param {number} pid
 * @param {{ proxyPort: number, upstreamPort: number, agentPort?: number }} ports
 * @returns {Promise<Record<string, number>>}
 */
export async function fdBreakdown(pid, ports) {
  const dir = `/proc/${pid}/fd`;
  const [names, tcp] = await Promise.all([readdir(dir), tcpSockets()]);
  const counts = {};
  const add = (k) => {
    counts[k] = (counts[k] ?? 0) + 1;
  };
  for (const name of names) {
    let target;
    try {
      target = await readlink(`${dir}/${name}`);
    } catch {
      continue; // closed meanwhile
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode === undefined) {
      add(target.startsWith('pipe:') ? 'pipe' : target.startsWith('anon_inode:') ? 'anon' : 'file');
      continue;
    }
    const s = tcp.get(inode);
    if (s === undefined) add('socket (not tcp)');
    else if (s.state === 'LISTEN') add('listen');
    else if (s.local === ports.proxyPort) add(`client ${s.state}`);
    else if (s.remote === ports.upstreamPort) add(`upstream ${s.state}`);
    else if (ports.agentPort !== undefined && s.remote === ports.agentPort) add(`agent ${s.state}`);
    else add(`tcp other ${s.state}`);
  }
  return counts;
}

/** `{a: 1, b: 2}` → "a 1, b 2", largest first. */
export function formatBreakdown(counts) {
  return Object.entries(counts)
    .sort((x, y) => y[1] - x[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}
