// CPU time and memory of a child process, read from /proc (Linux). Elsewhere every reader returns null and the
// report leaves those columns empty rather than guessing.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond;

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (almost always 100). */
function clockTicks() {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * utime + stime of `pid` in microseconds, or null when /proc is unavailable. Resolution is one clock tick
 * (10 ms at USER_HZ 100), so callers divide a whole run's delta by its request count.
 * @param {number} pid
 */
export function cpuMicros(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (field 14) is fields[11] and stime (field 15) fields[12].
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1e6) / clockTicks() : null;
}

function statusKiB(pid, key) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * Resident set size (VmRSS) of `pid` in MiB, or null.
 * @param {number} pid
 */
export function rssMiB(pid) {
  const kib = statusKiB(pid, 'VmRSS');
  return kib === null ? null : kib / 1024;
}

/**
 * Peak resident set size (VmHWM) of `pid` in MiB, or null.
 * @param {number} pid
 */
export function peakRssMiB(pid) {
  const kib = statusKiB(pid, 'VmHWM');
  return kib === null ? null : kib / 1024;
}

/** Parent pid of `pid` from /proc/<pid>/stat, or null. */
function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/**
 * Every descendant of `pid` (a `serve` primary's node:cluster workers). /proc/<pid>/task/<tid>/children needs
 * CONFIG_PROC_CHILDREN, which not every kernel has, so this scans /proc for parent pids instead.
 * @param {number} pid
 */
export function descendantPids(pid) {
  let entries;
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  const byParent = new Map();
  for (const e of entries) {
    const parent = parentOf(e);
    if (parent === null) continue;
    if (!byParent.has(parent)) byParent.set(parent, []);
    byParent.get(parent).push(Number(e));
  }
  const out = [];
  const walk = (p) => {
    for (const c of byParent.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/**
 * utime + stime of `pid` and all its descendants in microseconds, or null when /proc is unavailable. A process
 * that exits between two readings takes its CPU with it: read across a window in which the tree is stable.
 * @param {number} pid
 */
export function treeCpuMicros(pid) {
  const own = cpuMicros(pid);
  if (own === null) return null;
  return descendantPids(pid).reduce((total, c) => total + (cpuMicros(c) ?? 0), own);
}

/**
 * Resident set size of `pid` and all its descendants in MiB (shared pages counted in each), or null.
 * @param {number} pid
 */
export function treeRssMiB(pid) {
  const own = rssMiB(pid);
  if (own === null) return null;
  return descendantPids(pid).reduce((total, c) => total + (rssMiB(c) ?? 0), own);
}
